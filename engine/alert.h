/* Alert lines: the documented JSON record of one alert transition, its
 * fingerprint and its one-line human summary (docs/schema.md "Alert line"). */
#ifndef RW_ALERT_H
#define RW_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "detectors/detector.h"

enum rw_alert_state { RW_ALERT_INACTIVE = 0, RW_ALERT_PENDING, RW_ALERT_FIRING };

/* Everything needed to describe one transition. All pointers borrowed. */
struct rw_alert_view {
    int64_t ts;       /* window end, epoch ms */
    int firing;       /* 1 firing, 0 resolved */
    const struct rw_rule_cfg *rule;
    const char *app;
    size_t app_len;
    int ndims;
    const char *dim_names[RW_MAX_DIMS];
    const char *dim_vals[RW_MAX_DIMS];
    size_t dim_lens[RW_MAX_DIMS];
    const struct rw_verdict *v;
    int64_t since;        /* start of the episode (end of its first breaching window) */
    uint64_t fingerprint;
    uint64_t parent;      /* fingerprint of the parent alert it is grouped under, 0 = none */
    uint32_t views, errors; /* raw counts in the window */
    double window_s;      /* window length, for "per minute" wording */
    /* Explanation (NaN / 0 / NULL when not applicable): */
    double q;             /* Benjamini-Hochberg q-value */
    uint32_t family;      /* series tested together with it */
    double views_per_hour;        /* the series' traffic (moving average) */
    double parent_views_per_hour; /* its parent series' traffic */
    const char *parent_scope;     /* the parent's scope name ("app") */
    int flapping;         /* 1: this change made it flapping (later ones are held) */
    int settled;          /* 1: flapping settled; this is its current state */
    int nodata;           /* 1: fired because the series stopped giving data */
};

/* FNV-1a 64 over rule name, app and dim=value pairs: stable across restarts. */
uint64_t rw_alert_fingerprint(const char *rule, const char *app, size_t app_len, int ndims,
                              const char *const *names, const char *const *vals,
                              const size_t *lens);

/* "p75 LCP 4.1 s vs usual 2.0 s (1.7–2.4) over 412 views on /checkout · mobile" */
void rw_alert_summary(const struct rw_alert_view *a, char *buf, size_t len);
/* "/checkout · mobile", or "the whole site" */
void rw_alert_where(const struct rw_alert_view *a, char *buf, size_t len);

/* The alert line as a new JSON object (caller owns the reference). */
json_t *rw_alert_json(const struct rw_alert_view *a);

/* Serialize with the stable number format used for every alert line. */
char *rw_alert_dumps(const json_t *line);

#endif
