// SPDX-License-Identifier: GPL-2.0

//! inotify delivers exactly the expected events, with names and move
//! cookies, for create, modify, close_write, attrib, move and delete, on
//! tmpfs and on ext4.  Runs on every flavor: the series moves the marks and
//! the mask the event path reads.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use userspace_test::addons::Mount;
use userspace_test::notify::Inotify;
use userspace_test::require_vm;

const MASK: u32 = libc::IN_CREATE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE;

fn names(ino: &Inotify, wd: i32) -> Vec<(u32, String)> {
    ino.events()
        .into_iter()
        .map(|e| {
            assert_eq!(e.wd, wd);
            (e.mask, e.name)
        })
        .collect()
}

fn check_dir(dir: &Path) {
    let ino = Inotify::new();
    let wd = ino.add(dir, MASK);
    let a = dir.join("a");

    let mut f = File::create(&a).unwrap();
    assert_eq!(names(&ino, wd), [(libc::IN_CREATE, "a".into())]);
    f.write_all(b"x").unwrap();
    assert_eq!(names(&ino, wd), [(libc::IN_MODIFY, "a".into())]);
    drop(f);
    assert_eq!(names(&ino, wd), [(libc::IN_CLOSE_WRITE, "a".into())]);

    fs::set_permissions(&a, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(names(&ino, wd), [(libc::IN_ATTRIB, "a".into())]);

    fs::rename(&a, dir.join("b")).unwrap();
    let ev = ino.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        (ev[0].mask, ev[0].name.as_str()),
        (libc::IN_MOVED_FROM, "a")
    );
    assert_eq!((ev[1].mask, ev[1].name.as_str()), (libc::IN_MOVED_TO, "b"));
    assert_ne!(ev[0].cookie, 0);
    assert_eq!(ev[0].cookie, ev[1].cookie, "one cookie pairs both names");

    fs::remove_file(dir.join("b")).unwrap();
    assert_eq!(names(&ino, wd), [(libc::IN_DELETE, "b".into())]);
    assert!(ino.events().is_empty(), "nothing else queued");
}

#[test]
fn inotify_events_on_tmpfs() {
    require_vm();
    let m = Mount::tmpfs("in_ev");
    check_dir(&m.path);
}

#[test]
fn inotify_events_on_ext4() {
    require_vm();
    let (m, _backing) = Mount::ext4("in_ev");
    check_dir(&m.path);
}
