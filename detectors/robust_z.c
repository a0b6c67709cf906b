/* robust_z: how far this window's value is from the median of the last
 * `history` windows, in units of a robust sigma (1.4826 x MAD).
 *
 * State (engine-owned, state_size() bytes): an 8-byte header (one counter
 * for the fill count and the write head, the cached finite-sample factor,
 * the typical samples per window), the last `history` evaluable values in
 * time order, and their slot numbers sorted by value (a byte each up to
 * 256 windows, else 2). With scale = log a value is kept as a uint16 code
 * of log(value + log_offset) on a fixed grid (see RZ_CODE_STEP: steps of
 * 1/1024 in natural log, clamped to e^-32 .. e^32 ~ 1.3e-14 .. 7.9e13),
 * 2 bytes a window, rounded within +-0.049 % of the value; the median and
 * MAD are exact order statistics of the coded logs, and a cell is 1/20 of
 * the default sigma floor ln(1.02). The linear scale keeps floats. Sizes
 * up to 256 windows: log 8 + 3 x history (188 at 60), linear
 * 8 + 5 x history (308); longer: one byte more per window.
 *
 * Learn keeps the sorted slots: the leaving value's and the new value's
 * ranks are counts over the time-ordered values (a loop the compiler
 * vectorizes), then one memmove of the slots between them. So eval reads
 * the median in O(1) and the MAD by a binary search over the distances on
 * either side of it (view_mad()), without copying, selecting or taking a
 * log per ring element. The time-ordered values are what tells which
 * value leaves the window.
 *
 * The ring keeps every evaluable value, breach windows included: the
 * median ignores a short incident, and a permanent level change becomes
 * the new normal once it fills half the ring (~history/2 windows). A
 * steady ramp is never caught: the ring's spread grows with it
 * (docs/detectors.md).
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
 * p-value (RW_DET_PVALUE): the tail, in the breaching direction, of the
 * Student t model behind the correction (Wallace's normal approximation,
 * see rz_eval()), so a breach has p < Q(z threshold) (x2 for both), the
 * promise, and p beyond the threshold is not the optimistic normal tail.
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
#include <string.h>

#include <gsl/gsl_cdf.h>

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

/* Log-scale grid: code = round(log(value + log_offset) / RZ_CODE_STEP) +
 * RZ_CODE_ZERO, clamped to [0, RZ_CODE_MAX]. 65536 codes of 1/1024 span
 * e^-32 .. e^32: any unit a custom metric may come in, at a rounding of
 * +-0.049 % (RZ_CODE_STEP / 2 in log). */
#define RZ_CODE_STEP (1.0 / 1024.0)
#define RZ_CODE_ZERO 32768
#define RZ_CODE_MAX 65535
#define RZ_LOG_MIN ((0.0 - RZ_CODE_ZERO) * RZ_CODE_STEP)
#define RZ_LOG_MAX ((RZ_CODE_MAX - RZ_CODE_ZERO) * RZ_CODE_STEP)

struct rz_state {
    uint16_t pos;   /* windows learned, saturating in [history, 2 history): count =
                       min(pos, history), write head = pos mod history */
    uint16_t fcode; /* small_sample_factor(count, z) once count >= min_history, as
                       a log-grid code (factor >= 1, +-0.049 %), else 0; kept by
                       learn (the t quantile is the costliest part of eval, and
                       count only changes during warm-up) */
    float n_typ;    /* typical samples behind a learned window (obs->n) */
    /* then: history values by slot (float, or uint16 codes for scale = log),
       [0, count) valid until the ring is full; then history slot numbers
       (uint8 if history <= 256, else uint16) sorted by value, equal values
       oldest first, [0, count) valid */
};

/* The values of a state as eval sees them: x(i) = the i-th smallest, in
 * working units (the float value, or the code on the log scale). */
struct rz_view {
    const float *f;      /* linear: values by slot */
    const uint16_t *c;   /* log: codes by slot */
    const uint8_t *o8;   /* slots sorted by value, history <= 256 */
    const uint16_t *o16; /* the same, longer histories */
    uint32_t k;          /* values in the ring */
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

static size_t value_size(const struct rz_params *p)
{
    return p->scale == RZ_LOG ? sizeof(uint16_t) : sizeof(float);
}

/* A slot number fits a byte up to 256 slots. */
static size_t slot_size(const struct rz_params *p)
{
    return p->history <= 256 ? sizeof(uint8_t) : sizeof(uint16_t);
}

static size_t rz_state_size(const void *params)
{
    const struct rz_params *p = params;
    return sizeof(struct rz_state) + (size_t)p->history * (value_size(p) + slot_size(p));
}

static void rz_init(const void *params, void *state)
{
    (void)params;
    struct rz_state *s = state;
    s->pos = 0;
    s->fcode = 0;
    s->n_typ = 0;
}

static uint32_t state_count(const struct rz_params *p, const struct rz_state *s)
{
    uint32_t h = (uint32_t)p->history;
    return s->pos < h ? s->pos : h;
}

static struct rz_view view_of(const struct rz_params *p, const struct rz_state *s)
{
    const unsigned char *vals = (const unsigned char *)(s + 1);
    const unsigned char *ord = vals + (size_t)p->history * value_size(p);
    struct rz_view v = {.k = state_count(p, s)};
    v.f = p->scale == RZ_LOG ? NULL : (const float *)vals;
    v.c = p->scale == RZ_LOG ? (const uint16_t *)vals : NULL;
    v.o8 = slot_size(p) == 1 ? ord : NULL;
    v.o16 = slot_size(p) == 1 ? NULL : (const uint16_t *)ord;
    return v;
}

/* Value of slot i, in working units. */
static inline double slot_value(const struct rz_view *v, uint32_t i)
{
    return v->c ? (double)v->c[i] : (double)v->f[i];
}

/* The i-th smallest value. */
static inline double nth(const struct rz_view *v, uint32_t i)
{
    return slot_value(v, v->o8 ? v->o8[i] : v->o16[i]);
}

/* Values in slots [0, n) below x (upper: <= x): the rank of x in the
 * sorted slots, counted over the time-ordered values. A binary search over
 * the sorted slots is a chain of dependent loads whose comparisons are coin
 * flips; this loop has no dependencies and vectorizes (60 values: 1.6x
 * faster learn measured). */
static inline uint32_t count_below(const struct rz_view *v, uint32_t n, double x, int upper)
{
    uint32_t cnt = 0;
    if (v->f) {
        float xf = (float)x; /* x is a float here */
        for (uint32_t i = 0; i < n; i++)
            cnt += upper ? v->f[i] <= xf : v->f[i] < xf;
    } else {
        uint16_t xc = (uint16_t)x;
        for (uint32_t i = 0; i < n; i++)
            cnt += upper ? v->c[i] <= xc : v->c[i] < xc;
    }
    return cnt;
}

/* Median of the k values (GSL's definition: the mean of the two middle ones
 * for even k), in working units. */
static double view_median(const struct rz_view *v)
{
    uint32_t k = v->k;
    return (k & 1) ? nth(v, k / 2) : (nth(v, k / 2 - 1) + nth(v, k / 2)) / 2;
}

/* Median of |x(i) - m| for m = the median, without sorting distances: the
 * values below m, read from m outwards, give sorted distances L(0..nl),
 * those >= m sorted distances R(0..nr), and the MAD is the j-th smallest of
 * the two merged (j = (k+1)/2; for even k the mean of the k/2-th and the
 * next). The j smallest take some a from L and j - a from R, where a is
 * the least with L(a) >= R(j-a-1): a binary search, O(log k). */
static double view_mad(const struct rz_view *v, double m)
{
    uint32_t k = v->k;
    /* values < m: the lower half (m is the middle value or the mean of the
     * two middle ones), less the values equal to m just below it (a binary
     * search: a flat ring, CLS zeros, is all ties) */
    uint32_t nl = k / 2;
    if (nl > 0 && nth(v, nl - 1) >= m) {
        uint32_t lo = 0;
        nl--;
        while (lo < nl) {
            uint32_t mid = lo + (nl - lo) / 2;
            if (nth(v, mid) < m)
                lo = mid + 1;
            else
                nl = mid;
        }
    }
    uint32_t nr = k - nl;
#define RZ_L(i) (m - nth(v, nl - 1 - (i)))
#define RZ_R(i) (nth(v, nl + (i)) - m)
    uint32_t j = (k & 1) ? k / 2 + 1 : k / 2;
    uint32_t lo = j > nr ? j - nr : 0;
    uint32_t hi = j < nl ? j : nl; /* answer in [lo, hi]; a = hi always qualifies */
    while (lo < hi) {
        uint32_t a = lo + (hi - lo) / 2; /* a < hi <= nl and j - a - 1 < nr */
        int enough = RZ_L(a) >= RZ_R(j - a - 1);
        hi = enough ? a : hi;
        lo = enough ? lo : a + 1;
    }
    uint32_t a = lo, b = j - a;
    double dl = a > 0 ? RZ_L(a - 1) : 0, dr = b > 0 ? RZ_R(b - 1) : 0;
    double jth = dl > dr ? dl : dr;
    if (k & 1)
        return jth;
    dl = a < nl ? RZ_L(a) : INFINITY;
    dr = b < nr ? RZ_R(b) : INFINITY;
    return (jth + (dl < dr ? dl : dr)) / 2;
#undef RZ_L
#undef RZ_R
}

/* log(value + offset) clamped to the grid's range; value + offset > 0. */
static double grid_log(double y)
{
    double x = log(y);
    return x < RZ_LOG_MIN ? RZ_LOG_MIN : x > RZ_LOG_MAX ? RZ_LOG_MAX : x;
}

/* Nearest code (halves up) of a log; the cast truncates a value >= 0, so
 * no libm rounding call. */
static uint16_t encode(double lg)
{
    double c = lg / RZ_CODE_STEP + (RZ_CODE_ZERO + 0.5);
    return (uint16_t)(c < 0 ? 0 : c >= RZ_CODE_MAX ? RZ_CODE_MAX : (int32_t)c);
}

static double code_log(double code)
{
    return (code - RZ_CODE_ZERO) * RZ_CODE_STEP;
}

/* A code back on the value's scale. The cell holding the value 0 (CLS with
 * a log_offset) gives exactly 0: any point of a cell stands for it, and 0
 * is the common one. */
static double decode(double code, double off)
{
    double y = exp(code_log(code));
    if (off > 0 && fabs(y - off) <= off * (0.5 * RZ_CODE_STEP))
        return 0;
    return y - off;
}

static float to_float(double v)
{
    if (v > FLT_MAX)
        return FLT_MAX;
    if (v < -FLT_MAX)
        return -FLT_MAX;
    return (float)v;
}

/* Median (on the value's scale), centre (median on the working scale: of
 * the logs for scale = log) and, if mad is not NULL, the MAD on the working
 * scale. Even k: the value median is the mean of the two middle values, the
 * centre the mean of their logs, as GSL's median of each would give. */
static void ring_stats(const struct rz_params *p, const struct rz_view *v, double *med,
                       double *centre, double *mad)
{
    double m = view_median(v);
    if (v->c) {
        uint32_t k = v->k;
        if (k & 1)
            *med = decode(m, p->log_offset);
        else
            *med = 0.5 * decode(nth(v, k / 2 - 1), p->log_offset) +
                   0.5 * decode(nth(v, k / 2), p->log_offset);
        *centre = code_log(m);
    } else {
        *med = m;
        *centre = m;
    }
    if (mad)
        *mad = view_mad(v, m) * (v->c ? RZ_CODE_STEP : 1.0);
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

static double state_factor(const struct rz_params *p, const struct rz_state *s, uint32_t k)
{
    return s->fcode ? exp(code_log(s->fcode)) : small_sample_factor(k, p->z);
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
static double shrunk_sigma(const struct rz_state *ps, uint32_t kp, double fac_p, double madp,
                           uint32_t k, double n_now, double n_own)
{
    double np = ps->n_typ > 1 ? (double)ps->n_typ : 1.0;
    double r_now = n_now >= 1 && np > n_now ? np / n_now : 1.0;
    double r_own = n_own >= 1 && np > n_own ? np / n_own : 1.0;
    double t = fac_p / sqrt(1.0 + RZ_PI / (2.0 * kp));
    return RZ_MAD_TO_SIGMA * madp * t * sqrt(r_now + RZ_PI / (2.0 * k) * r_own);
}

static void rz_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct rz_params *p = params;
    const struct rz_state *s = state;

    rw_verdict_begin(out, RW_SCORE_Z, obs->value, obs->n, rz_test);

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
    struct rz_view v = view_of(p, s);
    uint32_t k = v.k;
    const struct rz_state *ps = obs->parent;
    uint32_t kp = ps ? state_count(p, ps) : 0;
    int shrink = p->scale == RZ_LOG && k < (uint32_t)p->min_history && k >= RZ_SHRINK_MIN &&
                 kp >= (uint32_t)p->min_history;
    out->base_windows = k;
    if (k < (uint32_t)p->min_history && !shrink) {
        RW_WHY(obs, out, "warming up: %u of %d windows", k, p->min_history);
        return;
    }

    int lg = p->scale == RZ_LOG;
    double med, centre, mad, sigma;
    /* The factor of the baseline whose spread is used (p needs it too). */
    uint32_t kk = shrink ? kp : k;
    double fac = state_factor(p, shrink ? ps : s, kk);
    if (!shrink) {
        ring_stats(p, &v, &med, &centre, &mad);
        sigma = RZ_MAD_TO_SIGMA * mad * fac;
    } else {
        ring_stats(p, &v, &med, &centre, NULL);
        struct rz_view pv = view_of(p, ps);
        double madp = view_mad(&pv, view_median(&pv)) * RZ_CODE_STEP; /* shrink: log only */
        sigma = shrunk_sigma(ps, kp, fac, madp, k, (double)obs->n, (double)s->n_typ);
        out->shrunk = 1;
    }

    double amed = fabs(med);
    /* log1p(r) <= r: a sigma above r needs no floor (and no log1p) */
    double floor_sigma = p->min_rel_scale * (lg ? 1.0 : amed);
    if (!(sigma >= floor_sigma)) {
        if (lg)
            floor_sigma = log1p(p->min_rel_scale);
        if (!(sigma >= floor_sigma))
            sigma = floor_sigma;
    }
    if (!(sigma >= 1e-12))
        sigma = 1e-12;

    /* On the log scale x is coded like the ring: a value equal to the
     * median gives z = 0, and beyond the grid's ends it clamps as they do. */
    double x = lg ? code_log(encode(grid_log(obs->value + off))) : obs->value;
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
        double kd = (double)kk;
        double bias = (1.0 + 1.0 / kd) * sqrt(1.0 + RZ_PI / (2.0 * kd));
        double r = fac / bias;
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
                     const struct rw_verdict *verdict)
{
    const struct rz_params *p = params;
    struct rz_state *s = state;
    (void)verdict;
    if (!isfinite(obs->value) || obs->n < (uint32_t)p->min_n)
        return;
    int lg = p->scale == RZ_LOG;
    if (lg && !(obs->value + p->log_offset > 0))
        return;
    uint32_t h = (uint32_t)p->history;
    if (s->pos >= 2 * h) /* defensive: a state from other params */
        s->pos = (uint16_t)h;
    struct rz_view v = view_of(p, s);
    unsigned char *ord = (unsigned char *)(v.o8 ? (const void *)v.o8 : (const void *)v.o16);
    size_t es = v.o8 ? 1 : 2; /* bytes per sorted slot number */
    uint32_t head = s->pos < h ? s->pos : s->pos - h;
    uint32_t n = v.k;
    uint32_t i = n; /* where the leaving value sits in the sorted slots */
    if (n == h) {   /* the oldest value leaves: the first of its equals */
        i = count_below(&v, n, slot_value(&v, head), 0);
        while (i < n - 1 && (v.o8 ? v.o8[i] : v.o16[i]) != head) /* defensive; never taken */
            i++;
    }
    uint16_t code = 0;
    float f = 0;
    if (lg)
        code = encode(grid_log(obs->value + p->log_offset));
    else
        f = to_float(obs->value);
    /* The new value goes after its equals (so equals stay oldest first);
     * j counts the values <= it other than the leaving one (counted before
     * its slot is overwritten). The slot numbers between the leaving and
     * the new position shift by one, in one memmove. */
    uint32_t j = count_below(&v, n, lg ? (double)code : (double)f, 1);
    if (lg)
        ((uint16_t *)(s + 1))[head] = code;
    else
        ((float *)(s + 1))[head] = f;
    if (i < j)
        j--;
    if (i == n)
        memmove(ord + (j + 1) * es, ord + j * es, (n - j) * es);
    else if (j > i)
        memmove(ord + i * es, ord + (i + 1) * es, (j - i) * es);
    else if (j < i)
        memmove(ord + (j + 1) * es, ord + j * es, (i - j) * es);
    if (v.o8)
        ord[j] = (uint8_t)head;
    else
        ((uint16_t *)ord)[j] = (uint16_t)head;
    uint32_t before = v.k;
    uint32_t next = (uint32_t)s->pos + 1;
    s->pos = (uint16_t)(next < 2 * h ? next : h);
    uint32_t count = state_count(p, s);
    uint32_t c = count < RZ_NTYP_SPAN ? count : RZ_NTYP_SPAN;
    s->n_typ += ((float)obs->n - s->n_typ) / (float)c;
    if (count >= (uint32_t)p->min_history && (count != before || !s->fcode))
        s->fcode = encode(log(small_sample_factor(count, p->z)));
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
