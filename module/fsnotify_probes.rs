// SPDX-License-Identifier: GPL-2.0

//! The side table's real user: shadow the fsnotify state of inodes
//! (module/README.md, "fsnotify shadow"; the embedded backend needs none of
//! this: its addons hold the real fields).
//!
//! Probes (all kretprobes: the new state is read after the change):
//!
//! - `fsnotify_add_mark_locked()`: a mark was attached (covers the attach
//!   even if the compiler inlined `fsnotify_recalc_mask()` into it);
//! - `fsnotify_recalc_mask()`: mask change (inotify/fanotify/dnotify update
//!   paths);
//! - `fsnotify_put_mark()`: a mark reference was dropped, the last one
//!   detaches the mark and possibly the connector.
//!
//! The shadow is refreshed from the real fields every time, never computed,
//! so the order in which concurrent handlers run does not matter (writers
//! are serialised, see `InodeAddons::sync_shadow`).

use crate::{
    ffi,
    inode::{connector_inode, mark_inode, Inode},
    kprobe::{Kretprobe, KretprobeHandler, Regs},
};
use kernel::{c_str, prelude::*, sync::Arc};

/// What the probes need from the backend that owns them.
pub(crate) trait ShadowTarget: Send + Sync {
    /// Creates the addons of `inode` if needed and refreshes their shadow.
    /// Atomic context; failures are the target's to count.
    fn attach(&self, inode: &Inode);

    /// Refreshes the shadow of the inode at `addr`, which may have been
    /// freed, if it still has addons.  Atomic context.
    fn refresh(&self, addr: usize);
}

/// In-flight instances per kretprobe: `fsnotify_put_mark()` may sleep.
const MAXACTIVE: i32 = 256;

/// The fsnotify shadow probes, registered until dropped.
pub(crate) struct FsnotifyProbes<T: ShadowTarget> {
    add_mark: Kretprobe<AttachHandler<T>>,
    recalc: Kretprobe<RecalcHandler<T>>,
    put_mark: Kretprobe<DetachHandler<T>>,
}

struct AttachHandler<T: ShadowTarget> {
    target: Arc<T>,
}

impl<T: ShadowTarget> KretprobeHandler for AttachHandler<T> {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // int fsnotify_add_mark_locked(struct fsnotify_mark *mark, void *obj,
        //                              unsigned int obj_type, int add_flags)
        Some(regs.arg(0))
    }

    fn ret(&self, regs: &Regs, mark: usize) {
        if regs.ret() != 0 {
            return;
        }
        // SAFETY: the caller holds the group's mark_mutex and a reference to
        // the just attached mark, so `mark` and its connector are valid, and
        // the connector keeps its inode allocated until the function
        // returns, which is after this handler: the borrow ends with it.
        let inode = unsafe { Inode::from_raw(mark_inode(mark as *mut ffi::FsnotifyMark)) };
        if let Some(inode) = inode {
            self.target.attach(inode);
        }
    }
}

struct RecalcHandler<T: ShadowTarget> {
    target: Arc<T>,
}

impl<T: ShadowTarget> KretprobeHandler for RecalcHandler<T> {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // void fsnotify_recalc_mask(struct fsnotify_mark_connector *conn)
        // SAFETY: the caller keeps `conn` and its object alive for the call
        // (see the function's comment in fs/notify/mark.c).
        let inode = unsafe { connector_inode(regs.arg(0) as *mut _) };
        (!inode.is_null()).then_some(inode as usize)
    }

    fn ret(&self, _regs: &Regs, inode: usize) {
        // SAFETY: the connector `fsnotify_recalc_mask()` got keeps its inode
        // allocated until the function returns, which is after this handler:
        // the borrow ends with it.
        let inode = unsafe { Inode::from_raw(inode as *mut _) };
        if let Some(inode) = inode {
            self.target.attach(inode);
        }
    }
}

struct DetachHandler<T: ShadowTarget> {
    target: Arc<T>,
}

impl<T: ShadowTarget> KretprobeHandler for DetachHandler<T> {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // void fsnotify_put_mark(struct fsnotify_mark *mark)
        // SAFETY: the caller owns a reference to `mark`; while it is not
        // dropped the mark stays on its connector's list, so the connector
        // is attached and its object allocated.
        let inode = unsafe { mark_inode(regs.arg(0) as *mut ffi::FsnotifyMark) };
        (!inode.is_null()).then_some(inode as usize)
    }

    fn ret(&self, _regs: &Regs, addr: usize) {
        // The inode may have been freed since the entry handler (the put may
        // drop the last inode reference): only an address.
        self.target.refresh(addr);
    }
}

impl<T: ShadowTarget> FsnotifyProbes<T> {
    /// Registers the probes, which call `target`.
    pub(crate) fn new(target: &Arc<T>) -> Result<Self> {
        let target = || target.clone();
        Ok(Self {
            add_mark: Kretprobe::register(
                c_str!("fsnotify_add_mark_locked"),
                MAXACTIVE,
                AttachHandler { target: target() },
            )?,
            recalc: Kretprobe::register(
                c_str!("fsnotify_recalc_mask"),
                MAXACTIVE,
                RecalcHandler { target: target() },
            )?,
            put_mark: Kretprobe::register(
                c_str!("fsnotify_put_mark"),
                MAXACTIVE,
                DetachHandler { target: target() },
            )?,
        })
    }

    /// Calls the probes missed (all instances in use).
    pub(crate) fn nmissed(&self) -> u64 {
        self.add_mark.nmissed() + self.recalc.nmissed() + self.put_mark.nmissed()
    }
}
