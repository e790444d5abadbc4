// SPDX-License-Identifier: GPL-2.0

//! `struct inode_addons` prototyped on an unmodified kernel.
//!
//! Per-inode addons (fsnotify marks pointer, BPF storage pointer, fsnotify
//! mask) allocated on demand with the proposal's cmpxchg semantics, kept in
//! a side table tied to inode lifetimes by probes, shadowing the real
//! fsnotify state, with stats in debugfs, a per-inode query ioctl on
//! `/dev/inode_addons` and kfuncs for BPF tracing programs.  See README.md.

use kernel::prelude::*;

mod active;
#[cfg(not(ia_backend_embedded))]
mod addons;
mod backend;
#[cfg(ia_backend_embedded)]
mod backend_embedded;
#[cfg(not(ia_backend_embedded))]
mod backend_table;
mod bench;
mod c_entry;
mod census;
mod control;
mod debugfs;
mod ffi;
#[cfg(not(ia_backend_embedded))]
mod fsnotify_probes;
mod inode;
#[cfg(not(ia_backend_embedded))]
mod kprobe;
mod kthread;
mod rcu;
mod recursion;
mod rhashtable;
mod selfcheck;
mod stats;
mod vfs;

use active::ActiveBackend;
use backend::Backend;
use control::{ModuleState, Registration};
use kernel::{alloc::flags::GFP_KERNEL, sync::Arc};
use stats::STATS;

module! {
    type: InodeAddonsModule,
    name: "inode_addons",
    author: "inode-addons project",
    description: "Prototype of struct inode_addons: side table, fsnotify shadow, kfuncs",
    license: "GPL",
}

struct InodeAddonsModule {
    /// The C entry points and the state they use; `None` only while
    /// dropping.
    registration: Option<Registration>,
    /// The inode census file (issue 13), `None` if it could not be made;
    /// independent of the backend, removed after it.
    _census: Option<census::Census>,
}

/// Starts the backend (and its probes) and registers the C entry points.
fn start() -> Result<Registration> {
    ffi::IaQuery::check_layout()?;
    ffi::check_scratch_words()?;
    let backend = ActiveBackend::new()?;
    let state = Arc::pin_init(ModuleState::new(backend), GFP_KERNEL)?;
    // SAFETY: the registration goes into the module object, dropped in its
    // exit, or is dropped on the init error path.
    unsafe { Registration::new(state) }
}

impl kernel::Module for InodeAddonsModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        match start() {
            Ok(registration) => {
                pr_info!(
                    "loaded: backend {}, struct inode_addons is {} bytes\n",
                    ActiveBackend::NAME,
                    ActiveBackend::OBJECT_SIZE
                );
                let census = census::Census::register().ok();
                Ok(Self {
                    registration: Some(registration),
                    _census: census,
                })
            }
            Err(e) => {
                // Whatever was started is stopped by now (dropped); entries
                // the probes removed meanwhile may still await their RCU
                // callback, which is module code.
                rcu::barrier();
                Err(e)
            }
        }
    }
}

impl Drop for InodeAddonsModule {
    fn drop(&mut self) {
        // Returns once no debugfs callback runs; no ioctl runs either: an
        // open file of the device holds a module reference.
        let state = self.registration.take().and_then(Registration::unregister);
        let drained = state.as_ref().map_or(0, |a| a.backend.len());
        // Unregisters the probes (waiting for running handlers), then frees
        // the table and every entry still in it.
        drop(state);
        // Entries removed earlier are freed by RCU callbacks in this module.
        rcu::barrier();
        let (allocated, freed) = (STATS.allocated.get(), STATS.freed.get());
        if !ActiveBackend::OWNS_OBJECTS {
            // The kernel owns the addons and frees them with their inodes:
            // nothing drained, the inodes with addons keep them.
            pr_info!(
                "unloaded: drained 0 addons, allocated {allocated} freed {freed}, kept {drained} (owned by the kernel)\n"
            );
            return;
        }
        pr_info!("unloaded: drained {drained} addons, allocated {allocated} freed {freed}\n");
        if allocated != freed {
            pr_err!("leaked {} addons\n", allocated.wrapping_sub(freed));
        }
    }
}
