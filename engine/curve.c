/* Authenticated input with ZeroMQ CURVE: the SUB socket's server side, the
 * ZAP handler thread, and `rumwatch keygen`. See engine/curve.h. */
#include "engine/curve.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "engine/log.h"

#define ZAP_EP "inproc://zeromq.zap.01" /* fixed by RFC 27 */
#define ZAP_MAX_FRAMES 8                /* a CURVE request has 7 */
#define ZAP_POLL_MS 100                 /* how soon the thread sees a stop */
#define LOG_EVERY_MS 10000              /* one log line per kind per 10 s */

struct rw_curve {
    void *zap; /* REP on ZAP_EP; the thread's once started */
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_uint_fast64_t allowed, denied, handshake_failed;
    int nkeys;
    uint8_t (*keys)[32]; /* allowed client public keys, sorted: read-only once started */
};

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Answer one ZAP request, if one is waiting. 1 = answered, 0 = none, -1 = socket error. */
static int zap_serve_one(struct rw_curve *c)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&m);
            if (n == 0)
                return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? 0 : -1;
            break; /* cut short: answered as malformed below */
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_MAX_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    /* RFC 27: version, request id, domain, address, identity, mechanism,
     * then the mechanism's credentials (CURVE: the 32-byte public key). */
    const char *status = "500", *text = "malformed ZAP request";
    char addr[64] = "?", key[RW_CURVE_KEY_LEN + 1] = "";
    if (n >= 7 && zmq_msg_size(&f[0]) == 3 && memcmp(zmq_msg_data(&f[0]), "1.0", 3) == 0 &&
        zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&f[6]) == 32) {
        size_t al = zmq_msg_size(&f[3]);
        snprintf(addr, sizeof addr, "%.*s", (int)(al < sizeof addr ? al : sizeof addr - 1),
                 (const char *)zmq_msg_data(&f[3]));
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        if (bsearch(zmq_msg_data(&f[6]), c->keys, (size_t)c->nkeys, 32, key_cmp)) {
            status = "200", text = "OK";
            atomic_fetch_add_explicit(&c->allowed, 1, memory_order_relaxed);
            static struct rw_ratelimit rl;
            uint64_t supp;
            if (rw_ratelimit_ok(&rl, LOG_EVERY_MS, &supp))
                rw_log(RW_LOG_INFO, "input",
                       "msg=\"publisher authenticated\" address=%s key=%s suppressed=%llu", addr,
                       key, (unsigned long long)supp);
        } else {
            status = "400", text = "client key not allowed";
            atomic_fetch_add_explicit(&c->denied, 1, memory_order_relaxed);
            static struct rw_ratelimit rl;
            uint64_t supp;
            if (rw_ratelimit_ok(&rl, LOG_EVERY_MS, &supp))
                rw_log(RW_LOG_WARN, "input",
                       "msg=\"publisher refused: key not in the allow-list\" address=%s key=%s "
                       "suppressed=%llu",
                       addr, key, (unsigned long long)supp);
        }
    } else {
        atomic_fetch_add_explicit(&c->denied, 1, memory_order_relaxed);
        static struct rw_ratelimit rl;
        uint64_t supp;
        if (rw_ratelimit_ok(&rl, LOG_EVERY_MS, &supp))
            rw_log(RW_LOG_WARN, "input", "msg=\"malformed ZAP request refused\" frames=%d "
                   "suppressed=%llu", n, (unsigned long long)supp);
    }
    /* The reply: version, request id (echoed), status, text, user id, metadata. */
    const char *ver = "1.0";
    int rc = zmq_send(c->zap, ver, 3, ZMQ_SNDMORE) < 0 ||
             zmq_send(c->zap, n >= 2 ? zmq_msg_data(&f[1]) : "", n >= 2 ? zmq_msg_size(&f[1]) : 0,
                      ZMQ_SNDMORE) < 0 ||
             zmq_send(c->zap, status, 3, ZMQ_SNDMORE) < 0 ||
             zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE) < 0 ||
             zmq_send(c->zap, key, strlen(key), ZMQ_SNDMORE) < 0 || zmq_send(c->zap, "", 0, 0) < 0
                 ? -1
                 : 1;
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return rc;
}

static void *zap_thread(void *arg)
{
    struct rw_curve *c = arg;
    while (!atomic_load(&c->stop)) {
        zmq_pollitem_t it = {c->zap, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, ZAP_POLL_MS);
        if (n < 0 && zmq_errno() == ETERM)
            break;
        /* Bounded, so a stop is seen even under a connection storm. */
        for (int k = 0; n > 0 && k < 1000 && zap_serve_one(c) > 0; k++)
            ;
    }
    return NULL;
}

static void curve_free(struct rw_curve *c)
{
    if (c->zap)
        zmq_close(c->zap);
    free(c->keys);
    free(c);
}

int rw_curve_start(struct rw_curve **out, void *zctx, void *sub, const struct rw_curve_params *p,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (!p->on)
        return 0;
    if (!zmq_has("curve")) {
        snprintf(err, errlen, "input.curve: this libzmq was built without CURVE support");
        return -ENOTSUP;
    }
    struct rw_curve *c = calloc(1, sizeof *c);
    if (!c || !(c->keys = calloc((size_t)(p->nallow ? p->nallow : 1), 32))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = -EINVAL;
    for (int i = 0; i < p->nallow; i++)
        if (!zmq_z85_decode(c->keys[i], p->allow[i])) {
            snprintf(err, errlen, "input.curve: client key %d does not decode", i + 1);
            goto fail;
        }
    qsort(c->keys, (size_t)p->nallow, 32, key_cmp);
    c->nkeys = p->nallow;

    int linger = 0, one = 1;
    c->zap = zmq_socket(zctx, ZMQ_REP);
    if (!c->zap || zmq_setsockopt(c->zap, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(c->zap, ZAP_EP) != 0) {
        snprintf(err, errlen, "input.curve: cannot bind the ZAP handler on %s: %s", ZAP_EP,
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_setsockopt(sub, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sub, ZMQ_CURVE_SECRETKEY, p->server_secret, RW_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sub, ZMQ_ZAP_DOMAIN, RW_CURVE_ZAP_DOMAIN, strlen(RW_CURVE_ZAP_DOMAIN)) !=
            0) {
        snprintf(err, errlen, "input.curve: cannot make the SUB socket a CURVE server: %s",
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    int prc = pthread_create(&c->thread, NULL, zap_thread, c);
    if (prc != 0) {
        snprintf(err, errlen, "input.curve: cannot start the ZAP thread: %s", strerror(prc));
        rc = -prc;
        goto fail;
    }
    c->running = 1;
    char pub[RW_CURVE_KEY_LEN + 1] = "?";
    if (zmq_curve_public(pub, p->server_secret) != 0)
        snprintf(pub, sizeof pub, "?");
    rw_log(RW_LOG_INFO, "input", "msg=\"CURVE on\" server_public=%s clients=%d zap_domain=%s", pub,
           p->nallow, RW_CURVE_ZAP_DOMAIN);
    *out = c;
    return 0;
fail:
    curve_free(c);
    return rc;
}

void rw_curve_stop(struct rw_curve **cp)
{
    if (!cp || !*cp)
        return;
    struct rw_curve *c = *cp;
    if (c->running) {
        atomic_store(&c->stop, 1);
        pthread_join(c->thread, NULL);
    }
    curve_free(c);
    *cp = NULL;
}

int rw_curve_monitor_events(const struct rw_curve *c)
{
    return c ? ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL : 0;
}

void rw_curve_note_event(struct rw_curve *c, int event, const char *endpoint)
{
    if (!c || (event != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
               event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        return;
    atomic_fetch_add_explicit(&c->handshake_failed, 1, memory_order_relaxed);
    static struct rw_ratelimit rl;
    uint64_t supp;
    if (rw_ratelimit_ok(&rl, LOG_EVERY_MS, &supp))
        rw_log(RW_LOG_WARN, "input",
               "msg=\"publisher refused: CURVE handshake failed (no CURVE, or another server "
               "key)\" endpoint=%s suppressed=%llu",
               endpoint && endpoint[0] ? endpoint : "?", (unsigned long long)supp);
}

void rw_curve_stats(const struct rw_curve *c, struct rw_curve_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!c)
        return;
    /* The fields are atomics; the struct is const to its readers only. */
    struct rw_curve *m = (struct rw_curve *)c;
    st->allowed = atomic_load_explicit(&m->allowed, memory_order_relaxed);
    st->denied = atomic_load_explicit(&m->denied, memory_order_relaxed);
    st->handshake_failed = atomic_load_explicit(&m->handshake_failed, memory_order_relaxed);
}

/* ---- rumwatch keygen ------------------------------------------------------ */

/* Write the secret key to a new file, mode 0600; never over an existing one. */
static int write_secret(const char *path, const char *pub, const char *sec)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "rumwatch keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (not overwritten)" : "");
        return -1;
    }
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "# rumwatch CURVE secret key (rumwatch keygen); public key: %s\n%s\n", pub,
                     sec);
    int ok = fchmod(fd, 0600) == 0 && write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    memset(buf, 0, sizeof buf);
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        fprintf(stderr, "rumwatch keygen: %s: %s\n", path, strerror(e));
        unlink(path);
        return -1;
    }
    return 0;
}

int rw_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"secret-file", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *secret_file = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's': secret_file = optarg; break;
        case 'h':
            printf("usage: rumwatch keygen [--secret-file PATH]\n"
                   "  prints a new CURVE key pair (Z85): \"public-key KEY\" and \"secret-key KEY\";\n"
                   "  with --secret-file, writes the secret key to a new file (mode 0600, never\n"
                   "  overwritten) and prints the public key only\n");
            return 0;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rumwatch keygen: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "rumwatch keygen: this libzmq was built without CURVE support\n");
        return 1;
    }
    char pub[RW_CURVE_KEY_LEN + 1], sec[RW_CURVE_KEY_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "rumwatch keygen: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    int rc = 0;
    if (secret_file) {
        if (write_secret(secret_file, pub, sec) == 0)
            printf("public-key %s\n", pub);
        else
            rc = 1;
    } else {
        printf("public-key %s\nsecret-key %s\n", pub, sec);
    }
    memset(sec, 0, sizeof sec);
    return rc;
}
