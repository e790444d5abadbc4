// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: a store one byte past the scratch area. */
#include "inode_addons.h"

SEC("fentry/security_file_open")
int BPF_PROG(reject_scratch_oob, struct file *file)
{
	u8 *s = bpf_inode_addons_scratch(file_inode_of(file), IA_SCRATCH_BYTES);

	if (s)
		s[IA_SCRATCH_BYTES] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
