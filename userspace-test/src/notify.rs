// SPDX-License-Identifier: GPL-2.0

//! inotify, fanotify and dnotify from the test's side: set watches, then read
//! back exactly the events the kernel queued.
//!
//! inotify and fanotify queue an event before the system call that caused it
//! returns (close_write too: the final fput runs as task work before the
//! return to user space), so a non-blocking read right after the operation
//! sees everything; no waiting is involved.

use crate::cstr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn check(r: libc::c_int, what: &str) -> libc::c_int {
    assert!(r >= 0, "{what}: {}", io::Error::last_os_error());
    r
}

/// One inotify event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InEvent {
    /// Watch descriptor.
    pub wd: i32,
    /// `IN_*` bits.
    pub mask: u32,
    /// Pairs IN_MOVED_FROM with IN_MOVED_TO.
    pub cookie: u32,
    /// Name in the watched directory, if any.
    pub name: String,
}

/// A non-blocking inotify instance.
pub struct Inotify(OwnedFd);

impl Default for Inotify {
    fn default() -> Self {
        Self::new()
    }
}

impl Inotify {
    /// `inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`.
    pub fn new() -> Inotify {
        // SAFETY: plain system call; the returned fd is owned from here on.
        let fd = check(
            unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) },
            "inotify_init1",
        );
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Inotify(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `inotify_add_watch()`.
    pub fn add(&self, path: &Path, mask: u32) -> i32 {
        let p = cstr(path);
        // SAFETY: `p` is a valid C string for the duration of the call.
        check(
            unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), p.as_ptr(), mask) },
            "inotify_add_watch",
        )
    }

    /// `inotify_add_watch()`, returning the errno on failure.
    pub fn try_add(&self, path: &Path, mask: u32) -> Result<i32, i32> {
        let p = cstr(path);
        // SAFETY: `p` is a valid C string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), p.as_ptr(), mask) };
        if wd < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(wd)
        }
    }

    /// `inotify_rm_watch()`.
    pub fn rm(&self, wd: i32) {
        // SAFETY: plain system call on our own descriptor.
        check(
            unsafe { libc::inotify_rm_watch(self.0.as_raw_fd(), wd) },
            "inotify_rm_watch",
        );
    }

    /// `inotify_rm_watch()`, returning the errno on failure.
    pub fn try_rm(&self, wd: i32) -> Result<(), i32> {
        // SAFETY: plain system call on our own descriptor.
        if unsafe { libc::inotify_rm_watch(self.0.as_raw_fd(), wd) } < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(())
        }
    }

    /// Every event queued now (none queued: empty).
    pub fn events(&self) -> Vec<InEvent> {
        let mut out = Vec::new();
        read_queued(self.0.as_raw_fd(), "inotify", |buf| {
            let n = buf.len();
            let mut off = 0;
            let hdr = std::mem::size_of::<libc::inotify_event>();
            while off + hdr <= n {
                // SAFETY: the kernel wrote a whole inotify_event at `off`;
                // read_unaligned copes with the byte buffer's alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                let name_bytes = &buf[off + hdr..off + hdr + ev.len as usize];
                let name = String::from_utf8_lossy(name_bytes)
                    .trim_end_matches('\0')
                    .to_string();
                out.push(InEvent {
                    wd: ev.wd,
                    mask: ev.mask,
                    cookie: ev.cookie,
                    name,
                });
                off += hdr + ev.len as usize;
            }
        });
        out
    }
}

/// Reads everything queued on the non-blocking notification fd `fd`,
/// handing each read's bytes to `parse`, until the queue is empty.
fn read_queued(fd: RawFd, what: &str, mut parse: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "read {what}: {e}");
            return;
        }
        parse(&buf[..n as usize]);
    }
}

/// One fanotify event, reduced to what the tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanEvent {
    /// `FAN_*` bits.
    pub mask: u64,
    /// Entry name from a `FAN_EVENT_INFO_TYPE_DFID_NAME` record, if any.
    pub name: String,
}

/// A non-blocking fanotify group reporting directory fids and names.
pub struct Fanotify(OwnedFd);

/// `FAN_REPORT_DFID_NAME` (`FAN_REPORT_DIR_FID | FAN_REPORT_NAME`).
pub const FAN_REPORT_DFID_NAME: u32 = 0x0000_0400 | 0x0000_0800;
/// `FAN_REPORT_FID`.
pub const FAN_REPORT_FID: u32 = 0x0000_0200;
/// `FAN_EVENT_INFO_TYPE_DFID_NAME`.
const INFO_DFID_NAME: u8 = 2;

impl Fanotify {
    /// `fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_REPORT_FID |
    /// FAN_REPORT_DFID_NAME)`.
    pub fn new() -> Fanotify {
        let flags = libc::FAN_CLASS_NOTIF
            | libc::FAN_NONBLOCK
            | libc::FAN_CLOEXEC
            | FAN_REPORT_FID
            | FAN_REPORT_DFID_NAME;
        // SAFETY: plain system call.
        let fd = check(
            unsafe { libc::fanotify_init(flags, libc::O_RDONLY as u32) },
            "fanotify_init",
        );
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Fanotify(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `fanotify_mark(FAN_MARK_ADD | flags, mask, AT_FDCWD, path)`.
    pub fn mark(&self, path: &Path, flags: u32, mask: u64) {
        let p = cstr(path);
        // SAFETY: `p` is a valid C string for the duration of the call.
        check(
            unsafe {
                libc::fanotify_mark(
                    self.0.as_raw_fd(),
                    libc::FAN_MARK_ADD | flags,
                    mask,
                    libc::AT_FDCWD,
                    p.as_ptr(),
                )
            },
            "fanotify_mark",
        );
    }

    /// Every event queued now.
    pub fn events(&self) -> Vec<FanEvent> {
        let mut out = Vec::new();
        read_queued(self.0.as_raw_fd(), "fanotify", |buf| {
            let n = buf.len();
            let mut off = 0;
            let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
            while off + meta_len <= n {
                // SAFETY: the kernel wrote a whole metadata record at `off`.
                let m: libc::fanotify_event_metadata =
                    unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                let end = off + m.event_len as usize;
                let mut name = String::new();
                // Info records follow the metadata: a header (type, pad,
                // len), then for DFID_NAME: fsid (8), file_handle
                // (handle_bytes u32, handle_type i32, f_handle[]), name.
                let mut i = off + m.metadata_len as usize;
                while i + 4 <= end {
                    let ty = buf[i];
                    let len = u16::from_ne_bytes([buf[i + 2], buf[i + 3]]) as usize;
                    if ty == INFO_DFID_NAME {
                        let fh = i + 4 + 8;
                        let hb = u32::from_ne_bytes(buf[fh..fh + 4].try_into().unwrap()) as usize;
                        let nm = fh + 8 + hb;
                        let raw = &buf[nm..i + len];
                        let z = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
                        name = String::from_utf8_lossy(&raw[..z]).into_owned();
                    }
                    assert!(len > 0, "zero-length fanotify info record");
                    i += len;
                }
                if m.fd >= 0 {
                    // SAFETY: FID groups report no fd; closing one if
                    // present avoids a leak.
                    unsafe { libc::close(m.fd) };
                }
                out.push(FanEvent { mask: m.mask, name });
                off = end;
            }
        });
        out
    }
}

impl Default for Fanotify {
    fn default() -> Self {
        Self::new()
    }
}

/// `struct f_owner_ex` (linux/fcntl.h).
#[repr(C)]
struct FOwnerEx {
    type_: libc::c_int,
    pid: libc::pid_t,
}
/// `F_SETOWN_EX`.
const F_SETOWN_EX: libc::c_int = 15;
/// `F_OWNER_TID`: signals go to one thread.
const F_OWNER_TID: libc::c_int = 0;
/// `F_SETSIG` (linux/fcntl.h).
const F_SETSIG: libc::c_int = 10;
/// `DN_MULTISHOT`: keep the watch after the first event.
const DN_MULTISHOT: u32 = 0x8000_0000;
/// `DN_MODIFY`.
pub const DN_MODIFY: u32 = 0x2;
/// `DN_CREATE`.
pub const DN_CREATE: u32 = 0x4;
/// `DN_DELETE`.
pub const DN_DELETE: u32 = 0x8;
/// `DN_RENAME`.
pub const DN_RENAME: u32 = 0x10;
/// `DN_ATTRIB`.
pub const DN_ATTRIB: u32 = 0x20;

/// dnotify on a directory: `F_NOTIFY` with a real-time signal, blocked so
/// that it stays pending and can be collected without a handler.
pub struct Dnotify {
    dir: OwnedFd,
    sig: libc::c_int,
}

impl Dnotify {
    /// Watches `dir` for `mask` (`DN_*`, multishot).
    pub fn new(dir: &Path, mask: u32) -> Dnotify {
        let sig = libc::SIGRTMIN() + 1;
        // SAFETY: sigset manipulation on a local, then masking the signal
        // in this thread.  The signal is directed at this thread below
        // (F_SETOWN_EX), so it stays pending here until `take()` collects
        // it; no other thread of the test process ever sees it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            check(
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
                "sigmask",
            );
        }
        let p = cstr(dir);
        // SAFETY: plain system call with a valid C string.
        let fd = check(
            unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) },
            "open dir",
        );
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let dir_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            check(libc::fcntl(fd, F_SETSIG, sig), "F_SETSIG");
            check(
                libc::fcntl(fd, libc::F_NOTIFY, (mask | DN_MULTISHOT) as libc::c_int),
                "F_NOTIFY",
            );
            // F_NOTIFY makes the process the owner; make it this thread.
            let owner = FOwnerEx {
                type_: F_OWNER_TID,
                pid: libc::gettid(),
            };
            check(
                libc::fcntl(fd, F_SETOWN_EX, &owner as *const FOwnerEx),
                "F_SETOWN_EX",
            );
        }
        Dnotify { dir: dir_fd, sig }
    }

    /// Takes one pending dnotify signal, if any, returning its fd field.
    pub fn take(&self) -> Option<RawFd> {
        // SAFETY: local sigset and siginfo; a zero timeout only polls.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, self.sig);
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let r = libc::sigtimedwait(&set, &mut info, &ts);
            if r < 0 {
                return None;
            }
            // si_fd follows si_band in the SIGPOLL layout: the 2nd and 3rd
            // words after the 3-int header, as glibc's siginfo_t.
            let raw = &info as *const libc::siginfo_t as *const u8;
            let fd = std::ptr::read_unaligned(raw.add(16 + 8) as *const i32);
            Some(fd)
        }
    }

    /// The watched directory's descriptor.
    pub fn fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }
}
