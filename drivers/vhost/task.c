// SPDX-License-Identifier: GPL-2.0
/*
 * The thread behind a worker.  Where the kernel exports vhost_task, the
 * worker is a thread of the owner process: it shares the owner's mm,
 * cgroups, rlimits and accounting by construction, and dies with it.
 * Otherwise (and when the VMM asks for it with VHOST_SET_FORK_FROM_OWNER)
 * it is a kthread that borrows the owner's mm and joins its cgroups.
 */
#include <linux/cgroup.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#ifdef KVIO_HAVE_VHOST_TASK
#include <linux/sched/vhost_task.h>
#endif

#include <kvio/compat.h>

#include "internal.h"

struct kvio_task {
	bool (*fn)(void *arg);
	void *arg;
	struct task_struct *kthread;
	struct mm_struct *mm;
#ifdef KVIO_HAVE_VHOST_TASK
	struct vhost_task *vtask;
#endif
};

static int kvio_kthread_fn(void *data)
{
	struct kvio_task *task = data;

	kthread_use_mm(task->mm);
	for (;;) {
		/* Pairs with the barrier in kthread_stop() and wake_up. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		if (!task->fn(task->arg))
			schedule();
	}
	kthread_unuse_mm(task->mm);
	return 0;
}

static int kvio_kthread_create(struct kvio_task *task, const char *name)
{
	struct task_struct *t;
	int ret;

	task->mm = get_task_mm(current);
	if (!task->mm)
		return -EINVAL;
	t = kthread_create(kvio_kthread_fn, task, "%s", name);
	if (IS_ERR(t)) {
		mmput(task->mm);
		return PTR_ERR(t);
	}
	/* Charge the worker's CPU time to the owner's cgroups. */
	ret = cgroup_attach_task_all(current, t);
	if (ret) {
		kthread_stop(t);
		mmput(task->mm);
		return ret;
	}
	task->kthread = t;
	return 0;
}

/**
 * kvio_task_create - create a stopped worker thread for the current process
 * @fn: called in a loop; returns true if it did work, false to sleep
 * @killed: called from the thread if the owner is killed (user workers)
 * @arg: argument for @fn and @killed
 * @name: thread name
 * @kthread: use a kthread even where a user worker is possible
 *
 * Return: the task, or an ERR_PTR().
 */
struct kvio_task *kvio_task_create(bool (*fn)(void *), void (*killed)(void *),
				   void *arg, const char *name, bool kthread)
{
	struct kvio_task *task;
	int ret = 0;

	task = kzalloc(sizeof(*task), GFP_KERNEL_ACCOUNT);
	if (!task)
		return ERR_PTR(-ENOMEM);
	task->fn = fn;
	task->arg = arg;

#ifdef KVIO_HAVE_VHOST_TASK
	if (!kthread) {
		task->vtask = vhost_task_create(fn, killed, arg, name);
		if (IS_ERR(task->vtask))
			ret = PTR_ERR(task->vtask);
		goto out;
	}
#endif
	ret = kvio_kthread_create(task, name);
#ifdef KVIO_HAVE_VHOST_TASK
out:
#endif
	if (ret) {
		kfree(task);
		return ERR_PTR(ret);
	}
	return task;
}

void kvio_task_start(struct kvio_task *task)
{
#ifdef KVIO_HAVE_VHOST_TASK
	if (task->vtask) {
		vhost_task_start(task->vtask);
		return;
	}
#endif
	wake_up_process(task->kthread);
}

void kvio_task_wake(struct kvio_task *task)
{
#ifdef KVIO_HAVE_VHOST_TASK
	if (task->vtask) {
		vhost_task_wake(task->vtask);
		return;
	}
#endif
	wake_up_process(task->kthread);
}

/* Stop the thread and wait for it to exit; frees @task. */
void kvio_task_stop(struct kvio_task *task)
{
#ifdef KVIO_HAVE_VHOST_TASK
	if (task->vtask) {
		vhost_task_stop(task->vtask);
		kfree(task);
		return;
	}
#endif
	kthread_stop(task->kthread);
	mmput(task->mm);
	kfree(task);
}
