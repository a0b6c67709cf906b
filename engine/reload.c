/* Configuration reload bookkeeping (reload.h). */
#include "engine/reload.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notifiers/timeint.h"

struct rw_reload {
    pthread_mutex_t mu;
    struct rw_reload_status st;
};

struct rw_reload *rw_reload_new(const char *config_path, int64_t started_ms)
{
    struct rw_reload *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->st.last_ok = 1;
    r->st.last_ok_ms = started_ms;
    snprintf(r->st.config, sizeof r->st.config, "%s", config_path ? config_path : "(built-in)");
    return r;
}

void rw_reload_destroy(struct rw_reload **rp)
{
    if (!rp || !*rp)
        return;
    pthread_mutex_destroy(&(*rp)->mu);
    free(*rp);
    *rp = NULL;
}

void rw_reload_record(struct rw_reload *r, int ok, const char *msg, int64_t now_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->st.attempts++;
    r->st.last_ms = now_ms;
    r->st.last_ok = ok != 0;
    if (ok) {
        r->st.last_ok_ms = now_ms;
        r->st.last_error[0] = '\0';
        snprintf(r->st.last_summary, sizeof r->st.last_summary, "%s", msg ? msg : "");
    } else {
        r->st.failures++;
        snprintf(r->st.last_error, sizeof r->st.last_error, "%s", msg ? msg : "unknown error");
    }
    pthread_mutex_unlock(&r->mu);
}

void rw_reload_get(struct rw_reload *r, struct rw_reload_status *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}

json_t *rw_reload_json(struct rw_reload *r)
{
    struct rw_reload_status st;
    rw_reload_get(r, &st);
    char last[32] = "", good[32] = "";
    if (st.last_ms)
        rw_time_format(st.last_ms, last, sizeof last);
    rw_time_format(st.last_ok_ms, good, sizeof good);
    return json_pack("{s:I, s:I, s:b, s:s?, s:s, s:s, s:s, s:s}", "attempts",
                     (json_int_t)st.attempts, "failures", (json_int_t)st.failures, "last_ok",
                     st.last_ok, "last_attempt", st.last_ms ? last : NULL, "last_success", good,
                     "config", st.config, "error", st.last_error, "summary", st.last_summary);
}

json_t *rw_reload_control(void *ud, const json_t *req)
{
    struct rw_reload *r = ud;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!r || !cmd || strcmp(cmd, "reload") != 0)
        return NULL;
    struct rw_reload_status st;
    rw_reload_get(r, &st);
    /* The engine thread reloads between two loop turns; a signal reaches
     * it however busy it is, and is what systemd's ExecReload sends too. */
    if (kill(getpid(), SIGHUP) != 0)
        return json_pack("{s:b, s:s}", "ok", 0, "error", "cannot signal the daemon");
    return json_pack("{s:b, s:I}", "ok", 1, "attempts", (json_int_t)st.attempts);
}
