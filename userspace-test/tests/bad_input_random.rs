// SPDX-License-Identifier: GPL-2.0
// Needs the debug variant: kmemleak.

//! A bounded, seeded random-input loop over every user-facing interface of
//! the module: the ioctl (any command number, size and direction bits,
//! flags, file descriptors of every kind, valid, NULL, kernel, unmapped,
//! read-only and page-straddling pointers), the debugfs control file
//! (garbage, binary, NUL-embedded, empty and oversize writes, bad buffers),
//! reads of the debugfs files at random offsets and sizes, and read/write
//! on the misc device.  Each call's result is predicted from the documented
//! interface (module/README.md) and must match exactly; afterwards the
//! addons created are exactly those of the accepted get-or-creates, and
//! unloading frees everything.
//!
//! The kfunc arguments are checked by the verifier, not at run time: a
//! possibly-NULL inode, an out-of-range scratch size and a sleepable
//! caller are rejected at load (`tests/bpf_verdicts.rs`).
//!
//! `IA_SEED` replays a run; `IA_ITERATIONS` changes the count (2000).

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use userspace_test::addons::{
    embedded, stat, unload_report, Dev, Mount, Query, DEBUGFS, DEV, IOC_QUERY, QUERY_CREATE,
};
use userspace_test::rng::Rng;
use userspace_test::{dmesg_mark, kmemleak_addons_leaks, Module};

/// What the ioctl should do with an fd.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Not an open file (or an O_PATH one, which fdget() does not accept).
    Bad,
    /// Open, but neither a regular file nor a directory.
    WrongType,
    /// A regular file or a directory: accepted.
    Ok,
}

struct Target {
    name: &'static str,
    fd: RawFd,
    kind: Kind,
    /// (st_dev, st_ino) of an accepted one.
    id: Option<(u64, u64)>,
}

fn raw(fd: i32, what: &str) -> RawFd {
    assert!(fd >= 0, "{what}: {}", std::io::Error::last_os_error());
    fd
}

fn open_raw(path: &str, flags: i32) -> RawFd {
    let c = CString::new(path).unwrap();
    // SAFETY: valid C string.
    raw(
        unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) },
        path,
    )
}

fn targets(mnt: &Mount) -> Vec<Target> {
    let file = mnt.path.join("f");
    fs::write(&file, "x").unwrap();
    let link = mnt.path.join("l");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (f, d, l) = (
        file.to_str().unwrap().to_owned(),
        mnt.path.to_str().unwrap().to_owned(),
        link.to_str().unwrap().to_owned(),
    );
    let mut p = [0; 2];
    // SAFETY: valid array for two fds.
    raw(
        unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) },
        "pipe",
    );
    let memfd_name = CString::new("ia-memfd").unwrap();
    // A descriptor number that was open and is closed now, above any the
    // test opens (the lowest free number is always taken first).
    let tmp = open_raw("/dev/null", libc::O_RDONLY);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let high = (lim.rlim_cur.min(1 << 20) - 1) as i32;
    // SAFETY: no pointer arguments; both descriptors are ours.
    let closed = raw(
        unsafe { libc::fcntl(tmp, libc::F_DUPFD_CLOEXEC, high) },
        "dup",
    );
    // SAFETY: our own descriptors.
    unsafe {
        libc::close(closed);
        libc::close(tmp);
    }
    // SAFETY: no pointer arguments.
    let sock = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
    // SAFETY: no pointer arguments.
    let efd = unsafe { libc::eventfd(0, 0) };
    // SAFETY: no pointer arguments.
    let epfd = unsafe { libc::epoll_create1(0) };
    // SAFETY: valid C string.
    let memfd = unsafe { libc::memfd_create(memfd_name.as_ptr(), libc::MFD_CLOEXEC) };
    let t = vec![
        ("negative", -1, Kind::Bad),
        ("huge", 1_000_000, Kind::Bad),
        ("closed", closed, Kind::Bad),
        ("O_PATH file", open_raw(&f, libc::O_PATH), Kind::Bad),
        (
            "O_PATH symlink",
            open_raw(&l, libc::O_PATH | libc::O_NOFOLLOW),
            Kind::Bad,
        ),
        ("pipe", p[0], Kind::WrongType),
        ("pipe write end", p[1], Kind::WrongType),
        ("socket", raw(sock, "socket"), Kind::WrongType),
        ("eventfd", raw(efd, "eventfd"), Kind::WrongType),
        ("epoll", raw(epfd, "epoll"), Kind::WrongType),
        (
            "/dev/null",
            open_raw("/dev/null", libc::O_RDWR),
            Kind::WrongType,
        ),
        ("the device", open_raw(DEV, libc::O_RDONLY), Kind::WrongType),
        ("regular file", open_raw(&f, libc::O_RDONLY), Kind::Ok),
        (
            "directory",
            open_raw(&d, libc::O_RDONLY | libc::O_DIRECTORY),
            Kind::Ok,
        ),
        (
            "procfs file",
            open_raw("/proc/self/status", libc::O_RDONLY),
            Kind::Ok,
        ),
        (
            "debugfs file",
            open_raw(&format!("{DEBUGFS}/stats"), libc::O_RDONLY),
            Kind::Ok,
        ),
        ("memfd", raw(memfd, "memfd"), Kind::Ok),
    ];
    t.into_iter()
        .map(|(name, fd, kind)| {
            let id = (kind == Kind::Ok).then(|| {
                // SAFETY: an open descriptor; `st` is written by the call.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
                (st.st_dev, st.st_ino)
            });
            Target { name, fd, kind, id }
        })
        .collect()
}

/// Three pages: read-write, inaccessible, read-only.
struct Pages(*mut u8, usize);

impl Pages {
    fn new() -> Pages {
        // SAFETY: sysconf has no pointer arguments.
        let ps = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: a fresh anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                3 * ps,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: pages of the mapping above.
        unsafe {
            assert_eq!(
                libc::mprotect(p.cast::<u8>().add(ps).cast(), ps, libc::PROT_NONE),
                0
            );
        }
        Pages(p.cast(), ps)
    }

    /// Puts `q` at `off` bytes into the read-only page (made writable for
    /// the copy); returns its address.
    fn read_only(&self, q: &Query) -> usize {
        let ro = self.0.wrapping_add(2 * self.1);
        // SAFETY: the third page of our mapping; the copy fits in it.
        unsafe {
            assert_eq!(
                libc::mprotect(ro.cast(), self.1, libc::PROT_READ | libc::PROT_WRITE),
                0
            );
            std::ptr::write_unaligned(ro.cast::<Query>(), *q);
            assert_eq!(libc::mprotect(ro.cast(), self.1, libc::PROT_READ), 0);
        }
        ro as usize
    }

    /// A query straddling the end of the first page.
    fn straddling(&self, q: &Query) -> usize {
        let half = std::mem::size_of::<Query>() / 2;
        let p = self.0.wrapping_add(self.1 - half);
        // SAFETY: the first `half` bytes are in the first page.
        unsafe { std::ptr::copy_nonoverlapping((q as *const Query).cast::<u8>(), p, half) };
        p as usize
    }

    fn inaccessible(&self) -> usize {
        self.0 as usize + self.1
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: our mapping.
        unsafe { libc::munmap(self.0.cast(), 3 * self.1) };
    }
}

/// ioctl type bytes the VFS handles itself before the driver (FIOCLEX,
/// FIONBIO, FIFREEZE, FS_IOC_*, FIGETBSZ, FICLONE, FS_IOC_GETFSUUID): a
/// random command must not be one of those.
const VFS_TYPES: [u64; 6] = [0x00, 0x54, 0x58, 0x66, 0x94, 0x15];

fn errno_of(r: isize) -> Result<isize, i32> {
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(r)
    }
}

/// What the control file accepts: "selfcheck", optionally with one
/// trailing newline, as a C string (the buffer is cut at its first NUL).
fn control_accepts(data: &[u8]) -> bool {
    if data.is_empty() || data.len() >= 32 {
        return false;
    }
    let s = data.split(|b| *b == 0).next().unwrap();
    s == b"selfcheck" || s == b"selfcheck\n"
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => 31 + rng.below(3),
        2 => 4096,
        3 => 1 << 16,
        _ => rng.below(40),
    };
    let base: &[u8] = b"selfcheck\n";
    match rng.below(4) {
        // Mutations of the one valid command.
        0 => {
            let mut v = base[..rng.below(base.len() + 1)].to_vec();
            if rng.chance(50) {
                v.push(rng.next_u64() as u8);
            }
            if rng.chance(30) {
                v.extend_from_slice(b"\0junk");
            }
            v
        }
        1 => (0..len).map(|_| b' ' + (rng.below(95) as u8)).collect(),
        _ => (0..len).map(|_| rng.next_u64() as u8).collect(),
    }
}

#[test]
fn random_bad_input_gets_defined_errors() {
    let iterations: usize = userspace_test::env_num("IA_ITERATIONS", 2000);
    let mut rng = Rng::from_env("bad_input_random");
    let m = Module::load(&[]).expect("insmod");
    let mnt = Mount::tmpfs("badinput");
    let tg = targets(&mnt);
    let dev = Dev::open();
    let control = OpenOptions::new()
        .write(true)
        .open(format!("{DEBUGFS}/control"))
        .unwrap();
    let readable: Vec<File> = ["stats", "selfcheck"]
        .iter()
        .map(|f| File::open(format!("{DEBUGFS}/{f}")).unwrap())
        .collect();
    let devrw = OpenOptions::new().read(true).write(true).open(DEV).unwrap();
    let pages = Pages::new();
    let with0 = stat("inodes_with_addons");
    let fail0 = stat("alloc_failures");
    let mut created: HashSet<(u64, u64)> = HashSet::new();
    let mut tally = std::collections::BTreeMap::<String, u32>::new();

    for it in 0..iterations {
        let ctx = |what: &str| format!("iteration {it}: {what}");
        match rng.below(10) {
            0..=4 => {
                // The ioctl.
                let t = &tg[rng.below(tg.len())];
                let flags = match rng.below(4) {
                    0 => 0,
                    1 => QUERY_CREATE,
                    2 => 1u32 << rng.below(32),
                    _ => rng.next_u64() as u32,
                };
                let q = Query {
                    fd: t.fd,
                    flags,
                    ..Default::default()
                };
                let cmd = if rng.chance(70) {
                    IOC_QUERY
                } else {
                    let mut c = rng.next_u64() & 0xffff_ffff;
                    if VFS_TYPES.contains(&((c >> 8) & 0xff)) {
                        c = (c & !0xff00) | 0xa100;
                    }
                    if c == IOC_QUERY {
                        c ^= 1 << 16;
                    }
                    c
                };
                let mut local = q;
                let (arg, ptr_kind) = match rng.below(8) {
                    0 => (0usize, "NULL"),
                    1 => (16, "low"),
                    2 => (0xffff_8880_0000_0000, "kernel"),
                    3 => (pages.inaccessible(), "PROT_NONE"),
                    4 => (pages.straddling(&q), "straddling"),
                    5 => (pages.read_only(&q), "read-only"),
                    _ => (&mut local as *mut Query as usize, "valid"),
                };
                let r = dev.ioctl_raw(cmd, arg);
                // The model, in the order the module checks.
                let readable_ptr = matches!(ptr_kind, "valid" | "read-only");
                let expect = if cmd != IOC_QUERY {
                    Err(libc::ENOTTY)
                } else if !readable_ptr {
                    Err(libc::EFAULT)
                } else if flags & !QUERY_CREATE != 0 {
                    Err(libc::EINVAL)
                } else if t.kind == Kind::Bad {
                    Err(libc::EBADF)
                } else if t.kind == Kind::WrongType {
                    Err(libc::EINVAL)
                } else if ptr_kind == "read-only" {
                    Err(libc::EFAULT)
                } else {
                    Ok(())
                };
                assert_eq!(
                    r,
                    expect,
                    "{}",
                    ctx(&format!(
                        "ioctl {cmd:#x} on {} flags {flags:#x} ptr {ptr_kind}",
                        t.name
                    ))
                );
                if cmd == IOC_QUERY && readable_ptr && flags == QUERY_CREATE && t.kind == Kind::Ok {
                    // Created before the copy back, even if that failed.
                    created.insert(t.id.unwrap());
                }
                if r == Ok(()) {
                    assert_eq!(local.fd, t.fd);
                    assert_eq!(
                        local.present,
                        (flags == QUERY_CREATE || created.contains(&t.id.unwrap())) as u32
                    );
                }
                *tally.entry(format!("ioctl {:?}", expect)).or_default() += 1;
            }
            5..=7 => {
                // The control file.
                let data = random_bytes(&mut rng);
                let (ptr, bad_ptr) = if !data.is_empty() && rng.chance(10) {
                    (pages.inaccessible() as *const u8, true)
                } else {
                    (data.as_ptr(), false)
                };
                // SAFETY: `ptr` is our buffer of `data.len()` bytes, or a
                // bad address on purpose (the kernel checks it).
                let r =
                    errno_of(unsafe { libc::write(control.as_raw_fd(), ptr.cast(), data.len()) });
                let expect = if data.is_empty() || data.len() >= 32 {
                    Err(libc::EINVAL)
                } else if bad_ptr {
                    Err(libc::EFAULT)
                } else if control_accepts(&data) {
                    Ok(data.len() as isize)
                } else {
                    Err(libc::EINVAL)
                };
                assert_eq!(
                    r,
                    expect,
                    "{}",
                    ctx(&format!(
                        "control write {:?}",
                        String::from_utf8_lossy(&data[..data.len().min(40)])
                    ))
                );
                *tally
                    .entry(format!("control {:?}", expect.map(|_| "ok")))
                    .or_default() += 1;
            }
            8 => {
                // debugfs reads at random offsets and sizes.
                let f = &readable[rng.below(readable.len())];
                let mut buf = vec![0u8; 1 + rng.below(8192)];
                let off = rng.below(3000) as i64;
                // SAFETY: `buf` is valid for its length.
                let r = errno_of(unsafe {
                    libc::pread(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off)
                });
                let n = r.unwrap_or_else(|e| panic!("{}", ctx(&format!("pread: errno {e}"))));
                assert!(n as usize <= buf.len());
                *tally.entry("debugfs read".into()).or_default() += 1;
            }
            _ => {
                // The device has no read or write.
                let mut buf = [0u8; 64];
                let r = if rng.chance(50) {
                    // SAFETY: `buf` is valid for its length.
                    errno_of(unsafe {
                        libc::read(devrw.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                    })
                } else {
                    // SAFETY: as above.
                    errno_of(unsafe {
                        libc::write(devrw.as_raw_fd(), buf.as_ptr().cast(), buf.len())
                    })
                };
                assert_eq!(r, Err(libc::EINVAL), "{}", ctx("read/write on the device"));
                *tally.entry("device read/write".into()).or_default() += 1;
            }
        }
    }
    println!("{iterations} calls: {tally:?}");
    // Exactly the accepted creations made addons.
    for t in tg.iter().filter(|t| t.kind == Kind::Ok) {
        let q = dev.query(t.fd, false).unwrap();
        assert_eq!(
            q.present == 1,
            created.contains(&t.id.unwrap()),
            "{}",
            t.name
        );
    }
    assert_eq!(stat("inodes_with_addons") - with0, created.len() as i64);
    assert_eq!(stat("alloc_failures"), fail0);
    for t in tg
        .iter()
        .filter(|t| !["negative", "huge", "closed"].contains(&t.name))
    {
        // SAFETY: our own descriptors.
        unsafe { libc::close(t.fd) };
    }
    drop((dev, control, readable, devrw));
    let emb = embedded();
    let mark = dmesg_mark();
    m.unload().expect("rmmod");
    let (_, allocated, freed) = unload_report(mark);
    if !emb {
        assert_eq!(allocated, freed);
    }
    let leaks = kmemleak_addons_leaks();
    assert!(leaks.is_empty(), "kmemleak: {leaks:#?}");
}
