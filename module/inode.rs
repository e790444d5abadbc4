// SPDX-License-Identifier: GPL-2.0

//! Borrowed inodes.

use crate::ffi;
use core::ptr::NonNull;
use kernel::{bindings, error::to_result, prelude::*};

/// A `struct inode` the caller knows to be allocated for as long as it uses
/// this value.
///
/// That is the case for the inode of an open file, for a trusted inode
/// argument of a BPF program, for the inode of a probed function's argument
/// while that function runs, and for the inode of an addons object found in
/// the side table under RCU (the entry is removed before the inode is freed,
/// and inodes are freed after a grace period).
///
/// # Invariants
///
/// `ptr` points to an allocated `struct inode` for the lifetime of the
/// value.
#[derive(Clone, Copy)]
pub(crate) struct InodeRef {
    ptr: NonNull<bindings::inode>,
}

impl InodeRef {
    /// # Safety
    ///
    /// `ptr` must be non-NULL and point to an allocated inode for as long as
    /// the returned value (and its copies) are used.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::inode) -> Option<Self> {
        // INVARIANT: by the caller's guarantee.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// # Safety
    ///
    /// `ptr` must point to an allocated inode for as long as the returned
    /// value (and its copies) are used.
    pub(crate) unsafe fn from_nonnull(ptr: NonNull<bindings::inode>) -> Self {
        // INVARIANT: by the caller's guarantee.
        Self { ptr }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.ptr.as_ptr()
    }

    /// The inode's address, the side table key.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Takes `i_lock` unless the inode is being torn down (`I_FREEING` or
    /// `I_WILL_FREE`: `ENOENT`).  With `spin == false` never waits for the
    /// lock and fails with `EBUSY` when it is contended.
    pub(crate) fn lock_if_live(&self, spin: bool) -> Result<InodeLockGuard> {
        // SAFETY: the inode is allocated (type invariant) and its i_lock is
        // initialised once the inode is visible to anyone.
        to_result(unsafe { ffi::ia_inode_lock_if_live(self.as_ptr(), spin) })?;
        // INVARIANT: the lock is held.
        Ok(InodeLockGuard { inode: *self })
    }

    /// `i_fsnotify_mask` and whether `i_fsnotify_marks` is set, read now.
    pub(crate) fn fsnotify_state(&self) -> (u32, usize) {
        // SAFETY: the inode is allocated (type invariant); both fields are
        // read with READ_ONCE()/rcu_access_pointer() semantics.
        unsafe {
            (
                ffi::ia_inode_fsnotify_mask(self.as_ptr()),
                ffi::ia_inode_fsnotify_marks(self.as_ptr()) as usize,
            )
        }
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: the inode is allocated (type invariant).
        unsafe { ffi::ia_inode_ino(self.as_ptr()) as u64 }
    }
}

/// Holds `inode->i_lock` of a live inode.
///
/// # Invariants
///
/// The lock is held and `inode` was not `I_FREEING`/`I_WILL_FREE` when it
/// was taken; those flags are set under the lock, so they stay clear.
pub(crate) struct InodeLockGuard {
    inode: InodeRef,
}

impl Drop for InodeLockGuard {
    fn drop(&mut self) {
        // SAFETY: the lock is held (type invariant).
        unsafe { ffi::ia_inode_unlock(self.inode.as_ptr()) };
    }
}
