/* Decoder benchmark: rw_decode (jansson) against rw_fastdec_decode on the
 * lines of data/sample.ndjson.gz, loaded in memory first. Standalone (not
 * built by CMake); run from the repository root:
 *
 *   gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
 *       engine/fastjson.c engine/decode.c engine/pagenorm.c engine/metric.c \
 *       bench/bench_decode.c -o /tmp/bench_decode $(pkg-config --cflags --libs jansson zlib) -lm
 *   /tmp/bench_decode [file.ndjson.gz]
 *
 * Prints ns/event and events/s for each decoder: the best of 5 passes over
 * all lines, to cut scheduler noise. Both decoders must agree on how many
 * events they accept, or the numbers mean nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "engine/decode.h"
#include "engine/fastjson.h"

static volatile uint64_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct corpus {
    char *data; /* all lines back to back, no separators */
    size_t *off, *len;
    size_t n, cap, used, dcap;
};

static int load(const char *path, struct corpus *c)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return -1;
    static char buf[1 << 16];
    while (gzgets(gz, buf, sizeof buf)) {
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
            l--;
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->off = realloc(c->off, c->cap * sizeof *c->off);
            c->len = realloc(c->len, c->cap * sizeof *c->len);
        }
        if (c->used + l > c->dcap) {
            c->dcap = (c->used + l) * 2;
            c->data = realloc(c->data, c->dcap);
        }
        if (!c->off || !c->len || !c->data)
            return -1;
        memcpy(c->data + c->used, buf, l);
        c->off[c->n] = c->used;
        c->len[c->n] = l;
        c->used += l;
        c->n++;
    }
    gzclose(gz);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/sample.ndjson.gz";
    struct corpus c = {0};
    if (load(path, &c) || c.n == 0) {
        fprintf(stderr, "cannot load %s\n", path);
        return 1;
    }
    char err[256];
    struct rw_pagenorm *pn1 = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    struct rw_pagenorm *pn2 = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    struct rw_decoder *ref = rw_decoder_new(pn1, 128);
    struct rw_fastdec *fast = rw_fastdec_new(pn2, 128, 65536);
    if (!pn1 || !pn2 || !ref || !fast)
        return 1;

    double best[2] = {1e30, 1e30};
    size_t ok[2] = {0, 0};
    for (int run = 0; run < 5; run++) {
        for (int which = 0; which < 2; which++) {
            struct rw_event ev;
            size_t nok = 0;
            double t0 = now_ns();
            for (size_t i = 0; i < c.n; i++) {
                const char *p = c.data + c.off[i];
                enum rw_reject r = which == 0 ? rw_decode(ref, p, c.len[i], &ev)
                                              : rw_fastdec_decode(fast, p, c.len[i], &ev);
                if (r == RW_OK) {
                    nok++;
                    sink += (uint64_t)ev.ts + ev.vital_mask;
                }
            }
            double dt = (now_ns() - t0) / (double)c.n;
            if (dt < best[which])
                best[which] = dt;
            ok[which] = nok;
        }
    }
    size_t bytes = c.used;
    printf("%zu events, %.0f bytes/event average, %s\n", c.n, (double)bytes / (double)c.n, path);
    printf("jansson rw_decode       %8.1f ns/event  %10.0f events/s  (%zu ok)\n", best[0],
           1e9 / best[0], ok[0]);
    printf("rw_fastdec_decode       %8.1f ns/event  %10.0f events/s  (%zu ok)\n", best[1],
           1e9 / best[1], ok[1]);
    printf("speed-up                %8.1fx\n", best[0] / best[1]);

    rw_fastdec_destroy(&fast);
    rw_decoder_destroy(&ref);
    rw_pagenorm_destroy(&pn1);
    rw_pagenorm_destroy(&pn2);
    free(c.data);
    free(c.off);
    free(c.len);
    return ok[0] == ok[1] ? 0 : 1;
}
