// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around kprobes and kretprobes.
//!
//! C header: [`include/linux/kprobes.h`](srctree/include/linux/kprobes.h)
//!
//! A probe is registered by its constructor and unregistered by `drop`,
//! which returns only once no handler runs any more.  Handlers run in atomic
//! context (preemption disabled, which is also an RCU read-side critical
//! section): no sleeping, `GFP_ATOMIC` allocations only.

use crate::ffi;
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    prelude::*,
    str::CStr,
    types::Opaque,
};

/// The registers at a probe hit.
#[repr(transparent)]
pub(crate) struct Regs(Opaque<bindings::pt_regs>);

impl Regs {
    /// # Safety
    ///
    /// `regs` must be valid for reads for `'a`.
    unsafe fn from_raw<'a>(regs: *mut bindings::pt_regs) -> &'a Self {
        // SAFETY: `Regs` is a transparent wrapper; validity by the caller.
        unsafe { &*regs.cast::<Self>() }
    }

    /// The `n`th argument of the probed function (valid at function entry).
    pub(crate) fn arg(&self, n: u32) -> usize {
        // SAFETY: `self.0` is a valid `pt_regs` (type invariant of `from_raw`).
        unsafe { ffi::ia_regs_arg(self.0.get(), n) as usize }
    }

    /// The return value (valid in a return handler).
    pub(crate) fn ret(&self) -> usize {
        // SAFETY: as in `arg`.
        unsafe { ffi::ia_regs_ret(self.0.get()) as usize }
    }
}

/// Zeroed, `u64`-aligned memory for one C probe object of `size` bytes,
/// which stays in place until dropped (the vector never grows).  Only C
/// touches it (through raw pointers), never Rust code as values.
fn probe_memory(size: usize) -> Result<KVec<u64>> {
    Ok(KVec::from_elem(0, size.div_ceil(8), GFP_KERNEL)?)
}

/// What a [`Kprobe`] runs when hit.
pub(crate) trait KprobeHandler: Send + Sync {
    /// Runs before the probed instruction (function entry).
    fn pre(&self, regs: &Regs);
}

/// A registered kprobe on the entry of a function.
///
/// # Invariants
///
/// `probe` holds a registered `struct ia_kprobe` whose context points at
/// `*handler`.
pub(crate) struct Kprobe<T: KprobeHandler> {
    probe: KVec<u64>,
    _handler: Pin<KBox<T>>,
}

// SAFETY: the probe is only registered/unregistered, which may happen from
// any task; `T` is `Send + Sync`.
unsafe impl<T: KprobeHandler> Send for Kprobe<T> {}
// SAFETY: no `&self` method touches the C object.
unsafe impl<T: KprobeHandler> Sync for Kprobe<T> {}

/// The kprobe pre-handler trampoline.
///
/// # Safety
///
/// `ctx` is the `T` registered with the probe and `regs` the probed
/// context's registers, as the C side passes them.
unsafe extern "C" fn kprobe_pre<T: KprobeHandler>(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
) {
    // SAFETY: `ctx` is the pinned handler, alive while the probe is
    // registered (type invariant); `regs` is valid for the handler call.
    let (h, regs) = unsafe { (&*ctx.cast::<T>(), Regs::from_raw(regs)) };
    h.pre(regs);
}

impl<T: KprobeHandler> Kprobe<T> {
    /// Registers a kprobe on `symbol` (a failure is logged).
    pub(crate) fn register(symbol: &'static CStr, handler: T) -> Result<Self> {
        let handler = KBox::pin(handler, GFP_KERNEL)?;
        let ctx: *const T = &*handler;
        // SAFETY: an immutable C constant.
        let mut probe = probe_memory(unsafe { ffi::ia_kprobe_size })?;
        // SAFETY: `probe` is `ia_kprobe_size` zeroed, suitably aligned
        // bytes that stay in place until `drop` unregisters the probe (or
        // are freed here unregistered); `symbol` is a NUL-terminated static
        // string; `ctx` stays valid until `drop` unregisters the probe.
        to_result(unsafe {
            ffi::ia_kprobe_register(
                probe.as_mut_ptr().cast(),
                symbol.as_char_ptr(),
                Some(kprobe_pre::<T>),
                ctx.cast(),
            )
        })
        .inspect_err(|e| pr_err!("kprobe on {}: {:?}\n", symbol, e))?;
        // INVARIANT: registered above with `ctx` pointing at `*handler`.
        Ok(Self {
            probe,
            _handler: handler,
        })
    }
}

impl<T: KprobeHandler> Drop for Kprobe<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); returns once no handler runs,
        // so `self._handler` and `self.probe` may be freed afterwards.
        unsafe { ffi::ia_kprobe_unregister(self.probe.as_mut_ptr().cast()) };
    }
}

/// What a [`Kretprobe`] runs.
pub(crate) trait KretprobeHandler: Send + Sync {
    /// Runs at function entry.  Returning `Some(data)` arms the return
    /// handler for this call, which receives `data`.
    fn entry(&self, regs: &Regs) -> Option<usize>;
    /// Runs when the function returns.
    fn ret(&self, regs: &Regs, data: usize);
}

/// A registered kretprobe.
///
/// # Invariants
///
/// `probe` holds a registered `struct ia_kretprobe` whose context points
/// at `*handler`.
pub(crate) struct Kretprobe<T: KretprobeHandler> {
    probe: KVec<u64>,
    _handler: Pin<KBox<T>>,
}

// SAFETY: as for `Kprobe`.
unsafe impl<T: KretprobeHandler> Send for Kretprobe<T> {}
// SAFETY: `&self` methods only read the `nmissed` counter.
unsafe impl<T: KretprobeHandler> Sync for Kretprobe<T> {}

/// The kretprobe entry-handler trampoline.
///
/// # Safety
///
/// As for `kprobe_pre`; `data` is this instance's private word.
unsafe extern "C" fn kret_entry<T: KretprobeHandler>(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: *mut c_ulong,
) -> bool {
    // SAFETY: as in `kprobe_pre`; `data` is this instance's private word.
    let (h, r) = unsafe { (&*ctx.cast::<T>(), Regs::from_raw(regs)) };
    match h.entry(r) {
        Some(d) => {
            // SAFETY: `data` is valid for writes (`data_size` is one word).
            unsafe { *data = d as c_ulong };
            true
        }
        None => false,
    }
}

/// The kretprobe return-handler trampoline.
///
/// # Safety
///
/// As for `kprobe_pre`.
unsafe extern "C" fn kret_ret<T: KretprobeHandler>(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: c_ulong,
) {
    // SAFETY: as in `kprobe_pre`.
    let (h, r) = unsafe { (&*ctx.cast::<T>(), Regs::from_raw(regs)) };
    h.ret(r, data);
}

impl<T: KretprobeHandler> Kretprobe<T> {
    /// Registers a kretprobe on `symbol`, with up to `maxactive` concurrent
    /// instances (0: the kernel's default); a failure is logged.
    pub(crate) fn register(symbol: &'static CStr, maxactive: i32, handler: T) -> Result<Self> {
        let handler = KBox::pin(handler, GFP_KERNEL)?;
        let ctx: *const T = &*handler;
        // SAFETY: an immutable C constant.
        let mut probe = probe_memory(unsafe { ffi::ia_kretprobe_size })?;
        // SAFETY: as in `Kprobe::register`, with `ia_kretprobe_size` bytes.
        to_result(unsafe {
            ffi::ia_kretprobe_register(
                probe.as_mut_ptr().cast(),
                symbol.as_char_ptr(),
                Some(kret_entry::<T>),
                Some(kret_ret::<T>),
                ctx.cast(),
                maxactive,
            )
        })
        .inspect_err(|e| pr_err!("kretprobe on {}: {:?}\n", symbol, e))?;
        // INVARIANT: registered above with `ctx` pointing at `*handler`.
        Ok(Self {
            probe,
            _handler: handler,
        })
    }

    /// Calls missed because all `maxactive` instances were in use.
    pub(crate) fn nmissed(&self) -> u64 {
        // SAFETY: registered (type invariant); only read (`READ_ONCE()`).
        unsafe { ffi::ia_kretprobe_nmissed(self.probe.as_ptr().cast_mut().cast()) }.max(0) as u64
    }
}

impl<T: KretprobeHandler> Drop for Kretprobe<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); `unregister_kretprobe()`
        // returns once no handler runs and pending instances will not call
        // back, so `self._handler` and `self.probe` may be freed afterwards.
        unsafe { ffi::ia_kretprobe_unregister(self.probe.as_mut_ptr().cast()) };
    }
}
