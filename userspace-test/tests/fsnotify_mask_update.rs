// SPDX-License-Identifier: GPL-2.0

//! The inode's fsnotify mask is the union of its marks' masks and follows
//! watch removal: observed through the module's query, which reads the real
//! field (inode->i_fsnotify_mask on stock, the addons on patched kernels).

use std::fs;
use userspace_test::addons::{Dev, Mount};
use userspace_test::notify::Inotify;
use userspace_test::Module;

const FS_MODIFY: u32 = 0x2;
const FS_ATTRIB: u32 = 0x4;

#[test]
fn mask_follows_watch_removal() {
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("mask_upd");
    let f = mnt.path.join("f");
    fs::write(&f, "x").unwrap();
    let dev = Dev::open();
    let q = dev.query_path(&f, false).unwrap();
    assert_eq!((q.real_mask, q.real_has_marks), (0, 0));

    let g1 = Inotify::new();
    let g2 = Inotify::new();
    let w1 = g1.add(&f, libc::IN_MODIFY);
    let w2 = g2.add(&f, libc::IN_ATTRIB);
    let q = dev.query_path(&f, false).unwrap();
    assert_eq!(q.real_mask & (FS_MODIFY | FS_ATTRIB), FS_MODIFY | FS_ATTRIB);
    assert_eq!(q.real_has_marks, 1);

    g1.rm(w1);
    let q = dev.query_path(&f, false).unwrap();
    assert_eq!(
        q.real_mask & (FS_MODIFY | FS_ATTRIB),
        FS_ATTRIB,
        "MODIFY dropped"
    );
    assert_eq!(q.real_has_marks, 1);

    g2.rm(w2);
    let q = dev.query_path(&f, false).unwrap();
    assert_eq!((q.real_mask, q.real_has_marks), (0, 0), "no marks left");
    drop(dev);
    drop(mnt);
    m.unload().expect("rmmod");
}
