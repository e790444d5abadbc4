// SPDX-License-Identifier: GPL-2.0

//! Unmounting a file system whose inodes carry live inotify and fanotify
//! marks succeeds, and every inotify watch reports IN_UNMOUNT then
//! IN_IGNORED: the marks (and, on the patched kernels, the addons holding
//! them) are torn down with the super block.

use std::fs;
use userspace_test::addons::Mount;
use userspace_test::notify::{Fanotify, Inotify};
use userspace_test::require_vm;

#[test]
fn umount_with_live_marks() {
    require_vm();
    let mut m = Mount::tmpfs("umount_marks");
    let sub = m.path.join("d");
    fs::create_dir(&sub).unwrap();
    let files: Vec<_> = (0..8).map(|i| sub.join(format!("f{i}"))).collect();
    for f in &files {
        fs::write(f, "x").unwrap();
    }
    let ino = Inotify::new();
    let wds: Vec<i32> = files.iter().map(|f| ino.add(f, libc::IN_MODIFY)).collect();
    let dir_wd = ino.add(&sub, libc::IN_CREATE);
    let fan = Fanotify::new();
    fan.mark(&files[0], 0, libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE);

    // Both groups stay alive across the umount: fsnotify_sb_delete() must
    // tear their marks down.
    m.umount();
    drop(fan);
    let ev = ino.events();
    let of = |wd: i32| -> Vec<u32> { ev.iter().filter(|e| e.wd == wd).map(|e| e.mask).collect() };
    for wd in &wds {
        assert_eq!(
            of(*wd),
            [libc::IN_UNMOUNT, libc::IN_IGNORED],
            "file wd {wd}"
        );
    }
    // A directory's IN_UNMOUNT carries IN_ISDIR.
    assert_eq!(
        of(dir_wd),
        [libc::IN_UNMOUNT | libc::IN_ISDIR, libc::IN_IGNORED],
        "directory wd"
    );
    assert_eq!(ev.len(), 2 * (wds.len() + 1), "{ev:?}");
}
