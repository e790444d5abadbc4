// SPDX-License-Identifier: GPL-2.0

//! The addons object of the side-table backend.

use crate::{
    backend::AddonsObject,
    ffi,
    inode::{FsnotifyState, Inode},
    recursion::Busy,
    rhashtable::{impl_rhash_entry, RhashNode, RhashRcu},
    stats::STATS,
};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use ffi::Scratch;
use kernel::{ffi::c_void, new_spinlock, prelude::*, sync::SpinLock};

/// `IA_F_HAS_MARKS`: the shadowed inode has fsnotify marks.
pub(crate) const F_HAS_MARKS: u32 = 0x1;

/// `IA_F_BENCH`: an object of the microbenchmark, counted in the
/// benchmark's counters instead of the module's (never changes).
const F_BENCH: u32 = 0x8000_0000;

/// `struct inode_addons` (see `ia_glue.h`).
///
/// The first three fields are the proposal: the fsnotify connector pointer,
/// the BPF storage pointer and the fsnotify mask (8 + 8 + 4 bytes, 24 with
/// padding, a kmalloc-32 object).  The prototype adds a flags word (the
/// "has marks" shadow, filling the padding), the side-table key and
/// linkage (8 + 8), an RCU head for the deferred free (16) and 32 bytes of
/// BPF scratch: 88 bytes, a kmalloc-96 object.  An embedded backend would
/// drop the key, linkage and (with `kfree_rcu` on the inode's RCU path) the
/// RCU head.
///
/// # Invariants
///
/// `inode` never changes after construction; `node` and `rcu` are only
/// used by the side table.
#[repr(C)]
pub(crate) struct InodeAddons {
    fsnotify_marks: AtomicPtr<c_void>,
    bpf_storage: AtomicPtr<c_void>,
    fsnotify_mask: AtomicU32,
    flags: AtomicU32,
    inode: usize,
    node: RhashNode,
    rcu: RhashRcu,
    scratch: Scratch,
}

impl_rhash_entry!(InodeAddons {
    node: node,
    key: inode,
    rcu: rcu,
});

impl InodeAddons {
    /// A new, empty addons object for `inode`.
    pub(crate) fn new(inode: &Inode, flags: kernel::alloc::Flags) -> Result<KBox<Self>> {
        let this = Self::alloc(inode, flags, 0)?;
        STATS.allocated.inc();
        Ok(this)
    }

    /// A new, empty addons object for a synthetic inode of the
    /// microbenchmark, counted in the benchmark's counters.
    pub(crate) fn new_bench(inode: &Inode, flags: kernel::alloc::Flags) -> Result<KBox<Self>> {
        let this = Self::alloc(inode, flags, F_BENCH)?;
        STATS.bench_allocated.inc();
        Ok(this)
    }

    fn alloc(inode: &Inode, flags: kernel::alloc::Flags, ia_flags: u32) -> Result<KBox<Self>> {
        // Allocate, then build the object in place: an object built before
        // a failed allocation would be dropped, and its `Drop` would count
        // a free without an allocation.
        Ok(KBox::<Self>::new_uninit(flags)?.write(Self {
            fsnotify_marks: AtomicPtr::new(core::ptr::null_mut()),
            bpf_storage: AtomicPtr::new(core::ptr::null_mut()),
            fsnotify_mask: AtomicU32::new(0),
            flags: AtomicU32::new(ia_flags),
            inode: inode.addr(),
            node: RhashNode::new(),
            rcu: RhashRcu::new(),
            scratch: Scratch::new(),
        }))
    }

    /// Address of the owning inode.
    pub(crate) fn inode_addr(&self) -> usize {
        self.inode
    }

    /// The BPF scratch area.
    pub(crate) fn scratch_ptr(&self) -> *mut u64 {
        self.scratch.as_ptr()
    }
}

impl InodeAddons {
    /// Copies the real fsnotify state of `inode` (the owner) into the shadow.
    ///
    /// Writers are serialised by `lock` (one per table: [`ShadowLock`]) and
    /// read the real state under it, so a slow writer cannot overwrite a
    /// newer state with an older one.  Writers are rare (mark attach,
    /// detach, mask change), all in task context.
    pub(crate) fn sync_shadow(&self, inode: &Inode, lock: &ShadowLock) {
        // A program attached inside the locked section must not come back.
        let _busy = Busy::enter();
        let _guard = lock.lock.lock();
        // Read with C's `ia_inode_fsnotify_mask()`, which a test attaches a
        // BPF program to, inside this section
        // (`tests/lifetime_bpf_recursion.rs`).
        let real = inode.fsnotify_state();
        self.fsnotify_marks
            .store(inode.fsnotify_marks(), Ordering::Release);
        self.fsnotify_mask.store(real.mask, Ordering::Release);
        if real.has_marks {
            self.flags.fetch_or(F_HAS_MARKS, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!F_HAS_MARKS, Ordering::AcqRel);
        }
        STATS.shadow_updates.inc();
    }
}

/// Serialises the writers of the shadows of one table's addons
/// ([`InodeAddons::sync_shadow`]).
#[pin_data]
pub(crate) struct ShadowLock {
    #[pin]
    lock: SpinLock<()>,
}

impl ShadowLock {
    /// A new lock.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- new_spinlock!((), "inode_addons::shadow"),
        })
    }
}

impl AddonsObject for InodeAddons {
    fn recorded_fsnotify_state(&self, _inode: &Inode) -> FsnotifyState {
        FsnotifyState {
            mask: self.fsnotify_mask.load(Ordering::Acquire),
            has_marks: self.flags.load(Ordering::Acquire) & F_HAS_MARKS != 0,
        }
    }

    fn as_c_ptr(&self) -> *mut c_void {
        self as *const Self as *mut c_void
    }
}

impl InodeAddons {
    /// Checks that C's `struct inode_addons` has this type's layout.
    pub(crate) fn check_layout() -> Result {
        ffi::check_layout!(Self, "inode_addons", IaLayout, ia_layout, {
            off_i_fsnotify_marks: fsnotify_marks,
            off_i_bpf_storage: bpf_storage,
            off_i_fsnotify_mask: fsnotify_mask,
            off_ia_flags: flags,
            off_ia_inode: inode,
            off_ia_node: node,
            off_ia_rcu: rcu,
            off_ia_scratch: scratch,
        })
    }
}

impl Drop for InodeAddons {
    fn drop(&mut self) {
        if self.flags.load(Ordering::Relaxed) & F_BENCH != 0 {
            STATS.bench_freed.inc();
        } else {
            STATS.freed.inc();
        }
    }
}
