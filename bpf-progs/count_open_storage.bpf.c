// SPDX-License-Identifier: GPL-2.0
/*
 * Count opens per inode with bpf_inode_storage_get() from a tracing
 * (fentry) program.  Accepted only on the patched flavors; on stock the
 * verifier refuses the helper for tracing programs.
 */
#include "inode_addons.h"

INODE_STORAGE_U64(open_count);

u64 last_count;
u64 last_ino;
u64 opens;
u64 no_storage;

SEC("fentry/security_file_open")
int BPF_PROG(count_open_storage, struct file *file)
{
	struct inode *inode = file_inode_of(file);
	u64 *count;

	if (!from_test_thread())
		return 0;
	opens++;
	count = bpf_inode_storage_get(&open_count, inode, 0,
				      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!count) {
		no_storage++;
		return 0;
	}
	*count += 1;
	last_count = *count;
	last_ino = inode->i_ino;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
