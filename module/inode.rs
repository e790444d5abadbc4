// SPDX-License-Identifier: GPL-2.0

//! Borrowed inodes.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)
//!
//! Modelled on `kernel::fs::File` of later kernels: an [`Inode`] is only ever
//! seen through a reference whose lifetime is the span the caller knows the
//! inode to stay allocated (a probed call, a BPF program's run, an RCU
//! read-side section over the side table, a file reference held by C).
//! Lookups by an address that may belong to a freed inode take a `usize`,
//! never an `&Inode`.

use crate::{ffi, recursion::Busy};
use core::ptr::NonNull;
use kernel::{bindings, error::to_result, ffi::c_void, prelude::*, types::Opaque};

/// A `struct inode`.
///
/// # Invariants
///
/// A `&'a Inode` points to an allocated `struct inode` for all of `'a`.
/// Every field is read through the kernel's own accessors (`READ_ONCE()`,
/// `rcu_access_pointer()`, `i_lock`), never as a Rust value.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

// SAFETY: the kernel synchronises the fields of `struct inode` itself
// (`i_lock`, RCU, atomics); this type only reads them through those means,
// from any task.
unsafe impl Send for Inode {}
// SAFETY: see `Send`.
unsafe impl Sync for Inode {}

/// The fsnotify state of an inode: `i_fsnotify_mask` and whether
/// `i_fsnotify_marks` is set (read from the inode, or recorded in a
/// shadow).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FsnotifyState {
    /// `i_fsnotify_mask`.
    pub(crate) mask: u32,
    /// `i_fsnotify_marks != NULL`.
    pub(crate) has_marks: bool,
}

impl Inode {
    /// Borrows the inode at `ptr` for `'a`; `None` if `ptr` is NULL.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or point to a `struct inode` that stays allocated
    /// for all of `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> Option<&'a Self> {
        // SAFETY: `Inode` is a transparent wrapper of `struct inode`;
        // allocated for `'a` by the caller's guarantee (type invariant).
        NonNull::new(ptr).map(|p| unsafe { &*p.as_ptr().cast::<Self>() })
    }

    /// The raw pointer, for C.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode's address: the side table's key.
    pub(crate) fn addr(&self) -> usize {
        self.as_ptr() as usize
    }

    /// Takes `i_lock` if addons may be attached to the inode: it is on its
    /// super block's inode list and not being torn down (`I_FREEING`,
    /// `I_WILL_FREE`); otherwise `ENOENT`.  With `spin == false` never
    /// waits for the lock and fails with `EBUSY` when it is contended.
    ///
    /// Such an inode is destroyed only through `evict()`, which sets
    /// `I_FREEING` under `i_lock` before `__destroy_inode()`: whatever is
    /// attached under the guard is seen by the destruction.
    ///
    /// The lock is held in a [`Busy`] section: BPF kfuncs called by a
    /// program attached inside it fail.
    pub(crate) fn lock_if_live(&self, spin: bool) -> Result<InodeLockGuard<'_>> {
        let busy = Busy::enter();
        // SAFETY: the inode is allocated (type invariant) and its `i_lock`
        // is initialised (slab constructor).
        to_result(unsafe { ffi::ia_inode_lock_if_live(self.as_ptr(), spin) })?;
        // INVARIANT: the lock is held.
        Ok(InodeLockGuard {
            inode: self,
            _busy: busy,
        })
    }

    /// The real fsnotify state, read now.
    pub(crate) fn fsnotify_state(&self) -> FsnotifyState {
        // SAFETY: the inode is allocated (type invariant); the mask is read
        // with READ_ONCE() semantics.
        let mask = unsafe { ffi::ia_inode_fsnotify_mask(self.as_ptr()) };
        FsnotifyState {
            mask,
            has_marks: !self.fsnotify_marks().is_null(),
        }
    }

    /// `i_fsnotify_marks` (the connector, never dereferenced), read now.
    pub(crate) fn fsnotify_marks(&self) -> *mut c_void {
        // SAFETY: the inode is allocated (type invariant); read with
        // rcu_access_pointer() semantics.
        unsafe { ffi::ia_inode_fsnotify_marks(self.as_ptr()) }
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: the inode is allocated (type invariant); `i_ino` does not
        // change once the inode is visible.
        unsafe { (*self.as_ptr()).i_ino as u64 }
    }

    /// The address of the inode's super block (an identity, never
    /// dereferenced).
    #[cfg_attr(not(ia_backend_embedded), allow(dead_code))]
    pub(crate) fn sb_addr(&self) -> usize {
        // SAFETY: the inode is allocated (type invariant); `i_sb` does not
        // change once the inode is set up.
        unsafe { (*self.as_ptr()).i_sb as usize }
    }
}

/// Holds `i_lock` of an inode that addons may be attached to.
///
/// # Invariants
///
/// The lock is held and, when it was taken, the inode was on its super
/// block's list without `I_FREEING`/`I_WILL_FREE`; those flags are set under
/// the lock, so they stay clear while it is held.
pub(crate) struct InodeLockGuard<'a> {
    inode: &'a Inode,
    /// Dropped after the lock is released (field order).
    _busy: Busy,
}

impl Drop for InodeLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock is held (type invariant).
        unsafe { ffi::ia_inode_unlock(self.inode.as_ptr()) };
    }
}

/// The microbenchmark's synthetic inodes: zeroed `struct inode`s with
/// `i_lock` initialised, in one `kvcalloc()`ed array that nothing outside
/// the benchmark ever sees.
///
/// They are not real inodes: only the fields the backends' bench paths use
/// are meaningful (`i_lock`, `i_state`, `i_sb_list`, `i_addons`).
///
/// # Invariants
///
/// `base` points to `n >= 1` such objects, freed only in `drop`.
pub(crate) struct SynthInodes {
    base: NonNull<bindings::inode>,
    n: usize,
}

// SAFETY: the array is only freed in `drop`; the objects are shared with
// bench threads, which only use them through the backends' synchronised
// paths (`i_lock`, atomic `i_addons`, the table's locks).
unsafe impl Send for SynthInodes {}
// SAFETY: see `Send`.
unsafe impl Sync for SynthInodes {}

impl SynthInodes {
    /// `n` synthetic inodes, or `None` if they cannot be allocated.
    pub(crate) fn new(n: usize) -> Option<Self> {
        if n == 0 {
            return None;
        }
        // SAFETY: process context (may sleep).
        let p = unsafe { ffi::ia_bench_inodes_alloc(n) };
        // INVARIANT: a non-NULL result points to `n` initialised objects.
        NonNull::new(p).map(|base| Self { base, n })
    }

    /// The `i`th synthetic inode (the last one if `i >= n`), borrowed from
    /// the array.
    pub(crate) fn get(&self, i: usize) -> &Inode {
        let i = i.min(self.n - 1);
        // SAFETY: `i < n`, so the object is in the array (type invariant),
        // which lives as long as `self`.
        unsafe { &*self.base.as_ptr().add(i).cast::<Inode>() }
    }

    /// Every synthetic inode, borrowed from the array.
    #[cfg_attr(not(ia_backend_embedded), allow(dead_code))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Inode> + '_ {
        (0..self.n).map(|i| self.get(i))
    }
}

impl Drop for SynthInodes {
    fn drop(&mut self) {
        // SAFETY: allocated by `ia_bench_inodes_alloc()` (type invariant);
        // every borrow of the array has ended.
        unsafe { bindings::kvfree(self.base.as_ptr().cast()) };
    }
}
