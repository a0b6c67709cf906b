/* Event decoder on jansson: the reference for fastjson.c (which must give
 * the same reason and the same event for every input). */
#include "engine/decode.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const rw_reject_names[] = {"ok",   "json", "shape",  "version",  "type",
                                       "ts",   "page", "page_long", "seg",    "vital",
                                       "metric", "oversize", "late", "future", NULL};

struct rw_decoder {
    struct rw_pagenorm *pn;
    int max_seg_value;
    json_t *doc; /* the last parsed document; event strings point into it */
};

struct rw_decoder *rw_decoder_new(struct rw_pagenorm *pn, int max_seg_value)
{
    struct rw_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->pn = pn;
    d->max_seg_value = max_seg_value;
    return d;
}

void rw_decoder_destroy(struct rw_decoder **dp)
{
    if (!dp || !*dp)
        return;
    json_decref((*dp)->doc);
    free(*dp);
    *dp = NULL;
}

/* Plausibility bounds: > 1 hour in ms, or CLS > 100, is a broken beacon. */
static const double vital_max[RW_NVITALS] = {3600e3, 3600e3, 3600e3, 3600e3, 100.0};

/* ts bounds: 2000-01-01 .. 2200-01-01 in ms. */
#define TS_MIN 946684800000LL
#define TS_MAX 7258118400000LL

/* Any byte below 0x20 (NUL included) or DEL. */
static int has_control(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 1;
    return 0;
}

/* Custom metric names: [A-Za-z0-9_.:-], 1..RW_METRIC_NAME_MAX bytes. Safe
 * in series keys, JSON and Prometheus-style labels without escaping. */
static int metric_name_ok(const char *p, size_t n)
{
    if (n == 0 || n > RW_METRIC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

enum rw_reject rw_decode(struct rw_decoder *d, const char *buf, size_t len, struct rw_event *ev)
{
    json_decref(d->doc);
    /* JSON_ALLOW_NUL is off: a NUL inside a string is malformed input. */
    d->doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    json_t *o = d->doc;
    if (!o)
        return RW_REJ_JSON;
    if (!json_is_object(o))
        return RW_REJ_SHAPE;

    json_t *v = json_object_get(o, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return RW_REJ_VERSION;

    const char *type = json_string_value(json_object_get(o, "type"));
    if (!type)
        return RW_REJ_TYPE;
    if (strcmp(type, "view") == 0)
        ev->type = RW_EV_VIEW;
    else if (strcmp(type, "error") == 0)
        ev->type = RW_EV_ERROR;
    else if (strcmp(type, "metric") == 0)
        ev->type = RW_EV_METRIC;
    else
        return RW_REJ_TYPE;

    json_t *ts = json_object_get(o, "ts");
    if (json_is_integer(ts)) {
        ev->ts = (int64_t)json_integer_value(ts);
    } else if (json_is_real(ts)) {
        double t = json_real_value(ts);
        if (!(t >= (double)TS_MIN && t < (double)TS_MAX))
            return RW_REJ_TS;
        ev->ts = (int64_t)t;
    } else {
        return RW_REJ_TS;
    }
    if (ev->ts < TS_MIN || ev->ts >= TS_MAX)
        return RW_REJ_TS;

    json_t *page = json_object_get(o, "page");
    if (!json_is_string(page) || json_string_length(page) == 0)
        return RW_REJ_PAGE;
    if (json_string_length(page) > RW_PAGE_MAX)
        return RW_REJ_PAGE_LONG;
    if (has_control(json_string_value(page), json_string_length(page)))
        return RW_REJ_PAGE;
    int n = rw_pagenorm_apply(d->pn, json_string_value(page), json_string_length(page), ev->page,
                              sizeof ev->page);
    if (n < 0)
        return RW_REJ_PAGE_LONG;
    ev->page_len = (size_t)n;

    json_t *app = json_object_get(o, "app");
    if (app && !json_is_null(app)) {
        if (!json_is_string(app) || json_string_length(app) == 0 ||
            json_string_length(app) > RW_APP_MAX || has_control(json_string_value(app), json_string_length(app)))
            return RW_REJ_SHAPE;
        ev->app = json_string_value(app);
        ev->app_len = json_string_length(app);
    } else {
        ev->app = "default";
        ev->app_len = 7;
    }

    ev->nseg = 0;
    json_t *seg = json_object_get(o, "seg");
    if (seg && !json_is_null(seg)) {
        if (!json_is_object(seg))
            return RW_REJ_SEG;
        const char *key;
        json_t *val;
        json_object_foreach(seg, key, val) {
            if (!json_is_string(val))
                return RW_REJ_SEG;
            size_t l = json_string_length(val);
            /* Control characters (the series-key separator among them) are
             * not segment values; refusing them keeps series keys unambiguous. */
            if (l > (size_t)d->max_seg_value || has_control(json_string_value(val), l))
                return RW_REJ_SEG;
            if (ev->nseg == RW_MAX_SEG)
                continue; /* beyond 16 keys: ignored, like unknown fields */
            ev->seg_key[ev->nseg] = key;
            ev->seg_val[ev->nseg] = json_string_value(val);
            ev->seg_len[ev->nseg] = l;
            ev->nseg++;
        }
    }

    /* Who threw it: lets error detectors count one user's burst once. */
    ev->session = 0;
    json_t *sid = json_object_get(o, "session_id");
    if (!json_is_string(sid))
        sid = json_object_get(o, "view_id");
    if (json_is_string(sid)) {
        uint32_t h = 2166136261u;
        const char *sp = json_string_value(sid);
        for (size_t i = 0, sl = json_string_length(sid); i < sl; i++) {
            h ^= (unsigned char)sp[i];
            h *= 16777619u;
        }
        ev->session = h ? h : 1;
    }

    /* Type-specific fields last: a view's vitals, a metric's name and value.
     * Each type ignores the others' fields (an error or metric event with a
     * broken "vitals" is fine; so is a view with a "name"). */
    ev->vital_mask = 0;
    ev->mname = NULL;
    ev->mname_len = 0;
    ev->mvalue = 0;
    if (ev->type == RW_EV_METRIC) {
        json_t *name = json_object_get(o, "name");
        if (!json_is_string(name) ||
            !metric_name_ok(json_string_value(name), json_string_length(name)))
            return RW_REJ_METRIC;
        double mv = 1.0; /* absent: a count of one */
        json_t *val = json_object_get(o, "value");
        if (val) {
            /* null, strings, bools, containers are refused. jansson itself
             * refuses a number that overflows a double (RW_REJ_JSON), so
             * isfinite() is a second line of defence only. */
            if (!json_is_number(val))
                return RW_REJ_METRIC;
            mv = json_number_value(val);
            if (!isfinite(mv))
                return RW_REJ_METRIC;
        }
        ev->mname = json_string_value(name);
        ev->mname_len = json_string_length(name);
        ev->mvalue = mv;
    } else if (ev->type == RW_EV_VIEW) {
        json_t *vit = json_object_get(o, "vitals");
        if (vit && !json_is_null(vit)) {
            if (!json_is_object(vit))
                return RW_REJ_SHAPE;
            for (int i = 0; i < RW_NVITALS; i++) {
                json_t *x = json_object_get(vit, rw_metric_names[i]);
                if (!x || json_is_null(x))
                    continue; /* not measured */
                if (!json_is_number(x))
                    return RW_REJ_VITAL;
                double val = json_number_value(x);
                if (!isfinite(val) || val < 0 || val > vital_max[i])
                    return RW_REJ_VITAL;
                ev->vital[i] = val;
                ev->vital_mask |= 1u << i;
            }
        }
    }
    return RW_OK;
}

int rw_event_same(const struct rw_event *a, const struct rw_event *b)
{
    if (a->type != b->type || a->ts != b->ts || a->app_len != b->app_len ||
        strcmp(a->app, b->app) != 0 || a->page_len != b->page_len ||
        strcmp(a->page, b->page) != 0 || a->nseg != b->nseg || a->session != b->session ||
        a->vital_mask != b->vital_mask)
        return 0;
    for (int i = 0; i < a->nseg; i++)
        if (strcmp(a->seg_key[i], b->seg_key[i]) != 0 || a->seg_len[i] != b->seg_len[i] ||
            memcmp(a->seg_val[i], b->seg_val[i], a->seg_len[i] + 1) != 0)
            return 0;
    for (int i = 0; i < RW_NVITALS; i++)
        if ((a->vital_mask & (1u << i)) && memcmp(&a->vital[i], &b->vital[i], sizeof(double)) != 0)
            return 0;
    /* metric name and value: set for metric events, NULL/0/0 for the others */
    if (a->mname_len != b->mname_len || !a->mname != !b->mname ||
        memcmp(&a->mvalue, &b->mvalue, sizeof(double)) != 0)
        return 0;
    if (a->mname && memcmp(a->mname, b->mname, a->mname_len + 1) != 0)
        return 0;
    return 1;
}
