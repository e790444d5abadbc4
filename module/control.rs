// SPDX-License-Identifier: GPL-2.0

//! The Rust functions the C glue calls (`ia_rust_*`): debugfs files, the
//! misc device ioctl, the kfuncs and the microbenchmark.  The C side only
//! does the plumbing (file operations, user copies, fd lookup).
//!
//! Every one is `unsafe extern "C"` with its contract; each borrows the
//! published [`ModuleState`] for the call only ([`with_state`]).

use crate::{
    active::ActiveBackend,
    backend::{AddonsObject, AllocCtx, Backend},
    bench,
    ffi::{self, CLong},
    inode::Inode,
    rcu::RcuGuard,
    recursion::Busy,
    selfcheck,
    stats::STATS,
};
use core::{
    fmt::{self, Write},
    ptr::null_mut,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings,
    ffi::{c_char, c_ulong, c_void},
    prelude::*,
    str::CStr,
    sync::Arc,
};

/// What the C entry points use while the module is loaded: the backend
/// (with its probes).  Owned by the module object.
pub(crate) struct ModuleState {
    /// The backend.
    pub(crate) backend: Arc<ActiveBackend>,
}

/// The module state the C entry points use, set while they are registered.
///
/// # Invariants
///
/// Non-NULL only between [`publish`] and [`unpublish`]; the pointee is alive
/// then.  The C entry points (debugfs, misc device, kfuncs) are only
/// reachable in that window: debugfs files are removed and the misc device
/// deregistered before [`unpublish`], and open files and BPF programs hold a
/// module reference, so the module cannot be unloading while they run.
static STATE: AtomicPtr<ModuleState> = AtomicPtr::new(null_mut());

/// Makes `state` reachable from the C entry points.
///
/// # Safety
///
/// `state` must stay alive and in place until [`unpublish`] returns.
pub(crate) unsafe fn publish(state: &ModuleState) {
    STATE.store(
        state as *const ModuleState as *mut ModuleState,
        Ordering::Release,
    );
}

/// Undoes [`publish`].  Call only once the C entry points are unregistered.
pub(crate) fn unpublish() {
    STATE.store(null_mut(), Ordering::Release);
}

/// Runs `f` with the published module state, borrowed for the call only;
/// `None` if none is published.
///
/// # Safety
///
/// Only for the C entry points below, while C runs them: they are
/// reachable only while the state is published (invariant of [`STATE`]).
unsafe fn with_state<R>(f: impl FnOnce(&ModuleState) -> R) -> Option<R> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: non-NULL means published, and the state stays alive until the
    // entry point that called this returns (invariant of `STATE`); the
    // borrow ends with `f`.
    let state = unsafe { p.as_ref() }?;
    Some(f(state))
}

/// A `fmt::Write` into a C buffer (`None`: discard the text), failing when
/// it is full.
struct BufWriter<'a> {
    buf: Option<&'a mut [u8]>,
    len: usize,
}

impl Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let Some(buf) = self.buf.as_deref_mut() else {
            return Ok(());
        };
        let n = s.len().min(buf.len() - self.len);
        buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Runs `f` with a writer over `buf[..len]` (or a sink if `buf` is NULL).
///
/// # Safety
///
/// `buf` must be NULL or valid for writes of `len` bytes.
unsafe fn with_buf(
    buf: *mut c_char,
    len: usize,
    f: impl FnOnce(&mut dyn Write) -> Result,
) -> CLong {
    let slice = (!buf.is_null()).then(|| {
        // SAFETY: by the caller.
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
    });
    let mut w = BufWriter { buf: slice, len: 0 };
    match f(&mut w) {
        Ok(()) => w.len as CLong,
        Err(e) => e.to_errno() as CLong,
    }
}

fn fmt_err(_: fmt::Error) -> Error {
    ENOSPC
}

fn write_stats(a: &ModuleState, w: &mut dyn Write) -> Result {
    let s = &STATS;
    let mut sizes = ffi::IaSizes::default();
    // SAFETY: `sizes` is valid for writes.
    unsafe { ffi::ia_get_sizes(&mut sizes) };
    // SAFETY: process context (debugfs read).
    let alive = match unsafe { ffi::ia_count_inodes() } {
        // Unreadable (no /proc in this namespace): inodes initialised
        // minus destroyed since load is a lower bound.
        n if n < 0 => s.inode_inits.get().saturating_sub(s.inode_destroys.get()),
        n => n as u64,
    };
    let with_addons = a.backend.len() as u64;
    let allocated = s.allocated.get();
    let freed = s.freed.get();
    let per_inode_saved = sizes.fsnotify_span.saturating_sub(sizes.ptr_size) as u64;
    let saved = alive * per_inode_saved;
    let cost = with_addons * sizes.proposed_alloc as u64;
    (|| -> fmt::Result {
        writeln!(w, "backend: {}", ActiveBackend::NAME)?;
        writeln!(w, "inodes_alive_now: {alive}")?;
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
        a.backend.write_stats(w)?;
        writeln!(w, "sizeof_inode: {}", sizes.inode_size)?;
        writeln!(w, "inode_fsnotify_field_bytes: {}", sizes.fsnotify_span)?;
        writeln!(w, "embedded_pointer_bytes: {}", sizes.ptr_size)?;
        writeln!(w, "proposed_addons_bytes: {}", sizes.proposed_size)?;
        writeln!(w, "proposed_addons_alloc_bytes: {}", sizes.proposed_alloc)?;
        writeln!(w, "prototype_addons_bytes: {}", ActiveBackend::OBJECT_SIZE)?;
        writeln!(w, "prototype_addons_alloc_bytes: {}", sizes.prototype_alloc)?;
        writeln!(w, "embedded_saved_bytes: {saved}")?;
        writeln!(w, "embedded_cost_bytes: {cost}")?;
        writeln!(
            w,
            "embedded_net_saving_bytes: {}",
            saved as i64 - cost as i64
        )?;
        writeln!(
            w,
            "sidetable_cost_bytes: {}",
            with_addons * sizes.prototype_alloc as u64
        )
    })()
    .map_err(fmt_err)
}

fn enodev() -> CLong {
    ENODEV.to_errno() as CLong
}

/// Formats the stats (`stats` debugfs file).
///
/// # Safety
///
/// Called by the C glue while the entry points are registered; `buf` is
/// valid for writes of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_format_stats(buf: *mut c_char, len: c_ulong) -> CLong {
    // SAFETY: a C entry point; `buf` as the caller guarantees.
    unsafe { with_state(|a| with_buf(buf, len, |w| write_stats(a, w))) }.unwrap_or_else(enodev)
}

/// Runs a self-check (`selfcheck` debugfs file, `control` command).
///
/// # Safety
///
/// Called by the C glue while the entry points are registered, in process
/// context; `buf` is NULL or valid for writes of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_selfcheck(buf: *mut c_char, len: c_ulong) -> CLong {
    let run = |a: &ModuleState| {
        // SAFETY: `buf` as the caller guarantees.
        unsafe {
            with_buf(buf, len, |w| {
                let r = selfcheck::run(&*a.backend)?;
                (|| -> fmt::Result {
                    writeln!(w, "checked: {}", r.checked)?;
                    writeln!(w, "with_marks: {}", r.with_marks)?;
                    writeln!(w, "mismatches: {}", r.mismatches)
                })()
                .map_err(fmt_err)
            })
        }
    };
    // SAFETY: a C entry point.
    unsafe { with_state(run) }.unwrap_or_else(enodev)
}

/// Fills `q` for `inode`, creating its addons if `create` (ioctl).
///
/// # Safety
///
/// Called by the C glue while the entry points are registered, in process
/// context; `inode` is the inode of a file the caller holds a reference to
/// for the call, `q` valid for reads and writes and not otherwise accessed
/// during the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_query(
    inode: *mut bindings::inode,
    create: bool,
    q: *mut ffi::IaQuery,
) -> i32 {
    // SAFETY: the caller keeps the file, hence its inode, for the call.
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: valid and exclusive for the call (by the caller).
    let q = unsafe { &mut *q };
    // SAFETY: a C entry point.
    unsafe { with_state(|a| query(a, inode, create, q)) }.unwrap_or_else(|| ENODEV.to_errno())
}

fn query(a: &ModuleState, inode: &Inode, create: bool, q: &mut ffi::IaQuery) -> i32 {
    let real = inode.fsnotify_state();
    q.ino = inode.ino();
    q.real_mask = real.mask;
    q.real_has_marks = real.has_marks as u32;
    let mut fill = |addons: Option<&<ActiveBackend as Backend>::Addons>, created: bool| {
        q.present = addons.is_some() as u32;
        q.created = created as u32;
        let shadow = addons.map(|ad| ad.shadow(inode));
        q.shadow_mask = shadow.map_or(0, |s| s.mask);
        q.shadow_has_marks = shadow.is_some_and(|s| s.has_marks) as u32;
    };
    if create {
        match a
            .backend
            .get_or_create(inode, AllocCtx::Sleepable, |ad, created| {
                fill(Some(ad), created)
            }) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    } else {
        let guard = RcuGuard::new();
        fill(a.backend.lookup(inode, &guard), false);
        0
    }
}

/// `bpf_inode_addons_get()`.
///
/// # Safety
///
/// Called by the kfunc while the entry points are registered (a loaded BPF
/// program pins the module); `inode` is NULL or an inode the program's
/// traced function keeps allocated for the call (see the kfunc comment in
/// `ia_glue.c`).
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_get_or_create_atomic(
    inode: *mut bindings::inode,
) -> *mut c_void {
    // SAFETY: allocated for the call (by the caller).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return null_mut();
    };
    // A program attached inside one of the module's locked sections on
    // this CPU gets NULL.
    let Some(_busy) = Busy::try_enter() else {
        STATS.refused_busy.inc();
        return null_mut();
    };
    let get = |a: &ModuleState| {
        a.backend
            .get_or_create(inode, AllocCtx::Bpf, |ad, _| ad.as_c_ptr())
            .unwrap_or(null_mut())
    };
    // SAFETY: a C entry point.
    unsafe { with_state(get) }.unwrap_or(null_mut())
}

/// `bpf_inode_addons_shadow_mask()`.
///
/// # Safety
///
/// As for [`ia_rust_get_or_create_atomic`].
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_shadow_mask(inode: *mut bindings::inode) -> u32 {
    // SAFETY: allocated for the call (by the caller).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return 0;
    };
    let mask = |a: &ModuleState| {
        let guard = RcuGuard::new();
        a.backend
            .lookup(inode, &guard)
            .map_or(0, |ad| ad.shadow(inode).mask)
    };
    // SAFETY: a C entry point.
    unsafe { with_state(mask) }.unwrap_or(0)
}

/// `bpf_inode_addons_scratch()`.
///
/// # Safety
///
/// As for [`ia_rust_get_or_create_atomic`]; the program runs under RCU
/// (the kfunc is not available to sleepable programs), which keeps the
/// returned area alive while the program runs.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_scratch(inode: *mut bindings::inode) -> *mut u64 {
    // SAFETY: allocated for the call (by the caller).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return null_mut();
    };
    // The embedded backend's scratch table takes bucket locks.
    let Some(_busy) = Busy::try_enter() else {
        STATS.refused_busy.inc();
        return null_mut();
    };
    // SAFETY: a C entry point.
    unsafe { with_state(|a| a.backend.scratch(inode)) }.unwrap_or(null_mut())
}

/// Runs `bench ARGS` (`control` write), writing the TSV into `buf`.
///
/// # Safety
///
/// Called by the C glue while the entry points are registered, in process
/// context, serialising runs (`EBUSY` for a second one); `args` is a
/// NUL-terminated string and `buf` valid for writes of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_bench(
    args: *const c_char,
    buf: *mut c_char,
    len: c_ulong,
) -> CLong {
    // SAFETY: NUL-terminated (by the caller).
    let args = unsafe { CStr::from_char_ptr(args) };
    let Ok(args) = args.to_str() else {
        return EINVAL.to_errno() as CLong;
    };
    // SAFETY: `buf` as the caller guarantees; the bench needs no module
    // state (its targets are private), only the published window.
    unsafe { with_state(|_| with_buf(buf, len, |w| bench::run::<ActiveBackend>(args, w))) }
        .unwrap_or_else(enodev)
}

/// Counts a microbenchmark addons object freed by the C glue (embedded
/// backend: `ia_bench_addons_release()`).
#[no_mangle]
pub(crate) extern "C" fn ia_rust_bench_addons_freed() {
    STATS.bench_freed.inc();
}
