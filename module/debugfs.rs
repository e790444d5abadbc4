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
    marker::PhantomData,
    mem::MaybeUninit,
    ptr::{null_mut, NonNull},
};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::from_err_ptr,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    str::CStr,
    sync::Arc,
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
    // Not `&mut`: other readers of the file touch the `seq_file`'s mutex
    // while `show` runs under it.
    m: NonNull<bindings::seq_file>,
    _show: PhantomData<&'a mut ()>,
}

impl<'a> SeqWriter<'a> {
    /// The writer of the `seq_file` at `m`.
    ///
    /// # Safety
    ///
    /// `m` is the `seq_file` a `show` callback got, whose buffer nothing
    /// else writes for `'a` (the callback's run).
    pub(crate) unsafe fn from_raw(m: *mut bindings::seq_file) -> Self {
        // SAFETY: a callback's `seq_file` is not NULL (by the caller).
        let m = unsafe { NonNull::new_unchecked(m) };
        // INVARIANT: `m` is a `show` callback's, for `'a` (by the caller).
        Self {
            m,
            _show: PhantomData,
        }
    }
}

impl fmt::Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.m` is a `seq_file` in a `show` callback (type
        // invariant); `s` is valid for reads of its length.
        // Overflow is recorded in the `seq_file` itself (see the type).
        unsafe { bindings::seq_write(self.m.as_ptr(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// What a [`File`] shows when it is read.
pub(crate) trait SeqShow: Send + Sync + 'static {
    /// What an open file keeps from its opening to its release.  Dropped
    /// in the release, which may come after the file was removed and its
    /// `Self` freed: it must not refer to the `Self`.
    type Open: Send + 'static;

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
    /// The file's `T`, alive until the file is removed (see [`File`]); the
    /// release does not use it.
    data: NonNull<T>,
    open: T::Open,
}

/// What a write-only [`File`] does with a command written to it.
pub(crate) trait Command: Send + Sync + 'static {
    /// Longest command, in bytes: a longer `write()` fails with `EINVAL`.
    const MAX_LEN: usize;

    /// Runs `cmd`, the bytes of one `write()` (1 to [`Command::MAX_LEN`]).
    /// Process context (may sleep).
    fn run(&self, cmd: &[u8]) -> Result;
}

/// A debugfs directory in the debugfs root; removed, with whatever is left
/// in it, when dropped.  Its [`File`]s hold it in an [`Arc`], so it goes
/// after them.
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_dir()` returned: a directory, or an
/// error pointer in a value `create` drops without returning it.
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
    pub(crate) fn create(name: &CStr) -> Result<Arc<Self>> {
        // SAFETY: `name` is NUL-terminated; a NULL parent is the debugfs
        // root.
        let dentry = unsafe { ffi::debugfs_create_dir(name.as_char_ptr(), null_mut()) };
        // INVARIANT: what `debugfs_create_dir()` returned.
        let dir = Self { dentry };
        // An error pointer: dropping `dir` removes nothing.
        from_err_ptr(dentry)?;
        Ok(Arc::new(dir, GFP_KERNEL)?)
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
/// Removed when dropped; may be dropped while open.
///
/// The debugfs proxy runs an open file's `open`, `read`, `write` and
/// `llseek` between `debugfs_file_get()` and `debugfs_file_put()`:
/// `debugfs_remove()` waits for those that run and fails those that start
/// after it.  Only the `release` of a file still open runs after removal,
/// and it uses neither the `T` nor anything the file's `drop` frees.  The
/// `file_operations` it needs are a `'static` constant of this module
/// ([`FileOps`]), and their `owner` keeps the module while the file is
/// open (`fops_get()` in the proxy's `open`).
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_file()` returned for
/// `&FileOps::<T>::READ` or `WRITE` and `data` (a file, or an error
/// pointer) in `parent` (`None`: the debugfs root), which the file keeps
/// until it has removed itself; `data` comes from `KBox::leak()` and is
/// freed by `drop` after it has removed the file.
pub(crate) struct File<T> {
    dentry: *mut c_void,
    data: NonNull<T>,
    parent: Option<Arc<Dir>>,
}

// SAFETY: `dentry` is only used to remove the file, which may be done from
// any task; `data` is owned (`T: Send`).
unsafe impl<T: Send> Send for File<T> {}
// SAFETY: `&File` gives access to nothing; the file's callbacks share
// `&T`, which is `Sync`.
unsafe impl<T: Sync> Sync for File<T> {}

impl<T: SeqShow> File<T> {
    /// Creates `/sys/kernel/debug/<name>`, mode 0400, showing `data`.
    /// Process context.
    pub(crate) fn read_only(name: &CStr, data: T) -> Result<Self> {
        // SAFETY: the callbacks of `READ` are for a `T`.
        unsafe { Self::create(None, name, 0o400, &FileOps::<T>::READ, data) }
    }

    /// As [`File::read_only`], in `dir`.
    pub(crate) fn read_only_in(dir: &Arc<Dir>, name: &CStr, data: T) -> Result<Self> {
        // SAFETY: the callbacks of `READ` are for a `T`.
        unsafe { Self::create(Some(dir.clone()), name, 0o400, &FileOps::<T>::READ, data) }
    }
}

impl<T: Command> File<T> {
    /// Creates `<dir>/<name>`, mode 0200, running the commands written to
    /// it with `data`.  Process context.
    pub(crate) fn write_only_in(dir: &Arc<Dir>, name: &CStr, data: T) -> Result<Self> {
        // SAFETY: the callbacks of `WRITE` are for a `T`.
        unsafe { Self::create(Some(dir.clone()), name, 0o200, &FileOps::<T>::WRITE, data) }
    }
}

/// The `file_operations` of the files using a `T`: constants, so
/// `&FileOps::<T>::READ` is `'static`, like the module's code.
struct FileOps<T>(PhantomData<T>);

impl<T: SeqShow> FileOps<T> {
    const READ: bindings::file_operations = bindings::file_operations {
        owner: crate::THIS_MODULE.as_ptr(),
        open: Some(seq_file_open::<T>),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(seq_file_release::<T>),
        // SAFETY: all-zero is a valid `file_operations` (no callback, no
        // flag).
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };
}

impl<T: Command> FileOps<T> {
    const WRITE: bindings::file_operations = bindings::file_operations {
        owner: crate::THIS_MODULE.as_ptr(),
        write: Some(command_write::<T>),
        llseek: Some(bindings::noop_llseek),
        // SAFETY: all-zero is a valid `file_operations` (no callback, no
        // flag).
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };
}

impl<T> File<T> {
    /// Creates the file `name` in `parent` (`None`: the debugfs root) with
    /// `mode`, `fops` and `data`.  Process context.
    ///
    /// # Safety
    ///
    /// `fops` are [`FileOps`]'s callbacks for a `T` in `inode->i_private`.
    unsafe fn create(
        parent: Option<Arc<Dir>>,
        name: &CStr,
        mode: bindings::umode_t,
        fops: &'static bindings::file_operations,
        data: T,
    ) -> Result<Self> {
        // INVARIANT (with the `dentry` below): a leaked box.
        let data = NonNull::from(KBox::leak(KBox::new(data, GFP_KERNEL)?));
        let dir = parent.as_ref().map_or(null_mut(), |d| d.dentry);
        // SAFETY: `name` is NUL-terminated; `dir` is NULL (the root) or a
        // directory (`Dir`'s invariant), kept by the file; `fops` are static and `data` stays allocated until `drop` has
        // removed the file (the callbacks rely on that).
        let dentry = unsafe {
            ffi::debugfs_create_file(
                name.as_char_ptr(),
                mode,
                dir,
                data.as_ptr().cast(),
                core::ptr::from_ref(fops).cast(),
            )
        };
        // INVARIANT: the file (or error pointer) for `fops` and `data`, in
        // `parent`.
        let file = Self {
            dentry,
            data,
            parent,
        };
        // An error pointer: dropping `file` removes nothing and frees `data`.
        from_err_ptr(dentry)?;
        Ok(file)
    }
}

impl<T> Drop for File<T> {
    fn drop(&mut self) {
        // SAFETY: the file `create` made, or an error pointer, which
        // `debugfs_remove()` ignores; its directory is still there, kept in
        // `parent` (type invariant).  It returns once no callback of the
        // file that uses `data` runs, and none starts after it (see the
        // type).
        unsafe { ffi::debugfs_remove(self.dentry) };
        // SAFETY: from `KBox::leak()` in `create` (type invariant); no
        // callback is left to use it (above).
        drop(unsafe { KBox::from_raw(self.data.as_ptr()) });
        // Only now may the directory go.
        self.parent = None;
    }
}

/// The `open` of a [`File`].
///
/// # Safety
///
/// Called by the VFS, through the debugfs proxy, for a file
/// [`File::read_only`] made: `inode->i_private` is its `T`, alive until the
/// file is removed, which waits for this call (see [`File`]).
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
/// Called by `seq_read()` or `seq_lseek()`, through the debugfs proxy, for
/// a file opened by [`seq_file_open`]: `private` is its [`Opened`], alive
/// until [`seq_file_release`], and `m` is this call's.
unsafe extern "C" fn seq_file_show<T: SeqShow>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: `private` is an `Opened<T>` (by the caller), only ever shared
    // until the release; its `data` is alive until the file is removed,
    // which waits for the `read` (or `llseek`) running this (see `File`).
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
