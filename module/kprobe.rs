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
use core::{marker::PhantomData, mem::size_of};
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
pub(crate) trait KprobeHandler: Send + Sync + 'static {
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

/// A kernel function a [`Kretprobe`] probes.
pub(crate) trait ProbedFn: 'static {
    /// Its name.
    const SYMBOL: &'static CStr;
    /// The argument (0: the first) whose value the handlers get at entry
    /// and, saved, at return: [`Entry::arg_addr`], [`Return::arg_addr`].
    const ARG: u32;
    /// What argument `ARG` points to.
    type Arg;
}

/// A [`ProbedFn`] whose argument `ARG` handlers may borrow at its entry.
///
/// # Safety
///
/// At the function's entry, argument `ARG` is a valid pointer to a
/// `Self::Arg` that meets the type's invariants (as `&Self::Arg`) until
/// the entry handler returns.
pub(crate) unsafe trait ArgAtEntry: ProbedFn {}

/// A [`ProbedFn`] whose argument `ARG` handlers may borrow at its return.
///
/// # Safety
///
/// As [`ArgAtEntry`], from the function's entry until its return handler
/// returns (the function's caller resumes after that).
pub(crate) unsafe trait ArgUntilReturn: ArgAtEntry {}

/// The entry of a call of `F`, for the span of the entry handler.
pub(crate) struct Entry<'a, F: ProbedFn> {
    arg: usize,
    _call: PhantomData<(&'a (), F)>,
}

impl<'a, F: ProbedFn> Entry<'a, F> {
    /// The value of argument `F::ARG` (an address: not a borrow).
    pub(crate) fn arg_addr(&self) -> usize {
        self.arg
    }
}

impl<'a, F: ArgAtEntry> Entry<'a, F> {
    /// Argument `F::ARG`, borrowed for the entry handler.
    pub(crate) fn arg(&self) -> Option<&'a F::Arg> {
        // SAFETY: the function's argument `ARG` at its entry, valid for
        // the entry handler (`ArgAtEntry`), which `'a` does not outlive.
        unsafe { (self.arg as *const F::Arg).as_ref() }
    }
}

/// The return of a call of `F`, for the span of the return handler.
pub(crate) struct Return<'a, F: ProbedFn> {
    regs: &'a Regs,
    arg: usize,
    _fn: PhantomData<F>,
}

impl<F: ProbedFn> Return<'_, F> {
    /// The function's return value.
    pub(crate) fn value(&self) -> usize {
        self.regs.ret()
    }

    /// The value argument `F::ARG` had at the entry (an address: not a
    /// borrow).
    pub(crate) fn arg_addr(&self) -> usize {
        self.arg
    }
}

impl<'a, F: ArgUntilReturn> Return<'a, F> {
    /// Argument `F::ARG` of the call, borrowed for the return handler.
    pub(crate) fn arg(&self) -> Option<&'a F::Arg> {
        // SAFETY: the call's argument `ARG`, saved at the entry, valid
        // until the return handler returns (`ArgUntilReturn`), which `'a`
        // does not outlive.
        unsafe { (self.arg as *const F::Arg).as_ref() }
    }
}

/// What a [`Kretprobe`] runs.
pub(crate) trait KretprobeHandler: Send + Sync + 'static {
    /// The probed function.
    type Probed: ProbedFn;
    /// Runs at function entry.  Returning `Some(data)` arms the return
    /// handler for this call, which receives `data`.
    fn entry(&self, call: &Entry<'_, Self::Probed>) -> Option<usize>;
    /// Runs when the function returns.
    fn ret(&self, call: &Return<'_, Self::Probed>, data: usize);
}

/// A registered kretprobe.
///
/// # Invariants
///
/// `probe` holds a registered `struct ia_kretprobe` on `T::Probed::SYMBOL`
/// whose context points at `*handler`.
pub(crate) struct Kretprobe<T: KretprobeHandler> {
    probe: KVec<u64>,
    _handler: Pin<KBox<T>>,
}

// SAFETY: as for `Kprobe`.
unsafe impl<T: KretprobeHandler> Send for Kretprobe<T> {}
// SAFETY: `&self` methods only read the `nmissed` counter.
unsafe impl<T: KretprobeHandler> Sync for Kretprobe<T> {}

/// A call's private data in its kretprobe instance (`ri->data`): the
/// argument [`ProbedFn::ARG`] at entry, then the entry handler's word.
type KretData = [usize; 2];

/// The kretprobe entry-handler trampoline.
///
/// # Safety
///
/// As for `kprobe_pre`, at the entry of `T::Probed`; `data` is this
/// instance's private data ([`KretData`], as registered).
unsafe extern "C" fn kret_entry<T: KretprobeHandler>(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: *mut c_ulong,
) -> bool {
    // SAFETY: as in `kprobe_pre`.
    let (h, regs) = unsafe { (&*ctx.cast::<T>(), Regs::from_raw(regs)) };
    let call = Entry {
        arg: regs.arg(T::Probed::ARG),
        _call: PhantomData,
    };
    match h.entry(&call) {
        Some(d) => {
            // SAFETY: `data` is valid for writes of a `KretData` (by the
            // caller), read back by `kret_ret` for this call only.
            unsafe { data.cast::<KretData>().write([call.arg, d]) };
            true
        }
        None => false,
    }
}

/// The kretprobe return-handler trampoline.
///
/// # Safety
///
/// As for `kprobe_pre`, at the return of a call of `T::Probed` for which
/// [`kret_entry`] armed it; `data` is that call's private data.
unsafe extern "C" fn kret_ret<T: KretprobeHandler>(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: *const c_ulong,
) {
    // SAFETY: as in `kprobe_pre`; `data` holds the `KretData` `kret_entry`
    // wrote for this call.
    let (h, regs, [arg, d]) = unsafe {
        (
            &*ctx.cast::<T>(),
            Regs::from_raw(regs),
            data.cast::<KretData>().read(),
        )
    };
    let call = Return {
        regs,
        arg,
        _fn: PhantomData,
    };
    h.ret(&call, d);
}

impl<T: KretprobeHandler> Kretprobe<T> {
    /// Registers a kretprobe on `T::Probed`, with up to `maxactive`
    /// concurrent instances (0: the kernel's default); a failure is logged.
    pub(crate) fn register(maxactive: i32, handler: T) -> Result<Self> {
        let symbol = T::Probed::SYMBOL;
        let handler = KBox::pin(handler, GFP_KERNEL)?;
        let ctx: *const T = &*handler;
        // SAFETY: an immutable C constant.
        let mut probe = probe_memory(unsafe { ffi::ia_kretprobe_size })?;
        // SAFETY: as in `Kprobe::register`, with `ia_kretprobe_size` bytes;
        // `kret_entry` and `kret_ret` use `data_size` bytes of `ri->data`.
        to_result(unsafe {
            ffi::ia_kretprobe_register(
                probe.as_mut_ptr().cast(),
                symbol.as_char_ptr(),
                Some(kret_entry::<T>),
                Some(kret_ret::<T>),
                ctx.cast(),
                maxactive,
                size_of::<KretData>(),
            )
        })
        .inspect_err(|e| pr_err!("kretprobe on {}: {:?}\n", symbol, e))?;
        // INVARIANT: registered above on `T::Probed::SYMBOL` with `ctx`
        // pointing at `*handler`.
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
