/* error_rate: more (or, with direction = down, fewer) events than the
 * baseline rate explains, with the window's page views as exposure.
 *
 * Two uses. Error spikes (metric error_rate, direction up, the default):
 * the events are erring users. Conversion drops (custom metric rules with
 * stat per_view, direction down or both): the engine feeds the page views as
 * views and the custom metric's events (e.g. checkout clicks) as errors and
 * error_sessions, so the rate is events per view and a drop of clicks per
 * /checkout view to 40 % is what breaches.
 *
 * Test: the conditional test for two Poisson rates. With E, V the events and
 * views summed over the baseline and e, v this window's, under "same
 * rate" the split of the E+e events between window and baseline is
 *     e ~ Binomial(E + e, v / (V + v)),
 * whatever the unknown rate is. So the p-value carries the baseline's own
 * uncertainty: 1 error in 3 views against a baseline of 0 errors in 300
 * views is p ~ 0.005, not an alarm; 40 errors in 400 views against a
 * history of 4 per 400 is p ~ 1e-20.
 *
 * We report the mid-p: up P(X > e) + P(X = e)/2, down P(X < e) + P(X = e)/2
 * (the two add up to 1), both 2 x the smaller one (capped at 1), always in
 * the breaching direction. With a few expected events per window the count
 * is so discrete that the plain P(X >= e) is conservative: measured
 * false-alarm rates were 0.26-0.66 alpha (0.53 alpha at 1e-4), so alpha
 * would not mean what it says. The mid-p measured 0.54-1.14 alpha, never
 * above 2 alpha (docs/detectors.md has the table).
 *
 * Promise: on data whose rate per view does not change, the per-window
 * false-alarm rate (gates off) is <= 2 alpha, and within 2x of alpha once a
 * window's span expects a few events or more; fewer, and the discrete count
 * cannot reach alpha (a drop from 1.5 expected events is at best 0 events,
 * p ~ 0.1), so the rate is lower.
 *
 * A minimum effect keeps significant-but-trivial changes on big pages
 * quiet. Up: e >= min_errors and e/x >= min_ratio x the baseline rate.
 * Down: the EXPECTED count in the span >= min_errors (a drop from 1
 * expected event proves nothing) and e/x <= the baseline rate / min_ratio.
 *
 * Errors are counted once per session per window (obs->error_sessions): one
 * user whose page throws the same error eight times is one erring user, and
 * such bursts would otherwise break the Poisson model and fire on every
 * quiet page. The reported rate stays error events per view.
 *
 * span > 1 tests the sum of the last `span` windows (this one included), so
 * a quiet page with 2 views a minute can show 5 erring users in 5 minutes.
 * Windows enter the baseline only once they leave the span, and every window
 * of a breaching span is marked, so an incident never tests against itself.
 *
 * p-value (RW_DET_PVALUE): the mid-p above, on every evaluated window; a
 * breach has p < alpha and passes the two effect gates of its side (big).
 *
 * Shrinkage: a series with fewer than min_baseline_views views in its
 * baseline borrows its parent's rate (obs->parent, the same rule on the
 * parent series, with a full baseline itself): the baseline is topped up to
 * min_baseline_views views with pseudo-data at the parent's rate, i.e.
 *     E' = E + E_parent / V_parent x V0,  V' = V + V0,
 *     V0 = min_baseline_views - V  (<= V_parent),
 * and the same test runs on (E', V'). The prior is worth at most
 * min_baseline_views views and fades as the series' own views come in, so
 * a brand-new quiet page can fire on an error burst at once, while a page
 * with a baseline of its own is never judged by its parent. Under "same
 * rate as the parent" the test keeps its promise (the prior is data from
 * the parent); a page that always errs more than its parent can fire
 * early on (docs/detectors.md has the figures).
 *
 * The test runs in its negative-binomial form, which takes a fractional E:
 * with q = V / (V + x), NB = NB(E+1, q),
 *     P(Bin(E+e, pi) >= e) = P(NB >= e),
 *     P(Bin(E+e, pi) =  e) = P(NB =  e) / q,
 * so up = P(NB > e) + P(NB = e)(1 - 1/2q), down = P(NB < e) + P(NB = e)/2q;
 * for whole E it is exactly the binomial mid-p (to 1e-14; whole E still
 * goes through the binomial).
 *
 * State (engine-owned, state_size() bytes): the baseline as running sums
 * (events, erring users, views) over BLOCKS of consecutive learned windows:
 * bw = ceil(history / 16) windows a block, at most ceil(history / bw) <= 16
 * full blocks plus the block being filled. When a window would make the
 * baseline longer than `history` windows, the oldest block leaves it whole,
 * so the baseline always covers the last history - bw + 1 to history
 * learned windows (exactly `history` for history <= 16). The sums subtract
 * what leaves, so eval never walks the baseline. Then the span - 1 windows
 * inside the span, kept one by one (they join a block only when they leave
 * the span, by then their breach mark is final: no block ever absorbs a
 * window of an incident), and the count of consecutive breach windows.
 * Breach windows are not learned, so an incident does not become its own
 * baseline; after more than history/2 consecutive breaches they are, so a
 * permanent change is accepted as the new normal instead of alerting
 * forever.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#define ER_HISTORY_MAX 1440
#define ER_SPAN_MAX 30 /* pending breach marks are bits of a uint32_t */
#define ER_BLOCKS 16   /* the history is kept as this many blocks (+ the one filling) */
/* gsl_cdf_binomial_* take unsigned int counts. */
#define ER_COUNT_MAX 4000000000.0

static const char er_test_up[] = "conditional Poisson rate test (mid-p)";
static const char er_test_down[] = "conditional Poisson rate test (lower mid-p)";
static const char er_test_both[] = "conditional Poisson rate test (two-sided mid-p)";

enum er_direction { ER_UP = 0, ER_DOWN, ER_BOTH };
static const char *const er_directions[] = {"up", "down", "both", NULL};

struct er_params {
    int history;
    int min_baseline_views;
    double alpha;
    int min_errors;
    double min_ratio;
    int span;
    int direction;
};

struct er_slot {
    uint32_t errors;   /* error events */
    uint32_t sessions; /* errors counted once per session */
    uint32_t views;
};

struct er_state {
    uint64_t sum_errors; /* over the baseline (all blocks); read by children */
    uint64_t sum_sessions;
    uint64_t sum_views;
    uint32_t count;       /* learned windows in the baseline, <= history */
    uint32_t breach_run;  /* consecutive breach windows not learned */
    uint32_t pend_breach; /* bit i: pending window i is part of an incident */
    uint16_t head;        /* block being filled */
    uint16_t nfull;       /* full blocks, the nfull slots before head */
    uint8_t npend;        /* recent windows inside the span, not yet learned */
    uint8_t pend_head;    /* oldest pending window */
    uint8_t bw, nf, nb;   /* geom_of(params), kept by init: no divisions per window */
    uint8_t pad[3];
    /* nb = nf + 1 blocks, uint8_t nwin[nb] (padded to 4), then span - 1
     * pending windows. */
    struct er_slot blk[];
};

/* Block geometry of a history: bw windows a block, nf full-block slots. */
struct er_geom {
    uint32_t bw, nf, nb;
};

static struct er_geom geom_of(const struct er_params *p)
{
    struct er_geom g;
    uint32_t h = (uint32_t)p->history;
    g.bw = (h + ER_BLOCKS - 1) / ER_BLOCKS;
    g.nf = (h + g.bw - 1) / g.bw;
    g.nb = g.nf + 1;
    return g;
}

static size_t nwin_bytes(uint32_t nb)
{
    return ((size_t)nb + 3) & ~(size_t)3;
}

static uint8_t *nwin_of(struct er_state *s)
{
    return (uint8_t *)(s->blk + s->nb);
}

static const struct er_slot *pend_of(const struct er_state *s)
{
    return (const struct er_slot *)((const uint8_t *)(s->blk + s->nb) + nwin_bytes(s->nb));
}

#define OPT(field) offsetof(struct er_params, field)
static const struct rw_option er_options[] = {
    {.name = "history",
     .type = RW_OPT_INT,
     .offset = OPT(history),
     .def = 60,
     .min = 5,
     .max = ER_HISTORY_MAX,
     .help = "learned windows in the baseline (kept in 16 blocks: the last "
             "history - ceil(history/16) + 1 to history)"},
    {.name = "min_baseline_views",
     .type = RW_OPT_INT,
     .offset = OPT(min_baseline_views),
     .def = 200,
     .min = 0,
     .max = 1e9,
     .help = "views needed in the baseline before evaluating"},
    {.name = "alpha",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(alpha),
     .def = 1e-4,
     .min = 1e-12,
     .max = 0.5,
     .help = "per-window false-alarm probability of the count test"},
    {.name = "min_errors",
     .type = RW_OPT_INT,
     .offset = OPT(min_errors),
     .def = 5,
     .min = 0,
     .max = 1e9,
     .help = "up: events needed in the span to breach; down: events EXPECTED in the span"},
    {.name = "min_ratio",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_ratio),
     .def = 2.0,
     .min = 0,
     .max = 1e6,
     .help = "up: rate >= this x the baseline rate to breach; down: rate <= baseline / this"},
    {.name = "span",
     .type = RW_OPT_INT,
     .offset = OPT(span),
     .def = 1,
     .min = 1,
     .max = ER_SPAN_MAX,
     .help = "test the sum of the last span windows (sliding), for quiet pages"},
    {.name = "direction",
     .type = RW_OPT_ENUM,
     .offset = OPT(direction),
     .def = ER_UP,
     .choices = er_directions,
     .help = "up: more events per view (error spikes); down: fewer (conversion drops); both"},
    {.name = NULL},
};
#undef OPT

static int er_validate(const void *params, char *err, size_t errlen)
{
    const struct er_params *p = params;
    if (p->history < 5 || p->history > ER_HISTORY_MAX) {
        snprintf(err, errlen, "'history' must be in [5, %d]", ER_HISTORY_MAX);
        return -EINVAL;
    }
    if (p->span < 1 || p->span > ER_SPAN_MAX) {
        snprintf(err, errlen, "'span' must be in [1, %d]", ER_SPAN_MAX);
        return -EINVAL;
    }
    if (!(p->alpha >= 1e-12 && p->alpha <= 0.5)) {
        snprintf(err, errlen, "'alpha' must be in [1e-12, 0.5]");
        return -EINVAL;
    }
    if (p->min_baseline_views < 0 || p->min_errors < 0 || !(p->min_ratio >= 0)) {
        snprintf(err, errlen, "'min_baseline_views', 'min_errors', 'min_ratio' must be >= 0");
        return -EINVAL;
    }
    if (p->direction < ER_UP || p->direction > ER_BOTH) {
        snprintf(err, errlen, "'direction' must be up, down or both");
        return -EINVAL;
    }
    return 0;
}

static size_t er_state_size(const void *params)
{
    const struct er_params *p = params;
    struct er_geom g = geom_of(p);
    return sizeof(struct er_state) + (size_t)g.nb * sizeof(struct er_slot) + nwin_bytes(g.nb) +
           (size_t)(p->span - 1) * sizeof(struct er_slot);
}

static void er_init(const void *params, void *state)
{
    struct er_state *s = state;
    struct er_geom g = geom_of(params);
    memset(state, 0, er_state_size(params));
    s->bw = (uint8_t)g.bw; /* <= 90 */
    s->nf = (uint8_t)g.nf; /* <= 16 */
    s->nb = (uint8_t)g.nb;
}

/* Mid-p of "e or more of the E+e events fall in the window", the window
 * holding share pi of the exposure. Whole E (a series' own baseline): the
 * binomial. Fractional E (with the parent's prior): the negative-binomial
 * form (top of the file), equal to the binomial for whole E; the binomial
 * is kept there as it is a little cheaper. Decreasing in e (for fixed E, pi). */
static double midp_upper(double e, double base_errors, double pi)
{
    if (e <= 0)
        return 1.0;
    unsigned int k = (unsigned int)e;
    if (base_errors == floor(base_errors)) {
        unsigned int n = (unsigned int)(base_errors + e);
        double q = gsl_cdf_binomial_Q(k, pi, n); /* P(X > e) */
        double d = gsl_ran_binomial_pdf(k, pi, n);
        return q + 0.5 * d;
    }
    double q = 1.0 - pi, r = base_errors + 1.0;
    double gt = gsl_cdf_negative_binomial_Q(k, q, r); /* P(X > e) */
    double d = gsl_ran_negative_binomial_pdf(k, q, r);
    double m = gt + d * (1.0 - 0.5 / q);
    return m > 0 ? m : 0;
}

/* Mid-p of "e or fewer": P(X < e) + P(X = e)/2 = 1 - midp_upper, computed
 * from the lower tail so that small p-values keep their digits. Increasing
 * in e. */
static double midp_lower(double e, double base_errors, double pi)
{
    unsigned int k = (unsigned int)e;
    if (base_errors == floor(base_errors)) {
        unsigned int n = (unsigned int)(base_errors + e);
        double le = gsl_cdf_binomial_P(k, pi, n); /* P(X <= e) */
        double d = gsl_ran_binomial_pdf(k, pi, n);
        double m = le - 0.5 * d;
        return m > 0 ? m : 0;
    }
    double q = 1.0 - pi, r = base_errors + 1.0;
    double lt = k > 0 ? gsl_cdf_negative_binomial_P(k - 1, q, r) : 0; /* P(NB < e) */
    double d = gsl_ran_negative_binomial_pdf(k, q, r);
    double m = lt + 0.5 * d / q;
    return m < 1 ? m : 1;
}

/* Smallest event count that is significant upwards at alpha (NaN if none
 * below the count limit). Starts at a normal-approximation guess so that it
 * usually takes a handful of cdf calls, then doubles and bisects. */
static double min_significant_errors(double base_errors, double pi, double alpha)
{
    double mu = base_errors * pi / (1.0 - pi);
    double zq = gsl_cdf_ugaussian_Qinv(alpha);
    double g = floor(mu + zq * sqrt(mu / (1.0 - pi) + 1.0));
    if (!isfinite(g) || g < 1)
        g = 1;
    double lo, hi; /* p(lo) >= alpha (or lo == 0), p(hi) < alpha */
    if (midp_upper(g, base_errors, pi) < alpha) {
        hi = g;
        double step = 1;
        for (;;) {
            lo = hi - step;
            if (lo <= 0) {
                lo = 0;
                break;
            }
            if (midp_upper(lo, base_errors, pi) >= alpha)
                break;
            hi = lo;
            step *= 2;
        }
    } else {
        lo = g;
        double step = 1;
        for (;;) {
            hi = lo + step;
            if (hi + base_errors > ER_COUNT_MAX)
                return NAN;
            double ph = midp_upper(hi, base_errors, pi);
            if (!isfinite(ph))
                return NAN;
            if (ph < alpha)
                break;
            lo = hi;
            step *= 2;
        }
    }
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (midp_upper(mid, base_errors, pi) < alpha)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Largest event count that is significant downwards at alpha, -1 if not
 * even 0 is. Same search as above, mirrored. */
static double max_significant_errors(double base_errors, double pi, double alpha)
{
    if (!(midp_lower(0, base_errors, pi) < alpha))
        return -1;
    double mu = base_errors * pi / (1.0 - pi);
    double zq = gsl_cdf_ugaussian_Qinv(alpha);
    double g = floor(mu - zq * sqrt(mu / (1.0 - pi) + 1.0));
    if (!isfinite(g) || g < 0)
        g = 0;
    if (g + base_errors > ER_COUNT_MAX)
        g = floor(ER_COUNT_MAX - base_errors);
    double lo, hi; /* p(lo) < alpha, p(hi) >= alpha */
    if (midp_lower(g, base_errors, pi) < alpha) {
        lo = g;
        double step = 1;
        for (;;) {
            hi = lo + step;
            if (hi + base_errors > ER_COUNT_MAX)
                return lo;
            if (!(midp_lower(hi, base_errors, pi) < alpha))
                break;
            lo = hi;
            step *= 2;
        }
    } else {
        hi = g;
        double step = 1;
        for (;;) {
            lo = hi - step;
            if (lo <= 0) {
                lo = 0; /* p(0) < alpha, checked above */
                break;
            }
            if (midp_lower(lo, base_errors, pi) < alpha)
                break;
            hi = lo;
            step *= 2;
        }
    }
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (midp_lower(mid, base_errors, pi) < alpha)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* A rate per view for the words: two significant digits, kept ("0.30"). */
static void fmt_rate(char *buf, size_t len, double r)
{
    if (r >= 10 || r == 0)
        snprintf(buf, len, "%.3g", r);
    else
        snprintf(buf, len, "%#.2g", r);
}

static void er_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct er_params *p = params;
    const struct er_state *s = state;
    /* This window plus the pending windows of the span. */
    double raw = obs->errors, e = obs->error_sessions, v = obs->views;
    const struct er_slot *pend = pend_of(s);
    for (uint32_t i = 0; i < s->npend; i++) {
        raw += pend[i].errors;
        e += pend[i].sessions;
        v += pend[i].views;
    }
    uint32_t nw = s->npend + 1u;
    double E = (double)s->sum_sessions, V = (double)s->sum_views;
    double E_raw = (double)s->sum_errors;
    /* Errors can arrive without a view (the page died before its view
     * beacon): count the window as one view of exposure so the test and the
     * rate stay defined. */
    double x = v > 0 ? v : 1.0;

    /* A thin baseline is topped up with the parent's rate (top of file). */
    const struct er_state *ps = obs->parent;
    double V0 = 0;
    if (ps && V < (double)p->min_baseline_views &&
        (double)ps->sum_views >= (double)p->min_baseline_views && ps->sum_views > 0) {
        double Vp = (double)ps->sum_views;
        V0 = (double)p->min_baseline_views - V;
        if (V0 > Vp)
            V0 = Vp;
        E += (double)ps->sum_sessions / Vp * V0;
        E_raw += (double)ps->sum_errors / Vp * V0;
        V += V0;
    }

    rw_verdict_begin(out, RW_SCORE_P, (raw > 0 || v > 0) ? raw / x : NAN,
                     v > 4e9 ? 4000000000u : (uint32_t)v,
                     p->direction == ER_UP     ? er_test_up
                     : p->direction == ER_DOWN ? er_test_down
                                               : er_test_both);
    out->expected = V > 0 ? E_raw / V : NAN;
    out->low = p->direction == ER_UP ? 0 : NAN;
    out->base_windows = s->count;

    if (raw == 0 && v == 0) {
        RW_WHY(obs, out, "no views and no errors");
        return;
    }
    if (V < (double)p->min_baseline_views || V <= 0) {
        RW_WHY(obs, out, "baseline has %.0f views < %d", V,
                 p->min_baseline_views);
        return;
    }
    if (e > ER_COUNT_MAX) {
        RW_WHY(obs, out, "error count too large to test");
        return;
    }
    /* Very large totals: halve the baseline (same rate, a hair more
     * uncertainty) until the counts fit the cdf's unsigned arguments. */
    while (E + e > ER_COUNT_MAX && E > 0) {
        E = floor(E / 2);
        V = floor(V / 2);
    }
    if (V < 1)
        V = 1;

    double pi = x / (V + x);
    double rate0 = E / V;
    double mu = rate0 * x; /* expected count in the span */
    int down;
    double pv;
    if (p->direction == ER_UP) {
        down = 0;
        pv = midp_upper(e, E, pi);
    } else if (p->direction == ER_DOWN) {
        down = 1;
        pv = midp_lower(e, E, pi);
    } else {
        /* The two mid-p add up to 1: compute the tail on e's side of the
         * conditional mean (the small one, so its digits are kept); past
         * 1/2 the other side is the smaller, 1 - it loses nothing there. */
        down = !(e > (E + e) * pi);
        double t = down ? midp_lower(e, E, pi) : midp_upper(e, E, pi);
        if (t > 0.5) {
            t = 1 - t;
            down = !down;
        }
        pv = 2 * t;
    }
    if (!isfinite(pv)) {
        RW_WHY(obs, out, "p-value not computable");
        return;
    }
    /* Effect gates, as counts in the span. Down: at most k_down events,
     * and enough expected events that a drop can mean something. */
    double k_up = ceil(p->min_ratio * mu - 1e-9);
    if (k_up < p->min_errors)
        k_up = p->min_errors;
    double k_down = p->min_ratio > 0 ? floor(mu / p->min_ratio + 1e-9) : INFINITY;
    int mu_enough = mu >= p->min_errors;
    out->score = pv;
    out->p = pv;
    out->shrunk = V0 > 0;

    int sig = pv < p->alpha;
    int enough = down ? mu_enough : e >= p->min_errors;
    int ratio = down ? e <= k_down : e >= p->min_ratio * mu;
    out->big = (uint8_t)(enough && ratio);
    out->kind = sig && enough && ratio ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    if (!obs->words)
        return; /* the band and the words are only needed when reported */

    if (V0 > 0)
        snprintf(out->base, sizeof out->base, "%u own windows + parent rate for %.0f views",
                 s->count, V0);
    else
        snprintf(out->base, sizeof out->base, "mean rate of last %u windows", s->count);

    /* Band: each side at alpha (both: alpha/2 a side), its gates included. */
    double a_side = p->direction == ER_BOTH ? p->alpha / 2 : p->alpha;
    if (p->direction != ER_DOWN) {
        double k_sig = min_significant_errors(E, pi, a_side);
        out->high = isfinite(k_sig) ? (k_sig > k_up ? k_sig : k_up) / x : NAN;
    }
    if (p->direction != ER_UP && mu_enough) {
        double k_sig = max_significant_errors(E, pi, a_side);
        double k = k_sig < k_down ? k_sig : k_down;
        out->low = k >= 0 ? k / x : NAN;
    }

    char where[32] = "";
    if (nw > 1)
        snprintf(where, sizeof where, " over %u windows", nw);
    int len;
    if (p->direction == ER_UP) {
        len = snprintf(out->why, sizeof out->why,
                       "%.0f users with errors in %.0f views%s, expected %.1f, p=%.2g", e, v,
                       where, mu, pv);
    } else {
        char r0[24];
        fmt_rate(r0, sizeof r0, rate0);
        len = snprintf(out->why, sizeof out->why,
                       "%.0f events in %.0f views%s vs usual %s per view, p=%.2g", e, v, where, r0,
                       pv);
    }
    if (sig && len > 0 && (size_t)len < sizeof out->why) {
        char *w = out->why + len;
        size_t wl = sizeof out->why - (size_t)len;
        if (!enough && down)
            snprintf(w, wl, ", expected %.1f < min_errors %d", mu, p->min_errors);
        else if (!enough)
            snprintf(w, wl, ", < min_errors %d", p->min_errors);
        else if (!ratio && down)
            snprintf(w, wl, ", ratio > 1/%.3g", p->min_ratio);
        else if (!ratio)
            snprintf(w, wl, ", ratio < %.3g", p->min_ratio);
    }
}

/* The oldest full block leaves the baseline. */
static void evict_oldest(struct er_state *s)
{
    uint8_t *nwin = nwin_of(s);
    uint32_t o = (s->head + s->nb - s->nfull) % s->nb;
    s->sum_errors -= s->blk[o].errors;
    s->sum_sessions -= s->blk[o].sessions;
    s->sum_views -= s->blk[o].views;
    s->count -= nwin[o];
    s->blk[o] = (struct er_slot){0, 0, 0};
    nwin[o] = 0;
    s->nfull--;
}

/* The block being filled becomes a full block; a fresh one starts. */
static void close_block(struct er_state *s)
{
    if (s->nfull >= s->nf)
        evict_oldest(s); /* only after blocks closed early (see below) */
    s->head = (uint16_t)((s->head + 1u) % s->nb);
    s->nfull++;
    s->blk[s->head] = (struct er_slot){0, 0, 0};
    nwin_of(s)[s->head] = 0;
}

/* Fold one window into the baseline (unless it belongs to an incident). */
static void learn_window(const struct er_params *p, struct er_state *s, const struct er_slot *w,
                         int breach)
{
    uint32_t h = (uint32_t)p->history;
    if (!rw_learn_gate(&s->breach_run, breach, h))
        return;
    uint8_t *nwin = nwin_of(s);
    /* At history windows the oldest block leaves whole: the baseline
     * then covers history - bw + 1 windows and grows back. */
    if (s->count >= h && s->nfull > 0)
        evict_oldest(s);
    struct er_slot *c = &s->blk[s->head];
    /* A block's sums are uint32_t: a window that would overflow one (over
     * 4e9 / bw views a window) closes the block early. */
    if (nwin[s->head] > 0 &&
        (c->errors > UINT32_MAX - w->errors || c->sessions > UINT32_MAX - w->sessions ||
         c->views > UINT32_MAX - w->views)) {
        close_block(s);
        c = &s->blk[s->head];
    }
    c->errors += w->errors;
    c->sessions += w->sessions;
    c->views += w->views;
    nwin[s->head]++;
    s->count++;
    s->sum_errors += w->errors;
    s->sum_sessions += w->sessions;
    s->sum_views += w->views;
    if (nwin[s->head] >= s->bw)
        close_block(s);
}

static void er_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct er_params *p = params;
    struct er_state *s = state;
    int breach = v && v->kind == RW_VERDICT_BREACH;
    uint32_t cap = (uint32_t)p->span - 1;
    /* Every window in a breaching span is part of the incident (bits of
     * free slots are rewritten when a window takes the slot). */
    if (breach && cap > 0)
        s->pend_breach = (1u << cap) - 1u; /* cap <= 29 */
    /* A window with neither views nor errors says nothing about the rate;
     * keeping it would only push informative windows out of the baseline. */
    if (obs->errors == 0 && obs->views == 0)
        return;
    struct er_slot w = {obs->errors, obs->error_sessions, obs->views};
    if (cap == 0) {
        learn_window(p, s, &w, breach);
        return;
    }
    /* pend is a ring of the last `cap` windows; the oldest leaves the span. */
    struct er_slot *pend = (struct er_slot *)pend_of(s);
    uint32_t i;
    if (s->npend == cap) {
        i = s->pend_head;
        learn_window(p, s, &pend[i], (int)((s->pend_breach >> i) & 1u));
        s->pend_head = (uint8_t)((i + 1) % cap);
    } else {
        i = (s->pend_head + s->npend) % cap;
        s->npend++;
    }
    pend[i] = w;
    if (breach)
        s->pend_breach |= 1u << i;
    else
        s->pend_breach &= ~(1u << i);
}

const struct rw_detector rw_detector_error_rate = {
    .name = "error_rate",
    .help = "events per view above (or below) the baseline rate (exact count test)",
    .options = er_options,
    .params_size = sizeof(struct er_params),
    .validate = er_validate,
    .state_size = er_state_size,
    .init = er_init,
    .eval = er_eval,
    .learn = er_learn,
    .flags = RW_DET_PVALUE,
};
