/* Unit tests for engine/qsketch.c: the 16-bit codes of exact values (grid,
 * rounding up, web-vitals lines), exact small-n quantiles against GSL, the
 * switch to the sketch at RW_QEXACT + 1 values, the 1% relative-accuracy
 * guarantee on seeded lognormal and log-uniform samples, zeros, clamping,
 * the pool (reuse allocates nothing, destroy frees held sketches) and cdf. */
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/metric.h"
#include "engine/qsketch.h"
#include "tests/unit/check.h"

static const double qs[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1};
#define NQ (sizeof(qs) / sizeof(qs[0]))

/* The grid value of v (smallest code value >= v). */
static double grid(double v)
{
    return rw_qdecode(rw_qcode(v));
}

/* A value as the exact regime stores it: its grid value, clamped like every
 * value to RW_QSKETCH_MAX (which is off the grid). */
static double stored(double v)
{
    double g = grid(v);
    return g > RW_QSKETCH_MAX ? RW_QSKETCH_MAX : g;
}

/* The code grid: stored(v) is the smallest grid value >= v, within a
 * relative 2^-11 above 2^-9 and an absolute 2^-20 below; monotone; exact on
 * the grid. */
static void test_codes(void)
{
    CHECK_INT(rw_qcode(0), 0);
    CHECK_INT(rw_qcode(-1), 0);
    CHECK_INT(rw_qcode(NAN), 0);
    CHECK(rw_qdecode(0) == 0);
    CHECK_INT(rw_qcode(0x1p-20), 1);
    CHECK_INT(rw_qcode(0x1p-9), 2048);
    CHECK(rw_qdecode(2048) == 0x1p-9);
    CHECK(rw_qdecode(2047) == 2047 * 0x1p-20);
    CHECK(rw_qdecode(65535) == RW_QCODE_TOP);
    CHECK_INT(rw_qcode(RW_QCODE_TOP), 65535);
    CHECK_INT(rw_qcode(1e300), 65535);
    CHECK_INT(rw_qcode(INFINITY), 65535);
    CHECK(RW_QCODE_TOP > RW_QSKETCH_MAX);
    /* Every code decodes to a value that codes back to it, and values are
     * strictly increasing with the code. */
    int bad = 0;
    for (uint32_t c = 0; c <= 65535; c++) {
        double v = rw_qdecode((uint16_t)c);
        bad += rw_qcode(v) != c;
        if (c > 0)
            bad += !(v > rw_qdecode((uint16_t)(c - 1)));
    }
    CHECK_INT(bad, 0);
    /* Rounding up: the smallest code whose value is >= v, with the stated
     * error, on a log-uniform sweep from 1e-9 to RW_QSKETCH_MAX, and at and
     * next to grid values. */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    double worst = 0;
    for (int i = 0; i < 200000; i++) {
        double v = exp(gsl_ran_flat(r, log(1e-9), log(RW_QSKETCH_MAX)));
        if (i % 4 == 1)
            v = nextafter(grid(v), 0);
        else if (i % 4 == 2)
            v = nextafter(grid(v), INFINITY);
        uint16_t c = rw_qcode(v);
        double s = rw_qdecode(c);
        bad += !(s >= v) || !(c == 0 || rw_qdecode((uint16_t)(c - 1)) < v);
        if (v >= 0x1p-9) {
            double rel = (s - v) / v;
            bad += !(rel < 0x1p-11);
            if (rel > worst)
                worst = rel;
        } else {
            bad += !(s - v < 0x1p-20);
        }
    }
    CHECK_INT(bad, 0);
    CHECK(worst > 0.9 * 0x1p-11); /* the bound is tight */
    printf("codes: worst relative rounding %.3g %% (bound 2^-11 = %.3g %%)\n", 100 * worst,
           100 * 0x1p-11);
    gsl_rng_free(r);
    /* Exact on the grid: integers up to 4096, even ones up to 8192, and every
     * web-vitals line but CLS 0.1, which is stored as 0.100006103515625. */
    for (int i = 0; i <= 4096; i++)
        bad += grid(i) != i;
    for (int i = 4096; i <= 8192; i += 2)
        bad += grid(i) != i;
    CHECK_INT(bad, 0);
    CHECK(grid(4097) == 4098);
    for (int v = 0; v < RW_NVITALS; v++) {
        if (v != RW_M_CLS)
            CHECK(grid(rw_vital_good[v]) == rw_vital_good[v]);
        CHECK(grid(rw_vital_poor[v]) == rw_vital_poor[v]);
    }
    CHECK(grid(0.1) == 0.100006103515625);
    CHECK(grid(RW_QSKETCH_MAX) == 4000768); /* stored as RW_QSKETCH_MAX */
    CHECK(stored(RW_QSKETCH_MAX) == RW_QSKETCH_MAX);
}

/* Rating counts: a value at a web-vitals line stays <= the line, the next
 * double above it does not, on every line on the grid. CLS 0.1 (off the
 * grid): 0.1 itself counts as good (the old float storage put 0.1f =
 * 0.100000001 above it), and so does anything up to 0.1000061. */
static void test_cdf_lines(void)
{
    for (int v = 0; v < RW_NVITALS; v++)
        for (int line = 0; line < 2; line++) {
            double x = line ? rw_vital_poor[v] : rw_vital_good[v];
            struct rw_qacc a;
            rw_qacc_init(&a);
            rw_qacc_add(&a, NULL, nextafter(x, 0));
            rw_qacc_add(&a, NULL, x);
            rw_qacc_add(&a, NULL, x * (1 - 1e-9));
            rw_qacc_add(&a, NULL, x * (1 + 0x1p-11)); /* one grid step above */
            if (v == RW_M_CLS && !line) {
                rw_qacc_add(&a, NULL, 0.100006103515625);  /* in 0.1's cell */
                rw_qacc_add(&a, NULL, 0.1000061035156251); /* the next cell */
                CHECK_NEAR(rw_qacc_cdf(&a, x), 4.0 / 6, 1e-15);
                continue;
            }
            rw_qacc_add(&a, NULL, nextafter(x, INFINITY));
            CHECK_NEAR(rw_qacc_cdf(&a, x), 3.0 / 5, 1e-15);
            /* Off the grid x' = nextafter(x, 0) rounds up to x: the values in
             * (x', x] count as <= x' (documented). */
            CHECK_NEAR(rw_qacc_cdf(&a, nextafter(x, 0)), 3.0 / 5, 1e-15);
        }
}

/* Exact regime: identical (bit for bit) to GSL on the values as stored. */
static void check_exact_vs_gsl(const double *v, size_t n)
{
    struct rw_qacc a;
    double sorted[RW_QEXACT];
    rw_qacc_init(&a);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(rw_qacc_add(&a, NULL, v[i]), 0); /* no pool needed while exact */
        sorted[i] = stored(v[i]);
    }
    CHECK(a.sk == NULL);
    CHECK_INT(a.n, n);
    gsl_sort(sorted, 1, n);
    for (size_t i = 0; i < NQ; i++) {
        double want = gsl_stats_quantile_from_sorted_data(sorted, 1, n, qs[i]);
        double got = rw_qacc_quantile(&a, qs[i]);
        if (got != want)
            fprintf(stderr, "n=%zu q=%g: %.17g vs gsl %.17g\n", n, qs[i], got, want);
        CHECK(got == want);
    }
    /* Also q in 1/1000 steps. */
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        CHECK(rw_qacc_quantile(&a, q) == gsl_stats_quantile_from_sorted_data(sorted, 1, n, q));
    }
}

static void test_exact(void)
{
    struct rw_qacc a;
    rw_qacc_init(&a);
    CHECK(isnan(rw_qacc_quantile(&a, 0.5)));
    CHECK(isnan(rw_qacc_cdf(&a, 1.0)));

    const double one[] = {1234.5};
    check_exact_vs_gsl(one, 1);
    rw_qacc_add(&a, NULL, 1234.5);
    CHECK_NEAR(rw_qacc_quantile(&a, 0), 1234.5, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.75), 1234.5, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 1), 1234.5, 0);

    const double two[] = {300, 100};
    check_exact_vs_gsl(two, 2);
    rw_qacc_init(&a);
    rw_qacc_add(&a, NULL, 300);
    rw_qacc_add(&a, NULL, 100);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), 200, 0);  /* halfway */
    CHECK_NEAR(rw_qacc_quantile(&a, 0.75), 250, 0); /* 100 + 0.75 * 200 */

    const double five[] = {5, 1, 4, 2, 3};
    check_exact_vs_gsl(five, 5);
    rw_qacc_init(&a);
    for (int i = 0; i < 5; i++)
        rw_qacc_add(&a, NULL, five[i]);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), 3, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.75), 4, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.9), 4.6, 1e-6); /* 4 + 0.6 * 1 */
    CHECK_NEAR(rw_qacc_quantile(&a, -1), 1, 0);       /* q clamped */
    CHECK_NEAR(rw_qacc_quantile(&a, 7), 5, 0);
    CHECK(isnan(rw_qacc_quantile(&a, NAN)));

    double v32[RW_QEXACT];
    for (int i = 0; i < RW_QEXACT; i++)
        v32[i] = 100.0 + ((i * 37) % 32) * 12.25 + (i % 3) * 0.001;
    check_exact_vs_gsl(v32, RW_QEXACT);
    const double cls[] = {0, 0, 0.05, 0, 0.31, 0.002, 0, 0.12};
    check_exact_vs_gsl(cls, 8);
}

/* Value RW_QEXACT + 1 moves everything into a sketch; nothing is lost. */
static void test_transition(void)
{
    struct rw_qpool *pool = rw_qpool_new();
    struct rw_qacc a;
    rw_qacc_init(&a);
    size_t base = rw_qpool_bytes(pool);
    for (int i = 1; i <= RW_QEXACT; i++)
        CHECK_INT(rw_qacc_add(&a, pool, i * 10.0), 0);
    CHECK(a.sk == NULL);
    CHECK_INT(rw_qpool_bytes(pool), base);
    const double last = 10.0 * (RW_QEXACT + 1);
    /* Without a pool the extra value cannot be kept. */
    CHECK_INT(rw_qacc_add(&a, NULL, last), -ENOMEM);
    CHECK_INT(a.n, RW_QEXACT);
    CHECK(a.sk == NULL);
    CHECK_INT(rw_qacc_add(&a, pool, last), 0);
    CHECK(a.sk != NULL);
    CHECK_INT(a.n, RW_QEXACT + 1);
    size_t one = rw_qpool_bytes(pool) - base;
    CHECK(one > 4000 && one < 6000);
    printf("sketch size: %zu bytes; pool tables: %zu bytes\n", one, base);
    /* Values 10..last: rank k = round(q * RW_QEXACT) is the value 10 (k + 1). */
    for (int i = 0; i <= RW_QEXACT; i++) {
        double q = i / (double)RW_QEXACT, want = 10.0 * (i + 1);
        CHECK_NEAR(rw_qacc_quantile(&a, q), want, want * RW_QSKETCH_ALPHA);
    }
    CHECK_NEAR(rw_qacc_quantile(&a, 0), 10, 0);  /* extremes are exact */
    CHECK_NEAR(rw_qacc_quantile(&a, 1), last, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, 5), 0, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, last), 1, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, 1e9), 1, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, 165), 16.0 / (RW_QEXACT + 1), 1e-12); /* 10..160; 170 > gamma * 165 */
    CHECK(isnan(rw_qacc_cdf(&a, NAN)));
    rw_qacc_reset(&a, pool);
    CHECK(a.sk == NULL);
    CHECK_INT(a.n, 0);
    CHECK(isnan(rw_qacc_quantile(&a, 0.5)));
    rw_qpool_destroy(&pool);
    CHECK(pool == NULL);
    rw_qpool_destroy(&pool); /* safe twice */
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Every quantile in qs[] (and, for small n, every rank) is within the
 * relative accuracy of the sample value at rank floor(q (n-1) + 1/2). */
static int check_sketch_accuracy(struct rw_qacc *a, double *sorted, size_t n, int all_ranks,
                                 const char *what)
{
    int bad = 0;
    /* The first RW_QEXACT values went in as codes, but land in the bucket of
     * the value itself: the same tolerance against the values as given. */
    const double tol = RW_QSKETCH_ALPHA * (1 + 1e-6);
    size_t nq = all_ranks ? n : NQ;
    for (size_t i = 0; i < nq; i++) {
        double q = all_ranks ? (n > 1 ? (double)i / (double)(n - 1) : 0) : qs[i];
        size_t k = (size_t)floor(q * (double)(n - 1) + 0.5);
        double want = sorted[k], got = rw_qacc_quantile(a, q);
        double err = want < RW_QSKETCH_MIN ? fabs(got - want) / RW_QSKETCH_MIN
                                           : fabs(got - want) / want;
        if (!(err <= tol)) {
            if (bad++ < 5)
                fprintf(stderr, "%s n=%zu q=%.6f: got %.9g want %.9g (rel %.4g)\n", what, n,
                        q, got, want, err);
        }
    }
    return bad;
}

static void test_lognormal(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 20261128);
    struct rw_qpool *pool = rw_qpool_new();
    static double v[100000];
    const size_t ns[] = {33, 100, 1000, 100000};
    for (size_t t = 0; t < sizeof(ns) / sizeof(ns[0]); t++) {
        size_t n = ns[t];
        struct rw_qacc a;
        rw_qacc_init(&a);
        for (size_t i = 0; i < n; i++) {
            v[i] = gsl_ran_lognormal(r, log(2500.0), 0.7); /* LCP-like, ms */
            CHECK_INT(rw_qacc_add(&a, pool, v[i]), 0);
        }
        qsort(v, n, sizeof(double), cmp_double);
        CHECK_INT(check_sketch_accuracy(&a, v, n, n <= 1000, "lognormal"), 0);
        /* And against GSL's type-7 quantile, which interpolates: within 1% plus
         * the gap between neighbouring order statistics. */
        for (int i = 0; i < 3; i++) {
            double q = i == 0 ? 0.5 : i == 1 ? 0.75 : 0.95;
            double g = gsl_stats_quantile_from_sorted_data(v, 1, n, q);
            size_t lo = (size_t)floor(q * (double)(n - 1));
            double gap = v[lo + 1 < n ? lo + 1 : lo] - v[lo];
            CHECK_NEAR(rw_qacc_quantile(&a, q), g, g * RW_QSKETCH_ALPHA * 1.000001 + gap);
        }
        rw_qacc_reset(&a, pool);
    }
    rw_qpool_destroy(&pool);
    gsl_rng_free(r);
}

/* Log-uniform over the whole bucketed range, plus values right at and next to
 * bucket boundaries: every rank within 1%. */
static void test_full_range(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    struct rw_qpool *pool = rw_qpool_new();
    static double v[4000];
    size_t n = 0;
    struct rw_qacc a;
    rw_qacc_init(&a);
    const double lg = log((1 + RW_QSKETCH_ALPHA) / (1 - RW_QSKETCH_ALPHA));
    for (int i = 0; i < 2000; i++)
        v[n++] = exp(gsl_ran_flat(r, log(RW_QSKETCH_MIN), log(RW_QSKETCH_MAX)));
    for (int i = -460; i <= 761 && n + 3 <= 4000; i += 2) {
        double b = exp(i * lg);
        if (b < RW_QSKETCH_MIN || b > RW_QSKETCH_MAX)
            continue;
        v[n++] = b;
        v[n++] = nextafter(b, 0);
        v[n++] = nextafter(b, INFINITY);
    }
    v[n++] = RW_QSKETCH_MIN;
    v[n++] = RW_QSKETCH_MAX;
    for (size_t i = 0; i < n; i++) {
        rw_qacc_add(&a, pool, v[i]);
    }
    qsort(v, n, sizeof(double), cmp_double);
    CHECK_INT(check_sketch_accuracy(&a, v, n, 1, "full range"), 0);
    /* cdf at bucket resolution: F(x) <= cdf(x) <= F(gamma x). */
    int bad = 0;
    for (int i = 0; i < 500; i++) {
        double x = exp(gsl_ran_flat(r, log(RW_QSKETCH_MIN), log(RW_QSKETCH_MAX)));
        size_t le = 0, le_g = 0;
        for (size_t j = 0; j < n; j++) {
            le += v[j] <= x;
            le_g += v[j] <= x * (1 + RW_QSKETCH_ALPHA) / (1 - RW_QSKETCH_ALPHA);
        }
        double c = rw_qacc_cdf(&a, x);
        if (c < (double)le / n - 1e-12 || c > (double)le_g / n + 1e-12)
            bad++;
    }
    CHECK_INT(bad, 0);
    rw_qacc_reset(&a, pool);
    rw_qpool_destroy(&pool);
    gsl_rng_free(r);
}

/* Exact values at bucket boundaries (where rounding up to the code grid
 * crosses into the next bucket) land in their own bucket at the switch to a
 * sketch and in merges: the same quantiles as when the same values are added
 * to a sketch directly. */
static void test_boundaries_through_codes(void)
{
    struct rw_qpool *pool = rw_qpool_new();
    const double lg = log((1 + RW_QSKETCH_ALPHA) / (1 - RW_QSKETCH_ALPHA));
    double edge[RW_QEXACT];
    int crossing = 0;
    for (int i = 0; i < RW_QEXACT; i++) {
        edge[i] = exp((-400 + 73 * i) * lg); /* 2e-4 .. 1.5e6, each a bucket's upper bound */
        crossing += stored(edge[i]) > edge[i];
    }
    edge[0] = RW_QSKETCH_MIN * (1 - 1e-3); /* in the zero bucket, its code just above MIN */
    CHECK(stored(edge[0]) >= RW_QSKETCH_MIN);
    CHECK(crossing >= 12); /* most bounds are off the grid */
    struct rw_qacc a, b, m1, m2;
    rw_qacc_init(&a);
    rw_qacc_init(&b);
    rw_qacc_init(&m1);
    rw_qacc_init(&m2);
    /* a: the edges first (as codes), then fillers; b: fillers first, so the
     * edges go straight into its sketch. The fillers hold the extremes and
     * are on the code grid (so b's first values are the same as a's). */
    for (int i = 0; i < RW_QEXACT; i++)
        CHECK_INT(rw_qacc_add(&a, pool, edge[i]), 0);
    for (int i = 0; i < 2 * RW_QEXACT; i++) {
        double f = i % 2 ? 2929 * 1024.0 + 1024 * i : (i + 1) * 0x1p-20;
        CHECK(stored(f) == f);
        CHECK_INT(rw_qacc_add(&a, pool, f), 0);
        CHECK_INT(rw_qacc_add(&b, pool, f), 0);
    }
    for (int i = 0; i < RW_QEXACT; i++) {
        CHECK_INT(rw_qacc_add(&b, pool, edge[i]), 0);
        CHECK_INT(rw_qacc_add(&m1, pool, edge[i]), 0); /* exact, merged below */
    }
    CHECK(a.sk && b.sk && !m1.sk);
    CHECK_INT(rw_qacc_merge(&m2, &b, pool), 0);  /* sketch into an empty one */
    CHECK_INT(rw_qacc_merge(&m1, &m2, pool), 0); /* exact into a sketch, via to_sketch */
    CHECK_INT(a.n, 3 * RW_QEXACT);
    CHECK_INT(m1.n, 4 * RW_QEXACT);
    int bad = 0;
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        bad += rw_qacc_quantile(&a, q) != rw_qacc_quantile(&b, q);
    }
    CHECK_INT(bad, 0);
    /* m1 holds b and the edges once more: as b with the edges added twice. */
    for (int i = 0; i < RW_QEXACT; i++)
        CHECK_INT(rw_qacc_add(&b, pool, edge[i]), 0);
    CHECK_INT(m1.n, b.n);
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        bad += rw_qacc_quantile(&m1, q) != rw_qacc_quantile(&b, q);
    }
    CHECK_INT(bad, 0);
    rw_qacc_reset(&a, pool);
    rw_qacc_reset(&b, pool);
    rw_qacc_reset(&m1, pool);
    rw_qacc_reset(&m2, pool);
    CHECK_INT(a.below, 0);
    rw_qpool_destroy(&pool);
}

static void test_constant_zero_huge(void)
{
    struct rw_qpool *pool = rw_qpool_new();
    struct rw_qacc a;
    rw_qacc_init(&a);

    /* Constant: min == max, so every quantile is exact. */
    for (int i = 0; i < 1000; i++)
        rw_qacc_add(&a, pool, 1843.0);
    for (size_t i = 0; i < NQ; i++)
        CHECK_NEAR(rw_qacc_quantile(&a, qs[i]), 1843.0, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, 1842.9), 0, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, 1843.0), 1, 0);
    rw_qacc_reset(&a, pool);

    /* CLS-like: 60% zeros, the rest small shifts. */
    for (int i = 0; i < 1000; i++)
        rw_qacc_add(&a, pool, i % 5 < 3 ? 0.0 : 0.01 * (i % 37 + 1));
    CHECK_NEAR(rw_qacc_quantile(&a, 0), 0, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), 0, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.59), 0, 0);
    CHECK(rw_qacc_quantile(&a, 0.75) > 0.005);
    CHECK_NEAR(rw_qacc_quantile(&a, 1), 0.37, 1e-9);
    CHECK_NEAR(rw_qacc_cdf(&a, 0), 0.6, 1e-12);
    CHECK_NEAR(rw_qacc_cdf(&a, 0.00005), 0.6, 1e-12);
    CHECK_NEAR(rw_qacc_cdf(&a, -1), 0, 0);
    rw_qacc_reset(&a, pool);

    /* All below MIN: reported as 0 (header contract). */
    for (int i = 0; i < 40; i++)
        rw_qacc_add(&a, pool, 5e-5);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), 0, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 1), 0, 0);
    rw_qacc_reset(&a, pool);

    /* Huge values clamp to RW_QSKETCH_MAX, in both regimes; inf too. */
    rw_qacc_add(&a, pool, 1e300);
    rw_qacc_add(&a, pool, INFINITY);
    CHECK_NEAR(rw_qacc_quantile(&a, 1), RW_QSKETCH_MAX, 0);
    for (int i = 0; i < 100; i++)
        CHECK_INT(rw_qacc_add(&a, pool, i % 2 ? 1e12 : 5e6), 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), RW_QSKETCH_MAX, 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 1), RW_QSKETCH_MAX, 0);
    CHECK_NEAR(rw_qacc_cdf(&a, RW_QSKETCH_MAX), 1, 0);
    rw_qacc_reset(&a, pool);

    /* Out of contract input: NaN is refused, negatives count as 0. */
    CHECK_INT(rw_qacc_add(&a, pool, NAN), -EINVAL);
    CHECK_INT(a.n, 0);
    CHECK_INT(rw_qacc_add(&a, pool, -3), 0);
    CHECK_NEAR(rw_qacc_quantile(&a, 0.5), 0, 0);
    rw_qacc_reset(&a, pool);
    rw_qpool_destroy(&pool);
}

static void test_pool(void)
{
    struct rw_qpool *pool = rw_qpool_new();
    struct rw_qacc acc[8];
    size_t base = rw_qpool_bytes(pool);
    for (int i = 0; i < 8; i++)
        rw_qacc_init(&acc[i]);
    /* Windows 1..5: all eight accumulators overflow each window. */
    size_t after_first = 0;
    for (int w = 0; w < 5; w++) {
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 50 + i * 10 + w; j++)
                CHECK_INT(rw_qacc_add(&acc[i], pool, 100.0 + j * (i + 1)), 0);
        for (int i = 0; i < 8; i++) {
            int n = 50 + i * 10 + w;
            CHECK_INT(acc[i].n, n);
            CHECK_NEAR(rw_qacc_quantile(&acc[i], 1), 100.0 + (n - 1) * (i + 1), 0);
            /* A reused sketch starts clean: the median is the one of this window. */
            double med = 100.0 + floor((n - 1) * 0.5 + 0.5) * (i + 1);
            CHECK_NEAR(rw_qacc_quantile(&acc[i], 0.5), med, med * RW_QSKETCH_ALPHA);
        }
        if (w == 0)
            after_first = rw_qpool_bytes(pool);
        else
            CHECK_INT(rw_qpool_bytes(pool), after_first); /* reuse allocates nothing */
        for (int i = 0; i < 8; i++)
            rw_qacc_reset(&acc[i], pool);
    }
    CHECK(after_first > base);
    CHECK_INT((after_first - base) % 8, 0);
    /* Destroy while some accumulators still hold sketches: all freed (ASan's
     * leak check would complain otherwise). */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 40; j++)
            rw_qacc_add(&acc[i], pool, j);
    CHECK_INT(rw_qpool_bytes(pool), after_first);
    rw_qpool_destroy(&pool);
    CHECK_INT(rw_qpool_bytes(NULL), 0);
}

/* Merging windows (low-traffic pooling): exact+exact, exact into sketch,
 * sketch into exact and sketch+sketch all give the quantiles of the union. */
static void test_merge(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 99);
    struct rw_qpool *pool = rw_qpool_new();
    const size_t sizes[][2] = {{5, 7}, {20, 20}, {10, 500}, {500, 10}, {3000, 2000}};
    static double v[6000];
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t na = sizes[t][0], nb = sizes[t][1], n = na + nb;
        struct rw_qacc a, b;
        rw_qacc_init(&a);
        rw_qacc_init(&b);
        for (size_t i = 0; i < n; i++) {
            v[i] = gsl_ran_lognormal(r, log(300.0), 0.6);
            CHECK_INT(rw_qacc_add(i < na ? &a : &b, pool, v[i]), 0);
            if (n <= RW_QEXACT)
                v[i] = stored(v[i]); /* stays exact: compare with the stored values */
        }
        CHECK_INT(rw_qacc_merge(&a, &b, pool), 0);
        CHECK_INT(a.n, n);
        CHECK_INT(b.n, nb); /* src unchanged */
        qsort(v, n, sizeof(double), cmp_double);
        for (int i = 0; i < 3; i++) {
            double q = i == 0 ? 0.5 : i == 1 ? 0.75 : 0.95;
            double g = gsl_stats_quantile_from_sorted_data(v, 1, n, q);
            size_t lo = (size_t)floor(q * (double)(n - 1));
            double gap = v[lo + 1 < n ? lo + 1 : lo] - v[lo];
            if (n <= RW_QEXACT)
                CHECK_NEAR(rw_qacc_quantile(&a, q), g, 1e-9 * g); /* still exact */
            else
                CHECK_NEAR(rw_qacc_quantile(&a, q), g, g * RW_QSKETCH_ALPHA * 1.000001 + gap);
        }
        rw_qacc_reset(&a, pool);
        rw_qacc_reset(&b, pool);
    }
    rw_qpool_destroy(&pool);
    gsl_rng_free(r);
}

int main(void)
{
    gsl_set_error_handler_off();
    test_codes();
    test_cdf_lines();
    test_exact();
    test_transition();
    test_lognormal();
    test_full_range();
    test_boundaries_through_codes();
    test_constant_zero_huge();
    test_pool();
    test_merge();
    TEST_DONE();
}
