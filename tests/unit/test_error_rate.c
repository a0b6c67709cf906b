/* Unit tests for detectors/error_rate.c: warm-up, the quiet-page and
 * busy-page examples, a x5 step, the min_errors and min_ratio gates, zero
 * views, learning around breaches, the band edge, and the false-alarm
 * calibration on seeded Poisson data; the baseline in blocks against a
 * window-by-window reference model; direction down/both (conversion drops
 * of events per view): p-values, gates, band, words, shrinkage,
 * calibration and power. */
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
    char err[128];
    CHECK(D->params_size <= sizeof params);
    for (const struct rw_option *o = D->options; o->name; o++)
        CHECK(o->help && o->help[0]);
    rw_options_defaults(D->options, params);
    CHECK_INT(valid(params), 0);
    /* State: 48 bytes of sums and counters, nb = ceil(history / bw) + 1
     * blocks of (u32, u32, u32) with bw = ceil(history / 16) windows a
     * block, nb bytes of window counts (padded to 4), and span - 1 pending
     * windows of 12 bytes. Defaults (history 60): bw 4, 16 blocks. */
    CHECK_INT(D->state_size(params), 48 + 16 * 12 + 16);
    set(params, "span", 5);
    CHECK_INT(D->state_size(params), 48 + 16 * 12 + 16 + 4 * 12);
    /* the default error_spike rule: history 120 (bw 8), span 5 */
    set(params, "history", 120);
    CHECK_INT(D->state_size(params), 304);
    /* a conversion rule: history 240 (bw 15, 17 blocks), span 30 */
    set(params, "history", 240);
    set(params, "span", 30);
    CHECK_INT(D->state_size(params), 48 + 17 * 12 + 20 + 29 * 12);
    /* history <= 16: one window a block, the old exact ring */
    set(params, "history", 5);
    set(params, "span", 1);
    CHECK_INT(D->state_size(params), 48 + 6 * 12 + 8);
    set(params, "history", 1440); /* bw 90, 17 blocks */
    CHECK_INT(D->state_size(params), 48 + 17 * 12 + 20);
    CHECK(D->state_size(params) <= 300);
    rw_options_defaults(D->options, params);
    /* direction: up by default; down and both; nothing else */
    sets(params, "direction", "down");
    CHECK_INT(valid(params), 0);
    sets(params, "direction", "both");
    CHECK_INT(valid(params), 0);
    CHECK(rw_options_set_string(rw_options_find(D->options, "direction"), params, "sideways",
                                err, sizeof err) != 0);
    rw_options_defaults(D->options, params);
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
    /* 30 unlearned (history/2), then learned. The first learned one finds
     * 60 windows in the baseline, so the oldest block (4 windows) leaves:
     * after j learned the baseline holds 60 - 4 ceil(j/4) old windows and
     * j new ones; at j = 13 (436 errors in 57 x 400 views, 1.9%, 7.6
     * expected) 20 in 400 is no longer significant at 1e-4, so the alert
     * lasts 43 windows (44 with a window-by-window ring). */
    CHECK(run > 30 && run < 60);
    CHECK_INT(run, 43);
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

static double calibrate_dir(const char *dir, double mean_views, double rate, int span,
                            int history, double alpha, int series, int len, unsigned long seed,
                            long *evals_out);

/* Clean data: views ~ Poisson(mean_views), errors ~ Poisson(1% x views),
 * direction up, default history, span 1. `series` fresh series of `len`
 * windows, so warm-up is included. */
static double calibrate(double mean_views, double alpha, int series, int len, unsigned long seed,
                        long *evals_out)
{
    return calibrate_dir("up", mean_views, 0.01, 1, 60, alpha, series, len, seed, evals_out);
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

/* ---- the baseline in blocks -------------------------------------------- */

/* Reference model of what the baseline must be: window j leaves the span
 * at the learn of window j + span - 1 and is learned then unless a verdict
 * at j .. j + span - 1 breached (marked), through the same learn gate (a
 * marked window is learned after more than history/2 marked in a row); the
 * baseline is the last base_windows learned windows, base_windows in
 * [min(L, history - bw + 1), min(L, history)], L the windows learned so
 * far. Returns the number of breach verdicts. */
static int check_blocks(int history, int span, int len, double views, unsigned long seed,
                        int exact)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "history", history);
    set(params, "span", span);
    set(params, "min_errors", 3);
    CHECK_INT(valid(params), 0);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    uint32_t *ev = calloc((size_t)len, sizeof *ev), *vv = calloc((size_t)len, sizeof *vv);
    uint32_t *lv = calloc((size_t)len, sizeof *lv), *le = calloc((size_t)len, sizeof *le);
    char *br = calloc((size_t)len, 1);
    if (!ev || !vv || !lv || !le || !br)
        abort();
    int bw = (history + 15) / 16, nl = 0, breaches = 0, bad = 0, gated = 0;
    uint32_t run = 0;
    for (int t = 0; t < len; t++) {
        /* window j = t - span left the span at learn t - 1 */
        int j = t - span;
        if (j >= 0) {
            int marked = 0;
            for (int k = j; k < j + span; k++)
                marked |= br[k];
            gated += marked && run >= (uint32_t)history / 2;
            if (rw_learn_gate(&run, marked, (uint32_t)history)) {
                lv[nl] = vv[j];
                le[nl] = ev[j];
                nl++;
            }
        }
        /* an incident (x20) every 150 windows, 8 windows long */
        int inc = t > 2 * history && t % 150 < 8;
        vv[t] = 1 + (uint32_t)gsl_ran_poisson(r, views);
        ev[t] = (uint32_t)gsl_ran_poisson(r, (inc ? 0.2 : 0.01) * vv[t]);
        struct rw_verdict out = window(params, st, ev[t], vv[t]);
        br[t] = out.kind == RW_VERDICT_BREACH;
        breaches += br[t];
        int hi = nl < history ? nl : history;
        int lo = history - bw + 1 < hi ? history - bw + 1 : hi;
        if (exact)
            lo = hi;
        int b = (int)out.base_windows;
        if (b < lo || b > hi) {
            if (!bad++)
                fprintf(stderr, "history %d span %d t %d: base_windows %d not in [%d, %d]\n",
                        history, span, t, b, lo, hi);
            continue;
        }
        double se = 0, sv = 0;
        for (int k = nl - b; k < nl; k++) {
            se += le[k];
            sv += lv[k];
        }
        if (sv > 0 && !(fabs(out.expected - se / sv) <= 1e-12 * (se / sv) + 1e-300)) {
            if (!bad++)
                fprintf(stderr, "history %d span %d t %d: expected %.17g, reference %.17g\n",
                        history, span, t, out.expected, se / sv);
        }
    }
    CHECK_INT(bad, 0);
    if (gated)
        printf("blocks: history %d span %d: %d incident windows learned past the gate\n",
               history, span, gated);
    free(ev);
    free(vv);
    free(lv);
    free(le);
    free(br);
    gsl_rng_free(r);
    free(st);
    return breaches;
}

static void test_blocks(void)
{
    /* history <= 16: one window a block, exactly the last history windows */
    CHECK(check_blocks(5, 1, 800, 400, 41, 1) > 0);
    CHECK(check_blocks(16, 3, 800, 100, 42, 1) > 0);
    /* defaults; the default error_spike rule; odd sizes; the largest */
    CHECK(check_blocks(60, 1, 1500, 400, 43, 0) > 0);
    CHECK(check_blocks(120, 5, 1500, 40, 44, 0) > 0);
    CHECK(check_blocks(100, 3, 1500, 100, 45, 0) > 0);
    CHECK(check_blocks(17, 2, 800, 100, 46, 0) > 0);
    CHECK(check_blocks(240, 30, 2000, 20, 47, 0) > 0);
    CHECK(check_blocks(1440, 30, 4000, 20, 48, 0) > 0);

    /* base_windows cycles through history - bw + 1 .. history once warm */
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "history", 120); /* bw 8 */
    void *st = new_state(params);
    int seen[121] = {0};
    for (int i = 0; i < 400; i++) {
        struct rw_verdict v = window(params, st, 4, 400);
        if (i >= 120)
            seen[v.base_windows]++;
    }
    for (int b = 0; b <= 120; b++)
        CHECK_INT(seen[b] > 0, b >= 113 && b <= 120);
    free(st);
}

/* A window that would overflow a block's uint32_t sums closes it early: the
 * sums stay exact, the baseline only gets shorter (16 blocks of 2 windows
 * at 2e9 views a window). (With ~1e9 errors in the baseline GSL's binomial
 * cdf gives up: "p-value not computable", as before blocks.) */
static void test_block_overflow(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "history", 1440);
    void *st = new_state(params);
    double se = 0, sv = 0;
    struct rw_verdict v;
    for (int i = 0; i < 200; i++) {
        uint32_t views = 2000000000u + (uint32_t)i * 1000u, errors = 2000u + (uint32_t)i;
        v = window(params, st, errors, views);
        CHECK(v.base_windows <= 34);
        if (i == 199) {
            CHECK(v.base_windows >= 32);
            /* the baseline: the last base_windows windows before this one */
            for (int k = 199 - (int)v.base_windows; k < 199; k++) {
                se += 2000.0 + k;
                sv += 2000000000.0 + k * 1000.0;
            }
            CHECK_NEAR(v.expected / (se / sv), 1, 1e-12);
        }
    }
    CHECK_INT(v.kind, RW_VERDICT_OK);
    v = peek(params, st, 8000u, 2000000000u); /* x4 */
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    free(st);
}

/* ---- direction: drops of events per view --------------------------------- */

static double binom_lower_midp(double E, unsigned e, double pi)
{
    unsigned n = (unsigned)E + e;
    return gsl_cdf_binomial_P(e, pi, n) - 0.5 * gsl_ran_binomial_pdf(e, pi, n);
}

/* Checkout clicks per view: 0.30 on 100 views a window, then 12 in 140. */
static void test_down(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    sets(params, "direction", "down");
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 30, 100);
    struct rw_verdict v = peek(params, st, 12, 140);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_STR(v.test, "conditional Poisson rate test (lower mid-p)");
    CHECK_NEAR(v.value, 12.0 / 140, 1e-12);
    CHECK_NEAR(v.expected, 0.3, 1e-12);
    CHECK(isnan(v.high));
    CHECK(v.low > 12.0 / 140 && v.low < 0.15);
    CHECK_NEAR(v.p / binom_lower_midp(1800, 12, 140.0 / 6140), 1, 1e-12);
    CHECK(v.p < 1e-4 && v.p == v.score && v.big);
    CHECK_STR(v.why, "12 events in 140 views vs usual 0.30 per view, p=4.1e-08");
    printf("down: %s\n", v.why);
    check_quiet_agrees(params, st, obs(12, 140));
    /* 12 in 100 (30 expected) is p ~ 1e-4: not at the default alpha */
    CHECK_INT(peek(params, st, 12, 100).kind, RW_VERDICT_OK);
    /* the usual count and more are no drop; lower + upper mid-p = 1 */
    v = peek(params, st, 30, 100);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 0.4 && v.p < 0.6);
    v = peek(params, st, 60, 100);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 0.999);
    set(params, "min_ratio", 1);
    for (unsigned e = 0; e < 60; e += 7) {
        double pl = peek(params, st, e, 100).p;
        sets(params, "direction", "up");
        double pu = peek(params, st, e, 100).p;
        sets(params, "direction", "down");
        CHECK_NEAR(pl + pu, 1, e ? 1e-12 : 1); /* up gives 1 at e = 0 by convention */
    }
    set(params, "min_ratio", 2);
    /* band edge: low x views breaches, one more does not */
    for (uint32_t views = 20; views <= 20000; views *= 10) {
        v = peek(params, st, 0, views);
        if (views == 20) {
            /* expected 6: a drop to 0 is significant at 1e-4 only barely */
            CHECK(isnan(v.low) == (v.kind != RW_VERDICT_BREACH));
        }
        if (isnan(v.low))
            continue;
        uint32_t edge = (uint32_t)llround(v.low * views);
        CHECK_INT(peek(params, st, edge, views).kind, RW_VERDICT_BREACH);
        CHECK_INT(peek(params, st, edge + 1, views).kind, RW_VERDICT_OK);
    }
    /* direction up on the same baseline: a drop is fine */
    sets(params, "direction", "up");
    v = peek(params, st, 12, 140);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 0.99);
    free(st);
}

static void test_down_gates(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    sets(params, "direction", "down");
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 30, 100);
    /* min_errors is the EXPECTED count: 0 events in 10 views (3 expected)
     * is significant at alpha 0.1 but proves nothing */
    set(params, "alpha", 0.1);
    struct rw_verdict v = peek(params, st, 0, 10);
    CHECK(v.p < 0.1);
    CHECK_INT(v.big, 0);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(strstr(v.why, "expected 3.0 < min_errors 5") != NULL);
    CHECK(isnan(v.low));
    v = peek(params, st, 0, 20); /* 6 expected */
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    set(params, "min_errors", 7);
    CHECK_INT(peek(params, st, 0, 20).kind, RW_VERDICT_OK);
    set(params, "min_errors", 6);
    CHECK_INT(peek(params, st, 0, 20).kind, RW_VERDICT_BREACH);
    free(st);

    /* min_ratio: a big page at 0.30; 0.25 is wildly significant but not
     * below 0.30 / 2 */
    rw_options_defaults(D->options, params);
    sets(params, "direction", "down");
    st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 30000, 100000);
    v = peek(params, st, 25000, 100000);
    CHECK(v.p < 1e-20);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(strstr(v.why, "ratio > 1/2") != NULL);
    CHECK_NEAR(v.low, 0.15, 1e-12);
    CHECK_INT(peek(params, st, 15000, 100000).kind, RW_VERDICT_BREACH);
    CHECK_INT(peek(params, st, 15001, 100000).kind, RW_VERDICT_OK);
    set(params, "min_ratio", 1.1);
    CHECK_INT(peek(params, st, 25000, 100000).kind, RW_VERDICT_BREACH);
    set(params, "min_ratio", 0); /* no ratio gate */
    CHECK_INT(peek(params, st, 29000, 100000).kind, RW_VERDICT_BREACH);
    /* no views, no events: nothing to test */
    v = peek(params, st, 0, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    free(st);

    /* span: a quiet checkout page, 28 views a window at 0.30; five
     * windows of 2-3 clicks make the drop */
    rw_options_defaults(D->options, params);
    sets(params, "direction", "down");
    set(params, "span", 5);
    set(params, "history", 120);
    st = new_state(params);
    for (int i = 0; i < 130; i++)
        window(params, st, i % 5 == 2 || i % 5 == 4 ? 9 : 8, 28); /* 8.4 a window */
    int first = -1;
    for (int i = 0; i < 5; i++) {
        v = window(params, st, i % 2 ? 3 : 2, 28);
        if (v.kind == RW_VERDICT_BREACH && first < 0)
            first = i;
    }
    CHECK_INT(first, 3); /* 10 + 8 events in the 4th span, 42 expected */
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(strncmp(v.why, "12 events in 140 views over 5 windows vs usual 0.30 per view, p=",
                  64) == 0);
    printf("down, span 5: %s\n", v.why);
    free(st);
}

static void test_both(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    sets(params, "direction", "both");
    void *st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 30, 100);
    struct rw_verdict v = peek(params, st, 12, 140);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_STR(v.test, "conditional Poisson rate test (two-sided mid-p)");
    CHECK_NEAR(v.p / (2 * binom_lower_midp(1800, 12, 140.0 / 6140)), 1, 1e-12);
    CHECK(strstr(v.why, "12 events in 140 views vs usual 0.30 per view") != NULL);
    CHECK(isfinite(v.low) && isfinite(v.high) && v.low < 0.3 && v.high > 0.3);
    v = peek(params, st, 70, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.p / (2 * binom_midp(1800, 70, 100.0 / 6100)), 1, 1e-12);
    CHECK(strstr(v.why, "70 events in 100 views") != NULL);
    v = peek(params, st, 30, 100);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(v.p > 0.9 && v.p <= 1);
    /* each side's band at alpha/2 with its own gates */
    for (uint32_t views = 100; views <= 10000; views *= 10) {
        v = peek(params, st, 0, views);
        uint32_t lo = (uint32_t)llround(v.low * views), hi = (uint32_t)llround(v.high * views);
        CHECK_INT(peek(params, st, lo, views).kind, RW_VERDICT_BREACH);
        CHECK_INT(peek(params, st, lo + 1, views).kind, RW_VERDICT_OK);
        CHECK_INT(peek(params, st, hi, views).kind, RW_VERDICT_BREACH);
        CHECK_INT(peek(params, st, hi - 1, views).kind, RW_VERDICT_OK);
    }
    check_quiet_agrees(params, st, obs(12, 140));
    check_quiet_agrees(params, st, obs(70, 100));
    free(st);
}

/* Down with the parent's prior: a new page x device series of a page with
 * 0.30 clicks per view. */
static void test_down_shrinkage(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    sets(params, "direction", "down");
    void *parent = new_state(params), *child = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, parent, 30, 100);
    struct rw_obs o = obs(0, 40); /* 12 expected, none came */
    o.parent = parent;
    struct rw_verdict v;
    D->eval(params, child, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.shrunk, 1);
    CHECK_NEAR(v.expected, 0.3, 1e-12);
    /* prior: 60 events in 200 views; NB(61, 200/240) at 0: P(0)/2q */
    double q = 200.0 / 240;
    CHECK_NEAR(v.p / (0.5 * gsl_ran_negative_binomial_pdf(0, q, 61) / q), 1, 1e-12);
    check_quiet_agrees(params, child, o);
    o = obs(9, 40);
    o.parent = parent;
    D->eval(params, child, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_INT(v.shrunk, 1);
    /* fractional prior: the lower mid-p lies between those of its floor
     * and ceiling (more baseline events, smaller lower p) */
    void *small = new_state(params);
    window(params, small, 7, 300); /* top-up: 7/300 x 200 = 4.67 events */
    for (unsigned e = 0; e < 6; e++) {
        o = obs(e, 20);
        o.parent = small;
        D->eval(params, child, &o, &v);
        double pi = 20.0 / 220;
        CHECK(v.p < binom_lower_midp(4, e, pi) && v.p > binom_lower_midp(5, e, pi));
    }
    /* and the NB lower form equals the binomial for whole E (GSL alone) */
    const double Es[] = {0, 2, 9, 240};
    for (size_t i = 0; i < sizeof Es / sizeof Es[0]; i++)
        for (unsigned e = 0; e < 12; e++) {
            double V = 370, x = 50, qq = V / (V + x);
            double nb = (e ? gsl_cdf_negative_binomial_P(e - 1, qq, Es[i] + 1) : 0) +
                        0.5 * gsl_ran_negative_binomial_pdf(e, qq, Es[i] + 1) / qq;
            CHECK_NEAR(nb / binom_lower_midp(Es[i], e, 1 - qq), 1, 1e-12);
        }
    free(small);
    free(parent);
    free(child);
}

/* Clean data at `rate` events per view, views ~ Poisson(mean_views) (empty
 * windows included); fresh series, warm-up included; gates off. Returns
 * the per-window false-alarm rate over evaluated windows. */
static double calibrate_dir(const char *dir, double mean_views, double rate, int span,
                            int history, double alpha, int series, int len, unsigned long seed,
                            long *evals_out)
{
    double params[64];
    rw_options_defaults(D->options, params);
    sets(params, "direction", dir);
    set(params, "alpha", alpha);
    set(params, "span", span);
    set(params, "history", history);
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
            /* step(): eval with words, the quiet eval must agree, learn */
            struct rw_verdict out = window(params, st, gsl_ran_poisson(r, rate * v), v);
            if (out.kind != RW_VERDICT_INSUFFICIENT)
                evals++;
            breaches += out.kind == RW_VERDICT_BREACH;
        }
    }
    double fa = (double)breaches / (double)evals;
    printf("calibration %s: views~Poisson(%g) rate %g/view span %d history %d alpha=%g: "
           "measured %.3g (x%.2f, %ld evals)\n",
           dir, mean_views, rate, span, history, alpha, fa, fa / alpha, evals);
    gsl_rng_free(r);
    free(st);
    if (evals_out)
        *evals_out = evals;
    return fa;
}

static void test_down_calibration(void)
{
    const char *const dirs[] = {"down", "both"};
    const double alphas[] = {1e-2, 1e-3};
    for (int d = 0; d < 2; d++)
        for (int a = 0; a < 2; a++) {
            double al = alphas[a];
            unsigned long sd = 500 + 10 * (unsigned long)d + (unsigned long)a;
            int n = a ? 400 : 150; /* series of 600 windows */
            /* 50 views: 15 expected events a window (150 over span 10) */
            double fa = calibrate_dir(dirs[d], 50, 0.3, 1, 60, al, n, 600, sd, NULL);
            CHECK(fa <= 2 * al && fa >= al / 2);
            fa = calibrate_dir(dirs[d], 50, 0.3, 10, 60, al, n, 600, sd + 100, NULL);
            CHECK(fa <= 2 * al && fa >= al / 2);
            /* 5 views: 15 expected over span 10 */
            fa = calibrate_dir(dirs[d], 5, 0.3, 10, 60, al, n, 600, sd + 200, NULL);
            CHECK(fa <= 2 * al && fa >= al / 2);
            /* 1.5 expected a window: too discrete to reach alpha (a drop
             * to 0 events is p ~ 0.1); only the bound holds */
            fa = calibrate_dir(dirs[d], 5, 0.3, 1, 60, al, n, 600, sd + 300, NULL);
            CHECK(fa <= 2 * al);
        }
    /* the conversion rule's geometry: span 30, history 240 */
    double fa = calibrate_dir("down", 4.7, 0.3, 30, 240, 1e-3, 300, 800, 590, NULL);
    CHECK(fa <= 2e-3 && fa >= 0.5e-3);
}

/* Power: 0.30 -> 0.12 clicks per view at ~4.7 views a window, span 30,
 * history 240, alpha 1e-4, default gates. Windows from the drop to the
 * first breach, over seeded series. */
static void test_down_power(void)
{
    const char *const dirs[] = {"down", "both"};
    for (int d = 0; d < 2; d++) {
        double params[64];
        rw_options_defaults(D->options, params);
        sets(params, "direction", dirs[d]);
        set(params, "span", 30);
        set(params, "history", 240);
        set(params, "alpha", 1e-4);
        void *st = malloc(D->state_size(params));
        if (!st)
            abort();
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 700 + (unsigned long)d);
        enum { SERIES = 300, AFTER = 120 };
        int delay[SERIES], fa = 0, by30 = 0, by40 = 0;
        for (int s = 0; s < SERIES; s++) {
            D->init(params, st);
            delay[s] = AFTER + 1;
            for (int t = 0; t < 300 + AFTER; t++) {
                double rate = t < 300 ? 0.3 : 0.12;
                unsigned v = gsl_ran_poisson(r, 4.7);
                struct rw_obs o = obs(gsl_ran_poisson(r, rate * v), v);
                o.words = 0;
                struct rw_verdict out;
                D->eval(params, st, &o, &out);
                if (out.kind == RW_VERDICT_BREACH) {
                    if (t < 300) {
                        fa++;
                    } else if (delay[s] > AFTER) {
                        delay[s] = t - 300 + 1; /* windows of the drop seen */
                        break;
                    }
                }
                D->learn(params, st, &o, &out);
            }
            by30 += delay[s] <= 30;
            by40 += delay[s] <= 40;
        }
        /* median and 90th percentile */
        for (int i = 1; i < SERIES; i++)
            for (int j = i; j > 0 && delay[j - 1] > delay[j]; j--) {
                int tmp = delay[j];
                delay[j] = delay[j - 1];
                delay[j - 1] = tmp;
            }
        printf("power %s: 0.30 -> 0.12 per view, views~Poisson(4.7), span 30, alpha 1e-4: "
               "found by 30 windows %d/%d, by 40 %d/%d, median %d, p10 %d, p90 %d; "
               "%d false alarms in %d windows before\n",
               dirs[d], by30, SERIES, by40, SERIES, delay[SERIES / 2], delay[SERIES / 10],
               delay[SERIES * 9 / 10], fa, SERIES * 300);
        /* down: median 26, 76 % by 30, 88 % by 40; both (alpha/2 a side) a
         * little later */
        CHECK(by40 >= SERIES * 8 / 10);
        CHECK(delay[SERIES / 2] <= 30);
        CHECK(fa <= 2 * 1e-4 * SERIES * 300);
        gsl_rng_free(r);
        free(st);
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
    test_blocks();
    test_block_overflow();
    test_down();
    test_down_gates();
    test_both();
    test_down_shrinkage();
    test_down_calibration();
    test_down_power();
    TEST_DONE();
}
