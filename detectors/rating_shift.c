/* rating_shift: the shares of views rated good / needs improvement / poor
 * for one vital (web-vitals lines, obs->rating[]) moved toward worse,
 * compared with the series' own exponentially weighted baseline shares.
 * It catches a growing poor tail that leaves p75 alone (poor 5% -> 15%
 * while p75 stays below the poor line), which robust_z on p75 cannot see.
 *
 * Baseline: exponentially weighted counts of the three ratings, weight
 * lambda = 1 - 2/(history+1) per learned window, so that with steady
 * traffic the baseline is as precise as `history` windows of equal weight.
 * Its effective size N = C^2 / (S2 + rho S3) (C = sum of weights x views,
 * S2 = sum of weights^2 x views, S3 = sum of weights^2 x n(n-1)) is what a
 * binomial sample with the same variance of the shares would have, so the
 * baseline's own uncertainty enters the test.
 *
 * Test: for each "tail" - the poor share and the not-good (NI + poor)
 * share going up (direction = both adds both going down) - the mid-p of
 * the window's count x of n views under its predictive distribution
 *     X ~ BetaBinomial(n, kappa ps, kappa (1 - ps)),
 *     kappa + 1 = (n - 1) / (phi - 1 + n / N)
 * whose mean is n ps and whose variance is n ps (1 - ps) (phi + n / N):
 * binomial noise, the window's overdispersion phi (below), and the
 * uncertainty of a baseline share ps known from N effective views. With
 * phi = 1 this is the Bayesian predictive of a binomial window given the
 * baseline, and on multinomial data its false-alarm rates were within a
 * few percent of Fisher's exact mid-p test of the 2x2 table window vs
 * baseline; with phi > 1 its skewed tail fits overdispersed windows,
 * where Fisher on counts deflated by phi fired up to 3x alpha. GSL has no
 * beta-binomial cdf: the tail is summed from the pmf (gsl_sf_lngamma,
 * gsl_sf_lnbeta) by the ratio recurrence, about 7 sd of terms at most.
 * Mid-p (P(X > x) + P(X = x)/2) because the counts are small: 30
 * views at a 7% poor share expect 2.1 poor views, where the plain
 * P(X >= x) is far too conservative and a chi-square far too liberal.
 * The reported p is the Bonferroni-adjusted smallest tail p (m x p_i,
 * m = 2 or 4) among the tails that pass the effect gates
 * (min_poor_increase, min_ratio), else among all tails, with big = 0.
 * breach <=> p < alpha and big.
 *
 * Overdispersion: real windows vary more than multinomial draws (user mix,
 * one user's several slow views). The view-to-view correlation rho of a
 * Dirichlet-multinomial (Var = n p q (1 + (n-1) rho)) is estimated from the
 * learned windows' Pearson statistics against the baseline:
 *     u = X^2/2 - n/N,  E[u] = 1 + (n-1) rho,
 *     rho = max(0, EW sum (n-1)(u-1) / EW sum (n-1)^2)
 * giving the window's phi = 1 + (n-1) rho and deflating the baseline's N.
 * The sums look back 4 x history windows (see lambda_disp_of()). Breach
 * windows never feed it; u is capped at 10 x its expectation, so a single
 * wild window cannot mute the detector.
 *
 * Shrinkage: while the series has fewer than min_history learned windows,
 * or fewer than prior_views effective baseline views, and obs->parent (the
 * same rule's state on the parent series) is warmed up, the baseline is the
 * series' own counts plus prior_views pseudo-views in the parent's shares
 * (a Beta/Dirichlet prior centred on the parent), and the parent's rho.
 * v.shrunk = 1 then.
 *
 * Calibration promise: on windows whose rating counts are multinomial with
 * fixed shares, with the gates off, P(breach) per evaluated window (warm-up
 * included) is alpha within a factor of 2, on the low side: the counts are
 * discrete, Bonferroni over two correlated tails is a little conservative,
 * and so is rho's floor at 0. Measured 0.57 - 1.08 alpha for n = 30 ...
 * 1000 views per window, alpha 1e-2 and 1e-3 (tests/unit/test_rating_shift.c,
 * docs); on Dirichlet-multinomial windows 1.25 - 1.7 alpha (without the
 * dispersion estimate: 43 alpha).
 *
 * span > 1 tests the counts summed over the last `span` windows with views
 * (this one included), so a page with 50 rated views a minute can show a
 * 5% -> 15% poor tail within a few minutes. The sum's dispersion factor is
 * 1 + rho sum n_j(n_j-1) / n. Windows join the baseline only once they
 * leave the span, and every window of a breaching span is marked.
 *
 * Learning: every window with views joins the baseline except breach
 * windows (rw_learn_gate: after more than history/2 consecutive breaches a
 * permanent change is learned) and, during an incident (breach run > 0),
 * windows too small to evaluate.
 *
 * State (engine-owned): 44 bytes (7 floats, 4 counters) + 16 x (span - 1).
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_sf_gamma.h>

#define RS_HISTORY_MAX 1440
#define RS_SPAN_MAX 30
/* Beyond this concentration the beta-binomial is a binomial for all
 * practical purposes (and lnbeta of larger arguments loses digits). */
#define RS_KAPPA_MAX 1e10
/* Tail sums stop when a term adds less than this fraction. */
#define RS_TAIL_EPS 1e-12
/* u (the per-window dispersion statistic) is capped at this many times its
 * expectation. */
#define RS_U_CAP 10.0

enum rs_direction { RS_WORSE = 0, RS_BOTH };
static const char *const rs_directions[] = {"worse", "both", NULL};

struct rs_params {
    int history;
    int min_history;
    int min_n;
    double alpha;
    double min_poor_increase;
    double min_ratio;
    int direction;
    double prior_views;
    int overdispersion;
    int span;
};

struct rs_state {
    float c[3];          /* EW counts good / NI / poor: c <- lambda c + x */
    float s2;            /* EW (lambda^2) sum of n: the baseline's effective size */
    float s3;            /* EW (lambda^2) sum of n(n-1): its overdispersion */
    float dnum;          /* EW sum of (n-1)(u-1): dispersion numerator */
    float dden;          /* EW sum of (n-1)^2 */
    uint32_t windows;    /* windows learned (saturating) */
    uint32_t breach_run; /* consecutive breach windows not learned */
    uint32_t npend;      /* recent windows inside the span, not yet learned */
    uint32_t pend_head;  /* oldest of them */
    struct rs_pending {
        uint32_t r[3];
        uint32_t flags; /* RS_PEND_* */
    } pend[];           /* span - 1 slots */
};

#define RS_PEND_BREACH 1u
#define RS_PEND_SMALL 2u /* too few views to evaluate */

#define OPT(field) offsetof(struct rs_params, field)
static const struct rw_option rs_options[] = {
    {.name = "history",
     .type = RW_OPT_INT,
     .offset = OPT(history),
     .def = 60,
     .min = 5,
     .max = RS_HISTORY_MAX,
     .help = "baseline span in windows: exponential weights as precise as this many equal windows"},
    {.name = "min_history",
     .type = RW_OPT_INT,
     .offset = OPT(min_history),
     .def = 20,
     .min = 1,
     .max = RS_HISTORY_MAX,
     .help = "windows learned before evaluating (<= history), unless the parent prior is used"},
    {.name = "min_n",
     .type = RW_OPT_INT,
     .offset = OPT(min_n),
     .def = 30,
     .min = 1,
     .max = 1e9,
     .help = "rated views needed in a window to evaluate it"},
    {.name = "alpha",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(alpha),
     .def = 1e-4,
     .min = 1e-12,
     .max = 0.5,
     .help = "per-window false-alarm probability of the share test"},
    {.name = "min_poor_increase",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_poor_increase),
     .def = 0.05,
     .min = 0,
     .max = 1,
     .help = "the share must also move by at least this (0.05 = 5 percentage points)"},
    {.name = "min_ratio",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_ratio),
     .def = 1.5,
     .min = 0,
     .max = 1e6,
     .help = "the share must also be >= this times the baseline share (1/this when down)"},
    {.name = "direction",
     .type = RW_OPT_ENUM,
     .offset = OPT(direction),
     .def = RS_WORSE,
     .choices = rs_directions,
     .help = "worse: only poor or NI+poor shares going up breach; both: also going down"},
    {.name = "prior_views",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(prior_views),
     .def = 100,
     .min = 0,
     .max = 1e9,
     .help = "pseudo-views of the parent series' shares lent to a series with little history "
             "(0: off)"},
    {.name = "overdispersion",
     .type = RW_OPT_BOOL,
     .offset = OPT(overdispersion),
     .def = 1,
     .help = "estimate the extra window-to-window variation of the shares and allow for it"},
    {.name = "span",
     .type = RW_OPT_INT,
     .offset = OPT(span),
     .def = 1,
     .min = 1,
     .max = RS_SPAN_MAX,
     .help = "test the counts of the last span windows (sliding), for pages with few views"},
    {.name = NULL},
};
#undef OPT

static int rs_validate(const void *params, char *err, size_t errlen)
{
    const struct rs_params *p = params;
    if (p->history < 5 || p->history > RS_HISTORY_MAX || p->min_history < 1) {
        snprintf(err, errlen, "'history' must be in [5, %d] and 'min_history' >= 1",
                 RS_HISTORY_MAX);
        return -EINVAL;
    }
    if (p->min_history > p->history) {
        snprintf(err, errlen, "'min_history' = %d must be <= 'history' = %d", p->min_history,
                 p->history);
        return -EINVAL;
    }
    if (!(p->alpha >= 1e-12 && p->alpha <= 0.5) || p->min_n < 1) {
        snprintf(err, errlen, "'alpha' must be in [1e-12, 0.5] and 'min_n' >= 1");
        return -EINVAL;
    }
    if (p->span < 1 || p->span > RS_SPAN_MAX) {
        snprintf(err, errlen, "'span' must be in [1, %d]", RS_SPAN_MAX);
        return -EINVAL;
    }
    if (!(p->min_poor_increase >= 0 && p->min_poor_increase <= 1) || !(p->min_ratio >= 0) ||
        !(p->prior_views >= 0) || p->direction < RS_WORSE || p->direction > RS_BOTH) {
        snprintf(err, errlen,
                 "'min_poor_increase' must be in [0, 1], 'min_ratio' and "
                 "'prior_views' >= 0, 'direction' worse/both");
        return -EINVAL;
    }
    return 0;
}

static size_t rs_state_size(const void *params)
{
    const struct rs_params *p = params;
    return sizeof(struct rs_state) + (size_t)(p->span - 1) * sizeof(struct rs_pending);
}

static void rs_init(const void *params, void *state)
{
    memset(state, 0, rs_state_size(params));
}

static double lambda_of(const struct rs_params *p)
{
    return 1.0 - 2.0 / (p->history + 1.0);
}

/* The dispersion estimate looks back RS_DISP_SPAN times further than the
 * baseline: the extra variation is a steadier property of a series than
 * its shares, and with `history` windows alone its noise (sd ~ 1/sqrt(history)
 * in units of phi) would now and then cost a real shift its significance. */
#define RS_DISP_SPAN 4.0
static double lambda_disp_of(const struct rs_params *p)
{
    return 1.0 - 2.0 / (RS_DISP_SPAN * p->history + 1.0);
}

static double total_of(const struct rs_state *s)
{
    return (double)s->c[0] + (double)s->c[1] + (double)s->c[2];
}

/* View-to-view correlation of the ratings within a window (0: multinomial). */
static double rho_of(const struct rs_params *p, const struct rs_state *s)
{
    if (!p->overdispersion || !(s->dden > 0))
        return 0;
    double r = (double)s->dnum / (double)s->dden;
    return r > 0 ? (r < 1 ? r : 1) : 0;
}

/* Effective binomial size of the baseline's shares. */
static double neff_of(const struct rs_state *s, double rho)
{
    double C = total_of(s);
    double den = (double)s->s2 + rho * (double)s->s3;
    return C > 0 && den > 0 ? C * C / den : 0;
}

/* The baseline a window is judged against. */
struct rs_base {
    double share[3]; /* good, NI, poor */
    double N;        /* effective views */
    double rho;
    double prior; /* pseudo-views from the parent (0 if none) */
    int shrunk;
};

static int parent_usable(const struct rs_params *p, const struct rs_state *ps)
{
    return ps && ps->windows >= (uint32_t)p->min_history && total_of(ps) > 0;
}

/* 0: baseline ready; -1: warming up. */
static int baseline(const struct rs_params *p, const struct rs_state *s, const struct rs_state *ps,
                    struct rs_base *b)
{
    int own_ok = s->windows >= (uint32_t)p->min_history;
    int par_ok = p->prior_views > 0 && parent_usable(p, ps);
    b->rho = (own_ok || !par_ok) ? rho_of(p, s) : rho_of(p, ps);
    double C = total_of(s);
    double N = neff_of(s, b->rho);
    b->shrunk = par_ok && (!own_ok || N < p->prior_views);
    if (!own_ok && !b->shrunk)
        return -1;
    for (int k = 0; k < 3; k++)
        b->share[k] = C > 0 ? (double)s->c[k] / C : 0;
    b->N = N;
    b->prior = 0;
    if (b->shrunk) {
        double pc = total_of(ps);
        double m = p->prior_views;
        double pn = neff_of(ps, rho_of(p, ps));
        if (m > pn)
            m = pn; /* never claim more than the parent knows */
        for (int k = 0; k < 3; k++)
            b->share[k] = (N * b->share[k] + m * (double)ps->c[k] / pc) / (N + m);
        b->N = N + m;
        b->prior = m;
    }
    return b->N > 0 ? 0 : -1;
}

/* log P(X = k), X ~ BetaBinomial(n, a, b). */
static double bb_lpmf(double k, double n, double a, double b)
{
    return gsl_sf_lngamma(n + 1) - gsl_sf_lngamma(k + 1) - gsl_sf_lngamma(n - k + 1) +
           gsl_sf_lnbeta(k + a, n - k + b) - gsl_sf_lnbeta(a, b);
}

/* Sum of the pmf from k = x + dir (dir = +1: upward, -1: downward) until
 * the terms no longer matter; the terms decrease monotonically from x in
 * that direction when x is past the mean on that side. */
static double bb_tail(double x, double n, double a, double b, double px, int dir)
{
    double sum = 0, term = px;
    double k = x;
    for (;;) {
        if (dir > 0) {
            if (k >= n)
                break;
            term *= (n - k) * (k + a) / ((k + 1) * (n - k - 1 + b));
            k += 1;
        } else {
            if (k <= 0)
                break;
            term *= k * (n - k + b) / ((n - k + 1) * (k - 1 + a));
            k -= 1;
        }
        sum += term;
        if (!(term > RS_TAIL_EPS * sum))
            break;
    }
    return sum;
}

/* Predictive mid-p of x of n under BetaBinomial(n, a, b). */
static double bb_midp(double x, double n, double a, double b, int up)
{
    double px = exp(bb_lpmf(x, n, a, b));
    double mean = n * a / (a + b);
    if (up) {
        if (x >= mean)
            return px == 0 ? 0 : bb_tail(x, n, a, b, px, +1) + 0.5 * px;
        if (px == 0)
            return 1;
        double v = 1 - bb_tail(x, n, a, b, px, -1) - 0.5 * px;
        return v > 0 ? v : 0;
    }
    if (x <= mean)
        return px == 0 ? 0 : bb_tail(x, n, a, b, px, -1) + 0.5 * px;
    if (px == 0)
        return 1;
    double v = 1 - bb_tail(x, n, a, b, px, +1) - 0.5 * px;
    return v > 0 ? v : 0;
}

/* One tail's predictive distribution: the window's count of n views is
 * BetaBinomial(n, kappa ps, kappa (1 - ps)), with kappa chosen so that its
 * variance is n ps (1 - ps) (phi + n / N): the window's own dispersion phi
 * plus the uncertainty of a baseline share known from N effective views.
 * ps is the baseline share, nudged off 0 and 1 by half a view so that a
 * rating never seen in the baseline is rare, not impossible. */
struct rs_test {
    double n, a, b;
};

static struct rs_test make_test(double n, double share, double N, double phi)
{
    struct rs_test t = {.n = n};
    double ps = (share * N + 0.5) / (N + 1);
    double v = phi - 1 + n / N;
    double kappa = n > 1 && v > 0 ? (n - 1) / v - 1 : RS_KAPPA_MAX;
    if (kappa > RS_KAPPA_MAX)
        kappa = RS_KAPPA_MAX;
    if (kappa < 1e-6)
        kappa = 1e-6;
    t.a = kappa * ps;
    t.b = kappa * (1 - ps);
    return t;
}

static double test_midp(const struct rs_test *t, double x, int up)
{
    return bb_midp(x, t->n, t->a, t->b, up);
}

enum { T_POOR_UP = 0, T_NG_UP, T_POOR_DOWN, T_NG_DOWN, T_N };
static const char *const tail_names[T_N] = {"poor", "NI+poor", "poor", "NI+poor"};

/* Effect gates: the share moved by min_poor_increase and by min_ratio.
 * The baseline is kept in floats: a share exactly at the gate passes. */
#define RS_GATE_TOL 1e-6
static int gates(const struct rs_params *p, double sw, double sb, int up)
{
    if (up)
        return sw - sb >= p->min_poor_increase - RS_GATE_TOL &&
               sw >= p->min_ratio * sb - RS_GATE_TOL;
    return sb - sw >= p->min_poor_increase - RS_GATE_TOL && sw * p->min_ratio <= sb + RS_GATE_TOL;
}

static double gate_share(const struct rs_params *p, double sb, int up)
{
    if (up) {
        double g = sb + p->min_poor_increase, r = p->min_ratio * sb;
        return g > r ? g : r;
    }
    double g = sb - p->min_poor_increase, r = p->min_ratio > 0 ? sb / p->min_ratio : sb;
    return g < r ? g : r;
}

/* The poor share that would breach with this window's size: the smallest
 * (up) or largest (down) count that is significant after the Bonferroni
 * factor, combined with the gates. NaN if no share in [0, 1] would. */
static double band_edge(const struct rs_params *p, const struct rs_test *t, double m, double sb,
                        int up)
{
    double a = p->alpha / m, n = t->n;
    double edge;
    if (up) {
        if (!(test_midp(t, n, 1) < a))
            return NAN;
        double lo = 0, hi = n; /* hi significant; lo maybe */
        if (test_midp(t, 0, 1) < a) {
            hi = 0;
        } else {
            while (hi - lo > 1) {
                double mid = floor((lo + hi) / 2);
                if (test_midp(t, mid, 1) < a)
                    hi = mid;
                else
                    lo = mid;
            }
        }
        edge = hi / n;
        double g = gate_share(p, sb, 1);
        if (g > edge)
            edge = g;
        return edge <= 1 ? edge : NAN;
    }
    if (!(test_midp(t, 0, 0) < a))
        return NAN;
    double lo = 0, hi = n; /* lo significant; hi maybe */
    if (test_midp(t, n, 0) < a) {
        lo = n;
    } else {
        while (hi - lo > 1) {
            double mid = floor((lo + hi) / 2);
            if (test_midp(t, mid, 0) < a)
                lo = mid;
            else
                hi = mid;
        }
    }
    edge = lo / n;
    double g = gate_share(p, sb, 0);
    if (g < edge)
        edge = g;
    return edge >= 0 ? edge : NAN;
}

static void rs_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct rs_params *p = params;
    const struct rs_state *s = state;
    /* This window plus the pending windows of the span; nn = sum n(n-1)
     * gives the sum's dispersion factor. */
    double r[3] = {obs->rating[0], obs->rating[1], obs->rating[2]};
    double n1 = r[0] + r[1] + r[2];
    double nn = n1 * (n1 - 1);
    for (uint32_t i = 0; i < s->npend; i++) {
        const struct rs_pending *w = &s->pend[i];
        double nj = (double)w->r[0] + w->r[1] + w->r[2];
        for (int k = 0; k < 3; k++)
            r[k] += w->r[k];
        nn += nj * (nj - 1);
    }
    double n = r[0] + r[1] + r[2];

    rw_verdict_begin(out, RW_SCORE_P, n > 0 ? r[2] / n : NAN,
                     n > 4e9 ? 4000000000u : (uint32_t)n,
                     "beta-binomial predictive mid-p, rating shares vs EW baseline");
    out->base_windows = s->windows < (uint32_t)p->history ? s->windows : (uint32_t)p->history;

    if (n1 <= 0) {
        RW_WHY(obs, out, "no rated views");
        return;
    }
    if (n < p->min_n) {
        RW_WHY(obs, out, "%.0f views < min_n %d", n, p->min_n);
        return;
    }
    struct rs_base b;
    if (baseline(p, s, (const struct rs_state *)obs->parent, &b) < 0) {
        RW_WHY(obs, out, "warming up: %u of %d windows", s->windows, p->min_history);
        return;
    }
    out->shrunk = (uint8_t)b.shrunk;
    out->expected = b.share[2];
    out->what = "poor share";

    /* The window's dispersion factor (a sum over the span's windows). */
    double phi = 1 + nn / n * b.rho;
    double xw[T_N] = {r[2], r[1] + r[2], r[2], r[1] + r[2]};
    double sb[T_N] = {b.share[2], b.share[1] + b.share[2], b.share[2], b.share[1] + b.share[2]};
    int ntails = p->direction == RS_BOTH ? 4 : 2;
    double m = ntails;
    double pt[T_N];
    int best = -1, best_any = 0;
    for (int i = 0; i < ntails; i++) {
        int up = i < 2;
        struct rs_test t = make_test(n, sb[i], b.N, phi);
        pt[i] = test_midp(&t, xw[i], up);
        if (pt[i] < pt[best_any])
            best_any = i;
        if (gates(p, xw[i] / n, sb[i], up) && (best < 0 || pt[i] < pt[best]))
            best = i;
    }
    int pick = best >= 0 ? best : best_any;
    double pv = m * pt[pick];
    if (pv > 1)
        pv = 1;
    out->p = pv;
    out->score = pv;
    out->big = best >= 0;
    out->kind = pv < p->alpha && best >= 0 ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    /* The numbers reported are those of the tail that decided (one that
     * passes the gates): a shift into "needs improvement" shows as the
     * NI+poor share, not as a flat poor one. Otherwise the poor share. */
    int ng = best >= 0 && (pick == T_NG_UP || pick == T_NG_DOWN);
    if (ng) {
        out->value = xw[pick] / n;
        out->expected = sb[pick];
        out->what = "NI+poor share";
    }
    if (!obs->words)
        return;

    /* Band of normal shares (of the reported tail) for this window's size. */
    double sband = ng ? sb[T_NG_UP] : b.share[2];
    struct rs_test tp = make_test(n, sband, b.N, phi);
    out->high = band_edge(p, &tp, m, sband, 1);
    if (p->direction == RS_BOTH)
        out->low = band_edge(p, &tp, m, sband, 0);
    if (b.shrunk)
        snprintf(out->base, sizeof out->base, "EW %u windows + parent prior %.0f views",
                 out->base_windows, b.prior);
    else
        snprintf(out->base, sizeof out->base, "EW %u windows, %.0f views", out->base_windows, b.N);
    char where[24] = "";
    if (s->npend > 0)
        snprintf(where, sizeof where, " in %u windows", s->npend + 1);
    int len = snprintf(out->why, sizeof out->why, "%s %.1f%% of %.0f views%s vs %.1f%%, p=%.2g",
                       tail_names[pick], 100 * xw[pick] / n, n, where, 100 * sb[pick], pv);
    if (pv < p->alpha && best < 0 && len > 0 && (size_t)len < sizeof out->why) {
        double sw = xw[pick] / n;
        int up = pick < 2;
        double moved = up ? sw - sb[pick] : sb[pick] - sw;
        if (moved < p->min_poor_increase - RS_GATE_TOL)
            snprintf(out->why + len, sizeof out->why - (size_t)len, ", change < %.3g",
                     p->min_poor_increase);
        else
            snprintf(out->why + len, sizeof out->why - (size_t)len, ", ratio < %.3g", p->min_ratio);
    }
}

/* Fold the window's Pearson statistic against the baseline into the
 * dispersion estimate (before the window joins the baseline). */
static void learn_dispersion(const struct rs_params *p, struct rs_state *s, const double r[3],
                             double n, double lambda)
{
    double C = total_of(s);
    if (!(C > 0) || n < 2)
        return;
    double rho = rho_of(p, s);
    double N = neff_of(s, rho);
    if (!(N > 0))
        return;
    double x2 = 0;
    for (int k = 0; k < 3; k++) {
        /* smoothed so that a rating never seen in the baseline is finite */
        double e = n * ((double)s->c[k] + 0.5) / (C + 1.5);
        double d = r[k] - e;
        x2 += d * d / e;
    }
    double phi = 1 + (n - 1) * rho;
    double cap = RS_U_CAP * (phi + n / N);
    double q = x2 / 2;
    if (q > cap)
        q = cap;
    double u = q - n / N;
    s->dnum = (float)(lambda * s->dnum + (n - 1) * (u - 1));
    s->dden = (float)(lambda * s->dden + (n - 1) * (n - 1));
}

/* Fold one window into the baseline (unless it belongs to an incident). */
static void learn_window(const struct rs_params *p, struct rs_state *s, const uint32_t w[3],
                         uint32_t flags)
{
    double r[3] = {w[0], w[1], w[2]};
    double n = r[0] + r[1] + r[2];
    int breach = (flags & RS_PEND_BREACH) != 0;
    /* During an incident, windows too small to judge stay out too. */
    if (!breach && (flags & RS_PEND_SMALL) && s->breach_run > 0)
        return;
    if (!rw_learn_gate(&s->breach_run, breach, (uint32_t)p->history))
        return;
    double lambda = lambda_of(p);
    if (p->overdispersion && !breach)
        learn_dispersion(p, s, r, n, lambda_disp_of(p));
    for (int k = 0; k < 3; k++)
        s->c[k] = (float)(lambda * s->c[k] + r[k]);
    s->s2 = (float)(lambda * lambda * s->s2 + n);
    s->s3 = (float)(lambda * lambda * s->s3 + n * (n - 1));
    if (s->windows < UINT32_MAX)
        s->windows++;
}

static void rs_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct rs_params *p = params;
    struct rs_state *s = state;
    int breach = v && v->kind == RW_VERDICT_BREACH;
    /* Every window in a breaching span is part of the incident. */
    if (breach)
        for (uint32_t i = 0; i < s->npend; i++)
            s->pend[i].flags |= RS_PEND_BREACH;
    /* A window without rated views says nothing about the shares; keeping
     * it would only stretch the span. */
    if ((double)obs->rating[0] + obs->rating[1] + obs->rating[2] <= 0)
        return;
    uint32_t flags = breach ? RS_PEND_BREACH : 0;
    if (v && v->kind == RW_VERDICT_INSUFFICIENT)
        flags |= RS_PEND_SMALL;
    uint32_t cap = (uint32_t)p->span - 1;
    if (cap == 0) {
        learn_window(p, s, obs->rating, flags);
        return;
    }
    /* pend is a ring of the last `cap` windows; the oldest leaves the span. */
    if (s->npend == cap) {
        struct rs_pending *old = &s->pend[s->pend_head];
        learn_window(p, s, old->r, old->flags);
        memcpy(old->r, obs->rating, sizeof old->r);
        old->flags = flags;
        s->pend_head = (s->pend_head + 1) % cap;
    } else {
        struct rs_pending *w = &s->pend[(s->pend_head + s->npend) % cap];
        memcpy(w->r, obs->rating, sizeof w->r);
        w->flags = flags;
        s->npend++;
    }
}

const struct rw_detector rw_detector_rating_shift = {
    .name = "rating_shift",
    .help = "shares of good / needs-improvement / poor views shifted toward worse "
            "(exact test vs EW baseline)",
    .options = rs_options,
    .params_size = sizeof(struct rs_params),
    .validate = rs_validate,
    .state_size = rs_state_size,
    .init = rs_init,
    .eval = rs_eval,
    .learn = rs_learn,
    .flags = RW_DET_RATINGS | RW_DET_PVALUE,
};
