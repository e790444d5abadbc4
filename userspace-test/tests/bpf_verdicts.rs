// SPDX-License-Identifier: GPL-2.0

//! The verifier's verdict on every program of bpf-progs/, on this flavor.
//!
//! Each test loads one object with `bpftool prog load` (module loaded, so its
//! kfuncs resolve) and asserts acceptance, or rejection with the verifier
//! message that names the reason.  Every verdict is also appended to
//! `$VM_OUT/bpf-verdicts.tsv`; tools/test.sh turns those into
//! docs/bpf-verdicts.md.

use std::io::Write;
use userspace_test::{bpf, env, flavor, Module};

enum Verdict {
    Accept,
    Reject(&'static str),
}

fn patched() -> bool {
    userspace_test::has_inode_addons()
}

/// The verifier's reason: the line before its "processed N insns" summary,
/// or libbpf's own complaint when the verifier never ran.
fn reason(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with("processed ")) {
        if i > 0 {
            return lines[i - 1].trim().to_string();
        }
    }
    lines
        .iter()
        .find(|l| l.starts_with("libbpf: ") && !l.contains("failed to load"))
        .map(|l| l.trim_start_matches("libbpf: ").trim().to_string())
        .unwrap_or_else(|| log.trim().to_string())
}

fn check(name: &str, want: Verdict) {
    let m = Module::load(&[]).expect("load inode_addons");
    let got = bpf::try_load(name);
    drop(m);
    let (cell, ok) = match (&want, &got) {
        (Verdict::Accept, Ok(())) => ("accepted".to_string(), true),
        (Verdict::Reject(msg), Err(log)) if log.contains(msg) => {
            (format!("rejected: `{msg}`"), true)
        }
        (_, Ok(())) => ("accepted (UNEXPECTED)".to_string(), false),
        (_, Err(log)) => (format!("rejected (UNEXPECTED): `{}`", reason(log)), false),
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{}/bpf-verdicts.tsv", env("VM_OUT")))
        .expect("verdict table");
    writeln!(f, "{name}\t{}\t{cell}", flavor()).unwrap();
    assert!(ok, "{name}: {cell}\n{got:?}");
}

#[test]
fn count_open_kfunc_is_accepted() {
    check("count_open_kfunc", Verdict::Accept);
}

#[test]
fn inode_storage_from_tracing_only_on_patched_kernels() {
    check(
        "count_open_storage",
        if patched() {
            Verdict::Accept
        } else {
            Verdict::Reject("cannot use helper bpf_inode_storage_get")
        },
    );
}

#[test]
fn kfunc_result_needs_null_check() {
    check("reject_kfunc_null", Verdict::Reject("invalid mem access"));
}

#[test]
fn store_past_scratch_area_is_rejected() {
    check(
        "reject_scratch_oob",
        Verdict::Reject("invalid access to memory, mem_size=32 off=32 size=1"),
    );
}

#[test]
fn sleepable_helper_in_non_sleepable_program_is_rejected() {
    check(
        "reject_sleepable_call",
        Verdict::Reject("helper call might sleep in a non-sleepable prog"),
    );
}

#[test]
fn kfunc_in_sleepable_program_is_rejected() {
    check(
        "reject_kfunc_sleepable",
        Verdict::Reject("calling kernel function bpf_inode_addons_get is not allowed"),
    );
}
