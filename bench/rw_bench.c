/* Replay throughput against the jansson parse floor.
 *
 *   rw_bench [-c CONFIG] FILE.ndjson[.gz]
 *
 * Loads FILE into memory (so disk and gunzip are not measured), then times
 *   1. the parse floor: json_loadb + json_decref of every line, nothing else
 *      (what a jansson-based engine cannot go below);
 *   2. the decode floor: rw_fastdec_decode of every line (rumwatch's own
 *      decoder, same results as jansson + validation, engine/fastjson.c);
 *   3. the engine: rw_engine_ingest_json of every line with the config
 *      (default: the built-in one), windows, detectors and alerts included,
 *      alert lines formatted and discarded;
 * and prints events/s for both and their ratio, plus memory figures. */
#include <gsl/gsl_errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/fastjson.h"
#include "engine/log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void count_line(void *ctx, const char *line, int notify)
{
    (void)line;
    (void)notify;
    (*(unsigned long *)ctx)++;
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();
    const char *cfg_path = NULL;
    int argi = 1;
    if (argc > 2 && strcmp(argv[1], "-c") == 0) {
        cfg_path = argv[2];
        argi = 3;
    }
    if (argi >= argc) {
        fprintf(stderr, "usage: rw_bench [-c CONFIG] FILE.ndjson[.gz]\n");
        return 2;
    }
    gzFile gz = gzopen(argv[argi], "rb");
    if (!gz) {
        perror(argv[argi]);
        return 1;
    }
    size_t cap = 1 << 26, len = 0;
    char *data = malloc(cap);
    int n;
    while (data && (n = gzread(gz, data + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)n;
        if (len == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    gzclose(gz);
    if (!data)
        return 1;
    size_t nlines = 0, lcap = 1 << 20;
    size_t *off = malloc(lcap * sizeof *off), *lens = malloc(lcap * sizeof *lens);
    for (size_t p = 0; p < len;) {
        char *nl = memchr(data + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - data) : len;
        if (e > p) {
            if (nlines == lcap) {
                lcap *= 2;
                off = realloc(off, lcap * sizeof *off);
                lens = realloc(lens, lcap * sizeof *lens);
            }
            off[nlines] = p;
            lens[nlines++] = e - p;
        }
        p = e + 1;
    }
    printf("input: %s, %zu events, %.1f MB, %.0f bytes/event\n", argv[argi], nlines, len / 1e6,
           nlines ? (double)len / nlines : 0.0);

    /* 1. parse floor (RW_BENCH_ENGINE_ONLY=1 skips it, for profiling) */
    double t0 = now_s();
    size_t bad = 0;
    int skip_parse = getenv("RW_BENCH_ENGINE_ONLY") != NULL;
    for (size_t i = 0; i < nlines && !skip_parse; i++) {
        json_t *j = json_loadb(data + off[i], lens[i], 0, NULL);
        if (!j)
            bad++;
        json_decref(j);
    }
    double t_parse = now_s() - t0;

    /* 2. rumwatch's decoder alone (page normalization included) */
    char perr[256];
    struct rw_pagenorm *pn = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, perr, sizeof perr);
    struct rw_fastdec *fd = rw_fastdec_new(pn, 128, 65536);
    struct rw_event ev;
    size_t fbad = 0;
    t0 = now_s();
    for (size_t i = 0; i < nlines && !skip_parse; i++)
        fbad += rw_fastdec_decode(fd, data + off[i], lens[i], &ev) != RW_OK;
    double t_fast = now_s() - t0;
    rw_fastdec_destroy(&fd);
    rw_pagenorm_destroy(&pn);

    /* 2. engine */
    char err[1024] = "";
    struct rw_config *cfg = rw_config_load(cfg_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "config: %s\n", err);
        return 2;
    }
    rw_log_set_level(RW_LOG_ERROR);
    unsigned long alerts = 0;
    struct rw_alert_sink sink = {count_line, &alerts};
    struct rw_engine *e = rw_engine_new(cfg, &sink, err, sizeof err);
    if (!e) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    t0 = now_s();
    for (size_t i = 0; i < nlines; i++)
        rw_engine_ingest_json(e, data + off[i], lens[i]);
    rw_engine_finish(e);
    double t_engine = now_s() - t0;
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    double r_parse = nlines / t_parse, r_engine = nlines / t_engine;
    printf("parse floor (jansson json_loadb+decref): %10.0f events/s  %7.2f us/event  (%zu unparsable)\n",
           r_parse, 1e6 / r_parse, bad);
    double r_fast = nlines / t_fast;
    printf("decode floor (rw_fastdec_decode):        %10.0f events/s  %7.2f us/event  (%zu rejected)\n",
           r_fast, 1e6 / r_fast, fbad);
    printf("engine replay (decode+ingest+windows):  %10.0f events/s  %7.2f us/event\n", r_engine,
           1e6 / r_engine);
    printf("ratio engine / jansson parse floor: %.2f; engine / own decode floor: %.2f "
           "(ingest + windows + detectors: %.2f us/event)\n",
           r_engine / r_parse, r_engine / r_fast, 1e6 / r_engine - 1e6 / r_fast);
    printf("engine: %llu accepted, %llu series alive, %llu windows, %llu evaluations, %lu alert lines\n",
           (unsigned long long)st.accepted, (unsigned long long)st.series,
           (unsigned long long)st.windows_closed, (unsigned long long)st.evaluations, alerts);
    printf("memory: engine ~%.1f MiB: %.0f bytes/series (series blocks, default rules) + %.1f MiB "
           "of pooled quantile sketches; max RSS %.1f MiB (input buffer %.1f MiB)\n",
           st.bytes / 1048576.0,
           st.series ? (double)(st.bytes - st.sketch_bytes) / st.series : 0.0,
           st.sketch_bytes / 1048576.0, ru.ru_maxrss / 1024.0, cap / 1048576.0);
    rw_engine_destroy(&e);
    rw_config_free(&cfg);
    free(off);
    free(lens);
    free(data);
    return 0;
}
