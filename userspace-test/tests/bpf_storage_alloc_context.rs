// SPDX-License-Identifier: GPL-2.0

//! Inode storage created by tracing programs attached inside allocation
//! paths (issue 12, item 1): inside the slab allocator, and inside the
//! addons allocation path itself.  Before the fix the addons came from
//! `kmem_cache_zalloc(GFP_ATOMIC)` wherever the program ran, the slab
//! allocator included; now they come from the any-context allocator
//! (`inode_addons_attach_nolock()`).  The debug kernel runs this under
//! lockdep and KASAN: the harness fails the test on any report, and a
//! deadlock would hang it.
//!
//! bpf-progs/storage_alloc_context.bpf.c:
//! - fentry on `kmem_cache_alloc_noprof()` and a kprobe on `___slab_alloc()`
//!   create storage for the test thread's working directory: created, every
//!   time (the first call creates it, later ones find it), except in calls
//!   of `___slab_alloc()` made while a storage helper runs on the CPU (the
//!   BPF memory allocator refills its free lists from irq_work, which can
//!   fire inside the helper; the program reads the series' per-CPU
//!   `bpf_inode_storage_busy`): those never create storage, and still find
//!   storage that exists (a busy CPU only skips the lookup cache);
//! - fentry on `inode_addons_attach()`, reached from `inotify_add_watch()`,
//!   creates storage for the inode being given addons: created, and the
//!   watch still works on addons that a BPF program allocated first;
//! - fentry on `inode_addons_attach_nolock()` runs only inside a storage
//!   helper, with the CPU's busy counter raised: its own creation is
//!   cleanly refused, every time.
//!
//! Stock has neither inode storage for tracing programs nor these
//! functions: the object must be refused there.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use userspace_test::addons::Mount;
use userspace_test::bpf::{as_test_thread, Attached};
use userspace_test::notify::Inotify;

#[test]
fn storage_created_from_slab_and_addons_allocation_paths() {
    let Some(prog) = Attached::load_tracing_storage(
        "storage_alloc_context",
        &["bpf_inode_storage_get", "inode_addons_attach"],
    ) else {
        return; // refused, as it must be without the series (asserted)
    };
    let mnt = Mount::tmpfs("allocctx");
    let file = mnt.path.join("watched");
    fs::write(&file, "x").unwrap();

    let in_ = Inotify::new();
    let f = file.clone();
    let wd = as_test_thread(move || {
        // Allocates from the slab (the watch, the mark, the connector):
        // the slab programs run, and inode_addons_attach() runs for the
        // file, with in_attach creating storage there first.
        let wd = in_.add(&f, libc::IN_MODIFY);
        // Opens: check_open looks up the storage of the file and of ".".
        File::open(&f).expect("open watched file");
        File::open(".").expect("open cwd");
        fs::write(&f, "y").expect("modify watched file");
        (in_, wd)
    });
    let (in_, wd) = wd;

    let slab_calls = prog.global("slab_calls");
    let slab_created = prog.global("slab_created");
    let slow_calls = prog.global("slowpath_calls");
    let slow_created = prog.global("slowpath_created");
    let nested_calls = prog.global("slowpath_nested_calls");
    let nested_created = prog.global("slowpath_nested_created");
    let nested_lost = prog.global("slowpath_nested_lost");
    println!(
        "kmem_cache_alloc: {slab_calls} calls, {slab_created} with storage; \
         ___slab_alloc: {slow_calls} calls, {slow_created} with storage; \
         ___slab_alloc inside a storage helper: {nested_calls} calls, \
         {nested_created} created storage, {nested_lost} missed existing storage"
    );
    assert!(
        slab_calls > 0,
        "no kmem_cache_alloc_noprof() in the test thread"
    );
    assert_eq!(
        slab_created, slab_calls,
        "storage refused inside the slab allocator"
    );
    assert_eq!(
        slow_created, slow_calls,
        "storage refused inside ___slab_alloc()"
    );
    assert_eq!(
        nested_created, 0,
        "storage created inside ___slab_alloc() while a storage helper ran"
    );
    assert_eq!(
        nested_lost, 0,
        "existing storage not found inside ___slab_alloc() while a storage helper ran"
    );
    assert!(
        prog.global("open_slab_found") >= 1,
        "the working directory has no storage after the slab programs ran"
    );

    let attach_calls = prog.global("attach_calls");
    assert!(
        attach_calls >= 1,
        "inotify_add_watch() did not attach addons"
    );
    assert_eq!(
        prog.global("attach_created"),
        attach_calls,
        "storage refused inside inode_addons_attach()"
    );
    assert!(
        prog.global("open_attach_found") >= 1,
        "no storage on the watched file"
    );
    assert_eq!(
        prog.global("open_attach_ino"),
        fs::metadata(&file).unwrap().ino()
    );

    let nolock_calls = prog.global("nolock_calls");
    assert!(
        nolock_calls >= 2,
        "{nolock_calls} inode_addons_attach_nolock() calls for two creations"
    );
    assert_eq!(
        prog.global("nolock_created"),
        0,
        "storage created from inside another storage helper"
    );
    assert_eq!(prog.global("open_nolock_found"), 0);

    // fsnotify uses the addons the program allocated first.
    let evs = in_.events();
    assert!(
        evs.iter()
            .any(|e| e.wd == wd && e.mask & libc::IN_MODIFY != 0),
        "no IN_MODIFY on the watched file: {evs:?}"
    );
}
