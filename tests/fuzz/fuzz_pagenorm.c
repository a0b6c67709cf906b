/* Fuzz target: page-name normalization (engine/pagenorm.h,
 * docs/page-names.md).
 *
 * The page is what a browser (or anyone who can publish) sends; the rewrite
 * rules are the operator's config, so they are fixed here: none, and a set
 * with back-references, alternation and a rule that can grow the path
 * (RW_PAGE_MAX bound). The first input byte picks the id mode and the rule
 * set; the rest is the page. Invariants: -1 or a length 1..RW_PAGE_MAX that
 * matches the NUL-terminated output; the result has no "//", no trailing
 * '/' (except "/"), no '#'; a second
 * call (a cache hit with rules) gives the same answer; the output buffer is
 * never written past outcap; and the shard is 0..63. */
#include "engine/pagenorm.h"
#include "tests/fuzz/fuzz.h"

static struct rw_pagenorm *pn[3][2]; /* [id mode][no rules, rules] */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const struct rw_rewrite_rule rules[] = {
        {"^/blog/[^/]+$", "/blog/:slug"}, /* docs/page-names.md's example */
        {"^/(en|de|fr)/(.*)$", "/\\2"},
        {"^/static/.*$", "/static/*"},
        {"^/u/([a-z]+)/([^/]*)/?(.*)$", "/user/\\2/\\1/\\3"},
        {"(/[^/]+)\\1\\1", "\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1"}, /* grows */
        {"\\.(html?|php)$", ""},
        {"^/+$", "\\\\"},
    };
    char err[256];
    for (int m = 0; m < 3; m++)
        for (int r = 0; r < 2; r++) {
            pn[m][r] = rw_pagenorm_new(rules, r ? (int)(sizeof rules / sizeof rules[0]) : 0,
                                       (enum rw_id_mode)m, err, sizeof err);
            FUZZ_CHECK(pn[m][r], "%s", err);
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct rw_pagenorm *p = pn[data[0] % 3][(data[0] >> 2) & 1];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    /* A guard byte after outcap: apply() must never touch it. */
    char out[RW_PAGE_MAX + 2], again[RW_PAGE_MAX + 2];
    out[RW_PAGE_MAX + 1] = 'G';
    int n = rw_pagenorm_apply(p, in, len, out, RW_PAGE_MAX + 1);
    FUZZ_CHECK(out[RW_PAGE_MAX + 1] == 'G', "wrote past outcap");
    int n2 = rw_pagenorm_apply(p, in, len, again, sizeof again);
    FUZZ_CHECK(n == n2, "second call %d, first %d", n2, n);
    if (n < 0)
        return 0;
    FUZZ_CHECK(n >= 1 && n <= RW_PAGE_MAX, "length %d", n);
    FUZZ_CHECK(strlen(out) == (size_t)n, "strlen %zu != %d", strlen(out), n);
    FUZZ_CHECK(memcmp(out, again, (size_t)n + 1) == 0, "second call differs: %s vs %s", out,
               again);
    FUZZ_CHECK(!strstr(out, "//"), "\"//\" in %s", out);
    FUZZ_CHECK(!strchr(out, '#'), "'#' in %s", out);
    FUZZ_CHECK(n == 1 || out[n - 1] != '/', "trailing '/' in %s", out);

    /* A small output buffer is refused, not overrun. */
    char tiny[4] = {'x', 'x', 'x', 'T'};
    int nt = rw_pagenorm_apply(p, in, len, tiny, 3);
    FUZZ_CHECK(tiny[3] == 'T', "wrote past a 3-byte buffer");
    FUZZ_CHECK(nt == (n <= 2 ? n : -1), "3-byte buffer: %d for a %d-byte result", nt, n);

    FUZZ_CHECK(rw_page_shard(out, (size_t)n) < 64, "shard");
    return 0;
}
