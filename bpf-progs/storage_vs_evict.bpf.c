// SPDX-License-Identifier: GPL-2.0
/*
 * Create inode storage from a tracing program on inodes that are being
 * evicted (tests/bpf_storage_create_vs_evict.rs).
 *
 * create_on_permission: security_inode_permission(), also called from the
 *     RCU path walk on directories that another thread removes at the same
 *     time: creation races with their eviction, and loses either to the
 *     i_count/I_FREEING checks or to the placeholder that
 *     __destroy_inode() installs.
 * create_in_destroy:    __destroy_inode() entry, an inode being freed: must
 *     be refused (destroy_map never gets storage any other way).
 * lookup_after_destroy: __destroy_inode() exit, the placeholder installed:
 *     the storage create_on_permission made must be gone from view.
 */
#include "inode_addons.h"

INODE_STORAGE_U64(race_map);
INODE_STORAGE_U64(destroy_map);

u64 perm_calls, perm_created;
u64 destroy_calls, destroy_created;
u64 after_destroy_calls, after_destroy_found;

SEC("fentry/security_inode_permission")
int BPF_PROG(create_on_permission, struct inode *inode, int mask)
{
	asm volatile("" : : "r"(bpf_core_type_size(struct inode)));
	if (!from_test_thread())
		return 0;
	perm_calls++;
	if (bpf_inode_storage_get(&race_map, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		perm_created++;
	return 0;
}

SEC("fentry/__destroy_inode")
int BPF_PROG(create_in_destroy, struct inode *inode)
{
	if (!from_test_thread())
		return 0;
	destroy_calls++;
	if (bpf_inode_storage_get(&destroy_map, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		destroy_created++;
	return 0;
}

SEC("fexit/__destroy_inode")
int BPF_PROG(lookup_after_destroy, struct inode *inode)
{
	if (!from_test_thread())
		return 0;
	after_destroy_calls++;
	if (bpf_inode_storage_get(&race_map, inode, 0, 0))
		after_destroy_found++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
