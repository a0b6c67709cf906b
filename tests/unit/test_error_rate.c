/* Unit tests for detectors/error_rate.c: warm-up, the quiet-page and
 * busy-page examples, a x5 step, the min_errors and min_ratio gates, zero
 * views, learning around breaches, the band edge, and the false-alarm
 * calibration on seeded Poisson data. */
#include "detectors/detector.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

static const struct rw_detector *D = &rw_detector_error_rate;
#include "detector_util.h"




static struct rw_obs obs(uint32_t errors, uint32_t views)
{
    struct rw_obs o = {.ts_end = 0, .n = views, .views = views, .errors = errors, .words = 1,
                       .error_sessions = errors};
    o.value = views ? (double)errors / views : NAN;
    return o;
}

static struct rw_verdict peek(const void *params, const void *state, uint32_t e, uint32_t v)
{
    struct rw_obs o = obs(e, v);
    struct rw_verdict out;
    memset(&out, 0xA5, sizeof out);
    D->eval(params, state, &o, &out);
    return out;
}

static struct rw_verdict window(const void *params, void *state, uint32_t e, uint32_t v)
{
    return step(params, state, obs(e, v));
}

static void test_options(void)
{
    double params[64];
    CHECK(D->params_size <= sizeof params);
    for (const struct rw_option *o = D->options; o->name; o++)
        CHECK(o->help && o->help[0]);
    rw_options_defaults(D->options, params);
    CHECK_INT(valid(params), 0);
    /* Default state: 48 bytes of sums and counters + 60 x (u32, u32, u32);
     * span 5 adds 4 pending windows of 16 bytes. */
    CHECK_INT(D->state_size(params), 48 + 60 * 12);
    set(params, "span", 5);
    CHECK_INT(D->state_size(params), 48 + 60 * 12 + 4 * 16);
    set(params, "span", 1);
    char err[128];
    CHECK_INT(
        rw_options_set_number(rw_options_find(D->options, "alpha"), params, 0.6, err, sizeof err),
        -ERANGE);
    CHECK_INT(
        rw_options_set_number(rw_options_find(D->options, "alpha"), params, 1e-13, err, sizeof err),
        -ERANGE);
    CHECK_INT(rw_options_set_number(rw_options_find(D->options, "history"), params, 2000, err,
                                    sizeof err),
              -ERANGE);
}

static void test_warmup(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    struct rw_verdict v = window(params, st, 1, 100);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_INT(v.score_kind, RW_SCORE_P);
    CHECK_NEAR(v.value, 0.01, 1e-12);
    CHECK(isnan(v.expected) && isnan(v.score) && isnan(v.high));
    CHECK_NEAR(v.low, 0, 0);
    CHECK_INT(v.n, 100);
    CHECK(strstr(v.why, "baseline") != NULL);
    v = window(params, st, 1, 100); /* 100 baseline views < 200 */
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_NEAR(v.expected, 0.01, 1e-12);
    v = window(params, st, 1, 100); /* 200: evaluated */
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.score > 0.1 && v.score <= 1);
    free(st);
}

/* The two examples from the brief. */
static void test_quiet_and_busy_page(void)
{
    double params[64];
    /* Quiet page: 300 views and no errors so far, then 1 error in 3 views.
     * p = P(the one error lands in the window's 3 of 303 views) ~ 0.01
     * (mid-p 0.005): no alarm even without the effect-size gates. */
    for (int gates = 0; gates < 2; gates++) {
        rw_options_defaults(D->options, params);
        if (!gates) {
            set(params, "min_errors", 0);
            set(params, "min_ratio", 1);
        }
        void *st = new_state(params);
        for (int i = 0; i < 3; i++)
            window(params, st, 0, 100);
        struct rw_verdict v = peek(params, st, 1, 3);
        CHECK_INT(v.kind, RW_VERDICT_OK);
        CHECK_NEAR(v.score, 0.5 * 3.0 / 303.0, 1e-9);
        CHECK_NEAR(v.value, 1.0 / 3.0, 1e-12);
        CHECK_NEAR(v.expected, 0, 0);
        free(st);
    }

    /* Busy page: usually 4 errors in 400 views; now 40 in 400. */
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 4, 400);
    struct rw_verdict v = peek(params, st, 40, 400);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(v.score < 1e-15);
    CHECK_NEAR(v.value, 0.1, 1e-12);
    CHECK_NEAR(v.expected, 0.01, 1e-12);
    CHECK_NEAR(v.low, 0, 0);
    CHECK(v.high > 0.01 && v.high < 0.1);
    CHECK_INT(v.n, 400);
    CHECK(strstr(v.why, "40 users with errors in 400 views, expected 4.0, p=") != NULL);
    /* 6 in 400 is unremarkable. */
    v = peek(params, st, 6, 400);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.score > 0.05);
    free(st);
}

/* Seeded traffic at 1% errors; the rate steps up x5 for 20 windows. */
static void test_step_x5(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    int false_alarms = 0;
    for (int i = 0; i < 300; i++) {
        unsigned v = gsl_ran_poisson(r, 400);
        struct rw_verdict out = window(params, st, gsl_ran_poisson(r, 0.01 * v), v);
        false_alarms += out.kind == RW_VERDICT_BREACH;
    }
    CHECK_INT(false_alarms, 0);
    int hits = 0;
    size_t sz = D->state_size(params);
    void *copy = malloc(sz);
    if (!copy)
        abort();
    for (int i = 0; i < 20; i++) {
        unsigned v = gsl_ran_poisson(r, 400);
        memcpy(copy, st, sz);
        struct rw_verdict out = window(params, st, gsl_ran_poisson(r, 0.05 * v), v);
        hits += out.kind == RW_VERDICT_BREACH;
        if (out.kind == RW_VERDICT_BREACH) {
            /* breach windows stay out of the baseline sums (the breach
             * counter is the only thing that moves) */
            CHECK(memcmp(copy, st, 16) == 0);
        }
    }
    CHECK(hits >= 19);
    free(copy);
    gsl_rng_free(r);
    free(st);
}

/* A permanent x5: alerts for history/2 windows unlearned, then the breach
 * windows are learned and the baseline catches up. */
static void test_permanent_change(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 4, 400);
    int run = 0;
    for (int i = 0; i < 200; i++) {
        struct rw_verdict out = window(params, st, 20, 400);
        if (out.kind != RW_VERDICT_BREACH)
            break;
        run++;
    }
    /* 30 unlearned (history/2), then learned: after j of them the baseline
     * is (240 + 16 j) / 24000; at j = 14 (1.9%, 7.7 expected) 20 in 400 is
     * no longer significant at 1e-4, so the alert lasts 44 windows. */
    CHECK(run > 30 && run < 60);
    CHECK_INT(run, 44);
    struct rw_verdict out = window(params, st, 20, 400);
    CHECK_INT(out.kind, RW_VERDICT_OK);
    free(st);
}

static void test_gates(void)
{
    double params[64];
    /* min_errors: rate 0.1% on 100 views (0.1 expected); 4 errors is
     * significant but fewer than min_errors 5. */
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, i % 10 == 0 ? 1 : 0, 100);
    struct rw_verdict v = peek(params, st, 4, 100);
    CHECK(v.score < 1e-4);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(strstr(v.why, "min_errors") != NULL);
    CHECK_NEAR(v.high, 5.0 / 100, 1e-12); /* the gate is the band edge */
    v = peek(params, st, 5, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    free(st);

    /* min_ratio: a big page at 1% (1000 errors per 100k views); 1500 is a
     * wildly significant x1.5, below min_ratio 2. */
    st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 1000, 100000);
    v = peek(params, st, 1500, 100000);
    CHECK(v.score < 1e-20);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(strstr(v.why, "ratio") != NULL);
    CHECK_NEAR(v.high, 0.02, 1e-12);
    CHECK_INT(peek(params, st, 2000, 100000).kind, RW_VERDICT_BREACH);
    set(params, "min_ratio", 1.2);
    CHECK_INT(peek(params, st, 1500, 100000).kind, RW_VERDICT_BREACH);
    free(st);
}

static void test_zero_views(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 4, 400);
    size_t sz = D->state_size(params);
    void *copy = malloc(sz);
    if (!copy)
        abort();
    memcpy(copy, st, sz);
    /* No views, no errors: nothing to test, nothing learned. */
    struct rw_verdict v = window(params, st, 0, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(isnan(v.value));
    CHECK_INT(v.n, 0);
    CHECK(memcmp(copy, st, sz) == 0);
    /* Errors without views: exposure is one view. 3 errors where 0.01 are
     * expected is significant; min_errors 5 holds it back by default. */
    v = peek(params, st, 3, 0);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.value, 3, 0);
    CHECK(v.score < 1e-4);
    set(params, "min_errors", 0);
    v = peek(params, st, 3, 0);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.n, 0);
    free(copy);
    free(st);
}

/* high is the smallest breaching rate: e/v >= high breaches, below it not. */
static void test_band_edge(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_errors", 0);
    set(params, "min_ratio", 1);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 13);
    for (int i = 0; i < 60; i++) {
        unsigned v = gsl_ran_poisson(r, 2000);
        window(params, st, gsl_ran_poisson(r, 0.02 * v), v);
    }
    const uint32_t views[] = {1, 10, 100, 2000, 50000};
    for (size_t k = 0; k < sizeof views / sizeof views[0]; k++) {
        uint32_t v = views[k];
        struct rw_verdict out = peek(params, st, 0, v);
        CHECK(isfinite(out.high));
        uint32_t edge = (uint32_t)llround(out.high * v);
        CHECK_INT(peek(params, st, edge, v).kind, RW_VERDICT_BREACH);
        CHECK(edge == 0 || peek(params, st, edge - 1, v).kind == RW_VERDICT_OK);
    }
    gsl_rng_free(r);
    free(st);
}

/* ---- calibration -------------------------------------------------------- */

/* Clean data: views ~ Poisson(mean_views), errors ~ Poisson(1% x views).
 * `series` fresh series of `len` windows, so warm-up is included. */
static double calibrate(double mean_views, double alpha, int series, int len, unsigned long seed,
                        long *evals_out)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "alpha", alpha);
    set(params, "min_errors", 0);
    set(params, "min_ratio", 1);
    CHECK_INT(valid(params), 0);
    void *st = malloc(D->state_size(params));
    if (!st)
        abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    long evals = 0, breaches = 0;
    for (int s = 0; s < series; s++) {
        D->init(params, st);
        for (int t = 0; t < len; t++) {
            unsigned v = gsl_ran_poisson(r, mean_views);
            struct rw_verdict out = window(params, st, gsl_ran_poisson(r, 0.01 * v), v);
            if (out.kind != RW_VERDICT_INSUFFICIENT)
                evals++;
            breaches += out.kind == RW_VERDICT_BREACH;
        }
    }
    double rate = (double)breaches / (double)evals;
    printf("calibration views~Poisson(%g) rate 1%% alpha=%g: measured %.3g (x%.2f, %ld evals)\n",
           mean_views, alpha, rate, rate / alpha, evals);
    gsl_rng_free(r);
    free(st);
    *evals_out = evals;
    return rate;
}

/* One user's burst of errors is one erring user: no alarm. */
static void test_session_burst(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, i % 5 == 0 ? 1 : 0, 40); /* 0.5% */
    struct rw_obs o = obs(8, 40);
    o.error_sessions = 1; /* eight errors, one session */
    struct rw_verdict v;
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.value, 8.0 / 40, 1e-12); /* the rate reported is still events per view */
    o.error_sessions = 8; /* eight users: an incident */
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    free(st);
}

/* A quiet page (2 views a window) where half the views start failing: one
 * window never has min_errors, a 5-window span does, within a few windows. */
static void test_span_quiet_page(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "span", 5);
    set(params, "history", 240);
    void *st = new_state(params);
    uint64_t x = 99;
    for (int i = 0; i < 240; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        window(params, st, (x >> 33) % 200 == 0 ? 1 : 0, 2); /* 0.5% of views */
    }
    int first = -1;
    for (int i = 0; i < 15 && first < 0; i++) {
        struct rw_verdict v = window(params, st, 1, 2); /* 50% */
        if (v.kind == RW_VERDICT_BREACH) {
            first = i;
            CHECK(strstr(v.why, "over 5 windows") != NULL);
        }
    }
    CHECK(first >= 4 && first <= 6); /* needs 5 erring users in the span */
    /* Same data with span 1: never enough errors in one window. */
    set(params, "span", 1);
    free(st);
    st = new_state(params);
    for (int i = 0; i < 240; i++)
        window(params, st, i % 200 == 0 ? 1 : 0, 2);
    int any = 0;
    for (int i = 0; i < 15; i++)
        any |= window(params, st, 1, 2).kind == RW_VERDICT_BREACH;
    CHECK(!any);
    free(st);
}

static void test_calibration(void)
{
    const double alphas[] = {1e-2, 1e-3};
    long ev;
    for (int a = 0; a < 2; a++) {
        double alpha = alphas[a];
        /* ~4 expected errors per window */
        double rate = calibrate(400, alpha, 400, 600, 100 + a, &ev);
        CHECK(ev >= 200000);
        CHECK(rate <= 2 * alpha);
        CHECK(rate >= alpha / 2);
        /* low traffic: ~0.2 expected errors per window */
        rate = calibrate(20, alpha, 400, 600, 200 + a, &ev);
        CHECK(ev >= 200000);
        CHECK(rate <= 2 * alpha);
    }
}

/* ---- verdict fields for the engine's BH step -------------------------- */

/* Everything the engine reads without words must not depend on words. */
static void check_quiet_agrees(const void *params, const void *state, struct rw_obs o)
{
    struct rw_verdict a, b;
    o.words = 1;
    D->eval(params, state, &o, &a);
    o.words = 0;
    D->eval(params, state, &o, &b);
    CHECK_INT(a.kind, b.kind);
    CHECK((a.p == b.p) || (isnan(a.p) && isnan(b.p)));
    CHECK((a.expected == b.expected) || (isnan(a.expected) && isnan(b.expected)));
    CHECK_INT(a.big, b.big);
    CHECK_INT(a.shrunk, b.shrunk);
    CHECK_INT(a.base_windows, b.base_windows);
}

static void test_p_and_fields(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK(D->flags & RW_DET_PVALUE);
    void *st = new_state(params);
    struct rw_verdict v = window(params, st, 1, 100);
    CHECK(isnan(v.p));
    CHECK_INT(v.big, 0);
    CHECK_INT(v.shrunk, 0);
    CHECK_INT(v.base_windows, 0);
    CHECK_STR(v.test, "conditional Poisson rate test (mid-p)");
    for (int i = 0; i < 59; i++)
        window(params, st, 4, 400);
    /* e / gate table at 400 views, baseline 1%: p == score always; big
     * needs >= 5 errors and >= 2x the rate (8); a breach needs p < alpha. */
    const uint32_t es[] = {0, 4, 7, 8, 12, 20, 40};
    for (size_t j = 0; j < sizeof es / sizeof es[0]; j++) {
        v = peek(params, st, es[j], 400);
        CHECK(v.kind != RW_VERDICT_INSUFFICIENT);
        CHECK(v.p == v.score);
        CHECK(v.p >= 0 && v.p <= 1);
        CHECK_INT(v.big, es[j] >= 8);
        CHECK_INT(v.kind == RW_VERDICT_BREACH, v.p < 1e-4 && v.big);
        CHECK_INT(v.shrunk, 0);
        CHECK_INT(v.base_windows, 60);
        CHECK_STR(v.base, "mean rate of last 60 windows");
        check_quiet_agrees(params, st, obs(es[j], 400));
    }
    CHECK(peek(params, st, 8, 400).p > 1e-4);   /* big, not significant */
    CHECK(peek(params, st, 40, 400).p < 1e-15); /* both */
    free(st);
}

/* The negative-binomial form (used with the parent's fractional prior)
 * equals the binomial mid-p for whole counts, and the detector's p with a
 * fractional baseline lies between the binomial p-values of its floor and
 * ceiling. */
static double binom_midp(double E, unsigned e, double pi)
{
    unsigned n = (unsigned)E + e;
    return gsl_cdf_binomial_Q(e, pi, n) + 0.5 * gsl_ran_binomial_pdf(e, pi, n);
}

static void test_midp_identity(void)
{
    /* the identity, on GSL alone */
    const double Es[] = {0, 2, 9, 240};
    for (size_t i = 0; i < sizeof Es / sizeof Es[0]; i++)
        for (unsigned e = 1; e < 12; e++) {
            double V = 370, x = 50, q = V / (V + x);
            double nb = gsl_cdf_negative_binomial_Q(e, q, Es[i] + 1) +
                        gsl_ran_negative_binomial_pdf(e, q, Es[i] + 1) * (1 - 0.5 / q);
            CHECK_NEAR(nb / binom_midp(Es[i], e, 1 - q), 1, 1e-12);
        }

    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_baseline_views", 0);
    void *st = new_state(params);
    for (int i = 0; i < 10; i++)
        window(params, st, i % 3, 37);
    /* own baseline E = 9 sessions in V = 370 views; window x = 50 */
    for (unsigned e = 1; e < 12; e++)
        CHECK_NEAR(peek(params, st, e, 50).p / binom_midp(9, e, 50.0 / 420), 1, 1e-12);
    free(st);

    /* fractional: a new page under a parent with 7 in 300 views, top-up to
     * 200 views -> E' = 4.67 */
    rw_options_defaults(D->options, params);
    void *parent = new_state(params), *child = new_state(params);
    window(params, parent, 7, 300);
    for (unsigned e = 1; e < 12; e++) {
        struct rw_obs o = obs(e, 20);
        o.parent = parent;
        struct rw_verdict v;
        D->eval(params, child, &o, &v);
        CHECK_INT(v.shrunk, 1);
        double pi = 20.0 / 220;
        CHECK(v.p > binom_midp(4, e, pi) && v.p < binom_midp(5, e, pi));
    }
    free(parent);
    free(child);
}

/* ---- shrinkage --------------------------------------------------------- */

static void test_shrinkage(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *parent = new_state(params), *child = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, parent, 4, 400); /* 1% on 24000 views */

    /* A brand-new quiet page: no history of its own. */
    struct rw_obs o = obs(5, 10);
    o.parent = parent;
    struct rw_verdict v;
    D->eval(params, child, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH); /* 5 erring users in 10 views */
    CHECK_INT(v.shrunk, 1);
    CHECK_INT(v.base_windows, 0);
    CHECK_NEAR(v.expected, 0.01, 1e-12);
    CHECK(v.p < 1e-4 && v.big);
    CHECK_STR(v.base, "0 own windows + parent rate for 200 views");
    /* prior: 2 errors in 200 views; x = 10: P(NB(3, 200/210) >= 5)-ish */
    double q = 200.0 / 210;
    double want = gsl_cdf_negative_binomial_Q(5, q, 3) +
                  gsl_ran_negative_binomial_pdf(5, q, 3) * (1 - 0.5 / q);
    CHECK_NEAR(v.p / want, 1, 1e-12);
    printf("shrinkage: 5 erring users in 10 views on a new page, parent 1%%: p=%.2g\n", v.p);
    check_quiet_agrees(params, child, o);
    /* One or two erring users are not an incident. */
    o = obs(2, 10);
    o.parent = parent;
    D->eval(params, child, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_INT(v.shrunk, 1);
    /* Without the parent: no baseline, no verdict. */
    o = obs(5, 10);
    D->eval(params, child, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_INT(v.shrunk, 0);
    CHECK(strstr(v.why, "baseline has 0 views") != NULL);

    /* The prior fades: 150 own views (no errors) + 50 at the parent's 1%. */
    o = obs(0, 50);
    o.parent = parent;
    for (int i = 0; i < 3; i++)
        step(params, child, o);
    o = obs(1, 10);
    o.parent = parent;
    D->eval(params, child, &o, &v);
    CHECK_INT(v.shrunk, 1);
    CHECK_NEAR(v.expected, 0.5 / 200, 1e-12);
    CHECK_STR(v.base, "3 own windows + parent rate for 50 views");
    /* 200 own views: the page's own baseline, the parent is ignored. */
    step(params, child, obs(0, 50));
    D->eval(params, child, &o, &v);
    CHECK_INT(v.shrunk, 0);
    CHECK_NEAR(v.expected, 0, 0);
    CHECK_STR(v.base, "mean rate of last 4 windows");

    /* A parent without a baseline lends nothing. */
    void *young = new_state(params), *fresh = new_state(params);
    window(params, young, 1, 150);
    o = obs(5, 10);
    o.parent = young;
    D->eval(params, fresh, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_INT(v.shrunk, 0);
    /* A parent smaller than the top-up lends all it has: min_baseline 500,
     * parent 400 views -> 400 pseudo-views, 400 < 500: not enough. */
    set(params, "min_baseline_views", 300);
    window(params, young, 1, 150); /* parent: 2 in 300 */
    D->eval(params, fresh, &o, &v);
    CHECK_INT(v.shrunk, 1);
    CHECK_STR(v.base, "0 own windows + parent rate for 300 views");
    free(young);
    free(fresh);

    /* The default error_spike rule on a brand-new page with 2 views a
     * minute under a 1% parent: 6 erring users in its first 5 windows fire,
     * 5 do not (alpha 1e-6). */
    for (int extra = 0; extra < 2; extra++) {
        rw_options_defaults(D->options, params);
        set(params, "alpha", 1e-6);
        set(params, "min_errors", 4);
        set(params, "min_ratio", 3);
        set(params, "span", 5);
        set(params, "history", 120);
        void *par = new_state(params), *pg = new_state(params);
        for (int i = 0; i < 120; i++)
            window(params, par, 4, 400);
        for (int i = 0; i < 5; i++) {
            o = obs(i == 4 ? 1 + extra : 1, 2);
            o.parent = par;
            v = step(params, pg, o);
            CHECK_INT(v.shrunk, 1);
            CHECK_INT(v.kind, i == 4 && extra ? RW_VERDICT_BREACH : RW_VERDICT_OK);
        }
        printf("shrinkage: new page, default error_spike, %d erring users in 10 views: p=%.2g\n",
               5 + extra, v.p);
        free(par);
        free(pg);
    }
    free(parent);
    free(child);
}

/* New children (fresh state) under warmed parents, same error rate: the
 * false-alarm rate over the windows evaluated with the parent's prior.
 * Returns the rate; `mult` scales the child's error rate. */
static double calibrate_shrunk(double child_views, double rate, double mult, double alpha,
                               int parents, int children, unsigned long seed, long *evals_out)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "alpha", alpha);
    set(params, "min_errors", 0);
    set(params, "min_ratio", 1);
    size_t sz = D->state_size(params);
    void *par = malloc(sz), *ch = malloc(sz);
    if (!par || !ch)
        abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    long evals = 0, breaches = 0, unshrunk = 0;
    for (int pi = 0; pi < parents; pi++) {
        D->init(params, par);
        for (int t = 0; t < 60; t++) {
            unsigned v = gsl_ran_poisson(r, 400);
            window(params, par, gsl_ran_poisson(r, rate * v), v);
        }
        for (int c = 0; c < children; c++) {
            D->init(params, ch);
            for (int t = 0; t < 200; t++) {
                unsigned v = gsl_ran_poisson(r, child_views);
                struct rw_obs o = obs(gsl_ran_poisson(r, mult * rate * v), v);
                o.parent = par;
                o.words = 0;
                struct rw_verdict out;
                D->eval(params, ch, &o, &out);
                if (!out.shrunk)
                    break; /* its own baseline from here on */
                if (out.kind != RW_VERDICT_INSUFFICIENT)
                    evals++;
                else
                    unshrunk++;
                breaches += out.kind == RW_VERDICT_BREACH;
                D->learn(params, ch, &o, &out);
            }
        }
    }
    CHECK_INT(unshrunk, 0);
    double fa = (double)breaches / (double)evals;
    printf("shrunk calibration child views~Poisson(%g), rate %g%% (parent %g%%), alpha=%g: "
           "measured %.3g (x%.2f, %ld evals)\n",
           child_views, 100 * mult * rate, 100 * rate, alpha, fa, fa / alpha, evals);
    gsl_rng_free(r);
    free(par);
    free(ch);
    *evals_out = evals;
    return fa;
}

/* The prior is conservative: on top of the parent's pseudo-errors the test
 * keeps its flat-prior error (the NB shape is E + E0 + 1, as in the
 * conditional test), and small counts are discrete. Asserted: never above
 * 2 alpha, and not mute (>= alpha/3) at ~1 expected error per window. */
static void test_shrunk_calibration(void)
{
    const double alphas[] = {1e-2, 1e-3};
    long ev;
    for (int a = 0; a < 2; a++) {
        double alpha = alphas[a];
        /* ~1 expected erring user per window, ~10 windows on the prior */
        double fa = calibrate_shrunk(20, 0.05, 1, alpha, 200, 100, 300 + a, &ev);
        CHECK(ev >= 150000);
        CHECK(fa <= 2 * alpha && fa >= alpha / 3);
        /* ~0.25 per window, ~40 windows */
        fa = calibrate_shrunk(5, 0.05, 1, alpha, 100, 50, 310 + a, &ev);
        CHECK(ev >= 150000);
        CHECK(fa <= 2 * alpha);
        /* 1% on 20 views: ~0.2 per window */
        fa = calibrate_shrunk(20, 0.01, 1, alpha, 200, 100, 320 + a, &ev);
        CHECK(fa <= 2 * alpha);
        /* For the record (docs): a page that errs twice as often as its
         * parent, judged by the parent's rate while its own views are few. */
        fa = calibrate_shrunk(20, 0.05, 2, alpha, 50, 100, 330 + a, &ev);
        CHECK(fa > 2 * alpha);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    gsl_set_error_handler_off();
    test_options();
    test_warmup();
    test_quiet_and_busy_page();
    test_step_x5();
    test_permanent_change();
    test_gates();
    test_zero_views();
    test_band_edge();
    test_session_burst();
    test_span_quiet_page();
    test_p_and_fields();
    test_midp_identity();
    test_shrinkage();
    test_calibration();
    test_shrunk_calibration();
    TEST_DONE();
}
