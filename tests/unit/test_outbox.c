/* Durable outbox with real files in a temp dir: round trip, restart,
 * corruption, caps, dead letters, the CLI's list/retry, backoff, and a
 * crash test that kill -9s a child at seeded random moments while it
 * writes, then checks that every acknowledged notification survived
 * exactly once.
 *
 * RW_OUTBOX_CRASH_ROUNDS overrides the number of crash rounds (default 50). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/log.h"
#include "notifiers/outbox.h"
#include "tests/unit/check.h"

static int64_t fake_now = 1700000000000LL;
static int64_t fake_clock(void)
{
    return fake_now;
}

static char base_dir[200];
static int dir_seq;

/* ---- helpers ------------------------------------------------------------------ */

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                rm_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* A fresh outbox dir path (not created: open creates it). */
static void new_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/ob%d", base_dir, ++dir_seq);
}

static int count_files(const char *dir, const char *sub, const char *suffix)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name), m = strlen(suffix);
        if (de->d_name[0] != '.' && l >= m && strcmp(de->d_name + l - m, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int file_exists(const char *dir, const char *sub, const char *id)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s.msg", dir, sub, id);
    return stat(p, &sb) == 0;
}

static struct rw_outbox *open_ob(const char *dir, const struct rw_outbox_limits *lim)
{
    char err[512] = "";
    struct rw_outbox_limits l;
    memset(&l, 0, sizeof l);
    if (lim)
        l = *lim;
    if (!l.now_ms)
        l.now_ms = fake_clock;
    struct rw_outbox *ob = rw_outbox_open(dir, &l, err, sizeof err);
    if (!ob)
        fprintf(stderr, "open %s: %s\n", dir, err);
    CHECK(ob != NULL);
    return ob;
}

static int put(struct rw_outbox *ob, const char *recv, const char *body, char id[RW_OUTBOX_ID_MAX])
{
    char err[512] = "";
    int rc = rw_outbox_put(ob, recv, body, strlen(body), NULL, id, err, sizeof err);
    if (rc)
        fprintf(stderr, "put: %s\n", err);
    CHECK_INT(rc, 0);
    return rc;
}

static struct rw_outbox_stats stats(const struct rw_outbox *ob)
{
    struct rw_outbox_stats s;
    rw_outbox_stats(ob, &s);
    return s;
}

/* All of dead.jsonl, parsed; the caller decrefs. */
static json_t *dead_lines(const char *dir)
{
    char p[512], line[1 << 16];
    snprintf(p, sizeof p, "%s/dead.jsonl", dir);
    json_t *arr = json_array();
    FILE *f = fopen(p, "r");
    if (!f)
        return arr;
    while (fgets(line, sizeof line, f)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        CHECK(j != NULL);
        if (j)
            json_array_append_new(arr, j);
    }
    fclose(f);
    return arr;
}

struct listing {
    int n;
    char id[64][RW_OUTBOX_ID_MAX];
    int state[64];
    int retry[64];
    unsigned attempts[64];
    char body[64][64];
    char reason[64][RW_OUTBOX_REASON_MAX];
};

static int collect(const struct rw_outbox_entry *e, void *arg)
{
    struct listing *l = arg;
    if (l->n >= 64)
        return 1;
    snprintf(l->id[l->n], RW_OUTBOX_ID_MAX, "%s", e->rec.id);
    l->state[l->n] = (int)e->state;
    l->retry[l->n] = e->retry_requested;
    l->attempts[l->n] = e->rec.attempts;
    snprintf(l->body[l->n], 64, "%s", e->rec.body ? e->rec.body : "");
    snprintf(l->reason[l->n], RW_OUTBOX_REASON_MAX, "%s", e->rec.dead_reason);
    l->n++;
    return 0;
}

static int list_dir(const char *dir, struct listing *l)
{
    char err[512] = "";
    memset(l, 0, sizeof *l);
    int n = rw_outbox_list(dir, collect, l, err, sizeof err);
    if (n < 0)
        fprintf(stderr, "list: %s\n", err);
    CHECK(n >= 0);
    return n;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_round_trip(void)
{
    char dir[256], err[512], a[RW_OUTBOX_ID_MAX], b[RW_OUTBOX_ID_MAX], c[RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct rw_outbox *ob = open_ob(dir, NULL);
    if (!ob)
        return;
    CHECK_INT(rw_outbox_next_time(ob), INT64_MAX);
    put(ob, "ops-slack", "{\"n\":1}", a);
    fake_now += 1;
    put(ob, "hook", "{\"n\":2}", b);
    /* A binary body with NUL bytes survives byte for byte. */
    const char bin[] = {'x', 0, '\n', (char)0xff, 'y'};
    CHECK_INT(rw_outbox_put(ob, "hook", bin, sizeof bin, "given-id_1.x", c, err, sizeof err), 0);
    CHECK_STR(c, "given-id_1.x");
    CHECK(strncmp(a, "msg_", 4) == 0);
    CHECK(strlen(a) == 32);
    CHECK(strcmp(a, b) != 0);
    CHECK(file_exists(dir, "msg", a));
    CHECK_INT(count_files(dir, "msg", ".tmp"), 0);

    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.depth, 3);
    CHECK_INT(s.put, 3);
    CHECK(s.bytes > 3 * 100);
    CHECK_INT(rw_outbox_next_time(ob), fake_now - 1);

    /* Bad input: clear errors, nothing written. */
    CHECK_INT(rw_outbox_put(ob, "", "x", 1, NULL, NULL, err, sizeof err), -EINVAL);
    CHECK_INT(rw_outbox_put(ob, "a\nb", "x", 1, NULL, NULL, err, sizeof err), -EINVAL);
    CHECK_INT(rw_outbox_put(ob, "hook", "x", 1, "../etc", NULL, err, sizeof err), -EINVAL);
    CHECK_INT(rw_outbox_put(ob, "hook", "x", 1, ".hidden", NULL, err, sizeof err), -EINVAL);
    CHECK_INT(rw_outbox_put(ob, "hook", "x", 1, "given-id_1.x", NULL, err, sizeof err), -EEXIST);
    CHECK(strstr(err, "given-id_1.x") != NULL);
    CHECK_INT(stats(ob).depth, 3);

    /* Due order: by next time, then arrival. */
    struct rw_outbox_rec r;
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, a);
    CHECK_STR(r.receiver, "ops-slack");
    CHECK_STR(r.body, "{\"n\":1}");
    CHECK_INT(r.body_len, 7);
    CHECK_INT(r.attempts, 0);
    CHECK_INT(r.created_ms, fake_now - 1);
    rw_outbox_rec_clear(&r);
    rw_outbox_rec_clear(&r); /* safe twice */
    CHECK_INT(stats(ob).inflight, 1);

    /* In flight: not handed out again. Fail it, retryable, 1 s later. */
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, b);
    rw_outbox_rec_clear(&r);
    CHECK_INT(
        rw_outbox_fail(ob, a, 1, fake_now + 1000, "HTTP 503\nService Unavailable", err, sizeof err),
        0);
    CHECK_INT(stats(ob).inflight, 1);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, c);
    CHECK_INT(r.body_len, sizeof bin);
    CHECK(r.body && memcmp(r.body, bin, sizeof bin) == 0);
    rw_outbox_rec_clear(&r);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 0); /* a waits 1 s */
    CHECK_INT(rw_outbox_next_time(ob), fake_now + 1000);

    fake_now += 1000;
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, a);
    CHECK_INT(r.attempts, 1);
    CHECK_STR(r.last_error, "HTTP 503 Service Unavailable"); /* one line */
    CHECK_STR(r.body, "{\"n\":1}");
    rw_outbox_rec_clear(&r);

    /* Given back unattempted (receiver busy): due again later, attempts unchanged. */
    CHECK_INT(rw_outbox_release(ob, a, fake_now + 50), 0);
    CHECK_INT(stats(ob).inflight, 2);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 0);
    CHECK_INT(rw_outbox_next_due(ob, fake_now + 50, &r, err, sizeof err), 1);
    CHECK_STR(r.id, a);
    CHECK_INT(r.attempts, 1);
    rw_outbox_rec_clear(&r);
    CHECK_INT(rw_outbox_release(ob, "nope", fake_now), -ENOENT);

    CHECK_INT(rw_outbox_done(ob, a, err, sizeof err), 0);
    CHECK_INT(rw_outbox_done(ob, b, err, sizeof err), 0);
    CHECK_INT(rw_outbox_done(ob, a, err, sizeof err), -ENOENT);
    CHECK(strstr(err, a) != NULL);
    CHECK(!file_exists(dir, "msg", a));
    CHECK(!file_exists(dir, "msg", b));
    CHECK_INT(rw_outbox_fail(ob, "nope", 1, fake_now, "x", err, sizeof err), -ENOENT);
    s = stats(ob);
    CHECK_INT(s.depth, 1);
    CHECK_INT(s.done, 2);
    CHECK_INT(s.inflight, 1);
    CHECK_INT(count_files(dir, "msg", ".msg"), 1);

    /* Body size limit. */
    rw_outbox_close(&ob);
    CHECK(ob == NULL);
    rw_outbox_close(&ob); /* safe on NULL */
    struct rw_outbox_limits lim = {.max_body = 100};
    ob = open_ob(dir, &lim);
    if (!ob)
        return;
    char big[101];
    memset(big, 'x', sizeof big);
    CHECK_INT(rw_outbox_put(ob, "hook", big, sizeof big, NULL, NULL, err, sizeof err), -EMSGSIZE);
    CHECK_INT(rw_outbox_put(ob, "hook", big, 100, NULL, NULL, err, sizeof err), 0);
    rw_outbox_close(&ob);
}

static void test_restart(void)
{
    char dir[256], err[512], id[6][RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct rw_outbox *ob = open_ob(dir, NULL);
    if (!ob)
        return;
    for (int i = 0; i < 6; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        put(ob, i % 2 ? "slack" : "hook", body, id[i]);
        fake_now++;
    }
    struct rw_outbox_rec r;
    /* id0: failed twice (next in 5 s); id1: failed once (next in 2 s); id2: in flight at
     * "crash"; id3: done. */
    for (int k = 0; k < 3; k++) {
        CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
        rw_outbox_rec_clear(&r);
    }
    CHECK_INT(rw_outbox_fail(ob, id[0], 1, fake_now + 100, "timeout", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, id[0], 1, fake_now + 5000, "timeout", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, id[1], 1, fake_now + 2000, "HTTP 500", err, sizeof err), 0);
    CHECK_INT(rw_outbox_done(ob, id[3], err, sizeof err), 0);

    /* A second daemon on the same dir is refused while the first holds it. */
    struct rw_outbox_limits lim = {.now_ms = fake_clock};
    struct rw_outbox *ob2 = rw_outbox_open(dir, &lim, err, sizeof err);
    CHECK(ob2 == NULL);
    CHECK(strstr(err, "in use") != NULL);
    rw_outbox_close(&ob2);

    rw_outbox_close(&ob); /* id2 was in flight: stays pending */
    ob = open_ob(dir, NULL);
    if (!ob)
        return;
    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.depth, 5);
    CHECK_INT(s.inflight, 0);
    CHECK_INT(s.quarantined, 0);
    /* Due now: id2, id4, id5 (arrival order), then id1 at +2 s, id0 at +5 s. */
    const int order[] = {2, 4, 5};
    for (int k = 0; k < 3; k++) {
        CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
        CHECK_STR(r.id, id[order[k]]);
        CHECK_INT(r.attempts, 0);
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", order[k]);
        CHECK_STR(r.body, body);
        CHECK_STR(r.receiver, order[k] % 2 ? "slack" : "hook");
        rw_outbox_rec_clear(&r);
    }
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 0);
    CHECK_INT(rw_outbox_next_time(ob), fake_now + 2000);
    CHECK_INT(rw_outbox_next_due(ob, fake_now + 2000, &r, err, sizeof err), 1);
    CHECK_STR(r.id, id[1]);
    CHECK_INT(r.attempts, 1);
    CHECK_STR(r.last_error, "HTTP 500");
    rw_outbox_rec_clear(&r);
    CHECK_INT(rw_outbox_next_due(ob, fake_now + 5000, &r, err, sizeof err), 1);
    CHECK_STR(r.id, id[0]);
    CHECK_INT(r.attempts, 2);
    CHECK_INT(r.next_ms, fake_now + 5000);
    rw_outbox_rec_clear(&r);
    rw_outbox_close(&ob);
}

static void corrupt_file(const char *dir, const char *id, int how)
{
    char p[512];
    snprintf(p, sizeof p, "%s/msg/%s.msg", dir, id);
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
    if (how == 0) { /* torn: cut in the middle of the body */
        CHECK(truncate(p, sb.st_size / 2 + 20) == 0);
    } else { /* bit rot in the body */
        int fd = open(p, O_RDWR);
        CHECK(fd >= 0);
        char c;
        CHECK(pread(fd, &c, 1, sb.st_size - 20) == 1);
        c ^= 0x20;
        CHECK(pwrite(fd, &c, 1, sb.st_size - 20) == 1);
        close(fd);
    }
}

static void test_corrupt(void)
{
    char dir[256], err[512], id[5][RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct rw_outbox *ob = open_ob(dir, NULL);
    if (!ob)
        return;
    for (int i = 0; i < 5; i++)
        put(ob, "hook", "{\"alerts\":[{\"status\":\"firing\",\"labels\":{}}]}", id[i]);
    rw_outbox_close(&ob);

    corrupt_file(dir, id[1], 0);
    corrupt_file(dir, id[3], 1);
    char p[512];
    /* Leftovers of a crash and files that are not records. */
    snprintf(p, sizeof p, "%s/msg/%s.tmp", dir, id[0]);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("RWOUTBOX 1\nid half", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/msg/bad name!.msg", dir);
    f = fopen(p, "w");
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/msg/README", dir);
    f = fopen(p, "w");
    if (f)
        fclose(f);

    ob = open_ob(dir, NULL);
    if (!ob)
        return;
    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.depth, 3);
    CHECK_INT(s.quarantined, 3);
    CHECK_INT(count_files(dir, "quarantine", ""), 3);
    CHECK_INT(count_files(dir, "quarantine", ".truncated"), 1);
    CHECK_INT(count_files(dir, "quarantine", ".checksum"), 1);
    CHECK_INT(count_files(dir, "quarantine", ".misnamed"), 1);
    CHECK_INT(count_files(dir, "msg", ".tmp"), 0);
    CHECK_INT(count_files(dir, "msg", "README"), 1); /* not ours: left alone */
    struct rw_outbox_rec r;
    const int alive[] = {0, 2, 4};
    for (int k = 0; k < 3; k++) {
        CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
        CHECK_STR(r.id, id[alive[k]]);
        rw_outbox_rec_clear(&r);
        CHECK_INT(rw_outbox_fail(ob, id[alive[k]], 1, fake_now + 10, "x", err, sizeof err), 0);
    }

    /* Corruption found while running: a clear error, the others go on. */
    corrupt_file(dir, id[0], 1);
    CHECK_INT(rw_outbox_next_due(ob, fake_now + 10, &r, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, id[0]) != NULL);
    CHECK(strstr(err, "checksum") != NULL);
    CHECK(strstr(err, "quarantine") != NULL);
    CHECK(r.body == NULL);
    CHECK_INT(rw_outbox_next_due(ob, fake_now + 10, &r, err, sizeof err), 1);
    CHECK_STR(r.id, id[2]);
    rw_outbox_rec_clear(&r);
    /* A torn file met by fail(): quarantined too. */
    corrupt_file(dir, id[4], 0);
    CHECK_INT(rw_outbox_fail(ob, id[4], 1, fake_now + 20, "x", err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "truncated") != NULL);
    s = stats(ob);
    CHECK_INT(s.depth, 1);
    CHECK_INT(s.quarantined, 5); /* 3 at open, 2 since */
    CHECK_INT(count_files(dir, "quarantine", ""), 5);
    rw_outbox_close(&ob);
}

static void test_caps(void)
{
    char dir[256], err[512], id[12][RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct rw_outbox_limits lim = {.max_count = 5};
    struct rw_outbox *ob = open_ob(dir, &lim);
    if (!ob)
        return;
    struct rw_outbox_rec r;
    for (int i = 0; i < 8; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        put(ob, "hook", body, id[i]);
        fake_now++;
        if (i == 0) { /* the oldest is in flight: it is not the one dropped */
            CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
            rw_outbox_rec_clear(&r);
        }
    }
    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.depth, 5);
    CHECK_INT(s.dropped, 3);
    CHECK_INT(s.dead, 0);
    CHECK(file_exists(dir, "msg", id[0]));
    for (int i = 1; i <= 3; i++) {
        CHECK(!file_exists(dir, "msg", id[i]));
        CHECK(file_exists(dir, "dead", id[i]));
    }
    json_t *lines = dead_lines(dir);
    CHECK_INT(json_array_size(lines), 3);
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        CHECK_STR(json_string_value(json_object_get(l, "reason")), "outbox full");
        CHECK_STR(json_string_value(json_object_get(l, "id")), id[i + 1]);
        CHECK_STR(json_string_value(json_object_get(l, "receiver")), "hook");
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", (int)i + 1);
        CHECK_STR(json_string_value(json_object_get(l, "body")), body);
        CHECK(json_integer_value(json_object_get(l, "dead_ms")) > 0);
    }
    json_decref(lines);
    rw_outbox_close(&ob);

    /* Byte cap, and memory: depth and the index stay bounded however much arrives. */
    new_dir(dir, sizeof dir);
    struct rw_outbox_limits lim2 = {.max_count = 50, .max_bytes = 20000, .max_dead = 20};
    ob = open_ob(dir, &lim2);
    if (!ob)
        return;
    char body[1000];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    uint64_t idx_bytes_at_cap = 0;
    for (int i = 0; i < 400; i++) {
        put(ob, "down-for-hours", body, NULL);
        s = stats(ob);
        CHECK(s.bytes <= 20000);
        if (i == 40)
            idx_bytes_at_cap = s.index_bytes;
    }
    s = stats(ob);
    CHECK(s.depth >= 15 && s.depth <= 20);
    CHECK_INT(s.dropped, 400 - s.depth);
    CHECK_INT(s.index_bytes, idx_bytes_at_cap);
    CHECK(s.index_bytes < 64 * 1024);
    CHECK(count_files(dir, "dead", ".msg") <= 20); /* dead/ pruned to max_dead */
    lines = dead_lines(dir);
    CHECK_INT(json_array_size(lines), 400 - s.depth); /* but every drop is logged */
    json_decref(lines);
    printf("index: %llu bytes for depth %llu (capacity-rounded)\n",
           (unsigned long long)s.index_bytes, (unsigned long long)s.depth);

    /* A record alone bigger than max_bytes is refused, nothing dropped for it. */
    char huge[30000];
    memset(huge, 'h', sizeof huge);
    uint64_t before = s.dropped;
    CHECK_INT(rw_outbox_put(ob, "hook", huge, sizeof huge, NULL, NULL, err, sizeof err), -EMSGSIZE);
    CHECK_INT(stats(ob).dropped, before);
    rw_outbox_close(&ob);

    /* Lowered caps apply at open. */
    struct rw_outbox_limits lim3 = {.max_count = 4};
    ob = open_ob(dir, &lim3);
    if (!ob)
        return;
    s = stats(ob);
    CHECK_INT(s.depth, 4);
    CHECK(s.dropped > 0);
    rw_outbox_close(&ob);
}

static void test_dead_letter(void)
{
    char dir[256], err[512], a[RW_OUTBOX_ID_MAX], b[RW_OUTBOX_ID_MAX], c[RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct rw_outbox_limits lim = {.max_age_ms = 60000};
    struct rw_outbox *ob = open_ob(dir, &lim);
    if (!ob)
        return;
    put(ob, "hook", "{\"rejected\":true}", a);
    put(ob, "hook", "{\"old\":true}", b);
    const char bin[] = {'\xff', '\xfe', 0, 'z'};
    CHECK_INT(rw_outbox_put(ob, "hook", bin, sizeof bin, NULL, c, err, sizeof err), 0);
    int64_t t0 = fake_now;

    /* 4xx other than 429: dead at once. */
    CHECK_INT(rw_outbox_fail(ob, a, 0, t0 + 1000, "HTTP 400 bad payload", err, sizeof err), 1);
    CHECK(!file_exists(dir, "msg", a));
    CHECK(file_exists(dir, "dead", a));
    /* Retryable, within max age: kept; beyond: dead. */
    CHECK_INT(rw_outbox_fail(ob, b, 1, t0 + 30000, "HTTP 503", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, b, 1, t0 + 60000, "HTTP 503", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, b, 1, t0 + 60001, "HTTP 429", err, sizeof err), 1);
    CHECK_INT(rw_outbox_fail(ob, c, 0, t0, "HTTP 404", err, sizeof err), 1);
    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.dead, 3);
    CHECK_INT(s.dropped, 0);
    CHECK_INT(s.depth, 0);
    CHECK_INT(s.failed, 5);

    json_t *lines = dead_lines(dir);
    CHECK_INT(json_array_size(lines), 3);
    json_t *l = json_array_get(lines, 0);
    CHECK_STR(json_string_value(json_object_get(l, "id")), a);
    CHECK_STR(json_string_value(json_object_get(l, "reason")), "rejected");
    CHECK_STR(json_string_value(json_object_get(l, "last_error")), "HTTP 400 bad payload");
    CHECK_INT(json_integer_value(json_object_get(l, "attempts")), 1);
    CHECK_INT(json_integer_value(json_object_get(l, "created_ms")), t0);
    CHECK_STR(json_string_value(json_object_get(l, "body")), "{\"rejected\":true}");
    CHECK(json_string_value(json_object_get(l, "time")) != NULL);
    l = json_array_get(lines, 1);
    CHECK_STR(json_string_value(json_object_get(l, "id")), b);
    CHECK_STR(json_string_value(json_object_get(l, "reason")), "max age");
    CHECK_INT(json_integer_value(json_object_get(l, "attempts")), 3);
    CHECK_STR(json_string_value(json_object_get(l, "last_error")), "HTTP 429");
    l = json_array_get(lines, 2);
    CHECK(json_object_get(l, "body") == NULL);
    CHECK_STR(json_string_value(json_object_get(l, "body_base64")), "//4Aeg==");
    json_decref(lines);
    rw_outbox_close(&ob);

    /* A crash between the rewrite (reason recorded) and the move: open finishes the move. */
    ob = open_ob(dir, &lim);
    if (!ob)
        return;
    char d[RW_OUTBOX_ID_MAX], src[512], dst[512];
    put(ob, "hook", "{}", d);
    rw_outbox_close(&ob);
    snprintf(src, sizeof src, "%s/dead/%s.msg", dir, a);
    snprintf(dst, sizeof dst, "%s/msg/%s.msg", dir, a);
    CHECK(rename(src, dst) == 0); /* a dead record back in msg/ = the interrupted state */
    ob = open_ob(dir, &lim);
    if (!ob)
        return;
    CHECK_INT(stats(ob).depth, 1);
    CHECK(file_exists(dir, "dead", a));
    CHECK(!file_exists(dir, "msg", a));
    rw_outbox_close(&ob);

    /* A torn last line in dead.jsonl (crash mid-append) is ended, later lines parse. */
    char p[512];
    snprintf(p, sizeof p, "%s/dead.jsonl", dir);
    FILE *f = fopen(p, "a");
    CHECK(f != NULL);
    if (f) {
        fputs("{\"time\":\"2026-", f);
        fclose(f);
    }
    ob = open_ob(dir, &lim);
    if (!ob)
        return;
    CHECK_INT(rw_outbox_fail(ob, d, 0, fake_now, "HTTP 410", err, sizeof err), 1);
    rw_outbox_close(&ob);
    f = fopen(p, "r");
    char line[4096], last[4096] = "";
    int nl = 0;
    while (f && fgets(line, sizeof line, f)) {
        nl++;
        snprintf(last, sizeof last, "%s", line);
    }
    if (f)
        fclose(f);
    CHECK_INT(nl, 5);
    json_t *j = json_loads(last, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "id")), d);
    json_decref(j);
}

static void test_list_retry(void)
{
    char dir[256], err[512], a[RW_OUTBOX_ID_MAX], b[RW_OUTBOX_ID_MAX], c[RW_OUTBOX_ID_MAX];
    new_dir(dir, sizeof dir);
    struct listing l;
    CHECK_INT(rw_outbox_list(dir, collect, &l, err, sizeof err), -ENOENT); /* no outbox yet */
    CHECK(strstr(err, dir) != NULL);
    struct rw_outbox *ob = open_ob(dir, NULL);
    if (!ob)
        return;
    put(ob, "hook", "body-a", a);
    put(ob, "slack", "body-b", b);
    put(ob, "hook", "body-c", c);
    int64_t t0 = fake_now;
    CHECK_INT(rw_outbox_fail(ob, a, 1, t0 + 3600000, "HTTP 502", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, c, 0, t0, "HTTP 401", err, sizeof err), 1);

    /* The CLI side: files only, while the daemon holds the outbox. */
    CHECK_INT(list_dir(dir, &l), 3);
    CHECK_STR(l.id[0], b); /* pending, due now */
    CHECK_INT(l.state[0], RW_OUTBOX_PENDING);
    CHECK_STR(l.body[0], "body-b");
    CHECK_STR(l.id[1], a); /* pending, in an hour */
    CHECK_INT(l.attempts[1], 1);
    CHECK_INT(l.retry[1], 0);
    CHECK_STR(l.id[2], c);
    CHECK_INT(l.state[2], RW_OUTBOX_DEAD);
    CHECK_STR(l.reason[2], "rejected");
    CHECK_STR(rw_outbox_state_name(RW_OUTBOX_DEAD), "dead");

    CHECK_INT(rw_outbox_retry(dir, "msg_unknown", err, sizeof err), -ENOENT);
    CHECK(strstr(err, "msg_unknown") != NULL);
    CHECK_INT(rw_outbox_retry(dir, "../x", err, sizeof err), -EINVAL);

    /* Delayed -> due now via a marker the daemon applies. */
    CHECK_INT(rw_outbox_retry(dir, a, err, sizeof err), 1);
    list_dir(dir, &l);
    CHECK_STR(l.id[1], a);
    CHECK_INT(l.retry[1], 1);
    struct rw_outbox_rec r;
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, b);
    rw_outbox_rec_clear(&r);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 0);
    CHECK_INT(rw_outbox_poll(ob, err, sizeof err), 1);
    CHECK_INT(count_files(dir, "retry", ""), 0);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, a);
    CHECK_INT(r.attempts, 1);
    rw_outbox_rec_clear(&r);

    /* Dead -> queued (incoming/) -> adopted by the daemon: same id, attempts kept,
     * age counted from now. */
    fake_now += 5000;
    CHECK_INT(rw_outbox_retry(dir, c, err, sizeof err), 1);
    CHECK(!file_exists(dir, "dead", c));
    list_dir(dir, &l);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.id[2], c);
    CHECK_INT(l.state[2], RW_OUTBOX_QUEUED);
    CHECK_INT(rw_outbox_poll(ob, err, sizeof err), 1);
    CHECK_INT(stats(ob).depth, 3);
    CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
    CHECK_STR(r.id, c);
    CHECK_INT(r.attempts, 1);
    CHECK_STR(r.body, "body-c");
    CHECK_INT(r.enqueued_ms, fake_now);
    CHECK_INT(r.created_ms, t0);
    CHECK_STR(r.dead_reason, "");
    rw_outbox_rec_clear(&r);
    CHECK_INT(rw_outbox_fail(ob, c, 0, fake_now, "HTTP 401", err, sizeof err), 1);
    CHECK_INT(rw_outbox_fail(ob, a, 1, fake_now + 3600000, "HTTP 502", err, sizeof err), 0);
    CHECK_INT(rw_outbox_fail(ob, b, 1, fake_now + 3600000, "HTTP 502", err, sizeof err), 0);
    rw_outbox_close(&ob);

    /* retry all with the daemon stopped: applied at the next open. */
    CHECK_INT(rw_outbox_retry(dir, NULL, err, sizeof err), 3);
    list_dir(dir, &l);
    CHECK_INT(l.n, 3);
    CHECK_INT(l.retry[0] + l.retry[1], 2);
    CHECK_INT(l.state[2], RW_OUTBOX_QUEUED);
    ob = open_ob(dir, NULL);
    if (!ob)
        return;
    CHECK_INT(stats(ob).depth, 3);
    for (int k = 0; k < 3; k++) {
        CHECK_INT(rw_outbox_next_due(ob, fake_now, &r, err, sizeof err), 1);
        rw_outbox_rec_clear(&r);
    }
    CHECK_INT(count_files(dir, "retry", ""), 0);
    CHECK_INT(count_files(dir, "incoming", ""), 0);
    CHECK_INT(count_files(dir, "dead", ""), 0);
    rw_outbox_close(&ob);

    /* A corrupt file shows in the listing instead of stopping it. */
    corrupt_file(dir, a, 1);
    list_dir(dir, &l);
    CHECK_INT(l.n, 3);
    int corrupt = 0;
    for (int i = 0; i < l.n; i++)
        if (l.state[i] == RW_OUTBOX_CORRUPT) {
            corrupt++;
            CHECK_STR(l.id[i], a);
        }
    CHECK_INT(corrupt, 1);
}

/* The index (hash with backward-shift deletion, heap, arrival list) under
 * removals in a scrambled order: every id stays findable until removed. */
static void test_index_churn(void)
{
    enum { N = 200 };
    char dir[256], err[512];
    static char id[N][RW_OUTBOX_ID_MAX];
    static int gone[N];
    new_dir(dir, sizeof dir);
    struct rw_outbox *ob = open_ob(dir, NULL);
    if (!ob)
        return;
    for (int i = 0; i < N; i++) {
        char body[16];
        snprintf(body, sizeof body, "%d", i);
        put(ob, "hook", body, id[i]);
    }
    unsigned seed = 7;
    for (int k = 0; k < N / 2; k++) {
        int i = (int)(rand_r(&seed) % N);
        CHECK_INT(rw_outbox_done(ob, id[i], err, sizeof err), gone[i] ? -ENOENT : 0);
        gone[i] = 1;
    }
    int left = 0;
    for (int i = 0; i < N; i++) {
        if (gone[i])
            continue;
        left++;
        /* Due order must follow the new times: reverse of arrival. */
        CHECK_INT(rw_outbox_fail(ob, id[i], 1, fake_now + 1000 + N - i, "x", err, sizeof err), 0);
    }
    CHECK_INT(stats(ob).depth, left);
    struct rw_outbox_rec r;
    int last = N, got = 0;
    while (rw_outbox_next_due(ob, INT64_MAX, &r, err, sizeof err) == 1) {
        int i = atoi(r.body);
        CHECK(i < last && !gone[i]);
        CHECK_STR(r.id, id[i]);
        last = i;
        got++;
        rw_outbox_rec_clear(&r);
    }
    CHECK_INT(got, left);
    rw_outbox_close(&ob);
}

static void test_backoff(void)
{
    CHECK_INT(rw_outbox_backoff(1, 1000, 60000, 0.5), 1000);
    CHECK_INT(rw_outbox_backoff(0, 1000, 60000, 0.5), 1000);
    CHECK_INT(rw_outbox_backoff(2, 1000, 60000, 0.5), 2000);
    CHECK_INT(rw_outbox_backoff(3, 1000, 60000, 0.5), 4000);
    CHECK_INT(rw_outbox_backoff(3, 1000, 60000, 0.0), 3000);   /* -25% */
    CHECK_INT(rw_outbox_backoff(3, 1000, 60000, 0.99), 4980);  /* +24.5% */
    CHECK_INT(rw_outbox_backoff(7, 1000, 60000, 0.5), 60000);  /* 64 s capped */
    CHECK_INT(rw_outbox_backoff(7, 1000, 60000, 0.0), 45000);  /* jitter below the cap */
    CHECK_INT(rw_outbox_backoff(7, 1000, 60000, 0.99), 60000); /* never above */
    CHECK_INT(rw_outbox_backoff(4000000000u, 1000, 60000, 0.3), 60000 * 0.9);
    CHECK_INT(rw_outbox_backoff(2, 1000, 60000, -1.0), 2000); /* bad rand: middle */
    CHECK_INT(rw_outbox_backoff(2, 0, 60000, 0.5), 0);
    /* Spread: 1000 draws for attempts 4 stay within [6000, 10000] and cover it. */
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t d = rw_outbox_backoff(4, 1000, 60000, i / 1000.0);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK_INT(lo, 6000);
    CHECK(hi >= 9980 && hi <= 10000);
}

/* ---- crash test ------------------------------------------------------------------- */

enum { CRASH_N = 120, CRASH_CAP = 60 };

/* Child: put CRASH_N notifications, mixing in-flight, failures, dead letters and
 * done; write one line to the pipe after each call returns ("P id seq", "F id",
 * "D id", "X id"), and an intent line ("d id", "f id", "x id") before each, so the parent
 * knows which one notification the kill may have caught mid-call. Never returns. */
static void crash_child(const char *dir, int wfd)
{
    char err[512], line[160], id[RW_OUTBOX_ID_MAX];
    struct rw_outbox_limits lim = {.max_count = CRASH_CAP};
    struct rw_outbox *ob = rw_outbox_open(dir, &lim, err, sizeof err);
    if (!ob)
        _exit(3);
    for (int i = 0; i < CRASH_N; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"seq\":%d}", i);
        if (rw_outbox_put(ob, "hook", body, (size_t)n, NULL, id, err, sizeof err) != 0)
            _exit(4);
        n = snprintf(line, sizeof line, "P %s %d\n", id, i);
        if (write(wfd, line, (size_t)n) != n)
            _exit(5);
        struct rw_outbox_rec r;
        if (i % 3 == 0 && rw_outbox_next_due(ob, rw_wall_ms(), &r, err, sizeof err) == 1) {
            char op = i % 7 == 0 ? 'X' : i % 2 == 0 ? 'D' : 'F';
            n = snprintf(line, sizeof line, "%c %s\n", op - 'A' + 'a', r.id);
            if (write(wfd, line, (size_t)n) != n)
                _exit(5);
            int rc = op == 'X' ? rw_outbox_fail(ob, r.id, 0, 0, "HTTP 400", err, sizeof err)
                     : op == 'D'
                         ? rw_outbox_done(ob, r.id, err, sizeof err)
                         : rw_outbox_fail(ob, r.id, 1, rw_wall_ms(), "HTTP 503", err, sizeof err);
            if (rc < 0)
                _exit(6);
            n = snprintf(line, sizeof line, "%c %s\n", op, r.id);
            rw_outbox_rec_clear(&r);
            if (write(wfd, line, (size_t)n) != n)
                _exit(5);
        }
    }
    _exit(0);
}

struct acked {
    char id[RW_OUTBOX_ID_MAX];
    int seq;
    int fails, done, dead;
    char open_op; /* an intent without its result: the call the kill interrupted */
    int seen_pending, seen_dead, seen_other;
    unsigned attempts;
    char body[64];
};

static struct acked *find_acked(struct acked *v, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

struct crash_scan {
    struct acked *v;
    int n;
    int unacked; /* files of puts that returned but were not acknowledged yet */
};

static int crash_collect(const struct rw_outbox_entry *e, void *arg)
{
    struct crash_scan *cs = arg;
    struct acked *a = find_acked(cs->v, cs->n, e->rec.id);
    if (!a) {
        cs->unacked++;
        return 0;
    }
    if (e->state == RW_OUTBOX_PENDING) {
        a->seen_pending++;
        a->attempts = e->rec.attempts;
        snprintf(a->body, sizeof a->body, "%s", e->rec.body ? e->rec.body : "");
    } else if (e->state == RW_OUTBOX_DEAD) {
        a->seen_dead++;
    } else {
        a->seen_other++;
    }
    return 0;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* One round; kill_after_us < 0 lets the child finish. Returns the child's run
 * time in us, or -1. */
static long crash_round(int round, long kill_after_us, int *killed_early)
{
    char dir[256], err[512];
    new_dir(dir, sizeof dir);
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    int64_t t0 = rw_mono_ms();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        crash_child(dir, pfd[1]);
    }
    close(pfd[1]);
    CHECK(pid > 0);
    if (pid < 0)
        return -1;
    int status = 0;
    if (kill_after_us >= 0) {
        sleep_us(kill_after_us);
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    long ran_us = (long)(rw_mono_ms() - t0) * 1000;
    *killed_early = WIFSIGNALED(status);
    if (!WIFSIGNALED(status))
        CHECK_INT(WEXITSTATUS(status), 0);

    /* Everything the child acknowledged is in the pipe (well under its buffer). */
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(pfd[0]);
    buf[len] = '\0';
    static struct acked v[CRASH_N];
    int n = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char op, id[RW_OUTBOX_ID_MAX];
        int seq = -1;
        if (sscanf(l, "%c %63s %d", &op, id, &seq) < 2)
            continue; /* the last line may be cut by the kill */
        struct acked *a = find_acked(v, n, id);
        if (op == 'P' && !a && n < CRASH_N) {
            memset(&v[n], 0, sizeof v[n]);
            snprintf(v[n].id, sizeof v[n].id, "%s", id);
            v[n].seq = seq;
            n++;
        } else if (a && (op == 'd' || op == 'f' || op == 'x')) {
            a->open_op = op;
        } else if (a && op == 'F') {
            a->fails++, a->open_op = 0;
        } else if (a && op == 'D') {
            a->done = 1, a->open_op = 0;
        } else if (a && op == 'X') {
            a->dead = 1, a->open_op = 0;
        }
    }

    /* Reopen: the daemon after a restart. */
    struct rw_outbox_limits lim = {.max_count = CRASH_CAP};
    struct rw_outbox *ob = rw_outbox_open(dir, &lim, err, sizeof err);
    if (!ob)
        fprintf(stderr, "round %d: reopen failed: %s\n", round, err);
    CHECK(ob != NULL);
    if (!ob)
        return -1;
    struct rw_outbox_stats s = stats(ob);
    CHECK_INT(s.quarantined, 0); /* kill -9 never leaves a torn file under a final name */

    struct crash_scan cs = {v, n, 0};
    CHECK(rw_outbox_list(dir, crash_collect, &cs, err, sizeof err) >= 0);
    int lost = 0, dup = 0, open_ops = 0;
    for (int i = 0; i < n; i++) {
        struct acked *a = &v[i];
        int places = a->seen_pending + a->seen_dead + a->seen_other;
        open_ops += a->open_op != 0;
        if (a->open_op == 'd' && places == 0)
            continue; /* a done() the kill caught after its unlink: delivered */
        if (a->done) {
            if (places != 0)
                dup++;
            continue;
        }
        if (places == 0) {
            lost++;
            fprintf(stderr, "round %d: acknowledged %s (seq %d) lost\n", round, a->id, a->seq);
        } else if (places > 1 || a->seen_other) {
            dup++;
            fprintf(stderr, "round %d: %s found %d times\n", round, a->id, places);
        }
        if (a->dead)
            CHECK_INT(a->seen_dead, 1);
        if (a->seen_pending) {
            char want[64];
            snprintf(want, sizeof want, "{\"seq\":%d}", a->seq);
            CHECK_STR(a->body, want);
            CHECK(a->attempts >= (unsigned)a->fails && a->attempts <= (unsigned)a->fails + 1);
        }
    }
    CHECK_INT(lost, 0);
    CHECK_INT(dup, 0);
    CHECK(open_ops <= 1);
    CHECK(cs.unacked <= 1); /* at most the put that returned as the kill came */

    /* The index holds each pending notification once: drain it. */
    char(*seen)[RW_OUTBOX_ID_MAX] = calloc(s.depth + 1, RW_OUTBOX_ID_MAX);
    uint64_t got = 0;
    struct rw_outbox_rec rec;
    while (seen && rw_outbox_next_due(ob, INT64_MAX, &rec, err, sizeof err) == 1) {
        for (uint64_t k = 0; k < got; k++)
            CHECK(strcmp(seen[k], rec.id) != 0);
        if (got < s.depth)
            snprintf(seen[got], RW_OUTBOX_ID_MAX, "%s", rec.id);
        got++;
        rw_outbox_rec_clear(&rec);
    }
    free(seen);
    CHECK_INT(got, s.depth);
    CHECK(s.depth <= CRASH_CAP);
    CHECK_INT(count_files(dir, "msg", ".tmp"), 0);
    rw_outbox_close(&ob);
    rm_tree(dir);
    return ran_us;
}

static void test_crash(void)
{
    int rounds = 50, killed = 0, early;
    const char *env = getenv("RW_OUTBOX_CRASH_ROUNDS");
    if (env && atoi(env) > 0)
        rounds = atoi(env);
    /* Calibrate: how long does a full run take on this disk? */
    long full_us = crash_round(0, -1, &early);
    CHECK(full_us > 0);
    if (full_us <= 0)
        return;
    /* A shared disk may make the calibration run slow and later runs fast,
     * so that kills come after the child is done: a run that finished
     * before its kill shortens the kill window, and rounds go on (up to
     * twice as many) until at least half of `rounds` were killed mid-run. */
    unsigned seed = 4242;
    int i;
    for (i = 1; i <= 2 * rounds && (i <= rounds || killed < rounds / 2); i++) {
        long at = (long)(rand_r(&seed) % (unsigned)(full_us + 1));
        long ran = crash_round(i, at, &early);
        killed += early;
        if (!early && ran > 0 && ran < full_us)
            full_us = ran;
    }
    printf("crash: %d rounds, %d killed mid-run (full run %.1f ms)\n", i - 1, killed,
           full_us / 1000.0);
    CHECK(killed >= rounds / 2);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base_dir, sizeof base_dir, "%s/rw_outbox_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_restart();
    test_corrupt();
    test_caps();
    test_dead_letter();
    test_list_retry();
    test_index_churn();
    test_backoff();
    test_crash();
    rm_tree(base_dir);
    TEST_DONE();
}
