/* input_stall and the heartbeat (see watch.h). Runs once per loop turn of
 * the engine thread; builds JSON only when a line is due. */
#include "engine/watch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "engine/alert.h"
#include "engine/log.h"

struct rw_watch {
    struct rw_watch_opts o;
    struct rw_watch_sink sink;
    int64_t start_wall;
    /* input */
    uint64_t received, accepted;
    int64_t last_accept_mono, last_accept_wall; /* wall 0: none yet */
    int64_t last_receive_wall;
    uint64_t received_at_accept; /* received when the last event was accepted */
    /* input_stall */
    int stalled;
    int64_t stall_since; /* wall ms the episode counts from */
    uint64_t stalls;
    json_t *stall_line; /* the firing line while stalled */
    /* heartbeat */
    int64_t next_beat_mono;
    uint64_t accepted_at_beat;
    uint64_t beats;
    int64_t last_beat_wall;
};

static double sane(double v)
{
    return isfinite(v) && v > 0 ? v : 0;
}

struct rw_watch *rw_watch_new(const struct rw_watch_opts *o, const struct rw_watch_sink *sink,
                              int64_t now_mono_ms, int64_t now_wall_ms)
{
    struct rw_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o.stall_after = sane(o->stall_after);
    w->o.heartbeat_interval = sane(o->heartbeat_interval);
    if (sink)
        w->sink = *sink;
    w->start_wall = now_wall_ms;
    w->last_accept_mono = now_mono_ms;
    w->next_beat_mono = now_mono_ms + (int64_t)llround(w->o.heartbeat_interval * 1000);
    return w;
}

void rw_watch_destroy(struct rw_watch **wp)
{
    if (!wp || !*wp)
        return;
    json_decref((*wp)->stall_line);
    free(*wp);
    *wp = NULL;
}

/* The fields every line of rumwatch's own alerts has, in the alert line's order. */
static json_t *own_line(int64_t ts, int firing, const char *rule, const char *stat, double value,
                        double expected, uint64_t n, const char *severity, const char *detector,
                        const char *label_name, const char *label_value, int64_t since)
{
    const char *names[1] = {label_name};
    const char *vals[1] = {label_value};
    size_t lens[1] = {label_value ? strlen(label_value) : 0};
    char fp[17];
    snprintf(fp, sizeof fp, "%016llx",
             (unsigned long long)rw_alert_fingerprint(rule, "", 0, label_name ? 1 : 0, names, vals,
                                                      lens));
    json_t *l = json_object();
    json_object_set_new(l, "ts", json_integer(ts));
    json_object_set_new(l, "state", json_string(firing ? "firing" : "resolved"));
    json_object_set_new(l, "rule", json_string(rule));
    json_object_set_new(l, "metric", json_string("events"));
    json_object_set_new(l, "stat", json_string(stat));
    json_object_set_new(l, "scope", json_object());
    json_object_set_new(l, "value", isfinite(value) ? json_real(value) : json_null());
    json_object_set_new(l, "expected", isfinite(expected) ? json_real(expected) : json_null());
    json_object_set_new(l, "n", json_integer((json_int_t)n));
    json_object_set_new(l, "severity", json_string(severity));
    json_object_set_new(l, "detector", json_string(detector));
    json_object_set_new(l, "fingerprint", json_string(fp));
    json_object_set_new(l, "since", json_integer(since));
    if (label_name)
        json_object_set_new(l, "labels", json_pack("{s:s}", label_name, label_value));
    return l;
}

static void emit(void (*fn)(void *, const char *), void *ctx, json_t *line)
{
    char *text = line ? rw_alert_dumps(line) : NULL;
    if (text && fn)
        fn(ctx, text);
    else if (!text)
        rw_log(RW_LOG_ERROR, "watch", "msg=\"out of memory building an alert line\"");
    free(text);
}

static void stall_fire(struct rw_watch *w, int64_t now_mono, int64_t now_wall)
{
    double idle = (double)(now_mono - w->last_accept_mono) / 1000.0;
    uint64_t rejected = w->received - w->received_at_accept;
    char summary[256], why[160];
    if (rejected > 0)
        snprintf(summary, sizeof summary,
                 "no event accepted for %.0f s: %llu received, all rejected", idle,
                 (unsigned long long)rejected);
    else if (!w->last_accept_wall)
        snprintf(summary, sizeof summary, "no events received since the start %.0f s ago", idle);
    else
        snprintf(summary, sizeof summary, "no events received for %.0f s", idle);
    snprintf(why, sizeof why, "input.stall_after = %g s", w->o.stall_after);
    w->stall_since = w->last_accept_wall ? w->last_accept_wall : w->start_wall;
    json_t *l = own_line(now_wall, 1, RW_RULE_INPUT_STALL, "idle_seconds", idle, w->o.stall_after,
                         rejected, "critical", "input_stall", NULL, NULL, w->stall_since);
    json_object_set_new(l, "summary", json_string(summary));
    json_object_set_new(l, "why", json_string(why));
    w->stalled = 1;
    w->stalls++;
    json_decref(w->stall_line);
    w->stall_line = l;
    rw_log(RW_LOG_WARN, "watch", "msg=\"input stalled\" idle_s=%.1f received_since=%llu", idle,
           (unsigned long long)rejected);
    emit(w->sink.alert, w->sink.ctx, l);
}

static void stall_resolve(struct rw_watch *w, int64_t now_wall, double idle)
{
    char summary[160];
    snprintf(summary, sizeof summary, "events accepted again after %.0f s without", idle);
    json_t *l = own_line(now_wall, 0, RW_RULE_INPUT_STALL, "idle_seconds", idle, w->o.stall_after,
                         0, "critical", "input_stall", NULL, NULL, w->stall_since);
    json_object_set_new(l, "summary", json_string(summary));
    w->stalled = 0;
    json_decref(w->stall_line);
    w->stall_line = NULL;
    rw_log(RW_LOG_INFO, "watch", "msg=\"input flows again\" idle_s=%.1f", idle);
    emit(w->sink.alert, w->sink.ctx, l);
    json_decref(l);
}

static void beat(struct rw_watch *w, uint64_t delta, int64_t now_wall)
{
    char n[24], summary[200];
    w->beats++;
    snprintf(n, sizeof n, "%llu", (unsigned long long)w->beats);
    snprintf(summary, sizeof summary, "rumwatch is alive: %llu events accepted in the last %g s",
             (unsigned long long)delta, w->o.heartbeat_interval);
    /* The new heartbeat first: if the pipeline flushed between the two
     * lines it would still hold a firing heartbeat, never an empty group
     * (which would send a lone resolution). */
    json_t *l = own_line(now_wall, 1, RW_RULE_HEARTBEAT, "count", (double)delta, NAN, delta, "info",
                         "heartbeat", "beat", n, now_wall);
    json_object_set_new(l, "summary", json_string(summary));
    emit(w->sink.heartbeat, w->sink.ctx, l);
    json_decref(l);
    if (w->beats > 1) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)(w->beats - 1));
        l = own_line(now_wall, 0, RW_RULE_HEARTBEAT, "count", NAN, NAN, 0, "info", "heartbeat",
                     "beat", n, w->last_beat_wall);
        json_object_set_new(l, "summary", json_string("superseded by the next heartbeat"));
        emit(w->sink.heartbeat, w->sink.ctx, l);
        json_decref(l);
    }
    w->last_beat_wall = now_wall;
    rw_log(RW_LOG_DEBUG, "watch", "msg=\"heartbeat\" beat=%llu accepted=%llu",
           (unsigned long long)w->beats, (unsigned long long)delta);
}

void rw_watch_tick(struct rw_watch *w, uint64_t received, uint64_t accepted, int64_t now_mono,
                   int64_t now_wall)
{
    if (received != w->received) {
        w->received = received;
        w->last_receive_wall = now_wall;
    }
    if (accepted != w->accepted) {
        double idle = (double)(now_mono - w->last_accept_mono) / 1000.0;
        w->accepted = accepted;
        w->last_accept_mono = now_mono;
        w->last_accept_wall = now_wall;
        w->received_at_accept = received;
        if (w->stalled)
            stall_resolve(w, now_wall, idle);
    }
    if (w->o.stall_after > 0 && !w->stalled &&
        now_mono - w->last_accept_mono >= (int64_t)llround(w->o.stall_after * 1000))
        stall_fire(w, now_mono, now_wall);
    if (w->o.heartbeat_interval > 0 && now_mono >= w->next_beat_mono) {
        int64_t iv = (int64_t)llround(w->o.heartbeat_interval * 1000);
        if (accepted > w->accepted_at_beat)
            beat(w, accepted - w->accepted_at_beat, now_wall);
        w->accepted_at_beat = accepted;
        w->next_beat_mono += iv;
        if (w->next_beat_mono <= now_mono) /* the loop was held up: no burst */
            w->next_beat_mono = now_mono + iv;
    }
}

void rw_watch_reconfigure(struct rw_watch *w, const struct rw_watch_opts *o, uint64_t accepted,
                          int64_t now_mono)
{
    double beat = sane(o->heartbeat_interval);
    if (beat != w->o.heartbeat_interval)
        w->next_beat_mono = now_mono + (int64_t)llround(beat * 1000);
    w->o.stall_after = sane(o->stall_after);
    w->o.heartbeat_interval = beat;
    w->accepted = accepted;
    if (accepted < w->accepted_at_beat) /* counters started again */
        w->accepted_at_beat = accepted;
}

void rw_watch_stats(const struct rw_watch *w, int64_t now_mono, struct rw_watch_stats *out)
{
    memset(out, 0, sizeof *out);
    out->stalled = w->stalled;
    out->last_accept_wall_ms = w->last_accept_wall;
    out->last_receive_wall_ms = w->last_receive_wall;
    out->idle_s = (double)(now_mono - w->last_accept_mono) / 1000.0;
    out->stalls = w->stalls;
    out->heartbeats = w->beats;
    out->last_heartbeat_wall_ms = w->last_beat_wall;
}

json_t *rw_watch_active(const struct rw_watch *w)
{
    return w->stall_line ? json_deep_copy(w->stall_line) : NULL;
}
