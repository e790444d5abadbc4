// SPDX-License-Identifier: GPL-2.0
// Needs the debug variant: kmemleak.

//! Concurrent stress, bounded in time: six threads on the guest's two vCPUs
//! create/open/rename/unlink files on tmpfs and ext4 (the opens run the
//! attached BPF program, which creates addons from atomic context), add and
//! remove inotify watches, get-or-create addons through the ioctl on the
//! same shared inodes, mount/fill/umount a tmpfs with live addons, and
//! drop caches while reading the stats and the self-check (RCU walks of
//! every addons object racing the evictions).
//!
//! Afterwards, quiescent: the self-check is clean, the side table holds
//! exactly the live objects (allocated == freed + live), nothing stale is
//! left once the file systems are gone, rmmod frees everything, and a
//! kmemleak scan lists nothing allocated by the addons code.  KASAN,
//! lockdep and any other kernel report during the run fail the binary
//! (harness).  `IA_STRESS_SECS` changes the duration (default 20 s of
//! workload), `IA_SEED` replays the random choices.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use userspace_test::addons::{embedded, selfcheck, stat, unload_report, Dev, Mount, DEBUGFS};
use userspace_test::bpf::{as_test_thread, Attached};
use userspace_test::notify::Inotify;
use userspace_test::rng::Rng;
use userspace_test::{dmesg_mark, drop_caches, kmemleak_addons_leaks, Module};

/// Names shared by all threads in each directory.
const NAMES: usize = 48;

fn shared(dirs: &[PathBuf], rng: &mut Rng) -> PathBuf {
    dirs[rng.below(dirs.len())].join(format!("s{}", rng.below(NAMES)))
}

/// `Ok` or "not there" (another thread unlinked or renamed it).
fn tolerate<T>(r: std::io::Result<T>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("{what}: {e}"),
    }
}

struct Ctx {
    stop: Arc<AtomicBool>,
    dirs: Vec<PathBuf>,
    dev: Arc<Dev>,
}

impl Ctx {
    fn spawn(
        &self,
        name: &str,
        seed: u64,
        f: impl FnOnce(&AtomicBool, &[PathBuf], &Dev, Rng) -> u64 + Send + 'static,
    ) -> JoinHandle<u64> {
        let (stop, dirs, dev) = (self.stop.clone(), self.dirs.clone(), self.dev.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(&stop, &dirs, &dev, Rng::new(seed)))
            .unwrap()
    }
}

/// Create, open (+ ioctl get-or-create), rename, unlink.  Runs as
/// `ia-bpf-test`: the BPF program creates addons on each open.
fn churn(stop: &AtomicBool, dirs: &[PathBuf], dev: &Dev, mut rng: Rng) -> u64 {
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        let p = shared(dirs, &mut rng);
        match rng.below(5) {
            0 | 1 => {
                if let Some(mut f) = tolerate(File::create(&p), "create") {
                    f.write_all(b"data").unwrap();
                }
            }
            2 => {
                if let Some(f) = tolerate(File::open(&p), "open") {
                    let q = dev
                        .query(f.as_raw_fd(), rng.chance(50))
                        .expect("ioctl on an open file");
                    assert_eq!(q.ino, f.metadata().unwrap().ino());
                }
            }
            3 => {
                let to = p.with_file_name(format!("s{}", rng.below(NAMES)));
                tolerate(fs::rename(&p, to), "rename");
            }
            _ => {
                tolerate(fs::remove_file(&p), "unlink");
            }
        }
        ops += 1;
    }
    ops
}

/// Get-or-create on shared inodes (files and the directories) from a
/// second thread, so that the ioctl races the BPF program, the churn and
/// the shadow probes on the same inodes.
fn getter(stop: &AtomicBool, dirs: &[PathBuf], dev: &Dev, mut rng: Rng) -> u64 {
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        let p = if rng.chance(10) {
            dirs[rng.below(dirs.len())].clone()
        } else {
            shared(dirs, &mut rng)
        };
        if let Some(f) = tolerate(File::open(&p), "open") {
            let q = dev.query(f.as_raw_fd(), true).expect("get-or-create");
            assert_eq!(q.present, 1);
            let again = dev.query(f.as_raw_fd(), false).expect("lookup");
            assert_eq!((again.present, again.created), (1, 0));
        }
        ops += 1;
    }
    ops
}

/// inotify watches added and removed on the shared names and directories.
fn watcher(stop: &AtomicBool, dirs: &[PathBuf], _dev: &Dev, mut rng: Rng) -> u64 {
    let ino = Inotify::new();
    let masks = [
        libc::IN_MODIFY,
        libc::IN_ATTRIB | libc::IN_CLOSE_WRITE,
        libc::IN_OPEN | libc::IN_MASK_ADD,
        libc::IN_CREATE | libc::IN_DELETE,
    ];
    let mut wds = Vec::new();
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        if rng.chance(40) && !wds.is_empty() {
            let wd = wds.swap_remove(rng.below(wds.len()));
            // EINVAL: the watch went away with its inode (IN_IGNORED).
            if let Err(e) = ino.try_rm(wd) {
                assert_eq!(e, libc::EINVAL, "inotify_rm_watch");
            }
        } else {
            let p = if rng.chance(15) {
                dirs[rng.below(dirs.len())].clone()
            } else {
                shared(dirs, &mut rng)
            };
            match ino.try_add(&p, masks[rng.below(masks.len())]) {
                Ok(wd) => wds.push(wd),
                Err(e) => assert_eq!(e, libc::ENOENT, "inotify_add_watch"),
            }
        }
        if ops % 64 == 0 {
            ino.events(); // keep the queue short
        }
        ops += 1;
    }
    ops
}

/// Mount a tmpfs, give its files addons (ioctl, a watch), umount with the
/// addons live.
fn mounter(stop: &AtomicBool, _dirs: &[PathBuf], dev: &Dev, _rng: Rng) -> u64 {
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut m = Mount::tmpfs("stress-umount");
        let ino = Inotify::new();
        for i in 0..8 {
            let p = m.path.join(format!("u{i}"));
            fs::write(&p, "u").unwrap();
            if i % 2 == 0 {
                let f = File::open(&p).unwrap();
                assert_eq!(dev.query(f.as_raw_fd(), true).unwrap().created, 1);
            } else {
                ino.add(&p, libc::IN_MODIFY);
            }
        }
        m.umount();
        ops += 1;
    }
    ops
}

/// drop_caches, and the RCU walks (stats, self-check) racing the
/// evictions.  Not an `ia-bpf-test` thread: its opens create no addons.
fn reaper(stop: &AtomicBool, _dirs: &[PathBuf], _dev: &Dev, _rng: Rng) -> u64 {
    let mut ops = 0;
    let mut buf = String::new();
    while !stop.load(Ordering::Relaxed) {
        drop_caches();
        for f in ["stats", "selfcheck"] {
            buf.clear();
            File::open(format!("{DEBUGFS}/{f}"))
                .unwrap()
                .read_to_string(&mut buf)
                .unwrap();
            assert!(buf.contains(": "), "{f}: {buf}");
        }
        ops += 1;
    }
    ops
}

/// Removes the files of `dir` (ext4's lost+found stays).
fn remove_all(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            fs::remove_file(e.path()).unwrap();
        }
    }
}

#[test]
fn concurrent_churn_keeps_addons_consistent() {
    let secs: u64 = userspace_test::env_num("IA_STRESS_SECS", 20);
    let mut rng = Rng::from_env("stress_concurrent");
    let m = Module::load(&[]).expect("insmod");
    let emb = embedded();
    drop_caches();
    let with0 = stat("inodes_with_addons");
    let (mut tmp, (mut ext, _img)) = (Mount::tmpfs("stress"), Mount::ext4("stress"));
    let dirs = vec![tmp.path.clone(), ext.path.clone()];
    let prog = Attached::load("count_open_kfunc").expect("load and attach");
    let ctx = Ctx {
        stop: Arc::new(AtomicBool::new(false)),
        dirs: dirs.clone(),
        dev: Arc::new(Dev::open()),
    };
    let start = Instant::now();
    let workers: Vec<(&str, JoinHandle<u64>)> = vec![
        ("churn-1", ctx.spawn("ia-bpf-test", rng.next_u64(), churn)),
        ("churn-2", ctx.spawn("ia-bpf-test", rng.next_u64(), churn)),
        ("getter", ctx.spawn("ia-bpf-test", rng.next_u64(), getter)),
        ("watcher", ctx.spawn("ia-watcher", rng.next_u64(), watcher)),
        ("mounter", ctx.spawn("ia-mounter", rng.next_u64(), mounter)),
        ("reaper", ctx.spawn("ia-reaper", rng.next_u64(), reaper)),
    ];
    // The main thread only watches the clock and the workers: a worker
    // that panicked ends the run early.
    while start.elapsed() < Duration::from_secs(secs)
        && workers.iter().all(|(_, h)| !h.is_finished())
    {
        std::thread::park_timeout(Duration::from_millis(200));
    }
    ctx.stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (name, h) in workers {
        let ops = h.join().unwrap_or_else(|_| panic!("{name} panicked"));
        println!("{name}: {ops} iterations");
        assert!(ops > 0, "{name} did nothing");
        total += ops;
    }
    println!("{total} iterations in {:.1?}", start.elapsed());
    // The program is attached and creates addons from the opens of the
    // test threads (read back without bpftool, which is slow under TCG).
    let (probe, dev) = (dirs[0].join("bpf-probe"), ctx.dev.clone());
    let q = as_test_thread(move || {
        let f = File::create(&probe).unwrap();
        dev.query(f.as_raw_fd(), false).unwrap()
    });
    assert_eq!(q.present, 1, "BPF program did not create addons at open");
    let s = userspace_test::addons::stats();
    println!(
        "lost_races {} alloc_failures {} refused_dying {} refused_busy {} shadow_updates {} \
         reuse_violations {} kretprobe missed {:?}",
        s["lost_races"],
        s["alloc_failures"],
        s["refused_dying"],
        s["refused_busy"],
        s["shadow_updates"],
        s["reuse_violations"],
        s.iter()
            .filter(|(k, _)| k.contains("missed"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        s["alloc_failures"], 0,
        "no allocation may fail without injection"
    );

    // Quiescent now: shadows exact, side table == live objects.
    let sc = selfcheck();
    assert_eq!(sc.mismatches, 0, "{sc:?}");
    if !emb {
        assert_eq!(stat("addons_live"), stat("inodes_with_addons"));
        assert_eq!(stat("reuse_violations"), 0);
    }
    // Everything of the test's file systems goes with them.
    drop(prog);
    remove_all(&dirs[0]);
    remove_all(&dirs[1]);
    drop_caches();
    tmp.umount();
    ext.umount();
    drop_caches();
    assert_eq!(
        stat("inodes_with_addons"),
        with0,
        "stale addons after umount"
    );
    if !emb {
        assert_eq!(stat("addons_live"), with0);
    }
    drop(ctx);
    // `Module::unload` waits for the program's reference on the module.
    let mark = dmesg_mark();
    m.unload().expect("rmmod");
    let (_, allocated, freed) = unload_report(mark);
    if !emb {
        assert_eq!(allocated, freed, "leak at unload");
    }
    let leaks = kmemleak_addons_leaks();
    assert!(leaks.is_empty(), "kmemleak: {leaks:#?}");
}
