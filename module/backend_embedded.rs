// SPDX-License-Identifier: GPL-2.0

//! The embedded backend, for kernels with the inode_addons series
//! (`CONFIG_INODE_ADDONS`; selected by `module/Kbuild` with `--cfg
//! ia_backend_embedded`).
//!
//! The addons are the kernel's own `inode->i_addons`: lookup is
//! `inode_addons_get()` (the read-only placeholder the kernel installs on
//! inodes being set up or torn down counts as "no addons"), get-or-create
//! is `inode_addons_alloc()`, and the kernel frees the object in
//! `__destroy_inode()` after an RCU grace period.  No probe is registered:
//! the kernel ties the addons to the inode's lifetime itself, and the
//! fsnotify fields the stock backend shadows *are* in the addons here, so
//! the "shadow" read through the addons is the real state by construction.
//!
//! What the kernel's interface does not let the module observe:
//!
//! - *lost races*: `inode_addons_alloc()` frees the loser's object inside
//!   its `cmpxchg()` and returns the winner's, without saying which it was.
//!   "Created" therefore means "there were no addons when this call looked,
//!   and it allocated them"; the module serialises its own creators (the
//!   ioctl by a mutex, probe/BPF callers by `i_lock`, as the side table
//!   does) so that among callers of one kind exactly one reports
//!   "created".  A racing kernel user (an fsnotify mark being attached,
//!   BPF inode storage) is invisible.  `lost_races` stays 0.
//! - *frees*: the kernel frees the objects; `addons_freed` stays 0 and
//!   nothing is drained at unload.
//! - *a list of inodes with addons*: there is none, and `iterate_supers()`
//!   is not exported.  [`Backend::for_each`] walks the `s_inodes` list of
//!   every super block of every registered file system type
//!   (`/proc/filesystems`, `iterate_supers_type()`); inodes on no such list
//!   (`new_inode_pseudo()`) are not seen.  `len()` is such a walk too.
//!
//! The BPF scratch area (`bpf_inode_addons_scratch()`) has no room in the
//! kernel's `struct inode_addons`; it lives in a module-side rhashtable keyed
//! by the inode address (see [`ScratchEntry`]), used only by that kfunc.

use crate::{
    backend::{AddonsObject, AllocCtx, Backend, BenchTarget},
    ffi::{self, SCRATCH_WORDS},
    inode::{FsnotifyState, Inode, SynthInodes},
    rcu::RcuGuard,
    rhashtable::{Insert, RhashEntry, RhashTable},
    stats::STATS,
};
use core::{fmt, mem::offset_of, ptr::null_mut};
use kernel::{
    alloc::flags::GFP_KERNEL, bindings, ffi::c_void, prelude::*, sync::Arc, types::Opaque,
};

/// The kernel's `struct inode_addons`, seen through a shared reference.
///
/// # Invariants
///
/// Only ever referenced, never owned: a `&EmbeddedAddons` points to the
/// real (slab-allocated, not the placeholder) addons of a live inode, which
/// the kernel frees only after that inode's destruction and an RCU grace
/// period.
#[repr(transparent)]
pub(crate) struct EmbeddedAddons(Opaque<bindings::inode_addons>);

// SAFETY: the kernel's subsystems synchronise their own fields; the module
// only reads them with READ_ONCE()/rcu_access_pointer() semantics.
unsafe impl Send for EmbeddedAddons {}
// SAFETY: see `Send`.
unsafe impl Sync for EmbeddedAddons {}

impl EmbeddedAddons {
    fn raw(&self) -> *mut c_void {
        self.0.get().cast()
    }

    /// # Safety
    ///
    /// `p` must be NULL or the real addons of a live inode, valid for `'a`.
    unsafe fn from_raw<'a>(p: *mut c_void) -> Option<&'a Self> {
        // SAFETY: by the caller; `Self` is a transparent wrapper.
        (!p.is_null()).then(|| unsafe { &*p.cast::<Self>() })
    }
}

impl AddonsObject for EmbeddedAddons {
    fn shadow(&self, inode: &Inode) -> FsnotifyState {
        // SAFETY: `self` is the addons of `inode` (callers pass the owner),
        // both are alive (type invariants).
        let (mask, marks) = unsafe {
            (
                ffi::ia_addons_fsnotify_mask(inode.as_ptr(), self.raw()),
                ffi::ia_addons_fsnotify_marks(self.raw()),
            )
        };
        FsnotifyState {
            mask,
            has_marks: !marks.is_null(),
        }
    }

    fn as_c_ptr(&self) -> *mut c_void {
        self.raw()
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
    node: Opaque<bindings::rhash_head>,
    rcu: Opaque<bindings::callback_head>,
    scratch: Opaque<[u64; SCRATCH_WORDS]>,
}

// SAFETY: `scratch` is only written by BPF programs through the pointer the
// kfunc returns (their business, as with any BPF map value); the rest is
// immutable.
unsafe impl Send for ScratchEntry {}
// SAFETY: see `Send`.
unsafe impl Sync for ScratchEntry {}

// SAFETY: `node` is a `rhash_head`, `inode` a `usize` that never changes,
// `rcu` a `callback_head`; none is used for anything else.
unsafe impl RhashEntry for ScratchEntry {
    const HEAD_OFFSET: usize = offset_of!(ScratchEntry, node);
    const KEY_OFFSET: usize = offset_of!(ScratchEntry, inode);
    const RCU_OFFSET: usize = offset_of!(ScratchEntry, rcu);
}

impl ScratchEntry {
    fn owner(inode: &Inode, addons: &EmbeddedAddons) -> (usize, usize, u64) {
        (addons.raw() as usize, inode.sb_addr(), inode.ino())
    }

    fn is_for(&self, owner: (usize, usize, u64)) -> bool {
        (self.addons, self.sb, self.ino) == owner
    }
}

/// The embedded backend.
pub(crate) struct EmbeddedBackend {
    scratch: Arc<RhashTable<ScratchEntry>>,
}

/// The real addons of `inode`, if it has some: the embedded backend's
/// lookup, shared with the microbenchmark ([`EmbeddedBench`]).
fn addons_get<'g>(inode: &Inode, _guard: &'g RcuGuard) -> Option<&'g EmbeddedAddons> {
    // SAFETY: the inode is allocated; a non-NULL result is its real addons,
    // freed only after the inode and a grace period, so valid while the
    // caller's RCU guard (or inode reference) is held.
    unsafe { EmbeddedAddons::from_raw(ffi::ia_addons_get(inode.as_ptr())) }
}

/// `inode_addons_alloc()`: the embedded backend's creation step, shared
/// with the microbenchmark.  `None`: allocation failure or an inode being
/// torn down.
///
/// The caller must be in `ctx` (only `AllocCtx::Sleepable` may sleep, and
/// then holds no spinlock and no RCU read-side section).
fn addons_alloc(inode: &Inode, ctx: AllocCtx) -> Option<&EmbeddedAddons> {
    // SAFETY: the inode is allocated; the flags suit the context (by the
    // caller).
    let p = unsafe { ffi::ia_addons_alloc(inode.as_ptr(), ctx.raw_gfp()) };
    // SAFETY: non-NULL is the inode's real addons (the kernel never hands
    // out the placeholder), valid while the inode is.
    unsafe { EmbeddedAddons::from_raw(p) }
}

impl EmbeddedBackend {
    /// The real addons of `inode`, if it has some.
    fn get<'g>(&self, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g EmbeddedAddons> {
        addons_get(inode, guard)
    }

    /// Gets the addons of `inode`, creating them with `inode_addons_alloc()`
    /// if there are none, for a creator serialised with the others of its
    /// kind (see [`EmbeddedBackend::get_or_create`]); `f` gets them and
    /// whether they were absent just before.
    fn get_or_create_serialised<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&EmbeddedAddons, bool) -> R,
    ) -> Result<R> {
        {
            let guard = RcuGuard::new();
            if let Some(a) = self.get(inode, &guard) {
                return Ok(f(a, false));
            }
        }
        // No RCU read-side section from here on: a `Sleepable` allocation
        // may sleep.  What `inode_addons_alloc()` returns lives as long as
        // the inode, which the caller keeps alive.
        match addons_alloc(inode, ctx) {
            Some(a) => {
                STATS.allocated.inc();
                Ok(f(a, true))
            }
            // SAFETY: the inode is allocated.
            None if unsafe { ffi::ia_inode_closed(inode.as_ptr()) } => {
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

/// The inode walk callback trampoline.
///
/// # Safety
///
/// `arg` is the `*mut F` passed by `walk`; `inode` is on its super block's
/// inode list and `addons` its addons, under that list's lock.
unsafe extern "C" fn walk_cb<F: FnMut(&EmbeddedAddons, &Inode)>(
    inode: *mut bindings::inode,
    addons: *mut c_void,
    arg: *mut c_void,
) {
    // SAFETY: `arg` is the `&mut F` passed by `for_each`.
    let f = unsafe { &mut *arg.cast::<F>() };
    // SAFETY: the walk holds the super block's inode list lock for the
    // call, so the inode is on the list, not yet destroyed, and its addons
    // are alive; both borrows end with the call.
    let (Some(inode), Some(a)) = (unsafe { Inode::from_raw(inode) }, unsafe {
        EmbeddedAddons::from_raw(addons)
    }) else {
        return;
    };
    f(a, inode);
}

/// Walks every inode with addons, calling `f` for each.
///
/// `walk_cb` is instantiated with the closure's own type `F`, so the `arg`
/// it gets back is exactly the `*mut F` passed here.
fn walk<F: FnMut(&EmbeddedAddons, &Inode)>(f: &mut F) -> Result {
    // SAFETY: `walk_cb::<F>` casts `arg` back to `*mut F`, which is what is
    // passed, and `f` outlives the call.
    kernel::error::to_result(unsafe {
        ffi::ia_walk_inodes(Some(walk_cb::<F>), (f as *mut F).cast::<c_void>())
    })
}

impl Backend for EmbeddedBackend {
    type Addons = EmbeddedAddons;
    type Bench = EmbeddedBench;
    #[cfg(not(ia_inline_mask))]
    const NAME: &'static str = "embedded";
    #[cfg(ia_inline_mask)]
    const NAME: &'static str = "embedded-inline-mask";
    const OBJECT_SIZE: usize = core::mem::size_of::<bindings::inode_addons>();
    const OWNS_OBJECTS: bool = false;

    fn new() -> Result<Arc<Self>> {
        let scratch = Arc::pin_init(RhashTable::new(), GFP_KERNEL)?;
        Ok(Arc::new(Self { scratch }, GFP_KERNEL)?)
    }

    fn lookup<'g>(&'g self, inode: &Inode, guard: &'g RcuGuard) -> Option<&'g EmbeddedAddons> {
        self.get(inode, guard)
    }

    fn get_or_create<R>(
        &self,
        inode: &Inode,
        ctx: AllocCtx,
        f: impl FnOnce(&EmbeddedAddons, bool) -> R,
    ) -> Result<R> {
        {
            let guard = RcuGuard::new();
            if let Some(a) = self.get(inode, &guard) {
                return Ok(f(a, false));
            }
        }
        // SAFETY: no precondition.
        if ctx == AllocCtx::Bpf && !unsafe { ffi::ia_in_task() } {
            STATS.refused_busy.inc();
            return Err(EPERM);
        }
        if ctx == AllocCtx::Sleepable {
            // SAFETY: no precondition; unlocked below.
            unsafe { ffi::ia_create_lock() };
            let r = self.get_or_create_serialised(inode, ctx, f);
            // SAFETY: locked above.
            unsafe { ffi::ia_create_unlock() };
            return r;
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

    fn for_each(&self, mut f: impl FnMut(&EmbeddedAddons, &Inode)) -> Result {
        walk(&mut f)
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
        let Some(a) = self.get(inode, &guard) else {
            return null_mut();
        };
        let owner = ScratchEntry::owner(inode, a);
        // The returned pointer outlives the guard: the caller (a BPF
        // program) runs under RCU, and entries are freed after a grace
        // period.
        if let Some(e) = self.scratch.lookup(inode.addr(), &guard) {
            if e.is_for(owner) {
                return e.scratch.get().cast();
            }
            // A previous inode's: replace it.
            self.scratch.remove(e);
        }
        let Ok(new) = KBox::new(
            ScratchEntry {
                inode: inode.addr(),
                addons: owner.0,
                sb: owner.1,
                ino: owner.2,
                node: Opaque::uninit(),
                rcu: Opaque::uninit(),
                scratch: Opaque::new([0; SCRATCH_WORDS]),
            },
            kernel::alloc::flags::GFP_ATOMIC | kernel::alloc::flags::__GFP_NOWARN,
        ) else {
            return null_mut();
        };
        match self.scratch.insert(new, &guard) {
            Ok(Insert::Inserted(e)) => e.scratch.get().cast(),
            Ok(Insert::Exists(e, _mine)) if e.is_for(owner) => e.scratch.get().cast(),
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
/// detach and free them here (`ia_bench_addons_release()`), counted in the
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
        {
            let guard = RcuGuard::new();
            if addons_get(inode, &guard).is_some() {
                return Ok(false);
            }
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

    fn release(&self, inode: &Inode) {
        // SAFETY: a synthetic inode of the benchmark, which no one else
        // sees; its addons are freed after a grace period (other bench
        // threads run).
        unsafe { ffi::ia_bench_addons_release(inode.as_ptr(), false) };
    }

    fn finish(self, inodes: &SynthInodes) {
        // Every bench thread has exited: after a grace period no reader
        // can hold any of these addons.
        crate::rcu::synchronize();
        for (i, inode) in inodes.iter().enumerate() {
            // SAFETY: a synthetic inode of the benchmark; no reader left.
            unsafe { ffi::ia_bench_addons_release(inode.as_ptr(), true) };
            if i % crate::bench::CHUNK == 0 {
                crate::bench::cond_resched();
            }
        }
    }
}
