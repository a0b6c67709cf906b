/* input_stall and the heartbeat on an injected clock: when lines come, what
 * they say, and that the heartbeat's alerts route and group as intended
 * (through the real alert model and dispatcher). */
#include <stdlib.h>

#include "check.h"
#include "config/config.h"
#include "engine/watch.h"
#include "notifiers/alertmodel.h"
#include "notifiers/group.h"

#define W0 1762041600000LL

struct cap {
    int nalert, nbeat;
    char *alert[32], *beat[64];
};

static void on_alert(void *ctx, const char *line)
{
    struct cap *c = ctx;
    if (c->nalert < 32)
        c->alert[c->nalert++] = strdup(line);
}

static void on_beat(void *ctx, const char *line)
{
    struct cap *c = ctx;
    if (c->nbeat < 64)
        c->beat[c->nbeat++] = strdup(line);
}

static void cap_free(struct cap *c)
{
    for (int i = 0; i < c->nalert; i++)
        free(c->alert[i]);
    for (int i = 0; i < c->nbeat; i++)
        free(c->beat[i]);
    memset(c, 0, sizeof *c);
}

static json_t *parse(const char *s)
{
    return s ? json_loads(s, 0, NULL) : NULL;
}
static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void test_stall(void)
{
    struct cap c = {0};
    struct rw_watch_opts o = {10.0, 0};
    struct rw_watch_sink sink = {on_alert, on_beat, &c};
    struct rw_watch *w = rw_watch_new(&o, &sink, 0, W0);
    /* nothing for 9.9 s: quiet; at 10 s since the start: fires once */
    for (int64_t t = 0; t < 10000; t += 100)
        rw_watch_tick(w, 0, 0, t, W0 + t);
    CHECK_INT(c.nalert, 0);
    CHECK(rw_watch_active(w) == NULL);
    rw_watch_tick(w, 0, 0, 10000, W0 + 10000);
    CHECK_INT(c.nalert, 1);
    for (int64_t t = 10000; t < 30000; t += 100)
        rw_watch_tick(w, 0, 0, t, W0 + t);
    CHECK_INT(c.nalert, 1);
    json_t *l = parse(c.alert[0]);
    CHECK_STR(str(l, "state"), "firing");
    CHECK_STR(str(l, "rule"), "input_stall");
    CHECK_STR(str(l, "severity"), "critical");
    CHECK_INT(json_integer_value(json_object_get(l, "ts")), W0 + 10000);
    CHECK_INT(json_integer_value(json_object_get(l, "since")), W0);
    CHECK_NEAR(num(l, "value"), 10, 1e-9);
    CHECK_NEAR(num(l, "expected"), 10, 1e-9);
    CHECK_STR(str(l, "summary"), "no events received since the start 10 s ago");
    json_t *am = rw_alert_to_am(l, NULL);
    json_t *labels = json_object_get(am, "labels");
    CHECK_STR(str(labels, "alertname"), "input_stall");
    CHECK_STR(str(labels, "severity"), "critical");
    json_decref(am);
    json_t *act = rw_watch_active(w);
    CHECK(act && json_equal(act, l));
    json_decref(act);
    struct rw_watch_stats st;
    rw_watch_stats(w, 30000, &st);
    CHECK_INT(st.stalled, 1);
    CHECK_INT(st.stalls, 1);
    CHECK_NEAR(st.idle_s, 30, 1e-9);

    /* an event: resolved at once, same fingerprint and episode start */
    rw_watch_tick(w, 1, 1, 30050, W0 + 30050);
    CHECK_INT(c.nalert, 2);
    json_t *r = parse(c.alert[1]);
    CHECK_STR(str(r, "state"), "resolved");
    CHECK_STR(str(r, "fingerprint"), str(l, "fingerprint"));
    CHECK_INT(json_integer_value(json_object_get(r, "since")), W0);
    CHECK_STR(str(r, "summary"), "events accepted again after 30 s without");
    CHECK(rw_watch_active(w) == NULL);
    json_decref(r);
    json_decref(l);

    /* events flow: quiet; then only rejected ones arrive: that is a stall too, said so */
    for (int64_t t = 30100; t < 40000; t += 100)
        rw_watch_tick(w, (uint64_t)(t / 100), (uint64_t)(t / 100), t, W0 + t);
    CHECK_INT(c.nalert, 2);
    uint64_t acc = 399;
    for (int64_t t = 40000; t <= 50000; t += 100)
        rw_watch_tick(w, (uint64_t)(t / 100), acc, t, W0 + t);
    CHECK_INT(c.nalert, 3);
    l = parse(c.alert[2]);
    CHECK_STR(str(l, "state"), "firing");
    CHECK_INT(json_integer_value(json_object_get(l, "since")), W0 + 39900);
    CHECK_STR(str(l, "summary"), "no event accepted for 10 s: 100 received, all rejected");
    CHECK_INT(json_integer_value(json_object_get(l, "n")), 100);
    json_decref(l);
    rw_watch_stats(w, 50000, &st);
    CHECK_INT(st.stalls, 2);
    CHECK_INT(st.last_accept_wall_ms, W0 + 39900);
    CHECK_INT(st.last_receive_wall_ms, W0 + 50000);
    rw_watch_destroy(&w);
    cap_free(&c);

    /* stall_after 0 (or nonsense): never */
    struct rw_watch_opts off = {NAN, -5};
    w = rw_watch_new(&off, &sink, 0, W0);
    for (int64_t t = 0; t < 3600000; t += 1000)
        rw_watch_tick(w, 0, 0, t, W0 + t);
    CHECK_INT(c.nalert + c.nbeat, 0);
    rw_watch_destroy(&w);
}

static void test_heartbeat(void)
{
    struct cap c = {0};
    struct rw_watch_opts o = {0, 5.0};
    struct rw_watch_sink sink = {on_alert, on_beat, &c};
    struct rw_watch *w = rw_watch_new(&o, &sink, 1000, W0);
    uint64_t acc = 0;
    /* 22 s of events (10/s), 100 ms loop turns: beats at 5, 10, 15, 20 s */
    for (int64_t t = 1000; t <= 23000; t += 100) {
        acc += 1;
        rw_watch_tick(w, acc, acc, t, W0 + t);
    }
    CHECK_INT(c.nbeat, 4 + 3); /* 4 firing, 3 resolutions of the one before */
    CHECK_INT(c.nalert, 0);    /* heartbeats never go to the output */
    /* then nothing accepted: one more beat for the events of 21-23 s, then none */
    for (int64_t t = 23100; t <= 60000; t += 100)
        rw_watch_tick(w, acc, acc, t, W0 + t);
    CHECK_INT(c.nbeat, 9);
    /* events again: the next checks beat again */
    for (int64_t t = 60100; t <= 66000; t += 100) {
        acc++;
        rw_watch_tick(w, acc, acc, t, W0 + t);
    }
    CHECK_INT(c.nbeat, 13);

    /* the lines: beat n firing then beat n-1 resolved, at the check times,
     * each saying how many events were accepted since the check before */
    int64_t want_ts[] = {6000, 11000, 16000, 21000, 26000, 61000, 66000};
    double want_n[] = {51, 50, 50, 50, 20, 10, 50};
    char fps[7][17] = {{0}};
    for (int i = 0, b = 0; i < c.nbeat; i++) {
        json_t *l = parse(c.beat[i]);
        json_t *am = rw_alert_to_am(l, NULL);
        json_t *labels = json_object_get(am, "labels");
        CHECK_STR(str(labels, "alertname"), "rumwatch_heartbeat");
        CHECK_STR(str(labels, "severity"), "info");
        CHECK_STR(str(l, "detector"), "heartbeat");
        int firing = strcmp(str(l, "state"), "firing") == 0;
        CHECK_INT(firing, i == 0 || i % 2 == 1);
        if (firing) {
            char n[16];
            snprintf(n, sizeof n, "%d", b + 1);
            CHECK_STR(str(labels, "beat"), n);
            CHECK_INT(json_integer_value(json_object_get(l, "ts")), W0 + want_ts[b]);
            CHECK_INT(json_integer_value(json_object_get(l, "since")), W0 + want_ts[b]);
            snprintf(fps[b], sizeof fps[b], "%s", str(am, "fingerprint"));
            for (int k = 0; k < b; k++)
                CHECK(strcmp(fps[k], fps[b]) != 0); /* a new alert each time */
            CHECK_NEAR(num(l, "value"), want_n[b], 0);
            b++;
        } else {
            CHECK_STR(str(am, "fingerprint"), fps[b - 2]); /* the previous beat resolves */
        }
        json_decref(am);
        json_decref(l);
    }
    struct rw_watch_stats st;
    rw_watch_stats(w, 66000, &st);
    CHECK_INT(st.heartbeats, 7);
    CHECK_INT(st.last_heartbeat_wall_ms, W0 + 66000);
    rw_watch_destroy(&w);
    cap_free(&c);

    /* a loop held up for a minute: one beat after it, not twelve */
    w = rw_watch_new(&o, &sink, 0, W0);
    rw_watch_tick(w, 5, 5, 60000, W0 + 60000);
    CHECK_INT(c.nbeat, 1);
    rw_watch_tick(w, 6, 6, 60100, W0 + 60100);
    CHECK_INT(c.nbeat, 1);
    rw_watch_tick(w, 7, 7, 65100, W0 + 65100);
    CHECK_INT(c.nbeat, 3);
    rw_watch_destroy(&w);
    cap_free(&c);
}

/* The heartbeat's route and its group: one notification per heartbeat,
 * never a repeat without one, never a heartbeat among real alerts. */
struct flushes {
    int n;
    json_t *last;
};

static int on_flush(void *ud, const struct rw_flush *f)
{
    struct flushes *fl = ud;
    fl->n++;
    json_decref(fl->last);
    fl->last = json_incref(f->notification);
    return 0;
}

static void test_heartbeat_group(void)
{
    char err[512];
    struct rw_config *cfg = rw_config_load_string(
        "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:9/h\"; },\n"
        "              { name = \"dms\"; type = \"webhook\"; url = \"http://127.0.0.1:9/d\"; } );\n"
        "route = { receiver = \"hook\"; group_by = []; group_wait = \"0s\"; group_interval = "
        "\"1s\"; };\n"
        "heartbeat = { receiver = \"dms\"; interval = 10.0; };\n",
        "hb.conf", err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    struct rw_dispatch *d = rw_dispatch_new(cfg->pipeline.root, &(struct rw_dispatch_opts){0});
    struct cap c = {0};
    struct rw_watch_opts o = {0, 10.0};
    struct rw_watch_sink sink = {on_alert, on_beat, &c};
    struct rw_watch *w = rw_watch_new(&o, &sink, 0, W0);
    struct flushes fl = {0};
    int fed = 0;
    uint64_t acc = 0;
    int sent_at[8], nsent = 0;
    for (int64_t t = 0; t <= 65000; t += 100) {
        if (t < 35000)
            acc++;
        rw_watch_tick(w, acc, acc, t, W0 + t);
        for (; fed < c.nbeat; fed++) {
            json_t *l = parse(c.beat[fed]);
            json_t *am = rw_alert_to_am(l, NULL);
            CHECK(rw_dispatch_add(d, am, W0 + t) >= 1);
            json_decref(am);
            json_decref(l);
        }
        int before = fl.n;
        rw_dispatch_due(d, W0 + t, on_flush, &fl);
        if (fl.n > before && nsent < 8)
            sent_at[nsent++] = (int)t;
    }
    /* beats at 10, 20, 30, 40 s (events until 35 s); then none: nothing is repeated */
    CHECK_INT(nsent, 4);
    for (int i = 0; i < nsent && i < 4; i++)
        CHECK(sent_at[i] >= (i + 1) * 10000 && sent_at[i] <= (i + 1) * 10000 + 1000);
    CHECK_STR(str(fl.last, "receiver"), "dms");
    CHECK_STR(str(fl.last, "status"), "firing");
    json_t *alerts = json_object_get(fl.last, "alerts");
    CHECK_INT(json_array_size(alerts), 2); /* beat 4 firing, beat 3 resolved */
    CHECK_STR(str(json_object_get(json_array_get(alerts, 0), "labels"), "beat"), "4");
    CHECK_STR(str(json_array_get(alerts, 1), "status"), "resolved");
    struct rw_dispatch_stats ds;
    rw_dispatch_stats(d, &ds);
    CHECK_INT(ds.groups, 1); /* bounded: one group, the last beat in it */
    CHECK_INT(ds.alerts, 1);
    json_decref(fl.last);
    rw_watch_destroy(&w);
    rw_dispatch_destroy(&d);
    cap_free(&c);
    rw_config_free(&cfg);
}

int main(void)
{
    test_stall();
    test_heartbeat();
    test_heartbeat_group();
    TEST_DONE();
}
