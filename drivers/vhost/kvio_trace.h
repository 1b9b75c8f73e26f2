/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The core's tracepoints, system "kvio" (the devices add theirs to it):
 * a ring is named by its owner's pid, its device's id (the number of the
 * device's directory in debugfs) and its index.  Compiled in always; a
 * disabled tracepoint is a patched-out jump.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvio

#if !defined(_KVIO_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KVIO_TRACE_H

#include <linux/tracepoint.h>

#include <kvio/compat.h>
#include <kvio/vhost.h>

DECLARE_EVENT_CLASS(kvio_vring_class,
		    TP_PROTO(const struct kvio_vring *vr),
		    TP_ARGS(vr),
		    TP_STRUCT__entry(__field(pid_t, owner)
				     __field(u32, dev)
				     __field(int, ring)),
		    TP_fast_assign(__entry->owner = vr->owner_pid;
				   __entry->dev = vr->dev->id;
				   __entry->ring = vr->index;),
		    TP_printk("owner=%d dev=%u ring=%d", __entry->owner, __entry->dev,
			      __entry->ring)
);

/* The guest kicked a ring: its kick eventfd woke the ring's work. */
DEFINE_EVENT(kvio_vring_class, kvio_kick,
	     TP_PROTO(const struct kvio_vring *vr),
	     TP_ARGS(vr)
);

/* Used entries written: @n entries standing for @bufs buffers. */
TRACE_EVENT(kvio_used,
	    TP_PROTO(const struct kvio_vring *vr, unsigned int n, unsigned int bufs),
	    TP_ARGS(vr, n, bufs),
	    TP_STRUCT__entry(__field(pid_t, owner)
			     __field(u32, dev)
			     __field(int, ring)
			     __field(unsigned int, n)
			     __field(unsigned int, bufs)
			     __field(u16, used_idx)),
	    TP_fast_assign(__entry->owner = vr->owner_pid;
			   __entry->dev = vr->dev->id;
			   __entry->ring = vr->index;
			   __entry->n = n;
			   __entry->bufs = bufs;
			   __entry->used_idx = vr->last_used_idx;),
	    TP_printk("owner=%d dev=%u ring=%d entries=%u buffers=%u used_idx=%#x",
		      __entry->owner, __entry->dev, __entry->ring, __entry->n,
		      __entry->bufs, __entry->used_idx)
);

/* A ring waits for a translation: it asked the VMM for @iova (IOTLB). */
TRACE_EVENT(kvio_iotlb_miss,
	    TP_PROTO(const struct kvio_vring *vr, u64 iova, u32 perm),
	    TP_ARGS(vr, iova, perm),
	    TP_STRUCT__entry(__field(pid_t, owner)
			     __field(u32, dev)
			     __field(int, ring)
			     __field(u64, iova)
			     __field(u32, perm)),
	    TP_fast_assign(__entry->owner = vr->owner_pid;
			   __entry->dev = vr->dev->id;
			   __entry->ring = vr->index;
			   __entry->iova = iova;
			   __entry->perm = perm;),
	    TP_printk("owner=%d dev=%u ring=%d iova=%#llx perm=%u",
		      __entry->owner, __entry->dev, __entry->ring,
		      __entry->iova, __entry->perm)
);

/* After used entries: the guest was interrupted, or asked not to be. */
TRACE_EVENT(kvio_signal,
	    TP_PROTO(const struct kvio_vring *vr, bool sent),
	    TP_ARGS(vr, sent),
	    TP_STRUCT__entry(__field(pid_t, owner)
			     __field(u32, dev)
			     __field(int, ring)
			     __field(bool, sent)),
	    TP_fast_assign(__entry->owner = vr->owner_pid;
			   __entry->dev = vr->dev->id;
			   __entry->ring = vr->index;
			   __entry->sent = sent;),
	    TP_printk("owner=%d dev=%u ring=%d %s", __entry->owner, __entry->dev,
		      __entry->ring, __entry->sent ? "signalled" : "suppressed")
);

/*
 * A ring the guest corrupted stopped: why, and the descriptor that heads
 * the chain read last (packed: its position; -1: none since the ring was
 * reset), the chain at fault unless the fault was in the ring's indices
 * or used side.
 */
TRACE_EVENT(kvio_ring_broken,
	    TP_PROTO(const struct kvio_vring *vr, const char *why),
	    TP_ARGS(vr, why),
	    TP_STRUCT__entry(__field(pid_t, owner)
			     __field(u32, dev)
			     __field(int, ring)
			     __field(int, desc)
			     __string(why, why)),
	    TP_fast_assign(__entry->owner = vr->owner_pid;
			   __entry->dev = vr->dev->id;
			   __entry->ring = vr->index;
			   __entry->desc = vr->walk_head;
			   __kvio_assign_str(why, why);),
	    TP_printk("owner=%d dev=%u ring=%d desc=%d why=\"%s\"", __entry->owner,
		      __entry->dev, __entry->ring, __entry->desc, __get_str(why))
);

/* A worker ran one work item (a ring's handler). */
TRACE_EVENT(kvio_work_run,
	    TP_PROTO(const void *fn),
	    TP_ARGS(fn),
	    TP_STRUCT__entry(__field(const void *, fn)),
	    TP_fast_assign(__entry->fn = fn;),
	    TP_printk("%ps", __entry->fn)
);

/* A worker with nothing to do polls for up to @window_ns before it sleeps. */
TRACE_EVENT(kvio_worker_poll_start,
	    TP_PROTO(u64 window_ns),
	    TP_ARGS(window_ns),
	    TP_STRUCT__entry(__field(u64, window_ns)),
	    TP_fast_assign(__entry->window_ns = window_ns;),
	    TP_printk("window_ns=%llu", __entry->window_ns)
);

/* ... and stopped after @ns, having found work or not. */
TRACE_EVENT(kvio_worker_poll_stop,
	    TP_PROTO(u64 ns, bool found),
	    TP_ARGS(ns, found),
	    TP_STRUCT__entry(__field(u64, ns)
			     __field(bool, found)),
	    TP_fast_assign(__entry->ns = ns;
			   __entry->found = found;),
	    TP_printk("ns=%llu %s", __entry->ns,
		      __entry->found ? "found work" : "sleeps")
);

#endif /* _KVIO_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kvio_trace
#include <trace/define_trace.h>
