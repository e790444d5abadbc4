// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections and deferred freeing.
//!
//! The 6.12 `kernel` crate has no RCU abstraction; this is the minimum the
//! module needs.

use crate::ffi;
use core::marker::PhantomData;
use kernel::bindings;

/// An RCU read-side critical section, held until dropped.
///
/// References handed out with the guard's lifetime (e.g. by
/// `RhashTable::lookup` in `rhashtable.rs`) stay valid until it is dropped,
/// because objects removed from RCU-protected structures are only freed
/// after a grace period.
pub(crate) struct RcuGuard {
    /// `rcu_read_lock()` must be paired with `rcu_read_unlock()` on the same
    /// CPU/task: neither `Send` nor `Sync`.
    _not_send: PhantomData<*mut ()>,
}

impl RcuGuard {
    /// Enters an RCU read-side critical section.
    pub(crate) fn new() -> Self {
        // SAFETY: `rcu_read_lock()` has no precondition; it is paired with
        // `rcu_read_unlock()` in `drop`, on the same task since the guard is
        // neither `Send` nor `Sync`.
        unsafe { ffi::ia_rcu_read_lock() };
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Drop for RcuGuard {
    fn drop(&mut self) {
        // SAFETY: paired with `rcu_read_lock()` in `new`.
        unsafe { ffi::ia_rcu_read_unlock() };
    }
}

/// Waits for every pending `call_rcu()` callback to finish.
///
/// Must run before module text and data used by the callbacks go away.
pub(crate) fn barrier() {
    // SAFETY: `rcu_barrier()` may sleep; all callers are in process context
    // (module exit).
    unsafe { bindings::rcu_barrier() };
}

/// Waits for a grace period: every RCU read-side section that began
/// before the call has ended.  Process context (may sleep).
pub(crate) fn synchronize() {
    // SAFETY: may sleep; callers are in process context.
    unsafe { bindings::synchronize_rcu() };
}
