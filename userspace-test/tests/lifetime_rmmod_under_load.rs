// SPDX-License-Identifier: GPL-2.0

//! rmmod while the workload runs.
//!
//! The decision: **refuse while referenced, drain otherwise.**  Whatever can
//! call into the module from user space holds a module reference: an open
//! `/dev/inode_addons` (misc device fops owner), an open debugfs file
//! (debugfs takes the owner's reference at open), a loaded BPF program
//! calling its kfuncs (module BTF reference).  rmmod then fails with
//! EAGAIN/EWOULDBLOCK (EBUSY for an older kmod path).  Without references
//! rmmod drains: the probes are unregistered (waiting for running
//! handlers), the side table's entries freed, and RCU callbacks flushed,
//! while files keep being created, watched and unlinked around it.
//!
//! First the refusals, one per kind of reference; then a bounded loop of
//! rmmod attempts and reloads with threads using the device, the debugfs
//! files and the probed paths: each attempt is refused or unloads cleanly
//! (allocated == freed on the side table), each reload works, and at least
//! one unload happens under load.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use userspace_test::addons::{unload_report, Query, DEBUGFS, DEV, IOC_QUERY, QUERY_CREATE};
use userspace_test::bpf::Attached;
use userspace_test::notify::Inotify;
use userspace_test::{dmesg_mark, module_loaded, module_path, require_vm, wait_module_released};

fn memfd_with_module() -> OwnedFd {
    let ko = fs::read(module_path()).expect("read the module");
    let name = CString::new("inode_addons.ko").unwrap();
    // SAFETY: valid C string.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = File::from(fd.try_clone().unwrap());
    std::io::Write::write_all(&mut f, &ko).unwrap();
    fd
}

fn load(ko: &OwnedFd) {
    // SAFETY: a valid descriptor and an empty parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
    assert_eq!(r, 0, "finit_module: {}", std::io::Error::last_os_error());
}

/// delete_module(O_NONBLOCK): Ok, or the errno.
fn unload() -> Result<(), i32> {
    // SAFETY: valid C string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"inode_addons".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    }
}

fn assert_refused(what: &str) {
    let r = unload();
    assert!(
        r == Err(libc::EAGAIN) || r == Err(libc::EBUSY),
        "rmmod with {what}: {r:?}"
    );
    assert!(module_loaded("inode_addons"));
}

/// Opening a file of the module while it may be going away: ENOENT (gone),
/// ENODEV/ENXIO (going).
fn open_module_file(path: &str) -> Option<File> {
    match File::open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            let errno = e.raw_os_error().unwrap();
            assert!(
                [libc::ENOENT, libc::ENODEV, libc::ENXIO].contains(&errno),
                "open {path}: {e}"
            );
            None
        }
    }
}

/// The workload threads: stopped and joined on drop, and then, if the test
/// failed half-way, the module unloaded, so that the next test binary does
/// not inherit it.
struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            if t.join().is_err() && !std::thread::panicking() {
                panic!("a worker panicked");
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() && module_loaded("inode_addons") {
            let _ = unload();
        }
    }
}

#[test]
fn rmmod_refused_while_referenced_drained_otherwise() {
    require_vm();
    assert!(
        !module_loaded("inode_addons"),
        "an earlier test leaked the module"
    );
    let ko = memfd_with_module();
    let mnt = userspace_test::addons::Mount::tmpfs("rmmod-load");
    let target = mnt.path.join("t");
    fs::write(&target, "t").unwrap();

    // Refusals, one per kind of reference.
    load(&ko);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Workers {
        stop: stop.clone(),
        threads: Vec::new(),
    };
    {
        let _dev = File::open(DEV).unwrap();
        assert_refused("/dev/inode_addons open");
    }
    {
        let _stats = File::open(format!("{DEBUGFS}/stats")).unwrap();
        assert_refused("debugfs stats open");
    }
    {
        let prog = Attached::load("count_open_kfunc").expect("load and attach");
        assert_refused("a BPF program using the kfuncs");
        drop(prog);
    }
    // bpffs releases the program asynchronously: then the reference goes.
    assert_eq!(
        wait_module_released(Duration::from_secs(20)),
        0,
        "reference kept after the program went"
    );

    // rmmod attempts against a running workload.
    let queries = Arc::new(AtomicU64::new(0));
    {
        // Files created, watched, unlinked: the probed paths (side table).
        let (stop, dir) = (stop.clone(), mnt.path.clone());
        workers.threads.push(std::thread::spawn(move || {
            let ino = Inotify::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let p = dir.join(format!("c{}", i % 16));
                fs::write(&p, "x").unwrap();
                let wd = ino.add(&p, libc::IN_MODIFY);
                fs::write(&p, "y").unwrap();
                if i.is_multiple_of(2) {
                    ino.rm(wd);
                }
                fs::remove_file(&p).unwrap();
                ino.events();
                if i.is_multiple_of(8) {
                    userspace_test::drop_caches();
                }
                i += 1;
            }
        }));
    }
    {
        // The device: open, get-or-create, close (a reference per open).
        let (stop, queries, target) = (stop.clone(), queries.clone(), target.clone());
        workers.threads.push(std::thread::spawn(move || {
            let f = File::open(&target).unwrap();
            while !stop.load(Ordering::Relaxed) {
                std::thread::yield_now();
                let Some(dev) = open_module_file(DEV) else {
                    continue;
                };
                let mut q = Query {
                    fd: f.as_raw_fd(),
                    flags: QUERY_CREATE,
                    ..Default::default()
                };
                // SAFETY: a valid `Query` for the command.
                let r = unsafe { libc::ioctl(dev.as_raw_fd(), IOC_QUERY as _, &mut q) };
                assert_eq!(
                    r,
                    0,
                    "ioctl with the device open: {}",
                    std::io::Error::last_os_error()
                );
                assert_eq!(q.present, 1);
                queries.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // debugfs readers (the stats walk the addons).
        let stop = stop.clone();
        workers.threads.push(std::thread::spawn(move || {
            let mut s = String::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::yield_now();
                if let Some(mut f) = open_module_file(&format!("{DEBUGFS}/stats")) {
                    s.clear();
                    f.read_to_string(&mut s).expect("read stats while open");
                }
            }
        }));
    }
    let start = Instant::now();
    let (mut refused, mut unloaded) = (0u32, 0u32);
    while start.elapsed() < Duration::from_secs(25) || unloaded < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no unload in 120 s ({refused} refused)"
        );
        let mark = dmesg_mark();
        match unload() {
            Ok(()) => {
                unloaded += 1;
                assert!(!module_loaded("inode_addons"));
                let (drained, allocated, freed) = unload_report(mark);
                let line = userspace_test::dmesg_since(mark).join("\n");
                if !line.contains("owned by the kernel") {
                    assert_eq!(allocated, freed, "side table leak (drained {drained})");
                }
                assert!(!line.contains("leaked"), "{line}");
                load(&ko);
            }
            Err(e) => {
                assert!(e == libc::EAGAIN || e == libc::EBUSY, "rmmod: errno {e}");
                refused += 1;
            }
        }
    }
    workers.stop();
    println!(
        "rmmod under load: {unloaded} unloads + reloads, {refused} refused (busy), {} ioctls, {:.1?}",
        queries.load(Ordering::Relaxed),
        start.elapsed()
    );
    assert!(queries.load(Ordering::Relaxed) > 0);
    let mark = dmesg_mark();
    unload().expect("final rmmod");
    let (_, allocated, freed) = unload_report(mark);
    let line = userspace_test::dmesg_since(mark).join("\n");
    if !line.contains("owned by the kernel") {
        assert_eq!(allocated, freed);
    }
}
