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
    inode::{
        fsnotify_fns::{AddMarkLocked, PutMark, RecalcMask},
        Inode,
    },
    kprobe::{Entry, Kretprobe, KretprobeHandler, Return},
};
use kernel::{prelude::*, sync::Arc};

/// What the probes need from the backend that owns them.
pub(crate) trait ShadowTarget: Send + Sync + 'static {
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
    type Probed = AddMarkLocked;

    fn entry(&self, _call: &Entry<'_, AddMarkLocked>) -> Option<usize> {
        Some(0)
    }

    fn ret(&self, call: &Return<'_, AddMarkLocked>, _data: usize) {
        if call.value() != 0 {
            return;
        }
        if let Some(inode) = call.arg().and_then(|mark| mark.inode()) {
            self.target.attach(inode);
        }
    }
}

struct RecalcHandler<T: ShadowTarget> {
    target: Arc<T>,
}

impl<T: ShadowTarget> KretprobeHandler for RecalcHandler<T> {
    type Probed = RecalcMask;

    fn entry(&self, _call: &Entry<'_, RecalcMask>) -> Option<usize> {
        Some(0)
    }

    fn ret(&self, call: &Return<'_, RecalcMask>, _data: usize) {
        if let Some(inode) = call.arg().and_then(|conn| conn.inode()) {
            self.target.attach(inode);
        }
    }
}

struct DetachHandler<T: ShadowTarget> {
    target: Arc<T>,
}

impl<T: ShadowTarget> KretprobeHandler for DetachHandler<T> {
    type Probed = PutMark;

    fn entry(&self, call: &Entry<'_, PutMark>) -> Option<usize> {
        call.arg().and_then(|mark| mark.inode_addr())
    }

    fn ret(&self, _call: &Return<'_, PutMark>, addr: usize) {
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
            add_mark: Kretprobe::register(MAXACTIVE, AttachHandler { target: target() })?,
            recalc: Kretprobe::register(MAXACTIVE, RecalcHandler { target: target() })?,
            put_mark: Kretprobe::register(MAXACTIVE, DetachHandler { target: target() })?,
        })
    }

    /// Calls the probes missed (all instances in use).
    pub(crate) fn nmissed(&self) -> u64 {
        self.add_mark.nmissed() + self.recalc.nmissed() + self.put_mark.nmissed()
    }
}
