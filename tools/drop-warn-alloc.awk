# SPDX-License-Identifier: GPL-2.0
# Drops warn_alloc() dumps from a kernel log: from "vmalloc error:" or
# "page allocation failure:" to the end of the stack trace that follows.
# Used by tools/vm-run.sh (host) and tools/guest-test.sh (guest).
/vmalloc error:|page allocation failure:/ { skip = 1 }
!skip { print }
skip && /<\/TASK>/ { skip = 0 }
