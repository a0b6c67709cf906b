/* Delivery core: one background thread per rw_delivery that turns alert
 * lines into HTTP requests (via the notifiers) and sends them with the
 * libcurl multi interface, with per-attempt timeouts and retries.
 *
 * Threads and ownership
 *   - The engine thread owns `tx` (PAIR, bound) and only ever calls
 *     zmq_send on it; rw_delivery_new creates both sockets on the engine
 *     thread and connects them before the delivery thread starts, so `rx`
 *     migrates to the delivery thread with pthread_create's barrier.
 *   - Everything below "delivery thread only" in struct rw_delivery is
 *     touched by the delivery thread alone (and by destroy after join).
 *   - Counters are C11 atomics, the only state both threads read.
 *
 * Jobs
 *   One job = one formatted request for one receiver. Jobs sit in a single
 *   list in creation order (oldest first) whether waiting or in flight, so
 *   "oldest first" is both the send order and the drop order when the queue
 *   cap is hit. At most MAX_INFLIGHT transfers run at once and at most
 *   MAX_INFLIGHT_PER_RECEIVER per receiver, so a receiver that hangs until
 *   its timeout holds a few slots, never all of them.
 *   Order between alerts is not guaranteed once a retry happens; receivers
 *   should use the alert's ts/state/fingerprint.
 *
 * Waiting
 *   curl_multi_poll() waits on curl's sockets plus the zmq socket's ZMQ_FD.
 *   ZMQ_FD is edge-triggered and only says "look at ZMQ_EVENTS", so the
 *   loop reads the pipe until EAGAIN (or a batch limit) and checks
 *   ZMQ_EVENTS as the very last zmq call before blocking; if a message is
 *   already there it does not block at all. The wait is also capped at the
 *   next retry time and at POLL_MAX_MS.
 */
#include "notifiers/delivery.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "engine/log.h"
#include "notifiers/alertmodel.h"
#include "notifiers/sign.h"

#ifndef RW_VERSION
#define RW_VERSION "dev"
#endif

#define LOG_COMP "delivery"

enum {
    QUEUE_MAX = 10000,             /* waiting jobs; beyond, the oldest is dropped */
    MAX_INFLIGHT = 8,              /* transfers at once, all receivers */
    MAX_INFLIGHT_PER_RECEIVER = 4, /* so one hanging receiver leaves room */
    PIPE_HWM = 100000,             /* alerts buffered between the threads */
    RECV_BATCH = 1000,             /* alerts read per wake-up, so timers run */
    POLL_MAX_MS = 100,
    LOG_INTERVAL_MS = 1000,
    RESP_KEEP = 120, /* bytes of an error response kept for the log */
};

#define MAX_DELAY_S 86400.0

/* Control frame: a JSON text never starts with NUL. */
static const char DRAIN_MSG[] = "\0DRAIN";
#define DRAIN_LEN (sizeof DRAIN_MSG - 1)

struct job {
    struct job *prev, *next;
    int rcv;    /* index into d->rcv */
    char *url;  /* owned, from the notifier */
    char *body; /* owned, from the notifier */
    size_t body_len;
    const char *content_type;
    int nhdr;
    char *hdr[RW_HTTP_MAX_HEADERS]; /* owned: the receiver's custom headers */
    char msg_id[RW_SIGN_ID_MAX];    /* webhook-id: the same on every attempt */
    int attempts;   /* attempts started */
    int64_t due_ms; /* monotonic time the next attempt may start */
    CURL *easy;     /* non-NULL while in flight */
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    char resp[RESP_KEEP + 1];
    size_t resp_len;
};

struct receiver {
    struct rw_notifier_cfg cfg;
    const struct rw_notifier *nt;
    int inflight;
    struct rw_ratelimit rl_retry; /* per receiver, so one noisy receiver hides no other */
    struct rw_ratelimit rl_fail;
};

struct rw_delivery {
    void *tx; /* engine thread */
    void *rx; /* delivery thread */
    char endpoint[96];
    struct receiver *rcv;
    int nrcv;
    CURLM *multi;
    pthread_t thread;
    int started;
    struct rw_ratelimit rl_submit; /* engine thread */

    /* delivery thread only */
    struct job *head, *tail;
    size_t njobs;    /* in the list (waiting + in flight) */
    size_t nwaiting; /* not in flight */
    int inflight;
    uint64_t rng;
    int draining;
    int64_t drain_deadline;
    struct rw_ratelimit rl_bad, rl_drop;

    /* shared */
    _Atomic uint64_t submitted, sent, failed, retried, dropped, pending;
    _Atomic int64_t deadline_ms; /* set by destroy before the drain message */
    atomic_int stop;             /* fallback if the drain message cannot be sent */
};

static atomic_uint instance_seq;

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void uncount(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

/* xorshift64*: jitter only, no need for more. */
static double rand01(struct rw_delivery *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- the job list -------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    curl_slist_free_all(j->hdrs);
    free(j->url);
    free(j->body);
    for (int i = 0; i < j->nhdr; i++)
        free(j->hdr[i]);
    free(j);
}

static void list_unlink(struct rw_delivery *d, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        d->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        d->tail = j->prev;
    j->prev = j->next = NULL;
    d->njobs--;
}

/* Done with a job (sent, failed or dropped): it leaves `pending`. */
static void job_finish(struct rw_delivery *d, struct job *j)
{
    if (!j->easy)
        d->nwaiting--;
    list_unlink(d, j);
    uncount(&d->pending, 1);
    job_free(j);
}

static void drop_oldest_waiting(struct rw_delivery *d)
{
    for (struct job *j = d->head; j; j = j->next) {
        if (j->easy)
            continue;
        uint64_t supp = 0;
        if (rw_log_min_level <= RW_LOG_WARN && rw_ratelimit_ok(&d->rl_drop, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_WARN, LOG_COMP,
                         "msg=\"queue full, dropping oldest\" receiver=%s cap=%d suppressed=%llu",
                         d->rcv[j->rcv].cfg.name, QUEUE_MAX, (unsigned long long)supp);
        count(&d->dropped, 1);
        job_finish(d, j);
        return;
    }
}

static void enqueue(struct rw_delivery *d, int rcv, struct rw_http_req *req)
{
    if (d->nwaiting >= QUEUE_MAX)
        drop_oldest_waiting(d);
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        count(&d->submitted, 1);
        count(&d->failed, 1);
        rw_http_req_clear(req);
        return;
    }
    j->rcv = rcv;
    j->url = req->url; /* ownership moves to the job */
    j->body = req->body;
    j->body_len = req->body_len;
    j->content_type = req->content_type ? req->content_type : "application/json";
    j->nhdr = req->nheaders;
    memcpy(j->hdr, req->headers, sizeof j->hdr);
    req->url = NULL;
    req->body = NULL;
    req->nheaders = 0;
    rw_http_req_clear(req);
    if (rw_sign_new_id(j->msg_id, sizeof j->msg_id) < 0)
        j->msg_id[0] = '\0'; /* only used when signing, which then fails the attempt */
    j->due_ms = rw_mono_ms();
    j->prev = d->tail;
    if (d->tail)
        d->tail->next = j;
    else
        d->head = j;
    d->tail = j;
    d->njobs++;
    d->nwaiting++;
    count(&d->submitted, 1);
    count(&d->pending, 1);
}

/* ---- alerts in ------------------------------------------------------------ */

static void handle_alert(struct rw_delivery *d, const char *text, size_t len)
{
    json_error_t err;
    json_t *alert = json_loadb(text, len, 0, &err);
    if (!json_is_object(alert)) {
        uint64_t supp = 0;
        if (rw_log_min_level <= RW_LOG_ERROR && rw_ratelimit_ok(&d->rl_bad, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_ERROR, LOG_COMP,
                         "msg=\"alert is not a JSON object, ignored\" error=\"%s\" suppressed=%llu",
                         alert ? "not an object" : err.text, (unsigned long long)supp);
        json_decref(alert);
        return;
    }
    const char *state = json_string_value(json_object_get(alert, "state"));
    int resolved = state && strcmp(state, "resolved") == 0;
    int sev = rw_severity_parse(json_string_value(json_object_get(alert, "severity")));
    if (sev < 0)
        sev = 1; /* unknown severity: treat as "warning" */

    for (int i = 0; i < d->nrcv; i++) {
        struct receiver *r = &d->rcv[i];
        if (sev < r->cfg.min_severity || (resolved && !r->cfg.send_resolved))
            continue;
        if (r->cfg.missing[0]) { /* a secret it needs is not there: never send without */
            count(&d->submitted, 1);
            count(&d->failed, 1);
            continue;
        }
        /* One alert line = one notification of one alert, until the grouper
         * builds real groups. */
        struct rw_http_req req;
        json_t *n = rw_notification_single(r->cfg.name, alert, NULL);
        int rc = n ? r->nt->format(&r->cfg, n, &req) : -ENOMEM;
        json_decref(n);
        if (rc < 0) {
            count(&d->submitted, 1);
            count(&d->failed, 1);
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"cannot format alert\" receiver=%s error=%d",
                   r->cfg.name, rc);
            continue;
        }
        enqueue(d, i, &req);
    }
    json_decref(alert);
}

static void begin_drain(struct rw_delivery *d)
{
    d->draining = 1;
    d->drain_deadline = atomic_load(&d->deadline_ms);
}

static void read_pipe(struct rw_delivery *d)
{
    /* Past the shutdown deadline, alerts still queued ahead of the drain
     * message are counted as dropped without being formatted: formatting
     * thousands of them would only delay the exit. */
    int64_t dl = atomic_load(&d->deadline_ms);
    int late = dl != 0 && rw_mono_ms() > dl;
    for (int i = 0; i < RECV_BATCH && !d->draining; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, d->rx, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        const char *data = zmq_msg_data(&m);
        size_t len = zmq_msg_size(&m);
        if (len == DRAIN_LEN && memcmp(data, DRAIN_MSG, DRAIN_LEN) == 0)
            begin_drain(d);
        else if (len > 0 && late)
            count(&d->dropped, (uint64_t)d->nrcv);
        else if (len > 0)
            handle_alert(d, data, len);
        zmq_msg_close(&m);
    }
}

/* ---- transfers ------------------------------------------------------------ */

static size_t on_response(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    size_t room = RESP_KEEP - j->resp_len;
    size_t take = n < room ? n : room;
    memcpy(j->resp + j->resp_len, ptr, take);
    j->resp_len += take;
    j->resp[j->resp_len] = '\0';
    return n;
}

static int start_job(struct rw_delivery *d, struct job *j)
{
    struct receiver *r = &d->rcv[j->rcv];
    const struct rw_notifier_cfg *c = &r->cfg;
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", j->content_type);
    long timeout_ms = (c->timeout > 0 && c->timeout < 86400) ? (long)(c->timeout * 1000.0) : 5000;
    if (timeout_ms < 1)
        timeout_ms = 1;

    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, ct);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL; /* no 100-continue wait */
    for (int i = 0; i < j->nhdr && h2; i++) {
        struct curl_slist *t = curl_slist_append(h2, j->hdr[i]);
        if (!t) {
            curl_slist_free_all(h2);
            h = h2 = NULL;
        }
        h2 = t;
    }
    if (h2 && c->secret_len > 0) {
        /* Signed per attempt: receivers reject stale timestamps, so a retry
         * an hour later needs a fresh one; the id stays the same. */
        int64_t ts = rw_wall_ms() / 1000;
        char sig[RW_SIGN_SIG_MAX], line[RW_SIGN_SIG_MAX + RW_SIGN_ID_MAX + 32];
        int rc = j->msg_id[0] ? rw_sign_compute(c->secret, c->secret_len, j->msg_id, ts, j->body,
                                                j->body_len, sig, sizeof sig)
                              : -EIO;
        struct curl_slist *t = NULL;
        if (rc == 0) {
            snprintf(line, sizeof line, "webhook-id: %s", j->msg_id);
            t = curl_slist_append(h2, line);
            snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)ts);
            t = t ? curl_slist_append(t, line) : NULL;
            snprintf(line, sizeof line, "webhook-signature: %s", sig);
            t = t ? curl_slist_append(t, line) : NULL;
        }
        if (!t) {
            curl_slist_free_all(h2);
            h = h2 = NULL;
        }
    }
    if (!e || !h2) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h2 ? h2 : h);
        return -ENOMEM;
    }
    j->errbuf[0] = '\0';
    j->resp_len = 0;
    j->resp[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, j->url ? j->url : c->url);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_insecure ? 0L : 2L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "rumwatch/" RW_VERSION);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h2);
        return -ENOMEM;
    }
    j->easy = e;
    j->hdrs = h2;
    j->attempts++;
    d->nwaiting--;
    d->inflight++;
    r->inflight++;
    return 0;
}

/* Start every due job that fits the concurrency limits. Returns the
 * earliest due time among waiting jobs that could start once due
 * (INT64_MAX if none): the poll must wake up by then. */
static int64_t start_due(struct rw_delivery *d)
{
    int64_t now = rw_mono_ms(), next = INT64_MAX;
    for (struct job *j = d->head; j; j = j->next) {
        int busy = d->rcv[j->rcv].inflight;
        /* Past the global limit a receiver with nothing in flight may still
         * start one: receivers hanging until their timeout must not starve
         * a healthy one. */
        if (j->easy || busy >= MAX_INFLIGHT_PER_RECEIVER || (d->inflight >= MAX_INFLIGHT && busy > 0))
            continue;
        if (j->due_ms > now) {
            if (j->due_ms < next)
                next = j->due_ms;
            continue;
        }
        if (start_job(d, j) < 0) {
            j->due_ms = now + POLL_MAX_MS; /* out of memory: try again shortly */
            if (j->due_ms < next)
                next = j->due_ms;
        }
    }
    return next;
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

static double retry_delay(struct rw_delivery *d, const struct rw_notifier_cfg *c, int attempts,
                          long status, curl_off_t retry_after)
{
    double cap = c->max_backoff > 0 ? c->max_backoff : MAX_DELAY_S;
    double base = c->backoff > 0 ? c->backoff : 0;
    double delay = base * pow(2.0, attempts - 1); /* first retry waits `backoff` */
    if (!(delay <= cap))
        delay = cap;
    delay *= 0.75 + 0.5 * rand01(d);
    if (delay > cap)
        delay = cap;
    /* A receiver that says when to come back is believed, within the cap. */
    if ((status == 429 || status == 503) && retry_after > 0) {
        double ra = (double)retry_after;
        if (ra > cap)
            ra = cap;
        if (ra > delay)
            delay = ra;
    }
    return delay;
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
    struct job *j = (struct job *)priv;
    curl_multi_remove_handle(d->multi, e);
    curl_easy_cleanup(e);
    if (!j)
        return;
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    j->easy = NULL;
    d->nwaiting++;
    d->inflight--;
    struct receiver *r = &d->rcv[j->rcv];
    r->inflight--;

    enum rw_delivery_class cls = r->nt->classify(status, (int)cc);
    if (cls == RW_DELIVERY_OK) {
        count(&d->sent, 1);
        job_finish(d, j);
        return;
    }

    char why[CURL_ERROR_SIZE + RESP_KEEP + 8];
    log_safe(why, sizeof why,
             cc != CURLE_OK ? (j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc)) : j->resp);
    int max_attempts = 1 + (r->cfg.retries > 0 ? r->cfg.retries : 0);
    uint64_t supp = 0;
    if (cls == RW_DELIVERY_RETRY && j->attempts < max_attempts) {
        double delay = retry_delay(d, &r->cfg, j->attempts, status, retry_after);
        j->due_ms = rw_mono_ms() + (int64_t)(delay * 1000.0 + 0.5);
        count(&d->retried, 1);
        if (rw_log_min_level <= RW_LOG_WARN &&
            rw_ratelimit_ok(&r->rl_retry, LOG_INTERVAL_MS, &supp))
            rw_log_write(RW_LOG_WARN, LOG_COMP,
                         "msg=\"delivery failed, will retry\" receiver=%s status=%ld curl=%d "
                         "error=\"%s\" attempt=%d/%d retry_in_ms=%lld suppressed=%llu",
                         r->cfg.name, status, (int)cc, why, j->attempts, max_attempts,
                         (long long)(delay * 1000.0 + 0.5), (unsigned long long)supp);
        return;
    }
    count(&d->failed, 1);
    if (rw_log_min_level <= RW_LOG_ERROR && rw_ratelimit_ok(&r->rl_fail, LOG_INTERVAL_MS, &supp))
        rw_log_write(RW_LOG_ERROR, LOG_COMP,
                     "msg=\"delivery failed, giving up\" receiver=%s status=%ld curl=%d "
                     "error=\"%s\" attempt=%d/%d reason=%s suppressed=%llu",
                     r->cfg.name, status, (int)cc, why, j->attempts, max_attempts,
                     cls == RW_DELIVERY_RETRY ? "retries_exhausted" : "permanent",
                     (unsigned long long)supp);
    job_finish(d, j);
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

/* During a drain: is there anything left that could still finish in time? */
static int drain_hopeless(const struct rw_delivery *d)
{
    if (d->inflight > 0)
        return 0;
    for (const struct job *j = d->head; j; j = j->next)
        if (j->due_ms < d->drain_deadline)
            return 0;
    return 1;
}

static void drop_all(struct rw_delivery *d)
{
    uint64_t n = 0;
    while (d->head) {
        struct job *j = d->head;
        if (j->easy) {
            curl_multi_remove_handle(d->multi, j->easy);
            curl_easy_cleanup(j->easy);
            j->easy = NULL;
            d->inflight--;
            d->rcv[j->rcv].inflight--;
            d->nwaiting++;
        }
        job_finish(d, j);
        n++;
    }
    if (n) {
        count(&d->dropped, n);
        rw_log(RW_LOG_WARN, LOG_COMP,
               "msg=\"shutdown: undelivered notifications dropped\" count=%llu",
               (unsigned long long)n);
    }
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
        start_due(d);
        int running = 0;
        curl_multi_perform(d->multi, &running);
        reap(d);
        int64_t next = start_due(d); /* slots freed by completions */

        int64_t now = rw_mono_ms();
        if (d->draining && (d->njobs == 0 || now >= d->drain_deadline || drain_hopeless(d)))
            break;

        int64_t wait = POLL_MAX_MS;
        if (next != INT64_MAX && next - now < wait)
            wait = next - now;
        if (d->draining && d->drain_deadline - now < wait)
            wait = d->drain_deadline - now;
        if (wait < 0)
            wait = 0;

        struct curl_waitfd wfd = {.fd = zfd, .events = CURL_WAIT_POLLIN, .revents = 0};
        unsigned nextra = 0;
        if (!d->draining && zfd >= 0) {
            /* Last zmq call before blocking: ZMQ_FD only signals edges. */
            int ev = 0;
            size_t evlen = sizeof ev;
            if (zmq_getsockopt(d->rx, ZMQ_EVENTS, &ev, &evlen) == 0 && (ev & ZMQ_POLLIN))
                wait = 0;
            nextra = 1;
        }
        curl_multi_poll(d->multi, nextra ? &wfd : NULL, nextra, (int)wait, NULL);
    }
    drop_all(d);
    return NULL;
}

/* ---- public API ----------------------------------------------------------- */

static void close_socket(void **s)
{
    if (*s) {
        int zero = 0;
        zmq_setsockopt(*s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(*s);
        *s = NULL;
    }
}

struct rw_delivery *rw_delivery_new(void *zmq_ctx, const struct rw_notifier_cfg *cfgs, int ncfg)
{
    if (!zmq_ctx || ncfg < 0 || (ncfg > 0 && !cfgs))
        return NULL;
    struct rw_delivery *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->rcv = calloc((size_t)(ncfg > 0 ? ncfg : 1), sizeof *d->rcv);
    if (!d->rcv)
        goto fail;
    d->nrcv = ncfg;
    for (int i = 0; i < ncfg; i++) {
        struct receiver *r = &d->rcv[i];
        r->cfg = cfgs[i];
        r->cfg.name[sizeof r->cfg.name - 1] = '\0';
        r->cfg.type[sizeof r->cfg.type - 1] = '\0';
        r->cfg.url[sizeof r->cfg.url - 1] = '\0';
        r->cfg.url_env[sizeof r->cfg.url_env - 1] = '\0';
        r->nt = rw_notifier_find(r->cfg.type);
        if (!r->nt) {
            rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"unknown notifier type\" receiver=%s type=%s",
                   r->cfg.name, r->cfg.type);
            goto fail;
        }
        r->cfg.missing[sizeof r->cfg.missing - 1] = '\0';
        if (!r->cfg.url[0])
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"receiver has no url, sends will fail\" receiver=%s", r->cfg.name);
        if (r->cfg.missing[0])
            rw_log(RW_LOG_ERROR, LOG_COMP,
                   "msg=\"receiver cannot send, its notifications count as failed\" receiver=%s "
                   "reason=\"%s\"",
                   r->cfg.name, r->cfg.missing);
        if (r->cfg.tls_insecure)
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"TLS VERIFICATION IS OFF (tls_verify = false): anyone on the path can "
                   "read and forge this receiver's traffic\" receiver=%s",
                   r->cfg.name);
    }
    d->multi = curl_multi_init();
    if (!d->multi)
        goto fail;

    snprintf(d->endpoint, sizeof d->endpoint, "inproc://rw-delivery-%p-%u", (void *)d,
             atomic_fetch_add(&instance_seq, 1));
    d->tx = zmq_socket(zmq_ctx, ZMQ_PAIR);
    d->rx = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!d->tx || !d->rx)
        goto fail;
    int hwm = PIPE_HWM / 2, zero = 0; /* an inproc pipe holds SNDHWM + RCVHWM */
    zmq_setsockopt(d->tx, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->rx, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->tx, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d->rx, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(d->tx, d->endpoint) < 0 || zmq_connect(d->rx, d->endpoint) < 0) {
        rw_log(RW_LOG_ERROR, LOG_COMP, "msg=\"cannot set up hand-over pipe\" error=\"%s\"",
               zmq_strerror(zmq_errno()));
        goto fail;
    }
    d->rng = (uint64_t)(uintptr_t)d ^ ((uint64_t)rw_wall_ms() << 20) ^ (uint64_t)rw_mono_ms();
    if (!d->rng)
        d->rng = 0x9E3779B97F4A7C15ULL;
    if (pthread_create(&d->thread, NULL, run, d) != 0)
        goto fail;
    d->started = 1;
    return d;

fail:
    close_socket(&d->tx);
    close_socket(&d->rx);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free(d->rcv);
    free(d);
    return NULL;
}

int rw_delivery_submit(struct rw_delivery *d, const char *alert_json)
{
    if (!d || !alert_json || !*alert_json)
        return -EINVAL;
    if (zmq_send(d->tx, alert_json, strlen(alert_json), ZMQ_DONTWAIT) >= 0)
        return 0;
    int err = zmq_errno();
    count(&d->dropped, 1);
    uint64_t supp = 0;
    if (rw_log_min_level <= RW_LOG_WARN && rw_ratelimit_ok(&d->rl_submit, LOG_INTERVAL_MS, &supp))
        rw_log_write(RW_LOG_WARN, LOG_COMP,
                     "msg=\"hand-over queue full, alert dropped\" error=\"%s\" suppressed=%llu",
                     zmq_strerror(err), (unsigned long long)supp);
    return err == EAGAIN ? -EAGAIN : -err;
}

void rw_delivery_stats(const struct rw_delivery *d, struct rw_delivery_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    out->submitted = atomic_load_explicit(&d->submitted, memory_order_relaxed);
    out->sent = atomic_load_explicit(&d->sent, memory_order_relaxed);
    out->failed = atomic_load_explicit(&d->failed, memory_order_relaxed);
    out->retried = atomic_load_explicit(&d->retried, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&d->dropped, memory_order_relaxed);
    out->pending = atomic_load_explicit(&d->pending, memory_order_relaxed);
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
            if (!(zmq_msg_size(&m) == DRAIN_LEN && memcmp(zmq_msg_data(&m), DRAIN_MSG, DRAIN_LEN) == 0))
                left++;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
        }
        zmq_msg_close(&m);
        if (left) {
            count(&d->dropped, left * (uint64_t)d->nrcv);
            rw_log(RW_LOG_WARN, LOG_COMP,
                   "msg=\"shutdown: alerts never handed to a receiver, dropped\" count=%llu",
                   (unsigned long long)left);
        }
    }
    close_socket(&d->tx);
    close_socket(&d->rx);
    curl_multi_cleanup(d->multi);
    free(d->rcv);
    free(d);
}
