#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn tools/bench.sh's raw results into report.md and plots.

Numbers (icount mode): instructions per operation, from the guest clock under
QEMU's -icount shift=0 (1 ns per executed instruction), and modelled L1D
misses per operation from the l1d plugin.  Every comparison is paired within a
repetition (the boots of one shuffled round of boots) and carries the A/A
tolerance: the largest difference, in that case, between the two boots of
stock in one repetition.  A claim is decided on the interval
[min - tol, max + tol] of its per-repetition differences:

  "X <= T"   holds if hi <= T, does not hold if lo > T, else undecidable;
  "|X| <= T" holds if -T <= lo and hi <= T, does not hold if lo > T or
             hi < -T, else undecidable.

In wall mode (KVM hosts) the interval is a bootstrap 95% interval of the
difference of medians, widened by the A/A difference.
"""
import argparse
import copy
import os
import random
import re
import statistics
import sys

PAGE_SIZE = 4096  # x86_64
SLUB_MAX_ORDER = 3  # PAGE_ALLOC_COSTLY_ORDER, 6.12's default slub_max_order
MAX_OBJS_PER_PAGE = 32767
INODE_CACHES = ("inode_cache", "shmem_inode_cache", "ext4_inode_cache", "proc_inode_cache",
                "sock_inode_cache")
CPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)
NAMES = {
    "stock": "stock",
    "stock-aa": "stock (A/A twin)",
    "stock+module": "stock + side-table module",
    "stock-packed": "stock-packed (mask in the hole after i_state)",
    "addons": "addons (B1: mask in the addons)",
    "addons-inline-mask": "addons-inline-mask (B2: mask inline)",
    "addons-flag": "addons-flag (mask in the addons, IOP_FSNOTIFY_MARKS in i_opflags first)",
}
# icount: a change of the code every operation runs is at least one
# instruction per operation; a smaller per-op difference is work that happens
# in some rounds only (a tick, an RCU callback) spread over the round's
# operations, so the instruction tolerance is never below half of one.
ICOUNT_RESOLUTION = 0.5
# Flavors that claim to beat stock (issue 13): their targets get verdicts.
BEAT_STOCK = ("addons-flag", "addons-cold")


def table_rows(path):
    """Whitespace-separated fields of each non-'#' line; nothing if no file."""
    if not os.path.exists(path):
        return
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            yield line.split()


def load_bench(path):
    """[(case, round, ops, ns)] in output order, and the marker count."""
    rows, markers = [], None
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "#markers":
            markers = int(f[1])
        elif not line.startswith("#"):
            rows.append((f[0], int(f[1]), int(f[2]), int(f[3])))
    return rows, markers


def per_op(rows):
    """case -> [per-op value of each round]."""
    d = {}
    for case, _r, ops, ns in rows:
        d.setdefault(case, []).append(ns / ops)
    return d


def load_l1d(path, rows):
    """case -> [(insns, accesses, misses) per op, per round] from the plugin's
    marker lines: round k lies between markers 2k+1 and 2k+2."""
    marks = []
    for f in table_rows(path):
        if f[0] == "mark":
            marks.append((int(f[3]), int(f[5]), int(f[7])))
    if len(marks) != 2 * len(rows) + 1:
        raise SystemExit(f"{path}: {len(marks)} markers for {len(rows)} rounds "
                         f"(expected {2 * len(rows) + 1})")
    d = {}
    for k, (case, _r, ops, _ns) in enumerate(rows):
        a, b = marks[2 * k + 1], marks[2 * k + 2]
        d.setdefault(case, []).append(tuple((b[i] - a[i]) / ops for i in range(3)))
    return d


def slab_sysfs(path):
    return {f[0]: dict(object_size=int(f[1]), slab_size=int(f[2]), objs=int(f[3]),
                       order=int(f[4]))
            for f in table_rows(path)}


def kv(path):
    return {f[0]: " ".join(f[1:]) for f in table_rows(path)}


# ---- SLUB's order choice, ported from 6.12 mm/slub.c -----------------------

def get_order(size):
    order, pages = 0, (size + PAGE_SIZE - 1) // PAGE_SIZE
    while (1 << order) < pages:
        order += 1
    return order


def fls(x):
    return x.bit_length()


def calc_slab_order(size, min_order, max_order, fract_leftover):
    order = min_order
    while order <= max_order:
        slab = PAGE_SIZE << order
        if slab % size <= slab // fract_leftover:
            break
        order += 1
    return order


def calculate_order(size, nr_cpus, max_order=SLUB_MAX_ORDER):
    """calculate_order() of 6.12 for a slab object of `size` bytes (slab_size)
    with `nr_cpus` present CPUs (nr_cpu_ids == present assumed for 1)."""
    min_objects = 4 * (fls(nr_cpus) + 1)
    max_objects = max((PAGE_SIZE << max_order) // size, 1)
    min_objects = min(min_objects, max_objects)
    min_order = get_order(min_objects * size)
    if (PAGE_SIZE << min_order) // size > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    fraction = 16
    while fraction > 1:
        order = calc_slab_order(size, min_order, max_order, fraction)
        if order <= max_order:
            return order
        fraction //= 2
    return get_order(size)


def geometry(slab_size, nr_cpus):
    order = calculate_order(slab_size, nr_cpus)
    objs = (PAGE_SIZE << order) // slab_size
    return order, objs, (PAGE_SIZE << order) / objs


# ---- statistics ------------------------------------------------------------

def median(v):
    return statistics.median(v)


def verdict(lo, hi, kind, t):
    if kind == "le":
        return "holds" if hi <= t else ("does not hold" if lo > t else "undecidable")
    if kind == "lt":
        return "holds" if hi < t else ("does not hold" if lo >= t else "undecidable")
    if kind == "within":
        if lo >= -t and hi <= t:
            return "holds"
        return "does not hold" if lo > t or hi < -t else "undecidable"
    raise ValueError(kind)


def adds_some(lo, hi):
    """Verdict on "x - y > 0" for the interval [lo, hi]: yes / no / undecidable."""
    v = verdict(-hi, -lo, "lt", 0)
    return {"holds": "yes", "does not hold": "no", "undecidable": "undecidable"}[v]


def bootstrap_diff(a, b, n=2000, seed=1):
    r = random.Random(seed)
    d = []
    for _ in range(n):
        d.append(median([r.choice(a) for _ in a]) - median([r.choice(b) for _ in b]))
    d.sort()
    return d[int(0.025 * n)], d[int(0.975 * n) - 1]


class Data:
    def __init__(self, raw, configs, reps, mode):
        self.mode = mode
        # Tolerance groups per file system; pooled_changes() looks at a
        # copy with them pooled.
        self.pool_file_systems = False
        self.configs = configs + ["stock-aa"]
        self.reps = reps
        # boots[cfg][rep] = case -> [per-op per round]
        self.boots = {c: {} for c in self.configs}
        self.slab = {}
        self.guest = {}
        for c in self.configs:
            for r in range(1, reps + 1):
                d = os.path.join(raw, f"rep{r}", c)
                if not os.path.exists(os.path.join(d, "bench.tsv")):
                    continue  # a boot that did not run (the report says so)
                rows, _m = load_bench(os.path.join(d, "bench.tsv"))
                self.boots[c][r] = per_op(rows)
                if c not in self.slab:
                    self.slab[c] = slab_sysfs(os.path.join(d, "slab-sysfs.txt"))
                    self.guest[c] = kv(os.path.join(d, "guest.txt"))
        first = self.boots["stock"][min(self.boots["stock"])]
        self.cases = list(first.keys())
        # L1D model boots (one per configuration and the A/A twin).
        self.l1d = {}
        for c in self.configs:
            d = os.path.join(raw, "l1d", c)
            if os.path.exists(os.path.join(d, "l1d.txt")) and \
                    os.path.exists(os.path.join(d, "bench.tsv")):
                rows, m = load_bench(os.path.join(d, "bench.tsv"))
                if m is None:
                    continue  # the boot did not finish
                self.l1d[c] = load_l1d(os.path.join(d, "l1d.txt"), rows)
        self.l1d_cases = list(self.l1d["stock"].keys()) if "stock" in self.l1d else []

    def reps_of(self, *cfgs):
        """The repetitions in which every one of cfgs booted."""
        return [r for r in range(1, self.reps + 1) if all(r in self.boots[c] for c in cfgs)]

    def boot_value(self, c, r, case):
        """A boot's value for a case.  icount: the least round, since under a
        deterministic clock anything that differs between rounds (a timer
        tick, an RCU callback, writeback) only adds instructions; wall: the
        median round."""
        v = self.boots[c][r][case]
        return min(v) if self.mode == "icount" else median(v)

    def value(self, c, case):
        """Median over repetitions of the per-boot medians."""
        return median([self.boot_value(c, r, case) for r in self.reps_of(c)])

    def aa_case(self, case):
        """The largest |stock - stock-aa| of one repetition, in this case."""
        return max(abs(self.boot_value("stock", r, case) - self.boot_value("stock-aa", r, case))
                   for r in self.reps_of("stock", "stock-aa"))

    def aa(self, case):
        """A/A tolerance: the largest A/A difference among the cases of the
        same group (group_of()): one pair of boots samples the boot-to-boot
        variation of a case only once, and cases of a group share their
        code paths."""
        tol = group_max(self.cases, case, self.aa_case, self.pool_file_systems)
        if self.mode == "icount":
            tol = max(tol, ICOUNT_RESOLUTION)
        return tol

    def diff(self, a, b, case):
        """(median, lo, hi) of a - b per op, the interval widened by the A/A
        tolerance (wall mode: bootstrap interval widened by it)."""
        tol = self.aa(case)
        reps = self.reps_of(a, b)
        if self.mode == "wall":
            av = [x for r in reps for x in self.boots[a][r][case]]
            bv = [x for r in reps for x in self.boots[b][r][case]]
            lo, hi = bootstrap_diff(av, bv)
            return median(av) - median(bv), lo - tol, hi + tol
        d = [self.boot_value(a, r, case) - self.boot_value(b, r, case) for r in reps]
        return median(d), min(d) - tol, max(d) + tol

    def l1d_value(self, c, case, i):
        """The least round (icount: interrupts and other work only add
        accesses and misses), as for instructions."""
        v = [x[i] for x in self.l1d[c][case]]
        return min(v) if self.mode == "icount" else median(v)

    def l1d_aa_case(self, case, i=2):
        """|stock - stock-aa| of the model boots in this case."""
        if "stock-aa" not in self.l1d:
            return float("inf")  # no A/A twin under the model: nothing is decidable
        return abs(self.l1d_value("stock", case, i) - self.l1d_value("stock-aa", case, i))

    def l1d_tol(self, case, i=2):
        return group_max(self.l1d_cases, case, lambda c: self.l1d_aa_case(c, i),
                         self.pool_file_systems)

    def l1d_diff(self, a, b, case, i=2):
        """(diff, lo, hi) of modelled per-op counts (i: 0 insns, 1 accesses,
        2 misses), tolerance: the largest |stock - stock-aa| of the model
        boots among the modelled cases of the same group, as for
        instructions (aa())."""
        tol = self.l1d_tol(case, i)
        d = self.l1d_value(a, case, i) - self.l1d_value(b, case, i)
        return d, d - tol, d + tol


# Every flavor that changes the layout against both references (issue 12),
# then the differences between flavors that isolate one change each.
REFERENCE_PAIRS = (("stock-packed", "stock"),
                   ("addons", "stock"), ("addons", "stock-packed"),
                   ("addons-inline-mask", "stock"), ("addons-inline-mask", "stock-packed"),
                   ("addons-flag", "stock"), ("addons-flag", "stock-packed"),
                   ("addons-cold", "stock"), ("addons-cold", "stock-packed"))
STEP_PAIRS = (("addons", "addons-inline-mask"),  # the indirection itself
              ("addons-flag", "addons"),  # the IOP_FSNOTIFY_MARKS bit
              ("addons-cold", "addons-flag"))  # i_flctx, i_devices moved, dtime narrowed


def layout_pairs(configs, which=STEP_PAIRS + REFERENCE_PAIRS):
    """The comparisons the question asks for, x - y, among the booted
    configurations: B1 - B2 is the indirection itself, stock-packed the
    zero-cost layout."""
    return [(x, y) for x, y in which if x in configs and y in configs]


# Until 2026-12-02 the tolerance groups pooled both file systems.  The
# first run with two repetitions showed why they must not: ext4's one-file
# writes land, per boot, on paths up to 6 instructions apart
# (ext4/write1/sb-sibling: 1704.1 and 1710.0 for two boots of stock), which
# tmpfs's writes never do (A/A <= 0.1 in every tmpfs write case), and the
# two file systems' write paths are different code.  The report lists every
# answer whose verdict the pooled groups would change (pooled_changes()).
def group_of(case, pool_file_systems):
    """Cases that share their code path, for the A/A tolerance, per file
    system (pooled over both with pool_file_systems, the rule before
    2026-12-02): the 1-byte read or write of one file (every mark setting),
    the cold read or write, and each other case on its own."""
    parts = case.split("/")
    fs = "any" if pool_file_systems else parts[0]
    if parts[1] in ("read1", "write1"):
        return (fs, "one-file", parts[1])
    if parts[1].startswith("cold"):
        return (fs, "cold", parts[2])
    return (fs,) + tuple(parts[1:])


def group_max(cases, case, f, pool_file_systems):
    """The largest f(c) among the cases c of case's group (the A/A tolerance)."""
    g = group_of(case, pool_file_systems)
    return max(f(c) for c in cases if group_of(c, pool_file_systems) == g)


def fmt_l1d(x):
    """L1D misses per operation: two decimals, three when two would show a
    non-zero difference as 0.00."""
    return f"{x:+.3f}" if x != 0 and round(x, 2) == 0 else f"{x:+.2f}"


def fmt(x, nd=0):
    """Signed, nd decimals; a difference too small for nd decimals shows with
    two (a verdict may rest on it: icount's A/A tolerance can be 0)."""
    t = f"{x:+,.{nd}f}"
    if float(t.replace(",", "")) != 0:
        return t
    if round(x, 2) != 0:
        return f"{x:+.2f}"
    return "0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="icount")
    ap.add_argument("--configs", required=True)
    ap.add_argument("--reps", type=int, required=True)
    ap.add_argument("--jobs", type=int, default=1, help="boots that ran at once")
    ap.add_argument("--ops", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--seed", default="?")
    ap.add_argument("--qemu", default="?")
    ap.add_argument("--rev", default="?")
    ap.add_argument("--not-run", default="", help="flavors that exist but were not benchmarked")
    a = ap.parse_args()
    configs = a.configs.split()
    D = Data(a.raw, configs, a.reps, a.mode)
    unit = "instructions" if a.mode == "icount" else "ns"
    flavors = [c for c in configs if c != "stock"]
    refs = [r for r in ("stock", "stock-packed") if r in configs]
    out = []
    w = out.append

    order = open(os.path.join(a.raw, "order.txt")).read().strip().splitlines()
    boots = []
    if os.path.exists(os.path.join(a.raw, "boots.txt")):
        boots = open(os.path.join(a.raw, "boots.txt")).read().strip().splitlines()
    timing = {}
    for f in table_rows(os.path.join(a.raw, "timing.txt")):
        timing[f[0]] = timing.get(f[0], 0) + int(f[1])
    g = D.guest["stock"]
    w(f"# Benchmark report: {os.path.basename(os.path.normpath(a.out))}\n")
    w(f"Code revision {a.rev}; mode **{a.mode}**; {a.qemu}; guest: {g.get('nproc', '?')} vCPU "
      f"(present {g.get('cpus_present', '?')}, possible {g.get('cpus_possible', '?')}), "
      f"{int(g.get('memtotal_kb', '0')) // 1024} MiB, clocksource {g.get('clocksource', '?')}, "
      f"kernel {g.get('kernel', '?')} (release variant). {a.reps} repetitions x "
      f"{len(configs) + 1} boots; {a.rounds} rounds of {a.ops} operations per case per boot "
      f"(cold and fan-ignore cases: at least one pass over their files), every round kept "
      f"(`raw/`). Boot order, shuffled per repetition (seed {a.seed}; a resumed run, "
      f"BENCH_RESUME, shuffles the boots it adds):\n")
    for line in order:
        w(f"- {line}")
    missing = [f"rep{r}/{c}" for c in D.configs for r in range(1, a.reps + 1)
               if r not in D.boots[c]]
    if missing:
        w(f"\n**Boots that did not run** (their comparisons use the other repetitions): "
          f"{', '.join(missing)}.")
    if boots:
        w("\nBoots as they ran (UTC, code revision): " + "; ".join(
            f"{b.split()[0][11:16]} {b.split()[1]} ({b.split()[2]})" for b in boots) + ".")
    if timing:
        w(f"\nTime: {int(timing.get('seconds_reps', 0)) // 60} min for the repetitions, "
          f"{int(timing.get('seconds_all', 0)) // 60} min with the L1D model boots; "
          f"{a.jobs} boot{'s' if a.jobs > 1 else ''} at a time"
          + (" (an icount boot's counts do not depend on what else the host runs; the A/A "
             "column below is the check)" if a.jobs > 1 and a.mode == "icount" else "") + ".\n")
    if a.mode == "icount":
        w("**What the numbers are.** Every boot runs under QEMU TCG with `-icount shift=0,sleep=off` "
          "and one vCPU: the guest clock advances 1 ns per executed guest instruction, so the "
          "benchmark's ns/op are **instructions per operation** (kernel and user, timer "
          "interrupts included), not time. They do not depend on the host's load. L1D misses "
          "come from `bench/plugin/l1d.c`: a 32 KiB, 8-way, 64 B-line, LRU, write-allocate model "
          "of one data cache fed every guest load and store (physical addresses), no prefetcher, "
          "one core: a model, not a measurement of any CPU.\n")
    w("**Configurations.** " + "; ".join(f"`{c}`: {NAMES.get(c, c)}" for c in D.configs) + ".\n")
    if a.not_run.split():
        w("**Flavors not in this run** (they exist; the comparisons that need them are "
          "missing below): " + ", ".join(f"`{c}`" for c in a.not_run.split()) + ".\n")
    w("**Which code runs.** In 6.12 `fsnotify_parent()` returns at `fsnotify_sb_has_watchers()` "
      "when no mark exists on the superblock: the `nomark` cases read no fsnotify field of the "
      "inode and are the control (every flavor must match stock there). With any mark on the "
      "superblock (`sb-sibling`, `fan-sb`, `fan-mnt`, `cold*`) `__fsnotify_parent()` runs "
      "`fsnotify_object_watched()`, which reads the inode's `i_fsnotify_mask` (stock: offset 568; "
      "stock-packed and B2: 148, beside `i_state`; B1: through `i_addons`, which is NULL for an "
      "inode without marks, so B1 loads the pointer and tests it instead of loading the mask; "
      "addons-flag: tests `IOP_FSNOTIFY_MARKS` in `i_opflags`, offset 2, and reads neither "
      "`i_addons` nor the mask of an inode that never had a mark). "
      "Whether that path runs shows in the data: on stock itself a mark on the superblock "
      "costs instructions on an unwatched inode (sb-sibling - nomark, same boots):\n")
    for case in [c for c in D.cases if c.endswith("/sb-sibling")]:
        base = case.replace("/sb-sibling", "/nomark")
        if base in D.cases:
            dd = [D.boot_value("stock", r, case) - D.boot_value("stock", r, base)
                  for r in range(1, D.reps + 1)]
            w(f"- `{case}` - `{base}` on stock: {fmt(median(dd))} {unit}/op "
              f"(per repetition {', '.join(fmt(x) for x in dd)})")
    w("")

    # ---- the answer, first ----
    answer(D, configs, unit, w)

    # ---- instructions per operation ----
    w(f"## {unit.capitalize()} per operation\n")
    w(f"Each boot's value is its least round ({'icount: anything that differs between rounds only adds instructions' if a.mode == 'icount' else 'wall mode: the median round'}); "
      f"the median over repetitions. A/A: |stock - stock-aa| in this case, and the tolerance "
      f"used for it: the largest A/A among the cases of its group (one-file reads, one-file "
      f"writes, cold reads, cold writes, each other case; per file system). Then each "
      f"configuration's difference from stock (median of the per-repetition differences).\n")
    hdr = ["case", "stock", "A/A (tolerance)"] + [f"{c} - stock" for c in flavors]
    w("| " + " | ".join(hdr) + " |")
    w("|" + "---|" * len(hdr))
    for case in D.cases:
        s = D.value("stock", case)
        row = [f"`{case}`", f"{s:,.1f}", f"{D.aa_case(case):,.1f} ({D.aa(case):,.1f})"]
        for c in flavors:
            d, _lo, _hi = D.diff(c, "stock", case)
            row.append(f"{fmt(d, 1)} ({100 * d / s:+.2f}%)")
        w("| " + " | ".join(row) + " |")
    w("")

    # ---- L1D ----
    if D.l1d_cases:
        w("## Modelled L1D misses per operation\n")
        w("One boot per configuration with the model (and the A/A twin); the least round, as above. "
          "`accesses` = loads + stores per operation.\n")
        hdr = ["case", "stock misses", "stock accesses", "A/A misses (tolerance)"] + \
            [f"{c} - stock" for c in flavors]
        w("| " + " | ".join(hdr) + " |")
        w("|" + "---|" * len(hdr))
        for case in D.l1d_cases:
            s = D.l1d_value("stock", case, 2)
            row = [f"`{case}`", f"{s:.2f}", f"{D.l1d_value('stock', case, 1):.0f}",
                   f"{D.l1d_aa_case(case):.2f} ({D.l1d_tol(case):.2f})"]
            for c in flavors:
                if c not in D.l1d:
                    row.append("not modelled")
                    continue
                d, _lo, _hi = D.l1d_diff(c, "stock", case)
                row.append(fmt_l1d(d))
            w("| " + " | ".join(row) + " |")
        w("")

    # ---- the question ----
    w("## The question: what the mask indirection costs\n")
    w("B1 and B2 carry the same series except where `i_fsnotify_mask` lives, so **B1 - B2 is "
      "the indirection itself**; stock-packed (the mask moved into the hole after `i_state`, "
      "no addons) is the zero-cost layout the addons must be measured against. Intervals are "
      "[min, max] of the per-repetition differences widened by the A/A tolerance; verdicts "
      "follow the rules at the end.\n")
    pairs = layout_pairs(configs)
    q_cases = [c for c in D.cases if any(k in c for k in ("/sb-sibling", "/fan-sb", "/fan-mnt",
                                                           "/watch-file", "/watch-parent",
                                                           "/cold", "/fan-ignore", "/event"))]
    if not pairs:
        w("**Not answered by this run:** no flavor that changes the layout was booted (see "
          "\"Flavors not in this run\").\n")
    for x, y in pairs:
        w(f"### {x} - {y}\n")
        w(f"| case | {unit}/op | interval | adds {unit} (> 0) | within 1% | L1D misses/op |")
        w("|---|---|---|---|---|---|")
        for case in q_cases:
            d, lo, hi = D.diff(x, y, case)
            ref = D.value(y, case)
            adds = adds_some(lo, hi)
            within = verdict(lo, hi, "within", 0.01 * ref)
            l1 = "-"
            if case in D.l1d_cases and x in D.l1d and y in D.l1d:
                ld, llo, lhi = D.l1d_diff(x, y, case)
                l1 = f"{fmt_l1d(ld)} [{fmt_l1d(llo)}, {fmt_l1d(lhi)}]"
            w(f"| `{case}` | {fmt(d, 1)} | [{fmt(lo, 1)}, {fmt(hi, 1)}] | {adds} | {within} | {l1} |")
        w("")

    targets(D, configs, unit, w, a.raw)

    # ---- control ----
    w("## Control: `nomark` (no mark on the superblock)\n")
    w("The fsnotify hooks return before reading any inode field; a difference here is not the "
      "mask's and must stay within the A/A tolerance (claim: every configuration within 0.5% "
      "of stock).\n")
    w("| case | " + " | ".join(flavors) + " |")
    w("|---|" + "---|" * len(flavors))
    for case in [c for c in D.cases if c.endswith("/nomark")]:
        ref = D.value("stock", case)
        row = []
        for c in flavors:
            d, lo, hi = D.diff(c, "stock", case)
            row.append(f"{fmt(d, 1)}: {verdict(lo, hi, 'within', 0.005 * ref)}")
        w(f"| `{case}` | " + " | ".join(row) + " |")
    w("")

    # ---- memory ----
    w("## Memory: slab geometry per CPU count\n")
    w("SLUB picks a slab's order from the object size and the number of present CPUs "
      "(`calculate_order()`, 6.12, ported in this script; `slub_max_order` 3, no "
      "`slub_min_objects`). Object sizes (slab_size: object + free pointer, aligned) are from "
      "the booted guests' `/sys/kernel/slab` (project release config). The port is checked "
      "against what the guests report for the CPU count they ran with:\n")
    ncpu = int(g.get("nproc", "1"))
    bad = 0
    for c in D.configs:
        for cache, s in sorted(D.slab.get(c, {}).items()):
            order, objs, _fp = geometry(s["slab_size"], ncpu)
            if (order, objs) != (s["order"], s["objs"]):
                bad += 1
                w(f"- MISMATCH {c} {cache}: guest order {s['order']} x {s['objs']}, "
                  f"port {order} x {objs}")
    w(f"- {ncpu} CPU: {'every cache of every configuration matches' if not bad else f'{bad} mismatches (above)'}.\n")
    flav_geo = [c for c in configs if c not in ("stock+module",)]
    w("Objects per slab (order), and bytes of slab per object, for 1-64 CPUs:\n")
    hdr = ["cache", "flavor", "slab_size"] + [f"{n} CPU" for n in CPU_COUNTS]
    w("| " + " | ".join(hdr) + " |")
    w("|" + "---|" * len(hdr))
    for cache in INODE_CACHES:
        for c in flav_geo:
            s = D.slab.get(c, {}).get(cache)
            if not s:
                continue
            cells = []
            for n in CPU_COUNTS:
                order, objs, fp = geometry(s["slab_size"], n)
                cells.append(f"{objs} (o{order}) {fp:.0f} B")
            w(f"| {cache} | {c} | {s['slab_size']} | " + " | ".join(cells) + " |")
    w("")
    w("Slab bytes per object against stock (negative: saves), per CPU count:\n")
    hdr = ["cache", "flavor"] + [f"{n} CPU" for n in CPU_COUNTS]
    w("| " + " | ".join(hdr) + " |")
    w("|" + "---|" * len(hdr))
    for cache in INODE_CACHES:
        s0 = D.slab["stock"].get(cache)
        if not s0:
            continue
        for c in flav_geo:
            if c == "stock" or cache not in D.slab.get(c, {}):
                continue
            s = D.slab[c][cache]
            cells = [f"{geometry(s['slab_size'], n)[2] - geometry(s0['slab_size'], n)[2]:+.0f}"
                     for n in CPU_COUNTS]
            w(f"| {cache} | {c} | " + " | ".join(cells) + " |")
    debian_geometry(D, flav_geo, w)
    add = {c: D.slab[c]["inode_addons_cache"] for c in D.configs
           if "inode_addons_cache" in D.slab.get(c, {})}
    if add:
        w("\n`inode_addons_cache` objects (per inode that has addons): " +
          ", ".join(f"{c} {s['slab_size']} B" for c, s in add.items()) + ".\n")

    # ---- rules ----
    w("## How the verdicts are made\n")
    w("For a difference X = a - b per operation: per repetition d_r = a_r - b_r (each the "
      "boot's value as above); interval [min d_r - tol, max d_r + tol], tol = the A/A "
      "tolerance of the case's group (cases of one file system that share their code path: "
      "one-file reads, one-file writes, cold reads, cold writes, each other case on its own; icount: at least 0.5 instruction, since a change of the code every operation runs is at least one instruction per operation, and smaller differences are work done in some rounds only). `adds (> 0)` holds when the interval lies above 0, does not hold when it "
      "lies at or below 0, else undecidable; `within 1%` holds when the interval lies within "
      "+-1% of b, does not hold when it lies wholly outside, else undecidable. L1D: one model "
      "boot per configuration; tol = the largest |stock - stock-aa| of the model boots among the modelled cases of the group.\n")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    plots(D, flavors, a.out, unit)


def align(x, a):
    return (x + a - 1) // a * a


def debian_geometry(D, flavors, w):
    """Slab bytes per object under Debian's own config (bench/debian-6.12-sizes.txt),
    for each flavor's struct inode size as booted (release config: the series
    changes only struct inode, and by the same fields in both configs)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "debian-6.12-sizes.txt")
    rows = list(table_rows(path))
    s_inode = D.slab["stock"].get("inode_cache")
    if not rows or not s_inode:
        return
    w("\nDebian's amd64 config (struct sizes from the BTF of Debian's own 6.12 build, "
      "`bench/debian-6.12-sizes.txt`; each flavor's struct inode is the Debian stock one "
      "changed by the difference its booted release kernel shows):\n")
    hdr = ["cache", "flavor", "slab_size"] + [f"{n} CPU" for n in CPU_COUNTS]
    w("| " + " | ".join(hdr) + " |")
    w("|" + "---|" * len(hdr))
    base = {}
    for cache, _struct, size, off, tail, al, cal in rows:
        for c in flavors:
            s = D.slab.get(c, {}).get("inode_cache")
            if not s:
                continue
            inode = DEBIAN_STOCK_INODE + s["object_size"] - s_inode["object_size"]
            obj = align(int(off) + inode + int(tail), int(al))
            slab_size = align(obj + 8, int(cal))  # free pointer after the object (ctor)
            cells = []
            for n in CPU_COUNTS:
                order, objs, fp = geometry(slab_size, n)
                if c == "stock":
                    base[(cache, n)] = fp
                delta = fp - base.get((cache, n), fp)
                cells.append(f"{objs} (o{order}) {fp:.0f} B" +
                             (f" ({delta:+.0f})" if c != "stock" else ""))
            w(f"| {cache} | {c} | {slab_size} | " + " | ".join(cells) + " |")
    w("")


def answer(D, configs, unit, w):
    """The issue's question in one table: what each layout adds per read or
    write for an unwatched inode on a watched superblock, a watched inode,
    and 10^5 cold inodes."""
    pairs = layout_pairs(configs)
    if not pairs:
        return
    rows = []
    for fs in ("tmpfs", "ext4"):
        for op in ("read1", "write1"):
            rows += [(f"{fs} {op}, unwatched inode, watched sb", f"{fs}/{op}/sb-sibling"),
                     (f"{fs} {op}, watched inode", f"{fs}/{op}/watch-file"),
                     (f"{fs} {op}, 10^5 cold inodes, watched sb", f"{fs}/cold100000/{op}")]
    w("## Answer\n")
    w(f"Per operation: {unit} and, where modelled, L1D misses, x - y per column, each with "
      "the verdict on \"x adds some\" (yes / no / undecidable; rules at the end). The "
      "sections below give the intervals and the other cases.\n")
    for title, which in (("Each flavor against stock and stock-packed", REFERENCE_PAIRS),
                         ("One change at a time", STEP_PAIRS)):
        pairs = layout_pairs(configs, which)
        if not pairs:
            continue
        w(f"**{title}.**\n")
        w("| case | " + " | ".join(f"{x} - {y}" for x, y in pairs) + " |")
        w("|---|" + "---|" * len(pairs))
        for label, case in rows:
            if case not in D.cases:
                continue
            cells = []
            for x, y in pairs:
                (d, v), l1 = answer_cell(D, x, y, case)
                cell = f"{fmt(d, 1)} ({v})"
                if l1:
                    cell += f"; L1D {fmt_l1d(l1[0])} ({l1[1]})"
                cells.append(cell)
            w(f"| {label} (`{case}`) | " + " | ".join(cells) + " |")
        w("")
    changes = pooled_changes(D, configs, [case for _label, case in rows])
    if changes:
        w("Tolerance groups are per file system (section \"How the verdicts are made\"). "
          "Pooled over both file systems, as in reports before 2026-12-02, these verdicts "
          "would read differently: " + "; ".join(changes) + ".\n")
    else:
        w("Pooling the tolerance groups over both file systems, as reports before 2026-12-02 "
          "did, changes no verdict of these tables.\n")


def answer_cell(D, x, y, case):
    """One cell of the answer: ((x - y, verdict "adds some") per operation,
    and the same for modelled L1D misses, or None where not modelled)."""
    d, lo, hi = D.diff(x, y, case)
    l1 = None
    if case in D.l1d_cases and x in D.l1d and y in D.l1d:
        ld, llo, lhi = D.l1d_diff(x, y, case)
        l1 = (ld, adds_some(llo, lhi))
    return (d, adds_some(lo, hi)), l1


def answer_verdicts(D, configs, cases):
    """{(x, y, case, what): verdict} of the answer's cells."""
    out = {}
    for x, y in layout_pairs(configs):
        for case in [c for c in cases if c in D.cases]:
            (_d, v), l1 = answer_cell(D, x, y, case)
            out[(x, y, case, "instructions")] = v
            if l1:
                out[(x, y, case, "L1D")] = l1[1]
    return out


def pooled_changes(D, configs, cases):
    """The answer's verdicts that tolerance groups pooled over both file
    systems would change, as "x - y, case, what: per-fs -> pooled"."""
    mine = answer_verdicts(D, configs, cases)
    P = copy.copy(D)
    P.pool_file_systems = True
    pooled = answer_verdicts(P, configs, cases)
    return [f"{x} - {y}, `{case}`, {what}: {v} -> {pooled[k]}"
            for k, v in mine.items() if pooled[k] != v
            for x, y, case, what in [k]]


def btf_struct_size(raw, flavor, struct):
    """sizeof(struct) in the booted kernel's BTF (raw/btf-<flavor>.txt), or None."""
    try:
        text = open(os.path.join(raw, f"btf-{flavor}.txt")).read()
    except OSError:
        return None
    m = re.search(rf"STRUCT '{struct}' size=(\d+)", text)
    return int(m.group(1)) if m else None


# Issue 13's size targets, project release config.
TARGET_INODE_BYTES = 560  # 9 cachelines
TARGET_CACHES = ("inode_cache", "shmem_inode_cache", "ext4_inode_cache")
# Debian's own 6.12 amd64 build (bench/debian-6.12-sizes.txt), and the target.
DEBIAN_STOCK_INODE = 624
TARGET_DEBIAN_INODE_BYTES = 576


def size_targets(D, x, w, raw):
    """Issue 13: struct inode <= 560 bytes, and at least one more object per
    slab than stock in the three inode caches at every CPU count (SLUB's
    order choice as ported above, for the booted slab sizes)."""
    size = btf_struct_size(raw, x, "inode")
    if size is not None:
        w(f"`struct inode` (BTF of the booted kernel): {size} bytes, "
          f"{(size + 63) // 64} cachelines; <= {TARGET_INODE_BYTES}: "
          f"{'holds' if size <= TARGET_INODE_BYTES else 'does not hold'}.")
        stock = btf_struct_size(raw, "stock", "inode")
        if stock is not None:
            # As in the Debian geometry: Debian's struct inode plus this
            # flavor's change on the release config (the series changes
            # the same fields in both configs; docs/layout.md compiles it).
            deb = DEBIAN_STOCK_INODE + size - stock
            w(f"Debian's distribution config: {DEBIAN_STOCK_INODE} + ({size} - {stock}) = {deb} "
              f"bytes; <= {TARGET_DEBIAN_INODE_BYTES}: "
              f"{'holds' if deb <= TARGET_DEBIAN_INODE_BYTES else 'does not hold'}.")
        w("")
    w(f"Objects per slab, {x} against stock, and the target \"at least one more\" "
      "(slab bytes per object in brackets):\n")
    w("| cache | " + " | ".join(f"{n} CPU" for n in CPU_COUNTS) + " |")
    w("|---|" + "---|" * len(CPU_COUNTS))
    for cache in TARGET_CACHES:
        s0 = D.slab.get("stock", {}).get(cache)
        s1 = D.slab.get(x, {}).get(cache)
        if not s0 or not s1:
            w(f"| {cache} | " + " | ".join("not booted" for _ in CPU_COUNTS) + " |")
            continue
        cells = []
        for n in CPU_COUNTS:
            _o0, n0, b0 = geometry(s0["slab_size"], n)
            _o1, n1, b1 = geometry(s1["slab_size"], n)
            cells.append(f"{n0} -> {n1} ({b0:.0f} -> {b1:.0f} B): "
                         f"{'holds' if n1 >= n0 + 1 else 'does not hold'}")
        w(f"| {cache} | " + " | ".join(cells) + " |")
    w("")


def targets(D, configs, unit, w, raw):
    """Issue 13's performance targets for the flavors that claim to beat
    stock: instructions/op <= stock on the everyday cases, and fewer modelled
    L1D misses than stock with 10^5 cold inodes on a watched superblock."""
    for x in [c for c in BEAT_STOCK if c in configs]:
        w(f"## Targets: {x} against stock\n")
        w(f"Issue 13: {unit}/op no more than stock on open-close, stat, 1-byte read and write "
          "with and without marks, create+unlink (`x - stock <= 0`), and fewer modelled L1D "
          "misses than stock with 10^5 cold inodes on a watched superblock (`< 0`). The "
          "interval and tolerance are those of the sections above.\n")
        w(f"| case | {x} - stock | interval | <= stock |")
        w("|---|---|---|---|")
        for case in [c for c in D.cases if "/cold" not in c and "/fan-ignore" not in c]:
            d, lo, hi = D.diff(x, "stock", case)
            w(f"| `{case}` | {fmt(d, 1)} | [{fmt(lo, 1)}, {fmt(hi, 1)}] | "
              f"{verdict(lo, hi, 'le', 0)} |")
        w("")
        size_targets(D, x, w, raw)
        if x not in D.l1d:
            w(f"L1D: {x} was not booted under the cache model.\n")
            continue
        w(f"| case | L1D misses/op, {x} - stock | interval | < stock |")
        w("|---|---|---|---|")
        for case in [c for c in D.l1d_cases if "/cold100000/" in c]:
            d, lo, hi = D.l1d_diff(x, "stock", case)
            w(f"| `{case}` | {fmt_l1d(d)} | [{fmt_l1d(lo)}, {fmt_l1d(hi)}] | "
              f"{verdict(lo, hi, 'lt', 0)} |")
        w("")


def plots(D, flavors, out, unit):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots", file=sys.stderr)
        return
    if not flavors:
        return
    cases = [c for c in D.cases if "/nomark" not in c] + [c for c in D.cases if "/nomark" in c]
    fig, ax = plt.subplots(figsize=(12, 0.28 * len(cases) + 1.5))
    h = 0.8 / len(flavors)
    for i, c in enumerate(flavors):
        ys = [j + i * h for j in range(len(cases))]
        xs = [D.diff(c, "stock", case)[0] for case in cases]
        ax.barh(ys, xs, height=h, label=c)
    aa = [D.aa(case) for case in cases]
    ax.errorbar([0] * len(cases), [j + 0.4 - h / 2 for j in range(len(cases))], xerr=aa,
                fmt="none", ecolor="black", capsize=2, label="A/A tolerance")
    ax.set_yticks([j + 0.4 - h / 2 for j in range(len(cases))])
    ax.set_yticklabels(cases, fontsize=7)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel(f"{unit}/op minus stock")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "instructions-vs-stock.png"), dpi=110)
    if D.l1d_cases:
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(D.l1d_cases) + 1.5))
        cfgs = [c for c in ["stock"] + flavors if c in D.l1d]
        h = 0.8 / len(cfgs)
        for i, c in enumerate(cfgs):
            ax.barh([j + i * h for j in range(len(D.l1d_cases))],
                    [D.l1d_value(c, case, 2) for case in D.l1d_cases], height=h, label=c)
        ax.set_yticks([j + 0.4 - h / 2 for j in range(len(D.l1d_cases))])
        ax.set_yticklabels(D.l1d_cases, fontsize=7)
        ax.set_xlabel("modelled L1D misses per operation")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "l1d-misses.png"), dpi=110)


if __name__ == "__main__":
    main()
