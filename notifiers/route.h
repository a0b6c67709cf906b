/* The routing tree, as in Alertmanager.
 *
 * Every node has a receiver, matchers (ANDed), `continue`, grouping
 * settings and optional mute/active time intervals. An alert enters at the
 * root (which matches everything and is the default receiver) and walks
 * down depth-first: the first child whose matchers match takes it (and its
 * subtree is searched the same way); later siblings are tried only if that
 * child has `continue` set. A node none of whose children matched is itself
 * the match. So an alert always ends in at least one route.
 *
 * Inheritance (done by rw_route_finalize): receiver, group_by, group_wait,
 * group_interval and repeat_interval left unset on a node come from its
 * parent; the root's defaults are 30s / 5m / 4h and no grouping labels (one
 * group per route). mute_time_intervals and active_time_intervals are NOT
 * inherited (Alertmanager's rule): they apply to the node that names them.
 *
 * Ownership: a node owns its children, matchers and strings; free the tree
 * with rw_route_free(&root). rw_route_match returns borrowed pointers into
 * the tree. The resolved time intervals are borrowed from the rw_timeints
 * given to rw_route_finalize, which must outlive the tree. A finalized tree
 * is read-only and may be shared by readers.
 */
#ifndef RW_ROUTE_H
#define RW_ROUTE_H

#include <jansson.h>
#include <stdint.h>

#include "notifiers/matcher.h"
#include "notifiers/timeint.h"

#define RW_RECEIVER_NAME_MAX 64
#define RW_ROUTE_MAX_MATCH 64 /* routes one alert may end in */
#define RW_ROUTE_MAX_DEPTH 32

#define RW_DEFAULT_GROUP_WAIT_MS (30 * 1000LL)
#define RW_DEFAULT_GROUP_INTERVAL_MS (5 * 60 * 1000LL)
#define RW_DEFAULT_REPEAT_INTERVAL_MS (4 * 3600 * 1000LL)

struct rw_route {
    char receiver[RW_RECEIVER_NAME_MAX]; /* "" = inherit */
    int send_resolved;                   /* the receiver's send_resolved (default 1) */
    struct rw_matchers matchers;
    int cont; /* `continue` */

    int group_by_set; /* 0 = inherit */
    int group_by_all; /* group_by = ["..."]: every label */
    int ngroup_by;
    char **group_by; /* owned label names */

    int64_t group_wait_ms;      /* -1 = inherit */
    int64_t group_interval_ms;  /* -1 = inherit */
    int64_t repeat_interval_ms; /* -1 = inherit */

    int nmute, nactive;
    char **mute_names, **active_names;        /* owned */
    const struct rw_timeint **mute, **active; /* resolved by finalize, borrowed */

    struct rw_route *parent; /* NULL at the root */
    int nchildren;
    struct rw_route **children; /* owned */
    int index;                  /* position among its siblings */
    int depth;                  /* 0 at the root */
    char *key;                  /* Alertmanager's route key: {}/{severity="critical"} */
    int line;                   /* config line, 0 if built by hand */
};

/* A node with every setting unset; receiver may be NULL. NULL on ENOMEM. */
struct rw_route *rw_route_new(const char *receiver);
/* Append `child` (ownership moves to parent). 0 or -ENOMEM (child not taken). */
int rw_route_add_child(struct rw_route *parent, struct rw_route *child);
/* names[0] == "..." alone means every label. 0, -EINVAL (bad or duplicate
 * name, "..." mixed with names) or -ENOMEM, with a message. */
int rw_route_set_group_by(struct rw_route *r, const char *const *names, int n, char *err,
                          size_t errlen);
/* Add a time interval name (resolved by finalize). 0 or -ENOMEM. */
int rw_route_add_mute(struct rw_route *r, const char *name);
int rw_route_add_active(struct rw_route *r, const char *name);

/* Apply defaults and inheritance, resolve interval names against `tis` (may
 * be NULL when none are used), compute keys and check the tree: the root
 * needs a receiver and may not have matchers, `continue` or time intervals;
 * depth at most RW_ROUTE_MAX_DEPTH; group_interval and repeat_interval > 0.
 * 0 or -EINVAL with a message (naming the config line when known). */
int rw_route_finalize(struct rw_route *root, const struct rw_timeints *tis, char *err,
                      size_t errlen);
void rw_route_free(struct rw_route **rootp);

/* Routes that take an alert with these labels, in tree order. Writes up to
 * `max` pointers and returns how many matched (at least 1 for a finalized
 * root). */
int rw_route_match(const struct rw_route *root, const json_t *labels, const struct rw_route **out,
                   int max);
/* 1 if notifications of this route are muted at `now_ms` by its
 * mute_time_intervals (any contains now) or active_time_intervals (none does). */
int rw_route_muted(const struct rw_route *r, int64_t now_ms);

#endif
