/* Helpers shared by the detector unit tests. The including file defines
 *     static const struct rw_detector *D = &rw_detector_<name>;
 * before including this header (after check.h). */
#ifndef RW_DETECTOR_UTIL_H
#define RW_DETECTOR_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detectors/detector.h"

/* Set a numeric option; the test fails if the option or value is refused. */
static inline void set(void *params, const char *key, double v)
{
    char err[128];
    const struct rw_option *o = rw_options_find(D->options, key);
    CHECK(o != NULL);
    if (o) {
        int rc = rw_options_set_number(o, params, v, err, sizeof err);
        CHECK_INT(rc, 0);
    }
}

/* Set a string/enum option. */
static inline void sets(void *params, const char *key, const char *v)
{
    char err[128];
    const struct rw_option *o = rw_options_find(D->options, key);
    CHECK(o != NULL);
    if (o) {
        int rc = rw_options_set_string(o, params, v, err, sizeof err);
        CHECK_INT(rc, 0);
    }
}

static inline int valid(const void *params)
{
    char err[128];
    return D->validate(params, err, sizeof err);
}

/* A freshly initialised per-series state (caller frees). */
static inline void *new_state(const void *params)
{
    void *s = malloc(D->state_size(params));
    if (!s)
        abort();
    D->init(params, s);
    return s;
}

/* One window: eval with words, check that eval without words decides the
 * same (the engine relies on it), then learn. */
static inline struct rw_verdict step(const void *params, void *state, struct rw_obs o)
{
    struct rw_verdict out, quiet;
    memset(&out, 0xA5, sizeof out);
    o.words = 1;
    D->eval(params, state, &o, &out);
    o.words = 0;
    D->eval(params, state, &o, &quiet);
    CHECK_INT(quiet.kind, out.kind);
    CHECK(quiet.score == out.score || (isnan(quiet.score) && isnan(out.score)));
    o.words = 1;
    D->learn(params, state, &o, &out);
    return out;
}

#endif
