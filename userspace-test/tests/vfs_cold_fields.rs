// SPDX-License-Identifier: GPL-2.0

//! The VFS behaviour behind the `struct inode` fields that flavor
//! `addons-cold` moves into the inode addons (patches 0009-0011), asserted
//! on every flavor: stock must pass them as it is, and a flavor that moved a
//! field must behave the same.
//!
//! - `i_flctx` (0009: in the addons, behind `IOP_FLCTX`): flock, POSIX,
//!   OFD locks and leases conflict while held and are gone after the close
//!   that must release them.  close() finds them only through
//!   `locks_inode_context()`, i.e. through the flag: a lost or unpublished
//!   flag leaves a lock behind, which the next locker sees.
//! - `i_devices` (0010: in the addons): character device nodes opened,
//!   several per device, then unlinked and evicted (`cd_forget()` unlinks
//!   them from the device's list) and opened again.
//! - `dirtied_time_when` (0011: 32 bits): timestamps dirtied under
//!   `lazytime` reach the disk by sync and umount.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use userspace_test::addons::Mount;
use userspace_test::{cstr, drop_caches, require_vm, run_ok};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn flock(f: &File, op: i32) -> Result<(), i32> {
    // SAFETY: flock() on a descriptor `f` owns.
    match unsafe { libc::flock(f.as_raw_fd(), op) } {
        0 => Ok(()),
        _ => Err(errno()),
    }
}

/// A whole-file write lock request (or a query) for fcntl().
fn whole_file(kind: i32) -> libc::flock {
    // SAFETY: `struct flock` is plain data; all-zero is a valid value.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l
}

/// fcntl(`cmd`) with a whole-file lock of `kind`; the lock as the kernel
/// returned it (for the GETLK commands).
fn fcntl_lock(f: &File, cmd: i32, kind: i32) -> Result<libc::flock, i32> {
    let mut l = whole_file(kind);
    // SAFETY: fcntl() with a lock command and a valid `struct flock`.
    match unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut l) } {
        -1 => Err(errno()),
        _ => Ok(l),
    }
}

/// The lines of /proc/locks for the inode of `path`.
fn proc_locks_of(path: &Path) -> Vec<String> {
    let ino = fs::metadata(path).expect("stat").ino();
    let suffix = format!(":{ino}");
    fs::read_to_string("/proc/locks")
        .expect("read /proc/locks")
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .any(|f| f.ends_with(&suffix) && f.matches(':').count() == 2)
        })
        .map(str::to_owned)
        .collect()
}

/// mtime of `path`, seconds and nanoseconds, from one stat().
fn mtime_of(path: &Path) -> (i64, i64) {
    let m = fs::metadata(path).expect("stat");
    (m.mtime(), m.mtime_nsec())
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open")
}

/// flock: a second open file description conflicts until the first is
/// closed (`locks_remove_file()` from `__fput()`).
fn flock_on(dir: &Path) {
    let path = dir.join("flock");
    let a = open_rw(&path);
    let b = open_rw(&path);
    flock(&a, libc::LOCK_EX).expect("flock a");
    assert_eq!(
        flock(&b, libc::LOCK_EX | libc::LOCK_NB),
        Err(libc::EWOULDBLOCK),
        "b must conflict with a's lock"
    );
    let held = proc_locks_of(&path);
    assert!(
        held.iter().any(|l| l.contains("FLOCK")),
        "/proc/locks while held: {held:?}"
    );
    drop(a);
    flock(&b, libc::LOCK_EX | libc::LOCK_NB).expect("flock b after a's close");
    drop(b);
    let left = proc_locks_of(&path);
    assert!(left.is_empty(), "/proc/locks after both closes: {left:?}");
}

/// POSIX locks belong to the process and go with the close of *any* of its
/// descriptors of the file (`locks_remove_posix()` from `filp_flush()`); an
/// OFD query from another open file description sees them meanwhile.
fn posix_on(dir: &Path) {
    let path = dir.join("posix");
    let holder = open_rw(&path);
    let observer = open_rw(&path);
    fcntl_lock(&holder, libc::F_SETLK, libc::F_WRLCK).expect("F_SETLK");
    let seen = fcntl_lock(&observer, libc::F_OFD_GETLK, libc::F_WRLCK).expect("F_OFD_GETLK");
    assert_eq!(
        i32::from(seen.l_type),
        libc::F_WRLCK,
        "the POSIX lock seen from another open file description"
    );
    assert_eq!(seen.l_pid, std::process::id() as libc::pid_t);
    // Another descriptor of the same file, opened and closed: POSIX says
    // the process's locks on the file are gone.
    drop(open_rw(&path));
    let seen = fcntl_lock(&observer, libc::F_OFD_GETLK, libc::F_WRLCK).expect("F_OFD_GETLK");
    assert_eq!(
        i32::from(seen.l_type),
        libc::F_UNLCK,
        "the close of another descriptor must release the POSIX lock"
    );
    drop(holder);
    drop(observer);
    let left = proc_locks_of(&path);
    assert!(left.is_empty(), "/proc/locks after the closes: {left:?}");
}

/// OFD locks belong to the open file description and go with its last
/// close.
fn ofd_on(dir: &Path) {
    let path = dir.join("ofd");
    let a = open_rw(&path);
    let b = open_rw(&path);
    fcntl_lock(&a, libc::F_OFD_SETLK, libc::F_WRLCK).expect("F_OFD_SETLK a");
    assert_eq!(
        fcntl_lock(&b, libc::F_OFD_SETLK, libc::F_WRLCK).map(|_| ()),
        Err(libc::EAGAIN),
        "b must conflict with a's OFD lock"
    );
    let dup = a.try_clone().expect("dup"); // the same open file description
    drop(a);
    assert_eq!(
        fcntl_lock(&b, libc::F_OFD_SETLK, libc::F_WRLCK).map(|_| ()),
        Err(libc::EAGAIN),
        "the lock stays while a duplicate of a's description is open"
    );
    drop(dup);
    fcntl_lock(&b, libc::F_OFD_SETLK, libc::F_WRLCK).expect("F_OFD_SETLK b after a's last close");
    drop(b);
    assert!(proc_locks_of(&path).is_empty());
}

/// A read lease is listed while held and gone after the close.
fn lease_on(dir: &Path) {
    let path = dir.join("lease");
    fs::write(&path, b"lease").expect("create");
    let f = File::open(&path).expect("open read-only");
    // SAFETY: fcntl() lease commands on a descriptor `f` owns.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) };
    assert_eq!(r, 0, "F_SETLEASE: errno {}", errno());
    // SAFETY: as above.
    let kind = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLEASE) };
    assert_eq!(kind, libc::F_RDLCK, "F_GETLEASE");
    let held = proc_locks_of(&path);
    assert!(
        held.iter().any(|l| l.contains("LEASE")),
        "/proc/locks while held: {held:?}"
    );
    drop(f);
    let left = proc_locks_of(&path);
    assert!(left.is_empty(), "/proc/locks after the close: {left:?}");
}

fn all_lock_kinds_on(dir: &Path) {
    flock_on(dir);
    posix_on(dir);
    ofd_on(dir);
    lease_on(dir);
}

#[test]
fn file_locks_on_tmpfs() {
    require_vm();
    let mnt = Mount::tmpfs("cold-locks");
    all_lock_kinds_on(&mnt.path);
}

#[test]
fn file_locks_on_ext4() {
    require_vm();
    let (mnt, _backing) = Mount::ext4("cold-locks-ext4");
    all_lock_kinds_on(&mnt.path);
}

/// Locked inodes evicted and their objects reused: every new file starts
/// without a lock context (and on addons-cold without `IOP_FLCTX`), so the
/// first lock on it must not conflict with a lock of a dead file.
#[test]
fn lock_contexts_freed_with_their_inodes() {
    require_vm();
    let mnt = Mount::tmpfs("cold-evict");
    for round in 0..3 {
        let files: Vec<_> = (0..200)
            .map(|i| mnt.path.join(format!("r{round}-{i}")))
            .collect();
        let open: Vec<File> = files.iter().map(|p| open_rw(p)).collect();
        for f in &open {
            flock(f, libc::LOCK_EX | libc::LOCK_NB).expect("flock a new file");
            fcntl_lock(f, libc::F_SETLK, libc::F_WRLCK).expect("F_SETLK a new file");
        }
        drop(open);
        for p in &files {
            assert!(proc_locks_of(p).is_empty(), "{} still locked", p.display());
            fs::remove_file(p).expect("unlink");
        }
        drop_caches();
    }
}

/// Character device nodes (`i_devices`, `i_cdev`): several nodes of one
/// device opened together, closed, unlinked, evicted, and new nodes opened
/// again; each still reaches its driver.
#[test]
fn char_device_nodes_opened_evicted_reopened() {
    require_vm();
    let mut mnt = Mount::tmpfs("cold-cdev");
    for round in 0..3 {
        let mut nodes = Vec::new();
        for i in 0..8 {
            for (name, minor) in [("null", 3), ("zero", 5)] {
                let p = mnt.path.join(format!("{name}-{round}-{i}"));
                let c = cstr(&p);
                // SAFETY: valid NUL-terminated path; makedev of mem's minors.
                let r = unsafe {
                    libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, minor))
                };
                assert_eq!(r, 0, "mknod {}: errno {}", p.display(), errno());
                nodes.push((p, minor));
            }
        }
        let open: Vec<(File, u32)> = nodes
            .iter()
            .map(|(p, minor)| (open_rw(p), *minor))
            .collect();
        for (mut f, minor) in open {
            if minor == 5 {
                let mut buf = [0xffu8; 64];
                f.read_exact(&mut buf).expect("read /dev/zero");
                assert!(buf.iter().all(|&b| b == 0), "zero reads zeros");
            } else {
                f.write_all(b"discarded").expect("write /dev/null");
                let mut buf = [0u8; 8];
                assert_eq!(
                    f.read(&mut buf).expect("read /dev/null"),
                    0,
                    "null is empty"
                );
            }
        }
        for (p, _) in &nodes {
            fs::remove_file(p).expect("unlink node");
        }
        drop_caches();
    }
    mnt.umount();
}

/// Timestamps dirtied under lazytime (`I_DIRTY_TIME`, stamped with
/// `dirtied_time_when`) reach the disk with sync and umount.
#[test]
fn lazytime_timestamps_reach_the_disk() {
    require_vm();
    let (mut mnt, backing) = Mount::ext4("cold-lazytime");
    let at = mnt.path.to_str().unwrap().to_owned();
    run_ok("mount", &["-o", "remount,lazytime", &at]);
    let opts = fs::read_to_string("/proc/mounts").expect("/proc/mounts");
    assert!(
        opts.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(at.as_str()) && l.contains("lazytime")),
        "lazytime mount: {opts}"
    );
    let path = mnt.path.join("f");
    let mut f = open_rw(&path);
    f.write_all(b"first").expect("write");
    f.sync_all().expect("fsync");
    let before = mtime_of(&path);
    // A later write dirties only the timestamps (lazytime): no fsync.
    let mut after = before;
    for _ in 0..1000 {
        f.write_all(b"x").expect("write");
        after = mtime_of(&path);
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "the writes must change mtime");
    drop(f);
    run_ok("sync", &[]);
    mnt.umount();
    let img = backing.path.join("fs.img");
    run_ok("mount", &["-o", "loop", img.to_str().unwrap(), &at]);
    assert_eq!(
        mtime_of(&path),
        after,
        "the lazytime mtime after umount and mount"
    );
    run_ok("umount", &[&at]);
}
