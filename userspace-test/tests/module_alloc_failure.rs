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
    let dev = Dev::open();
    // Fail sleeping allocations too, quietly (no stack dump).
    fs::write("/sys/kernel/debug/failslab/ignore-gfp-wait", "N").unwrap();
    fs::write("/sys/kernel/debug/failslab/verbose", "0").unwrap();
    let failures = stat("alloc_failures");
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    let nth = format!("/proc/self/task/{tid}/fail-nth");
    // Fail the ioctl's 1st, 2nd, ... fault-injection point, each time on a
    // fresh inode: every injected failure must be ENOMEM and leave no entry.
    let mut outcomes = Vec::new();
    let mut enomem = 0;
    for n in 1..=12 {
        let p = mnt.path.join(format!("f{n}"));
        fs::write(&p, "x").unwrap();
        let f = File::open(&p).unwrap();
        fs::write(&nth, n.to_string()).unwrap();
        let r = dev.query(f.as_raw_fd(), true);
        let left = fs::read_to_string(&nth).unwrap();
        fs::write(&nth, "0").unwrap();
        outcomes.push((n, r.map(|q| q.created), left.trim().to_owned()));
        let q = dev.query(f.as_raw_fd(), false).unwrap();
        match r {
            Err(e) => {
                assert_eq!(e, libc::ENOMEM, "fail-nth {n}");
                assert_eq!(q.present, 0, "fail-nth {n} left an entry");
                enomem += 1;
            }
            Ok(c) => assert_eq!((c.created, q.present), (1, 1)),
        }
    }
    fs::write("/sys/kernel/debug/failslab/ignore-gfp-wait", "Y").unwrap();
    assert!(
        enomem > 0,
        "no injected failure hit the ioctl: {outcomes:?}"
    );
    assert_eq!(stat("alloc_failures"), failures + enomem);
}
