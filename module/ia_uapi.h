/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * inode_addons: the userspace ABI of /dev/inode_addons.
 *
 * The one definition of struct ia_query: module/ffi.rs's IaQuery is checked
 * against it when the module loads (ia_query_layout in ia_glue.c), and
 * userspace-test generates its Query from this file when it is built
 * (userspace-test/build.rs).  Fields are __u32/__s32/__u64 only, one per
 * line, each with a trailing comment: the generator relies on that.
 */
#ifndef _INODE_ADDONS_UAPI_H
#define _INODE_ADDONS_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

struct ia_query {
	__s32 fd;		/* in: file descriptor of the inode */
	__u32 flags;		/* in: IA_QUERY_* */
	__u64 ino;		/* out: inode number */
	__u32 present;		/* out: 1 if the inode has addons */
	__u32 created;		/* out: 1 if this call created them */
	__u32 shadow_mask;	/* out: addons' i_fsnotify_mask */
	__u32 real_mask;	/* out: inode->i_fsnotify_mask */
	__u32 shadow_has_marks;	/* out: addons say the inode has marks */
	__u32 real_has_marks;	/* out: inode->i_fsnotify_marks != NULL */
};

#define IA_QUERY_CREATE 0x1
#define IA_IOC_MAGIC 0xa1
#define IA_IOC_QUERY _IOWR(IA_IOC_MAGIC, 1, struct ia_query)

#endif /* _INODE_ADDONS_UAPI_H */
