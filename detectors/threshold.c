/* threshold: a static bound on the rule's statistic ("p75 LCP above 4000 ms").
 *
 * No baseline and no state (state_size 0; learn does nothing). A window
 * is evaluated only when it has a value and at least min_n samples behind it,
 * so a p75 of three page loads cannot page anyone.
 *
 * Not a test: p is NaN and the detector has no RW_DET_PVALUE, so the
 * engine's Benjamini-Hochberg step leaves it alone. big is 1 exactly when
 * the value is past a bound (the bound is the effect size asked for).
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

static const char th_test[] = "static bound";

struct th_params {
    double above;
    double below;
    int min_n;
};

#define OPT(field) offsetof(struct th_params, field)
static const struct rw_option th_options[] = {
    {.name = "above",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(above),
     .def = NAN,
     .min = -1e300,
     .max = 1e300,
     .help = "breach when the value is greater than this (unset: no upper bound)"},
    {.name = "below",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(below),
     .def = NAN,
     .min = -1e300,
     .max = 1e300,
     .help = "breach when the value is less than this (unset: no lower bound)"},
    {.name = "min_n",
     .type = RW_OPT_INT,
     .offset = OPT(min_n),
     .def = 20,
     .min = 0,
     .max = 1e9,
     .help = "samples needed behind a window's value to evaluate it"},
    {.name = NULL},
};
#undef OPT

static int th_validate(const void *params, char *err, size_t errlen)
{
    const struct th_params *p = params;
    if (isnan(p->above) && isnan(p->below)) {
        snprintf(err, errlen, "set 'above', 'below' or both");
        return -EINVAL;
    }
    if (!isnan(p->above) && !isnan(p->below) && !(p->below < p->above)) {
        snprintf(err, errlen, "'below' = %g must be less than 'above' = %g", p->below, p->above);
        return -EINVAL;
    }
    if (p->min_n < 0) {
        snprintf(err, errlen, "'min_n' must be >= 0");
        return -EINVAL;
    }
    return 0;
}

static size_t th_state_size(const void *params)
{
    (void)params;
    return 0;
}

static void th_init(const void *params, void *state)
{
    (void)params;
    (void)state;
}

static void th_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct th_params *p = params;
    (void)state;
    double v = obs->value;
    int has_above = !isnan(p->above), has_below = !isnan(p->below);

    rw_verdict_begin(out, RW_SCORE_NONE, v, obs->n, th_test);
    out->low = p->below;
    out->high = p->above;
    /* expected: the only bound set, else the nearer one (which is the crossed
     * one on a breach). score = value / expected, NaN for a zero bound. */
    if (has_above && has_below)
        out->expected =
            (!isnan(v) && fabs(v - p->below) < fabs(v - p->above)) ? p->below : p->above;
    else
        out->expected = has_above ? p->above : p->below;
    out->score = (!isnan(v) && out->expected != 0) ? v / out->expected : NAN;

    if (isnan(v)) {
        RW_WHY(obs, out, "no value this window");
        return;
    }
    if (obs->n < (uint32_t)p->min_n) {
        RW_WHY(obs, out, "%u samples < min_n %d", obs->n, p->min_n);
        return;
    }
    if (obs->words)
        snprintf(out->base, sizeof out->base, "fixed bound, no baseline");
    if (has_above && v > p->above) {
        out->big = 1;
        out->kind = RW_VERDICT_BREACH;
        RW_WHY(obs, out, "%.4g above bound %.4g (%u samples)", v, p->above,
                 obs->n);
    } else if (has_below && v < p->below) {
        out->big = 1;
        out->kind = RW_VERDICT_BREACH;
        RW_WHY(obs, out, "%.4g below bound %.4g (%u samples)", v, p->below,
                 obs->n);
    } else {
        out->kind = RW_VERDICT_OK;
        RW_WHY(obs, out, "%.4g within bound %.4g (%u samples)", v, out->expected,
                 obs->n);
    }
}

static void th_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    (void)params;
    (void)state;
    (void)obs;
    (void)v;
}

const struct rw_detector rw_detector_threshold = {
    .name = "threshold",
    .help = "static bound: breach when the value is above or below a fixed limit",
    .options = th_options,
    .params_size = sizeof(struct th_params),
    .validate = th_validate,
    .state_size = th_state_size,
    .init = th_init,
    .eval = th_eval,
    .learn = th_learn,
};
