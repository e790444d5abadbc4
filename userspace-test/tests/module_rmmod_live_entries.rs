// SPDX-License-Identifier: GPL-2.0

//! Unloading with live entries (inodes still in use, watched or not) frees
//! every one of them: the drain count matches and nothing is leaked.
//!
//! Embedded backend: the addons belong to the kernel and stay with their
//! inodes; the module drains and frees nothing and reports how many inodes
//! kept theirs, which must match `inodes_with_addons`.

use std::fs::{self, File};
use userspace_test::addons::{stat, unload_report, Dev, Mount};
use userspace_test::notify::Inotify;
use userspace_test::{dmesg_mark, Module};

#[test]
fn rmmod_drains_live_entries() {
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("rmmod");
    let ino = Inotify::new();
    let mut open = Vec::new();
    {
        let dev = Dev::open();
        for i in 0..50 {
            let p = mnt.path.join(format!("f{i}"));
            fs::write(&p, "x").unwrap();
            if i % 2 == 0 {
                dev.query_path(&p, true).expect("create");
            } else {
                ino.add(&p, libc::IN_MODIFY);
            }
            open.push(File::open(&p).unwrap());
        }
    }
    let embedded = userspace_test::addons::embedded();
    let live = stat("inodes_with_addons");
    assert!(live >= 50, "{live}");
    let mark = dmesg_mark();
    m.unload().expect("rmmod");
    let (drained, allocated, freed) = unload_report(mark);
    if embedded {
        // The kernel owns the addons: the inodes keep them.
        let kept = userspace_test::addons::unload_kept(mark);
        assert_eq!((drained, freed), (0, 0));
        assert_eq!(kept as i64, live);
    } else {
        assert!(drained >= 50, "drained {drained}");
        assert_eq!(drained as i64, live);
        assert_eq!(allocated, freed);
    }
    // The inodes are still alive and watched; the kernel does not care.
    drop(ino);
    drop(open);
}
