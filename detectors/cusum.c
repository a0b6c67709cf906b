/* cusum: one-sided tabular CUSUM (Page 1954) against a slow, frozen
 * reference, for gradual regressions: a p75 LCP creeping up 40 % over three
 * hours after a release, which a rolling median learns away.
 *
 * Per window, on the working scale (value, or log(value + log_offset)):
 *     z = clip((x - mu) / (c sigma), +-clip)      (sign flipped for "down")
 *     S = max(0, S + z - k_eff)
 *     r = (1 - 0.3) r + 0.3 z_unclipped           recent level, in sigmas
 * breach while S > h AND r > k AND the level r passes min_rel_change
 * (once breaching, half of k and of min_rel_change: hysteresis).
 * score = S. The r condition lets an alert resolve soon after the cause is
 * fixed (S itself only decays by about k per window); reset() (the engine
 * calls it when the alert resolves) zeroes S and r.
 *
 * Reference: mu and sigma^2 are exponentially weighted (half_life learned
 * windows; equal weights until that many are in). A window is learned only
 * if S was at most h/4 before it: while evidence accumulates the reference
 * is FROZEN, so the creep it is tracking is not learned. The decision uses
 * the state before the window, never the window's own value, so in-control
 * learning stays unbiased. Why h/4 and not the textbook S > 0: a reference
 * that happens to be estimated low has S > 0 most of the time, so freezing
 * at S > 0 keeps it low for ever (it alarmed 3x the promise on references
 * of 30-60 windows); below h/4 it keeps learning, and a creep has long
 * passed h/4 before the reference could follow it (its time constant is
 * ~350 windows). Once frozen windows outnumber learning ones by `accept`
 * (reset() does not clear this count) the level is accepted as the new
 * normal: mu moves to the recent level, S = 0 (the alert
 * then resolves) and mu re-learns quickly from there.
 *
 * Calibration promise: on i.i.d. Gaussian windows (working scale) the
 * alarm-start rate per window is 1/ARL0, ARL0 = `arl` (h is derived from it
 * with Siegmund's approximation ARL0 = (e^a - a - 1) / (2 k^2),
 * a = 2 k (h + 1.166)), or, when `h` is set, ARL0 = Siegmund(k, h). An alarm
 * start is a breach after a non-breach, with reset() after it.
 *
 * The estimated mu and sigma are noisy, and the CUSUM sums many windows that
 * share the same error: a reference estimated low or narrow fires far more
 * than 1/ARL0. Uncorrected, at ARL0 = 1e4, references of 30-59 windows
 * alarmed 3.9x the promise, 60-119: 2.4x, 120-299: 1.4x. So:
 *   - sigma is scaled by c, the root of
 *         2.332 k c + (nu/2) ln(1 + 4 k h c^2 / nu) = 2 k (h + 1.166)
 *     (Siegmund's exponent averaged over the sigma ratio r^2 ~ chi2_nu/nu);
 *   - k is raised to k_eff, solving E[R(delta + k_eff c, h c)] = R(k, h)
 *     where R is Siegmund's alarm rate and delta ~ N(0, v) the mean's error
 *     (v = var(mu) / sigma^2, tracked with the weights), by a 20-point
 *     Gauss-Hermite rule. The closed form of the exponential approximation,
 *     k + v (h c + 1.166) / c, over-corrects (rates 0.2-0.4x) because the
 *     rate of a drift near 0 saturates instead of growing as e^{2|delta|h}.
 * With the defaults (k 0.5, ARL0 1e5, h 9.65): 30 windows c = 1.18,
 * k_eff = 0.59; 120 windows 1.04, 0.53; settled (nu ~ 690) 1.007, 0.506.
 * Both are computed when learning changes the weights (the first ~1500
 * windows of a series, ~1.5 us each), then fixed. After correction the
 * same buckets measured 1.05x, 0.82x, 0.97x; tests/unit/test_cusum.c
 * checks all windows and references of 30-119 windows.
 *
 * Shrinkage (scale = log only): while the series has fewer than
 * min_history windows of its own (but at least 10), it pools its variance
 * with the parent's, scaled for sample size (the sampling variance of a
 * log-quantile is proportional to 1/n), as a prior worth 30 windows. A
 * parent page has more samples than its page x device child, so whatever
 * between-window variance the parent has is over-counted: conservative.
 *
 * Sample size: sigma is for the harmonic-mean n of the learned windows; a
 * window with fewer samples gets sigma x sqrt(n_typ / n) (never less), so
 * night-time windows with few views do not fire on noise.
 *
 * State: 56 bytes, no ring.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#define CU_SIEGMUND 1.166
#define CU_LEVEL_WEIGHT 0.3 /* EWMA weight of the recent level r */
#define CU_SHRINK_DF 30.0   /* the parent's variance counts as this many windows */
#define CU_SHRINK_MIN 10u   /* own windows needed before evaluating with a parent */
#define CU_FREEZE 0.25      /* the reference is frozen while S > this x h */

enum cu_direction { CU_UP = 0, CU_DOWN };
static const char *const cu_directions[] = {"up", "down", NULL};
enum cu_scale { CU_LINEAR = 0, CU_LOG };
static const char *const cu_scales[] = {"linear", "log", NULL};

struct cu_params {
    double k;
    double arl;
    double h;
    int min_history;
    double half_life;
    int accept;
    double clip;
    int min_n;
    int direction;
    double min_rel_change;
    double min_rel_scale;
    int scale;
    double log_offset;
};

struct cu_state {
    double mu;          /* reference level, working scale */
    double var;         /* reference variance, exponentially weighted (biased form) */
    float vm;           /* sum of squared weights behind mu: var(mu) / sigma^2 */
    float vv;           /* the same for var; nu = 1/vv - 1 degrees of freedom */
    float inv_n;        /* weighted mean of 1/n over the learned windows */
    float h;            /* threshold, sigmas (init: from arl or h) */
    float s;            /* CUSUM statistic, sigmas */
    float r;            /* recent level: EWMA of z */
    float c;            /* sigma_factor() for the reference's own nu, set by learning */
    float keff;         /* drift_for() for its own vm and c, set by learning */
    uint32_t n;         /* windows learned */
    uint16_t run : 15;  /* windows since S left 0 (saturates) */
    uint16_t alarm : 1; /* this episode breached; cleared when S <= h, r <= 0, reset */
    uint16_t brun;      /* windows frozen (S > h/4) minus windows not, >= 0 */
};

#define OPT(field) offsetof(struct cu_params, field)
static const struct rw_option cu_options[] = {
    {.name = "k",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(k),
     .def = 0.5,
     .min = 0.05,
     .max = 5,
     .help = "drift allowance in sigmas: shifts above k accumulate; quickest for a shift of 2k"},
    {.name = "arl",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(arl),
     .def = 1e5,
     .min = 10,
     .max = 1e12,
     .help = "in-control average run length, windows: alarm starts at 1/arl per window; sets h"},
    {.name = "h",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(h),
     .def = 0,
     .min = 0,
     .max = 1000,
     .help = "threshold on S in sigmas; 0 = derived from arl (Siegmund)"},
    {.name = "min_history",
     .type = RW_OPT_INT,
     .offset = OPT(min_history),
     .def = 30,
     .min = 5,
     .max = 100000,
     .help = "windows learned into the reference before evaluating"},
    {.name = "half_life",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(half_life),
     .def = 240,
     .min = 5,
     .max = 1e6,
     .help = "half-life of the reference's exponential weights, in learned windows"},
    {.name = "accept",
     .type = RW_OPT_INT,
     .offset = OPT(accept),
     .def = 120,
     .min = 0,
     .max = 65535,
     .help = "net windows frozen (S > h/4) after which the level is the new normal (0: never)"},
    {.name = "clip",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(clip),
     .def = 4,
     .min = 0.5,
     .max = 100,
     .help = "cap on |z| per window: one outlier adds at most clip - k to S"},
    {.name = "min_n",
     .type = RW_OPT_INT,
     .offset = OPT(min_n),
     .def = 20,
     .min = 0,
     .max = 1e9,
     .help = "samples needed behind a window's value to evaluate or learn it"},
    {.name = "direction",
     .type = RW_OPT_ENUM,
     .offset = OPT(direction),
     .def = CU_UP,
     .choices = cu_directions,
     .help = "which drift accumulates: up or down"},
    {.name = "min_rel_change",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_change),
     .def = 0.1,
     .min = 0,
     .max = 1e6,
     .help = "the recent level must also differ from the reference by this fraction"},
    {.name = "min_rel_scale",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_scale),
     .def = 0.02,
     .min = 0,
     .max = 1e6,
     .help = "floor on sigma as a fraction of the reference (a flat history gives finite z)"},
    {.name = "scale",
     .type = RW_OPT_ENUM,
     .offset = OPT(scale),
     .def = CU_LINEAR,
     .choices = cu_scales,
     .help = "linear, or log for right-skewed positive values such as timing percentiles"},
    {.name = "log_offset",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(log_offset),
     .def = 0,
     .min = 0,
     .max = 1e9,
     .help = "with scale = log, work on log(value + log_offset)"},
    {.name = NULL},
};
#undef OPT

/* h for a given in-control ARL: solve e^a - a - 1 = 2 k^2 arl (Newton from
 * the right of the root: g is convex and increasing, so it converges
 * monotonically), h = a / 2k - 1.166. */
static double h_from_arl(double k, double arl)
{
    double b = 2.0 * k * k * arl;
    double a = b < 4 ? sqrt(2.0 * b) : log1p(b) + log1p(log1p(b));
    for (int i = 0; i < 100; i++) {
        double g = expm1(a) - a - b;
        double step = g / expm1(a);
        a -= step;
        if (fabs(step) < 1e-12 * a)
            break;
    }
    return a / (2.0 * k) - CU_SIEGMUND;
}

static double threshold_of(const struct cu_params *p)
{
    return p->h > 0 ? p->h : h_from_arl(p->k, p->arl);
}

static int cu_validate(const void *params, char *err, size_t errlen)
{
    const struct cu_params *p = params;
    if (!(p->k >= 0.05 && p->k <= 5) || !(p->clip > p->k)) {
        snprintf(err, errlen, "'k' must be in [0.05, 5] and below 'clip'");
        return -EINVAL;
    }
    if (!(p->arl >= 10) || !(p->h >= 0) || !(p->half_life >= 5) || p->min_history < 5 ||
        p->accept < 0) {
        snprintf(err, errlen, "'arl' >= 10, 'h' >= 0, 'half_life' >= 5, 'min_history' >= 5");
        return -EINVAL;
    }
    double h = threshold_of(p);
    if (!(h >= 0.5) || !isfinite(h)) {
        snprintf(err, errlen, "'arl' = %g gives h = %.3g with k = %g: need h >= 0.5", p->arl, h,
                 p->k);
        return -EINVAL;
    }
    if (p->direction < CU_UP || p->direction > CU_DOWN || p->scale < CU_LINEAR ||
        p->scale > CU_LOG) {
        snprintf(err, errlen, "'direction' up/down, 'scale' linear/log");
        return -EINVAL;
    }
    return 0;
}

static size_t cu_state_size(const void *params)
{
    (void)params;
    return sizeof(struct cu_state);
}

static void cu_init(const void *params, void *state)
{
    const struct cu_params *p = params;
    struct cu_state *s = state;
    *s = (struct cu_state){0};
    s->h = (float)threshold_of(p);
}

static void cu_reset(const void *params, void *state)
{
    (void)params;
    struct cu_state *s = state;
    s->s = 0;
    s->r = 0;
    s->run = 0;
    s->alarm = 0;
}

/* Scale factor c on sigma so that, with sigma estimated on nu degrees of
 * freedom, the alarm rate averaged over the estimate's error stays 1/ARL0:
 * the root of f(c) = 2.332 k c + (nu/2) ln(1 + 4 k h c^2 / nu) - 2 k (h + 1.166).
 * f(1) <= 0 and f increases; safeguarded Newton. */
static double sigma_factor(double k, double h, double nu)
{
    if (!(nu < 1e7))
        return 1.0;
    if (nu < 1)
        nu = 1;
    double al = 4.0 * k * h / nu, target = 2.0 * k * (h + CU_SIEGMUND);
    double lo = 1.0, hi = 0, c = 1.0;
    for (int i = 0; i < 60; i++) {
        double q = al * c * c;
        double f = 2.0 * CU_SIEGMUND * k * c + 0.5 * nu * log1p(q) - target;
        if (f < 0)
            lo = c;
        else
            hi = c;
        double fp = 2.0 * CU_SIEGMUND * k + nu * al * c / (1.0 + q);
        double nc = c - f / fp;
        if (!(nc > lo) || (hi > 0 && !(nc < hi)))
            nc = hi > 0 ? 0.5 * (lo + hi) : 2.0 * c;
        if (fabs(nc - c) < 1e-7 * c)
            return nc;
        c = nc;
    }
    return c;
}

/* Siegmund's per-window alarm rate 1/ARL of a CUSUM with drift kap (in
 * sigmas; negative = the process is above the reference) and threshold
 * eta: 2 kap^2 / (e^a - a - 1), a = 2 kap (eta + 1.166). */
static double siegmund_rate(double kap, double eta)
{
    double A = eta + CU_SIEGMUND, a = 2.0 * kap * A;
    if (fabs(a) < 1e-6)
        return 1.0 / (A * A);
    double d = expm1(a) - a;
    return isfinite(d) ? 2.0 * kap * kap / d : 0.0;
}

/* 20-point Gauss-Hermite rule for E[f(Z)], Z ~ N(0, 1): the positive
 * nodes and their weights (the rule is symmetric; weights sum to 1). */
/* clang-format off */
static const double cu_gh[10][2] = {
    {0.34696415708135614, 0.260793063449555},
    {1.0429453488027514, 0.16173933398400001},
    {1.7452473208141266, 0.061506372063976709},
    {2.4586636111723701, 0.013997837447101017},
    {3.1890148165533878, 0.0018301031310804959},
    {3.9439673506573132, 0.00012882627996193074},
    {4.7345813340460534, 4.4021210902308586e-06},
    {5.5787388058931979, 6.1274902599829372e-08},
    {6.5105901570136488, 2.4820623623151828e-10},
    {7.6190485416797635, 1.2578006724379062e-13},
};
/* clang-format on */

/* log of the alarm rate averaged over the reference mean's error
 * delta ~ N(0, v) (sigmas), with drift ke and threshold h in units of
 * c sigma: E[R(delta + ke c, h c)]. */
static double log_mean_rate(double ke, double c, double h, double v)
{
    double sd = sqrt(v), sum = 0;
    for (int i = 0; i < 10; i++) {
        double d = cu_gh[i][0] * sd;
        sum += cu_gh[i][1] * (siegmund_rate(ke * c + d, h * c) + siegmund_rate(ke * c - d, h * c));
    }
    return log(sum);
}

/* k_eff >= k such that the alarm rate averaged over the mean's error is
 * the promised one, R(k, h). The exponential approximation
 * k + v (h c + 1.166) / c brackets it from above (it over-corrects: the
 * rate of a drift near 0 saturates at 1/(h + 1.166)^2, not e^{2|delta|h});
 * Illinois regula falsi on the log rate, which is nearly linear in k_eff. */
static double drift_for(double k, double h, double c, double v)
{
    if (!(v > 1e-9))
        return k;
    double target = log(siegmund_rate(k, h));
    double hi = k + v * (h * c + CU_SIEGMUND) / c;
    if (!isfinite(target))
        return hi; /* a threshold so high the rate underflows */
    double lo = k, flo = log_mean_rate(lo, c, h, v) - target;
    if (!(flo > 0))
        return k;
    double fhi = log_mean_rate(hi, c, h, v) - target;
    for (int i = 0; i < 20 && fhi > 0; i++) {
        lo = hi;
        flo = fhi;
        hi = k + 2.0 * (hi - k);
        fhi = log_mean_rate(hi, c, h, v) - target;
    }
    int side = 0;
    for (int i = 0; i < 40 && hi - lo > 1e-5 * k; i++) {
        double m = isfinite(fhi) ? (lo * fhi - hi * flo) / (fhi - flo) : 0.5 * (lo + hi);
        if (!(m > lo && m < hi))
            m = 0.5 * (lo + hi);
        double fm = log_mean_rate(m, c, h, v) - target;
        if (fabs(fm) < 0.01) /* the rate within 1 % */
            return m;
        if (fm > 0) {
            lo = m;
            flo = fm;
            if (side == 1)
                fhi *= 0.5;
            side = 1;
        } else {
            hi = m;
            fhi = fm;
            if (side == -1)
                flo *= 0.5;
            side = -1;
        }
    }
    return hi;
}

enum cu_status { CU_EVAL = 0, CU_NOVALUE, CU_MIN_N, CU_NONPOS, CU_WARMUP };

/* One window against the state: everything eval and learn share. */
struct cu_step {
    double sig;  /* c x sigma for this window's n, working scale */
    double keff; /* k corrected for the reference mean's error */
    double s, r; /* statistic and level after this window */
    int breach;  /* S > h and r > k, before the change gate */
    int big;     /* the level passes min_rel_change */
    int shrunk;  /* sigma pooled with the parent's */
};

static double to_value(const struct cu_params *p, double w)
{
    return p->scale == CU_LOG ? exp(w) - p->log_offset : w;
}

static double unbiased_var(const struct cu_state *s)
{
    return s->vv < 1.0f ? s->var / (1.0 - (double)s->vv) : 0.0;
}

static enum cu_status prepare(const struct cu_params *p, const struct rw_obs *obs, double *x)
{
    if (isnan(obs->value))
        return CU_NOVALUE;
    if (obs->n < (uint32_t)p->min_n)
        return CU_MIN_N;
    if (p->scale == CU_LOG) {
        if (!(obs->value + p->log_offset > 0))
            return CU_NONPOS;
        *x = log(obs->value + p->log_offset);
    } else {
        *x = obs->value;
    }
    return CU_EVAL;
}

static enum cu_status advance(const struct cu_params *p, const struct cu_state *s,
                              const struct rw_obs *obs, double x, struct cu_step *e)
{
    const struct cu_state *par = obs->parent;
    double inv_nt = 1.0 / (obs->n > 0 ? (double)obs->n : 1.0);
    double var, nu;
    e->shrunk = 0;
    if (s->n >= (uint32_t)p->min_history) {
        var = unbiased_var(s);
        if (inv_nt > s->inv_n && s->inv_n > 0)
            var *= inv_nt / s->inv_n;
        nu = 1.0 / s->vv - 1.0;
    } else if (p->scale == CU_LOG && par && par->n >= (uint32_t)p->min_history &&
               s->n >= CU_SHRINK_MIN && par->inv_n > 0 && s->inv_n > 0) {
        /* Pool variance per sample (var x typical n) with the parent's. */
        double nu_own = 1.0 / s->vv - 1.0, nu_par = 1.0 / par->vv - 1.0;
        if (nu_par > CU_SHRINK_DF)
            nu_par = CU_SHRINK_DF;
        double u = (nu_own * unbiased_var(s) / s->inv_n + nu_par * unbiased_var(par) / par->inv_n) /
                   (nu_own + nu_par);
        var = u * (inv_nt > s->inv_n ? inv_nt : s->inv_n);
        nu = nu_own + nu_par;
        e->shrunk = 1;
    } else {
        return CU_WARMUP;
    }
    double h = s->h;
    double c = e->shrunk ? sigma_factor(p->k, h, nu) : (double)s->c;
    e->keff = e->shrunk ? drift_for(p->k, h, c, s->vm) : (double)s->keff;
    double floor = p->scale == CU_LOG ? log1p(p->min_rel_scale) : p->min_rel_scale * fabs(s->mu);
    double sigma = sqrt(var);
    if (!(sigma >= floor))
        sigma = floor;
    if (!(sigma >= 1e-12))
        sigma = 1e-12;
    double sgn = p->direction == CU_DOWN ? -1.0 : 1.0;
    e->sig = c * sigma;
    double zr = sgn * (x - s->mu) / e->sig;
    if (zr > 1e6)
        zr = 1e6;
    if (zr < -1e6)
        zr = -1e6;
    double z = zr > p->clip ? p->clip : zr < -p->clip ? -p->clip : zr;
    double sn = (double)s->s + z - e->keff;
    e->s = sn > 0 ? sn : 0;
    /* The level is not clipped: it must say how big a jump is, and a
     * lone outlier cannot breach through it (S is clipped). */
    e->r = (1.0 - CU_LEVEL_WEIGHT) * (double)s->r + CU_LEVEL_WEIGHT * zr;
    /* Hysteresis: once this episode has breached (S above h since), the
     * level may sink to half the bars before the verdict goes OK, so a
     * level that sits near a bar does not flap (each flap would resolve,
     * reset and re-fire). */
    double bar = s->alarm ? 0.5 : 1.0;
    e->breach = e->s > h && e->r > bar * p->k;
    double ref = to_value(p, s->mu), lvl = to_value(p, s->mu + sgn * e->r * e->sig);
    e->big = sgn * (lvl - ref) >= bar * p->min_rel_change * fabs(ref);
    return CU_EVAL;
}

static void cu_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct cu_params *p = params;
    const struct cu_state *s = state;

    rw_verdict_begin(out, RW_SCORE_Z, obs->value, obs->n, "one-sided CUSUM (Page)");
    out->base_windows = s->n;

    double x = 0;
    struct cu_step e;
    enum cu_status st = prepare(p, obs, &x);
    if (st == CU_EVAL)
        st = advance(p, s, obs, x, &e);
    switch (st) {
    case CU_NOVALUE: RW_WHY(obs, out, "no value this window"); return;
    case CU_MIN_N: RW_WHY(obs, out, "%u samples < min_n %d", obs->n, p->min_n); return;
    case CU_NONPOS:
        RW_WHY(obs, out, "value %.4g <= 0 on log scale", obs->value + p->log_offset);
        return;
    case CU_WARMUP: RW_WHY(obs, out, "warming up: %u of %d windows", s->n, p->min_history); return;
    case CU_EVAL: break;
    }

    double sgn = p->direction == CU_DOWN ? -1.0 : 1.0;
    double ref = to_value(p, s->mu);
    out->kind = e.breach && e.big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    out->expected = ref;
    out->score = e.s;
    out->big = (uint8_t)e.big;
    out->shrunk = (uint8_t)e.shrunk;
    if (!obs->words)
        return;
    /* Band: values at which evidence does not accumulate, and that are
     * within min_rel_change of the reference. */
    double edge = to_value(p, s->mu + sgn * e.keff * e.sig);
    double gate = ref + sgn * p->min_rel_change * fabs(ref);
    if (sgn * (gate - edge) > 0)
        edge = gate;
    if (p->direction == CU_DOWN)
        out->low = edge;
    else
        out->high = edge;
    snprintf(out->base, sizeof out->base, "reference of %u windows%s", s->n,
             e.shrunk ? " + parent sigma" : "");
    double lvl = to_value(p, s->mu + sgn * e.r * e.sig);
    double pct = ref != 0 ? 100.0 * (lvl - ref) / fabs(ref) : 0.0;
    uint32_t run = e.s > 0 ? s->run + 1 : 0;
    snprintf(out->why, sizeof out->why,
             "S=%.1f %s h=%.1f, level %+.1f sd (%+.0f%%) over %u windows%s", e.s,
             e.s > s->h ? ">" : "<=", (double)s->h, e.r, pct, run,
             e.breach && !e.big ? ", < min_rel_change" : "");
}

/* Fold x into the reference: equal weights until the weights' sum of
 * squares drops below what the half-life gives, exponential after. */
static void learn_reference(const struct cu_params *p, struct cu_state *s, double x, uint32_t n)
{
    double inv_n = 1.0 / (n > 0 ? (double)n : 1.0);
    if (s->n == 0) {
        s->mu = x;
        s->var = 0;
        s->vm = 1;
        s->vv = 1;
        s->inv_n = (float)inv_n;
        s->n = 1;
        s->c = 1;
        s->keff = (float)p->k;
        return;
    }
    double lh = -expm1(-0.69314718055994530942 / p->half_life);
    double vm = s->vm, vv = s->vv;
    double lm = vm / (1.0 + vm), lv = vv / (1.0 + vv);
    if (lm < lh)
        lm = lh;
    if (lv < lh)
        lv = lh;
    double d = x - s->mu;
    s->mu += lm * d;
    s->var = (1.0 - lv) * (s->var + lv * d * d);
    s->vm = (float)((1.0 - lm) * (1.0 - lm) * vm + lm * lm);
    s->vv = (float)((1.0 - lv) * (1.0 - lv) * vv + lv * lv);
    s->inv_n = (float)(s->inv_n + lv * (inv_n - s->inv_n));
    if (s->n < UINT32_MAX)
        s->n++;
    /* c and k_eff follow the weights; once those have settled (changes
     * below 0.1 %) they stay, a hair conservative, and cost nothing. */
    if (s->n >= (uint32_t)p->min_history &&
        (s->n == (uint32_t)p->min_history || fabs(s->vm - vm) > 1e-3 * vm ||
         fabs(s->vv - vv) > 1e-3 * vv)) {
        s->c = (float)sigma_factor(p->k, s->h, 1.0 / s->vv - 1.0);
        s->keff = (float)drift_for(p->k, s->h, s->c, s->vm);
    }
}

static void cu_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct cu_params *p = params;
    struct cu_state *s = state;
    (void)v; /* recomputed: the same as eval's verdict, words or not */
    double x;
    if (prepare(p, obs, &x) != CU_EVAL)
        return;
    struct cu_step e;
    if (advance(p, s, obs, x, &e) != CU_EVAL) {
        learn_reference(p, s, x, obs->n); /* warm-up: learn everything */
        return;
    }
    int frozen = s->s > CU_FREEZE * s->h;
    s->s = (float)e.s;
    s->r = (float)e.r;
    s->run = e.s > 0 ? (s->run < 0x7fffu ? s->run + 1u : s->run) : 0u;
    /* The episode ends when S drops to h or the level is back at the
     * reference (r <= 0): after a fix, S alone would keep the half bars
     * for ~S/k windows if no reset() comes (an alert that never fired). */
    s->alarm = (s->alarm || (e.breach && e.big)) && e.s > (double)s->h && e.r > 0;
    /* Evidence of a lasting change: +1 for a window with the reference
     * frozen (S above h/4), -1 for one without. It counts S, not breach
     * verdicts (a level hovering around min_rel_change must be accepted
     * too), and survives reset(): a level that stays up re-fires after
     * each resolve, and those alerts add up to `accept` instead of
     * repeating for ever. */
    if (e.s > CU_FREEZE * (double)s->h) {
        if (s->brun < UINT16_MAX)
            s->brun++;
    } else if (s->brun > 0) {
        s->brun--;
    }
    if (p->accept > 0 && s->brun >= (uint32_t)p->accept) {
        /* A regression nobody fixed: its recent level is the new normal.
         * That level is an EWMA of a few windows (variance 0.18 sigma^2),
         * so mu restarts as if learned from ~6 windows and converges fast;
         * k_eff keeps the young mean from firing meanwhile. */
        double sgn = p->direction == CU_DOWN ? -1.0 : 1.0;
        double vr = CU_LEVEL_WEIGHT / (2.0 - CU_LEVEL_WEIGHT);
        s->mu += sgn * e.r * e.sig;
        if (s->vm < vr)
            s->vm = (float)vr;
        s->keff = (float)drift_for(p->k, s->h, s->c, s->vm);
        s->s = 0;
        s->r = 0;
        s->run = 0;
        s->alarm = 0;
        s->brun = 0;
        return;
    }
    if (frozen)
        return;
    /* Winsorize what is learned: one wild window must not blow up sigma. */
    double lim = p->clip * e.sig;
    if (x > s->mu + lim)
        x = s->mu + lim;
    if (x < s->mu - lim)
        x = s->mu - lim;
    learn_reference(p, s, x, obs->n);
}

const struct rw_detector rw_detector_cusum = {
    .name = "cusum",
    .help = "one-sided CUSUM against a slow frozen reference: gradual drifts and small shifts",
    .options = cu_options,
    .params_size = sizeof(struct cu_params),
    .validate = cu_validate,
    .state_size = cu_state_size,
    .init = cu_init,
    .eval = cu_eval,
    .learn = cu_learn,
    .reset = cu_reset,
};
