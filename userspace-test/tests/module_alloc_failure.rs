// SPDX-License-Identifier: GPL-2.0

//! An allocation failure (injected with failslab's per-task fail-nth) makes
//! get-or-create fail with ENOMEM and leaves no entry behind.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::{env, Module};

#[test]
fn allocation_failure_gives_enomem_and_no_entry() {
    if env("VARIANT") != "debug" {
        return; // fault injection is only in the debug variant
    }
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("failslab");
    let p = mnt.path.join("f");
    fs::write(&p, "x").unwrap();
    let dev = Dev::open();
    let f = File::open(&p).unwrap();
    // Fail sleeping allocations too, quietly (no stack dump).
    fs::write("/sys/kernel/debug/failslab/ignore-gfp-wait", "N").unwrap();
    fs::write("/sys/kernel/debug/failslab/verbose", "0").unwrap();
    let failures = stat("alloc_failures");
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    let nth = format!("/proc/self/task/{tid}/fail-nth");
    // The ioctl's first slab allocation is the addons object.
    fs::write(&nth, "1").unwrap();
    let r = dev.query(f.as_raw_fd(), true);
    fs::write(&nth, "0").unwrap();
    fs::write("/sys/kernel/debug/failslab/ignore-gfp-wait", "Y").unwrap();
    assert_eq!(r, Err(libc::ENOMEM));
    assert_eq!(stat("alloc_failures"), failures + 1);
    assert_eq!(dev.query(f.as_raw_fd(), false).unwrap().present, 0);
    // Without the injected failure it works.
    assert_eq!(dev.query(f.as_raw_fd(), true).unwrap().created, 1);
}
