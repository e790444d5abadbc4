// SPDX-License-Identifier: GPL-2.0

//! Inodes nobody asks addons for get none: creating, writing, reading and
//! stat()ing files allocates nothing.

use std::fs;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::Module;

#[test]
fn untouched_inodes_get_no_addons() {
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("untouched");
    let dev = Dev::open();
    let before = stat("addons_allocated");
    let inits = stat("inode_inits");
    let paths: Vec<_> = (0..100).map(|i| mnt.path.join(format!("f{i}"))).collect();
    for p in &paths {
        fs::write(p, "data").unwrap();
        fs::read(p).unwrap();
        fs::metadata(p).unwrap();
    }
    // The side table sees inode allocation through its probe; the
    // embedded backend has no probes (the kernel ties addons to inodes).
    if !userspace_test::addons::embedded() {
        assert!(
            stat("inode_inits") >= inits + 100,
            "probe missed inode inits"
        );
    }
    for p in &paths {
        let q = dev.query_path(p, false).expect("query");
        assert_eq!(q.present, 0, "{}: {q:?}", p.display());
        assert_eq!(q.created, 0);
    }
    assert_eq!(stat("addons_allocated"), before);
}
