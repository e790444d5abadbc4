// SPDX-License-Identifier: GPL-2.0

//! The seam between the users of the addons and where the addons live.
//!
//! On a stock kernel the addons live in a side table keyed by the inode
//! address, kept in step with inode lifetimes by probes
//! ([`crate::backend_table`]).  A kernel with `struct inode_addons
//! *i_addons` in `struct inode` will get `backend_embedded.rs`, selected
//! with `--cfg ia_backend_embedded`, implementing the same trait with
//! `cmpxchg()` on the field; nothing else in the module changes.

use crate::{addons::InodeAddons, inode::InodeRef, rcu::RcuGuard};
use core::fmt;
use kernel::{alloc::Flags, prelude::*, sync::Arc};

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
    /// Allocation flags for this context.
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
    /// Short name, reported in the stats.
    const NAME: &'static str;

    /// Starts the backend.
    fn new() -> Result<Arc<Self>>;

    /// The addons of `inode`, if it has some.
    fn lookup<'g>(&'g self, inode: &InodeRef, guard: &'g RcuGuard) -> Option<&'g InodeAddons>;

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
        f: impl FnOnce(&InodeAddons, bool) -> R,
    ) -> Result<R>;

    /// Calls `f` for every addons object and its inode, under RCU.
    fn for_each(&self, f: impl FnMut(&InodeAddons, &InodeRef)) -> Result;

    /// Number of addons objects.
    fn len(&self) -> usize;

    /// Writes backend-specific stats lines.
    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result;
}

#[cfg(not(ia_backend_embedded))]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_table::TableBackend;

#[cfg(ia_backend_embedded)]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_embedded::EmbeddedBackend;
