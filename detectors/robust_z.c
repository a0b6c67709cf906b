/* robust_z: how far this window's value is from the median of the last
 * `history` windows, in units of a robust sigma (1.4826 x MAD).
 *
 * State (engine-owned, state_size() bytes = 16 + 4 x history): a float ring
 * of the last `history` evaluable values, its fill count and write head, the
 * cached finite-sample factor and the typical samples per window. The ring keeps
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
 *
 * p-value (RW_DET_PVALUE): the normal tail of the corrected z in the
 * breaching direction, Q(z) for up, Q(-z) for down, 2 Q(|z|) for both. A
 * breach has p < Q(z threshold) (x2 for both), the promise itself. The
 * correction is fitted at the threshold, so p is calibrated there; far
 * below it (z well past the threshold with few windows) p is optimistic.
 *
 * Shrinkage (scale = log only): a series with RZ_SHRINK_MIN..min_history-1
 * windows whose parent (obs->parent) has min_history windows is evaluated
 * against its own median and the parent's spread, scaled to this series'
 * sample size: a p75 over n samples has a variance ~ 1/n, so the parent's
 * sigma is inflated by sqrt(n_parent / n) (typical n: a running mean / EWMA
 * kept per series), plus the variance of the own median (pi/2k) and the
 * parent MAD's Student-t factor (see shrunk_sigma()). The centre is always
 * the series' own median: a segment may sit at another level than its
 * parent (mobile slower than the page), and that alone must not fire. On
 * the log scale a spread is relative, so it carries over to another level;
 * on the linear scale it does not (carried over in proportion to the own
 * median of a few windows, the sigma is as noisy as that median: 3-6x the
 * promise measured for a child at twice the parent's level), so linear
 * rules do not shrink. The assumption left: the child's samples are about
 * as spread as the parent's (docs/detectors.md has the figures when not).
 * Fewer than RZ_SHRINK_MIN own windows: still warming up.
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
/* Own windows a series needs before it borrows its parent's spread: the
 * median of 3 already shrugs off one odd window. */
#define RZ_SHRINK_MIN 3
/* The typical samples per window: a running mean over the first windows,
 * then an EWMA with this weight. */
#define RZ_NTYP_SPAN 16

static const char rz_test[] = "robust z (median/MAD)";

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
    float factor;   /* small_sample_factor(count, z) once count >= min_history,
                       else 0; kept by learn (the t quantile is the costliest
                       part of eval, and count only changes during warm-up) */
    float n_typ;    /* typical samples behind a learned window (obs->n) */
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
    s->factor = 0;
    s->n_typ = 0;
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

/* Median of the k ring values, the centre on the working scale (median of
 * the logs on the log scale) and, if mad is not NULL, the MAD around it.
 * gsl_stats_float_median selects in O(k) (quickselect) but reorders, so it
 * works on a copy in buf; the ring stays in time order. On the log scale the
 * transform of the reordered copy gives the median of the logs just as well. */
static void ring_stats(const struct rz_params *p, const float *ring, uint32_t k, float *buf,
                       double *med, double *centre, double *mad)
{
    double off = p->log_offset;
    for (uint32_t i = 0; i < k; i++)
        buf[i] = ring[i];
    *med = gsl_stats_float_median(buf, 1, k);
    *centre = *med;
    if (p->scale == RZ_LOG) {
        for (uint32_t i = 0; i < k; i++)
            buf[i] = (float)log(buf[i] + off > FLT_MIN ? (double)buf[i] + off : (double)FLT_MIN);
        *centre = gsl_stats_float_median(buf, 1, k);
    }
    if (mad) {
        for (uint32_t i = 0; i < k; i++)
            buf[i] = (float)fabs((double)buf[i] - *centre);
        *mad = gsl_stats_float_median(buf, 1, k);
    }
}

static double state_factor(const struct rz_params *p, const struct rz_state *s, uint32_t k)
{
    return s->factor > 0 ? (double)s->factor : small_sample_factor(k, p->z);
}

/* Sigma of a window of a series with k < min_history own windows, from the
 * parent's spread (kp windows, MAD madp on the working scale).
 *
 * Under the parent's model a window over n samples varies with variance
 * s2 x n_parent / n, s2 = (1.4826 MAD)^2 the parent's per-window variance.
 * The window minus the own median then has variance
 *     s2 x (n_parent / n_now + pi/(2k) x n_parent / n_own)
 * (each ratio floored at 1: a subset never varies less than its parent),
 * and the parent's MAD carries the same Student-t uncertainty as in
 * small_sample_factor(), whose median term (1 + pi/2kp) is swapped for the
 * one above. */
static double shrunk_sigma(const struct rz_params *p, const struct rz_state *ps, uint32_t kp,
                           double madp, uint32_t k, double n_now, double n_own)
{
    double np = ps->n_typ > 1 ? (double)ps->n_typ : 1.0;
    double r_now = n_now >= 1 && np > n_now ? np / n_now : 1.0;
    double r_own = n_own >= 1 && np > n_own ? np / n_own : 1.0;
    double t = state_factor(p, ps, kp) / sqrt(1.0 + RZ_PI / (2.0 * kp));
    return RZ_MAD_TO_SIGMA * madp * t * sqrt(r_now + RZ_PI / (2.0 * k) * r_own);
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
    out->p = NAN;
    out->big = 0;
    out->shrunk = 0;
    out->base_windows = 0;
    out->test = rz_test;
    out->base[0] = '\0';
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
    uint32_t h = (uint32_t)p->history;
    uint32_t k = s->count < h ? s->count : h; /* defensive: never read past the ring */
    const struct rz_state *ps = obs->parent;
    uint32_t kp = ps ? (ps->count < h ? ps->count : h) : 0;
    int shrink = p->scale == RZ_LOG && k < (uint32_t)p->min_history && k >= RZ_SHRINK_MIN &&
                 kp >= (uint32_t)p->min_history;
    out->base_windows = k;
    if (k < (uint32_t)p->min_history && !shrink) {
        RW_WHY(obs, out, "warming up: %u of %d windows", k, p->min_history);
        return;
    }

    int lg = p->scale == RZ_LOG;
    double med, centre, mad, sigma;
    if (!shrink) {
        ring_stats(p, s->ring, k, buf, &med, &centre, &mad);
        sigma = RZ_MAD_TO_SIGMA * mad * state_factor(p, s, k);
    } else {
        double medp, centrep, madp;
        ring_stats(p, s->ring, k, buf, &med, &centre, NULL);
        ring_stats(p, ps->ring, kp, buf, &medp, &centrep, &madp);
        sigma = shrunk_sigma(p, ps, kp, madp, k, (double)obs->n, (double)s->n_typ);
        out->shrunk = 1;
    }

    double amed = fabs(med);
    double floor_sigma = lg ? log1p(p->min_rel_scale) : p->min_rel_scale * amed;
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

    int tail = (p->direction == RZ_UP && z > p->z) || (p->direction == RZ_DOWN && z < -p->z) ||
               (p->direction == RZ_BOTH && fabs(z) > p->z);
    int big = change >= min_change;

    out->kind = tail && big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    out->expected = med;
    out->score = z;
    out->big = (uint8_t)big;
    /* p from the model behind the correction, not from Q(z): the factor
     * makes z normal *at the threshold* only, and further out the t tail of
     * (x - median) / MAD is much heavier (at k = 60 a "z = 5" is 7x likelier
     * than Q(5) says), which would make the engine's BH step across series
     * fire far more than its q. z x factor / bias is that t statistic with
     * df = 0.46 (k - 0.8 [k odd]); Wallace's normal approximation of its
     * tail (within ~1 % in z for df >= 2) keeps it cheap. At the threshold
     * p equals Q(z) up to that approximation. z is finite or +-inf here. */
    double zp = z;
    {
        uint32_t kk = out->shrunk ? kp : k;
        double kd = (double)kk;
        double bias = (1.0 + 1.0 / kd) * sqrt(1.0 + RZ_PI / (2.0 * kd));
        double r = state_factor(p, out->shrunk ? ps : s, kk) / bias;
        double df = 0.46 * (kd - ((kk & 1u) ? 0.8 : 0.0));
        if (r > 1 && df > 0.5 && isfinite(z)) {
            double t = z * r;
            zp = copysign((8 * df + 1) / (8 * df + 3) * sqrt(df * log1p(t * t / df)), t);
        }
    }
    if (p->direction == RZ_UP)
        out->p = gsl_cdf_ugaussian_Q(zp);
    else if (p->direction == RZ_DOWN)
        out->p = gsl_cdf_ugaussian_P(zp);
    else
        out->p = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(zp)));
    if (!obs->words)
        return; /* the band and the words are only needed when reported */

    /* Band edges: a value must clear the z threshold and both change minimums. */
    double hi = lg ? exp(centre + p->z * sigma) - off : centre + p->z * sigma;
    double lo = lg ? exp(centre - p->z * sigma) - off : centre - p->z * sigma;
    if (med + min_change > hi)
        hi = med + min_change;
    if (med - min_change < lo)
        lo = med - min_change;
    out->low = p->direction == RZ_UP ? NAN : lo;
    out->high = p->direction == RZ_DOWN ? NAN : hi;

    const char *own = shrink ? " own" : "";
    const char *spread = shrink ? ", parent's spread" : "";
    if (shrink)
        snprintf(out->base, sizeof out->base, "median of %u own windows, parent spread", k);
    else
        snprintf(out->base, sizeof out->base, "median of last %u windows", k);
    if (tail && !big)
        snprintf(out->why, sizeof out->why,
                 "z=%.1f vs median of %u%s windows%s, change %.3g < min %.3g", z, k, own, spread,
                 change, min_change);
    else
        snprintf(out->why, sizeof out->why, "z=%.1f vs median of %u%s windows%s", z, k, own,
                 spread);
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
    uint32_t before = s->count;
    if (s->count < h)
        s->count++;
    uint32_t c = s->count < RZ_NTYP_SPAN ? s->count : RZ_NTYP_SPAN;
    s->n_typ += ((float)obs->n - s->n_typ) / (float)c;
    if (s->count >= (uint32_t)p->min_history && (s->count != before || !(s->factor > 0)))
        s->factor = (float)small_sample_factor(s->count, p->z);
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
    .flags = RW_DET_PVALUE,
};
