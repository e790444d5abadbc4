// SPDX-License-Identifier: GPL-2.0

//! The side-table backend, for kernels without `i_addons` in `struct inode`:
//! addons in an rhashtable keyed by the inode's address, tied to inode
//! lifetimes by a kretprobe on `inode_init_always_gfp()` and a kprobe on
//! `__destroy_inode()`.
//!
//! The invariant the `unsafe` here relies on: an entry exists only for an
//! inode that was on its super block's list without `I_FREEING` /
//! `I_WILL_FREE` when the entry was inserted under its `i_lock`, and the
//! `__destroy_inode()` probe removes it before the inode is handed to
//! `call_rcu()`; so an entry found under RCU keeps its inode allocated to
//! the end of that read-side section.  Why that holds for every way an
//! inode is destroyed, and what it assumes (the probes armed: root can
//! disarm every kprobe): module/README.md, "Lifetimes".

use crate::{
    addons::{InodeAddons, ShadowLock},
    backend::{AllocCtx, Backend, BenchTarget},
    fsnotify_probes::{FsnotifyProbes, ShadowTarget},
    inode::{Inode, SynthInodes},
    kprobe::{Entry, Kprobe, KprobeHandler, Kretprobe, KretprobeHandler, ProbedFn, Regs, Return},
    rcu::RcuGuard,
    recursion::{self, Busy},
    rhashtable::{Insert, RhashTable},
    stats::STATS,
};
use core::fmt;
use kernel::{
    alloc::{flags::GFP_KERNEL, Flags},
    c_str,
    prelude::*,
    sync::Arc,
};

type Table = RhashTable<InodeAddons>;

/// The live side table: the addons of the inodes, and the lock that
/// serialises the writers of their shadows.
#[pin_data]
pub(crate) struct LiveTable {
    #[pin]
    table: Table,
    #[pin]
    shadow_lock: ShadowLock,
}

impl LiveTable {
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            table <- Table::new(),
            shadow_lock <- ShadowLock::new(),
        }? Error)
    }
}

/// `maxactive` of the kretprobe: `inode_init_always_gfp()` may sleep in
/// `security_inode_alloc()`, so several calls per CPU can be in flight.
const INIT_MAXACTIVE: i32 = 256;

/// The side-table backend.
///
/// Field order matters: the probes are unregistered (dropped) before the
/// last reference to the table goes, which then frees every entry; the
/// destroy probe last of them, so that the init probe never finds the
/// entry of an inode destroyed after the destroy probe went.
pub(crate) struct TableBackend {
    fsnotify: FsnotifyProbes<LiveTable>,
    init_probe: Kretprobe<InitHandler>,
    _destroy_probe: Kprobe<DestroyHandler>,
    live: Arc<LiveTable>,
}

/// Removes the entry of the inode at `addr`, if any.  Returns whether one
/// was removed.
fn remove_entry(table: &Table, addr: usize) -> bool {
    // The removal takes a bucket lock.
    let _busy = Busy::enter();
    let guard = RcuGuard::new();
    match table.lookup(addr, &guard) {
        Some(a) => table.remove(a),
        None => false,
    }
}

/// The side table's lookup: the entry keyed by `inode`'s address.
///
/// Shared by [`TableBackend`] and the microbenchmark ([`TableBench`]).
fn lookup_in<'g>(table: &'g Table, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g InodeAddons> {
    table.lookup(inode.addr(), guard)
}

/// The inode owning `a`, borrowed for `guard`.
///
/// # Safety
///
/// `a` is an entry of the live table (not the benchmark's, nor one that
/// lost an insertion race), found in it under `guard`.
unsafe fn owner<'g>(a: &'g InodeAddons, _guard: &'g RcuGuard) -> Option<&'g Inode> {
    // SAFETY: an entry of the live table found under `guard` (by the
    // caller); such an entry exists only for an inode destroyed through
    // the `__destroy_inode()` probe, which removes the entry before the
    // inode is freed after a grace period (see the module docs), so the
    // inode outlives `guard`.
    unsafe { Inode::from_raw(a.inode_addr() as *mut _) }
}

/// How [`get_or_create_in`] got the addons it passes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Got {
    /// They were in the table.
    Found,
    /// This call inserted them.
    Created,
    /// This call's object lost the insertion race and was freed.
    LostRace,
}

/// Why [`get_or_create_in`] failed (each kind has its own counter).
enum Fail {
    /// Allocation or table insertion failed.
    Alloc,
    /// `AllocCtx::Bpf` outside task context or with interrupts disabled,
    /// or `i_lock` contended.
    Busy,
    /// The inode is being torn down.
    Dying,
}

/// The side table's get-or-create, shared by [`TableBackend`] and the
/// microbenchmark ([`TableBench`]), which differ only in how objects are
/// allocated (`new`: counted in the module's or the benchmark's
/// counters) and in what they count.
///
/// Lookup under RCU; if absent, allocate outside RCU and `i_lock`
/// (`AllocCtx::Sleepable` may sleep), take `i_lock` unless the inode is
/// being torn down, insert under it.  An object that loses the race is
/// freed at once (never published); on failure nothing is left behind.
/// `f` runs under RCU, after `i_lock` was dropped.
fn get_or_create_in<R>(
    table: &Table,
    inode: &Inode,
    ctx: AllocCtx,
    new: fn(&Inode, Flags) -> Result<KBox<InodeAddons>>,
    f: impl FnOnce(&InodeAddons, Got) -> R,
) -> core::result::Result<R, (Error, Fail)> {
    {
        let guard = RcuGuard::new();
        if let Some(a) = lookup_in(table, inode, &guard) {
            return Ok(f(a, Got::Found));
        }
    }
    // The side table's objects come from the slab allocator.
    if ctx == AllocCtx::Bpf && !recursion::bpf_may_kmalloc() {
        return Err((EBUSY, Fail::Busy));
    }
    let new = new(inode, ctx.gfp()).map_err(|e| (e, Fail::Alloc))?;
    let lock = inode
        .lock_if_live(ctx != AllocCtx::Bpf)
        .map_err(|e| (e, if e == EBUSY { Fail::Busy } else { Fail::Dying }))?;
    let guard = RcuGuard::new();
    match table.insert(new, &guard) {
        Ok(Insert::Inserted(a)) => {
            drop(lock);
            Ok(f(a, Got::Created))
        }
        Ok(Insert::Exists(a, mine)) => {
            drop(lock);
            drop(mine);
            Ok(f(a, Got::LostRace))
        }
        Err((e, mine)) => {
            drop(lock);
            drop(mine);
            Err((e, Fail::Alloc))
        }
    }
}

/// The live table's get-or-create, with its counters: shared by
/// [`TableBackend`] and the fsnotify probes.
fn get_or_create_counted<R>(
    live: &LiveTable,
    inode: &Inode,
    ctx: AllocCtx,
    f: impl FnOnce(&InodeAddons, bool) -> R,
) -> Result<R> {
    get_or_create_in(&live.table, inode, ctx, InodeAddons::new, |a, got| {
        match got {
            Got::Created => a.sync_shadow(inode, &live.shadow_lock),
            Got::LostRace => STATS.lost_races.inc(),
            Got::Found => {}
        }
        f(a, got == Got::Created)
    })
    .map_err(|(e, fail)| {
        match fail {
            Fail::Alloc => STATS.alloc_failures.inc(),
            Fail::Busy => STATS.refused_busy.inc(),
            Fail::Dying => STATS.refused_dying.inc(),
        }
        e
    })
}

impl ShadowTarget for LiveTable {
    fn attach(&self, inode: &Inode) {
        // Failures (no memory, inode being torn down) are counted; the
        // self-check reports the inodes left without shadow.
        let _ = get_or_create_counted(self, inode, AllocCtx::Atomic, |a, created| {
            if !created {
                a.sync_shadow(inode, &self.shadow_lock);
            }
        });
    }

    fn refresh(&self, addr: usize) {
        // Only an inode found with addons now is known to be allocated
        // until the end of this RCU section; a different inode at the same
        // address is fine too: its own real state is copied.
        let guard = RcuGuard::new();
        if let Some(a) = self.table.lookup(addr, &guard) {
            // SAFETY: found in the live table under `guard`.
            if let Some(inode) = unsafe { owner(a, &guard) } {
                a.sync_shadow(inode, &self.shadow_lock);
            }
        }
    }
}

struct DestroyHandler {
    live: Arc<LiveTable>,
}

impl KprobeHandler for DestroyHandler {
    fn pre(&self, regs: &Regs) {
        // void __destroy_inode(struct inode *inode)
        let addr = regs.arg(0);
        STATS.inode_destroys.inc();
        if remove_entry(&self.live.table, addr) {
            STATS.removed_at_destroy.inc();
        }
    }
}

struct InitHandler {
    live: Arc<LiveTable>,
}

/// `int inode_init_always_gfp(struct super_block *sb, struct inode *inode,
/// gfp_t gfp)`: its handlers use the inode's address only.
struct InodeInitAlwaysGfp;

impl ProbedFn for InodeInitAlwaysGfp {
    const SYMBOL: &'static CStr = c_str!("inode_init_always_gfp");
    const ARG: u32 = 1;
    type Arg = Inode;
}

impl KretprobeHandler for InitHandler {
    type Probed = InodeInitAlwaysGfp;

    fn entry(&self, call: &Entry<'_, InodeInitAlwaysGfp>) -> Option<usize> {
        // The inode memory was just allocated: whatever is registered at
        // this address belongs to a previous, freed inode.
        if remove_entry(&self.live.table, call.arg_addr()) {
            STATS.reuse_violations.inc();
            pr_warn!("addons of a freed inode found at inode allocation\n");
        }
        Some(0)
    }

    fn ret(&self, call: &Return<'_, InodeInitAlwaysGfp>, _data: usize) {
        if call.value() == 0 {
            STATS.inode_inits.inc();
            return;
        }
        STATS.inode_init_failures.inc();
        // Freed without __destroy_inode(): nothing may stay behind.
        if remove_entry(&self.live.table, call.arg_addr()) {
            STATS.reuse_violations.inc();
        }
    }
}

impl Backend for TableBackend {
    type Addons = InodeAddons;
    type Bench = TableBench;
    const NAME: &'static str = "side-table";
    const OBJECT_SIZE: usize = core::mem::size_of::<InodeAddons>();
    const OWNS_OBJECTS: bool = true;

    fn new() -> Result<Arc<Self>> {
        InodeAddons::check_layout()?;
        let live = Arc::pin_init(LiveTable::new(), GFP_KERNEL)?;
        let init_probe = Kretprobe::register(INIT_MAXACTIVE, InitHandler { live: live.clone() })?;
        let destroy_probe = Kprobe::register(
            c_str!("__destroy_inode"),
            DestroyHandler { live: live.clone() },
        )?;
        let fsnotify = FsnotifyProbes::new(&live)?;
        Ok(Arc::new(
            Self {
                fsnotify,
                _destroy_probe: destroy_probe,
                init_probe,
                live,
            },
            GFP_KERNEL,
        )?)
    }

    fn lookup<'g>(&'g self, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g InodeAddons> {
        lookup_in(&self.live.table, inode, guard)
    }

    fn get_or_create<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&InodeAddons, bool) -> R,
    ) -> Result<R> {
        get_or_create_counted(&self.live, inode, ctx, f)
    }

    fn for_each(&self, mut f: impl FnMut(&InodeAddons, &Inode)) -> Result {
        self.live.table.for_each(|a, guard| {
            // SAFETY: an entry of the live table, walked under `guard`.
            if let Some(inode) = unsafe { owner(a, guard) } {
                f(a, inode);
            }
        })
    }

    fn len(&self) -> usize {
        self.live.table.len()
    }

    fn scratch(&self, inode: &Inode) -> *mut u64 {
        let guard = RcuGuard::new();
        // The pointer outlives the guard: the caller (a BPF program) runs
        // under RCU, and a removed entry is freed only after a grace period
        // (`call_rcu()`).
        self.live
            .table
            .lookup(inode.addr(), &guard)
            .map_or(core::ptr::null_mut(), |a| a.scratch_ptr())
    }

    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(w, "init_kretprobe_missed: {}", self.init_probe.nmissed())?;
        writeln!(w, "fsnotify_kretprobes_missed: {}", self.fsnotify.nmissed())
    }
}

/// The microbenchmark's side table: a private table with the module's
/// parameters ([`RhashTable::new`]), driven through [`lookup_in`] and
/// [`get_or_create_in`] like the live one, holding objects counted in the
/// benchmark's counters only (`InodeAddons::new_bench`).
///
/// Nothing else ever sees this table or its synthetic inodes, so no probe,
/// self-check or stats walk does.
pub(crate) struct TableBench {
    table: Pin<KBox<Table>>,
}

impl BenchTarget for TableBench {
    /// A kmalloc-96 object and about two bucket pointers per entry.
    const BYTES_PER_ENTRY: usize = 96 + 16;

    fn new() -> Result<Self> {
        Ok(Self {
            table: KBox::pin_init(Table::new(), GFP_KERNEL)?,
        })
    }

    fn lookup(&self, inode: &Inode) -> bool {
        let guard = RcuGuard::new();
        lookup_in(&self.table, inode, &guard).is_some()
    }

    fn get_or_create(&self, inode: &Inode) -> Result<bool> {
        get_or_create_in(
            &self.table,
            inode,
            AllocCtx::Sleepable,
            InodeAddons::new_bench,
            |_, got| got == Got::Created,
        )
        .map_err(|(e, _)| e)
    }

    fn release(&self, _inodes: &SynthInodes, inode: &Inode) {
        // Removed now, freed after a grace period: other bench threads may
        // be walking the same bucket.
        remove_entry(&self.table, inode.addr());
    }

    fn finish(self, _inodes: &SynthInodes) {
        // Every bench thread has exited, so no reader is left; wait for a
        // grace period anyway, as the module never frees under a possible
        // reader.  Dropping the table frees the remaining entries.
        crate::rcu::synchronize();
        drop(self);
    }
}
