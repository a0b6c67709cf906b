/* seasonal: is this window unusual for its time of day / week?
 *
 * Expected value = the profile of this slot of the period (hour-of-week by
 * default) + the recent level of the series relative to that profile
 * ("today runs 10 % higher"). So "slow for a Tuesday 14:00" is caught, while
 * the nightly dip of traffic or the daytime rise of latency is not an alarm.
 *
 * Model, on the working scale x = log(value + log_offset) (scale = log, the
 * default) or x = value (linear); slot = time-of-period bucket of
 * ts_end - 1 ms (UTC, weeks start Monday 00:00):
 *     S(t)  slot location, linearly interpolated between the centres of the
 *           window's slot and the nearer neighbour (with 60-minute slots a
 *           5x traffic cycle would otherwise be off by 10 % at slot edges);
 *     r     EWMA (half-life `recent` windows) of x - S(t): the recent level;
 *     E     = S(t) + blend * r                        (the expectation)
 *     sigma = 1.2533 * (slot's mean |x - E| per sample) / sqrt(n), the slot
 *             scale interpolated like S, times a Student-t factor for the
 *             windows behind it, floored at ln(1 + min_rel_scale).
 * sqrt(n): a percentile of n samples has sampling noise ~ 1/sqrt(n), so
 * scales are kept per sample (option sampling; kind count and sampling =
 * false use 1). Without it the variation of n inside a slot and between
 * days made z = 4 fire 2.5-4x the promise on p75s.
 *
 * Per slot (9 bytes): location and mean |one-step error| as floats, and the
 * cycles of history behind them in 1/16 cycles. A window accumulates into
 * the current visit of its slot (state header); the visit is folded into
 * the slot when the series moves on, with weight 1/(c+1) for the c-th
 * cycle, then 1/memory: the slot averages the same slot of the last
 * `memory` weeks (days). Partial visits (series born at 14:40, windows kept
 * out as incidents) count as the share of the slot they cover, from the
 * window length seen in ts_end steps. The slot learns x - r (as
 * Holt-Winters' seasonal term learns x - level), Huber-clipped at 3 sigma:
 * level shifts live in r, not in next week's profile.
 *
 * Until the slot has `min_cycles` cycles of history the verdict comes from a
 * short-term baseline (EWMA of x, half-life `recent`, with its own one-step
 * error scale) and says so ("short-term baseline: seasonal profile has 1 of
 * 2 cycles"). If obs->parent is given and the parent's slot is trusted, the
 * series borrows the parent's SHAPE instead: expected = own short-term
 * level + (parent's seasonal expectation now - parent's short-term level).
 * Both levels are EWMAs with the same half-life, so the parent's term is
 * what the lagging level misses on a ramp; a quiet page x device series is
 * seasonal from its first hour (v.shrunk = 1), with the scale of its own
 * errors against that shrunk expectation.
 *
 * kind = count (views, error counts, custom event counts): the working scale
 * is log(count + max(log_offset, 0.5)) (a zero count stays evaluable), and
 * the test is the mid-p of a negative binomial with mean m = the expected
 * count and variance m + t^2 * max(sigma^2 (m + off)^2 - m, 0): Poisson
 * noise is known, only the excess over it is estimated. z is the normal
 * equivalent of that p.
 *
 * Learning: outlier windows (|z| > z either way, or a breach) teach nothing
 * (like rw_learn_gate) until more than `recent` of them come in a run (a
 * calm window halves the run; a change of sign starts a new run): then the
 * change is permanent, r and the short-term level jump to the run's mean,
 * and learn on unclipped. The profile itself only ever learns calm windows.
 *
 * Calibration promise: on data that is a repeating day/week profile plus
 * noise (kind value: Gaussian on the working scale, variance ~ 1/n; kind
 * count: Poisson or overdispersed counts), once a slot is trusted the
 * per-window false-alarm probability is 1 - Phi(z) per tail (x2 for
 * direction both), with min_rel_change = 0 and min_rel_scale = 0; the
 * gates only lower it. tests/unit/test_seasonal.c measures it at z = 2.5
 * and 3 (0.6-1.4x); z = 4 was measured on 10^6 windows (0.55-1.9x). The
 * short-term fallback gives no such promise on seasonal data.
 *
 * span > 1 judges the last `span` windows together (this one included):
 * a persistent moderate shift that no single window shows (one window's
 * p75 at night has ~10 % noise). kind value: the n-weighted mean of x - S(t)
 * over the span, minus r; kind count: the sum of counts against the sum of
 * expected counts (negative binomial mid-p). The variance is not the
 * span's windows taken as independent: the expectation's own error (the
 * recent level's sampling noise, tracked exactly; the rest, e.g. a level
 * that wanders, measured on calm spans as beta) is shared by all windows
 * of the span and does not shrink with it. See span_core(). The windows of
 * the span are learned only when they leave it (a pending ring, as
 * traffic_drop's): a breaching span marks all its windows, which then
 * teach nothing; a change is taken as permanent after `recent` + span - 1
 * marked windows. S(t) is the area-matching quadratic through three slots
 * (their means are averages; a straight line between slot centres is off
 * by up to 0.5 % of a 5x cycle, which a 30-window mean sees). Only windows
 * judged on the trusted profile wait in the ring; the short-term fallback
 * and the parent's shape stay per window and learn at once. span = 1 is
 * bit-identical to the detector without the option.
 * Promise with span > 1: the same 1 - Phi(z) per window and tail, on the
 * same data, once trusted; measured at z = 3 (0.9-1.4x, unit test, spans
 * of 15 and 30 one-minute windows) and z = 4 (0.76-1.09x, 5 10^6 windows).
 * Known limits (docs): a level that wanders by ~10 % a day, where the span
 * mostly measures how well r follows it (2.7x at z = 3), and spans much
 * longer than a slot.
 *
 * State: 88 bytes + 9 bytes per slot (period week, 60-minute slots: 1600
 * bytes; period day: 304 bytes); span > 1 adds 56 bytes + 16 per pending
 * window after the slots (8-aligned): span 30, week: 2120 bytes.
 */
#include "detectors/detector.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#define SE_DAY_MS 86400000LL
#define SE_SLOTS_MAX 2016                  /* a week of 5-minute slots */
#define SE_WQ 16                           /* slot weights are stored in 1/16 cycles */
#define SE_MEMORY_MAX 15                   /* 15 * 16 = 240 fits the uint8 weight */
#define SE_MAD_TO_SIGMA 1.2533141373155003 /* sqrt(pi/2): mean |e| -> sd */
#define SE_MAD_DF 0.876   /* mean |e| of n normals has the precision of a sd with 0.876 n df */
#define SE_HUBER 3.0      /* location updates clip errors here (sigmas) */
#define SE_SCALE_CLIP 4.0 /* scale updates clip |e| here (sigmas) */
#define SE_ZCAP 6.0       /* t factor of z = 6 above: not testable, and it explodes */
#define SE_DEFAULT_WIN_MS 60000
#define SE_COUNT_MAX 4e9
#define SE_SPAN_MAX 60
#define SE_N_MAX 0x0FFFFFFFu       /* n kept in a pending window (28 bits) */
#define SE_PEND_BREACH 0x10000000u /* pending window: part of a breaching span */
#define SE_PEND_NEG 0x20000000u    /* ... whose z was negative */
#define SE_PEND_DONE 0x40000000u   /* pending window already learned (not judged seasonally) */
#define SE_BETA_HL 50              /* half-life of the estimate of beta, in spans */
#define SE_BETA_PRIOR 4            /* its prior is worth this many spans */
#define SE_OBM 1.5                 /* overlapping spans: df per span of windows averaged */

enum se_period { SE_PERIOD_DAY = 0, SE_PERIOD_WEEK };
static const char *const se_periods[] = {"day", "week", NULL};
enum se_kind { SE_KIND_VALUE = 0, SE_KIND_COUNT };
static const char *const se_kinds[] = {"value", "count", NULL};
enum se_direction { SE_AUTO = 0, SE_UP, SE_DOWN, SE_BOTH };
static const char *const se_directions[] = {"auto", "up", "down", "both", NULL};
enum se_scale { SE_LOG = 0, SE_LINEAR };
static const char *const se_scales[] = {"log", "linear", NULL};

struct se_params {
    int period;
    int slot_minutes;
    int min_cycles;
    int memory;
    int kind;
    double z;
    int direction;
    double min_rel_change;
    int min_n;
    double min_expected;
    int scale;
    double log_offset;
    double min_rel_scale;
    int recent;
    int min_history;
    double blend;
    int sampling;
    int span;
};

struct se_state {
    int64_t last_ts;     /* ts_end of the last window learn saw (0: none) */
    double acc_sum;      /* current visit: sum of (clipped) x */
    double acc_abs;      /* current visit: sum of |one-step seasonal error| x sqrt(n) */
    double level;        /* short-term baseline: EWMA of x */
    double resid;        /* EWMA of x - S(t) */
    float level_mad;     /* EWMA of |x - level| x sqrt(n), one step ahead */
    float shrunk_mad;    /* EWMA of |x - shrunk expectation| x sqrt(n), one step ahead */
    float run_r;         /* mean of x - S(t) - resid over the run of outliers */
    float run_l;         /* mean of x - level over the run of outliers */
    int32_t win_ms;      /* window length: smallest ts_end step seen (0: unknown) */
    int32_t acc_cycle;   /* period index of the visit being accumulated */
    uint32_t n_level;    /* windows in level (saturating) */
    uint32_t n_resid;    /* windows in resid (saturating) */
    uint32_t n_shrunk;   /* windows in shrunk_mad (saturating) */
    uint16_t breach_run; /* outlier windows, halved by each calm one */
    int16_t run_sign;    /* direction of the current run of outliers */
    uint16_t acc_slot;   /* slot of the visit being accumulated (0xFFFF: none) */
    uint16_t acc_n;      /* windows in acc_sum */
    uint16_t acc_ne;     /* windows in acc_abs */
    uint16_t run_n;      /* windows in run_r / run_l */
    /* then: float loc[nslots], float mad[nslots] (mean |error| x sqrt(n),
     * < 0: none yet), uint8_t w[nslots] (cycles x 16); with span > 1, at
     * the next multiple of 8: struct se_span, then span - 1 struct se_pend */
};

/* One window inside the span, not learned yet (span > 1). 16 bytes. */
struct se_pend {
    uint32_t ts; /* ts_end, low 32 bits of the epoch ms (ages are modular) */
    float x;     /* value: x on the working scale; count: the count */
    float d;     /* value: x - S(t); count: exp(S(t)) (log) or S(t) (linear), the
                    profile's part of the expected count; NaN: no location yet */
    uint32_t nf; /* n (28 bits, saturated) | SE_PEND_* flags */
};

/* The span's bookkeeping (span > 1). 56 bytes. */
struct se_span {
    double sum[4];   /* over the pending windows with a profile: value: sum w, sum w d,
                        sum w x, sum n (w = n with sampling, else 1); count: sum d,
                        sum count, sum d^2, sum n */
    float vr;        /* variance of the recent level's own sampling error (working^2) */
    float beta;      /* the rest of the expectation's error variance, measured (working^2) */
    uint32_t n_beta; /* windows behind beta, prior included (saturating) */
    uint16_t npend;  /* pending windows */
    uint16_t head;   /* the oldest of them */
    uint16_t nsum;   /* of them, with a profile (in sum) */
    uint16_t srun;   /* consecutive windows whose span z was beyond z */
    uint16_t calm;   /* windows since the last incident (such a run longer than span) */
};

#define OPT(field) offsetof(struct se_params, field)
static const struct rw_option se_options[] = {
    {.name = "period",
     .type = RW_OPT_ENUM,
     .offset = OPT(period),
     .def = SE_PERIOD_WEEK,
     .choices = se_periods,
     .help = "seasonal period: day (24 slots of 60 min, ~300 B) or week (168 slots, ~1.6 KB)"},
    {.name = "slot_minutes",
     .type = RW_OPT_INT,
     .offset = OPT(slot_minutes),
     .def = 60,
     .min = 5,
     .max = 1440,
     .help = "minutes per slot of the profile; must divide the period"},
    {.name = "min_cycles",
     .type = RW_OPT_INT,
     .offset = OPT(min_cycles),
     .def = 2,
     .min = 2,
     .max = SE_MEMORY_MAX,
     .help = "cycles (days/weeks) of history a slot needs before it is trusted"},
    {.name = "memory",
     .type = RW_OPT_INT,
     .offset = OPT(memory),
     .def = 4,
     .min = 2,
     .max = SE_MEMORY_MAX,
     .help = "cycles a slot averages over (EWMA weight 1/memory per cycle once full)"},
    {.name = "kind",
     .type = RW_OPT_ENUM,
     .offset = OPT(kind),
     .def = SE_KIND_VALUE,
     .choices = se_kinds,
     .help = "value (a percentile, a mean) or count (views, event counts: Poisson floor)"},
    {.name = "z",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(z),
     .def = 4.0,
     .min = 0.5,
     .max = 50,
     .help = "z threshold; per-window false-alarm rate 1-Phi(z) per tail once trusted"},
    {.name = "direction",
     .type = RW_OPT_ENUM,
     .offset = OPT(direction),
     .def = SE_AUTO,
     .choices = se_directions,
     .help = "which deviations breach: up, down, both, or auto (up for value, both for count)"},
    {.name = "min_rel_change",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_change),
     .def = 0.2,
     .min = 0,
     .max = 1e6,
     .help = "|value - expected| must also be >= this fraction of |expected|"},
    {.name = "min_n",
     .type = RW_OPT_INT,
     .offset = OPT(min_n),
     .def = 20,
     .min = 0,
     .max = 1e9,
     .help = "kind value: samples needed behind a window's value to evaluate or learn it"},
    {.name = "min_expected",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_expected),
     .def = 10,
     .min = 0,
     .max = 1e12,
     .help = "kind count: expected count per window needed to evaluate"},
    {.name = "scale",
     .type = RW_OPT_ENUM,
     .offset = OPT(scale),
     .def = SE_LOG,
     .choices = se_scales,
     .help = "log (multiplicative cycle: timings, counts) or linear"},
    {.name = "log_offset",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(log_offset),
     .def = 0,
     .min = 0,
     .max = 1e9,
     .help = "with scale = log, work on log(value + log_offset) (kind count: at least 0.5)"},
    {.name = "min_rel_scale",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(min_rel_scale),
     .def = 0.02,
     .min = 0,
     .max = 1e6,
     .help = "floor on sigma as a fraction of |expected| (a flat history gives finite z)"},
    {.name = "recent",
     .type = RW_OPT_INT,
     .offset = OPT(recent),
     .def = 30,
     .min = 2,
     .max = 10080,
     .help = "half-life in windows of the recent level and of the short-term baseline"},
    {.name = "min_history",
     .type = RW_OPT_INT,
     .offset = OPT(min_history),
     .def = 20,
     .min = 2,
     .max = 10080,
     .help = "windows needed before the short-term baseline evaluates (warm-up)"},
    {.name = "blend",
     .type = RW_OPT_DOUBLE,
     .offset = OPT(blend),
     .def = 1.0,
     .min = 0,
     .max = 1,
     .help = "weight of the recent level in the expectation (0: the slot profile alone)"},
    {.name = "sampling",
     .type = RW_OPT_BOOL,
     .offset = OPT(sampling),
     .def = 1,
     .help = "kind value: noise shrinks like 1/sqrt(n) (a percentile or mean of n samples)"},
    {.name = "span",
     .type = RW_OPT_INT,
     .offset = OPT(span),
     .def = 1,
     .min = 1,
     .max = SE_SPAN_MAX,
     .help = "judge the mean (count: sum) of the last span windows against the profile: "
             "a moderate shift that lasts"},
    {.name = NULL},
};
#undef OPT

static int64_t period_ms(const struct se_params *p)
{
    return p->period == SE_PERIOD_WEEK ? 7 * SE_DAY_MS : SE_DAY_MS;
}

static int64_t slot_ms(const struct se_params *p)
{
    return (int64_t)p->slot_minutes * 60000;
}

static uint32_t nslots(const struct se_params *p)
{
    return (uint32_t)(period_ms(p) / slot_ms(p));
}

static float *loc_of(const struct se_params *p, const struct se_state *s)
{
    (void)p;
    return (float *)(void *)((char *)(uintptr_t)s + sizeof *s);
}

static float *mad_of(const struct se_params *p, const struct se_state *s)
{
    return loc_of(p, s) + nslots(p);
}

static uint8_t *w_of(const struct se_params *p, const struct se_state *s)
{
    return (uint8_t *)(mad_of(p, s) + nslots(p));
}

static size_t base_size(const struct se_params *p)
{
    return sizeof(struct se_state) + (size_t)nslots(p) * (2 * sizeof(float) + 1);
}

static size_t span_off(const struct se_params *p)
{
    return (base_size(p) + 7) & ~(size_t)7;
}

/* The span block (only with span > 1). */
static struct se_span *span_of(const struct se_params *p, const struct se_state *s)
{
    return (struct se_span *)(void *)((char *)(uintptr_t)s + span_off(p));
}

static struct se_pend *pend_of(const struct se_params *p, const struct se_state *s)
{
    return (struct se_pend *)(void *)(span_of(p, s) + 1);
}

static int se_validate(const void *params, char *err, size_t errlen)
{
    const struct se_params *p = params;
    if (p->period < SE_PERIOD_DAY || p->period > SE_PERIOD_WEEK || p->kind < SE_KIND_VALUE ||
        p->kind > SE_KIND_COUNT || p->direction < SE_AUTO || p->direction > SE_BOTH ||
        p->scale < SE_LOG || p->scale > SE_LINEAR) {
        snprintf(err, errlen,
                 "'period' day/week, 'kind' value/count, 'direction' "
                 "auto/up/down/both, 'scale' log/linear");
        return -EINVAL;
    }
    if (p->slot_minutes < 5 || p->slot_minutes > 1440 ||
        (period_ms(p) / 60000) % p->slot_minutes != 0) {
        snprintf(err, errlen, "'slot_minutes' = %d must divide the %s (%lld minutes)",
                 p->slot_minutes, se_periods[p->period], (long long)(period_ms(p) / 60000));
        return -EINVAL;
    }
    if (nslots(p) > SE_SLOTS_MAX) {
        snprintf(err, errlen, "%u slots > %d", nslots(p), SE_SLOTS_MAX);
        return -EINVAL;
    }
    if (p->memory < 2 || p->memory > SE_MEMORY_MAX || p->min_cycles < 2 ||
        p->min_cycles > p->memory) {
        snprintf(err, errlen, "'min_cycles' = %d must be in [2, 'memory' = %d], memory <= %d",
                 p->min_cycles, p->memory, SE_MEMORY_MAX);
        return -EINVAL;
    }
    if (!isfinite(p->z) || p->z <= 0 || !(p->blend >= 0 && p->blend <= 1) || p->recent < 2 ||
        p->min_history < 2 || !(p->log_offset >= 0) || !(p->min_rel_scale >= 0) ||
        !(p->min_rel_change >= 0) || !(p->min_expected >= 0)) {
        snprintf(err, errlen,
                 "'z' must be > 0, 'blend' in [0, 1], 'recent' and "
                 "'min_history' >= 2");
        return -EINVAL;
    }
    if (p->span < 1 || p->span > SE_SPAN_MAX) {
        snprintf(err, errlen, "'span' = %d must be in [1, %d]", p->span, SE_SPAN_MAX);
        return -EINVAL;
    }
    return 0;
}

static size_t se_state_size(const void *params)
{
    const struct se_params *p = params;
    if (p->span <= 1)
        return base_size(p);
    return span_off(p) + sizeof(struct se_span) + (size_t)(p->span - 1) * sizeof(struct se_pend);
}

static void se_init(const void *params, void *state)
{
    const struct se_params *p = params;
    struct se_state *s = state;
    memset(s, 0, se_state_size(params));
    float *mad = mad_of(p, s);
    for (uint32_t i = 0; i < nslots(p); i++)
        mad[i] = -1.0f; /* no scale yet */
    s->acc_slot = 0xFFFF;
    s->acc_cycle = INT32_MIN;
    if (p->span > 1) {
        struct se_span *sp = span_of(p, s);
        sp->n_beta = (uint32_t)(SE_BETA_PRIOR * p->span);
        sp->calm = UINT16_MAX;
    }
}

static int dir_of(const struct se_params *p)
{
    if (p->direction != SE_AUTO)
        return p->direction;
    return p->kind == SE_KIND_COUNT ? SE_BOTH : SE_UP;
}

static double offset_of(const struct se_params *p)
{
    if (p->kind == SE_KIND_COUNT && p->log_offset < 0.5)
        return 0.5;
    return p->log_offset;
}

/* Scales are kept per sample: a window's sigma is the stored scale divided
 * by sqrt(n) (kind value with sampling on; 1 otherwise). */
static double sample_norm(const struct se_params *p, const struct rw_obs *obs)
{
    if (p->kind != SE_KIND_VALUE || !p->sampling)
        return 1.0;
    return sqrt(obs->n > 1 ? (double)obs->n : 1.0);
}

static double sample_norm_n(const struct se_params *p, uint32_t n)
{
    if (p->kind != SE_KIND_VALUE || !p->sampling)
        return 1.0;
    return sqrt(n > 1 ? (double)n : 1.0);
}

/* EWMA weight of one window for a half-life of `recent` windows. */
static double lambda_of(const struct se_params *p)
{
    return 1.0 - exp2(-1.0 / p->recent);
}

/* Where a window falls in the period. */
struct se_geo {
    int32_t cycle; /* period index */
    uint32_t slot; /* slot of ts_end - 1 ms */
    uint32_t nb;   /* the neighbouring slot nearer to the window's middle */
    double a;      /* weight of nb in the interpolation, 0..0.5 */
    double frac;   /* share of a slot one window covers, 0..1 */
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void geo_of(const struct se_params *p, const struct se_state *s, int64_t ts_end,
                   struct se_geo *g)
{
    int64_t pm = period_ms(p), sm = slot_ms(p);
    /* Epoch day 0 (1970-01-01) was a Thursday: shift so weeks start Monday. */
    int64_t t = ts_end - 1 + (p->period == SE_PERIOD_WEEK ? 3 * SE_DAY_MS : 0);
    int64_t c = floor_div(t, pm);
    int64_t pos = t - c * pm;
    uint32_t n = nslots(p);
    g->cycle = c > INT32_MAX ? INT32_MAX : (c < INT32_MIN + 1 ? INT32_MIN + 1 : (int32_t)c);
    g->slot = (uint32_t)(pos / sm);
    if (g->slot >= n)
        g->slot = n - 1;
    int64_t win = s->win_ms > 0 ? s->win_ms : SE_DEFAULT_WIN_MS;
    g->frac = win >= sm ? 1.0 : (double)win / (double)sm;
    /* Middle of the window, relative to the slot start, in slots. */
    double u = ((double)(pos - (int64_t)g->slot * sm) + 1.0 - 0.5 * (double)win) / (double)sm;
    if (u < 0)
        u = 0;
    if (u > 1)
        u = 1;
    if (u < 0.5) {
        g->nb = (g->slot + n - 1) % n;
        g->a = 0.5 - u;
    } else {
        g->nb = (g->slot + 1) % n;
        g->a = u - 0.5;
    }
}

/* One slot as eval sees it: the stored slot plus, if the visit being
 * accumulated belongs to it and is over (the series has moved on), that
 * visit folded in. learn folds for real on its next window; eval is pure
 * and must not wait for it. */
struct se_slot {
    double loc, mad, w; /* location, mean |error| (< 0: none yet), cycles */
};

static void fold(const struct se_params *p, const struct se_state *s, double frac,
                 struct se_slot *v)
{
    double f = s->acc_n * frac, fe = s->acc_ne * frac;
    if (f > 1)
        f = 1;
    if (fe > 1)
        fe = 1;
    if (s->acc_n > 0) {
        double mean = s->acc_sum / s->acc_n;
        double prior = v->w < p->memory - 1 ? v->w : p->memory - 1;
        v->loc = v->w > 0 ? v->loc + f / (prior + f) * (mean - v->loc) : mean;
    }
    if (s->acc_ne > 0) {
        double mabs = s->acc_abs / s->acc_ne;
        double prior = v->w - 1 < p->memory - 1 ? v->w - 1 : p->memory - 1;
        if (v->mad >= 0 && prior > 0)
            v->mad += fe / (prior + fe) * (mabs - v->mad);
        else
            v->mad = mabs;
    }
    v->w = v->w + f < p->memory ? v->w + f : p->memory;
}

static void slot_read(const struct se_params *p, const struct se_state *s, const struct se_geo *g,
                      uint32_t i, struct se_slot *v)
{
    v->loc = loc_of(p, s)[i];
    v->mad = mad_of(p, s)[i];
    v->w = w_of(p, s)[i] / (double)SE_WQ;
    if (s->acc_slot == i && (s->acc_n > 0 || s->acc_ne > 0) &&
        !(s->acc_cycle == g->cycle && s->acc_slot == g->slot))
        fold(p, s, g->frac, v);
}

/* The seasonal part at the window's time. */
struct se_pred {
    int have;    /* the window's slot has a location: S is defined */
    int trusted; /* ... and min_cycles of history and a scale */
    double S;    /* interpolated location */
    double sd;   /* interpolated sigma of the one-step error (0: none) */
    double w;    /* cycles behind the window's slot */
    double df;   /* degrees of freedom behind sd */
};

/* Degrees of freedom behind a slot's scale: the windows of the visits it
 * averages (all but the first cycle, which had no location to err from). */
static double scale_df(const struct se_params *p, const struct se_slot *v, double nbar)
{
    double wm = v->w < p->memory ? v->w : p->memory;
    return SE_MAD_DF * nbar * (wm - 1 > 0.5 ? wm - 1 : 0.5);
}

static void predict(const struct se_params *p, const struct se_state *s, const struct se_geo *g,
                    struct se_pred *o)
{
    struct se_slot c, nb;
    slot_read(p, s, g, g->slot, &c);
    o->w = c.w;
    o->have = c.w > 0;
    o->trusted = 0;
    o->S = c.loc;
    o->sd = SE_MAD_TO_SIGMA * c.mad;
    double nbar = 1.0 / g->frac; /* windows per full visit */
    double dfc = scale_df(p, &c, nbar);
    o->df = dfc;
    if (!o->have)
        return;
    slot_read(p, s, g, g->nb, &nb);
    if (nb.w >= 0.5 && g->a > 0) {
        o->S = (1 - g->a) * c.loc + g->a * nb.loc;
        if (c.mad >= 0 && nb.mad >= 0) {
            /* Two independent scale estimates averaged: the df add up like
             * the precisions of a weighted mean. */
            double dfn = scale_df(p, &nb, nbar);
            o->sd = SE_MAD_TO_SIGMA * ((1 - g->a) * c.mad + g->a * nb.mad);
            o->df = 1.0 / ((1 - g->a) * (1 - g->a) / dfc + g->a * g->a / dfn);
        }
    }
    /* span > 1: the location from the quadratic through the slot and both
     * neighbours that has their means as averages over each slot. Slot
     * means are averages, so the straight line between their centres is
     * off by up to f''/6 slot^2 where the profile bends (0.5 % of a 5x
     * traffic cycle with hourly slots): nothing next to one window's noise,
     * but the mean of 30 windows is 5x more precise and it showed as a
     * bias by hour of day. The recent level and the span both use this S. */
    if (p->span > 1 && g->a > 0) {
        uint32_t n = nslots(p);
        struct se_slot lo, hi;
        slot_read(p, s, g, (g->slot + n - 1) % n, &lo);
        slot_read(p, s, g, (g->slot + 1) % n, &hi);
        if (lo.w >= 0.5 && hi.w >= 0.5) {
            double v = g->nb == (g->slot + 1) % n ? g->a : -g->a; /* middle - centre, slots */
            double b = 0.5 * (hi.loc - lo.loc), cc = 0.5 * (hi.loc + lo.loc) - c.loc;
            o->S = c.loc + b * v + cc * (v * v - 1.0 / 12.0);
        }
    }
    /* Rounded: a visit that lost a window or two to an incident still counts. */
    o->trusted = floor(c.w + 0.5) >= p->min_cycles && c.mad >= 0;
}

/* Multiplier on an estimated sigma with df degrees of freedom so that a
 * normal z threshold keeps its tail probability: t_df^{-1}(Phi(z)) / z.
 * gsl_cdf_tdist_Qinv costs 1.5 us, more than the rest of eval; for df >= 20
 * the Cornish-Fisher expansion of the t quantile in 1/df (Abramowitz and
 * Stegun 26.7.5, four terms) is within 0.13 % of it for z <= 6, so GSL is
 * only asked for small df (early warm-up, long windows). */
static double t_factor(double df, double z)
{
    if (!(df < 1e6))
        return 1.0;
    if (df < 1)
        df = 1;
    double zc = z < SE_ZCAP ? z : SE_ZCAP;
    double q;
    if (df >= 20) {
        double z2 = zc * zc, z3 = z2 * zc, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
        double g1 = (z3 + zc) / 4;
        double g2 = (5 * z5 + 16 * z3 + 3 * zc) / 96;
        double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * zc) / 384;
        double g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * zc) / 92160;
        double u = 1.0 / df;
        q = zc + u * (g1 + u * (g2 + u * (g3 + u * g4)));
    } else {
        q = gsl_cdf_tdist_Qinv(gsl_cdf_ugaussian_Q(zc), df);
    }
    return (isfinite(q) && q > zc) ? q / zc : 1.0;
}

static double to_value(const struct se_params *p, double x)
{
    if (p->scale == SE_LINEAR)
        return x;
    return exp(x) - offset_of(p);
}

/* The level's one-step error sigma and its degrees of freedom. */
static double ewma_sd(const struct se_params *p, double mad, uint32_t n, double *df)
{
    double lam = lambda_of(p);
    double eff = (2.0 - lam) / lam;
    double k = n > 1 ? n - 1.0 : 1.0;
    *df = SE_MAD_DF * (k < eff ? k : eff);
    return SE_MAD_TO_SIGMA * mad;
}

static double level_sd(const struct se_params *p, const struct se_state *s, double *df)
{
    return ewma_sd(p, s->level_mad, s->n_level, df);
}

/* The parent's seasonal shape at g, as an offset to add to a short-term
 * level: its seasonal expectation minus its own short-term level. Returns
 * 0 when the parent cannot lend it (no state, slot not trusted). */
static int parent_shape(const struct se_params *p, const struct se_state *ps,
                        const struct se_geo *g, double *shape)
{
    if (!ps || ps->n_level == 0)
        return 0;
    struct se_pred par;
    predict(p, ps, g, &par);
    if (!par.trusted)
        return 0;
    double Ep = par.S + (ps->n_resid ? p->blend * ps->resid : 0.0);
    *shape = Ep - ps->level;
    return 1;
}

/* Count kind: mid-p tails of a negative binomial with mean m and variance
 * var >= m (Poisson when the excess is negligible) at count k. */
struct se_nb {
    double m, var;
};

static double nb_cdf(const struct se_nb *d, double k, int upper)
{
    unsigned int ku = (unsigned int)k;
    if (d->var - d->m <= 1e-6 * d->m)
        return upper ? gsl_cdf_poisson_Q(ku, d->m) : gsl_cdf_poisson_P(ku, d->m);
    double pp = d->m / d->var, nn = d->m * d->m / (d->var - d->m);
    return upper ? gsl_cdf_negative_binomial_Q(ku, pp, nn)
                 : gsl_cdf_negative_binomial_P(ku, pp, nn);
}

static double nb_pdf(const struct se_nb *d, double k)
{
    unsigned int ku = (unsigned int)k;
    if (d->var - d->m <= 1e-6 * d->m)
        return gsl_ran_poisson_pdf(ku, d->m);
    double pp = d->m / d->var, nn = d->m * d->m / (d->var - d->m);
    return gsl_ran_negative_binomial_pdf(ku, pp, nn);
}

/* Mid-p of the tail on k's side of the mean; *upper says which. */
static double nb_midp(const struct se_nb *d, double k, int upper)
{
    double pd = nb_pdf(d, k);
    if (upper)
        return nb_cdf(d, k, 1) + 0.5 * pd;
    return (k >= 1 ? nb_cdf(d, k - 1, 0) : 0.0) + 0.5 * pd;
}

/* Signed normal-equivalent z of count k. */
static double nb_z(const struct se_nb *d, double k)
{
    int up = k >= d->m;
    double pv = nb_midp(d, k, up);
    if (!(pv > 1e-300))
        pv = 1e-300;
    if (pv > 1 - 1e-16)
        pv = 1 - 1e-16;
    double z = gsl_cdf_ugaussian_Qinv(pv);
    return up ? z : -z;
}

/* Count band edge: the count nearest the mean that breaches on one side
 * (z beyond zt), by bisection; NaN if none within reach. */
static double nb_edge(const struct se_nb *d, double zt, int upper)
{
    double sd = sqrt(d->var);
    if (upper) {
        double lo = floor(d->m), hi = ceil(d->m + (zt + 5) * sd + 10);
        if (hi > SE_COUNT_MAX || !(nb_z(d, hi) > zt))
            return NAN;
        while (hi - lo > 1) {
            double mid = floor((lo + hi) / 2);
            if (nb_z(d, mid) > zt)
                hi = mid;
            else
                lo = mid;
        }
        return hi;
    }
    double hi = ceil(d->m), lo = 0;
    if (!(nb_z(d, 0) < -zt))
        return NAN;
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (nb_z(d, mid) < -zt)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

enum se_mode { SE_SEASONAL = 0, SE_SHRUNK, SE_SHORT };
static const char *const se_tests[] = {
    "seasonal z (slot profile + recent level)",
    "seasonal z (parent's profile shape + own level)",
    "z vs short-term baseline (EWMA)",
};

static const char *const se_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

/* snprintf for the verdict's words: truncation of a summary is acceptable. */
__attribute__((format(printf, 3, 4))) static void words(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

static void slot_name(const struct se_params *p, uint32_t slot, char *buf, size_t len)
{
    long m = (long)slot * p->slot_minutes;
    if (p->period == SE_PERIOD_WEEK)
        words(buf, len, "%s %02ld:%02ld", se_days[(m / 1440) % 7], (m % 1440) / 60, m % 60);
    else
        words(buf, len, "%02ld:%02ld", (m % 1440) / 60, m % 60);
}

/* ---- span > 1: the mean (count: the sum) of the last `span` windows ----
 *
 * A window's error against the expectation E = S(t) + r is its own noise
 * (sampling: independent from window to window) plus the error of E itself
 * (the recent level's own sampling error, the slot's location, a level
 * that wanders): shared by neighbouring windows, so it does not average
 * out over a span. Per window, the slot scale sigma^2 / n covers both; the
 * mean of k windows keeps all of the shared part B but only 1/k of it
 * through the windows' scale, so
 *     Var(mean residual) = sigma^2 / W + (1 - 1/k) B,    B = v_r + beta
 * v_r: the recent level's sampling variance, known: learn keeps sum a_i^2
 * sigma_i^2 over the EWMA weights a_i of the windows r learned (it follows
 * n: a daytime span after a night of few samples inherits a noisy r);
 * beta: what the model does not know (level wander, week-to-week changes
 * of the profile), measured: an EWMA, over calm spans, of the squared
 * residual minus the known parts, in absolute units (a wandering level
 * adds the same variance whatever n is; as a share of the window's noise
 * it was 3x larger by day than at night, and a shared share fired 16x the
 * promise at z = 4 by day). Its precision: ~SE_OBM x windows / span
 * independent spans (they overlap), combined with the slot scale's in the
 * t factor.
 *
 * Value: z = (weighted mean of x - S(t) over the span - r) / sd, weights w = n
 *        (sampling), W = sum w, sigma the slot's per-sample scale.
 * Count: the sum of counts C vs the sum of expected counts M (r applied
 *        now); variance of C: the windows' own (Poisson + excess, as for one
 *        window) summed, plus B times (sum of expected)^2 less its diagonal
 *        (the expectation's error is relative, shared: it grows like M^2,
 *        not M); only the part over the Poisson M is estimated and widened
 *        by the t factor. Mid-p of a negative binomial on the sums.
 * r is the level learned before the span: the span's windows are learned
 * only when they leave it, so they cannot pull r or the profile after
 * them; a window of a breaching span is learned as an outlier. */

struct se_spst {
    unsigned k;    /* windows in the span with a profile, this one included */
    double sum[4]; /* the span's sums, this window included (struct se_span) */
    double r;      /* blend x recent level (working scale) */
    double shared; /* B: shared variance of the expectation, working scale^2 */
    double own;    /* the windows' own variance of the statistic (value: sigma^2 / W,
                      working^2; count: Poisson + excess, count^2) */
    double mult;   /* how B enters the statistic's variance (value: 1 - 1/k;
                      count: (sum of m + off)^2 less its diagonal) */
    double res;    /* the residual: value: mean x - E; count: C - M */
    double tf;     /* t factor: the slot scale's and beta's degrees of freedom */
    double floor_sd;
    double Ebar; /* value: weighted mean expectation, working scale */
    double sdv;  /* value: sd of the mean residual (t factor, floor) */
    double M, C; /* count: expected and observed sums */
    double V;    /* count: the test's variance of C */
    double cur;  /* this window's d (value) or exp(S) (count) */
};

static uint32_t span_win_ms(const struct se_state *s)
{
    return s->win_ms > 0 ? (uint32_t)s->win_ms : SE_DEFAULT_WIN_MS;
}

/* Windows of age >= limit (ms) are out of the span. */
static uint32_t age_limit(const struct se_state *s, int windows)
{
    uint64_t l = (uint64_t)span_win_ms(s) * (uint64_t)windows;
    return l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
}

static uint32_t age_of(int64_t ts, uint32_t pts)
{
    return (uint32_t)((uint32_t)(uint64_t)ts - pts);
}

/* A pending window's terms in struct se_span's sums. */
static void pend_terms(const struct se_params *p, const struct se_pend *e, double t[4])
{
    double n = (double)(e->nf & SE_N_MAX);
    if (p->kind == SE_KIND_COUNT) {
        t[0] = e->d;
        t[1] = e->x;
        t[2] = (double)e->d * e->d;
    } else {
        double w = p->sampling ? (n > 1 ? n : 1.0) : 1.0;
        t[0] = w;
        t[1] = w * e->d;
        t[2] = w * e->x;
    }
    t[3] = n;
}

static double beta_lambda(const struct se_params *p)
{
    return 1.0 - exp2(-1.0 / ((double)SE_BETA_HL * p->span));
}

/* The span statistic at ts for this window (x on the working scale,
 * `value` the raw count for kind count, n its samples), the seasonal
 * prediction `own` (trusted) and the state as it is. */
static void span_core(const struct se_params *p, const struct se_state *s, int64_t ts, double x,
                      double value, uint32_t n, const struct se_pred *own, struct se_spst *o)
{
    const struct se_span *sp = span_of(p, s);
    const struct se_pend *pe = pend_of(p, s);
    int lg = p->scale == SE_LOG;
    double off = offset_of(p);
    uint32_t cap = (uint32_t)p->span - 1;
    memcpy(o->sum, sp->sum, sizeof o->sum);
    unsigned k = sp->nsum;
    /* learn takes windows out as they leave the span; one it never saw leave
     * (learn skipped a window) is taken out here. */
    uint32_t lim = age_limit(s, p->span);
    for (uint32_t i = 0; i < sp->npend; i++) {
        const struct se_pend *e = &pe[(sp->head + i) % cap];
        if (age_of(ts, e->ts) < lim)
            break;
        if (isfinite(e->d)) {
            double t[4];
            pend_terms(p, e, t);
            for (int j = 0; j < 4; j++)
                o->sum[j] -= t[j];
            k--;
        }
    }
    if (n > SE_N_MAX)
        n = SE_N_MAX;
    o->r = s->n_resid ? p->blend * s->resid : 0.0;
    double vrb = p->blend * p->blend * sp->vr;
    o->shared = vrb + (sp->beta > 0 ? sp->beta : 0.0);
    double sm = own->sd; /* per sample (value, sampling) or per window */
    /* Degrees of freedom of the variance (Satterthwaite): the part that
     * scales with the slot's sigma has its df; beta's estimate is off by
     * ~V sqrt(2 / spans behind it) whatever its size; the Poisson part of a
     * count is known. */
    double lb = beta_lambda(p), nb = sp->n_beta < (2.0 - lb) / lb ? sp->n_beta : (2.0 - lb) / lb;
    double nspans = SE_OBM * nb / p->span;
    double dfm = own->df > 0.5 ? own->df : 0.5;
    if (nspans < 0.5)
        nspans = 0.5;
    double V, sig;
    if (p->kind == SE_KIND_COUNT) {
        /* Pending windows keep exp(S(t)); the recent level and the mean's
         * lognormal factor exp(sd^2 / 2) are today's, applied to the sum. */
        double q = lg ? exp(own->S) : own->S;
        o->cur = q;
        o->sum[0] += q;
        o->sum[1] += value;
        o->sum[2] += q * q;
        o->sum[3] += n;
        k++;
        o->k = k;
        double er = lg ? exp(o->r + 0.5 * sm * sm) : 1.0;
        o->M = lg ? er * o->sum[0] - k * off : o->sum[0] + k * o->r;
        o->C = o->sum[1];
        o->res = o->C - o->M;
        double vr = lg ? sm * sm * er * er * o->sum[2] : k * sm * sm;
        o->own = o->M + (vr > o->M ? vr - o->M : 0.0);
        double mp = o->M + k * off;
        o->mult = lg ? mp * mp - er * er * o->sum[2] : (double)k * k - k;
        if (o->mult < 0)
            o->mult = 0;
        V = o->own + o->mult * o->shared;
        sig = o->own - o->M + o->mult * vrb;
    } else {
        double w = p->sampling ? (n > 1 ? (double)n : 1.0) : 1.0;
        double d = x - own->S;
        o->cur = d;
        o->sum[0] += w;
        o->sum[1] += w * d;
        o->sum[2] += w * x;
        o->sum[3] += n;
        k++;
        o->k = k;
        double W = o->sum[0];
        o->res = o->sum[1] / W - o->r;
        o->Ebar = (o->sum[2] - o->sum[1]) / W + o->r;
        o->own = sm * sm / W;
        o->mult = 1.0 - 1.0 / k;
        V = o->own + o->mult * o->shared;
        sig = o->own + o->mult * vrb;
    }
    double rs = V > 0 ? sig / V : 1.0;
    o->tf = t_factor(1.0 / (rs * rs / dfm + 1.0 / nspans), p->z);
    if (p->kind == SE_KIND_COUNT) {
        o->V = V * o->tf * o->tf;
        if (o->V < o->M)
            o->V = o->M;
        double mp = o->M + k * off;
        o->floor_sd = lg ? log1p(p->min_rel_scale) * mp : p->min_rel_scale * fabs(o->M);
        if (o->V < o->floor_sd * o->floor_sd)
            o->V = o->floor_sd * o->floor_sd;
        return;
    }
    o->sdv = sqrt(V) * o->tf;
    o->floor_sd = lg ? log1p(p->min_rel_scale) : p->min_rel_scale * fabs(o->Ebar);
    if (!(o->sdv >= o->floor_sd))
        o->sdv = o->floor_sd;
    if (!(o->sdv >= 1e-12))
        o->sdv = 1e-12;
}

static const char se_span_test[] = "seasonal z over a span (slot profile + recent level)";

/* eval with span > 1 in seasonal mode: fills the verdict from the span. */
static void span_eval(const struct se_params *p, const struct se_state *s, const struct rw_obs *obs,
                      double x, const struct se_geo *g, const struct se_pred *own,
                      struct rw_verdict *out)
{
    int count = p->kind == SE_KIND_COUNT;
    int lg = p->scale == SE_LOG;
    int dir = dir_of(p);
    struct se_spst st;
    span_core(p, s, obs->ts_end, x, obs->value, obs->n, own, &st);
    out->test = se_span_test;
    out->n = st.sum[3] > 4e9 ? 4000000000u : (uint32_t)st.sum[3];
    double kf = st.k;
    double value, ev, z;
    struct se_nb nb = {0, 0};
    if (count) {
        if (!(st.M > 0) || st.M < p->min_expected) {
            out->expected = st.M > 0 ? st.M / kf : 0;
            RW_WHY(obs, out, "expected %.1f < min_expected %.4g over %u windows",
                   st.M > 0 ? st.M : 0.0, p->min_expected, st.k);
            return;
        }
        if (st.M > SE_COUNT_MAX || st.C > SE_COUNT_MAX || st.C < 0) {
            RW_WHY(obs, out, "count out of range");
            return;
        }
        nb.m = st.M;
        nb.var = st.V;
        z = nb_z(&nb, floor(st.C + 0.5));
        value = st.C / kf;
        ev = st.M / kf;
    } else {
        z = st.res / st.sdv;
        value = to_value(p, st.sum[2] / st.sum[0]);
        ev = to_value(p, st.Ebar);
    }
    int tail = (dir == SE_UP && z > p->z) || (dir == SE_DOWN && z < -p->z) ||
               (dir == SE_BOTH && fabs(z) > p->z);
    double change = fabs(value - ev);
    double min_change = p->min_rel_change * fabs(ev);
    int big = change >= min_change;
    out->kind = tail && big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    out->value = value;
    out->expected = ev;
    out->score = z;
    out->big = (uint8_t)big;
    if (dir == SE_UP)
        out->p = gsl_cdf_ugaussian_Q(z);
    else if (dir == SE_DOWN)
        out->p = gsl_cdf_ugaussian_P(z);
    else
        out->p = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(z)));
    if (!obs->words)
        return;

    /* Band, in the unit of the value (the span's mean per window). */
    double hi, lo;
    if (count) {
        hi = nb_edge(&nb, p->z, 1) / kf;
        lo = nb_edge(&nb, p->z, 0) / kf;
    } else {
        hi = to_value(p, st.Ebar + p->z * st.sdv);
        lo = to_value(p, st.Ebar - p->z * st.sdv);
    }
    if (isfinite(hi) && ev + min_change > hi)
        hi = ev + min_change;
    if (isfinite(lo) && ev - min_change < lo)
        lo = ev - min_change;
    out->high = dir == SE_DOWN ? NAN : hi;
    out->low = dir == SE_UP ? NAN : lo;

    char sn[32];
    slot_name(p, g->slot, sn, sizeof sn);
    const char *unit = p->period == SE_PERIOD_WEEK ? "weeks" : "days";
    double wk = floor(own->w + 0.5);
    words(out->base, sizeof out->base, "%s slot, %.0f %s", sn, wk,
          wk == 1 ? (p->period == SE_PERIOD_WEEK ? "week" : "day") : unit);
    char gate[48] = "";
    if (tail && !big)
        words(gate, sizeof gate, ", change %.3g < min %.3g", change, min_change);
    char lvl[32];
    if (lg)
        words(lvl, sizeof lvl, ", recent level %+.0f%%", 100.0 * expm1(st.r));
    else
        words(lvl, sizeof lvl, ", recent level %+.3g", st.r);
    const char *ws = st.k == 1 ? "window" : "windows";
    if (count)
        words(out->why, sizeof out->why,
              "%.0f in %u %s vs %.1f expected (%+.0f%%), %s slot of %.0f %s, z=%.1f%s%s", st.C,
              st.k, ws, st.M, 100.0 * (st.C / st.M - 1.0), sn, wk, unit, z, gate, lvl);
    else if (lg)
        words(out->why, sizeof out->why,
              "mean %+.0f%% over %u %s vs %s slot of %.0f %s, z=%.1f%s%s",
              100.0 * (value / ev - 1.0), st.k, ws, sn, wk, unit, z, gate, lvl);
    else
        words(out->why, sizeof out->why, "mean %+.3g over %u %s vs %s slot of %.0f %s, z=%.1f%s%s",
              value - ev, st.k, ws, sn, wk, unit, z, gate, lvl);
}

static void se_eval(const void *params, const void *state, const struct rw_obs *obs,
                    struct rw_verdict *out)
{
    const struct se_params *p = params;
    const struct se_state *s = state;
    int count = p->kind == SE_KIND_COUNT;
    int lg = p->scale == SE_LOG;
    double off = offset_of(p);

    rw_verdict_begin(out, RW_SCORE_Z, obs->value, obs->n, se_tests[SE_SHORT]);

    if (isnan(obs->value)) {
        RW_WHY(obs, out, "no value this window");
        return;
    }
    if (!count && obs->n < (uint32_t)p->min_n) {
        RW_WHY(obs, out, "%u samples < min_n %d", obs->n, p->min_n);
        return;
    }
    if (lg && !(obs->value + off > 0)) {
        RW_WHY(obs, out, "value %.4g <= 0 on log scale", obs->value + off);
        return;
    }
    double x = lg ? log(obs->value + off) : obs->value;

    struct se_geo g;
    geo_of(p, s, obs->ts_end, &g);
    struct se_pred own;
    predict(p, s, &g, &own);
    const char *unit = p->period == SE_PERIOD_WEEK ? "weeks" : "days";

    enum se_mode mode;
    double E, sd, df;
    double nbar = 1.0 / g.frac;
    if (own.trusted) {
        mode = SE_SEASONAL;
        E = own.S + (s->n_resid ? p->blend * s->resid : 0.0);
        sd = own.sd;
        df = own.df;
        double bw = own.w * nbar;
        out->base_windows = bw > 4e9 ? 4000000000u : (uint32_t)llround(bw);
    } else {
        if (s->n_level < (uint32_t)p->min_history) {
            RW_WHY(obs, out, "warming up: %u of %d windows", s->n_level, p->min_history);
            return;
        }
        sd = level_sd(p, s, &df);
        E = s->level;
        mode = SE_SHORT;
        double shape = 0;
        if (parent_shape(p, obs->parent, &g, &shape)) {
            E = s->level + shape;
            mode = SE_SHRUNK;
            out->shrunk = 1;
            /* Until its own errors are known, the level's (larger: they
             * include the lag on every ramp) stand in. */
            if (s->n_shrunk >= (uint32_t)p->min_history)
                sd = ewma_sd(p, s->shrunk_mad, s->n_shrunk, &df);
        }
        double lam = lambda_of(p), eff = (2.0 - lam) / lam;
        out->base_windows = s->n_level < eff ? s->n_level : (uint32_t)llround(eff);
    }
    out->test = se_tests[mode];
    if (p->span > 1 && mode == SE_SEASONAL) {
        span_eval(p, s, obs, x, &g, &own, out);
        return;
    }

    /* sigma: estimated scale (per window) x t factor, floored. */
    sd /= sample_norm(p, obs);
    double sd_raw = sd, tf = t_factor(df, p->z);
    sd *= tf;
    double ev = to_value(p, E); /* expected on the value's scale (median-like) */
    double floor_sd = lg ? log1p(p->min_rel_scale) : p->min_rel_scale * fabs(ev);
    if (!(sd >= floor_sd))
        sd = floor_sd;
    if (!(sd >= 1e-12))
        sd = 1e-12;

    int dir = dir_of(p);
    double z;
    struct se_nb nb = {0, 0};
    if (count) {
        /* Mean count: exp(E) is the geometric mean; the mean of a
         * lognormal-ish count is higher by exp(sd^2 / 2). */
        double m = lg ? exp(E + 0.5 * sd_raw * sd_raw) - off : E;
        if (!(m > 0) || m < p->min_expected) {
            out->expected = m > 0 ? m : 0;
            RW_WHY(obs, out, "expected %.1f < min_expected %.4g", m > 0 ? m : 0.0, p->min_expected);
            return;
        }
        if (m > SE_COUNT_MAX || obs->value > SE_COUNT_MAX || obs->value < 0) {
            RW_WHY(obs, out, "count out of range");
            return;
        }
        /* Count variance: the Poisson part m is known; only the excess
         * the errors show over it is an estimate, widened by the t factor
         * (inflating all of it made the test 2-3x too quiet on Poisson
         * traffic). The sigma floor applies to the total. */
        double d = lg ? m + off : 1.0;
        double var_raw = sd_raw * sd_raw * d * d;
        double var = m + (var_raw > m ? tf * tf * (var_raw - m) : 0.0);
        if (var < floor_sd * floor_sd * d * d)
            var = floor_sd * floor_sd * d * d;
        nb.m = m;
        nb.var = var;
        ev = m;
        z = nb_z(&nb, floor(obs->value + 0.5));
    } else {
        z = (x - E) / sd;
    }

    int tail = (dir == SE_UP && z > p->z) || (dir == SE_DOWN && z < -p->z) ||
               (dir == SE_BOTH && fabs(z) > p->z);
    double change = fabs(obs->value - ev);
    double min_change = p->min_rel_change * fabs(ev);
    int big = change >= min_change;
    out->kind = tail && big ? RW_VERDICT_BREACH : RW_VERDICT_OK;
    out->expected = ev;
    out->score = z;
    out->big = (uint8_t)big;
    if (dir == SE_UP)
        out->p = gsl_cdf_ugaussian_Q(z);
    else if (dir == SE_DOWN)
        out->p = gsl_cdf_ugaussian_P(z);
    else
        out->p = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(z)));

    if (!obs->words)
        return;

    /* Band: the nearest values that would breach (z and min_rel_change). */
    double hi, lo;
    if (count) {
        hi = nb_edge(&nb, p->z, 1);
        lo = nb_edge(&nb, p->z, 0);
    } else {
        hi = to_value(p, E + p->z * sd);
        lo = lg ? to_value(p, E - p->z * sd) : E - p->z * sd;
    }
    if (isfinite(hi) && ev + min_change > hi)
        hi = ev + min_change;
    if (isfinite(lo) && ev - min_change < lo)
        lo = ev - min_change;
    out->high = dir == SE_DOWN ? NAN : hi;
    out->low = dir == SE_UP ? NAN : lo;

    char sn[32];
    slot_name(p, g.slot, sn, sizeof sn);
    char gate[48] = "";
    if (tail && !big)
        words(gate, sizeof gate, ", change %.3g < min %.3g", change, min_change);
    if (mode == SE_SEASONAL) {
        double wk = floor(own.w + 0.5);
        words(out->base, sizeof out->base, "%s slot, %.0f %s", sn, wk,
              wk == 1 ? (p->period == SE_PERIOD_WEEK ? "week" : "day") : unit);
        double r = s->n_resid ? p->blend * s->resid : 0.0;
        if (lg)
            words(out->why, sizeof out->why, "z=%.1f vs %s slot of %.0f %s, recent level %+.0f%%%s",
                  z, sn, wk, unit, 100.0 * expm1(r), gate);
        else
            words(out->why, sizeof out->why, "z=%.1f vs %s slot of %.0f %s, recent level %+.3g%s",
                  z, sn, wk, unit, r, gate);
    } else {
        int have = (int)floor(own.w + 0.5);
        if (mode == SE_SHRUNK) {
            words(out->base, sizeof out->base, "parent's %s shape + own level", sn);
            words(out->why, sizeof out->why,
                  "z=%.1f vs own level with parent's %s profile shape "
                  "(own profile %d of %d cycles)%s",
                  z, sn, have, p->min_cycles, gate);
        } else {
            words(out->base, sizeof out->base, "short-term: profile %d of %d %s", have,
                  p->min_cycles, unit);
            words(out->why, sizeof out->why,
                  "z=%.1f, short-term baseline: seasonal profile has %d of %d cycles%s", z, have,
                  p->min_cycles, gate);
        }
    }
}

/* Fold the finished visit into its slot and start the window's visit. */
static void close_visit(const struct se_params *p, struct se_state *s, const struct se_geo *g)
{
    if (s->acc_slot == g->slot && s->acc_cycle == g->cycle)
        return;
    if (s->acc_slot < nslots(p) && (s->acc_n > 0 || s->acc_ne > 0)) {
        uint32_t i = s->acc_slot;
        struct se_slot v = {loc_of(p, s)[i], mad_of(p, s)[i], w_of(p, s)[i] / (double)SE_WQ};
        fold(p, s, g->frac, &v);
        loc_of(p, s)[i] = (float)v.loc;
        mad_of(p, s)[i] = (float)v.mad;
        /* Round up so that a short visit still counts for something. */
        double q = ceil(v.w * SE_WQ - 1e-6);
        if (q > p->memory * SE_WQ)
            q = p->memory * SE_WQ;
        w_of(p, s)[i] = (uint8_t)q;
    }
    s->acc_slot = (uint16_t)g->slot;
    s->acc_cycle = g->cycle;
    s->acc_sum = 0;
    s->acc_abs = 0;
    s->acc_n = 0;
    s->acc_ne = 0;
}

static double clip(double e, double c)
{
    if (!(c > 0))
        return e;
    return e > c ? c : (e < -c ? -c : e);
}

/* kind count, span > 1: a window's z for the learning gate, as a normal
 * with the count's variance (Poisson + excess, at least one count): the
 * log-scale z is far too quick to call a low count an outlier (a counter
 * whose warm-up was all zeros has a zero scale, and then every click was
 * "z = 55" and never learned: the series stayed at 0 expected forever),
 * and the exact test costs 1.5 us. */
static double count_z_approx(const struct se_params *p, double x, double E, double sd)
{
    int lg = p->scale == SE_LOG;
    double off = offset_of(p);
    double m = lg ? exp(E + 0.5 * sd * sd) - off : E;
    if (!(m > 0))
        m = 0;
    double c = lg ? exp(x) - off : x;
    double d = lg ? m + off : 1.0;
    double vr = sd * sd * d * d;
    double var = m + (vr > m ? vr - m : 0.0);
    return (c - m) / sqrt(var > 1 ? var : 1.0);
}

/* Learn one window: ts_end, x on the working scale (valid = 0: a gap, which
 * only closes the visit), n its samples. zs: the window's z if known (NaN:
 * computed here from the baseline); vbreach: the verdict breached, sign
 * (+1/-1, 0 = zs's) its direction. With span 1 this is the window itself
 * as it closes; with span > 1, a window leaving the span. */
static void learn_window(const struct se_params *p, struct se_state *s, int64_t ts_end, int valid,
                         double x, uint32_t n, const void *parent, double zs, int vbreach, int sign)
{
    struct se_geo g;
    geo_of(p, s, ts_end, &g);
    close_visit(p, s, &g);
    if (!valid)
        return;

    int lg = p->scale == SE_LOG;
    double lam = lambda_of(p);
    double lsd_df;
    double lsd = level_sd(p, s, &lsd_df); /* per sample, like all stored scales */
    double sn = sample_norm_n(p, n);
    struct se_pred pr;
    predict(p, s, &g, &pr);
    double shape = 0;
    int shaped = parent_shape(p, parent, &g, &shape);

    /* Is this window an outlier, in either direction? The verdict's z
     * when it has one (a breach always is; so is a big drop under
     * direction up: it must not teach the baseline either); else the z of
     * the same baseline on the working scale (kind count below
     * min_expected, e.g. right after an accepted outage). */
    if (!isfinite(zs)) {
        double E = NAN, sd = NAN;
        if (pr.trusted) {
            E = pr.S + (s->n_resid ? p->blend * s->resid : 0.0);
            sd = pr.sd / sn;
        } else if (s->n_level >= (uint32_t)p->min_history) {
            E = s->level + (shaped ? shape : 0.0);
            sd = lsd / sn;
        }
        double fl = lg ? log1p(p->min_rel_scale) : p->min_rel_scale * fabs(E);
        if (!(sd >= fl))
            sd = fl;
        if (isfinite(E) && sd > 0) {
            zs = (x - E) / sd;
            if (p->kind == SE_KIND_COUNT)
                zs = count_z_approx(p, x, E, sd);
        }
    }
    int breach = vbreach || (isfinite(zs) && fabs(zs) > p->z);
    /* Gate: outlier windows are an incident and teach nothing, until more
     * than `recent` of them have come (a calm window halves the count
     * rather than clearing it, so a shift that breaches 3 windows in 4
     * still adds up). Then the change is permanent: the levels jump to
     * the mean of the run and learn on, unclipped. */
    uint32_t thr = (uint32_t)p->recent;
    /* span > 1: a breaching span marks every window in it, so a run of L
     * breaching verdicts is L + span - 1 outlier windows; the change is
     * permanent after `recent` verdicts, as with span 1 (counting windows,
     * a chance excursion of the span mean became the new level, and the
     * jump of r started an excursion the other way). */
    if (p->span > 1)
        thr += (uint32_t)p->span - 1;
    if (breach) {
        int16_t sg = sign ? (int16_t)sign : (zs < 0 ? -1 : 1);
        if (s->breach_run > 0 && s->run_sign != sg) {
            /* A change the other way (the end of an accepted outage) is
             * a new run, not more of the same. */
            s->breach_run = 0;
            s->run_n = 0;
            s->run_r = s->run_l = 0;
        }
        s->run_sign = sg;
        if (s->breach_run < UINT16_MAX)
            s->breach_run++;
    } else {
        s->breach_run /= 2;
        if (s->breach_run == 0) {
            s->run_sign = 0;
            s->run_n = 0;
            s->run_r = s->run_l = 0;
        }
    }
    int learn = !breach || s->breach_run > thr;
    int forced = breach && learn;
    /* The error scales see every window but those of an incident: a lone
     * outlier (the first of a run) enters winsorized at the threshold.
     * Leaving it out would cut the tail of the errors the scale is
     * measured on and make the scale ~7 % too small at z = 2.5-3; a run
     * of outliers is an incident and stays out. */
    int scale_ok = !breach || s->breach_run == 1;
    double wcap = breach ? (p->z < SE_SCALE_CLIP ? p->z : SE_SCALE_CLIP) : SE_SCALE_CLIP;

    if (breach && !learn) {
        /* Inside an incident: remember where it runs, nothing else. */
        double k = s->run_n + 1.0;
        if (pr.have)
            s->run_r += (float)((x - pr.S - (s->n_resid ? s->resid : 0.0) - s->run_r) / k);
        if (s->n_level)
            s->run_l += (float)((x - s->level - s->run_l) / k);
        if (s->run_n < UINT16_MAX)
            s->run_n++;
    } else if (forced && s->run_n > 0) {
        /* Accepted as the new normal. */
        s->resid += s->run_r;
        if (s->n_resid == 0)
            s->n_resid = 1;
        s->level += s->run_l;
        s->run_n = 0;
        s->run_r = s->run_l = 0;
    }
    if (!learn && !scale_ok)
        return;

    /* Seasonal part: the visit and the recent level. */
    if (pr.have) {
        double r = s->n_resid ? s->resid : 0.0;
        double pred = pr.S + p->blend * r;
        double sig = (pr.sd > 0 ? pr.sd : (s->n_level >= 5 ? lsd : 0.0)) / sn;
        double e = x - pred;
        double cl = forced ? 0.0 : SE_HUBER * sig;
        if (scale_ok && s->acc_ne < UINT16_MAX) {
            double ae = fabs(e) * sn;
            if (pr.sd > 0 && ae > wcap * pr.sd)
                ae = wcap * pr.sd;
            s->acc_abs += ae;
            s->acc_ne++;
        }
        if (learn) {
            /* The slot learns the value net of the recent level (x - r, as
             * Holt-Winters' seasonal term learns x - level), and only from
             * calm windows: a day that runs 10 % high, an accepted step or
             * a long outage move r, not next week's profile. */
            if (!forced && s->acc_n < UINT16_MAX) {
                s->acc_sum += pr.S + clip(e, cl);
                s->acc_n++;
            }
            double k = s->n_resid + 1.0;
            double wr = 1.0 / k > lam ? 1.0 / k : lam;
            s->resid += wr * clip(x - pr.S - r, cl);
            if (p->span > 1) {
                /* r's own sampling variance: sum of a_i^2 sigma_i^2. */
                struct se_span *sp = span_of(p, s);
                sp->vr = (float)((1 - wr) * (1 - wr) * sp->vr + wr * wr * sig * sig);
            }
            if (s->n_resid < UINT32_MAX)
                s->n_resid++;
        }
    } else if (learn && !forced && s->acc_n < UINT16_MAX) {
        /* First cycle: nothing to clip against but the short-term level. */
        double cl = (forced || s->n_level < 5) ? 0.0 : SE_HUBER * lsd / sn;
        s->acc_sum += s->n_level ? s->level + clip(x - s->level, cl) : x;
        s->acc_n++;
    }

    /* Short-term level and its one-step error scale. */
    if (s->n_level == 0) {
        if (learn) {
            s->level = x;
            s->n_level = 1;
        }
        return;
    }
    if (scale_ok && shaped) {
        double ssd_df;
        double ssd = ewma_sd(p, s->shrunk_mad, s->n_shrunk, &ssd_df);
        double ae = fabs(x - s->level - shape) * sn;
        if (s->n_shrunk >= 5 && ae > wcap * ssd)
            ae = wcap * ssd;
        if (s->n_shrunk == 0)
            s->shrunk_mad = (float)ae;
        else
            s->shrunk_mad +=
                (float)((1.0 / s->n_shrunk > lam ? 1.0 / s->n_shrunk : lam) * (ae - s->shrunk_mad));
        if (s->n_shrunk < UINT32_MAX)
            s->n_shrunk++;
    }
    double e = x - s->level;
    int clipping = !forced && s->n_level >= 5 && lsd > 0;
    if (scale_ok) {
        double ae = fabs(e) * sn;
        double cap = (clipping || breach) && lsd > 0 ? wcap * lsd : INFINITY;
        if (ae > cap)
            ae = cap;
        double wm = 1.0 / s->n_level > lam ? 1.0 / s->n_level : lam;
        s->level_mad += (float)(wm * (ae - s->level_mad));
    }
    if (learn) {
        double k = s->n_level + 1.0;
        double wl = 1.0 / k > lam ? 1.0 / k : lam;
        s->level += wl * clip(e, clipping ? SE_HUBER * lsd / sn : 0.0);
        if (s->n_level < UINT32_MAX)
            s->n_level++;
    }
}

/* Recompute the span's sums from the pending windows (float drift). */
static void resum(const struct se_params *p, struct se_span *sp, const struct se_pend *pe)
{
    uint32_t cap = (uint32_t)p->span - 1;
    memset(sp->sum, 0, sizeof sp->sum);
    sp->nsum = 0;
    for (uint32_t i = 0; i < sp->npend; i++) {
        const struct se_pend *e = &pe[(sp->head + i) % cap];
        if (!isfinite(e->d))
            continue;
        double t[4];
        pend_terms(p, e, t);
        for (int j = 0; j < 4; j++)
            sp->sum[j] += t[j];
        sp->nsum++;
    }
}

/* Learn a pending window as it leaves the span (obs: the window now). */
static void learn_pending(const struct se_params *p, struct se_state *s, const struct rw_obs *obs,
                          const struct se_pend *e)
{
    int lg = p->scale == SE_LOG;
    int64_t ts = obs->ts_end - (int64_t)age_of(obs->ts_end, e->ts);
    double x = p->kind == SE_KIND_COUNT ? (lg ? log(e->x + offset_of(p)) : e->x) : e->x;
    int b = (e->nf & SE_PEND_BREACH) != 0;
    learn_window(p, s, ts, 1, x, e->nf & SE_N_MAX, obs->parent, NAN, b,
                 b ? ((e->nf & SE_PEND_NEG) ? -1 : 1) : 0);
}

/* learn with span > 1. The window is judged inside the span it closes, and
 * is learned only when it leaves the span (span - 1 windows later, or when
 * it grows older than that: gaps): a window of a breaching span is learned
 * as an outlier, so an incident cannot teach the profile or the levels
 * before it is seen. beta (the measured part of the shared error
 * variance) learns from the span statistic now, outside incidents. */
static void span_learn(const struct se_params *p, struct se_state *s, const struct rw_obs *obs,
                       const struct rw_verdict *v, int valid, double x)
{
    struct se_span *sp = span_of(p, s);
    struct se_pend *pe = pend_of(p, s);
    uint32_t cap = (uint32_t)p->span - 1;
    int count = p->kind == SE_KIND_COUNT;
    int lg = p->scale == SE_LOG;
    int judged =
        v && v->test == se_span_test && v->kind != RW_VERDICT_INSUFFICIENT && isfinite(v->score);
    int vb = v && v->kind == RW_VERDICT_BREACH;
    uint32_t sgn = v && v->score < 0 ? SE_PEND_NEG : 0;

    struct se_pend cur = {0, 0, NAN, 0};
    struct se_geo g;
    geo_of(p, s, obs->ts_end, &g);
    struct se_pred own;
    predict(p, s, &g, &own);
    if (valid) {
        cur.ts = (uint32_t)(uint64_t)obs->ts_end;
        cur.x = (float)(count ? obs->value : x);
        cur.nf = obs->n > SE_N_MAX ? SE_N_MAX : obs->n;
        if (own.have)
            cur.d = (float)(count ? (lg ? exp(own.S) : own.S) : x - own.S);
        if (vb)
            cur.nf |= SE_PEND_BREACH | sgn;
        if (judged && own.trusted) {
            /* Incidents (runs of windows beyond z longer than the span) and
             * the span after them stay out of beta; a short excursion is the
             * tail of the null and must stay in. */
            int beyond = fabs(v->score) > p->z;
            if (!beyond)
                sp->srun = 0;
            else if (sp->srun < UINT16_MAX)
                sp->srun++;
            if (sp->srun > (uint32_t)p->span)
                sp->calm = 0;
            else if (!beyond && sp->calm < UINT16_MAX)
                sp->calm++;
            if (sp->srun <= (uint32_t)p->span && sp->calm >= (uint32_t)p->span) {
                struct se_spst st;
                span_core(p, s, obs->ts_end, x, obs->value, obs->n, &own, &st);
                if (st.k >= 2 && 2 * st.k >= (unsigned)p->span && st.mult > 0) {
                    /* E[res^2] = own + mult (b^2 v_r + beta), winsorized at 4 sd. */
                    double r2 = st.res * st.res, c2 = 16.0 * (st.own + st.mult * st.shared);
                    double y =
                        ((r2 < c2 ? r2 : c2) - st.own) / st.mult - p->blend * p->blend * sp->vr;
                    double lam = beta_lambda(p), wb = 1.0 / (sp->n_beta + 1.0);
                    sp->beta += (float)((wb > lam ? wb : lam) * (y - sp->beta));
                    if (sp->n_beta < UINT32_MAX)
                        sp->n_beta++;
                }
            }
        }
    }
    /* Every window of a breaching span is part of the incident. */
    if (vb && judged)
        for (uint32_t i = 0; i < sp->npend; i++) {
            struct se_pend *e = &pe[(sp->head + i) % cap];
            e->nf = (e->nf & ~SE_PEND_NEG) | SE_PEND_BREACH | sgn;
        }

    /* Windows that leave the span are learned, oldest first. */
    uint32_t lim = age_limit(s, p->span - 1);
    while (sp->npend > 0) {
        struct se_pend e = pe[sp->head];
        if (age_of(obs->ts_end, e.ts) < lim && !(valid && sp->npend == cap))
            break;
        sp->head = (uint16_t)((sp->head + 1) % cap);
        sp->npend--;
        if (sp->npend == 0 || sp->head == 0) {
            resum(p, sp, pe);
        } else if (isfinite(e.d)) {
            double t[4];
            pend_terms(p, &e, t);
            for (int j = 0; j < 4; j++)
                sp->sum[j] -= t[j];
            sp->nsum--;
        }
        if (!(e.nf & SE_PEND_DONE))
            learn_pending(p, s, obs, &e);
    }
    /* A window not judged on the seasonal profile (warm-up, short-term
     * fallback, parent's shape) is learned at once, as with span 1: a
     * short-term level that lagged the span behind a daily cycle would call
     * every window an outlier and never learn. The windows still pending
     * go first, to keep the order. */
    if (!own.trusted) {
        for (uint32_t i = 0; i < sp->npend; i++) {
            struct se_pend *e = &pe[(sp->head + i) % cap];
            if (!(e->nf & SE_PEND_DONE)) {
                learn_pending(p, s, obs, e);
                e->nf |= SE_PEND_DONE;
            }
        }
        double zs = NAN;
        if (v && v->kind != RW_VERDICT_INSUFFICIENT && isfinite(v->score))
            zs = v->score;
        learn_window(p, s, obs->ts_end, valid, x, obs->n, obs->parent, zs, vb, 0);
        cur.nf |= SE_PEND_DONE;
    }
    if (valid) {
        pe[(sp->head + sp->npend) % cap] = cur;
        sp->npend++;
        if (isfinite(cur.d)) {
            double t[4];
            pend_terms(p, &cur, t);
            for (int j = 0; j < 4; j++)
                sp->sum[j] += t[j];
            sp->nsum++;
        }
    }
}

static void se_learn(const void *params, void *state, const struct rw_obs *obs,
                     const struct rw_verdict *v)
{
    const struct se_params *p = params;
    struct se_state *s = state;

    /* Window length: the smallest step between windows seen. */
    if (s->last_ts != 0 && obs->ts_end > s->last_ts) {
        int64_t d = obs->ts_end - s->last_ts;
        if (d < INT32_MAX && (s->win_ms == 0 || d < s->win_ms))
            s->win_ms = (int32_t)d;
    }
    if (obs->ts_end > s->last_ts || s->last_ts == 0)
        s->last_ts = obs->ts_end;

    int lg = p->scale == SE_LOG;
    double off = offset_of(p);
    int valid = isfinite(obs->value) &&
                !(p->kind == SE_KIND_VALUE && obs->n < (uint32_t)p->min_n) &&
                !(lg && !(obs->value + off > 0));
    double x = valid ? (lg ? log(obs->value + off) : obs->value) : NAN;
    if (p->span > 1) {
        span_learn(p, s, obs, v, valid, x);
        return;
    }
    double zs = NAN;
    if (v && v->kind != RW_VERDICT_INSUFFICIENT && isfinite(v->score))
        zs = v->score;
    learn_window(p, s, obs->ts_end, valid, x, obs->n, obs->parent, zs,
                 v && v->kind == RW_VERDICT_BREACH, 0);
}

const struct rw_detector rw_detector_seasonal = {
    .name = "seasonal",
    .help = "deviation from the same slot of the day/week, adjusted to the recent level",
    .options = se_options,
    .params_size = sizeof(struct se_params),
    .validate = se_validate,
    .state_size = se_state_size,
    .init = se_init,
    .eval = se_eval,
    .learn = se_learn,
    .flags = RW_DET_PVALUE | RW_DET_LEARN_EMPTY,
};
