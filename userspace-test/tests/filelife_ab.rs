// SPDX-License-Identifier: GPL-2.0

//! The `filelife` tool (`filelife/`) on its two backends, A/B: a hash map
//! keyed by (device, inode number), as libbpf-tools, Tracee, CWS and fact
//! key theirs, against BPF inode storage from tracing programs (issue 15).
//! Each scenario runs once per backend with the outcome each one must give;
//! swapping the backends fails every pair.
//!
//! On a kernel without the inode_addons series the storage backend must be
//! refused by the verifier (stock 6.12 gives inode storage to BPF LSM
//! programs only): that refusal is what its tests assert there.
//!
//! All eight passed on addons-debug and on stock-debug (2026-12-02, TCG; the
//! same file built with the backends swapped failed its reuse_* and
//! umount_* pairs on addons-debug).  They take ~220 s per debug guest, which
//! `.ci/run`'s 85 minutes cannot hold beside the rest of the suite, so they
//! are ignored by `cargo make test` and run by `cargo make test-all`
//! (`--include-ignored`), or alone with
//! `TEST_ONLY=filelife_ab cargo make test -- --include-ignored`.

use filelife::{kernel_dev, Backend, Event, Options, StartError, Stats, Tracer};
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use userspace_test::addons::Mount;
use userspace_test::{has_inode_addons, require_vm};

/// Starts the tracer on the file system of `mnt`; `None` when the storage
/// backend is refused on a kernel without the series (asserted).
fn start(backend: Backend, mnt: &Path, max_entries: Option<u32>) -> Option<Tracer> {
    require_vm();
    let opts = Options {
        backend,
        dev: Some(kernel_dev(mnt).expect("stat mount")),
        max_entries,
    };
    match (Tracer::start(&opts), backend, has_inode_addons()) {
        (Ok(t), Backend::Hash, _) | (Ok(t), Backend::Storage, true) => Some(t),
        (Ok(_), Backend::Storage, false) => {
            panic!("a kernel without the series loaded inode storage in tracing programs")
        }
        (Err(StartError::Refused(log)), Backend::Storage, false) => {
            assert!(
                log.contains("bpf_inode_storage_get"),
                "refused, but why?\n{log}"
            );
            println!("storage backend refused, as it must be without the series");
            None
        }
        (Err(e), _, _) => panic!("{:?} backend did not start: {e}", backend),
    }
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p).expect("stat").ino()
}

fn show(t: &Tracer, what: &str) -> Stats {
    let s = t.stats();
    println!(
        "{} {what}: live_states={} map_bytes={} {s:?}",
        t.backend().name(),
        t.live_states(),
        t.map_bytes()
    );
    s
}

/// Inode reuse on ext4: a file that dies by being renamed over (no
/// vfs_unlink) leaves its hash entry behind; the next file created gets
/// its inode number and, from the hash backend, the dead file's age and
/// bytes.  Returns the reports of the new files' unlinks.
fn reuse(backend: Backend) -> Option<(Stats, Vec<Event>, u64)> {
    let (mnt, _img) = Mount::ext4("fl-reuse");
    let mut t = start(backend, &mnt.path, None)?;
    let old = mnt.path.join("old");
    fs::write(&old, [1u8; 1000]).unwrap();
    let old_ino = ino(&old);
    let tmp = mnt.path.join("tmp");
    fs::write(&tmp, [2u8; 10]).unwrap();
    fs::rename(&tmp, &old).unwrap(); // old's inode is freed here
    let mut files = Vec::new();
    for i in 0..64 {
        let p = mnt.path.join(format!("f{i}"));
        fs::write(&p, [3u8; 7]).unwrap();
        files.push(p.clone());
        if ino(&p) == old_ino {
            break;
        }
    }
    assert_eq!(
        ino(files.last().unwrap()),
        old_ino,
        "ext4 did not reuse inode {old_ino} in {} creations",
        files.len()
    );
    for p in &files {
        fs::remove_file(p).unwrap();
    }
    let events = t.take_events();
    let s = show(&t, "after reuse");
    assert_eq!(
        events.len(),
        files.len(),
        "one report per unlinked file: {events:?}"
    );
    assert_eq!(s.lost_events, 0);
    assert_eq!(
        s.inode_freed, 1,
        "old's inode destroyed by the rename, with its state"
    );
    Some((s, events, old_ino))
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn reuse_hash_reports_the_dead_files_state() {
    let (s, events, old_ino) = reuse(Backend::Hash).expect("hash loads everywhere");
    let stale: Vec<_> = events.iter().filter(|e| e.bytes != 7).collect();
    println!(
        "hash: {} of {} reports stale: {stale:?}",
        stale.len(),
        events.len()
    );
    assert_eq!(stale.len(), 1, "{events:?}");
    assert_eq!(stale[0].ino, old_ino);
    assert_eq!(
        (stale[0].bytes, stale[0].writes),
        (1007, 2),
        "old's 1000 B + the new 7 B"
    );
    assert_eq!(s.found_at_create, 1);
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn reuse_storage_never_reports_stale_state() {
    let Some((s, events, _)) = reuse(Backend::Storage) else {
        return; // refused without the series (asserted in start())
    };
    println!("storage: reports {events:?}");
    for e in &events {
        assert_eq!((e.bytes, e.writes), (7, 1), "stale state: {e:?}");
    }
    assert_eq!(s.found_at_create, 0);
}

const UMOUNT_FILES: u64 = 100;

/// What the `umount_*` pair saw.
struct Umounted {
    /// Counters right after the umount.
    stats: Stats,
    /// States alive right after the umount.
    live: u64,
    /// Counters after as many files were created on the next tmpfs.
    again: Stats,
}

/// Files written on a tmpfs that is then unmounted, never unlinked: the
/// states left behind.  Then a new tmpfs, which gets the same anonymous
/// device number (the kernel hands out the lowest free one) and, tmpfs
/// numbering its inodes per mount, the same inode numbers: its new files
/// meet whatever state was left behind.
fn umount(backend: Backend) -> Option<Umounted> {
    let mut mnt = Mount::tmpfs("fl-umount");
    let dev = kernel_dev(&mnt.path).expect("stat mount");
    let t = start(backend, &mnt.path, None)?;
    let write_all = |m: &Mount| {
        for i in 0..UMOUNT_FILES {
            fs::write(m.path.join(format!("f{i}")), [0u8; 100]).unwrap();
        }
    };
    write_all(&mnt);
    let s = show(&t, "before umount");
    assert_eq!((s.created, s.writes), (UMOUNT_FILES, UMOUNT_FILES));
    assert_eq!(t.live_states(), UMOUNT_FILES);
    mnt.umount();
    let stats = show(&t, "after umount");
    let live = t.live_states();
    // A lower number freed meanwhile (the lazily unmounted tmpfs of an
    // earlier test's loop image goes when its loop device lets go) is
    // taken first: hold such mounts until the unmounted one's comes back.
    let mut held = Vec::new();
    let next = loop {
        let m = Mount::tmpfs("fl-umount-next");
        if kernel_dev(&m.path).expect("stat mount") == dev {
            break m;
        }
        assert!(
            held.len() < 64,
            "64 new tmpfs mounts, none got the unmounted one's device number"
        );
        held.push(m);
    };
    write_all(&next);
    let again = show(&t, "after as many files on the next tmpfs");
    Some(Umounted { stats, live, again })
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn umount_hash_keeps_every_entry() {
    let u = umount(Backend::Hash).unwrap();
    assert_eq!(
        u.stats.inode_freed, UMOUNT_FILES,
        "every inode destroyed by the umount, its entry behind"
    );
    assert_eq!(u.live, UMOUNT_FILES, "hash entries of the unmounted files");
    assert_eq!(
        u.again.found_at_create, UMOUNT_FILES,
        "every file of the next tmpfs created onto a stale entry"
    );
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn umount_storage_goes_with_the_inodes() {
    let Some(u) = umount(Backend::Storage) else {
        return;
    };
    assert_eq!(u.live, 0);
    assert_eq!(
        u.stats.inode_freed, UMOUNT_FILES,
        "every state destroyed with its inode"
    );
    assert_eq!(
        u.again.found_at_create, 0,
        "no stale state on the next tmpfs"
    );
    assert_eq!(u.again.created, 2 * UMOUNT_FILES);
}

const EVICT_FILES: usize = 50;

/// Live files evicted from the inode cache (drop_caches) and written again:
/// what each backend remembers of them.  Storage lives in the in-memory
/// inode, so it forgets a file that is still on disk; the hash map does not.
fn evict(backend: Backend) -> Option<(Stats, u64, Vec<Event>)> {
    let (mnt, _img) = Mount::ext4("fl-evict");
    let mut t = start(backend, &mnt.path, None)?;
    let files: Vec<_> = (0..EVICT_FILES)
        .map(|i| mnt.path.join(format!("f{i}")))
        .collect();
    for p in &files {
        fs::write(p, [0u8; 100]).unwrap();
    }
    // Written back first: an inode with dirty pages is not evicted.
    // SAFETY: sync() takes no argument and cannot fail.
    unsafe { libc::sync() };
    // Three passes, as the eviction test of the module does with one: an
    // inode the shrinker finds referenced gets a second chance.
    for _ in 0..3 {
        fs::write("/proc/sys/vm/drop_caches", "3").expect("drop_caches");
    }
    let s = show(&t, "after drop_caches");
    let live = t.live_states();
    for p in &files {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(&[0u8; 1]).unwrap();
        drop(f);
        fs::remove_file(p).unwrap();
    }
    let events = t.take_events();
    show(&t, "after unlink");
    Some((s, live, events))
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn evict_hash_remembers_live_files() {
    let (s, live, events) = evict(Backend::Hash).unwrap();
    assert_eq!(
        s.inode_freed as usize, EVICT_FILES,
        "every inode evicted by drop_caches"
    );
    assert_eq!(live as usize, EVICT_FILES, "entries left after drop_caches");
    assert_eq!(events.len(), EVICT_FILES);
    for e in &events {
        assert_eq!((e.bytes, e.writes), (101, 2), "{e:?}");
    }
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn evict_storage_forgets_live_files() {
    let Some((s, live, events)) = evict(Backend::Storage) else {
        return;
    };
    println!(
        "storage: {} of {EVICT_FILES} states freed by drop_caches",
        s.inode_freed
    );
    assert_eq!(
        s.inode_freed as usize, EVICT_FILES,
        "every evicted inode took its state"
    );
    assert_eq!(live, 0, "states left after drop_caches");
    assert_eq!(events.len(), EVICT_FILES);
    for e in &events {
        assert_eq!((e.bytes, e.writes), (1, 1), "{e:?}");
    }
}

/// The `many_files_*` pair's hash map capacity: IA_FILELIFE_CAP, default
/// 256.  libbpf-tools sizes its map at 8192; the behaviour at capacity is
/// the same at any size, and filling 8192 entries and more took longer than
/// the 30 min guest limit on a debug kernel under TCG beside a kernel build
/// (2026-12-01, stock-debug).  The README's 10^5-file figures come from
/// release kernels with IA_FILELIFE_CAP=8192 IA_FILELIFE_FILES=100000.
fn cap() -> u32 {
    userspace_test::env_num("IA_FILELIFE_CAP", 256)
}

/// Files of the `many_files_*` pair: IA_FILELIFE_FILES, default 3 * cap().
fn files() -> usize {
    userspace_test::env_num("IA_FILELIFE_FILES", 3 * cap() as usize)
}

/// `Slab:` of /proc/meminfo, in bytes: what the kernel's slab caches hold,
/// among them the inode storage elements (kmalloc) and, on the patched
/// flavors, the inode addons.  A measurement, not asserted: the frees of
/// local storage and of the addons wait for an RCU grace period.
fn slab_bytes() -> u64 {
    let m = fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    m.lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("Slab: in /proc/meminfo")
        * 1024
}

/// What the `many_files_*` pair measured.
struct Many {
    stats: Stats,
    map_bytes: u64,
    reports: usize,
}

/// Files created, written and unlinked on a tmpfs, all alive at once before
/// the unlinks: what each backend tracked, the bytes its map holds, and the
/// slab memory at each step (printed).
fn many(backend: Backend) -> Option<Many> {
    let n = files();
    let mnt = Mount::tmpfs("fl-many");
    let slab0 = slab_bytes();
    let mut t = start(backend, &mnt.path, Some(cap()))?;
    let bytes0 = t.map_bytes();
    let slab1 = slab_bytes();
    let p = |i: usize| mnt.path.join(format!("{i}"));
    for i in 0..n {
        fs::write(p(i), [0u8; 1]).unwrap();
    }
    let slab2 = slab_bytes();
    show(&t, "all files alive");
    let mut reports = 0;
    for i in 0..n {
        fs::remove_file(p(i)).unwrap();
        if i % 1000 == 999 {
            reports += t.take_events().len();
        }
    }
    reports += t.take_events().len();
    let slab3 = slab_bytes();
    let s = show(&t, "all files unlinked");
    let map_bytes = t.map_bytes();
    assert_eq!(
        map_bytes, bytes0,
        "the map's own bytes do not change with use"
    );
    println!(
        "{}: {n} files, cap {}: {} tracked, {} no_state, {reports} reports, map {map_bytes} bytes, \
         {} live states left; slab: +{} B at load, +{} B with the files alive ({:.0} B/file), \
         {:+} B after the unlinks (before RCU frees)",
        backend.name(),
        cap(),
        s.created,
        s.no_state,
        t.live_states(),
        slab1 as i64 - slab0 as i64,
        slab2 as i64 - slab1 as i64,
        (slab2 as f64 - slab1 as f64) / n as f64,
        slab3 as i64 - slab1 as i64,
    );
    assert_eq!(s.lost_events, 0);
    assert_eq!(t.live_states(), 0);
    Some(Many {
        stats: s,
        map_bytes,
        reports,
    })
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn many_files_hash_is_full_at_capacity() {
    let cap = cap() as usize;
    assert!(
        files() > cap,
        "IA_FILELIFE_FILES must exceed the map's {cap}"
    );
    let m = many(Backend::Hash).unwrap();
    assert_eq!(m.stats.created as usize, cap, "preallocated capacity");
    // Each lost file failed twice: at its creation and at its write.
    assert_eq!(
        m.stats.no_state as usize,
        2 * (files() - cap),
        "files the hash backend lost"
    );
    assert_eq!(m.reports, cap);
    assert!(
        m.map_bytes >= cap as u64 * 40,
        "{cap} preallocated entries: {} bytes",
        m.map_bytes
    );
}

#[test]
#[ignore = "slow (~220 s per debug guest), kept out of CI's 85 minutes: cargo make test-all runs it; passed on stock-debug and addons-debug 2026-12-02"]
fn many_files_storage_tracks_every_file() {
    let Some(m) = many(Backend::Storage) else {
        return;
    };
    assert_eq!(m.stats.created as usize, files());
    assert_eq!(m.stats.no_state, 0);
    assert_eq!(m.reports, files());
    assert!(
        m.map_bytes < cap() as u64 * 40,
        "the storage map holds no element: {} bytes",
        m.map_bytes
    );
}
