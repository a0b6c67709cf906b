/* The self-monitoring HTTP endpoint of `rumwatch run` (libmicrohttpd):
 *
 *   GET /metrics      Prometheus text format 0.0.4 (engine/metrics.h)
 *   GET /healthz      200 "ok", or 503 with the reasons as JSON
 *   GET /api/alerts   current alerts as JSON (engine/alertbook.h); filters
 *                     ?fingerprint=HEX, ?state=firing|pending, ?rule=NAME
 *   GET /             a short index
 *
 * Threads: libmicrohttpd serves from its own thread; the engine thread
 * never waits for it. The engine thread publishes (a) a tick, an atomic
 * monotonic timestamp, every loop turn, (b) a snapshot of counters (struct
 * rw_metrics_snap, copied under a mutex held only for the copy), (c) the
 * /api/alerts document, an immutable reference-counted text swapped under
 * the same mutex. Requests render from their own copies. At most 32
 * connections, 10 s timeout each, GET/HEAD only.
 *
 * Ownership: rw_httpd_start copies what it needs; rw_httpd_stop stops the
 * thread and frees everything.
 */
#ifndef RW_HTTPD_H
#define RW_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rw_metrics_snap;
struct rw_httpd;

/* "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", "localhost:9464"
 * (numeric addresses or localhost; port 0 = any free port). 0 or -EINVAL
 * with a message. */
int rw_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                          char *err, size_t errlen);

/* Bind and start serving. tick_timeout: seconds without a tick after which
 * /healthz fails. NULL with a message (bad address, port in use). */
struct rw_httpd *rw_httpd_start(const char *listen, double tick_timeout, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int rw_httpd_port(const struct rw_httpd *h);

/* Engine thread: the loop ran (monotonic ms). Lock-free. */
void rw_httpd_tick(struct rw_httpd *h, int64_t now_mono_ms);
/* Engine thread: publish a copy of the counters. */
void rw_httpd_publish(struct rw_httpd *h, const struct rw_metrics_snap *snap);
/* Engine thread: publish the /api/alerts document (text stolen; NULL keeps
 * the previous one). */
void rw_httpd_publish_alerts(struct rw_httpd *h, char *json_text);

/* Stop the thread (waits for requests in progress), free; *hp = NULL. Safe on NULL. */
void rw_httpd_stop(struct rw_httpd **hp);

#endif
