/* The dispatcher: aggregation groups, as in Alertmanager.
 *
 * rw_dispatch_add routes an AM alert through the tree and files it, by
 * fingerprint, into one aggregation group per (matched route, group key);
 * the group key is the values of the route's group_by labels. Each group
 * has a timer, driven only by the now_ms the caller passes (no threads, no
 * clock reads):
 *   - a new group flushes first after group_wait;
 *   - then it flushes every group_interval. A flush notifies only if the
 *     group changed since the last notification (a new firing alert, or a
 *     newly resolved one when the receiver has send_resolved), or if
 *     repeat_interval has passed since the last notification and something
 *     still fires (so repeats land on the first group_interval tick at or
 *     after last + repeat_interval);
 *   - resolved alerts go out once (with send_resolved) and are then dropped
 *     from the group; an empty group is deleted.
 * At flush time alerts that are silenced (rw_silences_match) or inhibited
 * (rw_inhibitor_mutes) are left out, and a route muted by its time
 * intervals sends nothing; a muted alert that still fires when the mute ends
 * is notified on the next tick. (This is Alertmanager's order: muting is
 * decided when a notification would go out, not when the alert arrives.)
 *
 * One flush that notifies produces a Notification (BRIEF4 shape: receiver,
 * status, groupKey, groupLabels, commonLabels, commonAnnotations,
 * externalURL, truncatedAlerts, alerts[] with firing alerts first) passed to
 * the caller's callback. The callback returns 0 when it took the
 * notification (e.g. wrote it to the outbox); anything else means "not
 * taken": nothing is marked as sent and resolved alerts stay, so the next
 * tick tries again.
 *
 * Bounded: at most max_groups groups, max_alerts_per_group alerts in one
 * group and max_alerts alerts over all groups; what does not fit is counted
 * and refused (rw_dispatch_add returns -ENOSPC). Updates of alerts already
 * held (e.g. their resolution) always fit.
 *
 * Ownership: the dispatcher borrows the finalized route tree, the silences
 * and the inhibitor (all must outlive it; either mute source may be NULL).
 * It references (json_incref) the alerts it holds: treat an AM alert as
 * immutable once added. Single-threaded: the delivery thread owns it.
 */
#ifndef RW_GROUP_H
#define RW_GROUP_H

#include <jansson.h>
#include <stdint.h>

#include "notifiers/inhibit.h"
#include "notifiers/route.h"
#include "notifiers/silence.h"

struct rw_dispatch;

struct rw_dispatch_opts {
    int max_groups;           /* <= 0: 10000 */
    int max_alerts_per_group; /* <= 0: 1000 */
    int max_alerts;           /* over all groups; <= 0: 100000 */
    const char *external_url; /* copied into every notification; NULL = "" */
    /* Alertmanager flushes a new group at once when an alert's startsAt is
     * already older than group_wait. rumwatch's startsAt is the first
     * breaching window, which precedes the firing transition by `for`
     * windows, so that rule would skip group_wait for nearly every alert:
     * off unless set. */
    int early_flush;
};

struct rw_dispatch_stats {
    uint64_t groups;           /* groups now */
    uint64_t alerts;           /* alerts held now (an alert in two routes counts twice) */
    uint64_t received;         /* alerts given to rw_dispatch_add */
    uint64_t invalid;          /* refused: not an AM alert */
    uint64_t groups_dropped;   /* refused: max_groups reached */
    uint64_t alerts_dropped;   /* refused: a group or the total was full */
    uint64_t resolved_unknown; /* resolutions of alerts no group held (ignored) */
    uint64_t notifications;    /* notifications the callback took */
    uint64_t flush_failed;     /* notifications the callback refused */
    uint64_t muted_time;       /* flushes held back by a route's time intervals */
    uint64_t silenced;         /* alerts left out of a flush by a silence (per flush) */
    uint64_t inhibited;        /* alerts left out of a flush by inhibition (per flush) */
    uint64_t restore_rerouted; /* restored alerts filed anew: their group changed */
};

/* One notification, valid for the duration of the callback. */
struct rw_flush {
    const struct rw_route *route;
    const char *receiver;
    const char *group_key; /* route key + ":" + group labels, e.g.
                              {}/{severity="critical"}:{page="/checkout"} */
    const json_t *group_labels;
    const char *status; /* "firing" if any alert fires, else "resolved" */
    int nfiring, nresolved;
    json_t *notification; /* borrowed: json_incref to keep; its alerts are shared, read-only */
    /* With group_key and the alerts, these name the notification for good:
     * the same flush replayed after a crash has the same ones. */
    int64_t group_created_ms; /* when the group was first seen */
    uint64_t seq;             /* 1 for the group's first notification, then 2, ... */
};

/* 0 = taken; anything else = not taken (retried next group_interval). */
typedef int (*rw_flush_fn)(void *ud, const struct rw_flush *f);

/* root must be finalized. NULL on ENOMEM or a NULL root. */
struct rw_dispatch *rw_dispatch_new(const struct rw_route *root,
                                    const struct rw_dispatch_opts *opts);
void rw_dispatch_destroy(struct rw_dispatch **dp);
/* Mute sources consulted at flush time (borrowed; NULL = none). The
 * inhibitor is also fed every alert rw_dispatch_add sees. */
void rw_dispatch_set_mutes(struct rw_dispatch *d, const struct rw_silences *silences,
                           struct rw_inhibitor *inhibitor);

/* File one AM alert (needs "labels" object of strings; "status" "resolved"
 * or firing; "fingerprint" string, else one is derived from the labels).
 * Returns how many groups hold it now (0 for an unknown resolution),
 * -EINVAL for a malformed alert, -ENOSPC if a cap refused it somewhere. */
int rw_dispatch_add(struct rw_dispatch *d, json_t *am_alert, int64_t now_ms);
/* Flush every group whose timer is due at now_ms; returns how many
 * notifications the callback took. */
int rw_dispatch_due(struct rw_dispatch *d, int64_t now_ms, rw_flush_fn cb, void *ud);
/* The earliest group timer, or INT64_MAX with no groups. */
int64_t rw_dispatch_next_deadline(const struct rw_dispatch *d);
void rw_dispatch_stats(const struct rw_dispatch *d, struct rw_dispatch_stats *out);
/* ---- journal (delivery.c keeps it on disk; docs/notifications.md) ----------
 * A group's state is a JSON record {"t":"g", "route", "route_n", "key",
 * "labels", "created", "next", "flushed", "sent", "last_sent", "seq", "sf",
 * "sr" (fingerprints, 16 hex), and "alerts": [{"at", "alert"}] (a snapshot)
 * or "held": [fingerprints] (after a flush)}. Borrowed for the call. */
typedef int (*rw_dispatch_state_fn)(void *ud, const json_t *rec);
/* Called after every flush that changed a group (a notification taken,
 * the log updated, resolved alerts dropped, the group deleted); not for a
 * tick that only moved the timer. NULL fn = off. */
void rw_dispatch_set_journal(struct rw_dispatch *d, rw_dispatch_state_fn fn, void *ud);
/* One full record per group (fn returning nonzero stops: -EIO or its
 * negative value). Returns the number of groups or a negative errno. */
int rw_dispatch_snapshot(const struct rw_dispatch *d, rw_dispatch_state_fn fn, void *ud);
/* Apply one record. A full one rebuilds the group (created if missing)
 * with its timing and log; an alert the current tree would group elsewhere
 * (routes or group_by changed) goes through rw_dispatch_add at now_ms
 * instead (restore_rerouted). A "held" one updates a group the replayed
 * alerts built: its log, timing, and drops what it no longer holds; ignored
 * if no such group. Returns the alerts placed (>= 0) or -EINVAL. Replaying
 * a journal = rw_dispatch_add for each alert record at its time, and this
 * for each group record, in file order. */
int rw_dispatch_restore(struct rw_dispatch *d, const json_t *rec, int64_t now_ms);

/* Groups for status pages and tests: [{receiver, groupKey, groupLabels,
 * alerts (count), firing (count), next_flush_ms}]. New reference. */
json_t *rw_dispatch_groups(const struct rw_dispatch *d);

#endif
