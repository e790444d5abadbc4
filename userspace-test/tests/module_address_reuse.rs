// SPDX-License-Identifier: GPL-2.0

//! Inodes allocated where freed inodes with addons lived never see those
//! addons: the entries went at __destroy_inode(), and the allocation-time
//! check finds nothing to report.

use std::fs;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::{drop_caches, Module};

const N: usize = 300;

#[test]
fn reused_inode_memory_starts_without_addons() {
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("reuse");
    let dev = Dev::open();
    for round in 0..3 {
        let paths: Vec<_> = (0..N)
            .map(|i| mnt.path.join(format!("r{round}-{i}")))
            .collect();
        // New inodes come from the slab objects the previous round freed.
        for p in &paths {
            fs::write(p, "x").unwrap();
            let q = dev.query_path(p, false).expect("query");
            assert_eq!(
                q.present,
                0,
                "round {round}: {} inherited addons",
                p.display()
            );
            assert_eq!(dev.query_path(p, true).expect("create").created, 1);
        }
        for p in &paths {
            fs::remove_file(p).unwrap();
        }
        drop_caches();
    }
    assert_eq!(stat("reuse_violations"), 0);
}
