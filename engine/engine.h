/* The engine: keyspace of series per scope, event-time windows, detectors,
 * alert lifecycle. `run` and `replay` drive the same engine; only the source
 * of events and of the watermark differ.
 *
 *   ingest(event) -> one series per scope -> the window slot of ev->ts
 *   advance(watermark) -> every window whose end <= watermark closes: every
 *     series of every scope is evaluated (a window with no events is data:
 *     zero views), rules run their detector, the alert lifecycle moves, and
 *     transitions of that window are grouped and emitted in a stable order.
 *
 * Ownership: the engine borrows cfg (must outlive it) and the sink. It owns
 * its series, page normalizer, decoder and quantile pool. Single-threaded.
 */
#ifndef RW_ENGINE_H
#define RW_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/event.h"

/* Where alert transitions go. `line` is the alert line (JSON object text,
 * no newline), valid for the call only. `notify` is 0 when the alert is
 * grouped under a parent alert (or is the resolution of one that was). */
struct rw_alert_sink {
    void (*emit)(void *ctx, const char *line, int notify);
    void *ctx;
};

struct rw_engine_stats {
    uint64_t received;              /* events offered (decoded or not) */
    uint64_t accepted;
    uint64_t rejected[RW_NREJECT];  /* per reason (index 0 unused) */
    uint64_t views, errors, metrics; /* accepted events by type */
    uint64_t series;                /* alive now, all scopes */
    uint64_t series_created, series_expired, folded;
    uint64_t windows_closed;
    uint64_t evaluations;           /* rule x series evaluations */
    uint64_t insufficient;          /* ... of which insufficient_data (too few samples/history) */
    uint64_t alerts_fired, alerts_resolved;
    uint64_t firing_now;
    uint64_t sketch_nomem;
    int64_t watermark;              /* ms; INT64_MIN before the first event */
    int64_t max_ts;                 /* newest event time seen */
    size_t bytes;                   /* approximate memory held by series and sketches */
    size_t sketch_bytes;            /* of which quantile sketches (pooled, reused) */
};

struct rw_engine;

struct rw_engine *rw_engine_new(const struct rw_config *cfg, const struct rw_alert_sink *sink,
                                char *err, size_t errlen);
void rw_engine_destroy(struct rw_engine **ep);

/* Event time drives the watermark (replay): each event first advances the
 * watermark to ts - lateness. Off (run): the caller advances it from the
 * wall clock. Default: on. */
void rw_engine_set_event_time(struct rw_engine *e, int on);

/* Decode one JSON event and ingest it: the hot path. Lines longer than
 * max_message are rejected as oversize. Returns RW_OK or the reason. */
enum rw_reject rw_engine_ingest_json(struct rw_engine *e, const char *buf, size_t len);
/* Ingest an already decoded event. */
enum rw_reject rw_engine_ingest(struct rw_engine *e, const struct rw_event *ev);
/* Count a rejection decided outside the engine (e.g. oversize ZeroMQ message). */
void rw_engine_count_reject(struct rw_engine *e, enum rw_reject why);

/* Close every window whose end <= watermark_ms. Monotonic: smaller values are ignored. */
void rw_engine_advance(struct rw_engine *e, int64_t watermark_ms);
/* End of a replay: close the windows that the input covered completely
 * (end <= newest event time); a last, partial window is not evaluated. */
void rw_engine_finish(struct rw_engine *e);

void rw_engine_get_stats(const struct rw_engine *e, struct rw_engine_stats *out);
/* Series alive in scope i (of cfg->scopes). */
uint64_t rw_engine_scope_series(const struct rw_engine *e, int scope);

/* One configured scope's keyspace ([0]: RUM events; [1]: its custom metric
 * twin, when custom rules run on the scope: has_custom). Zeros for a bad index. */
struct rw_engine_scope_stats {
    int has_custom;
    uint64_t series[2];  /* alive now, "(other)" included */
    uint64_t created[2]; /* series born since start */
    uint64_t expired[2]; /* idle series forgotten */
    uint64_t folded[2];  /* events that went to "(other)" (scope full) */
};
void rw_engine_scope_stats(const struct rw_engine *e, int scope, struct rw_engine_scope_stats *out);

/* Pending and firing alerts now (for /api/alerts and the metrics): a new
 * array of at most `max` objects {"rule", "state": "pending"|"firing",
 * "severity", "metric", "stat", "app", "scope_name", "scope": {dim: value},
 * "since": epoch ms (end of the episode's first breaching window),
 * "fingerprint": 16 hex, "parent": 16 hex (firing, grouped under it),
 * "flapping": bool}, in keyspace order. counts (may be NULL) gets the
 * totals over every alert, listed or not. Walks every series and rule: call
 * it when windows close, not per event. NULL only on ENOMEM. */
struct rw_engine_alert_counts {
    uint64_t pending, firing, flapping, grouped; /* grouped: firing under a parent */
    uint64_t truncated;                          /* not listed (max reached) */
};
json_t *rw_engine_alerts_json(const struct rw_engine *e, size_t max,
                              struct rw_engine_alert_counts *counts);

/* Replay of an exported series (--csv NAME): `name` is "metric" or
 * "metric.stat"; the rules watching that metric (and stat) are run over one
 * synthetic series whose scope is {"series": label}. Returns the number of
 * rules selected, or -EINVAL with a message. */
int rw_engine_csv_begin(struct rw_engine *e, const char *name, const char *label, char *err,
                        size_t errlen);
/* One row = one window ending at ts_ms. n < 0: unknown sample count (treated
 * as enough). Missing rows are gaps: nothing is evaluated for them. */
void rw_engine_csv_row(struct rw_engine *e, int64_t ts_ms, double value, double n);

#endif
