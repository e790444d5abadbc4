// SPDX-License-Identifier: GPL-2.0

//! filelife: the age and bytes written of each file, reported at unlink,
//! with the per-file state in one of two backends (see
//! `src/bpf/filelife.bpf.c`):
//!
//! - [`Backend::Hash`]: a BPF hash map keyed by (device, inode number), the
//!   way libbpf-tools, Tracee, Datadog's CWS and stackrox/fact key theirs;
//! - [`Backend::Storage`]: BPF inode local storage from fentry/fexit
//!   programs, which needs the inode_addons series.  On stock 6.12 the
//!   verifier refuses it ([`StartError::Refused`]): there inode storage is
//!   for BPF LSM programs only, and the LSM hooks do not see how many bytes
//!   a write wrote, so the tool does not fall back to them.
//!
//! The binary (`src/main.rs`) and the tests (`userspace-test/tests/
//! filelife_ab.rs`) use this library; both backends print the same lines.

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, PrintLevel, RingBuffer, RingBufferBuilder};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

#[allow(missing_docs, clippy::all, clippy::undocumented_unsafe_blocks)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/filelife.skel.rs"));
}
use skel::{FilelifeSkel, FilelifeSkelBuilder};

/// Where the per-file state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `BPF_MAP_TYPE_HASH` keyed by (s_dev, i_ino), deleted at unlink.
    Hash,
    /// BPF inode local storage, freed by the kernel with the inode.
    Storage,
}

impl Backend {
    /// The name `--backend` takes.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Hash => "hash",
            Backend::Storage => "storage",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "hash" => Ok(Backend::Hash),
            "storage" => Ok(Backend::Storage),
            _ => Err(format!("unknown backend {s:?}: hash or storage")),
        }
    }
}

/// What to trace.
#[derive(Clone, Debug)]
pub struct Options {
    /// The backend.
    pub backend: Backend,
    /// Only inodes of this file system (kernel `dev_t`, see [`kernel_dev`]).
    pub dev: Option<u32>,
    /// Capacity of the hash backend (default 8192, as libbpf-tools).
    pub max_entries: Option<u32>,
}

/// Why the tracer did not start.
#[derive(Debug)]
pub enum StartError {
    /// The kernel refused the backend's programs (the verifier's log).
    Refused(String),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Refused(log) => write!(f, "the kernel refused the programs:\n{log}"),
            StartError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// `struct fl_event` of `src/bpf/filelife.h`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawEvent {
    dev: u32,
    pad: u32,
    ino: u64,
    age_ns: u64,
    bytes: u64,
    writes: u64,
    name: [u8; 32],
}

/// One reported unlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Kernel `dev_t` of the file system.
    pub dev: u32,
    /// Inode number.
    pub ino: u64,
    /// Time since the state was created (file created or first written).
    pub age_ns: u64,
    /// Bytes written, as the state counted them.
    pub bytes: u64,
    /// Successful writes, as the state counted them.
    pub writes: u64,
    /// The name unlinked (first 31 bytes).
    pub name: String,
}

/// The column header of [`Event::line`].
pub const HEADER: &str = "AGE(s)      BYTES  WRITES  DEV:INO          FILE";

impl Event {
    /// The tool's output line, the same for both backends.
    pub fn line(&self) -> String {
        format!(
            "{:<8.3} {:>8} {:>7}  {:<16} {}",
            self.age_ns as f64 / 1e9,
            self.bytes,
            self.writes,
            format!("{}:{}", self.dev, self.ino),
            self.name
        )
    }
}

/// The programs' counters (`.bss`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// States created (file created, or first written).
    pub created: u64,
    /// Just-created files that already had a state: another file's.
    pub found_at_create: u64,
    /// States that could not be created (hash map full, no memory).
    pub no_state: u64,
    /// Writes accounted.
    pub writes: u64,
    /// Unlinks reported.
    pub reported: u64,
    /// Unlinks of files that had no state.
    pub untracked_unlinks: u64,
    /// States deleted at unlink.
    pub deleted: u64,
    /// Tracked inodes destroyed while they had a state.  Storage: the
    /// state went with the inode.  Hash: the entry stayed behind, stale.
    pub inode_freed: u64,
    /// Events the ring buffer had no room for.
    pub lost_events: u64,
}

/// The kernel's `dev_t` (`MKDEV`) of the file system holding `path`, as
/// `super_block->s_dev` has it (not `st_dev`'s userspace encoding).
pub fn kernel_dev(path: &std::path::Path) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let d = std::fs::metadata(path)?.dev();
    Ok((libc::major(d) << 20) | libc::minor(d))
}

/// What libbpf printed while the last program was loaded (the verifier's
/// log on a refusal).
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

fn libbpf_print(level: PrintLevel, msg: String) {
    if level != PrintLevel::Debug {
        LIBBPF_LOG.lock().unwrap().push_str(&msg);
    }
}

/// A running tracer: the programs of one backend, loaded and attached.
pub struct Tracer {
    // Dropped before the skeleton whose map it reads.
    ring: RingBuffer<'static>,
    events: Rc<RefCell<VecDeque<Event>>>,
    skel: FilelifeSkel<'static>,
    backend: Backend,
}

impl Tracer {
    /// Loads and attaches the programs of `opts.backend`.
    pub fn start(opts: &Options) -> Result<Tracer, StartError> {
        let other = |what: &str, e: libbpf_rs::Error| StartError::Other(format!("{what}: {e}"));
        libbpf_rs::set_print(Some((PrintLevel::Info, libbpf_print)));
        LIBBPF_LOG.lock().unwrap().clear();
        // The skeleton borrows its object for as long as it lives; a tracer
        // lives until it is dropped, so the (pointer-sized) object is leaked.
        let object = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = FilelifeSkelBuilder::default()
            .open(object)
            .map_err(|e| other("open", e))?;
        let storage = opts.backend == Backend::Storage;
        for (prog, is_storage) in [
            (&mut open.progs.hash_open, false),
            (&mut open.progs.hash_write, false),
            (&mut open.progs.hash_unlink, false),
            (&mut open.progs.hash_free, false),
            (&mut open.progs.storage_open, true),
            (&mut open.progs.storage_write, true),
            (&mut open.progs.storage_unlink, true),
            (&mut open.progs.storage_free, true),
        ] {
            prog.set_autoload(is_storage == storage);
        }
        // The unused backend's hash map must exist, but need not be big.
        let entries = if storage { Some(1) } else { opts.max_entries };
        if let Some(n) = entries {
            open.maps
                .hash_state
                .set_max_entries(n)
                .map_err(|e| other("max_entries", e))?;
        }
        open.maps.rodata_data.as_mut().expect(".rodata").target_dev = opts.dev.unwrap_or(0);
        let mut skel = open.load().map_err(|e| {
            let log = std::mem::take(&mut *LIBBPF_LOG.lock().unwrap());
            if e.kind() == libbpf_rs::ErrorKind::PermissionDenied
                || e.kind() == libbpf_rs::ErrorKind::InvalidInput
            {
                StartError::Refused(format!("{e}\n{log}"))
            } else {
                StartError::Other(format!("load: {e}\n{log}"))
            }
        })?;
        skel.attach().map_err(|e| other("attach", e))?;
        let events = Rc::new(RefCell::new(VecDeque::new()));
        let sink = events.clone();
        let mut rb = RingBufferBuilder::new();
        rb.add(&skel.maps.events, move |data: &[u8]| {
            assert_eq!(data.len(), std::mem::size_of::<RawEvent>());
            // SAFETY: the ring buffer hands over one struct fl_event, whose
            // size was just checked; read_unaligned copes with any alignment.
            let r: RawEvent = unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
            let len = r.name.iter().position(|&c| c == 0).unwrap_or(r.name.len());
            sink.borrow_mut().push_back(Event {
                dev: r.dev,
                ino: r.ino,
                age_ns: r.age_ns,
                bytes: r.bytes,
                writes: r.writes,
                name: String::from_utf8_lossy(&r.name[..len]).into_owned(),
            });
            0
        })
        .map_err(|e| other("ring buffer", e))?;
        let ring = rb.build().map_err(|e| other("ring buffer", e))?;
        Ok(Tracer {
            ring,
            events,
            skel,
            backend: opts.backend,
        })
    }

    /// The backend this tracer runs.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The events reported so far and not yet taken.  The programs run in
    /// the traced syscalls, so an unlink that has returned is here.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.ring.consume().expect("ring buffer consume");
        self.events.borrow_mut().drain(..).collect()
    }

    /// Waits up to `timeout` for events, then takes them.
    pub fn poll_events(&mut self, timeout: Duration) -> Vec<Event> {
        // EINTR (a signal to stop) is not an error for the caller.
        let _ = self.ring.poll(timeout);
        self.take_events()
    }

    /// The programs' counters.
    pub fn stats(&self) -> Stats {
        let b = self.skel.maps.bss_data.as_deref().expect(".bss");
        Stats {
            created: b.created,
            found_at_create: b.found_at_create,
            no_state: b.no_state,
            writes: b.writes,
            reported: b.reported,
            untracked_unlinks: b.untracked_unlinks,
            deleted: b.deleted,
            inode_freed: b.inode_freed,
            lost_events: b.lost_events,
        }
    }

    /// States alive now.  Hash: the map's entries, counted by walking its
    /// keys.  Storage: inode storage has no key walk (it is reached through
    /// the inode), so created - deleted - inode_freed, counted by the
    /// programs.
    pub fn live_states(&self) -> u64 {
        match self.backend {
            Backend::Hash => self.skel.maps.hash_state.keys().count() as u64,
            Backend::Storage => {
                let s = self.stats();
                s.created - s.deleted - s.inode_freed
            }
        }
    }

    /// Bytes the kernel accounts to the backend's map (`memlock` of its
    /// fdinfo, the map's own memory-usage callback).  For the hash map that
    /// is its preallocated elements; inode storage is charged per inode
    /// outside the map (see [`Tracer::live_states`]).
    pub fn map_bytes(&self) -> u64 {
        let fd = match self.backend {
            Backend::Hash => self.skel.maps.hash_state.as_fd().as_raw_fd(),
            Backend::Storage => self.skel.maps.inode_state.as_fd().as_raw_fd(),
        };
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
        info.lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("memlock in the map's fdinfo")
    }
}
