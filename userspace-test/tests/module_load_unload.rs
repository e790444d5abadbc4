// SPDX-License-Identifier: GPL-2.0

//! Loading registers the lifecycle and fsnotify probes, the debugfs files
//! and the misc device; unloading removes all of them and frees every addons
//! object that was allocated.
//!
//! Embedded backend (kernel with the inode_addons series): the kernel ties
//! the addons to inode lifetimes and holds the fsnotify fields itself, so
//! the module must register none of the probes, counts no inits/destroys,
//! and frees nothing at unload (the kernel owns the objects): that is
//! asserted instead.

use std::path::Path;
use userspace_test::addons::{stat, DEBUGFS, DEV, PROBED};
use userspace_test::{dmesg_mark, kprobes, Module};

fn probed(list: &[String], sym: &str) -> bool {
    list.iter().any(|l| l.contains(&format!(" {sym}+0x")))
}

#[test]
fn load_registers_and_unload_removes_everything() {
    let mark = dmesg_mark();
    let m = Module::load(&[]).expect("insmod");
    let embedded = userspace_test::addons::embedded();
    let list = kprobes();
    for sym in PROBED {
        assert_eq!(probed(&list, sym), !embedded, "probe on {sym}: {list:?}");
    }
    assert!(Path::new(DEV).exists());
    for f in ["stats", "selfcheck", "control"] {
        assert!(Path::new(DEBUGFS).join(f).exists(), "{f} missing");
    }
    // Inodes come and go while loaded: the probes see them.
    std::fs::write("/tmp/ia-load-probe", "x").unwrap();
    std::fs::remove_file("/tmp/ia-load-probe").unwrap();
    userspace_test::drop_caches();
    if embedded {
        assert_eq!(stat("inode_inits"), 0);
        assert_eq!(stat("inode_destroys"), 0);
    } else {
        assert!(stat("inode_inits") > 0);
        assert!(stat("inode_destroys") > 0);
    }
    assert_eq!(stat("reuse_violations"), 0);
    m.unload().expect("rmmod");

    let list = kprobes();
    for sym in PROBED {
        assert!(!probed(&list, sym), "probe on {sym} left behind: {list:?}");
    }
    assert!(!Path::new(DEV).exists());
    assert!(!Path::new(DEBUGFS).exists());
    let (drained, allocated, freed) = userspace_test::addons::unload_report(mark);
    if embedded {
        assert_eq!((drained, freed), (0, 0));
    } else {
        assert_eq!(allocated, freed);
    }
}
