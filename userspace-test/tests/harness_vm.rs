// SPDX-License-Identifier: GPL-2.0

//! The harness boots the kernel it claims to: the guest runs the flavor's
//! own build, with the instrumentation its variant promises.

use std::fs;
use userspace_test::{env, require_vm};

#[test]
fn running_kernel_is_the_flavor_under_test() {
    require_vm();
    let expected = fs::read_to_string(format!("{}/include/config/kernel.release", env("KDIR")))
        .expect("kernel.release of the build");
    let running = fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(running.trim(), expected.trim());
    let version = fs::read_to_string("/proc/version").expect("/proc/version");
    assert!(
        version.contains("inode-addons@build"),
        "not our build: {version}"
    );
}

#[test]
fn variant_has_the_promised_instrumentation() {
    require_vm();
    let config = std::process::Command::new("sh")
        .args(["-c", "zcat /proc/config.gz"])
        .output()
        .expect("zcat /proc/config.gz");
    let config = String::from_utf8_lossy(&config.stdout);
    let debug = [
        "CONFIG_KASAN=y",
        "CONFIG_PROVE_LOCKING=y",
        "CONFIG_DEBUG_KMEMLEAK=y",
        "CONFIG_FAILSLAB=y",
        "CONFIG_FAULT_INJECTION_DEBUG_FS=y",
    ];
    let want = env("VARIANT") == "debug";
    for opt in debug {
        assert_eq!(config.lines().any(|l| l == opt), want, "{opt}");
    }
    assert_eq!(fs::metadata("/sys/kernel/debug/kmemleak").is_ok(), want);
    assert_eq!(fs::metadata("/sys/kernel/debug/failslab").is_ok(), want);
}
