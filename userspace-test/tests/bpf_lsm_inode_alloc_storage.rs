// SPDX-License-Identifier: GPL-2.0

//! A BPF LSM program on `inode_alloc_security` creates inode storage for
//! every new inode (issue 12, item 2).  On stock this works: the storage
//! lives in the bpf LSM's inode blob, allocated before the hook runs.  The
//! series must not turn it into a silent NULL: the inode is opened for
//! addons before `security_inode_alloc()`.  Same assertions on every flavor
//! (stock boots with the bpf LSM: CONFIG_LSM="bpf" in kconfig/base.config).
//!
//! bpf-progs/lsm_alloc_storage.bpf.c tags each inode the test thread
//! allocates, and checks the tag on each of its opens.

use std::fs::{self, File};
use userspace_test::addons::Mount;
use userspace_test::bpf::{as_test_thread, Attached};

const FILES: u64 = 16;

#[test]
fn storage_created_in_inode_alloc_security() {
    let prog = Attached::load("lsm_alloc_storage").expect("load and attach");
    let mnt = Mount::tmpfs("lsmalloc");
    let dir = mnt.path.clone();
    as_test_thread(move || {
        for i in 0..FILES {
            // A new tmpfs inode, opened by the creation itself.
            File::create(dir.join(format!("f{i}"))).expect("create");
        }
        for i in 0..FILES {
            File::open(dir.join(format!("f{i}"))).expect("open");
        }
    });
    let calls = prog.global("alloc_calls");
    let tagged = prog.global("alloc_tagged");
    println!("inode_alloc_security: {calls} calls, {tagged} storages created");
    assert!(
        calls >= FILES,
        "{calls} inode allocations for {FILES} files"
    );
    assert_eq!(tagged, calls, "storage refused in inode_alloc_security");
    assert_eq!(prog.global("open_calls"), 2 * FILES);
    assert_eq!(
        prog.global("open_tagged"),
        2 * FILES,
        "opens that did not find the tag set at allocation"
    );
    drop(prog);
    for i in 0..FILES {
        fs::remove_file(mnt.path.join(format!("f{i}"))).unwrap();
    }
}
