// SPDX-License-Identifier: GPL-2.0

//! The fsnotify shadow also follows fanotify inode marks and dnotify
//! directory watches (the same mark attach/recalc/put paths as inotify).

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use userspace_test::addons::{assert_shadow_exact, selfcheck, Dev, Mount};
use userspace_test::{cstr, Module};

// <linux/fcntl.h> dnotify flags (not in the libc crate).
const DN_MODIFY: i32 = 0x2;
const DN_CREATE: i32 = 0x4;
const DN_MULTISHOT: i32 = 0x8000_0000_u32 as i32;

fn fan_mark(fan: i32, flags: u32, mask: u64, path: &std::path::Path) {
    let p = cstr(path);
    // SAFETY: valid fd and NUL-terminated path.
    let r = unsafe { libc::fanotify_mark(fan, flags, mask, libc::AT_FDCWD, p.as_ptr()) };
    assert_eq!(r, 0, "fanotify_mark: {}", std::io::Error::last_os_error());
}

#[test]
fn fanotify_and_dnotify_keep_the_shadow_exact() {
    let _m = Module::load(&[]).expect("insmod");
    let dev = Dev::open();
    let mnt = Mount::tmpfs("fan-dn");
    let f = mnt.path.join("file");
    let d = mnt.path.join("dir");
    fs::write(&f, "x").unwrap();
    fs::create_dir(&d).unwrap();

    // fanotify inode mark: add, widen, narrow, remove.
    // SAFETY: no pointer arguments.
    let fan = unsafe { libc::fanotify_init(libc::FAN_CLASS_NOTIF, libc::O_RDONLY as u32) };
    assert!(
        fan >= 0,
        "fanotify_init: {}",
        std::io::Error::last_os_error()
    );
    fan_mark(fan, libc::FAN_MARK_ADD, libc::FAN_MODIFY, &f);
    let q = assert_shadow_exact(&dev, &f);
    assert_eq!(q.real_has_marks, 1);
    fan_mark(fan, libc::FAN_MARK_ADD, libc::FAN_CLOSE_WRITE, &f);
    let q = assert_shadow_exact(&dev, &f);
    assert_ne!(q.real_mask & libc::FAN_CLOSE_WRITE as u32, 0, "{q:?}");
    fan_mark(fan, libc::FAN_MARK_REMOVE, libc::FAN_MODIFY, &f);
    let q = assert_shadow_exact(&dev, &f);
    assert_eq!(q.real_mask & libc::FAN_MODIFY as u32, 0, "{q:?}");
    fan_mark(fan, libc::FAN_MARK_REMOVE, libc::FAN_CLOSE_WRITE, &f);
    assert_shadow_exact(&dev, &f);

    // dnotify on a directory: arm, re-arm with another mask, disarm.
    let dir = File::open(&d).unwrap();
    for arg in [DN_MODIFY | DN_MULTISHOT, DN_CREATE | DN_MULTISHOT] {
        // SAFETY: valid fd.
        let r = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_NOTIFY, arg) };
        assert_eq!(r, 0, "F_NOTIFY: {}", std::io::Error::last_os_error());
        let q = assert_shadow_exact(&dev, &d);
        assert_eq!(q.real_has_marks, 1, "{q:?}");
    }
    // SAFETY: valid fd.
    let r = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_NOTIFY, 0) };
    assert_eq!(r, 0);
    assert_shadow_exact(&dev, &d);
    drop(dir);
    // SAFETY: closing our fanotify fd.
    unsafe { libc::close(fan) };
    assert_shadow_exact(&dev, &f);
    assert_shadow_exact(&dev, &d);
    let sc = selfcheck();
    assert_eq!(sc.mismatches, 0, "{sc:?}");
}
