// SPDX-License-Identifier: GPL-2.0

//! A watch on a file lives as long as the inode: unlinking the open file
//! only reports the link count change; the last close tears the inode down,
//! which reports IN_DELETE_SELF and drops the mark (IN_IGNORED), after which
//! the watch descriptor is gone.

use std::fs::{self, File};
use userspace_test::addons::Mount;
use userspace_test::notify::Inotify;
use userspace_test::require_vm;

fn check(dir: &std::path::Path) {
    let f = dir.join("victim");
    fs::write(&f, "x").unwrap();
    let ino = Inotify::new();
    let wd = ino.add(&f, libc::IN_ATTRIB | libc::IN_DELETE_SELF);
    let open = File::open(&f).unwrap();
    fs::remove_file(&f).unwrap();
    let ev: Vec<u32> = ino.events().iter().map(|e| e.mask).collect();
    assert_eq!(ev, [libc::IN_ATTRIB], "unlink of an open file");
    drop(open);
    let ev: Vec<(i32, u32)> = ino.events().iter().map(|e| (e.wd, e.mask)).collect();
    assert_eq!(
        ev,
        [(wd, libc::IN_DELETE_SELF), (wd, libc::IN_IGNORED)],
        "last close of the unlinked file"
    );
    // The mark is gone: removing the watch again fails with EINVAL.
    assert_eq!(ino.try_rm(wd), Err(libc::EINVAL));
}

#[test]
fn marks_dropped_when_tmpfs_inode_dies() {
    require_vm();
    let m = Mount::tmpfs("mark_del");
    check(&m.path);
}

#[test]
fn marks_dropped_when_ext4_inode_dies() {
    require_vm();
    let (m, _b) = Mount::ext4("mark_del");
    check(&m.path);
}
