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
//! Ignored for now: written on 2026-12-01 while the machine's cores went to
//! a kernel build queue, no VM run of this file completed, and a storage
//! test that hits the series' known unit_free() oops (patches/README)
//! would take the rest of an addons guest's suite with it.  Run them with
//! `TEST_ONLY=filelife_ab cargo make test -- --ignored`; drop the ignores
//! once they pass on stock, addons and addons-inline-mask.

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
    Some((s, events, old_ino))
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
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
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
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

/// Files written on a tmpfs that is then unmounted, never unlinked: the
/// states left behind.
fn umount(backend: Backend) -> Option<(Stats, u64, u64)> {
    let mut mnt = Mount::tmpfs("fl-umount");
    let t = start(backend, &mnt.path, None)?;
    for i in 0..UMOUNT_FILES {
        fs::write(mnt.path.join(format!("f{i}")), [0u8; 100]).unwrap();
    }
    let s = show(&t, "before umount");
    assert_eq!((s.created, s.writes), (UMOUNT_FILES, UMOUNT_FILES));
    let before = t.live_states();
    assert_eq!(before, UMOUNT_FILES);
    mnt.umount();
    let s = show(&t, "after umount");
    Some((s, before, t.live_states()))
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn umount_hash_keeps_every_entry() {
    let (_, _, after) = umount(Backend::Hash).unwrap();
    assert_eq!(after, UMOUNT_FILES, "hash entries of the unmounted files");
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn umount_storage_goes_with_the_inodes() {
    let Some((s, _, after)) = umount(Backend::Storage) else {
        return;
    };
    assert_eq!(after, 0);
    assert_eq!(
        s.released, UMOUNT_FILES,
        "every state destroyed with its inode"
    );
}

const EVICT_FILES: usize = 50;

/// Live files evicted from the inode cache (drop_caches) and written again:
/// what each backend remembers of them.  Storage lives in the in-memory
/// inode, so it forgets a file that is still on disk; the hash map does not.
fn evict(backend: Backend) -> Option<(Stats, Vec<Event>)> {
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
    for p in &files {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(&[0u8; 1]).unwrap();
        drop(f);
        fs::remove_file(p).unwrap();
    }
    let events = t.take_events();
    show(&t, "after unlink");
    Some((s, events))
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn evict_hash_remembers_live_files() {
    let (_, events) = evict(Backend::Hash).unwrap();
    assert_eq!(events.len(), EVICT_FILES);
    for e in &events {
        assert_eq!((e.bytes, e.writes), (101, 2), "{e:?}");
    }
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn evict_storage_forgets_live_files() {
    let Some((s, events)) = evict(Backend::Storage) else {
        return;
    };
    println!(
        "storage: {} of {EVICT_FILES} states released by drop_caches",
        s.released
    );
    assert_eq!(
        s.released as usize, EVICT_FILES,
        "every evicted inode took its state"
    );
    assert_eq!(events.len(), EVICT_FILES);
    for e in &events {
        assert_eq!((e.bytes, e.writes), (1, 1), "{e:?}");
    }
}

/// Files of the `many_files_*` pair: IA_FILELIFE_FILES, default 2 * 10^4
/// (past the hash map's 8192, and a few minutes of a debug guest under TCG
/// per backend; the README's 10^5 figures come from IA_FILELIFE_FILES=100000).
fn files() -> usize {
    userspace_test::env_num("IA_FILELIFE_FILES", 20_000)
}

/// Files created, written and unlinked on a tmpfs, all alive at once before
/// the unlinks: what each backend tracked, and the bytes its map holds.
fn many(backend: Backend) -> Option<(Stats, u64, usize)> {
    let n = files();
    let mnt = Mount::tmpfs("fl-many");
    let mut t = start(backend, &mnt.path, None)?;
    let bytes0 = t.map_bytes();
    let p = |i: usize| mnt.path.join(format!("{i}"));
    for i in 0..n {
        fs::write(p(i), [0u8; 1]).unwrap();
    }
    show(&t, "all files alive");
    let mut reports = 0;
    for i in 0..n {
        fs::remove_file(p(i)).unwrap();
        if i % 1000 == 999 {
            reports += t.take_events().len();
        }
    }
    reports += t.take_events().len();
    let s = show(&t, "all files unlinked");
    let bytes = t.map_bytes();
    assert_eq!(bytes, bytes0, "the map's own bytes do not change with use");
    println!(
        "{}: {n} files: {} tracked, {} untracked (no_state), {reports} reports, \
         map {} bytes, {} live states left",
        backend.name(),
        s.created,
        s.no_state,
        bytes,
        t.live_states()
    );
    assert_eq!(s.lost_events, 0);
    assert_eq!(t.live_states(), 0);
    Some((s, bytes, reports))
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn many_files_hash_is_full_at_8192() {
    assert!(
        files() > 8192,
        "IA_FILELIFE_FILES must exceed the map's 8192"
    );
    let (s, bytes, reports) = many(Backend::Hash).unwrap();
    assert_eq!(
        s.created, 8192,
        "preallocated capacity, as libbpf-tools sizes it"
    );
    // Each lost file failed twice: at its creation and at its write.
    assert_eq!(
        s.no_state as usize,
        2 * (files() - 8192),
        "files the hash backend lost"
    );
    assert_eq!(reports, 8192);
    assert!(
        bytes >= 8192 * 40,
        "8192 preallocated entries: {bytes} bytes"
    );
}

#[test]
#[ignore = "issue 15: not run in a VM yet; TEST_ONLY=filelife_ab cargo make test -- --ignored"]
fn many_files_storage_tracks_every_file() {
    let Some((s, bytes, reports)) = many(Backend::Storage) else {
        return;
    };
    assert_eq!(s.created as usize, files());
    assert_eq!(s.no_state, 0);
    assert_eq!(reports, files());
    assert!(
        bytes < 8192 * 40,
        "the storage map holds no element: {bytes} bytes"
    );
}
