// SPDX-License-Identifier: GPL-2.0

//! Files and file systems: a file reference taken by descriptor, a file
//! read from the kernel, `seq_file` output, and (embedded backend) the
//! walk over every super block's inodes.
//!
//! C headers: [`include/linux/file.h`](srctree/include/linux/file.h),
//! [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h)
//!
//! 6.12's `kernel` crate has no file abstraction (`kernel::fs::File` came
//! later); this is the minimum the module needs, after its model.

use crate::inode::Inode;
#[cfg(ia_backend_embedded)]
use core::ptr::addr_of_mut;
use core::{fmt, ptr::NonNull};
#[cfg(ia_backend_embedded)]
use kernel::{alloc::flags::GFP_KERNEL, ffi::c_void};
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr};

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

/// Reads up to `buf.len()` bytes from the start of the file at `path`, as
/// the kernel itself (`filp_open()`, `kernel_read()`): the bytes read.
/// Process context (may sleep).
pub(crate) fn read_file(path: &CStr, buf: &mut [u8]) -> Result<usize> {
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

/// The file system types whose super blocks the embedded backend walks,
/// read once at load from `/proc/filesystems` (reading it from inside a
/// `seq_file` read, such as the stats file, would nest two `seq_file` locks
/// of one class).  Types registered after the load are not walked.
///
/// `iterate_supers()` is not exported; `get_fs_type()` and
/// `iterate_supers_type()` are.
#[cfg(ia_backend_embedded)]
pub(crate) struct FsTypes {
    /// The names, each followed by a NUL.
    names: KVec<u8>,
}

#[cfg(ia_backend_embedded)]
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

    /// Calls `f` for every inode on the `s_inodes` list of a super block
    /// of these types, borrowed for the call, under that list's lock (`f`
    /// must not sleep).  Inodes on no list (`new_inode_pseudo()`: sockets,
    /// pipes) are not seen.  Process context.
    pub(crate) fn for_each_inode<F: FnMut(&Inode)>(&self, mut f: F) {
        let mut rest = &self.names[..];
        while let Some(end) = rest.iter().position(|&b| b == 0) {
            let name = rest.as_ptr();
            rest = &rest[end + 1..];
            // SAFETY: `name` is NUL-terminated; process context.  A type
            // found is held (module reference) until `module_put()`.
            let ty = unsafe { bindings::get_fs_type(name.cast()) };
            if ty.is_null() {
                continue;
            }
            // SAFETY: `ty` is held; `sb_inodes::<F>` gets `&mut f` back,
            // which outlives the call.
            unsafe {
                bindings::iterate_supers_type(
                    ty,
                    Some(sb_inodes::<F>),
                    addr_of_mut!(f).cast::<c_void>(),
                )
            };
            // SAFETY: drops the reference `get_fs_type()` took.
            unsafe { bindings::module_put((*ty).owner) };
        }
    }
}

/// Calls the `F` at `arg` for every inode on `sb`'s `s_inodes` list.
///
/// # Safety
///
/// `sb` is a live super block (`iterate_supers_type()` holds it) and `arg`
/// the `&mut F` passed by [`FsTypes::for_each_inode`].
#[cfg(ia_backend_embedded)]
unsafe extern "C" fn sb_inodes<F: FnMut(&Inode)>(sb: *mut bindings::super_block, arg: *mut c_void) {
    // SAFETY: by the caller.
    let f = unsafe { &mut *arg.cast::<F>() };
    // SAFETY: `sb` is live (by the caller), so are its fields.
    let (lock, head) = unsafe {
        (
            addr_of_mut!((*sb).s_inode_list_lock),
            addr_of_mut!((*sb).s_inodes),
        )
    };
    // SAFETY: an initialised spinlock; released below.
    unsafe { bindings::spin_lock(lock) };
    // SAFETY: the list is stable under its lock.
    let mut pos = unsafe { (*head).next };
    while pos != head {
        let off = core::mem::offset_of!(bindings::inode, i_sb_list);
        // SAFETY: every entry of `s_inodes` is the `i_sb_list` of an inode,
        // which `evict()` takes off the list (under this lock) before
        // destroying it: allocated while the lock is held, so for the call.
        let inode = unsafe { Inode::from_raw(pos.cast::<u8>().sub(off).cast()) };
        if let Some(inode) = inode {
            f(inode);
        }
        // SAFETY: as above.
        pos = unsafe { (*pos).next };
    }
    // SAFETY: taken above.
    unsafe { bindings::spin_unlock(lock) };
}
