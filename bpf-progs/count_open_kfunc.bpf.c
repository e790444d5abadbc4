// SPDX-License-Identifier: GPL-2.0
/*
 * Count opens per inode in the module's per-inode scratch area, from a
 * non-sleepable fentry program (the atomic allocation path).  Every flavor.
 *
 * last_count: the count stored in the opened inode's addons after this open.
 * no_addons:  opens for which bpf_inode_addons_get() returned NULL.
 */
#include "inode_addons.h"

u64 last_count;
u64 last_ino;
u64 opens;
u64 no_addons;

SEC("fentry/security_file_open")
int BPF_PROG(count_open, struct file *file)
{
	struct inode *inode = file_inode_of(file);
	u64 *scratch;

	if (!from_test_thread())
		return 0;
	opens++;
	if (!bpf_inode_addons_get(inode)) {
		no_addons++;
		return 0;
	}
	scratch = (u64 *)bpf_inode_addons_scratch(inode, IA_SCRATCH_BYTES);
	if (!scratch)
		return 0;
	scratch[0] += 1;
	last_count = scratch[0];
	last_ino = inode->i_ino;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
