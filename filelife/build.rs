// SPDX-License-Identifier: GPL-2.0

//! Compiles src/bpf/filelife.bpf.c with clang and generates its libbpf-rs
//! skeleton (the libbpf-tools convention).  The program needs no vmlinux.h
//! (minimal CO-RE definitions), so this builds before any kernel does and
//! the one object relocates on every flavor.  Flags as tools/bpf.sh's
//! (-Wall -Werror, x86 target); libbpf-cargo adds -g -O2 -target bpf and
//! libbpf's own headers.

use libbpf_cargo::SkeletonBuilder;
use std::{env, path::PathBuf};

fn main() {
    let src = "src/bpf/filelife.bpf.c";
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("filelife.skel.rs");
    SkeletonBuilder::new()
        .source(src)
        .clang_args([
            "-Wall",
            "-Werror",
            "-D__TARGET_ARCH_x86",
            // asm/types.h for linux/bpf.h, as tools/bpf.sh does for ia_flock.
            "-idirafter",
            "/usr/include/x86_64-linux-gnu",
        ])
        .build_and_generate(&out)
        .unwrap_or_else(|e| panic!("building {src}: {e:#}"));
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=src/bpf/filelife.h");
}
