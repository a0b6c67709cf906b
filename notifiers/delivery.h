/* Delivery core: a background thread that sends notifications with libcurl
 * (multi interface, so one slow receiver does not hold up another), with
 * per-attempt timeout and retries with exponential backoff and jitter.
 *
 * The engine thread hands alerts over with rw_delivery_submit(), which never
 * blocks: the alert JSON text crosses to the delivery thread over a ZeroMQ
 * inproc PAIR socket (threads share nothing mutable). If the hand-over queue
 * is full the alert is counted in `dropped` and logged.
 *
 * Ownership: rw_delivery_new copies the cfg array. The caller owns the zmq
 * context and must keep it alive until rw_delivery_destroy returns.
 */
#ifndef RW_DELIVERY_H
#define RW_DELIVERY_H

#include <stdint.h>

#include "notifiers/notifier.h"

struct rw_delivery;

struct rw_delivery_stats {
    uint64_t submitted; /* alerts accepted by submit (x receivers they go to) */
    uint64_t sent;      /* requests answered 2xx */
    uint64_t failed;    /* given up: permanent error or retries exhausted */
    uint64_t retried;   /* attempts that were retried */
    uint64_t dropped;   /* hand-over queue full, or shutdown drain timed out */
    uint64_t pending;   /* queued or in flight now */
};

struct rw_delivery *rw_delivery_new(void *zmq_ctx, const struct rw_notifier_cfg *cfgs,
                                    int ncfg);
/* Queue one alert line (JSON object text) for every receiver whose
 * min_severity/send_resolved accept it. Never blocks. 0 or -EAGAIN (dropped). */
int rw_delivery_submit(struct rw_delivery *d, const char *alert_json);
void rw_delivery_stats(const struct rw_delivery *d, struct rw_delivery_stats *out);
/* Stop accepting, try to finish everything queued for up to drain_ms, then
 * stop the thread and free. Sets *dp to NULL; safe on NULL. */
void rw_delivery_destroy(struct rw_delivery **dp, int drain_ms);

#endif
