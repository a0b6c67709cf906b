/* Delivery core against a real HTTP receiver (tests/tools/rw_httprecv, run
 * as a child process on a loopback port) and a real ZeroMQ context.
 *
 * argv[1] is the build directory holding rw_httprecv (CTest passes it);
 * otherwise $RW_BUILD_DIR, otherwise ./build. Conditions are polled with
 * deadlines; the only fixed waits are the ones a scenario is about
 * ("receiver starts 300 ms later", "no retry shows up").
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "engine/log.h"
#include "notifiers/delivery.h"
#include "tests/unit/check.h"

static char recv_bin[1024];
static char tmpdir[256];
static int recv_seq;
static void *zctx;

/* ---- helpers ---------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

#define WAIT_UNTIL(cond, ms)                                                                       \
    do {                                                                                           \
        int64_t wu_deadline_ = rw_mono_ms() + (ms);                                                \
        while (!(cond) && rw_mono_ms() < wu_deadline_)                                             \
            sleep_ms(5);                                                                           \
    } while (0)

static struct rw_delivery_stats st(const struct rw_delivery *d)
{
    struct rw_delivery_stats s;
    rw_delivery_stats(d, &s);
    return s;
}

struct recv {
    pid_t pid;
    int port;
    char out[512];
    char portfile[512];
};

/* Start rw_httprecv on `port` (0 = any) with extra args (NULL-terminated). */
static int recv_start(struct recv *r, int port, const char *const *extra)
{
    memset(r, 0, sizeof *r);
    int id = recv_seq++;
    snprintf(r->out, sizeof r->out, "%s/recv%d.jsonl", tmpdir, id);
    snprintf(r->portfile, sizeof r->portfile, "%s/recv%d.port", tmpdir, id);
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    const char *argv[32] = {recv_bin, "--port", portarg,     "--port-file", r->portfile,
                            "--out",  r->out,   "--timeout", "60"};
    int argc = 9;
    for (int i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(recv_bin, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    int64_t deadline = rw_mono_ms() + 5000;
    while (rw_mono_ms() < deadline) {
        FILE *f = fopen(r->portfile, "r");
        if (f) {
            int p = 0;
            int ok = fscanf(f, "%d", &p) == 1;
            fclose(f);
            if (ok && p > 0) {
                r->port = p;
                return 0;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "rw_httprecv exited early (status %d)\n", status);
            r->pid = 0;
            return -1;
        }
        sleep_ms(5);
    }
    return -1;
}

static void recv_stop(struct recv *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        int status;
        waitpid(r->pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        r->pid = 0;
    }
    unlink(r->out);
    unlink(r->portfile);
}

/* The requests the receiver logged, as a JSON array (never NULL). */
static json_t *recv_requests(const struct recv *r)
{
    json_t *arr = json_array();
    FILE *f = fopen(r->out, "r");
    if (!f)
        return arr;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* still being written */
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            CHECK(!"receiver logged a line that is not JSON");
        else
            json_array_append_new(arr, j);
    }
    free(line);
    fclose(f);
    return arr;
}

static size_t recv_count(const struct recv *r)
{
    json_t *a = recv_requests(r);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

static size_t recv_count_path(const struct recv *r, const char *path)
{
    json_t *a = recv_requests(r);
    size_t i, n = 0;
    json_t *q;
    json_array_foreach(a, i, q)
    {
        const char *p = json_string_value(json_object_get(q, "path"));
        n += p && strcmp(p, path) == 0;
    }
    json_decref(a);
    return n;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static struct rw_notifier_cfg mkcfg(const char *name, const char *type, int port, const char *path)
{
    struct rw_notifier_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.type, sizeof c.type, "%s", type);
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d%s", port, path);
    c.timeout = 2;
    c.retries = 5;
    c.backoff = 0.05;
    c.max_backoff = 0.2;
    c.min_severity = 0;
    c.send_resolved = 1;
    return c;
}

/* An alert line (malloc'd JSON text) from the firing fixture. */
static char *alert_text(const char *rule, const char *severity, const char *state)
{
    json_t *a = json_load_file("tests/fixtures/alert_firing.json", 0, NULL);
    CHECK(a != NULL);
    if (!a)
        a = json_object();
    json_object_set_new(a, "rule", json_string(rule));
    json_object_set_new(a, "severity", json_string(severity));
    json_object_set_new(a, "state", json_string(state));
    /* The engine always sends evidence; the webhook body carries it. */
    json_object_set_new(a, "evidence", json_pack("{s:f,s:f}", "observed", 4100.5, "expected", 2000.0));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int submit(struct rw_delivery *d, const char *rule, const char *severity, const char *state)
{
    char *s = alert_text(rule, severity, state);
    int rc = rw_delivery_submit(d, s);
    free(s);
    return rc;
}

static void check_balanced(const struct rw_delivery *d)
{
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.submitted, s.sent + s.failed + s.pending + s.dropped);
}

/* ---- scenarios --------------------------------------------------------------- */

/* (a) 200: one request per receiver, with the right body and headers. */
static void test_ok(void)
{
    struct recv r;
    if (recv_start(&r, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg[2] = {mkcfg("hook-a", "webhook", r.port, "/hook"),
                                     mkcfg("slack-a", "slack", r.port, "/slack")};
    struct rw_delivery *d = rw_delivery_new(zctx, cfg, 2);
    CHECK(d != NULL);
    if (!d) {
        recv_stop(&r);
        return;
    }
    CHECK_INT(submit(d, "lcp_p75_jump", "warning", "firing"), 0);
    WAIT_UNTIL(st(d).sent == 2 && st(d).pending == 0, 5000);
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.sent, 2);
    CHECK_INT(s.submitted, 2);
    CHECK_INT(s.failed, 0);
    CHECK_INT(s.retried, 0);
    CHECK_INT(s.dropped, 0);
    CHECK_INT(s.pending, 0);

    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    size_t i;
    json_t *q;
    int seen_hook = 0, seen_slack = 0;
    json_array_foreach(reqs, i, q)
    {
        const json_t *h = json_object_get(q, "headers");
        const json_t *b = json_object_get(q, "body");
        const char *path = json_string_value(json_object_get(q, "path"));
        CHECK_STR(json_string_value(json_object_get(q, "method")), "POST");
        CHECK_STR(json_string_value(json_object_get(h, "content-type")), "application/json");
        CHECK_STR(json_string_value(json_object_get(h, "user-agent")), "rumwatch/" RW_VERSION);
        CHECK(json_object_get(h, "expect") == NULL);
        if (path && strcmp(path, "/hook") == 0) {
            seen_hook++;
            /* Alertmanager webhook v4: one notification of one alert. */
            CHECK_STR(json_string_value(json_object_get(b, "version")), "4");
            CHECK_STR(json_string_value(json_object_get(b, "receiver")), "hook-a");
            CHECK_STR(json_string_value(json_object_get(b, "status")), "firing");
            CHECK_INT(json_array_size(json_object_get(b, "alerts")), 1);
            const json_t *a = json_array_get(json_object_get(b, "alerts"), 0);
            CHECK_STR(json_string_value(json_object_get(json_object_get(a, "labels"), "rule")),
                      "lcp_p75_jump");
            /* The label-set fingerprint of this alert (see test_alertmodel). */
            CHECK_STR(json_string_value(json_object_get(a, "fingerprint")), "cc60efea23770344");
            CHECK_NEAR(json_number_value(json_object_get(json_object_get(a, "evidence"), "observed")),
                       4100.5, 1e-9);
        } else if (path && strcmp(path, "/slack") == 0) {
            seen_slack++;
            const char *text = json_string_value(json_object_get(b, "text"));
            CHECK(text && strncmp(text, ":red_circle: [FIRING] p75 LCP 4.1 s", 35) == 0);
            CHECK(json_array_size(json_object_get(b, "blocks")) == 1); /* the header */
            const json_t *att = json_array_get(json_object_get(b, "attachments"), 0);
            CHECK(json_array_size(json_object_get(att, "blocks")) == 3); /* summary, fields, context */
        }
    }
    CHECK_INT(seen_hook, 1);
    CHECK_INT(seen_slack, 1);
    json_decref(reqs);
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    CHECK(d == NULL);
    recv_stop(&r);
}

/* (b) 500, 500, 200: two retries with backoff, then sent; same body thrice. */
static void test_retry_then_ok(void)
{
    struct recv r;
    const char *const extra[] = {"--codes", "500,500,200", NULL};
    if (recv_start(&r, 0, extra)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg = mkcfg("hook-b", "webhook", r.port, "/b");
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    int64_t t0 = rw_mono_ms();
    CHECK_INT(submit(d, "retry_rule", "warning", "firing"), 0);
    WAIT_UNTIL(st(d).sent == 1, 5000);
    int64_t elapsed = rw_mono_ms() - t0;
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.retried, 2);
    CHECK_INT(s.failed, 0);
    /* backoff 0.05 s then 0.1 s, each at least 75 % after jitter */
    CHECK(elapsed >= 100);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 3);
    json_t *b0 = json_object_get(json_array_get(reqs, 0), "body");
    for (size_t i = 1; i < json_array_size(reqs); i++)
        CHECK(json_equal(b0, json_object_get(json_array_get(reqs, i), "body")));
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(json_object_get(b0, "alerts"), 0), "labels"), "rule")),
              "retry_rule");
    json_decref(reqs);
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    recv_stop(&r);
}

/* (c) 400: permanent, no retry. */
static void test_permanent_fail(void)
{
    struct recv r;
    const char *const extra[] = {"--codes", "400", NULL};
    if (recv_start(&r, 0, extra)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg = mkcfg("hook-c", "webhook", r.port, "/c");
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    CHECK_INT(submit(d, "bad_request", "critical", "firing"), 0);
    WAIT_UNTIL(st(d).failed == 1, 5000);
    sleep_ms(200); /* a retry (backoff 50 ms) would show up by now */
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.failed, 1);
    CHECK_INT(s.sent, 0);
    CHECK_INT(s.retried, 0);
    CHECK_INT(s.pending, 0);
    CHECK_INT(recv_count(&r), 1);
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    recv_stop(&r);
}

/* (d) Nothing listening at first; the receiver comes up 300 ms later. */
static void test_receiver_down_then_up(void)
{
    int port = free_port();
    CHECK(port > 0);
    struct rw_notifier_cfg cfg = mkcfg("hook-d", "webhook", port, "/d");
    cfg.retries = 30;
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    CHECK_INT(submit(d, "down_rule", "warning", "firing"), 0);
    sleep_ms(300);
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.sent, 0);
    CHECK(s.retried >= 1);
    CHECK_INT(s.pending, 1);
    struct recv r;
    if (recv_start(&r, port, NULL)) {
        CHECK(!"receiver did not start on the chosen port");
        rw_delivery_destroy(&d, 0);
        return;
    }
    WAIT_UNTIL(st(d).sent == 1, 5000);
    s = st(d);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.failed, 0);
    CHECK_INT(recv_count(&r), 1);
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    recv_stop(&r);
}

/* (e) First request hangs: the attempt times out (0.3 s) and is retried. */
static void test_hang_timeout(void)
{
    struct recv r;
    const char *const extra[] = {"--hang", "1", NULL};
    if (recv_start(&r, 0, extra)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg = mkcfg("hook-e", "webhook", r.port, "/e");
    cfg.timeout = 0.3;
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    int64_t t0 = rw_mono_ms();
    CHECK_INT(submit(d, "hang_rule", "warning", "firing"), 0);
    WAIT_UNTIL(st(d).sent == 1, 5000);
    int64_t elapsed = rw_mono_ms() - t0;
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.retried, 1);
    CHECK(elapsed >= 300);
    CHECK_INT(recv_count(&r), 2); /* the hung one is logged too */
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    recv_stop(&r);
}

/* (f) A receiver that never answers does not hold up another one. */
static void test_slow_does_not_block(void)
{
    struct recv slow, fast;
    const char *const extra[] = {"--hang", "1000", NULL};
    if (recv_start(&slow, 0, extra)) {
        CHECK(!"receiver did not start");
        return;
    }
    if (recv_start(&fast, 0, NULL)) {
        CHECK(!"receiver did not start");
        recv_stop(&slow);
        return;
    }
    struct rw_notifier_cfg cfg[2] = {mkcfg("slow", "webhook", slow.port, "/slow"),
                                     mkcfg("fast", "webhook", fast.port, "/fast")};
    cfg[0].timeout = 10;
    struct rw_delivery *d = rw_delivery_new(zctx, cfg, 2);
    CHECK(d != NULL);
    int64_t t0 = rw_mono_ms();
    enum { N = 12 };
    for (int i = 0; i < N; i++) {
        char rule[32];
        snprintf(rule, sizeof rule, "rule_%d", i);
        CHECK_INT(submit(d, rule, "warning", "firing"), 0);
    }
    WAIT_UNTIL(recv_count(&fast) == N, 5000);
    int64_t elapsed = rw_mono_ms() - t0;
    CHECK_INT(recv_count(&fast), N);
    printf("fast receiver got %d alerts in %lld ms while the slow one hangs\n", N,
           (long long)elapsed);
    CHECK(elapsed < 1500);
    WAIT_UNTIL(st(d).sent == N, 2000);
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.sent, N);
    CHECK_INT(s.pending, N); /* all of the slow receiver's, a few in flight */
    CHECK_INT(s.failed, 0);
    WAIT_UNTIL(recv_count(&slow) >= 1, 2000);
    size_t hung = recv_count(&slow);
    CHECK(hung >= 1 && hung <= 4); /* per-receiver in-flight bound */
    /* No drain time: in-flight and queued work is dropped, quickly. */
    int64_t t1 = rw_mono_ms();
    rw_delivery_destroy(&d, 0);
    CHECK(rw_mono_ms() - t1 < 1000);
    CHECK(d == NULL);
    recv_stop(&slow);
    recv_stop(&fast);
}

/* (g) min_severity and send_resolved. */
/* Two receivers hanging until their timeout fill every global send slot;
 * a third, healthy receiver must still get its alerts at once. */
static void test_two_hanging_do_not_starve(void)
{
    struct recv h1, h2, ok;
    const char *const extra[] = {"--hang", "1000", NULL};
    if (recv_start(&h1, 0, extra) || recv_start(&h2, 0, extra) || recv_start(&ok, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg[3] = {mkcfg("h1", "webhook", h1.port, "/h1"),
                                     mkcfg("h2", "webhook", h2.port, "/h2"),
                                     mkcfg("ok", "webhook", ok.port, "/ok")};
    cfg[0].timeout = cfg[1].timeout = 10;
    struct rw_delivery *d = rw_delivery_new(zctx, cfg, 3);
    CHECK(d != NULL);
    int64_t t0 = rw_mono_ms();
    for (int i = 0; i < 6; i++) {
        char rule[32];
        snprintf(rule, sizeof rule, "starve_%d", i);
        CHECK_INT(submit(d, rule, "warning", "firing"), 0);
    }
    WAIT_UNTIL(recv_count(&ok) == 6, 5000);
    CHECK_INT(recv_count(&ok), 6);
    CHECK(rw_mono_ms() - t0 < 2000);
    rw_delivery_destroy(&d, 0);
    recv_stop(&h1);
    recv_stop(&h2);
    recv_stop(&ok);
}

static void test_filtering(void)
{
    struct recv r;
    if (recv_start(&r, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg[2] = {mkcfg("crit-only", "webhook", r.port, "/crit"),
                                     mkcfg("all", "webhook", r.port, "/all")};
    cfg[0].min_severity = 2;
    cfg[0].send_resolved = 0;
    struct rw_delivery *d = rw_delivery_new(zctx, cfg, 2);
    CHECK(d != NULL);
    CHECK_INT(submit(d, "r_info", "info", "firing"), 0);
    CHECK_INT(submit(d, "r_warn", "warning", "firing"), 0);
    CHECK_INT(submit(d, "r_crit", "critical", "firing"), 0);
    CHECK_INT(submit(d, "r_crit", "critical", "resolved"), 0);
    CHECK_INT(submit(d, "r_odd", "bogus", "firing"), 0);
    /* Not alerts: ignored without harm. */
    CHECK_INT(rw_delivery_submit(d, "{not json"), 0);
    CHECK_INT(rw_delivery_submit(d, "[1,2]"), 0);
    CHECK_INT(rw_delivery_submit(d, ""), -EINVAL);
    CHECK_INT(rw_delivery_submit(d, NULL), -EINVAL);
    CHECK_INT(rw_delivery_submit(NULL, "{}"), -EINVAL);
    WAIT_UNTIL(st(d).sent == 6, 5000);
    sleep_ms(100); /* nothing more should arrive */
    struct rw_delivery_stats s = st(d);
    CHECK_INT(s.submitted, 6);
    CHECK_INT(s.sent, 6);
    CHECK_INT(recv_count_path(&r, "/crit"), 1);
    CHECK_INT(recv_count_path(&r, "/all"), 5);
    json_t *reqs = recv_requests(&r);
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        const char *path = json_string_value(json_object_get(q, "path"));
        if (path && strcmp(path, "/crit") == 0) {
            const json_t *b = json_object_get(q, "body");
            CHECK_STR(json_string_value(json_object_get(b, "status")), "firing");
            CHECK_STR(json_string_value(json_object_get(
                          json_object_get(json_array_get(json_object_get(b, "alerts"), 0), "labels"),
                          "severity")),
                      "critical");
        }
    }
    json_decref(reqs);
    check_balanced(d);
    rw_delivery_destroy(&d, 1000);
    recv_stop(&r);
}

/* (h) destroy drains: everything submitted is delivered before it returns. */
static void test_drain(void)
{
    struct recv r;
    if (recv_start(&r, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct rw_notifier_cfg cfg = mkcfg("hook-h", "webhook", r.port, "/h");
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    for (int i = 0; i < 3; i++)
        CHECK_INT(submit(d, "drain_rule", "warning", "firing"), 0);
    rw_delivery_destroy(&d, 5000);
    CHECK(d == NULL);
    CHECK_INT(recv_count(&r), 3);
    rw_delivery_destroy(&d, 5000); /* twice is fine */
    rw_delivery_destroy(NULL, 0);
    recv_stop(&r);
}

/* Drain gives up at its deadline, and at once when only far retries remain. */
static void test_drain_deadline(void)
{
    int port = free_port();
    struct rw_notifier_cfg cfg = mkcfg("hook-down", "webhook", port, "/x");
    cfg.retries = 100;
    cfg.backoff = 0.02; /* retries keep coming before the deadline */
    cfg.max_backoff = 0.04;
    struct rw_delivery *d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    CHECK_INT(submit(d, "never", "warning", "firing"), 0);
    int64_t t0 = rw_mono_ms();
    rw_delivery_destroy(&d, 300);
    int64_t el = rw_mono_ms() - t0;
    CHECK(el >= 200 && el < 1500); /* may stop one backoff early: nothing can run in time */
    printf("drain with a down receiver returned after %lld ms (drain_ms 300)\n", (long long)el);

    cfg.backoff = 10;
    cfg.max_backoff = 60;
    d = rw_delivery_new(zctx, &cfg, 1);
    CHECK(d != NULL);
    CHECK_INT(submit(d, "never", "warning", "firing"), 0);
    WAIT_UNTIL(st(d).retried == 1, 3000);
    CHECK_INT(st(d).retried, 1);
    t0 = rw_mono_ms();
    rw_delivery_destroy(&d, 5000);
    el = rw_mono_ms() - t0;
    CHECK(el < 1000); /* next attempt is >= 7.5 s away: no point waiting */
}

static void test_new_errors(void)
{
    struct rw_notifier_cfg cfg = mkcfg("x", "carrier-pigeon", 9, "/");
    CHECK(rw_delivery_new(zctx, &cfg, 1) == NULL);
    CHECK(rw_delivery_new(NULL, &cfg, 0) == NULL);
    CHECK(rw_delivery_new(zctx, NULL, 1) == NULL);
    struct rw_delivery *d = rw_delivery_new(zctx, NULL, 0); /* no receivers: alerts vanish */
    CHECK(d != NULL);
    CHECK_INT(submit(d, "r", "critical", "firing"), 0);
    struct rw_delivery_stats s;
    rw_delivery_stats(d, &s);
    CHECK_INT(s.submitted, 0);
    rw_delivery_destroy(&d, 100);
    rw_delivery_stats(NULL, &s);
    CHECK_INT(s.sent, 0);
}

int main(int argc, char **argv)
{
    const char *bdir = argc > 1 ? argv[1] : getenv("RW_BUILD_DIR");
    if (!bdir || !*bdir)
        bdir = "./build";
    snprintf(recv_bin, sizeof recv_bin, "%s/rw_httprecv", bdir);
    if (access(recv_bin, X_OK) != 0) {
        fprintf(stderr, "test_delivery: %s not found or not executable\n", recv_bin);
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rw_test_delivery_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    zctx = zmq_ctx_new();
    CHECK(zctx != NULL);

    int64_t t0 = rw_mono_ms();
    test_new_errors();
    test_ok();
    test_retry_then_ok();
    test_permanent_fail();
    test_receiver_down_then_up();
    test_hang_timeout();
    test_two_hanging_do_not_starve();
    test_slow_does_not_block();
    test_filtering();
    test_drain();
    test_drain_deadline();
    printf("test_delivery took %lld ms\n", (long long)(rw_mono_ms() - t0));

    zmq_ctx_term(zctx);
    curl_global_cleanup();
    rmdir(tmpdir);
    TEST_DONE();
}
