// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/kvio/ holds a directory per open device,
 * TYPE-ID (net-3: the device the tracepoints call dev=3), whose file
 * "state" shows its owner and each ring's addresses, indices, event
 * suppression, whether it is broken and why, its worker and counters;
 * and "workers", every worker's thread id, the devices it serves, its CPU
 * time and poll window.  Everything is read without the device's or the
 * rings' locks, as it is at that moment: reading never holds up a ring.
 */
#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>

#include <kvio/vhost.h>

#include "internal.h"

static struct dentry *kvio_debugfs_root;
/* The devices that have a directory; protects the list. */
static LIST_HEAD(kvio_debugfs_devs);
static DEFINE_MUTEX(kvio_debugfs_lock);

static void kvio_debugfs_vring(struct seq_file *m, struct kvio_vring *vr)
{
	const struct kvio_vring_stats *s = &vr->stats;
	const char *why = READ_ONCE(vr->broken_why);
	bool packed = READ_ONCE(vr->packed);

	seq_printf(m, "ring %d\n", vr->index);
	seq_printf(m, "  format %s, size %u, %s\n", packed ? "packed" : "split",
		   READ_ONCE(vr->num),
		   READ_ONCE(vr->backend) ? "running" : "stopped");
	seq_printf(m, "  features %#llx backend_features %#llx\n",
		   READ_ONCE(vr->acked_features),
		   READ_ONCE(vr->acked_backend_features));
	seq_printf(m, "  desc %#llx avail %#llx used %#llx%s log %s\n",
		   READ_ONCE(vr->desc_addr), READ_ONCE(vr->avail_addr),
		   READ_ONCE(vr->used_addr),
		   READ_ONCE(vr->iotlb) ? " (iova)" : "",
		   READ_ONCE(vr->log_used) ? "on" : "off");
	seq_printf(m, "  last_avail %#x avail %#x used %#x\n",
		   READ_ONCE(vr->last_avail_idx), READ_ONCE(vr->avail_idx),
		   READ_ONCE(vr->last_used_idx));
	seq_printf(m, "  notify %s, signalled_used %#x%s\n",
		   READ_ONCE(vr->used_flags) ? "off" : "on",
		   READ_ONCE(vr->signalled_used),
		   READ_ONCE(vr->signalled_used_valid) ? "" : " (none yet)");
	seq_printf(m, "  broken %s", READ_ONCE(vr->broken) ? "yes" : "no");
	if (why)
		seq_printf(m, " (last: %s, chain head %d)", why,
			   READ_ONCE(vr->walk_head));
	seq_puts(m, "\n");
	seq_printf(m, "  kicks %llu frames %llu bytes %llu signals %llu suppressed %llu polls %llu budget %llu\n",
		   READ_ONCE(s->kicks), READ_ONCE(s->frames),
		   READ_ONCE(s->bytes), READ_ONCE(s->signals),
		   READ_ONCE(s->suppressed), READ_ONCE(s->polls),
		   READ_ONCE(s->budget));
	if (READ_ONCE(vr->iotlb) || READ_ONCE(s->misses))
		seq_printf(m, "  iotlb misses %llu\n", READ_ONCE(s->misses));
}

/* The thread id of the worker @vr runs on, printed by kvio_debugfs_workers. */
struct kvio_debugfs_find {
	const struct kvio_worker *worker;
	pid_t tid;
};

static void kvio_debugfs_find_tid(const struct kvio_worker_info *w, void *arg)
{
	struct kvio_debugfs_find *f = arg;

	if (w->worker == f->worker)
		f->tid = w->tid;
}

static int kvio_debugfs_state_show(struct seq_file *m, void *unused)
{
	struct kvio_dev *dev = m->private;
	struct kvio_debugfs_find f;
	int i;

	seq_printf(m, "device %u owner %d\n", dev->id,
		   dev->nvrings ? READ_ONCE(dev->vrings[0]->owner_pid) : 0);
	for (i = 0; i < dev->nvrings; i++) {
		kvio_debugfs_vring(m, dev->vrings[i]);
		f.worker = READ_ONCE(dev->vrings[i]->worker);
		f.tid = 0;
		if (f.worker)
			kvio_workers_each(kvio_debugfs_find_tid, &f);
		seq_printf(m, "  worker %d\n", f.tid);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvio_debugfs_state);

static void kvio_debugfs_worker(const struct kvio_worker_info *w, void *arg)
{
	struct seq_file *m = arg;
	struct kvio_dev *dev;
	int i;

	seq_printf(m, "worker %d%s%s users %u cpu_ns %llu poll_ns %llu devices",
		   w->tid, w->own ? " own" : "", w->killed ? " killed" : "",
		   w->users, w->cpu_ns, w->poll_ns);
	list_for_each_entry(dev, &kvio_debugfs_devs, debugfs_node) {
		for (i = 0; i < dev->nvrings; i++) {
			if (READ_ONCE(dev->vrings[i]->worker) == w->worker) {
				seq_printf(m, " %u", dev->id);
				break;
			}
		}
	}
	seq_puts(m, "\n");
}

static int kvio_debugfs_workers_show(struct seq_file *m, void *unused)
{
	mutex_lock(&kvio_debugfs_lock);
	kvio_workers_each(kvio_debugfs_worker, m);
	mutex_unlock(&kvio_debugfs_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvio_debugfs_workers);

/**
 * kvio_dev_debugfs_add - give @dev its debugfs directory
 * @dev: a device, after kvio_dev_init()
 * @type: what kind of device, for the directory's name ("net")
 *
 * Without debugfs the device simply has none.
 */
void kvio_dev_debugfs_add(struct kvio_dev *dev, const char *type)
{
	char name[32];

	snprintf(name, sizeof(name), "%s-%u", type, dev->id);
	dev->debugfs = debugfs_create_dir(name, kvio_debugfs_root);
	debugfs_create_file("state", 0400, dev->debugfs, dev,
			    &kvio_debugfs_state_fops);
	mutex_lock(&kvio_debugfs_lock);
	list_add_tail(&dev->debugfs_node, &kvio_debugfs_devs);
	mutex_unlock(&kvio_debugfs_lock);
}
EXPORT_SYMBOL_GPL(kvio_dev_debugfs_add);

/**
 * kvio_dev_debugfs_remove - remove @dev's directory
 * @dev: the device, before it is freed
 *
 * Returns once no reader is in one of its files any more.
 */
void kvio_dev_debugfs_remove(struct kvio_dev *dev)
{
	debugfs_remove(dev->debugfs);
	mutex_lock(&kvio_debugfs_lock);
	list_del(&dev->debugfs_node);
	mutex_unlock(&kvio_debugfs_lock);
}
EXPORT_SYMBOL_GPL(kvio_dev_debugfs_remove);

void kvio_debugfs_init(void)
{
	kvio_debugfs_root = debugfs_create_dir("kvio", NULL);
	debugfs_create_file("workers", 0400, kvio_debugfs_root, NULL,
			    &kvio_debugfs_workers_fops);
}

void kvio_debugfs_exit(void)
{
	debugfs_remove(kvio_debugfs_root);
}
