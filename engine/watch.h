/* Watching the input from the engine thread: the input_stall alert and the
 * deadman heartbeat (docs/operations.md).
 *
 * input_stall: no event accepted for `stall_after` seconds (since start or
 * since the last accepted event) fires one alert line, rule "input_stall",
 * severity critical; the first accepted event resolves it. Its lines go
 * wherever alert lines go (the output and the notification pipeline).
 *
 * heartbeat: every `interval` seconds, if events were accepted since the
 * previous check, one heartbeat alert line (rule "rumwatch_heartbeat",
 * severity info) is handed to the pipeline; none otherwise. Each heartbeat
 * is a new alert — label beat="<n>", n = 1, 2, ... — and the line that
 * sends heartbeat n also resolves heartbeat n-1, so the heartbeat's route
 * (config.c: first under the root, group_by alertname, no repeat) notifies
 * once per heartbeat and nothing when the engine sends none.
 *
 * Time is injected (monotonic ms for intervals, wall ms for the lines).
 * Ownership: the watch owns its state; the sink is borrowed and must
 * outlive it. Single-threaded (engine thread).
 */
#ifndef RW_WATCH_H
#define RW_WATCH_H

#include <jansson.h>
#include <stdint.h>

struct rw_watch_opts {
    double stall_after;        /* s; 0 = no input_stall alert */
    double heartbeat_interval; /* s; 0 = no heartbeat */
};

/* Lines are alert lines (docs/schema.md), valid for the call only. */
struct rw_watch_sink {
    void (*alert)(void *ctx, const char *line);     /* input_stall: output + notify */
    void (*heartbeat)(void *ctx, const char *line); /* heartbeat: notify only */
    void *ctx;
};

struct rw_watch_stats {
    int stalled;                 /* input_stall fires now */
    int64_t last_accept_wall_ms; /* 0: none since start */
    int64_t last_receive_wall_ms;
    double idle_s;       /* seconds since the last accepted event (or start) */
    uint64_t stalls;     /* input_stall alerts fired since start */
    uint64_t heartbeats; /* heartbeats handed to the pipeline */
    int64_t last_heartbeat_wall_ms;
};

struct rw_watch;

/* NULL on ENOMEM. Negative or NaN options count as 0 (off). */
struct rw_watch *rw_watch_new(const struct rw_watch_opts *o, const struct rw_watch_sink *sink,
                              int64_t now_mono_ms, int64_t now_wall_ms);
void rw_watch_destroy(struct rw_watch **wp);

/* Once per engine loop turn, with the engine's running totals of events
 * received and accepted. */
void rw_watch_tick(struct rw_watch *w, uint64_t received, uint64_t accepted, int64_t now_mono_ms,
                   int64_t now_wall_ms);

/* A config reload: new options (a firing input_stall stays firing; with
 * stall_after 0 it resolves at the next accepted event), and the engine's
 * accepted total from now on (a reload may start the counters again). */
void rw_watch_reconfigure(struct rw_watch *w, const struct rw_watch_opts *o, uint64_t accepted,
                          int64_t now_mono_ms);

void rw_watch_stats(const struct rw_watch *w, int64_t now_mono_ms, struct rw_watch_stats *out);

/* The firing input_stall alert line (a new JSON object), NULL when none. */
json_t *rw_watch_active(const struct rw_watch *w);

#endif
