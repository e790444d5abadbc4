// SPDX-License-Identifier: GPL-2.0

//! Running a function in several kernel threads and waiting for them, and
//! the scheduler helpers of long loops.
//!
//! C header: [`include/linux/kthread.h`](srctree/include/linux/kthread.h)
//!
//! 6.12's `kernel` crate has no kthread abstraction; this is what the
//! microbenchmark needs.

use crate::ffi;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings, c_str,
    error::{from_err_ptr, to_result},
    ffi::{c_int, c_uint, c_void},
    prelude::*,
    types::Opaque,
};

/// `cond_resched()`: lets other tasks run.  Process context, holding no
/// spinlock and no RCU read-side section (may sleep).
pub(crate) fn cond_resched() {
    // SAFETY: may sleep: the caller holds nothing that forbids it (above).
    unsafe { ffi::ia_cond_resched() };
}

/// Whether the current task has a fatal signal pending.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: reads the current task's pending signals; no precondition.
    unsafe { ffi::ia_fatal_signal_pending() }
}

/// What every thread of one [`run_parallel`] call shares.
struct Shared<'a> {
    body: &'a (dyn Fn(usize) -> Result + Sync),
    /// Threads that have not finished `body` yet.
    left: AtomicUsize,
    /// Completed by the last thread to finish.
    done: Opaque<bindings::completion>,
}

/// One thread's part.
struct Worker<'a> {
    shared: &'a Shared<'a>,
    idx: usize,
    /// `body`'s result, as an errno (0: success).
    ret: AtomicI32,
}

/// A thread's function.
///
/// # Safety
///
/// `data` is a `Worker` of a [`run_parallel`] call, which outlives the
/// thread (it stops and reaps every thread before returning).
unsafe extern "C" fn thread_fn(data: *mut c_void) -> c_int {
    // SAFETY: by the caller.
    let w = unsafe { &*data.cast::<Worker<'_>>() };
    let r = (w.shared.body)(w.idx);
    w.ret
        .store(r.err().map_or(0, |e| e.to_errno()), Ordering::Relaxed);
    if w.shared.left.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: initialised by `run_parallel`, alive until it returns,
        // which is after this thread has exited.
        unsafe { bindings::complete(w.shared.done.get()) };
    }
    0
}

/// Runs `body(i)` for every `i < n` in `n` kernel threads and waits for all
/// of them.  A fatal signal calls `stop()` (the threads must then return
/// soon) and still waits for them.
///
/// Returns the first thread's error, `EINTR` after a fatal signal, or a
/// thread creation error (then `body` ran in no thread).  Process context.
pub(crate) fn run_parallel(
    n: usize,
    body: &(dyn Fn(usize) -> Result + Sync),
    stop: impl FnOnce(),
) -> Result {
    if n == 0 {
        return Ok(());
    }
    let shared = Shared {
        body,
        left: AtomicUsize::new(n),
        done: Opaque::uninit(),
    };
    // SAFETY: `done` is initialised in place and not moved afterwards
    // (`shared` stays where it is until this function returns).
    unsafe { ffi::ia_init_completion(shared.done.get()) };
    let mut workers = KVec::with_capacity(n, GFP_KERNEL)?;
    for idx in 0..n {
        let ret = AtomicI32::new(0);
        workers.push(
            Worker {
                shared: &shared,
                idx,
                ret,
            },
            GFP_KERNEL,
        )?;
    }
    // The workers stay in place: `workers` never grows any more.
    let mut tasks: KVec<*mut bindings::task_struct> = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut created = Ok(());
    for w in workers.iter() {
        // SAFETY: `thread_fn` gets `w`, which outlives the thread (every
        // thread is stopped below); the format takes one `unsigned int`.
        let t = from_err_ptr(unsafe {
            bindings::kthread_create_on_node(
                Some(thread_fn),
                (w as *const Worker<'_>).cast_mut().cast(),
                bindings::NUMA_NO_NODE,
                c_str!("ia_bench/%u").as_char_ptr(),
                w.idx as c_uint,
            )
        });
        match t {
            Ok(t) => {
                // SAFETY: `t` is a new thread; the reference taken here is
                // dropped by `kthread_stop_put()` (the thread may exit
                // before that).
                unsafe { bindings::get_task_struct(t) };
                // Cannot fail: the capacity is `n`.
                tasks.push(t, GFP_KERNEL)?;
            }
            Err(e) => {
                created = Err(e);
                break;
            }
        }
    }
    let mut r = created;
    if r.is_ok() {
        for &t in tasks.iter() {
            // SAFETY: a thread created above, held by our reference.
            unsafe { bindings::wake_up_process(t) };
        }
        // SAFETY: `done` is initialised; completed by the last thread.
        if unsafe { bindings::wait_for_completion_killable(shared.done.get()) } != 0 {
            stop();
            // SAFETY: as above.
            unsafe { bindings::wait_for_completion(shared.done.get()) };
            r = Err(EINTR);
        }
    }
    for &t in tasks.iter() {
        // SAFETY: a thread created above with our reference: a thread never
        // woken up (creation failed for a later one) exits without running
        // `thread_fn`; the others have returned from it.  Drops our
        // reference.
        unsafe { bindings::kthread_stop_put(t) };
    }
    r?;
    for w in workers.iter() {
        to_result(w.ret.load(Ordering::Relaxed))?;
    }
    Ok(())
}
