// SPDX-License-Identifier: GPL-2.0

//! A real user of the addons: shadow the fsnotify state of inodes.
//!
//! When an fsnotify mark (inotify, fanotify, dnotify) is attached to an
//! inode, or the marks' mask is recalculated, the inode gets addons (if it
//! has none yet) and its `i_fsnotify_mask` and "has marks" are copied into
//! them.  When a mark is detached, the shadow of an inode that has addons is
//! refreshed.  The self-check compares every shadow with the real fields.
//! The number of addons then answers "how many inodes need addons" for a
//! workload.
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
//! are serialised, see [`InodeAddons::sync_shadow`]).

use crate::{
    backend::{ActiveBackend, AddonsObject, AllocCtx, Backend},
    ffi,
    inode::InodeRef,
    kprobe::{Kretprobe, KretprobeHandler, Regs},
    rcu::RcuGuard,
};
use core::fmt;
use kernel::{c_str, prelude::*, sync::Arc};

/// The fsnotify state of an inode (real or shadowed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsnotifyShadow {
    /// `i_fsnotify_mask`.
    pub(crate) mask: u32,
    /// `i_fsnotify_marks != NULL`.
    pub(crate) has_marks: bool,
}

impl FsnotifyShadow {
    /// Reads the real state of `inode` now.
    pub(crate) fn of_inode(inode: &InodeRef) -> Self {
        let (mask, marks) = inode.fsnotify_state();
        Self {
            mask,
            has_marks: marks != 0,
        }
    }
}

/// In-flight instances per kretprobe: `fsnotify_put_mark()` may sleep.
const MAXACTIVE: i32 = 256;

/// The fsnotify probes, if the backend needs them
/// ([`Backend::SHADOW_PROBES`]).
pub(crate) struct Shadow {
    probes: Option<Probes>,
}

struct Probes {
    add_mark: Kretprobe<AttachHandler>,
    recalc: Kretprobe<RecalcHandler>,
    put_mark: Kretprobe<DetachHandler>,
}

/// Creates addons for `inode` if needed and refreshes their shadow.
fn attach(backend: &ActiveBackend, inode: usize) {
    // SAFETY: callers pass the inode of a connector their probed function
    // keeps attached (and so the inode allocated) until it returns.
    let Some(inode) = (unsafe { InodeRef::from_raw(inode as *mut _) }) else {
        return;
    };
    // Failures (no memory, inode being torn down) are counted by the
    // backend; the self-check reports the inodes left without shadow.
    let _ = backend.get_or_create(&inode, AllocCtx::Atomic, |a, created| {
        if !created {
            a.sync_shadow(&inode);
        }
    });
}

struct AttachHandler {
    backend: Arc<ActiveBackend>,
}

impl KretprobeHandler for AttachHandler {
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
        // the just attached mark, so `mark` and its connector are valid.
        let inode = unsafe { ffi::ia_mark_inode(mark as *mut ffi::FsnotifyMark) };
        attach(&self.backend, inode as usize);
    }
}

struct RecalcHandler {
    backend: Arc<ActiveBackend>,
}

impl KretprobeHandler for RecalcHandler {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // void fsnotify_recalc_mask(struct fsnotify_mark_connector *conn)
        // SAFETY: the caller keeps `conn` and its object alive for the call
        // (see the function's comment in fs/notify/mark.c).
        let inode = unsafe { ffi::ia_conn_inode(regs.arg(0) as *mut ffi::FsnotifyConnector) };
        (!inode.is_null()).then_some(inode as usize)
    }

    fn ret(&self, _regs: &Regs, inode: usize) {
        attach(&self.backend, inode);
    }
}

struct DetachHandler {
    backend: Arc<ActiveBackend>,
}

impl KretprobeHandler for DetachHandler {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // void fsnotify_put_mark(struct fsnotify_mark *mark)
        // SAFETY: the caller owns a reference to `mark`; while it is not
        // dropped the mark stays on its connector's list, so the connector
        // is attached and its object allocated.
        let inode = unsafe { ffi::ia_mark_inode(regs.arg(0) as *mut ffi::FsnotifyMark) };
        (!inode.is_null()).then_some(inode as usize)
    }

    fn ret(&self, _regs: &Regs, inode: usize) {
        // The inode may have been freed since the entry handler (the put may
        // drop the last inode reference).  Only an inode found in the table
        // now is known to be allocated until the end of this RCU section; a
        // different inode at the same address is fine too: its own real
        // state is copied.
        let guard = RcuGuard::new();
        // SAFETY: only used as a key until found in the table.
        let Some(key) = (unsafe { InodeRef::from_raw(inode as *mut _) }) else {
            return;
        };
        if let Some(a) = self.backend.lookup(&key, &guard) {
            a.sync_shadow(&key);
        }
    }
}

impl Shadow {
    /// Registers the fsnotify probes if the backend needs them.
    pub(crate) fn new(backend: &Arc<ActiveBackend>) -> Result<Self> {
        let probes = if ActiveBackend::SHADOW_PROBES {
            Some(Probes::new(backend)?)
        } else {
            None
        };
        Ok(Self { probes })
    }

    /// Writes the probes' stats.
    pub(crate) fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let missed = self.probes.as_ref().map_or(0, |p| {
            p.add_mark.nmissed() + p.recalc.nmissed() + p.put_mark.nmissed()
        });
        writeln!(w, "fsnotify_kretprobes_missed: {missed}")
    }
}

impl Probes {
    fn new(backend: &Arc<ActiveBackend>) -> Result<Self> {
        let add_mark = Kretprobe::register(
            c_str!("fsnotify_add_mark_locked"),
            MAXACTIVE,
            AttachHandler {
                backend: backend.clone(),
            },
        )
        .inspect_err(|e| pr_err!("kretprobe on fsnotify_add_mark_locked: {:?}\n", e))?;
        let recalc = Kretprobe::register(
            c_str!("fsnotify_recalc_mask"),
            MAXACTIVE,
            RecalcHandler {
                backend: backend.clone(),
            },
        )
        .inspect_err(|e| pr_err!("kretprobe on fsnotify_recalc_mask: {:?}\n", e))?;
        let put_mark = Kretprobe::register(
            c_str!("fsnotify_put_mark"),
            MAXACTIVE,
            DetachHandler {
                backend: backend.clone(),
            },
        )
        .inspect_err(|e| pr_err!("kretprobe on fsnotify_put_mark: {:?}\n", e))?;
        Ok(Self {
            add_mark,
            recalc,
            put_mark,
        })
    }
}

/// Result of a self-check.
pub(crate) struct SelfCheck {
    /// Addons objects checked.
    pub(crate) checked: u64,
    /// Of those, inodes that really have fsnotify marks.
    pub(crate) with_marks: u64,
    /// Shadows that differ from the real fields.
    pub(crate) mismatches: u64,
}

/// Compares every shadow with the inode's real fsnotify fields.
///
/// With the embedded backend the "shadow" is read from the kernel's own
/// fields through the addons (`i_fsnotify_marks` in `inode->i_addons`, the
/// mask there or, with patch 0005, in the inode), the same fields the real
/// state is read from: a mismatch there can only be a change in flight.
pub(crate) fn selfcheck(backend: &ActiveBackend) -> Result<SelfCheck> {
    let mut r = SelfCheck {
        checked: 0,
        with_marks: 0,
        mismatches: 0,
    };
    backend.for_each(|a, inode| {
        let real = FsnotifyShadow::of_inode(inode);
        r.checked += 1;
        if real.has_marks {
            r.with_marks += 1;
        }
        if a.shadow(inode) != real {
            r.mismatches += 1;
            crate::stats::STATS.shadow_mismatches.inc();
        }
    })?;
    crate::stats::STATS.selfchecks.inc();
    Ok(r)
}
