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
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config/config.h"
#include "engine/cmd.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "notifiers/delivery.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct run_sink {
    FILE *out;
    struct rw_delivery *delivery;
};

static void emit_line(void *ctx, const char *line, int notify)
{
    struct run_sink *o = ctx;
    fputs(line, o->out);
    fputc('\n', o->out);
    fflush(o->out);
    if (notify && o->delivery)
        rw_delivery_submit(o->delivery, line);
}

static void log_stats(const struct rw_engine *e, struct rw_delivery *d, int64_t now)
{
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    struct rw_delivery_stats ds = {0};
    if (d)
        rw_delivery_stats(d, &ds);
    uint64_t rej = 0;
    for (int i = 1; i < RW_NREJECT; i++)
        rej += st.rejected[i];
    rw_log(RW_LOG_INFO, "stats",
           "received=%llu accepted=%llu rejected=%llu series=%llu folded=%llu windows=%llu "
           "firing=%llu fired=%llu resolved=%llu notify_alerts=%llu notify_submitted=%llu "
           "notify_sent=%llu notify_failed=%llu notify_retried=%llu notify_dropped=%llu "
           "notify_pending=%llu notify_dead=%llu notify_dropped_oldest=%llu notify_silenced=%llu "
           "notify_inhibited=%llu notify_muted=%llu notify_groups=%llu notify_resent=%llu "
           "watermark_lag_ms=%lld",
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
           (long long)(st.watermark == INT64_MIN ? 0 : now - st.watermark));
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

static int open_input(void *zctx, const struct rw_config *cfg, void **out)
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
    for (int i = 0; i < cfg->input.nendpoints; i++) {
        const char *ep = cfg->input.endpoints[i];
        int rc = cfg->input.bind ? zmq_bind(sub, ep) : zmq_connect(sub, ep);
        if (rc != 0) {
            fprintf(stderr, "rumwatch: cannot %s %s: %s\n", cfg->input.bind ? "bind" : "connect",
                    ep, zmq_strerror(zmq_errno()));
            zmq_close(sub);
            return -1;
        }
        rw_log(RW_LOG_INFO, "input", "msg=\"%s\" endpoint=%s rcvhwm=%d",
               cfg->input.bind ? "bound" : "connected", ep, hwm);
    }
    *out = sub;
    return 0;
}

/* Receive up to `budget` messages without blocking; returns how many. */
static int drain_socket(struct rw_engine *e, void *sub, int budget, size_t max_message)
{
    int got = 0;
    zmq_msg_t a, b;
    while (got < budget) {
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            break;
        }
        got++;
        zmq_msg_t *body = &a;
        int more = zmq_msg_more(&a);
        int extra = 0;
        if (more) {
            /* [topic][body]: the topic only routes; the body is the second frame. */
            zmq_msg_init(&b);
            if (zmq_msg_recv(&b, sub, 0) >= 0)
                body = &b;
            more = zmq_msg_more(&b);
            while (more) {
                zmq_msg_t x;
                zmq_msg_init(&x);
                zmq_msg_recv(&x, sub, 0);
                more = zmq_msg_more(&x);
                zmq_msg_close(&x);
                extra = 1;
            }
        }
        size_t len = zmq_msg_size(body);
        if (len > max_message || extra) {
            static struct rw_ratelimit rl;
            uint64_t supp;
            rw_engine_count_reject(e, extra ? RW_REJ_SHAPE : RW_REJ_OVERSIZE);
            if (rw_ratelimit_ok(&rl, 10000, &supp))
                rw_log(RW_LOG_WARN, "input", "msg=\"message dropped\" reason=%s bytes=%zu suppressed=%llu",
                       extra ? "too_many_frames" : "oversize", len, (unsigned long long)supp);
        } else {
            ingest_body(e, zmq_msg_data(body), len);
        }
        if (body == &b)
            zmq_msg_close(&b);
        zmq_msg_close(&a);
    }
    return got;
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
    struct run_sink sink = {stdout, NULL};
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
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    void *zctx = zmq_ctx_new();
    void *sub = NULL;
    struct rw_engine *e = NULL;
    if (open_input(zctx, cfg, &sub)) {
        rc = 1;
        goto out;
    }
    int failed = 0;
    sink.delivery = rw_cmd_start_delivery(zctx, cfg, 0, 1, &failed);
    if (failed) {
        rc = 1;
        goto out;
    }

    struct rw_alert_sink as = {emit_line, &sink};
    char err[512] = "";
    e = rw_engine_new(cfg, &as, err, sizeof err);
    if (!e) {
        fprintf(stderr, "rumwatch: %s\n", err);
        rc = 1;
        goto out;
    }
    rw_engine_set_event_time(e, 0);
    int64_t late_ms = (int64_t)(cfg->engine.lateness * 1000);
    int64_t stats_ms = (int64_t)(cfg->engine.stats_interval * 1000);
    int64_t next_stats = rw_mono_ms() + stats_ms;
    rw_engine_advance(e, rw_wall_ms() - late_ms);
    rw_log(RW_LOG_INFO, "run",
           "msg=\"started\" version=%s config=%s scopes=%d rules=%d receivers=%d state_dir=%s",
           RW_VERSION, cfg->source, cfg->nscopes, cfg->nrules, cfg->nnotifiers,
           sink.delivery ? cfg->notify.state_dir : "-");

    while (!stop_requested) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, 100);
        if (n < 0 && zmq_errno() != EINTR) {
            rw_log(RW_LOG_ERROR, "input", "msg=\"poll failed\" err=\"%s\"", zmq_strerror(zmq_errno()));
            rc = 1;
            break;
        }
        /* Bounded batches so the clock below is never starved under load. */
        drain_socket(e, sub, 4096, (size_t)cfg->engine.max_message);
        rw_engine_advance(e, rw_wall_ms() - late_ms);
        if (stats_ms > 0 && rw_mono_ms() >= next_stats) {
            log_stats(e, sink.delivery, rw_wall_ms());
            next_stats = rw_mono_ms() + stats_ms; /* no burst after a stall */
        }
    }
    /* Events already queued in the socket were sent to us: take them in
     * (bounded to a second) before stopping, so a stop loses no input. */
    int64_t until = rw_mono_ms() + 1000;
    while (!(rc) && rw_mono_ms() < until &&
           drain_socket(e, sub, 4096, (size_t)cfg->engine.max_message) > 0)
        ;
    rw_log(RW_LOG_INFO, "run", "msg=\"stopping\" drain_timeout_s=%g", cfg->engine.drain_timeout);
    log_stats(e, sink.delivery, rw_wall_ms());
out:
    if (sub)
        zmq_close(sub);
    if (sink.delivery) {
        rw_delivery_destroy(&sink.delivery, (int)(cfg->engine.drain_timeout * 1000));
    }
    rw_engine_destroy(&e);
    zmq_ctx_term(zctx);
    if (sink.out != stdout)
        fclose(sink.out);
    rw_config_free(&cfg);
    return rc;
}
