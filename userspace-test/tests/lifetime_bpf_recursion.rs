// SPDX-License-Identifier: GPL-2.0

//! The module's recursion guard (module/recursion.rs): a BPF program
//! attached inside the module's own insertion path calls a kfunc there, and
//! gets NULL instead of taking the module's locks again on the same CPU.
//!
//! bpf-progs/recurse_in_insert.bpf.c: an fentry program on
//! `security_file_open` creates the opened inode's addons (test thread
//! only); fexit programs on the module's `ia_inode_trylock()` (`i_lock`
//! held) and `ia_inode_fsnotify_mask()` (called by the side table with its
//! shadow lock held, to read the state it copies) then ask for the addons
//! of other inodes without any (the tmpfs root, the test's working
//! directory).  Without the guard the second deadlocks the CPU: the
//! nested creation refreshes its shadow under the lock already held.  An
//! fentry program on the module's `ia_rht_lookup_get_insert()` (the side
//! table's insertion, whose bucket lock rhashtable's inline code takes
//! inside) asks for the tmpfs root's addons too.
//!
//! Embedded backend: no shadow lock and no table insertion on this path
//! (its table holds only BPF scratch areas), so those programs never run
//! (asserted); the `i_lock` section is asserted alike.

use std::fs::{self, File};
use userspace_test::addons::{embedded, selfcheck, stat, Mount};
use userspace_test::bpf::{as_test_thread, Attached};
use userspace_test::Module;

const FILES: u64 = 5;

#[test]
fn kfunc_inside_the_modules_own_locks_fails() {
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("recurse");
    let cwd = mnt.path.join("cwd");
    fs::create_dir(&cwd).unwrap();
    for i in 0..FILES {
        fs::write(mnt.path.join(format!("f{i}")), "x").unwrap();
    }
    let busy_before = stat("refused_busy");
    let with_before = stat("inodes_with_addons");
    let old_cwd = std::env::current_dir().unwrap();
    // The working directory is the process's; the in_shadow program asks
    // for its addons.
    std::env::set_current_dir(&cwd).unwrap();
    let prog = Attached::load("recurse_in_insert").expect("load and attach");
    let dir = mnt.path.clone();
    as_test_thread(move || {
        for i in 0..FILES {
            File::open(dir.join(format!("f{i}"))).expect("open");
        }
    });
    let g = |v: &str| prog.global(v);
    let (outer, created) = (g("outer_calls"), g("outer_created"));
    let (in_lock, in_lock_created) = (g("in_lock_calls"), g("in_lock_created"));
    let (in_shadow, in_shadow_created) = (g("in_shadow_calls"), g("in_shadow_created"));
    let (in_insert, in_insert_created) = (g("in_insert_calls"), g("in_insert_created"));
    drop(prog);
    std::env::set_current_dir(&old_cwd).unwrap();
    println!(
        "outer {outer}/{created}, in i_lock {in_lock}/{in_lock_created}, in shadow lock {in_shadow}/{in_shadow_created}, in insertion {in_insert}/{in_insert_created}"
    );
    assert_eq!(outer, FILES);
    assert_eq!(created, FILES, "the outer calls create the files' addons");
    assert_eq!(in_lock, FILES, "one i_lock section per creation");
    assert_eq!(in_lock_created, 0, "kfunc inside the i_lock section");
    if embedded() {
        assert_eq!(in_shadow, 0, "the embedded backend has no shadow lock");
        assert_eq!(in_insert, 0, "the embedded backend inserts no addons");
    } else {
        assert_eq!(in_shadow, FILES, "one shadow update per creation");
        assert_eq!(in_shadow_created, 0, "kfunc inside the shadow lock");
        assert_eq!(in_insert, FILES, "one insertion per creation");
        assert_eq!(in_insert_created, 0, "kfunc inside the insertion");
    }
    let refused = stat("refused_busy") - busy_before;
    assert_eq!(
        refused as u64,
        in_lock + in_shadow + in_insert,
        "each nested call refused"
    );
    assert_eq!(
        stat("inodes_with_addons"),
        with_before + FILES as i64,
        "only the opened files got addons"
    );
    assert_eq!(selfcheck().mismatches, 0);
    drop(mnt);
    m.unload().expect("rmmod");
}
