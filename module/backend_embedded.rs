// SPDX-License-Identifier: GPL-2.0

//! Placeholder for the embedded backend (`--cfg ia_backend_embedded`).
//!
//! On a kernel whose `struct inode` carries `struct inode_addons
//! *i_addons`, this file implements [`crate::backend::Backend`] with
//! `cmpxchg()` on that field instead of the side table and probes: lookup
//! is `rcu_dereference(inode->i_addons)`, get-or-create allocates, checks
//! `I_FREEING | I_WILL_FREE` under `i_lock` and installs with `cmpxchg()`,
//! and the kernel frees the object in `__destroy_inode()`.  It is written by
//! the series that adds the field; until then building with the cfg fails
//! here.

compile_error!("the embedded backend needs a kernel with struct inode::i_addons");
