// SPDX-License-Identifier: GPL-2.0
/*
 * A BPF LSM program that creates inode storage for every new inode, in
 * inode_alloc_security (tests/bpf_lsm_inode_alloc_storage.rs).  On stock
 * the storage lives in the bpf LSM's inode blob, allocated just before the
 * hook runs; the series must keep this working.
 *
 * tag_new_inode: inode allocations of the test thread, and how many got
 *                storage (tagged with TAG).
 * check_tag:     opens of the test thread, and how many found the tag.
 */
#include "inode_addons.h"

#define TAG 0x1a2b3c4dULL

INODE_STORAGE_U64(alloc_tag);

u64 alloc_calls, alloc_tagged;
u64 open_calls, open_tagged;

SEC("lsm/inode_alloc_security")
int BPF_PROG(tag_new_inode, struct inode *inode, int ret)
{
	u64 *tag;

	if (ret || !from_test_thread())
		return ret;
	alloc_calls++;
	tag = bpf_inode_storage_get(&alloc_tag, inode, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tag) {
		*tag = TAG;
		alloc_tagged++;
	}
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(check_tag, struct file *file, int ret)
{
	u64 *tag;

	if (ret || !from_test_thread())
		return ret;
	open_calls++;
	tag = bpf_inode_storage_get(&alloc_tag, file->f_inode, 0, 0);
	if (tag && *tag == TAG)
		open_tagged++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
