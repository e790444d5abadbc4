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


def table_rows(path):
    """Whitespace-separated fields of each line of a text table, '#' lines
    skipped; nothing if the file does not exist."""
    if not os.path.exists(path):
        return
    for line in open(path):
        if not line.startswith("#"):
            yield line.split()


def slabinfo(path):
    # name active_objs num_objs objsize objperslab pagesperslab
    return {f[0]: dict(objsize=int(f[3]), objperslab=int(f[4]), pagesperslab=int(f[5]),
                       active=int(f[1]))
            for f in table_rows(path)}


def slab_sysfs(path):
    """Cache geometry from /sys/kernel/slab (tools/guest-bench.sh)."""
    # name object_size slab_size objs_per_slab order
    return {f[0]: dict(object_size=int(f[1]), objsize=int(f[2]), objperslab=int(f[3]),
                       pagesperslab=1 << int(f[4]))
            for f in table_rows(path)}


def slab_geometry(d):
    """Slab geometry of one boot: /proc/slabinfo if the kernel has it, else sysfs."""
    g = slab_sysfs(os.path.join(d, "slab-sysfs.txt"))
    g.update(slabinfo(os.path.join(d, "slabinfo.txt")))
    return g


PAGE_SIZE = 4096  # x86_64
INODE_CACHES = ("inode_cache", "shmem_inode_cache", "ext4_inode_cache", "proc_inode_cache",
                "sock_inode_cache")
GEOMETRY_CACHES = INODE_CACHES + ("inode_addons_cache",)


def footprint(x):
    """Bytes of slab pages per object, the slab's unused tail included."""
    return x["pagesperslab"] * PAGE_SIZE / x["objperslab"]


def geometry_section(L, flavors, slabs, base):
    """Objects per slab and slab footprint of the inode caches, per flavor."""
    if not any(slabs.get(f) for f in flavors):
        return
    L.append("\nSlab geometry of the inode caches, as the booted kernels report it (first "
             "repetition; `object/slab size B, objects per slab pages`). Footprint = slab "
             "pages / objects per slab: what one object really costs, unused slab tail "
             "included. An 8 B smaller inode saves memory only where it fits more objects "
             "in a slab.\n")
    others = [f for f in flavors if f != base]
    L.append("| cache | " + " | ".join(flavors) + " | " +
             " | ".join(f"footprint {f} vs {base}, per 1M objects" for f in others) + " |")
    L.append("|---|" + "---|" * (len(flavors) + len(others)))
    for c in GEOMETRY_CACHES:
        row = [slabs.get(f, {}).get(c) for f in flavors]
        if not any(row):
            continue
        cells = []
        for x in row:
            if not x:
                cells.append("-")
                continue
            size = (f"{x['object_size']}/{x['objsize']} B" if "object_size" in x
                    else f"{x['objsize']} B")
            cells.append(f"{size}, {x['objperslab']} per {x['pagesperslab']} p = "
                         f"{footprint(x):.1f} B")
        b = slabs.get(base, {}).get(c)
        for f in others:
            x = slabs.get(f, {}).get(c)
            if b and x:
                d = footprint(x) - footprint(b)
                cells.append(f"{d:+.1f} B/object, {d:+.2f} MB")
            else:
                cells.append("-")
        L.append(f"| {c} | " + " | ".join(cells) + " |")


def shared_inode_caches(g0, g1):
    """The inode caches whose geometry both boots recorded."""
    return [c for c in INODE_CACHES if c in g0 and c in g1]


def footprint_balance(L, f, base, slabs, demo):
    """Net slab pages per 1M inodes of each inode cache: what the 8 bytes and
    the addons cost once SLUB has packed them into slabs."""
    g0, g1 = slabs.get(base, {}), slabs.get(f, {})
    ia = g1.get("inode_addons_cache")
    caches = shared_inode_caches(g0, g1)
    if not ia or not caches:
        return
    shares = [(0.0, "0%"), (0.01, "1%"), (0.1, "10%")]
    if demo:
        n, d = demo
        shares.insert(2, (n / d, f"{n / d * 100:.1f}% (demo)"))
    L.append(f"\nThe same balance in slab pages ({f} vs {base}): per 1M inodes of each cache, "
             f"footprint difference + share x addons footprint ({footprint(ia):.1f} B):\n")
    L.append("| cache | " + " | ".join(lbl for _, lbl in shares) + " | break-even share |")
    L.append("|---|" + "---|" * (len(shares) + 1))
    for c in caches:
        d = footprint(g1[c]) - footprint(g0[c])
        cells = [f"{(d + sh * footprint(ia)):+.2f} MB" for sh, _ in shares]
        if d >= 0:
            be = "none: no page saved, costs at any share"
        elif -d >= footprint(ia):
            be = "none: saves at any share"
        else:
            be = f"{-d / footprint(ia) * 100:.1f}%"
        L.append(f"| {c} | " + " | ".join(cells) + f" | {be} |")


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


MICRO_OPS = ("lookup_hit", "lookup_miss", "get_or_create")


def load_microbench(path):
    """Rows of one microbench.tsv: (backend, tracked, threads, op) -> ns/op;
    and the '# skipped'/'# failed' lines."""
    rows, notes = {}, []
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("backend\t"):
            continue
        if line.startswith("#"):
            notes.append(line.lstrip("# ").replace("\t", " "))
            continue
        f = line.split("\t")
        if len(f) != 6:
            continue
        rows[(f[0], int(f[1]), int(f[2]), f[3])] = float(f[4])
    return rows, notes


def loglog_slope(points):
    """Least-squares slope of log(ns) over log(tracked)."""
    import math
    xs = [math.log10(n) for n, _ in points]
    ys = [math.log10(v) for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def microbench_section(reps, configs, a):
    """The in-kernel microbenchmark: table, plot, sub-linearity verdict.

    Returns (report lines, verdict or None), the verdict as in main()'s
    claims list: (label, holds, why)."""
    data = {}  # (backend, op, threads) -> tracked -> [ns/op per rep]
    notes = set()
    for r in reps:
        for c in configs:
            p = os.path.join(r, c, "microbench.tsv")
            if not os.path.exists(p):
                continue
            rows, n = load_microbench(p)
            notes.update(f"{c}: {x}" for x in n)
            for (be, tracked, threads, op), ns in rows.items():
                data.setdefault((be, op, threads), {}).setdefault(tracked, []).append(ns)
    if not data:
        return [], None
    L = ["\n## In-kernel microbenchmark: addons lookup and get-or-create vs tracked inodes\n"]
    L.append("ns/op, median (min..max) over repetitions, measured inside the module on synthetic "
             "inodes with the backends' own code paths (`module/bench.rs`; side table = stock "
             "kernel + module, embedded = patched kernels); threads = kthreads running at once, "
             "ns/op = the latency each sees.\n")
    sizes = sorted({n for d in data.values() for n in d})
    L.append("| backend | op | threads | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    L.append("|---|---|---|" + "---|" * len(sizes))

    def cell(vals):
        if not vals:
            return "-"
        med = statistics.median(vals)
        return f"{med:.1f} ({min(vals):.1f}..{max(vals):.1f})"
    keys = sorted(data, key=lambda k: (MICRO_OPS.index(k[1]) if k[1] in MICRO_OPS else 9, k[2], k[0]))
    for k in keys:
        L.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cell(data[k].get(n)) for n in sizes) + " |")
    for x in sorted(notes):
        L.append(f"\n- {x}")

    # Verdict: side-table lookup cost sub-linear in tracked inodes.
    L.append("\n### Side-table lookup cost vs tracked inodes\n")
    verdicts, slopes = [], []
    for (be, op, threads), d in sorted(data.items()):
        if be != "side-table" or not op.startswith("lookup"):
            continue
        pts = [(n, statistics.median(v)) for n, v in sorted(d.items())]
        if len(pts) < 2:
            continue
        slope = loglog_slope(pts)
        (n0, v0), (n1, v1) = pts[0], pts[-1]
        verdicts.append(slope < 1)
        slopes.append(slope)
        L.append(f"- {op}, {threads} thread(s): log-log slope {slope:.2f}; "
                 f"{n0:,} -> {n1:,} tracked inodes (x{n1 // n0:,}) changes ns/op "
                 f"x{v1 / v0:.2f} ({v0:.1f} -> {v1:.1f})")
    if verdicts:
        ok = all(verdicts)
        L.append(f"\n{'Holds' if ok else 'Does NOT hold'}: side-table lookup cost is sub-linear in "
                 "tracked inodes (every log-log slope of the median ns/op below 1)." +
                 (" Under TCG absolute ns are emulation costs; the growth with the table "
                  "(cache and TLB misses) is muted." if a.accel == "tcg" else ""))
    else:
        L.append("No verdict: fewer than two tracked-inode counts measured for the side table.")
    verdict = None
    if verdicts:
        verdict = ("side-table lookup cost sub-linear in tracked inodes", all(verdicts),
                   f"log-log slopes {min(slopes):.2f}..{max(slopes):.2f}, see the microbenchmark section")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        threads = sorted({k[2] for k in data})
        fig, axes = plt.subplots(len(threads), len(MICRO_OPS), squeeze=False,
                                 figsize=(4.2 * len(MICRO_OPS), 3.4 * len(threads)))
        for i, t in enumerate(threads):
            for j, op in enumerate(MICRO_OPS):
                ax = axes[i][j]
                for be in sorted({k[0] for k in data}):
                    d = data.get((be, op, t))
                    if not d:
                        continue
                    ns = sorted(d)
                    med = [statistics.median(d[n]) for n in ns]
                    ax.plot(ns, med, marker="o", label=be)
                    ax.fill_between(ns, [min(d[n]) for n in ns], [max(d[n]) for n in ns], alpha=0.2)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_title(f"{op}, {t} thread(s)", fontsize=9)
                ax.set_xlabel("tracked inodes")
                ax.set_ylabel("ns/op")
                ax.grid(True, which="both", lw=0.3)
                ax.legend(fontsize=7)
        fig.suptitle(f"ns/op vs tracked inodes: median, band = min-max over {len(reps)} reps ({a.accel})",
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "microbench.png"), dpi=110)
        L.append("\n![ns/op vs tracked inodes](microbench.png)")
    except Exception as e:  # the report must not depend on plotting
        L.append(f"\n(plot not produced: {e})")
    return L, verdict


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
    # Inodes with addons / inodes alive under the demo workload (`cargo make
    # demo` on stock, module/README.md): the share the net-memory line uses.
    ap.add_argument("--demo-share", default=None)
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
    slabs = {c: slab_geometry(os.path.join(r0, c)) for c in configs} if r0 else {}
    L.append("| flavor | sizeof(struct inode) | sizeof(struct inode_addons) | "
             "shmem_inode_cache objsize / per slab | ext4_inode_cache objsize / per slab | "
             "inode_addons_cache objsize |")
    L.append("|---|---|---|---|---|---|")
    for f in flavors:
        s = slabs.get(f, {})

        def cell(name, struct):
            if name not in s:
                # No slab geometry recorded (results of a run before
                # slab-sysfs.txt existed): the struct's size from BTF,
                # before slab alignment.
                b = sizes[f].get(struct)
                return f"{b} B (BTF struct {struct}; no slab geometry)" if b else "-"
            x = s[name]
            return f"{x['objsize']} B / {x['objperslab']} per {x['pagesperslab']} page(s)"
        ia = s.get("inode_addons_cache", {}).get("objsize", "-")
        L.append(f"| {f} | {sizes[f].get('inode', '-')} B | {sizes[f].get('inode_addons', '-')} | "
                 f"{cell('shmem_inode_cache', 'shmem_inode_info')} | "
                 f"{cell('ext4_inode_cache', 'ext4_inode_info')} | {ia} |")
    geometry_section(L, flavors, slabs, base)
    s0 = sizes.get(base, {}).get("inode")
    # --demo-share N/D: inodes with addons of all inodes under cargo make demo.
    demo = tuple(int(x) for x in a.demo_share.split("/")) if a.demo_share else None
    verdicts = []
    for f in flavors[1:]:
        s1 = sizes[f].get("inode")
        ia = slabs.get(f, {}).get("inode_addons_cache", {}).get("objsize")
        ia_src = "slab object"
        if not ia and sizes[f].get("inode_addons"):
            # inode_addons_cache is SLAB_NO_MERGE with no debug metadata
            # here: its object is the struct rounded up to 8 bytes.
            ia = (sizes[f]["inode_addons"] + 7) // 8 * 8
            ia_src = "struct size from BTF, no slab geometry"
        if s0 and s1 and ia:
            L.append(f"\nNet bytes per 1M inodes, {f} vs stock, by share of inodes with addons "
                     f"(struct inode {s1 - s0:+d} B each, addons {ia} B each). This counts struct "
                     f"bytes; whether a cache turns them into pages is in the footprint column "
                     f"of the geometry table:\n")
            L.append("| share with addons | net bytes per 1M inodes |")
            L.append("|---|---|")
            for share in (0.0, 0.001, 0.01, 0.1, 1.0):
                net = (s1 - s0) * 1_000_000 + share * 1_000_000 * ia
                L.append(f"| {share * 100:g}% | {net / 1e6:+.2f} MB |")
            if demo:
                n, d = demo
                share = n / d
                net = ((s1 - s0) + share * ia) * 1_000_000
                L.append(f"| {share * 100:.1f}% (demo workload: {n} of {d} inodes) | {net / 1e6:+.2f} MB |")
            L.append(f"\nAddons object: {ia} B ({ia_src}). Break-even share: "
                     f"{(s0 - s1) / ia * 100:.1f}% of inodes with addons.")
            footprint_balance(L, f, base, slabs, demo)
        if s0 and s1:
            verdicts.append((f"struct inode 8 B smaller than stock ({f})", s0 - s1 == 8,
                             f"stock {s0} B, {f} {s1} B"))
        g0, g1 = slabs.get(base, {}), slabs.get(f, {})
        both = shared_inode_caches(g0, g1)
        if both:
            fewer = [c for c in both if footprint(g1[c]) < footprint(g0[c])]
            verdicts.append((f"(not a claim of the issue) the smaller inode takes fewer slab pages ({f})",
                             len(fewer) == len(both),
                             f"in {len(fewer)} of {len(both)} inode caches"
                             + (f" ({', '.join(fewer)})" if fewer else "")
                             + "; the others fit as many objects per slab as stock"))

    micro, micro_verdict = microbench_section(reps, configs, a)

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
    if micro_verdict:
        verdicts.append(micro_verdict)
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

    L.extend(micro)

    open(os.path.join(a.out, "report.md"), "w").write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
