/* Per-window quantile accumulator for one vital of one series.
 *
 * Exact for small counts: the first RW_QEXACT values are kept as 16-bit codes
 * (rw_qcode() below: each value rounded up by less than 0.049 %, 2 bytes
 * instead of a 4-byte float) and quantiles are computed from them exactly
 * (sorted copy, linear interpolation between order statistics of the stored
 * values: GSL's gsl_stats_quantile_from_sorted_data, "type 7"). Beyond
 * RW_QEXACT values the accumulator moves to a DDSketch-style log-bucket
 * histogram with relative accuracy RW_QSKETCH_ALPHA: any returned quantile is
 * within +-1% (relative) of the sample value at that rank (the exact values
 * keep a bit each so that they land in the bucket of the value itself, not
 * of its code).
 * Sketches come from a pool (free list), so steady-state ingest does not
 * allocate: an accumulator takes one when it overflows and returns it on reset.
 *
 * Values must be finite and >= 0 (the decoder rejects others). Values below
 * RW_QSKETCH_MIN count in a zero bucket (reported as 0).
 */
#ifndef RW_QSKETCH_H
#define RW_QSKETCH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RW_QEXACT 16 /* <= 16: one bit each in rw_qacc.below */
#define RW_QSKETCH_ALPHA 0.01
#define RW_QSKETCH_MIN 1e-4 /* smallest value with its own bucket */
#define RW_QSKETCH_MAX 4e6  /* largest bucketed value (> 1 hour in ms); larger clamp */

struct rw_qsketch; /* opaque; from a pool */
struct rw_qpool;   /* free list of sketches; owns every sketch it handed out */

/* 48 bytes (n, 16 codes, the below bits, padding, sk) */
struct rw_qacc {
    uint32_t n;               /* values added since reset */
    uint16_t code[RW_QEXACT]; /* rw_qcode() of the values; valid while sk == NULL */
    uint16_t below;           /* bit i: value i lies one sketch bucket below its
                                 code's value (see qsketch.c, below_bit) */
    struct rw_qsketch *sk;    /* non-NULL once n > RW_QEXACT */
};

/* The code of an exact value: a 16-bit unsigned float with an 11-bit
 * mantissa, rounded UP to the next representable value ("ceil"), so that
 * code(v) is the smallest code c with rw_qdecode(c) >= v and
 *   code(v) <= code(x)  <=>  v <= rw_qdecode(code(x)).
 * Codes 2048..65535 are 2^e (1 + m/2048) for e = -9..21 (relative step
 * 2^-11: the stored value is v x [1, 1 + 2^-11), i.e. at most 0.049 % high);
 * codes 0..2048 are multiples of 2^-20 (absolute step 9.5e-7 below 2^-9 =
 * 0.00195; 0 is exactly 0). Monotone, exact for every value on the grid:
 * integers up to 4096, and every web-vitals line except CLS 0.1 (2500, 4000,
 * 200, 500, 1800, 3000, 800, 0.25; 0.1 is stored as 0.1000061), so the
 * rating counts (rw_qacc_cdf at a line) classify a value equal to a line or
 * next to it as before. Values above RW_QCODE_TOP (> RW_QSKETCH_MAX, which
 * rw_qacc_add clamps to; the clamp value's code is read back as
 * RW_QSKETCH_MAX) get the top code; NaN and v <= 0 get code 0. */
#define RW_QCODE_TOP 4193280.0 /* rw_qdecode(65535) = 2^22 - 2^10 */

static inline uint16_t rw_qcode(double v)
{
    if (!(v > 0))
        return 0;
    if (v < 0x1p-9)
        return (uint16_t)ceil(v * 0x1p20); /* 1 .. 2048, exact scaling */
    if (v >= RW_QCODE_TOP)
        return 65535;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    /* biased exponent and the top 11 mantissa bits, rounded up (a carry
     * into the exponent is right: the bit patterns of doubles are ordered) */
    b = (b + ((UINT64_C(1) << 41) - 1)) >> 41;
    return (uint16_t)(b - (UINT64_C(1013) << 11)); /* 2^-9 (exponent 1014) -> 2048 */
}

static inline double rw_qdecode(uint16_t c)
{
    if (c < 2048)
        return c * 0x1p-20;
    uint64_t b = ((uint64_t)c + (UINT64_C(1013) << 11)) << 41;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

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
/* Fraction of values <= x (rating shares); NaN when n == 0. Exact values
 * compare by code: exact when x is on the code grid (every web-vitals line
 * but CLS 0.1), else values in (x, rw_qdecode(rw_qcode(x))] count as <= x. */
double rw_qacc_cdf(const struct rw_qacc *a, double x);

/* Snapshots (engine/snapshot.h): a sketch's contents out and back in.
 * count points at the used buckets' counts, lo..hi (native uint32, possibly
 * unaligned when loading); lo > hi when only zeros were counted. */
struct rw_qsketch_state {
    double vmin, vmax;
    uint32_t zero;
    int lo, hi;
    const void *count; /* (hi - lo + 1) uint32 */
};
/* Buckets per sketch: sketches move only between pools that agree on it. */
int rw_qpool_nbuckets(const struct rw_qpool *p);
/* The sketch of a (a->sk != NULL: n > RW_QEXACT), borrowed while a is unchanged. */
void rw_qacc_sketch_get(const struct rw_qacc *a, struct rw_qsketch_state *out);
/* Check st against n and the pool's buckets (dry run: pool NULL) and, with
 * a pool, give the empty accumulator a (after init or reset) a sketch
 * holding it. 0, -EINVAL (inconsistent) or -ENOMEM. */
int rw_qacc_sketch_set(struct rw_qacc *a, const struct rw_qpool *check, struct rw_qpool *pool,
                       uint32_t n, const struct rw_qsketch_state *st);

#endif
