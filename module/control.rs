// SPDX-License-Identifier: GPL-2.0

//! The module's state and its entry points' registration: the debugfs
//! files in `/sys/kernel/debug/inode_addons/` (stats, self-check, control
//! commands, the bench result), the misc device and the kfuncs, whose
//! bodies are in `c_entry.rs`.
//!
//! The debugfs files hold the [`ModuleState`] (an [`Arc`]); the misc
//! device's ioctl and the kfuncs borrow the published state for the call
//! only ([`with_state`]).

use crate::{
    active::ActiveBackend,
    backend::Backend,
    bench,
    debugfs::{self, Command, SeqShow, SeqWriter},
    ffi, selfcheck,
    stats::STATS,
};
use core::{
    fmt::{self, Write},
    mem::size_of,
    ptr::null_mut,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings, c_str,
    ffi::c_void,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
};

/// Most bytes of one bench run's TSV.
const BENCH_TEXT_MAX: usize = 4 * PAGE_SIZE;

/// What the C entry points use while the module is loaded.  Owned by the
/// module object.
#[pin_data]
pub(crate) struct ModuleState {
    /// The backend (with its probes).
    pub(crate) backend: Arc<ActiveBackend>,
    /// A bench run is going: a second run and readers of the result get
    /// `EBUSY` until it ends.
    bench_running: AtomicBool,
    /// The last complete bench run's TSV (`bench` debugfs file).
    #[pin]
    bench_text: Mutex<KVec<u8>>,
}

impl ModuleState {
    /// The state of a module running `backend`.
    pub(crate) fn new(backend: Arc<ActiveBackend>) -> impl PinInit<Self> {
        pin_init!(Self {
            backend,
            bench_running: AtomicBool::new(false),
            bench_text <- new_mutex!(KVec::new(), "inode_addons::bench_text"),
        })
    }

    /// Runs `bench ARGS`, keeping its TSV if it completes.  Process
    /// context.
    fn run_bench(&self, args: &str) -> Result {
        if self.bench_running.swap(true, Ordering::Acquire) {
            return Err(EBUSY);
        }
        let r = (|| {
            let mut w = TextWriter {
                buf: KVec::with_capacity(BENCH_TEXT_MAX, GFP_KERNEL)?,
            };
            bench::run::<ActiveBackend>(args, &mut w)?;
            *self.bench_text.lock() = w.buf;
            Ok(())
        })();
        self.bench_running.store(false, Ordering::Release);
        r
    }

    /// Writes the last bench run's TSV; `EBUSY` while one runs.
    fn write_bench(&self, w: &mut dyn Write) -> Result {
        if self.bench_running.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        let text = self.bench_text.lock();
        // Bench output is ASCII (it is formatted by `bench.rs`).
        let text = core::str::from_utf8(&text).map_err(|_| EIO)?;
        w.write_str(text).map_err(fmt_err)
    }
}

/// The module state the C entry points (misc device, kfuncs) use, set
/// while they are registered.
///
/// # Invariants
///
/// Non-NULL only while a [`Registration`] holds a reference to the
/// pointee, which is alive then.  The entry points are only reachable in
/// that window: the misc device is deregistered before `STATE` is cleared,
/// and open files and BPF programs hold a module reference, so the module
/// cannot be unloading while they run.
static STATE: AtomicPtr<ModuleState> = AtomicPtr::new(null_mut());

/// The entry points (debugfs files, misc device, kfuncs), registered for a
/// module state that they borrow per call; unregistered when dropped or by
/// [`Registration::unregister`].
pub(crate) struct Registration {
    /// `None` once unregistered, or if debugfs could not make them.
    files: Option<DebugfsFiles>,
    /// `None` once unregistered.
    misc: Option<ffi::MiscDevice>,
    /// `None` once unregistered.
    state: Option<Arc<ModuleState>>,
}

/// `/sys/kernel/debug/inode_addons/` and its files (each holds the
/// directory and the state).
struct DebugfsFiles {
    _stats: debugfs::File<StateText>,
    _selfcheck: debugfs::File<StateText>,
    _bench: debugfs::File<StateText>,
    _control: debugfs::File<ControlCommands>,
}

impl DebugfsFiles {
    /// Creates the directory and its files, which use `state`.  Process
    /// context.
    fn create(state: &Arc<ModuleState>) -> Result<Self> {
        let dir = debugfs::Dir::create(c_str!("inode_addons"))?;
        let text = |write| StateText {
            state: state.clone(),
            write,
        };
        Ok(Self {
            _stats: debugfs::File::read_only_in(&dir, c_str!("stats"), text(write_stats))?,
            _selfcheck: debugfs::File::read_only_in(
                &dir,
                c_str!("selfcheck"),
                text(write_selfcheck),
            )?,
            _bench: debugfs::File::read_only_in(
                &dir,
                c_str!("bench"),
                text(ModuleState::write_bench),
            )?,
            _control: debugfs::File::write_only_in(
                &dir,
                c_str!("control"),
                ControlCommands(state.clone()),
            )?,
        })
    }
}

impl Registration {
    /// Publishes `state` and registers the entry points.  Process context.
    ///
    /// # Safety
    ///
    /// The value is dropped (or unregistered) only in the module's exit or
    /// on its init's error path: `misc_deregister()` does not wait for the
    /// ioctls of files opened before it, which use the state; only the
    /// module reference each open file holds keeps them from running then.
    pub(crate) unsafe fn new(state: Arc<ModuleState>) -> Result<Self> {
        // The order matters on the init error path.  Whatever can fail comes
        // before the misc device: a file opened on it holds a module
        // reference, which a failed init does not wait for.  Kfunc sets
        // cannot be unregistered (they go away with the module's BTF), but
        // no program can use them before the module is live
        // (`btf_try_get_module()` wants `BTF_MODULE_F_LIVE`), so they come
        // first, before the state is published.
        ffi::register_kfuncs()?;
        // INVARIANT (of `STATE`): `Self` holds a reference to the state and
        // clears `STATE` (after unregistering the entry points) before it
        // lets go of it.
        STATE.store(
            core::ptr::from_ref::<ModuleState>(&state).cast_mut(),
            Ordering::Release,
        );
        let misc = match ffi::MiscDevice::register() {
            Ok(misc) => misc,
            Err(e) => {
                STATE.store(null_mut(), Ordering::Release);
                return Err(e);
            }
        };
        // debugfs failures are ignored, as the kernel's own users of
        // debugfs do: the module then runs without its files.  Nothing
        // after the misc device may fail the init (see above).
        let files = DebugfsFiles::create(&state)
            .inspect_err(|e| pr_warn!("no debugfs files: error {}\n", e.to_errno()))
            .ok();
        Ok(Self {
            files,
            misc: Some(misc),
            state: Some(state),
        })
    }

    /// Unregisters the entry points and hands the state back (always
    /// `Some`: a registration holds its state until this).  Process
    /// context.
    pub(crate) fn unregister(mut self) -> Option<Arc<ModuleState>> {
        self.teardown();
        self.state.take()
    }

    /// Unregisters the entry points if they are registered.
    fn teardown(&mut self) {
        if self.state.is_none() {
            return;
        }
        // Removal returns once no callback of the files runs, and none
        // starts after it.
        self.files = None;
        // No file opens after it; an ioctl on a file opened before may
        // still run, but each open file holds a module reference (`.owner`):
        // this runs in the module's exit, when none is open (`new`'s
        // contract; it registers the device after everything that can
        // fail, so the init error path never gets here with it).
        self.misc = None;
        STATE.store(null_mut(), Ordering::Release);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Runs `f` with the published module state, borrowed for the call only;
/// `None` if none is published.
///
/// # Safety
///
/// Only for the entry points (the functions of `c_entry.rs`), while they
/// run: they are reachable only while the state is published (invariant
/// of [`STATE`]).
pub(crate) unsafe fn with_state<R>(f: impl FnOnce(&ModuleState) -> R) -> Option<R> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: non-NULL means published, and the state stays alive until the
    // entry point that called this returns (invariant of `STATE`); the
    // borrow ends with `f`.
    let state = unsafe { p.as_ref() }?;
    Some(f(state))
}

/// A `fmt::Write` into a vector, failing once its capacity is reached
/// (never allocates).
struct TextWriter {
    buf: KVec<u8>,
}

impl Write for TextWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.capacity() - self.buf.len();
        let n = s.len().min(room);
        // Within the capacity: no allocation.
        self.buf
            .extend_from_slice(&s.as_bytes()[..n], GFP_KERNEL)
            .map_err(|_| fmt::Error)?;
        if n < s.len() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

fn fmt_err(_: fmt::Error) -> Error {
    ENOSPC
}

/// Sizes the embedded-layout estimate is computed from.
struct Sizes {
    /// `sizeof(struct inode)`.
    inode_size: usize,
    /// Bytes that moving `i_fsnotify_mask` and `i_fsnotify_marks` out of
    /// `struct inode` frees (with the hole between them when adjacent).
    fsnotify_span: usize,
    /// Bytes `struct inode_addons *i_addons` takes.
    ptr_size: usize,
    /// `sizeof()` and kmalloc bucket of the proposed 3-field struct.
    proposed_size: usize,
    proposed_alloc: usize,
    /// kmalloc bucket of this prototype's `struct inode_addons`.
    prototype_alloc: usize,
}

/// The kmalloc bucket an object of `size` bytes takes.
fn kmalloc_bucket(size: usize) -> usize {
    ffi::kmalloc_size_roundup(size)
}

impl Sizes {
    /// The series is applied: `struct inode` keeps no fsnotify pointer (the
    /// mask of patch 0005 fills a hole), and the addons are the kernel's.
    #[cfg(ia_backend_embedded)]
    fn get() -> Self {
        let size = ActiveBackend::OBJECT_SIZE;
        Self {
            inode_size: size_of::<bindings::inode>(),
            fsnotify_span: 0,
            ptr_size: size_of::<*mut c_void>(),
            proposed_size: size,
            proposed_alloc: kmalloc_bucket(size),
            prototype_alloc: kmalloc_bucket(size),
        }
    }

    /// What moving the fsnotify fields out of `struct inode` frees: on
    /// stock the mask, the hole after it and the marks pointer, which are
    /// adjacent.  Where the mask sits in a hole of its own (stock-packed),
    /// moving it out frees no byte, only the marks pointer does.
    #[cfg(not(ia_backend_embedded))]
    fn get() -> Self {
        /// The struct of the proposal, for its size only.
        #[repr(C)]
        struct Proposed {
            i_fsnotify_marks: *mut c_void,
            i_bpf_storage: *mut c_void,
            i_fsnotify_mask: u32,
        }
        let ptr = size_of::<*mut c_void>();
        let mask = core::mem::offset_of!(bindings::inode, i_fsnotify_mask);
        let marks = core::mem::offset_of!(bindings::inode, i_fsnotify_marks);
        let fsnotify_span = if marks > mask && marks - mask <= ptr {
            marks + ptr - mask
        } else {
            ptr
        };
        Self {
            inode_size: size_of::<bindings::inode>(),
            fsnotify_span,
            ptr_size: ptr,
            proposed_size: size_of::<Proposed>(),
            proposed_alloc: kmalloc_bucket(size_of::<Proposed>()),
            prototype_alloc: kmalloc_bucket(ActiveBackend::OBJECT_SIZE),
        }
    }
}

fn write_stats(a: &ModuleState, w: &mut dyn Write) -> Result {
    let s = &STATS;
    let sizes = Sizes::get();
    let with_addons = a.backend.len() as u64;
    let allocated = s.allocated.get();
    let freed = s.freed.get();
    let cost = with_addons * sizes.proposed_alloc as u64;
    (|| -> fmt::Result {
        writeln!(w, "backend: {}", ActiveBackend::NAME)?;
        writeln!(w, "inode_inits: {}", s.inode_inits.get())?;
        writeln!(w, "inode_init_failures: {}", s.inode_init_failures.get())?;
        writeln!(w, "inode_destroys: {}", s.inode_destroys.get())?;
        writeln!(w, "addons_allocated: {allocated}")?;
        writeln!(w, "addons_freed: {freed}")?;
        writeln!(w, "addons_live: {}", allocated.wrapping_sub(freed))?;
        writeln!(w, "inodes_with_addons: {with_addons}")?;
        writeln!(w, "lost_races: {}", s.lost_races.get())?;
        writeln!(w, "alloc_failures: {}", s.alloc_failures.get())?;
        writeln!(w, "refused_dying: {}", s.refused_dying.get())?;
        writeln!(w, "refused_busy: {}", s.refused_busy.get())?;
        writeln!(w, "reuse_violations: {}", s.reuse_violations.get())?;
        writeln!(w, "removed_at_destroy: {}", s.removed_at_destroy.get())?;
        writeln!(w, "shadow_updates: {}", s.shadow_updates.get())?;
        writeln!(w, "selfchecks: {}", s.selfchecks.get())?;
        writeln!(w, "shadow_mismatches: {}", s.shadow_mismatches.get())?;
        writeln!(w, "bench_addons_allocated: {}", s.bench_allocated.get())?;
        writeln!(w, "bench_addons_freed: {}", s.bench_freed.get())?;
        writeln!(w, "bench_addons_leaked: {}", s.bench_leaked.get())?;
        a.backend.write_stats(w)?;
        writeln!(w, "sizeof_inode: {}", sizes.inode_size)?;
        writeln!(w, "inode_fsnotify_field_bytes: {}", sizes.fsnotify_span)?;
        writeln!(w, "embedded_pointer_bytes: {}", sizes.ptr_size)?;
        writeln!(w, "proposed_addons_bytes: {}", sizes.proposed_size)?;
        writeln!(w, "proposed_addons_alloc_bytes: {}", sizes.proposed_alloc)?;
        writeln!(w, "prototype_addons_bytes: {}", ActiveBackend::OBJECT_SIZE)?;
        writeln!(w, "prototype_addons_alloc_bytes: {}", sizes.prototype_alloc)?;
        writeln!(w, "embedded_cost_bytes: {cost}")?;
        writeln!(
            w,
            "sidetable_cost_bytes: {}",
            with_addons * sizes.prototype_alloc as u64
        )
    })()
    .map_err(fmt_err)
}

/// Writes the self-check's result.  Process context.
fn write_selfcheck(a: &ModuleState, w: &mut dyn Write) -> Result {
    let r = selfcheck::run(&*a.backend)?;
    (|| -> fmt::Result {
        writeln!(w, "checked: {}", r.checked)?;
        writeln!(w, "with_marks: {}", r.with_marks)?;
        writeln!(w, "mismatches: {}", r.mismatches)
    })()
    .map_err(fmt_err)
}

/// The text of a debugfs file in [`DebugfsFiles`], written from the state.
struct StateText {
    state: Arc<ModuleState>,
    write: fn(&ModuleState, &mut dyn Write) -> Result,
}

impl SeqShow for StateText {
    type Open = ();

    fn open(&self) -> Result<Self::Open> {
        Ok(())
    }

    fn show(&self, _open: &Self::Open, w: &mut SeqWriter<'_>) -> Result {
        (self.write)(&self.state, w)
    }
}

/// The `control` file's commands.
struct ControlCommands(Arc<ModuleState>);

impl Command for ControlCommands {
    const MAX_LEN: usize = 31;

    fn run(&self, cmd: &[u8]) -> Result {
        control(&self.0, cmd)
    }
}

/// Whether `c` is white space for C's `isspace()`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t'..=b'\r')
}

/// Runs the command `cmd` written to `control`.
///
/// `selfcheck` (the buffer is read as a C string, cut at its first NUL,
/// and may end with one newline, as `sysfs_streq()`), or `bench [TRACKED
/// [THREADS]]` (no NUL inside); anything else is `EINVAL`.
fn control(a: &ModuleState, cmd: &[u8]) -> Result {
    let cstr = cmd.split(|&b| b == 0).next().unwrap_or_default();
    if cstr == b"selfcheck" || cstr == b"selfcheck\n" {
        return selfcheck::run(&*a.backend).map(|_| ());
    }
    if let Some(args) = cmd.strip_prefix(b"bench") {
        let separated = !matches!(args.first(), Some(&c) if !is_c_space(c));
        if cstr.len() == cmd.len() && separated {
            return a.run_bench(core::str::from_utf8(args).map_err(|_| EINVAL)?);
        }
    }
    Err(EINVAL)
}
