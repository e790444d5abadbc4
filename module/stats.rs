// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters.
//!
//! A `static` rather than part of the module object: RCU callbacks that
//! free addons update `freed` after the rest of the module state may be
//! gone; module exit waits for them with `rcu_barrier()`.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonic event counter.
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// The current value.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// All counters of the module.
pub(crate) struct Stats {
    /// Successful `inode_init_always_gfp()` calls seen.
    pub(crate) inode_inits: Counter,
    /// Failed `inode_init_always_gfp()` calls seen (freed without
    /// `__destroy_inode()`).
    pub(crate) inode_init_failures: Counter,
    /// `__destroy_inode()` calls seen.
    pub(crate) inode_destroys: Counter,
    /// Addons objects allocated (including those that lost a race).
    pub(crate) allocated: Counter,
    /// Addons objects freed.
    pub(crate) freed: Counter,
    /// Get-or-create calls that lost the install race.
    pub(crate) lost_races: Counter,
    /// Allocation (or table insertion) failures.
    pub(crate) alloc_failures: Counter,
    /// Creations refused because the inode was being torn down.
    pub(crate) refused_dying: Counter,
    /// Creations refused in BPF context: i_lock contended, not in task
    /// context, interrupts disabled (side table: the slab allocator may be
    /// in a locked section), or a kfunc called inside one of the module's
    /// own locked sections on this CPU (`recursion.rs`).
    pub(crate) refused_busy: Counter,
    /// An addons entry found for a freshly initialised inode (address reuse).
    pub(crate) reuse_violations: Counter,
    /// Entries removed at `__destroy_inode()`.
    pub(crate) removed_at_destroy: Counter,
    /// Shadow updates from the fsnotify probes.
    pub(crate) shadow_updates: Counter,
    /// Shadow mismatches found by self-checks.
    pub(crate) shadow_mismatches: Counter,
    /// Self-checks run.
    pub(crate) selfchecks: Counter,
    /// Addons objects the microbenchmark allocated (kept apart from
    /// `allocated`: the benchmark's synthetic inodes are not inodes).
    pub(crate) bench_allocated: Counter,
    /// Addons objects the microbenchmark freed.
    pub(crate) bench_freed: Counter,
    /// Addons of synthetic inodes the microbenchmark could not free: a BPF
    /// program created them or gave them storage ([`crate::inode::SynthInodes`]).
    pub(crate) bench_leaked: Counter,
}

/// The module's counters.
pub(crate) static STATS: Stats = Stats {
    inode_inits: Counter::new(),
    inode_init_failures: Counter::new(),
    inode_destroys: Counter::new(),
    allocated: Counter::new(),
    freed: Counter::new(),
    lost_races: Counter::new(),
    alloc_failures: Counter::new(),
    refused_dying: Counter::new(),
    refused_busy: Counter::new(),
    reuse_violations: Counter::new(),
    removed_at_destroy: Counter::new(),
    shadow_updates: Counter::new(),
    shadow_mismatches: Counter::new(),
    selfchecks: Counter::new(),
    bench_allocated: Counter::new(),
    bench_freed: Counter::new(),
    bench_leaked: Counter::new(),
};
