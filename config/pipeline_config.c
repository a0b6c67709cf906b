/* Parse `route`, `inhibit_rules` and `time_intervals` (see pipeline_config.h). */
#include "config/pipeline_config.h"

#include "config/cfgerr.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 1000 /* nodes in the tree */
#define MAX_LIST 256    /* entries in one list (matchers, group_by, ...) */

struct ctx {
    const char *file;
    const char *zoneinfo;
    const struct rw_receiver_ref *recv;
    int nrecv;
    const struct rw_timeints *tis;
    int nroutes;
    char *err;
    size_t errlen;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rw_cfg_vfail(c->err, c->errlen, c->file, s, fmt, ap);
    va_end(ap);
    return rc;
}

static int check_keys(struct ctx *c, const config_setting_t *g, const char *const *keys,
                      const char *what)
{
    if (!config_setting_is_group(g))
        return fail(c, g, "expects a group { ... } (%s)", what);
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        int ok = 0;
        for (int k = 0; keys[k] && !ok; k++)
            ok = strcmp(keys[k], config_setting_name(s)) == 0;
        if (!ok) {
            char known[512];
            size_t off = 0;
            known[0] = '\0';
            for (int k = 0; keys[k] && off < sizeof known; k++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", k ? ", " : "",
                                        keys[k]);
            return fail(c, s, "unknown key '%s' (known: %s)", config_setting_name(s), known);
        }
    }
    return 0;
}

/* A list or array (possibly empty) of strings; ints are accepted (and
 * turned into text) when allow_int. Calls fn for each element. */
static int each_string(struct ctx *c, const config_setting_t *s, int allow_int,
                       int (*fn)(struct ctx *, const config_setting_t *, const char *, void *),
                       void *ud)
{
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return fail(c, s, "expects a list of strings [\"a\", \"b\"]");
    int n = config_setting_length(s);
    if (n > MAX_LIST)
        return fail(c, s, "at most %d entries", MAX_LIST);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char num[32];
        const char *v;
        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
            v = config_setting_get_string(e);
        } else if (allow_int && (config_setting_type(e) == CONFIG_TYPE_INT ||
                                 config_setting_type(e) == CONFIG_TYPE_INT64)) {
            snprintf(num, sizeof num, "%lld", config_setting_get_int64(e));
            v = num;
        } else {
            return fail(c, e, "expects a string");
        }
        int rc = fn(c, e, v, ud);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *get_str(struct ctx *c, const config_setting_t *g, const char *key, int *rc)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    *rc = 0;
    if (!s)
        return NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        *rc = fail(c, s, "expects a string");
        return NULL;
    }
    return config_setting_get_string(s);
}

/* "30s"-style string, or a number of seconds. */
static int get_duration(struct ctx *c, const config_setting_t *g, const char *key, int64_t *ms,
                        int allow_zero)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s)
        return 0;
    int t = config_setting_type(s);
    int64_t v;
    if (t == CONFIG_TYPE_STRING) {
        if (rw_duration_parse(config_setting_get_string(s), &v))
            return fail(c, s, "bad duration '%s' (e.g. \"30s\", \"5m\", \"4h\", \"1h30m\")",
                        config_setting_get_string(s));
    } else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT) {
        double sec = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                            : (double)config_setting_get_int64(s);
        if (!(sec >= 0 && sec <= 10 * 365 * 86400.0))
            return fail(c, s, "expects a duration between 0 and 10 years");
        v = (int64_t)(sec * 1000 + 0.5);
    } else {
        return fail(c, s, "expects a duration such as \"5m\" (or a number of seconds)");
    }
    if (v == 0 && !allow_zero)
        return fail(c, s, "must be longer than 0");
    if (v > 10 * 365 * 86400 * 1000LL)
        return fail(c, s, "is longer than 10 years");
    *ms = v;
    return 0;
}

/* ---- time intervals ------------------------------------------------------ */

typedef int (*ti_add_fn)(struct rw_time_interval *, const char *, char *, size_t);

struct ti_ud {
    struct rw_time_interval *ti;
    ti_add_fn add;
};

static int ti_elem(struct ctx *c, const config_setting_t *e, const char *v, void *ud)
{
    struct ti_ud *u = ud;
    char msg[256];
    if (u->add(u->ti, v, msg, sizeof msg))
        return fail(c, e, "%s", msg);
    return 0;
}

static int load_ti_entry(struct ctx *c, const config_setting_t *g, struct rw_time_interval *ti)
{
    static const char *const keys[] = {"times",    "weekdays", "days_of_month", "months", "years",
                                       "location", NULL};
    if (check_keys(c, g, keys, "times, weekdays, days_of_month, months, years, location"))
        return -EINVAL;
    const config_setting_t *s;
    char msg[1300];
    if ((s = config_setting_get_member(g, "times"))) {
        if (!config_setting_is_list(s) &&
            !(config_setting_is_array(s) && !config_setting_length(s)))
            return fail(c, s,
                        "expects a list ( { start_time = \"09:00\"; end_time = \"17:00\"; } )");
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *t = config_setting_get_elem(s, (unsigned)i);
            static const char *const tk[] = {"start_time", "end_time", NULL};
            if (check_keys(c, t, tk, "start_time, end_time"))
                return -EINVAL;
            int rc;
            const char *a = get_str(c, t, "start_time", &rc);
            if (rc)
                return rc;
            const char *b = get_str(c, t, "end_time", &rc);
            if (rc)
                return rc;
            if (!a || !b)
                return fail(c, t, "needs start_time and end_time");
            if (rw_ti_add_times(ti, a, b, msg, sizeof msg))
                return fail(c, t, "%s", msg);
        }
    }
    static const struct {
        const char *key;
        ti_add_fn fn;
        int ints;
    } lists[] = {{"weekdays", rw_ti_add_weekdays, 0},
                 {"days_of_month", rw_ti_add_days, 1},
                 {"months", rw_ti_add_months, 1},
                 {"years", rw_ti_add_years, 1}};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        if (!(s = config_setting_get_member(g, lists[k].key)))
            continue;
        struct ti_ud u = {ti, lists[k].fn};
        if (each_string(c, s, lists[k].ints, ti_elem, &u))
            return -EINVAL;
    }
    int rc;
    const char *loc = get_str(c, g, "location", &rc);
    if (rc)
        return rc;
    if (loc && rw_ti_set_location(ti, loc, c->zoneinfo, msg, sizeof msg))
        return fail(c, config_setting_get_member(g, "location"), "%s", msg);
    return 0;
}

static int load_time_intervals(struct ctx *c, const config_setting_t *l, struct rw_timeints *tis)
{
    if (!config_setting_is_list(l) && !(config_setting_is_array(l) && !config_setting_length(l)))
        return fail(c, l, "expects a list ( { name = \"...\"; time_intervals = ( ... ); } )");
    for (int i = 0; i < config_setting_length(l); i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        static const char *const keys[] = {"name", "time_intervals", NULL};
        if (check_keys(c, g, keys, "name, time_intervals"))
            return -EINVAL;
        int rc;
        const char *name = get_str(c, g, "name", &rc);
        if (rc)
            return rc;
        if (!name || !name[0])
            return fail(c, g, "needs a name");
        if (strlen(name) >= RW_TI_NAME_MAX)
            return fail(c, config_setting_get_member(g, "name"), "name longer than %d bytes",
                        RW_TI_NAME_MAX - 1);
        if (rw_timeints_find(tis, name))
            return fail(c, config_setting_get_member(g, "name"),
                        "duplicate time interval name '%s'", name);
        struct rw_timeint *t = rw_timeints_add(tis, name);
        if (!t)
            return fail(c, g, "out of memory");
        const config_setting_t *e = config_setting_get_member(g, "time_intervals");
        if (!e)
            return fail(c, g, "needs time_intervals = ( { ... } )");
        if (!config_setting_is_list(e) || !config_setting_length(e))
            return fail(c, e, "expects a non-empty list ( { times = ...; weekdays = ...; } )");
        for (int k = 0; k < config_setting_length(e); k++) {
            struct rw_time_interval *ti = rw_timeint_add_entry(t);
            if (!ti)
                return fail(c, e, "out of memory");
            if (load_ti_entry(c, config_setting_get_elem(e, (unsigned)k), ti))
                return -EINVAL;
        }
    }
    return 0;
}

/* ---- routes ---------------------------------------------------------------- */

static int add_matcher(struct ctx *c, const config_setting_t *e, const char *v, void *ud)
{
    char msg[512];
    if (rw_matchers_add(ud, v, msg, sizeof msg))
        return fail(c, e, "%s", msg);
    return 0;
}

struct names {
    int n;
    const char *v[MAX_LIST];
};

static int collect(struct ctx *c, const config_setting_t *e, const char *v, void *ud)
{
    (void)c;
    (void)e;
    struct names *nm = ud;
    nm->v[nm->n++] = v;
    return 0;
}

static int interval_name(struct ctx *c, const config_setting_t *e, const char *v, void *ud)
{
    struct rw_route *r = ud;
    int mute = strcmp(config_setting_name(config_setting_parent(e)), "mute_time_intervals") == 0;
    if (!rw_timeints_find(c->tis, v))
        return fail(c, e, "unknown time interval '%s' (define it under time_intervals)", v);
    if ((mute ? rw_route_add_mute(r, v) : rw_route_add_active(r, v)))
        return fail(c, e, "out of memory");
    return 0;
}

static int load_route(struct ctx *c, const config_setting_t *g, struct rw_route *r, int is_root)
{
    static const char *const keys[] = {"receiver",
                                       "matchers",
                                       "continue",
                                       "group_by",
                                       "group_wait",
                                       "group_interval",
                                       "repeat_interval",
                                       "mute_time_intervals",
                                       "active_time_intervals",
                                       "routes",
                                       NULL};
    if (check_keys(c, g, keys, "a route"))
        return -EINVAL;
    if (++c->nroutes > MAX_ROUTES)
        return fail(c, g, "more than %d routes", MAX_ROUTES);
    r->line = (int)config_setting_source_line(g);
    int rc;
    const config_setting_t *s;
    const char *recv = get_str(c, g, "receiver", &rc);
    if (rc)
        return rc;
    if (recv) {
        s = config_setting_get_member(g, "receiver");
        if (!recv[0] || strlen(recv) >= sizeof r->receiver)
            return fail(c, s, "expects a receiver name");
        r->send_resolved = 1;
        if (c->recv) {
            int found = -1;
            for (int i = 0; i < c->nrecv && found < 0; i++)
                if (strcmp(c->recv[i].name, recv) == 0)
                    found = i;
            if (found < 0) {
                char known[512] = "";
                size_t off = 0;
                for (int i = 0; i < c->nrecv && off < sizeof known; i++)
                    off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                            c->recv[i].name);
                return fail(c, s, "unknown receiver '%s' (notifiers: %s)", recv,
                            c->nrecv ? known : "none defined");
            }
            r->send_resolved = c->recv[found].send_resolved;
        }
        snprintf(r->receiver, sizeof r->receiver, "%s", recv);
    } else if (is_root) {
        return fail(c, g, "the root route needs a receiver (the default for every alert)");
    }
    if ((s = config_setting_get_member(g, "matchers"))) {
        if (is_root && config_setting_length(s))
            return fail(c, s, "the root route matches every alert: no matchers here");
        if (each_string(c, s, 0, add_matcher, &r->matchers))
            return -EINVAL;
    }
    if ((s = config_setting_get_member(g, "continue"))) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return fail(c, s, "expects true or false");
        r->cont = config_setting_get_bool(s);
        if (is_root && r->cont)
            return fail(c, s, "the root route cannot have 'continue'");
    }
    if ((s = config_setting_get_member(g, "group_by"))) {
        struct names nm = {0};
        char msg[256];
        if (each_string(c, s, 0, collect, &nm))
            return -EINVAL;
        if (rw_route_set_group_by(r, nm.v, nm.n, msg, sizeof msg))
            return fail(c, s, "%s", msg);
    }
    if (get_duration(c, g, "group_wait", &r->group_wait_ms, 1) ||
        get_duration(c, g, "group_interval", &r->group_interval_ms, 0) ||
        get_duration(c, g, "repeat_interval", &r->repeat_interval_ms, 0))
        return -EINVAL;
    static const char *const ti_keys[] = {"mute_time_intervals", "active_time_intervals"};
    for (int k = 0; k < 2; k++) {
        if (!(s = config_setting_get_member(g, ti_keys[k])))
            continue;
        if (is_root && config_setting_length(s))
            return fail(c, s, "the root route cannot be muted: put %s on a child route",
                        ti_keys[k]);
        if (each_string(c, s, 0, interval_name, r))
            return -EINVAL;
    }
    if ((s = config_setting_get_member(g, "routes"))) {
        if (!config_setting_is_list(s) &&
            !(config_setting_is_array(s) && !config_setting_length(s)))
            return fail(c, s, "expects a list of routes ( { ... }, { ... } )");
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *cg = config_setting_get_elem(s, (unsigned)i);
            struct rw_route *child = rw_route_new(NULL);
            if (!child || rw_route_add_child(r, child)) {
                rw_route_free(&child);
                return fail(c, cg, "out of memory");
            }
            if (load_route(c, cg, child, 0))
                return -EINVAL;
        }
    }
    return 0;
}

/* ---- inhibit rules -------------------------------------------------------- */

static int add_equal(struct ctx *c, const config_setting_t *e, const char *v, void *ud)
{
    struct rw_inhibit_rule *rule = ud;
    for (int i = 0; i < rule->nequal; i++)
        if (strcmp(rule->equal[i], v) == 0)
            return fail(c, e, "'%s' listed twice", v);
    int rc = rw_inhibit_rule_add_equal(rule, v);
    if (rc == -EINVAL)
        return fail(c, e, "bad label name '%s'", v);
    if (rc)
        return fail(c, e, "out of memory");
    return 0;
}

static int load_inhibit(struct ctx *c, const config_setting_t *l, struct rw_pipeline_cfg *out)
{
    if (!config_setting_is_list(l) && !(config_setting_is_array(l) && !config_setting_length(l)))
        return fail(c, l,
                    "expects a list ( { source_matchers = [...]; target_matchers = [...]; "
                    "equal = [...]; } )");
    int n = config_setting_length(l);
    if (n > MAX_LIST)
        return fail(c, l, "at most %d inhibit rules", MAX_LIST);
    if (!n)
        return 0;
    out->inhibit = calloc((size_t)n, sizeof *out->inhibit);
    if (!out->inhibit)
        return fail(c, l, "out of memory");
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        struct rw_inhibit_rule *rule = &out->inhibit[i];
        out->ninhibit = i + 1;
        static const char *const keys[] = {"source_matchers", "target_matchers", "equal", NULL};
        if (check_keys(c, g, keys, "source_matchers, target_matchers, equal"))
            return -EINVAL;
        rule->line = (int)config_setting_source_line(g);
        const config_setting_t *s;
        static const char *const sides[] = {"source_matchers", "target_matchers"};
        for (int k = 0; k < 2; k++) {
            struct rw_matchers *ms = k ? &rule->target : &rule->source;
            if (!(s = config_setting_get_member(g, sides[k])))
                return fail(c, g, "needs %s", sides[k]);
            if (each_string(c, s, 0, add_matcher, ms))
                return -EINVAL;
            if (!ms->n)
                return fail(c, s,
                            "needs at least one matcher (an empty list would match every alert)");
        }
        if ((s = config_setting_get_member(g, "equal")) && each_string(c, s, 0, add_equal, rule))
            return -EINVAL;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------- */

void rw_pipeline_cfg_clear(struct rw_pipeline_cfg *cfg)
{
    if (!cfg)
        return;
    rw_route_free(&cfg->root);
    for (int i = 0; i < cfg->ninhibit; i++)
        rw_inhibit_rule_clear(&cfg->inhibit[i]);
    free(cfg->inhibit);
    rw_timeints_free(&cfg->timeints);
    memset(cfg, 0, sizeof *cfg);
}

int rw_pipeline_config_load(const struct config_setting_t *route,
                            const struct config_setting_t *inhibit_rules,
                            const struct config_setting_t *time_intervals,
                            const struct rw_receiver_ref *receivers, int nreceivers,
                            const char *file_name, const char *zoneinfo_dir,
                            struct rw_pipeline_cfg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct ctx c = {file_name, zoneinfo_dir, receivers, nreceivers, NULL, 0, err, errlen};
    int rc = -EINVAL;
    out->timeints = rw_timeints_new();
    if (!out->timeints) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c.tis = out->timeints;
    if (time_intervals && load_time_intervals(&c, time_intervals, out->timeints))
        goto fail;
    if (route) {
        out->root = rw_route_new(NULL);
        if (!out->root) {
            rc = -ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (load_route(&c, route, out->root, 1))
            goto fail;
        char msg[512];
        if (rw_route_finalize(out->root, out->timeints, msg, sizeof msg)) {
            fail(&c, route, "%s", msg);
            goto fail;
        }
    }
    if (inhibit_rules && load_inhibit(&c, inhibit_rules, out))
        goto fail;
    return 0;
fail:
    rw_pipeline_cfg_clear(out);
    return rc;
}
