/* The notification pipeline end to end inside one process: config text ->
 * rw_cmd_start_delivery (the same wiring `run` and `replay --notify` use) ->
 * dispatcher, outbox on disk, curl -> a real HTTP receiver
 * (tests/tools/rw_httprecv as a child process on a loopback port), plus the
 * control socket.
 *
 * argv[1] is the build directory holding rw_httprecv (CTest passes it);
 * otherwise $RW_BUILD_DIR, otherwise ./build. Conditions are polled with
 * deadlines; the only fixed waits are the ones a scenario is about ("no
 * second notification shows up").
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "config/config.h"
#include "engine/cmd.h"
#include "engine/control.h"
#include "engine/log.h"
#include "notifiers/delivery.h"
#include "notifiers/history.h"
#include "notifiers/sign.h"
#include "notifiers/silence.h"
#include "tests/unit/check.h"

static char recv_bin[1024];
static char tmpdir[256];
static int recv_seq, state_seq;
static void *zctx;

static const char SECRET[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

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

static size_t recv_count_path(const struct recv *r, const char *path)
{
    json_t *a = recv_requests(r);
    size_t i, n = 0;
    json_t *q;
    json_array_foreach(a, i, q)
    {
        const char *p = json_string_value(json_object_get(q, "path"));
        n += !path || (p && strcmp(p, path) == 0);
    }
    json_decref(a);
    return n;
}

static size_t recv_count(const struct recv *r)
{
    return recv_count_path(r, NULL);
}

static const json_t *req_body(const json_t *reqs, size_t i)
{
    return json_object_get(json_array_get(reqs, i), "body");
}

static const char *req_header(const json_t *reqs, size_t i, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(reqs, i), "headers"), name));
}

static const char *S(const char *s)
{
    return s ? s : "";
}

/* 1 if the newest request's body contains `needle`. */
static int last_body_has(const struct recv *r, const char *needle)
{
    json_t *reqs = recv_requests(r);
    size_t n = json_array_size(reqs);
    char *text = n ? json_dumps(req_body(reqs, n - 1), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int has = text && strstr(text, needle) != NULL;
    free(text);
    json_decref(reqs);
    return has;
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

/* A pipeline started from config text, like `rumwatch run` does it. */
struct pipe {
    struct rw_config *cfg;
    struct rw_delivery *d;
    char state[512];
};

static void new_state(char *out, size_t len)
{
    snprintf(out, len, "%s/state%d", tmpdir, state_seq++);
}

static int vpipe_start(struct pipe *p, const char *state, int event_time, int control,
                       const char *fmt, va_list ap)
{
    memset(p, 0, sizeof *p);
    if (state)
        snprintf(p->state, sizeof p->state, "%s", state);
    else
        new_state(p->state, sizeof p->state);
    char text[8192];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    snprintf(text + n, sizeof text - (size_t)n, "\nnotify = { state_dir = \"%s\"; };\n", p->state);
    char err[1024] = "";
    p->cfg = rw_config_load_string(text, "test.conf", err, sizeof err);
    if (!p->cfg) {
        fprintf(stderr, "config: %s\n", err);
        CHECK(!"config rejected");
        return -1;
    }
    int failed = 0;
    p->d = rw_cmd_start_delivery(zctx, p->cfg, event_time, control, &failed);
    CHECK(p->d != NULL);
    return p->d ? 0 : -1;
}

/* fmt: the config (printf-style); `notify.state_dir` is added. state NULL:
 * a fresh state directory. */
static int pipe_start(struct pipe *p, const char *state, int event_time, int control,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vpipe_start(p, state, event_time, control, fmt, ap);
    va_end(ap);
    return rc;
}

/* The usual scenario: a receiver (extra: its arguments, or NULL), then a
 * pipeline on a fresh state directory whose config fmt has one "%d" per
 * use of the receiver's port. Nonzero (both stopped) if either fails. */
static int start_both(struct recv *r, const char *const *extra, struct pipe *p, int event_time,
                      int control, const char *fmt)
{
    if (recv_start(r, 0, extra)) {
        CHECK(!"receiver did not start");
        return -1;
    }
    if (pipe_start(p, NULL, event_time, control, fmt, r->port, r->port, r->port, r->port)) {
        recv_stop(r);
        return -1;
    }
    return 0;
}

static void pipe_stop(struct pipe *p, int drain_ms)
{
    rw_delivery_destroy(&p->d, drain_ms);
    CHECK(p->d == NULL);
    rw_config_free(&p->cfg);
}

static struct rw_delivery_stats st(const struct pipe *p)
{
    struct rw_delivery_stats s;
    rw_delivery_stats(p->d, &s);
    return s;
}

/* An alert line (malloc'd JSON text) from the firing fixture. */
static char *alert_text(const char *rule, const char *severity, const char *state, const char *page,
                        int64_t ts)
{
    json_t *a = json_load_file("tests/fixtures/alert_firing.json", 0, NULL);
    CHECK(a != NULL);
    if (!a)
        a = json_object();
    json_object_set_new(a, "rule", json_string(rule));
    json_object_set_new(a, "severity", json_string(severity));
    json_object_set_new(a, "state", json_string(state));
    json_t *scope = json_object();
    if (page)
        json_object_set_new(scope, "page", json_string(page));
    json_object_set_new(a, "scope", scope);
    if (ts)
        json_object_set_new(a, "ts", json_integer(ts));
    json_object_set_new(a, "evidence",
                        json_pack("{s:f,s:f}", "observed", 4100.5, "expected", 2000.0));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int submit_ts(struct pipe *p, const char *rule, const char *sev, const char *state,
                     const char *page, int64_t ts)
{
    char *s = alert_text(rule, sev, state, page, ts);
    int rc = rw_delivery_submit(p->d, s);
    free(s);
    return rc;
}

static int submit(struct pipe *p, const char *rule, const char *sev, const char *state,
                  const char *page)
{
    return submit_ts(p, rule, sev, state, page, 0);
}

static const char *alert_label(const json_t *body, size_t i, const char *label)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(body, "alerts"), i), "labels"), label));
}

static json_t *control(const struct pipe *p, json_t *req)
{
    json_t *reply = NULL;
    char err[512];
    int rc = rw_control_call(p->state, req, &reply, 3000, err, sizeof err);
    if (rc)
        fprintf(stderr, "control: %s\n", err);
    CHECK_INT(rc, 0);
    json_decref(req);
    return reply;
}

static size_t count_lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[65536];
    size_t n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* ---- scenarios --------------------------------------------------------------- */

/* Two alerts of one group go out in one POST listing both; the resolution of
 * one is sent with the other still firing; the last resolution closes the
 * group. The history has every step. */
static void test_grouping_and_resolved(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/hook\"; } );\n"
                   "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"300ms\";\n"
                   "          group_interval = \"200ms\"; repeat_interval = \"1h\"; };\n"))
        return;
    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/a"), 0);
    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/b"), 0);
    WAIT_UNTIL(recv_count(&r) >= 1, 5000);
    sleep_ms(400); /* a second POST would show up by now */
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    const json_t *b = req_body(reqs, 0);
    CHECK_STR(json_string_value(json_object_get(b, "status")), "firing");
    CHECK_INT(json_array_size(json_object_get(b, "alerts")), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(b, "groupLabels"), "rule")),
              "lcp_slowdown");
    CHECK(json_object_get(json_object_get(b, "commonLabels"), "page") == NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(b, "commonLabels"), "rule")),
              "lcp_slowdown");
    CHECK_STR(json_string_value(json_object_get(b, "groupKey")), "{}:{rule=\"lcp_slowdown\"}");
    json_decref(reqs);

    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "resolved", "/a"), 0);
    WAIT_UNTIL(recv_count(&r) >= 2, 5000);
    reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    b = req_body(reqs, 1);
    CHECK_STR(json_string_value(json_object_get(b, "status")), "firing");
    CHECK_INT(json_array_size(json_object_get(b, "alerts")), 2);
    /* firing first, then the resolved one */
    CHECK_STR(alert_label(b, 0, "page"), "/b");
    CHECK_STR(alert_label(b, 1, "page"), "/a");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(b, "alerts"), 1), "status")),
              "resolved");
    json_decref(reqs);

    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "resolved", "/b"), 0);
    WAIT_UNTIL(recv_count(&r) >= 3, 5000);
    sleep_ms(300);
    reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 3);
    b = req_body(reqs, 2);
    CHECK_STR(json_string_value(json_object_get(b, "status")), "resolved");
    CHECK_INT(json_array_size(json_object_get(b, "alerts")), 1);
    CHECK_STR(alert_label(b, 0, "page"), "/b");
    /* every request carries its notification's id, each a different one */
    CHECK(req_header(reqs, 0, "webhook-id") && req_header(reqs, 1, "webhook-id") &&
          strcmp(req_header(reqs, 0, "webhook-id"), req_header(reqs, 1, "webhook-id")) != 0);
    json_decref(reqs);

    WAIT_UNTIL(st(&p).pending == 0, 2000);
    struct rw_delivery_stats s = st(&p);
    CHECK_INT(s.alerts, 4);
    CHECK_INT(s.submitted, 3);
    CHECK_INT(s.sent, 3);
    CHECK_INT(s.pending, 0);
    CHECK_INT(s.failed, 0);
    CHECK_INT(s.groups, 0);
    char hist[600];
    snprintf(hist, sizeof hist, "%s/history.jsonl", p.state);
    pipe_stop(&p, 1000);
    CHECK_INT(count_lines_with(hist, "\"event\":\"alert\""), 4);
    CHECK_INT(count_lines_with(hist, "\"event\":\"notification\""), 3);
    CHECK_INT(count_lines_with(hist, "\"result\":\"sent\""), 3);
    recv_stop(&r);
}

/* continue = true: a critical alert goes to both receivers, a warning to one. */
static void test_routing_continue(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(
            &r, NULL, &p, 0, 0,
            "notifiers = ( { name = \"team\"; type = \"webhook\"; url = "
            "\"http://127.0.0.1:%d/team\"; },\n"
            "              { name = \"pager\"; type = \"webhook\"; url = "
            "\"http://127.0.0.1:%d/pager\"; } );\n"
            "route = { receiver = \"team\"; group_by = [\"...\"]; group_wait = \"0s\";\n"
            "  routes = ( { matchers = [\"severity=critical\"]; receiver = \"pager\"; continue = "
            "true; },\n"
            "             { matchers = [\"page=~/checkout.*\"]; receiver = \"team\"; } ); };\n"))
        return;
    CHECK_INT(submit(&p, "traffic_drop", "critical", "firing", "/checkout/pay"), 0);
    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/home"), 0);
    WAIT_UNTIL(recv_count(&r) >= 3, 5000);
    sleep_ms(200);
    CHECK_INT(recv_count_path(&r, "/pager"), 1);
    CHECK_INT(recv_count_path(&r, "/team"), 2);
    json_t *reqs = recv_requests(&r);
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        const char *path = json_string_value(json_object_get(q, "path"));
        const json_t *b = json_object_get(q, "body");
        if (strcmp(path, "/pager") == 0) {
            CHECK_STR(json_string_value(json_object_get(b, "receiver")), "pager");
            CHECK_STR(alert_label(b, 0, "severity"), "critical");
        }
    }
    json_decref(reqs);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* A silence added over the control socket mutes a matching alert; after it
 * is expired the still-firing alert goes out on the group's next tick. */
static void test_silence(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 1,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/hook\"; } );\n"
                   "route = { receiver = \"hook\"; group_by = [\"...\"]; group_wait = \"0s\"; "
                   "group_interval = \"200ms\"; };\n"))
        return;
    struct rw_silence_spec spec;
    char err[512];
    char *args[] = {"--match",   "page=/muted", "--for",    "1h",
                    "--comment", "deploy",      "--author", "test"};
    CHECK_INT(rw_silence_parse_args(8, args, rw_wall_ms(), &spec, err, sizeof err), 0);
    json_t *reply = control(&p, json_pack("{s:s, s:o}", "cmd", "silence.add", "silence",
                                          rw_silence_spec_to_json(&spec)));
    rw_silence_spec_clear(&spec);
    CHECK(json_is_true(json_object_get(reply, "ok")));
    char id[64];
    snprintf(id, sizeof id, "%s", S(json_string_value(json_object_get(reply, "id"))));
    CHECK_INT(strlen(id), RW_SILENCE_ID_LEN);
    json_decref(reply);

    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/muted"), 0);
    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/loud"), 0);
    WAIT_UNTIL(recv_count(&r) >= 1, 5000);
    sleep_ms(500); /* two more ticks: the muted one must stay out */
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    CHECK_STR(alert_label(req_body(reqs, 0), 0, "page"), "/loud");
    json_decref(reqs);
    CHECK(st(&p).silenced >= 1);

    reply = control(&p, json_pack("{s:s}", "cmd", "silence.list"));
    CHECK_INT(json_array_size(json_object_get(reply, "silences")), 1);
    json_decref(reply);
    reply = control(&p, json_pack("{s:s, s:s}", "cmd", "silence.expire", "id", id));
    CHECK(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    WAIT_UNTIL(recv_count(&r) >= 2, 3000);
    reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_STR(alert_label(req_body(reqs, 1), 0, "page"), "/muted");
    json_decref(reqs);

    /* bad requests get an error reply, never a crash */
    reply = control(&p, json_pack("{s:s}", "cmd", "nope"));
    CHECK(json_is_false(json_object_get(reply, "ok")));
    json_decref(reply);
    reply = control(&p, json_pack("{s:s, s:{}}", "cmd", "silence.add", "silence"));
    CHECK(json_is_false(json_object_get(reply, "ok")));
    json_decref(reply);
    char state[512];
    snprintf(state, sizeof state, "%s", p.state);
    pipe_stop(&p, 1000);
    /* The daemon is gone: its socket with it. */
    json_t *none = NULL;
    json_t *req = json_pack("{s:s}", "cmd", "status");
    CHECK(rw_control_not_running(rw_control_call(state, req, &none, 1000, err, sizeof err)));
    json_decref(req);
    recv_stop(&r);
}

/* An app-wide traffic drop inhibits slowdown alerts. */
static void test_inhibit(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(
            &r, NULL, &p, 0, 0,
            "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
            "\"http://127.0.0.1:%d/hook\"; } );\n"
            "route = { receiver = \"hook\"; group_by = [\"...\"]; group_wait = \"200ms\"; "
            "group_interval = \"200ms\"; };\n"
            "inhibit_rules = ( { source_matchers = [\"rule=traffic_drop_app\"];\n"
            "                    target_matchers = [\"rule=~.*_slowdown\"]; equal = []; } );\n"))
        return;
    CHECK_INT(submit(&p, "traffic_drop_app", "critical", "firing", NULL), 0);
    CHECK_INT(submit(&p, "lcp_slowdown", "warning", "firing", "/checkout"), 0);
    WAIT_UNTIL(recv_count(&r) >= 1, 5000);
    sleep_ms(500);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    CHECK_STR(alert_label(req_body(reqs, 0), 0, "rule"), "traffic_drop_app");
    json_decref(reqs);
    CHECK(st(&p).inhibited >= 1);
    /* The source resolves: the slowdown is not muted any more. */
    CHECK_INT(submit(&p, "traffic_drop_app", "critical", "resolved", NULL), 0);
    WAIT_UNTIL(recv_count_path(&r, "/hook") >= 3, 3000);
    CHECK_INT(recv_count(&r), 3);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* 500, 500, 200: retried with backoff and delivered once; every attempt has
 * the same webhook-id, a valid signature over the exact body bytes, and
 * attempts 2 and 3 are fresh signatures (their own timestamps). */
static void test_retry_same_id(void)
{
    const char *const extra[] = {"--codes", "500,500,200", NULL};
    setenv("RW_TEST_SECRET", SECRET, 1);
    struct recv r;
    struct pipe p;
    if (start_both(&r, extra, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/r\";\n"
                   "                backoff = 0.05; max_backoff = 0.2; secret_env = "
                   "\"RW_TEST_SECRET\"; } );\n"))
        return;
    int64_t t0 = rw_mono_ms();
    CHECK_INT(submit(&p, "retry_rule", "warning", "firing", "/r"), 0);
    WAIT_UNTIL(st(&p).sent == 1, 5000);
    int64_t elapsed = rw_mono_ms() - t0;
    struct rw_delivery_stats s = st(&p);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.retried, 2);
    CHECK_INT(s.failed, 0);
    CHECK(elapsed >= 100); /* 50 ms then 100 ms, each at least 75 % after jitter */
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 3);
    unsigned char key[RW_SECRET_MAX];
    size_t keylen = 0;
    char err[256];
    CHECK_INT(rw_sign_parse_secret(SECRET, key, &keylen, err, sizeof err), 0);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const char *id = req_header(reqs, i, "webhook-id");
        const char *ts = req_header(reqs, i, "webhook-timestamp");
        const char *sig = req_header(reqs, i, "webhook-signature");
        CHECK(id && ts && sig);
        if (!id || !ts || !sig)
            continue;
        CHECK_STR(id, req_header(reqs, 0, "webhook-id"));
        const char *b64 =
            S(json_string_value(json_object_get(json_array_get(reqs, i), "body_b64")));
        unsigned char body[65536];
        size_t b64len = strlen(b64);
        int n = b64len < 4 * (sizeof body / 3)
                    ? EVP_DecodeBlock(body, (const unsigned char *)b64, (int)b64len)
                    : -1;
        CHECK(n > 0);
        if (n <= 0)
            continue;
        /* EVP_DecodeBlock counts the '=' padding as decoded zero bytes. */
        size_t blen = (size_t)n;
        for (size_t k = b64len; k > 0 && b64[k - 1] == '='; k--)
            blen--;
        CHECK_INT(rw_sign_verify(key, keylen, id, atoll(ts), (const char *)body, blen, sig,
                                 rw_wall_ms() / 1000),
                  0);
    }
    CHECK(json_equal(req_body(reqs, 0), req_body(reqs, 2)));
    json_decref(reqs);
    pipe_stop(&p, 1000);
    unsetenv("RW_TEST_SECRET");
    recv_stop(&r);
}

/* 400: dead-lettered at once (no retry), listed in the outbox; `outbox
 * retry` over the control socket sends it again (now answered 200) with the
 * same id. */
static void test_dead_letter_retry(void)
{
    const char *const extra[] = {"--codes", "400,200", NULL};
    struct recv r;
    struct pipe p;
    if (start_both(&r, extra, &p, 0, 1,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/d\"; backoff = 0.05; } );\n"))
        return;
    CHECK_INT(submit(&p, "bad_request", "critical", "firing", "/d"), 0);
    WAIT_UNTIL(st(&p).failed == 1, 5000);
    sleep_ms(200); /* a retry (backoff 50 ms) would show up by now */
    struct rw_delivery_stats s = st(&p);
    CHECK_INT(s.failed, 1);
    CHECK_INT(s.dead, 1);
    CHECK_INT(s.sent, 0);
    CHECK_INT(s.retried, 0);
    CHECK_INT(s.pending, 0);
    CHECK_INT(recv_count(&r), 1);
    char err[512];
    json_t *list = rw_delivery_outbox_list(p.state, 0, 1, err, sizeof err);
    CHECK_INT(json_array_size(list), 1);
    const json_t *e = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(e, "state")), "dead");
    CHECK_STR(json_string_value(json_object_get(e, "dead_reason")), "rejected");
    CHECK(strstr(S(json_string_value(json_object_get(e, "last_error"))), "HTTP 400") != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(e, "body"), "receiver")), "hook");
    char id[RW_OUTBOX_ID_MAX];
    snprintf(id, sizeof id, "%s", S(json_string_value(json_object_get(e, "id"))));
    json_decref(list);

    json_t *reply = control(&p, json_pack("{s:s, s:s}", "cmd", "outbox.retry", "id", id));
    CHECK(json_is_true(json_object_get(reply, "ok")));
    CHECK_INT(json_integer_value(json_object_get(reply, "count")), 1);
    json_decref(reply);
    WAIT_UNTIL(st(&p).sent == 1, 5000);
    CHECK_INT(st(&p).sent, 1);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_STR(req_header(reqs, 1, "webhook-id"), id);
    json_decref(reqs);
    list = rw_delivery_outbox_list(p.state, 0, 0, err, sizeof err);
    CHECK_INT(json_array_size(list), 0);
    json_decref(list);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* 429 with Retry-After: 1 -> the next attempt waits a second, not the
 * 50 ms backoff. */
static void test_retry_after(void)
{
    const char *const extra[] = {"--codes", "429,200", "--retry-after", "1", NULL};
    struct recv r;
    struct pipe p;
    if (start_both(&r, extra, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/ra\"; backoff = 0.05; } );\n"))
        return;
    CHECK_INT(submit(&p, "ra_rule", "warning", "firing", "/ra"), 0);
    WAIT_UNTIL(st(&p).sent == 1, 5000);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    json_int_t gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "received_ms")) -
                     json_integer_value(json_object_get(json_array_get(reqs, 0), "received_ms"));
    printf("Retry-After: 1 -> second attempt %lld ms after the first\n", (long long)gap);
    CHECK(gap >= 950 && gap < 3000);
    json_decref(reqs);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* Down for a second (connections refused), then up: delivered. */
static void test_down_then_up(void)
{
    const char *const extra[] = {"--down-for", "1", NULL};
    struct recv r;
    struct pipe p;
    if (start_both(&r, extra, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/up\"; backoff = 0.1; max_backoff = 0.3; } );\n"))
        return;
    CHECK_INT(submit(&p, "down_rule", "warning", "firing", "/up"), 0);
    sleep_ms(400);
    CHECK_INT(st(&p).sent, 0);
    CHECK(st(&p).retried >= 1);
    CHECK_INT(st(&p).pending, 1);
    WAIT_UNTIL(st(&p).sent == 1, 5000);
    CHECK_INT(st(&p).sent, 1);
    CHECK_INT(recv_count(&r), 1);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* The first request hangs: that attempt times out (0.3 s) and is retried. */
static void test_hang_timeout(void)
{
    const char *const extra[] = {"--hang", "1", NULL};
    struct recv r;
    struct pipe p;
    if (start_both(&r, extra, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/h\"; timeout = 0.3; backoff = 0.05; } );\n"))
        return;
    int64_t t0 = rw_mono_ms();
    CHECK_INT(submit(&p, "hang_rule", "warning", "firing", "/h"), 0);
    WAIT_UNTIL(st(&p).sent == 1, 5000);
    CHECK(rw_mono_ms() - t0 >= 300);
    CHECK_INT(st(&p).sent, 1);
    CHECK_INT(st(&p).retried, 1);
    CHECK_INT(recv_count(&r), 2); /* the hung one is logged too */
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* A receiver that never answers does not hold up another one. */
static void test_slow_does_not_block(void)
{
    struct recv slow, fast;
    const char *const extra[] = {"--hang", "1000", NULL};
    if (recv_start(&slow, 0, extra) || recv_start(&fast, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct pipe p;
    if (pipe_start(&p, NULL, 0, 0,
                   "notifiers = ( { name = \"slow\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/slow\"; timeout = 10.0; },\n"
                   "              { name = \"fast\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/fast\"; } );\n",
                   slow.port, fast.port)) {
        recv_stop(&slow);
        recv_stop(&fast);
        return;
    }
    enum { N = 12 };
    int64_t t0 = rw_mono_ms();
    for (int i = 0; i < N; i++) {
        char page[32];
        snprintf(page, sizeof page, "/p%d", i);
        CHECK_INT(submit(&p, "slow_rule", "warning", "firing", page), 0);
    }
    WAIT_UNTIL(recv_count(&fast) == N, 5000);
    int64_t elapsed = rw_mono_ms() - t0;
    CHECK_INT(recv_count(&fast), N);
    printf("fast receiver got %d notifications in %lld ms while the slow one hangs\n", N,
           (long long)elapsed);
    CHECK(elapsed < 2000);
    WAIT_UNTIL(st(&p).sent == N, 2000);
    struct rw_delivery_stats s = st(&p);
    CHECK_INT(s.sent, N);
    CHECK_INT(s.pending, N); /* the slow receiver's, on disk */
    WAIT_UNTIL(recv_count(&slow) >= 1, 2000);
    size_t hung = recv_count(&slow);
    CHECK(hung >= 1 && hung <= 4); /* per-receiver in-flight bound */
    int64_t t1 = rw_mono_ms();
    pipe_stop(&p, 0);
    CHECK(rw_mono_ms() - t1 < 1000);
    recv_stop(&slow);
    recv_stop(&fast);
}

/* No route: the implicit root sends every alert to every receiver, with
 * min_severity and send_resolved as receiver filters. */
static void test_filtering_implicit_route(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 0,
                   "notifiers = ( { name = \"crit\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/crit\";\n"
                   "                min_severity = \"critical\"; send_resolved = false; },\n"
                   "              { name = \"all\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/all\"; } );\n"))
        return;
    CHECK(p.cfg->route_implicit);
    CHECK_INT(submit(&p, "r_info", "info", "firing", "/f"), 0);
    CHECK_INT(submit(&p, "r_warn", "warning", "firing", "/f"), 0);
    CHECK_INT(submit(&p, "r_crit", "critical", "firing", "/f"), 0);
    WAIT_UNTIL(recv_count(&r) >= 4, 5000);
    CHECK_INT(submit(&p, "r_crit", "critical", "resolved", "/f"), 0);
    CHECK_INT(rw_delivery_submit(p.d, "{not json"), 0); /* ignored without harm */
    CHECK_INT(rw_delivery_submit(p.d, "[1,2]"), 0);
    CHECK_INT(rw_delivery_submit(p.d, ""), -EINVAL);
    CHECK_INT(rw_delivery_submit(NULL, "{}"), -EINVAL);
    WAIT_UNTIL(recv_count(&r) >= 5, 5000);
    sleep_ms(300); /* nothing more should arrive */
    CHECK_INT(recv_count_path(&r, "/crit"), 1);
    CHECK_INT(recv_count_path(&r, "/all"), 4);
    json_t *reqs = recv_requests(&r);
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        const json_t *b = json_object_get(q, "body");
        CHECK_INT(json_array_size(json_object_get(b, "alerts")),
                  1); /* one alert per notification */
        if (strcmp(json_string_value(json_object_get(q, "path")), "/crit") == 0) {
            CHECK_STR(json_string_value(json_object_get(b, "status")), "firing");
            CHECK_STR(alert_label(b, 0, "severity"), "critical");
        }
    }
    json_decref(reqs);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* Stopped with the receiver down: the notifications stay in the outbox and
 * the next pipeline on the same state directory sends them, same ids. */
static void test_restart_delivers(void)
{
    int port = free_port();
    char state[512];
    new_state(state, sizeof state);
    struct pipe p;
    const char *conf =
        "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:%d/x\";\n"
        "                backoff = 0.05; max_backoff = 0.1; } );\n";
    if (pipe_start(&p, state, 0, 0, conf, port))
        return;
    CHECK_INT(submit(&p, "persist", "warning", "firing", "/1"), 0);
    CHECK_INT(submit(&p, "persist", "warning", "firing", "/2"), 0);
    WAIT_UNTIL(st(&p).submitted == 2 && st(&p).retried >= 2, 3000);
    pipe_stop(&p, 0);
    char err[512];
    json_t *before = rw_delivery_outbox_list(state, 0, 0, err, sizeof err);
    CHECK_INT(json_array_size(before), 2);

    struct recv r;
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    if (recv_start(&r, port, NULL)) {
        CHECK(!"receiver did not start on the chosen port");
        json_decref(before);
        return;
    }
    if (pipe_start(&p, state, 0, 0, conf, port)) {
        json_decref(before);
        recv_stop(&r);
        return;
    }
    CHECK_INT(st(&p).pending, 2);
    WAIT_UNTIL(st(&p).sent == 2, 5000);
    CHECK_INT(st(&p).sent, 2);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        int found = 0;
        for (size_t k = 0; k < json_array_size(before); k++)
            found |=
                strcmp(S(req_header(reqs, i, "webhook-id")),
                       S(json_string_value(json_object_get(json_array_get(before, k), "id")))) == 0;
        CHECK(found);
    }
    json_decref(reqs);
    json_decref(before);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* A graceful stop flushes groups still in group_wait into the outbox. */
static void test_stop_flushes_groups(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(
            &r, NULL, &p, 0, 0,
            "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:%d/w\"; "
            "} );\n"
            "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"1h\"; };\n"))
        return;
    CHECK_INT(submit(&p, "waiting", "warning", "firing", "/1"), 0);
    CHECK_INT(submit(&p, "waiting", "warning", "firing", "/2"), 0);
    WAIT_UNTIL(st(&p).alerts == 2, 2000);
    CHECK_INT(recv_count(&r), 0);
    pipe_stop(&p, 3000);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    CHECK_INT(json_array_size(json_object_get(req_body(reqs, 0), "alerts")), 2);
    json_decref(reqs);
    recv_stop(&r);
}

/* alertmanager: firing alerts are re-posted every resend_interval with
 * endsAt = now + 4 x resend_interval; the resolution carries its endsAt and
 * ends the re-posts. */
static void test_alertmanager_resend(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 0,
                   "notifiers = ( { name = \"am\"; type = \"alertmanager\"; url = "
                   "\"http://127.0.0.1:%d/\"; resend_interval = 1.0; } );\n"))
        return;
    CHECK_INT(submit(&p, "am_rule", "warning", "firing", "/am"), 0);
    WAIT_UNTIL(recv_count(&r) >= 3, 5000); /* the first post, then re-posts */
    json_t *reqs = recv_requests(&r);
    CHECK(json_array_size(reqs) >= 3);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *q = json_array_get(reqs, i);
        CHECK_STR(json_string_value(json_object_get(q, "path")), "/api/v2/alerts");
        const json_t *a = json_array_get(json_object_get(q, "body"), 0);
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "labels"), "page")), "/am");
        int64_t ends = 0;
        CHECK_INT(rw_time_parse(S(json_string_value(json_object_get(a, "endsAt"))), &ends), 0);
        int64_t recv_ms = json_integer_value(json_object_get(q, "received_ms"));
        CHECK(ends - recv_ms > 3000 && ends - recv_ms <= 4100); /* now + 4 x 1 s */
    }
    json_decref(reqs);
    WAIT_UNTIL(st(&p).resent >= 2, 3000); /* the receiver logs before curl reports */
    CHECK(st(&p).resent >= 2);
    CHECK_INT(submit(&p, "am_rule", "warning", "resolved", "/am"), 0);
    /* the resolution: endsAt is its time (the fixture's ts) */
    WAIT_UNTIL(last_body_has(&r, "2025-11-02T01:01:00.000Z"), 5000);
    size_t n = recv_count(&r);
    sleep_ms(1500); /* no re-post of a resolved alert */
    CHECK_INT(recv_count(&r), n);
    reqs = recv_requests(&r);
    const json_t *last = json_array_get(req_body(reqs, json_array_size(reqs) - 1), 0);
    CHECK_STR(json_string_value(json_object_get(last, "endsAt")), "2025-11-02T01:01:00.000Z");
    json_decref(reqs);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* replay --notify: group timers in event time. Alerts at t0 and t0+30 s
 * share a group (group_wait 1 m); one at t0+90 s first runs the timers to
 * its time (the group flushes with two alerts) and then joins; the end of
 * the replay flushes it again with three. */
static void test_event_time(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 1, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/e\"; } );\n"
                   "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"1m\"; "
                   "group_interval = \"5m\"; };\n"))
        return;
    int64_t t0 = 1762045260000;
    CHECK_INT(submit_ts(&p, "ev", "warning", "firing", "/a", t0), 0);
    CHECK_INT(submit_ts(&p, "ev", "warning", "firing", "/b", t0 + 30000), 0);
    CHECK_INT(submit_ts(&p, "ev", "warning", "firing", "/c", t0 + 90000), 0);
    WAIT_UNTIL(recv_count(&r) >= 1, 5000);
    sleep_ms(200);
    CHECK_INT(recv_count(&r), 1);
    pipe_stop(&p, 3000);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_INT(json_array_size(json_object_get(req_body(reqs, 0), "alerts")), 2);
    CHECK_INT(json_array_size(json_object_get(req_body(reqs, 1), "alerts")), 3);
    json_decref(reqs);
    recv_stop(&r);
}

/* Throughput and latency figures (printed, loosely bounded). */
static void test_figures(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/f\"; } );\n"))
        return;
    /* latency with group_wait 0: submit -> received */
    int64_t lat[5];
    for (int i = 0; i < 5; i++) {
        char page[16];
        snprintf(page, sizeof page, "/lat%d", i);
        int64_t t = rw_wall_ms();
        submit(&p, "latency", "warning", "firing", page);
        WAIT_UNTIL(recv_count(&r) >= (size_t)i + 1, 5000);
        json_t *reqs = recv_requests(&r);
        lat[i] =
            json_integer_value(json_object_get(json_array_get(reqs, (size_t)i), "received_ms")) - t;
        json_decref(reqs);
    }
    printf("latency alert -> receiver (group_wait 0, outbox fsync): %lld %lld %lld %lld %lld ms\n",
           (long long)lat[0], (long long)lat[1], (long long)lat[2], (long long)lat[3],
           (long long)lat[4]);
    CHECK(lat[4] < 1000);
    /* RW_DELIVERY_BENCH_N=3000 goes past the in-memory queue's 8 MiB and
     * exercises handing records back to the outbox. */
    const char *nenv = getenv("RW_DELIVERY_BENCH_N");
    int N = nenv && atoi(nenv) > 0 ? atoi(nenv) : 300;
    int64_t t0 = rw_mono_ms();
    for (int i = 0; i < N; i++) {
        char page[16];
        snprintf(page, sizeof page, "/n%d", i);
        submit(&p, "throughput", "warning", "firing", page);
    }
    WAIT_UNTIL(st(&p).sent == (uint64_t)N + 5, 120000);
    int64_t el = rw_mono_ms() - t0;
    CHECK_INT(st(&p).sent, N + 5);
    printf("%d notifications (one alert each) through the pipeline in %lld ms: %.0f/s\n", N,
           (long long)el, el > 0 ? N * 1000.0 / (double)el : 0.0);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* The history rotates at its cap and never splits a record. */
static void test_history_rotation(void)
{
    char path[600], old[610], err[256];
    snprintf(path, sizeof path, "%s/hist.jsonl", tmpdir);
    snprintf(old, sizeof old, "%s.1", path);
    struct rw_history *h = rw_history_open(path, 4096, err, sizeof err);
    CHECK(h != NULL);
    if (!h)
        return;
    json_t *rec =
        json_pack("{s:s, s:s}", "event", "test", "pad",
                  "0123456789012345678901234567890123456789012345678901234567890123456789");
    for (int i = 0; i < 200; i++)
        CHECK_INT(rw_history_write(h, 1762045260000 + i, rec), 0);
    json_decref(rec);
    struct rw_history_stats hs;
    rw_history_stats(h, &hs);
    CHECK_INT(hs.records, 200);
    CHECK(hs.rotations >= 3);
    CHECK_INT(hs.errors, 0);
    rw_history_close(&h);
    CHECK(h == NULL);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size <= 4096);
    CHECK(stat(old, &sb) == 0 && sb.st_size <= 4096);
    size_t lines =
        count_lines_with(path, "\"event\":\"test\"") + count_lines_with(old, "\"event\":\"test\"");
    FILE *f = fopen(path, "r");
    char line[512];
    int first = 1;
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        CHECK(j != NULL); /* whole records only */
        if (first)
            CHECK(strncmp(line, "{\"time\":\"2025-11-02T01:0",
                          strlen("{\"time\":\"2025-11-02T01:0")) == 0);
        first = 0;
        json_decref(j);
    }
    if (f)
        fclose(f);
    CHECK(lines > 0 && lines < 200); /* older generations are gone: bounded */
    CHECK(rw_history_open("/nonexistent/dir/h.jsonl", 4096, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/dir/h.jsonl") != NULL);
}

static void test_new_errors(void)
{
    char err[512] = "";
    struct rw_delivery_opts o = {0};
    CHECK(rw_delivery_new(zctx, &o, err, sizeof err) == NULL);
    CHECK(strstr(err, "route") != NULL);
    CHECK(rw_delivery_new(NULL, &o, err, sizeof err) == NULL);
    /* One process per state directory. */
    struct pipe a;
    if (pipe_start(&a, NULL, 0, 0,
                   "notifiers = ( { name = \"h\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:9/\"; } );\n"))
        return;
    struct rw_delivery_opts o2 = {.receivers = a.cfg->notifiers,
                                  .nreceivers = 1,
                                  .route = a.cfg->pipeline.root,
                                  .state_dir = a.state};
    CHECK(rw_delivery_new(zctx, &o2, err, sizeof err) == NULL);
    CHECK(strstr(err, "another rumwatch process") != NULL || strstr(err, "in use") != NULL);
    printf("second pipeline on one state dir: %s\n", err);
    /* a state dir whose parent does not exist */
    o2.state_dir = "/nonexistent/rw/state";
    CHECK(rw_delivery_new(zctx, &o2, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/rw/state") != NULL);
    pipe_stop(&a, 0);
    rw_delivery_destroy(NULL, 0);
    struct rw_delivery_stats s;
    rw_delivery_stats(NULL, &s);
    CHECK_INT(s.sent, 0);
}

/* ---- the alert journal and reload --------------------------------------------- */

static const char JCONF[] =
    "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:%d/j\";\n"
    "                backoff = 0.05; max_backoff = 0.1; } );\n"
    "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"3s\";\n"
    "          group_interval = \"1m\"; repeat_interval = \"1h\"; };\n";

/* A child process runs a pipeline on `state`, submits `n` alerts (pages
 * /1../n of rule "jr"), waits until `until` holds for it (1: the alerts are
 * in groups, 2: a notification is in the outbox), then is killed with
 * SIGKILL. Returns the child's time of submission (wall ms), or -1. */
static int64_t run_and_kill(const char *state, const char *conf, int port, int n, int until)
{
    char ready[600];
    snprintf(ready, sizeof ready, "%s.ready", state);
    unlink(ready);
    int64_t t0 = rw_wall_ms();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        zctx = zmq_ctx_new(); /* never the parent's context after fork */
        struct pipe p;
        if (pipe_start(&p, state, 0, 0, conf, port))
            _exit(3);
        for (int i = 0; i < n; i++) {
            char page[16];
            snprintf(page, sizeof page, "/%d", i + 1);
            submit(&p, "jr", "warning", "firing", page);
        }
        if (until == 1)
            WAIT_UNTIL(st(&p).groups == 1 && st(&p).alerts == (uint64_t)n, 5000);
        else
            WAIT_UNTIL(st(&p).submitted >= 1 && st(&p).retried >= 1, 8000);
        FILE *f = fopen(ready, "w");
        if (f)
            fclose(f);
        for (;;)
            pause();
    }
    struct stat sb;
    int64_t deadline = rw_mono_ms() + 10000;
    while (stat(ready, &sb) != 0 && rw_mono_ms() < deadline)
        sleep_ms(5);
    CHECK(stat(ready, &sb) == 0);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return t0;
}

/* kill -9 during group_wait: the restarted pipeline has the group back
 * with its first-seen time, so the notification (both alerts, once) goes
 * out group_wait after the first submission, not after the restart. */
static void test_journal_kill9_group_wait(void)
{
    struct recv r;
    if (recv_start(&r, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    char state[512];
    new_state(state, sizeof state);
    int64_t t0 = run_and_kill(state, JCONF, r.port, 2, 1);
    CHECK_INT(recv_count(&r), 0);
    sleep_ms(1000);
    struct pipe p;
    int64_t t_restart = rw_wall_ms();
    if (pipe_start(&p, state, 0, 0, JCONF, r.port)) {
        recv_stop(&r);
        return;
    }
    CHECK_INT(st(&p).restored, 2);
    CHECK_INT(st(&p).groups, 1);
    WAIT_UNTIL(recv_count(&r) >= 1, 8000);
    sleep_ms(300);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    int64_t got = json_integer_value(json_object_get(json_array_get(reqs, 0), "received_ms"));
    printf("journal: submitted at +0, killed, restarted at +%lld ms, notified at +%lld ms "
           "(group_wait 3 s)\n",
           (long long)(t_restart - t0), (long long)(got - t0));
    CHECK(got - t0 >= 2900);
    CHECK(got - t_restart < 2900); /* group_wait did not start again at the restart */
    CHECK_INT(json_array_size(json_object_get(req_body(reqs, 0), "alerts")), 2);
    json_decref(reqs);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* Drop the group records from a journal: what a crash loses when the
 * record of a flush was written but not yet on disk. */
static int journal_drop_groups(const char *state)
{
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/alerts.journal", state);
    snprintf(tmp, sizeof tmp, "%s.cut", path);
    FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
    int dropped = 0;
    char *line = NULL;
    size_t cap = 0;
    while (in && out && getline(&line, &cap, in) > 0) {
        if (strstr(line, "\"t\":\"g\""))
            dropped++;
        else
            fputs(line, out);
    }
    free(line);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    CHECK(rename(tmp, path) == 0);
    return dropped;
}

/* The same flush made twice (the journal lost the record that it had
 * happened): same content, same id, one copy in the outbox, one delivery. */
static void test_journal_same_id(void)
{
    int port = free_port();
    char state[512];
    new_state(state, sizeof state);
    static const char conf[] =
        "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:%d/j\";\n"
        "                backoff = 0.05; max_backoff = 0.1; } );\n"
        "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"0s\";\n"
        "          group_interval = \"1m\"; repeat_interval = \"1h\"; };\n";
    /* killed with the notification in the outbox (its receiver is down) */
    run_and_kill(state, conf, port, 1, 2);
    struct pipe p;
    char err[512];
    json_t *before = rw_delivery_outbox_list(state, 0, 0, err, sizeof err);
    CHECK_INT(json_array_size(before), 1);
    const char *id = S(json_string_value(json_object_get(json_array_get(before, 0), "id")));
    CHECK(journal_drop_groups(state) >= 1);

    struct recv r;
    if (recv_start(&r, port, NULL)) {
        CHECK(!"receiver did not start on the chosen port");
        json_decref(before);
        return;
    }
    if (pipe_start(&p, state, 0, 0, conf, port)) {
        json_decref(before);
        recv_stop(&r);
        return;
    }
    WAIT_UNTIL(st(&p).sent >= 1, 5000);
    sleep_ms(500);
    json_t *reqs = recv_requests(&r);
    CHECK_INT(json_array_size(reqs), 1);
    CHECK_STR(S(req_header(reqs, 0, "webhook-id")), id);
    CHECK_INT(json_array_size(json_object_get(req_body(reqs, 0), "alerts")), 1);
    CHECK_INT(st(&p).restored, 1);
    CHECK_INT(st(&p).pending, 0);
    json_decref(reqs);
    json_decref(before);
    pipe_stop(&p, 1000);
    recv_stop(&r);
}

/* Many alerts come and go: the journal is compacted and stays bounded by
 * what the groups hold plus the slack, not by what ever went through. */
static void test_journal_bounded(void)
{
    struct recv r;
    if (recv_start(&r, 0, NULL)) {
        CHECK(!"receiver did not start");
        return;
    }
    struct pipe p;
    if (pipe_start(&p, NULL, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/b\"; } );\n"
                   "route = { receiver = \"hook\"; group_by = [\"...\"]; group_wait = \"0s\"; "
                   "group_interval = \"50ms\"; };\n",
                   r.port)) {
        recv_stop(&r);
        return;
    }
    /* the same wiring as rw_cmd_start_delivery, with a 64 KiB slack */
    pipe_stop(&p, 0);
    struct rw_delivery_opts o = {.receivers = p.cfg ? p.cfg->notifiers : NULL,
                                 .nreceivers = 1,
                                 .route = NULL,
                                 .state_dir = p.state,
                                 .journal_slack = 64 << 10};
    struct rw_config *cfg = NULL;
    char err[1024] = "", text[2048];
    snprintf(text, sizeof text,
             "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
             "\"http://127.0.0.1:%d/b\"; } );\n"
             "route = { receiver = \"hook\"; group_by = [\"...\"]; group_wait = \"0s\"; "
             "group_interval = \"50ms\"; };\nnotify = { state_dir = \"%s\"; };\n",
             r.port, p.state);
    cfg = rw_config_load_string(text, "test.conf", err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        recv_stop(&r);
        return;
    }
    o.receivers = cfg->notifiers;
    o.route = cfg->pipeline.root;
    struct rw_delivery *d = rw_delivery_new(zctx, &o, err, sizeof err);
    CHECK(d != NULL);
    uint64_t max_bytes = 0;
    for (int round = 0; d && round < 20; round++) {
        for (int i = 0; i < 20; i++) {
            char page[16];
            snprintf(page, sizeof page, "/b%d", i);
            char *a = alert_text("bounded", "warning", round % 2 ? "resolved" : "firing", page, 0);
            rw_delivery_submit(d, a);
            free(a);
        }
        sleep_ms(60);
        struct rw_delivery_stats ds;
        rw_delivery_stats(d, &ds);
        if (ds.journal_bytes > max_bytes)
            max_bytes = ds.journal_bytes;
    }
    struct rw_delivery_stats ds;
    WAIT_UNTIL((rw_delivery_stats(d, &ds), ds.groups == 0), 5000);
    sleep_ms(1200); /* the once-a-second job: sync and compaction */
    rw_delivery_stats(d, &ds);
    printf("journal: 400 alert lines, at most %llu bytes, %llu bytes once groups are empty\n",
           (unsigned long long)max_bytes, (unsigned long long)ds.journal_bytes);
    CHECK_INT(ds.groups, 0);
    CHECK(max_bytes < 3 * (64 << 10) + 64 * 1024); /* about 400 x 1.5 KiB went through */
    rw_delivery_destroy(&d, 1000);
    char path[600];
    snprintf(path, sizeof path, "%s/alerts.journal", o.state_dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 0); /* stop compacts: nothing held */
    rw_config_free(&cfg);
    rw_config_free(&p.cfg);
    recv_stop(&r);
}

/* Reload: a new route tree with group_wait kept, a receiver renamed away
 * (its outbox entries dead-lettered "receiver removed") and one added; the
 * group waiting in group_wait keeps its alerts and first-seen time. */
static void test_reload(void)
{
    struct recv r;
    struct pipe p;
    if (start_both(&r, NULL, &p, 0, 0,
                   "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/old\"; },\n"
                   "              { name = \"gone\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:9/\"; timeout = 30.0; } );\n"
                   "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"2s\";\n"
                   "  routes = ( { matchers = [\"page=/down\"]; receiver = \"gone\"; } ); };\n"))
        return;
    int64_t t0 = rw_wall_ms();
    CHECK_INT(submit(&p, "rl", "warning", "firing", "/1"), 0);
    CHECK_INT(submit(&p, "rl", "warning", "firing", "/2"), 0);
    WAIT_UNTIL(st(&p).groups == 1, 3000);
    char text[4096], err[1024] = "";
    snprintf(text, sizeof text,
             "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = "
             "\"http://127.0.0.1:%d/new\"; },\n"
             "              { name = \"extra\"; type = \"webhook\"; url = "
             "\"http://127.0.0.1:%d/extra\"; } );\n"
             "route = { receiver = \"hook\"; group_by = [\"rule\"]; group_wait = \"2s\";\n"
             "  routes = ( { matchers = [\"rule=rl\"]; receiver = \"extra\"; continue = true; "
             "group_wait = \"0s\"; } ); };\nnotify = { state_dir = \"%s\"; };\n",
             r.port, r.port, p.state);
    struct rw_config *cfg2 = rw_config_load_string(text, "test2.conf", err, sizeof err);
    CHECK(cfg2 != NULL);
    if (!cfg2) {
        pipe_stop(&p, 0);
        recv_stop(&r);
        return;
    }
    struct rw_delivery_opts o = {.receivers = cfg2->notifiers,
                                 .nreceivers = cfg2->nnotifiers,
                                 .route = cfg2->pipeline.root,
                                 .state_dir = p.state};
    CHECK_INT(rw_delivery_reload(p.d, &o, err, sizeof err), 0);
    rw_config_free(&p.cfg); /* the old tree may go now */
    p.cfg = cfg2;
    /* the new route takes the firing alerts at once (group_wait 0) */
    WAIT_UNTIL(recv_count_path(&r, "/extra") >= 1, 3000);
    CHECK_INT(recv_count_path(&r, "/extra"), 1);
    CHECK_INT(recv_count_path(&r, "/new"), 0);
    /* the old group keeps its first-seen time: due 2 s after t0 */
    WAIT_UNTIL(recv_count_path(&r, "/new") >= 1, 4000);
    json_t *reqs = recv_requests(&r);
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        if (strcmp(S(json_string_value(json_object_get(q, "path"))), "/new") != 0)
            continue;
        int64_t got = json_integer_value(json_object_get(q, "received_ms"));
        CHECK(got - t0 >= 1900 && got - t0 < 3500);
        CHECK_INT(json_array_size(json_object_get(json_object_get(q, "body"), "alerts")), 2);
    }
    json_decref(reqs);
    /* An alert for the removed receiver's old route now goes to "hook". */
    CHECK_INT(submit(&p, "rl2", "warning", "firing", "/down"), 0);
    /* bad reloads change nothing */
    o.state_dir = "/elsewhere";
    CHECK_INT(rw_delivery_reload(p.d, &o, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "state_dir") != NULL);
    o.route = NULL;
    CHECK_INT(rw_delivery_reload(p.d, &o, err, sizeof err), -EINVAL);
    pipe_stop(&p, 3000);
    recv_stop(&r);
}

/* A notification pending for a receiver that a reload removes is
 * dead-lettered "receiver removed", not lost and not sent elsewhere. */
static void test_reload_removed_receiver(void)
{
    int port = free_port();
    struct pipe p;
    if (pipe_start(&p, NULL, 0, 0,
                   "notifiers = ( { name = \"gone\"; type = \"webhook\"; url = "
                   "\"http://127.0.0.1:%d/x\"; backoff = 0.05; max_backoff = 0.1; } );\n",
                   port))
        return;
    CHECK_INT(submit(&p, "rm", "warning", "firing", "/rm"), 0);
    WAIT_UNTIL(st(&p).retried >= 1, 3000);
    char text[2048], err[1024] = "";
    snprintf(text, sizeof text,
             "notifiers = ( { name = \"other\"; type = \"webhook\"; url = "
             "\"http://127.0.0.1:%d/y\"; } );\nnotify = { state_dir = \"%s\"; };\n",
             port, p.state);
    struct rw_config *cfg2 = rw_config_load_string(text, "t.conf", err, sizeof err);
    CHECK(cfg2 != NULL);
    if (!cfg2) {
        pipe_stop(&p, 0);
        return;
    }
    struct rw_delivery_opts o = {
        .receivers = cfg2->notifiers, .nreceivers = cfg2->nnotifiers, .route = cfg2->pipeline.root};
    CHECK_INT(rw_delivery_reload(p.d, &o, err, sizeof err), 0);
    rw_config_free(&p.cfg);
    p.cfg = cfg2;
    WAIT_UNTIL(st(&p).pending == 0, 3000);
    CHECK_INT(st(&p).pending, 0);
    json_t *l = rw_delivery_outbox_list(p.state, 0, 0, err, sizeof err);
    CHECK_INT(json_array_size(l), 1);
    CHECK_STR(S(json_string_value(json_object_get(json_array_get(l, 0), "dead_reason"))),
              "receiver removed");
    json_decref(l);
    pipe_stop(&p, 0);
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
    rw_log_set_level(RW_LOG_ERROR);
    zctx = zmq_ctx_new();
    CHECK(zctx != NULL);

    int64_t t0 = rw_mono_ms();
    test_new_errors();
    test_history_rotation();
    test_grouping_and_resolved();
    test_routing_continue();
    test_silence();
    test_inhibit();
    test_retry_same_id();
    test_dead_letter_retry();
    test_retry_after();
    test_down_then_up();
    test_hang_timeout();
    test_slow_does_not_block();
    test_filtering_implicit_route();
    test_restart_delivers();
    test_stop_flushes_groups();
    test_alertmanager_resend();
    test_event_time();
    test_journal_kill9_group_wait();
    test_journal_same_id();
    test_journal_bounded();
    test_reload();
    test_reload_removed_receiver();
    test_figures();
    printf("test_delivery took %lld ms\n", (long long)(rw_mono_ms() - t0));

    zmq_ctx_term(zctx);
    curl_global_cleanup();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!rw_test_failures && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_DONE();
}
