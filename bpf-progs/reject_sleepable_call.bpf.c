// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: a sleepable-only helper from a non-sleepable program. */
#include "inode_addons.h"

SEC("fentry/security_file_open")
int BPF_PROG(reject_sleepable_call, struct file *file)
{
	char buf[8];

	bpf_copy_from_user(buf, sizeof(buf), (void *)0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
