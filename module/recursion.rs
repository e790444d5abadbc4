// SPDX-License-Identifier: GPL-2.0

//! The module's per-CPU recursion guard, after BPF local storage's
//! `bpf_task_storage_busy`.
//!
//! The module's kfuncs take locks the module also takes on its own paths:
//! the side table's bucket locks, `i_lock` (trylock from BPF), the shadow
//! lock.  A tracing program attached inside one of those sections (a
//! module function called under the lock, the allocator, a tracepoint) that
//! calls a kfunc would take the lock again on the same CPU.  Every such
//! section is a [`Busy`] section, and a kfunc called while this CPU is in
//! one fails (NULL) instead (`tests/lifetime_bpf_recursion.rs`).

use crate::ffi;
use core::marker::PhantomData;

/// This CPU is in a section of the module that BPF kfuncs must not enter;
/// preemption is disabled until dropped.
pub(crate) struct Busy {
    /// Must be dropped on the CPU it was taken on: neither `Send` nor
    /// `Sync`.
    _not_send: PhantomData<*mut ()>,
}

impl Busy {
    /// Enters a section unconditionally (the module's own paths, which may
    /// nest).  The caller must not sleep until the value is dropped.
    pub(crate) fn enter() -> Self {
        // SAFETY: paired with `ia_busy_exit()` in `drop`, on this CPU (the
        // value is not `Send` and preemption is disabled).
        unsafe { ffi::ia_busy_enter() };
        Self {
            _not_send: PhantomData,
        }
    }

    /// Enters a section unless this CPU is in one already (BPF kfuncs).
    pub(crate) fn try_enter() -> Option<Self> {
        // SAFETY: on success paired with `ia_busy_exit()` in `drop`, as in
        // `enter`; on failure nothing is held.
        // Not `then_some()`: its argument is built (and, unused, dropped,
        // which would exit a section never entered) either way.
        unsafe { ffi::ia_busy_try_enter() }.then(|| Self {
            _not_send: PhantomData,
        })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // SAFETY: entered by `enter` or `try_enter`, on this CPU.
        unsafe { ffi::ia_busy_exit() };
    }
}
