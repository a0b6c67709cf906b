/* Delivery: the notification pipeline's thread (see delivery.h).
 *
 * Threads and ownership
 *   - The engine thread owns `tx` (PAIR, bound) and only ever calls
 *     zmq_send on it. rw_delivery_new builds everything else on the engine
 *     thread (so errors are reported to the caller) and hands it to the
 *     delivery thread with pthread_create's barrier; from then on only the
 *     delivery thread touches it (and destroy, after join).
 *   - Counters are C11 atomics, the only state both threads read.
 *
 * One loop (Redis' serverCron idea: one tick, jobs at their own periods):
 *   read alert lines -> dispatcher; serve the control socket; flush due
 *   groups into the outbox; every second apply the CLI's outbox requests,
 *   every minute purge old silences, every resend_interval re-post the
 *   firing alerts of alertmanager receivers; start due attempts; run curl;
 *   finish completed attempts. Then wait on curl's sockets, the hand-over
 *   pipe and the control socket, no longer than the next group timer,
 *   outbox due time or job.
 *
 * Waiting: ZMQ_FD is edge-triggered and only says "look at ZMQ_EVENTS", so
 * the loop reads both ZeroMQ sockets until EAGAIN (or a batch limit) and
 * checks ZMQ_EVENTS as the last zmq call before blocking.
 *
 * Attempts: records come out of the outbox in due order. A receiver has at
 * most MAX_INFLIGHT_PER_RECEIVER transfers; records due for a busy receiver
 * wait in its in-memory queue (in order; they stay pending on disk), bounded
 * by count and bytes; beyond that they are handed back to the outbox until
 * about when the queue will have drained (queue length x the receiver's
 * average request time / its slots, at least BUSY_DELAY_MS), so a backlog
 * is not read from disk over and over.
 * So one receiver that hangs until its timeout holds its own slots, never
 * another receiver's.
 */
#include "notifiers/delivery.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "engine/control.h"
#include "engine/log.h"
#include "notifiers/alertmodel.h"
#include "notifiers/group.h"
#include "notifiers/history.h"
#include "notifiers/journal.h"
#include "notifiers/sign.h"
#include "notifiers/silence.h"

#ifndef RW_VERSION
#define RW_VERSION "dev"
#endif

#define LOG_COMP "delivery"

enum {
    MAX_INFLIGHT = 8,              /* transfers at once, all receivers */
    MAX_INFLIGHT_PER_RECEIVER = 4, /* so one hanging receiver leaves room */
    PARK_MAX = 4096,               /* records waiting in memory for a busy receiver ... */
    PARK_MAX_BYTES = 8 << 20,      /* ... and their bodies' bytes, per receiver */
    PARK_TOTAL_BYTES = 32 << 20,   /* ... and over all receivers */
    BUSY_DELAY_MS = 250,           /* beyond: back to the outbox for at least this long, */
    BUSY_DELAY_MAX_MS = 600000,    /* ... at most this long */
    PULL_MAX = 256,                /* records taken from the outbox per pass */
    PIPE_HWM = 100000,             /* alert lines buffered between the threads */
    RECV_BATCH = 1000,             /* alert lines read per wake-up, so timers run */
    CONTROL_BATCH = 16,            /* control requests answered per wake-up */
    POLL_MAX_MS = 100,
    OUTBOX_POLL_MS = 1000, /* apply `outbox retry` requests */
    SILENCE_GC_MS = 60000,
    LOG_INTERVAL_MS = 1000,
    RESP_KEEP = 120,        /* bytes of an error response kept for logs */
    MIN_BACKOFF_MS = 10,    /* backoff = 0 must not spin */
    MAX_AM_TRACKED = 10000, /* firing alerts re-posted per alertmanager receiver */
    JOURNAL_SYNC_MS = 1000  /* group records (not alerts: those sync at once) */
};

#define JOURNAL_SLACK_DEFAULT (4ull << 20) /* appended bytes tolerated beyond a snapshot */
#define JOURNAL_NAME "alerts.journal"

#define RETRY_AFTER_MAX_MS (3600 * 1000LL) /* a receiver's Retry-After, believed up to 1 h */
#define DEFAULT_MAX_BODY (16u << 20)
#define RW_DIR_MAX 512

/* Control frames: a JSON text never starts with NUL. */
static const char DRAIN_MSG[] = "\0DRAIN";
#define DRAIN_LEN (sizeof DRAIN_MSG - 1)
static const char RELOAD_MSG[] = "\0RELOAD"; /* + a struct reload pointer */
#define RELOAD_LEN (sizeof RELOAD_MSG - 1)

/* One attempt of one notification (or one alertmanager re-post). */
struct xfer {
    struct xfer *next;                  /* park queue */
    struct xfer *live_prev, *live_next; /* in flight */
    int rcv;
    char id[RW_OUTBOX_ID_MAX]; /* outbox id = webhook-id */
    uint32_t attempts;         /* failed attempts before this one */
    int resend;                /* an alertmanager re-post: not in the outbox, never retried */
    char *body;                /* the notification JSON (owned) */
    size_t body_len;
    struct rw_http_req req;
    CURL *easy;
    struct curl_slist *hdrs;
    int64_t started_ms; /* monotonic */
    char errbuf[CURL_ERROR_SIZE];
    char resp[RESP_KEEP + 1];
    size_t resp_len;
};

struct receiver {
    struct rw_notifier_cfg cfg;
    const struct rw_notifier *nt;
    int usable; /* a URL and every secret it needs */
    int is_am;
    int inflight;
    struct xfer *park_head, *park_tail;
    int nparked;
    size_t parked_bytes;
    double avg_ms; /* moving average of request times (for BUSY delays) */
    /* alertmanager receivers: the firing alerts last notified (fingerprint ->
     * AM alert), re-posted every resend_interval, and resolution times of
     * alerts (fingerprint -> epoch ms), so a retried firing notification
     * that is older than its resolution is not posted again. */
    json_t *firing, *resolved;
    int64_t next_resend_ms;
    int resend_busy;
    struct rw_ratelimit rl_retry, rl_fail, rl_skip;
};

struct batched {
    json_t *am;
    int64_t at; /* the time journaled: the group's first-seen time if it makes one */
};

struct counters {
    uint64_t alerts, submitted, sent, failed, retried, dropped, resent;
};

struct rw_delivery {
    void *tx; /* engine thread */
    void *rx; /* delivery thread */
    char endpoint[96];
    pthread_t thread;
    int started;
    struct rw_ratelimit rl_submit; /* engine thread */

    /* delivery thread only (built by new, then handed over) */
    struct receiver *rcv;
    int nrcv;
    CURLM *multi;
    struct rw_outbox *ob;
    char outbox_dir[RW_DIR_MAX];
    char state_dir[RW_DIR_MAX];
    struct rw_silences *silences;
    struct rw_inhibitor *inhibitor;
    struct rw_dispatch *disp;
    struct rw_dispatch_stats disp_base; /* counters of dispatchers replaced by reloads */
    struct rw_journal *journal;         /* NULL in event-time mode */
    char journal_path[RW_DIR_MAX + 32];
    uint64_t journal_slack;
    int64_t next_journal_sync_ms;
    uint64_t restored;     /* alerts the journal gave back at start */
    struct batched *batch; /* alerts read this turn, journaled before they join groups */
    int nbatch;
    struct rw_history *hist;
    struct rw_control *control;
    char *external_url;
    int event_time;
    json_t *(*app_control)(void *ud, const json_t *req); /* opts' hooks, see delivery.h */
    json_t *(*app_status)(void *ud);
    void *app_ud;
    int64_t clock_ms; /* event time (event_time mode): the newest alert's ts */
    int inflight;
    struct xfer *live; /* transfers in flight */
    int nparked;
    size_t parked_bytes;
    uint64_t rng;
    int draining;
    int64_t drain_deadline; /* monotonic */
    int64_t next_poll_ms, next_gc_ms;
    int64_t started_wall_ms;
    struct counters c;
    struct rw_ratelimit rl_bad, rl_drop, rl_outbox, rl_journal;

    /* shared */
    _Atomic uint64_t dropped_submit; /* engine thread: hand-over full */
    _Atomic uint64_t snap[24];       /* the stats, published by the delivery thread */
    _Atomic int64_t deadline_ms;     /* set by destroy before the drain message */
    atomic_int stop;                 /* fallback if the drain message cannot be sent */
};

/* A reload in transit: built by the engine thread, applied by the delivery
 * thread, which takes what it uses (NULLing the pointers), fills in the
 * result and answers on the pipe; the engine thread then frees the rest. */
struct reload {
    struct receiver *rcv;
    int nrcv;
    struct rw_inhibitor *inhibitor;
    struct rw_dispatch *disp;
    char *external_url;
    int rc;
    char msg[512];
};

static atomic_uint instance_seq;

/* xorshift64*: jitter only. */
static double rand01(struct rw_delivery *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static struct receiver *find_receiver(struct rw_delivery *d, const char *name)
{
    for (int i = 0; name && i < d->nrcv; i++)
        if (strcmp(d->rcv[i].cfg.name, name) == 0)
            return &d->rcv[i];
    return NULL;
}

static void free_receivers(struct receiver *rcv, int n)
{
    for (int i = 0; rcv && i < n; i++) {
        json_decref(rcv[i].firing);
        json_decref(rcv[i].resolved);
    }
    free(rcv);
}

/* Printable, quote-free copy of a response head for a log value. */
static void log_safe(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f) ? ' ' : (char)ch;
    }
    while (i > 0 && dst[i - 1] == ' ')
        i--;
    dst[i] = '\0';
}

static void history(struct rw_delivery *d, json_t *rec)
{
    if (rec)
        rw_history_write(d->hist, rw_wall_ms(), rec);
    json_decref(rec);
}

static json_t *time_json(int64_t ms)
{
    char buf[RW_AM_TIME_MAX];
    rw_am_time(buf, sizeof buf, (double)ms);
    return json_string(buf);
}

/* ---- stats ------------------------------------------------------------------ */

enum {
    S_ALERTS,
    S_SUBMITTED,
    S_SENT,
    S_FAILED,
    S_RETRIED,
    S_DROPPED,
    S_PENDING,
    S_DEAD,
    S_DROPPED_OLDEST,
    S_SILENCED,
    S_INHIBITED,
    S_MUTED,
    S_GROUPS,
    S_RESENT,
    S_INFLIGHT,
    S_JOURNAL_BYTES,
    S_RESTORED,
    S_N
};
_Static_assert(S_N <= 24, "grow rw_delivery.snap");

/* The dispatcher's counters since start, across reloads. */
static void add_counters(struct rw_dispatch_stats *ds, const struct rw_dispatch_stats *b)
{
    ds->received += b->received;
    ds->invalid += b->invalid;
    ds->groups_dropped += b->groups_dropped;
    ds->alerts_dropped += b->alerts_dropped;
    ds->resolved_unknown += b->resolved_unknown;
    ds->notifications += b->notifications;
    ds->flush_failed += b->flush_failed;
    ds->muted_time += b->muted_time;
    ds->silenced += b->silenced;
    ds->inhibited += b->inhibited;
    ds->restore_rerouted += b->restore_rerouted;
}

static void dispatch_stats(const struct rw_delivery *d, struct rw_dispatch_stats *ds)
{
    rw_dispatch_stats(d->disp, ds);
    add_counters(ds, &d->disp_base);
}

static void publish(struct rw_delivery *d)
{
    struct rw_outbox_stats os;
    struct rw_dispatch_stats ds;
    rw_outbox_stats(d->ob, &os);
    dispatch_stats(d, &ds);
    uint64_t v[S_N] = {0};
    v[S_ALERTS] = d->c.alerts;
    v[S_SUBMITTED] = d->c.submitted;
    v[S_SENT] = d->c.sent;
    v[S_FAILED] = d->c.failed;
    v[S_RETRIED] = d->c.retried;
    v[S_DROPPED] = d->c.dropped + ds.alerts_dropped + ds.groups_dropped;
    v[S_PENDING] = os.depth;
    v[S_DEAD] = os.dead;
    v[S_DROPPED_OLDEST] = os.dropped;
    v[S_SILENCED] = ds.silenced;
    v[S_INHIBITED] = ds.inhibited;
    v[S_MUTED] = ds.muted_time;
    v[S_GROUPS] = ds.groups;
    v[S_RESENT] = d->c.resent;
    v[S_INFLIGHT] = (uint64_t)d->inflight;
    struct rw_journal_stats js;
    rw_journal_stats(d->journal, &js);
    v[S_JOURNAL_BYTES] = js.bytes;
    v[S_RESTORED] = d->restored;
    for (int i = 0; i < S_N; i++)
        atomic_store_explicit(&d->snap[i], v[i], memory_order_relaxed);
}

void rw_delivery_stats(const struct rw_delivery *d, struct rw_delivery_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    uint64_t v[S_N];
    for (int i = 0; i < S_N; i++)
        v[i] = atomic_load_explicit(&d->snap[i], memory_order_relaxed);
    out->alerts = v[S_ALERTS];
    out->submitted = v[S_SUBMITTED];
    out->sent = v[S_SENT];
    out->failed = v[S_FAILED];
    out->retried = v[S_RETRIED];
    out->dropped = v[S_DROPPED] + atomic_load_explicit(&d->dropped_submit, memory_order_relaxed);
    out->pending = v[S_PENDING];
    out->dead = v[S_DEAD];
    out->dropped_oldest = v[S_DROPPED_OLDEST];
    out->silenced = v[S_SILENCED];
    out->inhibited = v[S_INHIBITED];
    out->muted = v[S_MUTED];
    out->groups = v[S_GROUPS];
    out->resent = v[S_RESENT];
    out->inflight = v[S_INFLIGHT];
    out->journal_bytes = v[S_JOURNAL_BYTES];
    out->restored = v[S_RESTORED];
}

/* ---- alertmanager re-posts ---------------------------------------------------- */

/* A notification for an alertmanager receiver was taken: remember what
 * fires (to re-post it) and what resolved (to drop stale firing retries). */
static void am_track(struct receiver *r, const json_t *n)
{
    size_t i;
    const json_t *a;
    int64_t now = rw_wall_ms();
    json_array_foreach(json_object_get(n, "alerts"), i, a)
    {
        const char *fp = json_string_value(json_object_get(a, "fingerprint"));
        const char *st = json_string_value(json_object_get(a, "status"));
        if (!fp)
            continue;
        if (st && strcmp(st, "resolved") == 0) {
            json_object_del(r->firing, fp);
            if (json_object_size(r->resolved) < MAX_AM_TRACKED)
                json_object_set_new(r->resolved, fp, json_integer(now));
        } else {
            json_object_del(r->resolved, fp);
            if (json_object_get(r->firing, fp) || json_object_size(r->firing) < MAX_AM_TRACKED)
                json_object_set(r->firing, fp, (json_t *)a);
        }
    }
    if (!r->next_resend_ms)
        r->next_resend_ms = now + (int64_t)(r->cfg.resend_interval * 1000.0);
}

/* Drop firing alerts whose resolution was notified after this notification
 * was queued. Returns how many alerts are left. */
static size_t am_drop_stale(struct receiver *r, json_t *n)
{
    json_t *alerts = json_object_get(n, "alerts");
    for (size_t i = json_array_size(alerts); i-- > 0;) {
        const json_t *a = json_array_get(alerts, i);
        const char *fp = json_string_value(json_object_get(a, "fingerprint"));
        const char *st = json_string_value(json_object_get(a, "status"));
        if (fp && !(st && strcmp(st, "resolved") == 0) && json_object_get(r->resolved, fp))
            json_array_remove(alerts, i);
    }
    return json_array_size(alerts);
}

/* ---- transfers ---------------------------------------------------------------- */

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    curl_slist_free_all(x->hdrs);
    rw_http_req_clear(&x->req);
    free(x->body);
    free(x);
}

static void live_link(struct rw_delivery *d, struct xfer *x)
{
    x->live_prev = NULL;
    x->live_next = d->live;
    if (d->live)
        d->live->live_prev = x;
    d->live = x;
}

static void live_unlink(struct rw_delivery *d, struct xfer *x)
{
    if (x->live_prev)
        x->live_prev->live_next = x->live_next;
    else
        d->live = x->live_next;
    if (x->live_next)
        x->live_next->live_prev = x->live_prev;
    x->live_prev = x->live_next = NULL;
}

static int can_start(const struct rw_delivery *d, const struct receiver *r)
{
    /* Past the global limit a receiver with nothing in flight may still
     * start one: receivers hanging until their timeout must not starve a
     * healthy one. */
    return r->inflight < MAX_INFLIGHT_PER_RECEIVER &&
           (d->inflight < MAX_INFLIGHT || r->inflight == 0);
}

static void park(struct rw_delivery *d, struct receiver *r, struct xfer *x)
{
    x->next = NULL;
    if (r->park_tail)
        r->park_tail->next = x;
    else
        r->park_head = x;
    r->park_tail = x;
    r->nparked++;
    d->nparked++;
    r->parked_bytes += x->body_len;
    d->parked_bytes += x->body_len;
}

static int park_room(const struct rw_delivery *d, const struct receiver *r, const struct xfer *x)
{
    return r->nparked < PARK_MAX && r->parked_bytes + x->body_len <= PARK_MAX_BYTES &&
           d->parked_bytes + x->body_len <= PARK_TOTAL_BYTES;
}

static struct xfer *unpark(struct rw_delivery *d, struct receiver *r)
{
    struct xfer *x = r->park_head;
    if (!x)
        return NULL;
    r->park_head = x->next;
    if (!r->park_head)
        r->park_tail = NULL;
    r->nparked--;
    d->nparked--;
    r->parked_bytes -= x->body_len;
    d->parked_bytes -= x->body_len;
    x->next = NULL;
    return x;
}

/* Dead-letter a record that can never be sent as it is. */
static void give_up(struct rw_delivery *d, struct xfer *x, const char *why)
{
    struct receiver *r = &d->rcv[x->rcv];
    char err[256] = "";
    if (x->resend)
        r->resend_busy = 0;
    if (!x->resend) {
        if (rw_outbox_fail(d->ob, x->id, 0, 0, why, err, sizeof err) < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: cannot dead-letter\" id=%s error=\"%s\"",
                   x->id, err);
        d->c.failed++;
    }
    rw_log(RW_LOG_ERROR, LOG_COMP,
           "msg=\"notification dead-lettered\" receiver=%s id=%s reason=\"%s\"", r->cfg.name, x->id,
           why);
    history(d, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:b}", "event", "attempt", "id", x->id,
                         "receiver", r->cfg.name, "attempt", (int)x->attempts + 1, "result", "dead",
                         "error", why, "resend", x->resend));
}

static size_t on_response(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    size_t room = RESP_KEEP - x->resp_len;
    size_t take = n < room ? n : room;
    memcpy(x->resp + x->resp_len, ptr, take);
    x->resp_len += take;
    x->resp[x->resp_len] = '\0';
    return n;
}

/* Format, sign and hand one attempt to curl. Returns 0 (started or
 * finished without a request), -ENOMEM (try again later). */
static int start(struct rw_delivery *d, struct xfer *x)
{
    struct receiver *r = &d->rcv[x->rcv];
    const struct rw_notifier_cfg *c = &r->cfg;
    json_error_t jerr;
    json_t *n = json_loadb(x->body, x->body_len, 0, &jerr);
    if (!json_is_object(n)) {
        json_decref(n);
        give_up(d, x, "the stored notification is not a JSON object");
        xfer_free(x);
        return 0;
    }
    if (r->is_am && !x->resend && am_drop_stale(r, n) == 0) {
        /* Every alert in it resolved since: posting it would re-open them. */
        char err[256] = "";
        if (rw_outbox_done(d->ob, x->id, err, sizeof err) < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: done failed\" id=%s error=\"%s\"", x->id,
                   err);
        history(d,
                json_pack("{s:s, s:s, s:s, s:i, s:s}", "event", "attempt", "id", x->id, "receiver",
                          c->name, "attempt", (int)x->attempts + 1, "result", "superseded"));
        json_decref(n);
        xfer_free(x);
        return 0;
    }
    int64_t now = rw_wall_ms();
    json_object_set_new(n, "sendTime", json_integer(now));
    int rc = r->nt->format(c, n, &x->req);
    json_decref(n);
    if (rc == -ENOMEM)
        return -ENOMEM;
    /* The idempotency key goes out signed or not: receivers dedupe on it. */
    if (rc == 0)
        rc = c->secret_len ? rw_sign_request(c, x->id, now / 1000, &x->req)
                           : rw_http_req_add_header(&x->req, "webhook-id", x->id);
    if (rc == -ENOMEM) {
        rw_http_req_clear(&x->req);
        return -ENOMEM;
    }
    if (rc) {
        char why[96];
        snprintf(why, sizeof why, "cannot format or sign the request: %s", strerror(-rc));
        rw_http_req_clear(&x->req);
        give_up(d, x, why);
        xfer_free(x);
        return 0;
    }
    long timeout_ms = (c->timeout > 0 && c->timeout < 86400) ? (long)(c->timeout * 1000.0) : 5000;
    if (timeout_ms < 1)
        timeout_ms = 1;
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s",
             x->req.content_type ? x->req.content_type : "application/json");
    struct curl_slist *h = curl_slist_append(NULL, ct);
    if (h) {
        struct curl_slist *t = curl_slist_append(h, "Expect:"); /* no 100-continue wait */
        for (int i = 0; t && i < x->req.nheaders; i++)
            t = curl_slist_append(h, x->req.headers[i]);
        if (!t) {
            curl_slist_free_all(h);
            h = NULL;
        }
    }
    CURL *e = h ? curl_easy_init() : NULL;
    if (!e) {
        curl_slist_free_all(h);
        rw_http_req_clear(&x->req);
        return -ENOMEM;
    }
    x->errbuf[0] = '\0';
    x->resp_len = 0;
    x->resp[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, x->req.url);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_insecure ? 0L : 2L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "rumwatch/" RW_VERSION);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        rw_http_req_clear(&x->req);
        return -ENOMEM;
    }
    x->easy = e;
    x->hdrs = h;
    x->started_ms = rw_mono_ms();
    live_link(d, x);
    d->inflight++;
    r->inflight++;
    return 0;
}

/* Start it, or queue it behind the receiver's transfers. */
static void submit_xfer(struct rw_delivery *d, struct xfer *x)
{
    struct receiver *r = &d->rcv[x->rcv];
    if (!r->park_head && can_start(d, r)) {
        if (start(d, x) == 0)
            return;
    }
    park(d, r, x);
}

static void start_parked(struct rw_delivery *d, struct receiver *r)
{
    while (r->park_head && can_start(d, r)) {
        struct xfer *x = unpark(d, r);
        if (start(d, x) < 0) { /* out of memory: keep it first in line */
            x->next = r->park_head;
            r->park_head = x;
            if (!r->park_tail)
                r->park_tail = x;
            r->nparked++;
            d->nparked++;
            r->parked_bytes += x->body_len;
            d->parked_bytes += x->body_len;
            return;
        }
    }
}

/* Take due records from the outbox and start or park them. */
static void pull(struct rw_delivery *d)
{
    int64_t now = rw_wall_ms();
    char err[512];
    for (int n = 0; n < PULL_MAX; n++) {
        struct rw_outbox_rec rec;
        memset(&rec, 0, sizeof rec);
        int rc = rw_outbox_next_due(d->ob, now, &rec, err, sizeof err);
        if (rc == -EBADMSG) {
            rw_log(RW_LOG_ERROR, LOG_COMP,
                   "msg=\"outbox: corrupt record quarantined\" error=\"%s\"", err);
            continue;
        }
        if (rc <= 0) {
            if (rc < 0 && rw_ratelimit_ok(&d->rl_outbox, LOG_INTERVAL_MS, NULL))
                rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: cannot read\" error=\"%s\"", err);
            rw_outbox_rec_clear(&rec);
            return;
        }
        struct receiver *r = find_receiver(d, rec.receiver);
        struct xfer *x = calloc(1, sizeof *x);
        if (!x) {
            rw_outbox_release(d->ob, rec.id, now + BUSY_DELAY_MS);
            rw_outbox_rec_clear(&rec);
            return;
        }
        snprintf(x->id, sizeof x->id, "%s", rec.id);
        x->attempts = rec.attempts;
        x->body = rec.body; /* ownership moves */
        x->body_len = rec.body_len;
        rec.body = NULL;
        if (!r || !r->usable) {
            /* Configured away, or without its URL/secret since a restart:
             * dead-letter, so `outbox retry` can bring it back once fixed. */
            char why[300];
            snprintf(why, sizeof why, "receiver '%s' %s", rec.receiver,
                     !r                  ? "is not in the config (removed?)"
                     : r->cfg.missing[0] ? r->cfg.missing
                                         : "has no URL");
            int drc =
                !r ? rw_outbox_dead_letter(d->ob, x->id, "receiver removed", why, err, sizeof err)
                   : rw_outbox_fail(d->ob, x->id, 0, 0, why, err, sizeof err);
            if (drc < 0)
                rw_log(RW_LOG_ERROR, LOG_COMP,
                       "msg=\"outbox: cannot dead-letter\" id=%s error=\"%s\"", x->id, err);
            d->c.failed++;
            history(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "attempt", "id", x->id,
                                 "receiver", rec.receiver, "result", "dead", "error", why));
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"notification dead-lettered\" id=%s reason=\"%s\"",
                   x->id, why);
            xfer_free(x);
            rw_outbox_rec_clear(&rec);
            continue;
        }
        x->rcv = (int)(r - d->rcv);
        rw_outbox_rec_clear(&rec);
        if (!r->park_head && can_start(d, r)) {
            if (start(d, x) == 0)
                continue;
        }
        if (park_room(d, r, x)) {
            park(d, r, x);
        } else {
            double wait = (double)r->nparked * r->avg_ms / MAX_INFLIGHT_PER_RECEIVER;
            wait = wait < BUSY_DELAY_MS       ? BUSY_DELAY_MS
                   : wait > BUSY_DELAY_MAX_MS ? BUSY_DELAY_MAX_MS
                                              : wait;
            rw_outbox_release(d->ob, x->id, now + (int64_t)wait);
            xfer_free(x);
        }
    }
}

static void schedule(struct rw_delivery *d)
{
    if (d->draining && rw_mono_ms() >= d->drain_deadline)
        return;
    for (int i = 0; i < d->nrcv; i++)
        start_parked(d, &d->rcv[i]);
    pull(d);
}

static void finish_transfer(struct rw_delivery *d, CURL *e, CURLcode cc)
{
    char *priv = NULL;
    long status = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
#if LIBCURL_VERSION_NUM >= 0x074200
    curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after);
#endif
    struct xfer *x = (struct xfer *)priv;
    curl_multi_remove_handle(d->multi, e);
    curl_easy_cleanup(e);
    if (!x)
        return;
    x->easy = NULL;
    live_unlink(d, x);
    d->inflight--;
    struct receiver *r = &d->rcv[x->rcv];
    r->inflight--;
    int64_t took = rw_mono_ms() - x->started_ms;
    r->avg_ms = 0.8 * r->avg_ms + 0.2 * (double)(took > 0 ? took : 1);
    enum rw_delivery_class cls = r->nt->classify(status, (int)cc);
    char why[CURL_ERROR_SIZE + RESP_KEEP + 32], msg[CURL_ERROR_SIZE + RESP_KEEP + 8];
    log_safe(msg, sizeof msg,
             cc != CURLE_OK ? (x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc)) : x->resp);
    if (cc != CURLE_OK || status == 0)
        snprintf(why, sizeof why, "%s", msg);
    else
        snprintf(why, sizeof why, "HTTP %ld %s", status, msg);
    uint32_t attempt = x->attempts + 1;
    char err[256] = "";
    const char *result;
    int64_t next_at = 0;

    if (x->resend) {
        result = cls == RW_DELIVERY_OK ? "sent" : "failed";
        if (cls == RW_DELIVERY_OK)
            d->c.resent++;
        else if (rw_ratelimit_ok(&r->rl_retry, LOG_INTERVAL_MS, NULL))
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"alertmanager re-post failed (the next one comes in resend_interval)\" "
                   "receiver=%s status=%ld curl=%d error=\"%s\"",
                   r->cfg.name, status, (int)cc, msg);
        r->resend_busy = 0;
    } else if (cls == RW_DELIVERY_OK) {
        result = "sent";
        d->c.sent++;
        if (rw_outbox_done(d->ob, x->id, err, sizeof err) < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: done failed\" id=%s error=\"%s\"", x->id,
                   err);
    } else {
        int retries = r->cfg.retries;
        int retry = cls == RW_DELIVERY_RETRY && (retries < 0 || attempt <= (uint32_t)retries);
        if (cls == RW_DELIVERY_RETRY && !retry) {
            char tmp[sizeof why + 40];
            snprintf(tmp, sizeof tmp, "retries exhausted (%d): %s", retries, why);
            snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, tmp);
        }
        int64_t base = (int64_t)(r->cfg.backoff * 1000.0);
        int64_t cap = (int64_t)(r->cfg.max_backoff * 1000.0);
        if (base < MIN_BACKOFF_MS)
            base = MIN_BACKOFF_MS;
        if (cap < base)
            cap = base;
        int64_t delay = rw_outbox_backoff(attempt, base, cap, rand01(d));
        /* A receiver that says when to come back is believed, within reason. */
        if (retry_after > 0) {
            int64_t ra = retry_after > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS
                                                                 : (int64_t)retry_after * 1000;
            if (ra > delay)
                delay = ra;
        }
        next_at = rw_wall_ms() + delay;
        int rc = rw_outbox_fail(d->ob, x->id, retry, next_at, why, err, sizeof err);
        if (rc < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP,
                   "msg=\"outbox: cannot record the failure\" id=%s error=\"%s\"", x->id, err);
        if (rc == 0) {
            result = "retry";
            d->c.retried++;
            uint64_t supp = 0;
            if (rw_log_min_level <= RW_LOG_WARN &&
                rw_ratelimit_ok(&r->rl_retry, LOG_INTERVAL_MS, &supp))
                rw_log_write(RW_LOG_WARN, LOG_COMP,
                             "msg=\"delivery failed, will retry\" receiver=%s id=%s status=%ld "
                             "curl=%d error=\"%s\" attempt=%u retry_in_ms=%lld suppressed=%llu",
                             r->cfg.name, x->id, status, (int)cc, msg, attempt, (long long)delay,
                             (unsigned long long)supp);
        } else {
            result = "dead";
            next_at = 0;
            d->c.failed++;
            uint64_t supp = 0;
            if (rw_log_min_level <= RW_LOG_ERROR &&
                rw_ratelimit_ok(&r->rl_fail, LOG_INTERVAL_MS, &supp))
                rw_log_write(RW_LOG_ERROR, LOG_COMP,
                             "msg=\"delivery failed, dead-lettered (rumwatch outbox retry %s)\" "
                             "receiver=%s status=%ld curl=%d error=\"%s\" attempt=%u "
                             "reason=%s suppressed=%llu",
                             x->id, r->cfg.name, status, (int)cc, msg, attempt,
                             cls == RW_DELIVERY_FAIL ? "rejected"
                             : retry                 ? "max_age"
                                                     : "retries_exhausted",
                             (unsigned long long)supp);
        }
    }
    json_t *h = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:I, s:b}", "event", "attempt", "id",
                          x->id, "receiver", r->cfg.name, "attempt", (int)attempt, "result", result,
                          "http_status", (int)status, "curl_code", (int)cc, "duration_ms",
                          (json_int_t)took, "resend", x->resend);
    if (h && strcmp(result, "sent") != 0)
        json_object_set_new(h, "error", json_string(why));
    if (h && next_at)
        json_object_set_new(h, "next_attempt", time_json(next_at));
    history(d, h);
    xfer_free(x);
    start_parked(d, r);
}

static void reap(struct rw_delivery *d)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg == CURLMSG_DONE)
            finish_transfer(d, m->easy_handle, m->data.result);
    }
}

/* ---- groups -> outbox ------------------------------------------------------------ */

static int severity_of(const json_t *am)
{
    int s = rw_severity_parse(rw_label_get(json_object_get(am, "labels"), "severity"));
    return s < 0 ? 1 : s; /* unknown: warning */
}

/* The notification's id (webhook-id, outbox id), from what it is rather
 * than when it was made: receiver, group, the group's first-seen time, its
 * notification number and the alerts' fingerprints and statuses. So a
 * flush made again after a crash (the journal lost the record that it had
 * happened) gets the id of the one possibly sent before, and the outbox
 * and receivers can tell them apart from a genuinely new notification.
 * The Standard Webhooks shape: "msg_" + 24 base64url characters. */
static int content_id(const struct rw_flush *f, const char *receiver, const json_t *n,
                      char id[RW_OUTBOX_ID_MAX])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char num[64];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    /* NUL-separated fields: no two field lists hash alike */
    ok = ok && EVP_DigestUpdate(c, "rw-notification-1", 18) == 1;
    ok = ok && EVP_DigestUpdate(c, receiver, strlen(receiver) + 1) == 1;
    ok = ok && EVP_DigestUpdate(c, f->group_key, strlen(f->group_key) + 1) == 1;
    int len = snprintf(num, sizeof num, "%lld/%llu", (long long)f->group_created_ms,
                       (unsigned long long)f->seq);
    ok = ok && EVP_DigestUpdate(c, num, (size_t)len + 1) == 1;
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(n, "alerts"), i, a)
    {
        const char *fp = json_string_value(json_object_get(a, "fingerprint"));
        const char *st = json_string_value(json_object_get(a, "status"));
        ok = ok && EVP_DigestUpdate(c, fp ? fp : "", strlen(fp ? fp : "") + 1) == 1;
        ok = ok && EVP_DigestUpdate(c, st ? st : "", strlen(st ? st : "") + 1) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen >= 18;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -ENOMEM;
    memcpy(id, "msg_", 4);
    for (int k = 0; k < 6; k++) {
        uint32_t v = ((uint32_t)md[3 * k] << 16) | ((uint32_t)md[3 * k + 1] << 8) | md[3 * k + 2];
        for (int b = 0; b < 4; b++)
            id[4 + 4 * k + b] = b64[(v >> (18 - 6 * b)) & 63];
    }
    id[28] = '\0';
    return 0;
}

/* The dispatcher's callback: one notification for one receiver. 0 = taken
 * (in the outbox, or deliberately not sent); else kept for the next tick. */
static int on_flush(void *ud, const struct rw_flush *f)
{
    struct rw_delivery *d = ud;
    struct receiver *r = find_receiver(d, f->receiver);
    if (!r || !r->usable) {
        uint64_t supp = 0;
        int cannot = r && r->cfg.missing[0];
        if (cannot)
            d->c.failed++;
        if (r && rw_log_min_level <= (cannot ? RW_LOG_ERROR : RW_LOG_DEBUG) &&
            rw_ratelimit_ok(&r->rl_skip, 60000, &supp))
            rw_log_write(cannot ? RW_LOG_ERROR : RW_LOG_DEBUG, LOG_COMP,
                         "msg=\"notification not sent: the receiver cannot send\" receiver=%s "
                         "reason=\"%s\" suppressed=%llu",
                         r->cfg.name, cannot ? r->cfg.missing : "no URL", (unsigned long long)supp);
        history(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "notification", "receiver",
                             f->receiver, "groupKey", f->group_key, "result", "skipped", "reason",
                             !r       ? "unknown receiver"
                             : cannot ? r->cfg.missing
                                      : "no URL"));
        return 0;
    }
    json_t *n = json_incref(f->notification);
    const json_t *alerts = json_object_get(n, "alerts");
    size_t i, keep = 0;
    const json_t *a;
    json_array_foreach(alerts, i, a) keep += severity_of(a) >= r->cfg.min_severity;
    if (keep < json_array_size(alerts)) {
        /* min_severity: a receiver filter applied to what its routes send. */
        json_t *kept = json_array();
        json_array_foreach(alerts, i, a) if (severity_of(a) >= r->cfg.min_severity)
            json_array_append(kept, (json_t *)a);
        json_decref(n);
        if (!keep) {
            json_decref(kept);
            return 0;
        }
        n = rw_notification_new(r->cfg.name, f->group_key, f->group_labels, d->external_url, kept);
        if (!n)
            return -ENOMEM;
    }
    char *body = json_dumps(n, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!body) {
        json_decref(n);
        return -ENOMEM;
    }
    /* The outbox id is the webhook-id. */
    char id[RW_OUTBOX_ID_MAX], err[512];
    int rc = content_id(f, r->cfg.name, n, id);
    if (rc == 0)
        rc = rw_outbox_put(d->ob, r->cfg.name, body, strlen(body), id, NULL, err, sizeof err);
    else
        snprintf(err, sizeof err, "cannot make the notification id: out of memory");
    free(body);
    if (rc == -EEXIST) {
        /* Made again after a restart: the outbox has it already. */
        rw_log(RW_LOG_DEBUG, LOG_COMP, "msg=\"notification already in the outbox\" id=%s", id);
        history(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "notification", "id", id,
                             "receiver", r->cfg.name, "groupKey", f->group_key, "result",
                             "duplicate"));
        if (r->is_am)
            am_track(r, n);
        json_decref(n);
        return 0;
    }
    if (rc < 0) {
        uint64_t supp = 0;
        if (rw_log_min_level <= RW_LOG_ERROR &&
            rw_ratelimit_ok(&d->rl_outbox, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_ERROR, LOG_COMP,
                         "msg=\"outbox: cannot store a notification%s\" receiver=%s error=\"%s\" "
                         "suppressed=%llu",
                         rc == -EMSGSIZE ? ", dropped" : ", will try again", r->cfg.name, err,
                         (unsigned long long)supp);
        json_decref(n);
        if (rc == -EMSGSIZE) { /* too big to ever fit: no point holding it */
            d->c.dropped++;
            return 0;
        }
        return rc;
    }
    d->c.submitted++;
    json_t *list = json_array();
    json_array_foreach(json_object_get(n, "alerts"), i, a) json_array_append_new(
        list, json_pack("{s:O?, s:O?}", "fingerprint", json_object_get(a, "fingerprint"), "status",
                        json_object_get(a, "status")));
    history(d, json_pack("{s:s, s:s, s:s, s:s, s:O?, s:o}", "event", "notification", "id", id,
                         "receiver", r->cfg.name, "groupKey", f->group_key, "status",
                         json_object_get(n, "status"), "alerts", list));
    if (r->is_am)
        am_track(r, n);
    json_decref(n);
    return 0;
}

static int64_t dispatch_now(const struct rw_delivery *d)
{
    return d->event_time ? d->clock_ms : rw_wall_ms();
}

/* A graceful stop: every group gets its next tick now, so alerts still
 * waiting for group_wait or group_interval land in the outbox instead of
 * being lost with the process. */
static void flush_all_groups(struct rw_delivery *d)
{
    int64_t until = dispatch_now(d);
    json_t *groups = rw_dispatch_groups(d->disp);
    size_t i;
    const json_t *g;
    json_array_foreach(groups, i, g)
    {
        int64_t t = (int64_t)json_integer_value(json_object_get(g, "next_flush_ms"));
        if (t > until)
            until = t;
    }
    json_decref(groups);
    rw_dispatch_due(d->disp, until, on_flush, d);
}

/* ---- the alert journal ---------------------------------------------------------------
 *
 * <state_dir>/alerts.journal (history.h: rw_journal) holds, one JSON line
 * each:
 *   {"t":"a", "at": ms, "alert": AM alert}  an alert line accepted, written
 *                                          and fdatasync'ed before it joins
 *                                          a group (one sync per batch);
 *   {"t":"g", ...}                          a group's state after a flush
 *                                          that changed it (group.h); synced
 *                                          within JOURNAL_SYNC_MS.
 * Replayed at start through the same dispatcher calls, so groups come back
 * with their first-seen time, timers and notification log. Compacted (one
 * full "g" record per group) at start, after a reload, at a stop, and when
 * what was appended since the last compaction exceeds both journal_slack
 * and the compacted size: the file stays under 2 x the state + slack.
 * Not in event-time mode (replay --notify): a replay's groups are its own. */

static int journal_put(void *ud, const json_t *rec)
{
    struct rw_delivery *d = ud;
    int rc = rw_journal_append(d->journal, rec);
    if (rc < 0 && rw_ratelimit_ok(&d->rl_journal, LOG_INTERVAL_MS, NULL))
        rw_log(RW_LOG_ERROR, LOG_COMP,
               "msg=\"alert journal: cannot append (alerts in groups are not crash-safe until "
               "it works again)\" path=%s error=\"%s\"",
               d->journal_path, strerror(-rc));
    return 0; /* never stops a flush: the outbox has the notification */
}

static int snapshot_fill(void *ud, rw_journal_put_fn put, void *ctx)
{
    struct rw_delivery *d = ud;
    return rw_dispatch_snapshot(d->disp, put, ctx);
}

static void journal_compact(struct rw_delivery *d, const char *why)
{
    if (!d->journal)
        return;
    char err[512];
    struct rw_journal_stats before, after;
    rw_journal_stats(d->journal, &before);
    if (rw_journal_rewrite(d->journal, snapshot_fill, d, err, sizeof err) < 0) {
        rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"alert journal: compaction failed\" error=\"%s\"",
               err);
        return;
    }
    rw_journal_stats(d->journal, &after);
    rw_log(RW_LOG_DEBUG, LOG_COMP, "msg=\"alert journal compacted\" why=%s bytes=%llu->%llu", why,
           (unsigned long long)before.bytes, (unsigned long long)after.bytes);
}

/* Compaction due: the part appended since the last one is larger than the
 * slack and than the compacted part (so the cost stays linear). */
static int journal_oversized(const struct rw_delivery *d)
{
    struct rw_journal_stats js;
    rw_journal_stats(d->journal, &js);
    uint64_t appended = js.bytes - js.base_bytes;
    return d->journal && appended > d->journal_slack && appended > js.base_bytes;
}

struct replay_ctx {
    struct rw_delivery *d;
    int64_t now;
    uint64_t alerts, groups, bad;
};

static int replay_rec(void *ud, const json_t *rec)
{
    struct replay_ctx *c = ud;
    const char *t = json_string_value(json_object_get(rec, "t"));
    if (t && strcmp(t, "a") == 0) {
        json_t *alert = json_object_get(rec, "alert");
        const json_t *at = json_object_get(rec, "at");
        if (!json_is_object(alert) || !json_is_integer(at)) {
            c->bad++;
            return 0;
        }
        if (rw_dispatch_add(c->d->disp, alert, (int64_t)json_integer_value(at)) >= 0)
            c->alerts++;
    } else if (t && strcmp(t, "g") == 0) {
        if (rw_dispatch_restore(c->d->disp, rec, c->now) < 0)
            c->bad++;
        else
            c->groups++;
    } else {
        c->bad++;
    }
    return 0;
}

/* At start (before the thread): rebuild the groups, then compact. */
static int journal_start(struct rw_delivery *d, char *err, size_t errlen)
{
    if (snprintf(d->journal_path, sizeof d->journal_path, "%s/%s", d->state_dir, JOURNAL_NAME) >=
        (int)sizeof d->journal_path) {
        snprintf(err, errlen, "state directory path too long: %s", d->state_dir);
        return -ENAMETOOLONG;
    }
    struct replay_ctx c = {.d = d, .now = rw_wall_ms()};
    uint64_t skipped = 0;
    int n = rw_journal_read(d->journal_path, replay_rec, &c, &skipped, err, errlen);
    if (n < 0)
        return n;
    if (!(d->journal = rw_journal_open(d->journal_path, err, errlen)))
        return -EIO;
    struct rw_dispatch_stats ds;
    rw_dispatch_stats(d->disp, &ds);
    d->restored = ds.alerts;
    if (n > 0 || skipped)
        rw_log(skipped || c.bad ? RW_LOG_WARN : RW_LOG_INFO, LOG_COMP,
               "msg=\"alert journal replayed\" records=%d groups=%llu alerts=%llu "
               "skipped=%llu%s",
               n, (unsigned long long)ds.groups, (unsigned long long)ds.alerts,
               (unsigned long long)(skipped + c.bad),
               skipped ? " note=\"unreadable lines (a torn last write after a crash is normal)\""
                       : "");
    /* Also drops a torn last line, so appends start on a clean line. */
    journal_compact(d, "start");
    rw_dispatch_set_journal(d->disp, journal_put, d);
    return 0;
}

/* ---- alert lines in ---------------------------------------------------------------- */

static void dispatch_alert(struct rw_delivery *d, json_t *am, int64_t at)
{
    int rc = rw_dispatch_add(d->disp, am, at);
    if (rc == -ENOSPC) {
        const json_t *labels = json_object_get(am, "labels");
        uint64_t supp = 0;
        if (rw_log_min_level <= RW_LOG_WARN && rw_ratelimit_ok(&d->rl_drop, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_WARN, LOG_COMP,
                         "msg=\"alert refused: too many groups or alerts held\" rule=%s "
                         "suppressed=%llu",
                         rw_label_get(labels, "rule"), (unsigned long long)supp);
        history(d, json_pack("{s:s, s:O?, s:s}", "event", "dropped", "fingerprint",
                             json_object_get(am, "fingerprint"), "reason", "group caps"));
    }
}

/* The alerts journaled this turn: durable first, then into their groups. */
static void commit_batch(struct rw_delivery *d)
{
    if (!d->nbatch)
        return;
    int rc = rw_journal_sync(d->journal);
    if (rc < 0 && rw_ratelimit_ok(&d->rl_journal, LOG_INTERVAL_MS, NULL))
        rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"alert journal: fdatasync failed\" error=\"%s\"",
               strerror(-rc));
    for (int i = 0; i < d->nbatch; i++) {
        dispatch_alert(d, d->batch[i].am, d->batch[i].at);
        json_decref(d->batch[i].am);
    }
    d->nbatch = 0;
    if (journal_oversized(d)) /* here too: a burst must not wait for the 1 s job */
        journal_compact(d, "size");
}

static void handle_alert(struct rw_delivery *d, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *line = json_loadb(text, len, 0, &jerr);
    json_t *am = json_is_object(line) ? rw_alert_to_am(line, d->external_url) : NULL;
    if (!am) {
        uint64_t supp = 0;
        if (rw_log_min_level <= RW_LOG_ERROR && rw_ratelimit_ok(&d->rl_bad, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_ERROR, LOG_COMP,
                         "msg=\"alert is not a JSON object, ignored\" error=\"%s\" suppressed=%llu",
                         line ? "not an alert object" : jerr.text, (unsigned long long)supp);
        json_decref(line);
        return;
    }
    d->c.alerts++;
    if (d->event_time) {
        /* Replay: run the group timers up to this alert's time first, as
         * `run` would have at that moment. */
        json_int_t ts = json_integer_value(json_object_get(line, "ts"));
        if (ts > d->clock_ms)
            d->clock_ms = (int64_t)ts;
        rw_dispatch_due(d->disp, d->clock_ms, on_flush, d);
    }
    json_t *labels = json_object_get(am, "labels");
    history(d, json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "event", "alert",
                         "status", json_object_get(am, "status"), "fingerprint",
                         json_object_get(am, "fingerprint"), "labels", labels, "startsAt",
                         json_object_get(am, "startsAt"), "endsAt", json_object_get(am, "endsAt"),
                         "summary", json_object_get(json_object_get(am, "annotations"), "summary"),
                         "value", json_object_get(am, "value"), "expected",
                         json_object_get(am, "expected")));
    json_decref(line);
    int64_t at = dispatch_now(d);
    if (d->journal) {
        if (d->nbatch == RECV_BATCH)
            commit_batch(d);
        json_t *rec = json_pack("{s:s, s:I, s:O}", "t", "a", "at", (json_int_t)at, "alert", am);
        journal_put(d, rec);
        json_decref(rec);
        d->batch[d->nbatch++] = (struct batched){am, at}; /* joins its groups in commit_batch */
        return;
    }
    dispatch_alert(d, am, at);
    json_decref(am);
}

static void begin_drain(struct rw_delivery *d)
{
    commit_batch(d);
    d->draining = 1;
    d->drain_deadline = atomic_load(&d->deadline_ms);
    rw_control_close(&d->control); /* the CLI now sees "not running" and works on the files */
    flush_all_groups(d);
}

static void apply_reload(struct rw_delivery *d, struct reload *rl);

static void read_pipe(struct rw_delivery *d)
{
    /* Past the shutdown deadline, alerts still queued ahead of the drain
     * message are counted as dropped without being processed. */
    int64_t dl = atomic_load(&d->deadline_ms);
    int late = dl != 0 && rw_mono_ms() > dl;
    for (int i = 0; i < RECV_BATCH && !d->draining; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, d->rx, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        const char *data = zmq_msg_data(&m);
        size_t len = zmq_msg_size(&m);
        if (len == DRAIN_LEN && memcmp(data, DRAIN_MSG, DRAIN_LEN) == 0) {
            begin_drain(d);
        } else if (len == RELOAD_LEN + sizeof(struct reload *) &&
                   memcmp(data, RELOAD_MSG, RELOAD_LEN) == 0) {
            struct reload *rl;
            memcpy(&rl, data + RELOAD_LEN, sizeof rl);
            commit_batch(d); /* alerts sent before the reload go in first */
            apply_reload(d, rl);
        } else if (len > 0 && late) {
            d->c.dropped++;
        } else if (len > 0) {
            handle_alert(d, data, len);
        }
        zmq_msg_close(&m);
    }
    commit_batch(d);
}

/* ---- reload (delivery thread side) ------------------------------------------------------ */

static int collect(void *ud, const json_t *rec)
{
    return json_array_append((json_t *)ud, (json_t *)rec) ? -ENOMEM : 0;
}

/* A transfer whose receiver is gone from the config: stop it and
 * dead-letter its notification ("receiver removed"); `outbox retry` brings
 * it back once the receiver is configured again. */
static void drop_removed(struct rw_delivery *d, struct xfer *x, const char *name)
{
    if (!x->resend) {
        char why[160], err[256];
        snprintf(why, sizeof why, "receiver '%s' was removed from the config", name);
        if (rw_outbox_dead_letter(d->ob, x->id, "receiver removed", why, err, sizeof err) < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: cannot dead-letter\" id=%s error=\"%s\"",
                   x->id, err);
        d->c.failed++;
        history(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "attempt", "id", x->id,
                             "receiver", name, "result", "dead", "error", why));
    }
    xfer_free(x);
}

/* Old receivers -> new ones by name: runtime state (transfers in flight,
 * queues, timings, alertmanager tracking) moves with the name. */
static int swap_receivers(struct rw_delivery *d, struct reload *rl)
{
    int *map = malloc(sizeof *map * (size_t)(d->nrcv > 0 ? d->nrcv : 1));
    if (!map)
        return -ENOMEM;
    int removed = 0;
    for (int i = 0; i < d->nrcv; i++) {
        map[i] = -1;
        for (int j = 0; j < rl->nrcv; j++)
            if (strcmp(d->rcv[i].cfg.name, rl->rcv[j].cfg.name) == 0)
                map[i] = j;
        if (map[i] < 0) {
            struct xfer *x;
            removed++;
            while ((x = unpark(d, &d->rcv[i])))
                drop_removed(d, x, d->rcv[i].cfg.name);
        }
    }
    for (struct xfer *x = d->live, *next; x; x = next) {
        next = x->live_next;
        int j = map[x->rcv];
        if (j >= 0) {
            x->rcv = j;
            continue;
        }
        char name[RW_OUTBOX_RECV_MAX];
        snprintf(name, sizeof name, "%s", d->rcv[x->rcv].cfg.name);
        curl_multi_remove_handle(d->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        live_unlink(d, x);
        d->inflight--;
        drop_removed(d, x, name);
    }
    for (int i = 0; i < d->nrcv; i++) {
        if (map[i] < 0)
            continue;
        struct receiver *o = &d->rcv[i], *n = &rl->rcv[map[i]];
        n->inflight = o->inflight;
        n->park_head = o->park_head;
        n->park_tail = o->park_tail;
        n->nparked = o->nparked;
        n->parked_bytes = o->parked_bytes;
        n->avg_ms = o->avg_ms;
        n->rl_retry = o->rl_retry;
        n->rl_fail = o->rl_fail;
        n->rl_skip = o->rl_skip;
        n->resend_busy = o->resend_busy;
        for (struct xfer *x = n->park_head; x; x = x->next)
            x->rcv = map[i];
        if (n->is_am && o->is_am) {
            json_t *t = n->firing;
            n->firing = o->firing;
            o->firing = t;
            t = n->resolved;
            n->resolved = o->resolved;
            o->resolved = t;
            n->next_resend_ms = o->next_resend_ms;
        }
    }
    free(map);
    free_receivers(d->rcv, d->nrcv);
    d->rcv = rl->rcv;
    d->nrcv = rl->nrcv;
    rl->rcv = NULL;
    return removed;
}

static void apply_reload(struct rw_delivery *d, struct reload *rl)
{
    int64_t now = dispatch_now(d);
    json_t *recs = json_array();
    if (!recs || rw_dispatch_snapshot(d->disp, collect, recs) < 0) {
        json_decref(recs);
        rl->rc = -ENOMEM;
        snprintf(rl->msg, sizeof rl->msg, "reload: out of memory (the old config stays in use)");
        goto reply;
    }
    /* The groups into the new tree: unchanged routes keep their groups,
     * timers and log; alerts whose group changed are filed anew; then every
     * firing alert goes through the new tree, so routes added by the reload
     * get the alerts already firing (their group_wait starts now). */
    rw_dispatch_set_mutes(rl->disp, d->silences, rl->inhibitor);
    size_t i, k;
    const json_t *rec, *e;
    json_array_foreach(recs, i, rec) rw_dispatch_restore(rl->disp, rec, now);
    json_array_foreach(recs, i, rec)
    {
        json_array_foreach(json_object_get(rec, "alerts"), k, e)
        {
            json_t *a = json_object_get(e, "alert");
            const char *st = json_string_value(json_object_get(a, "status"));
            if (!st || strcmp(st, "resolved") != 0)
                rw_dispatch_add(rl->disp, a, now);
        }
    }
    json_decref(recs);
    struct rw_dispatch_stats old;
    rw_dispatch_stats(d->disp, &old);
    add_counters(&d->disp_base, &old);
    rw_dispatch_destroy(&d->disp);
    rw_inhibitor_destroy(&d->inhibitor);
    d->disp = rl->disp;
    d->inhibitor = rl->inhibitor;
    rl->disp = NULL;
    rl->inhibitor = NULL;
    if (d->journal)
        rw_dispatch_set_journal(d->disp, journal_put, d);
    free(d->external_url);
    d->external_url = rl->external_url;
    rl->external_url = NULL;
    int removed = swap_receivers(d, rl);
    if (removed < 0) {
        /* The routes are in; the receivers could not move: keep the old ones
         * (their names are what the routes use, or dead letters follow). */
        rl->rc = removed;
        snprintf(rl->msg, sizeof rl->msg,
                 "reload: out of memory while switching receivers (routes reloaded, receivers "
                 "not)");
    }
    journal_compact(d, "reload");
    struct rw_dispatch_stats ds;
    rw_dispatch_stats(d->disp, &ds);
    rw_log(RW_LOG_INFO, LOG_COMP,
           "msg=\"reloaded\" receivers=%d removed=%d groups=%llu alerts=%llu regrouped=%llu",
           d->nrcv, removed > 0 ? removed : 0, (unsigned long long)ds.groups,
           (unsigned long long)ds.alerts, (unsigned long long)ds.restore_rerouted);
reply:
    publish(d);
    if (zmq_send(d->rx, "R", 1, 0) < 0)
        rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"reload: cannot answer\" error=\"%s\"",
               zmq_strerror(zmq_errno()));
}

/* ---- control socket ------------------------------------------------------------------ */

static const char *S0(const char *s)
{
    return s ? s : "";
}

static json_t *fail_reply(const char *fmt, const char *arg)
{
    char msg[600];
    snprintf(msg, sizeof msg, fmt, arg);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void put_u(json_t *o, const char *k, uint64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static json_t *status_json(struct rw_delivery *d)
{
    struct rw_delivery_stats st;
    publish(d);
    rw_delivery_stats(d, &st);
    struct rw_outbox_stats os;
    rw_outbox_stats(d->ob, &os);
    struct rw_silences_stats ss;
    rw_silences_stats(d->silences, rw_wall_ms(), &ss);
    json_t *o = json_object(), *stats = json_object(), *ob = json_object(), *rcv = json_array();
    put_u(stats, "alerts", st.alerts);
    put_u(stats, "submitted", st.submitted);
    put_u(stats, "sent", st.sent);
    put_u(stats, "failed", st.failed);
    put_u(stats, "retried", st.retried);
    put_u(stats, "dropped", st.dropped);
    put_u(stats, "pending", st.pending);
    put_u(stats, "dead", st.dead);
    put_u(stats, "dropped_oldest", st.dropped_oldest);
    put_u(stats, "silenced", st.silenced);
    put_u(stats, "inhibited", st.inhibited);
    put_u(stats, "muted", st.muted);
    put_u(stats, "groups", st.groups);
    put_u(stats, "resent", st.resent);
    put_u(stats, "inflight", st.inflight);
    put_u(ob, "depth", os.depth);
    put_u(ob, "bytes", os.bytes);
    put_u(ob, "dead", os.dead);
    put_u(ob, "dropped", os.dropped);
    put_u(ob, "quarantined", os.quarantined);
    for (int i = 0; i < d->nrcv; i++) {
        const struct receiver *r = &d->rcv[i];
        json_t *e = json_pack("{s:s, s:s, s:b, s:i, s:i}", "name", r->cfg.name, "type", r->cfg.type,
                              "usable", r->usable, "inflight", r->inflight, "queued", r->nparked);
        if (e && !r->usable)
            json_object_set_new(e, "problem",
                                json_string(r->cfg.missing[0] ? r->cfg.missing : "no URL"));
        json_array_append_new(rcv, e);
    }
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "version", json_string(RW_VERSION));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(o, "state_dir", json_string(d->state_dir));
    json_object_set_new(o, "started", time_json(d->started_wall_ms));
    json_object_set_new(o, "stats", stats);
    json_object_set_new(o, "outbox", ob);
    json_object_set_new(o, "silences",
                        json_pack("{s:i, s:i, s:i}", "active", ss.active, "pending", ss.pending,
                                  "expired", ss.expired));
    json_object_set_new(o, "receivers", rcv);
    json_object_set_new(o, "groups", rw_dispatch_groups(d->disp));
    if (d->app_status) {
        json_t *app = d->app_status(d->app_ud);
        if (app)
            json_object_set_new(o, "engine", app);
    }
    return o;
}

/* ---- the outbox as JSON ------------------------------------------------------------- */

int rw_delivery_outbox_dir(const char *state_dir, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/outbox", state_dir ? state_dir : "");
    return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}

struct list_ctx {
    json_t *arr;
    int limit, bodies;
};

static int list_one(const struct rw_outbox_entry *e, void *arg)
{
    struct list_ctx *lc = arg;
    const struct rw_outbox_rec *r = &e->rec;
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:b, s:I}", "id", r->id, "receiver", r->receiver,
                          "state", rw_outbox_state_name(e->state), "attempts", (int)r->attempts,
                          "retry_requested", e->retry_requested, "bytes", (json_int_t)r->body_len);
    if (!o)
        return 1;
    if (r->created_ms)
        json_object_set_new(o, "created", time_json(r->created_ms));
    if (e->state == RW_OUTBOX_PENDING || e->state == RW_OUTBOX_QUEUED)
        json_object_set_new(o, "next_attempt", time_json(r->next_ms));
    if (r->last_error[0])
        json_object_set_new(o, "last_error", json_string(r->last_error));
    if (r->dead_reason[0])
        json_object_set_new(o, "dead_reason", json_string(r->dead_reason));
    if (r->dead_ms)
        json_object_set_new(o, "dead_at", time_json(r->dead_ms));
    json_t *n = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    if (json_is_object(n)) {
        json_object_set(o, "status", json_object_get(n, "status"));
        json_object_set(o, "groupKey", json_object_get(n, "groupKey"));
        json_object_set_new(
            o, "alerts", json_integer((json_int_t)json_array_size(json_object_get(n, "alerts"))));
    }
    if (lc->bodies && r->body)
        json_object_set_new(o, "body",
                            n && json_is_object(n) ? json_incref(n)
                                                   : json_stringn(r->body, r->body_len));
    json_decref(n);
    json_array_append_new(lc->arr, o);
    return lc->limit > 0 && (int)json_array_size(lc->arr) >= lc->limit;
}

json_t *rw_delivery_outbox_list(const char *state_dir, int limit, int bodies, char *err,
                                size_t errlen)
{
    char dir[RW_DIR_MAX + 16];
    if (rw_delivery_outbox_dir(state_dir, dir, sizeof dir)) {
        snprintf(err, errlen, "state directory path too long");
        return NULL;
    }
    struct list_ctx lc = {json_array(), limit, bodies};
    if (!lc.arr) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 && errno == ENOENT)
        return lc.arr; /* never started: nothing queued */
    if (rw_outbox_list(dir, list_one, &lc, err, errlen) < 0) {
        json_decref(lc.arr);
        return NULL;
    }
    return lc.arr;
}

static json_t *handle_control(void *ud, const json_t *req)
{
    struct rw_delivery *d = ud;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    char err[512] = "";
    int64_t now = rw_wall_ms();
    if (!cmd)
        return fail_reply("%s", "missing \"cmd\"");
    if (strcmp(cmd, "status") == 0)
        return status_json(d);
    if (strcmp(cmd, "silence.add") == 0) {
        struct rw_silence_spec spec;
        char id[RW_SILENCE_ID_LEN + 1];
        if (rw_silence_spec_from_json(json_object_get(req, "silence"), &spec, err, sizeof err))
            return fail_reply("%s", err);
        int rc = rw_silences_add(d->silences, &spec, now, id, err, sizeof err);
        rw_silence_spec_clear(&spec);
        if (rc)
            return fail_reply("%s", err);
        /* The list entry of the new silence, for the reply and the history. */
        json_t *all = rw_silences_list(d->silences, now, 1), *mine = NULL;
        size_t i;
        json_t *s;
        json_array_foreach(all, i,
                           s) if (!mine && strcmp(S0(json_string_value(json_object_get(s, "id"))),
                                                  id) == 0) mine = json_incref(s);
        json_decref(all);
        history(d, json_pack("{s:s, s:s, s:s, s:O?}", "event", "silence", "action", "add", "id", id,
                             "silence", mine));
        rw_log(RW_LOG_INFO, LOG_COMP, "msg=\"silence added\" id=%s", id);
        return json_pack("{s:b, s:s, s:o?}", "ok", 1, "id", id, "silence", mine);
    }
    if (strcmp(cmd, "silence.list") == 0)
        return json_pack(
            "{s:b, s:o}", "ok", 1, "silences",
            rw_silences_list(d->silences, now, json_is_true(json_object_get(req, "expired"))));
    if (strcmp(cmd, "silence.expire") == 0) {
        const char *id = json_string_value(json_object_get(req, "id"));
        if (!id)
            return fail_reply("%s", "missing \"id\"");
        if (rw_silences_expire(d->silences, id, now, err, sizeof err))
            return fail_reply("%s", err);
        history(d, json_pack("{s:s, s:s, s:s}", "event", "silence", "action", "expire", "id", id));
        rw_log(RW_LOG_INFO, LOG_COMP, "msg=\"silence expired\" id=%s", id);
        return json_pack("{s:b, s:s}", "ok", 1, "id", id);
    }
    if (strcmp(cmd, "outbox.list") == 0) {
        json_int_t limit = json_integer_value(json_object_get(req, "limit"));
        json_t *l =
            rw_delivery_outbox_list(d->state_dir, limit > 0 && limit < 1000000 ? (int)limit : 1000,
                                    json_is_true(json_object_get(req, "bodies")), err, sizeof err);
        return l ? json_pack("{s:b, s:o}", "ok", 1, "notifications", l) : fail_reply("%s", err);
    }
    if (strcmp(cmd, "outbox.retry") == 0) {
        const char *id = json_string_value(json_object_get(req, "id"));
        if (!id && !json_is_true(json_object_get(req, "all")))
            return fail_reply("%s", "give \"id\" or \"all\": true");
        int n = rw_outbox_retry(d->outbox_dir, id, err, sizeof err);
        if (n < 0)
            return fail_reply("%s", err);
        /* Take the request now rather than at the next second's poll. */
        if (rw_outbox_poll(d->ob, err, sizeof err) < 0)
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: poll failed\" error=\"%s\"", err);
        history(d, json_pack("{s:s, s:s, s:s?, s:i}", "event", "outbox", "action", "retry", "id",
                             id, "count", n));
        return json_pack("{s:b, s:i}", "ok", 1, "count", n);
    }
    json_t *app = d->app_control ? d->app_control(d->app_ud, req) : NULL;
    if (app)
        return app;
    return fail_reply(d->app_control ? "unknown cmd '%s' (status, silence.add, silence.list, "
                                       "silence.expire, outbox.list, outbox.retry, reload)"
                                     : "unknown cmd '%s' (status, silence.add, silence.list, "
                                       "silence.expire, outbox.list, outbox.retry)",
                      cmd);
}

/* ---- periodic jobs ------------------------------------------------------------------- */

/* Alertmanager forgets a firing alert once its endsAt passes: re-post every
 * firing alert every resend_interval (not durable: the next one follows). */
static void resend(struct rw_delivery *d, int64_t now)
{
    for (int i = 0; i < d->nrcv; i++) {
        struct receiver *r = &d->rcv[i];
        if (!r->is_am || !r->usable || !r->next_resend_ms || now < r->next_resend_ms)
            continue;
        r->next_resend_ms = now + (int64_t)(r->cfg.resend_interval * 1000.0);
        /* Resolutions older than the outbox's max age cannot meet a retry. */
        const char *k;
        json_t *v, *tmp;
        json_object_foreach_safe(r->resolved, tmp, k, v)
        {
            if (json_integer_value(v) < now - 2 * 86400 * 1000LL)
                json_object_del(r->resolved, k);
        }
        if (r->resend_busy || !json_object_size(r->firing))
            continue;
        json_t *alerts = json_array();
        json_object_foreach(r->firing, k, v)
        {
            const json_t *labels = json_object_get(v, "labels");
            if (rw_silences_match(d->silences, labels, now) ||
                (d->inhibitor && rw_inhibitor_mutes(d->inhibitor, labels, k, NULL, 0)))
                continue;
            json_array_append(alerts, v);
        }
        if (!json_array_size(alerts)) {
            json_decref(alerts);
            continue;
        }
        json_t *n = rw_notification_new(r->cfg.name, "{}:resend", NULL, d->external_url, alerts);
        struct xfer *x = n ? calloc(1, sizeof *x) : NULL;
        if (x && (x->body = json_dumps(n, JSON_COMPACT | JSON_REAL_PRECISION(15))) &&
            rw_sign_new_id(x->id, sizeof x->id) == 0) {
            x->body_len = strlen(x->body);
            x->rcv = i;
            x->resend = 1;
            r->resend_busy = 1;
            submit_xfer(d, x);
        } else {
            xfer_free(x);
        }
        json_decref(n);
    }
}

static void periodic(struct rw_delivery *d)
{
    int64_t now = rw_wall_ms();
    char err[512];
    if (now >= d->next_poll_ms) {
        d->next_poll_ms = now + OUTBOX_POLL_MS;
        if (rw_outbox_poll(d->ob, err, sizeof err) < 0 &&
            rw_ratelimit_ok(&d->rl_outbox, LOG_INTERVAL_MS, NULL))
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"outbox: poll failed\" error=\"%s\"", err);
    }
    if (now >= d->next_gc_ms) {
        d->next_gc_ms = now + SILENCE_GC_MS;
        rw_silences_gc(d->silences, now);
    }
    if (d->journal && now >= d->next_journal_sync_ms) {
        d->next_journal_sync_ms = now + JOURNAL_SYNC_MS;
        rw_journal_sync(d->journal);
        if (journal_oversized(d))
            journal_compact(d, "size");
    }
    if (!d->event_time && !d->draining)
        resend(d, now);
}

static int64_t next_wake(struct rw_delivery *d)
{
    int64_t now = rw_wall_ms(), wait = POLL_MAX_MS;
    int64_t t = rw_outbox_next_time(d->ob);
    if (t != INT64_MAX && t - now < wait)
        wait = t - now;
    if (!d->event_time) {
        t = rw_dispatch_next_deadline(d->disp);
        if (t != INT64_MAX && t - now < wait)
            wait = t - now;
    }
    if (d->next_poll_ms - now < wait)
        wait = d->next_poll_ms - now;
    if (d->draining && d->drain_deadline - rw_mono_ms() < wait)
        wait = d->drain_deadline - rw_mono_ms();
    return wait < 0 ? 0 : wait;
}

/* During a drain: can anything still finish before the deadline? */
static int drain_done(struct rw_delivery *d)
{
    if (rw_mono_ms() >= d->drain_deadline)
        return 1;
    if (d->inflight > 0 || d->nparked > 0)
        return 0;
    int64_t t = rw_outbox_next_time(d->ob);
    return t == INT64_MAX || t - rw_wall_ms() > d->drain_deadline - rw_mono_ms();
}

static int zmq_readable(void *s)
{
    int ev = 0;
    size_t len = sizeof ev;
    return s && zmq_getsockopt(s, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN);
}

static void *run(void *arg)
{
    struct rw_delivery *d = arg;
    int zfd = -1;
    size_t zlen = sizeof zfd;
    if (zmq_getsockopt(d->rx, ZMQ_FD, &zfd, &zlen) < 0)
        zfd = -1;
    for (;;) {
        if (!d->draining) {
            read_pipe(d);
            if (!d->draining && atomic_load(&d->stop))
                begin_drain(d);
        }
        if (d->control)
            rw_control_serve(d->control, handle_control, d, CONTROL_BATCH);
        if (!d->event_time)
            rw_dispatch_due(d->disp, rw_wall_ms(), on_flush, d);
        periodic(d);
        schedule(d);
        int running = 0;
        curl_multi_perform(d->multi, &running);
        reap(d);
        schedule(d); /* slots freed by completions */
        publish(d);
        if (d->draining && drain_done(d))
            break;

        int64_t wait = next_wake(d);
        struct curl_waitfd wfd[2];
        unsigned nextra = 0;
        if (!d->draining && zfd >= 0) {
            /* Last zmq calls before blocking: ZMQ_FD only signals edges. */
            if (zmq_readable(d->rx))
                wait = 0;
            wfd[nextra++] = (struct curl_waitfd){.fd = zfd, .events = CURL_WAIT_POLLIN};
        }
        int cfd = rw_control_fd(d->control);
        if (cfd >= 0) {
            if (rw_control_readable(d->control))
                wait = 0;
            wfd[nextra++] = (struct curl_waitfd){.fd = cfd, .events = CURL_WAIT_POLLIN};
        }
        curl_multi_poll(d->multi, nextra ? wfd : NULL, nextra, (int)wait, NULL);
    }
    /* Whatever is in flight or queued stays pending on disk: the next start
     * sends it, with the same webhook-id. */
    for (int i = 0; i < d->nrcv; i++) {
        struct receiver *r = &d->rcv[i];
        struct xfer *x;
        while ((x = unpark(d, r)))
            xfer_free(x);
    }
    while (d->live) {
        struct xfer *x = d->live;
        curl_multi_remove_handle(d->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        live_unlink(d, x);
        d->inflight--;
        d->rcv[x->rcv].inflight--;
        xfer_free(x);
    }
    /* What the groups still hold (firing alerts, their notification log)
     * comes back at the next start. */
    journal_compact(d, "stop");
    publish(d);
    struct rw_outbox_stats os;
    rw_outbox_stats(d->ob, &os);
    if (os.depth)
        rw_log(RW_LOG_WARN, LOG_COMP,
               "msg=\"stopping with notifications not yet delivered; they stay in the outbox and "
               "go out after the next start\" pending=%llu",
               (unsigned long long)os.depth);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------ */

static void close_socket(void **s)
{
    if (*s) {
        int zero = 0;
        zmq_setsockopt(*s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(*s);
        *s = NULL;
    }
}

static void free_all(struct rw_delivery *d)
{
    close_socket(&d->tx);
    close_socket(&d->rx);
    rw_control_close(&d->control);
    rw_dispatch_destroy(&d->disp);
    rw_journal_close(&d->journal);
    for (int i = 0; i < d->nbatch; i++)
        json_decref(d->batch[i].am);
    free(d->batch);
    rw_inhibitor_destroy(&d->inhibitor);
    rw_silences_close(&d->silences);
    rw_outbox_close(&d->ob);
    rw_history_close(&d->hist);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free_receivers(d->rcv, d->nrcv);
    free(d->external_url);
    free(d);
}

/* The receivers of o, checked and copied; logs what cannot send. */
static struct receiver *build_receivers(const struct rw_delivery_opts *o, char *err, size_t errlen)
{
    struct receiver *rcv = calloc((size_t)(o->nreceivers > 0 ? o->nreceivers : 1), sizeof *rcv);
    if (!rcv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < o->nreceivers; i++) {
        struct receiver *r = &rcv[i];
        r->cfg = o->receivers[i];
        r->cfg.name[sizeof r->cfg.name - 1] = '\0';
        r->cfg.type[sizeof r->cfg.type - 1] = '\0';
        r->cfg.url[sizeof r->cfg.url - 1] = '\0';
        r->cfg.url_env[sizeof r->cfg.url_env - 1] = '\0';
        r->cfg.missing[sizeof r->cfg.missing - 1] = '\0';
        r->nt = rw_notifier_find(r->cfg.type);
        if (!r->nt) {
            snprintf(err, errlen, "receiver %s: unknown notifier type '%s'", r->cfg.name,
                     r->cfg.type);
            goto fail;
        }
        if (r->cfg.resend_interval <= 0)
            r->cfg.resend_interval = 60;
        r->usable = r->cfg.url[0] && !r->cfg.missing[0];
        r->avg_ms = 100;
        r->is_am = strcmp(r->cfg.type, "alertmanager") == 0;
        if (r->is_am && (!(r->firing = json_object()) || !(r->resolved = json_object()))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (int i = 0; i < o->nreceivers; i++) {
        const struct receiver *r = &rcv[i];
        if (r->cfg.missing[0])
            rw_log(RW_LOG_ERROR, LOG_COMP,
                   "msg=\"receiver cannot send, its notifications count as failed\" receiver=%s "
                   "reason=\"%s\"",
                   r->cfg.name, r->cfg.missing);
        else if (!r->cfg.url[0])
            rw_log(RW_LOG_WARN, LOG_COMP, "msg=\"receiver skipped: $%s is not set\" receiver=%s",
                   r->cfg.url_env, r->cfg.name);
        if (r->cfg.tls_insecure)
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"TLS VERIFICATION IS OFF (tls_verify = false): anyone on the path can "
                   "read and forge this receiver's traffic\" receiver=%s",
                   r->cfg.name);
    }
    return rcv;
fail:
    free_receivers(rcv, o->nreceivers);
    return NULL;
}

struct rw_delivery *rw_delivery_new(void *zmq_ctx, const struct rw_delivery_opts *o, char *err,
                                    size_t errlen)
{
    char msg[1024];
    if (!zmq_ctx || !o || !o->route || !o->state_dir || !o->state_dir[0] || o->nreceivers < 0 ||
        (o->nreceivers > 0 && !o->receivers) || (o->ninhibit > 0 && !o->inhibit)) {
        snprintf(err, errlen,
                 "delivery: bad options (a route tree and a state directory are needed)");
        return NULL;
    }
    struct rw_delivery *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->event_time = o->event_time;
    d->app_control = o->app_control;
    d->app_status = o->app_status;
    d->app_ud = o->app_ud;
    d->started_wall_ms = rw_wall_ms();
    d->external_url = strdup(o->external_url ? o->external_url : "");
    if (!d->external_url) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (snprintf(d->state_dir, sizeof d->state_dir, "%s", o->state_dir) >=
            (int)sizeof d->state_dir ||
        rw_delivery_outbox_dir(o->state_dir, d->outbox_dir, sizeof d->outbox_dir)) {
        snprintf(err, errlen, "state directory path too long: %s", o->state_dir);
        goto fail;
    }
    if (!(d->rcv = build_receivers(o, err, errlen)))
        goto fail;
    d->nrcv = o->nreceivers;
    /* 0700: silences, notification bodies and the control socket live here. */
    if (mkdir(d->state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the state directory %s: %s (set notify.state_dir)",
                 d->state_dir, strerror(errno));
        goto fail;
    }
    struct rw_outbox_limits lim = o->outbox;
    if (!lim.max_body)
        lim.max_body = DEFAULT_MAX_BODY;
    if (!(d->ob = rw_outbox_open(d->outbox_dir, &lim, msg, sizeof msg))) {
        snprintf(err, errlen, "%s", msg);
        goto fail;
    }
    char warn[512] = "";
    if (!(d->silences = rw_silences_open(d->state_dir, NULL, rw_wall_ms(), warn, sizeof warn, msg,
                                         sizeof msg))) {
        snprintf(err, errlen, "silences: %s", msg);
        goto fail;
    }
    if (warn[0])
        rw_log(RW_LOG_WARN, LOG_COMP, "msg=\"silences: %s\"", warn);
    if (o->ninhibit > 0 && !(d->inhibitor = rw_inhibitor_new(o->inhibit, o->ninhibit, 0))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct rw_dispatch_opts dopts = {.external_url = d->external_url};
    if (!(d->disp = rw_dispatch_new(o->route, &dopts))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rw_dispatch_set_mutes(d->disp, d->silences, d->inhibitor);
    d->journal_slack = o->journal_slack ? o->journal_slack : JOURNAL_SLACK_DEFAULT;
    if (!(d->batch = calloc(RECV_BATCH, sizeof *d->batch))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!d->event_time && journal_start(d, err, errlen) < 0)
        goto fail;
    if (o->history && o->history[0] &&
        !(d->hist = rw_history_open(o->history, o->history_max_bytes, err, errlen)))
        goto fail;
    if (o->control && !(d->control = rw_control_bind(zmq_ctx, d->state_dir, err, errlen)))
        goto fail;
    if (!(d->multi = curl_multi_init())) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto fail;
    }

    snprintf(d->endpoint, sizeof d->endpoint, "inproc://rw-delivery-%p-%u", (void *)d,
             atomic_fetch_add(&instance_seq, 1));
    d->tx = zmq_socket(zmq_ctx, ZMQ_PAIR);
    d->rx = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!d->tx || !d->rx) {
        snprintf(err, errlen, "cannot create the hand-over pipe: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int hwm = PIPE_HWM / 2, zero = 0; /* an inproc pipe holds SNDHWM + RCVHWM */
    zmq_setsockopt(d->tx, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->rx, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->tx, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d->rx, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(d->tx, d->endpoint) < 0 || zmq_connect(d->rx, d->endpoint) < 0) {
        snprintf(err, errlen, "cannot set up the hand-over pipe: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    d->rng = (uint64_t)(uintptr_t)d ^ ((uint64_t)rw_wall_ms() << 20) ^ (uint64_t)rw_mono_ms();
    if (!d->rng)
        d->rng = 0x9E3779B97F4A7C15ULL;
    publish(d);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        snprintf(err, errlen, "cannot start the delivery thread");
        goto fail;
    }
    d->started = 1;
    struct rw_outbox_stats os;
    rw_outbox_stats(d->ob, &os);
    rw_log(RW_LOG_INFO, LOG_COMP,
           "msg=\"started\" state_dir=%s receivers=%d pending=%llu control=%s event_time=%d",
           d->state_dir, d->nrcv, (unsigned long long)os.depth, o->control ? "on" : "off",
           d->event_time);
    return d;
fail:
    free_all(d);
    return NULL;
}

static void reload_free(struct reload *rl)
{
    if (!rl)
        return;
    free_receivers(rl->rcv, rl->nrcv);
    rw_inhibitor_destroy(&rl->inhibitor);
    rw_dispatch_destroy(&rl->disp);
    free(rl->external_url);
    free(rl);
}

int rw_delivery_reload(struct rw_delivery *d, const struct rw_delivery_opts *o, char *err,
                       size_t errlen)
{
    if (!d || !d->started || !o || !o->route || o->nreceivers < 0 ||
        (o->nreceivers > 0 && !o->receivers) || (o->ninhibit > 0 && !o->inhibit)) {
        snprintf(err, errlen, "reload: bad options (a route tree is needed)");
        return -EINVAL;
    }
    if (o->state_dir && o->state_dir[0] && strcmp(o->state_dir, d->state_dir) != 0) {
        snprintf(err, errlen,
                 "reload: notify.state_dir cannot change while running (%s -> %s): restart "
                 "rumwatch to move it",
                 d->state_dir, o->state_dir);
        return -EINVAL;
    }
    struct reload *rl = calloc(1, sizeof *rl);
    if (!rl) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rl->nrcv = o->nreceivers;
    rl->external_url = strdup(o->external_url ? o->external_url : "");
    struct rw_dispatch_opts dopts = {.external_url = rl->external_url};
    if (!rl->external_url || !(rl->rcv = build_receivers(o, err, errlen)) ||
        (o->ninhibit > 0 && !(rl->inhibitor = rw_inhibitor_new(o->inhibit, o->ninhibit, 0))) ||
        !(rl->disp = rw_dispatch_new(o->route, &dopts))) {
        if (rl->rcv || !rl->external_url)
            snprintf(err, errlen, "out of memory");
        reload_free(rl);
        return -ENOMEM;
    }
    /* Behind every alert already submitted; then wait for the answer: the
     * caller may free the old route tree only once the thread let go of it. */
    char msg[RELOAD_LEN + sizeof rl];
    memcpy(msg, RELOAD_MSG, RELOAD_LEN);
    memcpy(msg + RELOAD_LEN, &rl, sizeof rl);
    int to = 5000;
    zmq_setsockopt(d->tx, ZMQ_SNDTIMEO, &to, sizeof to);
    if (zmq_send(d->tx, msg, sizeof msg, 0) < 0) {
        snprintf(err, errlen,
                 "reload: the delivery thread's queue stayed full for 5 s (%s); the old config "
                 "stays in use, try again",
                 zmq_strerror(zmq_errno()));
        reload_free(rl);
        return -EAGAIN;
    }
    char ack;
    while (zmq_recv(d->tx, &ack, 1, 0) < 0 && zmq_errno() == EINTR) {
    }
    int rc = rl->rc;
    if (rc)
        snprintf(err, errlen, "%s", rl->msg);
    reload_free(rl);
    return rc;
}

int rw_delivery_submit(struct rw_delivery *d, const char *alert_json)
{
    if (!d || !alert_json || !*alert_json)
        return -EINVAL;
    if (zmq_send(d->tx, alert_json, strlen(alert_json), ZMQ_DONTWAIT) >= 0)
        return 0;
    int err = zmq_errno();
    atomic_fetch_add_explicit(&d->dropped_submit, 1, memory_order_relaxed);
    uint64_t supp = 0;
    if (rw_log_min_level <= RW_LOG_WARN && rw_ratelimit_ok(&d->rl_submit, LOG_INTERVAL_MS, &supp))
        rw_log_write(RW_LOG_WARN, LOG_COMP,
                     "msg=\"hand-over queue full, alert dropped\" error=\"%s\" suppressed=%llu",
                     zmq_strerror(err), (unsigned long long)supp);
    return err == EAGAIN ? -EAGAIN : -err;
}

void rw_delivery_destroy(struct rw_delivery **dp, int drain_ms)
{
    if (!dp || !*dp)
        return;
    struct rw_delivery *d = *dp;
    *dp = NULL;
    if (d->started) {
        if (drain_ms < 0)
            drain_ms = 0;
        atomic_store(&d->deadline_ms, rw_mono_ms() + drain_ms);
        /* The drain message queues behind every alert already submitted, so
         * the thread sees them all first. Block for it (the thread keeps
         * reading), but not forever. */
        int to = drain_ms + 1000;
        zmq_setsockopt(d->tx, ZMQ_SNDTIMEO, &to, sizeof to);
        if (zmq_send(d->tx, DRAIN_MSG, DRAIN_LEN, 0) < 0)
            atomic_store(&d->stop, 1);
        pthread_join(d->thread, NULL);
        /* Whatever the thread never read is lost: count it, say so. */
        uint64_t left = 0;
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, d->rx, ZMQ_DONTWAIT) >= 0) {
            if (!(zmq_msg_size(&m) == DRAIN_LEN &&
                  memcmp(zmq_msg_data(&m), DRAIN_MSG, DRAIN_LEN) == 0))
                left++;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
        }
        zmq_msg_close(&m);
        if (left) {
            atomic_fetch_add(&d->dropped_submit, left);
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"shutdown: alerts never handed to the pipeline, dropped\" count=%llu",
                   (unsigned long long)left);
        }
    }
    free_all(d);
}
