// SPDX-License-Identifier: GPL-2.0

//! Files and file systems: a file reference taken by descriptor,
//! `seq_file` output, read-only debugfs files, and the walk over every
//! super block's inodes.
//!
//! C headers: [`include/linux/file.h`](srctree/include/linux/file.h),
//! [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h),
//! [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h)
//!
//! 6.12's `kernel` crate has no file abstraction (`kernel::fs::File` came
//! later); this is the minimum the module needs, after its model.

use crate::{ffi, inode::Inode, rcu::RcuGuard};
use core::{
    fmt,
    ptr::{addr_of_mut, null_mut, NonNull},
};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::from_err_ptr,
    ffi::{c_int, c_void},
    prelude::*,
    str::CStr,
};

/// A reference to an open file, taken with `fget()`, dropped with `fput()`.
///
/// # Invariants
///
/// `self.0` is a file the value holds a reference to.
pub(crate) struct FileRef(NonNull<bindings::file>);

impl FileRef {
    /// The file open as `fd` in the current task's table, `None` if there
    /// is none (or it was opened with `O_PATH`, as `fdget()` would have
    /// it).  Task context.
    pub(crate) fn get(fd: i32) -> Option<Self> {
        // SAFETY: `fget()` takes a reference on success; a negative `fd`
        // becomes a descriptor no table has.
        let f = unsafe { bindings::fget(fd as u32) };
        // INVARIANT: non-NULL is a file `fget()` took a reference to.
        NonNull::new(f).map(Self)
    }

    /// The file's inode, borrowed while the file is held.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: the file is held (type invariant); `f_inode` never changes
        // for an open file, and the file keeps its inode allocated, so the
        // borrow may last as long as `self`'s.
        unsafe { Inode::from_raw((*self.0.as_ptr()).f_inode) }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference `get` took (type invariant).
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The output of a `seq_file` `show` callback, as a [`fmt::Write`].
///
/// Text that does not fit is dropped; `seq_read()` then calls `show` again
/// with a larger buffer.
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
        Self { m }
    }
}

impl fmt::Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.m` is a `seq_file` in a `show` callback (type
        // invariant of `from_raw`); `s` is valid for reads of its length.
        // Overflow is recorded in the `seq_file` itself (see the type).
        unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// What a [`SeqFile`] shows when it is read.
pub(crate) trait SeqShow: Send + Sync {
    /// Writes the file's whole text.  Process context (may sleep).
    fn show(&self, w: &mut SeqWriter<'_>) -> Result;
}

/// A read-only debugfs file in the debugfs root whose text `T` writes
/// (`single_open()`); removed when dropped.
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_file()` returned for `fops` and `data`
/// (a file, or an error pointer); both stay allocated and in place until
/// `drop` has removed the file.
pub(crate) struct SeqFile<T: SeqShow> {
    dentry: *mut c_void,
    _fops: KBox<bindings::file_operations>,
    _data: KBox<T>,
}

// SAFETY: `dentry` is only used to remove the file, which may be done from
// any task; the rest is owned data (`T: Send`).
unsafe impl<T: SeqShow> Send for SeqFile<T> {}
// SAFETY: `&SeqFile` gives access to nothing; the file's readers share
// `&T`, which is `Sync`.
unsafe impl<T: SeqShow> Sync for SeqFile<T> {}

impl<T: SeqShow> SeqFile<T> {
    /// Creates `/sys/kernel/debug/<name>`, mode 0400, showing `data`.
    /// Process context.
    pub(crate) fn create(name: &CStr, data: T) -> Result<Self> {
        let data = KBox::new(data, GFP_KERNEL)?;
        let fops = KBox::new(
            bindings::file_operations {
                owner: crate::THIS_MODULE.as_ptr(),
                open: Some(seq_file_open::<T>),
                read: Some(bindings::seq_read),
                llseek: Some(bindings::seq_lseek),
                release: Some(bindings::single_release),
                // SAFETY: all-zero is a valid `file_operations` (no
                // callback, no flag).
                ..unsafe { core::mem::zeroed() }
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `name` is NUL-terminated; `fops` and `data` are boxed and
        // kept in `Self` until `drop` removes the file (`seq_file_open`
        // and `seq_file_show` rely on that).
        let dentry = unsafe {
            ffi::debugfs_create_file(
                name.as_char_ptr(),
                0o400,
                null_mut(),
                core::ptr::from_ref::<T>(&data).cast_mut().cast(),
                core::ptr::from_ref::<bindings::file_operations>(&fops).cast(),
            )
        };
        // INVARIANT: the file (or error pointer) for `fops` and `data`.
        let file = Self {
            dentry,
            _fops: fops,
            _data: data,
        };
        // An error pointer: dropping `file` removes nothing.
        from_err_ptr(dentry)?;
        Ok(file)
    }
}

impl<T: SeqShow> Drop for SeqFile<T> {
    fn drop(&mut self) {
        // SAFETY: the file `create` made, or an error pointer, which
        // `debugfs_remove()` ignores (type invariant).  It returns once no
        // callback of the file runs; an open file pins the module
        // (`fops.owner`), so none is open while the module unloads.
        unsafe { ffi::debugfs_remove(self.dentry) };
    }
}

/// The `open` of a [`SeqFile`].
///
/// # Safety
///
/// Called by the VFS for a file [`SeqFile::create`] made: `inode->i_private`
/// is its `T`, alive until the file is removed.
unsafe extern "C" fn seq_file_open<T: SeqShow>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `inode` and `file` are the VFS's (by the caller);
    // `single_open()` hands `i_private` to `seq_file_show` as `private`.
    unsafe { bindings::single_open(file, Some(seq_file_show::<T>), (*inode).i_private) }
}

/// The `show` of a [`SeqFile`].
///
/// # Safety
///
/// Called by `seq_read()` for a file opened by [`seq_file_open`]: `private`
/// is the file's `T` (see there), and `m` is this call's.
unsafe extern "C" fn seq_file_show<T: SeqShow>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: `private` is a `T` alive while the file exists (by the
    // caller), only ever shared.
    let data = unsafe { &*(*m).private.cast::<T>() };
    // SAFETY: `m` is this `show` call's `seq_file` (by the caller).
    let mut w = unsafe { SeqWriter::from_raw(m) };
    data.show(&mut w).map_or_else(|e| e.to_errno(), |()| 0)
}

/// Reads up to `buf.len()` bytes from the start of the file at `path`, as
/// the kernel itself (`filp_open()`, `kernel_read()`): the bytes read.
/// Process context (may sleep).
fn read_file(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `path` is NUL-terminated; process context.  Success returns
    // an open file with a reference, dropped below.
    let f = from_err_ptr(unsafe {
        bindings::filp_open(path.as_char_ptr(), bindings::O_RDONLY as i32, 0)
    })?;
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `f` is open and held; `buf` is valid for writes of its length.
    let n = unsafe { bindings::kernel_read(f, buf.as_mut_ptr().cast(), buf.len(), &mut pos) };
    // SAFETY: drops the reference `filp_open()` returned.
    unsafe { bindings::fput(f) };
    if n < 0 {
        return Err(Error::from_errno(n as i32));
    }
    Ok(n as usize)
}

/// The registered file system types, by name, for walks over their super
/// blocks' inodes (the embedded backend's [`for_each`](crate::backend::Backend::for_each),
/// the census).
///
/// 6.12 gives a module no way to enumerate file system types or super
/// blocks: `file_systems`, `super_blocks` and `iterate_supers()` are not
/// exported, only `get_fs_type()` (by name) and `iterate_supers_type()`
/// (by type) are.  The names are therefore read once, at load, where the
/// kernel publishes them, `/proc/filesystems` (reading it later, from a
/// `seq_file` read such as the stats file, would nest two `seq_file` locks
/// of one class).  Types registered after the load are not walked, and
/// `get_fs_type()` loads again the module of a type that was unloaded since.
pub(crate) struct FsTypes {
    /// The names, each followed by a NUL.
    names: KVec<u8>,
}

/// One step of [`FsTypes::walk`]: the `usize` is the index of the file
/// system type in [`FsTypes::names`].
pub(crate) enum Walked<'a> {
    /// A super block of the type; its inodes follow.
    SuperBlock(usize),
    /// An inode on the `s_inodes` list of the last super block, borrowed for
    /// the call, with the RCU read-side section the walk holds over that
    /// list (for borrows of what the kernel frees after a grace period).
    Inode(usize, &'a Inode, &'a RcuGuard),
}

impl FsTypes {
    /// Reads the registered file system types.  Process context.
    pub(crate) fn new() -> Result<Self> {
        const MAX: usize = 2 * kernel::page::PAGE_SIZE;
        let mut buf = KVec::from_elem(0u8, MAX, GFP_KERNEL)?;
        let n = read_file(kernel::c_str!("/proc/filesystems"), &mut buf)?;
        let mut names = KVec::new();
        // Lines are "nodev\tNAME" or "\tNAME".
        for line in buf[..n].split(|&b| b == b'\n') {
            let name = line.rsplit(|&b| b == b'\t').next().unwrap_or(line);
            if name.is_empty() || name.contains(&0) {
                continue;
            }
            names.extend_from_slice(name, GFP_KERNEL)?;
            names.push(0, GFP_KERNEL)?;
        }
        Ok(Self { names })
    }

    /// The names, without their NUL, in walk order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.names
            .split_inclusive(|&b| b == 0)
            .map(|n| &n[..n.len() - 1])
    }

    /// Calls `f` for every inode on the `s_inodes` list of a super block
    /// of these types, borrowed for the call, with the walk's RCU guard.
    /// See [`FsTypes::walk`].
    #[cfg_attr(not(ia_backend_embedded), allow(dead_code))]
    pub(crate) fn for_each_inode(&self, mut f: impl FnMut(&Inode, &RcuGuard)) {
        self.walk(|w| {
            if let Walked::Inode(_, inode, guard) = w {
                f(inode, guard)
            }
        });
    }

    /// Calls `f` for every super block of these types, then for every
    /// inode on its `s_inodes` list, under that list's lock (`f` must not
    /// sleep on inodes).  Inodes on no list (`new_inode_pseudo()`:
    /// sockets, pipes) are not seen.  Process context (sleeps between super
    /// blocks).
    pub(crate) fn walk<F: FnMut(Walked<'_>)>(&self, mut f: F) {
        let mut rest = &self.names[..];
        let mut ty = 0;
        while let Some(end) = rest.iter().position(|&b| b == 0) {
            let name = rest.as_ptr();
            rest = &rest[end + 1..];
            // SAFETY: `name` is NUL-terminated; process context.  A type
            // found is held (module reference) until `module_put()`.
            let t = unsafe { bindings::get_fs_type(name.cast()) };
            if !t.is_null() {
                let mut ctx = SbWalk { f: &mut f, ty };
                // SAFETY: `t` is held; `sb_inodes::<F>` gets `&mut ctx`
                // back, which outlives the call.
                unsafe {
                    bindings::iterate_supers_type(
                        t,
                        Some(sb_inodes::<F>),
                        addr_of_mut!(ctx).cast::<c_void>(),
                    )
                };
                // SAFETY: drops the reference `get_fs_type()` took.
                unsafe { bindings::module_put((*t).owner) };
            }
            ty += 1;
        }
    }
}

/// What [`FsTypes::walk`] passes to [`sb_inodes`].
struct SbWalk<'a, F> {
    f: &'a mut F,
    ty: usize,
}

/// Reports `sb` and every inode on its `s_inodes` list to the walk at `arg`.
///
/// # Safety
///
/// `sb` is a live super block (`iterate_supers_type()` holds it) and `arg`
/// the `&mut SbWalk<F>` passed by [`FsTypes::walk`], used by nothing else
/// meanwhile.
unsafe extern "C" fn sb_inodes<F: FnMut(Walked<'_>)>(
    sb: *mut bindings::super_block,
    arg: *mut c_void,
) {
    // SAFETY: by the caller.
    let w = unsafe { &mut *arg.cast::<SbWalk<'_, F>>() };
    (w.f)(Walked::SuperBlock(w.ty));
    // SAFETY: `sb` is live (by the caller), so are its fields.
    let (lock, head) = unsafe {
        (
            addr_of_mut!((*sb).s_inode_list_lock),
            addr_of_mut!((*sb).s_inodes),
        )
    };
    // SAFETY: an initialised spinlock; released below.
    unsafe { bindings::spin_lock(lock) };
    // One read-side section per list, not per inode: `rcu_read_lock()` is
    // not free on debug kernels (lockdep), and the lock is held anyway.
    let guard = RcuGuard::new();
    // SAFETY: the list is stable under its lock.
    let mut pos = unsafe { (*head).next };
    while pos != head {
        let off = core::mem::offset_of!(bindings::inode, i_sb_list);
        // SAFETY: every entry of `s_inodes` is the `i_sb_list` of an inode,
        // which `evict()` takes off the list (under this lock) before
        // destroying it: allocated while the lock is held, so for the call.
        let inode = unsafe { Inode::from_raw(pos.cast::<u8>().sub(off).cast()) };
        if let Some(inode) = inode {
            (w.f)(Walked::Inode(w.ty, inode, &guard));
        }
        // SAFETY: as above.
        pos = unsafe { (*pos).next };
    }
    drop(guard);
    // SAFETY: taken above.
    unsafe { bindings::spin_unlock(lock) };
}
