/* Self-metrics: the Prometheus text exposition format (version 0.0.4), the
 * snapshot the engine thread publishes, and what /metrics and /healthz make
 * of it (docs/operations.md "Metrics and health").
 *
 * struct rw_prom writes the exposition format and refuses to write it
 * wrong: metric and label names are checked, every family gets its # HELP
 * and # TYPE lines once and before its samples, counters end in _total,
 * histogram samples are _bucket (with "le", cumulative, ending at +Inf),
 * _sum and _count; label values and help text are escaped (\\, \", \n;
 * invalid UTF-8 becomes U+FFFD); values are Go-parseable (NaN, +Inf, -Inf,
 * integers exactly up to 2^53, else the shortest round-trip decimal).
 * The first error sticks: later calls do nothing and rw_prom_take returns
 * NULL.
 *
 * struct rw_metrics_snap is plain data: the engine thread fills one (no
 * pointers into engine state) and hands a copy to the HTTP thread, which
 * renders it. Ownership: rw_prom owns its buffer until rw_prom_take hands
 * it over (free it); the render functions return malloc'd text.
 */
#ifndef RW_METRICS_H
#define RW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/curve.h"
#include "engine/engine.h"
#include "engine/inputseq.h"
#include "engine/watch.h"
#include "notifiers/delivery.h"

/* ---- the exposition format ------------------------------------------------ */

enum rw_prom_type { RW_PROM_COUNTER, RW_PROM_GAUGE, RW_PROM_HISTOGRAM, RW_PROM_UNTYPED };

struct rw_prom_label {
    const char *name, *value;
};

struct rw_prom {
    char *buf;
    size_t len, cap;
    int err;          /* first error: -EINVAL (misuse) or -ENOMEM; sticky */
    char errmsg[160]; /* what was wrong */
    char family[128]; /* the family samples now belong to ("" = none) */
    enum rw_prom_type type;
    char **seen; /* families written (each only once) */
    int nseen, capseen;
};

void rw_prom_init(struct rw_prom *p);
/* Frees everything (safe after rw_prom_take). */
void rw_prom_clear(struct rw_prom *p);
/* The text (malloc'd, NUL-terminated; *len without the NUL), or NULL after
 * an error. The writer is cleared either way. */
char *rw_prom_take(struct rw_prom *p, size_t *len);

/* Begin a family: "# HELP name help" and "# TYPE name type". */
int rw_prom_family(struct rw_prom *p, const char *name, enum rw_prom_type type, const char *help);
/* One sample of the current family. suffix: "" for counters, gauges and
 * untyped; "_sum" or "_count" for histograms (buckets: rw_prom_histogram). */
int rw_prom_sample(struct rw_prom *p, const char *suffix, const struct rw_prom_label *labels,
                   int nlabels, double v);
/* The same with an exact integer value. */
int rw_prom_sample_u64(struct rw_prom *p, const char *suffix, const struct rw_prom_label *labels,
                       int nlabels, uint64_t v);
/* A whole histogram series: counts[i] observations in (bounds[i-1],
 * bounds[i]] (not cumulative), counts[nbounds] above the last bound;
 * bounds increasing and finite. Writes _bucket (cumulative, le="+Inf"
 * last), _sum and _count. */
int rw_prom_histogram(struct rw_prom *p, const struct rw_prom_label *labels, int nlabels,
                      const double *bounds, const uint64_t *counts, int nbounds, double sum);

/* A sample value as the format writes it. len >= 32. */
void rw_prom_format_value(double v, char *buf, size_t len);

/* ---- a histogram of per-window evaluation time ------------------------- */

#define RW_EVAL_NBOUNDS 14
extern const double rw_eval_bounds[RW_EVAL_NBOUNDS]; /* 0.0005 s ... 10 s */

struct rw_histogram {
    uint64_t counts[RW_EVAL_NBOUNDS + 1]; /* not cumulative; last: above the last bound */
    uint64_t count;
    double sum;
};
/* n observations of v (a catch-up closes many windows in one call). */
void rw_histogram_observe(struct rw_histogram *h, double v, uint64_t n);

/* ---- the snapshot -------------------------------------------------------- */

#define RW_METRICS_MAX_PUBS 64

struct rw_metrics_scope {
    char name[RW_NAME_MAX];
    int max_series;
    struct rw_engine_scope_stats st;
};

struct rw_metrics_snap {
    int64_t wall_ms;       /* when the engine thread took it */
    int64_t start_wall_ms; /* process start */
    struct rw_engine_stats engine;
    int nscopes;
    struct rw_metrics_scope scopes[RW_MAX_SCOPES];
    struct rw_histogram eval;             /* seconds per closed window */
    struct rw_engine_alert_counts alerts; /* as of the last window close */
    int delivery_on;
    struct rw_delivery_stats delivery;
    /* input */
    int rcvhwm;
    uint64_t messages;              /* ZeroMQ messages received */
    uint64_t connects, disconnects; /* ZeroMQ connections made (or accepted) and lost */
    struct rw_inputseq_stats seq;
    struct rw_curve_stats curve; /* input.curve; zeros without */
    int npubs;
    struct rw_inputseq_pub pubs[RW_METRICS_MAX_PUBS];
    /* input_stall and heartbeat */
    double stall_after;        /* 0 = off */
    double heartbeat_interval; /* 0 = off */
    struct rw_watch_stats watch;
    /* newest state snapshot written (epoch ms); 0 = none yet: its age is NaN */
    int64_t snapshot_wall_ms;
    uint64_t snapshots_written, snapshots_failed; /* engine state snapshots since start */
    uint64_t snapshot_bytes;                      /* size of the newest one */
    /* config reloads (engine/reload.h); reload_on 0: not reported */
    int reload_on;
    uint64_t reloads_ok, reloads_failed;
    int reload_last_ok;
    int64_t reload_last_ok_ms; /* when the running config was loaded */
};

/* What the HTTP thread adds at scrape time. */
struct rw_metrics_now {
    int64_t wall_ms;
    double tick_age_s;          /* since the engine loop last ran */
    double tick_timeout;        /* http.tick_timeout */
    double rss_bytes, vm_bytes; /* NaN if /proc/self/statm cannot be read */
};

/* Resident and virtual size from /proc/self/statm (NaN on failure). */
void rw_metrics_proc_memory(double *rss_bytes, double *vm_bytes);

/* The /metrics body. malloc'd; NULL on ENOMEM (or a bug: a message is logged). */
char *rw_metrics_render(const struct rw_metrics_snap *s, const struct rw_metrics_now *now,
                        size_t *len);

/* /healthz: 200 with "ok\n", or 503 with a JSON object
 *   {"status": "unhealthy", "reasons": ["engine loop stalled: ...", "input stalled: ..."],
 *    "engine_tick_age_seconds": x, "last_event_age_seconds": x or null}.
 * Unhealthy: the engine loop has not run for tick_timeout seconds, no
 * snapshot was published yet, or the input_stall alert fires. *body is
 * malloc'd (NULL on ENOMEM). */
int rw_metrics_health(const struct rw_metrics_snap *s, const struct rw_metrics_now *now,
                      char **body);

#endif
