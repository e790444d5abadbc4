// SPDX-License-Identifier: GPL-2.0

//! In-kernel microbenchmark: ns/op of a backend's lookup (hit and miss)
//! and get-or-create, at a given number of tracked inodes, with 1..8
//! threads (`bench [TRACKED [THREADS]]` written to debugfs `control`).
//!
//! Generic over the backend: it drives [`Backend::Bench`] (the backend's
//! own code paths on a private set of synthetic inodes, see
//! [`BenchTarget`]).  What is measured, how and with what limits: the
//! "Microbenchmark" section of `module/README.md`.

use crate::{
    backend::{Backend, BenchTarget},
    ffi,
    inode::{Inode, SynthInodes},
    kthread, rcu,
};
use core::{
    fmt::Write,
    sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVVec},
    bindings,
    prelude::*,
};

/// Tracked-inode counts of the whole matrix.
const SIZES: [usize; 5] = [100, 1_000, 10_000, 100_000, 1_000_000];
/// Thread counts of the whole matrix (and of `bench TRACKED`).
const THREADS: [usize; 2] = [1, 2];
/// Most threads a run may ask for.
const MAX_THREADS: usize = 8;
/// Most tracked inodes a run may ask for.
const MAX_TRACKED: usize = 10_000_000;
/// Bounds of the untracked set (miss lookups, creations).
const MIN_UNTRACKED: usize = 64;
const MAX_UNTRACKED: usize = 65_536;
/// Ops between two clock reads (and `cond_resched()`, stop checks).
pub(crate) const CHUNK: usize = 256;
/// Measured time per phase and thread.
const PHASE_NS: u64 = 200_000_000;
/// Op caps per phase and thread (creation: bounds the memory awaiting a
/// grace period).
const LOOKUP_OPS_MAX: u64 = 1 << 24;
const CREATE_OPS_MAX: u64 = 1 << 17;

use kthread::cond_resched;

fn now_ns() -> u64 {
    kernel::time::Ktime::ktime_get().to_ns() as u64
}

/// A uniformly random index below `n` (`n <= u32::MAX`).
fn random_below(n: usize) -> usize {
    let r = u64::from(ffi::random_u32());
    ((r * n as u64) >> 32) as usize
}

/// A phase's operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    LookupHit,
    LookupMiss,
    GetOrCreate,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::LookupHit => "lookup_hit",
            Op::LookupMiss => "lookup_miss",
            Op::GetOrCreate => "get_or_create",
        }
    }
}

/// One phase, shared by its threads.
struct Phase<'a, T: BenchTarget> {
    target: &'a T,
    inodes: &'a SynthInodes,
    /// Indices into `inodes`, in a random order.
    order: &'a [u32],
    op: Op,
    threads: usize,
    /// Creations per round, all threads together.
    round: usize,
    stop: AtomicBool,
    ops: [AtomicU64; MAX_THREADS],
    ns: [AtomicU64; MAX_THREADS],
}

impl<T: BenchTarget> Phase<'_, T> {
    fn done(&self, ns: u64, ops: u64, cap: u64) -> bool {
        ns >= PHASE_NS || ops >= cap || self.stop.load(Relaxed)
    }

    fn run_lookups(&self, idx: usize) -> Result<(u64, u64)> {
        let expect = self.op == Op::LookupHit;
        let len = self.order.len();
        let mut pos = idx * len / self.threads;
        let (mut ns, mut ops) = (0, 0);
        loop {
            let t0 = now_ns();
            for _ in 0..CHUNK {
                if self
                    .target
                    .lookup(self.inodes.get(self.order[pos] as usize))
                    != expect
                {
                    return Err(EIO);
                }
                pos += 1;
                if pos == len {
                    pos = 0;
                }
            }
            ns += now_ns() - t0;
            ops += CHUNK as u64;
            if self.done(ns, ops, LOOKUP_OPS_MAX) {
                return Ok((ns, ops));
            }
            cond_resched();
        }
    }

    fn run_creates(&self, idx: usize) -> Result<(u64, u64)> {
        let len = self.order.len();
        let own = &self.order[idx * len / self.threads..(idx + 1) * len / self.threads];
        let s = own.len();
        if s == 0 {
            return Ok((0, 0));
        }
        let r = (self.round / self.threads).clamp(1, s);
        let at = |pos: usize, k: usize| -> &Inode {
            let i = if pos + k >= s { pos + k - s } else { pos + k };
            self.inodes.get(own[i] as usize)
        };
        let (mut ns, mut ops, mut pos) = (0, 0, 0);
        loop {
            let mut k = 0;
            while k < r {
                let end = (k + CHUNK).min(r);
                let t0 = now_ns();
                while k < end {
                    if !self.target.get_or_create(at(pos, k))? {
                        return Err(EIO);
                    }
                    k += 1;
                }
                ns += now_ns() - t0;
                cond_resched();
            }
            ops += r as u64;
            for k in 0..r {
                self.target.release(self.inodes, at(pos, k));
                if k % CHUNK == CHUNK - 1 {
                    cond_resched();
                }
            }
            pos = if pos + r >= s { pos + r - s } else { pos + r };
            if self.done(ns, ops, CREATE_OPS_MAX) {
                return Ok((ns, ops));
            }
        }
    }
}

impl<T: BenchTarget> Phase<'_, T> {
    /// Thread `idx` of the phase: runs it and records its figures.
    fn run_thread(&self, idx: usize) -> Result {
        let r = match self.op {
            Op::LookupHit | Op::LookupMiss => self.run_lookups(idx),
            Op::GetOrCreate => self.run_creates(idx),
        };
        match r {
            Ok((ns, ops)) => {
                self.ns[idx].store(ns, Relaxed);
                self.ops[idx].store(ops, Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stop.store(true, Relaxed);
                Err(e)
            }
        }
    }
}

/// A random permutation of `lo..hi`.
fn permutation(lo: usize, hi: usize) -> Result<KVVec<u32>> {
    let n = hi - lo;
    let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
    for i in lo..hi {
        v.push(i as u32, GFP_KERNEL)?;
    }
    for i in (1..n).rev() {
        v.swap(i, random_below(i + 1));
        if i % (64 * CHUNK) == 0 {
            cond_resched();
        }
    }
    Ok(v)
}

fn check_signal() -> Result {
    if kthread::fatal_signal_pending() {
        return Err(EINTR);
    }
    Ok(())
}

/// Runs one phase with `threads` kthreads and writes its TSV row.
fn run_phase<B: Backend>(
    w: &mut dyn Write,
    target: &B::Bench,
    inodes: &SynthInodes,
    order: &[u32],
    op: Op,
    tracked: usize,
    threads: usize,
) -> Result {
    let p = Phase {
        target,
        inodes,
        order,
        op,
        threads,
        round: (tracked / 8).max(16),
        stop: AtomicBool::new(false),
        ops: [const { AtomicU64::new(0) }; MAX_THREADS],
        ns: [const { AtomicU64::new(0) }; MAX_THREADS],
    };
    kthread::run_parallel(threads, &|idx| p.run_thread(idx), || {
        p.stop.store(true, Relaxed)
    })?;
    let ns: u64 = p.ns.iter().map(|x| x.load(Relaxed)).sum();
    let ops: u64 = p.ops.iter().map(|x| x.load(Relaxed)).sum();
    if ops == 0 {
        return Err(EIO);
    }
    let centi = ns * 100 / ops;
    writeln!(
        w,
        "{}\t{tracked}\t{threads}\t{}\t{}.{:02}\t{ops}",
        B::NAME,
        op.name(),
        centi / 100,
        centi % 100
    )
    .map_err(|_| ENOSPC)
}

/// Bytes a run with `tracked` and `untracked` inodes and at most
/// `threads` threads needs, roughly (the last term: creations awaiting a
/// grace period, at worst every one of a phase).
fn memory_needed<T: BenchTarget>(tracked: usize, untracked: usize, threads: usize) -> usize {
    let inodes = tracked + untracked;
    let pending = threads * CREATE_OPS_MAX as usize;
    inodes * (core::mem::size_of::<bindings::inode>() + 4)
        + (tracked + (tracked / 8).max(16) + pending) * T::BYTES_PER_ENTRY
}

/// Runs one tracked-inode count with each of `threads`, on `B`'s code
/// paths.
fn run_size<B: Backend>(w: &mut dyn Write, tracked: usize, threads: &[usize]) -> Result {
    let untracked = tracked.clamp(MIN_UNTRACKED, MAX_UNTRACKED);
    let max_threads = threads.iter().copied().max().unwrap_or(1);
    let need = memory_needed::<B::Bench>(tracked, untracked, max_threads);
    let avail = ffi::mem_available_pages() * kernel::page::PAGE_SIZE;
    if need > avail / 2 {
        let (need, avail) = (need >> 20, avail >> 20);
        pr_info!("bench: tracked {tracked} skipped: needs ~{need} MiB, {avail} MiB available\n");
        return writeln!(
            w,
            "# skipped\t{tracked}\tneeds ~{need} MiB, more than half of the {avail} MiB available"
        )
        .map_err(|_| ENOSPC);
    }
    let Some(inodes) = SynthInodes::new(tracked + untracked) else {
        pr_info!("bench: tracked {tracked} skipped: no memory for the synthetic inodes\n");
        return writeln!(
            w,
            "# skipped\t{tracked}\tno memory for the synthetic inodes"
        )
        .map_err(|_| ENOSPC);
    };
    let hit = permutation(0, tracked)?;
    let miss = permutation(tracked, tracked + untracked)?;
    let target = B::Bench::new()?;
    let leaked_before = crate::stats::STATS.bench_leaked.get();
    let mut r = (|| -> Result {
        for (i, &idx) in hit.iter().enumerate() {
            if !target.get_or_create(inodes.get(idx as usize))? {
                return Err(EIO);
            }
            if i % CHUNK == CHUNK - 1 {
                check_signal()?;
                cond_resched();
            }
        }
        for &t in threads {
            for (op, order) in [
                (Op::LookupHit, &hit),
                (Op::LookupMiss, &miss),
                (Op::GetOrCreate, &miss),
            ] {
                check_signal()?;
                run_phase::<B>(w, &target, &inodes, order, op, tracked, t)?;
            }
        }
        Ok(())
    })();
    target.finish(&inodes);
    drop(inodes);
    // A BPF program gave synthetic inodes addons or storage (see
    // `SynthInodes`): its work was timed too, so the run has no result.
    if r.is_ok() && crate::stats::STATS.bench_leaked.get() != leaked_before {
        r = Err(EIO);
    }
    match &r {
        Ok(()) => pr_info!("bench: tracked {tracked} done\n"),
        Err(e) => pr_info!("bench: tracked {tracked} stopped: error {}\n", e.to_errno()),
    }
    r
}

/// Parses `[TRACKED [THREADS]]`: the tracked counts and thread counts to
/// run.
fn parse(args: &str) -> Result<(KVec<usize>, KVec<usize>)> {
    let mut it = args.split_ascii_whitespace();
    let num = |s: Option<&str>| -> Result<Option<usize>> {
        s.map(|s| s.parse::<usize>().map_err(|_| EINVAL))
            .transpose()
    };
    let tracked = num(it.next())?;
    let threads = num(it.next())?;
    if it.next().is_some() {
        return Err(EINVAL);
    }
    let mut sizes = KVec::new();
    let mut ts = KVec::new();
    match tracked {
        None => sizes.extend_from_slice(&SIZES, GFP_KERNEL)?,
        Some(n) if (1..=MAX_TRACKED).contains(&n) => sizes.push(n, GFP_KERNEL)?,
        Some(_) => return Err(EINVAL),
    }
    match threads {
        None => ts.extend_from_slice(&THREADS, GFP_KERNEL)?,
        Some(t) if (1..=MAX_THREADS).contains(&t) => ts.push(t, GFP_KERNEL)?,
        Some(_) => return Err(EINVAL),
    }
    Ok((sizes, ts))
}

/// Runs `bench ARGS` (a `control` write) on `B`'s code paths, writing the
/// TSV to `w`.  Process context; the caller serialises runs.
pub(crate) fn run<B: Backend>(args: &str, w: &mut dyn Write) -> Result {
    let (sizes, threads) = parse(args)?;
    writeln!(w, "backend\ttracked\tthreads\top\tns_per_op\tops").map_err(|_| ENOSPC)?;
    let mut r = Ok(());
    for &n in sizes.iter() {
        r = run_size::<B>(w, n, &threads);
        if r.is_err() {
            break;
        }
    }
    // Frees the last deferred objects (module code), so that the bench
    // counters balance when the write returns.
    rcu::barrier();
    r
}
