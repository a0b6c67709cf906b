/* Unit tests for engine/pagenorm.c: the test vectors of docs/page-names.md
 * (checked against the document too, so the two cannot drift), rewrite rules,
 * length limits, the cache, a seeded fuzz loop and the shard function.
 *
 * `test_pagenorm --markdown` prints the vector tables in the document's format.
 * Run from the source root (CTest does) so docs/page-names.md is found. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pagenorm.h"
#include "tests/unit/check.h"

/* One input, expected output in each id mode (digits, strict, none). */
struct vec {
    const char *in;
    const char *out[3];
};

static const struct vec vectors[] = {
    {"/product/48213", {"/product/?", "/product/?", "/product/48213"}},
    {"/product/48213?ref=x#top", {"/product/?", "/product/?", "/product/48213"}},
    {"/product/48213/", {"/product/?", "/product/?", "/product/48213"}},
    {"https://shop.example.com/a/b/", {"/a/b", "/a/b", "/a/b"}},
    {"HTTP://Shop.Example.COM:8080/Cart", {"/Cart", "/Cart", "/Cart"}},
    {"http://user@host/p/12", {"/p/?", "/p/?", "/p/12"}},
    {"https://example.com", {"/", "/", "/"}},
    {"https://example.com?x=1", {"/", "/", "/"}},
    {"https://h/a//b//", {"/a/b", "/a/b", "/a/b"}},
    {"/product/:id", {"/product/:id", "/product/:id", "/product/:id"}},
    {"/users/{userId}/orders", {"/users/{userId}/orders", "/users/{userId}/orders",
                                "/users/{userId}/orders"}},
    {"/:lang/p/99", {"/:lang/p/?", "/:lang/p/?", "/:lang/p/99"}},
    {"/[id]/edit", {"/[id]/edit", "/[id]/edit", "/[id]/edit"}},
    {"/docs/[...slug]", {"/docs/[...slug]", "/docs/[...slug]", "/docs/[...slug]"}},
    {"/{id2}/x", {"/{id2}/x", "/{id2}/x", "/{id2}/x"}},
    {"/files/*", {"/files/*", "/files/*", "/files/*"}},
    {"/x/*/12", {"/x/*/?", "/x/*/?", "/x/*/12"}},
    {"/api/v2/users", {"/api/?/users", "/api/v2/users", "/api/v2/users"}},
    {"/v1.2.3/docs", {"/?/docs", "/v1.2.3/docs", "/v1.2.3/docs"}},
    {"/img/logo@2x.png", {"/img/?", "/img/logo@2x.png", "/img/logo@2x.png"}},
    {"/a1b2", {"/?", "/a1b2", "/a1b2"}},
    {"/blog/2024/05/my-post", {"/blog/?/?/my-post", "/blog/?/?/my-post",
                               "/blog/2024/05/my-post"}},
    {"/0", {"/?", "/?", "/0"}},
    {"/order/550e8400-e29b-41d4-a716-446655440000",
     {"/order/?", "/order/?", "/order/550e8400-e29b-41d4-a716-446655440000"}},
    {"/order/550E8400-E29B-41D4-A716-446655440000/items",
     {"/order/?/items", "/order/?/items", "/order/550E8400-E29B-41D4-A716-446655440000/items"}},
    {"/deadbeef-dead-beef-dead-beefdeadbeef",
     {"/deadbeef-dead-beef-dead-beefdeadbeef", "/?", "/deadbeef-dead-beef-dead-beefdeadbeef"}},
    {"/12345678-1234-1234-1234-12345678901g",
     {"/?", "/12345678-1234-1234-1234-12345678901g", "/12345678-1234-1234-1234-12345678901g"}},
    {"/file/0123456789abcdef0123", {"/file/?", "/file/?", "/file/0123456789abcdef0123"}},
    {"/ABCDEF0123456789", {"/?", "/?", "/ABCDEF0123456789"}},
    {"/commit/deadbeefcafebabe",
     {"/commit/deadbeefcafebabe", "/commit/?", "/commit/deadbeefcafebabe"}},
    {"/commit/deadbeefcafebab",
     {"/commit/deadbeefcafebab", "/commit/deadbeefcafebab", "/commit/deadbeefcafebab"}},
    {"/product/48213;jsessionid=AB12",
     {"/product/?", "/product/48213;jsessionid=AB12", "/product/48213;jsessionid=AB12"}},
    {"/caf\xc3\xa9/\xd9\xa1\xd9\xa2", {"/caf\xc3\xa9/\xd9\xa1\xd9\xa2", "/caf\xc3\xa9/\xd9\xa1\xd9\xa2",
                                       "/caf\xc3\xa9/\xd9\xa1\xd9\xa2"}},
    {"/users/me", {"/users/me", "/users/me", "/users/me"}},
    {"//a///b", {"/a/b", "/a/b", "/a/b"}},
    {"///", {"/", "/", "/"}},
    {"/", {"/", "/", "/"}},
    {"", {"/", "/", "/"}},
    {"?x=1", {"/", "/", "/"}},
    {"#top", {"/", "/", "/"}},
    {"/a/b/c?x#y", {"/a/b/c", "/a/b/c", "/a/b/c"}},
    {"/search?q=/a/1", {"/search", "/search", "/search"}},
    {"/a#b/c", {"/a", "/a", "/a"}},
    {"product/42", {"product/?", "product/?", "product/42"}},
    {"http:/x/1", {"http:/x/?", "http:/x/?", "http:/x/1"}},
    {"1http://h/x", {"?/h/x", "1http:/h/x", "1http:/h/x"}},
};
#define NVEC (sizeof(vectors) / sizeof(vectors[0]))

/* Rewrite-rule vectors, digits mode, with these rules in this order. */
static const struct rw_rewrite_rule doc_rules[] = {
    {"^/blog/[^/]+$", "/blog/:slug"},
    {"^/(en|de|fr)/(.*)$", "/\\2"},
    {"^/static/.*$", "/static/*"},
};
static const struct vec rule_vectors[] = {
    {"/blog/my-first-post", {"/blog/:slug"}},
    {"/blog/2024-recap?utm=1", {"/blog/:slug"}},
    {"/blog/a/b", {"/blog/a/b"}},
    {"/blog/my-post/", {"/blog/my-post"}},
    {"/fr/product/12", {"/product/?"}},
    {"https://shop.example.com/de/cart/", {"/cart"}},
    {"/es/product/12", {"/es/product/?"}},
    {"/en/blog/my-post", {"/blog/my-post"}},
    {"/en/", {"/"}},
    {"/static/js/app.3f9a1c.js", {"/static/*"}},
    {"/en/static/app.js", {"/static/*"}},
};
#define NRVEC (sizeof(rule_vectors) / sizeof(rule_vectors[0]))

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '|' || *s == '`')
            return 0;
    return 1;
}

/* Markdown cell: the string in backticks, "(empty)" for "". */
static void cell(char *buf, size_t len, const char *s)
{
    if (*s)
        snprintf(buf, len, "`%s`", s);
    else
        snprintf(buf, len, "(empty)");
}

static void row_vec(char *buf, size_t len, const struct vec *v)
{
    char a[600], b[600], c[600], d[600];
    cell(a, sizeof(a), v->in);
    cell(b, sizeof(b), v->out[0]);
    cell(c, sizeof(c), v->out[1]);
    cell(d, sizeof(d), v->out[2]);
    snprintf(buf, len, "| %s | %s | %s | %s |", a, b, c, d);
}

static void row_rule(char *buf, size_t len, const struct vec *v)
{
    char a[600], b[600];
    cell(a, sizeof(a), v->in);
    cell(b, sizeof(b), v->out[0]);
    snprintf(buf, len, "| %s | %s |", a, b);
}

static void print_markdown(void)
{
    char row[2600];
    puts("| input | digits | strict | none |\n|---|---|---|---|");
    for (size_t i = 0; i < NVEC; i++) {
        row_vec(row, sizeof(row), &vectors[i]);
        puts(row);
    }
    puts("\n| input | output |\n|---|---|");
    for (size_t i = 0; i < NRVEC; i++) {
        row_rule(row, sizeof(row), &rule_vectors[i]);
        puts(row);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_doc_in_sync(void)
{
    char row[2600];
    const char *doc = read_file("docs/page-names.md");
    if (!doc) {
        fprintf(stderr, "docs/page-names.md not found: run from the source root\n");
        CHECK(doc != NULL);
        return;
    }
    for (size_t i = 0; i < NVEC; i++) {
        if (!printable(vectors[i].in))
            continue;
        row_vec(row, sizeof(row), &vectors[i]);
        if (!strstr(doc, row))
            fprintf(stderr, "missing in docs/page-names.md: %s\n", row);
        CHECK(strstr(doc, row) != NULL);
    }
    for (size_t i = 0; i < NRVEC; i++) {
        row_rule(row, sizeof(row), &rule_vectors[i]);
        if (!strstr(doc, row))
            fprintf(stderr, "missing in docs/page-names.md: %s\n", row);
        CHECK(strstr(doc, row) != NULL);
    }
}

static const char *norm(struct rw_pagenorm *pn, const char *in, size_t len)
{
    static char out[RW_PAGE_MAX + 1];
    int n = rw_pagenorm_apply(pn, in, len, out, sizeof(out));
    if (n < 0)
        return "(-1)";
    CHECK_INT(strlen(out), n);
    return out;
}

static void test_vectors(void)
{
    for (int m = 0; m < 3; m++) {
        char err[256] = "";
        struct rw_pagenorm *pn = rw_pagenorm_new(NULL, 0, (enum rw_id_mode)m, err, sizeof(err));
        CHECK(pn != NULL);
        for (size_t i = 0; i < NVEC; i++) {
            const char *got = norm(pn, vectors[i].in, strlen(vectors[i].in));
            if (strcmp(got, vectors[i].out[m]) != 0)
                fprintf(stderr, "mode %s input \"%s\"\n", rw_id_mode_names[m], vectors[i].in);
            CHECK_STR(got, vectors[i].out[m]);
        }
        rw_pagenorm_destroy(&pn);
        CHECK(pn == NULL);
    }
    CHECK_STR(rw_id_mode_names[RW_IDS_DIGITS], "digits");
    CHECK_STR(rw_id_mode_names[RW_IDS_STRICT], "strict");
    CHECK_STR(rw_id_mode_names[RW_IDS_NONE], "none");
    CHECK(rw_id_mode_names[3] == NULL);
}

static void test_rules(void)
{
    char err[256] = "";
    struct rw_pagenorm *pn = rw_pagenorm_new(doc_rules, 3, RW_IDS_DIGITS, err, sizeof(err));
    CHECK(pn != NULL);
    if (!pn) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    /* Twice: the second round is served from the cache. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < NRVEC; i++) {
            const char *got = norm(pn, rule_vectors[i].in, strlen(rule_vectors[i].in));
            if (strcmp(got, rule_vectors[i].out[0]) != 0)
                fprintf(stderr, "rules: input \"%s\"\n", rule_vectors[i].in);
            CHECK_STR(got, rule_vectors[i].out[0]);
        }
    rw_pagenorm_destroy(&pn);

    /* Escapes and groups: \\ is one backslash; a group that did not take part
     * inserts nothing; back-references may repeat and reorder. */
    static const struct rw_rewrite_rule r2[] = {
        {"^/x/([a-z]+)-([a-z]+)$", "/\\2/\\1/\\1\\\\y"},
        {"^/opt(/extra)?/(.*)$", "/o\\1|\\2"},
    };
    pn = rw_pagenorm_new(r2, 2, RW_IDS_NONE, err, sizeof(err));
    CHECK(pn != NULL);
    CHECK_STR(norm(pn, "/x/foo-bar", 10), "/bar/foo/foo\\y");
    CHECK_STR(norm(pn, "/opt/z", 6), "/o|z");
    CHECK_STR(norm(pn, "/opt/extra/z", 12), "/o/extra|z");
    rw_pagenorm_destroy(&pn);

    /* Only the first match in the string is replaced, once per rule. */
    static const struct rw_rewrite_rule r3[] = {{"a", "b"}};
    pn = rw_pagenorm_new(r3, 1, RW_IDS_NONE, err, sizeof(err));
    CHECK_STR(norm(pn, "/aaa/a", 6), "/baa/a");
    rw_pagenorm_destroy(&pn);

    /* A rule may produce a template segment ("?", "*") that the id step keeps,
     * and one that empties the path. */
    static const struct rw_rewrite_rule r4[] = {{"^/s/[0-9]+/", "/s/?/"}, {"^/gone.*", ""}};
    pn = rw_pagenorm_new(r4, 2, RW_IDS_STRICT, err, sizeof(err));
    CHECK_STR(norm(pn, "/s/42/t", 7), "/s/?/t");
    CHECK_STR(norm(pn, "/gone/1", 7), "/");
    rw_pagenorm_destroy(&pn);

    /* A rewrite that grows past RW_PAGE_MAX fails the page, not the process. */
    static struct rw_rewrite_rule big[1];
    snprintf(big[0].match, sizeof(big[0].match), "^(.*)$");
    snprintf(big[0].replace, sizeof(big[0].replace), "\\1\\1\\1\\1\\1");
    pn = rw_pagenorm_new(big, 1, RW_IDS_NONE, err, sizeof(err));
    char in[200];
    memset(in, 'a', sizeof(in));
    in[0] = '/';
    CHECK_INT(strlen(norm(pn, in, 100)), 500);
    CHECK_INT(strlen(norm(pn, in, 102)), 510);
    CHECK_STR(norm(pn, in, 103), "(-1)"); /* 515 bytes */
    rw_pagenorm_destroy(&pn);
}

static void test_bad_rules(void)
{
    char err[256];
    static const struct rw_rewrite_rule bad_re[] = {{"^/ok$", "/ok"}, {"^/(unclosed$", "/x"}};
    err[0] = '\0';
    CHECK(rw_pagenorm_new(bad_re, 2, RW_IDS_DIGITS, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "rule 2") != NULL);
    CHECK(strstr(err, "bad regex") != NULL);
    fprintf(stderr, "(expected) %s\n", err);

    static const struct rw_rewrite_rule bad_ref[] = {{"^/(a)$", "/\\2"}};
    err[0] = '\0';
    CHECK(rw_pagenorm_new(bad_ref, 1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "rule 1") != NULL);
    fprintf(stderr, "(expected) %s\n", err);

    static const struct rw_rewrite_rule bad_esc[] = {{"^/a$", "/\\n"}};
    err[0] = '\0';
    CHECK(rw_pagenorm_new(bad_esc, 1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "bad replace") != NULL);
    static const struct rw_rewrite_rule bad_tail[] = {{"^/a$", "/\\"}};
    CHECK(rw_pagenorm_new(bad_tail, 1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);

    static struct rw_rewrite_rule unterminated[1];
    memset(unterminated[0].match, 'a', sizeof(unterminated[0].match));
    CHECK(rw_pagenorm_new(unterminated, 1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);

    CHECK(rw_pagenorm_new(NULL, 1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);
    CHECK(rw_pagenorm_new(NULL, -1, RW_IDS_DIGITS, err, sizeof(err)) == NULL);
    CHECK(rw_pagenorm_new(NULL, 0, (enum rw_id_mode)7, err, sizeof(err)) == NULL);
    CHECK(rw_pagenorm_new(NULL, 0, (enum rw_id_mode)7, NULL, 0) == NULL);

    struct rw_pagenorm *pn = NULL;
    rw_pagenorm_destroy(&pn); /* safe on NULL */
    rw_pagenorm_destroy(NULL);
}

static void test_lengths(void)
{
    struct rw_pagenorm *pn = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, NULL, 0);
    static const struct rw_rewrite_rule keep[] = {{"^/zzz$", "/y"}};
    struct rw_pagenorm *pr = rw_pagenorm_new(keep, 1, RW_IDS_DIGITS, NULL, 0);
    char in[2200], out[RW_PAGE_MAX + 1];
    memset(in, 'a', sizeof(in));
    in[0] = '/';

    for (int k = 0; k < 2; k++) {
        struct rw_pagenorm *p = k ? pr : pn;
        CHECK_INT(rw_pagenorm_apply(p, in, 511, out, sizeof(out)), 511);
        CHECK_INT(rw_pagenorm_apply(p, in, 512, out, sizeof(out)), 512);
        CHECK_INT(strlen(out), 512);
        CHECK_INT(rw_pagenorm_apply(p, in, 513, out, sizeof(out)), -1);
        CHECK_INT(rw_pagenorm_apply(p, in, 2200, out, sizeof(out)), -1);
        /* A trailing slash on a 512-byte path: 513 raw bytes, over the limit
         * even though the result would be 512 (the limit is on the path). */
        char t[513];
        memcpy(t, in, 512);
        t[512] = '/';
        CHECK_INT(rw_pagenorm_apply(p, t, 513, out, sizeof(out)), -1);
        /* Long URLs are fine when the path is short: query and host are cut. */
        char url[2200];
        memset(url, 'q', sizeof(url));
        memcpy(url, "https://", 8);
        memcpy(url + 8 + 1000, "/a/1?", 5);
        CHECK_INT(rw_pagenorm_apply(p, url, sizeof(url), out, sizeof(out)), 4);
        CHECK_STR(out, "/a/?");
        /* Output capacity is honoured. */
        CHECK_INT(rw_pagenorm_apply(p, "/abc", 4, out, 5), 4);
        CHECK_INT(rw_pagenorm_apply(p, "/abc", 4, out, 4), -1);
        CHECK_INT(rw_pagenorm_apply(p, "/abc", 4, out, 0), -1);
        /* NUL ends the input; len is never exceeded (not NUL-terminated). */
        CHECK_INT(rw_pagenorm_apply(p, "/ab\0/7", 6, out, sizeof(out)), 3);
        CHECK_STR(out, "/ab");
        CHECK_INT(rw_pagenorm_apply(p, "/a/1XXXX", 4, out, sizeof(out)), 4);
        CHECK_STR(out, "/a/?");
        CHECK_INT(rw_pagenorm_apply(p, NULL, 0, out, sizeof(out)), 1);
        CHECK_STR(out, "/");
    }
    CHECK_INT(rw_pagenorm_apply(NULL, "/a", 2, out, sizeof(out)), -1);
    rw_pagenorm_destroy(&pn);
    rw_pagenorm_destroy(&pr);
}

/* 20000 distinct paths through a 4096-slot cache: many share a slot, and
 * every answer, first or repeated, must be the path's own. */
static void test_cache(void)
{
    static const struct rw_rewrite_rule r[] = {{"^/(en|de)/(.*)$", "/\\2"}};
    struct rw_pagenorm *pn = rw_pagenorm_new(r, 1, RW_IDS_DIGITS, NULL, 0);
    char in[160], want[160], out[RW_PAGE_MAX + 1];
    int bad = 0;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 20000; i++) {
            int k = round == 1 ? 19999 - i : i;
            /* letters only, so digits mode keeps them: "/en/p-bcd..." */
            char w[8];
            for (int j = 0; j < 7; j++)
                w[j] = (char)('a' + (k >> (j * 2) & 3) + (j % 3) * 4);
            w[7] = '\0';
            int n = snprintf(in, sizeof(in), "/%s/p-%s/%c", k & 1 ? "de" : "en", w,
                             'a' + k % 26);
            snprintf(want, sizeof(want), "/p-%s/%c", w, 'a' + k % 26);
            if (k % 7 == 0) /* some long enough to bypass the cache */
                n = snprintf(in, sizeof(in), "/en/%0130d/p-%s/%c", 0, w, 'a' + k % 26);
            if (k % 7 == 0)
                snprintf(want, sizeof(want), "/?/p-%s/%c", w, 'a' + k % 26);
            int got = rw_pagenorm_apply(pn, in, (size_t)n, out, sizeof(out));
            if (got < 0 || strcmp(out, want) != 0) {
                if (bad++ < 5)
                    fprintf(stderr, "cache: \"%s\" -> \"%s\" want \"%s\"\n", in, out, want);
            }
        }
    CHECK_INT(bad, 0);
    /* Same raw path with and without query/host is one cache key. */
    CHECK_STR(norm(pn, "/de/x", 5), "/x");
    CHECK_STR(norm(pn, "https://h/de/x?y=1", 18), "/x");
    rw_pagenorm_destroy(&pn);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void check_shape(const char *out, int n, int bad_limit, int *bad)
{
    int ok = n >= 1 && n <= RW_PAGE_MAX && (size_t)n == strlen(out) && !strstr(out, "//") &&
             (n == 1 || out[n - 1] != '/');
    if (!ok && (*bad)++ < bad_limit)
        fprintf(stderr, "fuzz: bad output (%d) \"%s\"\n", n, out);
}

static void test_fuzz(void)
{
    static const struct rw_rewrite_rule r[] = {
        {"^/(en|de|fr)/(.*)$", "/\\2"},
        {"[0-9]+", "\\\\"},
        {"(a|b)*c", "/\\1/"},
        {"^$", "/empty"},
    };
    struct rw_pagenorm *pns[4] = {
        rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, NULL, 0),
        rw_pagenorm_new(NULL, 0, RW_IDS_STRICT, NULL, 0),
        rw_pagenorm_new(NULL, 0, RW_IDS_NONE, NULL, 0),
        rw_pagenorm_new(r, 4, RW_IDS_STRICT, NULL, 0),
    };
    static const char alpha[] = "/////??##::{[*-.aAbBcCfF0123456789enderhttps:/";
    static char in[700];
    char out[RW_PAGE_MAX + 1], again[RW_PAGE_MAX + 1];
    int bad = 0, nok = 0;
    for (int it = 0; it < 200000; it++) {
        size_t len = rnd() % (it % 10 == 0 ? 700 : 64);
        int style = (int)(rnd() % 3);
        for (size_t i = 0; i < len; i++) {
            if (style == 0)
                in[i] = (char)rnd(); /* any byte, NUL and invalid UTF-8 included */
            else if (style == 1)
                in[i] = alpha[rnd() % (sizeof(alpha) - 1)];
            else
                in[i] = rnd() % 4 ? alpha[rnd() % (sizeof(alpha) - 1)] : (char)rnd();
        }
        if (style == 1 && len > 12 && rnd() % 2)
            memcpy(in, "https://h.io/", 13);
        struct rw_pagenorm *pn = pns[it % 4];
        /* Heap copy of exactly len bytes so ASan sees any read past len. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, in, len);
        int n = rw_pagenorm_apply(pn, exact, len, out, sizeof(out));
        if (n >= 0) {
            nok++;
            check_shape(out, n, 5, &bad);
            int m = rw_pagenorm_apply(pn, exact, len, again, sizeof(again));
            if ((m != n || strcmp(out, again) != 0) && bad++ < 5)
                fprintf(stderr, "fuzz: not deterministic\n");
        }
        free(exact);
    }
    CHECK_INT(bad, 0);
    CHECK(nok > 150000);
    for (int i = 0; i < 4; i++)
        rw_pagenorm_destroy(&pns[i]);
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void test_shard(void)
{
    /* By hand from the definition. FNV-1a("") is the offset basis itself,
     * 2166136261 = 0x811c9dc5 = 64 * 33845879 + 5, so shard 5 (the low six
     * bits of 0xc5 are 000101). */
    CHECK_INT(2166136261u % 64u, 5);
    CHECK_INT(rw_page_shard("", 0), 5);
    CHECK_INT(rw_page_shard(NULL, 0), 5);
    /* One step each, in uint32 arithmetic: h = (basis ^ byte) * 16777619. */
    CHECK_INT(((2166136261u ^ 0x2fu) * 16777619u), 0x2a0c975eu); /* "/" */
    CHECK_INT(rw_page_shard("/", 1), 0x5e % 64);                 /* 30 */
    CHECK_INT(rw_page_shard("\xff", 1), ((2166136261u ^ 0xffu) * 16777619u) % 64u);
    /* Published FNV-1a 32-bit test vectors: "a" -> 0xe40c292c, "foobar" ->
     * 0xbf9cf968; shards 0x2c % 64 = 44 and 0x68 % 64 = 40. */
    CHECK_INT(fnv1a("a", 1), 0xe40c292cu);
    CHECK_INT(rw_page_shard("a", 1), 44);
    CHECK_INT(fnv1a("foobar", 6), 0xbf9cf968u);
    CHECK_INT(rw_page_shard("foobar", 6), 40);
    CHECK_INT(rw_page_shard("/product/?", 10), 3); /* 0x71670903 */
    static const char *pages[] = {"/", "/product/?", "/blog/:slug", "/api/?/users", "/a/b"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        size_t n = strlen(pages[i]);
        CHECK_INT(rw_page_shard(pages[i], n), fnv1a(pages[i], n) % 64);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
        print_markdown();
        return 0;
    }
    test_vectors();
    test_rules();
    test_bad_rules();
    test_lengths();
    test_cache();
    test_fuzz();
    test_shard();
    test_doc_in_sync();
    TEST_DONE();
}
