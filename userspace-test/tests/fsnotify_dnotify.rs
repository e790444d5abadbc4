// SPDX-License-Identifier: GPL-2.0

//! dnotify (fcntl F_NOTIFY) signals the watching process for changes in the
//! watched directory, and only there.

use std::fs;
use userspace_test::addons::Mount;
use userspace_test::notify::{Dnotify, DN_ATTRIB, DN_CREATE, DN_DELETE, DN_MODIFY, DN_RENAME};
use userspace_test::require_vm;

#[test]
fn dnotify_signals_directory_changes() {
    require_vm();
    let m = Mount::tmpfs("dnotify");
    let watched = m.path.join("w");
    let other = m.path.join("o");
    fs::create_dir(&watched).unwrap();
    fs::create_dir(&other).unwrap();
    let dn = Dnotify::new(
        &watched,
        DN_CREATE | DN_DELETE | DN_RENAME | DN_MODIFY | DN_ATTRIB,
    );
    let drain = |dn: &Dnotify| {
        let mut n = 0;
        while let Some(fd) = dn.take() {
            assert_eq!(fd, dn.fd(), "signal names the watched directory");
            n += 1;
        }
        n
    };
    assert_eq!(drain(&dn), 0);

    fs::write(other.join("x"), "x").unwrap();
    assert_eq!(drain(&dn), 0, "changes elsewhere are not reported");

    let f = watched.join("a");
    fs::write(&f, "x").unwrap();
    assert!(drain(&dn) >= 1, "create");
    fs::rename(&f, watched.join("b")).unwrap();
    assert!(drain(&dn) >= 1, "rename");
    fs::remove_file(watched.join("b")).unwrap();
    assert!(drain(&dn) >= 1, "delete");
}
