// SPDX-License-Identifier: GPL-2.0

//! The kfuncs have BTF and work from a BPF tracing program: a program on
//! tp_btf/flock_lock_inode creates the addons of inodes that are flock()ed
//! (and only those) and counts the calls in their scratch area.
//!
//! Embedded backend: the struct the kfunc returns is the kernel's (BTF in
//! vmlinux, not in the module); everything else is asserted alike.

use std::fs::{self, OpenOptions};
use std::os::fd::AsRawFd;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::{bpftool, run, run_ok, wait_module_released, Module};

const KFUNCS: [&str; 3] = [
    "bpf_inode_addons_get",
    "bpf_inode_addons_shadow_mask",
    "bpf_inode_addons_scratch",
];

#[test]
fn kfuncs_create_addons_from_a_tracing_program() {
    let m = Module::load(&[]).expect("insmod");
    let bt = bpftool();
    let bt = bt.to_str().unwrap();
    let btf = run_ok(bt, &["btf", "dump", "file", "/sys/kernel/btf/inode_addons"]);
    for f in KFUNCS {
        assert!(btf.contains(&format!("FUNC '{f}'")), "{f} has no BTF");
    }
    // The embedded backend returns the kernel's struct inode_addons, whose
    // BTF is vmlinux's.
    let struct_btf = if userspace_test::addons::embedded() {
        run_ok(bt, &["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
    } else {
        btf.clone()
    };
    assert!(
        struct_btf.contains("STRUCT 'inode_addons'"),
        "no BTF for struct inode_addons"
    );

    let work = Mount::tmpfs("bpf");
    // module/bpf/ia_flock.bpf.c, compiled on the host by tools/bpf.sh.
    let obj = userspace_test::bpf::obj("ia_flock");
    if run("mountpoint", &["-q", "/sys/fs/bpf"]).status.code() != Some(0) {
        run_ok("mount", &["-t", "bpf", "none", "/sys/fs/bpf"]);
    }
    let pins = "/sys/fs/bpf/ia_test";
    let _ = fs::remove_dir_all(pins);
    run_ok(
        bt,
        &["prog", "loadall", obj.to_str().unwrap(), pins, "autoattach"],
    );

    let dev = Dev::open();
    let files: Vec<_> = (0..6).map(|i| work.path.join(format!("a{i}"))).collect();
    for f in &files {
        fs::write(f, "x").unwrap();
    }
    let with = stat("inodes_with_addons");
    for f in &files[..3] {
        let file = OpenOptions::new().write(true).open(f).unwrap();
        for op in [libc::LOCK_EX, libc::LOCK_UN] {
            // SAFETY: a valid fd.
            assert_eq!(unsafe { libc::flock(file.as_raw_fd(), op) }, 0);
        }
    }
    for f in &files[3..] {
        OpenOptions::new().write(true).open(f).unwrap();
    }
    fs::remove_dir_all(pins).expect("detach");
    for (i, f) in files.iter().enumerate() {
        let q = dev.query_path(f, false).unwrap();
        assert_eq!(q.present, u32::from(i < 3), "{}: {q:?}", f.display());
    }
    assert!(stat("inodes_with_addons") >= with + 3);

    drop(dev);
    // Detaching frees the program (deferred); the module stays pinned
    // until then.
    assert_eq!(
        wait_module_released(std::time::Duration::from_secs(60)),
        0,
        "BPF program still holds the module"
    );
    m.unload().expect("rmmod");
}
