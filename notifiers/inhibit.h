/* Inhibition, as in Alertmanager: while a *firing* alert matches a rule's
 * source_matchers, alerts matching its target_matchers that have the same
 * values for every label in `equal` are muted (a label missing on both sides
 * counts as equal). An alert never inhibits itself, and when an alert
 * matches both sides of a rule, only sources that do not also match the
 * target side can mute it (so two such alerts cannot mute each other).
 *
 * Example: source rule=traffic_drop_app, target rule=~".*_slowdown",
 * equal=[] -> an app-wide traffic drop mutes every slowdown alert;
 * equal=["page"] -> it mutes only slowdowns of the same page.
 *
 * The inhibitor keeps its own cache of firing source alerts (fed with
 * rw_inhibitor_observe for every alert, before routing), bounded by
 * max_sources; sources beyond it are counted in `dropped` and do not
 * inhibit.
 *
 * Ownership: rules are plain values owned by whoever filled them (free with
 * rw_inhibit_rule_clear); the inhibitor borrows the rules array, which must
 * outlive it. The inhibitor owns its cache (labels objects are referenced).
 * Single-threaded: the delivery thread owns it.
 */
#ifndef RW_INHIBIT_H
#define RW_INHIBIT_H

#include <jansson.h>
#include <stdint.h>

#include "notifiers/matcher.h"

struct rw_inhibit_rule {
    struct rw_matchers source, target;
    int nequal;
    char **equal; /* owned label names */
    int line;     /* config line, 0 if built by hand */
};

/* Append a label name to rule->equal. 0, -EINVAL (bad name) or -ENOMEM. */
int rw_inhibit_rule_add_equal(struct rw_inhibit_rule *rule, const char *name);
void rw_inhibit_rule_clear(struct rw_inhibit_rule *rule);

struct rw_inhibitor;

struct rw_inhibit_stats {
    uint64_t sources; /* firing source alerts cached now (per rule) */
    uint64_t dropped; /* source alerts not cached because of max_sources */
    uint64_t muted;   /* rw_inhibitor_mutes answers "yes" */
};

/* rules: borrowed array of n rules. max_sources <= 0 means 10000. NULL on ENOMEM. */
struct rw_inhibitor *rw_inhibitor_new(const struct rw_inhibit_rule *rules, int n, int max_sources);
void rw_inhibitor_destroy(struct rw_inhibitor **ip);
/* Feed every AM alert (firing or resolved). A firing alert matching a rule's
 * source is cached (or updated) under its fingerprint; a resolved one is
 * removed. Alerts without labels or fingerprint are ignored. */
void rw_inhibitor_observe(struct rw_inhibitor *inh, const json_t *am_alert);
/* 1 if an alert with these labels and fingerprint is inhibited now; the
 * inhibiting alert's fingerprint is copied into by (if not NULL). */
int rw_inhibitor_mutes(struct rw_inhibitor *inh, const json_t *labels, const char *fingerprint,
                       char *by, size_t bylen);
void rw_inhibitor_stats(const struct rw_inhibitor *inh, struct rw_inhibit_stats *out);

#endif
