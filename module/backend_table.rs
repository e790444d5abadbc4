// SPDX-License-Identifier: GPL-2.0

//! The side-table backend, for kernels without `i_addons` in `struct inode`.
//!
//! Addons live in an rhashtable keyed by the inode's address.  Two probes
//! tie entries to inode lifetimes:
//!
//! - a kretprobe on `inode_init_always_gfp()` counts successful inode
//!   initialisations and checks, at allocation, that no entry exists for the
//!   address (a reused address must never see the previous inode's addons);
//!   on failed initialisation (the inode is freed without
//!   `__destroy_inode()`) any entry created meanwhile is dropped;
//! - a kprobe on `__destroy_inode()` removes the inode's entry, freed after
//!   an RCU grace period.
//!
//! Creation takes `i_lock` and refuses inodes with `I_FREEING` or
//! `I_WILL_FREE` set, and the insertion happens under that lock: teardown
//! sets `I_FREEING` under `i_lock` before `__destroy_inode()`, so any entry
//! inserted is visible to, and removed by, the `__destroy_inode()` probe.
//!
//! Lookups under RCU that find an entry may dereference its inode until the
//! end of the read-side section: the entry is removed before the inode is
//! handed to `call_rcu()` for freeing.

use crate::{
    addons::InodeAddons,
    backend::{AddonsObject, AllocCtx, Backend},
    ffi,
    inode::InodeRef,
    kprobe::{Kprobe, KprobeHandler, Kretprobe, KretprobeHandler, Regs},
    rcu::RcuGuard,
    rhashtable::{Insert, RhashTable},
    stats::STATS,
};
use core::fmt;
use kernel::{alloc::flags::GFP_KERNEL, c_str, prelude::*, sync::Arc};

type Table = RhashTable<InodeAddons>;

/// `maxactive` of the kretprobe: `inode_init_always_gfp()` may sleep in
/// `security_inode_alloc()`, so several calls per CPU can be in flight.
const INIT_MAXACTIVE: i32 = 256;

/// The side-table backend.
///
/// Field order matters: the probes are unregistered (dropped) before the
/// last reference to the table goes, which then frees every entry.
pub(crate) struct TableBackend {
    _destroy_probe: Kprobe<DestroyHandler>,
    init_probe: Kretprobe<InitHandler>,
    table: Arc<Table>,
}

/// Removes `inode`'s entry, if any.  Returns whether one was removed.
fn remove_entry(table: &Table, addr: usize) -> bool {
    let guard = RcuGuard::new();
    match table.lookup(addr, &guard) {
        Some(a) => table.remove(a),
        None => false,
    }
}

struct DestroyHandler {
    table: Arc<Table>,
}

impl KprobeHandler for DestroyHandler {
    fn pre(&self, regs: &Regs) {
        // void __destroy_inode(struct inode *inode)
        let addr = regs.arg(0);
        STATS.inode_destroys.inc();
        if remove_entry(&self.table, addr) {
            STATS.removed_at_destroy.inc();
        }
    }
}

struct InitHandler {
    table: Arc<Table>,
}

impl KretprobeHandler for InitHandler {
    fn entry(&self, regs: &Regs) -> Option<usize> {
        // int inode_init_always_gfp(struct super_block *sb,
        //                           struct inode *inode, gfp_t gfp)
        let addr = regs.arg(1);
        // The inode memory was just allocated: whatever is registered at
        // this address belongs to a previous, freed inode.
        if remove_entry(&self.table, addr) {
            STATS.reuse_violations.inc();
            pr_warn!("addons of a freed inode found at inode allocation\n");
        }
        Some(addr)
    }

    fn ret(&self, regs: &Regs, addr: usize) {
        if regs.ret() == 0 {
            STATS.inode_inits.inc();
            return;
        }
        STATS.inode_init_failures.inc();
        // Freed without __destroy_inode(): nothing may stay behind.
        if remove_entry(&self.table, addr) {
            STATS.reuse_violations.inc();
        }
    }
}

impl Backend for TableBackend {
    type Addons = InodeAddons;
    const NAME: &'static str = "side-table";
    const OBJECT_SIZE: usize = core::mem::size_of::<InodeAddons>();
    const SHADOW_PROBES: bool = true;
    const OWNS_OBJECTS: bool = true;

    fn new() -> Result<Arc<Self>> {
        InodeAddons::check_layout()?;
        let table = Arc::pin_init(Table::new(), GFP_KERNEL)?;
        let init_probe = Kretprobe::register(
            c_str!("inode_init_always_gfp"),
            INIT_MAXACTIVE,
            InitHandler {
                table: table.clone(),
            },
        )
        .inspect_err(|e| pr_err!("kretprobe on inode_init_always_gfp: {:?}\n", e))?;
        let destroy_probe = Kprobe::register(
            c_str!("__destroy_inode"),
            DestroyHandler {
                table: table.clone(),
            },
        )
        .inspect_err(|e| pr_err!("kprobe on __destroy_inode: {:?}\n", e))?;
        Ok(Arc::new(
            Self {
                _destroy_probe: destroy_probe,
                init_probe,
                table,
            },
            GFP_KERNEL,
        )?)
    }

    fn lookup<'g>(&'g self, inode: &InodeRef, guard: &'g RcuGuard) -> Option<&'g InodeAddons> {
        self.table.lookup(inode.addr(), guard)
    }

    fn get_or_create<R>(
        &self,
        inode: &InodeRef,
        ctx: AllocCtx,
        f: impl FnOnce(&InodeAddons, bool) -> R,
    ) -> Result<R> {
        {
            let guard = RcuGuard::new();
            if let Some(a) = self.table.lookup(inode.addr(), &guard) {
                return Ok(f(a, false));
            }
        }
        // SAFETY: no precondition.
        if ctx == AllocCtx::Bpf && !unsafe { ffi::ia_in_task() } {
            STATS.refused_busy.inc();
            return Err(EPERM);
        }
        // Allocate outside RCU and i_lock: `Sleepable` may sleep.
        let new = InodeAddons::new(inode, ctx.gfp()).inspect_err(|_| STATS.alloc_failures.inc())?;
        let lock = match inode.lock_if_live(ctx != AllocCtx::Bpf) {
            Ok(lock) => lock,
            Err(e) => {
                if e == EBUSY {
                    STATS.refused_busy.inc();
                } else {
                    STATS.refused_dying.inc();
                }
                return Err(e);
            }
        };
        let guard = RcuGuard::new();
        match self.table.insert(new, &guard) {
            Ok(Insert::Inserted(a)) => {
                drop(lock);
                a.sync_shadow(inode);
                Ok(f(a, true))
            }
            Ok(Insert::Exists(a, mine)) => {
                drop(lock);
                STATS.lost_races.inc();
                drop(mine);
                Ok(f(a, false))
            }
            Err((e, mine)) => {
                drop(lock);
                STATS.alloc_failures.inc();
                drop(mine);
                Err(e)
            }
        }
    }

    fn for_each(&self, mut f: impl FnMut(&InodeAddons, &InodeRef)) -> Result {
        self.table.for_each(|a| {
            // SAFETY: `a` is in the table under RCU, so its inode has not
            // gone through `__destroy_inode()` before this read-side section
            // began and is freed only after it (see the module docs).
            if let Some(inode) = unsafe { InodeRef::from_raw(a.inode_addr() as *mut _) } {
                f(a, &inode);
            }
        })
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn scratch(&self, inode: &InodeRef) -> *mut u64 {
        let guard = RcuGuard::new();
        // The pointer outlives the guard: the caller (a BPF program) runs
        // under RCU and keeps the inode, hence its entry, alive.
        self.table
            .lookup(inode.addr(), &guard)
            .map_or(core::ptr::null_mut(), |a| a.scratch_ptr())
    }

    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(w, "init_kretprobe_missed: {}", self.init_probe.nmissed())
    }
}
