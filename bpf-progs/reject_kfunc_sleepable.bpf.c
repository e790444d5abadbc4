// SPDX-License-Identifier: GPL-2.0
/*
 * Must be rejected: the module's kfuncs from a sleepable program.  What they
 * return is only valid until the end of an RCU read-side section, which a
 * sleepable program does not run in (module/ia_glue.c, ia_kfunc_filter()).
 * fentry.s needs an error-injectable target: a system call.
 */
#include "inode_addons.h"

SEC("fentry.s/__x64_sys_personality")
int BPF_PROG(reject_kfunc_sleepable)
{
	struct task_struct *task = bpf_get_current_task_btf();

	kfunc_types_complete();
	bpf_inode_addons_get(task->fs->pwd.dentry->d_inode);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
