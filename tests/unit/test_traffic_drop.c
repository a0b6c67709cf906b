/* Unit tests for detectors/traffic_drop.c: warm-up, zero views, the
 * min_drop gate, small series, the band edge, learning around outages, and
 * the false-alarm calibration on seeded Poisson and overdispersed traffic. */
#include "detectors/detector.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>

static const struct rw_detector *D = &rw_detector_traffic_drop;
#include "detector_util.h"




static struct rw_verdict peek(const void *params, const void *state, uint32_t views)
{
    struct rw_obs o = {.ts_end = 0, .value = views, .n = views, .views = views, .errors = 0, .words = 1};
    struct rw_verdict out;
    memset(&out, 0xA5, sizeof out);
    D->eval(params, state, &o, &out);
    return out;
}

static struct rw_verdict window(const void *params, void *state, uint32_t views)
{
    return step(params, state,
                (struct rw_obs){.value = views, .n = views, .views = views, .words = 1});
}

/* Views with mean `mean`: Poisson, or gamma-Poisson (negative binomial)
 * with variance mean + mean^2 / shape when shape > 0. */
static uint32_t traffic(gsl_rng *r, double mean, double shape)
{
    double mu = shape > 0 ? mean * gsl_ran_gamma(r, shape, 1.0 / shape) : mean;
    return gsl_ran_poisson(r, mu);
}

static void test_options(void)
{
    double params[64];
    CHECK(D->params_size <= sizeof params);
    for (const struct rw_option *o = D->options; o->name; o++)
        CHECK(o->help && o->help[0]);
    rw_options_defaults(D->options, params);
    CHECK_INT(valid(params), 0);
    /* Default state: 20 bytes of counters + 60 x u32 ring + 60 x u8 slot
     * numbers in views order; span 3 adds 2 x 8. Slot numbers take 2 bytes
     * beyond 256 windows; the pending windows are 4-byte aligned. */
    CHECK_INT(D->state_size(params), 20 + 60 * 5);
    set(params, "span", 3);
    CHECK_INT(D->state_size(params), 20 + 60 * 5 + 2 * 8);
    set(params, "history", 61);
    CHECK_INT(D->state_size(params), 20 + 308 + 2 * 8);
    set(params, "history", 256);
    CHECK_INT(D->state_size(params), 20 + 256 * 5 + 2 * 8);
    set(params, "history", 257);
    CHECK_INT(D->state_size(params), 20 + 1544 + 2 * 8); /* 257 x 6 = 1542, aligned */
    set(params, "history", 60);
    set(params, "span", 1);
    set(params, "min_history", 100);
    CHECK_INT(valid(params), -EINVAL);
    char err[128];
    CHECK_INT(rw_options_set_number(rw_options_find(D->options, "min_drop"), params, 1.5, err,
                                    sizeof err),
              -ERANGE);
}

static void test_warmup_and_zero(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);
    for (int i = 0; i < 20; i++) {
        struct rw_verdict v = window(params, st, traffic(r, 500, 0));
        CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
        CHECK_INT(v.score_kind, RW_SCORE_P);
        CHECK(strstr(v.why, "warming up") != NULL);
        CHECK(isnan(v.high) && isnan(v.low) && isnan(v.score));
    }
    int false_alarms = 0;
    for (int i = 0; i < 200; i++)
        false_alarms += window(params, st, traffic(r, 500, 0)).kind == RW_VERDICT_BREACH;
    CHECK_INT(false_alarms, 0);

    struct rw_verdict v = peek(params, st, 0);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.value, 0, 0);
    CHECK_INT(v.n, 0);
    CHECK_NEAR(v.expected, 500, 25);
    CHECK(v.score < 1e-50);
    CHECK(isnan(v.high));
    CHECK(v.low >= 0 && v.low <= 0.5 * v.expected);
    CHECK(strstr(v.why, "0 views, expected") != NULL);

    /* A 30% dip is wildly significant at these counts but smaller than
     * min_drop (50%); a 60% dip breaches. */
    v = peek(params, st, 350);
    CHECK(v.score < 1e-6);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK(strstr(v.why, "min_drop") != NULL);
    CHECK_INT(peek(params, st, 200).kind, RW_VERDICT_BREACH);
    gsl_rng_free(r);
    free(st);
}

static void test_small_series(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 22);
    for (int i = 0; i < 60; i++)
        window(params, st, traffic(r, 8, 0));
    struct rw_verdict v = peek(params, st, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(v.expected < 20);
    CHECK(strstr(v.why, "min_expected") != NULL);
    gsl_rng_free(r);
    free(st);
}

/* low is the largest breaching view count. */
static void test_band_edge(void)
{
    double params[64];
    const double drops[] = {0.5, 0};
    for (int d = 0; d < 2; d++) {
        rw_options_defaults(D->options, params);
        set(params, "min_drop", drops[d]);
        void *st = new_state(params);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 23);
        for (int i = 0; i < 60; i++)
            window(params, st, traffic(r, 1000, 10));
        struct rw_verdict v = peek(params, st, 1000);
        CHECK_INT(v.kind, RW_VERDICT_OK);
        CHECK(v.low >= 0 && v.low < v.expected);
        uint32_t edge = (uint32_t)v.low;
        CHECK_INT(peek(params, st, edge).kind, RW_VERDICT_BREACH);
        CHECK_INT(peek(params, st, edge + 1).kind, RW_VERDICT_OK);
        if (d == 1) /* with min_drop 0 the edge is the test's alone */
            CHECK(peek(params, st, edge + 1).score >= 1e-4);
        gsl_rng_free(r);
        free(st);
    }
}

/* An outage is not learned for history/2 windows; a drop that lasts is
 * then folded in until the median is the new level. */
static void test_outage_learning(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 24);
    for (int i = 0; i < 60; i++)
        window(params, st, traffic(r, 400, 0));
    size_t sz = D->state_size(params);
    void *copy = malloc(sz);
    if (!copy)
        abort();
    memcpy(copy, st, sz);
    struct rw_verdict v = window(params, st, 0);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    /* ring, count and head unchanged; only the breach counter moved */
    CHECK(memcmp((char *)copy + 12, (char *)st + 12, sz - 12) == 0);
    CHECK(memcmp(copy, st, 8) == 0);

    int run = 1;
    for (int i = 0; i < 200; i++) {
        v = window(params, st, 0);
        if (v.kind != RW_VERDICT_BREACH)
            break;
        run++;
    }
    printf("outage: %d breach windows before the drop was accepted\n", run);
    /* 30 unlearned, then zeros enter the ring. At half of it the median
     * sits between 0 and 400 with a huge spread (no breach); one more and
     * the median is 0 < min_expected: insufficient from then on. */
    CHECK(run >= 55 && run <= 61);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    v = window(params, st, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_NEAR(v.expected, 0, 0);
    free(copy);
    gsl_rng_free(r);
    free(st);
}

/* ---- calibration -------------------------------------------------------- */

static double calibrate_span(double mean, double shape, double alpha, int series, int len,
                             unsigned long seed, int span)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "alpha", alpha);
    set(params, "span", span);
    set(params, "min_drop", 0);
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
            struct rw_verdict v = window(params, st, traffic(r, mean, shape));
            evals += v.kind != RW_VERDICT_INSUFFICIENT;
            breaches += v.kind == RW_VERDICT_BREACH;
        }
    }
    double rate = (double)breaches / (double)evals;
    if (shape > 0)
        printf("calibration views~NB(mean %g, var %g) span %d alpha=%g: measured %.3g (x%.2f, %ld "
               "evals)\n",
               mean, mean + mean * mean / shape, span, alpha, rate, rate / alpha, evals);
    else
        printf("calibration views~Poisson(%g) span %d alpha=%g: measured %.3g (x%.2f, %ld evals)\n",
               mean, span, alpha, rate, rate / alpha, evals);
    CHECK(evals >= 150000);
    gsl_rng_free(r);
    free(st);
    return rate;
}

static double calibrate(double mean, double shape, double alpha, int series, int len,
                        unsigned long seed)
{
    return calibrate_span(mean, shape, alpha, series, len, seed, 1);
}

/* A page with ~8 views a window goes dark: one empty window proves nothing
 * at alpha 1e-6, three empty windows summed over a span of 3 do. */
static void test_span_outage(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "alpha", 1e-6);
    set(params, "min_drop", 0.6);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 77);
    for (int span = 1; span <= 3; span += 2) {
        set(params, "span", span);
        void *st = new_state(params);
        for (int t = 0; t < 60; t++)
            CHECK(window(params, st, traffic(r, 8, 0)).kind != RW_VERDICT_BREACH);
        int first = -1;
        for (int t = 0; t < 6; t++) {
            struct rw_verdict v = window(params, st, 0);
            if (v.kind == RW_VERDICT_BREACH && first < 0) {
                first = t;
                CHECK(strstr(v.why, "views in 3 windows") != NULL);
                CHECK_NEAR(v.value, 0, 0);
                CHECK(v.expected >= 6 && v.expected <= 10);
            }
        }
        if (span == 1)
            CHECK_INT(first, -1); /* expected 8 < min_expected 20 */
        else
            CHECK(first >= 1 && first <= 2);
        free(st);
    }
    gsl_rng_free(r);
}

/* The incremental order gives the same median as GSL over the ring,
 * through evictions and duplicates, with byte slot numbers (history 25, 256)
 * and two-byte ones (history 300), and a span (the pending windows after the
 * order must not overlap it). */
static void check_median_matches_gsl(int history, int span, int len, uint32_t spread)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "history", history);
    set(params, "min_history", 5);
    set(params, "min_expected", 0);
    set(params, "span", span);
    CHECK_INT(valid(params), 0);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5 + (unsigned long)history);
    static double hist[4000], buf[1440];
    int bad = 0;
    for (int t = 0; t < len; t++) {
        /* >= 20 views: the median is the expectation (below, the clipped
         * mean); few distinct values, so ties are common */
        uint32_t v = 20 + (uint32_t)gsl_rng_uniform_int(r, spread) + (t > len / 2 ? 100 : 0);
        int learned = t - (span - 1); /* windows that left the span */
        if (learned >= 5) {
            int k = learned < history ? learned : history;
            for (int i = 0; i < k; i++)
                buf[i] = hist[learned - k + i];
            double m = gsl_stats_median(buf, 1, (size_t)k);
            struct rw_verdict pv = peek(params, st, v);
            if (pv.expected != m && bad++ < 5)
                fprintf(stderr, "history %d t=%d: expected %g, gsl median %g\n", history, t,
                        pv.expected, m);
        }
        hist[t] = v;
        struct rw_verdict ok = {.kind = RW_VERDICT_OK};
        struct rw_obs o = {.views = v, .n = v, .value = v};
        D->learn(params, st, &o, &ok);
    }
    CHECK_INT(bad, 0);
    gsl_rng_free(r);
    free(st);
}

static void test_median_matches_gsl(void)
{
    check_median_matches_gsl(25, 1, 400, 40);
    check_median_matches_gsl(256, 3, 1200, 15);
    check_median_matches_gsl(300, 5, 1500, 40);
}

static void test_calibration(void)
{
    /* Series of 100 windows with default history 60 / min_history 20:
     * 80 evaluations each, 40 of them during warm-up. */
    const double alphas[] = {1e-2, 1e-3};
    for (int a = 0; a < 2; a++) {
        double alpha = alphas[a];
        unsigned long seed = 1000 * (unsigned long)(a + 1);
        /* large counts: within [alpha/2, 2 alpha] */
        double rate = calibrate(1000, 0, alpha, 2000, 100, seed + 1); /* Poisson */
        CHECK(rate >= alpha / 2 && rate <= 2 * alpha);
        rate = calibrate(1000, 20, alpha, 2000, 100, seed + 2); /* CV 22% */
        CHECK(rate >= alpha / 2 && rate <= 2 * alpha);
        rate = calibrate(300, 300, alpha, 2000, 100, seed + 3); /* var = 2 x mean */
        CHECK(rate >= alpha / 2 && rate <= 2 * alpha);
        /* small counts: discreteness makes it conservative, never liberal */
        rate = calibrate(30, 0, alpha, 2000, 100, seed + 4);
        CHECK(rate <= 2 * alpha);
        /* spans: overlapping sums of 3 / 5 windows keep the promise */
        rate = calibrate_span(10, 0, alpha, 2000, 100, seed + 5, 3);
        CHECK(rate <= 2 * alpha);
        rate = calibrate_span(300, 300, alpha, 2000, 100, seed + 6, 5);
        CHECK(rate >= alpha / 2 && rate <= 2 * alpha);
        /* a counter of 1.5 events a window (expected: the clipped mean, the
         * median of such counts is biased) summed over 30 windows */
        rate = calibrate_span(1.5, 0, alpha, 2000, 150, seed + 7, 30);
        CHECK(rate <= 2 * alpha);
    }
}

/* ---- verdict fields for the engine's BH step -------------------------- */

static void test_p_and_fields(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK(D->flags & RW_DET_PVALUE);
    void *st = new_state(params), *parent = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 25);
    for (int i = 0; i < 45; i++) {
        struct rw_verdict v = window(params, st, traffic(r, 500, 50));
        CHECK_STR(v.test, "negative binomial lower tail");
        CHECK_INT(v.shrunk, 0);
        CHECK_INT(v.base_windows, i);
        if (i < 20)
            CHECK(isnan(v.p) && v.big == 0);
        else
            CHECK(v.p == v.score);
    }
    for (int i = 0; i < 60; i++)
        window(params, parent, traffic(r, 5000, 50));
    const uint32_t views[] = {0, 100, 200, 240, 260, 300, 400, 500, 700};
    for (size_t j = 0; j < sizeof views / sizeof views[0]; j++) {
        struct rw_verdict v = peek(params, st, views[j]);
        CHECK(v.kind != RW_VERDICT_INSUFFICIENT);
        CHECK(v.p == v.score && v.p >= 0 && v.p <= 1);
        CHECK_INT(v.big, views[j] <= 0.5 * v.expected);
        CHECK_INT(v.kind == RW_VERDICT_BREACH, v.p < 1e-4 && v.big);
        CHECK_INT(v.shrunk, 0);
        CHECK_INT(v.base_windows, 45);
        CHECK_STR(v.base, "median of last 45 windows");
        /* words or not, parent or not: the same decision and p */
        struct rw_obs o = {.value = views[j], .n = views[j], .views = views[j], .words = 0};
        struct rw_verdict q;
        D->eval(params, st, &o, &q);
        CHECK_INT(q.kind, v.kind);
        CHECK(q.p == v.p && q.big == v.big && q.base_windows == v.base_windows);
        CHECK(q.expected == v.expected);
        o.parent = parent;
        o.words = 1;
        D->eval(params, st, &o, &q);
        CHECK_INT(q.kind, v.kind);
        CHECK(q.p == v.p && q.shrunk == 0);
    }
    /* Warming up with a full parent: still warming up (no shrinkage). */
    void *young = new_state(params);
    for (int i = 0; i < 10; i++)
        window(params, young, traffic(r, 500, 50));
    struct rw_obs o = {.value = 0, .n = 0, .views = 0, .parent = parent, .words = 1};
    struct rw_verdict v;
    D->eval(params, young, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_INT(v.shrunk, 0);
    CHECK_INT(v.base_windows, 10);
    gsl_rng_free(r);
    free(young);
    free(parent);
    free(st);
}

/* A counter of ~1.5 a window: the median (1) would expect a third too few;
 * the clipped mean is the expectation, and an outlier window is clipped. */
static void test_small_counts_use_clipped_mean(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_expected", 0);
    void *st = new_state(params);
    const uint32_t pattern[4] = {1, 1, 2, 2}; /* median 1.5 -> mean 1.5 */
    for (int t = 0; t < 59; t++) {
        struct rw_obs o = {.views = pattern[t % 4], .n = pattern[t % 4], .value = pattern[t % 4]};
        struct rw_verdict ok = {.kind = RW_VERDICT_OK};
        D->learn(params, st, &o, &ok);
    }
    struct rw_obs o = {.views = 500, .n = 500, .value = 500};
    struct rw_verdict ok = {.kind = RW_VERDICT_OK};
    D->learn(params, st, &o, &ok); /* one burst window, far outside 4 sigmas */
    struct rw_verdict v = peek(params, st, 1);
    CHECK_NEAR(v.expected, 88.0 / 59.0, 1e-9); /* 59 windows of 1,1,2,2,...: 88 views */
    free(st);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    gsl_set_error_handler_off();
    test_options();
    test_warmup_and_zero();
    test_small_series();
    test_band_edge();
    test_outage_learning();
    test_span_outage();
    test_median_matches_gsl();
    test_small_counts_use_clipped_mean();
    test_p_and_fields();
    test_calibration();
    TEST_DONE();
}
