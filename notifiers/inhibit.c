/* Inhibition rules and the source-alert cache (see inhibit.h). */
#include "notifiers/inhibit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FP_MAX 40

struct source {
    char fp[FP_MAX];
    json_t *labels; /* referenced */
};

struct rule_cache {
    int n, cap;
    struct source *s;
};

struct rw_inhibitor {
    const struct rw_inhibit_rule *rules; /* borrowed */
    int nrules;
    struct rule_cache *cache; /* one per rule */
    int max_sources;
    int total; /* cached entries over all rules */
    uint64_t dropped, muted;
};

int rw_inhibit_rule_add_equal(struct rw_inhibit_rule *rule, const char *name)
{
    if (!rw_label_name_valid(name))
        return -EINVAL;
    char **v = realloc(rule->equal, sizeof *v * (size_t)(rule->nequal + 1));
    if (!v)
        return -ENOMEM;
    rule->equal = v;
    if (!(v[rule->nequal] = strdup(name)))
        return -ENOMEM;
    rule->nequal++;
    return 0;
}

void rw_inhibit_rule_clear(struct rw_inhibit_rule *rule)
{
    if (!rule)
        return;
    rw_matchers_clear(&rule->source);
    rw_matchers_clear(&rule->target);
    for (int i = 0; i < rule->nequal; i++)
        free(rule->equal[i]);
    free(rule->equal);
    memset(rule, 0, sizeof *rule);
}

struct rw_inhibitor *rw_inhibitor_new(const struct rw_inhibit_rule *rules, int n, int max_sources)
{
    struct rw_inhibitor *inh = calloc(1, sizeof *inh);
    if (!inh)
        return NULL;
    inh->rules = rules;
    inh->nrules = n;
    inh->max_sources = max_sources > 0 ? max_sources : 10000;
    if (n && !(inh->cache = calloc((size_t)n, sizeof *inh->cache))) {
        free(inh);
        return NULL;
    }
    return inh;
}

void rw_inhibitor_destroy(struct rw_inhibitor **ip)
{
    if (!ip || !*ip)
        return;
    struct rw_inhibitor *inh = *ip;
    for (int r = 0; r < inh->nrules; r++) {
        for (int i = 0; i < inh->cache[r].n; i++)
            json_decref(inh->cache[r].s[i].labels);
        free(inh->cache[r].s);
    }
    free(inh->cache);
    free(inh);
    *ip = NULL;
}

static int find(const struct rule_cache *c, const char *fp)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->s[i].fp, fp) == 0)
            return i;
    return -1;
}

static void remove_at(struct rw_inhibitor *inh, struct rule_cache *c, int i)
{
    json_decref(c->s[i].labels);
    c->s[i] = c->s[--c->n];
    inh->total--;
}

void rw_inhibitor_observe(struct rw_inhibitor *inh, const json_t *am_alert)
{
    json_t *labels = json_object_get(am_alert, "labels");
    const char *fp = json_string_value(json_object_get(am_alert, "fingerprint"));
    if (!inh || !json_is_object(labels) || !fp || strlen(fp) >= FP_MAX)
        return;
    const char *status = json_string_value(json_object_get(am_alert, "status"));
    int firing = !status || strcmp(status, "resolved") != 0;
    for (int r = 0; r < inh->nrules; r++) {
        struct rule_cache *c = &inh->cache[r];
        int i = find(c, fp);
        /* A source that stops matching (its labels changed) is dropped too. */
        if (!firing || !rw_matchers_match(&inh->rules[r].source, labels)) {
            if (i >= 0)
                remove_at(inh, c, i);
            continue;
        }
        if (i >= 0) {
            json_decref(c->s[i].labels);
            c->s[i].labels = json_incref(labels);
            continue;
        }
        if (inh->total >= inh->max_sources) {
            inh->dropped++;
            continue;
        }
        if (c->n == c->cap) {
            int cap = c->cap ? c->cap * 2 : 8;
            struct source *s = realloc(c->s, sizeof *s * (size_t)cap);
            if (!s) {
                inh->dropped++;
                continue;
            }
            c->s = s;
            c->cap = cap;
        }
        snprintf(c->s[c->n].fp, FP_MAX, "%s", fp);
        c->s[c->n].labels = json_incref(labels);
        c->n++;
        inh->total++;
    }
}

int rw_inhibitor_mutes(struct rw_inhibitor *inh, const json_t *labels, const char *fingerprint,
                       char *by, size_t bylen)
{
    if (!inh)
        return 0;
    for (int r = 0; r < inh->nrules; r++) {
        const struct rw_inhibit_rule *rule = &inh->rules[r];
        if (!rw_matchers_match(&rule->target, labels))
            continue;
        int two_sided = rw_matchers_match(&rule->source, labels);
        const struct rule_cache *c = &inh->cache[r];
        for (int i = 0; i < c->n; i++) {
            const struct source *s = &c->s[i];
            if (fingerprint && strcmp(s->fp, fingerprint) == 0)
                continue;
            int eq = 1;
            for (int k = 0; k < rule->nequal && eq; k++)
                eq = strcmp(rw_label_get(s->labels, rule->equal[k]),
                            rw_label_get(labels, rule->equal[k])) == 0;
            if (!eq)
                continue;
            if (two_sided && rw_matchers_match(&rule->target, s->labels))
                continue;
            if (by && bylen)
                snprintf(by, bylen, "%s", s->fp);
            inh->muted++;
            return 1;
        }
    }
    return 0;
}

void rw_inhibitor_stats(const struct rw_inhibitor *inh, struct rw_inhibit_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!inh)
        return;
    out->sources = (uint64_t)inh->total;
    out->dropped = inh->dropped;
    out->muted = inh->muted;
}
