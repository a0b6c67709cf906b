/* Unit tests for detectors/threshold.c: option table, validation, the
 * min_n gate, NaN windows, one- and two-sided bounds, every verdict field. */
#include "detectors/detector.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>

#include <gsl/gsl_errno.h>

static const struct rw_detector *D = &rw_detector_threshold;

static int set(void *params, const char *key, double v)
{
    char err[128];
    const struct rw_option *o = rw_options_find(D->options, key);
    if (!o)
        return -ENOENT;
    return rw_options_set_number(o, params, v, err, sizeof err);
}

static int valid(const void *params)
{
    char err[128];
    return D->validate(params, err, sizeof err);
}

static struct rw_verdict eval(const void *params, double value, uint32_t n)
{
    struct rw_obs o = {.ts_end = 1000, .value = value, .n = n, .views = n, .errors = 0, .words = 1};
    struct rw_verdict v;
    memset(&v, 0xA5, sizeof v); /* every field must be written */
    D->eval(params, NULL, &o, &v);
    return v;
}

static void test_options(void)
{
    double params[64];
    CHECK(D->params_size <= sizeof params);
    CHECK_STR(D->name, "threshold");
    CHECK(D->help && D->help[0]);
    int count = 0;
    for (const struct rw_option *o = D->options; o->name; o++, count++)
        CHECK(o->help && o->help[0]);
    CHECK_INT(count, 3);

    rw_options_defaults(D->options, params);
    /* Neither bound set: refused. */
    CHECK_INT(valid(params), -EINVAL);
    char buf[32];
    rw_options_format(rw_options_find(D->options, "min_n"), params, buf, sizeof buf);
    CHECK_STR(buf, "20");
    CHECK_INT(set(params, "min_n", -1), -ERANGE);
    CHECK_INT(set(params, "min_n", 2e9), -ERANGE);

    CHECK_INT(set(params, "above", 800), 0);
    CHECK_INT(valid(params), 0);
    CHECK_INT(set(params, "below", 800), 0);
    CHECK_INT(valid(params), -EINVAL); /* below must be < above */
    CHECK_INT(set(params, "below", 900), 0);
    CHECK_INT(valid(params), -EINVAL);
    CHECK_INT(set(params, "below", 100), 0);
    CHECK_INT(valid(params), 0);

    CHECK_INT(D->state_size(params), 0);
}

static void test_above(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK_INT(set(params, "above", 800), 0);
    CHECK_INT(valid(params), 0);

    struct rw_verdict v = eval(params, 900, 50);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.score_kind, RW_SCORE_NONE);
    CHECK_NEAR(v.value, 900, 0);
    CHECK_NEAR(v.expected, 800, 0);
    CHECK(isnan(v.low));
    CHECK_NEAR(v.high, 800, 0);
    CHECK_NEAR(v.score, 900.0 / 800.0, 1e-12);
    CHECK_INT(v.n, 50);
    CHECK(strstr(v.why, "above") != NULL);

    v = eval(params, 800, 50); /* on the bound is not above it */
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.score, 1.0, 1e-12);
    v = eval(params, -5, 50);
    CHECK_INT(v.kind, RW_VERDICT_OK);

    /* min_n gate: 19 samples are not enough, 20 are. */
    v = eval(params, 5000, 19);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK_NEAR(v.value, 5000, 0);
    CHECK_INT(v.n, 19);
    CHECK(strstr(v.why, "min_n") != NULL);
    CHECK_INT(eval(params, 5000, 20).kind, RW_VERDICT_BREACH);

    /* No value this window. */
    v = eval(params, NAN, 100);
    CHECK_INT(v.kind, RW_VERDICT_INSUFFICIENT);
    CHECK(isnan(v.value));
    CHECK(isnan(v.score));
    CHECK(v.why[0] != '\0');

    CHECK_INT(set(params, "min_n", 0), 0);
    CHECK_INT(eval(params, 801, 0).kind, RW_VERDICT_BREACH);
}

static void test_below_and_both(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK_INT(set(params, "below", 0.5), 0);
    CHECK_INT(valid(params), 0);
    struct rw_verdict v = eval(params, 0.3, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.expected, 0.5, 0);
    CHECK_NEAR(v.low, 0.5, 0);
    CHECK(isnan(v.high));
    CHECK_NEAR(v.score, 0.6, 1e-12);
    CHECK(strstr(v.why, "below") != NULL);
    CHECK_INT(eval(params, 0.7, 100).kind, RW_VERDICT_OK);

    CHECK_INT(set(params, "below", 100), 0);
    CHECK_INT(set(params, "above", 200), 0);
    CHECK_INT(valid(params), 0);
    v = eval(params, 50, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.expected, 100, 0);
    CHECK_NEAR(v.low, 100, 0);
    CHECK_NEAR(v.high, 200, 0);
    CHECK_NEAR(v.score, 0.5, 1e-12);
    v = eval(params, 250, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_NEAR(v.expected, 200, 0);
    v = eval(params, 120, 100); /* inside: expected is the nearer bound */
    CHECK_INT(v.kind, RW_VERDICT_OK);
    CHECK_NEAR(v.expected, 100, 0);
    v = eval(params, 190, 100);
    CHECK_NEAR(v.expected, 200, 0);

    /* A zero bound has no ratio: score is NaN, the breach still stands. */
    rw_options_defaults(D->options, params);
    CHECK_INT(set(params, "above", 0), 0);
    v = eval(params, 3, 100);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK(isnan(v.score));
}

static void test_learn_is_noop(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK_INT(set(params, "above", 1), 0);
    struct rw_obs o = {.value = 5, .n = 100, .words = 1};
    struct rw_verdict v = eval(params, 5, 100);
    D->init(params, NULL); /* state_size 0: the engine may pass NULL */
    D->learn(params, NULL, &o, &v);
    CHECK_INT(eval(params, 5, 100).kind, RW_VERDICT_BREACH);
}

static void test_new_fields(void)
{
    double params[64];
    rw_options_defaults(D->options, params);
    CHECK_INT(set(params, "above", 800), 0);
    CHECK_INT(set(params, "below", 100), 0);
    CHECK_INT(D->flags & RW_DET_PVALUE, 0);
    const double vals[] = {50, 100, 500, 800, 900, NAN};
    for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
        struct rw_verdict v = eval(params, vals[j], 50);
        CHECK(isnan(v.p));
        CHECK_INT(v.big, v.kind == RW_VERDICT_BREACH);
        CHECK_INT(v.shrunk, 0);
        CHECK_INT(v.base_windows, 0);
        CHECK_STR(v.test, "static bound");
        CHECK_STR(v.base, isnan(vals[j]) ? "" : "fixed bound, no baseline");
    }
    CHECK_INT(eval(params, 900, 50).big, 1);
    CHECK_INT(eval(params, 50, 50).big, 1);
    CHECK_INT(eval(params, 800, 50).big, 0);
    CHECK_INT(eval(params, 900, 5).big, 0); /* insufficient */
    /* words off: same decision, no base words */
    struct rw_obs o = {.value = 900, .n = 50, .words = 0};
    struct rw_verdict v;
    memset(&v, 0xA5, sizeof v);
    D->eval(params, NULL, &o, &v);
    CHECK_INT(v.kind, RW_VERDICT_BREACH);
    CHECK_INT(v.big, 1);
    CHECK_STR(v.base, "");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    gsl_set_error_handler_off();
    test_options();
    test_above();
    test_below_and_both();
    test_learn_is_noop();
    test_new_fields();
    CHECK(rw_detector_find("threshold") == &rw_detector_threshold);
    TEST_DONE();
}
