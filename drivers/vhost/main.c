// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_vhost: the engine behind kvio's vhost devices.  It has no device
 * node of its own; device modules such as kvio_net build on its exported
 * API (include/kvio/vhost.h).
 */
#include <linux/module.h>

#include "internal.h"

#define CREATE_TRACE_POINTS
#include "kvio_trace.h"

static int __init kvio_vhost_init(void)
{
	kvio_debugfs_init();
	return 0;
}
module_init(kvio_vhost_init);

static void __exit kvio_vhost_exit(void)
{
	kvio_debugfs_exit();
}
module_exit(kvio_vhost_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kvio developers");
MODULE_DESCRIPTION("kvio vhost engine: rings, memory table, dirty log, per-VM worker");
MODULE_VERSION(KVIO_VERSION);
