// SPDX-License-Identifier: GPL-2.0

//! Unmounting a file system destroys its inodes and with them their addons.

use std::fs;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::Module;

#[test]
fn addons_freed_after_umount() {
    let _m = Module::load(&[]).expect("insmod");
    let dev = Dev::open();
    for fs_name in ["tmpfs", "ext4"] {
        let (mut mnt, _img) = if fs_name == "tmpfs" {
            (Mount::tmpfs("umount"), None)
        } else {
            let (m, img) = Mount::ext4("umount");
            (m, Some(img))
        };
        let paths: Vec<_> = (0..10).map(|i| mnt.path.join(format!("f{i}"))).collect();
        for p in &paths {
            fs::write(p, "x").unwrap();
            assert_eq!(dev.query_path(p, true).expect("create").created, 1);
        }
        let with = stat("inodes_with_addons");
        mnt.umount();
        assert_eq!(stat("inodes_with_addons"), with - 10, "{fs_name}");
    }
}
