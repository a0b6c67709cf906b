/* Unit tests for detectors/robust_z.c: golden series (warm-up, constant,
 * gaps, step, ramp, direction, gates, log scale) and the false-alarm
 * calibration on seeded synthetic data. */
#include "detectors/detector.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

static const struct rw_detector *D = &rw_detector_robust_z;
#include "detector_util.h"





/* One window through the detector as the engine does it: eval, then learn. */
static struct rw_verdict window(const void *params, void *state, double value, uint32_t n)
{
    struct rw_obs o = {.ts_end = 0, .value = value, .n = n, .views = n, .errors = 0, .words = 1};
    struct rw_verdict v;
    memset(&v, 0xA5, sizeof v);
    D->eval(params, state, &o, &v);
    D->learn(params, state, &o, &v);
    return v;
}

static void test_options(void)
{
    double params[64];
    CHECK(D->params_size <= sizeof params);
    for (const struct rw_option *o = D->options; o->name; o++)
        CHECK(o->help && o->help[0]);
    rw_options_defaults(D->options, params);
    CHECK_INT(valid(params), 0);
    /* Default state: 8 bytes of counters + 60 floats. */
    CHECK_INT(D->state_size(params), 8 + 60 * sizeof(float));
    char buf[32];
    rw_options_format(rw_options_find(D->options, "direction"), params, buf, sizeof buf);
    CHECK_STR(buf, "\"up\"");
    rw_options_format(rw_options_find(D->options, "z"), params, buf, sizeof buf);
    CHECK_STR(buf, "4");

    set(params, "history", 10);
    CHECK_INT(valid(params), -EINVAL); /* min_history 20 > history 10 */
    set(params, "min_history", 10);
    CHECK_INT(valid(params), 0);
    char err[128];
    CHECK_INT(
        rw_options_set_number(rw_options_find(D->options, "history"), params, 4, err, sizeof err),
        -ERANGE);
    CHECK_INT(rw_options_set_number(rw_options_find(D->options, "history"), params, 1441, err,
                                    sizeof err),
              -ERANGE);
    CHECK_INT(rw_options_set_number(rw_options_find(D->options, "z"), params, 0.4, err, sizeof err),
              -ERANGE);
    CHECK_INT(rw_options_set_string(rw_options_find(D->options, "direction"), params, "sideways",
                                    err, sizeof err),
              -EINVAL);
    CHECK(strstr(err, "both") != NULL);
}

static void test_warmup_and_constant(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);

    /* Insufficient until min_history (20) values are in the ring. */
    for (int i = 0; i < 20; i++) {
        struct rw_verdict v = window(params, st, 1000, 50);
        CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
        CHECK_INT(v.score_kind, RW_SCORE_Z);
        CHECK_NEAR(v.value, 1000, 0);
        CHECK_INT(v.n, 50);
        CHECK(isnan(v.expected) && isnan(v.low) && isnan(v.high) && isnan(v.score));
        CHECK(strstr(v.why, "warming up") != NULL);
    }
    /* Constant series: sigma is floored at min_rel_scale x median, z = 0. */
    for (int i = 0; i < 80; i++) {
        struct rw_verdict v = window(params, st, 1000, 50);
        CHECK_INT(v.kind, RW_VERDICT_OK);
        CHECK_NEAR(v.score, 0, 1e-9);
        CHECK_NEAR(v.expected, 1000, 0);
    }
    /* A 50% step up breaches: z = 500 / (0.02 x 1000) = 25. */
    struct rw_verdict v = window(params, st, 1500, 50);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.score, 25, 1e-6);
    CHECK_NEAR(v.expected, 1000, 0);
    CHECK(isnan(v.low)); /* direction up: one-sided band */
    /* high: max(z x sigma, 20% of median) above the median = 1200 */
    CHECK_NEAR(v.high, 1200, 1e-6);
    CHECK(strstr(v.why, "z=25.0 vs median of 60 windows") != NULL);
    /* 10% is below min_rel_change even though z = 5. */
    v = window(params, st, 1100, 50);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.score, 5, 1e-6);
    CHECK(strstr(v.why, "< min") != NULL);
    free(st);
}

static void test_gaps_and_min_n(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    size_t sz = D->state_size(params);
    for (int i = 0; i < 30; i++)
        window(params, st, 100 + i % 5, 40);

    void *copy = malloc(sz);
    if (!copy)
        abort();
    memcpy(copy, st, sz);
    struct rw_verdict v = window(params, st, NAN, 0);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(strstr(v.why, "no value") != NULL);
    CHECK(memcmp(copy, st, sz) == 0); /* a gap leaves the state alone */

    /* min_n: 19 samples behind a huge value: not evaluated, not learned. */
    v = window(params, st, 1e6, 19);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_NEAR(v.value, 1e6, 0);
    CHECK_INT(v.n, 19);
    CHECK(strstr(v.why, "min_n") != NULL);
    CHECK(memcmp(copy, st, sz) == 0);
    v = window(params, st, 1e6, 20);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(memcmp(copy, st, sz) != 0); /* evaluable breach windows are learned */
    free(copy);
    free(st);
}

/* A noisy level, then a permanent step: it breaches at once and keeps
 * breaching until the new level holds half the ring, then is the normal. */
static void test_step(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 101);
    int false_alarms = 0;
    for (int i = 0; i < 200; i++) {
        struct rw_verdict v = window(params, st, 2000 + 60 * gsl_ran_gaussian(r, 1), 100);
        false_alarms += v.kind == RW_VERDICT_BREACH;
    }
    CHECK_INT(false_alarms, 0);

    struct rw_obs o = {.value = 3000, .n = 100, .words = 1};
    struct rw_verdict v;
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(v.score > 10);
    CHECK_NEAR(v.expected, 2000, 60);
    CHECK(v.high > 2000 && v.high < 3000);
    CHECK(isnan(v.low));

    int first_ok = -1;
    for (int i = 0; i < 100; i++) {
        v = window(params, st, 3000 + 60 * gsl_ran_gaussian(r, 1), 100);
        if (v.kind != RW_VERDICT_BREACH && first_ok < 0)
            first_ok = i;
    }
    /* Median flips at 30 of 60; the growing MAD ends the alert a bit
     * earlier. Either way: about history/2 windows, then quiet. */
    printf("step: alert lasted %d windows\n", first_ok);
    CHECK(first_ok >= 15 && first_ok <= 31);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.expected, 3000, 60);
    gsl_rng_free(r);
    free(st);
}

/* A steady linear ramp is not caught, whatever its slope: the ring spreads
 * with it, MAD ~ slope x history/4 while the lag is slope x history/2, so
 * z stays near 1.35 / correction. Documented; use threshold for limits. */
static void test_ramp(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_rel_change", 0);
    set(params, "min_rel_scale", 0);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 202);
    int breaches = 0;
    double maxz = 0;
    for (int i = 0; i < 400; i++) {
        struct rw_verdict v = window(params, st, 1000 + 20.0 * i + gsl_ran_gaussian(r, 5), 100);
        breaches += v.kind == RW_VERDICT_BREACH;
        if (v.kind != RW_VERDICT_INSUFFICIENT && v.score > maxz)
            maxz = v.score;
    }
    CHECK_INT(breaches, 0);
    CHECK(maxz < 2.5);
    /* The ramp's end, a jump off the trend, is caught. */
    struct rw_verdict v = window(params, st, 1000 + 20.0 * 400 + 3000, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    gsl_rng_free(r);
    free(st);
}

static void test_direction(void)
{
    double params[64];
    const char *dirs[] = {"up", "down", "both"};
    for (int d = 0; d < 3; d++) {
        rw_options_defaults(D->options, params);
        sets(params, "direction", dirs[d]);
        CHECK_INT(valid(params), 0);
        void *st = new_state(params);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 303);
        for (int i = 0; i < 60; i++)
            window(params, st, 500 + 10 * gsl_ran_gaussian(r, 1), 100);
        struct rw_obs lo = {.value = 250, .n = 100, .words = 1}, hi = {.value = 750, .n = 100, .words = 1};
        struct rw_verdict vl, vh;
        D->eval(params, st, &lo, &vl);
        D->eval(params, st, &hi, &vh);
        CHECK(vl.score < -4 && vh.score > 4);
        CHECK_INT(vl.kind, d == 0 ? RW_VERDICT_OK : RW_VERDICT_BREACH);
        CHECK_INT(vh.kind, d == 1 ? RW_VERDICT_OK : RW_VERDICT_BREACH);
        CHECK(d == 0 ? isnan(vl.low) : vl.low < 500 && vl.low > 250);
        CHECK(d == 1 ? isnan(vh.high) : vh.high > 500 && vh.high < 750);
        gsl_rng_free(r);
        free(st);
    }
}

static void test_abs_change_and_log(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    set(params, "min_abs_change", 300);
    set(params, "min_rel_change", 0);
    void *st = new_state(params);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 404);
    for (int i = 0; i < 60; i++)
        window(params, st, 1000 + 10 * gsl_ran_gaussian(r, 1), 100);
    struct rw_obs o = {.value = 1200, .n = 100, .words = 1};
    struct rw_verdict v;
    D->eval(params, st, &o, &v);
    CHECK(v.score > 10);
    CHECK_INT(v.kind, RW_VERDICT_OK); /* 200 < min_abs_change 300 */
    CHECK_NEAR(v.high, v.expected + 300, 1e-9);
    o.value = 1350;
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    free(st);

    /* Log scale: positive values only; expected is still the plain median. */
    rw_options_defaults(D->options, params);
    sets(params, "scale", "log");
    st = new_state(params);
    for (int i = 0; i < 60; i++)
        window(params, st, 2500 * exp(0.1 * gsl_ran_gaussian(r, 1)), 100);
    size_t sz = D->state_size(params);
    void *copy = malloc(sz);
    if (!copy)
        abort();
    memcpy(copy, st, sz);
    v = window(params, st, 0, 100);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(strstr(v.why, "log") != NULL);
    CHECK(memcmp(copy, st, sz) == 0);
    o.value = 5000;
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.expected, 2500, 100);
    CHECK(v.high > v.expected && v.high < 5000);
    CHECK(isnan(v.low));
    o.value = 2600;
    D->eval(params, st, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_OK);
    free(copy);
    free(st);
    gsl_rng_free(r);
}

/* ---- calibration -------------------------------------------------------- */

enum shape { GAUSS, P75_LOGNORMAL };

/* One window's statistic: N(100, 10), or the p75 of 50 lognormal samples
 * (median 2000 ms, sdlog 0.6: the shape of an LCP distribution). */
static double draw(gsl_rng *r, enum shape sh)
{
    if (sh == GAUSS)
        return 100 + 10 * gsl_ran_gaussian_ziggurat(r, 1);
    double x[50];
    for (int j = 0; j < 50; j++)
        x[j] = 2000 * exp(0.6 * gsl_ran_gaussian_ziggurat(r, 1));
    gsl_sort(x, 1, 50);
    return gsl_stats_quantile_from_sorted_data(x, 1, 50, 0.75);
}

/* Runs `series` fresh series of `len` windows each and counts breaches for
 * z in {2.5, 3} x direction in {up, both} on the same data (robust_z learns
 * every evaluable window whatever the verdict, so they share one state).
 * Returns evaluations; rates[4] gets measured / promised. */
static long calibrate(int history, int min_history, enum shape sh, const char *scale, int series,
                      int len, unsigned long seed, double ratio[4])
{
    static const double zs[2] = {2.5, 3.0};
    static const char *const dirs[2] = {"up", "both"};
    double params[4][64];
    for (int i = 0; i < 4; i++) {
        rw_options_defaults(D->options, params[i]);
        set(params[i], "history", history);
        set(params[i], "min_history", min_history);
        set(params[i], "min_rel_change", 0);
        set(params[i], "min_rel_scale", 0);
        set(params[i], "z", zs[i / 2]);
        sets(params[i], "direction", dirs[i % 2]);
        sets(params[i], "scale", scale);
        CHECK_INT(valid(params[i]), 0);
    }
    void *st = malloc(D->state_size(params[0]));
    if (!st)
        abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    long evals = 0, breaches[4] = {0, 0, 0, 0};
    for (int s = 0; s < series; s++) {
        D->init(params[0], st);
        for (int t = 0; t < len; t++) {
            struct rw_obs o = {.value = draw(r, sh), .n = 50};
            struct rw_verdict v;
            for (int i = 0; i < 4; i++) {
                D->eval(params[i], st, &o, &v);
                if (i == 0 && v.kind != RW_VERDICT_INSUFFICIENT)
                    evals++;
                breaches[i] += v.kind == RW_VERDICT_BREACH;
            }
            D->learn(params[0], st, &o, &v);
        }
    }
    for (int i = 0; i < 4; i++) {
        double promise = gsl_cdf_ugaussian_Q(zs[i / 2]) * (i % 2 ? 2 : 1);
        ratio[i] = (double)breaches[i] / (double)evals / promise;
        printf("calibration history=%d min_history=%d %s scale=%s z=%.1f %s: promised %.3g "
               "measured %.3g (x%.2f, %ld evals)\n",
               history, min_history, sh == GAUSS ? "gauss" : "p75-lognormal", scale, zs[i / 2],
               dirs[i % 2], promise, (double)breaches[i] / (double)evals, ratio[i], evals);
    }
    gsl_rng_free(r);
    free(st);
    return evals;
}

static void test_calibration(void)
{
    double ratio[4];
    /* history 60: series of 120 windows = 100 evaluations each, 40 of them
     * during warm-up (20..59 windows in the ring), where the finite-sample
     * correction matters most. history 20: always 20 windows. */
    struct {
        int history;
        enum shape sh;
        const char *scale;
        unsigned long seed;
    } runs[] = {
        {60, GAUSS, "linear", 1},
        {20, GAUSS, "linear", 2},
        {60, P75_LOGNORMAL, "log", 3},
        {20, P75_LOGNORMAL, "log", 4},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        long ev = calibrate(runs[k].history, 20, runs[k].sh, runs[k].scale, 2000, 120, runs[k].seed,
                            ratio);
        CHECK(ev >= 200000);
        for (int i = 0; i < 4; i++)
            CHECK(ratio[i] >= 0.5 && ratio[i] <= 2.0);
    }
    /* For the record (docs/detectors.md): the p75 of lognormal samples on
     * the linear scale is right-skewed, so "up" fires more than promised. */
    long ev = calibrate(60, 20, P75_LOGNORMAL, "linear", 500, 120, 5, ratio);
    CHECK(ev > 0);
    CHECK(ratio[0] > 1.0); /* the reason scale=log exists */
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    gsl_set_error_handler_off();
    test_options();
    test_warmup_and_constant();
    test_gaps_and_min_n();
    test_step();
    test_ramp();
    test_direction();
    test_abs_change_and_log();
    test_calibration();
    TEST_DONE();
}
