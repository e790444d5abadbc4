// SPDX-License-Identifier: GPL-2.0

//! Threads creating the same inode's addons at once leave exactly one
//! object: one caller installs, the others either find it or lose the
//! install race, free their own allocation and use the winner's.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Barrier};
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::Module;

const THREADS: usize = 4;
const FILES: usize = 100;

#[test]
fn concurrent_get_or_create_installs_once() {
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("race");
    let paths: Vec<_> = (0..FILES).map(|i| mnt.path.join(format!("f{i}"))).collect();
    for p in &paths {
        fs::write(p, "x").unwrap();
    }
    let (alloc0, live0, lost0, with0) = (
        stat("addons_allocated"),
        stat("addons_live"),
        stat("lost_races"),
        stat("inodes_with_addons"),
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (barrier, paths) = (barrier.clone(), paths.clone());
            std::thread::spawn(move || {
                let dev = Dev::open();
                let mut created = Vec::new();
                for p in &paths {
                    let f = File::open(p).unwrap();
                    barrier.wait();
                    let q = dev.query(f.as_raw_fd(), true).expect("create");
                    assert_eq!(q.present, 1);
                    created.push(q.created);
                }
                created
            })
        })
        .collect();
    let results: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for i in 0..FILES {
        let winners: u32 = results.iter().map(|r| r[i]).sum();
        assert_eq!(winners, 1, "file {i}: {winners} creators");
    }
    let lost = stat("lost_races") - lost0;
    eprintln!("lost install races: {lost} in {FILES} rounds of {THREADS} threads");
    assert_eq!(stat("inodes_with_addons"), with0 + FILES as i64);
    assert_eq!(stat("addons_live"), live0 + FILES as i64);
    // Every allocation either got installed or lost a race and was freed.
    assert_eq!(stat("addons_allocated") - alloc0, FILES as i64 + lost);
}
