// SPDX-License-Identifier: GPL-2.0

//! The module's per-CPU recursion guard, after BPF local storage's
//! `bpf_task_storage_busy`, and the context queries of the kfunc path
//! (module/README.md, "Recursion" and "The slab allocator").
//!
//! Every section of the module that holds a lock its kfuncs also take is
//! a [`Busy`] section; a kfunc called while this CPU is in one fails (NULL)
//! instead of taking the lock again (`tests/lifetime_bpf_recursion.rs`).

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
    /// Enters a section; also returns how many sections this CPU is in now,
    /// this one included.
    fn enter_counted() -> (Self, i32) {
        // SAFETY: disables preemption and counts this section on this CPU;
        // undone by `ia_busy_dec()` in `drop`, on this CPU (the value is
        // not `Send`, and preemption stays disabled until then).
        let n = unsafe { ffi::ia_busy_inc() };
        let busy = Self {
            _not_send: PhantomData,
        };
        (busy, n)
    }

    /// Enters a section unconditionally (the module's own paths, which may
    /// nest).  The caller must not sleep until the value is dropped.
    pub(crate) fn enter() -> Self {
        Self::enter_counted().0
    }

    /// Enters a section unless this CPU is in one already (BPF kfuncs);
    /// `None` leaves this CPU's count as it was.
    pub(crate) fn try_enter() -> Option<Self> {
        let (busy, n) = Self::enter_counted();
        // Dropping `busy` (`None`) leaves the section just entered.
        (n == 1).then_some(busy)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // SAFETY: entered by `enter_counted`, on this CPU.
        unsafe { ffi::ia_busy_dec() };
    }
}

/// Whether this CPU runs in task context (`in_task()`): not in a hard or
/// soft interrupt, nor in an NMI.
pub(crate) fn in_task() -> bool {
    // SAFETY: reads this CPU's preempt count; no precondition.
    unsafe { ffi::ia_in_task() }
}

/// Whether interrupts are disabled on this CPU (`irqs_disabled()`).
fn irqs_disabled() -> bool {
    // SAFETY: reads this CPU's interrupt flag; no precondition.
    unsafe { ffi::ia_irqs_disabled() }
}

/// Whether a kfunc, called by a BPF program that may run anywhere, may
/// allocate from the slab allocator (`GFP_ATOMIC`) here: in task context
/// with interrupts enabled.  `GFP_ATOMIC` is safe wherever a hard
/// interrupt could allocate, i.e. with interrupts enabled: the slab and
/// page allocators take their locks with interrupts disabled, or by
/// trylock.  A program that runs with them disabled may have interrupted
/// the allocator inside such a section (the per-CPU slab lock, a node's
/// `list_lock`) and must not allocate
/// (`tests/lifetime_bpf_kfunc_in_allocator.rs`).  6.12 has no
/// any-context allocator a module can use (`bpf_mem_alloc` is not
/// exported; `kmalloc_nolock()` arrived in 6.18).  Task context: the side
/// table's insertion also takes `i_lock`, which is not interrupt-safe; the
/// embedded backend's scratch table keeps the same rule rather than a
/// second one.
///
/// Used by the side table's kfunc path (its entries hold the scratch area)
/// and the embedded backend's scratch table; the embedded backend's addons
/// come from the kernel's any-context allocator
/// (`inode_addons_attach_nolock()`).
pub(crate) fn bpf_may_kmalloc() -> bool {
    in_task() && !irqs_disabled()
}
