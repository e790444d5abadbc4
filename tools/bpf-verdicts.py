#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The verifier verdict table, program x flavor, from tests/bpf_verdicts.rs's
build/test-results/<flavor>-<variant>/bpf-verdicts.tsv files.

Usage: bpf-verdicts.py RESULTS_DIR VARIANT "FLAVOR..."
"""
import glob, os, sys, subprocess, time
res, variant, flavors = sys.argv[1], sys.argv[2], sys.argv[3].split()
cells = {}
written = {}  # flavor -> when its guest wrote the verdicts (UTC)
for f in glob.glob(os.path.join(res, "*", "bpf-verdicts.tsv")):
    d = os.path.basename(os.path.dirname(f))
    dir_flavor = d[: -len(variant) - 1]
    if not d.endswith("-" + variant) or dir_flavor not in flavors:
        continue
    written[dir_flavor] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(f)))
    for line in open(f):
        prog, flavor, cell = line.rstrip("\n").split("\t", 2)
        cells[(prog, flavor)] = cell
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# BPF verifier verdicts: program x flavor\n")
print(f"Produced by `cargo make test` (tests/bpf_verdicts.rs) at {rev}, {variant} variants; "
      "each flavor's verdicts from its last run (UTC): "
      + ", ".join(f"{f} {written[f]}" for f in flavors if f in written) + ".\n")
print("| program | " + " | ".join(flavors) + " |")
print("|---|" + "---|" * len(flavors))
for prog in sorted({p for p, _ in cells}):
    print(f"| `{prog}` | " + " | ".join(cells.get((prog, f), "not run") for f in flavors) + " |")
