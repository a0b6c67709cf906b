/* robust_z: how far this window's value is from the median of the last
 * `history` windows, in units of a robust sigma (1.4826 x MAD).
 *
 * State (engine-owned, state_size() bytes): a float ring of the last
 * `history` evaluable values, its fill count and write head. The ring keeps
 * every evaluable value, breach windows included: the median ignores a short
 * incident, and a permanent level change becomes the new normal once it fills
 * half the ring (~history/2 windows). A steady ramp is never caught: the
 * ring's spread grows with it (docs/detectors.md).
 *
 * Calibration promise: on i.i.d. Gaussian windows the per-window false-alarm
 * probability is 1-Phi(z) per tail (x2 for direction=both). Median and MAD
 * from k windows are noisy, so (x - median) / (1.4826 MAD) has much heavier
 * tails than a normal (k=20, z=3: 8x the promised rate). sigma is therefore
 * scaled by a finite-sample factor (see small_sample_factor()), fitted to a
 * simulation of that ratio for k = 5..500 and checked by
 * tests/unit/test_robust_z.c. The reported z is in these corrected sigmas.
 *
 * scale = log runs the same statistics on log(value). Timing percentiles
 * are right-skewed (the p75 of lognormal samples is lognormal-ish), which on
 * the linear scale makes "up" fire 2-6x more than promised; on the log scale
 * they are symmetric again. Values <= 0 are then not evaluable.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_float.h>

#define RZ_HISTORY_MAX 1440
#define RZ_MAD_TO_SIGMA 1.4826
#define RZ_PI 3.14159265358979323846
/* Above this threshold the correction of z = RZ_ZCAP is used: the promise
 * (a rate below 1e-9 per window) cannot be checked, and the t model's far
 * tail would make the factor explode (x80 at z=10 with 20 windows). */
#define RZ_ZCAP 6.0

enum rz_direction { RZ_UP = 0, RZ_DOWN, RZ_BOTH };
static const char *const rz_directions[] = {"up", "down", "both", NULL};
enum rz_scale { RZ_LINEAR = 0, RZ_LOG };
static const char *const rz_scales[] = {"linear", "log", NULL};

struct rz_params {
    int history;
    int min_history;
    int min_n;
    double z;
    int direction;
    double min_rel_change;
    double min_abs_change;
    double min_rel_scale;
    int scale;
    double log_offset;
};

struct rz_state {
    uint32_t count; /* values in the ring, <= history */
    uint32_t head;  /* next slot to write */
    float ring[];   /* history slots; [0, count) valid until the ring is full */
};

#define OPT(field) offsetof(struct rz_params, field)
static const struct rw_option rz_options[] = {
    {.name = "history",
     .type = RW_OPT_INT,
     .offset = OPT(history),
     .def = 60,
     .min = 5,
     .max = RZ_HISTORY_MAX,
     .help = "windows kept for the median/MAD baseline (ring size)"},
    {.name = "min_history",
     .type = RW_OPT_INT,
     .offset = OPT(min_history),
     .def = 20,
     .min = 5,
     .max = RZ_HISTORY_MAX,
     .help = "windows needed in the ring before evaluating (<= history)"},
    {.name = "min_n",
     .type = RW_OPT_INT,
     .offset = OPT(min_n),
     .def = 20,
     .min = 0,
     .max = 1e9,
     .help = "samples needed behind a window's value to evaluate or learn it"},
    {.name = "z",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(z),
     .def = 4.0,
     .min = 0.5,
     .max = 50,
     .help = "robust z threshold; per-window false-alarm rate 1-Phi(z) per tail"},
    {.name = "direction",
     .type = RW_OPT_ENUM,
     .offset = OPT(direction),
     .def = RZ_UP,
     .choices = rz_directions,
     .help = "which deviations breach: up, down or both"},
    {.name = "min_rel_change",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_change),
     .def = 0.2,
     .min = 0,
     .max = 1e6,
     .help = "|value - median| must also be >= this fraction of |median|"},
    {.name = "min_abs_change",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_abs_change),
     .def = 0,
     .min = 0,
     .max = 1e300,
     .help = "|value - median| must also be >= this, in the value's unit"},
    {.name = "min_rel_scale",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_scale),
     .def = 0.02,
     .min = 0,
     .max = 1e6,
     .help = "floor on sigma as a fraction of |median| (a flat history gives finite z)"},
    {.name = "scale",
     .type = RW_OPT_ENUM,
     .offset = OPT(scale),
     .def = RZ_LINEAR,
     .choices = rz_scales,
     .help = "linear, or log for right-skewed positive values such as timing percentiles"},
    {.name = "log_offset",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(log_offset),
     .def = 0,
     .min = 0,
     .max = 1e9,
     .help = "with scale = log, work on log(value + log_offset): lets zero-heavy metrics "
             "such as CLS use the log scale"},
    {.name = NULL},
};
#undef OPT

static int rz_validate(const void *params, char *err, size_t errlen)
{
    const struct rz_params *p = params;
    if (p->min_history > p->history) {
        snprintf(err, errlen, "'min_history' = %d must be <= 'history' = %d", p->min_history,
                 p->history);
        return -EINVAL;
    }
    if (p->history < 5 || p->history > RZ_HISTORY_MAX || p->min_history < 5) {
        snprintf(err, errlen, "'history' must be in [5, %d] and 'min_history' >= 5",
                 RZ_HISTORY_MAX);
        return -EINVAL;
    }
    if (!isfinite(p->z) || p->z <= 0 || p->direction < RZ_UP || p->direction > RZ_BOTH ||
        p->scale < RZ_LINEAR || p->scale > RZ_LOG) {
        snprintf(err, errlen, "'z' must be > 0, 'direction' up/down/both, 'scale' linear/log");
        return -EINVAL;
    }
    return 0;
}

static size_t rz_state_size(const void *params)
{
    const struct rz_params *p = params;
    return sizeof(struct rz_state) + (size_t)p->history * sizeof(float);
}

static void rz_init(const void *params, void *state)
{
    (void)params;
    struct rz_state *s = state;
    s->count = 0;
    s->head = 0;
}

/* Multiplier on 1.4826 x MAD so that, for k i.i.d. Gaussian history values,
 * P((x - median) / sigma > z) = 1 - Phi(z).
 *
 * Model: x - median ~ N(0, 1 + pi/(2k)) (the median's variance is pi/2k), and
 * the MAD behaves like a chi-based scale with df = 0.46 (k - 0.8 [k odd]),
 * scaled by the bias term (1 + 1/k). The ratio is then a scaled Student t,
 * and the factor is t_df^{-1}(Phi(z)) / z. The constants (0.46, 0.8, 1)
 * were fitted to 2e6 simulated draws per k (k = 5..500, z = 2..4); the fit
 * is within about 4% of the exact threshold everywhere in that grid. The
 * factor tends to 1 as k grows. Thresholds above RZ_ZCAP use the factor of
 * RZ_ZCAP. */
static double small_sample_factor(uint32_t k, double z)
{
    double zc = z < RZ_ZCAP ? z : RZ_ZCAP;
    double kd = (double)k;
    double df = 0.46 * (kd - ((k & 1u) ? 0.8 : 0.0));
    double q = gsl_cdf_tdist_Qinv(gsl_cdf_ugaussian_Q(zc), df);
    double f = (1.0 + 1.0 / kd) * sqrt(1.0 + RZ_PI / (2.0 * kd));
    if (isfinite(q) && q > zc)
        f *= q / zc;
    return f;
}

static float to_float(double v)
{
    if (v > FLT_MAX)
        return FLT_MAX;
    if (v < -FLT_MAX)
        return -FLT_MAX;
    return (float)v;
}

static void rz_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct rz_params *p = params;
    const struct rz_state *s = state;
    float buf[RZ_HISTORY_MAX];

    out->kind = RW_VERDICT_INSUFFICIENT;
    out->score_kind = RW_SCORE_Z;
    out->value = obs->value;
    out->expected = NAN;
    out->low = NAN;
    out->high = NAN;
    out->score = NAN;
    out->n = obs->n;
    out->why[0] = '\0';

    if (isnan(obs->value)) {
        RW_WHY(obs, out, "no value this window");
        return;
    }
    if (obs->n < (uint32_t)p->min_n) {
        RW_WHY(obs, out, "%u samples < min_n %d", obs->n, p->min_n);
        return;
    }
    double off = p->log_offset;
    if (p->scale == RZ_LOG && !(obs->value + off > 0)) {
        RW_WHY(obs, out, "value %.4g <= 0 on log scale", obs->value + off);
        return;
    }
    uint32_t k = s->count;
    if (k > (uint32_t)p->history)
        k = (uint32_t)p->history; /* defensive: never read past the ring */
    if (k < (uint32_t)p->min_history) {
        RW_WHY(obs, out, "warming up: %u of %d windows", k, p->min_history);
        return;
    }

    /* gsl_stats_float_median selects in O(k) (quickselect) but reorders,
     * so work on a copy; the ring stays in time order. On the log scale the
     * centre is the median of the logs, which the transform of the reordered
     * copy gives just as well. */
    int lg = p->scale == RZ_LOG;
    for (uint32_t i = 0; i < k; i++)
        buf[i] = s->ring[i];
    double med = gsl_stats_float_median(buf, 1, k);
    double centre = med;
    if (lg) {
        for (uint32_t i = 0; i < k; i++)
            buf[i] = (float)log(buf[i] + off > FLT_MIN ? (double)buf[i] + off : (double)FLT_MIN);
        centre = gsl_stats_float_median(buf, 1, k);
    }
    for (uint32_t i = 0; i < k; i++)
        buf[i] = (float)fabs((double)buf[i] - centre);
    double mad = gsl_stats_float_median(buf, 1, k);

    double amed = fabs(med);
    double floor_sigma = lg ? log1p(p->min_rel_scale) : p->min_rel_scale * amed;
    double sigma = RZ_MAD_TO_SIGMA * mad * small_sample_factor(k, p->z);
    if (!(sigma >= floor_sigma))
        sigma = floor_sigma;
    if (!(sigma >= 1e-12))
        sigma = 1e-12;

    double x = lg ? log(obs->value + off) : obs->value;
    double z = (x - centre) / sigma;
    double change = fabs(obs->value - med);
    double min_change = p->min_rel_change * amed;
    if (p->min_abs_change > min_change)
        min_change = p->min_abs_change;

    /* Band edges: a value must clear the z threshold and both change minimums. */
    double hi = lg ? exp(centre + p->z * sigma) - off : centre + p->z * sigma;
    double lo = lg ? exp(centre - p->z * sigma) - off : centre - p->z * sigma;
    if (med + min_change > hi)
        hi = med + min_change;
    if (med - min_change < lo)
        lo = med - min_change;

    int tail = (p->direction == RZ_UP && z > p->z) || (p->direction == RZ_DOWN && z < -p->z) ||
               (p->direction == RZ_BOTH && fabs(z) > p->z);
    int big = change >= min_change;

    out->kind = tail && big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    out->expected = med;
    out->score = z;
    out->low = p->direction == RZ_UP ? NAN : lo;
    out->high = p->direction == RZ_DOWN ? NAN : hi;
    if (tail && !big)
        RW_WHY(obs, out,
                 "z=%.1f vs median of %u windows, change %.3g < min %.3g", z, k, change,
                 min_change);
    else
        RW_WHY(obs, out, "z=%.1f vs median of %u windows", z, k);
}

static void rz_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct rz_params *p = params;
    struct rz_state *s = state;
    (void)v;
    if (!isfinite(obs->value) || obs->n < (uint32_t)p->min_n)
        return;
    if (p->scale == RZ_LOG && !(obs->value + p->log_offset > 0))
        return;
    uint32_t h = (uint32_t)p->history;
    if (s->head >= h)
        s->head = 0;
    s->ring[s->head] = to_float(obs->value);
    s->head = (s->head + 1) % h;
    if (s->count < h)
        s->count++;
}

const struct rw_detector rw_detector_robust_z = {
    .name = "robust_z",
    .help = "deviation from the median of recent windows in robust (MAD) sigmas",
    .options = rz_options,
    .params_size = sizeof(struct rz_params),
    .validate = rz_validate,
    .state_size = rz_state_size,
    .init = rz_init,
    .eval = rz_eval,
    .learn = rz_learn,
};
