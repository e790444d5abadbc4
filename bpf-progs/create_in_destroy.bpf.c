// SPDX-License-Identifier: GPL-2.0
/*
 * Ask for addons inside an inode's destruction, where no addons may be made
 * (tests/lifetime_bpf_create_in_destroy.rs).
 *
 * The LSM program fails every inode allocation of the test thread in
 * security_inode_alloc(), after inode_init_always() set the inode up:
 * alloc_inode() then destroys it with ->destroy_inode() and frees it at
 * once, without I_FREEING, without __destroy_inode() and after the side
 * table's inode_init_always_gfp() return probe ran.  The fentry program on
 * tmpfs's ->destroy_inode() asks for the addons of that inode there, and of
 * the inodes the test thread evicts (unlink), where destroy_inode() calls it
 * after __destroy_inode().
 *
 * alloc_failed:  inode allocations this program failed
 * destroy_calls: shmem_destroy_inode() calls in the test thread (failed
 *                allocations and evictions)
 * created:       of those, calls where bpf_inode_addons_get() gave addons
 */
#include "inode_addons.h"

#define ENOMEM 12

u64 alloc_failed;
u64 destroy_calls;
u64 created;

SEC("lsm/inode_alloc_security")
int BPF_PROG(fail_inode_alloc, struct inode *inode, int ret)
{
	if (ret || !from_test_thread())
		return ret;
	alloc_failed++;
	return -ENOMEM;
}

SEC("fentry/shmem_destroy_inode")
int BPF_PROG(create_in_destroy, struct inode *inode)
{
	kfunc_types_complete();
	if (!from_test_thread())
		return 0;
	destroy_calls++;
	if (bpf_inode_addons_get(inode))
		created++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
