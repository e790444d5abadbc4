// SPDX-License-Identifier: GPL-2.0

//! The module's kfunc called from inside the kernel's memory allocators
//! (issue 14: "a program attached ... inside the allocator can deadlock on
//! itself").  The side table allocates its entries from the slab with
//! `GFP_ATOMIC`, which is safe wherever a hard interrupt could allocate:
//! with interrupts enabled.  With them disabled, the program may have
//! interrupted an allocator inside its own locked section, and creation is
//! refused (module/README.md, "The slab allocator").
//!
//! bpf-progs/kfunc_in_allocator.bpf.c, test thread only:
//! - fentry of `kmem_cache_alloc_noprof()` (the slab allocator's entry,
//!   reached by every `open()`), interrupts enabled: asks for the addons of
//!   the working directory's parent, which both backends create;
//! - tp_btf `mm_page_alloc_zone_locked`, fired with the zone's lock held
//!   and interrupts disabled when the page allocator refills a per-CPU
//!   list (a 64 MiB tmpfs write): asks for the addons of the working
//!   directory.  Side table: refused every time (`refused_busy`), the
//!   directory has no addons; embedded backend: created (its BPF addons
//!   come from the any-context allocator).
//!
//! Both also ask for the inode's scratch area, a slab object on both
//! backends (the embedded backend's scratch table): got at the slab
//! allocator's entry, never under the zone lock.
//!
//! On the debug variant, lockdep and KASAN watch it (the harness fails the
//! test on any kernel report); before the rule, the side table took the
//! slab allocator from under the zone lock.

use std::fs::{self, File};
use std::io::Write;
use userspace_test::addons::{embedded, selfcheck, stat, Dev, Mount};
use userspace_test::bpf::{as_test_thread, Attached};
use userspace_test::Module;

const OPENS: u64 = 20;
const WRITE_MIB: usize = 64;

#[test]
fn kfunc_in_the_allocators_creates_only_where_it_may() {
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("inalloc");
    let parent = mnt.path.join("parent");
    let cwd = parent.join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    for i in 0..OPENS {
        fs::write(mnt.path.join(format!("f{i}")), "x").unwrap();
    }
    let dev = Dev::open();
    for d in [&parent, &cwd] {
        let q = dev.query_path(d, false).expect("query");
        assert_eq!(q.present, 0, "{} has no addons yet", d.display());
    }
    let busy_before = stat("refused_busy");
    let old_cwd = std::env::current_dir().unwrap();
    // The working directory is the process's: the programs find it there.
    std::env::set_current_dir(&cwd).unwrap();
    let prog = Attached::load("kfunc_in_allocator").expect("load and attach");
    let dir = mnt.path.clone();
    as_test_thread(move || {
        for i in 0..OPENS {
            File::open(dir.join(format!("f{i}"))).expect("open");
        }
        let big = dir.join("big");
        let mut f = File::create(&big).expect("create");
        let mib = vec![0x5a_u8; 1 << 20];
        for _ in 0..WRITE_MIB {
            f.write_all(&mib).expect("write");
        }
        drop(f);
        fs::remove_file(&big).expect("unlink");
    });
    let g = |v: &str| prog.global(v);
    let (alloc, alloc_got) = (g("alloc_calls"), g("alloc_got"));
    let (locked, locked_got) = (g("zone_locked_calls"), g("zone_locked_got"));
    let (alloc_scratch, locked_scratch) = (g("alloc_scratch"), g("zone_locked_scratch"));
    prog.detach();
    std::env::set_current_dir(&old_cwd).unwrap();
    let refused = (stat("refused_busy") - busy_before) as u64;
    println!(
        "slab entry {alloc} calls, {alloc_got} got addons; zone lock held {locked} calls, \
         {locked_got} got addons; scratch areas {alloc_scratch} / {locked_scratch}; \
         refused_busy +{refused}"
    );
    assert!(
        alloc_scratch >= 1,
        "a scratch area at the slab allocator's entry"
    );
    assert_eq!(
        locked_scratch, 0,
        "no scratch area allocated under the zone lock"
    );
    assert!(alloc >= OPENS, "one slab allocation per open at least");
    assert!(alloc_got >= 1, "the slab allocator's entry creates addons");
    assert_eq!(dev.query_path(&parent, false).expect("query").present, 1);
    assert!(locked >= 1, "the 64 MiB write refilled a per-CPU page list");
    let cwd_addons = dev.query_path(&cwd, false).expect("query").present;
    if embedded() {
        assert!(locked_got >= 1, "the any-context allocator creates them");
        assert_eq!(cwd_addons, 1);
    } else {
        assert_eq!(locked_got, 0, "no creation with interrupts disabled");
        assert!(refused >= locked, "each call under the zone lock refused");
        assert_eq!(cwd_addons, 0, "the refused creations left nothing");
    }
    assert_eq!(selfcheck().mismatches, 0);
    drop(dev);
    drop(mnt);
    m.unload().expect("rmmod");
}
