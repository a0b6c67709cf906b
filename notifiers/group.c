/* Aggregation groups and the dispatcher (see group.h).
 *
 * Each group remembers what its last notification contained (the firing and
 * resolved fingerprints, as sorted sets) and when it went out; that is
 * Alertmanager's notification log reduced to one entry per group, and it
 * is what decides whether a tick sends anything. The log lives and dies
 * with the group: a group that empties is deleted with it.
 */
#include "notifiers/group.h"
#include "notifiers/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fnv.h"
#include "notifiers/timeint.h"

struct galert {
    uint64_t fp;
    json_t *alert; /* referenced */
    int firing;
    int64_t at; /* when this group took it (re-routing after a reload) */
};

struct group {
    struct group *hnext;       /* hash bucket chain */
    struct group *prev, *next; /* list of all groups */
    const struct rw_route *route;
    uint64_t hash;
    char *key;
    json_t *labels; /* groupLabels */
    int n, cap;
    struct galert *a;   /* arrival order */
    int64_t next_ms;    /* next flush */
    int64_t created_ms; /* first seen: part of the notification ids */
    uint64_t seq;       /* notifications taken so far */
    int flushed;        /* flushed at least once */
    /* Last notification taken by the callback: */
    int sent;
    int64_t last_sent_ms;
    uint64_t *sf, *sr; /* sorted firing / resolved fingerprints */
    int nsf, nsr;
};

struct rw_dispatch {
    const struct rw_route *root;
    const struct rw_silences *silences;
    struct rw_inhibitor *inhibitor;
    int max_groups, max_per_group, max_alerts, early_flush;
    char *external_url;
    struct group **buckets;
    size_t nbuckets; /* power of two */
    struct group *head, *tail;
    int ngroups, nalerts;
    struct rw_dispatch_stats st;
    rw_dispatch_state_fn journal;
    void *journal_ud;
};

/* ---- helpers ------------------------------------------------------------- */


struct pair {
    const char *name, *value;
};

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->name, ((const struct pair *)b)->name);
}

/* Sorted (name, value) pairs of an alert's labels; NULL/0 when empty. */
static struct pair *all_labels(const json_t *labels, int *n)
{
    size_t sz = json_object_size(labels);
    *n = 0;
    if (!sz)
        return NULL;
    struct pair *p = malloc(sizeof *p * sz);
    if (!p)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *s = json_string_value(v);
        if (s && s[0])
            p[(*n)++] = (struct pair){k, s};
    }
    qsort(p, (size_t)*n, sizeof *p, pair_cmp);
    return p;
}

static uint64_t fingerprint(const json_t *alert, const json_t *labels)
{
    const char *fp = json_string_value(json_object_get(alert, "fingerprint"));
    if (fp) {
        size_t len = strlen(fp);
        if (len >= 1 && len <= 16 && strspn(fp, "0123456789abcdef") == len)
            return strtoull(fp, NULL, 16);
        return rw_fnv1a(RW_FNV_OFFSET, fp, len);
    }
    /* No fingerprint: the same stable idea, over the sorted label set. */
    int n;
    struct pair *p = all_labels(labels, &n);
    uint64_t h = RW_FNV_OFFSET;
    for (int i = 0; i < n; i++) {
        h = rw_fnv1a(h, p[i].name, strlen(p[i].name) + 1);
        h = rw_fnv1a(h, p[i].value, strlen(p[i].value) + 1);
    }
    free(p);
    return h;
}

/* Group labels of `labels` for route r, sorted; the caller frees. */
static struct pair *group_pairs(const struct rw_route *r, const json_t *labels, int *n)
{
    if (r->group_by_all)
        return all_labels(labels, n);
    *n = 0;
    if (!r->ngroup_by)
        return NULL;
    struct pair *p = malloc(sizeof *p * (size_t)r->ngroup_by);
    if (!p)
        return NULL;
    for (int i = 0; i < r->ngroup_by; i++) {
        const char *v = rw_label_get(labels, r->group_by[i]);
        if (v[0]) /* absent and "" are the same: not a group label */
            p[(*n)++] = (struct pair){r->group_by[i], v};
    }
    qsort(p, (size_t)*n, sizeof *p, pair_cmp);
    return p;
}

/* Alertmanager's group key: <route key>:{name="value", ...}. */
static char *group_key(const struct rw_route *r, const struct pair *p, int n)
{
    struct rw_sb b = {0};
    rw_sb_add(&b, r->key);
    rw_sb_add(&b, ":{");
    for (int i = 0; i < n; i++) {
        if (i)
            rw_sb_add(&b, ", ");
        rw_sb_add(&b, p[i].name);
        rw_sb_add(&b, "=\"");
        for (const char *c = p[i].value; *c; c++) {
            if (*c == '"' || *c == '\\')
                rw_sb_addn(&b, "\\", 1);
            rw_sb_addn(&b, c, 1);
        }
        rw_sb_add(&b, "\"");
    }
    rw_sb_add(&b, "}");
    return rw_sb_take(&b);
}

/* ---- groups ---------------------------------------------------------------- */

static uint64_t group_hash(const struct rw_route *r, const char *key)
{
    uint64_t h = rw_fnv1a(RW_FNV_OFFSET, &r, sizeof r);
    return rw_fnv1a(h, key, strlen(key));
}

static struct group *lookup(const struct rw_dispatch *d, const struct rw_route *r, const char *key,
                            uint64_t h)
{
    for (struct group *g = d->buckets[h & (d->nbuckets - 1)]; g; g = g->hnext)
        if (g->hash == h && g->route == r && strcmp(g->key, key) == 0)
            return g;
    return NULL;
}

static void group_free(struct group *g)
{
    for (int i = 0; i < g->n; i++)
        json_decref(g->a[i].alert);
    free(g->a);
    free(g->key);
    json_decref(g->labels);
    free(g->sf);
    free(g->sr);
    free(g);
}

static void group_delete(struct rw_dispatch *d, struct group *g)
{
    struct group **pp = &d->buckets[g->hash & (d->nbuckets - 1)];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = g->hnext;
    if (g->prev)
        g->prev->next = g->next;
    else
        d->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        d->tail = g->prev;
    d->nalerts -= g->n;
    d->ngroups--;
    group_free(g);
}

static struct group *group_create(struct rw_dispatch *d, const struct rw_route *r, char *key,
                                  uint64_t h, const struct pair *p, int n, int64_t now_ms)
{
    struct group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->labels = json_object();
    if (!g->labels) {
        free(g);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        json_object_set_new(g->labels, p[i].name, json_string(p[i].value));
    g->route = r;
    g->key = key;
    g->hash = h;
    g->next_ms = now_ms + r->group_wait_ms;
    g->created_ms = now_ms;
    size_t b = h & (d->nbuckets - 1);
    g->hnext = d->buckets[b];
    d->buckets[b] = g;
    g->prev = d->tail;
    if (d->tail)
        d->tail->next = g;
    else
        d->head = g;
    d->tail = g;
    d->ngroups++;
    return g;
}

static int find_alert(const struct group *g, uint64_t fp)
{
    for (int i = 0; i < g->n; i++)
        if (g->a[i].fp == fp)
            return i;
    return -1;
}

/* Append a (its alert gets referenced); -ENOMEM if the array cannot grow. */
static int push_alert(struct rw_dispatch *d, struct group *g, struct galert a)
{
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 4;
        struct galert *v = realloc(g->a, sizeof *v * (size_t)cap);
        if (!v)
            return -ENOMEM;
        g->a = v;
        g->cap = cap;
    }
    json_incref(a.alert);
    g->a[g->n++] = a;
    d->nalerts++;
    return 0;
}

/* ---- public ------------------------------------------------------------------- */

struct rw_dispatch *rw_dispatch_new(const struct rw_route *root,
                                    const struct rw_dispatch_opts *opts)
{
    if (!root)
        return NULL;
    struct rw_dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->root = root;
    d->max_groups = opts && opts->max_groups > 0 ? opts->max_groups : 10000;
    d->max_per_group = opts && opts->max_alerts_per_group > 0 ? opts->max_alerts_per_group : 1000;
    d->max_alerts = opts && opts->max_alerts > 0 ? opts->max_alerts : 100000;
    d->early_flush = opts ? opts->early_flush : 0;
    d->external_url = strdup(opts && opts->external_url ? opts->external_url : "");
    d->nbuckets = 64;
    while (d->nbuckets < (size_t)d->max_groups / 2 && d->nbuckets < (1u << 16))
        d->nbuckets *= 2;
    d->buckets = calloc(d->nbuckets, sizeof *d->buckets);
    if (!d->external_url || !d->buckets) {
        free(d->external_url);
        free(d->buckets);
        free(d);
        return NULL;
    }
    return d;
}

void rw_dispatch_destroy(struct rw_dispatch **dp)
{
    if (!dp || !*dp)
        return;
    struct rw_dispatch *d = *dp;
    while (d->head)
        group_delete(d, d->head);
    free(d->buckets);
    free(d->external_url);
    free(d);
    *dp = NULL;
}

void rw_dispatch_set_mutes(struct rw_dispatch *d, const struct rw_silences *silences,
                           struct rw_inhibitor *inhibitor)
{
    d->silences = silences;
    d->inhibitor = inhibitor;
}

static int valid_labels(const json_t *labels)
{
    if (!json_is_object(labels))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

int rw_dispatch_add(struct rw_dispatch *d, json_t *am_alert, int64_t now_ms)
{
    d->st.received++;
    json_t *labels = json_object_get(am_alert, "labels");
    const json_t *fpj = json_object_get(am_alert, "fingerprint");
    if (!json_is_object(am_alert) || !valid_labels(labels) || (fpj && !json_is_string(fpj))) {
        d->st.invalid++;
        return -EINVAL;
    }
    const char *status = json_string_value(json_object_get(am_alert, "status"));
    int firing = !status || strcmp(status, "resolved") != 0;
    uint64_t fp = fingerprint(am_alert, labels);
    if (d->inhibitor)
        rw_inhibitor_observe(d->inhibitor, am_alert);

    const struct rw_route *routes[RW_ROUTE_MAX_MATCH];
    int nr = rw_route_match(d->root, labels, routes, RW_ROUTE_MAX_MATCH);
    if (nr > RW_ROUTE_MAX_MATCH)
        nr = RW_ROUTE_MAX_MATCH;
    int held = 0, refused = 0;
    for (int i = 0; i < nr; i++) {
        const struct rw_route *r = routes[i];
        int np;
        struct pair *p = group_pairs(r, labels, &np);
        char *key = group_key(r, p, np);
        if (!key) {
            free(p);
            refused = 1;
            d->st.alerts_dropped++;
            continue;
        }
        uint64_t h = group_hash(r, key);
        struct group *g = lookup(d, r, key, h);
        int k = g ? find_alert(g, fp) : -1;
        if (k >= 0) {
            /* Known alert: an update or its resolution always fits. */
            json_decref(g->a[k].alert);
            g->a[k].alert = json_incref(am_alert);
            g->a[k].firing = firing;
            held++;
        } else if (!firing) {
            /* Nothing held it, so nothing was ever notified about it. */
            d->st.resolved_unknown++;
        } else if (!g && d->ngroups >= d->max_groups) {
            d->st.groups_dropped++;
            refused = 1;
        } else if ((g && g->n >= d->max_per_group) || d->nalerts >= d->max_alerts) {
            d->st.alerts_dropped++;
            refused = 1;
        } else {
            if (!g) {
                g = group_create(d, r, key, h, p, np, now_ms);
                if (g)
                    key = NULL; /* the group owns it now */
            }
            if (!g || push_alert(d, g, (struct galert){fp, am_alert, 1, now_ms}) < 0) {
                d->st.alerts_dropped++;
                refused = 1;
                if (g && g->n == 0)
                    group_delete(d, g);
                g = NULL;
            } else {
                held++;
            }
        }
        if (g && firing && d->early_flush && !g->flushed) {
            int64_t starts;
            const char *sa = json_string_value(json_object_get(am_alert, "startsAt"));
            if (sa && rw_time_parse(sa, &starts) == 0 && starts != RW_TIME_ZERO &&
                starts + r->group_wait_ms <= now_ms && g->next_ms > now_ms)
                g->next_ms = now_ms;
        }
        free(key);
        free(p);
    }
    return refused ? -ENOSPC : held;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every element of sorted a is in sorted b. */
static int subset(const uint64_t *a, int na, const uint64_t *b, int nb)
{
    int j = 0;
    for (int i = 0; i < na; i++) {
        while (j < nb && b[j] < a[i])
            j++;
        if (j == nb || b[j] != a[i])
            return 0;
    }
    return 1;
}

/* Alertmanager's DedupStage decision, on the group's last notification. */
static int needs_update(const struct group *g, const uint64_t *f, int nf, const uint64_t *r, int nr,
                        int send_resolved, int64_t now_ms)
{
    if (!g->sent)
        return nf > 0;
    if (!subset(f, nf, g->sf, g->nsf))
        return 1; /* something new fires */
    if (nf == 0)
        return g->nsf > 0; /* all clear after a firing notification */
    if (send_resolved && !subset(r, nr, g->sr, g->nsr))
        return 1; /* something newly resolved to report */
    return now_ms - g->last_sent_ms >= g->route->repeat_interval_ms;
}

/* Labels/annotations shared by every alert, with the same value. */
static json_t *common(const json_t *alerts, const char *field)
{
    json_t *c = json_deep_copy(json_object_get(json_array_get(alerts, 0), field));
    if (!json_is_object(c)) {
        json_decref(c);
        return json_object();
    }
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        if (i == 0)
            continue;
        const json_t *o = json_object_get(a, field);
        const char *k;
        json_t *v, *tmp;
        json_object_foreach_safe(c, tmp, k, v)
        {
            if (!json_equal(v, json_object_get(o, k)))
                json_object_del(c, k);
        }
    }
    return c;
}

static json_t *notification(const struct rw_dispatch *d, const struct group *g, const int *fi,
                            int nf, const int *ri, int nr)
{
    json_t *alerts = json_array();
    for (int i = 0; alerts && i < nf; i++)
        json_array_append(alerts, g->a[fi[i]].alert);
    for (int i = 0; alerts && i < nr; i++)
        json_array_append(alerts, g->a[ri[i]].alert);
    if (!alerts)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:s, s:i, s:o}", "receiver",
                     g->route->receiver, "status", nf ? "firing" : "resolved", "groupKey", g->key,
                     "groupLabels", g->labels, "commonLabels", common(alerts, "labels"),
                     "commonAnnotations", common(alerts, "annotations"), "externalURL",
                     d->external_url, "truncatedAlerts", 0, "alerts", alerts);
}

static int set_fps(uint64_t **dst, int *n, const uint64_t *src, int ns)
{
    uint64_t *v = NULL;
    if (ns) {
        v = malloc(sizeof *v * (size_t)ns);
        if (!v)
            return -ENOMEM;
        memcpy(v, src, sizeof *v * (size_t)ns);
    }
    free(*dst);
    *dst = v;
    *n = ns;
    return 0;
}

/* Routes are named in the journal by key, and by rank among routes with
 * the same key (siblings with identical matchers share one). */
static const struct rw_route *route_walk(const struct rw_route *r, const char *key, int *n,
                                         const struct rw_route *stop)
{
    if (r == stop || strcmp(r->key, key) == 0) {
        if (r == stop || (*n)-- == 0)
            return r;
    }
    for (int i = 0; i < r->nchildren; i++) {
        const struct rw_route *f = route_walk(r->children[i], key, n, stop);
        if (f)
            return f;
    }
    return NULL;
}

static int route_nth(const struct rw_route *r)
{
    const struct rw_route *root = r;
    while (root->parent)
        root = root->parent;
    /* Count the routes with r's key met before r in tree order. */
    int n = INT32_MAX;
    route_walk(root, r->key, &n, r);
    return INT32_MAX - n;
}

static json_t *fps_json(const uint64_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)v[i]);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

/* A group's state as a journal record: its timing and notification log,
 * then either its alerts in full (a snapshot) or only the fingerprints it
 * still holds (after a flush: the alerts themselves are already in the
 * journal). */
static json_t *group_state(const struct group *g, int full)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:O, s:I, s:I, s:b, s:b, s:I, s:I, s:o, s:o}", "t",
                          "g", "route", g->route->key, "route_n", route_nth(g->route), "key",
                          g->key, "labels", g->labels, "created", (json_int_t)g->created_ms, "next",
                          (json_int_t)g->next_ms, "flushed", g->flushed, "sent", g->sent,
                          "last_sent", (json_int_t)g->last_sent_ms, "seq", (json_int_t)g->seq, "sf",
                          fps_json(g->sf, g->nsf), "sr", fps_json(g->sr, g->nsr));
    json_t *list = json_array();
    for (int i = 0; list && i < g->n; i++) {
        if (!full) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)g->a[i].fp);
            json_array_append_new(list, json_string(hex));
        } else {
            json_array_append_new(list, json_pack("{s:I, s:O}", "at", (json_int_t)g->a[i].at,
                                                  "alert", g->a[i].alert));
        }
    }
    if (!o || !list || json_object_set_new(o, full ? "alerts" : "held", list)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One tick of one group. Returns 1 if a notification was taken. */
static int flush(struct rw_dispatch *d, struct group *g, int64_t now_ms, rw_flush_fn cb, void *ud)
{
    const struct rw_route *r = g->route;
    int ok = 1, taken = 0, changed = 0;
    int *idx = NULL;
    uint64_t *fps = NULL;
    if (rw_route_muted(r, now_ms)) {
        d->st.muted_time++;
        goto done;
    }
    idx = malloc(sizeof *idx * (size_t)(2 * g->n + 1));
    fps = malloc(sizeof *fps * (size_t)(2 * g->n + 1));
    if (!idx || !fps) {
        ok = 0; /* try again next tick */
        goto done;
    }
    /* firing indices grow from the front, resolved from the back */
    int nf = 0, nr = 0;
    int *fi = idx, *ri = idx + g->n;
    uint64_t *ff = fps, *rf = fps + g->n;
    for (int i = 0; i < g->n; i++) {
        const json_t *labels = json_object_get(g->a[i].alert, "labels");
        if (d->silences && rw_silences_match(d->silences, labels, now_ms)) {
            d->st.silenced++;
            continue;
        }
        if (d->inhibitor) {
            const char *fp = json_string_value(json_object_get(g->a[i].alert, "fingerprint"));
            if (rw_inhibitor_mutes(d->inhibitor, labels, fp, NULL, 0)) {
                d->st.inhibited++;
                continue;
            }
        }
        if (g->a[i].firing) {
            fi[nf] = i;
            ff[nf++] = g->a[i].fp;
        } else {
            ri[nr] = i;
            rf[nr++] = g->a[i].fp;
        }
    }
    qsort(ff, (size_t)nf, sizeof *ff, u64_cmp);
    qsort(rf, (size_t)nr, sizeof *rf, u64_cmp);
    if (!needs_update(g, ff, nf, rf, nr, r->send_resolved, now_ms))
        goto done;
    int nsend_r = r->send_resolved ? nr : 0;
    if (nf + nsend_r > 0) {
        json_t *n = notification(d, g, fi, nf, ri, nsend_r);
        struct rw_flush f = {r,  r->receiver, g->key, g->labels,     nf ? "firing" : "resolved",
                             nf, nsend_r,     n,      g->created_ms, g->seq + 1};
        if (!n || cb(ud, &f) != 0) {
            ok = 0;
            d->st.flush_failed++;
        } else {
            d->st.notifications++;
            g->seq++;
            taken = 1;
        }
        json_decref(n);
    }
    if (ok) {
        changed = 1;
        if (set_fps(&g->sf, &g->nsf, ff, nf) || set_fps(&g->sr, &g->nsr, rf, nr)) {
            /* Out of memory for the log: forget it, so the next tick re-sends
             * rather than stays silent. */
            g->sent = 0;
        } else {
            g->sent = 1;
            g->last_sent_ms = now_ms;
        }
    }
done:
    if (ok) {
        /* Resolved alerts have had their one chance (sent, muted or not wanted). */
        int k = 0;
        for (int i = 0; i < g->n; i++) {
            if (g->a[i].firing) {
                g->a[k++] = g->a[i];
            } else {
                json_decref(g->a[i].alert);
                d->nalerts--;
            }
        }
        changed |= k != g->n;
        g->n = k;
    }
    free(idx);
    free(fps);
    g->flushed = 1;
    g->next_ms = now_ms + r->group_interval_ms;
    /* A tick that only moved the timer is not journaled: replayed, the
     * group is due at once and decides again from the same log. */
    if (changed && d->journal) {
        json_t *rec = group_state(g, 0);
        if (rec)
            d->journal(d->journal_ud, rec);
        json_decref(rec);
    }
    if (g->n == 0)
        group_delete(d, g);
    return taken;
}

int rw_dispatch_due(struct rw_dispatch *d, int64_t now_ms, rw_flush_fn cb, void *ud)
{
    int taken = 0;
    for (struct group *g = d->head, *next; g; g = next) {
        next = g->next;
        if (g->next_ms <= now_ms)
            taken += flush(d, g, now_ms, cb, ud);
    }
    return taken;
}

int64_t rw_dispatch_next_deadline(const struct rw_dispatch *d)
{
    int64_t t = INT64_MAX;
    for (const struct group *g = d->head; g; g = g->next)
        if (g->next_ms < t)
            t = g->next_ms;
    return t;
}

void rw_dispatch_stats(const struct rw_dispatch *d, struct rw_dispatch_stats *out)
{
    *out = d->st;
    out->groups = (uint64_t)d->ngroups;
    out->alerts = (uint64_t)d->nalerts;
}

json_t *rw_dispatch_groups(const struct rw_dispatch *d)
{
    json_t *a = json_array();
    for (const struct group *g = d->head; a && g; g = g->next) {
        int firing = 0;
        for (int i = 0; i < g->n; i++)
            firing += g->a[i].firing;
        json_array_append_new(a, json_pack("{s:s, s:s, s:O, s:i, s:i, s:I}", "receiver",
                                           g->route->receiver, "groupKey", g->key, "groupLabels",
                                           g->labels, "alerts", g->n, "firing", firing,
                                           "next_flush_ms", (json_int_t)g->next_ms));
    }
    return a;
}

/* ---- journal: state out, state in ---------------------------------------------- */

void rw_dispatch_set_journal(struct rw_dispatch *d, rw_dispatch_state_fn fn, void *ud)
{
    d->journal = fn;
    d->journal_ud = ud;
}

int rw_dispatch_snapshot(const struct rw_dispatch *d, rw_dispatch_state_fn fn, void *ud)
{
    int n = 0;
    for (const struct group *g = d->head; g; g = g->next) {
        json_t *rec = group_state(g, 1);
        if (!rec)
            return -ENOMEM;
        int rc = fn(ud, rec);
        json_decref(rec);
        if (rc)
            return rc < 0 ? rc : -EIO;
        n++;
    }
    return n;
}

static int parse_fps(const json_t *a, uint64_t **out, int *n)
{
    size_t sz = json_array_size(a);
    uint64_t *v = sz ? malloc(sizeof *v * sz) : NULL;
    if (sz && !v)
        return -ENOMEM;
    int k = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x)
    {
        const char *s = json_string_value(x);
        char *end;
        if (!s || !*s)
            continue;
        v[k++] = strtoull(s, &end, 16);
        if (*end)
            k--;
    }
    if (k > 1)
        qsort(v, (size_t)k, sizeof *v, u64_cmp);
    free(*out);
    *out = k ? v : NULL;
    if (!k)
        free(v);
    *n = k;
    return 0;
}

static int64_t int_or(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Timing and notification log of a record onto g. */
static int apply_state(struct group *g, const json_t *rec)
{
    g->created_ms = int_or(rec, "created", g->created_ms);
    g->next_ms = int_or(rec, "next", g->next_ms);
    g->flushed = json_is_true(json_object_get(rec, "flushed"));
    g->sent = json_is_true(json_object_get(rec, "sent"));
    g->last_sent_ms = int_or(rec, "last_sent", 0);
    int64_t seq = int_or(rec, "seq", 0);
    g->seq = seq > 0 ? (uint64_t)seq : 0;
    if (parse_fps(json_object_get(rec, "sf"), &g->sf, &g->nsf) ||
        parse_fps(json_object_get(rec, "sr"), &g->sr, &g->nsr)) {
        g->sent = 0; /* as in flush: a lost log re-sends rather than stays silent */
        return -ENOMEM;
    }
    return 0;
}

/* One alert of a snapshot into the group it was in, if the route still
 * makes that group for it: 1 = placed, 0 = the group would differ now (the
 * caller re-routes it), negative = refused. */
static int place(struct rw_dispatch *d, const struct rw_route *r, const char *key,
                 struct group **gp, json_t *alert, int64_t at, int64_t now_ms)
{
    json_t *labels = json_object_get(alert, "labels");
    if (!r || !json_is_object(alert) || !valid_labels(labels))
        return 0;
    int np;
    struct pair *p = group_pairs(r, labels, &np);
    char *k = group_key(r, p, np);
    if (!k || strcmp(k, key) != 0) {
        free(k);
        free(p);
        return 0;
    }
    uint64_t fp = fingerprint(alert, labels);
    const char *status = json_string_value(json_object_get(alert, "status"));
    int firing = !status || strcmp(status, "resolved") != 0;
    struct group *g = *gp;
    int i = g ? find_alert(g, fp) : -1;
    int rc = 1;
    if (i >= 0) {
        json_decref(g->a[i].alert);
        g->a[i].alert = json_incref(alert);
        g->a[i].firing = firing;
    } else if (!g && d->ngroups >= d->max_groups) {
        d->st.groups_dropped++;
        rc = -ENOSPC;
    } else if ((g && g->n >= d->max_per_group) || d->nalerts >= d->max_alerts) {
        d->st.alerts_dropped++;
        rc = -ENOSPC;
    } else {
        if (!g) {
            g = group_create(d, r, k, group_hash(r, k), p, np, now_ms);
            if (g) {
                k = NULL; /* the group owns it; its state comes after its alerts */
                *gp = g;
            }
        }
        if (!g || push_alert(d, g, (struct galert){fp, alert, firing, at}) < 0) {
            d->st.alerts_dropped++;
            rc = -ENOMEM;
        }
    }
    free(k);
    free(p);
    return rc;
}

int rw_dispatch_restore(struct rw_dispatch *d, const json_t *rec, int64_t now_ms)
{
    const char *t = json_string_value(json_object_get(rec, "t"));
    const char *rkey = json_string_value(json_object_get(rec, "route"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    const json_t *alerts = json_object_get(rec, "alerts");
    const json_t *held = json_object_get(rec, "held");
    if (!t || strcmp(t, "g") != 0 || !rkey || !key || (alerts && !json_is_array(alerts)) ||
        (held && !json_is_array(held)))
        return -EINVAL;
    int nth = (int)int_or(rec, "route_n", 0);
    const struct rw_route *r = route_walk(d->root, rkey, &nth, NULL);
    struct group *g = r ? lookup(d, r, key, group_hash(r, key)) : NULL;
    int placed = 0;
    if (!alerts) {
        /* After a flush: the group's new state and what it still holds. */
        if (!g)
            return 0; /* its alerts were not taken (config changed, caps) */
        if (held) {
            int k = 0;
            for (int i = 0; i < g->n; i++) {
                int keep = 0;
                size_t j;
                const json_t *x;
                json_array_foreach(held, j, x)
                {
                    const char *s = json_string_value(x);
                    if (s && strtoull(s, NULL, 16) == g->a[i].fp) {
                        keep = 1;
                        break;
                    }
                }
                if (keep) {
                    g->a[k++] = g->a[i];
                } else {
                    json_decref(g->a[i].alert);
                    d->nalerts--;
                }
            }
            g->n = k;
        }
        apply_state(g, rec);
        placed = g->n;
        if (g->n == 0)
            group_delete(d, g);
        return placed;
    }
    /* A snapshot: the group with its alerts. An alert the current tree
     * would group elsewhere (a reload or restart changed the routes or
     * group_by) is filed as a new arrival instead, losing the log. */
    size_t i;
    const json_t *e;
    json_array_foreach(alerts, i, e)
    {
        json_t *alert = json_object_get(e, "alert");
        if (!json_is_object(alert))
            continue;
        if (d->inhibitor)
            rw_inhibitor_observe(d->inhibitor, alert);
        int rc = place(d, r, key, &g, alert, int_or(e, "at", now_ms), now_ms);
        if (rc > 0)
            placed++;
        else if (rc == 0)
            d->st.restore_rerouted += rw_dispatch_add(d, alert, now_ms) > 0;
    }
    if (g) {
        apply_state(g, rec);
        if (g->n == 0)
            group_delete(d, g);
    }
    return placed;
}
