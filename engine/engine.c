/* Engine: keyspace, windows, evaluation and alert lifecycle.
 *
 * Memory: one allocation per series at birth holds its key, its window slots
 * (with quantile accumulators for the vitals its scope's rules watch) and,
 * per rule of its scope, the alert state and the detector state. Nothing is
 * allocated per event except quantile sketches taken from a pool when a
 * window of a series overflows the exact buffer. Series per scope are capped
 * (overflow folds into an "(other)" series) and expire when idle, so memory
 * is bounded whatever keys arrive.
 */
#include "engine/engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fnv.h"
#include "engine/alert.h"
#include "engine/fastjson.h"
#include "engine/log.h"
#include "engine/qsketch.h"
#include "engine/snapshot.h"

#define KEY_SEP '\x1f'
/* app + SEP + value per dim; values are at most max(RW_PAGE_MAX, max_seg_value
 * <= RW_SEG_VALUE_MAX) bytes, app at most RW_APP_MAX (the decoder enforces both). */
#define KEY_MAX (RW_APP_MAX + RW_MAX_DIMS * (RW_SEG_VALUE_MAX + 1) + 8)
#define OTHER "(other)"
#define NONE "(none)"

enum dim_kind { DIM_PAGE, DIM_APP, DIM_SEG, DIM_METRIC };

struct alert_state { /* 32 bytes per rule and series */
    uint8_t state;    /* enum rw_alert_state */
    uint8_t notified; /* the last notification sent for it said "firing" */
    uint8_t flapping; /* held to one notification until it settles */
    uint8_t seen;     /* has had data (nodata = alert only fires for series that had) */
    uint16_t count;   /* consecutive breach (pending) or calm (firing) windows */
    uint16_t nodata;  /* consecutive windows without data */
    uint16_t nchg;    /* state changes counted since chg_last - chg_span */
    uint16_t chg_span; /* windows from the first counted change to chg_last */
    int32_t chg_last; /* window index of the last counted change */
    float rel;        /* relative effect when it fired (localization) */
    int32_t since_w;  /* window index whose end started the episode */
    uint64_t parent;  /* parent fingerprint when grouped */
};

struct rule_slot {
    int rule;          /* index in cfg->rules */
    size_t alert_off;  /* offset of struct alert_state in the series block */
    size_t det_off;    /* offset of the detector state */
    int prs;           /* this rule's slot in the shrink parent scope, -1 if none */
    int bh;            /* Benjamini-Hochberg step applies (q < 1, p-value detector) */
};

/* A window slot: counts and one quantile accumulator per watched vital. */
#define SESS_TRACK 8 /* distinct error sessions remembered per window slot */

struct wslot {
    int64_t win; /* window index, -1 when empty */
    double sum;  /* custom metric scopes: sum of values */
    uint32_t views, errors;
    uint32_t err_sessions;          /* errors, one per distinct session */
    uint32_t sess[SESS_TRACK];      /* sessions seen erring this window */
    uint32_t nsess;
    struct rw_qacc vit[]; /* scope->nvit entries */
};

/* Low-traffic pooling of one vital: samples since the last evaluation. */
struct vpool {
    uint32_t windows; /* windows pooled so far */
    struct rw_qacc acc;
};

struct series {
    struct series *next; /* hash chain */
    uint64_t hash;
    int64_t last_ts;
    uint32_t keylen;
    uint8_t other;       /* the "(other)" fold series */
    uint8_t expiring;    /* on this window's expiry list */
    uint32_t par_gen;    /* parent scope generation when par was looked up */
    struct series *par;  /* shrink parent series (cached; valid while par_gen matches) */
    struct series *bser; /* custom twin: the base series of its page/segment (cached) */
    uint32_t bser_gen;   /* base scope generation + 1 when bser was looked up */
    float vpw;           /* views (events) per window, moving average: traffic share */
    uint64_t skip;       /* custom scopes: rule slots whose match glob excludes this name */
    char *key;           /* app SEP v1 SEP v2 ... (not NUL-terminated inside) */
    unsigned char *base; /* start of slots + rule states */
};

struct scope {
    const struct rw_scope_cfg *cfg;
    int custom;        /* a custom-metric twin: events of type metric, dims metric + base dims */
    int shrink_parent; /* scope whose series are the shrink parents, -1 if none */
    int share_parent;  /* scope whose series' traffic is the "parent" share, -1 if none */
    uint32_t gen;      /* bumped when a series of this scope is freed (parent caches) */
    int base;          /* custom twin: the configured scope it mirrors; else -1 */
    int per_view;      /* a rule of this (twin) scope has stat per_view */
    int ndims;
    enum dim_kind kind[RW_MAX_DIMS];
    const char *dim[RW_MAX_DIMS];
    int nvit;
    int vidx[RW_NVITALS]; /* vital -> accumulator index, -1 if not watched */
    int nrules;
    struct rule_slot rs[RW_MAX_RULES];
    size_t slot_size, state_size; /* bytes per slot, bytes of all rule states */
    size_t pool_off;              /* offset of the vpool array in a series block */
    struct series **buckets;
    size_t nbuckets;    /* power of two; grows with count (grow_table) */
    size_t max_buckets; /* what the table may grow to (sized for max_series) */
    size_t count;    /* series alive, "(other)" included */
    int max_series;
    int nparents;
    int parents[RW_MAX_SCOPES]; /* scopes whose dims are a strict subset, most general first */
    uint64_t created, expired, folded; /* series born, expired; events folded into "(other)" */
};

struct transition {
    int scope;
    struct series *s;
    int rs; /* rule slot index */
    int firing;
    struct rw_verdict v;
    uint32_t views, errors;
    int64_t since;
    uint64_t fp, parent;
    double q;        /* BH q-value, NaN when the rule has no BH step */
    uint32_t family; /* series tested together in that step */
    uint8_t suppress;   /* flapping: not notified */
    uint8_t flap_start; /* this change made it flapping */
    uint8_t settled;    /* flapping settled: the current state is (re)notified */
    uint8_t nodata;     /* fired by the nodata = alert policy */
};

/* A breaching verdict of a BH rule, decided when the window's family is known. */
struct deferred {
    int scope, rs;
    struct series *s;
    struct rw_obs o;
    struct rw_verdict v;
};

/* A p-value of a BH rule's family that could be rejected (p <= q). */
struct cand {
    int rule;
    double p;
};

struct rw_engine {
    const struct rw_config *cfg;
    struct rw_alert_sink sink;
    struct rw_pagenorm *pn;
    struct rw_fastdec *dec; /* same contract as rw_decode (jansson), ~8x faster */
    struct rw_qpool *pool;
    int event_time;
    int64_t win_ms, late_ms;
    int nslots;
    int64_t open_lo;     /* oldest window not yet closed; INT64_MIN before the first event */
    int64_t watermark;
    int64_t max_ts;
    int nscopes;         /* configured scopes */
    int nlive;           /* configured + custom twins; a csv scope may follow */
    struct scope scopes[2 * RW_MAX_SCOPES + 1];
    struct transition *tr;
    size_t ntr, captr;
    struct rw_engine_stats st;
    struct rw_ratelimit reject_rl[RW_NREJECT];
    int jump_votes;
    int csv_scope; /* --csv replay: index of the extra scope, or -1 */
    int csv_started;
    struct rw_scope_cfg twin_cfg[RW_MAX_SCOPES];
    struct deferred *def;
    size_t ndef, capdef;
    struct cand *cand;
    size_t ncand, capcand;
    uint32_t family[RW_MAX_RULES]; /* BH family size per rule this window */
    struct expiring {
        struct series *s;
        int si;
    } *expire;
    size_t nexp, capexp;
    int pooling;   /* pool_windows > 1 */
    int64_t win0;  /* first window index seen: origin of the int32 indexes in alert states */
    uint32_t pool_min_n;
    uint64_t cursor;     /* the driver's input position, saved with the state */
    uint32_t cursor_crc; /* ... and a checksum of the input up to it */
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t hash_key(const char *p, size_t n)
{
    /* FNV-1a with a final avalanche so the low bits index buckets well. */
    uint64_t h = RW_FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static struct wslot *slot_at(const struct scope *sc, const struct series *s, int i)
{
    return (struct wslot *)(s->base + (size_t)i * sc->slot_size);
}

static struct vpool *pool_at(const struct scope *sc, const struct series *s, int i)
{
    return (struct vpool *)(s->base + sc->pool_off) + i;
}

static struct alert_state *astate(const struct scope *sc, const struct series *s, int rs)
{
    return (struct alert_state *)(s->base + sc->rs[rs].alert_off);
}

static void *dstate(const struct scope *sc, const struct series *s, int rs)
{
    return s->base + sc->rs[rs].det_off;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Split a series key into app and dim values. */
static void split_key(const struct series *s, const char **app, size_t *app_len, int ndims,
                      const char **vals, size_t *lens)
{
    const char *p = s->key, *end = s->key + s->keylen;
    const char *q = memchr(p, KEY_SEP, (size_t)(end - p));
    if (!q)
        q = end;
    *app = p;
    *app_len = (size_t)(q - p);
    for (int i = 0; i < ndims; i++) {
        p = q + 1;
        q = p < end ? memchr(p, KEY_SEP, (size_t)(end - p)) : NULL;
        if (!q)
            q = end;
        vals[i] = p;
        lens[i] = (size_t)(q - p);
    }
}

/* ---- construction ----------------------------------------------------- */

static int setup_scope(struct rw_engine *e, int si, const struct rw_scope_cfg *sc_cfg,
                       const int *rules, int nrules, int custom)
{
    struct scope *sc = &e->scopes[si];
    sc->cfg = sc_cfg;
    sc->custom = custom;
    sc->shrink_parent = sc->share_parent = -1;
    sc->base = -1;
    sc->ndims = sc_cfg->ndims;
    for (int d = 0; d < sc->ndims; d++) {
        sc->dim[d] = sc_cfg->dims[d];
        sc->kind[d] = custom && d == 0                     ? DIM_METRIC
                      : strcmp(sc->dim[d], "page") == 0  ? DIM_PAGE
                      : strcmp(sc->dim[d], "app") == 0 ? DIM_APP
                                                       : DIM_SEG;
    }
    for (int v = 0; v < RW_NVITALS; v++)
        sc->vidx[v] = -1;
    size_t off = 0;
    sc->nrules = nrules;
    for (int k = 0; k < nrules; k++) {
        const struct rw_rule_cfg *r = &e->cfg->rules[rules[k]];
        if (rw_metric_is_vital(r->metric) && sc->vidx[r->metric] < 0)
            sc->vidx[r->metric] = sc->nvit++;
        sc->rs[k].rule = rules[k];
        sc->rs[k].prs = -1;
        sc->rs[k].bh = r->q < 1 && (r->det->flags & RW_DET_PVALUE);
        if (r->stat == RW_S_PER_VIEW)
            sc->per_view = 1;
        sc->rs[k].alert_off = off;
        off = align8(off + sizeof(struct alert_state));
        sc->rs[k].det_off = off;
        off = align8(off + (r->det->state_size ? r->det->state_size(r->params) : 0));
    }
    sc->state_size = off;
    sc->slot_size = align8(sizeof(struct wslot) + (size_t)sc->nvit * sizeof(struct rw_qacc));
    /* layout: [window slots][vital pools][rule states] */
    sc->pool_off = (size_t)e->nslots * sc->slot_size;
    size_t head = sc->pool_off + align8((size_t)sc->nvit * sizeof(struct vpool));
    for (int k = 0; k < nrules; k++) {
        sc->rs[k].alert_off += head;
        sc->rs[k].det_off += head;
    }
    sc->state_size += head - sc->pool_off; /* state_size now covers pools + rule states */
    sc->max_series = sc_cfg->max_series;
    size_t nb = 64;
    while (nb < (size_t)sc->max_series && nb < (1u << 22))
        nb <<= 1;
    sc->max_buckets = nb;
    sc->nbuckets = 16;
    sc->buckets = calloc(sc->nbuckets, sizeof *sc->buckets);
    return sc->buckets ? 0 : -ENOMEM;
}

static int dims_subset(const struct rw_scope_cfg *a, const struct rw_scope_cfg *b)
{
    /* a's dims strictly included in b's */
    if (a->ndims >= b->ndims)
        return 0;
    for (int i = 0; i < a->ndims; i++) {
        int found = 0;
        for (int k = 0; k < b->ndims; k++)
            found |= strcmp(a->dims[i], b->dims[k]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

struct rw_engine *rw_engine_new(const struct rw_config *cfg, const struct rw_alert_sink *sink,
                                char *err, size_t errlen)
{
    struct rw_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    if (sink)
        e->sink = *sink;
    e->event_time = 1;
    e->win_ms = (int64_t)llround(cfg->engine.window * 1000);
    e->late_ms = (int64_t)llround(cfg->engine.lateness * 1000);
    int64_t fut_ms = (int64_t)llround(cfg->engine.max_future * 1000);
    /* Open windows span [watermark, watermark + lateness + max_future]. */
    e->nslots = (int)((e->late_ms + fut_ms + e->win_ms - 1) / e->win_ms) + 1;
    e->open_lo = INT64_MIN;
    e->watermark = INT64_MIN;
    e->max_ts = INT64_MIN;
    e->st.watermark = INT64_MIN;
    e->csv_scope = -1;
    e->pooling = cfg->engine.pool_windows > 1;
    e->pool_min_n = (uint32_t)cfg->engine.pool_min_n;
    e->pn = rw_pagenorm_new(cfg->rewrites, cfg->nrewrites, cfg->page_ids, err, errlen);
    e->pool = rw_qpool_new();
    if (!e->pn || !e->pool)
        goto fail;
    e->dec = rw_fastdec_new(e->pn, cfg->engine.max_seg_value, (size_t)cfg->engine.max_message);
    if (!e->dec)
        goto fail;
    e->nscopes = cfg->nscopes;
    for (int si = 0; si < cfg->nscopes; si++) {
        int rules[RW_MAX_RULES], n = 0;
        for (int r = 0; r < cfg->nrules; r++)
            for (int k = 0; k < cfg->rules[r].nscopes; k++)
                if (cfg->rules[r].scopes[k] == si && cfg->rules[r].metric != RW_M_CUSTOM)
                    rules[n++] = r;
        if (setup_scope(e, si, &cfg->scopes[si], rules, n, 0))
            goto fail;
    }
    /* Custom metric rules live in twin scopes: the same dims after a leading
     * "metric" dim, fed only by events of type metric. */
    e->nlive = cfg->nscopes;
    for (int si = 0; si < cfg->nscopes; si++) {
        int rules[RW_MAX_RULES], n = 0;
        for (int r = 0; r < cfg->nrules; r++)
            for (int k = 0; k < cfg->rules[r].nscopes; k++)
                if (cfg->rules[r].scopes[k] == si && cfg->rules[r].metric == RW_M_CUSTOM)
                    rules[n++] = r;
        if (n == 0)
            continue;
        if (n > 64 || cfg->scopes[si].ndims >= RW_MAX_DIMS) {
            snprintf(err, errlen, "scope '%s': at most 64 custom metric rules and %d dims",
                     cfg->scopes[si].name, RW_MAX_DIMS - 1);
            goto fail;
        }
        struct rw_scope_cfg *tc = &e->twin_cfg[si];
        *tc = cfg->scopes[si];
        tc->ndims = cfg->scopes[si].ndims + 1;
        snprintf(tc->dims[0], sizeof tc->dims[0], "metric");
        for (int d = 0; d < cfg->scopes[si].ndims; d++)
            memcpy(tc->dims[d + 1], cfg->scopes[si].dims[d], sizeof tc->dims[d + 1]);
        if (setup_scope(e, e->nlive, tc, rules, n, 1))
            goto fail;
        e->scopes[e->nlive].base = si;
        e->nlive++;
    }
    for (int si = 0; si < e->nlive; si++) {
        struct scope *sc = &e->scopes[si];
        /* parents ordered by fewest dims first: group under the most general */
        for (int nd = 0; nd < sc->ndims; nd++)
            for (int p = 0; p < e->nlive; p++)
                if (e->scopes[p].custom == sc->custom && e->scopes[p].ndims == nd &&
                    dims_subset(e->scopes[p].cfg, sc->cfg))
                    sc->parents[sc->nparents++] = p;
        /* The nearest parent (most dims; first configured among equals) is the
         * series a sparse one borrows strength from and its traffic share's base. */
        int best = -1;
        for (int i = 0; i < sc->nparents; i++)
            if (best < 0 || e->scopes[sc->parents[i]].ndims > e->scopes[best].ndims)
                best = sc->parents[i];
        sc->shrink_parent = sc->share_parent = best;
        if (best < 0)
            continue;
        const struct scope *ps = &e->scopes[best];
        for (int k = 0; k < sc->nrules; k++)
            for (int j = 0; j < ps->nrules; j++)
                if (ps->rs[j].rule == sc->rs[k].rule && cfg->rules[sc->rs[k].rule].shrink)
                    sc->rs[k].prs = j;
    }
    return e;
fail:
    if (!err[0])
        snprintf(err, errlen, "out of memory");
    rw_engine_destroy(&e);
    return NULL;
}

static void free_series(struct rw_engine *e, struct scope *sc, struct series *s)
{
    for (int i = 0; i < e->nslots; i++) {
        struct wslot *w = slot_at(sc, s, i);
        for (int v = 0; v < sc->nvit; v++)
            rw_qacc_reset(&w->vit[v], e->pool);
    }
    for (int v = 0; v < sc->nvit; v++)
        rw_qacc_reset(&pool_at(sc, s, v)->acc, e->pool);
    free(s);
}

void rw_engine_destroy(struct rw_engine **ep)
{
    if (!ep || !*ep)
        return;
    struct rw_engine *e = *ep;
    for (int si = 0; si < 2 * RW_MAX_SCOPES + 1; si++) {
        struct scope *sc = &e->scopes[si];
        for (size_t b = 0; sc->buckets && b < sc->nbuckets; b++) {
            struct series *s = sc->buckets[b];
            while (s) {
                struct series *next = s->next;
                free_series(e, sc, s);
                s = next;
            }
        }
        free(sc->buckets);
    }
    rw_fastdec_destroy(&e->dec);
    rw_pagenorm_destroy(&e->pn);
    rw_qpool_destroy(&e->pool);
    free(e->tr);
    free(e->def);
    free(e->cand);
    free(e->expire);
    free(e);
    *ep = NULL;
}

void rw_engine_set_event_time(struct rw_engine *e, int on) { e->event_time = on; }

/* ---- keyspace --------------------------------------------------------- */

/* A bucket array is memory a scope pays whether it has series or not (a
 * table sized for max_series = 20000 is 256 KiB), and every window close
 * walks it: so a table starts at 16 buckets and doubles whenever the series
 * outnumber the buckets, up to max_buckets. If the larger array cannot be
 * allocated the table stays as it is (longer chains, still correct). */
static void grow_table(struct scope *sc)
{
    size_t nb = sc->nbuckets * 2;
    struct series **t = calloc(nb, sizeof *t);
    if (!t)
        return;
    for (size_t b = 0; b < sc->nbuckets; b++) {
        struct series *s = sc->buckets[b];
        while (s) {
            struct series *next = s->next;
            size_t i = s->hash & (nb - 1);
            s->next = t[i];
            t[i] = s;
            s = next;
        }
    }
    free(sc->buckets);
    sc->buckets = t;
    sc->nbuckets = nb;
}

static struct series *new_series(struct rw_engine *e, struct scope *sc, const char *key,
                                 size_t keylen, uint64_t h)
{
    size_t head = align8(sizeof(struct series));
    size_t body = (size_t)e->nslots * sc->slot_size + sc->state_size;
    struct series *s = calloc(1, head + body + keylen + 1);
    if (!s)
        return NULL;
    s->base = (unsigned char *)s + head;
    s->key = (char *)s->base + body;
    memcpy(s->key, key, keylen);
    s->keylen = (uint32_t)keylen;
    s->hash = h;
    s->last_ts = INT64_MIN;
    for (int i = 0; i < e->nslots; i++) {
        struct wslot *w = slot_at(sc, s, i);
        w->win = -1;
        for (int v = 0; v < sc->nvit; v++)
            rw_qacc_init(&w->vit[v]);
    }
    for (int v = 0; v < sc->nvit; v++)
        rw_qacc_init(&pool_at(sc, s, v)->acc);
    for (int k = 0; k < sc->nrules; k++) {
        const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
        if (r->det->init)
            r->det->init(r->params, dstate(sc, s, k));
    }
    if (sc->custom) {
        /* The metric name is the first dim; rules whose glob misses it skip
         * this series (decided once, not per window). */
        char name[RW_METRIC_NAME_MAX + 1];
        const char *p = memchr(key, KEY_SEP, keylen);
        size_t nl = 0;
        if (p) {
            const char *q = memchr(p + 1, KEY_SEP, keylen - (size_t)(p + 1 - key));
            nl = (size_t)((q ? q : key + keylen) - (p + 1));
            if (nl > RW_METRIC_NAME_MAX)
                nl = RW_METRIC_NAME_MAX;
            memcpy(name, p + 1, nl);
        }
        name[nl] = '\0';
        for (int k = 0; k < sc->nrules && k < 64; k++)
            if (fnmatch(e->cfg->rules[sc->rs[k].rule].match, name, 0) != 0)
                s->skip |= 1ull << k;
    }
    size_t b = h & (sc->nbuckets - 1);
    s->next = sc->buckets[b];
    sc->buckets[b] = s;
    sc->count++;
    sc->created++;
    if (sc->count > sc->nbuckets && sc->nbuckets < sc->max_buckets)
        grow_table(sc);
    e->st.series++;
    e->st.series_created++;
    return s;
}

static struct series *lookup(struct scope *sc, const char *key, size_t keylen, uint64_t h)
{
    for (struct series *s = sc->buckets[h & (sc->nbuckets - 1)]; s; s = s->next)
        if (s->hash == h && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
            return s;
    return NULL;
}

static const char *seg_value(const struct rw_event *ev, const char *name, size_t *len)
{
    for (int i = 0; i < ev->nseg; i++)
        if (strcmp(ev->seg_key[i], name) == 0) {
            *len = ev->seg_len[i];
            return ev->seg_val[i];
        }
    *len = sizeof NONE - 1;
    return NONE;
}

static size_t build_key(const struct scope *sc, const struct rw_event *ev, char *key)
{
    size_t n = ev->app_len;
    memcpy(key, ev->app, n);
    for (int d = 0; d < sc->ndims; d++) {
        const char *v;
        size_t l;
        switch (sc->kind[d]) {
        case DIM_PAGE: v = ev->page; l = ev->page_len; break;
        case DIM_APP: v = ev->app; l = ev->app_len; break;
        case DIM_METRIC: v = ev->mname; l = ev->mname_len; break;
        default: v = seg_value(ev, sc->dim[d], &l); break;
        }
        key[n++] = KEY_SEP;
        memcpy(key + n, v, l);
        n += l;
    }
    return n;
}

static struct series *find_or_create(struct rw_engine *e, struct scope *sc, const struct rw_event *ev)
{
    char key[KEY_MAX];
    size_t n = build_key(sc, ev, key);
    uint64_t h = hash_key(key, n);
    struct series *s = lookup(sc, key, n, h);
    if (s)
        return s;
    if (sc->count >= (size_t)sc->max_series) {
        /* Over the cap: fold into the scope's one "(other)" series (itself
         * outside the cap). The app folds too, or every new app name would
         * make a new "(other)" and the cap would bound nothing. */
        memcpy(key, OTHER, sizeof OTHER - 1);
        n = sizeof OTHER - 1;
        for (int d = 0; d < sc->ndims; d++) {
            key[n++] = KEY_SEP;
            memcpy(key + n, OTHER, sizeof OTHER - 1);
            n += sizeof OTHER - 1;
        }
        h = hash_key(key, n);
        e->st.folded++;
        sc->folded++;
        s = lookup(sc, key, n, h);
        if (s)
            return s;
        s = new_series(e, sc, key, n, h);
        if (s)
            s->other = 1;
        return s;
    }
    return new_series(e, sc, key, n, h);
}

static void unlink_series(struct rw_engine *e, struct scope *sc, struct series *s)
{
    struct series **pp = &sc->buckets[s->hash & (sc->nbuckets - 1)];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    sc->count--;
    sc->gen++;
    sc->expired++;
    e->st.series--;
    e->st.series_expired++;
    free_series(e, sc, s);
}

/* ---- ingest ----------------------------------------------------------- */

#define MAX_JUMP_MS (10 * 60 * 1000LL) /* replay: a bigger leap forward is suspect */
#define JUMP_VOTES 16                  /* consecutive leaping events that make it real */

/* Count an error once per session per window. Past SESS_TRACK distinct
 * sessions every error counts: a window with that many erring users is not
 * one user's burst. */
static void count_error_session(struct wslot *slot, uint32_t session)
{
    if (session == 0 || slot->nsess == SESS_TRACK) {
        slot->err_sessions++;
        return;
    }
    for (uint32_t i = 0; i < slot->nsess; i++)
        if (slot->sess[i] == session)
            return;
    slot->sess[slot->nsess++] = session;
    slot->err_sessions++;
}

void rw_engine_count_reject(struct rw_engine *e, enum rw_reject why)
{
    e->st.received++;
    if (why > RW_OK && why < RW_NREJECT)
        e->st.rejected[why]++;
}

enum rw_reject rw_engine_ingest(struct rw_engine *e, const struct rw_event *ev)
{
    int64_t w = floor_div(ev->ts, e->win_ms);
    if (e->open_lo == INT64_MIN) {
        /* The first event opens its own window: windows before the data
         * starts are not evaluated (they would look like an outage). */
        e->open_lo = w;
        e->win0 = w;
        e->watermark = e->st.watermark = ev->ts - e->late_ms;
    } else if (e->event_time && ev->ts - e->late_ms > e->watermark) {
        /* One bad clock must not end a replay: an event far ahead of the
         * newest one is refused until JUMP_VOTES in a row agree that the
         * data really jumped (a gap in the recording). */
        if (ev->ts > e->max_ts + MAX_JUMP_MS && ++e->jump_votes < JUMP_VOTES)
            return RW_REJ_FUTURE;
        e->jump_votes = 0;
        rw_engine_advance(e, ev->ts - e->late_ms);
    } else {
        e->jump_votes = 0;
    }
    if (w < e->open_lo)
        return RW_REJ_LATE;
    if (w >= e->open_lo + e->nslots)
        return RW_REJ_FUTURE;
    int si = (int)(w % e->nslots);
    int custom = ev->type == RW_EV_METRIC;
    for (int k = 0; k < e->nlive; k++) {
        struct scope *sc = &e->scopes[k];
        if (sc->custom != custom)
            continue;
        struct series *s = find_or_create(e, sc, ev);
        if (!s)
            continue; /* out of memory: this scope misses the event */
        struct wslot *slot = slot_at(sc, s, si);
        if (slot->win != w) {
            slot->win = w;
            slot->views = slot->errors = slot->err_sessions = slot->nsess = 0;
            slot->sum = 0;
        }
        if (custom) {
            slot->views++; /* events of this metric */
            slot->sum += ev->mvalue;
        } else if (ev->type == RW_EV_VIEW) {
            slot->views++;
            unsigned m = ev->vital_mask;
            while (m) {
                int v = __builtin_ctz(m);
                m &= m - 1;
                int vi = sc->vidx[v];
                if (vi < 0)
                    continue;
                if (rw_qacc_add(&slot->vit[vi], e->pool, ev->vital[v]))
                    e->st.sketch_nomem++;
            }
        } else {
            slot->errors++;
            count_error_session(slot, ev->session);
        }
        if (ev->ts > s->last_ts)
            s->last_ts = ev->ts;
    }
    if (ev->type == RW_EV_VIEW)
        e->st.views++;
    else if (ev->type == RW_EV_ERROR)
        e->st.errors++;
    else
        e->st.metrics++;
    if (ev->ts > e->max_ts)
        e->max_ts = ev->ts;
    return RW_OK;
}

/* At most one line per reason every 10 s, with how many were not logged:
 * bad input must be visible without flooding the log. */
static void log_reject(struct rw_engine *e, enum rw_reject r, const char *buf, size_t len)
{
    uint64_t suppressed = 0;
    if (rw_log_min_level > RW_LOG_WARN || !rw_ratelimit_ok(&e->reject_rl[r], 10000, &suppressed))
        return;
    char sample[81];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof sample - 1; i++) {
        unsigned char c = (unsigned char)buf[i];
        sample[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '.';
    }
    sample[n] = '\0';
    rw_log(RW_LOG_WARN, "ingest",
           "msg=\"event rejected\" reason=%s total=%llu suppressed=%llu bytes=%zu sample=\"%s%s\"",
           rw_reject_names[r], (unsigned long long)e->st.rejected[r],
           (unsigned long long)suppressed, len, sample, len > n ? "..." : "");
}

enum rw_reject rw_engine_ingest_json(struct rw_engine *e, const char *buf, size_t len)
{
    struct rw_event ev;
    enum rw_reject r;
    e->st.received++;
    if (len > (size_t)e->cfg->engine.max_message)
        r = RW_REJ_OVERSIZE;
    else if ((r = rw_fastdec_decode(e->dec, buf, len, &ev)) == RW_OK)
        r = rw_engine_ingest(e, &ev);
    if (r == RW_OK) {
        e->st.accepted++;
    } else {
        e->st.rejected[r]++;
        log_reject(e, r, buf, len);
    }
    return r;
}

/* ---- evaluation ------------------------------------------------------- */

/* Quantiles of one series' window, computed once per (vital, stat): several
 * rules often watch the same p75. */
struct qcache {
    uint32_t have[RW_NVITALS]; /* bit per stat */
    double q[RW_NVITALS][RW_NSTATS];
};

static double cached_quantile(struct qcache *qc, const struct rw_qacc *q, int vital, int stat)
{
    if (!(qc->have[vital] >> stat & 1u)) {
        qc->q[vital][stat] = rw_qacc_quantile(q, rw_stat_quantile(stat));
        qc->have[vital] |= 1u << stat;
    }
    return qc->q[vital][stat];
}

static void build_obs(const struct rw_rule_cfg *r, const struct scope *sc, const struct wslot *w,
                      const struct rw_qacc *const *vacc, struct qcache *qc, int64_t ts_end,
                      uint32_t base_views, struct rw_obs *o)
{
    o->ts_end = ts_end;
    o->words = 0;
    o->parent = NULL;
    o->rating[0] = o->rating[1] = o->rating[2] = 0;
    o->views = w ? w->views : 0;
    o->errors = w ? w->errors : 0;
    o->error_sessions = w ? w->err_sessions : 0;
    if (rw_metric_is_vital(r->metric)) {
        const struct rw_qacc *q = vacc[sc->vidx[r->metric]];
        o->n = q ? q->n : 0;
        o->value = o->n ? cached_quantile(qc, q, r->metric, r->stat) : NAN;
        if (w && (r->det->flags & RW_DET_RATINGS)) {
            /* The window's own samples, not a low-traffic pool: rating
             * detectors sum windows themselves (span), a pool would count
             * samples twice. Exact up to RW_QEXACT values (the lines are
             * on the code grid but CLS 0.1: values up to 0.1000061 count as
             * <= 0.1; see rw_qcode), within the sketch's 1 % of the lines
             * otherwise. */
            const struct rw_qacc *own = &w->vit[sc->vidx[r->metric]];
            if (own->n) {
                double le_good = rw_qacc_cdf(own, rw_vital_good[r->metric]) * own->n;
                double le_poor = rw_qacc_cdf(own, rw_vital_poor[r->metric]) * own->n;
                uint32_t g = (uint32_t)llround(le_good), gp = (uint32_t)llround(le_poor);
                if (gp > own->n)
                    gp = own->n;
                if (g > gp)
                    g = gp;
                o->rating[0] = g;
                o->rating[1] = gp - g;
                o->rating[2] = own->n - gp;
            }
        }
    } else if (r->metric == RW_M_ERROR_RATE) {
        o->n = o->views;
        o->value = o->views ? (double)o->errors / o->views : NAN;
    } else if (r->metric == RW_M_VIEWS) {
        o->n = o->views;
        o->value = o->views;
    } else if (r->metric == RW_M_CUSTOM) {
        /* views counts this metric's events; no event is a zero sum/count */
        o->n = o->views;
        if (r->stat == RW_S_PER_VIEW) {
            /* events per page view of the same page/segment: a conversion
             * rate, whose level does not follow the daily cycle. For the
             * detectors it looks like an error rate: views and "errors". */
            uint32_t events = o->views;
            o->views = base_views;
            o->errors = o->error_sessions = events;
            o->n = base_views;
            o->value = base_views ? (double)events / base_views : NAN;
            return;
        }
        o->value = r->stat == RW_S_MEAN ? (o->views ? w->sum / o->views : NAN)
                   : r->stat == RW_S_COUNT ? (double)o->views
                                           : (w ? w->sum : 0.0);
        if (!isfinite(o->value) && !(r->stat == RW_S_MEAN && o->views == 0))
            o->value = NAN; /* a sum that overflowed: not evaluable */
    } else {
        o->n = o->errors;
        o->value = o->errors;
    }
}

/* Grow an array to hold one more element; 0 or -ENOMEM. */
static int grow(void **p, size_t *cap, size_t n, size_t each)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, nc * each);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

static int push_transition(struct rw_engine *e, const struct transition *t)
{
    if (grow((void **)&e->tr, &e->captr, e->ntr, sizeof *e->tr))
        return -ENOMEM;
    e->tr[e->ntr++] = *t;
    return 0;
}

static uint64_t series_fp(const struct rw_engine *e, const struct scope *sc, const struct series *s,
                          const struct rw_rule_cfg *r)
{
    const char *app, *vals[RW_MAX_DIMS];
    size_t app_len, lens[RW_MAX_DIMS];
    (void)e;
    split_key(s, &app, &app_len, sc->ndims, vals, lens);
    return rw_alert_fingerprint(r->name, app, app_len, sc->ndims, sc->dim, vals, lens);
}

/* The series of scope ps that holds s's values on ps's dims (a subset of
 * sc's, matched by name among sc's dims from `from` on: 1 skips a twin's
 * leading metric dim). NULL when ps has no such series. */
static struct series *project(const struct scope *sc, const struct series *s, struct scope *ps,
                              int from)
{
    const char *app, *vals[RW_MAX_DIMS];
    size_t app_len, lens[RW_MAX_DIMS];
    split_key(s, &app, &app_len, sc->ndims, vals, lens);
    char key[KEY_MAX];
    size_t n = app_len;
    memcpy(key, app, app_len);
    for (int d = 0; d < ps->ndims; d++) {
        int cd = from;
        while (cd < sc->ndims && strcmp(sc->dim[cd], ps->dim[d]) != 0)
            cd++;
        if (cd >= sc->ndims)
            return NULL;
        key[n++] = KEY_SEP;
        memcpy(key + n, vals[cd], lens[cd]);
        n += lens[cd];
    }
    return lookup(ps, key, n, hash_key(key, n));
}

/* A custom twin series' base series: the same app and dims without the
 * metric (cached until the base scope frees a series). */
static struct series *base_series(struct rw_engine *e, const struct scope *sc, struct series *s)
{
    if (sc->base < 0 || s->other)
        return NULL;
    struct scope *bs = &e->scopes[sc->base];
    if (s->bser_gen == bs->gen + 1)
        return s->bser;
    s->bser = project(sc, s, bs, 1); /* dim 0 is the metric */
    /* remember hits only: a missing series may be created later, which does
     * not change gen */
    s->bser_gen = s->bser ? bs->gen + 1 : 0;
    return s->bser;
}

/* The series' nearest parent series (cached until the parent scope frees a series). */
static struct series *parent_series(struct rw_engine *e, const struct scope *sc, struct series *s)
{
    if (sc->share_parent < 0 || s->other)
        return NULL;
    struct scope *ps = &e->scopes[sc->share_parent];
    if (s->par_gen == ps->gen + 1)
        return s->par; /* par_gen stores gen + 1 so 0 means "never looked up" */
    s->par = project(sc, s, ps, 0);
    s->par_gen = s->par ? ps->gen + 1 : 0; /* hits only, as in base_series */
    return s->par;
}

static void eval_once(const struct rw_rule_cfg *r, const void *ds, const struct rw_obs *o,
                      struct rw_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->expected = v->low = v->high = v->score = v->p = NAN;
    r->det->eval(r->params, ds, o, v);
}

/* An engine decision that overrides the detector's own kind (BH). */
struct decision {
    int bh;          /* the BH step ran for this verdict */
    int rejected;    /* BH rejected the null: a breach stands */
    double q;        /* q-value (NaN when not computed) */
    uint32_t family;
};

static void apply_decision(const struct rw_rule_cfg *r, const struct decision *d,
                           const struct rw_obs *o, struct rw_verdict *v)
{
    if (!d || !d->bh || v->kind != RW_VERDICT_BREACH || d->rejected)
        return;
    v->kind = RW_VERDICT_OK;
    if (o->words)
        snprintf(v->why, sizeof v->why, "p=%.2g not significant among %u series (q=%g)", v->p,
                 d->family, r->q);
}

/* Window index relative to the engine's first window: fits int32 for any
 * window length >= 1 s over 68 years of data. */
static int32_t win_index(const struct rw_engine *e, int64_t ts_end)
{
    int64_t w = floor_div(ts_end, e->win_ms) - e->win0;
    return (int32_t)(w > INT32_MAX ? INT32_MAX : w < INT32_MIN ? INT32_MIN : w);
}

/* Count one state change for flapping; returns 1 when it makes the alert flapping. */
static int count_change(const struct rw_rule_cfg *r, struct alert_state *a, int32_t wi)
{
    int64_t first = (int64_t)a->chg_last - a->chg_span;
    if (a->nchg == 0 || wi - first >= r->flap_window) {
        first = wi;
        a->nchg = 0;
    }
    a->chg_span = (uint16_t)(wi - first); /* < flap_window <= 60000 (config bound) */
    if (a->nchg < UINT16_MAX)
        a->nchg++;
    a->chg_last = wi;
    if (!a->flapping && a->nchg >= r->flap_max) {
        a->flapping = 1;
        return 1;
    }
    return 0;
}

/* Move one rule's alert state with this window's verdict, learn, and record
 * a transition. The verdict v is the detector's (kind possibly overridden by
 * the BH decision d). */
static void apply_verdict(struct rw_engine *e, int si, struct series *s, int k,
                          const struct rw_obs *o, struct rw_verdict *v, const struct decision *d,
                          int has_words)
{
    struct scope *sc = &e->scopes[si];
    const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
    struct alert_state *a = astate(sc, s, k);
    void *ds = dstate(sc, s, k);
    int32_t wi = win_index(e, o->ts_end);

    int fire = 0, resolve = 0, nodata_fire = 0;
    int insufficient = v->kind == RW_VERDICT_INSUFFICIENT;
    if (insufficient) {
        if (a->nodata < UINT16_MAX)
            a->nodata++;
    } else {
        a->seen = 1;
        a->nodata = 0;
    }
    switch (a->state) {
    case RW_ALERT_INACTIVE:
        if (v->kind == RW_VERDICT_BREACH) {
            a->since_w = win_index(e, o->ts_end);
            a->count = 1;
            a->state = RW_ALERT_PENDING;
            if (r->for_windows <= 1)
                fire = 1;
        } else if (insufficient && r->nodata == RW_NODATA_ALERT && a->seen &&
                   a->nodata == r->nodata_after) {
            /* The series had data and stopped: that is the alert. */
            a->since_w = win_index(e, o->ts_end);
            fire = nodata_fire = 1;
        }
        break;
    case RW_ALERT_PENDING:
        if (v->kind == RW_VERDICT_BREACH) {
            if (++a->count >= r->for_windows)
                fire = 1;
        } else if (v->kind == RW_VERDICT_OK ||
                   (r->nodata != RW_NODATA_KEEP && a->nodata >= r->nodata_after)) {
            /* calm, or no data long enough: the suspicion lapses (pending is
             * never printed, so there is nothing to retract) */
            a->state = RW_ALERT_INACTIVE;
            a->count = 0;
        }
        break;
    case RW_ALERT_FIRING:
        if (v->kind == RW_VERDICT_BREACH) {
            a->count = 0;
        } else if (v->kind == RW_VERDICT_OK) {
            if (++a->count >= r->recover_windows)
                resolve = 1;
        } else if (r->nodata == RW_NODATA_OK && a->nodata >= r->nodata_after) {
            /* The series stopped giving data (a page nobody visits now):
             * resolve rather than fire forever and pin the series in memory. */
            resolve = 1;
        }
        break;
    }
    struct rw_verdict vw;
    const struct rw_verdict *rep = v;
    if (fire || resolve) {
        /* eval is pure: run it again for the words and band of the report,
         * before learn changes the baseline (unless v already has them). */
        struct rw_obs ow = *o;
        ow.words = 1;
        if (has_words)
            vw = *v;
        else
            eval_once(r, ds, &ow, &vw);
        apply_decision(r, d, &ow, &vw);
        if (nodata_fire) {
            vw.kind = RW_VERDICT_BREACH;
            snprintf(vw.why, sizeof vw.why, "no data for %u windows", (unsigned)a->nodata);
        }
        rep = &vw;
    }
    r->det->learn(r->params, ds, o, v);

    struct transition t = {.scope = si, .s = s, .rs = k, .views = o->views, .errors = o->errors,
                           .q = d && d->bh ? d->q : NAN, .family = d ? d->family : 0,
                           .nodata = (uint8_t)nodata_fire};
    if (fire) {
        a->state = RW_ALERT_FIRING;
        a->count = 0;
        a->parent = 0;
        a->rel = isfinite(rep->expected) && rep->expected != 0
                     ? (float)((rep->value - rep->expected) / fabs(rep->expected))
                     : 0.0f;
        e->st.alerts_fired++;
        e->st.firing_now++;
        t.flap_start = (uint8_t)count_change(r, a, wi);
        t.suppress = a->flapping && !t.flap_start;
    } else if (resolve) {
        a->state = RW_ALERT_INACTIVE;
        a->count = 0;
        e->st.alerts_resolved++;
        e->st.firing_now--;
        if (r->det->reset)
            r->det->reset(r->params, ds);
        t.flap_start = (uint8_t)count_change(r, a, wi);
        t.suppress = a->flapping && !t.flap_start;
    } else if (a->flapping && wi - a->chg_last >= r->flap_window) {
        /* Settled: quiet for a flap window. Tell the current state if the
         * last notification said otherwise. */
        a->flapping = 0;
        a->nchg = 0;
        int firing = a->state == RW_ALERT_FIRING;
        if (firing == a->notified)
            return;
        struct rw_obs ow = *o;
        ow.words = 1;
        if (has_words)
            vw = *v;
        else
            eval_once(r, ds, &ow, &vw);
        apply_decision(r, d, &ow, &vw);
        rep = &vw;
        t.settled = 1;
        t.firing = firing;
        t.v = *rep;
        t.since = ((int64_t)a->since_w + e->win0) * e->win_ms;
        t.fp = series_fp(e, sc, s, r);
        t.parent = 0;
        if (push_transition(e, &t))
            rw_log(RW_LOG_ERROR, "engine", "msg=\"out of memory recording an alert transition\"");
        return;
    } else {
        return;
    }
    t.firing = fire;
    t.v = *rep;
    t.since = ((int64_t)a->since_w + e->win0) * e->win_ms;
    t.fp = series_fp(e, sc, s, r);
    t.parent = fire ? 0 : a->parent;
    if (push_transition(e, &t))
        rw_log(RW_LOG_ERROR, "engine", "msg=\"out of memory recording an alert transition\"");
}

/* Evaluate one rule of one series. BH rules' breaches wait for the window's
 * family (decide_deferred); everything else is applied at once. */
static void eval_rule(struct rw_engine *e, int si, struct series *s, int k, struct rw_obs *o)
{
    struct scope *sc = &e->scopes[si];
    const struct rule_slot *rs = &sc->rs[k];
    const struct rw_rule_cfg *r = &e->cfg->rules[rs->rule];
    if (rs->prs >= 0) {
        struct series *p = parent_series(e, sc, s);
        o->parent = p ? dstate(&e->scopes[sc->shrink_parent], p, rs->prs) : NULL;
    }
    struct rw_verdict v;
    if (rw_metric_is_vital(r->metric) && o->n == 0) {
        /* No measurement: insufficient for every detector (detector.h), and
         * the most common case on sparse series: skip the call. */
        memset(&v, 0, sizeof v);
        v.kind = RW_VERDICT_INSUFFICIENT;
        v.value = v.expected = v.low = v.high = v.score = v.p = NAN;
    } else {
        eval_once(r, dstate(sc, s, k), o, &v);
    }
    e->st.evaluations++;
    if (v.kind == RW_VERDICT_INSUFFICIENT)
        e->st.insufficient++;
    if (rs->bh && v.kind != RW_VERDICT_INSUFFICIENT && isfinite(v.p)) {
        e->family[rs->rule]++;
        if (v.p <= r->q) {
            if (grow((void **)&e->cand, &e->capcand, e->ncand, sizeof *e->cand) == 0)
                e->cand[e->ncand++] = (struct cand){rs->rule, v.p};
        }
        if (v.kind == RW_VERDICT_BREACH &&
            grow((void **)&e->def, &e->capdef, e->ndef, sizeof *e->def) == 0) {
            /* Keep the words of this evaluation: by the time the family is
             * decided the parent state it read may have learned this window. */
            struct rw_obs ow = *o;
            ow.words = 1;
            struct rw_verdict vw;
            eval_once(r, dstate(sc, s, k), &ow, &vw);
            vw.kind = v.kind;
            e->def[e->ndef++] = (struct deferred){si, k, s, *o, vw};
            return;
        }
    }
    apply_verdict(e, si, s, k, o, &v, NULL, 0);
}

static int cmp_cand(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* Benjamini-Hochberg per rule over the window's family: with m p-values,
 * reject every p <= p_(i*) where i* is the largest i with p_(i) <= i q / m.
 * Only p-values <= q can satisfy that, so only those were kept (cand). The
 * q-value of p_(i) is min over j >= i of p_(j) m / j; for rejected ones the
 * minimum is reached among the kept candidates. */
static void decide_deferred(struct rw_engine *e)
{
    if (e->ndef) {
        qsort(e->cand, e->ncand, sizeof *e->cand, cmp_cand);
        for (size_t i = 0; i < e->ndef; i++) {
            struct deferred *df = &e->def[i];
            const struct scope *sc = &e->scopes[df->scope];
            int rule = sc->rs[df->rs].rule;
            const struct rw_rule_cfg *r = &e->cfg->rules[rule];
            double m = e->family[rule];
            /* this rule's candidates: [lo, hi) */
            size_t lo = 0;
            while (lo < e->ncand && e->cand[lo].rule < rule)
                lo++;
            size_t hi = lo;
            while (hi < e->ncand && e->cand[hi].rule == rule)
                hi++;
            double cut = -1;
            for (size_t j = lo; j < hi; j++)
                if (e->cand[j].p <= (double)(j - lo + 1) * r->q / m)
                    cut = e->cand[j].p;
            double qv = 1;
            for (size_t j = hi; j-- > lo;) {
                double qj = e->cand[j].p * m / (double)(j - lo + 1);
                if (qj < qv)
                    qv = qj;
                if (e->cand[j].p <= df->v.p)
                    break;
            }
            struct decision d = {.bh = 1, .rejected = df->v.p <= cut,
                                 .q = df->v.p <= r->q ? qv : NAN, .family = (uint32_t)m};
            struct rw_obs ow = df->o;
            ow.words = 1;
            apply_decision(r, &d, &ow, &df->v);
            apply_verdict(e, df->scope, df->s, df->rs, &df->o, &df->v, &d, 1);
        }
    }
    for (size_t i = 0; i < e->ncand; i++)
        e->family[e->cand[i].rule] = 0;
    for (size_t i = 0; i < e->ndef; i++)
        e->family[e->scopes[e->def[i].scope].rs[e->def[i].rs].rule] = 0;
    e->ndef = 0;
    e->ncand = 0;
}

/* ---- grouping and localization (docs/detectors.md "Localization") ------ */

/* Do series a (scope sa) and b (scope sb) agree on every dim they share? */
static int compatible(const struct rw_engine *e, int sa, const struct series *a, int sb,
                      const struct series *b)
{
    const struct scope *A = &e->scopes[sa], *B = &e->scopes[sb];
    const char *aapp, *bapp, *av[RW_MAX_DIMS], *bv[RW_MAX_DIMS];
    size_t aal, bal, al[RW_MAX_DIMS], bl[RW_MAX_DIMS];
    split_key(a, &aapp, &aal, A->ndims, av, al);
    split_key(b, &bapp, &bal, B->ndims, bv, bl);
    if (aal != bal || memcmp(aapp, bapp, aal) != 0)
        return 0;
    for (int i = 0; i < A->ndims; i++)
        for (int j = 0; j < B->ndims; j++)
            if (strcmp(A->dim[i], B->dim[j]) == 0 &&
                (al[i] != bl[j] || memcmp(av[i], bv[j], al[i]) != 0))
                return 0;
    return 1;
}

static int scope_metric_match(const struct rw_engine *e, int si, int k, int metric)
{
    return e->cfg->rules[e->scopes[si].rs[k].rule].metric == metric;
}

/* Does an alert with relative effect ea, at a scope incomparable with the
 * other's, explain one with effect eb? A change confined to the explainer's
 * traffic shows up diluted elsewhere: same direction, no larger. */
static int dilutes(double ea, double eb)
{
    if (!(ea != 0) || !isfinite(ea) || !isfinite(eb))
        return 0;
    return (ea > 0) == (eb > 0) && fabs(eb) <= fabs(ea);
}

static uint64_t traffic_explains(struct rw_engine *e, const struct transition *t);

/* For a firing alert, the notified firing alert it is grouped under, or 0:
 * 1. the most general firing ancestor on the same metric (page for page x device);
 * 2. another rule on the same metric of the same series;
 * 3. an explainer at an incomparable scope (country=IN for a page) whose
 *    values agree and whose relative effect is at least this one's. */
static uint64_t find_parent(struct rw_engine *e, const struct transition *t)
{
    const struct scope *sc = &e->scopes[t->scope];
    int metric = e->cfg->rules[sc->rs[t->rs].rule].metric;
    for (int p = 0; p < sc->nparents; p++) {
        struct scope *ps = &e->scopes[sc->parents[p]];
        struct series *s = project(sc, t->s, ps, 0);
        if (!s)
            continue;
        for (int k = 0; k < ps->nrules; k++) {
            const struct rw_rule_cfg *r = &e->cfg->rules[ps->rs[k].rule];
            const struct alert_state *pa = astate(ps, s, k);
            /* Only an alert people were told about can stand for its children. */
            if (r->metric == metric && pa->state == RW_ALERT_FIRING && pa->notified)
                return series_fp(e, ps, s, r);
        }
    }
    for (int k = 0; k < sc->nrules; k++) {
        const struct alert_state *pa = astate(sc, t->s, k);
        if (k != t->rs && scope_metric_match(e, t->scope, k, metric) &&
            pa->state == RW_ALERT_FIRING && pa->notified)
            return series_fp(e, sc, t->s, &e->cfg->rules[sc->rs[k].rule]);
    }
    uint64_t tfp = traffic_explains(e, t);
    if (tfp)
        return tfp;
    double rel = astate(sc, t->s, t->rs)->rel;
    uint64_t best = 0;
    double best_rel = 0;
    int best_nd = RW_MAX_DIMS + 1;
    for (int si = 0; si < e->nlive; si++) {
        const struct scope *xs = &e->scopes[si];
        if (si == t->scope || xs->custom != sc->custom || dims_subset(xs->cfg, sc->cfg) ||
            dims_subset(sc->cfg, xs->cfg) || xs->ndims > best_nd)
            continue;
        for (size_t b = 0; b < xs->nbuckets; b++)
            for (struct series *s = xs->buckets[b]; s; s = s->next)
                for (int k = 0; k < xs->nrules; k++) {
                    const struct alert_state *pa = astate(xs, s, k);
                    if (pa->state != RW_ALERT_FIRING || !pa->notified ||
                        !scope_metric_match(e, si, k, metric) || !dilutes(pa->rel, rel) ||
                        !compatible(e, si, s, t->scope, t->s))
                        continue;
                    if (xs->ndims < best_nd || fabs(pa->rel) > best_rel) {
                        best = series_fp(e, xs, s, &e->cfg->rules[xs->rs[k].rule]);
                        best_rel = fabs(pa->rel);
                        best_nd = xs->ndims;
                    }
                }
    }
    return best;
}

/* A custom metric counter that drops with the traffic it counts: the views
 * alert (firing, notified, a drop at least as deep) on the same page/segment
 * or a more general one explains it. Events per view did not change; the
 * views did. Returns the views alert's fingerprint or 0. */
static uint64_t traffic_explains(struct rw_engine *e, const struct transition *t)
{
    const struct scope *sc = &e->scopes[t->scope];
    const struct rw_rule_cfg *tr = &e->cfg->rules[sc->rs[t->rs].rule];
    double rel = astate(sc, t->s, t->rs)->rel;
    if (!sc->custom || sc->base < 0 || tr->stat == RW_S_MEAN || tr->stat == RW_S_PER_VIEW ||
        !(rel < 0))
        return 0;
    const struct scope *bs = &e->scopes[sc->base];
    /* the base scope, then its ancestors: same values minus the metric dim */
    int cand[RW_MAX_SCOPES + 1], nc = 0;
    cand[nc++] = sc->base;
    for (int p = 0; p < bs->nparents; p++)
        cand[nc++] = bs->parents[p];
    for (int c = 0; c < nc; c++) {
        struct scope *ps = &e->scopes[cand[c]];
        struct series *s = project(sc, t->s, ps, 1); /* dim 0 of a twin is the metric */
        if (!s)
            continue;
        for (int k = 0; k < ps->nrules; k++) {
            const struct alert_state *pa = astate(ps, s, k);
            if (e->cfg->rules[ps->rs[k].rule].metric == RW_M_VIEWS &&
                pa->state == RW_ALERT_FIRING && pa->notified && pa->rel <= rel * 0.8)
                return series_fp(e, ps, s, &e->cfg->rules[ps->rs[k].rule]);
        }
    }
    return 0;
}

/* How many of this window's other firing transitions t could explain. */
static int coverage(const struct rw_engine *e, const struct transition *t)
{
    const struct scope *sc = &e->scopes[t->scope];
    int metric = e->cfg->rules[sc->rs[t->rs].rule].metric;
    double rel = astate(sc, t->s, t->rs)->rel;
    int n = 0;
    for (size_t i = 0; i < e->ntr; i++) {
        const struct transition *u = &e->tr[i];
        if (u == t || !u->firing || u->settled)
            continue;
        const struct scope *us = &e->scopes[u->scope];
        if (us->custom != sc->custom || !scope_metric_match(e, u->scope, u->rs, metric))
            continue;
        int anc = dims_subset(sc->cfg, us->cfg);
        int inc = !anc && !dims_subset(us->cfg, sc->cfg) && u->scope != t->scope;
        if (!anc && !inc)
            continue;
        if (inc && !dilutes(rel, astate(us, u->s, u->rs)->rel))
            continue;
        if (compatible(e, t->scope, t->s, u->scope, u->s))
            n++;
    }
    return n;
}

#define MAX_LOCALIZED 4

/* A notified alert whose anomaly sits in one child: in a scope one dim finer
 * (page x device under page, a page under the whole site), exactly one
 * compatible series has this metric's alert pending or firing while others
 * were seen. Name it ("localized"): the child explains its parent. */
static json_t *localize(struct rw_engine *e, const struct transition *t)
{
    const struct scope *sc = &e->scopes[t->scope];
    int metric = e->cfg->rules[sc->rs[t->rs].rule].metric;
    json_t *out = NULL;
    int nout = 0;
    for (int ci = 0; ci < e->nlive && nout < MAX_LOCALIZED; ci++) {
        const struct scope *cs = &e->scopes[ci];
        if (cs->custom != sc->custom || cs->ndims != sc->ndims + 1 || !dims_subset(sc->cfg, cs->cfg))
            continue;
        const struct series *hit = NULL;
        int hit_k = -1, anomalous = 0, siblings = 0;
        for (size_t b = 0; b < cs->nbuckets && anomalous < 2; b++)
            for (const struct series *s = cs->buckets[b]; s; s = s->next) {
                if (s->other || !compatible(e, ci, s, t->scope, t->s))
                    continue;
                siblings++;
                for (int k = 0; k < cs->nrules; k++) {
                    const struct alert_state *a = astate(cs, s, k);
                    if (a->state != RW_ALERT_INACTIVE && scope_metric_match(e, ci, k, metric)) {
                        if (anomalous++ == 0) {
                            hit = s;
                            hit_k = k;
                        }
                        break;
                    }
                }
            }
        if (anomalous != 1 || siblings < 2)
            continue;
        const char *app, *vals[RW_MAX_DIMS];
        size_t app_len, lens[RW_MAX_DIMS];
        split_key(hit, &app, &app_len, cs->ndims, vals, lens);
        json_t *scope = json_object();
        for (int d = 0; d < cs->ndims; d++)
            json_object_set_new(scope, cs->dim[d], json_stringn(vals[d], lens[d]));
        json_t *o = json_object();
        const struct alert_state *a = astate(cs, hit, hit_k);
        json_object_set_new(o, "scope", scope);
        json_object_set_new(o, "rule", json_string(e->cfg->rules[cs->rs[hit_k].rule].name));
        json_object_set_new(o, "state", json_string(a->state == RW_ALERT_FIRING ? "firing" : "pending"));
        json_object_set_new(o, "of", json_integer(siblings));
        if (!out)
            out = json_array();
        json_array_append_new(out, o);
        nout++;
    }
    return out;
}

static void fill_view(struct rw_engine *e, const struct transition *t, int64_t ts,
                      struct rw_alert_view *av)
{
    const struct scope *sc = &e->scopes[t->scope];
    memset(av, 0, sizeof *av);
    av->ts = ts;
    av->firing = t->firing;
    av->rule = &e->cfg->rules[sc->rs[t->rs].rule];
    av->ndims = sc->ndims;
    split_key(t->s, &av->app, &av->app_len, sc->ndims, av->dim_vals, av->dim_lens);
    for (int d = 0; d < sc->ndims; d++)
        av->dim_names[d] = sc->dim[d];
    av->v = &t->v;
    av->since = t->since;
    av->fingerprint = t->fp;
    av->parent = t->parent;
    av->views = t->views;
    av->errors = t->errors;
    av->window_s = e->cfg->engine.window;
    av->q = t->q;
    av->family = t->family;
    double per_hour = e->win_ms > 0 ? 3600000.0 / (double)e->win_ms : 60;
    av->views_per_hour = t->s->vpw * per_hour;
    av->parent_views_per_hour = NAN;
    if (sc->share_parent >= 0) {
        struct series *p = parent_series(e, sc, t->s);
        av->parent_scope = e->scopes[sc->share_parent].cfg->name;
        if (p)
            av->parent_views_per_hour = p->vpw * per_hour;
    }
    av->flapping = t->flap_start;
    av->settled = t->settled;
    av->nodata = t->nodata;
}

static int cmp_transition(const void *pa, const void *pb)
{
    const struct transition *a = pa, *b = pb;
    /* stable, input-independent order: rule, scope, key */
    if (a->scope != b->scope)
        return a->scope < b->scope ? -1 : 1;
    if (a->rs != b->rs)
        return a->rs < b->rs ? -1 : 1;
    size_t n = a->s->keylen < b->s->keylen ? a->s->keylen : b->s->keylen;
    int c = memcmp(a->s->key, b->s->key, n);
    if (c)
        return c;
    return a->s->keylen < b->s->keylen ? -1 : a->s->keylen > b->s->keylen;
}

#define MAX_CHILDREN_LISTED 20

/* A notified alert resolves while alerts grouped under it still fire: they
 * become notified alerts of their own (their resolutions will be sent), and
 * the resolution line lists them under "still_firing" so nobody reads
 * "resolved" as "all clear". */
static void release_children(struct rw_engine *e, const struct transition *t, json_t *line)
{
    json_t *left = NULL;
    size_t total = 0;
    for (int si = 0; si < e->nlive; si++) {
        struct scope *sc = &e->scopes[si];
        for (size_t b = 0; b < sc->nbuckets; b++)
            for (struct series *s = sc->buckets[b]; s; s = s->next)
                for (int k = 0; k < sc->nrules; k++) {
                    struct alert_state *a = astate(sc, s, k);
                    if (a->state != RW_ALERT_FIRING || a->parent != t->fp)
                        continue;
                    a->parent = 0;
                    a->notified = 1;
                    if (total++ >= MAX_CHILDREN_LISTED)
                        continue;
                    const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
                    const char *app, *vals[RW_MAX_DIMS];
                    size_t app_len, lens[RW_MAX_DIMS];
                    split_key(s, &app, &app_len, sc->ndims, vals, lens);
                    json_t *scope = json_object();
                    for (int d = 0; d < sc->ndims; d++)
                        json_object_set_new(scope, sc->dim[d], json_stringn(vals[d], lens[d]));
                    char fp[17];
                    snprintf(fp, sizeof fp, "%016llx",
                             (unsigned long long)series_fp(e, sc, s, r));
                    json_t *o = json_object();
                    json_object_set_new(o, "scope", scope);
                    json_object_set_new(o, "rule", json_string(r->name));
                    json_object_set_new(o, "fingerprint", json_string(fp));
                    if (!left)
                        left = json_array();
                    json_array_append_new(left, o);
                }
    }
    if (left) {
        json_object_set_new(line, "still_firing", left);
        json_object_set_new(line, "still_firing_total", json_integer((json_int_t)total));
    }
}

/* Group this window's transitions and hand them to the sink. */
static void emit_transitions(struct rw_engine *e, int64_t ts)
{
    if (e->ntr == 0)
        return;
    qsort(e->tr, e->ntr, sizeof *e->tr, cmp_transition);
    /* Decide grouping from the most general scopes down, and among equally
     * general ones the alerts that explain the most others first, so an
     * explainer firing in this same window is known to be notified before
     * the alerts it explains look for it (a greedy cover). */
    int *order = malloc(e->ntr * sizeof *order);
    int *cov = malloc(e->ntr * sizeof *cov);
    size_t norder = 0;
    for (int nd = 0; nd <= RW_MAX_DIMS + 1 && order && cov; nd++) {
        size_t first = norder;
        for (size_t i = 0; i < e->ntr; i++)
            if (e->tr[i].firing && !e->tr[i].settled && e->scopes[e->tr[i].scope].ndims == nd) {
                cov[i] = coverage(e, &e->tr[i]);
                size_t j = norder++;
                while (j > first && cov[order[j - 1]] < cov[i]) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = (int)i;
            }
    }
    for (size_t oi = 0; oi < norder; oi++) {
        struct transition *t = &e->tr[order[oi]];
        t->parent = find_parent(e, t);
        struct alert_state *a = astate(&e->scopes[t->scope], t->s, t->rs);
        a->parent = t->parent;
        if (!t->suppress)
            a->notified = t->parent == 0;
    }
    free(order);
    free(cov);
    for (size_t i = 0; i < e->ntr; i++) {
        struct transition *t = &e->tr[i];
        struct alert_state *a = astate(&e->scopes[t->scope], t->s, t->rs);
        struct rw_alert_view av;
        fill_view(e, t, ts, &av);
        json_t *line = rw_alert_json(&av);
        int notify;
        if (t->settled) {
            notify = 1;
            a->notified = (uint8_t)t->firing;
            if (!t->firing)
                release_children(e, t, line);
        } else if (t->firing) {
            notify = t->parent == 0 && !t->suppress;
            if (notify) {
                json_t *loc = localize(e, t);
                if (loc)
                    json_object_set_new(line, "localized", loc);
                /* List the children grouped under this alert in this window. */
                json_t *kids = json_array();
                size_t total = 0;
                for (size_t k = 0; k < e->ntr; k++) {
                    const struct transition *c = &e->tr[k];
                    if (!c->firing || c->parent != t->fp)
                        continue;
                    if (total++ >= MAX_CHILDREN_LISTED)
                        continue;
                    struct rw_alert_view cv;
                    fill_view(e, c, ts, &cv);
                    json_t *cj = rw_alert_json(&cv);
                    json_t *brief = json_object();
                    json_object_set(brief, "scope", json_object_get(cj, "scope"));
                    json_object_set(brief, "rule", json_object_get(cj, "rule"));
                    json_object_set(brief, "value", json_object_get(cj, "value"));
                    json_object_set(brief, "fingerprint", json_object_get(cj, "fingerprint"));
                    json_object_set(brief, "summary", json_object_get(cj, "summary"));
                    json_array_append_new(kids, brief);
                    json_decref(cj);
                }
                if (total) {
                    json_object_set_new(line, "children", kids);
                    json_object_set_new(line, "children_total", json_integer((json_int_t)total));
                } else {
                    json_decref(kids);
                }
            }
        } else {
            notify = a->notified && !t->suppress;
            if (notify)
                a->notified = 0;
            if (!t->suppress)
                a->parent = 0;
            if (notify)
                release_children(e, t, line);
        }
        char *text = rw_alert_dumps(line);
        if (text && e->sink.emit)
            e->sink.emit(e->sink.ctx, text, notify);
        free(text);
        json_decref(line);
    }
    e->ntr = 0;
}

/* May the series be forgotten? Not while an alert is pending or firing, a
 * flapping alert has not settled (its held state must still be sent), or a
 * nodata = alert rule is still counting the windows without data. */
static int series_active(const struct rw_engine *e, const struct scope *sc, const struct series *s)
{
    for (int k = 0; k < sc->nrules; k++) {
        const struct alert_state *a = astate(sc, s, k);
        const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
        if (a->state != RW_ALERT_INACTIVE || a->flapping || a->notified)
            return 1;
        if (r->nodata == RW_NODATA_ALERT && a->seen && a->nodata < r->nodata_after)
            return 1;
    }
    return 0;
}

/* Which accumulator each vital is judged on this window: the window's own
 * when it has pool_min_n measurements; otherwise the pool of the closed
 * windows since the last evaluation plus this one, once it has pool_min_n
 * (up to pool_windows windows). A window joins the pool only when it closes,
 * so samples of a later, still open window never leak into an earlier one.
 * pooled[v] says the pool must be emptied after the evaluation. */
static void choose_vital_sources(struct rw_engine *e, const struct scope *sc, struct series *s,
                                 const struct wslot *slot, const struct rw_qacc **vacc, int *pooled)
{
    static const struct rw_qacc empty; /* n == 0 */
    for (int v = 0; v < sc->nvit; v++) {
        const struct rw_qacc *own = slot ? &slot->vit[v] : &empty;
        vacc[v] = own;
        pooled[v] = 0;
        if (!e->pooling)
            continue;
        struct vpool *vp = pool_at(sc, s, v);
        vp->windows++;
        if (own->n >= e->pool_min_n) {
            pooled[v] = 1; /* enough on its own: the older samples are stale */
            continue;
        }
        if (own->n && rw_qacc_merge(&vp->acc, own, e->pool))
            e->st.sketch_nomem++;
        if (vp->acc.n >= e->pool_min_n) {
            vacc[v] = &vp->acc;
            pooled[v] = 1;
        } else if (vp->windows >= (uint32_t)e->cfg->engine.pool_windows) {
            pooled[v] = 1; /* too sparse even pooled: give up on these samples */
        }
    }
}

/* A vital rule's window without measurements on a series whose alert is
 * inactive: insufficient, nothing can change state. The most common case by
 * far on sparse traffic (most series x rules x windows), so it skips the
 * obs, the verdict and the state machine; learn runs only for detectors
 * that want empty windows. Returns 0 when the general path must run
 * (an active or flapping alert, or nodata = alert, has to count the window). */
static int idle_rule(struct rw_engine *e, const struct scope *sc, struct series *s, int k,
                     const struct rw_rule_cfg *r, int64_t ts_end)
{
    struct alert_state *a = astate(sc, s, k);
    if (a->state != RW_ALERT_INACTIVE || a->flapping || r->nodata == RW_NODATA_ALERT)
        return 0;
    e->st.evaluations++;
    e->st.insufficient++;
    if (a->nodata < UINT16_MAX)
        a->nodata++;
    if (r->det->flags & RW_DET_LEARN_EMPTY) {
        struct rw_obs o;
        struct rw_verdict v;
        memset(&o, 0, sizeof o);
        o.ts_end = ts_end;
        o.value = NAN;
        memset(&v, 0, sizeof v);
        v.kind = RW_VERDICT_INSUFFICIENT;
        v.value = v.expected = v.low = v.high = v.score = v.p = NAN;
        r->det->learn(r->params, dstate(sc, s, k), &o, &v);
    }
    return 1;
}

/* Moving average of views per window behind the traffic share of an alert. */
#define VPW_ALPHA (1.0f / 60.0f)

static void close_window(struct rw_engine *e, int64_t w)
{
    int64_t ts_end = (w + 1) * e->win_ms;
    int si_slot = (int)(((w % e->nslots) + e->nslots) % e->nslots);
    int64_t idle_ms = (int64_t)(e->cfg->engine.idle_expire * 1000);
    memset(e->family, 0, sizeof e->family);
    /* Custom twins first: per_view rules read their base series' views of
     * this window, which the base scope's pass clears. */
    for (int oi = 0; oi < e->nlive; oi++) {
        int si = (oi + e->nscopes) % e->nlive;
        struct scope *sc = &e->scopes[si];
        for (size_t b = 0; b < sc->nbuckets; b++) {
            for (struct series *s = sc->buckets[b]; s; s = s->next) {
                struct wslot *slot = slot_at(sc, s, si_slot);
                uint32_t base_views = 0;
                if (sc->per_view) {
                    struct series *bs = base_series(e, sc, s);
                    const struct wslot *bw = bs ? slot_at(&e->scopes[sc->base], bs, si_slot) : NULL;
                    base_views = bw && bw->win == w ? bw->views : 0;
                }
                int have = slot->win == w;
                const struct rw_qacc *vacc[RW_NVITALS];
                int pooled[RW_NVITALS];
                choose_vital_sources(e, sc, s, have ? slot : NULL, vacc, pooled);
                s->vpw += ((float)(have ? slot->views : 0) - s->vpw) * VPW_ALPHA;
                struct qcache qc;
                memset(qc.have, 0, sizeof qc.have);
                for (int k = 0; k < sc->nrules; k++) {
                    if (k < 64 && (s->skip >> k & 1))
                        continue;
                    const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
                    if (rw_metric_is_vital(r->metric) && vacc[sc->vidx[r->metric]]->n == 0 &&
                        idle_rule(e, sc, s, k, r, ts_end))
                        continue;
                    struct rw_obs o;
                    build_obs(r, sc, have ? slot : NULL, vacc, &qc, ts_end, base_views, &o);
                    eval_rule(e, si, s, k, &o);
                }
                for (int v = 0; v < sc->nvit; v++)
                    if (pooled[v]) {
                        struct vpool *vp = pool_at(sc, s, v);
                        rw_qacc_reset(&vp->acc, e->pool);
                        vp->windows = 0;
                    }
                if (have) {
                    slot->win = -1;
                    slot->views = slot->errors = slot->err_sessions = slot->nsess = 0;
                    slot->sum = 0;
                    for (int v = 0; v < sc->nvit; v++)
                        rw_qacc_reset(&slot->vit[v], e->pool);
                }
                if (s->last_ts != INT64_MIN && ts_end - s->last_ts > idle_ms && !s->expiring &&
                    grow((void **)&e->expire, &e->capexp, e->nexp, sizeof *e->expire) == 0) {
                    s->expiring = 1;
                    e->expire[e->nexp++] = (struct expiring){s, si};
                }
            }
        }
    }
    decide_deferred(e);
    /* Expire idle series only now: deferred verdicts and children's parent
     * caches may point at them until the window is decided. A series with an
     * active alert, or a transition to report, stays. */
    for (size_t i = 0; i < e->nexp; i++) {
        struct series *s = e->expire[i].s;
        int si = e->expire[i].si;
        s->expiring = 0;
        if (series_active(e, &e->scopes[si], s))
            continue;
        int pending = 0;
        for (size_t t = 0; t < e->ntr; t++)
            pending |= e->tr[t].s == s;
        if (!pending)
            unlink_series(e, &e->scopes[si], s);
    }
    e->nexp = 0;
    e->st.windows_closed++;
    emit_transitions(e, ts_end);
}

/* A jump longer than this many windows (a week of minutes) is a gap in the
 * data, not an outage to evaluate window by window. */
#define MAX_CATCHUP_WINDOWS 10080

void rw_engine_advance(struct rw_engine *e, int64_t wm)
{
    if (e->watermark != INT64_MIN && wm <= e->watermark)
        return;
    e->watermark = wm;
    e->st.watermark = wm;
    int64_t last = floor_div(wm, e->win_ms) - 1; /* last window whose end <= wm */
    if (e->open_lo == INT64_MIN) {
        e->open_lo = last + 1;
        e->win0 = last + 1;
        return;
    }
    if (last - e->open_lo + 1 > MAX_CATCHUP_WINDOWS) {
        rw_log(RW_LOG_WARN, "engine", "msg=\"time jumped; skipping windows\" windows=%lld",
               (long long)(last - e->open_lo + 1));
        /* Close the windows that may hold data (at most nslots), skip the rest. */
        for (int64_t w = e->open_lo; w < e->open_lo + e->nslots && w <= last; w++)
            close_window(e, w);
        e->open_lo = last + 1;
        return;
    }
    for (int64_t w = e->open_lo; w <= last; w++)
        close_window(e, w);
    if (last + 1 > e->open_lo)
        e->open_lo = last + 1;
}

void rw_engine_finish(struct rw_engine *e)
{
    if (e->max_ts != INT64_MIN)
        rw_engine_advance(e, e->max_ts);
}

/* ---- stats ------------------------------------------------------------ */

void rw_engine_get_stats(const struct rw_engine *e, struct rw_engine_stats *out)
{
    *out = e->st;
    out->max_ts = e->max_ts;
    size_t bytes = rw_qpool_bytes(e->pool);
    out->sketch_bytes = bytes;
    for (int si = 0; si < e->nlive; si++) {
        const struct scope *sc = &e->scopes[si];
        bytes += sc->nbuckets * sizeof(void *);
        bytes += sc->count * (align8(sizeof(struct series)) + (size_t)e->nslots * sc->slot_size +
                              sc->state_size + 32);
    }
    out->bytes = bytes;
}

uint64_t rw_engine_scope_series(const struct rw_engine *e, int scope)
{
    return scope >= 0 && scope < e->nscopes ? e->scopes[scope].count : 0;
}

void rw_engine_scope_stats(const struct rw_engine *e, int scope, struct rw_engine_scope_stats *out)
{
    memset(out, 0, sizeof *out);
    if (scope < 0 || scope >= e->nscopes)
        return;
    for (int si = 0; si < e->nlive; si++) {
        const struct scope *sc = &e->scopes[si];
        if (si != scope && sc->base != scope)
            continue;
        int c = si != scope;
        out->has_custom |= c;
        out->series[c] = sc->count;
        out->created[c] = sc->created;
        out->expired[c] = sc->expired;
        out->folded[c] = sc->folded;
    }
}

/* ---- current alerts (/api/alerts) -------------------------------------- */

json_t *rw_engine_alerts_json(const struct rw_engine *e, size_t max,
                              struct rw_engine_alert_counts *counts)
{
    struct rw_engine_alert_counts c = {0};
    json_t *out = json_array();
    for (int si = 0; si < e->nlive; si++) {
        const struct scope *sc = &e->scopes[si];
        for (size_t b = 0; b < sc->nbuckets; b++)
            for (const struct series *s = sc->buckets[b]; s; s = s->next)
                for (int k = 0; k < sc->nrules; k++) {
                    const struct alert_state *a = astate(sc, s, k);
                    if (a->state == RW_ALERT_INACTIVE)
                        continue;
                    int firing = a->state == RW_ALERT_FIRING;
                    if (firing)
                        c.firing++;
                    else
                        c.pending++;
                    c.flapping += a->flapping;
                    c.grouped += firing && a->parent != 0;
                    if (!out || json_array_size(out) >= max) {
                        c.truncated++;
                        continue;
                    }
                    const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
                    const char *app, *vals[RW_MAX_DIMS];
                    size_t app_len, lens[RW_MAX_DIMS];
                    split_key(s, &app, &app_len, sc->ndims, vals, lens);
                    json_t *scope = json_object();
                    for (int d = 0; d < sc->ndims; d++)
                        json_object_set_new(scope, sc->dim[d], json_stringn(vals[d], lens[d]));
                    char fp[17], parent[17];
                    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)series_fp(e, sc, s, r));
                    snprintf(parent, sizeof parent, "%016llx", (unsigned long long)a->parent);
                    json_t *o = json_pack(
                        "{s:s, s:s, s:s, s:s, s:s, s:s#, s:s, s:o, s:I, s:s, s:b}", "rule",
                        r->name, "state", firing ? "firing" : "pending", "severity",
                        rw_severity_names[r->severity], "metric", rw_metric_names[r->metric],
                        "stat", rw_stat_names[r->stat], "app", app, (int)app_len, "scope_name",
                        sc->base >= 0 ? e->scopes[sc->base].cfg->name : sc->cfg->name, "scope",
                        scope, "since", (json_int_t)(((int64_t)a->since_w + e->win0) * e->win_ms),
                        "fingerprint", fp, "flapping", a->flapping);
                    if (o && firing && a->parent)
                        json_object_set_new(o, "parent", json_string(parent));
                    if (!o || json_array_append_new(out, o))
                        c.truncated++;
                }
    }
    if (counts)
        *counts = c;
    return out;
}

/* ---- --csv replay ----------------------------------------------------- */

static const struct rw_scope_cfg csv_scope_cfg = {"csv", 1, {"series"}, 1};

int rw_engine_csv_begin(struct rw_engine *e, const char *name, const char *label, char *err,
                        size_t errlen)
{
    char metric[64];
    snprintf(metric, sizeof metric, "%s", name);
    char *dot = strchr(metric, '.');
    int stat = -1;
    if (dot) {
        *dot = '\0';
        stat = rw_stat_parse(dot + 1);
        if (stat < 0) {
            snprintf(err, errlen, "--csv %s: unknown stat '%s'", name, dot + 1);
            return -EINVAL;
        }
    }
    int m = rw_metric_parse(metric);
    if (m < 0) {
        snprintf(err, errlen, "--csv %s: unknown metric '%s'", name, metric);
        return -EINVAL;
    }
    int rules[RW_MAX_RULES], n = 0;
    for (int r = 0; r < e->cfg->nrules; r++)
        if (e->cfg->rules[r].metric == m && (stat < 0 || e->cfg->rules[r].stat == stat))
            rules[n++] = r;
    if (n == 0) {
        snprintf(err, errlen, "--csv %s: no rule watches this metric", name);
        return -EINVAL;
    }
    int si = e->nlive; /* the extra scope after the configured ones */
    if (e->csv_scope < 0) {
        if (setup_scope(e, si, &csv_scope_cfg, rules, n, 0)) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        e->csv_scope = si;
    }
    char key[600];
    size_t kl = (size_t)snprintf(key, sizeof key, "default%c%.500s", KEY_SEP, label);
    /* The csv series lives in the csv scope's table (outside e->nlive, so
     * window closes never visit it); destroy frees it there. */
    if (!lookup(&e->scopes[si], key, kl, hash_key(key, kl)) &&
        !new_series(e, &e->scopes[si], key, kl, hash_key(key, kl))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return n;
}

void rw_engine_csv_row(struct rw_engine *e, int64_t ts_ms, double value, double n)
{
    if (e->csv_scope < 0)
        return;
    struct scope *sc = &e->scopes[e->csv_scope];
    struct series *s = NULL;
    for (size_t b = 0; b < sc->nbuckets && !s; b++)
        s = sc->buckets[b];
    if (!s)
        return;
    memset(e->family, 0, sizeof e->family);
    if (!e->csv_started) {
        e->csv_started = 1;
        e->win0 = floor_div(ts_ms, e->win_ms);
    }
    for (int k = 0; k < sc->nrules; k++) {
        const struct rw_rule_cfg *r = &e->cfg->rules[sc->rs[k].rule];
        struct rw_obs o;
        memset(&o, 0, sizeof o);
        uint32_t cnt = n < 0 ? 1000000u : (n > 4e9 ? 4000000000u : (uint32_t)llround(n));
        o.ts_end = ts_ms;
        o.words = 0;
        o.value = value;
        o.n = cnt;
        o.views = cnt;
        o.errors = 0;
        if (r->metric == RW_M_ERROR_RATE || (r->metric == RW_M_CUSTOM && r->stat == RW_S_PER_VIEW))
            o.errors = value > 0 ? (uint32_t)llround(value * cnt) : 0;
        else if (r->metric == RW_M_VIEWS)
            o.views = o.n = value > 0 ? (uint32_t)llround(value) : 0;
        else if (r->metric == RW_M_ERRORS)
            o.errors = o.n = value > 0 ? (uint32_t)llround(value) : 0;
        o.error_sessions = o.errors;
        eval_rule(e, e->csv_scope, s, k, &o);
    }
    decide_deferred(e);
    emit_transitions(e, ts_ms);
}

/* ---- worst-case memory at the series caps (engine.max_memory) --------- */

/* glibc's chunk for a malloc of n bytes (8 bytes of header, 16-byte steps). */
static size_t chunk(size_t n) { return (n + 8 + 15) & ~(size_t)15; }

/* What one quantile sketch costs, measured on a scratch pool (its size is
 * private to qsketch.c): the pool's growth when an accumulator overflows. */
static size_t sketch_cost(void)
{
    struct rw_qpool *p = rw_qpool_new();
    if (!p)
        return 0;
    struct rw_qacc a;
    rw_qacc_init(&a);
    size_t before = rw_qpool_bytes(p);
    for (int i = 0; i <= RW_QEXACT; i++)
        rw_qacc_add(&a, p, 1.0 + i);
    size_t n = rw_qpool_bytes(p) - before;
    rw_qpool_destroy(&p);
    return n ? chunk(n) : 0;
}

/* The layout is taken from a real (empty) engine, so this cannot drift from
 * what new_series() allocates. Per series: its block with the longest key
 * the decoder lets through, every quantile sketch its accumulators could
 * hold at once (each window slot and each pooled vital), its share of the
 * per-window work arrays (expiry list; transition, deferred verdict and
 * BH candidate per rule, doubled by grow()). Per scope: the bucket table at
 * its largest. Everything else the engine owns is fixed (page normalizer
 * cache, decoder scratch, sketch tables, the engine itself) and is counted
 * by the caller's baseline. */
size_t rw_engine_worst_bytes(const struct rw_config *cfg, size_t *scope_bytes)
{
    char err[256];
    struct rw_engine *e = rw_engine_new(cfg, NULL, err, sizeof err);
    if (!e)
        return 0;
    size_t sk = sketch_cost(), total = 0;
    if (scope_bytes)
        memset(scope_bytes, 0, (size_t)cfg->nscopes * sizeof *scope_bytes);
    for (int si = 0; si < e->nlive; si++) {
        const struct scope *sc = &e->scopes[si];
        size_t key = RW_APP_MAX;
        for (int d = 0; d < sc->ndims; d++)
            key += 1 + (sc->kind[d] == DIM_PAGE     ? RW_PAGE_MAX
                        : sc->kind[d] == DIM_APP    ? RW_APP_MAX
                        : sc->kind[d] == DIM_METRIC ? RW_METRIC_NAME_MAX
                                                    : (size_t)cfg->engine.max_seg_value);
        size_t block = chunk(align8(sizeof(struct series)) + (size_t)e->nslots * sc->slot_size +
                             sc->state_size + key + 1);
        size_t sketches = (size_t)sc->nvit * ((size_t)e->nslots + (e->pooling ? 1 : 0)) * sk;
        size_t work = 2 * (sizeof(struct expiring) +
                           (size_t)sc->nrules * (sizeof(struct transition) + sizeof(struct deferred) +
                                                 sizeof(struct cand)));
        size_t n = (size_t)sc->max_series + 1; /* + "(other)" */
        size_t bytes = n * (block + sketches + work) + sc->max_buckets * sizeof(struct series *);
        total += bytes;
        if (scope_bytes)
            scope_bytes[sc->base >= 0 ? sc->base : si] += bytes;
    }
    rw_engine_destroy(&e);
    return total;
}

/* ---- state snapshots ---------------------------------------------------
 *
 * Layout of the payload (engine/snapshot.h has the container): sections
 *   ENGN  window length, slots, sketch buckets, watermark and clock fields,
 *         the monotonic stats counters (a counted list: more may follow)
 *   RULE  every rule: name, identity hash (settings), detector state size
 *   SCOP  one per scope (configured or custom twin): custom flag, dims,
 *         counters, the vital of each accumulator, the rule of each slot,
 *         then every series sorted by key:
 *           key, last_ts, other, vpw, used window slots (window index,
 *           counts, sessions, accumulators), pools, and per rule slot the
 *           alert state (field by field) and the detector state bytes.
 * Restore reads it all twice: a dry pass that validates every count, length
 * and value, then the pass that builds the series. Caches (parent links,
 * custom match bits, hash chains) are recomputed, not stored. */

#define TAG_ENGINE RW_SNAP_TAG('E', 'N', 'G', 'N')
#define TAG_RULES RW_SNAP_TAG('R', 'U', 'L', 'E')
#define TAG_SCOPE RW_SNAP_TAG('S', 'C', 'O', 'P')

/* A rule's identity: its name and every setting that shapes its states.
 * Severity and the scope list are left out: changing them keeps the states
 * (a state lives in a scope, matched on its own). */
static uint64_t rule_identity(const struct rw_rule_cfg *r)
{
    char buf[1200];
    int n = snprintf(buf, sizeof buf,
                     "%s|%s|%s|%s|for=%d|recover=%d|q=%.17g|nodata=%d/%d|flap=%d/%d|shrink=%d|"
                     "match=%s|",
                     r->name, r->det->name, rw_metric_names[r->metric], rw_stat_names[r->stat],
                     r->for_windows, r->recover_windows, r->q, r->nodata, r->nodata_after,
                     r->flap_window, r->flap_max, r->shrink, r->match);
    uint64_t h = rw_fnv1a(RW_FNV_OFFSET, buf, (size_t)(n > 0 ? n : 0));
    for (const struct rw_option *o = r->det->options; o && o->name; o++) {
        rw_options_format(o, r->params, buf, sizeof buf);
        h = rw_fnv1a(h, o->name, strlen(o->name));
        h = rw_fnv1a(h, "=", 1);
        h = rw_fnv1a(h, buf, strlen(buf));
        h = rw_fnv1a(h, ";", 1);
    }
    return h;
}

static size_t rule_state_size(const struct rw_rule_cfg *r)
{
    return r->det->state_size ? r->det->state_size(r->params) : 0;
}

uint64_t rw_engine_config_id(const struct rw_engine *e)
{
    uint64_t h = rw_fnv1a(RW_FNV_OFFSET, &e->win_ms, sizeof e->win_ms);
    for (int r = 0; r < e->cfg->nrules; r++) {
        uint64_t id = rule_identity(&e->cfg->rules[r]);
        h = rw_fnv1a(h, &id, sizeof id);
    }
    return h;
}

void rw_engine_set_cursor(struct rw_engine *e, uint64_t pos, uint32_t crc)
{
    e->cursor = pos;
    e->cursor_crc = crc;
}

int64_t rw_engine_watermark(const struct rw_engine *e) { return e->watermark; }


int64_t rw_engine_resume_gap(struct rw_engine *e, int64_t wm)
{
    if (e->open_lo == INT64_MIN || wm <= e->watermark) {
        rw_engine_advance(e, wm);
        return 0;
    }
    int64_t last = floor_div(wm, e->win_ms) - 1;
    int64_t w = e->open_lo;
    for (; w < e->open_lo + e->nslots && w <= last; w++)
        close_window(e, w);
    int64_t skipped = last + 1 > w ? last + 1 - w : 0;
    if (last + 1 > e->open_lo)
        e->open_lo = last + 1;
    e->watermark = e->st.watermark = wm;
    return skipped;
}

/* The stats counters a restart continues (monotonic for /metrics), in
 * stored order; append only. */
static uint64_t *stat_field(struct rw_engine_stats *st, unsigned i)
{
    static const size_t off[] = {
        offsetof(struct rw_engine_stats, received), offsetof(struct rw_engine_stats, accepted),
        offsetof(struct rw_engine_stats, views), offsetof(struct rw_engine_stats, errors),
        offsetof(struct rw_engine_stats, metrics),
        offsetof(struct rw_engine_stats, series_created),
        offsetof(struct rw_engine_stats, series_expired),
        offsetof(struct rw_engine_stats, folded),
        offsetof(struct rw_engine_stats, windows_closed),
        offsetof(struct rw_engine_stats, evaluations),
        offsetof(struct rw_engine_stats, insufficient),
        offsetof(struct rw_engine_stats, alerts_fired),
        offsetof(struct rw_engine_stats, alerts_resolved),
        offsetof(struct rw_engine_stats, sketch_nomem),
    };
    unsigned n = sizeof off / sizeof off[0];
    if (i < n)
        return (uint64_t *)((char *)st + off[i]);
    if (i - n < RW_NREJECT)
        return &st->rejected[i - n];
    return NULL;
}
#define NSTATS (14 + RW_NREJECT)

static void put_qacc(struct rw_snapbuf *b, const struct rw_qacc *a)
{
    rw_snap_u32(b, a->n);
    if (!a->sk) {
        rw_snap_u16(b, a->below);
        rw_snap_put(b, a->code, (size_t)a->n * sizeof a->code[0]);
        return;
    }
    struct rw_qsketch_state st;
    rw_qacc_sketch_get(a, &st);
    rw_snap_f64(b, st.vmin);
    rw_snap_f64(b, st.vmax);
    rw_snap_u32(b, st.zero);
    rw_snap_u32(b, (uint32_t)st.lo);
    rw_snap_u32(b, (uint32_t)(st.hi - st.lo + 1));
    rw_snap_put(b, st.count, (size_t)(st.hi - st.lo + 1) * 4);
}

static int cmp_series_key(const void *pa, const void *pb)
{
    const struct series *a = *(const struct series *const *)pa;
    const struct series *b = *(const struct series *const *)pb;
    size_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    return a->keylen < b->keylen ? -1 : a->keylen > b->keylen;
}

static void put_series(struct rw_snapbuf *b, const struct rw_engine *e, const struct scope *sc,
                       const struct series *s)
{
    rw_snap_u32(b, s->keylen);
    rw_snap_put(b, s->key, s->keylen);
    rw_snap_i64(b, s->last_ts);
    rw_snap_u8(b, s->other);
    rw_snap_put(b, &s->vpw, 4);
    uint8_t used = 0;
    for (int i = 0; i < e->nslots; i++)
        used += slot_at(sc, s, i)->win != -1;
    rw_snap_u8(b, used);
    for (int i = 0; i < e->nslots; i++) {
        const struct wslot *w = slot_at(sc, s, i);
        if (w->win == -1)
            continue;
        rw_snap_i64(b, w->win);
        rw_snap_f64(b, w->sum);
        rw_snap_u32(b, w->views);
        rw_snap_u32(b, w->errors);
        rw_snap_u32(b, w->err_sessions);
        rw_snap_u8(b, (uint8_t)w->nsess);
        rw_snap_put(b, w->sess, w->nsess * sizeof w->sess[0]);
        for (int v = 0; v < sc->nvit; v++)
            put_qacc(b, &w->vit[v]);
    }
    for (int v = 0; v < sc->nvit; v++) {
        const struct vpool *vp = pool_at(sc, s, v);
        rw_snap_u32(b, vp->windows);
        put_qacc(b, &vp->acc);
    }
    for (int k = 0; k < sc->nrules; k++) {
        const struct alert_state *a = astate(sc, s, k);
        rw_snap_u8(b, a->state);
        rw_snap_u8(b, a->notified);
        rw_snap_u8(b, a->flapping);
        rw_snap_u8(b, a->seen);
        rw_snap_u16(b, a->count);
        rw_snap_u16(b, a->nodata);
        rw_snap_u16(b, a->nchg);
        rw_snap_u16(b, a->chg_span);
        rw_snap_u32(b, (uint32_t)a->chg_last);
        rw_snap_put(b, &a->rel, 4);
        rw_snap_u32(b, (uint32_t)a->since_w);
        rw_snap_u64(b, a->parent);
        size_t n = rule_state_size(&e->cfg->rules[sc->rs[k].rule]);
        rw_snap_u32(b, (uint32_t)n);
        rw_snap_put(b, dstate(sc, s, k), n);
    }
}

int rw_engine_save(const struct rw_engine *e, struct rw_snapbuf *b, char *err, size_t errlen)
{
    if (e->csv_scope >= 0) {
        snprintf(err, errlen, "a --csv replay has no state snapshot");
        return -ENOTSUP;
    }
    rw_snap_reserve_header(b);
    size_t at = rw_snap_begin(b, TAG_ENGINE);
    rw_snap_i64(b, e->win_ms);
    rw_snap_u32(b, (uint32_t)e->nslots);
    rw_snap_u32(b, (uint32_t)rw_qpool_nbuckets(e->pool));
    rw_snap_u32(b, RW_NVITALS);
    rw_snap_i64(b, e->open_lo);
    rw_snap_i64(b, e->watermark);
    rw_snap_i64(b, e->max_ts);
    rw_snap_i64(b, e->win0);
    struct rw_engine_stats st = e->st;
    rw_snap_u32(b, NSTATS);
    for (unsigned i = 0; i < NSTATS; i++)
        rw_snap_u64(b, *stat_field(&st, i));
    rw_snap_u64(b, e->cursor);
    rw_snap_u32(b, e->cursor_crc);
    rw_snap_end(b, at);

    at = rw_snap_begin(b, TAG_RULES);
    rw_snap_u32(b, (uint32_t)e->cfg->nrules);
    for (int r = 0; r < e->cfg->nrules; r++) {
        rw_snap_str(b, e->cfg->rules[r].name);
        rw_snap_u64(b, rule_identity(&e->cfg->rules[r]));
        rw_snap_u32(b, (uint32_t)rule_state_size(&e->cfg->rules[r]));
    }
    rw_snap_end(b, at);

    for (int si = 0; si < e->nlive; si++) {
        const struct scope *sc = &e->scopes[si];
        at = rw_snap_begin(b, TAG_SCOPE);
        rw_snap_u8(b, (uint8_t)sc->custom);
        rw_snap_u8(b, (uint8_t)sc->ndims);
        for (int d = 0; d < sc->ndims; d++)
            rw_snap_str(b, sc->dim[d]);
        rw_snap_u64(b, sc->created);
        rw_snap_u64(b, sc->expired);
        rw_snap_u64(b, sc->folded);
        rw_snap_u8(b, (uint8_t)sc->nvit);
        for (int i = 0; i < sc->nvit; i++)
            for (int v = 0; v < RW_NVITALS; v++)
                if (sc->vidx[v] == i)
                    rw_snap_u8(b, (uint8_t)v);
        rw_snap_u8(b, (uint8_t)sc->nrules);
        for (int k = 0; k < sc->nrules; k++)
            rw_snap_u32(b, (uint32_t)sc->rs[k].rule);
        /* sorted by key: the bytes do not depend on hash-chain order */
        struct series **all = sc->count ? malloc(sc->count * sizeof *all) : NULL;
        if (sc->count && !all) {
            b->err = -ENOMEM;
            break;
        }
        size_t n = 0;
        for (size_t bk = 0; bk < sc->nbuckets; bk++)
            for (struct series *s = sc->buckets[bk]; s && n < sc->count; s = s->next)
                all[n++] = s;
        if (n)
            qsort(all, n, sizeof *all, cmp_series_key);
        rw_snap_u64(b, n);
        for (size_t i = 0; i < n; i++)
            put_series(b, e, sc, all[i]);
        free(all);
        rw_snap_end(b, at);
    }
    struct rw_snap_info info = {.config_id = rw_engine_config_id(e),
                                .watermark = e->watermark,
                                .max_ts = e->max_ts,
                                .saved_wall_ms = rw_wall_ms()};
    rw_snap_seal(b, &info);
    if (b->err) {
        snprintf(err, errlen, "out of memory writing the snapshot (%zu bytes)", b->len);
        return b->err;
    }
    return 0;
}

/* What the snapshot's rules and the running config's have in common. */
struct old_rule {
    char name[RW_NAME_MAX + 1];
    uint64_t id;
    uint32_t state_size;
    int match; /* rule index in the new config, -1 when changed or removed */
};

struct restore {
    struct rw_engine *e;
    int apply; /* 0: the dry, validating pass */
    struct rw_restore_report *rep;
    struct old_rule *rules;
    uint32_t nrules;
    int64_t open_lo;
    int taken[2 * RW_MAX_SCOPES + 1];
    uint64_t series_created; /* the stored counter (new_series counts the restored ones) */
};

/* One stored accumulator into a (NULL: validate and skip). */
static int get_qacc(struct restore *rs, struct rw_snapreader *r, struct rw_qacc *a)
{
    uint32_t n = rw_snap_get_u32(r);
    if (n <= RW_QEXACT) {
        uint16_t below = rw_snap_get_u16(r);
        const void *codes = rw_snap_take(r, (size_t)n * 2);
        if (!codes)
            return -EINVAL;
        if (a) {
            a->n = n;
            a->below = (uint16_t)(below & ((1u << n) - 1)); /* bits >= n must be 0 */
            memcpy(a->code, codes, (size_t)n * 2);
        }
        return 0;
    }
    struct rw_qsketch_state st;
    st.vmin = rw_snap_get_f64(r);
    st.vmax = rw_snap_get_f64(r);
    st.zero = rw_snap_get_u32(r);
    uint32_t lo = rw_snap_get_u32(r), cnt = rw_snap_get_u32(r);
    if (r->bad)
        return -EINVAL;
    uint32_t nb = (uint32_t)rw_qpool_nbuckets(rs->e->pool);
    if (cnt > nb || (cnt && lo > nb - cnt)) /* [lo, lo + cnt) inside the buckets */
        return rw_snap_fail(r, "sketch buckets %u..%u of %u", lo, lo + cnt, nb);
    st.lo = (int)lo;
    st.hi = st.lo + (int)cnt - 1;
    if (cnt == 0) {
        st.lo = 0;
        st.hi = -1;
    }
    if (!(st.count = rw_snap_take(r, (size_t)cnt * 4)))
        return -EINVAL;
    int rc = rw_qacc_sketch_set(a ? a : &(struct rw_qacc){0}, rs->e->pool,
                                rs->apply && a ? rs->e->pool : NULL, n, &st);
    if (rc == -ENOMEM)
        return rc;
    if (rc)
        return rw_snap_fail(r, "inconsistent quantile sketch (n=%u)", n);
    return 0;
}

static int count_seps(const char *p, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += p[i] == KEY_SEP;
    return c;
}

/* One stored series. sc NULL: its scope is gone, read past it. */
static int get_series(struct restore *rs, struct rw_snapreader *r, int si, int ndims,
                      const int *vmap, int nvit, const int *rmap, const uint32_t *rold, int nrules)
{
    struct rw_engine *e = rs->e;
    struct scope *sc = si >= 0 ? &e->scopes[si] : NULL;
    uint32_t keylen = rw_snap_get_u32(r);
    if (r->bad)
        return -EINVAL;
    if (keylen == 0 || keylen >= KEY_MAX)
        return rw_snap_fail(r, "series key of %u bytes", keylen);
    const char *key = rw_snap_take(r, keylen);
    if (!key)
        return -EINVAL;
    if (count_seps(key, keylen) != ndims)
        return rw_snap_fail(r, "series key without %d dims", ndims);
    int64_t last_ts = rw_snap_get_i64(r);
    uint8_t other = rw_snap_get_u8(r);
    float vpw;
    rw_snap_get(r, &vpw, 4);
    uint8_t used = rw_snap_get_u8(r);
    if (r->bad)
        return -EINVAL;
    struct series *s = NULL;
    if (sc && rs->apply) {
        uint64_t h = hash_key(key, keylen);
        if (lookup(sc, key, keylen, h) || (!other && sc->count >= (size_t)sc->max_series)) {
            rs->rep->series_skipped++; /* a duplicate, or over the new cap */
            sc = NULL;
        } else {
            if (!(s = new_series(e, sc, key, keylen, h)))
                return -ENOMEM;
            s->last_ts = last_ts;
            s->other = other ? 1 : 0;
            s->vpw = isfinite(vpw) ? vpw : 0;
            rs->rep->series++;
        }
    } else if (!sc && rs->apply) {
        rs->rep->series_skipped++;
    }
    for (unsigned i = 0; i < used; i++) {
        int64_t win = rw_snap_get_i64(r);
        double sum = rw_snap_get_f64(r);
        uint32_t views = rw_snap_get_u32(r), errors = rw_snap_get_u32(r);
        uint32_t err_sessions = rw_snap_get_u32(r);
        uint8_t nsess = rw_snap_get_u8(r);
        if (r->bad)
            return -EINVAL;
        if (nsess > SESS_TRACK)
            return rw_snap_fail(r, "%u error sessions in a window (at most %d)", nsess,
                                SESS_TRACK);
        const void *sess = rw_snap_take(r, (size_t)nsess * 4);
        if (!sess)
            return -EINVAL;
        /* A window still open when saved goes to its slot here (the slot
         * count may differ); one outside the open range is dropped. */
        struct wslot *w = NULL;
        if (s && win >= rs->open_lo && win - rs->open_lo < e->nslots) {
            w = slot_at(sc, s, (int)(win % e->nslots + e->nslots) % e->nslots);
            w->win = win;
            w->sum = sum;
            w->views = views;
            w->errors = errors;
            w->err_sessions = err_sessions;
            w->nsess = nsess;
            memcpy(w->sess, sess, (size_t)nsess * 4);
        }
        for (int v = 0; v < nvit; v++) {
            int nv = w && vmap[v] >= 0 ? vmap[v] : -1;
            int rc = get_qacc(rs, r, nv >= 0 ? &w->vit[nv] : NULL);
            if (rc)
                return rc;
        }
    }
    for (int v = 0; v < nvit; v++) {
        uint32_t windows = rw_snap_get_u32(r);
        struct vpool *vp = s && vmap[v] >= 0 ? pool_at(sc, s, vmap[v]) : NULL;
        if (vp)
            vp->windows = windows;
        int rc = get_qacc(rs, r, vp ? &vp->acc : NULL);
        if (rc)
            return rc;
    }
    for (int k = 0; k < nrules; k++) {
        struct alert_state a;
        a.state = rw_snap_get_u8(r);
        a.notified = rw_snap_get_u8(r);
        a.flapping = rw_snap_get_u8(r);
        a.seen = rw_snap_get_u8(r);
        a.count = rw_snap_get_u16(r);
        a.nodata = rw_snap_get_u16(r);
        a.nchg = rw_snap_get_u16(r);
        a.chg_span = rw_snap_get_u16(r);
        a.chg_last = (int32_t)rw_snap_get_u32(r);
        rw_snap_get(r, &a.rel, 4);
        a.since_w = (int32_t)rw_snap_get_u32(r);
        a.parent = rw_snap_get_u64(r);
        uint32_t dlen = rw_snap_get_u32(r);
        if (r->bad)
            return -EINVAL;
        if (a.state > RW_ALERT_FIRING || a.notified > 1 || a.flapping > 1 || a.seen > 1)
            return rw_snap_fail(r, "alert state out of range");
        if (dlen != rold[k])
            return rw_snap_fail(r, "detector state of %u bytes, rule says %u", dlen, rold[k]);
        const void *ds = rw_snap_take(r, dlen);
        if (!ds)
            return -EINVAL;
        if (s && rmap[k] >= 0) {
            if (!isfinite(a.rel))
                a.rel = 0;
            *astate(sc, s, rmap[k]) = a;
            memcpy(dstate(sc, s, rmap[k]), ds, dlen);
            rs->rep->alerts_firing += a.state == RW_ALERT_FIRING;
            rs->rep->alerts_pending += a.state == RW_ALERT_PENDING;
        }
    }
    return 0;
}

static int get_scope(struct restore *rs, struct rw_snapreader *r)
{
    struct rw_engine *e = rs->e;
    r->what = "scope";
    int custom = rw_snap_get_u8(r);
    int ndims = rw_snap_get_u8(r);
    if (r->bad)
        return -EINVAL;
    if (custom > 1 || ndims > RW_MAX_DIMS)
        return rw_snap_fail(r, "scope with %d dims", ndims);
    char dims[RW_MAX_DIMS][RW_NAME_MAX + 1];
    for (int d = 0; d < ndims; d++)
        if (rw_snap_get_str(r, dims[d], RW_NAME_MAX))
            return -EINVAL;
    uint64_t created = rw_snap_get_u64(r), expired = rw_snap_get_u64(r);
    uint64_t folded = rw_snap_get_u64(r);
    int nvit = rw_snap_get_u8(r);
    if (r->bad)
        return -EINVAL;
    if (nvit > RW_NVITALS)
        return rw_snap_fail(r, "%d vitals", nvit);
    int vital[RW_NVITALS];
    for (int i = 0; i < nvit; i++) {
        vital[i] = rw_snap_get_u8(r);
        if (!r->bad && vital[i] >= RW_NVITALS)
            return rw_snap_fail(r, "unknown vital %d", vital[i]);
    }
    int nrules = rw_snap_get_u8(r);
    if (r->bad)
        return -EINVAL;
    if (nrules > RW_MAX_RULES)
        return rw_snap_fail(r, "%d rules in a scope", nrules);
    uint32_t ridx[RW_MAX_RULES], rold[RW_MAX_RULES];
    for (int k = 0; k < nrules; k++) {
        ridx[k] = rw_snap_get_u32(r);
        if (r->bad)
            return -EINVAL;
        if (ridx[k] >= rs->nrules)
            return rw_snap_fail(r, "rule %u of %u", ridx[k], rs->nrules);
        rold[k] = rs->rules[ridx[k]].state_size;
    }
    /* The live scope with the same dims (in order) and kind, not yet taken. */
    int si = -1;
    for (int i = 0; i < e->nlive && si < 0; i++) {
        const struct scope *sc = &e->scopes[i];
        if (rs->taken[i] || sc->custom != custom || sc->ndims != ndims)
            continue;
        int same = 1;
        for (int d = 0; d < ndims && same; d++)
            same = strcmp(sc->dim[d], dims[d]) == 0;
        if (same)
            si = i;
    }
    int vmap[RW_NVITALS], rmap[RW_MAX_RULES];
    if (si >= 0) {
        struct scope *sc = &e->scopes[si];
        rs->taken[si] = 1;
        for (int i = 0; i < nvit; i++)
            vmap[i] = sc->vidx[vital[i]];
        for (int k = 0; k < nrules; k++) {
            rmap[k] = -1;
            for (int j = 0; j < sc->nrules; j++)
                if (rs->rules[ridx[k]].match >= 0 && sc->rs[j].rule == rs->rules[ridx[k]].match)
                    rmap[k] = j;
        }
    }
    uint64_t nseries = rw_snap_get_u64(r);
    if (r->bad)
        return -EINVAL;
    if (nseries > (r->len - r->off) / 16) /* a series takes more than 16 bytes */
        return rw_snap_fail(r, "%llu series in %zu bytes", (unsigned long long)nseries,
                            r->len - r->off);
    if (rs->apply) {
        if (si >= 0)
            rs->rep->scopes++;
        else
            rs->rep->scopes_dropped++;
    }
    r->what = "series";
    for (uint64_t i = 0; i < nseries; i++) {
        int rc = get_series(rs, r, si, ndims, vmap, nvit, rmap, rold, nrules);
        if (rc)
            return rc;
    }
    if (r->off != r->len)
        return rw_snap_fail(r, "%zu bytes after the last series", r->len - r->off);
    if (rs->apply && si >= 0) {
        struct scope *sc = &e->scopes[si];
        sc->created = created;
        sc->expired = expired;
        sc->folded = folded;
    }
    return 0;
}

static int get_rules(struct restore *rs, struct rw_snapreader *r)
{
    const struct rw_config *cfg = rs->e->cfg;
    r->what = "rules";
    uint32_t n = rw_snap_get_u32(r);
    if (r->bad)
        return -EINVAL;
    if (n > RW_MAX_RULES)
        return rw_snap_fail(r, "%u rules (at most %d)", n, RW_MAX_RULES);
    rs->rules = calloc(n ? n : 1, sizeof *rs->rules);
    if (!rs->rules)
        return -ENOMEM;
    rs->nrules = n;
    int seen_new[RW_MAX_RULES] = {0};
    for (uint32_t i = 0; i < n; i++) {
        struct old_rule *o = &rs->rules[i];
        if (rw_snap_get_str(r, o->name, RW_NAME_MAX))
            return -EINVAL;
        o->id = rw_snap_get_u64(r);
        o->state_size = rw_snap_get_u32(r);
        if (r->bad)
            return -EINVAL;
        o->match = -1;
        int found = 0;
        for (int k = 0; k < cfg->nrules; k++) {
            if (strcmp(cfg->rules[k].name, o->name) != 0 || seen_new[k])
                continue;
            found = 1;
            seen_new[k] = 1;
            if (rule_identity(&cfg->rules[k]) == o->id &&
                rule_state_size(&cfg->rules[k]) == o->state_size)
                o->match = k;
            break;
        }
        if (rs->apply) {
            if (o->match >= 0)
                rs->rep->rules_kept++;
            else if (found)
                rs->rep->rules_changed++;
            else
                rs->rep->rules_removed++;
        }
    }
    if (rs->apply)
        for (int k = 0; k < cfg->nrules; k++)
            rs->rep->rules_new += !seen_new[k];
    return 0;
}

static int get_engine(struct restore *rs, struct rw_snapreader *r)
{
    struct rw_engine *e = rs->e;
    r->what = "engine";
    int64_t win_ms = rw_snap_get_i64(r);
    uint32_t nslots = rw_snap_get_u32(r), nb = rw_snap_get_u32(r), nvit = rw_snap_get_u32(r);
    int64_t open_lo = rw_snap_get_i64(r), wm = rw_snap_get_i64(r), max_ts = rw_snap_get_i64(r);
    int64_t win0 = rw_snap_get_i64(r);
    uint32_t nstats = rw_snap_get_u32(r);
    if (r->bad)
        return -EINVAL;
    if (win_ms != e->win_ms)
        return rw_snap_fail(r, "window of %g s, this config has %g s (baselines are per window)",
                            win_ms / 1000.0, e->win_ms / 1000.0);
    if ((int)nb != rw_qpool_nbuckets(e->pool) || nvit != RW_NVITALS || nslots == 0 ||
        nslots > 1000000)
        return rw_snap_fail(r, "incompatible build (sketch buckets %u, vitals %u)", nb, nvit);
    if (nstats > 4096)
        return rw_snap_fail(r, "%u counters", nstats);
    rs->open_lo = open_lo;
    struct rw_engine_stats st = e->st;
    for (uint32_t i = 0; i < nstats; i++) {
        uint64_t v = rw_snap_get_u64(r);
        uint64_t *f = stat_field(&st, i);
        if (f)
            *f = v; /* counters of a later build are ignored */
    }
    uint64_t cursor = rw_snap_get_u64(r);
    uint32_t cursor_crc = rw_snap_get_u32(r);
    if (r->bad)
        return -EINVAL;
    if (rs->apply) {
        e->open_lo = open_lo;
        e->watermark = e->st.watermark = wm;
        e->max_ts = max_ts;
        e->win0 = win0;
        rs->series_created = st.series_created;
        st.series = 0;
        st.firing_now = 0;
        st.watermark = wm;
        e->st = st;
        rs->rep->watermark = wm;
        rs->rep->max_ts = max_ts;
        rs->rep->cursor = cursor;
        rs->rep->cursor_crc = cursor_crc;
        e->cursor = cursor;
        e->cursor_crc = cursor_crc;
    }
    return 0;
}

static int restore_pass(struct restore *rs, const void *buf, size_t len, char *err, size_t errlen)
{
    struct rw_snap_info info;
    struct rw_snapreader pr, body;
    int rc = rw_snap_open(buf, len, &info, &pr, err, errlen);
    if (rc)
        return rc;
    uint32_t tag;
    int have_engine = 0;
    free(rs->rules);
    rs->rules = NULL;
    rs->nrules = 0;
    memset(rs->taken, 0, sizeof rs->taken);
    while ((rc = rw_snap_next(&pr, &tag, &body)) == 1) {
        if (tag == TAG_ENGINE) {
            rc = have_engine++ ? rw_snap_fail(&body, "two engine sections") : get_engine(rs, &body);
        } else if (!have_engine) {
            rc = rw_snap_fail(&body, "section before the engine section");
        } else if (tag == TAG_RULES) {
            rc = rs->rules ? rw_snap_fail(&body, "two rule sections") : get_rules(rs, &body);
        } else if (tag == TAG_SCOPE) {
            rc = rs->rules ? get_scope(rs, &body) : rw_snap_fail(&body, "scope before rules");
        } else {
            rc = 0; /* a section of a later build: skipped */
        }
        if (rc)
            return rc;
    }
    if (rc)
        return rc;
    if (!have_engine || !rs->rules) {
        snprintf(err, errlen, "snapshot without %s section", have_engine ? "rules" : "engine");
        return -EINVAL;
    }
    return 0;
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

int rw_engine_restore(struct rw_engine *e, const void *buf, size_t len,
                      struct rw_restore_report *rep, char *err, size_t errlen)
{
    struct rw_restore_report dummy;
    if (!rep)
        rep = &dummy;
    memset(rep, 0, sizeof *rep);
    if (e->open_lo != INT64_MIN || e->st.series || e->csv_scope >= 0) {
        snprintf(err, errlen, "restore needs a fresh engine");
        return -EBUSY;
    }
    struct restore rs = {.e = e, .rep = rep};
    int rc = restore_pass(&rs, buf, len, err, errlen);
    if (rc == 0) {
        rs.apply = 1;
        memset(rep, 0, sizeof *rep);
        rc = restore_pass(&rs, buf, len, err, errlen);
    }
    free(rs.rules);
    if (rc)
        return rc;
    e->st.series_created = rs.series_created;
    /* Derived state: alerts firing now, and children whose parent alert did
     * not come back (its rule changed): they stand on their own, as when a
     * parent resolves (release_children), so their resolution is sent. */
    uint64_t *fps = NULL;
    size_t nfp = 0, capfp = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int si = 0; si < e->nlive; si++) {
            struct scope *sc = &e->scopes[si];
            for (size_t b = 0; b < sc->nbuckets; b++)
                for (struct series *s = sc->buckets[b]; s; s = s->next)
                    for (int k = 0; k < sc->nrules; k++) {
                        struct alert_state *a = astate(sc, s, k);
                        if (a->state != RW_ALERT_FIRING)
                            continue;
                        if (pass == 0) {
                            e->st.firing_now++;
                            if (a->notified &&
                                grow((void **)&fps, &capfp, nfp, sizeof *fps) == 0)
                                fps[nfp++] = series_fp(e, sc, s, &e->cfg->rules[sc->rs[k].rule]);
                        } else if (a->parent &&
                                   !bsearch(&a->parent, fps, nfp, sizeof *fps, cmp_u64)) {
                            a->parent = 0;
                            a->notified = 1;
                        }
                    }
            if (pass == 0 && si == e->nlive - 1 && nfp)
                qsort(fps, nfp, sizeof *fps, cmp_u64);
        }
    free(fps);
    return 0;
}

void rw_engine_reset_counters(struct rw_engine *e)
{
    for (unsigned i = 0; i < NSTATS; i++) {
        uint64_t *f = stat_field(&e->st, i);
        if (f)
            *f = 0;
    }
    for (int si = 0; si < e->nlive; si++)
        e->scopes[si].created = e->scopes[si].expired = e->scopes[si].folded = 0;
}
