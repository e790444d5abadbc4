// SPDX-License-Identifier: GPL-2.0

//! debugfs files: a directory, read-only files whose text a [`SeqShow`]
//! writes through `seq_file`, and write-only command files.
//!
//! C headers: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h),
//! [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h)
//!
//! 6.12's `kernel` crate has no debugfs or `seq_file` abstraction (they
//! came later); this is the minimum the module needs.

use crate::ffi;
use core::{
    fmt,
    ptr::{null_mut, NonNull},
};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::from_err_ptr,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    str::CStr,
    uaccess::UserSlice,
};

/// The output of a `seq_file` `show` callback, as a [`fmt::Write`].
///
/// Text that does not fit is dropped; `seq_read()` then calls `show` again
/// with a larger buffer.
///
/// # Invariants
///
/// `m` is the `seq_file` of the `show` callback running for `'a`.
pub(crate) struct SeqWriter<'a> {
    m: &'a mut bindings::seq_file,
}

impl<'a> SeqWriter<'a> {
    /// The writer of the `seq_file` at `m`.
    ///
    /// # Safety
    ///
    /// `m` is the `seq_file` a `show` callback got, used by nothing else
    /// for `'a` (the callback's run).
    pub(crate) unsafe fn from_raw(m: *mut bindings::seq_file) -> Self {
        // SAFETY: valid and exclusive for `'a` (by the caller).
        let m = unsafe { &mut *m };
        // INVARIANT: `m` is a `show` callback's, for `'a` (by the caller).
        Self { m }
    }
}

impl fmt::Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.m` is a `seq_file` in a `show` callback (type
        // invariant); `s` is valid for reads of its length.
        // Overflow is recorded in the `seq_file` itself (see the type).
        unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// What a [`File`] shows when it is read.
pub(crate) trait SeqShow: Send + Sync {
    /// What an open file keeps from its opening to its release.
    type Open: Send;

    /// Called when the file is opened, in the opener's context, with no
    /// `seq_file` lock held (so it may read other `seq_file`s, which
    /// `show` may not: their locks share one lockdep class).  An error
    /// fails the `open()`.  Process context (may sleep).
    fn open(&self) -> Result<Self::Open>;

    /// Writes the file's whole text.  Process context (may sleep).
    fn show(&self, open: &Self::Open, w: &mut SeqWriter<'_>) -> Result;
}

/// What [`seq_file_open`] gives `single_open()` as the `seq_file`'s
/// `private`, freed by [`seq_file_release`].
struct Opened<T: SeqShow> {
    /// The file's `T`, alive while the file exists (see [`File`]).
    data: NonNull<T>,
    open: T::Open,
}

/// What a write-only [`File`] does with a command written to it.
pub(crate) trait Command: Send + Sync {
    /// Longest command, in bytes: a longer `write()` fails with `EINVAL`.
    const MAX_LEN: usize;

    /// Runs `cmd`, the bytes of one `write()` (1 to [`Command::MAX_LEN`]).
    /// Process context (may sleep).
    fn run(&self, cmd: &[u8]) -> Result;
}

/// A debugfs directory in the debugfs root; removed, with whatever is left
/// in it, when dropped.
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_dir()` returned (a directory, or an
/// error pointer).
pub(crate) struct Dir {
    dentry: *mut c_void,
}

// SAFETY: `dentry` is only used to make files in it and to remove it,
// which may be done from any task.
unsafe impl Send for Dir {}
// SAFETY: `&Dir` only makes files in it (`debugfs_create_file()` takes the
// parent's lock).
unsafe impl Sync for Dir {}

impl Dir {
    /// Creates `/sys/kernel/debug/<name>/`.  Process context.
    pub(crate) fn create(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; a NULL parent is the debugfs
        // root.
        let dentry = unsafe { ffi::debugfs_create_dir(name.as_char_ptr(), null_mut()) };
        // INVARIANT: what `debugfs_create_dir()` returned.
        let dir = Self { dentry };
        // An error pointer: dropping `dir` removes nothing.
        from_err_ptr(dentry)?;
        Ok(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the directory `create` made, or an error pointer, which
        // `debugfs_remove()` ignores (type invariant).  Removal is
        // recursive and returns once no callback of a file in it runs.
        unsafe { ffi::debugfs_remove(self.dentry) };
    }
}

/// A debugfs file whose callbacks use a `T`: read-only with the text a
/// [`SeqShow`] writes (`single_open()`), or write-only for a [`Command`].
/// Removed when dropped.
///
/// The debugfs proxy keeps the real `file_operations` of an open file until
/// its `release`, which removal does not wait for: a file must not be
/// dropped while it can be open.  Its constructors are `unsafe` for that.
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_file()` returned for `fops` and `data`
/// (a file, or an error pointer); both come from `KBox::leak()` and are
/// freed by `drop` after it has removed the file.  The file's parent
/// directory outlives it.
pub(crate) struct File<T> {
    dentry: *mut c_void,
    fops: NonNull<bindings::file_operations>,
    data: NonNull<T>,
}

// SAFETY: `dentry` is only used to remove the file, which may be done from
// any task; `fops` and `data` are owned (`T: Send`).
unsafe impl<T: Send> Send for File<T> {}
// SAFETY: `&File` gives access to nothing; the file's callbacks share
// `&T`, which is `Sync`.
unsafe impl<T: Sync> Sync for File<T> {}

impl<T: SeqShow> File<T> {
    /// Creates `/sys/kernel/debug/<name>`, mode 0400, showing `data`.
    /// Process context.
    ///
    /// # Safety
    ///
    /// The file is dropped only when none of it can be open: in the
    /// module's exit (an open file holds a module reference, taken for
    /// `fops.owner`) or on its init's error path.
    pub(crate) unsafe fn read_only(name: &CStr, data: T) -> Result<Self> {
        // SAFETY: `read_fops` are `T`'s callbacks; the debugfs root is
        // never removed; when the file is dropped, as the caller
        // guarantees.
        unsafe { Self::create(null_mut(), name, 0o400, read_fops::<T>(), data) }
    }

    /// As [`File::read_only`], in `dir`.
    ///
    /// # Safety
    ///
    /// As for [`File::read_only`], and the file is dropped before `dir`.
    pub(crate) unsafe fn read_only_in(dir: &Dir, name: &CStr, data: T) -> Result<Self> {
        // SAFETY: `read_fops` are `T`'s callbacks; `dir` outlives the file,
        // which is dropped as the caller guarantees.
        unsafe { Self::create(dir.dentry, name, 0o400, read_fops::<T>(), data) }
    }
}

impl<T: Command> File<T> {
    /// Creates `<dir>/<name>`, mode 0200, running the commands written to
    /// it with `data`.  Process context.
    ///
    /// # Safety
    ///
    /// As for [`File::read_only_in`].
    pub(crate) unsafe fn write_only_in(dir: &Dir, name: &CStr, data: T) -> Result<Self> {
        let fops = bindings::file_operations {
            owner: crate::THIS_MODULE.as_ptr(),
            write: Some(command_write::<T>),
            llseek: Some(bindings::noop_llseek),
            // SAFETY: all-zero is a valid `file_operations` (no callback,
            // no flag).
            ..unsafe { core::mem::zeroed() }
        };
        // SAFETY: `fops` are `T`'s callbacks; `dir` outlives the file,
        // which is dropped as the caller guarantees.
        unsafe { Self::create(dir.dentry, name, 0o200, fops, data) }
    }
}

/// The file operations of a read-only [`File`] showing a `T`.
fn read_fops<T: SeqShow>() -> bindings::file_operations {
    bindings::file_operations {
        owner: crate::THIS_MODULE.as_ptr(),
        open: Some(seq_file_open::<T>),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(seq_file_release::<T>),
        // SAFETY: all-zero is a valid `file_operations` (no callback, no
        // flag).
        ..unsafe { core::mem::zeroed() }
    }
}

impl<T> File<T> {
    /// Creates the file `name` in `dir` (NULL: the debugfs root) with
    /// `mode`, `fops` and `data`.  Process context.
    ///
    /// # Safety
    ///
    /// `fops` are callbacks for a `T` in `inode->i_private`, with
    /// `THIS_MODULE` as their owner; `dir` is NULL (the debugfs root) or a
    /// directory that outlives the file; the file is dropped only when
    /// none of it can be open.
    unsafe fn create(
        dir: *mut c_void,
        name: &CStr,
        mode: bindings::umode_t,
        fops: bindings::file_operations,
        data: T,
    ) -> Result<Self> {
        let data = KBox::new(data, GFP_KERNEL)?;
        let fops = KBox::new(fops, GFP_KERNEL)?;
        // INVARIANT (with the `dentry` below): both leaked boxes.
        let data = NonNull::from(KBox::leak(data));
        let fops = NonNull::from(KBox::leak(fops));
        // SAFETY: `name` is NUL-terminated; `dir` is valid (by the
        // caller); `fops` and `data` stay allocated until `drop` has
        // removed the file (the callbacks rely on that).
        let dentry = unsafe {
            ffi::debugfs_create_file(
                name.as_char_ptr(),
                mode,
                dir,
                data.as_ptr().cast(),
                fops.as_ptr().cast_const().cast(),
            )
        };
        // INVARIANT: the file (or error pointer) for `fops` and `data`, in
        // a directory that outlives it (by the caller).
        let file = Self { dentry, fops, data };
        // An error pointer: dropping `file` removes nothing and frees both.
        from_err_ptr(dentry)?;
        Ok(file)
    }
}

impl<T> Drop for File<T> {
    fn drop(&mut self) {
        // SAFETY: the file `create` made, or an error pointer, which
        // `debugfs_remove()` ignores (type invariant).  It returns once no
        // callback of the file runs, and none but the `release` of an open
        // file runs after it; none is open (`create`'s contract).
        unsafe { ffi::debugfs_remove(self.dentry) };
        // SAFETY: from `KBox::leak()` in `create` (type invariant); no
        // callback is left to use them (above).
        drop(unsafe { KBox::from_raw(self.fops.as_ptr()) });
        // SAFETY: as for `fops`.
        drop(unsafe { KBox::from_raw(self.data.as_ptr()) });
    }
}

/// The `open` of a [`File`].
///
/// # Safety
///
/// Called by the VFS for a file [`File::read_only`] made: `inode->i_private`
/// is its `T`, alive until the file is removed, and no callback of the file
/// runs after its removal except `release` (the debugfs proxy), before
/// which the file is not dropped (`File::create`'s contract).
unsafe extern "C" fn seq_file_open<T: SeqShow>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `inode` is the VFS's; `i_private` is a `T` (by the caller),
    // only ever shared.
    let data = unsafe { &*(*inode).i_private.cast::<T>() };
    let opened = match data.open().and_then(|open| {
        KBox::new(
            Opened {
                data: NonNull::from(data),
                open,
            },
            GFP_KERNEL,
        )
        .map_err(Error::from)
    }) {
        Ok(o) => KBox::into_raw(o),
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `inode` and `file` are the VFS's (by the caller);
    // `single_open()` hands `opened` to `seq_file_show` and
    // `seq_file_release` as the `seq_file`'s `private`.
    let r = unsafe { bindings::single_open(file, Some(seq_file_show::<T>), opened.cast()) };
    if r != 0 {
        // SAFETY: from `KBox::into_raw()` above; `single_open()` failed,
        // so nothing else has it.
        drop(unsafe { KBox::from_raw(opened) });
    }
    r
}

/// The `show` of a [`File`].
///
/// # Safety
///
/// Called by `seq_read()` for a file opened by [`seq_file_open`]: `private`
/// is its [`Opened`], alive until [`seq_file_release`], and `m` is this
/// call's.
unsafe extern "C" fn seq_file_show<T: SeqShow>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: `private` is an `Opened<T>` (by the caller), only ever shared
    // until the release; its `data` is alive while the file exists (see
    // `seq_file_open`).
    let (data, open) = unsafe {
        let o = &*(*m).private.cast::<Opened<T>>();
        (o.data.as_ref(), &o.open)
    };
    // SAFETY: `m` is this `show` call's `seq_file` (by the caller).
    let mut w = unsafe { SeqWriter::from_raw(m) };
    data.show(open, &mut w)
        .map_or_else(|e| e.to_errno(), |()| 0)
}

/// The `release` of a [`File`].
///
/// # Safety
///
/// Called by the VFS once, for a file opened by [`seq_file_open`], after
/// every other call on it has returned.
unsafe extern "C" fn seq_file_release<T: SeqShow>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `single_open()` made `private_data` a `seq_file` whose
    // `private` is the `Opened<T>` of `seq_file_open` (by the caller).
    let opened = unsafe { (*(*file).private_data.cast::<bindings::seq_file>()).private };
    // SAFETY: the file's `single_open()` `seq_file`, released once (by the
    // caller).
    let r = unsafe { bindings::single_release(inode, file) };
    // SAFETY: from `KBox::into_raw()` in `seq_file_open`; no call on the
    // file is left that could use it (by the caller).
    drop(unsafe { KBox::from_raw(opened.cast::<Opened<T>>()) });
    r
}

/// The `write` of a write-only [`File`]: copies the command in and runs it.
///
/// # Safety
///
/// Called by the VFS (through the debugfs proxy, which keeps the file
/// from being removed until it returns) for a file
/// [`File::write_only_in`] made: `f_inode->i_private` is its `T`; `ubuf`
/// is the caller's user buffer of `count` bytes.  Process context.
unsafe extern "C" fn command_write<T: Command>(
    file: *mut bindings::file,
    ubuf: *const c_char,
    count: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    if count == 0 || count > T::MAX_LEN {
        return EINVAL.to_errno() as isize;
    }
    let mut cmd = KVec::new();
    let r = UserSlice::new(ubuf as usize, count)
        .read_all(&mut cmd, GFP_KERNEL)
        .and_then(|()| {
            // SAFETY: `file` is the VFS's, its inode's `i_private` a `T`
            // alive until the file is removed (by the caller), only ever
            // shared.
            let data = unsafe { &*(*(*file).f_inode).i_private.cast::<T>() };
            data.run(&cmd)
        });
    match r {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}
