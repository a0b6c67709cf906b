/* Delivery: the notification pipeline's thread (docs/notifications.md).
 *
 *   alert line --rw_alert_to_am--> AM alert --rw_dispatch_add--> routing tree
 *   and aggregation groups (silences, inhibition and mute time intervals are
 *   applied when a group flushes) --> notification --rw_outbox_put (fsync)-->
 *   durable outbox --> per attempt: format (sendTime = now), sign (webhook-id
 *   = the outbox id), curl multi --> 2xx: done; 408/429/5xx/timeout/no
 *   connection: retried with backoff + jitter (Retry-After honoured);
 *   other 4xx: dead letter.
 *
 * The engine thread hands alert lines over with rw_delivery_submit(), which
 * never blocks: the JSON text crosses to the delivery thread over a ZeroMQ
 * inproc PAIR socket (threads share nothing mutable). Everything else (the
 * dispatcher, outbox, silences, history, control socket, curl) belongs to
 * the delivery thread. A receiver has at most 4 requests in flight, so one
 * that hangs never holds up another.
 *
 * Durability: a notification is on disk before its first attempt and
 * leaves the outbox only on a 2xx or as a dead letter; after a crash or a
 * stop it is sent by the next start, with the same webhook-id. Alerts
 * waiting in a group (group_wait / group_interval) are in the alert journal
 * (<state_dir>/alerts.journal, fdatasync'ed per batch before they join a
 * group) with each group's state after its flushes; the next start replays
 * it, so groups come back with their first-seen time and notification log.
 * Notification ids are content-derived (receiver, group key, group
 * first-seen time, notification number, alerts' fingerprints and statuses):
 * a flush made again after a crash has the id of the one possibly sent
 * before, and the outbox keeps one copy per id. The journal is compacted at
 * start, reload and stop, and when it outgrows its last snapshot and the
 * slack. A graceful stop still flushes the groups into the outbox first.
 * Not in event-time mode (replay --notify). rw_delivery_reload switches
 * config while running (see there).
 *
 * Ownership: rw_delivery_new copies the receivers and strings; it borrows
 * the route tree and the inhibit rules (they must outlive the delivery, or
 * the reload that replaces them, as the config that holds them does) and the ZeroMQ context (the
 * caller keeps it alive until rw_delivery_destroy returns).
 */
#ifndef RW_DELIVERY_H
#define RW_DELIVERY_H

#include <jansson.h>
#include <stdint.h>

#include "notifiers/inhibit.h"
#include "notifiers/notifier.h"
#include "notifiers/outbox.h"
#include "notifiers/route.h"

struct rw_delivery;

struct rw_delivery_opts {
    const struct rw_notifier_cfg *receivers; /* copied; every name the routes use */
    int nreceivers;
    const struct rw_route *route;          /* finalized tree (borrowed) */
    const struct rw_inhibit_rule *inhibit; /* borrowed array */
    int ninhibit;
    const char *external_url; /* NULL = "" */
    const char *state_dir;    /* required: outbox/, silences.json, control.sock (made 0700) */
    const char *history;      /* history file; NULL or "" = none */
    uint64_t history_max_bytes;
    struct rw_outbox_limits outbox; /* max_body 0 = 16 MiB here (big groups) */
    /* Replay: group timers follow the alert lines' "ts" (event time), so a
     * replay sends what `run` would have sent then; attempts, backoff and
     * silences' bookkeeping still use the wall clock. */
    int event_time;
    int control; /* serve the control socket (`rumwatch run`) */
    /* The alert journal is compacted when what was appended since the last
     * compaction exceeds both this and the compacted size. 0 = 4 MiB. */
    uint64_t journal_slack;
    /* The daemon's own control commands (`rumwatch reload`): a request whose
     * cmd the delivery thread does not know goes to app_control, called on
     * the delivery thread (so it must only touch thread-safe state); its
     * reply is a new reference, NULL = unknown command. app_status adds a
     * new object to the status reply under "engine". Both may be NULL; fixed
     * at rw_delivery_new. */
    json_t *(*app_control)(void *ud, const json_t *req);
    json_t *(*app_status)(void *ud);
    void *app_ud;
};

struct rw_delivery_stats {
    uint64_t alerts;         /* alert lines the pipeline took */
    uint64_t submitted;      /* notifications written to the outbox */
    uint64_t sent;           /* notifications delivered (2xx) */
    uint64_t failed;         /* given up: dead-lettered, or for a receiver that cannot send */
    uint64_t retried;        /* failed attempts that will be tried again */
    uint64_t dropped;        /* alerts lost before the outbox: hand-over queue full, group caps */
    uint64_t pending;        /* notifications in the outbox (in flight included) */
    uint64_t dead;           /* dead-lettered since start: refused, retries exhausted, max age */
    uint64_t dropped_oldest; /* outbox full: oldest pending dead-lettered ("outbox full") */
    uint64_t silenced;       /* alerts left out of a flush by a silence */
    uint64_t inhibited;      /* ... by an inhibit rule */
    uint64_t muted;          /* flushes held back by a route's time intervals */
    uint64_t groups;         /* aggregation groups now */
    uint64_t resent;         /* alertmanager re-posts of firing alerts answered 2xx */
    uint64_t inflight;       /* requests in flight now */
    uint64_t journal_bytes;  /* size of <state_dir>/alerts.journal now */
    uint64_t restored;       /* alerts the journal gave back to the groups at start */
};

/* Opens the outbox (its lock: one process per state directory), the
 * silences and the history, binds the control socket, then starts the
 * thread. NULL with a message on error ("... is in use by another rumwatch
 * process", permissions, a bad path). */
struct rw_delivery *rw_delivery_new(void *zmq_ctx, const struct rw_delivery_opts *opts, char *err,
                                    size_t errlen);
/* Queue one alert line (JSON object text). Never blocks. 0, -EINVAL, or
 * -EAGAIN when the hand-over queue is full (counted in `dropped`). */
int rw_delivery_submit(struct rw_delivery *d, const char *alert_json);
void rw_delivery_stats(const struct rw_delivery *d, struct rw_delivery_stats *out);
/* Engine thread (the one that submits): switch to the receivers, route
 * tree, inhibit rules and external_url of opts, applied by the delivery
 * thread after every alert already submitted, without losing what the
 * groups hold or the outbox. Groups whose route and group key still exist
 * keep their timers and notification log; alerts whose group changed are
 * filed anew (as new arrivals at the reload); routes the reload adds get
 * the alerts already firing. Receivers are matched by name: one kept
 * (changed or not) keeps its queue and transfers in flight; notifications
 * of a removed one are dead-lettered with reason "receiver removed" (in
 * flight now, or when they come due), for `outbox retry` once it is back.
 * state_dir must be the same (or NULL); history, outbox limits,
 * event_time, control and journal_slack are fixed at rw_delivery_new.
 * Blocks until applied. 0: from now on opts' route tree and inhibit rules
 * are the ones borrowed, and the previous ones may be freed. Negative errno
 * with a message: the previous ones stay in use (keep them). */
int rw_delivery_reload(struct rw_delivery *d, const struct rw_delivery_opts *opts, char *err,
                       size_t errlen);
/* Stop taking alerts, flush the groups into the outbox, deliver for up to
 * drain_ms, then stop the thread and free. What is not delivered stays in
 * the outbox for the next start. Sets *dp to NULL; safe on NULL. */
void rw_delivery_destroy(struct rw_delivery **dp, int drain_ms);

/* The outbox directory of a state directory (<state_dir>/outbox). */
int rw_delivery_outbox_dir(const char *state_dir, char *out, size_t outlen);
/* The outbox of a state directory as JSON (for `rumwatch outbox list` and
 * the control socket): [{"id", "receiver", "state", "attempts",
 * "created", "next_attempt", "last_error", "dead_reason", "dead_at",
 * "retry_requested", "bytes", "status", "alerts", "groupKey", "body"
 * (bodies only)}], at most `limit` entries (0 = all). Reads files only
 * (works with or without a daemon). NULL with a message on error. */
json_t *rw_delivery_outbox_list(const char *state_dir, int limit, int bodies, char *err,
                                size_t errlen);

#endif
