// SPDX-License-Identifier: GPL-2.0

//! Get-or-create: the first request creates an inode's addons, later ones
//! find them, and only that inode gets addons.

use std::fs;
use userspace_test::addons::{stat, Dev, Mount};
use userspace_test::Module;

#[test]
fn first_request_creates_later_ones_find() {
    let _m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("create");
    let dev = Dev::open();
    let a = mnt.path.join("a");
    let b = mnt.path.join("b");
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    let live = stat("addons_live");
    let with = stat("inodes_with_addons");

    let q = dev.query_path(&a, true).expect("create");
    assert_eq!((q.present, q.created), (1, 1), "{q:?}");
    assert_eq!(
        q.ino,
        fs::metadata(&a)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    );
    let q = dev.query_path(&a, true).expect("create again");
    assert_eq!((q.present, q.created), (1, 0), "{q:?}");
    let q = dev.query_path(&a, false).expect("query");
    assert_eq!((q.present, q.created), (1, 0), "{q:?}");
    // The shadow starts equal to the real (empty) fsnotify state.
    assert_eq!(
        (q.shadow_mask, q.shadow_has_marks),
        (q.real_mask, q.real_has_marks)
    );

    let q = dev.query_path(&b, false).expect("query b");
    assert_eq!(q.present, 0, "{q:?}");
    assert_eq!(stat("addons_live"), live + 1);
    assert_eq!(stat("inodes_with_addons"), with + 1);

    // A directory can have addons too.
    let q = dev.query_path(&mnt.path, true).expect("create dir");
    assert_eq!((q.present, q.created), (1, 1), "{q:?}");
}
