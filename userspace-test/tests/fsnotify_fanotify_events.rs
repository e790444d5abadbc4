// SPDX-License-Identifier: GPL-2.0

//! fanotify (FID group reporting directory fid + name) delivers exactly the
//! expected events for create, modify, close_write, attrib, move (both
//! names) and delete of a directory's children, on tmpfs and on ext4.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use userspace_test::addons::Mount;
use userspace_test::notify::Fanotify;
use userspace_test::require_vm;

fn evs(fan: &Fanotify) -> Vec<(u64, String)> {
    fan.events().into_iter().map(|e| (e.mask, e.name)).collect()
}

fn check_dir(dir: &Path) {
    let fan = Fanotify::new();
    fan.mark(
        dir,
        0,
        libc::FAN_CREATE
            | libc::FAN_DELETE
            | libc::FAN_MOVED_FROM
            | libc::FAN_MOVED_TO
            | libc::FAN_MODIFY
            | libc::FAN_ATTRIB
            | libc::FAN_CLOSE_WRITE
            | libc::FAN_EVENT_ON_CHILD,
    );
    let a = dir.join("a");
    let mut f = File::create(&a).unwrap();
    assert_eq!(evs(&fan), [(libc::FAN_CREATE, "a".into())]);
    f.write_all(b"x").unwrap();
    assert_eq!(evs(&fan), [(libc::FAN_MODIFY, "a".into())]);
    drop(f);
    assert_eq!(evs(&fan), [(libc::FAN_CLOSE_WRITE, "a".into())]);
    fs::set_permissions(&a, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(evs(&fan), [(libc::FAN_ATTRIB, "a".into())]);
    fs::rename(&a, dir.join("b")).unwrap();
    assert_eq!(
        evs(&fan),
        [
            (libc::FAN_MOVED_FROM, "a".into()),
            (libc::FAN_MOVED_TO, "b".into())
        ]
    );
    fs::remove_file(dir.join("b")).unwrap();
    assert_eq!(evs(&fan), [(libc::FAN_DELETE, "b".into())]);
    assert!(fan.events().is_empty());
}

#[test]
fn fanotify_events_on_tmpfs() {
    require_vm();
    let m = Mount::tmpfs("fan_ev");
    check_dir(&m.path);
}

#[test]
fn fanotify_events_on_ext4() {
    require_vm();
    let (m, _backing) = Mount::ext4("fan_ev");
    check_dir(&m.path);
}
