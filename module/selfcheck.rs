// SPDX-License-Identifier: GPL-2.0

//! The self-check: every addons object's recorded fsnotify state against
//! its inode's real fields.

use crate::{
    backend::{AddonsObject, Backend},
    stats::STATS,
};
use kernel::prelude::*;

/// Result of a self-check.
pub(crate) struct SelfCheck {
    /// Addons objects checked.
    pub(crate) checked: u64,
    /// Of those, inodes that really have fsnotify marks.
    pub(crate) with_marks: u64,
    /// Shadows that differ from the real fields.
    pub(crate) mismatches: u64,
}

/// Compares every shadow with the inode's real fsnotify fields.
///
/// With the embedded backend the "shadow" is read from the kernel's own
/// fields through the addons (`i_fsnotify_marks` in `inode->i_addons`, the
/// mask there or, with patch 0005, in the inode), the same fields the real
/// state is read from: a mismatch there can only be a change in flight.
pub(crate) fn run<B: Backend>(backend: &B) -> Result<SelfCheck> {
    let mut r = SelfCheck {
        checked: 0,
        with_marks: 0,
        mismatches: 0,
    };
    backend.for_each(|a, inode| {
        let real = inode.fsnotify_state();
        r.checked += 1;
        if real.has_marks {
            r.with_marks += 1;
        }
        if a.recorded_fsnotify_state(inode) != real {
            r.mismatches += 1;
            STATS.shadow_mismatches.inc();
        }
    })?;
    STATS.selfchecks.inc();
    Ok(r)
}
