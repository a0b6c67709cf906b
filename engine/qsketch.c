/* Quantile accumulator: exact for <= RW_QEXACT values (16-bit codes), DDSketch-style
 * log-bucket histogram beyond (see qsketch.h and docs/quantiles.md).
 *
 * Ownership: the pool owns every sketch it ever allocated (the "all" list)
 * and the shared lookup tables; an accumulator borrows one sketch from the
 * pool's free list between overflow and reset.
 *
 * Buckets. gamma = (1 + a) / (1 - a) with a = RW_QSKETCH_ALPHA. Bucket i holds
 * (gamma^(i-1), gamma^i]; its representative 2 gamma^i / (gamma + 1) is within
 * a relative a of every value in it. Indices imin..imax cover
 * [RW_QSKETCH_MIN, RW_QSKETCH_MAX] densely (1222 buckets at the defaults);
 * smaller values go to a zero bucket, larger ones are clamped to MAX.
 *
 * Why no log() per add: the bucket of v is found from the bits of the double.
 * The binary exponent and the top 7 mantissa bits select a sub-interval of
 * [2^e, 2^(e+1)) whose width (a factor of at most 1 + 1/128) is smaller than
 * one bucket (a factor of gamma ~ 1.0202), so it meets at most one bucket
 * boundary. A table gives the bucket of the sub-interval's lower end; one
 * comparison with that bucket's upper bound finishes the job. Boundaries come
 * from the same upper[] array either way, so the mapping is exactly
 * "smallest i with v <= upper[i]".
 */
#include "engine/qsketch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LUT_BITS 7

struct rw_qsketch {
    struct rw_qsketch *next_free;
    struct rw_qsketch *next_all;
    struct rw_qpool *pool; /* owner; reset returns the sketch here */
    double vmin, vmax;     /* smallest / largest value added (after clamping) */
    uint32_t zero;         /* values < RW_QSKETCH_MIN */
    int lo, hi;            /* used bucket offsets; lo > hi while none */
    uint32_t count[];      /* pool->nb buckets, offset k is index imin + k */
};

struct rw_qpool {
    struct rw_qsketch *free;
    struct rw_qsketch *all;
    size_t nall;
    size_t sketch_bytes;
    int imin, nb;       /* bucket indices imin .. imin + nb - 1 */
    int emin, nexp;     /* binary exponents covered by lut */
    double rep_factor;  /* 2 / (gamma + 1) */
    double *upper;      /* upper[k] = gamma^(imin + k) */
    uint16_t *lut;      /* ((e - emin) << LUT_BITS | top mantissa bits) -> k */
};

static int build_tables(struct rw_qpool *p)
{
    const double gamma = (1.0 + RW_QSKETCH_ALPHA) / (1.0 - RW_QSKETCH_ALPHA);
    const double lng = log(gamma);

    /* imin: smallest i with gamma^i >= MIN; imax: smallest i with gamma^i >= MAX. */
    int imin = (int)ceil(log(RW_QSKETCH_MIN) / lng);
    while (exp(imin * lng) < RW_QSKETCH_MIN)
        imin++;
    while (exp((imin - 1) * lng) >= RW_QSKETCH_MIN)
        imin--;
    int imax = (int)ceil(log(RW_QSKETCH_MAX) / lng);
    while (exp(imax * lng) < RW_QSKETCH_MAX)
        imax++;
    while (exp((imax - 1) * lng) >= RW_QSKETCH_MAX)
        imax--;

    p->imin = imin;
    p->nb = imax - imin + 1;
    p->rep_factor = 2.0 / (gamma + 1.0);
    p->emin = ilogb(RW_QSKETCH_MIN);
    p->nexp = ilogb(RW_QSKETCH_MAX) - p->emin + 1;
    p->upper = malloc((size_t)p->nb * sizeof(*p->upper));
    p->lut = malloc(((size_t)p->nexp << LUT_BITS) * sizeof(*p->lut));
    if (!p->upper || !p->lut || p->nb > 65535)
        return -ENOMEM;
    for (int k = 0; k < p->nb; k++)
        p->upper[k] = exp((imin + k) * lng);

    /* Lower ends of the sub-intervals increase monotonically, so one walk
     * over the buckets fills the table. */
    int k = 0;
    for (int e = 0; e < p->nexp; e++)
        for (int j = 0; j < (1 << LUT_BITS); j++) {
            double lower = ldexp(1.0 + (double)j / (1 << LUT_BITS), p->emin + e);
            while (k < p->nb - 1 && p->upper[k] < lower)
                k++;
            p->lut[(e << LUT_BITS) | j] = (uint16_t)k;
        }
    p->sketch_bytes = sizeof(struct rw_qsketch) + (size_t)p->nb * sizeof(uint32_t);
    return 0;
}

struct rw_qpool *rw_qpool_new(void)
{
    struct rw_qpool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (build_tables(p) != 0) {
        rw_qpool_destroy(&p);
        return NULL;
    }
    return p;
}

void rw_qpool_destroy(struct rw_qpool **pp)
{
    if (!pp || !*pp)
        return;
    struct rw_qpool *p = *pp;
    struct rw_qsketch *s = p->all;
    while (s) {
        struct rw_qsketch *next = s->next_all;
        free(s);
        s = next;
    }
    free(p->upper);
    free(p->lut);
    free(p);
    *pp = NULL;
}

size_t rw_qpool_bytes(const struct rw_qpool *p)
{
    if (!p)
        return 0;
    return sizeof(*p) + (size_t)p->nb * sizeof(*p->upper) +
           ((size_t)p->nexp << LUT_BITS) * sizeof(*p->lut) + p->nall * p->sketch_bytes;
}

static struct rw_qsketch *pool_take(struct rw_qpool *p)
{
    struct rw_qsketch *s = p->free;
    if (s) {
        p->free = s->next_free;
    } else {
        s = calloc(1, p->sketch_bytes);
        if (!s)
            return NULL;
        s->pool = p;
        s->next_all = p->all;
        p->all = s;
        p->nall++;
    }
    s->next_free = NULL;
    s->zero = 0;
    s->lo = p->nb;
    s->hi = -1;
    s->vmin = INFINITY;
    s->vmax = 0;
    return s;
}

/* Counts are cleared here, over the used range only, so a taken sketch is
 * always clean. */
static void pool_give(struct rw_qsketch *s)
{
    struct rw_qpool *p = s->pool;
    if (s->lo <= s->hi)
        memset(&s->count[s->lo], 0, (size_t)(s->hi - s->lo + 1) * sizeof(uint32_t));
    s->lo = p->nb;
    s->hi = -1;
    s->zero = 0;
    s->next_free = p->free;
    p->free = s;
}

/* Bucket offset of v, RW_QSKETCH_MIN <= v <= RW_QSKETCH_MAX. */
static inline int bucket_of(const struct rw_qpool *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int e = (int)((bits >> 52) & 0x7ff) - 1023 - p->emin;
    unsigned j = (unsigned)(bits >> (52 - LUT_BITS)) & ((1u << LUT_BITS) - 1);
    int k = p->lut[((unsigned)e << LUT_BITS) | j];
    return k + (v > p->upper[k]);
}

/* Bucket offset of v (0 <= v <= RW_QSKETCH_MAX), -1 for the zero bucket. */
static inline int bucket_or_zero(const struct rw_qpool *p, double v)
{
    return v < RW_QSKETCH_MIN ? -1 : bucket_of(p, v);
}

/* Count v in bucket k (-1: the zero bucket). */
static inline void sketch_count(struct rw_qsketch *s, double v, int k)
{
    if (v < s->vmin)
        s->vmin = v;
    if (v > s->vmax)
        s->vmax = v;
    if (k < 0) {
        s->zero++;
        return;
    }
    s->count[k]++;
    if (k < s->lo)
        s->lo = k;
    if (k > s->hi)
        s->hi = k;
}

static inline void sketch_insert(struct rw_qsketch *s, double v)
{
    sketch_count(s, v, bucket_or_zero(s->pool, v));
}

void rw_qacc_init(struct rw_qacc *a)
{
    memset(a, 0, sizeof(*a));
}

void rw_qacc_reset(struct rw_qacc *a, struct rw_qpool *pool)
{
    (void)pool; /* the sketch knows its owner; the argument is kept for symmetry */
    if (a->sk)
        pool_give(a->sk);
    a->sk = NULL;
    a->n = 0;
    a->below = 0;
}

/* An exact value as stored: its code's value, at most RW_QSKETCH_MAX (the
 * clamp of rw_qacc_add; RW_QSKETCH_MAX itself is off the code grid). */
static inline double stored(uint16_t c)
{
    double v = rw_qdecode(c);
    return v > RW_QSKETCH_MAX ? RW_QSKETCH_MAX : v;
}

/* Rounding up to the code grid moves a value across a bucket boundary when
 * one lies between the value and its code's value (a cell is at most 0.049 %
 * of the value above 2^-9 and 9.5e-7 <= 0.95 % of it above RW_QSKETCH_MIN, a
 * bucket 2 %: at most one boundary). Such values get a bit in a->below, so
 * the sketch counts them in the bucket of the original value: the switch to
 * a sketch and merges give the same counts as the values themselves, and the
 * rounding never moves a sketch quantile by a whole bucket. Needs the pool's
 * bucket bounds: without a pool the bit stays 0. */
static inline unsigned below_bit(const struct rw_qpool *p, double v, uint16_t c)
{
    if (!p)
        return 0;
    double s = stored(c); /* >= v */
    if (s == v)
        return 0;
    if (v < RW_QSKETCH_MIN)
        return s >= RW_QSKETCH_MIN;
    return s > p->upper[bucket_of(p, v)]; /* beyond v's bucket (never the last) */
}

/* An exact value into a sketch: its stored value, in its original bucket. */
static inline void sketch_insert_code(struct rw_qsketch *s, uint16_t c, unsigned below)
{
    double v = stored(c);
    int k = bucket_or_zero(s->pool, v) - (int)below;
    sketch_count(s, k < 0 ? 0.0 : v, k); /* below MIN: a zero, as it was */
}

/* Move the exact values into a sketch from the pool. */
static int to_sketch(struct rw_qacc *a, struct rw_qpool *pool)
{
    if (!pool)
        return -ENOMEM;
    struct rw_qsketch *s = pool_take(pool);
    if (!s)
        return -ENOMEM;
    for (uint32_t i = 0; i < a->n; i++)
        sketch_insert_code(s, a->code[i], a->below >> i & 1u);
    a->sk = s;
    return 0;
}

/* Bits n and above of a->below are 0 (init and reset clear them). */
static inline void put_code(struct rw_qacc *a, uint16_t c, unsigned below)
{
    a->code[a->n] = c;
    a->below |= (uint16_t)(below << a->n);
    a->n++;
}

int rw_qacc_add(struct rw_qacc *a, struct rw_qpool *pool, double v)
{
    if (!(v >= 0.0)) {
        if (v != v)
            return -EINVAL; /* NaN: dropped (the decoder should have refused it) */
        v = 0.0;            /* negative: treated as 0 */
    }
    if (v > RW_QSKETCH_MAX)
        v = RW_QSKETCH_MAX; /* also +inf */

    if (a->n < RW_QEXACT) {
        uint16_t c = rw_qcode(v);
        put_code(a, c, below_bit(pool, v, c));
        return 0;
    }
    if (a->n == UINT32_MAX)
        return -ERANGE;
    if (!a->sk) {
        int rc = to_sketch(a, pool);
        if (rc)
            return rc;
    }
    sketch_insert(a->sk, v);
    a->n++;
    return 0;
}

int rw_qacc_merge(struct rw_qacc *dst, const struct rw_qacc *src, struct rw_qpool *pool)
{
    if (!src->sk) {
        /* Codes are copied as they are (no second rounding). */
        for (uint32_t i = 0; i < src->n; i++) {
            unsigned below = src->below >> i & 1u;
            if (dst->n < RW_QEXACT) {
                put_code(dst, src->code[i], below);
                continue;
            }
            if (dst->n == UINT32_MAX)
                return -ERANGE;
            if (!dst->sk) {
                int rc = to_sketch(dst, pool);
                if (rc)
                    return rc;
            }
            sketch_insert_code(dst->sk, src->code[i], below);
            dst->n++;
        }
        return 0;
    }
    if (dst->n > UINT32_MAX - src->n)
        return -ERANGE;
    if (!dst->sk) {
        int rc = to_sketch(dst, pool);
        if (rc)
            return rc;
    }
    struct rw_qsketch *d = dst->sk;
    const struct rw_qsketch *q = src->sk;
    for (int k = q->lo; k <= q->hi; k++)
        d->count[k] += q->count[k];
    if (q->lo <= q->hi) {
        if (q->lo < d->lo)
            d->lo = q->lo;
        if (q->hi > d->hi)
            d->hi = q->hi;
    }
    d->zero += q->zero;
    if (q->vmin < d->vmin)
        d->vmin = q->vmin;
    if (q->vmax > d->vmax)
        d->vmax = q->vmax;
    dst->n += src->n;
    return 0;
}

static void sort_codes(uint16_t *x, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint16_t v = x[i];
        uint32_t j = i;
        while (j > 0 && x[j - 1] > v) {
            x[j] = x[j - 1];
            j--;
        }
        x[j] = v;
    }
}

/* Hyndman-Fan type 7 on sorted codes, the same arithmetic as GSL's
 * gsl_stats_quantile_from_sorted_data on the stored values (codes are
 * monotone, so sorting codes sorts the values). */
static double type7(const uint16_t *x, uint32_t n, double q)
{
    double idx = q * (double)(n - 1);
    uint32_t lhs = (uint32_t)idx;
    double delta = idx - lhs;
    if (lhs >= n - 1)
        return stored(x[n - 1]);
    return (1 - delta) * stored(x[lhs]) + delta * stored(x[lhs + 1]);
}

double rw_qacc_quantile(const struct rw_qacc *a, double q)
{
    if (a->n == 0 || q != q)
        return NAN;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;

    if (!a->sk) {
        uint16_t x[RW_QEXACT];
        memcpy(x, a->code, a->n * sizeof *x);
        sort_codes(x, a->n);
        return type7(x, a->n, q);
    }

    /* Nearest rank: the order statistic x_(k), 0-based, with
     * k = floor(q (n - 1) + 1/2); its bucket's representative, kept inside the
     * observed [min, max]; the extremes themselves are exact. */
    const struct rw_qsketch *s = a->sk;
    const struct rw_qpool *p = s->pool;
    uint32_t n = a->n;
    double r = floor(q * (double)(n - 1) + 0.5);
    uint32_t k = r >= (double)(n - 1) ? n - 1 : (uint32_t)r;
    if (k == 0)
        return s->vmin < RW_QSKETCH_MIN ? 0.0 : s->vmin;
    if (k == n - 1)
        return s->vmax < RW_QSKETCH_MIN ? 0.0 : s->vmax;
    uint64_t cum = s->zero;
    if (k < cum)
        return 0.0;
    for (int i = s->lo; i <= s->hi; i++) {
        cum += s->count[i];
        if (k < cum) {
            double rep = p->rep_factor * p->upper[i];
            return rep < s->vmin ? s->vmin : rep > s->vmax ? s->vmax : rep;
        }
    }
    return s->vmax; /* not reached: the counts sum to n */
}

double rw_qacc_cdf(const struct rw_qacc *a, double x)
{
    if (a->n == 0 || x != x)
        return NAN;
    if (!a->sk) {
        /* v <= rw_qdecode(code(x)) <=> code(v) <= code(x): exact for x on
         * the code grid (see rw_qcode). */
        if (x < 0)
            return 0.0;
        uint16_t cx = rw_qcode(x);
        uint32_t c = 0;
        for (uint32_t i = 0; i < a->n; i++)
            c += a->code[i] <= cx;
        return (double)c / a->n;
    }

    /* Bucket resolution: values sharing x's bucket count as <= x, so the
     * result lies between F(x) and F(gamma x); exact outside [min, max). */
    const struct rw_qsketch *s = a->sk;
    if (x < s->vmin)
        return 0.0;
    if (x >= s->vmax)
        return 1.0;
    uint64_t cum = s->zero;
    if (x >= RW_QSKETCH_MIN) {
        int kx = bucket_of(s->pool, x > RW_QSKETCH_MAX ? RW_QSKETCH_MAX : x);
        int end = kx < s->hi ? kx : s->hi;
        for (int i = s->lo; i <= end; i++)
            cum += s->count[i];
    }
    return (double)cum / a->n;
}

/* ---- snapshots ------------------------------------------------------ */

int rw_qpool_nbuckets(const struct rw_qpool *p) { return p->nb; }

void rw_qacc_sketch_get(const struct rw_qacc *a, struct rw_qsketch_state *out)
{
    const struct rw_qsketch *s = a->sk;
    out->vmin = s->vmin;
    out->vmax = s->vmax;
    out->zero = s->zero;
    out->lo = s->lo <= s->hi ? s->lo : 0;
    out->hi = s->lo <= s->hi ? s->hi : -1;
    out->count = s->count + out->lo;
}

int rw_qacc_sketch_set(struct rw_qacc *a, const struct rw_qpool *check, struct rw_qpool *pool,
                       uint32_t n, const struct rw_qsketch_state *st)
{
    /* Every quantile and merge relies on these: counts summing to n inside
     * [lo, hi], extremes inside the bucketed range. */
    if (n <= RW_QEXACT || !(st->vmin >= 0 && st->vmin <= st->vmax && st->vmax <= RW_QSKETCH_MAX))
        return -EINVAL;
    uint64_t sum = st->zero;
    if (st->lo <= st->hi) {
        if (st->lo < 0 || st->hi >= check->nb)
            return -EINVAL;
        const unsigned char *c = st->count;
        for (int k = 0; k <= st->hi - st->lo; k++) {
            uint32_t v;
            memcpy(&v, c + (size_t)k * 4, 4);
            sum += v;
        }
    }
    if (sum != n)
        return -EINVAL;
    if (!pool)
        return 0;
    struct rw_qsketch *s = pool_take(pool);
    if (!s)
        return -ENOMEM;
    if (st->lo <= st->hi) {
        memcpy(&s->count[st->lo], st->count, (size_t)(st->hi - st->lo + 1) * 4);
        s->lo = st->lo;
        s->hi = st->hi;
    }
    s->zero = st->zero;
    s->vmin = st->vmin;
    s->vmax = st->vmax;
    a->sk = s;
    a->n = n;
    return 0;
}
