/* traffic_drop: far fewer page views than the recent baseline expects, zero
 * included (the page, the tag or the beacon endpoint broke).
 *
 * expected m = median of the views ring (below 20 views a window, the mean
 * of the windows near the median: small counts have a biased median). Real
 * traffic is overdispersed, so
 * the lower tail is a negative binomial with mean m and a variance taken
 * from the ring itself (never below Poisson), widened for the few windows
 * it was estimated from. The p-value is P(X <= views). A breach needs
 * p < alpha AND views <= (1 - min_drop) x m, so a significant but small dip
 * on a big page stays quiet. See clipped_variance() and
 * predictive_variance() for why the variance is computed as it is.
 *
 * span > 1 tests the sum of the last `span` windows (this one included)
 * against span x the median, with span x the variance: a page with 8 views
 * a minute cannot prove an outage in one window, but three empty windows
 * can. Windows join the baseline only once they leave the span, and every
 * window of a breaching span is marked as part of the incident.
 *
 * p-value (RW_DET_PVALUE): P(X <= views) on every evaluated window; a
 * breach has p < alpha and views <= (1 - min_drop) m (big).
 *
 * No shrinkage (obs->parent is ignored, shrunk is always 0): what a series'
 * views should be is its own level, and a parent says nothing about it (a
 * page x device series is an unknown, drifting share of its page). Its
 * dispersion could be borrowed, but the series would still need its own
 * median, and min_history windows are only 20 minutes; an outage of a young
 * series shows on its parent anyway.
 *
 * State (engine-owned, state_size() bytes): a ring of views per window, its
 * slot numbers sorted by views (a byte each up to 256 windows, else 2: the
 * median and MAD need no selection per window, and no second copy of the
 * values), and the count of consecutive breach windows. Breach windows are not learned,
 * so an outage does not drag the median down; after more than history/2
 * consecutive breaches they are, so a permanent drop (a page retired,
 * traffic moved) becomes the new normal instead of alerting forever.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#define TD_HISTORY_MAX 1440
#define TD_SPAN_MAX 30
#define TD_MAD_TO_SIGMA 1.4826
#define TD_PI 3.14159265358979323846
#define TD_SMALL 20.0 /* below this median, expect the clipped mean (see td_eval) */

static const char td_test[] = "negative binomial lower tail";

struct td_params {
    int history;
    int min_history;
    double alpha;
    double min_drop;
    double min_expected;
    int span;
};

struct td_pending {
    uint32_t views;
    uint32_t breach;
};

struct td_state {
    uint32_t count;      /* windows in the ring, <= history */
    uint32_t head;       /* next slot to write */
    uint32_t breach_run; /* consecutive breach windows not learned */
    uint32_t npend;      /* recent windows inside the span, not yet learned */
    uint32_t pend_head;
    uint32_t ring[]; /* views per window by slot; [0, count) valid until
                        full; then `history` slot numbers sorted by views
                        (uint8 if history <= 256, else uint16), [0, count)
                        valid; then, 4-byte aligned, span-1 struct
                        td_pending */
};

/* The ring in views order: x(i) = ring[ord[i]], the i-th smallest. */
struct td_sorted {
    uint32_t *ring;
    uint8_t *o8;   /* history <= 256 */
    uint16_t *o16; /* longer histories */
};

static size_t ord_width(const struct td_params *p)
{
    return p->history <= 256 ? 1 : 2;
}

static size_t pend_offset(const struct td_params *p) /* bytes after ring[0] */
{
    return ((size_t)p->history * (4 + ord_width(p)) + 3) & ~(size_t)3;
}

static struct td_sorted sorted_of(const struct td_params *p, const struct td_state *s)
{
    uint32_t *ring = (uint32_t *)s->ring; /* eval only reads through it */
    void *ord = ring + p->history;
    struct td_sorted v = {ring, NULL, NULL};
    if (ord_width(p) == 1)
        v.o8 = ord;
    else
        v.o16 = ord;
    return v;
}

static inline uint32_t slot_at(const struct td_sorted *v, uint32_t i)
{
    return v->o8 ? v->o8[i] : v->o16[i];
}

static inline uint32_t x_at(const struct td_sorted *v, uint32_t i)
{
    return v->ring[slot_at(v, i)];
}

static struct td_pending *pend_of(const struct td_params *p, const struct td_state *s)
{
    return (struct td_pending *)((unsigned char *)s->ring + pend_offset(p));
}

/* First index i in [0, n) with x(i) >= x (upper = 0), or > x (upper = 1). */
static uint32_t bound(const struct td_sorted *a, uint32_t n, uint32_t x, int upper)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t y = x_at(a, mid);
        if (y < x || (upper && y == x))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Median of x(0..k), and the median of |x(i) - median| by walking
 * outwards from the median (the distances on each side are sorted), with
 * GSL's definition for even k (mean of the two middle values). O(k/2). */
static void median_mad(const struct td_sorted *a, uint32_t k, double *med, double *mad)
{
    double m = (k & 1) ? x_at(a, k / 2) : ((double)x_at(a, k / 2 - 1) + (double)x_at(a, k / 2)) / 2;
    uint32_t r = bound(a, k, (uint32_t)ceil(m), 0); /* first value >= m */
    int64_t l = (int64_t)r - 1;
    double prev = 0, cur = 0;
    for (uint32_t i = 0; i <= k / 2; i++) {
        double dl = l >= 0 ? m - x_at(a, (uint32_t)l) : INFINITY;
        double dr = r < k ? x_at(a, r) - m : INFINITY;
        prev = cur;
        if (dl <= dr) {
            cur = dl;
            l--;
        } else {
            cur = dr;
            r++;
        }
    }
    *med = m;
    *mad = (k & 1) ? cur : (prev + cur) / 2;
}

#define OPT(field) offsetof(struct td_params, field)
static const struct rw_option td_options[] = {
    {.name = "history",
     .type = RW_OPT_INT,
     .offset = OPT(history),
     .def = 60,
     .min = 5,
     .max = TD_HISTORY_MAX,
     .help = "windows of view counts kept as the baseline (ring size)"},
    {.name = "min_history",
     .type = RW_OPT_INT,
     .offset = OPT(min_history),
     .def = 20,
     .min = 5,
     .max = TD_HISTORY_MAX,
     .help = "windows needed in the ring before evaluating (<= history)"},
    {.name = "alpha",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(alpha),
     .def = 1e-4,
     .min = 1e-12,
     .max = 0.5,
     .help = "per-window false-alarm probability of the count test"},
    {.name = "min_drop",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_drop),
     .def = 0.5,
     .min = 0,
     .max = 1,
     .help = "views must be <= (1 - min_drop) x expected to breach"},
    {.name = "min_expected",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_expected),
     .def = 20,
     .min = 0,
     .max = 1e12,
     .help = "expected views per window needed to evaluate"},
    {.name = "span",
     .type = RW_OPT_INT,
     .offset = OPT(span),
     .def = 1,
     .min = 1,
     .max = TD_SPAN_MAX,
     .help = "test the sum of the last span windows (sliding), for quiet series"},
    {.name = NULL},
};
#undef OPT

static int td_validate(const void *params, char *err, size_t errlen)
{
    const struct td_params *p = params;
    if (p->history < 5 || p->history > TD_HISTORY_MAX || p->min_history < 5) {
        snprintf(err, errlen, "'history' must be in [5, %d] and 'min_history' >= 5",
                 TD_HISTORY_MAX);
        return -EINVAL;
    }
    if (p->min_history > p->history) {
        snprintf(err, errlen, "'min_history' = %d must be <= 'history' = %d", p->min_history,
                 p->history);
        return -EINVAL;
    }
    if (!(p->alpha >= 1e-12 && p->alpha <= 0.5) || !(p->min_drop >= 0 && p->min_drop <= 1) ||
        !(p->min_expected >= 0)) {
        snprintf(err, errlen,
                 "'alpha' must be in [1e-12, 0.5], 'min_drop' in [0, 1], "
                 "'min_expected' >= 0");
        return -EINVAL;
    }
    return 0;
}

static size_t td_state_size(const void *params)
{
    const struct td_params *p = params;
    return sizeof(struct td_state) + pend_offset(p) +
           (size_t)(p->span - 1) * sizeof(struct td_pending);
}

static void td_init(const void *params, void *state)
{
    (void)params;
    struct td_state *s = state;
    s->count = 0;
    s->head = 0;
    s->breach_run = 0;
    s->npend = 0;
    s->pend_head = 0;
}

/* Lower-tail model for one window's views: mean m, variance var >= m. */
struct td_model {
    double m, var;
};

/* P(X <= k). Negative binomial with n = m^2/(var-m) successes and p = m/var
 * has mean m and variance var; once var is within a millionth of m the NB
 * is Poisson to far below any alpha we accept, and the beta function with
 * a huge n is slower and less accurate, so use the Poisson there. */
static double lower_tail(const struct td_model *md, double k)
{
    if (k < 0)
        return 0;
    if (k >= 4e9)
        return 1;
    unsigned int ku = (unsigned int)k;
    if (md->var - md->m <= 1e-6 * md->m)
        return gsl_cdf_poisson_P(ku, md->m);
    double pp = md->m / md->var;
    double nn = md->m * md->m / (md->var - md->m);
    return gsl_cdf_negative_binomial_P(ku, pp, nn);
}

/* Largest k with P(X <= k) < alpha, or -1 if even 0 views would not be. */
static double max_breach_views(const struct td_model *md, double alpha)
{
    if (!(lower_tail(md, 0) < alpha))
        return -1;
    /* Start near the answer: normal quantile with the Cornish-Fisher skew
     * term (the NB skewness is (2 var - m) / (m sd)). */
    double z = -gsl_cdf_ugaussian_Qinv(alpha), sd = sqrt(md->var);
    double skew = (2.0 * md->var - md->m) / (md->m * sd);
    double g = floor(md->m + sd * (z + (z * z - 1.0) * skew / 6.0));
    if (!(g > 0))
        g = 0;
    double lo, hi; /* cdf(lo) < alpha, cdf(hi) >= alpha */
    if (lower_tail(md, g) < alpha) {
        lo = g;
        double step = 1;
        for (;;) {
            hi = lo + step;
            if (!(lower_tail(md, hi) < alpha))
                break;
            lo = hi;
            step *= 2;
            if (lo > 4e9)
                return lo;
        }
    } else {
        hi = g;
        double step = 1;
        for (;;) {
            lo = hi - step;
            if (lo <= 0) {
                lo = 0; /* cdf(0) < alpha checked above */
                break;
            }
            if (lower_tail(md, lo) < alpha)
                break;
            hi = lo;
            step *= 2;
        }
    }
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (lower_tail(md, mid) < alpha)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Variance of the window's views from the ring, robust but efficient: the
 * plain variance of the windows within 4 robust sigmas of the median (the
 * robust sigma is 1.4826 x MAD, floored at the Poisson sqrt(m) so a near
 * constant ring does not clip everything). Far windows (a spike, a dip just
 * under the alarm) are dropped, while nearly every normal window is kept, so
 * the estimate has ~k-1 degrees of freedom. The MAD alone has ~0.46k, and at
 * 20 windows its noise made the test fire at 3.5x alpha on overdispersed
 * traffic. 1.00107 undoes the variance lost by clipping a normal at 4 sigma. */
static double clipped_variance(const uint32_t *ring, uint32_t k, double m, double sd_mad,
                               double *df, double *cmean)
{
    double root = sqrt(m);
    double cut = 4.0 * (sd_mad > root ? sd_mad : root);
    double sum = 0, ss = 0;
    uint32_t nc = 0;
    for (uint32_t i = 0; i < k; i++) {
        double x = ring[i];
        if (fabs(x - m) <= cut) {
            sum += x;
            nc++;
        }
    }
    *cmean = nc ? sum / nc : m;
    if (nc < 2) {
        *df = 1;
        return sd_mad * sd_mad;
    }
    double mean = sum / nc;
    for (uint32_t i = 0; i < k; i++) {
        double x = ring[i];
        if (fabs(x - m) <= cut)
            ss += (x - mean) * (x - mean);
    }
    *df = nc - 1;
    return ss / (nc - 1) * 1.00107;
}

/* Variance for the lower tail of one new window, from k ring windows.
 *
 * Two finite-sample terms, because plugging the estimates in as if exact is
 * liberal (measured 3.5x alpha at alpha=1e-3 on overdispersed traffic):
 *  - the median m is itself uncertain: a new window minus m has variance
 *    var x (1 + pi/2k);
 *  - the variance estimate s2 has df degrees of freedom: scaling it by
 *    r = (t_df quantile / normal quantile)^2 at alpha turns the normal tail
 *    into the Student t tail, the predictive for an estimated variance.
 * Inflating all of s2 by r is right when traffic is clearly overdispersed
 * but conservative on near-Poisson traffic, where var >= m is known and only
 * the excess over m is uncertain (0.55 alpha measured); inflating only the
 * excess is liberal when the excess is about m (2x alpha at k=20). We take
 * the middle: half of the Poisson part is treated as known. The result is
 * never below the Poisson variance m (1 + pi/2k). Measured rates are in
 * docs/detectors.md. */
static double predictive_variance(double m, double s2, double df, uint32_t k, double alpha,
                                  double nw)
{
    /* Over a span of nw windows the median's error is shared by all of
     * them: var(sum - nw m) = nw var (1 + nw pi/2k). */
    double a = 1.0 + nw * TD_PI / (2.0 * k);
    double zq = gsl_cdf_ugaussian_Qinv(alpha);
    double tq = gsl_cdf_tdist_Qinv(alpha, df);
    double r = (isfinite(tq) && tq > zq) ? (tq / zq) * (tq / zq) : 1.0;
    double c2 = a * r;
    double pois = m * a;
    double v = c2 * s2 - 0.5 * (c2 - 1.0) * pois;
    return v > pois ? v : pois;
}

static void td_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct td_params *p = params;
    const struct td_state *s = state;
    double v = obs->views;
    const struct td_pending *pend = pend_of(p, s);
    for (uint32_t i = 0; i < s->npend; i++)
        v += pend[i].views;
    double nw = s->npend + 1.0; /* windows in this test */

    rw_verdict_begin(out, RW_SCORE_P, v / nw, v > 4e9 ? 4000000000u : (uint32_t)v, td_test);

    uint32_t k = s->count;
    if (k > (uint32_t)p->history)
        k = (uint32_t)p->history;
    out->base_windows = k;
    if (k < (uint32_t)p->min_history) {
        RW_WHY(obs, out, "warming up: %u of %d windows", k, p->min_history);
        return;
    }
    double m, mad;
    struct td_sorted sv = sorted_of(p, s);
    median_mad(&sv, k, &m, &mad);
    double sd = TD_MAD_TO_SIGMA * mad;
    double df, cmean;
    double s2 = clipped_variance(s->ring, k, m, sd, &df, &cmean);
    /* Few views per window: counts are small integers and their median is
     * biased (Poisson(1.5) has median 1), so the expectation is the mean of
     * the windows within 4 robust sigmas of the median instead; for busy
     * series the median stands (an outage half inside the ring cannot move
     * it). */
    if (m < TD_SMALL)
        m = cmean;
    out->expected = m;
    if (!(nw * m >= p->min_expected) || m <= 0) {
        RW_WHY(obs, out, "expected %.1f views < min_expected %.4g", nw * m,
                 p->min_expected);
        return;
    }

    /* The span's windows are taken as independent draws of one window. */
    struct td_model md = {.m = nw * m,
                          .var = nw * predictive_variance(m, s2, df, k, p->alpha, nw)};
    double pv = lower_tail(&md, v);
    if (!isfinite(pv)) {
        RW_WHY(obs, out, "p-value not computable");
        return;
    }
    double drop_max = (1.0 - p->min_drop) * md.m;
    out->score = pv;
    out->p = pv;
    int sig = pv < p->alpha;
    int big = v <= drop_max;
    out->big = (uint8_t)big;
    out->kind = sig && big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    if (!obs->words)
        return; /* the band search and the words only when reported */
    snprintf(out->base, sizeof out->base, "%s of last %u windows",
             m < TD_SMALL ? "clipped mean" : "median", k);
    double kb = max_breach_views(&md, p->alpha);
    double low = kb < floor(drop_max) ? kb : floor(drop_max);
    out->low = low >= 0 ? low / nw : NAN;
    if (nw > 1)
        RW_WHY(obs, out,
                 "%.0f views in %.0f windows, expected %.0f (median of %u), p=%.2g%s", v, nw,
                 md.m, k, pv, sig && !big ? ", drop < min_drop" : "");
    else
        RW_WHY(obs, out, "%.0f views, expected %.0f of %u windows, p=%.2g%s",
                 v, m, k, pv, sig && !big ? ", drop < min_drop" : "");
}

static void learn_window(const struct td_params *p, struct td_state *s, uint32_t views, int breach)
{
    uint32_t h = (uint32_t)p->history;
    if (!rw_learn_gate(&s->breach_run, breach, h))
        return;
    if (s->head >= h)
        s->head = 0;
    struct td_sorted v = sorted_of(p, s);
    size_t w = ord_width(p);
    unsigned char *ord = v.o8 ? (unsigned char *)v.o8 : (unsigned char *)v.o16;
    uint32_t n = s->count;
    if (n == h) {
        /* The oldest value leaves the order too. Equal values are kept
         * oldest first (a new one goes after its equals), so it is the first
         * of its equals; the loop only makes sure. */
        uint32_t i = bound(&v, n, s->ring[s->head], 0);
        while (slot_at(&v, i) != s->head)
            i++;
        memmove(ord + i * w, ord + (i + 1) * w, (size_t)(n - i - 1) * w);
        n--;
    }
    uint32_t j = bound(&v, n, views, 1); /* ring[head] is not in the order now */
    memmove(ord + (j + 1) * w, ord + j * w, (size_t)(n - j) * w);
    if (v.o8)
        v.o8[j] = (uint8_t)s->head;
    else
        v.o16[j] = (uint16_t)s->head;
    s->ring[s->head] = views;
    s->head = (s->head + 1) % h;
    if (s->count < h)
        s->count++;
}

static void td_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct td_params *p = params;
    struct td_state *s = state;
    int breach = v && v->kind == RW_VERDICT_BREACH;
    struct td_pending *pend = pend_of(p, s);
    if (breach)
        for (uint32_t i = 0; i < s->npend; i++)
            pend[i].breach = 1;
    uint32_t cap = (uint32_t)p->span - 1;
    if (cap == 0) {
        learn_window(p, s, obs->views, breach);
        return;
    }
    if (s->npend == cap) {
        struct td_pending *old = &pend[s->pend_head];
        learn_window(p, s, old->views, (int)old->breach);
        old->views = obs->views;
        old->breach = (uint32_t)breach;
        s->pend_head = (s->pend_head + 1) % cap;
    } else {
        pend[(s->pend_head + s->npend) % cap] = (struct td_pending){obs->views, (uint32_t)breach};
        s->npend++;
    }
}

const struct rw_detector rw_detector_traffic_drop = {
    .name = "traffic_drop",
    .help = "page views far below the recent median (overdispersed count test)",
    .options = td_options,
    .params_size = sizeof(struct td_params),
    .validate = td_validate,
    .state_size = td_state_size,
    .init = td_init,
    .eval = td_eval,
    .learn = td_learn,
    .flags = RW_DET_PVALUE,
};
