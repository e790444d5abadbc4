// SPDX-License-Identifier: GPL-2.0

//! A non-sleepable fentry program counts opens per inode in the module's
//! per-inode scratch area (bpf_inode_addons_get/_scratch kfuncs), on every
//! flavor: the counts read back equal the opens made, each inode has its own,
//! the addons go away with the evicted inodes, and unloading the program
//! leaves nothing behind.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use userspace_test::addons::{stat, Mount};
use userspace_test::bpf::{self, as_test_thread, Attached};
use userspace_test::{drop_caches, Module};

fn open_n(path: &std::path::Path, n: usize) {
    let p = path.to_owned();
    as_test_thread(move || {
        for _ in 0..n {
            File::open(&p).expect("open");
        }
    });
}

/// Waits (bounded) for an asynchronous kernel release: bpffs unpinning
/// drops links and programs from a workqueue and RCU callbacks.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: still not true after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn per_inode_open_counts_through_kfuncs() {
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("bpfcnt");
    let (a, b) = (mnt.path.join("a"), mnt.path.join("b"));
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    let (ino_a, ino_b) = (
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&b).unwrap().ino(),
    );
    let live_before = stat("inodes_with_addons");

    let prog = Attached::load("count_open_kfunc").expect("load and attach");
    open_n(&a, 5);
    assert_eq!(prog.global("last_ino"), ino_a);
    assert_eq!(prog.global("last_count"), 5);
    open_n(&b, 3);
    assert_eq!(prog.global("last_ino"), ino_b);
    assert_eq!(prog.global("last_count"), 3);
    open_n(&a, 1);
    assert_eq!(
        prog.global("last_count"),
        6,
        "a's count kept apart from b's"
    );
    assert_eq!(prog.global("opens"), 9);
    // fentry on security_file_open cannot sleep: the kfunc allocates with
    // GFP_ATOMIC.  Without memory pressure it must succeed every time.
    let no_addons = prog.global("no_addons");
    println!("atomic-context allocations: 2 inodes, {no_addons} NULL returns");
    assert_eq!(no_addons, 0);
    assert_eq!(stat("inodes_with_addons"), live_before + 2);

    // Evicting the inodes takes their addons (and the counts) with them.
    fs::remove_file(&a).unwrap();
    fs::remove_file(&b).unwrap();
    drop_caches();
    assert_eq!(stat("inodes_with_addons"), live_before);

    let (prog_id, map_ids) = (prog.prog_id, prog.map_ids.clone());
    drop(prog);
    eventually("program freed", || !bpf::prog_exists(prog_id));
    for id in map_ids {
        eventually("map freed", || !bpf::map_exists(id));
    }
    drop(mnt);
    m.unload().expect("rmmod");
}
