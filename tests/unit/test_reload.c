/* Reload bookkeeping: what `rumwatch status` and /metrics report after
 * refused and accepted reloads, and that the control handler signals the
 * process (SIGHUP, as systemd's ExecReload does) and leaves other
 * commands to the delivery thread. */
#include <signal.h>
#include <stdlib.h>

#include "check.h"
#include "engine/reload.h"

static volatile sig_atomic_t hups;
static void on_hup(int sig)
{
    (void)sig;
    hups++;
}

static void test_record(void)
{
    struct rw_reload *r = rw_reload_new("/etc/rumwatch/rumwatch.conf", 1000);
    struct rw_reload_status st;
    rw_reload_get(r, &st);
    CHECK_INT(st.attempts, 0);
    CHECK_INT(st.last_ok, 1);
    CHECK_INT(st.last_ok_ms, 1000);
    CHECK(strcmp(st.config, "/etc/rumwatch/rumwatch.conf") == 0);

    rw_reload_record(r, 0, "rw.conf:7: rules[2].detector: unknown detector 'robustz'", 2000);
    rw_reload_get(r, &st);
    CHECK_INT(st.attempts, 1);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.last_ok, 0);
    CHECK_INT(st.last_ok_ms, 1000); /* the running config is still the first */
    CHECK(strstr(st.last_error, "rw.conf:7:") != NULL);

    json_t *j = rw_reload_json(r);
    CHECK(j != NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "attempts")), 1);
    CHECK(json_is_false(json_object_get(j, "last_ok")));
    CHECK(strstr(json_string_value(json_object_get(j, "error")), "unknown detector") != NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "last_success")),
                 "1970-01-01T00:00:01.000Z") == 0);
    json_decref(j);

    rw_reload_record(r, 1, "rules kept 20, changed 1", 3000);
    rw_reload_get(r, &st);
    CHECK_INT(st.attempts, 2);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.last_ok, 1);
    CHECK_INT(st.last_ok_ms, 3000);
    CHECK(st.last_error[0] == '\0');
    CHECK(strcmp(st.last_summary, "rules kept 20, changed 1") == 0);
    rw_reload_destroy(&r);
    CHECK(r == NULL);
    rw_reload_destroy(&r); /* safe on NULL */
}

static void test_control(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    struct rw_reload *r = rw_reload_new(NULL, 0);
    rw_reload_record(r, 0, "bad", 5);

    json_t *req = json_pack("{s:s}", "cmd", "status");
    CHECK(rw_reload_control(r, req) == NULL); /* not ours */
    json_decref(req);
    CHECK_INT(hups, 0);

    req = json_pack("{s:s}", "cmd", "reload");
    json_t *rep = rw_reload_control(r, req);
    json_decref(req);
    CHECK(rep != NULL);
    CHECK(json_is_true(json_object_get(rep, "ok")));
    CHECK_INT(json_integer_value(json_object_get(rep, "attempts")), 1);
    json_decref(rep);
    CHECK_INT(hups, 1); /* kill() to ourselves is delivered before it returns */
    rw_reload_destroy(&r);
}

int main(void)
{
    test_record();
    test_control();
    TEST_DONE();
}
