// SPDX-License-Identifier: GPL-2.0

//! The seam between the users of the addons and where the addons live.
//!
//! On a stock kernel the addons live in a side table keyed by the inode
//! address, kept in step with inode lifetimes by probes
//! (`backend_table.rs`).  A kernel with the inode_addons series
//! (`CONFIG_INODE_ADDONS`, `struct inode_addons *i_addons` in `struct
//! inode`) gets `backend_embedded.rs`: `module/Kbuild` passes `--cfg
//! ia_backend_embedded` from the kernel config, and [`ActiveBackend`] at the
//! end of this file is the only place the choice is made; the rest of the
//! module only sees the [`Backend`] and [`AddonsObject`] traits.

use crate::{inode::InodeRef, rcu::RcuGuard, shadow::FsnotifyShadow};
use core::fmt;
use kernel::{alloc::Flags, ffi::c_void, prelude::*, sync::Arc};

/// An addons object as the users of the backend see it.
pub(crate) trait AddonsObject: Send + Sync {
    /// The fsnotify state as recorded in (or, embedded, reached through)
    /// the addons of `inode`, their owner.
    fn shadow(&self, inode: &InodeRef) -> FsnotifyShadow;

    /// Refreshes the recorded fsnotify state of `inode`, the owner, from
    /// the real fields (nothing to do where the addons are the real thing).
    fn sync_shadow(&self, inode: &InodeRef);

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
    /// `GFP_ATOMIC`, `i_lock` taken with `spin_lock()`.
    Atomic,
    /// BPF program context, which may have interrupted anything: task
    /// context only, `GFP_ATOMIC`, `i_lock` only taken with
    /// `spin_trylock()`.
    Bpf,
}

impl AllocCtx {
    /// Allocation flags for this context (the embedded backend passes the
    /// same flags raw to C: `kernel::alloc::Flags` has no public raw value).
    #[cfg_attr(ia_backend_embedded, allow(dead_code))]
    pub(crate) fn gfp(self) -> Flags {
        use kernel::alloc::flags::{__GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL};
        match self {
            AllocCtx::Sleepable => GFP_KERNEL,
            AllocCtx::Atomic | AllocCtx::Bpf => GFP_ATOMIC | __GFP_NOWARN,
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

    /// Short name, reported in the stats and the kernel log.
    const NAME: &'static str;

    /// Bytes of one addons object.
    const OBJECT_SIZE: usize;

    /// Whether the fsnotify state must be shadowed by probes (false where
    /// the addons hold the real fsnotify fields).
    const SHADOW_PROBES: bool;

    /// Whether the module allocates and frees the addons objects itself
    /// (then every one allocated must be freed by unload).
    const OWNS_OBJECTS: bool;

    /// Starts the backend.
    fn new() -> Result<Arc<Self>>;

    /// The addons of `inode`, if it has some.
    fn lookup<'g>(&'g self, inode: &InodeRef, guard: &'g RcuGuard) -> Option<&'g Self::Addons>;

    /// Gets the addons of `inode`, creating them if needed, and runs `f`
    /// with them and whether this call created them.
    ///
    /// Fails with `ENOMEM` (allocation), `ENOENT` (the inode is being torn
    /// down), `EBUSY` (`AllocCtx::Bpf` and `i_lock` contended) or `EPERM`
    /// (`AllocCtx::Bpf` outside task context); no entry is left behind.
    fn get_or_create<R>(
        &self,
        inode: &InodeRef,
        ctx: AllocCtx,
        f: impl FnOnce(&Self::Addons, bool) -> R,
    ) -> Result<R>;

    /// Calls `f` for every addons object and its inode; `f` must not
    /// sleep.  Process context.
    fn for_each(&self, f: impl FnMut(&Self::Addons, &InodeRef)) -> Result;

    /// Number of addons objects (inodes with addons).  Process context.
    fn len(&self) -> usize;

    /// The per-inode BPF scratch area (`IA_SCRATCH_WORDS` words) of an
    /// inode that has addons, or NULL.  Never sleeps.
    fn scratch(&self, inode: &InodeRef) -> *mut u64;

    /// Writes backend-specific stats lines.
    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result;
}

#[cfg(not(ia_backend_embedded))]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_table::TableBackend;

#[cfg(ia_backend_embedded)]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_embedded::EmbeddedBackend;

/// The addons object of the backend this module is built with.
pub(crate) type Addons = <ActiveBackend as Backend>::Addons;
