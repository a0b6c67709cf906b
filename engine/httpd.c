/* The HTTP endpoint (see httpd.h). */
#include "engine/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/metrics.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_ret;
#else
typedef int mhd_ret;
#endif

#define MAX_CONNECTIONS 32
#define CONN_TIMEOUT_S 10

/* An immutable text shared between the engine thread (which replaces it)
 * and requests (which read it): the last one to let go frees it. */
struct blob {
    atomic_int refs;
    size_t len;
    char text[];
};

struct rw_httpd {
    struct MHD_Daemon *d;
    int port;
    double tick_timeout;
    _Atomic int64_t tick_mono;
    pthread_mutex_t mu; /* guards snap, have_snap, alerts; held for copies only */
    struct rw_metrics_snap snap;
    int have_snap;
    struct blob *alerts;
    atomic_int started;  /* the server runs: mhd_log stops keeping start_err */
    char start_err[256]; /* libmicrohttpd's message while starting */
};

static void blob_drop(struct blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

/* ---- listen address ------------------------------------------------------- */

int rw_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                          char *err, size_t errlen)
{
    char host[128];
    const char *port;
    memset(ss, 0, sizeof *ss);
    if (!listen || !*listen) {
        snprintf(err, errlen, "empty address");
        return -EINVAL;
    }
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof host) {
            snprintf(err, errlen, "'%s': expects \"[IPv6]:PORT\"", listen);
            return -EINVAL;
        }
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host ||
            memchr(listen, ':', (size_t)(colon - listen))) {
            snprintf(err, errlen, "'%s': expects \"HOST:PORT\" (IPv6: \"[::1]:PORT\")", listen);
            return -EINVAL;
        }
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    long p = 0;
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        (p = strtol(port, NULL, 10)) > 65535) {
        snprintf(err, errlen, "'%s': the port must be a number 0-65535", listen);
        return -EINVAL;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (listen[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
    } else if (listen[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
    } else {
        snprintf(err, errlen, "'%s': '%s' is not a numeric IPv4 address%s", listen, host,
                 listen[0] == '[' ? " (in brackets: IPv6)" : ", [IPv6] or localhost");
        return -EINVAL;
    }
    return 0;
}

/* ---- requests ---------------------------------------------------------------- */

static mhd_ret reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                     size_t len)
{
    /* body is malloc'd and handed to libmicrohttpd (MHD_RESPMEM_MUST_FREE) */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd_ret ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static mhd_ret reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *b = strdup(text);
    return reply(c, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0);
}

static void now_view(struct rw_httpd *h, struct rw_metrics_now *now)
{
    now->wall_ms = rw_wall_ms();
    now->tick_age_s = (double)(rw_mono_ms() - atomic_load(&h->tick_mono)) / 1000.0;
    now->tick_timeout = h->tick_timeout;
    rw_metrics_proc_memory(&now->rss_bytes, &now->vm_bytes);
}

/* A copy of the snapshot (malloc'd: it is a few kilobytes), NULL if none yet. */
static struct rw_metrics_snap *snap_copy(struct rw_httpd *h)
{
    struct rw_metrics_snap *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_lock(&h->mu);
    int have = h->have_snap;
    if (have)
        *s = h->snap;
    pthread_mutex_unlock(&h->mu);
    if (!have) {
        free(s);
        return NULL;
    }
    return s;
}

static mhd_ret serve_metrics(struct rw_httpd *h, struct MHD_Connection *c)
{
    struct rw_metrics_snap *s = snap_copy(h);
    if (!s)
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting: no metrics yet\n");
    struct rw_metrics_now now;
    now_view(h, &now);
    size_t len = 0;
    char *text = rw_metrics_render(s, &now, &len);
    free(s);
    if (!text)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n");
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static mhd_ret serve_health(struct rw_httpd *h, struct MHD_Connection *c)
{
    struct rw_metrics_snap *s = snap_copy(h);
    struct rw_metrics_now now;
    now_view(h, &now);
    char *body = NULL;
    int status = rw_metrics_health(s, &now, &body);
    free(s);
    if (!body)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(c, (unsigned)status,
                 status == 200 ? "text/plain; charset=utf-8" : "application/json", body,
                 strlen(body));
}

/* The published document, filtered when the query asks. */
static mhd_ret serve_alerts(struct rw_httpd *h, struct MHD_Connection *c)
{
    pthread_mutex_lock(&h->mu);
    struct blob *b = h->alerts;
    if (b)
        atomic_fetch_add(&b->refs, 1);
    pthread_mutex_unlock(&h->mu);
    if (!b)
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting: no alerts yet\n");
    const char *fp = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fingerprint");
    const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
    const char *rule = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rule");
    char *out = NULL;
    size_t len = 0;
    if (!fp && !state && !rule) {
        out = malloc(b->len + 1);
        if (out) {
            memcpy(out, b->text, b->len + 1);
            len = b->len;
        }
    } else {
        json_t *doc = json_loadb(b->text, b->len, 0, NULL);
        json_t *list = json_object_get(doc, "alerts");
        for (size_t i = json_array_size(list); i-- > 0;) {
            const json_t *a = json_array_get(list, i);
            const char *v;
            if ((fp && (!(v = json_string_value(json_object_get(a, "fingerprint"))) ||
                        strcmp(v, fp) != 0)) ||
                (state && (!(v = json_string_value(json_object_get(a, "state"))) ||
                           strcmp(v, state) != 0)) ||
                (rule &&
                 (!(v = json_string_value(json_object_get(a, "rule"))) || strcmp(v, rule) != 0)))
                json_array_remove(list, i);
        }
        out = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        len = out ? strlen(out) : 0;
        json_decref(doc);
    }
    blob_drop(b);
    if (!out)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(c, MHD_HTTP_OK, "application/json", out, len);
}

static mhd_ret handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                       const char *version, const char *upload_data, size_t *upload_size,
                       void **con_cls)
{
    struct rw_httpd *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *upload_size = 0; /* a body is not read: the answer is no */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("method not allowed\n"), (char *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        mhd_ret ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(h, c);
    if (strcmp(url, "/healthz") == 0)
        return serve_health(h, c);
    if (strcmp(url, "/api/alerts") == 0)
        return serve_alerts(h, c);
    if (strcmp(url, "/") == 0)
        return reply_text(c, MHD_HTTP_OK,
                          "rumwatch " RW_VERSION "\n/metrics     Prometheus metrics\n/healthz     "
                          "health (200 ok / 503 JSON reasons)\n/api/alerts  current alerts "
                          "(?fingerprint=, ?state=, ?rule=)\n");
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* libmicrohttpd's own messages: logged, and kept while starting for the error. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct rw_httpd *h = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '"')
            *p = '\'';
    if (!atomic_load(&h->started))
        snprintf(h->start_err, sizeof h->start_err, "%s", msg);
    rw_log(RW_LOG_WARN, "http", "msg=\"%s\"", msg);
}

struct rw_httpd *rw_httpd_start(const char *listen, double tick_timeout, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (rw_httpd_parse_listen(listen, &ss, &sl, err, errlen))
        return NULL;
    struct rw_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->tick_timeout = tick_timeout;
    atomic_store(&h->tick_mono, rw_mono_ms());
    int v6 = ss.ss_family == AF_INET6;
    uint16_t port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    /* Signals belong to the engine thread (its poll wakes on them): the
     * server's thread starts with them blocked. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    h->d = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0), port, NULL,
        NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->d) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", listen,
                 h->start_err[0] ? h->start_err : "libmicrohttpd refused to start");
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    atomic_store(&h->started, 1);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? (int)di->port : (int)port;
    return h;
}

int rw_httpd_port(const struct rw_httpd *h)
{
    return h ? h->port : 0;
}

void rw_httpd_tick(struct rw_httpd *h, int64_t now_mono_ms)
{
    if (h)
        atomic_store_explicit(&h->tick_mono, now_mono_ms, memory_order_relaxed);
}

void rw_httpd_publish(struct rw_httpd *h, const struct rw_metrics_snap *snap)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->snap = *snap;
    h->have_snap = 1;
    pthread_mutex_unlock(&h->mu);
}

void rw_httpd_publish_alerts(struct rw_httpd *h, char *json_text)
{
    if (!h || !json_text) {
        free(json_text);
        return;
    }
    /* Built outside the lock; the swap is a pointer. */
    size_t len = strlen(json_text);
    struct blob *b = malloc(sizeof *b + len + 1);
    if (b) {
        atomic_init(&b->refs, 1);
        b->len = len;
        memcpy(b->text, json_text, len + 1);
    }
    free(json_text);
    if (!b)
        return;
    pthread_mutex_lock(&h->mu);
    struct blob *old = h->alerts;
    h->alerts = b;
    pthread_mutex_unlock(&h->mu);
    blob_drop(old);
}

void rw_httpd_stop(struct rw_httpd **hp)
{
    if (!hp || !*hp)
        return;
    struct rw_httpd *h = *hp;
    *hp = NULL;
    MHD_stop_daemon(h->d);
    blob_drop(h->alerts);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
