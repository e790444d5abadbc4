// SPDX-License-Identifier: GPL-2.0

//! The backend this module is built with: the one place the choice is made.
//!
//! `module/Kbuild` passes `--cfg ia_backend_embedded` on kernels with the
//! inode_addons series (`CONFIG_INODE_ADDONS`); the rest of the module is
//! generic over [`crate::backend::Backend`] or names [`ActiveBackend`].

#[cfg(not(ia_backend_embedded))]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_table::TableBackend;

#[cfg(ia_backend_embedded)]
/// The backend this module is built with.
pub(crate) type ActiveBackend = crate::backend_embedded::EmbeddedBackend;
