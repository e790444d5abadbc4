// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: bpf_inode_addons_get()'s result used without a NULL check. */
#include "inode_addons.h"

SEC("fentry/security_file_open")
int BPF_PROG(reject_kfunc_null, struct file *file)
{
	struct inode_addons *a = bpf_inode_addons_get(file_inode_of(file));

	return a->i_fsnotify_marks != 0;
}

char LICENSE[] SEC("license") = "GPL";
