// SPDX-License-Identifier: GPL-2.0

//! The functions the C glue calls: debugfs files, the misc device ioctl and
//! the kfuncs.  The C side only does the plumbing (file operations, user
//! copies, fd lookup).

use crate::{
    backend::{ActiveBackend, Addons, AddonsObject, AllocCtx, Backend},
    ffi::{self, CLong},
    inode::InodeRef,
    rcu::RcuGuard,
    shadow::{self, Shadow},
    stats::STATS,
};
use core::{
    fmt::{self, Write},
    ptr::null_mut,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{bindings, ffi::c_char, prelude::*};

/// The running module's state, for the C entry points.
pub(crate) struct Active {
    pub(crate) backend: Arc<ActiveBackend>,
    pub(crate) shadow: Shadow,
}

use kernel::sync::Arc;

/// Set while the C entry points are registered.
///
/// # Invariants
///
/// Non-NULL only between [`publish`] and [`unpublish`]; the pointee is alive
/// then.  The C entry points (debugfs, misc device, kfuncs) are only
/// reachable in that window: debugfs files are removed and the misc device
/// deregistered before [`unpublish`], and open files and BPF programs hold a
/// module reference, so the module cannot be unloading while they run.
static ACTIVE: AtomicPtr<Active> = AtomicPtr::new(null_mut());

/// Makes `active` reachable from the C entry points.
///
/// # Safety
///
/// `active` must stay alive and in place until [`unpublish`] returns.
pub(crate) unsafe fn publish(active: &Active) {
    ACTIVE.store(active as *const Active as *mut Active, Ordering::Release);
}

/// Undoes [`publish`].  Call only once the C entry points are unregistered.
pub(crate) fn unpublish() {
    ACTIVE.store(null_mut(), Ordering::Release);
}

fn active() -> Option<&'static Active> {
    let p = ACTIVE.load(Ordering::Acquire);
    // SAFETY: non-NULL means published and alive while C entry points run
    // (invariant of `ACTIVE`).
    (!p.is_null()).then(|| unsafe { &*p })
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
pub(crate) unsafe fn with_buf(
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

fn write_stats(a: &Active, w: &mut dyn Write) -> Result {
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
        a.shadow.write_stats(w)?;
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

/// Formats the stats (`stats` debugfs file).
#[no_mangle]
pub(crate) extern "C" fn ia_rust_format_stats(
    buf: *mut c_char,
    len: kernel::ffi::c_ulong,
) -> CLong {
    let Some(a) = active() else {
        return ENODEV.to_errno() as CLong;
    };
    // SAFETY: the C caller passes a buffer of `len` bytes.
    unsafe { with_buf(buf, len, |w| write_stats(a, w)) }
}

/// Runs a self-check (`selfcheck` debugfs file, `control` command).
#[no_mangle]
pub(crate) extern "C" fn ia_rust_selfcheck(buf: *mut c_char, len: kernel::ffi::c_ulong) -> CLong {
    let Some(a) = active() else {
        return ENODEV.to_errno() as CLong;
    };
    // SAFETY: the C caller passes NULL or a buffer of `len` bytes.
    unsafe {
        with_buf(buf, len, |w| {
            let r = shadow::selfcheck(&a.backend)?;
            (|| -> fmt::Result {
                writeln!(w, "checked: {}", r.checked)?;
                writeln!(w, "with_marks: {}", r.with_marks)?;
                writeln!(w, "mismatches: {}", r.mismatches)
            })()
            .map_err(fmt_err)
        })
    }
}

/// Fills `q` for `inode`, creating its addons if `create` (ioctl).
#[no_mangle]
pub(crate) extern "C" fn ia_rust_query(
    inode: *mut bindings::inode,
    create: bool,
    q: *mut ffi::IaQuery,
) -> i32 {
    let Some(a) = active() else {
        return ENODEV.to_errno();
    };
    // SAFETY: the inode of a file the C caller holds a reference to.
    let Some(inode) = (unsafe { InodeRef::from_raw(inode) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: `q` is the C caller's kernel copy of the argument.
    let q = unsafe { &mut *q };
    let real = shadow::FsnotifyShadow::of_inode(&inode);
    q.ino = inode.ino();
    q.real_mask = real.mask;
    q.real_has_marks = real.has_marks as u32;
    let mut fill = |addons: Option<&Addons>, created: bool| {
        q.present = addons.is_some() as u32;
        q.created = created as u32;
        let shadow = addons.map(|a| a.shadow(&inode));
        q.shadow_mask = shadow.map_or(0, |s| s.mask);
        q.shadow_has_marks = shadow.is_some_and(|s| s.has_marks) as u32;
    };
    if create {
        match a
            .backend
            .get_or_create(&inode, AllocCtx::Sleepable, |ad, created| {
                fill(Some(ad), created)
            }) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    } else {
        let guard = RcuGuard::new();
        fill(a.backend.lookup(&inode, &guard), false);
        0
    }
}

/// `bpf_inode_addons_get()`.
#[no_mangle]
pub(crate) extern "C" fn ia_rust_get_or_create_atomic(
    inode: *mut bindings::inode,
) -> *mut kernel::ffi::c_void {
    let Some(a) = active() else {
        return null_mut();
    };
    // SAFETY: a BTF inode pointer from the program's traced function, kept
    // alive by that call (see the kfunc comment in ia_glue.c); NULL is
    // handled by `from_raw`.
    let Some(inode) = (unsafe { InodeRef::from_raw(inode) }) else {
        return null_mut();
    };
    a.backend
        .get_or_create(&inode, AllocCtx::Bpf, |ad, _| ad.as_c_ptr())
        .unwrap_or(null_mut())
}

/// `bpf_inode_addons_shadow_mask()`.
#[no_mangle]
pub(crate) extern "C" fn ia_rust_shadow_mask(inode: *mut bindings::inode) -> u32 {
    let Some(a) = active() else {
        return 0;
    };
    // SAFETY: as in `ia_rust_get_or_create_atomic`.
    let Some(inode) = (unsafe { InodeRef::from_raw(inode) }) else {
        return 0;
    };
    let guard = RcuGuard::new();
    a.backend
        .lookup(&inode, &guard)
        .map_or(0, |ad| ad.shadow(&inode).mask)
}

/// `bpf_inode_addons_scratch()`.
#[no_mangle]
pub(crate) extern "C" fn ia_rust_scratch(inode: *mut bindings::inode) -> *mut u64 {
    let Some(a) = active() else {
        return null_mut();
    };
    // SAFETY: as in `ia_rust_get_or_create_atomic`.
    let Some(inode) = (unsafe { InodeRef::from_raw(inode) }) else {
        return null_mut();
    };
    a.backend.scratch(&inode)
}
