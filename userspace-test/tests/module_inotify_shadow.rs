// SPDX-License-Identifier: GPL-2.0

//! The fsnotify shadow follows inotify watches: adding a watch creates the
//! inode's addons, changing or removing it updates the shadow, and the
//! self-check finds no mismatch.

use std::fs;
use userspace_test::addons::{assert_shadow_exact, selfcheck, stat, Dev, Mount};
use userspace_test::notify::Inotify;
use userspace_test::Module;

#[test]
fn inotify_watches_keep_the_shadow_exact() {
    let _m = Module::load(&[]).expect("insmod");
    let dev = Dev::open();
    let tmp = Mount::tmpfs("inotify");
    let (ext4, _img) = Mount::ext4("inotify");
    for mnt in [&tmp, &ext4] {
        let files: Vec<_> = (0..8).map(|i| mnt.path.join(format!("w{i}"))).collect();
        for f in &files {
            fs::write(f, "x").unwrap();
            let q = dev.query_path(f, false).unwrap();
            assert_eq!(
                q.present,
                0,
                "{}: {q:?} {:?}",
                f.display(),
                userspace_test::addons::stats()
            );
        }
        let with = stat("inodes_with_addons");
        let ino = Inotify::new();
        let wds: Vec<_> = files.iter().map(|f| ino.add(f, libc::IN_MODIFY)).collect();
        assert_eq!(stat("inodes_with_addons"), with + files.len() as i64);
        for f in &files {
            let q = assert_shadow_exact(&dev, f);
            assert_eq!(q.real_has_marks, 1);
            assert_ne!(q.real_mask & libc::IN_MODIFY, 0, "{q:?}");
        }
        // Widen some masks, replace others.
        for (i, f) in files.iter().enumerate() {
            let mask = if i % 2 == 0 {
                libc::IN_ATTRIB | libc::IN_MASK_ADD
            } else {
                libc::IN_OPEN | libc::IN_CLOSE_WRITE
            };
            ino.add(f, mask);
            let q = assert_shadow_exact(&dev, f);
            if i % 2 == 1 {
                assert_eq!(q.real_mask & libc::IN_MODIFY, 0, "{q:?}");
            }
        }
        // A second inotify instance on the same inodes, then removal of the
        // first one's watches.
        let ino2 = Inotify::new();
        for f in &files[..4] {
            ino2.add(f, libc::IN_DELETE_SELF);
        }
        for wd in wds {
            ino.rm(wd);
        }
        for (i, f) in files.iter().enumerate() {
            let q = assert_shadow_exact(&dev, f);
            assert_eq!(q.real_has_marks, u32::from(i < 4), "{q:?}");
        }
        let sc = selfcheck();
        assert_eq!(sc.mismatches, 0, "{sc:?}");
        assert!(sc.with_marks >= 4, "{sc:?}");
        // Closing the instance detaches the rest.
        drop(ino2);
        drop(ino);
        // Mark destruction is deferred to a worker; wait for the shadow to
        // follow via the real state, which the query reads each time.
        for f in &files {
            assert_shadow_exact(&dev, f);
        }
    }
    let sc = selfcheck();
    assert_eq!(sc.mismatches, 0, "{sc:?}");
    assert_eq!(stat("shadow_mismatches"), 0);
}
