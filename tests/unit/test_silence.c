/* Silences: the CLI form, matching, expiry, retention, and persistence in a
 * real directory (restart, corrupt file, failed write). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notifiers/silence.h"
#include "notifiers/timeint.h"
#include "tests/unit/check.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)
#define NOW 1711360800000LL /* 2024-03-25T10:00:00Z */

static int parse(const char *const *args, int n, struct rw_silence_spec *spec, char *err,
                 size_t errlen)
{
    return rw_silence_parse_args(n, (char *const *)args, NOW, spec, err, errlen);
}

static void test_cli(void)
{
    struct rw_silence_spec sp;
    char err[512];
    const char *a1[] = {
        "--match",   "page=/checkout",        "--match", "severity=critical", "--for", "2h",
        "--comment", "deploy of the new cart"};
    CHECK_INT(parse(a1, 8, &sp, err, sizeof err), 0);
    CHECK_INT(sp.matchers.n, 2);
    CHECK_STR(sp.matchers.m[0].name, "page");
    CHECK_STR(sp.matchers.m[0].value, "/checkout");
    CHECK_STR(sp.matchers.m[1].value, "critical");
    CHECK_INT(sp.starts_ms, 0); /* now, decided when added */
    CHECK_INT(sp.ends_ms, NOW + 2 * H);
    CHECK_STR(sp.comment, "deploy of the new cart");
    CHECK_STR(sp.created_by, "");
    rw_silence_spec_clear(&sp);

    const char *a2[] = {"--match=rule=~.*_slowdown",
                        "device=mobile",
                        "--for=1h30m",
                        "--comment=x",
                        "--author",
                        "ops@example.com"};
    CHECK_INT(parse(a2, 6, &sp, err, sizeof err), 0);
    CHECK_INT(sp.matchers.n, 2);
    CHECK_INT(sp.matchers.m[0].type, RW_MATCH_RE);
    CHECK_STR(sp.matchers.m[1].name, "device");
    CHECK_INT(sp.ends_ms, NOW + 90 * M);
    CHECK_STR(sp.created_by, "ops@example.com");
    rw_silence_spec_clear(&sp);

    const char *a3[] = {"--match",   "page=/a",
                        "--start",   "2024-03-26T08:00:00Z",
                        "--until",   "2024-03-26T09:30:00+01:00",
                        "--comment", "window"};
    CHECK_INT(parse(a3, 8, &sp, err, sizeof err), 0);
    CHECK_INT(sp.starts_ms, NOW + 22 * H);
    CHECK_INT(sp.ends_ms, NOW + 22 * H + 30 * M);
    rw_silence_spec_clear(&sp);

    const char *a4[] = {"--match", "page=/a", "--comment", "default duration"};
    CHECK_INT(parse(a4, 4, &sp, err, sizeof err), 0);
    CHECK_INT(sp.ends_ms, NOW + H);
    rw_silence_spec_clear(&sp);

    static const struct {
        const char *args[6];
        int n;
        const char *why;
    } bad[] = {
        {{"--match", "page=/a", "--for", "2h"}, 4, "--comment"},
        {{"--for", "2h", "--comment", "x"}, 4, "at least one --match"},
        {{"--match", "page=/a", "--for", "2x", "--comment", "x"}, 6, "--for '2x'"},
        {{"--match", "page=/a", "--for", "0s", "--comment", "x"}, 6, "--for '0s'"},
        {{"--match", "page=/a", "--for", "1h", "--until", "2024-03-26T00:00:00Z"}, 6, "either"},
        {{"--match", "page=/a", "--frob", "1", "--comment", "x"}, 6, "unknown option '--frob'"},
        {{"--comment", "x", "--match"}, 3, "--match needs a value"},
        {{"--match", "page", "--comment", "x"}, 4, "--match: bad matcher 'page'"},
        {{"--match", "page=/a", "--until", "tomorrow", "--comment", "x"}, 6, "--until 'tomorrow'"},
        {{"--match", "page=/a", "--until", "2024-03-25T09:00:00Z", "--comment", "x"},
         6,
         "not after"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        memset(&sp, 0x5a, sizeof sp);
        int rc = parse(bad[i].args, bad[i].n, &sp, err, sizeof err);
        if (rc != -EINVAL || !strstr(err, bad[i].why))
            fprintf(stderr, "bad args %zu: rc %d err \"%s\" (want \"%s\")\n", i, rc, err,
                    bad[i].why);
        CHECK(rc == -EINVAL && strstr(err, bad[i].why));
        CHECK(sp.matchers.n == 0 && sp.matchers.m == NULL);
    }

    /* JSON round trip (the CLI-to-daemon hand-over) */
    CHECK_INT(parse(a3, 8, &sp, err, sizeof err), 0);
    json_t *j = rw_silence_spec_to_json(&sp);
    CHECK_STR(json_string_value(json_object_get(j, "startsAt")), "2024-03-26T08:00:00.000Z");
    CHECK(json_is_false(
        json_object_get(json_array_get(json_object_get(j, "matchers"), 0), "isRegex")));
    struct rw_silence_spec back;
    CHECK_INT(rw_silence_spec_from_json(j, &back, err, sizeof err), 0);
    CHECK_INT(back.starts_ms, sp.starts_ms);
    CHECK_INT(back.ends_ms, sp.ends_ms);
    CHECK_STR(back.comment, "window");
    CHECK_INT(back.matchers.n, 1);
    CHECK_STR(back.matchers.m[0].value, "/a");
    rw_silence_spec_clear(&back);
    json_object_set_new(j, "endsAt", json_string("soon"));
    CHECK_INT(rw_silence_spec_from_json(j, &back, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "endsAt") != NULL);
    json_object_set_new(j, "matchers", json_array());
    CHECK_INT(rw_silence_spec_from_json(j, &back, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "matchers") != NULL);
    json_decref(j);
    rw_silence_spec_clear(&sp);
}

static json_t *lbl(const char *page, const char *severity)
{
    return json_pack("{s:s, s:s, s:s}", "rule", "lcp_jump", "page", page, "severity", severity);
}

static int add(struct rw_silences *s, const char *m1, const char *m2, int64_t starts, int64_t ends,
               int64_t now, char *id)
{
    struct rw_silence_spec sp = {0};
    char err[512];
    rw_matchers_add(&sp.matchers, m1, err, sizeof err);
    if (m2)
        rw_matchers_add(&sp.matchers, m2, err, sizeof err);
    sp.starts_ms = starts;
    sp.ends_ms = ends;
    snprintf(sp.created_by, sizeof sp.created_by, "test");
    snprintf(sp.comment, sizeof sp.comment, "because");
    int rc = rw_silences_add(s, &sp, now, id, err, sizeof err);
    rw_silence_spec_clear(&sp);
    return rc;
}

static int is_uuid4(const char *id)
{
    if (strlen(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-')
        return 0;
    return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

static void test_store_memory(void)
{
    char err[512], warn[256], id1[40], id2[40], id3[40];
    struct rw_silences *s = rw_silences_open(NULL, NULL, NOW, warn, sizeof warn, err, sizeof err);
    CHECK(s != NULL);
    CHECK_STR(warn, "");
    CHECK_INT(add(s, "page=/checkout", "severity=~warning|critical", 0, NOW + 2 * H, NOW, id1), 0);
    CHECK(is_uuid4(id1));
    CHECK_INT(add(s, "page=/home", NULL, NOW + H, NOW + 3 * H, NOW, id2), 0); /* pending */
    CHECK(strcmp(id1, id2) != 0);
    json_t *co = lbl("/checkout", "critical"), *coi = lbl("/checkout", "info"),
           *ho = lbl("/home", "warning");
    CHECK_STR(rw_silences_match(s, co, NOW), id1);
    CHECK(rw_silences_match(s, coi, NOW) == NULL);        /* severity does not match */
    CHECK(rw_silences_match(s, ho, NOW) == NULL);         /* pending */
    CHECK_STR(rw_silences_match(s, ho, NOW + H), id2);    /* now active */
    CHECK(rw_silences_match(s, co, NOW + 2 * H) == NULL); /* ended */
    CHECK_INT(rw_silence_state(rw_silences_get(s, 0), NOW), RW_SILENCE_ACTIVE);
    CHECK_INT(rw_silence_state(rw_silences_get(s, 1), NOW), RW_SILENCE_PENDING);
    CHECK_STR(rw_silence_state_name(RW_SILENCE_EXPIRED), "expired");

    /* validation */
    CHECK_INT(add(s, "team=\"\"", NULL, 0, NOW + H, NOW, id3), -EINVAL);
    CHECK_INT(add(s, "page=/a", NULL, NOW + H, NOW + H, NOW, id3), -EINVAL);
    CHECK_INT(add(s, "page=/a", NULL, NOW - 2 * H, NOW - H, NOW, id3), -EINVAL);
    CHECK_INT(rw_silences_count(s), 2);

    /* expire: by prefix; twice is an error; unknown is ENOENT */
    char prefix[9];
    memcpy(prefix, id1, 8);
    prefix[8] = '\0';
    CHECK_INT(rw_silences_expire(s, prefix, NOW + 10 * M, err, sizeof err), 0);
    CHECK(rw_silences_match(s, co, NOW + 10 * M) == NULL);
    CHECK_INT(rw_silences_get(s, 0)->ends_ms, NOW + 10 * M);
    CHECK_INT(rw_silences_expire(s, id1, NOW + 11 * M, err, sizeof err), -EALREADY);
    CHECK_INT(rw_silences_expire(s, "00000000-0000-4000-8000-000000000000", NOW, err, sizeof err),
              -ENOENT);
    CHECK_INT(rw_silences_expire(s, "abc", NOW, err, sizeof err), -EINVAL);
    /* a pending silence expires into an empty span */
    CHECK_INT(rw_silences_expire(s, id2, NOW + 20 * M, err, sizeof err), 0);
    CHECK_INT(rw_silences_get(s, 1)->starts_ms, NOW + 20 * M);
    CHECK(rw_silences_match(s, ho, NOW + H) == NULL);

    /* list: active first, then pending, then expired */
    CHECK_INT(add(s, "page=/x", NULL, NOW + 5 * H, NOW + 6 * H, NOW + 30 * M, id3), 0);
    char id4[40];
    CHECK_INT(add(s, "page=/y", NULL, 0, NOW + 6 * H, NOW + 30 * M, id4), 0);
    json_t *l = rw_silences_list(s, NOW + 30 * M, 1);
    CHECK_INT(json_array_size(l), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), id4);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(l, 0), "status"), "state")),
              "active");
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 1), "id")), id3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 3), "id")), id2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "createdBy")), "test");
    json_decref(l);
    l = rw_silences_list(s, NOW + 30 * M, 0);
    CHECK_INT(json_array_size(l), 2);
    json_decref(l);
    struct rw_silences_stats st;
    rw_silences_stats(s, NOW + 30 * M, &st);
    CHECK_INT(st.active, 1);
    CHECK_INT(st.pending, 1);
    CHECK_INT(st.expired, 2);

    /* retention (default 5 days after the end) */
    CHECK_INT(rw_silences_gc(s, NOW + 10 * M + 5 * 24 * H - 1), 0);
    CHECK_INT(rw_silences_gc(s, NOW + 20 * M + 5 * 24 * H), 2);
    CHECK_INT(rw_silences_count(s), 2);
    rw_silences_stats(s, NOW, &st);
    CHECK_INT(st.purged, 2);
    json_decref(co);
    json_decref(coi);
    json_decref(ho);
    rw_silences_close(&s);
    CHECK(s == NULL);
    rw_silences_close(&s);

    /* the cap */
    struct rw_silences_opts o = {.max_silences = 3, .retention_ms = H};
    s = rw_silences_open(NULL, &o, NOW, warn, sizeof warn, err, sizeof err);
    for (int i = 0; i < 3; i++)
        CHECK_INT(add(s, "page=/a", NULL, 0, NOW + M, NOW, NULL), 0);
    CHECK_INT(add(s, "page=/a", NULL, 0, NOW + M, NOW, NULL), -ENOSPC);
    /* once they are past retention, room is made */
    CHECK_INT(add(s, "page=/a", NULL, 0, NOW + 3 * H, NOW + 2 * H, NULL), 0);
    CHECK_INT(rw_silences_count(s), 1);
    rw_silences_close(&s);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (rmdir(p) != 0)
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void test_store_files(void)
{
    char base[] = "/tmp/rw_silence_XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char dir[600], file[700], tmp[700];
    snprintf(dir, sizeof dir, "%s/state", base); /* created by open */
    snprintf(file, sizeof file, "%s/silences.json", dir);
    snprintf(tmp, sizeof tmp, "%s/silences.json.tmp", dir);
    char err[1024], warn[1024], id1[40], id2[40];

    struct rw_silences *s = rw_silences_open(dir, NULL, NOW, warn, sizeof warn, err, sizeof err);
    CHECK(s != NULL);
    CHECK_STR(warn, "");
    CHECK_INT(add(s, "page=/checkout", "severity=critical", 0, NOW + 2 * H, NOW, id1), 0);
    CHECK_INT(add(s, "rule=~.*_slowdown", NULL, NOW + H, NOW + 5 * H, NOW, id2), 0);
    CHECK_INT(rw_silences_expire(s, id1, NOW + M, err, sizeof err), 0);
    struct stat st;
    CHECK_INT(stat(dir, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    rw_silences_close(&s);

    /* the file is what the docs say */
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    CHECK(root != NULL);
    CHECK_INT(json_integer_value(json_object_get(root, "version")), 1);
    json_t *arr = json_object_get(root, "silences");
    CHECK_INT(json_array_size(arr), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "endsAt")),
              "2024-03-25T10:01:00.000Z");
    json_t *m1 = json_array_get(json_object_get(json_array_get(arr, 1), "matchers"), 0);
    CHECK_STR(json_string_value(json_object_get(m1, "value")), ".*_slowdown");
    CHECK(json_is_true(json_object_get(m1, "isRegex")));
    CHECK(json_is_true(json_object_get(m1, "isEqual")));
    json_decref(root);

    /* restart: same silences, same state */
    s = rw_silences_open(dir, NULL, NOW + 2 * H, warn, sizeof warn, err, sizeof err);
    CHECK(s != NULL);
    CHECK_STR(warn, "");
    CHECK_INT(rw_silences_count(s), 2);
    const struct rw_silence *x = rw_silences_get(s, 1);
    CHECK_STR(x->id, id2);
    CHECK_INT(x->starts_ms, NOW + H);
    CHECK_INT(x->ends_ms, NOW + 5 * H);
    CHECK_INT(x->updated_ms, NOW);
    CHECK_STR(x->created_by, "test");
    CHECK_STR(x->comment, "because");
    json_t *l = json_pack("{s:s}", "rule", "inp_slowdown");
    CHECK_STR(rw_silences_match(s, l, NOW + 2 * H), id2);
    json_decref(l);
    CHECK_INT(rw_silences_get(s, 0)->ends_ms, NOW + M);

    /* a write that fails changes nothing, in memory or on disk */
    char before[1 << 16];
    snprintf(before, sizeof before, "%s", slurp(file));
    CHECK_INT(mkdir(tmp, 0700), 0); /* the temp path is a directory: open() fails */
    CHECK_INT(add(s, "page=/z", NULL, 0, NOW + 3 * H, NOW + 2 * H, NULL), -EIO);
    CHECK_INT(rw_silences_count(s), 2);
    CHECK_INT(rw_silences_expire(s, id2, NOW + 2 * H, err, sizeof err), -EIO);
    CHECK(strstr(err, "cannot write") != NULL);
    CHECK_INT(rw_silences_get(s, 1)->ends_ms, NOW + 5 * H);
    CHECK_STR(slurp(file), before);
    struct rw_silences_stats sst;
    rw_silences_stats(s, NOW, &sst);
    CHECK_INT(sst.write_errors, 2);
    CHECK_INT(rmdir(tmp), 0);
    CHECK_INT(add(s, "page=/z", NULL, 0, NOW + 3 * H, NOW + 2 * H, NULL), 0);
    rw_silences_close(&s);

    /* retention applies at start: after 5 days id1 is gone from the file too */
    s = rw_silences_open(dir, NULL, NOW + M + 5 * 24 * H, warn, sizeof warn, err, sizeof err);
    CHECK_INT(rw_silences_count(s), 2);
    rw_silences_close(&s);
    s = rw_silences_open(dir, NULL, NOW + M + 5 * 24 * H, warn, sizeof warn, err, sizeof err);
    CHECK_INT(rw_silences_count(s), 2);
    CHECK(strstr(slurp(file), id1) == NULL);
    rw_silences_close(&s);

    /* a corrupt file is moved aside with a warning; the store starts empty */
    static const char *const corrupt[] = {
        "{\"version\":1,\"silences\":[",
        "{\"version\":2,\"silences\":[]}",
        "{\"version\":1,\"silences\":[{\"id\":\"nope\"}]}",
        "{\"version\":1,\"silences\":[{\"id\":\"00000000-0000-4000-8000-000000000000\","
        "\"matchers\":[{\"name\":\"a\",\"value\":\"(\",\"isRegex\":true}],"
        "\"startsAt\":\"2024-03-25T10:00:00Z\",\"endsAt\":\"2024-03-25T11:00:00Z\"}]}",
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        spit(file, corrupt[i]);
        warn[0] = '\0';
        s = rw_silences_open(dir, NULL, NOW + (int64_t)i, warn, sizeof warn, err, sizeof err);
        CHECK(s != NULL);
        CHECK(strstr(warn, "is corrupt") != NULL && strstr(warn, "moved to") != NULL);
        CHECK_INT(rw_silences_count(s), 0);
        CHECK(access(file, F_OK) != 0);
        /* and works from there */
        CHECK_INT(add(s, "page=/a", NULL, 0, NOW + H, NOW, NULL), 0);
        CHECK(access(file, F_OK) == 0);
        rw_silences_close(&s);
    }
    CHECK_INT(count_prefix(dir, "silences.json.bad-"), 4);

    /* an ambiguous prefix (crafted ids) */
    spit(file,
         "{\"version\":1,\"silences\":["
         "{\"id\":\"abcdef01-0000-4000-8000-000000000001\",\"matchers\":[{\"name\":\"a\","
         "\"value\":\"b\"}],\"startsAt\":\"2024-03-25T10:00:00Z\",\"endsAt\":"
         "\"2024-03-25T11:00:00Z\"},"
         "{\"id\":\"abcdef01-0000-4000-8000-000000000002\",\"matchers\":[{\"name\":\"a\","
         "\"value\":\"b\",\"isEqual\":false}],\"startsAt\":\"2024-03-25T10:00:00Z\",\"endsAt\":"
         "\"2024-03-25T11:00:00Z\"}]}");
    s = rw_silences_open(dir, NULL, NOW, warn, sizeof warn, err, sizeof err);
    CHECK_STR(warn, "");
    CHECK_INT(rw_silences_count(s), 2);
    CHECK_INT(rw_silences_get(s, 1)->matchers.m[0].type, RW_MATCH_NE);
    CHECK_INT(rw_silences_expire(s, "abcdef01", NOW, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "ambiguous") != NULL);
    CHECK_INT(rw_silences_expire(s, "abcdef01-0000-4000-8000-000000000002", NOW, err, sizeof err),
              0);
    rw_silences_close(&s);

    /* a state dir that is a file: a hard error */
    char notdir[700];
    snprintf(notdir, sizeof notdir, "%s/plain", base);
    spit(notdir, "x");
    s = rw_silences_open(notdir, NULL, NOW, warn, sizeof warn, err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "not a directory") != NULL);
    unlink(notdir);
    rm_rf(dir);
    rmdir(base);
    CHECK(access(base, F_OK) != 0);
}

int main(void)
{
    test_cli();
    test_store_memory();
    test_store_files();
    TEST_DONE();
}
