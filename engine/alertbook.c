/* The alert book (see alertbook.h). Runs once per alert line and once per
 * window close: not the ingest path. */
#include "engine/alertbook.h"

#include <stdlib.h>
#include <string.h>

#include "notifiers/alertmodel.h"

struct rw_alertbook {
    json_t *byfp; /* fingerprint -> {"value","expected","summary","updated"} */
    size_t max;
};

struct rw_alertbook *rw_alertbook_new(size_t max)
{
    struct rw_alertbook *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->max = max;
    if (!(b->byfp = json_object())) {
        free(b);
        return NULL;
    }
    return b;
}

void rw_alertbook_destroy(struct rw_alertbook **bp)
{
    if (!bp || !*bp)
        return;
    json_decref((*bp)->byfp);
    free(*bp);
    *bp = NULL;
}

static json_t *num_or_null(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

void rw_alertbook_note(struct rw_alertbook *b, const char *line)
{
    json_t *l = json_loads(line, 0, NULL);
    const char *fp = json_string_value(json_object_get(l, "fingerprint"));
    const char *st = json_string_value(json_object_get(l, "state"));
    if (!fp || !st) {
        json_decref(l);
        return;
    }
    if (strcmp(st, "firing") != 0) {
        json_object_del(b->byfp, fp);
    } else if (json_object_get(b->byfp, fp) || json_object_size(b->byfp) < b->max) {
        const json_t *sum = json_object_get(l, "summary");
        json_object_set_new(b->byfp, fp,
                            json_pack("{s:o, s:o, s:O?, s:O?}", "value", num_or_null(l, "value"),
                                      "expected", num_or_null(l, "expected"), "summary",
                                      json_is_string(sum) ? sum : NULL, "updated",
                                      json_object_get(l, "ts")));
    }
    json_decref(l);
}

size_t rw_alertbook_size(const struct rw_alertbook *b)
{
    return json_object_size(b->byfp);
}

static void set_time(json_t *a, const json_t *since)
{
    char buf[RW_AM_TIME_MAX];
    if (json_is_integer(since) &&
        rw_am_time(buf, sizeof buf, (double)json_integer_value(since)) == 0)
        json_object_set_new(a, "since_time", json_string(buf));
    else
        json_object_set_new(a, "since_time", json_null());
}

/* One engine alert in the documented field order, with the book's numbers. */
static json_t *from_engine(const struct rw_alertbook *b, const json_t *e)
{
    static const char *const head[] = {"rule", "state",      "severity", "metric", "stat",
                                       "app",  "scope_name", "scope",    "since",  NULL};
    json_t *a = json_object();
    if (!a)
        return NULL;
    for (int i = 0; head[i]; i++) {
        json_t *v = json_object_get(e, head[i]);
        json_object_set(a, head[i], v ? v : json_null());
    }
    set_time(a, json_object_get(e, "since"));
    const char *fp = json_string_value(json_object_get(e, "fingerprint"));
    const json_t *k = fp ? json_object_get(b->byfp, fp) : NULL;
    const char *state = json_string_value(json_object_get(e, "state"));
    if (state && strcmp(state, "firing") != 0)
        k = NULL; /* a line of an earlier episode, kept by a lost resolution */
    static const char *const nums[] = {"value", "expected", "summary", NULL};
    for (int i = 0; nums[i]; i++) {
        json_t *v = k ? json_object_get(k, nums[i]) : NULL;
        json_object_set(a, nums[i], v ? v : json_null());
    }
    json_object_set(a, "fingerprint", fp ? json_object_get(e, "fingerprint") : json_null());
    json_t *parent = json_object_get(e, "parent");
    if (parent)
        json_object_set(a, "parent", parent);
    json_object_set_new(a, "flapping", json_boolean(json_is_true(json_object_get(e, "flapping"))));
    json_t *upd = k ? json_object_get(k, "updated") : NULL;
    json_object_set(a, "updated", upd ? upd : json_null());
    return a;
}

/* One of rumwatch's own alert lines in the same shape. */
static json_t *from_line(const json_t *l)
{
    json_t *a = json_object();
    if (!a)
        return NULL;
    json_object_set(a, "rule", json_object_get(l, "rule"));
    json_object_set_new(a, "state", json_string("firing"));
    static const char *const k1[] = {"severity", "metric", "stat", "app", NULL};
    for (int i = 0; k1[i]; i++) {
        json_t *v = json_object_get(l, k1[i]);
        json_object_set(a, k1[i], v ? v : json_null());
    }
    json_object_set_new(a, "scope_name", json_null());
    json_t *scope = json_object_get(l, "scope");
    json_object_set(a, "scope", scope ? scope : json_object());
    json_object_set(a, "since", json_object_get(l, "since"));
    set_time(a, json_object_get(l, "since"));
    static const char *const k2[] = {"value", "expected", "summary", "fingerprint", NULL};
    for (int i = 0; k2[i]; i++) {
        json_t *v = json_object_get(l, k2[i]);
        json_object_set(a, k2[i], v ? v : json_null());
    }
    json_object_set_new(a, "flapping", json_false());
    json_object_set(a, "updated", json_object_get(l, "ts"));
    return a;
}

char *rw_alertbook_render(const struct rw_alertbook *b, json_t *engine_alerts, const json_t *own,
                          size_t truncated, int64_t now_wall_ms)
{
    json_t *list = json_array();
    size_t firing = 0, pending = 0, i;
    json_t *e;
    const json_t *l;
    json_array_foreach(own, i, l)
    {
        json_array_append_new(list, from_line(l));
        firing++;
    }
    json_array_foreach(engine_alerts, i, e)
    {
        const char *st = json_string_value(json_object_get(e, "state"));
        if (st && strcmp(st, "firing") == 0)
            firing++;
        else
            pending++;
        json_array_append_new(list, from_engine(b, e));
    }
    json_decref(engine_alerts);
    json_t *doc = json_pack("{s:I, s:I, s:I, s:I, s:o}", "generated", (json_int_t)now_wall_ms,
                            "firing", (json_int_t)firing, "pending", (json_int_t)pending,
                            "truncated", (json_int_t)truncated, "alerts", list);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(doc);
    return text;
}
