// SPDX-License-Identifier: GPL-2.0

//! Addons go with their inode: unlinking the file and evicting the inode
//! (drop_caches) removes the entry at __destroy_inode() and frees it after
//! a grace period.
//!
//! Embedded backend: the kernel frees the addons in __destroy_inode(); the
//! module has no destroy probe (`removed_at_destroy`) and frees nothing, so
//! only the user-facing part (`inodes_with_addons` drops by 20) is asserted.

use std::fs;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::{drop_caches, Module};

#[test]
fn addons_freed_after_unlink_and_eviction() {
    let m = Module::load(&[]).expect("insmod");
    let (mnt, _img) = Mount::ext4("unlink");
    let dev = Dev::open();
    let paths: Vec<_> = (0..20).map(|i| mnt.path.join(format!("f{i}"))).collect();
    for p in &paths {
        fs::write(p, "x").unwrap();
        assert_eq!(dev.query_path(p, true).expect("create").created, 1);
    }
    let with = stat("inodes_with_addons");
    let removed = stat("removed_at_destroy");
    for p in &paths {
        fs::remove_file(p).unwrap();
    }
    drop_caches();
    assert_eq!(stat("inodes_with_addons"), with - 20);
    let embedded = userspace_test::addons::embedded();
    if !embedded {
        assert!(stat("removed_at_destroy") >= removed + 20);
    }
    // Freed once the grace period ended: unloading waits for it
    // (rcu_barrier) and reports the balance.
    drop(dev);
    drop(mnt);
    let mark = userspace_test::dmesg_mark();
    m.unload().expect("rmmod");
    let (_, allocated, freed) = userspace_test::addons::unload_report(mark);
    if !embedded {
        assert_eq!(allocated, freed);
    }
}
