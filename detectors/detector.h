/* The detector interface.
 *
 * A detector is a pure function of (params, per-series state, current window)
 * -> verdict, plus a learn step that folds the window into the per-series
 * baseline. No I/O, no globals, no allocation: the engine allocates `state`
 * (state_size(params) bytes) once when a series is born and calls init().
 *
 * Per window the engine calls, for every rule and series:
 *     eval(params, state, obs, &verdict);   baseline is read-only here
 *     learn(params, state, obs, &verdict);  detector decides what to keep
 * Values reaching a detector are finite or NaN (NaN = the statistic is not
 * available this window, e.g. no vitals measured); the engine never passes inf.
 * A vital rule's window without measurements (n == 0) is insufficient for
 * every detector: the engine does not call eval for it, and calls learn for
 * it only if the detector sets RW_DET_LEARN_EMPTY.
 */
#ifndef RW_DETECTOR_H
#define RW_DETECTOR_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "config/options.h"

/* What one window of one series looks like to a detector. */
struct rw_obs {
    int64_t ts_end;  /* window end, epoch ms */
    double value;    /* the rule's statistic this window (p75 LCP, error rate, views...);
                        NaN when not available */
    uint32_t n;      /* samples behind value (vital measurements, or views) */
    uint32_t views;  /* page views in the window */
    uint32_t errors; /* error events in the window */
    uint32_t error_sessions; /* errors counted once per session (session_id, else
                                view_id) per window: one user's burst of errors
                                counts once. Equals errors when ids are absent. */
    uint32_t rating[3]; /* vital rules of detectors with RW_DET_RATINGS: views whose
                           vital was good / needs improvement / poor this window
                           (web-vitals lines, rw_vital_good/poor); zeros otherwise */
    const void *parent; /* the same rule's detector state on this series' parent
                           series (page for page x device), or NULL (no parent
                           scope, parent folded away, or the rule has shrink off).
                           Read-only: sparse series may borrow strength from it. */
    int words;       /* nonzero: this verdict will be reported (an alert changes
                        state), so fill why and the band (low/high). Zero: kind,
                        value, expected and score suffice; skip the formatting
                        and band searches, which cost more than the test. eval
                        is pure, so the engine simply runs it again with words. */
};

/* Write the verdict's words only when they will be reported. */
#define RW_WHY(obs, out, ...)                                        \
    do {                                                             \
        if ((obs)->words)                                            \
            snprintf((out)->why, sizeof (out)->why, __VA_ARGS__);    \
    } while (0)

enum rw_verdict_kind {
    RW_VERDICT_OK = 0,           /* evaluated, within expectations */
    RW_VERDICT_BREACH,           /* evaluated, anomalous */
    RW_VERDICT_INSUFFICIENT,     /* not evaluated: too few samples or too little history */
};

enum rw_score_kind {
    RW_SCORE_NONE = 0, /* threshold: score is value/bound */
    RW_SCORE_Z,        /* robust z */
    RW_SCORE_P,        /* p-value of an exact test (smaller = stronger) */
};

struct rw_verdict {
    enum rw_verdict_kind kind;
    enum rw_score_kind score_kind;
    double value;     /* observed statistic */
    double expected;  /* baseline expectation (NaN if none) */
    double low, high; /* band of normal values (NaN if one-sided/unknown) */
    double score;     /* z, p-value, or ratio to bound */
    uint32_t n;       /* samples behind the value */
    double p;         /* p-value of the test in the breaching direction; NaN when the
                         detector has none. Detectors with RW_DET_PVALUE set it on
                         every evaluated window: the engine's Benjamini-Hochberg
                         step across a rule's series uses it. */
    uint8_t big;      /* the change passes the detector's effect-size gates
                         (min_rel_change, min_ratio, ...): with p, what BH needs */
    uint8_t shrunk;   /* the baseline borrowed strength from obs->parent */
    uint32_t base_windows; /* windows behind the baseline (0: none) */
    const char *test; /* static name of the test: "robust z (median/MAD)" */
    const char *what; /* static name of value/expected/band when they are not the rule's
                         statistic (rating_shift: "poor share" or "NI+poor share", the
                         tail that decided), else NULL */
    char base[48];    /* which baseline, in words (words only): "last 60 windows",
                         "Tue 14:00 slot, 5 weeks" */
    char why[96];     /* short words for the summary: "z=5.3 vs median of 58 windows" */
};

/* Start a verdict: insufficient, nothing known yet (NaN numbers, no words).
 * Every eval begins with it, then fills in what it finds. */
static inline void rw_verdict_begin(struct rw_verdict *out, enum rw_score_kind score_kind,
                                    double value, uint32_t n, const char *test)
{
    out->kind = RW_VERDICT_INSUFFICIENT;
    out->score_kind = score_kind;
    out->value = value;
    out->expected = out->low = out->high = out->score = out->p = NAN;
    out->n = n;
    out->big = 0;
    out->shrunk = 0;
    out->base_windows = 0;
    out->test = test;
    out->what = NULL;
    out->base[0] = '\0';
    out->why[0] = '\0';
}

/* Detector capabilities (struct rw_detector.flags). */
#define RW_DET_PVALUE 1u  /* verdict.p is a p-value: the rule's q applies (BH) */
#define RW_DET_RATINGS 2u /* wants obs.rating[] filled (vital rules) */
#define RW_DET_LEARN_EMPTY 4u /* learn must also see vital windows without any
                                 measurement (value NaN, n 0); without the flag
                                 the engine may skip learn for them */

struct rw_detector {
    const char *name; /* "threshold", "robust_z", ... as written in config */
    const char *help; /* one line */
    const struct rw_option *options; /* params table, NULL-terminated */
    size_t params_size;              /* bytes of the params struct options write into */

    /* Check cross-option constraints after loading. 0 or -EINVAL with err. */
    int (*validate)(const void *params, char *err, size_t errlen);
    /* Bytes of per-series state for these params (fixed for the series' life). */
    size_t (*state_size)(const void *params);
    void (*init)(const void *params, void *state);
    void (*eval)(const void *params, const void *state, const struct rw_obs *obs,
                 struct rw_verdict *out);
    void (*learn)(const void *params, void *state, const struct rw_obs *obs,
                  const struct rw_verdict *v);
    /* Optional: the series' alert on this rule resolved (cusum restarts its
     * sums). NULL when the detector keeps nothing tied to an alert. */
    void (*reset)(const void *params, void *state);
    unsigned flags; /* RW_DET_* */
};

/* Shared by the count detectors: should a window join the baseline?
 * Breach windows are kept out (an incident must not become its own
 * baseline) until more than history/2 of them come in a row: then the
 * change is permanent and is learned as the new normal. */
static inline int rw_learn_gate(uint32_t *breach_run, int breach, uint32_t history)
{
    if (!breach) {
        *breach_run = 0;
        return 1;
    }
    if (*breach_run < UINT32_MAX)
        (*breach_run)++;
    return *breach_run > history / 2;
}

extern const struct rw_detector rw_detector_threshold;
extern const struct rw_detector rw_detector_robust_z;
extern const struct rw_detector rw_detector_error_rate;
extern const struct rw_detector rw_detector_traffic_drop;
extern const struct rw_detector rw_detector_seasonal;
extern const struct rw_detector rw_detector_cusum;
extern const struct rw_detector rw_detector_rating_shift;

/* Lookup by config name; NULL if unknown. */
const struct rw_detector *rw_detector_find(const char *name);
/* NULL-terminated list of all detectors (for `rumwatch check` and docs). */
extern const struct rw_detector *const rw_detectors[];

#endif
