// SPDX-License-Identifier: GPL-2.0

//! The seam between the users of the addons and where the addons live.
//!
//! On a stock kernel the addons live in a side table keyed by the inode
//! address, kept in step with inode lifetimes by probes
//! (`backend_table.rs`).  A kernel with the inode_addons series
//! (`CONFIG_INODE_ADDONS`, `struct inode_addons *i_addons` in `struct
//! inode`) gets `backend_embedded.rs`: `module/Kbuild` passes `--cfg
//! ia_backend_embedded` from the kernel config, and `active.rs` is the only
//! place the choice is made; the rest of the module only sees the traits
//! below.  This file imports no backend.

use crate::{
    inode::{FsnotifyState, Inode, SynthInodes},
    rcu::RcuGuard,
};
use core::fmt;
use kernel::{ffi::c_void, prelude::*, sync::Arc};

/// An addons object as the users of the backend see it.
pub(crate) trait AddonsObject: Send + Sync {
    /// The fsnotify state as recorded in (or, embedded, reached through)
    /// the addons of `inode`, their owner.
    fn recorded_fsnotify_state(&self, inode: &Inode) -> FsnotifyState;

    /// Pointer handed to C (the kfuncs): `struct inode_addons *`.
    fn as_c_ptr(&self) -> *mut c_void;
}

/// The context a get-or-create runs in; decides the allocation flags and
/// how `i_lock` is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocCtx {
    /// Process context that may sleep (ioctl): `GFP_KERNEL`.
    Sleepable,
    /// Atomic context whose caller holds no inode lock (probe handlers):
    /// `GFP_ATOMIC`, `i_lock` taken with `spin_lock()`.  The side table's
    /// fsnotify probes only.
    #[cfg_attr(ia_backend_embedded, allow(dead_code))]
    Atomic,
    /// BPF program context, which may have interrupted anything: task
    /// context only, `GFP_ATOMIC`, `i_lock` only taken with
    /// `spin_trylock()`.
    Bpf,
}

impl AllocCtx {
    /// Allocation flags for this context.
    #[cfg(not(ia_backend_embedded))]
    pub(crate) fn gfp(self) -> kernel::alloc::Flags {
        use kernel::alloc::flags::{__GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL};
        match self {
            AllocCtx::Sleepable => GFP_KERNEL,
            AllocCtx::Atomic | AllocCtx::Bpf => GFP_ATOMIC | __GFP_NOWARN,
        }
    }

    /// The same flags as a raw `gfp_t`, for C (6.12's `kernel::alloc::Flags`
    /// has no public raw value).
    #[cfg(ia_backend_embedded)]
    pub(crate) fn raw_gfp(self) -> kernel::bindings::gfp_t {
        match self {
            AllocCtx::Sleepable => kernel::bindings::GFP_KERNEL,
            AllocCtx::Atomic | AllocCtx::Bpf => {
                kernel::bindings::GFP_ATOMIC | kernel::bindings::__GFP_NOWARN
            }
        }
    }
}

/// Where the addons of inodes live.
///
/// Lifetimes: an addons object is created at most once per inode (the
/// first installer wins), is never visible for an inode being torn down,
/// and is freed after the inode's destruction and an RCU grace period.
pub(crate) trait Backend: Send + Sync + Sized {
    /// The addons object.
    type Addons: AddonsObject;

    /// What the microbenchmark drives: this backend's code paths on
    /// synthetic inodes.
    type Bench: BenchTarget;

    /// Short name, reported in the stats and the kernel log.
    const NAME: &'static str;

    /// Bytes of one addons object.
    const OBJECT_SIZE: usize;

    /// Whether the module allocates and frees the addons objects itself
    /// (then every one allocated must be freed by unload).
    const OWNS_OBJECTS: bool;

    /// Starts the backend.
    fn new() -> Result<Arc<Self>>;

    /// The addons of `inode`, if it has some.
    fn lookup<'g>(&'g self, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g Self::Addons>;

    /// Gets the addons of `inode`, creating them if needed, and runs `f`
    /// with them and whether this call created them.
    ///
    /// Fails with `ENOMEM` (allocation), `ENOENT` (the inode is being torn
    /// down), `EBUSY` (`AllocCtx::Bpf` and `i_lock` contended) or `EPERM`
    /// (`AllocCtx::Bpf` outside task context); no entry is left behind.
    fn get_or_create<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&Self::Addons, bool) -> R,
    ) -> Result<R>;

    /// Calls `f` for every addons object and its inode, both borrowed for
    /// the call only; `f` must not sleep.  Process context.
    fn for_each(&self, f: impl FnMut(&Self::Addons, &Inode)) -> Result;

    /// Number of addons objects (inodes with addons).  Process context.
    fn len(&self) -> usize;

    /// The per-inode BPF scratch area (`IA_SCRATCH_WORDS` words) of an
    /// inode that has addons, or NULL.  Never sleeps.
    fn scratch(&self, inode: &Inode) -> *mut u64;

    /// Writes backend-specific stats lines.
    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result;
}

/// What the microbenchmark (`bench.rs`) drives: a backend's lookup and
/// get-or-create code paths, on a private set of synthetic inodes.
pub(crate) trait BenchTarget: Sync + Sized {
    /// Bytes one tracked inode's addons cost (object and table), for the
    /// memory estimate.
    const BYTES_PER_ENTRY: usize;

    /// An empty target.
    fn new() -> Result<Self>;

    /// The backend's lookup: does `inode` have addons?
    fn lookup(&self, inode: &Inode) -> bool;

    /// The backend's get-or-create (process context, `GFP_KERNEL`):
    /// whether this call created the addons.
    fn get_or_create(&self, inode: &Inode) -> Result<bool>;

    /// Detaches `inode`'s addons, if any, freeing them after a grace
    /// period.  `inode` is one of `inodes`; other bench threads may run
    /// (on other inodes).
    fn release(&self, inodes: &SynthInodes, inode: &Inode);

    /// Frees every addons object left, once no bench thread runs.
    fn finish(self, inodes: &SynthInodes);
}
