// SPDX-License-Identifier: GPL-2.0
/*
 * The per-VM worker.  Upstream starts one thread per device; kvio starts
 * one per owner address space and shares it among the devices that owner
 * opens, so that one VM's queues are served (and batched) by one thread.
 * A VM with many queues gets one more worker per devices_per_worker
 * devices, never more than there are CPUs.  A VMM can also make workers
 * of a device's own (VHOST_NEW_WORKER) and move rings onto them
 * (VHOST_ATTACH_VRING_WORKER).  Work items are queued lock-free on their
 * ring's worker and run in order by its thread.
 */
#include <linux/completion.h>
#include <linux/kcov.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <kvio/compat.h>

#include "internal.h"
#include "kvio_trace.h"

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
	/* Made by VHOST_NEW_WORKER: serves one device, never shared. */
	bool own;
	/* The thread, once it ran (for debugfs: its id and CPU time). */
	struct pid *pid;
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

/* All workers; protects the list and ->users. */
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
 * kvio_work_queue - queue @work on the worker of @vr
 * @vr: the ring the work is for
 * @work: the work; queued at most once until it runs
 *
 * Called from wakeup callbacks (under a wait-queue lock, so within an
 * RCU read-side section) and from work run by the ring's worker; see
 * kvio_vring_set_worker() for a ring that changes workers.
 *
 * Return: false if @vr has no running worker.
 */
bool kvio_work_queue(struct kvio_vring *vr, struct kvio_work *work)
{
	struct kvio_worker *worker = READ_ONCE(vr->worker);

	return worker && kvio_worker_queue(worker, work, vr->dev->kcov_handle);
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
 * The bounds of the adaptive poll for the bench's instruction counter
 * (tools/bench/kvio_insn.c, id KVIO_INSN_POLL of kvio_insn.h), which
 * counts the instructions of a poll apart from the work: "nopl DISP(%rax)",
 * a multi-byte NOP with a displacement only that counter gives a meaning.
 */
static __always_inline void kvio_poll_mark_start(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80\n\t.long %c0" : : "i" (0x4b567fff));
}

static __always_inline void kvio_poll_mark_end(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80\n\t.long %c0" : : "i" (0x4b56ffff));
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
	trace_kvio_worker_poll_start(worker->poll_ns);
	kvio_poll_mark_start();
	start = local_clock();
	end = start + worker->poll_ns;
	do {
		if (!llist_empty(&worker->work_list) ||
		    task_is_running(current)) {
			kvio_poll_mark_end();
			__set_current_state(TASK_RUNNING);
			worker->idle_since = 0;
			trace_kvio_worker_poll_stop(local_clock() - start, true);
			return true;
		}
		cpu_relax();
	} while (!need_resched() && single_task_running() &&
		 !signal_pending(current) && local_clock() < end);
	kvio_poll_mark_end();
	worker->idle_since = start;
	trace_kvio_worker_poll_stop(local_clock() - start, false);
	return false;
}

/*
 * Is other work waiting for @vr's worker (other rings', maybe of other
 * devices), queued or in the batch being run?  For work that worker runs.
 */
bool kvio_work_pending(struct kvio_vring *vr)
{
	struct kvio_worker *worker = READ_ONCE(vr->worker);

	return worker && (worker->batch_more ||
			  !llist_empty(&worker->work_list));
}

/* Run @work, its coverage going to its owner's kcov if it has one. */
static void kvio_worker_run_one(struct kvio_work *work)
{
	u64 handle = work->kcov_handle;

	trace_kvio_work_run(work->fn);
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

	if (unlikely(!worker->pid)) {
		/* Published whole to kvio_workers_each() (lockless reads). */
		smp_store_release(&worker->pid, get_task_pid(current, PIDTYPE_PID));
	}
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

/* Wait for all work queued so far on the workers of @dev's rings. */
void kvio_dev_flush(struct kvio_dev *dev)
{
	struct kvio_worker *worker;
	unsigned long id;

	lockdep_assert_held(&dev->mutex);
	xa_for_each(&dev->workers, id, worker)
		kvio_worker_flush(worker);
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
		if (worker->mm != current->mm || worker->own ||
		    READ_ONCE(worker->killed))
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
	put_pid(worker->pid);
	mmdrop(worker->mm);
	kfree(worker);
}

/* Set every ring of @dev to @worker: no ring runs yet, or any more. */
static void kvio_dev_set_workers(struct kvio_dev *dev,
				 struct kvio_worker *worker)
{
	int i;

	for (i = 0; i < dev->nvrings; i++) {
		mutex_lock(&dev->vrings[i]->mutex);
		WRITE_ONCE(dev->vrings[i]->worker, worker);
		mutex_unlock(&dev->vrings[i]->mutex);
	}
}

/* Drop a device's reference; the last one stops and reaps the thread. */
static void kvio_worker_put(struct kvio_worker *worker)
{
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

/*
 * Call @fn for every worker, under kvio_workers_lock: what debugfs shows
 * of it.  Fields the thread writes are read as they are at the time.
 */
void kvio_workers_each(void (*fn)(const struct kvio_worker_info *, void *),
		       void *arg)
{
	struct kvio_worker_info info;
	struct kvio_worker *worker;
	struct task_struct *task;
	struct pid *pid;

	mutex_lock(&kvio_workers_lock);
	list_for_each_entry(worker, &kvio_workers, node) {
		/* Pairs with the thread's release in kvio_worker_run(). */
		pid = smp_load_acquire(&worker->pid);
		task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
		info = (struct kvio_worker_info) {
			.worker = worker,
			.tid = pid ? pid_vnr(pid) : 0,
			.users = worker->users,
			.own = worker->own,
			.killed = READ_ONCE(worker->killed),
			.poll_ns = READ_ONCE(worker->poll_ns),
			.cpu_ns = task ? READ_ONCE(task->se.sum_exec_runtime) : 0,
		};
		if (task)
			put_task_struct(task);
		fn(&info, arg);
	}
	mutex_unlock(&kvio_workers_lock);
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
 * must not hold up every other owner's SET_OWNER and close().  The
 * worker becomes the device's worker 0, and every ring's.
 *
 * Return: 0 or a negative errno.
 */
int kvio_worker_attach(struct kvio_dev *dev)
{
	struct kvio_worker *worker, *least, *fresh = NULL;
	int ret;

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
	ret = xa_insert(&dev->workers, 0, worker, GFP_KERNEL_ACCOUNT);
	if (ret) {
		kvio_worker_put(worker);
		return ret;
	}
	kvio_dev_set_workers(dev, worker);
	return 0;
}

/**
 * kvio_worker_detach - drop every worker of @dev
 * @dev: the device; its rings are stopped and flushed
 *
 * The device's own workers stop; the last device of an owner stops the
 * shared one.
 */
void kvio_worker_detach(struct kvio_dev *dev)
{
	struct kvio_worker *worker;
	unsigned long id;

	lockdep_assert_held(&dev->mutex);

	kvio_dev_set_workers(dev, NULL);
	xa_for_each(&dev->workers, id, worker) {
		xa_erase(&dev->workers, id);
		kvio_worker_put(worker);
	}
}

/* How many workers of its own the current owner has. */
static unsigned int kvio_own_workers(void)
{
	struct kvio_worker *worker;
	unsigned int n = 0;

	lockdep_assert_held(&kvio_workers_lock);
	list_for_each_entry(worker, &kvio_workers, node)
		n += worker->own && worker->mm == current->mm;
	return n;
}

/*
 * VHOST_NEW_WORKER: a worker for @dev alone, and its id.  An owner gets
 * at most as many workers of its own as there are online CPUs, over all
 * its devices: more cannot run at once, and a kthread worker (6.1, or
 * VHOST_FORK_OWNER_KTHREAD) is charged to no process count.
 */
static long kvio_worker_new(struct kvio_dev *dev,
			    struct vhost_worker_state __user *argp)
{
	struct vhost_worker_state state = { };
	struct kvio_worker *worker;
	u32 id;
	int ret;

	mutex_lock(&kvio_workers_lock);
	ret = kvio_own_workers() >= num_online_cpus() ? -ENOSPC : 0;
	mutex_unlock(&kvio_workers_lock);
	if (ret)
		return ret;

	worker = kvio_worker_create(!dev->fork_owner);
	if (IS_ERR(worker))
		return PTR_ERR(worker);
	worker->own = true;

	/* Another device of this owner may have made one meanwhile. */
	mutex_lock(&kvio_workers_lock);
	if (kvio_own_workers() >= num_online_cpus()) {
		mutex_unlock(&kvio_workers_lock);
		kvio_worker_destroy(worker);
		return -ENOSPC;
	}
	list_add(&worker->node, &kvio_workers);
	mutex_unlock(&kvio_workers_lock);

	ret = xa_alloc(&dev->workers, &id, worker, xa_limit_32b,
		       GFP_KERNEL_ACCOUNT);
	if (ret) {
		kvio_worker_put(worker);
		return ret;
	}
	/* As upstream: the worker stays, for VHOST_FREE_WORKER. */
	state.worker_id = id;
	return copy_to_user(argp, &state, sizeof(state)) ? -EFAULT : 0;
}

/* Does a ring of @dev run on @worker? */
static bool kvio_worker_in_use(struct kvio_dev *dev,
			       struct kvio_worker *worker)
{
	int i;

	for (i = 0; i < dev->nvrings; i++) {
		if (dev->vrings[i]->worker == worker)
			return true;
	}
	return false;
}

/* VHOST_FREE_WORKER: drop a worker no ring of @dev runs on. */
static long kvio_worker_free(struct kvio_dev *dev,
			     struct vhost_worker_state __user *argp)
{
	struct vhost_worker_state state;
	struct kvio_worker *worker;

	if (copy_from_user(&state, argp, sizeof(state)))
		return -EFAULT;
	worker = xa_load(&dev->workers, state.worker_id);
	if (!worker)
		return -ENODEV;
	if (kvio_worker_in_use(dev, worker) || READ_ONCE(worker->killed))
		return -EBUSY;
	xa_erase(&dev->workers, state.worker_id);
	/* Rings that moved away flushed it (kvio_vring_set_worker()). */
	kvio_worker_put(worker);
	return 0;
}

/*
 * Move @vr onto @worker.  Work is queued on the worker the ring names at
 * the time: by wakeup callbacks, which run under a wait-queue lock (an
 * RCU read-side section), and by the ring's work itself.  After the
 * switch, synchronize_rcu() waits out callbacks that read the old worker,
 * and a flush of the old worker runs what they and the work queued there.
 * The ring's work takes its mutex: it never runs on both workers at once.
 * A ring without kick or backend queues nothing: no wait.
 */
static void kvio_vring_set_worker(struct kvio_vring *vr,
				  struct kvio_worker *worker)
{
	struct kvio_worker *old = vr->worker;
	bool idle;

	lockdep_assert_held(&vr->dev->mutex);
	if (old == worker)
		return;
	mutex_lock(&vr->mutex);
	WRITE_ONCE(vr->worker, worker);
	idle = !vr->kick && !vr->backend;
	mutex_unlock(&vr->mutex);
	if (!old || idle)
		return;
	synchronize_rcu();
	kvio_worker_flush(old);
}

/* The ring a vring-worker argument names, as upstream checks it. */
static long kvio_worker_vring(struct kvio_dev *dev, u32 __user *argp,
			      struct kvio_vring **vr)
{
	u32 idx;

	if (get_user(idx, argp))
		return -EFAULT;
	if (idx >= dev->nvrings)
		return -ENOBUFS;
	*vr = dev->vrings[array_index_nospec(idx, dev->nvrings)];
	return 0;
}

static long kvio_worker_attach_vring(struct kvio_dev *dev,
				     struct vhost_vring_worker __user *argp)
{
	struct vhost_vring_worker rw;
	struct kvio_worker *worker;
	struct kvio_vring *vr;
	long ret;

	ret = kvio_worker_vring(dev, &argp->index, &vr);
	if (ret)
		return ret;
	if (copy_from_user(&rw, argp, sizeof(rw)))
		return -EFAULT;
	worker = xa_load(&dev->workers, rw.worker_id);
	if (!worker)
		return -ENODEV;
	/* As upstream: a killed worker takes no ring, and that is no error. */
	if (READ_ONCE(worker->killed))
		return 0;
	kvio_vring_set_worker(vr, worker);
	return 0;
}

static long kvio_worker_get_vring(struct kvio_dev *dev,
				  struct vhost_vring_worker __user *argp)
{
	struct vhost_vring_worker rw = { };
	struct kvio_worker *worker;
	struct kvio_vring *vr;
	unsigned long id;
	long ret;

	ret = kvio_worker_vring(dev, &argp->index, &vr);
	if (ret)
		return ret;
	ret = -EINVAL;
	xa_for_each(&dev->workers, id, worker) {
		if (worker == vr->worker) {
			rw.worker_id = id;
			ret = 0;
			break;
		}
	}
	if (ret)
		return ret;
	rw.index = vr->index;
	return copy_to_user(argp, &rw, sizeof(rw)) ? -EFAULT : 0;
}

/**
 * kvio_worker_ioctl - the worker ioctls, with upstream vhost's semantics
 * @dev: the device; its mutex is held and the caller is its owner
 * @ioctl: VHOST_NEW_WORKER, VHOST_FREE_WORKER, VHOST_ATTACH_VRING_WORKER
 *	   or VHOST_GET_VRING_WORKER
 * @argp: its user argument
 *
 * Return: the result, or -ENOIOCTLCMD for another command.
 */
long kvio_worker_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		       void __user *argp)
{
	lockdep_assert_held(&dev->mutex);

	switch (ioctl) {
	case VHOST_NEW_WORKER:
		return kvio_worker_new(dev, argp);
	case VHOST_FREE_WORKER:
		return kvio_worker_free(dev, argp);
	case VHOST_ATTACH_VRING_WORKER:
		return kvio_worker_attach_vring(dev, argp);
	case VHOST_GET_VRING_WORKER:
		return kvio_worker_get_vring(dev, argp);
	default:
		return -ENOIOCTLCMD;
	}
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

	if (!(key_to_poll(key) & poll->mask))
		return 0;
	if (poll == &poll->vr->poll) {
		kvio_stat_add(&poll->vr->stats.kicks, 1);
		trace_kvio_kick(poll->vr);
	}
	kvio_poll_queue(poll);
	return 0;
}

void kvio_poll_init(struct kvio_poll *poll, kvio_work_fn_t fn, __poll_t mask,
		    struct kvio_vring *vr)
{
	init_waitqueue_func_entry(&poll->wait, kvio_poll_wakeup);
	init_poll_funcptr(&poll->table, kvio_poll_func);
	poll->mask = mask;
	poll->vr = vr;
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
	kvio_work_queue(poll->vr, &poll->work);
}
EXPORT_SYMBOL_GPL(kvio_poll_queue);
