/* Per-window quantile accumulator for one vital of one series.
 *
 * Exact for small counts: the first RW_QEXACT values are kept as floats and
 * quantiles are computed from them exactly (sorted copy, linear interpolation
 * between order statistics: GSL's gsl_stats_float_quantile_from_sorted_data,
 * "type 7"). Beyond RW_QEXACT values the accumulator moves to a DDSketch-style
 * log-bucket histogram with relative accuracy RW_QSKETCH_ALPHA: any returned
 * quantile is within +-1% (relative) of the sample value at that rank.
 * Sketches come from a pool (free list), so steady-state ingest does not
 * allocate: an accumulator takes one when it overflows and returns it on reset.
 *
 * Values must be finite and >= 0 (the decoder rejects others). Values below
 * RW_QSKETCH_MIN count in a zero bucket (reported as 0).
 */
#ifndef RW_QSKETCH_H
#define RW_QSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define RW_QEXACT 16
#define RW_QSKETCH_ALPHA 0.01
#define RW_QSKETCH_MIN 1e-4 /* smallest value with its own bucket */
#define RW_QSKETCH_MAX 4e6  /* largest bucketed value (> 1 hour in ms); larger clamp */

struct rw_qsketch; /* opaque; from a pool */
struct rw_qpool;   /* free list of sketches; owns every sketch it handed out */

struct rw_qacc {
    uint32_t n;               /* values added since reset */
    float exact[RW_QEXACT];   /* valid while sk == NULL */
    struct rw_qsketch *sk;    /* non-NULL once n > RW_QEXACT */
};

struct rw_qpool *rw_qpool_new(void);
/* Frees every sketch, including those still held by accumulators (callers
 * must not use their accumulators afterwards). Sets *pp NULL; safe on NULL. */
void rw_qpool_destroy(struct rw_qpool **pp);
size_t rw_qpool_bytes(const struct rw_qpool *p); /* memory held, for bench/metrics */

void rw_qacc_init(struct rw_qacc *a);
/* Return any sketch to the pool and empty the accumulator. */
void rw_qacc_reset(struct rw_qacc *a, struct rw_qpool *pool);
/* Add one value. 0, or -ENOMEM when a sketch was needed and none could be
 * allocated (the value is then dropped and the caller counts it). */
int rw_qacc_add(struct rw_qacc *a, struct rw_qpool *pool, double v);
/* Add every value of src to dst (src unchanged). Exact values are re-added;
 * sketches add bucket by bucket (same accuracy). 0, -ENOMEM or -ERANGE. */
int rw_qacc_merge(struct rw_qacc *dst, const struct rw_qacc *src, struct rw_qpool *pool);
/* Quantile q in [0,1]; NaN when n == 0. Does not modify the accumulator. */
double rw_qacc_quantile(const struct rw_qacc *a, double q);
/* Fraction of values <= x (for rating shares later); NaN when n == 0. */
double rw_qacc_cdf(const struct rw_qacc *a, double x);

#endif
