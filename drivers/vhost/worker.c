// SPDX-License-Identifier: GPL-2.0
/*
 * The per-VM worker.  Upstream starts one thread per device; kvio starts
 * one per owner address space and shares it among all devices that owner
 * opens, so that one VM's queues are served (and batched) by one thread.
 * Work items are queued lock-free and run in order by that thread.
 */
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
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
};

/* All workers, one per owner mm; protects the list and ->users. */
static LIST_HEAD(kvio_workers);
static DEFINE_MUTEX(kvio_workers_lock);

void kvio_work_init(struct kvio_work *work, kvio_work_fn_t fn)
{
	clear_bit(KVIO_WORK_QUEUED, &work->flags);
	work->fn = fn;
}
EXPORT_SYMBOL_GPL(kvio_work_init);

static bool kvio_worker_queue(struct kvio_worker *worker,
			      struct kvio_work *work)
{
	if (READ_ONCE(worker->killed))
		return false;
	if (!test_and_set_bit(KVIO_WORK_QUEUED, &work->flags)) {
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

	return worker && kvio_worker_queue(worker, work);
}
EXPORT_SYMBOL_GPL(kvio_work_queue);

static bool kvio_worker_run(void *data)
{
	struct kvio_worker *worker = data;
	struct kvio_work *work, *next;
	struct llist_node *node;

	node = llist_del_all(&worker->work_list);
	if (!node)
		return false;

	__set_current_state(TASK_RUNNING);
	/* llist_add() pushes at the head: run in queueing order. */
	node = llist_reverse_order(node);
	llist_for_each_entry_safe(work, next, node, node) {
		clear_bit(KVIO_WORK_QUEUED, &work->flags);
		/* Re-queueing from now on must see what fn() reads. */
		smp_mb__after_atomic();
		work->fn(work);
		cond_resched();
	}
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
void kvio_worker_flush(struct kvio_worker *worker)
{
	struct kvio_flush flush;
	bool queued;

	init_completion(&flush.done);
	kvio_work_init(&flush.work, kvio_flush_fn);
	mutex_lock(&worker->lock);
	queued = kvio_worker_queue(worker, &flush.work);
	mutex_unlock(&worker->lock);
	if (queued)
		wait_for_completion(&flush.done);
}

/*
 * The owner was killed and its thread is exiting: no work runs again.
 * Waiters in kvio_worker_flush() are released; other work is dropped,
 * the devices are torn down when the owner's files are closed.
 */
static void kvio_worker_killed(void *data)
{
	struct kvio_worker *worker = data;
	struct kvio_work *work, *next;
	struct llist_node *node;

	mutex_lock(&worker->lock);
	WRITE_ONCE(worker->killed, true);
	mutex_unlock(&worker->lock);

	node = llist_del_all(&worker->work_list);
	llist_for_each_entry_safe(work, next, node, node) {
		clear_bit(KVIO_WORK_QUEUED, &work->flags);
		if (work->fn == kvio_flush_fn)
			work->fn(work);
	}
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

/**
 * kvio_worker_attach - give @dev the worker of the current process
 * @dev: a device whose owner is being set
 *
 * The first device of an owner creates the worker; later ones share it.
 *
 * Return: 0 or a negative errno.
 */
int kvio_worker_attach(struct kvio_dev *dev)
{
	struct kvio_worker *worker;

	mutex_lock(&kvio_workers_lock);
	list_for_each_entry(worker, &kvio_workers, node) {
		if (worker->mm == current->mm && !READ_ONCE(worker->killed)) {
			worker->users++;
			goto found;
		}
	}
	worker = kvio_worker_create(!dev->fork_owner);
	if (IS_ERR(worker)) {
		mutex_unlock(&kvio_workers_lock);
		return PTR_ERR(worker);
	}
	list_add(&worker->node, &kvio_workers);
found:
	mutex_unlock(&kvio_workers_lock);
	WRITE_ONCE(dev->worker, worker);
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_worker_attach);

/**
 * kvio_worker_detach - drop @dev's reference on its worker
 * @dev: the device; its rings are stopped and flushed
 *
 * The last device of an owner stops and reaps the thread.
 */
void kvio_worker_detach(struct kvio_dev *dev)
{
	struct kvio_worker *worker = dev->worker;

	if (!worker)
		return;
	WRITE_ONCE(dev->worker, NULL);

	mutex_lock(&kvio_workers_lock);
	if (--worker->users) {
		mutex_unlock(&kvio_workers_lock);
		return;
	}
	list_del(&worker->node);
	mutex_unlock(&kvio_workers_lock);

	/* Work queued after a kill is dropped with the worker. */
	kvio_task_stop(worker->task);
	mmdrop(worker->mm);
	kfree(worker);
}
EXPORT_SYMBOL_GPL(kvio_worker_detach);

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
