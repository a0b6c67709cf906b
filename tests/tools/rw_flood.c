/* rw_flood — a fast ZeroMQ publisher of generated hostile traffic for tests.
 *
 * Two modes, both generated on the fly (no input file, so 10 million events
 * cost no disk and no parsing):
 *
 *   --mode keys    N view events, every one with a page name and segment
 *                  values (device, country, browser) never seen before: the
 *                  keyspace attack of tests/integration/test_memory_cap.sh.
 *                  Page names are letters only (the default page normalizer
 *                  turns a path segment with a digit into "?", which would
 *                  fold them all into one page).
 *   --mode mixed   N messages cycling through good events and every kind of
 *                  bad input the decoder and the input layer know (malformed
 *                  JSON, NaN/inf, invalid UTF-8, wrong types, a message
 *                  beyond max_message, empty and extra frames...), one per
 *                  message so that every rejection is counted once under a
 *                  known reason: tests/integration/test_flood.sh.
 *
 * Every event's "ts" is the wall clock at sending (run mode accepts only
 * events near now). The socket is an XPUB that binds and waits for the
 * subscriber's subscription before the first send (no guessing how long a
 * SUB takes to join), with ZMQ_XPUB_NODROP: at the HWM a send fails with
 * EAGAIN and is retried, so nothing is dropped on this side and a test can
 * compare exact counts.
 *
 * Output: one JSON object on stdout with what was sent: messages, events,
 * good events, and per expected rejection reason (the engine's names,
 * engine/event.h), plus "empty" (messages with an empty body: received but
 * not an event) and seconds.
 *
 * Ownership: everything is owned by main(); one thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pacing: the i-th unit is due at t0 + i / rate. */
static void pace(double rate, double t0, long long i)
{
    if (rate <= 0)
        return;
    double wait = t0 + (double)i / rate - mono_s();
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* The reasons mixed mode provokes, with the engine's names. */
enum kind {
    K_GOOD, K_UNKNOWN_FIELDS, K_JSON, K_NAN, K_INF, K_UTF8, K_SHAPE, K_VERSION, K_TYPE,
    K_TS, K_PAGE, K_PAGE_LONG, K_SEG, K_VITAL, K_METRIC, K_OVERSIZE, K_FRAMES, K_EMPTY, K_N
};
/* Counted under this engine reason ("" = accepted, "empty" = not an event). */
static const char *const reason_of[K_N] = {
    "", "", "json", "json", "json", "json", "shape", "version", "type",
    "ts", "page", "page_long", "seg", "vital", "metric", "oversize", "shape", "empty"};
/* Mixed mode's cycle: good events are half the traffic, interleaved. */
static const enum kind cycle[] = {
    K_GOOD, K_JSON,    K_GOOD, K_NAN,   K_GOOD, K_UNKNOWN_FIELDS, K_GOOD, K_INF,
    K_GOOD, K_UTF8,    K_GOOD, K_SHAPE, K_GOOD, K_VERSION,        K_GOOD, K_TYPE,
    K_GOOD, K_TS,      K_GOOD, K_PAGE,  K_GOOD, K_PAGE_LONG,      K_GOOD, K_SEG,
    K_GOOD, K_VITAL,   K_GOOD, K_METRIC, K_GOOD, K_EMPTY,         K_GOOD, K_FRAMES,
};
#define NCYCLE (sizeof cycle / sizeof cycle[0])

struct opts {
    const char *endpoint;
    const char *mode;
    long long n;
    int batch;       /* keys: events per message */
    int hwm;
    int max_message; /* mixed: the engine's max_message, for the oversize message */
    int sub_timeout_ms;
    int linger_ms;
    double rate;     /* events/s (keys) or messages/s (mixed); 0 = as fast as possible */
};

struct out {
    void *sock;
    long long messages, events, good;
    long long by_kind[K_N];
};

/* Send one frame, retrying at the HWM (ZMQ_XPUB_NODROP). */
static int send_frame(void *sock, const void *p, size_t n, int more)
{
    for (;;) {
        if (zmq_send(sock, p, n, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) >= 0)
            return 0;
        if (zmq_errno() != EAGAIN || stop_flag)
            return -1;
        struct timespec ts = {0, 200000}; /* 0.2 ms: the subscriber drains meanwhile */
        nanosleep(&ts, NULL);
    }
}

static int send_msg(struct out *o, const char *topic, const char *body, size_t len)
{
    if (send_frame(o->sock, topic, strlen(topic), 1) || send_frame(o->sock, body, len, 0))
        return -1;
    o->messages++;
    return 0;
}

/* n in base 26, lower-case letters (distinct n, distinct names; no digits). */
static int letters(char *dst, unsigned long long n)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('a' + n % 26);
        n /= 26;
    } while (n);
    for (int i = 0; i < k; i++)
        dst[i] = tmp[k - 1 - i];
    dst[k] = '\0';
    return k;
}

static int run_keys(const struct opts *op, struct out *o)
{
    size_t cap = (size_t)op->batch * 320 + 64;
    char *body = malloc(cap);
    if (!body)
        return -1;
    long long i = 0;
    double t0 = mono_s();
    while (i < op->n && !stop_flag) {
        pace(op->rate, t0, i);
        size_t len = 0;
        int64_t ts = wall_ms();
        for (int b = 0; b < op->batch && i < op->n; b++, i++) {
            char name[24];
            letters(name, (unsigned long long)i);
            int w = snprintf(body + len, cap - len,
                             "%s{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64
                             ",\"page\":\"/attack/%s\",\"seg\":{\"device\":\"d%llx\","
                             "\"country\":\"c%llx\",\"browser\":\"b%llx\"},"
                             "\"vitals\":{\"lcp\":%d,\"inp\":%d}}",
                             len ? "\n" : "", ts, name, i, i, i, 800 + (int)(i % 3000),
                             40 + (int)(i % 500));
            len += (size_t)w;
            o->events++;
            o->good++;
        }
        if (send_msg(o, "rum.view.s00.", body, len)) {
            free(body);
            return -1;
        }
    }
    o->by_kind[K_GOOD] = o->good;
    free(body);
    return 0;
}

/* One message of kind k (mixed mode). */
static int send_kind(const struct opts *op, struct out *o, enum kind k, long long i, char *big)
{
    char b[1024];
    int64_t ts = wall_ms();
    const char *topic = "rum.view.s01.";
    int n = 0;
#define EV(...) (n = snprintf(b, sizeof b, __VA_ARGS__))
    switch (k) {
    case K_GOOD:
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/good/%c\",\"seg\":{\"device\":\"%s\"},"
           "\"vitals\":{\"lcp\":%d,\"ttfb\":%d}}",
           ts, 'a' + (int)(i % 7), i % 2 ? "mobile" : "desktop", 900 + (int)(i % 1000), 100 + (int)(i % 50));
        break;
    case K_UNKNOWN_FIELDS: /* accepted: members it does not know are ignored */
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/good/u\",\"zz_unknown\":[1,{\"a\":null}],"
           "\"name\":5,\"extra\":\"%lld\",\"vitals\":{\"lcp\":1200,\"future_vital\":\"x\"}}",
           ts, i);
        break;
    case K_JSON: EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\", oops", ts); break;
    case K_NAN:
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"vitals\":{\"lcp\":NaN}}", ts);
        break;
    case K_INF: /* overflows a double: refused by the parser, as jansson does */
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"vitals\":{\"lcp\":1e999}}", ts);
        break;
    case K_UTF8:
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/caf\xc3\x28\xff\"}", ts);
        break;
    case K_SHAPE: /* vitals of the wrong JSON type */
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"vitals\":[1,2]}", ts);
        break;
    case K_VERSION: EV("{\"v\":\"1\",\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\"}", ts); break;
    case K_TYPE: EV("{\"v\":1,\"type\":7,\"ts\":%" PRId64 ",\"page\":\"/x\"}", ts); break;
    case K_TS: EV("{\"v\":1,\"type\":\"view\",\"ts\":\"%" PRId64 "\",\"page\":\"/x\"}", ts); break;
    case K_PAGE: EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":[\"/x\"]}", ts); break;
    case K_PAGE_LONG: {
        n = snprintf(b, sizeof b, "{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/", ts);
        memset(b + n, 'p', 600);
        n += 600;
        n += snprintf(b + n, sizeof b - (size_t)n, "\"}");
        break;
    }
    case K_SEG:
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"seg\":{\"device\":5}}", ts);
        break;
    case K_VITAL:
        EV("{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"vitals\":{\"lcp\":-5}}", ts);
        break;
    case K_METRIC:
        topic = "rum.metric.s01.";
        EV("{\"v\":1,\"type\":\"metric\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"name\":\"bad name!\"}", ts);
        break;
    case K_OVERSIZE: { /* a valid event padded past max_message (under ZMQ_MAXMSGSIZE) */
        size_t len = (size_t)op->max_message + 100;
        int h = snprintf(big, len, "{\"v\":1,\"type\":\"view\",\"ts\":%" PRId64 ",\"page\":\"/x\",\"pad\":\"", ts);
        memset(big + h, 'z', len - (size_t)h - 2);
        big[len - 2] = '"';
        big[len - 1] = '}';
        o->events++;
        return send_msg(o, topic, big, len);
    }
    case K_FRAMES: /* four frames: counted as shape, not decoded */
        if (send_frame(o->sock, topic, strlen(topic), 1) || send_frame(o->sock, "{}", 2, 1) ||
            send_frame(o->sock, "x", 1, 1) || send_frame(o->sock, "y", 1, 0))
            return -1;
        o->messages++;
        o->events++;
        return 0;
    case K_EMPTY: return send_msg(o, topic, "", 0);
    case K_N: return -1;
    }
#undef EV
    if (n < 0 || (size_t)n >= sizeof b)
        return -1;
    o->events++;
    if (k == K_GOOD || k == K_UNKNOWN_FIELDS)
        o->good++;
    return send_msg(o, topic, b, (size_t)n);
}

static int run_mixed(const struct opts *op, struct out *o)
{
    char *big = malloc((size_t)op->max_message + 128);
    if (!big)
        return -1;
    /* One oversize message per 1000 (a big one costs 100x a small one). */
    double t0 = mono_s();
    for (long long i = 0; i < op->n && !stop_flag; i++) {
        if (i % 64 == 0)
            pace(op->rate, t0, i);
        enum kind k = i % 1000 == 999 ? K_OVERSIZE : cycle[i % NCYCLE];
        if (send_kind(op, o, k, i, big)) {
            free(big);
            return -1;
        }
        o->by_kind[k]++;
    }
    free(big);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: rw_flood --endpoint EP --mode keys|mixed --n N [--batch B] [--hwm N]\n"
            "                [--max-message BYTES] [--sub-timeout-ms MS] [--linger-ms MS] [--rate R]\n"
            "  binds an XPUB at EP, waits for a subscriber, publishes N events (keys) or N\n"
            "  messages (mixed) without dropping (ZMQ_XPUB_NODROP), prints counts as JSON;\n"
            "  --rate: events/s (keys) or messages/s (mixed), 0 = as fast as possible\n");
}

int main(int argc, char **argv)
{
    struct opts op = {.endpoint = NULL, .mode = "keys", .n = 0, .batch = 50, .hwm = 10000,
                      .max_message = 65536, .sub_timeout_ms = 10000, .linger_ms = 30000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (strcmp(a, "--endpoint") == 0) op.endpoint = v;
        else if (strcmp(a, "--mode") == 0) op.mode = v;
        else if (strcmp(a, "--n") == 0) op.n = atoll(v);
        else if (strcmp(a, "--batch") == 0) op.batch = atoi(v);
        else if (strcmp(a, "--hwm") == 0) op.hwm = atoi(v);
        else if (strcmp(a, "--max-message") == 0) op.max_message = atoi(v);
        else if (strcmp(a, "--sub-timeout-ms") == 0) op.sub_timeout_ms = atoi(v);
        else if (strcmp(a, "--linger-ms") == 0) op.linger_ms = atoi(v);
        else if (strcmp(a, "--rate") == 0) op.rate = atof(v);
        else {
            usage();
            return 2;
        }
        i++;
    }
    int keys = strcmp(op.mode, "keys") == 0;
    if (!op.endpoint || op.n <= 0 || op.batch < 1 || op.batch > 10000 || op.hwm < 1 ||
        op.max_message < 256 || (!keys && strcmp(op.mode, "mixed") != 0)) {
        usage();
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 1, one = 1;
    struct out o = {0};
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_XPUB) : NULL;
    if (!sock || zmq_setsockopt(sock, ZMQ_SNDHWM, &op.hwm, sizeof op.hwm) ||
        zmq_setsockopt(sock, ZMQ_XPUB_NODROP, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_LINGER, &op.linger_ms, sizeof op.linger_ms) ||
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &op.sub_timeout_ms, sizeof op.sub_timeout_ms) ||
        zmq_bind(sock, op.endpoint)) {
        fprintf(stderr, "rw_flood: %s: %s\n", op.endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    /* The subscription message ("\x01" + prefix) says a subscriber is there. */
    char sub[256];
    if (zmq_recv(sock, sub, sizeof sub, 0) < 1 || sub[0] != 1) {
        fprintf(stderr, "rw_flood: no subscriber within %d ms\n", op.sub_timeout_ms);
        goto out;
    }
    o.sock = sock;
    double t0 = mono_s();
    if ((keys ? run_keys(&op, &o) : run_mixed(&op, &o)) != 0) {
        fprintf(stderr, "rw_flood: send failed: %s\n", zmq_strerror(zmq_errno()));
        goto out;
    }
    double secs = mono_s() - t0;
    /* Reasons summed over kinds (several kinds share "json" or "shape"). */
    printf("{\"messages\":%lld,\"events\":%lld,\"good\":%lld,\"seconds\":%.3f,\"rejected\":{", o.messages,
           o.events, o.good, secs);
    const char *done[K_N];
    int nd = 0;
    for (int k = 0; k < K_N; k++) {
        const char *r = reason_of[k];
        int seen = !r[0];
        for (int j = 0; j < nd; j++)
            seen |= strcmp(done[j], r) == 0;
        if (seen)
            continue;
        long long sum = 0;
        for (int j = k; j < K_N; j++)
            if (strcmp(reason_of[j], r) == 0)
                sum += o.by_kind[j];
        printf("%s\"%s\":%lld", nd ? "," : "", r, sum);
        done[nd++] = r;
    }
    printf("}}\n");
    fflush(stdout);
    rc = 0;
out:
    if (sock)
        zmq_close(sock); /* lingers until the queue is flushed (linger_ms) */
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
