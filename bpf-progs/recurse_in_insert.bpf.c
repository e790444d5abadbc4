// SPDX-License-Identifier: GPL-2.0
/*
 * Call the module's kfunc from inside the module's own insertion path
 * (tests/lifetime_bpf_recursion.rs): the module's recursion guard must make
 * the nested call fail instead of taking the module's locks again.
 *
 * outer: fentry/security_file_open asks for the addons of the opened inode
 * (test thread only): the module takes the inode's i_lock, inserts, and
 * (side table) refreshes the shadow under its shadow lock.
 * in_lock: fexit of the module's ia_inode_trylock() returning true, i.e.
 * with i_lock held (BPF callers never spin on it), asks for the addons of
 * the file system's root directory.
 * in_shadow: fexit of the module's ia_inode_fsnotify_mask(), which the side
 * table calls with its shadow lock held (InodeAddons::sync_shadow(); the
 * test thread calls it nowhere else while the programs are attached), asks
 * for the addons of the working directory: without the guard the nested
 * creation takes that lock again and the CPU deadlocks.
 * in_insert: fentry of the module's ia_rht_lookup_get_insert(), the side
 * table's insertion (i_lock held; its bucket lock is taken inside, in
 * rhashtable's inline code, which has no attach point), asks for the
 * addons of the file system's root directory.
 *
 * *_calls: runs in the test thread; *_created: nested calls that got addons.
 */
#include "inode_addons.h"

u64 outer_calls;
u64 outer_created;
u64 in_lock_calls;
u64 in_lock_created;
u64 in_shadow_calls;
u64 in_shadow_created;
u64 in_insert_calls;
u64 in_insert_created;

static __always_inline bool root_addons(struct inode *inode)
{
	return bpf_inode_addons_get(inode->i_sb->s_root->d_inode);
}

SEC("fentry/security_file_open")
int BPF_PROG(outer, struct file *file)
{
	if (!from_test_thread())
		return 0;
	outer_calls++;
	if (bpf_inode_addons_get(file_inode_of(file)))
		outer_created++;
	return 0;
}

SEC("fexit/ia_inode_trylock")
int BPF_PROG(in_lock, struct inode *inode, bool ret)
{
	if (!ret || !from_test_thread())
		return 0;
	in_lock_calls++;
	if (root_addons(inode))
		in_lock_created++;
	return 0;
}

SEC("fexit/ia_inode_fsnotify_mask")
int BPF_PROG(in_shadow, struct inode *inode, u32 ret)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!from_test_thread())
		return 0;
	in_shadow_calls++;
	if (bpf_inode_addons_get(task->fs->pwd.dentry->d_inode))
		in_shadow_created++;
	return 0;
}

SEC("fentry/ia_rht_lookup_get_insert")
int BPF_PROG(in_insert)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!from_test_thread())
		return 0;
	in_insert_calls++;
	if (root_addons(task->fs->pwd.dentry->d_inode))
		in_insert_created++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
