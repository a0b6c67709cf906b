/* `rumwatch run`: subscribe over ZeroMQ and alert until SIGINT/SIGTERM.
 *
 * One engine thread: it receives, decodes and ingests in bounded batches and,
 * between batches, advances the watermark from the wall clock so that quiet
 * minutes still close windows (a window with zero views is an outage, not a
 * gap). Notifications leave through the delivery thread (routing, grouping,
 * the durable outbox, the control socket for `rumwatch silence|outbox|status`),
 * so a slow receiver never blocks ingest. On shutdown, queued notifications
 * are delivered for up to engine.drain_timeout seconds; the rest stays in the
 * outbox for the next start.
 *
 * Watching the watcher (docs/operations.md): the loop also runs the
 * input_stall alert and the heartbeat (engine/watch.h), counts what the
 * input lets us see (messages, connections, sequence gaps:
 * engine/inputseq.h), and, with `http`, publishes to the HTTP thread
 * (engine/httpd.h) a tick every turn, a snapshot of its counters every
 * second and at every window close, and the current alerts at every window
 * close. The HTTP thread never holds up this loop.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "config/config.h"
#include "engine/alertbook.h"
#include "engine/cmd.h"
#include "engine/curve.h"
#include "engine/engine.h"
#include "engine/httpd.h"
#include "engine/inputseq.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/reload.h"
#include "engine/snapshot.h"
#include "engine/watch.h"
#include "notifiers/delivery.h"

#define SEQ_MAX_STREAMS 4096  /* (publisher, topic) sequences checked */
#define SEQ_MAX_PUBLISHERS 64 /* publisher ids with their own counters */
#define BOOK_MAX 10000        /* firing alert lines kept for /api/alerts */
#define API_MAX_ALERTS 10000  /* alerts listed by /api/alerts */
#define PUBLISH_MS 1000       /* snapshot period for /metrics */
#define MONITOR_EP "inproc://rumwatch-input-monitor"

static volatile sig_atomic_t stop_requested;

static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

struct run_sink {
    FILE *out;
    struct rw_delivery *delivery;
    struct rw_alertbook *book; /* with http only */
};

static void emit_line(void *ctx, const char *line, int notify)
{
    struct run_sink *o = ctx;
    fputs(line, o->out);
    fputc('\n', o->out);
    fflush(o->out);
    if (notify && o->delivery)
        rw_delivery_submit(o->delivery, line);
    if (o->book)
        rw_alertbook_note(o->book, line);
}

/* rumwatch's own alerts (input_stall): like any alert line. */
static void emit_own(void *ctx, const char *line)
{
    emit_line(ctx, line, 1);
}

/* Heartbeats go to the pipeline only: they are not alert transitions. */
static void emit_heartbeat(void *ctx, const char *line)
{
    struct run_sink *o = ctx;
    if (o->delivery)
        rw_delivery_submit(o->delivery, line);
}

/* What the ZeroMQ side lets us see. */
struct run_input {
    void *sub;
    void *mon; /* PAIR receiving the SUB socket's connection events, NULL if unavailable */
    struct rw_inputseq *seq;
    uint64_t messages, connects, disconnects;
    struct rw_curve *curve; /* input.curve: CURVE server + ZAP handler; NULL without */
};

static void log_stats(const struct rw_engine *e, struct rw_delivery *d, const struct run_input *in,
                      int64_t now)
{
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    struct rw_delivery_stats ds = {0};
    if (d)
        rw_delivery_stats(d, &ds);
    struct rw_inputseq_stats qs;
    rw_inputseq_stats(in->seq, &qs);
    uint64_t rej = 0;
    for (int i = 1; i < RW_NREJECT; i++)
        rej += st.rejected[i];
    rw_log(RW_LOG_INFO, "stats",
           "received=%llu accepted=%llu rejected=%llu series=%llu folded=%llu windows=%llu "
           "firing=%llu fired=%llu resolved=%llu notify_alerts=%llu notify_submitted=%llu "
           "notify_sent=%llu notify_failed=%llu notify_retried=%llu notify_dropped=%llu "
           "notify_pending=%llu notify_dead=%llu notify_dropped_oldest=%llu notify_silenced=%llu "
           "notify_inhibited=%llu notify_muted=%llu notify_groups=%llu notify_resent=%llu "
           "watermark_lag_ms=%lld input_messages=%llu input_lost=%llu input_disconnects=%llu",
           (unsigned long long)st.received, (unsigned long long)st.accepted,
           (unsigned long long)rej, (unsigned long long)st.series, (unsigned long long)st.folded,
           (unsigned long long)st.windows_closed, (unsigned long long)st.firing_now,
           (unsigned long long)st.alerts_fired, (unsigned long long)st.alerts_resolved,
           (unsigned long long)ds.alerts, (unsigned long long)ds.submitted,
           (unsigned long long)ds.sent, (unsigned long long)ds.failed,
           (unsigned long long)ds.retried, (unsigned long long)ds.dropped,
           (unsigned long long)ds.pending, (unsigned long long)ds.dead,
           (unsigned long long)ds.dropped_oldest, (unsigned long long)ds.silenced,
           (unsigned long long)ds.inhibited, (unsigned long long)ds.muted,
           (unsigned long long)ds.groups, (unsigned long long)ds.resent,
           (long long)(st.watermark == INT64_MIN ? 0 : now - st.watermark),
           (unsigned long long)in->messages, (unsigned long long)qs.lost,
           (unsigned long long)in->disconnects);
}

/* Ingest one message body: one JSON object or several separated by newlines. */
static void ingest_body(struct rw_engine *e, const char *p, size_t len)
{
    const char *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = le;
        while (q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t'))
            q--;
        if (q > p)
            rw_engine_ingest_json(e, p, (size_t)(q - p));
        p = nl ? nl + 1 : end;
    }
}

static int open_input(void *zctx, const struct rw_config *cfg, struct run_input *in)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    if (!sub)
        return -1;
    int hwm = cfg->input.rcvhwm;
    /* Messages beyond this size make ZeroMQ drop the connection; the band
     * between max_message and twice that is received and counted oversize. */
    int64_t maxmsg = 2 * (int64_t)cfg->engine.max_message + 1024;
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    for (int i = 0; i < cfg->input.ntopics; i++)
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, cfg->input.topics[i], strlen(cfg->input.topics[i]));
    if (cfg->input.ntopics == 0)
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    char cerr[256]; /* before bind/connect: without a ZAP handler any CURVE client gets in */
    if (rw_curve_start(&in->curve, zctx, sub, &cfg->input.curve, cerr, sizeof cerr)) {
        fprintf(stderr, "rumwatch: %s\n", cerr);
        zmq_close(sub);
        return -1;
    }
    /* Connection events (a peer lost, or cut off by ZMQ_MAXMSGSIZE) are the
     * input loss ZeroMQ reports; watched before any connection exists. */
    if (zmq_socket_monitor(sub, MONITOR_EP,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               rw_curve_monitor_events(in->curve)) ==
        0) {
        in->mon = zmq_socket(zctx, ZMQ_PAIR);
        if (in->mon)
            zmq_setsockopt(in->mon, ZMQ_LINGER, &linger, sizeof linger);
        if (in->mon && zmq_connect(in->mon, MONITOR_EP) != 0) {
            zmq_close(in->mon);
            in->mon = NULL;
        }
    }
    if (!in->mon)
        rw_log(RW_LOG_WARN, "input",
               "msg=\"no connection monitor: connects/disconnects not counted\"");
    for (int i = 0; i < cfg->input.nendpoints; i++) {
        const char *ep = cfg->input.endpoints[i];
        int rc = cfg->input.bind ? zmq_bind(sub, ep) : zmq_connect(sub, ep);
        if (rc != 0) {
            fprintf(stderr, "rumwatch: cannot %s %s: %s\n", cfg->input.bind ? "bind" : "connect",
                    ep, zmq_strerror(zmq_errno()));
            if (in->mon) {
                zmq_socket_monitor(sub, NULL, 0);
                zmq_close(in->mon);
                in->mon = NULL;
            }
            zmq_close(sub);
            return -1;
        }
        rw_log(RW_LOG_INFO, "input", "msg=\"%s\" endpoint=%s rcvhwm=%d",
               cfg->input.bind ? "bound" : "connected", ep, hwm);
    }
    in->sub = sub;
    return 0;
}

/* Count the monitor's events: [u16 event, u32 value][endpoint] each. */
static void drain_monitor(struct run_input *in)
{
    for (int n = 0; in->mon && n < 1000; n++) {
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, in->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            return;
        }
        uint16_t ev = 0;
        if (zmq_msg_size(&a) >= 2)
            memcpy(&ev, zmq_msg_data(&a), 2);
        int more = zmq_msg_more(&a);
        zmq_msg_close(&a);
        char ep[256] = "";
        while (more) { /* the endpoint frame */
            zmq_msg_init(&b);
            more = zmq_msg_recv(&b, in->mon, 0) >= 0 && zmq_msg_more(&b);
            snprintf(ep, sizeof ep, "%.*s", (int)zmq_msg_size(&b), (const char *)zmq_msg_data(&b));
            zmq_msg_close(&b);
        }
        rw_curve_note_event(in->curve, ev, ep);
        if (ev == ZMQ_EVENT_CONNECTED || ev == ZMQ_EVENT_ACCEPTED)
            in->connects++;
        else if (ev == ZMQ_EVENT_DISCONNECTED)
            in->disconnects++;
    }
}

/* Receive up to `budget` messages without blocking; returns how many.
 * A message is [topic][body], [body] alone, or [topic][body][sequence]. */
static int drain_socket(struct rw_engine *e, struct run_input *in, int budget, size_t max_message)
{
    int got = 0;
    zmq_msg_t f[3];
    while (got < budget) {
        zmq_msg_init(&f[0]);
        if (zmq_msg_recv(&f[0], in->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f[0]);
            break;
        }
        got++;
        in->messages++;
        int nf = 1, extra = 0;
        int more = zmq_msg_more(&f[0]);
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, in->sub, 0) < 0) {
                zmq_msg_close(&x);
                break;
            }
            more = zmq_msg_more(&x);
            if (nf < 3)
                f[nf++] = x;
            else {
                zmq_msg_close(&x);
                extra = 1;
            }
        }
        zmq_msg_t *body = nf >= 2 ? &f[1] : &f[0];
        size_t len = zmq_msg_size(body);
        if (nf == 3 && !extra)
            rw_inputseq_note(in->seq, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), zmq_msg_data(&f[2]),
                             zmq_msg_size(&f[2]));
        if (len > max_message || extra) {
            static struct rw_ratelimit rl;
            uint64_t supp;
            rw_engine_count_reject(e, extra ? RW_REJ_SHAPE : RW_REJ_OVERSIZE);
            if (rw_ratelimit_ok(&rl, 10000, &supp))
                rw_log(RW_LOG_WARN, "input",
                       "msg=\"message dropped\" reason=%s bytes=%zu suppressed=%llu",
                       extra ? "too_many_frames" : "oversize", len, (unsigned long long)supp);
        } else {
            ingest_body(e, zmq_msg_data(body), len);
        }
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
    }
    return got;
}

/* ---- state snapshots (docs/operations.md "State and restarts") ----------------- */

/* <notify.state_dir>/engine.snap: loaded at start, written every
 * engine.snapshot_interval seconds and at a graceful stop. */
struct run_snap {
    const char *dir;    /* NULL: snapshots off */
    int64_t interval_ms;
    int64_t next_mono;  /* next periodic write */
    int64_t wall_ms;    /* when the state in the newest snapshot was taken; 0 = none */
    uint64_t written, failed, bytes;
};

static void snap_write(struct run_snap *sn, const struct rw_engine *e, const char *why)
{
    char err[512] = "";
    int64_t t0 = rw_mono_ms();
    long long n = rw_snapshot_save_engine(e, sn->dir, err, sizeof err);
    if (n < 0) {
        sn->failed++;
        rw_log(RW_LOG_ERROR, "snapshot", "msg=\"snapshot not written\" reason=%s error=\"%s\"", why,
               err);
        return;
    }
    sn->written++;
    sn->bytes = (uint64_t)n;
    sn->wall_ms = rw_wall_ms();
    rw_log(why[0] == 'p' ? RW_LOG_DEBUG : RW_LOG_INFO, "snapshot",
           "msg=\"snapshot written\" reason=%s bytes=%lld ms=%lld", why, n,
           (long long)(rw_mono_ms() - t0));
}

/* Load the snapshot into the new engine and skip the windows nobody heard
 * while the daemon was down. 0, or -1 when the engine is unusable (ENOMEM). */
static int snap_start(struct run_snap *sn, const struct rw_config *cfg, struct rw_engine *e,
                      int64_t wm)
{
    memset(sn, 0, sizeof *sn);
    if (cfg->engine.snapshot_interval <= 0)
        return 0;
    sn->dir = cfg->notify.state_dir;
    sn->interval_ms = (int64_t)(cfg->engine.snapshot_interval * 1000);
    sn->next_mono = rw_mono_ms() + sn->interval_ms;
    if (mkdir(sn->dir, 0700) != 0 && errno != EEXIST)
        rw_log(RW_LOG_WARN, "snapshot", "msg=\"cannot create the state dir\" dir=\"%s\" error=\"%s\"",
               sn->dir, strerror(errno));
    struct rw_restore_report rep;
    struct rw_snap_info info;
    int64_t t0 = rw_mono_ms();
    int rc = rw_snapshot_load_engine(e, sn->dir, &rep, &info);
    if (rc < 0) {
        fprintf(stderr, "rumwatch: out of memory loading the state snapshot\n");
        return -1;
    }
    if (rc == 0)
        return 0;
    sn->wall_ms = info.saved_wall_ms;
    rw_engine_reset_counters(e); /* counters count from the process start */
    int64_t skipped = rw_engine_resume_gap(e, wm);
    rw_log(RW_LOG_INFO, "snapshot",
           "msg=\"state restored\" dir=\"%s\" age_s=%.1f series=%llu series_skipped=%llu "
           "rules_kept=%d rules_changed=%d rules_removed=%d rules_new=%d firing=%llu "
           "pending=%llu windows_skipped=%lld ms=%lld",
           sn->dir, (double)(rw_wall_ms() - info.saved_wall_ms) / 1000.0,
           (unsigned long long)rep.series, (unsigned long long)rep.series_skipped, rep.rules_kept,
           rep.rules_changed, rep.rules_removed, rep.rules_new,
           (unsigned long long)rep.alerts_firing, (unsigned long long)rep.alerts_pending,
           (long long)skipped, (long long)(rw_mono_ms() - t0));
    return 0;
}

static void snap_tick(struct run_snap *sn, const struct rw_engine *e)
{
    if (!sn->dir || rw_mono_ms() < sn->next_mono)
        return;
    snap_write(sn, e, "periodic");
    sn->next_mono = rw_mono_ms() + sn->interval_ms;
}

/* ---- watching the watcher ----------------------------------------------------- */

struct run_obs {
    const struct run_snap *snap;
    struct rw_reload *rl;
    struct rw_httpd *http; /* NULL without `http` */
    struct rw_watch *watch;
    struct rw_histogram eval;
    struct rw_engine_alert_counts alerts;
    uint64_t windows_seen;
    int alerts_dirty;
    int stalled_seen;
    int64_t next_publish;
    int64_t start_wall;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void publish_alerts(struct run_obs *ob, const struct rw_engine *e, struct run_sink *sink)
{
    json_t *list = rw_engine_alerts_json(e, API_MAX_ALERTS, &ob->alerts);
    json_t *own = json_array();
    json_t *stall = rw_watch_active(ob->watch);
    if (stall)
        json_array_append_new(own, stall);
    rw_httpd_publish_alerts(
        ob->http,
        rw_alertbook_render(sink->book, list, own, (size_t)ob->alerts.truncated, rw_wall_ms()));
    json_decref(own);
}

static void publish_snapshot(struct run_obs *ob, const struct rw_config *cfg,
                             const struct rw_engine *e, const struct run_sink *sink,
                             const struct run_input *in)
{
    struct rw_metrics_snap *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->wall_ms = rw_wall_ms();
    s->start_wall_ms = ob->start_wall;
    rw_engine_get_stats(e, &s->engine);
    s->nscopes = cfg->nscopes;
    for (int i = 0; i < cfg->nscopes; i++) {
        snprintf(s->scopes[i].name, sizeof s->scopes[i].name, "%s", cfg->scopes[i].name);
        s->scopes[i].max_series = cfg->scopes[i].max_series;
        rw_engine_scope_stats(e, i, &s->scopes[i].st);
    }
    s->eval = ob->eval;
    s->alerts = ob->alerts;
    s->delivery_on = sink->delivery != NULL;
    rw_delivery_stats(sink->delivery, &s->delivery);
    s->rcvhwm = cfg->input.rcvhwm;
    s->messages = in->messages;
    s->connects = in->connects;
    s->disconnects = in->disconnects;
    rw_inputseq_stats(in->seq, &s->seq);
    rw_curve_stats(in->curve, &s->curve);
    s->npubs = rw_inputseq_publishers(in->seq, s->pubs, RW_METRICS_MAX_PUBS);
    s->stall_after = cfg->input.stall_after;
    s->heartbeat_interval = cfg->heartbeat.receiver[0] ? cfg->heartbeat.interval : 0;
    rw_watch_stats(ob->watch, rw_mono_ms(), &s->watch);
    if (ob->snap) {
        s->snapshot_wall_ms = ob->snap->wall_ms; /* 0 (none yet): the age is NaN */
        s->snapshots_written = ob->snap->written;
        s->snapshots_failed = ob->snap->failed;
        s->snapshot_bytes = ob->snap->bytes;
    }
    if (ob->rl) {
        struct rw_reload_status rs;
        rw_reload_get(ob->rl, &rs);
        s->reload_on = 1;
        s->reloads_ok = rs.attempts - rs.failures;
        s->reloads_failed = rs.failures;
        s->reload_last_ok = rs.last_ok;
        s->reload_last_ok_ms = rs.last_ok_ms;
    }
    rw_httpd_publish(ob->http, s);
    free(s);
}

/* One loop turn's bookkeeping after ingest: windows, the watch, publishing. */
static void observe_turn(struct run_obs *ob, const struct rw_config *cfg, struct rw_engine *e,
                         struct run_sink *sink, const struct run_input *in, int64_t late_ms)
{
    int64_t t0 = mono_us();
    rw_engine_advance(e, rw_wall_ms() - late_ms);
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    if (st.windows_closed != ob->windows_seen) {
        uint64_t n = st.windows_closed - ob->windows_seen;
        rw_histogram_observe(&ob->eval, (double)(mono_us() - t0) / 1e6 / (double)n, n);
        ob->windows_seen = st.windows_closed;
        ob->alerts_dirty = 1;
    }
    int64_t now = rw_mono_ms();
    rw_watch_tick(ob->watch, st.received, st.accepted, now, rw_wall_ms());
    if (!ob->http)
        return;
    struct rw_watch_stats ws;
    rw_watch_stats(ob->watch, now, &ws);
    if (ws.stalled != ob->stalled_seen) {
        ob->stalled_seen = ws.stalled;
        ob->alerts_dirty = 1;
    }
    rw_httpd_tick(ob->http, now);
    if (ob->alerts_dirty) {
        publish_alerts(ob, e, sink);
        ob->alerts_dirty = 0;
        ob->next_publish = 0; /* and the counters that go with them */
    }
    if (now >= ob->next_publish) {
        publish_snapshot(ob, cfg, e, sink, in);
        ob->next_publish = now + PUBLISH_MS;
    }
}

/* ---- reload (SIGHUP, `rumwatch reload`) ----------------------------------------- */

/* What a reload swaps, and what it reaches into. */
struct run_live {
    const char *cfg_path; /* NULL: the built-in config */
    struct rw_config *cfg;
    struct rw_engine *e;
    struct run_sink *sink;
    struct run_obs *ob;
    struct run_snap *snap;
    struct rw_reload *rl;
    void *zctx;
};

/* The status reply's "engine" part (delivery thread: thread-safe state only). */
static json_t *app_status(void *ud)
{
    json_t *r = rw_reload_json(ud);
    return r ? json_pack("{s:o}", "reload", r) : NULL;
}

static int start_delivery(struct run_live *lv, const struct rw_config *cfg, int *failed)
{
    struct rw_delivery_opts o;
    *failed = 0;
    if (!rw_cmd_delivery_opts(cfg, 0, 1, &o))
        return 0;
    o.app_control = rw_reload_control;
    o.app_status = app_status;
    o.app_ud = lv->rl;
    char err[1024] = "";
    if (!(lv->sink->delivery = rw_delivery_new(lv->zctx, &o, err, sizeof err))) {
        fprintf(stderr, "rumwatch: cannot start notifications: %s\n", err);
        *failed = 1;
        return -1;
    }
    return 0;
}

/* Settings a running daemon keeps until it restarts (sockets, threads and
 * files opened at start): named in the reload's log line. */
static void restart_only(const struct rw_config *a, const struct rw_config *b, char *buf,
                         size_t len)
{
    struct rw_input_params ia = a->input, ib = b->input;
    ia.stall_after = ib.stall_after = 0; /* the watch takes it */
    size_t off = 0;
    buf[0] = '\0';
#define RESTART_ONLY(cond, name)                                                        \
    if ((cond) && off < len)                                                            \
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "", name);
    RESTART_ONLY(memcmp(&ia, &ib, sizeof ia) != 0, "input");
    RESTART_ONLY(memcmp(&a->http, &b->http, sizeof a->http) != 0, "http");
    RESTART_ONLY(strcmp(a->notify.history, b->notify.history) != 0 ||
                     a->notify.history_max_bytes != b->notify.history_max_bytes ||
                     memcmp(&a->notify.outbox, &b->notify.outbox, sizeof a->notify.outbox) != 0,
                 "notify.history/outbox");
    RESTART_ONLY(a->engine.max_message != b->engine.max_message, "engine.max_message");
#undef RESTART_ONLY
}

/* Re-read the config. A config with errors, or one that cannot be applied,
 * leaves everything as it was. Otherwise the engine is rebuilt from the new
 * config and its state carried over through an in-memory snapshot: rules
 * with the same name and settings keep their baselines and alerts, changed
 * or removed rules lose only their own state; the notification pipeline
 * switches its routes and receivers without losing groups or the outbox. */
static void reload(struct run_live *lv)
{
    char err[1024] = "", msg[1024] = "";
    int64_t t0 = rw_mono_ms();
    struct rw_config *nc = rw_config_load(lv->cfg_path, err, sizeof err);
    struct rw_engine *ne = NULL;
    struct rw_snapbuf buf = {0};
    if (!nc)
        goto refused;
    if (strcmp(nc->notify.state_dir, lv->cfg->notify.state_dir) != 0) {
        snprintf(err, sizeof err,
                 "notify.state_dir changed (to %.400s): restart rumwatch to move its state",
                 nc->notify.state_dir);
        goto refused;
    }
    struct rw_delivery_opts dopts;
    int sends = rw_cmd_delivery_opts(nc, 0, 1, &dopts);
    if (lv->sink->delivery && !sends) {
        snprintf(err, sizeof err, "the new config has no receiver that can send: restart rumwatch "
                                  "to stop the notification pipeline");
        goto refused;
    }
    struct rw_alert_sink as = {emit_line, lv->sink};
    if (!(ne = rw_engine_new(nc, &as, err, sizeof err)))
        goto refused;
    rw_engine_set_event_time(ne, 0);
    if (rw_engine_save(lv->e, &buf, err, sizeof err) != 0)
        goto refused;
    struct rw_restore_report rep;
    char rerr[256] = "";
    int rc = rw_engine_restore(ne, buf.p, buf.len, &rep, rerr, sizeof rerr);
    rw_snapbuf_free(&buf);
    if (rc == -ENOMEM) {
        snprintf(err, sizeof err, "out of memory carrying the state over");
        goto refused;
    }
    int fresh = rc != 0; /* e.g. another window length: the state does not fit */
    if (lv->sink->delivery) {
        dopts.app_control = rw_reload_control;
        dopts.app_status = app_status;
        dopts.app_ud = lv->rl;
        if (rw_delivery_reload(lv->sink->delivery, &dopts, err, sizeof err) != 0)
            goto refused;
    } else if (sends) {
        int failed;
        start_delivery(lv, nc, &failed);
        if (failed) {
            snprintf(err, sizeof err, "cannot start notifications (see the log)");
            goto refused;
        }
    }
    /* Applied: from here on nothing refers to the old config. */
    char later[256];
    restart_only(lv->cfg, nc, later, sizeof later);
    rw_engine_destroy(&lv->e);
    lv->e = ne;
    rw_config_free(&lv->cfg);
    lv->cfg = nc;
    rw_log_set_level((enum rw_log_level)nc->engine.log_level);
    struct rw_engine_stats st;
    rw_engine_get_stats(ne, &st);
    struct rw_watch_opts wo = {nc->input.stall_after,
                               nc->heartbeat.receiver[0] ? nc->heartbeat.interval : 0};
    rw_watch_reconfigure(lv->ob->watch, &wo, st.accepted, rw_mono_ms());
    if (lv->snap->dir) {
        lv->snap->dir = nc->notify.state_dir;
        lv->snap->interval_ms = (int64_t)(nc->engine.snapshot_interval * 1000);
        if (lv->snap->interval_ms <= 0)
            lv->snap->dir = NULL;
    }
    lv->ob->alerts_dirty = 1;
    if (fresh)
        snprintf(msg, sizeof msg, "state not carried over (%s): every rule starts fresh", rerr);
    else
        snprintf(msg, sizeof msg,
                 "rules kept=%d changed=%d removed=%d new=%d; series kept=%llu dropped=%llu; "
                 "alerts firing=%llu pending=%llu",
                 rep.rules_kept, rep.rules_changed, rep.rules_removed, rep.rules_new,
                 (unsigned long long)rep.series, (unsigned long long)rep.series_skipped,
                 (unsigned long long)rep.alerts_firing, (unsigned long long)rep.alerts_pending);
    rw_reload_record(lv->rl, 1, msg, rw_wall_ms());
    rw_log(fresh ? RW_LOG_WARN : RW_LOG_INFO, "reload",
           "msg=\"config reloaded\" config=%s summary=\"%s\" restart_needed=\"%s\" ms=%lld",
           nc->source, msg, later, (long long)(rw_mono_ms() - t0));
    return;
refused:
    rw_snapbuf_free(&buf);
    rw_engine_destroy(&ne);
    rw_config_free(&nc);
    rw_reload_record(lv->rl, 0, err, rw_wall_ms());
    rw_log(RW_LOG_ERROR, "reload", "msg=\"reload refused: the running config stays\" error=\"%s\"",
           err);
}

int rw_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *cfg_path = NULL, *out_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': printf("usage: rumwatch run [-c FILE] [-o FILE]\n"); return 0;
        default: return 2;
        }
    }
    struct rw_config *cfg = rw_cmd_load_config(cfg_path);
    if (!cfg)
        return 2;
    struct run_sink sink = {stdout, NULL, NULL};
    if (out_path && !(sink.out = fopen(out_path, "a"))) {
        fprintf(stderr, "rumwatch: cannot write %s: %s\n", out_path, strerror(errno));
        rw_config_free(&cfg);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    void *zctx = zmq_ctx_new();
    struct run_input in = {0};
    struct run_obs ob = {0};
    struct rw_engine *e = NULL;
    char err[512] = "";
    ob.start_wall = rw_wall_ms();
    struct run_snap snap = {0};
    struct run_live lv = {cfg_path, cfg, NULL, &sink, &ob, &snap, NULL, zctx};
    if (!(lv.rl = rw_reload_new(cfg->source, ob.start_wall))) {
        fprintf(stderr, "rumwatch: out of memory\n");
        rc = 1;
        goto out;
    }
    ob.rl = lv.rl;
    if (!(in.seq = rw_inputseq_new(SEQ_MAX_STREAMS, SEQ_MAX_PUBLISHERS))) {
        fprintf(stderr, "rumwatch: out of memory\n");
        rc = 1;
        goto out;
    }
    if (open_input(zctx, cfg, &in)) {
        rc = 1;
        goto out;
    }
    if (cfg->http.listen[0]) {
        ob.http = rw_httpd_start(cfg->http.listen, cfg->http.tick_timeout, err, sizeof err);
        if (!ob.http || !(sink.book = rw_alertbook_new(BOOK_MAX))) {
            fprintf(stderr, "rumwatch: %s\n", ob.http ? "out of memory" : err);
            rc = 1;
            goto out;
        }
        rw_log(RW_LOG_INFO, "http", "msg=\"listening\" listen=%s port=%d", cfg->http.listen,
               rw_httpd_port(ob.http));
    }
    int failed = 0;
    start_delivery(&lv, cfg, &failed);
    if (failed) {
        rc = 1;
        goto out;
    }
    for (int i = 0; i < cfg->nnotifiers && cfg->heartbeat.receiver[0]; i++)
        if (strcmp(cfg->notifiers[i].name, cfg->heartbeat.receiver) == 0 &&
            (!sink.delivery || !cfg->notifiers[i].url[0]))
            rw_log(RW_LOG_WARN, "watch",
                   "msg=\"heartbeat receiver cannot send: no heartbeats\" receiver=%s",
                   cfg->heartbeat.receiver);

    struct rw_alert_sink as = {emit_line, &sink};
    e = rw_engine_new(cfg, &as, err, sizeof err);
    if (!e) {
        fprintf(stderr, "rumwatch: %s\n", err);
        rc = 1;
        goto out;
    }
    struct rw_watch_opts wo = {cfg->input.stall_after,
                               cfg->heartbeat.receiver[0] ? cfg->heartbeat.interval : 0};
    struct rw_watch_sink wsink = {emit_own, emit_heartbeat, &sink};
    if (!(ob.watch = rw_watch_new(&wo, &wsink, rw_mono_ms(), ob.start_wall))) {
        fprintf(stderr, "rumwatch: out of memory\n");
        rc = 1;
        goto out;
    }
    rw_engine_set_event_time(e, 0);
    int64_t late_ms = (int64_t)(cfg->engine.lateness * 1000);
    int64_t stats_ms = (int64_t)(cfg->engine.stats_interval * 1000);
    int64_t next_stats = rw_mono_ms() + stats_ms;
    if (snap_start(&snap, cfg, e, rw_wall_ms() - late_ms)) {
        rc = 1;
        goto out;
    }
    ob.snap = &snap;
    rw_engine_advance(e, rw_wall_ms() - late_ms);
    rw_log(RW_LOG_INFO, "run",
           "msg=\"started\" version=%s config=%s scopes=%d rules=%d receivers=%d state_dir=%s "
           "http=%s stall_after_s=%g heartbeat=%s",
           RW_VERSION, cfg->source, cfg->nscopes, cfg->nrules, cfg->nnotifiers,
           sink.delivery ? cfg->notify.state_dir : "-",
           cfg->http.listen[0] ? cfg->http.listen : "-", cfg->input.stall_after,
           cfg->heartbeat.receiver[0] ? cfg->heartbeat.receiver : "-");

    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            lv.cfg = cfg;
            lv.e = e;
            reload(&lv);
            cfg = lv.cfg;
            e = lv.e;
            late_ms = (int64_t)(cfg->engine.lateness * 1000);
            stats_ms = (int64_t)(cfg->engine.stats_interval * 1000);
        }
        zmq_pollitem_t items[2] = {{in.sub, 0, ZMQ_POLLIN, 0}, {in.mon, 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, in.mon ? 2 : 1, 100);
        if (n < 0 && zmq_errno() != EINTR) {
            rw_log(RW_LOG_ERROR, "input", "msg=\"poll failed\" err=\"%s\"",
                   zmq_strerror(zmq_errno()));
            rc = 1;
            break;
        }
        drain_monitor(&in);
        /* Bounded batches so the clock below is never starved under load. */
        drain_socket(e, &in, 4096, (size_t)cfg->engine.max_message);
        observe_turn(&ob, cfg, e, &sink, &in, late_ms);
        snap_tick(&snap, e);
        if (stats_ms > 0 && rw_mono_ms() >= next_stats) {
            log_stats(e, sink.delivery, &in, rw_wall_ms());
            next_stats = rw_mono_ms() + stats_ms; /* no burst after a stall */
        }
    }
    /* Events already queued in the socket were sent to us: take them in
     * (bounded to a second) before stopping, so a stop loses no input. */
    int64_t until = rw_mono_ms() + 1000;
    while (!(rc) && rw_mono_ms() < until &&
           drain_socket(e, &in, 4096, (size_t)cfg->engine.max_message) > 0)
        ;
    rw_log(RW_LOG_INFO, "run", "msg=\"stopping\" drain_timeout_s=%g", cfg->engine.drain_timeout);
    log_stats(e, sink.delivery, &in, rw_wall_ms());
    if (snap.dir && !rc)
        snap_write(&snap, e, "shutdown");
out:
    rw_httpd_stop(&ob.http);
    if (in.mon) {
        zmq_socket_monitor(in.sub, NULL, 0);
        zmq_close(in.mon);
    }
    if (in.sub)
        zmq_close(in.sub);
    rw_curve_stop(&in.curve);
    if (sink.delivery) {
        rw_delivery_destroy(&sink.delivery, (int)(cfg->engine.drain_timeout * 1000));
    }
    rw_watch_destroy(&ob.watch);
    rw_engine_destroy(&e);
    rw_alertbook_destroy(&sink.book);
    rw_inputseq_destroy(&in.seq);
    rw_reload_destroy(&lv.rl);
    zmq_ctx_term(zctx);
    if (sink.out != stdout)
        fclose(sink.out);
    rw_config_free(&cfg);
    return rc;
}
