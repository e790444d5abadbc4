#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn tools/bench.sh's raw results into report.md and plots.

Every ratio is computed within one repetition (same boot sequence, adjacent
in time) against stock, then summarised over repetitions: median, min, max.
"""
import argparse
import glob
import os
import platform
import re
import statistics
import subprocess
import sys


def load_tsv(path):
    d = {}
    for line in open(path):
        k, v = line.split("\t")
        d[k] = float(v)
    return d


def slabinfo(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        if line.startswith("#"):
            continue
        f = line.split()
        # name active_objs num_objs objsize objperslab pagesperslab
        out[f[0]] = dict(objsize=int(f[3]), objperslab=int(f[4]), pagesperslab=int(f[5]),
                         active=int(f[1]))
    return out


def btf_sizes(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            m = re.search(r"STRUCT '(\w+)' size=(\d+)", line)
            if m:
                out.setdefault(m.group(1), int(m.group(2)))
    return out


def module_stats(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"\s*([a-z_]+)\s*[:=]?\s+(-?\d+)\s*$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def fmt_range(vals, pct=False):
    med = statistics.median(vals)
    if pct:
        return f"{(med - 1) * 100:+.1f}% ({(min(vals) - 1) * 100:+.1f}..{(max(vals) - 1) * 100:+.1f})"
    return f"{med:.0f} ({min(vals):.0f}..{max(vals):.0f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--configs", required=True)
    ap.add_argument("--accel", required=True)
    ap.add_argument("--reps", type=int, required=True)
    ap.add_argument("--ops", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--rev", required=True)
    a = ap.parse_args()
    configs = a.configs.split()
    base = configs[0]
    reps = sorted(glob.glob(os.path.join(a.raw, "rep*")))
    data = {}  # cfg -> case -> [ns per rep]
    ratios = {}  # cfg -> case -> [ratio per rep]
    for r in reps:
        per = {c: load_tsv(os.path.join(r, c, "bench.tsv")) for c in configs
               if os.path.exists(os.path.join(r, c, "bench.tsv"))}
        if base not in per:
            continue
        for c, d in per.items():
            for case, ns in d.items():
                data.setdefault(c, {}).setdefault(case, []).append(ns)
                ratios.setdefault(c, {}).setdefault(case, []).append(ns / per[base][case])
    cases = list(data[base].keys())

    L = []
    L.append(f"# inode-addons benchmark: {os.path.basename(a.out)}\n")
    L.append(f"- accelerator: **{a.accel}**" + (" (software emulation: timings are not hardware "
             "timings; compare ratios measured in this run only)" if a.accel == "tcg" else ""))
    L.append(f"- host CPU: {cpu_model()}; git revision {a.rev}")
    L.append(f"- configurations (interleaved, one VM boot each): {', '.join(configs)}; "
             f"release kernels (no KASAN/lockdep)")
    L.append(f"- method: {len(reps)} repetitions; in each, every case runs {a.rounds} rounds of "
             f"{a.ops} operations (create-unlink: {a.ops // 4}) and reports the median round; "
             "ratios are against stock within the same repetition, shown as median (min..max) "
             "over repetitions\n")

    L.append("## Syscall paths: ns/op, median (min..max) over repetitions\n")
    L.append("| case | " + " | ".join(configs) + " |")
    L.append("|---|" + "---|" * len(configs))
    for case in cases:
        L.append(f"| {case} | " + " | ".join(fmt_range(data[c][case]) if case in data.get(c, {})
                                           else "-" for c in configs) + " |")
    L.append("\n## Change vs stock, same repetition: median (min..max)\n")
    others = configs[1:]
    L.append("| case | " + " | ".join(others) + " |")
    L.append("|---|" + "---|" * len(others))
    for case in cases:
        L.append(f"| {case} | " + " | ".join(fmt_range(ratios[c][case], pct=True)
                                           if case in ratios.get(c, {}) else "-" for c in others) + " |")

    # Memory.
    L.append("\n## Memory\n")
    flavors = []
    for c in configs:
        f = c.replace("+module", "")
        if f not in flavors:
            flavors.append(f)
    sizes = {f: btf_sizes(os.path.join(a.raw, f"btf-{f}.txt")) for f in flavors}
    r0 = reps[0] if reps else None
    slabs = {c: slabinfo(os.path.join(r0, c, "slabinfo.txt")) for c in configs} if r0 else {}
    L.append("| flavor | sizeof(struct inode) | sizeof(struct inode_addons) | "
             "shmem_inode_cache objsize / per slab | ext4_inode_cache objsize / per slab | "
             "inode_addons_cache objsize |")
    L.append("|---|---|---|---|---|---|")
    for f in flavors:
        s = slabs.get(f, {})

        def cell(name):
            if name not in s:
                return "-"
            x = s[name]
            return f"{x['objsize']} B / {x['objperslab']} per {x['pagesperslab']} page(s)"
        ia = s.get("inode_addons_cache", {}).get("objsize", "-")
        L.append(f"| {f} | {sizes[f].get('inode', '-')} B | {sizes[f].get('inode_addons', '-')} | "
                 f"{cell('shmem_inode_cache')} | {cell('ext4_inode_cache')} | {ia} |")
    s0 = sizes.get(base, {}).get("inode")
    verdicts = []
    for f in flavors[1:]:
        s1 = sizes[f].get("inode")
        ia = slabs.get(f, {}).get("inode_addons_cache", {}).get("objsize")
        if s0 and s1 and ia:
            L.append(f"\nNet bytes per 1M inodes, {f} vs stock, by share of inodes with addons "
                     f"(struct inode {s1 - s0:+d} B each, addons {ia} B each):\n")
            L.append("| share with addons | net bytes per 1M inodes |")
            L.append("|---|---|")
            for share in (0.0, 0.001, 0.01, 0.1, 1.0):
                net = (s1 - s0) * 1_000_000 + share * 1_000_000 * ia
                L.append(f"| {share * 100:g}% | {net / 1e6:+.2f} MB |")
            L.append(f"\nBreak-even share: {(s0 - s1) / ia * 100:.1f}% of inodes with addons.")
        if s0 and s1:
            verdicts.append((f"struct inode 8 B smaller than stock ({f})", s0 - s1 == 8,
                             f"stock {s0} B, {f} {s1} B"))

    # Verdicts, from this run's data only.
    L.append("\n## Claims checked against this run\n")

    def worst(cfg, sel):
        vals = [statistics.median(ratios[cfg][c]) for c in cases if sel(c) and c in ratios.get(cfg, {})]
        return max(vals) if vals else None
    nomark = lambda c: "watch" not in c  # noqa: E731
    marked = lambda c: "watch" in c  # noqa: E731
    for cfg, sel, lim, label in (("addons", nomark, 1.01, "B1 within 1% of stock on every path without marks"),
                                 ("addons-inline-mask", nomark, 1.01, "B2 within 1% of stock on every path without marks"),
                                 ("addons", marked, 1.02, "B1 within 2% of stock with marks"),
                                 ("addons-inline-mask", marked, 1.01, "B2 within 1% of stock with marks")):
        w = worst(cfg, sel)
        if w is not None:
            verdicts.append((label, w <= lim, f"worst median ratio {(w - 1) * 100:+.1f}%"))
    for label, ok, why in verdicts:
        L.append(f"- {'holds' if ok else 'does NOT hold'}: {label} ({why})")
    if a.accel == "tcg":
        L.append("\nUnder TCG the run-to-run spread (the min..max columns) is typically wider "
                 "than 1-2%: a verdict at that resolution needs KVM on real hardware.")

    # Plots.
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(cases) + 1.5))
        h = 0.8 / max(1, len(others))
        for i, c in enumerate(others):
            med = [(statistics.median(ratios[c][k]) - 1) * 100 if k in ratios.get(c, {}) else 0 for k in cases]
            lo = [m - (min(ratios[c][k]) - 1) * 100 for m, k in zip(med, cases)]
            hi = [(max(ratios[c][k]) - 1) * 100 - m for m, k in zip(med, cases)]
            ax.barh([j + i * h for j in range(len(cases))], med, height=h, xerr=[lo, hi], label=c)
        ax.set_yticks([j + h * (len(others) - 1) / 2 for j in range(len(cases))])
        ax.set_yticklabels(cases, fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(f"change vs stock, % (median, min-max over {len(reps)} reps; {a.accel})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "syscall-ratio.png"), dpi=110)
        L.append("\n![per-syscall change vs stock](syscall-ratio.png)")
    except Exception as e:  # the report must not depend on plotting
        L.append(f"\n(plot not produced: {e})")

    kb = os.path.join(a.raw, "kbench.tsv")
    if os.path.exists(kb):
        L.append("\n## In-kernel lookup cost\n")
        L.append(open(kb).read())

    open(os.path.join(a.out, "report.md"), "w").write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
