/* error_rate: more error events than the baseline rate explains, with the
 * window's page views as exposure.
 *
 * Test: the conditional test for two Poisson rates. With E, V the errors and
 * views summed over the history ring and e, v this window's, under "same
 * rate" the split of the E+e errors between window and baseline is
 *     e ~ Binomial(E + e, v / (V + v)),
 * whatever the unknown rate is. So the p-value carries the baseline's own
 * uncertainty: 1 error in 3 views against a baseline of 0 errors in 300
 * views is p ~ 0.005, not an alarm; 40 errors in 400 views against a
 * history of 4 per 400 is p ~ 1e-20.
 *
 * We report the mid-p, P(X > e) + P(X = e)/2. With a few expected errors per
 * window the count is so discrete that the plain P(X >= e) is conservative:
 * measured false-alarm rates were 0.26-0.66 alpha (0.53 alpha at 1e-4), so
 * alpha would not mean what it says. The mid-p measured 0.54-1.14 alpha,
 * never above 2 alpha (docs/detectors.md has the table).
 *
 * A minimum effect (min_errors, min_ratio) keeps significant-but-trivial
 * changes on big pages quiet.
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
 * breach has p < alpha and passes min_errors and min_ratio (big).
 *
 * Shrinkage: a series with fewer than min_baseline_views views in its ring
 * borrows its parent's rate (obs->parent, the same rule on the parent
 * series, with a full baseline itself): the baseline is topped up to
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
 * with q = V / (V + x),
 *     P(Bin(E+e, pi) >= e) = P(NB(E+1, q) >= e),
 *     P(Bin(E+e, pi) =  e) = P(NB(E+1, q) =  e) / q,
 * so for whole E it is exactly the binomial mid-p (to 1e-14; whole E
 * still goes through the binomial).
 *
 * State (engine-owned, state_size() bytes): a ring of (errors, views) per
 * window, running sums, and the count of consecutive breach windows. Breach
 * windows are not learned, so an incident does not become its own baseline;
 * after more than history/2 consecutive breaches they are, so a permanent
 * change is accepted as the new normal instead of alerting forever.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#define ER_HISTORY_MAX 1440
#define ER_SPAN_MAX 30
/* gsl_cdf_binomial_* take unsigned int counts. */
#define ER_COUNT_MAX 4000000000.0

static const char er_test[] = "conditional Poisson rate test (mid-p)";

struct er_params {
    int history;
    int min_baseline_views;
    double alpha;
    int min_errors;
    double min_ratio;
    int span;
};

struct er_slot {
    uint32_t errors;   /* error events */
    uint32_t sessions; /* errors counted once per session */
    uint32_t views;
};

struct er_pending {
    struct er_slot w;
    uint32_t breach;
};

struct er_state {
    uint64_t sum_errors; /* over the ring */
    uint64_t sum_sessions;
    uint64_t sum_views;
    uint32_t count;      /* slots in use, <= history */
    uint32_t head;       /* next slot to write */
    uint32_t breach_run; /* consecutive breach windows not learned */
    uint32_t npend;      /* recent windows inside the span, not yet learned */
    uint32_t pend_head;
    uint32_t pad;
    struct er_slot ring[]; /* history slots, then span-1 struct er_pending */
};

static struct er_pending *pend_of(const struct er_params *p, const struct er_state *s)
{
    return (struct er_pending *)(s->ring + p->history);
}

#define OPT(field) offsetof(struct er_params, field)
static const struct rw_option er_options[] = {
    {.name = "history",
     .type = RW_OPT_INT,
     .offset = OPT(history),
     .def = 60,
     .min = 5,
     .max = ER_HISTORY_MAX,
     .help = "windows of (errors, views) kept as the baseline"},
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
     .help = "errors needed in the window to breach"},
    {.name = "min_ratio",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_ratio),
     .def = 2.0,
     .min = 0,
     .max = 1e6,
     .help = "window error rate must be >= this times the baseline rate to breach"},
    {.name = "span",
     .type = RW_OPT_INT,
     .offset = OPT(span),
     .def = 1,
     .min = 1,
     .max = ER_SPAN_MAX,
     .help = "test the sum of the last span windows (sliding), for quiet pages"},
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
    if (!(p->alpha >= 1e-12 && p->alpha <= 0.5)) {
        snprintf(err, errlen, "'alpha' must be in [1e-12, 0.5]");
        return -EINVAL;
    }
    if (p->min_baseline_views < 0 || p->min_errors < 0 || !(p->min_ratio >= 0)) {
        snprintf(err, errlen, "'min_baseline_views', 'min_errors', 'min_ratio' must be >= 0");
        return -EINVAL;
    }
    return 0;
}

static size_t er_state_size(const void *params)
{
    const struct er_params *p = params;
    return sizeof(struct er_state) + (size_t)p->history * sizeof(struct er_slot) +
           (size_t)(p->span - 1) * sizeof(struct er_pending);
}

static void er_init(const void *params, void *state)
{
    (void)params;
    struct er_state *s = state;
    s->sum_errors = 0;
    s->sum_sessions = 0;
    s->sum_views = 0;
    s->count = 0;
    s->head = 0;
    s->breach_run = 0;
    s->npend = 0;
    s->pend_head = 0;
    s->pad = 0;
}

/* Mid-p of "e or more of the E+e errors fall in the window", the window
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

/* Smallest error count that is significant at alpha (NaN if none below the
 * count limit). Starts at a normal-approximation guess so that it usually
 * takes a handful of cdf calls, then doubles and bisects. */
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

static void er_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct er_params *p = params;
    const struct er_state *s = state;
    /* This window plus the pending windows of the span. */
    double raw = obs->errors, e = obs->error_sessions, v = obs->views;
    const struct er_pending *pend = pend_of(p, s);
    for (uint32_t i = 0; i < s->npend; i++) {
        raw += pend[i].w.errors;
        e += pend[i].w.sessions;
        v += pend[i].w.views;
    }
    uint32_t nw = s->npend + 1;
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

    out->kind = RW_VERDICT_INSUFFICIENT;
    out->score_kind = RW_SCORE_P;
    out->value = (raw > 0 || v > 0) ? raw / x : NAN;
    out->expected = V > 0 ? E_raw / V : NAN;
    out->low = 0;
    out->high = NAN;
    out->score = NAN;
    out->n = v > 4e9 ? 4000000000u : (uint32_t)v;
    out->p = NAN;
    out->big = 0;
    out->shrunk = 0;
    out->base_windows = s->count;
    out->test = er_test;
    out->base[0] = '\0';
    out->why[0] = '\0';

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
    double pv = midp_upper(e, E, pi);
    if (!isfinite(pv)) {
        RW_WHY(obs, out, "p-value not computable");
        return;
    }
    double rate0 = E / V;
    double k_gate = ceil(p->min_ratio * rate0 * x - 1e-9);
    if (k_gate < p->min_errors)
        k_gate = p->min_errors;
    out->score = pv;
    out->p = pv;
    out->shrunk = V0 > 0;

    int sig = pv < p->alpha;
    int enough = e >= p->min_errors;
    int ratio = e >= p->min_ratio * rate0 * x;
    out->big = (uint8_t)(enough && ratio);
    out->kind = sig && enough && ratio ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    if (!obs->words)
        return; /* the band and the words are only needed when reported */

    if (V0 > 0)
        snprintf(out->base, sizeof out->base, "%u own windows + parent rate for %.0f views",
                 s->count, V0);
    else
        snprintf(out->base, sizeof out->base, "mean rate of last %u windows", s->count);

    double k_sig = min_significant_errors(E, pi, p->alpha);
    out->high = isfinite(k_sig) ? (k_sig > k_gate ? k_sig : k_gate) / x : NAN;
    char where[32] = "";
    if (nw > 1)
        snprintf(where, sizeof where, " over %u windows", nw);
    int len = snprintf(out->why, sizeof out->why,
                       "%.0f users with errors in %.0f views%s, expected %.1f, p=%.2g", e, v,
                       where, rate0 * x, pv);
    if (sig && len > 0 && (size_t)len < sizeof out->why) {
        if (!enough)
            snprintf(out->why + len, sizeof out->why - (size_t)len, ", < min_errors %d",
                     p->min_errors);
        else if (!ratio)
            snprintf(out->why + len, sizeof out->why - (size_t)len, ", ratio < %.3g", p->min_ratio);
    }
}

/* Fold one window into the baseline ring (unless it belongs to an incident). */
static void learn_window(const struct er_params *p, struct er_state *s, const struct er_slot *w,
                         int breach)
{
    uint32_t h = (uint32_t)p->history;
    if (!rw_learn_gate(&s->breach_run, breach, h))
        return;
    if (s->head >= h)
        s->head = 0;
    if (s->count >= h) {
        s->sum_errors -= s->ring[s->head].errors;
        s->sum_sessions -= s->ring[s->head].sessions;
        s->sum_views -= s->ring[s->head].views;
    } else {
        s->count++;
    }
    s->ring[s->head] = *w;
    s->sum_errors += w->errors;
    s->sum_sessions += w->sessions;
    s->sum_views += w->views;
    s->head = (s->head + 1) % h;
}

static void er_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct er_params *p = params;
    struct er_state *s = state;
    int breach = v && v->kind == RW_VERDICT_BREACH;
    struct er_pending *pend = pend_of(p, s);
    /* Every window in a breaching span is part of the incident. */
    if (breach)
        for (uint32_t i = 0; i < s->npend; i++)
            pend[i].breach = 1;
    /* A window with neither views nor errors says nothing about the rate;
     * keeping it would only push informative windows out of the ring. */
    if (obs->errors == 0 && obs->views == 0)
        return;
    struct er_slot w = {obs->errors, obs->error_sessions, obs->views};
    uint32_t cap = (uint32_t)p->span - 1;
    if (cap == 0) {
        learn_window(p, s, &w, breach);
        return;
    }
    /* pend is a ring of the last `cap` windows; the oldest leaves the span. */
    if (s->npend == cap) {
        struct er_pending *old = &pend[s->pend_head];
        learn_window(p, s, &old->w, (int)old->breach);
        old->w = w;
        old->breach = (uint32_t)breach;
        s->pend_head = (s->pend_head + 1) % cap;
    } else {
        pend[(s->pend_head + s->npend) % cap] = (struct er_pending){w, (uint32_t)breach};
        s->npend++;
    }
}

const struct rw_detector rw_detector_error_rate = {
    .name = "error_rate",
    .help = "error events above the baseline rate per view (exact count test)",
    .options = er_options,
    .params_size = sizeof(struct er_params),
    .validate = er_validate,
    .state_size = er_state_size,
    .init = er_init,
    .eval = er_eval,
    .learn = er_learn,
    .flags = RW_DET_PVALUE,
};
