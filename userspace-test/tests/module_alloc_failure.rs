// SPDX-License-Identifier: GPL-2.0
// Needs the debug variant: failslab.

//! An allocation failure makes get-or-create fail with ENOMEM and leaves no
//! entry behind.  Failures are injected with failslab, restricted to this
//! task (make-it-fail) and to the duration of one ioctl.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::{require_debug_variant, Module};

const FAILSLAB: &str = "/sys/kernel/debug/failslab";

fn set(name: &str, v: &str) {
    fs::write(format!("{FAILSLAB}/{name}"), v).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Writes `v` through an already open file: no allocation on the way.
fn poke(f: &mut File, v: &str) {
    f.rewind().unwrap();
    f.write_all(v.as_bytes()).unwrap();
}

#[test]
fn allocation_failure_gives_enomem_and_no_entry() {
    require_debug_variant("failslab");
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("failslab");
    let p = mnt.path.join("f");
    fs::write(&p, "x").unwrap();
    let dev = Dev::open();
    let f = File::open(&p).unwrap();
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    let mut make_it_fail = OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/task/{tid}/make-it-fail"))
        .unwrap();
    // Every slab allocation of a task marked make-it-fail fails, sleeping
    // ones included, without a stack dump.
    set("task-filter", "Y");
    set("ignore-gfp-wait", "N");
    set("verbose", "0");
    set("interval", "1");
    set("times", "-1");
    set("space", "0");
    set("probability", "100");
    let failures = stat("alloc_failures");
    // Every slab allocation of this thread fails while armed, 9p's too: a
    // page of this binary or of libc (the guest's root is 9p) first touched
    // then would make the page fault fail with SIGBUS.  The query path
    // (ioctl() in libc, the Query code) is paged in before arming.
    assert_eq!(dev.query(f.as_raw_fd(), false).unwrap().present, 0);

    poke(&mut make_it_fail, "1");
    let r = dev.query(f.as_raw_fd(), true);
    poke(&mut make_it_fail, "0");

    set("probability", "0");
    set("ignore-gfp-wait", "Y");
    assert_eq!(r, Err(libc::ENOMEM));
    assert_eq!(stat("alloc_failures"), failures + 1);
    assert_eq!(dev.query(f.as_raw_fd(), false).unwrap().present, 0);
    // Without the injected failure it works.
    let q = dev.query(f.as_raw_fd(), true).unwrap();
    assert_eq!((q.present, q.created), (1, 1));
}
