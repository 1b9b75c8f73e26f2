// SPDX-License-Identifier: GPL-2.0
/*
 * The per-VM worker.  Upstream starts one thread per device; kvio starts
 * one per owner address space and shares it among the devices that owner
 * opens, so that one VM's queues are served (and batched) by one thread.
 * A VM with many queues gets one more worker per devices_per_worker
 * devices, never more than there are CPUs.  Work items are queued
 * lock-free and run in order by their worker's thread.
 */
#include <linux/completion.h>
#include <linux/kcov.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>

#include <kvio/compat.h>

#include "internal.h"

struct kvio_worker {
	struct list_head node;
	struct mm_struct *mm;
	unsigned int users;
	struct kvio_task *task;
	struct llist_head work_list;
	/* The owner was killed: the thread is gone, nothing runs any more. */
	bool killed;
	/* Orders @killed against queueing and flushing. */
	struct mutex lock;
	/*
	 * Adaptive polling, run by the thread only: how long it looks for
	 * new work before it sleeps, whether it did so since it last worked,
	 * and when it last went idle (0: it found work while polling).
	 */
	u64 poll_ns;
	bool polled;
	u64 idle_since;
	/* The thread runs a batch of work with more items after this one. */
	bool batch_more;
};

/*
 * The longest the worker polls for work before it sleeps.  Upstream vhost
 * polls only when the VMM sets VHOST_SET_VRING_BUSYLOOP_TIMEOUT; kvio's
 * worker polls on its own, as KVM's halt polling does: the window grows
 * while wakeups come soon after it goes idle and shrinks when they do not,
 * so an idle or sparsely used VM does not poll.
 */
static unsigned int poll_max_us = 200;
module_param(poll_max_us, uint, 0644);
MODULE_PARM_DESC(poll_max_us, "Longest adaptive poll of a worker before it sleeps, in microseconds (0: never poll)");

#define KVIO_POLL_START_NS	(10 * NSEC_PER_USEC)

static unsigned int devices_per_worker = 4;
module_param(devices_per_worker, uint, 0644);
MODULE_PARM_DESC(devices_per_worker, "Devices of one owner a worker serves before the owner gets another, while it has fewer than the online CPUs (0: one worker per owner)");

/* All workers, one per owner mm; protects the list and ->users. */
static LIST_HEAD(kvio_workers);
static DEFINE_MUTEX(kvio_workers_lock);

void kvio_work_init(struct kvio_work *work, kvio_work_fn_t fn)
{
	clear_bit(KVIO_WORK_QUEUED, &work->flags);
	work->fn = fn;
}

static bool kvio_worker_queue(struct kvio_worker *worker,
			      struct kvio_work *work, u64 kcov_handle)
{
	if (READ_ONCE(worker->killed))
		return false;
	if (!test_and_set_bit(KVIO_WORK_QUEUED, &work->flags)) {
		/* Ours until it runs: the worker reads it after the list. */
		work->kcov_handle = kcov_handle;
		/* llist_add() orders the flag before the list update. */
		llist_add(&work->node, &worker->work_list);
		kvio_task_wake(worker->task);
	}
	return true;
}

/**
 * kvio_work_queue - queue @work on the worker of @dev's owner
 * @dev: the device
 * @work: the work; queued at most once until it runs
 *
 * Return: false if @dev has no running worker.
 */
bool kvio_work_queue(struct kvio_dev *dev, struct kvio_work *work)
{
	struct kvio_worker *worker = READ_ONCE(dev->worker);

	return worker && kvio_worker_queue(worker, work, dev->kcov_handle);
}

/* Grow or shrink the poll window after an idle spell of @idle ns. */
static void kvio_worker_adapt(struct kvio_worker *worker, u64 idle)
{
	u64 max = (u64)READ_ONCE(poll_max_us) * NSEC_PER_USEC;

	if (idle <= max) {
		worker->poll_ns = worker->poll_ns ? worker->poll_ns * 2 :
				  KVIO_POLL_START_NS;
	} else {
		worker->poll_ns /= 2;
		if (worker->poll_ns < KVIO_POLL_START_NS)
			worker->poll_ns = 0;
	}
	worker->poll_ns = min(worker->poll_ns, max);
}

/*
 * Look for new work for up to the poll window, while nothing else wants
 * this CPU.  Called with the list found empty, in TASK_INTERRUPTIBLE, and
 * left so: a wakeup meanwhile (new work, or the thread's owner asking it
 * to stop) makes the task running, which ends the poll with true, and the
 * caller looks at its stop condition again; false: go to sleep, and any
 * wakeup from now on makes schedule() return at once.
 */
static bool kvio_worker_poll(struct kvio_worker *worker)
{
	u64 start, end;

	/* poll_max_us may have been lowered since the window grew. */
	worker->poll_ns = min_t(u64, worker->poll_ns,
				(u64)READ_ONCE(poll_max_us) * NSEC_PER_USEC);
	if (!worker->poll_ns || worker->polled)
		return false;
	worker->polled = true;
	start = local_clock();
	end = start + worker->poll_ns;
	do {
		if (!llist_empty(&worker->work_list) ||
		    task_is_running(current)) {
			__set_current_state(TASK_RUNNING);
			worker->idle_since = 0;
			return true;
		}
		cpu_relax();
	} while (!need_resched() && single_task_running() &&
		 !signal_pending(current) && local_clock() < end);
	worker->idle_since = start;
	return false;
}

/*
 * Is other work waiting for @dev's worker (its own or other devices'),
 * queued or in the batch being run?  For work items run by that worker.
 */
bool kvio_work_pending(struct kvio_dev *dev)
{
	struct kvio_worker *worker = READ_ONCE(dev->worker);

	return worker && (worker->batch_more ||
			  !llist_empty(&worker->work_list));
}

/* Run @work, its coverage going to its owner's kcov if it has one. */
static void kvio_worker_run_one(struct kvio_work *work)
{
	u64 handle = work->kcov_handle;

	if (!handle) {
		work->fn(work);
		return;
	}
	kcov_remote_start_common(handle);
	work->fn(work);
	kcov_remote_stop();
}

static bool kvio_worker_run(void *data)
{
	struct kvio_worker *worker = data;
	struct llist_node *node;
	struct kvio_work *work;

	node = llist_del_all(&worker->work_list);
	if (!node) {
		if (!worker->polled)
			worker->idle_since = local_clock();
		return kvio_worker_poll(worker);
	}

	__set_current_state(TASK_RUNNING);
	if (worker->idle_since) {
		kvio_worker_adapt(worker, local_clock() - worker->idle_since);
		worker->idle_since = 0;
	}
	worker->polled = false;
	/* llist_add() pushes at the head: run in queueing order. */
	node = llist_reverse_order(node);
	while (node) {
		work = llist_entry(node, struct kvio_work, node);
		/* fn() may queue @work again: ->next is not ours after. */
		node = node->next;
		worker->batch_more = !!node;
		clear_bit(KVIO_WORK_QUEUED, &work->flags);
		/* Re-queueing from now on must see what fn() reads. */
		smp_mb__after_atomic();
		kvio_worker_run_one(work);
		cond_resched();
	}
	worker->batch_more = false;
	return true;
}

struct kvio_flush {
	struct kvio_work work;
	struct completion done;
};

static void kvio_flush_fn(struct kvio_work *work)
{
	complete(&container_of(work, struct kvio_flush, work)->done);
}

/* Wait until everything queued on @worker before this call has run. */
static void kvio_worker_flush(struct kvio_worker *worker)
{
	struct kvio_flush flush;
	bool queued;

	init_completion(&flush.done);
	kvio_work_init(&flush.work, kvio_flush_fn);
	mutex_lock(&worker->lock);
	queued = kvio_worker_queue(worker, &flush.work, 0);
	mutex_unlock(&worker->lock);
	if (queued)
		wait_for_completion(&flush.done);
}

/* Wait for all work queued on @dev's worker so far. */
void kvio_dev_flush(struct kvio_dev *dev)
{
	if (dev->worker)
		kvio_worker_flush(dev->worker);
}
EXPORT_SYMBOL_GPL(kvio_dev_flush);

/*
 * Take everything off the list of a worker that runs nothing again: the
 * work is no longer queued (a device can queue it on its next worker),
 * and waiters in kvio_worker_flush() are released.  Under @worker->lock,
 * with @killed set in the same hold: a flush or a detach that sees
 * @killed runs after the walk, so no device is freed, or queued on a new
 * worker, while the walk still touches its work.
 */
static void kvio_worker_drain(struct kvio_worker *worker)
{
	struct kvio_work *work, *next;
	struct llist_node *node;

	lockdep_assert_held(&worker->lock);
	node = llist_del_all(&worker->work_list);
	llist_for_each_entry_safe(work, next, node, node) {
		clear_bit(KVIO_WORK_QUEUED, &work->flags);
		/* The flush's waiter may free it once woken: last. */
		if (work->fn == kvio_flush_fn)
			work->fn(work);
	}
}

/*
 * The owner was killed and its thread is exiting: no work runs again.
 * Waiters in kvio_worker_flush() are released; other work is dropped,
 * the devices are torn down when the owner's files are closed.
 */
static void kvio_worker_killed(void *data)
{
	struct kvio_worker *worker = data;

	mutex_lock(&worker->lock);
	WRITE_ONCE(worker->killed, true);
	kvio_worker_drain(worker);
	mutex_unlock(&worker->lock);
}

static struct kvio_worker *kvio_worker_create(bool kthread)
{
	struct kvio_worker *worker;
	char name[TASK_COMM_LEN];

	worker = kzalloc(sizeof(*worker), GFP_KERNEL_ACCOUNT);
	if (!worker)
		return ERR_PTR(-ENOMEM);
	init_llist_head(&worker->work_list);
	mutex_init(&worker->lock);
	worker->mm = current->mm;
	mmgrab(worker->mm);
	worker->users = 1;

	snprintf(name, sizeof(name), "kvio-%d", current->pid);
	worker->task = kvio_task_create(kvio_worker_run, kvio_worker_killed,
					worker, name, kthread);
	if (IS_ERR(worker->task)) {
		int ret = PTR_ERR(worker->task);

		mmdrop(worker->mm);
		kfree(worker);
		return ERR_PTR(ret);
	}
	kvio_task_start(worker->task);
	return worker;
}

/*
 * The worker a new device of the current process should share, or NULL
 * if the owner has none or should get another: each has its share and
 * the owner has fewer workers than there are online CPUs.  *@least is the
 * least used one, the fallback when no new thread can be had.
 */
static struct kvio_worker *kvio_worker_pick(struct kvio_worker **least)
{
	unsigned int per = READ_ONCE(devices_per_worker), n = 0;
	struct kvio_worker *worker;

	lockdep_assert_held(&kvio_workers_lock);
	*least = NULL;
	list_for_each_entry(worker, &kvio_workers, node) {
		if (worker->mm != current->mm || READ_ONCE(worker->killed))
			continue;
		n++;
		if (!*least || worker->users < (*least)->users)
			*least = worker;
	}
	if (*least && (!per || (*least)->users < per ||
		       n >= num_online_cpus()))
		return *least;
	return NULL;
}

static void kvio_worker_destroy(struct kvio_worker *worker)
{
	kvio_task_stop(worker->task);
	mmdrop(worker->mm);
	kfree(worker);
}

/**
 * kvio_worker_attach - give @dev a worker of the current process
 * @dev: a device whose owner is being set
 *
 * The first device of an owner creates its worker; later ones share the
 * least used one, or get a new one when each has devices_per_worker
 * devices and the owner has fewer workers than there are online CPUs.
 * A thread is created without kvio_workers_lock held: creating it can
 * take long (reclaim in the owner's memory cgroup, cgroup attach), and
 * must not hold up every other owner's SET_OWNER and close().
 *
 * Return: 0 or a negative errno.
 */
int kvio_worker_attach(struct kvio_dev *dev)
{
	struct kvio_worker *worker, *least, *fresh = NULL;

	lockdep_assert_held(&dev->mutex);

	mutex_lock(&kvio_workers_lock);
	worker = kvio_worker_pick(&least);
	if (worker)
		goto found;
	mutex_unlock(&kvio_workers_lock);

	fresh = kvio_worker_create(!dev->fork_owner);

	/* The list may have changed meanwhile: choose again. */
	mutex_lock(&kvio_workers_lock);
	worker = kvio_worker_pick(&least);
	if (!worker && !IS_ERR(fresh)) {
		list_add(&fresh->node, &kvio_workers);
		worker = fresh;
		fresh = NULL;
		goto out;
	}
	/* No new thread (rlimits, pids cgroup): share one. */
	if (!worker)
		worker = least;
	if (!worker) {
		mutex_unlock(&kvio_workers_lock);
		return PTR_ERR(fresh);
	}
found:
	worker->users++;
out:
	mutex_unlock(&kvio_workers_lock);
	/* Another device of this owner made one first; ours is not needed. */
	if (!IS_ERR_OR_NULL(fresh))
		kvio_worker_destroy(fresh);
	WRITE_ONCE(dev->worker, worker);
	return 0;
}

/**
 * kvio_worker_detach - drop @dev's reference on its worker
 * @dev: the device; its rings are stopped and flushed
 *
 * The last device of an owner stops and reaps the thread.
 */
void kvio_worker_detach(struct kvio_dev *dev)
{
	struct kvio_worker *worker = dev->worker;

	lockdep_assert_held(&dev->mutex);

	if (!worker)
		return;
	WRITE_ONCE(dev->worker, NULL);

	mutex_lock(&kvio_workers_lock);
	/*
	 * A wakeup that raced the kill can have put work on a killed
	 * worker's list after its thread drained it: that work would stay
	 * flagged queued, and its ring would never run again under a new
	 * owner.  Nothing adds to the list now (@killed is long visible).
	 */
	mutex_lock(&worker->lock);
	if (worker->killed)
		kvio_worker_drain(worker);
	mutex_unlock(&worker->lock);
	if (--worker->users) {
		mutex_unlock(&kvio_workers_lock);
		return;
	}
	list_del(&worker->node);
	mutex_unlock(&kvio_workers_lock);

	kvio_worker_destroy(worker);
}

static void kvio_poll_func(struct file *file, wait_queue_head_t *wqh,
			   poll_table *pt)
{
	struct kvio_poll *poll = container_of(pt, struct kvio_poll, table);

	poll->wqh = wqh;
	add_wait_queue(wqh, &poll->wait);
}

static int kvio_poll_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct kvio_poll *poll = container_of(wait, struct kvio_poll, wait);

	if (key_to_poll(key) & poll->mask)
		kvio_poll_queue(poll);
	return 0;
}

void kvio_poll_init(struct kvio_poll *poll, kvio_work_fn_t fn, __poll_t mask,
		    struct kvio_dev *dev)
{
	init_waitqueue_func_entry(&poll->wait, kvio_poll_wakeup);
	init_poll_funcptr(&poll->table, kvio_poll_func);
	poll->mask = mask;
	poll->dev = dev;
	poll->wqh = NULL;
	kvio_work_init(&poll->work, fn);
}
EXPORT_SYMBOL_GPL(kvio_poll_init);

/**
 * kvio_poll_start - start waiting on @file
 * @poll: the poll, not yet started
 * @file: the file to wait on
 *
 * Return: 0, or -EINVAL if @file reports an error (e.g. a detached tap).
 */
int kvio_poll_start(struct kvio_poll *poll, struct file *file)
{
	__poll_t mask;

	if (poll->wqh)
		return 0;
	mask = vfs_poll(file, &poll->table);
	if (mask)
		kvio_poll_wakeup(&poll->wait, 0, 0, poll_to_key(mask));
	if (mask & EPOLLERR) {
		kvio_poll_stop(poll);
		return -EINVAL;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_poll_start);

/* After this returns the file may be released; flush the worker too. */
void kvio_poll_stop(struct kvio_poll *poll)
{
	if (poll->wqh) {
		remove_wait_queue(poll->wqh, &poll->wait);
		poll->wqh = NULL;
	}
}
EXPORT_SYMBOL_GPL(kvio_poll_stop);

void kvio_poll_queue(struct kvio_poll *poll)
{
	kvio_work_queue(poll->dev, &poll->work);
}
EXPORT_SYMBOL_GPL(kvio_poll_queue);
