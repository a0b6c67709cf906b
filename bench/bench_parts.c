/* Micro-benchmark for the two per-event parts: page normalization and the
 * quantile accumulator. Standalone (not built by CMake):
 *
 *   gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
 *       engine/pagenorm.c engine/qsketch.c bench/bench_parts.c -lm -o /tmp/bench_parts
 *
 * Prints ns per call; the best of 5 runs of each case, to cut scheduler noise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/pagenorm.h"
#include "engine/qsketch.h"

static volatile uint64_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Typical RUM paths, 20-40 bytes. */
static const char *const typical[] = {
    "/product/48213/reviews",        "/checkout/payment",           "/blog/how-we-ship-fast",
    "/api/v2/users/8812/orders",     "/de/category/shoes?page=2",   "/search?q=red+shoes",
    "/account/settings/profile",     "/order/550e8400-e29b-41d4-a716-446655440000",
};
#define NTYP (sizeof(typical) / sizeof(typical[0]))

static double bench_pages(struct rw_pagenorm *pn, char (*in)[64], const size_t *len, size_t n,
                          size_t iters)
{
    char out[RW_PAGE_MAX + 1];
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
        double t0 = now_ns();
        uint64_t acc = 0;
        for (size_t i = 0; i < iters; i++) {
            size_t k = i % n;
            acc += (uint64_t)rw_pagenorm_apply(pn, in[k], len[k], out, sizeof(out));
        }
        double dt = (now_ns() - t0) / (double)iters;
        sink += acc;
        if (dt < best)
            best = dt;
    }
    return best;
}

static void pages(void)
{
    static const struct rw_rewrite_rule rules[] = {
        {"^/blog/[^/]+$", "/blog/:slug"},
        {"^/(en|de|fr)/(.*)$", "/\\2"},
        {"^/static/.*$", "/static/*"},
    };
    enum { NDIST = 50000 };
    static char in[NDIST][64];
    static size_t len[NDIST];
    for (size_t i = 0; i < NTYP; i++) {
        snprintf(in[i], sizeof(in[i]), "%s", typical[i]);
        len[i] = strlen(in[i]);
    }
    double avg = 0;
    for (size_t i = 0; i < NTYP; i++)
        avg += (double)len[i] / NTYP;

    struct rw_pagenorm *digits = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, NULL, 0);
    struct rw_pagenorm *strict = rw_pagenorm_new(NULL, 0, RW_IDS_STRICT, NULL, 0);
    struct rw_pagenorm *ruled = rw_pagenorm_new(rules, 3, RW_IDS_DIGITS, NULL, 0);

    printf("pagenorm (typical paths, mean %.0f bytes)\n", avg);
    printf("  no rules, digits:            %7.1f ns\n",
           bench_pages(digits, in, len, NTYP, 2000000));
    printf("  no rules, strict:            %7.1f ns\n",
           bench_pages(strict, in, len, NTYP, 2000000));
    printf("  3 rules, cache hit:          %7.1f ns\n",
           bench_pages(ruled, in, len, NTYP, 2000000));

    /* 50000 distinct paths cycle through 4096 slots: nearly every call misses. */
    for (size_t i = 0; i < NDIST; i++) {
        int n = snprintf(in[i], sizeof(in[i]), "/%s/p/%08llx/x%llu",
                         i % 3 == 0 ? "de" : i % 3 == 1 ? "blog" : "shop",
                         (unsigned long long)(rnd() & 0xffffffffu), (unsigned long long)i);
        len[i] = (size_t)n;
    }
    printf("  3 rules, cache miss:         %7.1f ns\n",
           bench_pages(ruled, in, len, NDIST, 200000));
    printf("  no rules, same 50k paths:    %7.1f ns\n",
           bench_pages(digits, in, len, NDIST, 2000000));
    rw_pagenorm_destroy(&digits);
    rw_pagenorm_destroy(&strict);
    rw_pagenorm_destroy(&ruled);
}

static void sketches(void)
{
    enum { NV = 1 << 20 };
    double *v = malloc(NV * sizeof(*v));
    for (size_t i = 0; i < NV; i++) {
        /* lognormal-ish around 2.5 s via Box-Muller */
        double u1 = ((double)(rnd() >> 11) + 1) / 9007199254740993.0;
        double u2 = (double)(rnd() >> 11) / 9007199254740992.0;
        v[i] = 2500.0 * exp(0.7 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
    struct rw_qpool *pool = rw_qpool_new();
    struct rw_qacc a;
    rw_qacc_init(&a);
    double best;

    /* Exact regime: 32 adds then a reset, over and over. */
    best = 1e30;
    for (int run = 0; run < 5; run++) {
        double t0 = now_ns();
        for (size_t i = 0; i < NV; i++) {
            if (a.n == RW_QEXACT)
                rw_qacc_reset(&a, pool);
            rw_qacc_add(&a, pool, v[i]);
        }
        double dt = (now_ns() - t0) / NV;
        if (dt < best)
            best = dt;
    }
    printf("qsketch\n  add, exact regime:           %7.1f ns\n", best);

    /* Sketch regime: one accumulator, 1M values. */
    best = 1e30;
    for (int run = 0; run < 5; run++) {
        rw_qacc_reset(&a, pool);
        for (int i = 0; i < RW_QEXACT + 1; i++)
            rw_qacc_add(&a, pool, 1000);
        double t0 = now_ns();
        for (size_t i = 0; i < NV; i++)
            rw_qacc_add(&a, pool, v[i]);
        double dt = (now_ns() - t0) / NV;
        if (dt < best)
            best = dt;
    }
    printf("  add, sketch regime:          %7.1f ns\n", best);

    /* For comparison: the same index computed with log(). */
    best = 1e30;
    const double lg = log((1 + RW_QSKETCH_ALPHA) / (1 - RW_QSKETCH_ALPHA));
    for (int run = 0; run < 5; run++) {
        double t0 = now_ns();
        uint64_t acc = 0;
        for (size_t i = 0; i < NV; i++)
            acc += (uint64_t)(int64_t)ceil(log(v[i]) / lg);
        double dt = (now_ns() - t0) / NV;
        sink += acc;
        if (dt < best)
            best = dt;
    }
    printf("  (ceil(log(v)/log(gamma)) alone: %4.1f ns)\n", best);

    /* Queries. */
    double t0 = now_ns();
    double s = 0;
    for (int i = 0; i < 100000; i++)
        s += rw_qacc_quantile(&a, 0.75);
    printf("  quantile p75, sketch:        %7.1f ns\n", (now_ns() - t0) / 100000);
    rw_qacc_reset(&a, pool);
    for (int i = 0; i < RW_QEXACT; i++)
        rw_qacc_add(&a, pool, v[i]);
    t0 = now_ns();
    for (int i = 0; i < 100000; i++)
        s += rw_qacc_quantile(&a, 0.75);
    printf("  quantile p75, exact (n=32):  %7.1f ns\n", (now_ns() - t0) / 100000);
    sink += (uint64_t)s;

    rw_qacc_reset(&a, pool);
    rw_qacc_add(&a, pool, 1); /* pool with one sketch allocated */
    for (int i = 0; i < RW_QEXACT; i++)
        rw_qacc_add(&a, pool, i);
    printf("  pool with one sketch:        %zu bytes\n", rw_qpool_bytes(pool));
    rw_qpool_destroy(&pool);
    free(v);
}

int main(void)
{
    pages();
    sketches();
    return 0;
}
