// SPDX-License-Identifier: GPL-2.0

//! The embedded backend, for kernels with the inode_addons series
//! (`CONFIG_INODE_ADDONS`; selected by `module/Kbuild` with `--cfg
//! ia_backend_embedded`): the addons are the kernel's own `inode->i_addons`
//! (`inode_addons_get()`, `inode_addons_alloc()`, freed by the kernel in
//! `__destroy_inode()`), no probes, and a module-side table for the BPF
//! scratch area ([`ScratchEntry`]).  What the kernel's interface hides
//! from the module (lost races, frees, a list of inodes with addons) and
//! how the walk finds inodes: module/README.md, "Embedded backend".

use crate::{
    backend::{AddonsObject, AllocCtx, Backend, BenchTarget},
    ffi::Scratch,
    inode::{FsnotifyState, Inode, KernelAddons, SynthInodes},
    rcu::RcuGuard,
    recursion,
    rhashtable::{impl_rhash_entry, Insert, RhashNode, RhashRcu, RhashTable},
    stats::STATS,
    vfs::FsTypes,
};
use core::{fmt, ptr::null_mut};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    ffi::c_void,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

impl AddonsObject for KernelAddons {
    fn recorded_fsnotify_state(&self, inode: &Inode) -> FsnotifyState {
        // The kernel's own fields: what they record is the real state.
        self.fsnotify_state(inode)
    }

    fn as_c_ptr(&self) -> *mut c_void {
        self.as_ptr().cast()
    }
}

/// A BPF scratch area, prototype only.
///
/// The kernel's addons have no room for module data and the module gets no
/// callback when they are freed, so the scratch areas live in a module-side
/// table keyed by the inode address and stay until unload.  An inode freed
/// and another allocated at the same address must not see the old scratch:
/// an entry records the owner's addons pointer, super block and inode
/// number, and a lookup that finds another owner replaces the entry with a
/// zeroed one.  Only inodes used by the scratch kfunc get an entry.
#[repr(C)]
struct ScratchEntry {
    inode: usize,
    addons: usize,
    sb: usize,
    ino: u64,
    node: RhashNode,
    rcu: RhashRcu,
    scratch: Scratch,
}

impl_rhash_entry!(ScratchEntry {
    node: node,
    key: inode,
    rcu: rcu,
});

impl ScratchEntry {
    fn owner(inode: &Inode, addons: &KernelAddons) -> (usize, usize, u64) {
        (addons.as_ptr() as usize, inode.sb_addr(), inode.ino())
    }

    fn is_for(&self, owner: (usize, usize, u64)) -> bool {
        (self.addons, self.sb, self.ino) == owner
    }
}

/// The embedded backend.
#[pin_data]
pub(crate) struct EmbeddedBackend {
    scratch: Arc<RhashTable<ScratchEntry>>,
    /// The file system types whose inodes [`Backend::for_each`] walks.
    fs_types: FsTypes,
    /// Serialises the module's sleepable creators (ioctl).
    #[pin]
    create_lock: Mutex<()>,
}

/// The real addons of `inode`, if it has some: the embedded backend's
/// lookup, shared with the microbenchmark ([`EmbeddedBench`]).
fn addons_get<'g>(inode: &Inode, guard: &'g RcuGuard) -> Option<&'g KernelAddons> {
    inode.addons(guard)
}

/// `inode_addons_alloc()`, or `inode_addons_attach_nolock()` for BPF
/// programs: the embedded backend's creation step, shared with the
/// microbenchmark.  `None`: allocation failure or an inode being
/// torn down.
///
/// The caller must be in `ctx` (only `AllocCtx::Sleepable` may sleep, and
/// then holds no spinlock and no RCU read-side section).
fn addons_alloc(inode: &Inode, ctx: AllocCtx) -> Option<&KernelAddons> {
    // The flags suit the context (by the caller).  A BPF program may run
    // anywhere, the slab allocator included: its addons come from the
    // any-context allocator, as those of the storage helpers do.
    match ctx {
        AllocCtx::Bpf => inode.addons_alloc_nolock(ctx.raw_gfp()),
        AllocCtx::Sleepable | AllocCtx::Atomic => inode.addons_alloc(ctx.raw_gfp()),
    }
}

/// Calls `f` on the addons `inode` already has (with `false`: they were
/// not absent), or gives `f` back if it has none: the lookup step of every
/// get-or-create here, shared so that the lock-free fast path and the
/// recheck under the creators' lock are the same code.
fn with_existing<R, F>(inode: &Inode, f: F) -> core::result::Result<R, F>
where
    F: FnOnce(&KernelAddons, bool) -> R,
{
    let guard = RcuGuard::new();
    match addons_get(inode, &guard) {
        Some(a) => Ok(f(a, false)),
        None => Err(f),
    }
}

impl EmbeddedBackend {
    /// Gets the addons of `inode`, creating them with `inode_addons_alloc()`
    /// if there are none, for a creator serialised with the others of its
    /// kind (see [`EmbeddedBackend::get_or_create`]); `f` gets them and
    /// whether they were absent just before.
    fn get_or_create_serialised<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&KernelAddons, bool) -> R,
    ) -> Result<R> {
        let f = match with_existing(inode, f) {
            Ok(r) => return Ok(r),
            Err(f) => f,
        };
        // No RCU read-side section from here on: a `Sleepable` allocation
        // may sleep.  What `inode_addons_alloc()` returns lives as long as
        // the inode, which the caller keeps alive.
        match addons_alloc(inode, ctx) {
            Some(a) => {
                STATS.allocated.inc();
                Ok(f(a, true))
            }
            None if inode.addons_closed() => {
                STATS.refused_dying.inc();
                Err(ENOENT)
            }
            None => {
                STATS.alloc_failures.inc();
                Err(ENOMEM)
            }
        }
    }
}

impl Backend for EmbeddedBackend {
    type Addons = KernelAddons;
    type Bench = EmbeddedBench;
    #[cfg(not(ia_inline_mask))]
    const NAME: &'static str = "embedded";
    #[cfg(ia_inline_mask)]
    const NAME: &'static str = "embedded-inline-mask";
    const OBJECT_SIZE: usize = core::mem::size_of::<bindings::inode_addons>();
    const OWNS_OBJECTS: bool = false;

    fn new() -> Result<Arc<Self>> {
        let scratch = Arc::pin_init(RhashTable::new(), GFP_KERNEL)?;
        let fs_types = FsTypes::new()?;
        Arc::pin_init(
            pin_init!(Self {
                scratch,
                fs_types,
                create_lock <- new_mutex!((), "inode_addons::create"),
            }),
            GFP_KERNEL,
        )
    }

    fn lookup<'g>(&'g self, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g KernelAddons> {
        addons_get(inode, guard)
    }

    fn get_or_create<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&KernelAddons, bool) -> R,
    ) -> Result<R> {
        let f = match with_existing(inode, f) {
            Ok(r) => return Ok(r),
            Err(f) => f,
        };
        if ctx == AllocCtx::Bpf && !recursion::in_task() {
            STATS.refused_busy.inc();
            return Err(EPERM);
        }
        if ctx == AllocCtx::Sleepable {
            let _creating = self.create_lock.lock();
            return self.get_or_create_serialised(inode, ctx, f);
        }
        // Atomic callers are serialised by i_lock, as in the side table.
        let _lock = inode.lock_if_live(ctx != AllocCtx::Bpf).inspect_err(|e| {
            if *e == EBUSY {
                STATS.refused_busy.inc();
            } else {
                STATS.refused_dying.inc();
            }
        })?;
        self.get_or_create_serialised(inode, ctx, f)
    }

    fn for_each(&self, mut f: impl FnMut(&KernelAddons, &Inode)) -> Result {
        self.fs_types.for_each_inode(|inode, guard| {
            // The walk holds the inode on its super block's list, so it is
            // not destroyed yet, under an RCU guard that outlives the call.
            if let Some(a) = inode.addons(guard) {
                f(a, inode);
            }
        });
        Ok(())
    }

    fn len(&self) -> usize {
        let mut n = 0;
        match self.for_each(|_, _| n += 1) {
            Ok(()) => n,
            Err(_) => 0,
        }
    }

    fn scratch(&self, inode: &Inode) -> *mut u64 {
        let guard = RcuGuard::new();
        let Some(a) = addons_get(inode, &guard) else {
            return null_mut();
        };
        let owner = ScratchEntry::owner(inode, a);
        // The returned pointer outlives the guard: the caller (a BPF
        // program) runs under RCU, and entries are freed after a grace
        // period.
        if let Some(e) = self.scratch.lookup(inode.addr(), &guard) {
            if e.is_for(owner) {
                return e.scratch.as_ptr();
            }
            // A previous inode's: replace it.
            self.scratch.remove(e);
        }
        if !recursion::bpf_may_kmalloc() {
            STATS.refused_busy.inc();
            return null_mut();
        }
        let Ok(new) = KBox::new(
            ScratchEntry {
                inode: inode.addr(),
                addons: owner.0,
                sb: owner.1,
                ino: owner.2,
                node: RhashNode::new(),
                rcu: RhashRcu::new(),
                scratch: Scratch::new(),
            },
            kernel::alloc::flags::GFP_ATOMIC | kernel::alloc::flags::__GFP_NOWARN,
        ) else {
            return null_mut();
        };
        match self.scratch.insert(new, &guard) {
            Ok(Insert::Inserted(e)) => e.scratch.as_ptr(),
            Ok(Insert::Exists(e, _mine)) if e.is_for(owner) => e.scratch.as_ptr(),
            _ => null_mut(),
        }
    }

    fn write_stats(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(w, "scratch_entries: {}", self.scratch.len())
    }
}

/// The microbenchmark's embedded pointer: the synthetic inodes'
/// `i_addons`, driven through [`addons_get`] and [`addons_alloc`] like the
/// backend (without the module's creator mutex, which only makes the
/// module's "created" report exact: the kernel's path is lock-free).
///
/// The kernel frees addons in `__destroy_inode()`, which never runs for a
/// synthetic inode: [`BenchTarget::release`] and [`BenchTarget::finish`]
/// detach and free them ([`SynthInodes::release_addons`]), counted in the
/// benchmark's counters.
pub(crate) struct EmbeddedBench;

impl BenchTarget for EmbeddedBench {
    /// A 40-byte object of `inode_addons_cache` (48 with alignment), plus
    /// slab overhead.
    const BYTES_PER_ENTRY: usize = 64;

    fn new() -> Result<Self> {
        Ok(Self)
    }

    fn lookup(&self, inode: &Inode) -> bool {
        let guard = RcuGuard::new();
        addons_get(inode, &guard).is_some()
    }

    fn get_or_create(&self, inode: &Inode) -> Result<bool> {
        if self.lookup(inode) {
            return Ok(false);
        }
        // Process context, no lock or RCU section held: GFP_KERNEL.  Each
        // synthetic inode has one creator at a time, so a non-NULL result
        // was allocated by this call.
        match addons_alloc(inode, AllocCtx::Sleepable) {
            Some(_) => {
                STATS.bench_allocated.inc();
                Ok(true)
            }
            None => Err(ENOMEM),
        }
    }

    fn release(&self, inodes: &SynthInodes, inode: &Inode) {
        // Freed after a grace period: other bench threads run.
        inodes.release_addons(inode, false);
    }

    fn finish(self, inodes: &SynthInodes) {
        // Every bench thread has exited: after a grace period no reader
        // can hold any of these addons.
        crate::rcu::synchronize();
        for (i, inode) in inodes.iter().enumerate() {
            inodes.release_addons(inode, true);
            if i % crate::bench::CHUNK == 0 {
                crate::kthread::cond_resched();
            }
        }
    }
}
