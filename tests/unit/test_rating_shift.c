/* Unit tests for detectors/rating_shift.c: options, warm-up, constant
 * shares, empty windows, a poor tail that leaves p75 alone (n = 50 and
 * 500), improvements, gates, span, learning around breaches, shrinkage to
 * the parent, overdispersion, and the false-alarm calibration on seeded
 * multinomial windows. */
#include "detectors/detector.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

static const struct rw_detector *D = &rw_detector_rating_shift;
#include "detector_util.h"

static struct rw_obs obs3(uint32_t good, uint32_t ni, uint32_t poor)
{
    struct rw_obs o = {.ts_end = 0, .words = 1};
    o.rating[0] = good;
    o.rating[1] = ni;
    o.rating[2] = poor;
    o.n = good + ni + poor;
    o.views = o.n;
    o.value = o.n ? 1900.0 : NAN; /* p75 LCP: below the poor line throughout */
    return o;
}

static struct rw_verdict window(const void *params, void *state, uint32_t g, uint32_t ni,
                                uint32_t poor)
{
    return step(params, state, obs3(g, ni, poor));
}

static struct rw_verdict peek_parent(const void *params, const void *state, const void *parent,
                                     uint32_t g, uint32_t ni, uint32_t poor)
{
    struct rw_obs o = obs3(g, ni, poor);
    o.parent = parent;
    struct rw_verdict out;
    memset(&out, 0xA5, sizeof out);
    D->eval(params, state, &o, &out);
    return out;
}

static struct rw_verdict peek(const void *params, const void *state, uint32_t g, uint32_t ni,
                              uint32_t poor)
{
    return peek_parent(params, state, NULL, g, ni, poor);
}

/* A multinomial window of n views with shares sh[3]. */
static struct rw_obs draw(gsl_rng *r, unsigned n, const double sh[3])
{
    unsigned c[3];
    gsl_ran_multinomial(r, 3, n, sh, c);
    return obs3(c[0], c[1], c[2]);
}

/* Dirichlet-multinomial: the window's shares vary around sh with
 * concentration kappa (view-to-view correlation 1 / (kappa + 1)). */
static struct rw_obs draw_dm(gsl_rng *r, unsigned n, const double sh[3], double kappa)
{
    double a[3] = {kappa * sh[0], kappa * sh[1], kappa * sh[2]}, th[3];
    gsl_ran_dirichlet(r, 3, a, th);
    return draw(r, n, th);
}

static void *copy_of(const void *params, const void *st)
{
    size_t sz = D->state_size(params);
    void *c = malloc(sz);
    if (!c)
        abort();
    memcpy(c, st, sz);
    return c;
}

static void test_options(void)
{
    double params[64];
    CHECK(D->params_size <= sizeof params);
    CHECK(rw_detector_find("rating_shift") == D);
    CHECK_INT(D->flags, RW_DET_RATINGS | RW_DET_PVALUE);
    CHECK(D->reset == NULL);
    for (const struct rw_option *o = D->options; o->name; o++)
        CHECK(o->help && o->help[0]);
    rw_options_defaults(D->options, params);
    CHECK_INT(valid(params), 0);
    /* 7 floats + 4 counters; span 5 adds 4 pending windows of 16 bytes. */
    CHECK_INT(D->state_size(params), 44);
    set(params, "span", 5);
    CHECK_INT(D->state_size(params), 44 + 4 * 16);
    set(params, "span", 1);
    char buf[32];
    rw_options_format(rw_options_find(D->options, "direction"), params, buf, sizeof buf);
    CHECK_STR(buf, "\"worse\"");
    rw_options_format(rw_options_find(D->options, "alpha"), params, buf, sizeof buf);
    CHECK_STR(buf, "0.0001");
    rw_options_format(rw_options_find(D->options, "min_n"), params, buf, sizeof buf);
    CHECK_STR(buf, "30");
    rw_options_format(rw_options_find(D->options, "history"), params, buf, sizeof buf);
    CHECK_STR(buf, "60");
    rw_options_format(rw_options_find(D->options, "min_history"), params, buf, sizeof buf);
    CHECK_STR(buf, "20");
    rw_options_format(rw_options_find(D->options, "min_poor_increase"), params, buf, sizeof buf);
    CHECK_STR(buf, "0.05");
    rw_options_format(rw_options_find(D->options, "min_ratio"), params, buf, sizeof buf);
    CHECK_STR(buf, "1.5");
    rw_options_format(rw_options_find(D->options, "prior_views"), params, buf, sizeof buf);
    CHECK_STR(buf, "100");
    rw_options_format(rw_options_find(D->options, "overdispersion"), params, buf, sizeof buf);
    CHECK_STR(buf, "true");

    set(params, "history", 10);
    CHECK_INT(valid(params), -EINVAL); /* min_history 20 > history 10 */
    set(params, "min_history", 10);
    CHECK_INT(valid(params), 0);
    char err[128];
    const struct rw_option *o;
    o = rw_options_find(D->options, "alpha");
    CHECK_INT(rw_options_set_number(o, params, 0.6, err, sizeof err), -ERANGE);
    CHECK_INT(rw_options_set_number(o, params, 1e-13, err, sizeof err), -ERANGE);
    o = rw_options_find(D->options, "history");
    CHECK_INT(rw_options_set_number(o, params, 4, err, sizeof err), -ERANGE);
    CHECK_INT(rw_options_set_number(o, params, 1441, err, sizeof err), -ERANGE);
    o = rw_options_find(D->options, "min_poor_increase");
    CHECK_INT(rw_options_set_number(o, params, 1.5, err, sizeof err), -ERANGE);
    o = rw_options_find(D->options, "span");
    CHECK_INT(rw_options_set_number(o, params, 31, err, sizeof err), -ERANGE);
    o = rw_options_find(D->options, "min_n");
    CHECK_INT(rw_options_set_number(o, params, 0, err, sizeof err), -ERANGE);
    o = rw_options_find(D->options, "direction");
    CHECK_INT(rw_options_set_string(o, params, "better", err, sizeof err), -EINVAL);
    CHECK(strstr(err, "worse") && strstr(err, "both"));
    sets(params, "direction", "both");
    CHECK_INT(valid(params), 0);
}

/* Multinomial windows through step(); returns the number of breaches. */
static int run(const void *params, void *st, gsl_rng *r, unsigned n, const double sh[3],
               int windows)
{
    int breaches = 0;
    for (int i = 0; i < windows; i++) {
        struct rw_verdict v = step(params, st, draw(r, n, sh));
        breaches += v.kind == RW_VERDICT_BREACH;
    }
    return breaches;
}

static void test_warmup_and_constant(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 20; i++) {
        struct rw_verdict v = window(params, st, 750, 180, 70);
        CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
        CHECK_INT(v.score_kind, RW_SCORE_P);
        CHECK_NEAR(v.value, 0.07, 1e-12);
        CHECK_INT(v.n, 1000);
        CHECK(isnan(v.expected) && isnan(v.low) && isnan(v.high) && isnan(v.score) && isnan(v.p));
        CHECK_INT(v.big, 0);
        CHECK_INT(v.shrunk, 0);
        CHECK_INT(v.base_windows, i);
        CHECK(v.test && strstr(v.test, "mid-p"));
        char want[64];
        snprintf(want, sizeof want, "warming up: %d of 20 windows", i);
        CHECK_STR(v.why, want);
    }
    /* Constant shares: never a breach; expected is the baseline share. */
    for (int i = 0; i < 200; i++) {
        struct rw_verdict v = window(params, st, 750, 180, 70);
        CHECK_INT(v.kind, RW_VERDICT_OK);
        CHECK_NEAR(v.expected, 0.07, 1e-6);
        CHECK(v.p > 0.9 && v.p <= 1);
        CHECK_NEAR(v.score, v.p, 0);
        CHECK_INT(v.big, 0);
    }
    struct rw_verdict v = peek(params, st, 750, 180, 70);
    CHECK_INT(v.base_windows, 60);
    CHECK(strstr(v.base, "EW 60 windows") != NULL);
    /* The band: 1000 views with 10.3% poor would be significant, but the
     * gates need max(7% + 5 points, 1.5 x 7%) = 12%. Direction worse: no
     * lower edge. */
    CHECK_NEAR(v.high, 0.12, 1e-6);
    CHECK(isnan(v.low));
    v = peek(params, st, 750, 130, 120); /* just at the gate */
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.value, 0.12, 1e-12);
    CHECK(strstr(v.why, "poor 12.0% of 1000 views vs 7.0%, p=") == v.why);
    v = peek(params, st, 750, 131, 119);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p < 1e-5);
    CHECK_INT(v.big, 0);
    CHECK(strstr(v.why, "change < 0.05") != NULL);
    free(st);
}

static void test_gaps_and_min_n(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    size_t sz = D->state_size(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    static const double sh[3] = {0.80, 0.15, 0.05};
    CHECK_INT(run(params, st, r, 400, sh, 40), 0);

    /* No rated views (value NaN): insufficient, state untouched. */
    void *copy = copy_of(params, st);
    struct rw_verdict v = window(params, st, 0, 0, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(isnan(v.value) && isnan(v.p));
    CHECK_INT(v.n, 0);
    CHECK_STR(v.why, "no rated views");
    CHECK(memcmp(copy, st, sz) == 0);

    /* Fewer than min_n views: not judged, even at 100% poor... */
    v = window(params, st, 0, 0, 29);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_NEAR(v.value, 1, 0);
    CHECK_STR(v.why, "29 views < min_n 30");
    /* ...but learned: its views are evidence like any other. */
    CHECK(memcmp(copy, st, sz) != 0);
    free(copy);

    /* During an incident small windows stay out of the baseline. */
    v = window(params, st, 300, 20, 80);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    copy = copy_of(params, st);
    v = window(params, st, 10, 2, 8);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(memcmp(copy, st, sz) == 0);
    v = window(params, st, 0, 0, 0);
    CHECK(memcmp(copy, st, sz) == 0);
    /* A calm evaluated window ends the incident; it is learned. */
    v = window(params, st, 320, 60, 20);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(memcmp(copy, st, sz) != 0);
    free(copy);
    gsl_rng_free(r);
    free(st);
}

/* The headline case: 80% good throughout (p75 stays good), while the poor
 * share triples from 5% to 15% (taken from the NI share). */
static void test_poor_tail(void)
{
    static const double before[3] = {0.80, 0.15, 0.05}, after[3] = {0.80, 0.05, 0.15};
    double params[64];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);

    /* 500 views per window: every window of the shift breaches. */
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    CHECK_INT(run(params, st, r, 500, before, 100), 0);
    for (int i = 0; i < 10; i++) {
        struct rw_verdict v = step(params, st, draw(r, 500, after));
        CHECK_INT(v.kind, RW_VERDICT_BREACH);
        CHECK_NEAR(v.value, 0.15, 0.05);
        CHECK_NEAR(v.expected, 0.05, 0.01);
        CHECK(v.p < 1e-8);
        CHECK_INT(v.big, 1);
        CHECK_INT(v.shrunk, 0);
        CHECK(strstr(v.why, "poor ") == v.why);
        /* gate max(5% + 5 points, 1.5 x 5%) = 10%, above the significance edge */
        CHECK_NEAR(v.high, v.expected + 0.05, 1e-9);
        CHECK(isnan(v.low));
    }
    free(st);

    /* 50 views per window: one window (7.5 poor views expected against
     * 2.5) is evidence, but rarely proof at alpha = 1e-4 on its own; the
     * windows that do not breach are learned, and the baseline follows
     * the shift (a documented limit: use span on small pages). */
    st = new_state(params);
    CHECK_INT(run(params, st, r, 50, before, 100), 0);
    int caught = 0;
    double minp = 1;
    struct rw_verdict v;
    for (int i = 0; i < 30; i++) {
        v = step(params, st, draw(r, 50, after));
        caught += v.kind == RW_VERDICT_BREACH;
        if (i < 10 && v.p < minp)
            minp = v.p;
    }
    printf("poor tail 5%% -> 15%%, 50 views, span 1: %d of 30 windows breach, min p %.2g in "
           "the first 10, baseline %.3f after 30\n",
           caught, minp, v.expected);
    CHECK(caught <= 5);
    CHECK(minp < 1e-2);
    CHECK(v.expected > 0.08);
    free(st);
    /* ...span 5 sums 250 views: caught from the first spans on. */
    set(params, "span", 5);
    st = new_state(params);
    CHECK_INT(run(params, st, r, 50, before, 100), 0);
    int first = -1;
    caught = 0;
    for (int i = 0; i < 30; i++) {
        v = step(params, st, draw(r, 50, after));
        if (v.kind == RW_VERDICT_BREACH) {
            caught++;
            if (first < 0)
                first = i;
            CHECK_INT(v.n, 250); /* the span slides over the change */
        }
        if (i == 10)
            CHECK(strstr(v.why, " in 5 windows vs ") != NULL);
    }
    printf("poor tail 5%% -> 15%%, 50 views, span 5: first breach at window %d, %d of 30\n", first,
           caught);
    CHECK(first >= 0 && first <= 4);
    CHECK(caught >= 22);
    free(st);
    gsl_rng_free(r);
}

/* Good -> NI with the poor share unchanged: the NI+poor tail. */
static void test_not_good_tail(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 31);
    static const double before[3] = {0.80, 0.15, 0.05}, after[3] = {0.55, 0.40, 0.05};
    CHECK_INT(run(params, st, r, 500, before, 100), 0);
    struct rw_verdict v = step(params, st, draw(r, 500, after));
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(strstr(v.why, "NI+poor ") == v.why);
    /* the numbers reported are the tail's that decided: NI+poor 20% -> 45% */
    CHECK(v.what && strcmp(v.what, "NI+poor share") == 0);
    CHECK_NEAR(v.value, 0.45, 0.04);
    CHECK_NEAR(v.expected, 0.20, 0.01);
    /* the NI+poor band: the min_ratio gate decides, 20% x 1.5 */
    CHECK(v.high >= 0.30 - 1e-3 && v.high < 0.32);
    /* and the poor share alone is what an ordinary window reports */
    v = step(params, st, draw(r, 500, before));
    CHECK(v.what && strcmp(v.what, "poor share") == 0);
    CHECK_NEAR(v.expected, 0.05, 0.01);
    gsl_rng_free(r);
    free(st);
}

/* Improvements: quiet with direction worse, a breach (and a lower band
 * edge) with direction both. */
static void test_direction(void)
{
    double params[64];
    static const double before[3] = {0.70, 0.15, 0.15}, after[3] = {0.85, 0.10, 0.05};
    for (int d = 0; d < 2; d++) {
        rw_options_defaults(D->options, params);
        sets(params, "direction", d ? "both" : "worse");
        void *st = new_state(params);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 41);
        CHECK_INT(run(params, st, r, 500, before, 100), 0);
        struct rw_verdict v = step(params, st, draw(r, 500, after));
        if (d == 0) {
            CHECK_NEAR(v.expected, 0.15, 0.015); /* no tail passes: the poor share */
            CHECK_INT(v.kind, RW_VERDICT_OK);
            CHECK(v.p > 0.99);
            CHECK(isnan(v.low));
            CHECK(v.high > 0.2);
        } else {
            CHECK_INT(v.kind, RW_VERDICT_BREACH);
            CHECK(v.p < 1e-8);
            CHECK_INT(v.big, 1);
            /* the NI+poor share fell furthest (30% -> 15%): its numbers */
            CHECK(v.what && strcmp(v.what, "NI+poor share") == 0);
            CHECK_NEAR(v.expected, 0.30, 0.02);
            CHECK_NEAR(v.value, 0.15, 0.03);
            /* down gates: <= 30% - 5 points and <= 30% / 1.5 */
            CHECK(v.low > 0.1 && v.low <= v.expected / 1.5 + 1e-9);
            CHECK(v.high > v.expected);
        }
        /* Worse still breaches either way. */
        v = peek(params, st, 300, 50, 150);
        CHECK_INT(v.kind, RW_VERDICT_BREACH);
        gsl_rng_free(r);
        free(st);
    }
}

/* Significant but small changes are held back by the gates. */
static void test_gates(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 51);
    static const double sh[3] = {0.60, 0.20, 0.20};
    CHECK_INT(run(params, st, r, 5000, sh, 60), 0);
    /* +7 points: significant, but 27% / 20% = 1.35 < 1.5. */
    struct rw_verdict v = peek(params, st, 3000, 650, 1350);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p < 1e-10);
    CHECK_INT(v.big, 0);
    CHECK(strstr(v.why, "ratio < 1.5") != NULL);
    CHECK_NEAR(v.high, 0.3, 0.002); /* 1.5 x the baseline share */
    /* min_ratio 1.3 lets it through. */
    set(params, "min_ratio", 1.3);
    v = peek(params, st, 3000, 650, 1350);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.big, 1);
    gsl_rng_free(r);
    free(st);
}

/* A permanent change: alerted on while history/2 windows are kept out,
 * then learned until it stops breaching. */
static void test_permanent_change(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 61);
    static const double before[3] = {0.80, 0.15, 0.05}, after[3] = {0.80, 0.05, 0.15};
    CHECK_INT(run(params, st, r, 500, before, 100), 0);
    int len = 0;
    struct rw_verdict v;
    for (int i = 0; i < 200; i++) {
        v = step(params, st, draw(r, 500, after));
        if (v.kind != RW_VERDICT_BREACH)
            break;
        len++;
        if (i == 29)
            CHECK_NEAR(v.expected, 0.05, 0.01); /* the first 30 are kept out */
    }
    /* 30 kept out, then the EW baseline needs ~20 learned windows to
     * reach 10%, where 15% no longer clears the +5 points gate. */
    int later = run(params, st, r, 500, after, 60);
    printf("permanent 5%% -> 15%%: alert lasted %d windows, then %d stray breaches in 60\n", len,
           later);
    CHECK(len >= 35 && len <= 60);
    CHECK(later <= 10);
    CHECK_INT(run(params, st, r, 500, after, 100), 0);
    v = peek(params, st, 400, 25, 75);
    CHECK_NEAR(v.expected, 0.15, 0.01);
    gsl_rng_free(r);
    free(st);
}

/* A series without history borrows the parent's shares. */
static void test_shrinkage(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *parent = new_state(params);
    void *child = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 71);
    static const double sh[3] = {0.75, 0.18, 0.07};

    /* The parent itself still warming up: no help. */
    CHECK_INT(run(params, parent, r, 1000, sh, 10), 0);
    struct rw_verdict v = peek_parent(params, child, parent, 40, 5, 5);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(strstr(v.why, "warming up: 0 of 20") != NULL);
    CHECK_INT(run(params, parent, r, 1000, sh, 50), 0);

    /* Fresh child: judged against the parent's 7% with 100 pseudo-views. */
    v = peek(params, child, 40, 6, 4);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    v = peek_parent(params, child, parent, 40, 6, 4);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_INT(v.shrunk, 1);
    CHECK_NEAR(v.expected, 0.07, 0.005);
    CHECK_INT(v.base_windows, 0);
    CHECK(strstr(v.base, "parent prior 100 views") != NULL);
    /* 20 poor of 50 (40%) against 7 in 100 pseudo-views. */
    v = peek_parent(params, child, parent, 26, 4, 20);
    printf("shrunk: 20 poor of 50 vs parent prior: p=%.3g; ", v.p);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.shrunk, 1);
    CHECK(v.p < 1e-5);
    /* 8 of 50 (16%) passes the gates but is no proof against 100 views. */
    v = peek_parent(params, child, parent, 36, 6, 8);
    printf("8 of 50: p=%.3g\n", v.p);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 1e-2);

    /* The child's own views take over as they come in: windows of 40
     * views; the prior stops once the child has min_history windows and
     * >= 100 effective views of its own. */
    for (int i = 0; i < 25; i++) {
        struct rw_obs o = draw(r, 40, sh);
        o.parent = parent;
        struct rw_verdict w = step(params, child, o);
        CHECK_INT(w.shrunk, i < 20);
        CHECK(w.kind != RW_VERDICT_INSUFFICIENT);
    }
    /* prior_views = 0 turns it off. */
    set(params, "prior_views", 0);
    void *fresh = new_state(params);
    v = peek_parent(params, fresh, parent, 40, 6, 4);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_INT(v.shrunk, 0);
    free(fresh);

    /* False alarms of shrunk evaluations: children with the parent's
     * shares, 30 views a window, alpha = 1e-2, gates off. */
    rw_options_defaults(D->options, params);
    set(params, "alpha", 1e-2);
    set(params, "min_poor_increase", 0);
    set(params, "min_ratio", 0);
    long evals = 0, breaches = 0;
    for (int s = 0; s < 3000; s++) {
        D->init(params, child);
        for (int t = 0; t < 20; t++) {
            struct rw_obs o = draw(r, 30, sh);
            o.parent = parent;
            o.words = 0;
            D->eval(params, child, &o, &v);
            CHECK_INT(v.shrunk, 1);
            evals++;
            breaches += v.kind == RW_VERDICT_BREACH;
            D->learn(params, child, &o, &v);
        }
    }
    double rate = (double)breaches / (double)evals;
    printf("shrunk children (30 views, parent shares): false alarms %.3g at alpha 0.01 (x%.2f, "
           "%ld evals)\n",
           rate, rate / 1e-2, evals);
    CHECK(rate <= 2e-2);
    gsl_rng_free(r);
    free(parent);
    free(child);
}

/* Overdispersed windows (Dirichlet-multinomial): the dispersion estimate
 * keeps false alarms near alpha, and still lets a real shift through. */
static void test_overdispersion(void)
{
    static const double sh[3] = {0.80, 0.15, 0.05}, after[3] = {0.80, 0.05, 0.15};
    double params[64];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 81);
    for (int od = 1; od >= 0; od--) {
        rw_options_defaults(D->options, params);
        set(params, "overdispersion", od);
        void *st = new_state(params);
        /* kappa 400: the poor share's window-to-window SD is 1.1 points
         * on top of the binomial 1.0 at 500 views. */
        int fa = 0;
        for (int i = 0; i < 200; i++) {
            struct rw_verdict v = step(params, st, draw_dm(r, 500, sh, 400));
            fa += v.kind == RW_VERDICT_BREACH;
        }
        int caught = 0;
        for (int i = 0; i < 10; i++) {
            struct rw_verdict v = step(params, st, draw_dm(r, 500, after, 400));
            caught += v.kind == RW_VERDICT_BREACH;
        }
        printf("overdispersion %s: %d false alarms in 200 windows, shift caught in %d of 10\n",
               od ? "on" : "off", fa, caught);
        CHECK_INT(fa, 0);
        CHECK(caught >= (od ? 7 : 10));
        free(st);
    }
    gsl_rng_free(r);
}

/* Extreme counts: huge windows (site level) and single-view windows stay
 * finite and never hand GSL a domain error (this test keeps GSL's
 * aborting error handler on). */
static void test_extremes(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_n", 1);
    set(params, "min_history", 5);
    void *st = new_state(params);
    for (int i = 0; i < 10; i++)
        window(params, st, 3000000000u, 1000000000u, 200000000u);
    struct rw_verdict v = window(params, st, 3000000000u, 1000000000u, 200000000u);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_INT(v.n, 4000000000u);
    CHECK(v.p > 0.5 && v.p <= 1);
    CHECK_NEAR(v.expected, 0.2 / 4.2, 1e-6);
    v = window(params, st, 2000000000u, 200000000u, 2000000000u);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.high, v.expected + 0.05, 1e-6);
    CHECK(v.p == 0 || v.p < 1e-300);
    free(st);

    /* One view a window, no poor view ever seen: a first poor view is
     * rare, not impossible. */
    st = new_state(params);
    for (int i = 0; i < 30; i++)
        window(params, st, 1, 0, 0);
    v = window(params, st, 0, 0, 1);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 0.01);
    CHECK(isnan(v.high)); /* no share of a single view could prove anything */
    free(st);
}

/* ---- calibration -------------------------------------------------------- */

struct calib {
    unsigned n;   /* views per window (fixed), or mean with poisson */
    int poisson;  /* views ~ Poisson(n) */
    double sh[3]; /* shares */
    double kappa; /* 0: multinomial; else Dirichlet-multinomial concentration */
    double alpha;
    const char *direction;
    int span;
    int overdispersion;
    int history; /* 0: default (60, min_history 20); else min_history = history / 2 */
    int series, len;
    unsigned long seed;
};

/* Fresh series of `len` windows each, gates off; returns the measured
 * false-alarm rate / alpha and the number of evaluations in *evals. */
static double calibrate(const struct calib *c, long *evals_out)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "alpha", c->alpha);
    set(params, "min_poor_increase", 0);
    set(params, "min_ratio", 0);
    sets(params, "direction", c->direction ? c->direction : "worse");
    set(params, "span", c->span ? c->span : 1);
    set(params, "overdispersion", c->overdispersion);
    if (c->history) {
        set(params, "history", c->history);
        set(params, "min_history", c->history / 2);
    }
    CHECK_INT(valid(params), 0);
    void *st = malloc(D->state_size(params));
    if (!st)
        abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, c->seed);
    long evals = 0, breaches = 0, badp = 0;
    for (int s = 0; s < c->series; s++) {
        D->init(params, st);
        for (int t = 0; t < c->len; t++) {
            unsigned n = c->poisson ? gsl_ran_poisson(r, c->n) : c->n;
            struct rw_obs o = c->kappa > 0 ? draw_dm(r, n, c->sh, c->kappa) : draw(r, n, c->sh);
            o.words = 0;
            struct rw_verdict v;
            D->eval(params, st, &o, &v);
            if (v.kind != RW_VERDICT_INSUFFICIENT) {
                evals++;
                breaches += v.kind == RW_VERDICT_BREACH;
                badp += !(v.p >= 0 && v.p <= 1);
            }
            D->learn(params, st, &o, &v);
        }
    }
    CHECK_INT(badp, 0);
    double rate = evals ? (double)breaches / (double)evals : NAN;
    printf("calibration n=%s%u shares=(%.2f,%.2f,%.2f) kappa=%g %s span=%d history=%d od=%d "
           "alpha=%g: measured %.3g (x%.2f, %ld evals)\n",
           c->poisson ? "Poisson " : "", c->n, c->sh[0], c->sh[1], c->sh[2], c->kappa,
           c->direction ? c->direction : "worse", c->span ? c->span : 1,
           c->history ? c->history : 60, c->overdispersion, c->alpha, rate, rate / c->alpha, evals);
    gsl_rng_free(r);
    free(st);
    *evals_out = evals;
    return rate / c->alpha;
}

/* The calibration table (docs): per-window false-alarm rate / alpha on
 * seeded data, gates off. Every row must be within [0.5, 2] except the
 * overdispersed rows without the correction, which show why it exists. */
static void test_calibration(void)
{
    static const double sh[3][3] = {{0.75, 0.18, 0.07}, {0.90, 0.08, 0.02}, {0.50, 0.30, 0.20}};
    static const unsigned ns[3] = {30, 100, 1000};
    unsigned long seed = 1;
    long ev;
    double x;
    /* Multinomial windows of fixed size. */
    for (int si = 0; si < 3; si++)
        for (int ni = 0; ni < 3; ni++)
            for (int ai = 0; ai < 2; ai++) {
                struct calib c = {.n = ns[ni],
                                  .alpha = ai ? 1e-3 : 1e-2,
                                  .overdispersion = 1,
                                  .series = ai ? 1000 : 250,
                                  .len = 120,
                                  .seed = seed++};
                memcpy(c.sh, sh[si], sizeof c.sh);
                x = calibrate(&c, &ev);
                CHECK(ev >= 20000);
                CHECK(x >= 0.5 && x <= 2.0);
            }
    /* Other settings, shares (0.75, 0.18, 0.07). */
    struct calib rows[] = {
        {.n = 100, .direction = "both", .alpha = 1e-2, .series = 250},
        {.n = 100, .direction = "both", .alpha = 1e-3, .series = 1000},
        {.n = 50, .poisson = 1, .alpha = 1e-2, .series = 250},
        {.n = 50, .poisson = 1, .alpha = 1e-3, .series = 1000},
        {.n = 10, .poisson = 1, .span = 5, .alpha = 1e-2, .series = 250},
        {.n = 10, .poisson = 1, .span = 5, .alpha = 1e-3, .series = 1000},
        {.n = 30, .overdispersion = -1, .alpha = 1e-3, .series = 1000},
        {.n = 1000, .overdispersion = -1, .alpha = 1e-3, .series = 1000},
        {.n = 100, .history = 20, .alpha = 1e-3, .series = 1000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct calib c = rows[i];
        memcpy(c.sh, sh[0], sizeof c.sh);
        c.overdispersion = c.overdispersion < 0 ? 0 : 1;
        c.len = 120;
        c.seed = seed++;
        x = calibrate(&c, &ev);
        CHECK(ev >= 20000);
        CHECK(x >= 0.5 && x <= 2.0);
    }
    /* Overdispersed windows (Dirichlet-multinomial, shares (0.75, 0.18,
     * 0.07)): kappa 650 is a 1-point window-to-window SD of the poor
     * share, kappa 100 a 2.5-point SD. */
    struct calib od[] = {
        {.n = 1000, .kappa = 650, .alpha = 1e-2, .series = 250},
        {.n = 1000, .kappa = 650, .alpha = 1e-3, .series = 1000},
        {.n = 100, .kappa = 650, .alpha = 1e-3, .series = 1000},
        {.n = 1000, .kappa = 100, .alpha = 1e-3, .series = 1000},
        {.n = 300, .poisson = 1, .kappa = 200, .alpha = 1e-3, .series = 1000},
        {.n = 50, .span = 5, .kappa = 650, .alpha = 1e-3, .series = 1000},
    };
    for (size_t i = 0; i < sizeof od / sizeof od[0]; i++) {
        struct calib c = od[i];
        memcpy(c.sh, sh[0], sizeof c.sh);
        c.overdispersion = 1;
        c.len = 120;
        c.seed = seed++;
        x = calibrate(&c, &ev);
        CHECK(x >= 0.5 && x <= 2.0);
    }
    struct calib off = {
        .n = 1000, .kappa = 650, .alpha = 1e-3, .series = 1000, .len = 120, .seed = seed++};
    memcpy(off.sh, sh[0], sizeof off.sh);
    x = calibrate(&off, &ev);
    CHECK(x > 10);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* GSL's default (aborting) error handler stays on: the detector must
     * never pass it a domain error. */
    test_options();
    test_warmup_and_constant();
    test_gaps_and_min_n();
    test_poor_tail();
    test_not_good_tail();
    test_direction();
    test_gates();
    test_permanent_change();
    test_shrinkage();
    test_overdispersion();
    test_extremes();
    test_calibration();
    TEST_DONE();
}
