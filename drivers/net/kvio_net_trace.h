/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvio-net's tracepoints, in the core's system "kvio" (drivers/vhost/
 * kvio_trace.h names rings the same way).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvio

#if !defined(_KVIO_NET_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KVIO_NET_TRACE_H

#include <linux/tracepoint.h>

#include <kvio/vhost.h>

/*
 * One turn of a ring's handler: the frames it moved and their bytes (as
 * the guest's buffers hold them, virtio-net header included), and whether
 * it stopped because the ring had its share of the worker (it is then
 * queued again behind the other rings).
 */
DECLARE_EVENT_CLASS(kvio_net_batch_class,
		    TP_PROTO(const struct kvio_vring *vr, unsigned int frames, u64 bytes,
			     bool budget),
		    TP_ARGS(vr, frames, bytes, budget),
		    TP_STRUCT__entry(__field(pid_t, owner)
				     __field(u32, dev)
				     __field(int, ring)
				     __field(unsigned int, frames)
				     __field(u64, bytes)
				     __field(bool, budget)),
		    TP_fast_assign(__entry->owner = vr->owner_pid;
				   __entry->dev = vr->dev->id;
				   __entry->ring = vr->index;
				   __entry->frames = frames;
				   __entry->bytes = bytes;
				   __entry->budget = budget;),
		    TP_printk("owner=%d dev=%u ring=%d frames=%u bytes=%llu%s",
			      __entry->owner, __entry->dev, __entry->ring, __entry->frames,
			      __entry->bytes, __entry->budget ? " budget" : "")
);

DEFINE_EVENT(kvio_net_batch_class, kvio_net_tx,
	     TP_PROTO(const struct kvio_vring *vr, unsigned int frames, u64 bytes,
		      bool budget),
	     TP_ARGS(vr, frames, bytes, budget)
);

DEFINE_EVENT(kvio_net_batch_class, kvio_net_rx,
	     TP_PROTO(const struct kvio_vring *vr, unsigned int frames, u64 bytes,
		      bool budget),
	     TP_ARGS(vr, frames, bytes, budget)
);

#endif /* _KVIO_NET_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kvio_net_trace
#include <trace/define_trace.h>
