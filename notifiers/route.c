/* The routing tree (see route.h). */
#include "notifiers/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rw_route *rw_route_new(const char *receiver)
{
    struct rw_route *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (receiver)
        snprintf(r->receiver, sizeof r->receiver, "%s", receiver);
    r->send_resolved = 1;
    r->group_wait_ms = r->group_interval_ms = r->repeat_interval_ms = -1;
    return r;
}

int rw_route_add_child(struct rw_route *parent, struct rw_route *child)
{
    struct rw_route **c = realloc(parent->children, sizeof *c * (size_t)(parent->nchildren + 1));
    if (!c)
        return -ENOMEM;
    parent->children = c;
    child->parent = parent;
    child->index = parent->nchildren;
    c[parent->nchildren++] = child;
    return 0;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int rw_route_set_group_by(struct rw_route *r, const char *const *names, int n, char *err,
                          size_t errlen)
{
    if (n < 0) {
        snprintf(err, errlen, "group_by: negative count");
        return -EINVAL;
    }
    int all = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "...") == 0) {
            if (n != 1) {
                snprintf(err, errlen, "group_by: \"...\" (every label) must be the only entry");
                return -EINVAL;
            }
            all = 1;
            continue;
        }
        if (!rw_label_name_valid(names[i])) {
            snprintf(err, errlen, "group_by: bad label name '%s'", names[i]);
            return -EINVAL;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(names[k], names[i]) == 0) {
                snprintf(err, errlen, "group_by: '%s' listed twice", names[i]);
                return -EINVAL;
            }
    }
    char **copy = NULL;
    if (!all && n > 0) {
        copy = calloc((size_t)n, sizeof *copy);
        if (!copy)
            goto oom;
        for (int i = 0; i < n; i++)
            if (!(copy[i] = strdup(names[i]))) {
                free_names(copy, i);
                goto oom;
            }
    }
    free_names(r->group_by, r->ngroup_by);
    r->group_by = copy;
    r->ngroup_by = all ? 0 : n;
    r->group_by_all = all;
    r->group_by_set = 1;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

static int add_name(char ***names, int *n, const char *name)
{
    char **v = realloc(*names, sizeof *v * (size_t)(*n + 1));
    if (!v)
        return -ENOMEM;
    *names = v;
    if (!(v[*n] = strdup(name)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

int rw_route_add_mute(struct rw_route *r, const char *name)
{
    return add_name(&r->mute_names, &r->nmute, name);
}

int rw_route_add_active(struct rw_route *r, const char *name)
{
    return add_name(&r->active_names, &r->nactive, name);
}

/* "line N: " prefix when the node came from a config file. */
static void where(const struct rw_route *r, char *buf, size_t len)
{
    if (r->line)
        snprintf(buf, len, "route at line %d", r->line);
    else
        snprintf(buf, len, "route %s", r->key ? r->key : "(new)");
}

static int resolve(const char *const *names, int n, const struct rw_timeint ***out,
                   const struct rw_timeints *tis, const struct rw_route *r, const char *what,
                   char *err, size_t errlen)
{
    free(*out);
    *out = NULL;
    if (!n)
        return 0;
    *out = calloc((size_t)n, sizeof **out);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        (*out)[i] = rw_timeints_find(tis, names[i]);
        if (!(*out)[i]) {
            char w[128];
            where(r, w, sizeof w);
            snprintf(err, errlen, "%s: %s names unknown time interval '%s'", w, what, names[i]);
            return -EINVAL;
        }
    }
    return 0;
}

static int matcher_before(const struct rw_matcher *x, const struct rw_matcher *y)
{
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->value, y->value);
    return c ? c < 0 : x->type < y->type;
}

/* Alertmanager's route key: parent key + "/" + the matchers sorted by name,
 * value and type (so the key does not depend on how the config lists them),
 * as {a="b",c=~"d"}. */
static char *route_key(const char *parent_key, const struct rw_matchers *ms)
{
    int n = ms->n;
    const struct rw_matcher **v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v)
        return NULL;
    for (int i = 0; i < n; i++) { /* insertion sort: a route has few matchers */
        int k = i;
        while (k > 0 && matcher_before(&ms->m[i], v[k - 1])) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = &ms->m[i];
    }
    size_t need = strlen(parent_key) + 4;
    for (int i = 0; i < n; i++)
        need += (size_t)rw_matcher_format(v[i], NULL, 0) + 1;
    char *key = malloc(need);
    if (key) {
        size_t off = (size_t)snprintf(key, need, "%s/{", parent_key);
        for (int i = 0; i < n; i++) {
            if (i)
                key[off++] = ',';
            off += (size_t)rw_matcher_format(v[i], key + off, need - off);
        }
        snprintf(key + off, need - off, "}");
    }
    free(v);
    return key;
}

static int finalize(struct rw_route *r, const struct rw_timeints *tis, char *err, size_t errlen)
{
    const struct rw_route *p = r->parent;
    char w[128];
    if (p) {
        r->depth = p->depth + 1;
        if (r->depth > RW_ROUTE_MAX_DEPTH) {
            where(r, w, sizeof w);
            snprintf(err, errlen, "%s: routes nest deeper than %d levels", w, RW_ROUTE_MAX_DEPTH);
            return -EINVAL;
        }
        if (!r->receiver[0]) {
            memcpy(r->receiver, p->receiver, sizeof r->receiver);
            r->send_resolved = p->send_resolved;
        }
        if (!r->group_by_set) {
            char msg[64];
            if (rw_route_set_group_by(r, (const char *const *)p->group_by, p->ngroup_by, msg,
                                      sizeof msg))
                goto oom;
            r->group_by_all = p->group_by_all;
            r->group_by_set = 0; /* still "inherited", for printing */
        }
        if (r->group_wait_ms < 0)
            r->group_wait_ms = p->group_wait_ms;
        if (r->group_interval_ms < 0)
            r->group_interval_ms = p->group_interval_ms;
        if (r->repeat_interval_ms < 0)
            r->repeat_interval_ms = p->repeat_interval_ms;
        free(r->key);
        if (!(r->key = route_key(p->key, &r->matchers)))
            goto oom;
    } else {
        if (!r->receiver[0]) {
            snprintf(err, errlen, "the root route needs a receiver (the default one)");
            return -EINVAL;
        }
        where(r, w, sizeof w);
        if (r->matchers.n) {
            snprintf(err, errlen, "%s: the root route matches every alert: no matchers", w);
            return -EINVAL;
        }
        if (r->cont) {
            snprintf(err, errlen, "%s: the root route cannot have 'continue'", w);
            return -EINVAL;
        }
        if (r->nmute || r->nactive) {
            snprintf(err, errlen,
                     "%s: the root route cannot have mute_time_intervals or "
                     "active_time_intervals (put them on a child route)",
                     w);
            return -EINVAL;
        }
        if (r->group_wait_ms < 0)
            r->group_wait_ms = RW_DEFAULT_GROUP_WAIT_MS;
        if (r->group_interval_ms < 0)
            r->group_interval_ms = RW_DEFAULT_GROUP_INTERVAL_MS;
        if (r->repeat_interval_ms < 0)
            r->repeat_interval_ms = RW_DEFAULT_REPEAT_INTERVAL_MS;
        free(r->key);
        if (!(r->key = strdup("{}")))
            goto oom;
    }
    if (r->group_interval_ms <= 0 || r->repeat_interval_ms <= 0) {
        where(r, w, sizeof w);
        snprintf(err, errlen, "%s: group_interval and repeat_interval must be > 0", w);
        return -EINVAL;
    }
    if (resolve((const char *const *)r->mute_names, r->nmute, &r->mute, tis, r,
                "mute_time_intervals", err, errlen) ||
        resolve((const char *const *)r->active_names, r->nactive, &r->active, tis, r,
                "active_time_intervals", err, errlen))
        return -EINVAL;
    for (int i = 0; i < r->nchildren; i++)
        if (finalize(r->children[i], tis, err, errlen))
            return -EINVAL;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

int rw_route_finalize(struct rw_route *root, const struct rw_timeints *tis, char *err,
                      size_t errlen)
{
    if (!root || root->parent) {
        snprintf(err, errlen, "not a root route");
        return -EINVAL;
    }
    return finalize(root, tis, err, errlen);
}

void rw_route_free(struct rw_route **rootp)
{
    if (!rootp || !*rootp)
        return;
    struct rw_route *r = *rootp;
    for (int i = 0; i < r->nchildren; i++)
        rw_route_free(&r->children[i]);
    free(r->children);
    rw_matchers_clear(&r->matchers);
    free_names(r->group_by, r->ngroup_by);
    free_names(r->mute_names, r->nmute);
    free_names(r->active_names, r->nactive);
    free(r->mute);
    free(r->active);
    free(r->key);
    free(r);
    *rootp = NULL;
}

/* Appends matches of the subtree at r; returns how many were found (also
 * beyond max, which are counted but not written). */
static int match(const struct rw_route *r, const json_t *labels, const struct rw_route **out,
                 int max, int n)
{
    if (!rw_matchers_match(&r->matchers, labels))
        return 0;
    int found = 0;
    for (int i = 0; i < r->nchildren; i++) {
        int k = match(r->children[i], labels, out, max, n + found);
        found += k;
        if (k && !r->children[i]->cont)
            break;
    }
    if (!found) {
        if (n < max)
            out[n] = r;
        found = 1;
    }
    return found;
}

int rw_route_match(const struct rw_route *root, const json_t *labels, const struct rw_route **out,
                   int max)
{
    if (!root)
        return 0;
    return match(root, labels, out, max, 0);
}

int rw_route_muted(const struct rw_route *r, int64_t now_ms)
{
    for (int i = 0; i < r->nmute; i++)
        if (r->mute && rw_timeint_contains(r->mute[i], now_ms))
            return 1;
    if (r->nactive && r->active) {
        for (int i = 0; i < r->nactive; i++)
            if (rw_timeint_contains(r->active[i], now_ms))
                return 0;
        return 1;
    }
    return 0;
}
