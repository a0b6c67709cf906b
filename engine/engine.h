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

/* ---- state snapshots (engine/snapshot.h, docs/operations.md) ---------- */

struct rw_snapbuf;

/* Append the engine's state as a sealed snapshot (header + sections) to an
 * empty buffer: watermark, stats counters, every series of every scope
 * (key, last event time, open window slots with their quantile sketches,
 * low-traffic pools) and, per rule of its scope, the alert state and the
 * detector state, rules identified by name and a hash of their settings.
 * Deterministic: the same state gives the same bytes. 0 or a negative errno
 * (-ENOMEM; -ENOTSUP for a --csv replay) with a message. */
int rw_engine_save(const struct rw_engine *e, struct rw_snapbuf *out, char *err, size_t errlen);

/* What rw_engine_restore kept and dropped. Rules are counted per configured
 * rule: kept (same name, same settings), changed (same name, other settings:
 * its state is dropped), removed (not in the new config), new (not in the
 * snapshot: starts fresh). */
struct rw_restore_report {
    uint64_t series;         /* restored */
    uint64_t series_skipped; /* of scopes the new config no longer has, or over a scope cap */
    int scopes, scopes_dropped;
    int rules_kept, rules_changed, rules_removed, rules_new;
    uint64_t alerts_firing, alerts_pending; /* restored alert states */
    int64_t watermark, max_ts;
    uint64_t cursor;     /* rw_engine_set_cursor's position when saved */
    uint32_t cursor_crc;
};

/* Restore a snapshot into a freshly created engine (no event ingested yet),
 * possibly built from another config: scopes match by dims (and custom-metric
 * twin), rules by name and settings; unknown parts are dropped. The whole
 * snapshot is checked before the engine changes: on -EINVAL (corrupt,
 * truncated, another format version, another window length) the engine is
 * as new. On -ENOMEM it may be half-restored: destroy it. */
int rw_engine_restore(struct rw_engine *e, const void *buf, size_t len,
                      struct rw_restore_report *rep, char *err, size_t errlen);

/* Identity of the engine's configuration as stored in snapshot headers
 * (window length and every rule's settings). */
uint64_t rw_engine_config_id(const struct rw_engine *e);

/* The driver's input position (replay: lines read, and a CRC-32 of them),
 * kept with the state so a restart over the same input resumes after it. */
void rw_engine_set_cursor(struct rw_engine *e, uint64_t pos, uint32_t crc);

/* Run after a restore: the daemon heard nothing while it was down. Close the
 * windows that may hold restored data (up to wm), then move the watermark to
 * wm without evaluating the windows in between as empty (no false traffic
 * drop for the downtime). Returns the windows skipped. */
int64_t rw_engine_resume_gap(struct rw_engine *e, int64_t wm);

/* Zero the event, window, evaluation, alert and per-scope series counters
 * (not the state they describe: series alive, alerts firing). A restart
 * calls it after restoring, so /metrics counts from the process start as
 * Prometheus expects of a counter; a reload does not, so they go on. */
void rw_engine_reset_counters(struct rw_engine *e);

/* The watermark (ms; INT64_MIN before the first event). */
int64_t rw_engine_watermark(const struct rw_engine *e);

#endif
