/* Engine state snapshots (engine/snapshot.h, rw_engine_save/restore):
 * save -> restore -> save gives the same bytes; a restored engine continues
 * exactly as the uninterrupted one (same alert lines); a config with one
 * rule changed keeps every other rule's states byte for byte and drops the
 * changed one's; truncated, bit-flipped, foreign-version and wrong-window
 * snapshots are refused with a message (run under ASan in build-asan); the
 * file is written atomically and a bad one is moved aside. Fed with the
 * bundled sample (data/sample.ndjson.gz) through the default config. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/snapshot.h"

struct capture {
    size_t n, cap;
    char **lines;
};

static void cap_emit(void *ctx, const char *line, int notify)
{
    (void)notify;
    struct capture *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->lines = realloc(c->lines, c->cap * sizeof *c->lines);
    }
    c->lines[c->n++] = strdup(line);
}

static void cap_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    free(c->lines);
    memset(c, 0, sizeof *c);
}

/* The sample's lines [from, to). */
static void feed(struct rw_engine *e, size_t from, size_t to)
{
    gzFile gz = gzopen("data/sample.ndjson.gz", "rb");
    CHECK(gz != NULL);
    if (!gz)
        return;
    char line[8192];
    for (size_t i = 0; i < to && gzgets(gz, line, sizeof line); i++)
        if (i >= from)
            rw_engine_ingest_json(e, line, strcspn(line, "\n"));
    gzclose(gz);
}

static struct rw_engine *engine(const struct rw_config *cfg, struct capture *cap)
{
    char err[512] = "";
    struct rw_alert_sink sink = {cap_emit, cap};
    struct rw_engine *e = rw_engine_new(cfg, &sink, err, sizeof err);
    if (!e)
        fprintf(stderr, "engine: %s\n", err);
    return e;
}

static int save(const struct rw_engine *e, struct rw_snapbuf *b)
{
    char err[256] = "";
    memset(b, 0, sizeof *b);
    int rc = rw_engine_save(e, b, err, sizeof err);
    if (rc)
        fprintf(stderr, "save: %s\n", err);
    return rc;
}

/* Payloads equal (the header differs only in the wall clock and its CRC). */
static int same_payload(const struct rw_snapbuf *a, const struct rw_snapbuf *b)
{
    return a->len == b->len && a->len > RW_SNAP_HEADER &&
           memcmp(a->p + RW_SNAP_HEADER, b->p + RW_SNAP_HEADER, a->len - RW_SNAP_HEADER) == 0 &&
           memcmp(a->p, b->p, 56) == 0;
}

/* ---- a reader of the stored rule states (mirrors engine.c put_series) ---- */

struct rstate {
    char rule[80];
    char key[600];
    int scope;
    unsigned char bytes[8192]; /* alert fields + detector state */
    size_t len;
};

static void skip_qacc(struct rw_snapreader *r)
{
    uint32_t n = rw_snap_get_u32(r);
    if (n <= 16) {
        rw_snap_take(r, 2 + (size_t)n * 2);
        return;
    }
    rw_snap_take(r, 24);
    uint32_t cnt = rw_snap_get_u32(r);
    rw_snap_take(r, (size_t)cnt * 4);
}

/* Every (scope, series, rule) state of a snapshot; returns how many. */
static size_t rule_states(const struct rw_snapbuf *b, struct rstate **out)
{
    char err[256] = "";
    struct rw_snap_info info;
    struct rw_snapreader pr, body;
    size_t n = 0, cap = 0;
    *out = NULL;
    if (rw_snap_open(b->p, b->len, &info, &pr, err, sizeof err))
        return 0;
    char names[RW_MAX_RULES][80];
    uint32_t tag;
    int scope = 0;
    while (rw_snap_next(&pr, &tag, &body) == 1) {
        struct rw_snapreader *r = &body;
        if (tag == RW_SNAP_TAG('R', 'U', 'L', 'E')) {
            uint32_t nr = rw_snap_get_u32(r);
            for (uint32_t i = 0; i < nr && i < RW_MAX_RULES; i++) {
                rw_snap_get_str(r, names[i], 64);
                rw_snap_get_u64(r);
                rw_snap_get_u32(r);
            }
            continue;
        }
        if (tag != RW_SNAP_TAG('S', 'C', 'O', 'P'))
            continue;
        rw_snap_get_u8(r);
        int ndims = rw_snap_get_u8(r);
        char dim[80];
        for (int d = 0; d < ndims; d++)
            rw_snap_get_str(r, dim, 64);
        rw_snap_take(r, 24);
        int nvit = rw_snap_get_u8(r);
        rw_snap_take(r, (size_t)nvit);
        int nrules = rw_snap_get_u8(r);
        uint32_t ridx[RW_MAX_RULES];
        for (int k = 0; k < nrules; k++)
            ridx[k] = rw_snap_get_u32(r);
        uint64_t ns = rw_snap_get_u64(r);
        for (uint64_t s = 0; s < ns && !r->bad; s++) {
            char key[600];
            uint32_t kl = rw_snap_get_u32(r);
            const char *k = rw_snap_take(r, kl);
            snprintf(key, sizeof key, "%.*s", (int)kl, k ? k : "");
            rw_snap_take(r, 8 + 1 + 4);
            int used = rw_snap_get_u8(r);
            for (int u = 0; u < used; u++) {
                rw_snap_take(r, 8 + 8 + 12);
                int nsess = rw_snap_get_u8(r);
                rw_snap_take(r, (size_t)nsess * 4);
                for (int v = 0; v < nvit; v++)
                    skip_qacc(r);
            }
            for (int v = 0; v < nvit; v++) {
                rw_snap_get_u32(r);
                skip_qacc(r);
            }
            for (int q = 0; q < nrules; q++) {
                size_t at = r->off;
                rw_snap_take(r, 4 + 8 + 4 + 4 + 4 + 8);
                uint32_t dl = rw_snap_get_u32(r);
                rw_snap_take(r, dl);
                if (r->bad)
                    break;
                if (n == cap) {
                    cap = cap ? 2 * cap : 256;
                    *out = realloc(*out, cap * sizeof **out);
                }
                struct rstate *st = &(*out)[n++];
                snprintf(st->rule, sizeof st->rule, "%s", names[ridx[q]]);
                snprintf(st->key, sizeof st->key, "%s", key);
                st->scope = scope;
                st->len = r->off - at < sizeof st->bytes ? r->off - at : sizeof st->bytes;
                memcpy(st->bytes, r->p + at, st->len);
            }
        }
        CHECK(!r->bad);
        scope++;
    }
    return n;
}

static const struct rstate *find_state(const struct rstate *v, size_t n, const struct rstate *w)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].scope == w->scope && strcmp(v[i].rule, w->rule) == 0 &&
            strcmp(v[i].key, w->key) == 0)
            return &v[i];
    return NULL;
}

/* ---- tests ------------------------------------------------------------ */

#define SPLIT 60000 /* lines of the sample before the snapshot (about 10 h) */
#define TOTAL 200000

static void test_roundtrip_and_continuity(const struct rw_config *cfg, struct rw_snapbuf *keep)
{
    struct capture c1 = {0}, c2 = {0};
    struct rw_engine *e1 = engine(cfg, &c1), *e2 = engine(cfg, &c2);
    feed(e1, 0, SPLIT);
    size_t n0 = c1.n; /* lines before the snapshot */
    struct rw_snapbuf b1, b2;
    CHECK_INT(save(e1, &b1), 0);
    char err[256] = "";
    struct rw_restore_report rep;
    CHECK_INT(rw_engine_restore(e2, b1.p, b1.len, &rep, err, sizeof err), 0);
    struct rw_engine_stats s1, s2;
    rw_engine_get_stats(e1, &s1);
    rw_engine_get_stats(e2, &s2);
    CHECK(rep.series > 100);
    CHECK_INT(rep.series, s1.series);
    CHECK_INT(rep.series_skipped, 0);
    CHECK_INT(rep.rules_kept, cfg->nrules);
    CHECK_INT(rep.rules_changed + rep.rules_removed + rep.rules_new, 0);
    CHECK_INT(s2.series, s1.series);
    CHECK_INT(s2.series_created, s1.series_created);
    CHECK_INT(s2.received, s1.received);
    CHECK_INT(s2.watermark, s1.watermark);
    CHECK_INT(s2.firing_now, s1.firing_now);
    CHECK_INT(s2.alerts_fired, s1.alerts_fired);
    CHECK(s1.alerts_fired > 0); /* the state holds alert history, not just baselines */
    CHECK_INT(save(e2, &b2), 0);
    CHECK(same_payload(&b1, &b2));
    printf("snapshot after %d events: %zu bytes, %llu series (%.0f bytes/series)\n", SPLIT, b1.len,
           (unsigned long long)s1.series, (double)b1.len / (double)s1.series);

    /* Both go on with the rest of the day: the same alert lines. */
    feed(e1, SPLIT, TOTAL);
    feed(e2, SPLIT, TOTAL);
    rw_engine_finish(e1);
    rw_engine_finish(e2);
    CHECK(c1.n > n0 + 10);
    CHECK_INT(c2.n, c1.n - n0);
    for (size_t i = 0; i + n0 < c1.n && i < c2.n; i++)
        if (strcmp(c1.lines[n0 + i], c2.lines[i]) != 0) {
            fprintf(stderr, "line %zu differs:\n%s\n%s\n", i, c1.lines[n0 + i], c2.lines[i]);
            CHECK(0);
            break;
        }
    printf("continuity: %zu alert lines after the snapshot, identical\n", c2.n);
    *keep = b1;
    rw_snapbuf_free(&b2);
    rw_engine_destroy(&e1);
    rw_engine_destroy(&e2);
    cap_free(&c1);
    cap_free(&c2);
}

static void test_changed_rule(const struct rw_snapbuf *b1)
{
    /* lcp_slowdown's z changes; every other rule stays. */
    const char *old = "name = \"lcp_slowdown\";  metric = \"lcp\";  stat = \"p75\"; detector = "
                      "\"robust_z\";\n    scale = \"log\"; z = 3.5;";
    char *text = strdup(rw_default_conf);
    char *at = strstr(text, old);
    CHECK(at != NULL);
    if (!at) {
        free(text);
        return;
    }
    at[strlen(old) - 2] = '7'; /* z = 3.7 */
    char err[1024] = "";
    struct rw_config *cfg2 = rw_config_load_string(text, "changed.conf", err, sizeof err);
    free(text);
    CHECK(cfg2 != NULL);
    if (!cfg2)
        return;
    struct capture c = {0};
    struct rw_engine *e = engine(cfg2, &c);
    struct rw_restore_report rep;
    CHECK_INT(rw_engine_restore(e, b1->p, b1->len, &rep, err, sizeof err), 0);
    CHECK_INT(rep.rules_changed, 1);
    CHECK_INT(rep.rules_kept, cfg2->nrules - 1);
    CHECK_INT(rep.rules_removed, 0);
    CHECK_INT(rep.rules_new, 0);
    struct rw_snapbuf b3;
    CHECK_INT(save(e, &b3), 0);
    struct rstate *v1, *v3;
    size_t n1 = rule_states(b1, &v1), n3 = rule_states(&b3, &v3);
    CHECK(n1 > 1000);
    CHECK_INT(n3, n1);
    size_t kept = 0, fresh = 0, lcp_differs = 0;
    for (size_t i = 0; i < n1; i++) {
        const struct rstate *w = find_state(v3, n3, &v1[i]);
        CHECK(w != NULL);
        if (!w)
            continue;
        int same = w->len == v1[i].len && memcmp(w->bytes, v1[i].bytes, w->len) == 0;
        if (strcmp(v1[i].rule, "lcp_slowdown") == 0) {
            fresh++;
            lcp_differs += !same;
        } else {
            kept++;
            if (!same) {
                fprintf(stderr, "state of %s on '%s' changed\n", v1[i].rule, v1[i].key);
                CHECK(0);
            }
        }
    }
    CHECK(kept > 1000);
    CHECK(fresh > 10);
    CHECK(lcp_differs > fresh / 2); /* dropped: back to an initial state (most had learned) */
    /* and a fresh lcp_slowdown state equals one of a never-fed engine: restore nothing */
    printf("changed rule: %zu states kept byte for byte, %zu lcp_slowdown states dropped "
           "(%zu differed)\n",
           kept, fresh, lcp_differs);
    free(v1);
    free(v3);
    rw_snapbuf_free(&b3);

    /* A window of another length: refused, the engine untouched. */
    struct rw_engine *e2 = NULL;
    text = strdup(rw_default_conf);
    struct rw_config *cfg3 = NULL;
    char *w = strstr(text, "window = 60.0");
    CHECK(w != NULL);
    if (w) {
        memcpy(w, "window = 30.0", 13);
        cfg3 = rw_config_load_string(text, "window.conf", err, sizeof err);
        CHECK(cfg3 != NULL);
    }
    free(text);
    if (cfg3 && (e2 = engine(cfg3, &c))) {
        err[0] = '\0';
        CHECK_INT(rw_engine_restore(e2, b1->p, b1->len, &rep, err, sizeof err), -EINVAL);
        CHECK(strstr(err, "window") != NULL);
        struct rw_engine_stats st;
        rw_engine_get_stats(e2, &st);
        CHECK_INT(st.series, 0);
        CHECK_INT(st.watermark, INT64_MIN);
    }
    rw_engine_destroy(&e2);
    rw_config_free(&cfg3);
    rw_engine_destroy(&e);
    cap_free(&c);
    rw_config_free(&cfg2);
}

/* Restore must refuse with a message and leave a fresh engine. */
static void expect_refused(const struct rw_config *cfg, const void *p, size_t len, const char *want,
                           const char *what)
{
    struct capture c = {0};
    struct rw_engine *e = engine(cfg, &c);
    char err[512] = "";
    struct rw_restore_report rep;
    int rc = rw_engine_restore(e, p, len, &rep, err, sizeof err);
    if (rc != -EINVAL || !err[0] || (want && !strstr(err, want))) {
        fprintf(stderr, "%s: rc %d err '%s' (want '%s')\n", what, rc, err, want ? want : "");
        CHECK(0);
    }
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    CHECK_INT(st.series, 0);
    rw_engine_destroy(&e);
    cap_free(&c);
}

/* A small config (two scopes, a custom twin, four rules), so that a
 * snapshot is a few KB and can be cut at every offset. */
static const char *SMALL =
    "scopes = ( { name = \"app\"; dims = []; }, { name = \"page\"; dims = [\"page\"]; } );\n"
    "rules = ( { name = \"lcp_poor\"; metric = \"lcp\"; stat = \"p75\"; detector = \"threshold\";\n"
    "            above = 4000.0; min_n = 3; },\n"
    "          { name = \"lcp_z\"; metric = \"lcp\"; stat = \"p75\"; detector = \"robust_z\"; },\n"
    "          { name = \"views_s\"; metric = \"views\"; scopes = [\"app\"]; detector = \"seasonal\"; },\n"
    "          { name = \"orders\"; metric = \"custom\"; stat = \"count\"; scopes = [\"app\"];\n"
    "            detector = \"threshold\"; below = 1.0; min_n = 0; } );\n";

static void test_corrupt(void)
{
    char cerr[1024] = "";
    struct rw_config *cfg = rw_config_load_string(SMALL, "small.conf", cerr, sizeof cerr);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", cerr);
        return;
    }
    /* A small snapshot: twenty events and a custom metric. */
    struct capture c = {0};
    struct rw_engine *e = engine(cfg, &c);
    feed(e, 0, 20);
    const char *m = "{\"v\":1,\"type\":\"metric\",\"ts\":1762128020000,\"page\":\"/\",\"name\":\"orders\",\"value\":2}";
    CHECK_INT(rw_engine_ingest_json(e, m, strlen(m)), RW_OK);
    struct rw_snapbuf b;
    CHECK_INT(save(e, &b), 0);
    rw_engine_destroy(&e);
    cap_free(&c);
    printf("small snapshot: %zu bytes; truncating at every offset\n", b.len);
    for (size_t n = 0; n < b.len; n++)
        expect_refused(cfg, b.p, n, NULL, "truncated");
    expect_refused(cfg, b.p, b.len - 1, "truncated", "truncated by one");
    /* one flipped bit anywhere: header or payload checksum */
    unsigned char *copy = malloc(b.len + 1);
    for (size_t off = 0; off < b.len; off += b.len / 97 + 1) {
        memcpy(copy, b.p, b.len);
        copy[off] ^= 0x10;
        expect_refused(cfg, copy, b.len, NULL, "flipped");
    }
    memcpy(copy, b.p, b.len);
    copy[b.len - 5] ^= 1;
    expect_refused(cfg, copy, b.len, "checksum", "flipped payload");
    /* another version (header CRC fixed up: the version check itself speaks) */
    memcpy(copy, b.p, b.len);
    uint32_t v = 2;
    memcpy(copy + 8, &v, 4);
    uint32_t hcrc = rw_snap_crc(copy, 68);
    memcpy(copy + 68, &hcrc, 4);
    expect_refused(cfg, copy, b.len, "version 2", "version");
    /* trailing garbage */
    memcpy(copy, b.p, b.len);
    copy[b.len] = 'x';
    expect_refused(cfg, copy, b.len + 1, "trailing", "trailing");
    expect_refused(cfg, "hello", 5, "not a rumwatch snapshot", "text");
    free(copy);
    rw_snapbuf_free(&b);
    rw_config_free(&cfg);
}

static void test_files(const struct rw_config *cfg, const struct rw_snapbuf *b1)
{
    char dir[] = "/tmp/rw_test_snapshot.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512] = "", path[600];
    CHECK_INT(rw_snapshot_write_file(dir, b1->p, b1->len, err, sizeof err), 0);
    void *buf;
    size_t len;
    CHECK_INT(rw_snapshot_read_file(dir, (size_t)1 << 30, &buf, &len, err, sizeof err), 0);
    CHECK(len == b1->len && memcmp(buf, b1->p, len) == 0);
    free(buf);
    /* no temporary left behind */
    int files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));)
        files += de->d_name[0] != '.' || strncmp(de->d_name, ".engine", 7) == 0;
    if (d)
        closedir(d);
    CHECK_INT(files, 1);

    /* load into an engine */
    struct capture c = {0};
    struct rw_engine *e = engine(cfg, &c);
    struct rw_restore_report rep;
    struct rw_snap_info info;
    CHECK_INT(rw_snapshot_load_engine(e, dir, &rep, &info), 1);
    CHECK(rep.series > 100);
    rw_engine_destroy(&e);

    /* a truncated file (a crash of some other writer): set aside, fresh start */
    snprintf(path, sizeof path, "%s/engine.snap", dir);
    CHECK_INT(truncate(path, (off_t)(b1->len / 2)), 0);
    e = engine(cfg, &c);
    CHECK_INT(rw_snapshot_load_engine(e, dir, &rep, &info), 0);
    CHECK_INT(rep.series, 0);
    CHECK(access(path, F_OK) != 0);
    int bad = 0;
    d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));)
        if (strncmp(de->d_name, "engine.snap.bad-", 16) == 0) {
            bad++;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    CHECK_INT(bad, 1);
    /* nothing there: fresh start, no complaint */
    CHECK_INT(rw_snapshot_load_engine(e, dir, &rep, &info), 0);
    rw_engine_destroy(&e);
    cap_free(&c);
    /* a stale temporary of an interrupted write is cleaned up */
    snprintf(path, sizeof path, "%s/.engine.snap.tmp.999999", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    e = engine(cfg, &c);
    rw_snapshot_load_engine(e, dir, &rep, &info);
    CHECK(access(path, F_OK) != 0);
    rw_engine_destroy(&e);
    rmdir(dir);
}

int main(void)
{
    char err[1024] = "";
    struct rw_config *cfg = rw_config_load(NULL, err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg)
        return 1;
    struct rw_snapbuf b1;
    test_roundtrip_and_continuity(cfg, &b1);
    test_changed_rule(&b1);
    test_corrupt();
    test_files(cfg, &b1);
    rw_snapbuf_free(&b1);
    rw_config_free(&cfg);
    printf("%d checks, %d failures\n", rw_test_checks, rw_test_failures);
    return rw_test_failures != 0;
}
