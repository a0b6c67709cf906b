/* Outbox driver for crash tests from outside and for fsync timings.
 *
 *   rw_outbox_crash put DIR N       put N notifications; print "P <id> <seq>" after
 *                                   each put returns (flushed), so a script can
 *                                   kill -9 this process at any moment
 *   rw_outbox_crash verify DIR FILE every "P <id> <seq>" line of FILE must be in
 *                                   DIR exactly once (pending or dead), with its
 *                                   body; exit 0 if so, 1 otherwise
 *   rw_outbox_crash bench DIR [N] [BODY]
 *                                   notifications/s on DIR's disk: put, next+done,
 *                                   put+done, fail (rewrite); and, for comparison,
 *                                   the floor of an append-only log design (one
 *                                   fdatasync'ed append per put and per done)
 * DIR must not be in use by a daemon (put/bench take the outbox lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/log.h"
#include "notifiers/outbox.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rw_outbox *open_or_die(const char *dir)
{
    char err[512];
    struct rw_outbox_limits lim = {.max_count = 1000000, .max_bytes = 1ull << 34};
    struct rw_outbox *ob = rw_outbox_open(dir, &lim, err, sizeof err);
    if (!ob) {
        fprintf(stderr, "rw_outbox_crash: %s\n", err);
        exit(2);
    }
    return ob;
}

static int cmd_put(const char *dir, int n)
{
    char err[512], id[RW_OUTBOX_ID_MAX], body[64];
    struct rw_outbox *ob = open_or_die(dir);
    for (int i = 0; i < n; i++) {
        int len = snprintf(body, sizeof body, "{\"seq\":%d}", i);
        if (rw_outbox_put(ob, "hook", body, (size_t)len, NULL, id, err, sizeof err) != 0) {
            fprintf(stderr, "rw_outbox_crash: %s\n", err);
            return 1;
        }
        printf("P %s %d\n", id, i);
        fflush(stdout);
    }
    rw_outbox_close(&ob);
    return 0;
}

struct want {
    char id[RW_OUTBOX_ID_MAX];
    int seq, seen;
    char body[64];
};
struct verify {
    struct want *w;
    int n;
};

static int on_entry(const struct rw_outbox_entry *e, void *arg)
{
    struct verify *v = arg;
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->w[i].id, e->rec.id) == 0) {
            v->w[i].seen++;
            snprintf(v->w[i].body, sizeof v->w[i].body, "%s", e->rec.body ? e->rec.body : "");
            if (e->state == RW_OUTBOX_CORRUPT)
                v->w[i].seen += 100;
        }
    return 0;
}

static int cmd_verify(const char *dir, const char *acks)
{
    FILE *f = fopen(acks, "r");
    if (!f) {
        fprintf(stderr, "rw_outbox_crash: %s: %s\n", acks, strerror(errno));
        return 2;
    }
    struct verify v = {NULL, 0};
    int cap = 0;
    char line[256], id[RW_OUTBOX_ID_MAX];
    int seq;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "P %63s %d", id, &seq) != 2)
            continue;
        if (v.n == cap) {
            cap = cap ? cap * 2 : 256;
            struct want *nw = realloc(v.w, (size_t)cap * sizeof *nw);
            if (!nw)
                return 2;
            v.w = nw;
        }
        memset(&v.w[v.n], 0, sizeof v.w[v.n]);
        snprintf(v.w[v.n].id, sizeof v.w[v.n].id, "%s", id);
        v.w[v.n++].seq = seq;
    }
    fclose(f);
    /* Open first, as a restarted daemon would: finishes interrupted moves. */
    struct rw_outbox *ob = open_or_die(dir);
    struct rw_outbox_stats st;
    rw_outbox_stats(ob, &st);
    rw_outbox_close(&ob);
    char err[512];
    if (rw_outbox_list(dir, on_entry, &v, err, sizeof err) < 0) {
        fprintf(stderr, "rw_outbox_crash: %s\n", err);
        return 2;
    }
    int bad = 0;
    for (int i = 0; i < v.n; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"seq\":%d}", v.w[i].seq);
        if (v.w[i].seen != 1 || strcmp(v.w[i].body, want) != 0) {
            fprintf(stderr, "%s (seq %d): found %d times, body \"%s\"\n", v.w[i].id, v.w[i].seq,
                    v.w[i].seen, v.w[i].body);
            bad++;
        }
    }
    printf("acknowledged %d, pending %llu, quarantined %llu, bad %d\n", v.n,
           (unsigned long long)st.depth, (unsigned long long)st.quarantined, bad);
    free(v.w);
    return bad || st.quarantined ? 1 : 0;
}

static void report(const char *what, int n, double secs)
{
    printf("%-40s %8.0f /s  %7.3f ms each\n", what, n / secs, secs * 1000 / n);
}

static int cmd_bench(const char *dir, int n, int body_bytes)
{
    char err[512];
    char *body = malloc((size_t)body_bytes + 1);
    char(*ids)[RW_OUTBOX_ID_MAX] = calloc((size_t)n, RW_OUTBOX_ID_MAX);
    if (!body || !ids)
        return 2;
    memset(body, 'x', (size_t)body_bytes);
    body[body_bytes] = '\0';
    struct rw_outbox *ob = open_or_die(dir);
    struct rw_outbox_rec r;
    printf("%d notifications of %d bytes in %s\n", n, body_bytes, dir);

    double t = now_s();
    for (int i = 0; i < n; i++)
        if (rw_outbox_put(ob, "hook", body, (size_t)body_bytes, NULL, ids[i], err, sizeof err))
            goto fail;
    report("put (file+dir fsync)", n, now_s() - t);

    t = now_s();
    for (int i = 0; i < n; i++)
        if (rw_outbox_fail(ob, ids[i], 1, 0, "HTTP 503", err, sizeof err) < 0)
            goto fail;
    report("fail (rewrite, fsync)", n, now_s() - t);

    t = now_s();
    int got = 0;
    while (rw_outbox_next_due(ob, INT64_MAX, &r, err, sizeof err) == 1) {
        if (rw_outbox_done(ob, r.id, err, sizeof err))
            goto fail;
        rw_outbox_rec_clear(&r);
        got++;
    }
    report("next_due + done (unlink, dir fsync)", got, now_s() - t);

    t = now_s();
    for (int i = 0; i < n; i++) {
        if (rw_outbox_put(ob, "hook", body, (size_t)body_bytes, NULL, ids[i], err, sizeof err))
            goto fail;
        if (rw_outbox_next_due(ob, INT64_MAX, &r, err, sizeof err) != 1)
            goto fail;
        rw_outbox_rec_clear(&r);
        if (rw_outbox_done(ob, ids[i], err, sizeof err))
            goto fail;
    }
    report("put + next_due + done", n, now_s() - t);
    rw_outbox_close(&ob);

    /* The floor of a segment-log design: one appended record + fdatasync per put
     * and one tombstone + fdatasync per done, same size, no compaction. */
    char path[1024];
    snprintf(path, sizeof path, "%s/bench.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return 2;
    t = now_s();
    for (int i = 0; i < n; i++) {
        if (write(fd, body, (size_t)body_bytes) != body_bytes || fdatasync(fd) < 0)
            return 2;
        if (write(fd, "done 0123456789abcdef\n", 22) != 22 || fdatasync(fd) < 0)
            return 2;
    }
    report("log floor: append+sync, tombstone+sync", n, now_s() - t);
    close(fd);
    unlink(path);
    free(body);
    free(ids);
    return 0;
fail:
    fprintf(stderr, "rw_outbox_crash: %s\n", err);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "put") == 0)
        return cmd_put(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "bench") == 0) {
        int n = argc >= 4 ? atoi(argv[3]) : 500;
        int body = argc >= 5 ? atoi(argv[4]) : 2000;
        if (n < 1 || body < 0)
            return 2;
        return cmd_bench(argv[2], n, body);
    }
    fprintf(stderr,
            "usage: rw_outbox_crash put DIR N | verify DIR ACKFILE | bench DIR [N] [BODY]\n");
    return 2;
}
