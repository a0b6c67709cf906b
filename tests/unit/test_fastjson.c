/* Differential test: rw_fastdec_decode (fastjson.c) against the jansson
 * reference rw_decode (decode.c). For every input both must return the same
 * reason and, on RW_OK, the same event, vitals bit for bit.
 *
 * Inputs: hand-written corners (jansson quirks included), the cases of
 * test_decode.c, the first 20,000 lines of data/sample.ndjson.gz, generated
 * events with random field choices (views, errors and custom metric events
 * with good and bad names and values), 300,000 seeded mutations, random
 * bytes.
 * Runs from the repository root:
 *
 *   gcc -std=c11 -O2 -g -Wall -Wextra -Wshadow -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
 *       engine/fastjson.c engine/decode.c engine/pagenorm.c engine/metric.c \
 *       tests/unit/test_fastjson.c -o /tmp/t_fj $(pkg-config --cflags --libs jansson zlib) -lm
 */
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "check.h"
#include "engine/decode.h"
#include "engine/fastjson.h"

static struct rw_pagenorm *pn_ref, *pn_fast;
static struct rw_decoder *ref;
static struct rw_fastdec *fast;
static long n_inputs, n_ok, n_metric_ok, n_reason[RW_NREJECT];
static int n_printed;

static void show(const char *what, const char *buf, size_t len)
{
    if (n_printed++ >= 25)
        return;
    fprintf(stderr, "  %s: \"", what);
    for (size_t i = 0; i < len && i < 300; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "%s\" (len %zu)\n", len > 300 ? "..." : "", len);
}

/* Decode with both; count a failure (and print the first few) on any difference. */
static enum rw_reject diff(const char *buf, size_t len)
{
    struct rw_event a, b;
    memset(&a, 0xAA, sizeof a);
    memset(&b, 0x55, sizeof b);
    /* an exact-size copy without a trailing NUL, so ASan sees any over-read */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, buf, len);
    enum rw_reject ra = rw_decode(ref, buf, len, &a);
    enum rw_reject rb = rw_fastdec_decode(fast, copy, len, &b);
    free(copy);
    n_inputs++;
    n_reason[ra]++;
    rw_test_checks++;
    if (ra != rb) {
        rw_test_failures++;
        if (n_printed < 25)
            fprintf(stderr, "reason differs: jansson %s, fast %s\n", rw_reject_names[ra],
                    rw_reject_names[rb]);
        show("input", buf, len);
    } else if (ra == RW_OK) {
        n_ok++;
        n_metric_ok += a.type == RW_EV_METRIC;
        if (!rw_event_same(&a, &b)) {
            rw_test_failures++;
            if (n_printed < 25)
                fprintf(stderr, "event differs\n");
            show("input", buf, len);
        }
    }
    return ra;
}

static enum rw_reject diffs(const char *s) { return diff(s, strlen(s)); }

/* ---- seeded randomness ---- */

#ifndef FJ_SEED /* -DFJ_SEED=... explores other inputs; the default is what CI runs */
#define FJ_SEED 0x243F6A8885A308D3u
#endif
#ifndef FJ_MUTATIONS
#define FJ_MUTATIONS 300000
#endif
static uint64_t rng_state = FJ_SEED;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* A growable byte buffer for building inputs. */
struct sb {
    char *p;
    size_t n, cap;
};
static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_s(struct sb *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_c(struct sb *b, char c) { sb_put(b, &c, 1); }

/* ---- hand-written corners ---- */

#define EV "\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/p\""
#define MEV "\"v\":1,\"type\":\"metric\",\"ts\":1732000000000,\"page\":\"/checkout\""

static void test_corners(void)
{
    static const char *const cases[] = {
        /* test_decode.c: valid */
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601080,\"page\":\"/product/48213?x=1\","
        "\"seg\":{\"device\":\"mobile\",\"country\":\"DE\",\"browser\":\"chrome\"},"
        "\"vitals\":{\"ttfb\":246.8,\"fcp\":524.4,\"lcp\":1535.3,\"inp\":38.0,\"cls\":0.0513},"
        "\"view_id\":\"v1\",\"session_id\":\"s1\",\"unknown\":{\"a\":[1,2]}}",
        "{\"v\":1,\"type\":\"error\",\"ts\":1762041601900,\"page\":\"/checkout\","
        "\"app\":\"shop\",\"error\":{\"kind\":\"TypeError\",\"message\":\"x\"}}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"lcp\":null,\"ttfb\":10}}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000.7,\"page\":\"/\"}",
        /* test_decode.c: rejections */
        "", "{", "{\"v\":1,\"type\":\"view\",\"ts\":NaN,\"page\":\"/\"}",
        "{" EV ",\"vitals\":{\"lcp\":1e999}}", "{\"v\":1,\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "[1,2]", "\"view\"", "{\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":2,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":\"1\",\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"click\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":1,\"ts\":1762041601000,\"page\":\"/\"}", "{\"v\":1,\"type\":\"view\",\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":\"2025-01-01\",\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":-5,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":99999999999999999,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":42}",
        "{" EV ",\"seg\":[1]}", "{" EV ",\"seg\":{\"device\":1}}", "{" EV ",\"seg\":{\"device\":null}}",
        "{" EV ",\"vitals\":{\"lcp\":-1}}", "{" EV ",\"vitals\":{\"lcp\":3600001}}",
        "{" EV ",\"vitals\":{\"cls\":101}}", "{" EV ",\"vitals\":{\"inp\":\"fast\"}}",
        "{" EV ",\"vitals\":[1]}", "{" EV ",\"app\":5}", "{" EV ",\"seg\":{\"d\":\"a\\u001fb\"}}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/a\\u0007\"}",
        "{" EV ",\"app\":\"x\\ny\"}", "{" EV ",\"seg\":{\"a\":\"x\\u0000y\"}}",
        /* escaped keys compare unescaped */
        "{\"\\u0076\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"\\u0076\":1,\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{" EV ",\"s\\u0065g\":{\"\\u00e9\":\"\\ud83d\\ude00\"}}",
        "{" EV ",\"seg\":{\"a\":\"1\",\"\\u0061\":\"2\"}}",
        "{" EV ",\"seg\":{\"a\":\"\\ud800\"}}", "{" EV ",\"seg\":{\"a\":\"\\udc00\"}}",
        "{" EV ",\"seg\":{\"a\":\"\\ud800\\u0041\"}}", "{" EV ",\"seg\":{\"a\":\"\\ud800\\\\u\"}}",
        "{" EV ",\"seg\":{\"a\":\"\\uDBFF\\uDFFF\"}}", "{" EV ",\"seg\":{\"a\":\"\\u00\"}}",
        "{" EV ",\"seg\":{\"a\":\"\\u00g0\"}}", "{" EV ",\"seg\":{\"a\":\"\\x\"}}",
        "{" EV ",\"seg\":{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}}", "{" EV ",\"seg\":{\"a\":\"\\u007f\"}}",
        "{" EV ",\"seg\":{\"a\":\"\x7f\"}}", "{" EV ",\"seg\":{\"a\":\"\xc3\xa9\"}}",
        "{" EV ",\"seg\":{\"a\":\"\xc3\"}}", "{" EV ",\"seg\":{\"a\":\"\xc0\xaf\"}}",
        "{" EV ",\"seg\":{\"a\":\"\xe0\x80\xaf\"}}", "{" EV ",\"seg\":{\"a\":\"\xed\xa0\x80\"}}",
        "{" EV ",\"seg\":{\"a\":\"\xef\xbf\xbf\"}}", "{" EV ",\"seg\":{\"a\":\"\xf0\x9f\x98\x80\"}}",
        "{" EV ",\"seg\":{\"a\":\"\xf4\x8f\xbf\xbf\"}}", "{" EV ",\"seg\":{\"a\":\"\xf4\x90\x80\x80\"}}",
        "{" EV ",\"seg\":{\"a\":\"\xf0\x80\x80\x80\"}}", "{" EV ",\"seg\":{\"a\":\"\xf5\x80\x80\x80\"}}",
        "{" EV ",\"seg\":{\"a\":\"\x80\"}}", "{" EV ",\"seg\":{\"a\":\"\xff\"}}", "{" EV ",\"x\":\xc3\xa9}",
        "{" EV ",\"seg\":null,\"app\":null,\"vitals\":null}", "{" EV ",\"seg\":{}}",
        "{" EV ",\"app\":\"\"}", "{" EV ",\"app\":\"a\\u0000\"}",
        /* numbers */
        "{" EV ",\"x\":1e400}", "{" EV ",\"x\":-1e400}", "{" EV ",\"x\":1e-400}",
        "{" EV ",\"x\":1.7976931348623157e308}", "{" EV ",\"x\":1.7976931348623159e308}",
        "{" EV ",\"x\":4.9e-324}", "{" EV ",\"x\":01}", "{" EV ",\"x\":+1}", "{" EV ",\"x\":-}",
        "{" EV ",\"x\":-0}", "{" EV ",\"x\":-0.0}", "{" EV ",\"x\":1.}", "{" EV ",\"x\":.5}",
        "{" EV ",\"x\":1e}", "{" EV ",\"x\":1e+}", "{" EV ",\"x\":1E+2}", "{" EV ",\"x\":1.5e-2}",
        "{" EV ",\"x\":0x10}", "{" EV ",\"x\":9223372036854775807}",
        "{" EV ",\"x\":9223372036854775808}", "{" EV ",\"x\":-9223372036854775808}",
        "{" EV ",\"x\":-9223372036854775809}", "{" EV ",\"x\":18446744073709551616}",
        "{" EV ",\"x\":123456789012345678901234567890}", "{" EV ",\"x\":Infinity}",
        "{" EV ",\"x\":-Infinity}", "{" EV ",\"x\":nan}", "{" EV ",\"x\":truex}",
        "{" EV ",\"x\":true1}", "{" EV ",\"x\":nul}", "{" EV ",\"x\":True}",
        "{\"v\":1.0,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":-0,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":1E0,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1.762041601e12,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":946684800000,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":946684799999,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":946684799999.5,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":7258118400000,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":7258118399999.999,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":7258118400000.0,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1e300,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":-1e300,\"page\":\"/\"}",
        "{\"v\":1,\"type\":\"view\",\"ts\":1e-300,\"page\":\"/\"}",
        "{" EV ",\"vitals\":{\"lcp\":3600000,\"cls\":100,\"ttfb\":-0.0,\"fcp\":-0,\"inp\":0}}",
        "{" EV ",\"vitals\":{\"lcp\":3600000.0000001}}", "{" EV ",\"vitals\":{\"cls\":100.00000000000001}}",
        "{" EV ",\"vitals\":{\"lcp\":1e-320,\"inp\":true}}", "{" EV ",\"vitals\":{\"lcp\":{}}}",
        "{" EV ",\"vitals\":{\"LCP\":\"x\",\"lcp2\":5}}", "{" EV ",\"vitals\":{\"lcp\":-1e-400}}",
        "{\"v\":1,\"type\":\"error\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":[\"x\"]}",
        "{\"v\":1,\"type\":\"error\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"lcp\":-1}}",
        /* custom metric events (test_decode.c's cases and more) */
        "{" MEV ",\"name\":\"add_to_cart\"}", "{" MEV ",\"name\":\"x\",\"value\":0}",
        "{" MEV ",\"name\":\"x\",\"value\":-3}", "{" MEV ",\"name\":\"x\",\"value\":-0.0}",
        "{" MEV ",\"name\":\"x\",\"value\":-0}", "{" MEV ",\"name\":\"x\",\"value\":12.5}",
        "{" MEV ",\"name\":\"x\",\"value\":2.5e3}", "{" MEV ",\"name\":\"x\",\"value\":1e-400}",
        "{" MEV ",\"name\":\"x\",\"value\":4.9e-324}",
        "{" MEV ",\"name\":\"x\",\"value\":1.7976931348623157e308}",
        "{" MEV ",\"name\":\"x\",\"value\":-1.7976931348623157e308}",
        "{" MEV ",\"name\":\"x\",\"value\":1.7976931348623159e308}",
        "{" MEV ",\"name\":\"x\",\"value\":9223372036854775807}",
        "{" MEV ",\"name\":\"x\",\"value\":-9223372036854775808}",
        "{" MEV ",\"name\":\"x\",\"value\":9223372036854775808}",
        "{" MEV ",\"name\":\"x\",\"value\":1e400}", "{" MEV ",\"name\":\"x\",\"value\":-1e309}",
        "{" MEV ",\"name\":\"x\",\"value\":NaN}", "{" MEV ",\"name\":\"x\",\"value\":Infinity}",
        "{" MEV ",\"name\":\"x\",\"value\":\"1\"}", "{" MEV ",\"name\":\"x\",\"value\":null}",
        "{" MEV ",\"name\":\"x\",\"value\":true}", "{" MEV ",\"name\":\"x\",\"value\":false}",
        "{" MEV ",\"name\":\"x\",\"value\":{}}", "{" MEV ",\"name\":\"x\",\"value\":[1]}",
        "{" MEV ",\"name\":\"x\",\"value\":1,\"value\":1}",
        "{" MEV ",\"name\":\"x\",\"name\":\"x\"}",
        "{" MEV ",\"name\":\"x\",\"n\\u0061me\":\"y\"}",
        "{" MEV ",\"value\":1,\"v\\u0061lue\":2,\"name\":\"x\"}",
        "{" MEV ",\"n\\u0061me\":\"y\"}", "{" MEV ",\"name\":\"add\\u005fto\\u005Fcart\"}",
        "{" MEV ",\"name\":\"\\u0041\\u002d\\u003a\\u002e\"}", "{" MEV ",\"name\":\"a\\/b\"}",
        "{" MEV ",\"name\":\"A-z.0:9_\"}", "{" MEV "}", "{" MEV ",\"value\":2}",
        "{" MEV ",\"name\":null}", "{" MEV ",\"name\":5}", "{" MEV ",\"name\":[\"x\"]}",
        "{" MEV ",\"name\":{}}", "{" MEV ",\"name\":true}", "{" MEV ",\"name\":\"\"}",
        "{" MEV ",\"name\":\"add to cart\"}", "{" MEV ",\"name\":\"a/b\"}",
        "{" MEV ",\"name\":\"caf\xc3\xa9\"}", "{" MEV ",\"name\":\"caf\\u00e9\"}",
        "{" MEV ",\"name\":\"a\\nb\"}", "{" MEV ",\"name\":\"a\\u007f\"}",
        "{" MEV ",\"name\":\"a\\\"b\"}", "{" MEV ",\"name\":\"x\\u0000\"}",
        "{" MEV ",\"name\":\"\\ud83d\\ude00\"}",
        "{" MEV ",\"name\":\"x\",\"seg\":{\"name\":\"y\"}}",
        "{" MEV ",\"name\":\"x\",\"vitals\":{\"lcp\":1000}}",
        "{" MEV ",\"name\":\"x\",\"vitals\":{\"lcp\":-1,\"cls\":\"a\"}}",
        "{" MEV ",\"name\":\"x\",\"vitals\":[1]}",
        "{" MEV ",\"name\":\"x\",\"vitals\":{\"lcp\":1e999}}",
        "{" MEV ",\"name\":\"x\",\"error\":{\"name\":5,\"value\":\"a\"}}",
        "{" MEV ",\"x\":{\"name\":\"y\"},\"name\":\"x\"}",
        "{" MEV ",\"name\":\"\",\"vitals\":{\"lcp\":-1}}",
        "{\"value\":7,\"name\":\"first\"," MEV "}", "{" EV ",\"name\":7,\"value\":\"x\"}",
        "{" EV ",\"name\":\"ok\",\"value\":2}",
        "{\"v\":1,\"type\":\"error\",\"ts\":1732000000000,\"page\":\"/\","
        "\"name\":\"ok\",\"value\":null}",
        "{\"v\":1,\"type\":\"Metric\",\"ts\":1732000000000,\"page\":\"/\",\"name\":\"x\"}",
        "{\"v\":1,\"type\":\"m\\u0065tric\",\"ts\":1732000000000,\"page\":\"/\",\"name\":\"x\"}",
        "{\"v\":1,\"type\":\"metric\",\"ts\":1732000000,\"page\":\"/\",\"name\":\"x\"}",
        "{\"v\":1,\"type\":\"metric\",\"ts\":1732000000000,\"name\":\"\"}",
        "{" MEV ",\"app\":\"\",\"name\":\"\"}", "{" MEV ",\"seg\":{\"d\":1},\"name\":\"\"}",
        "{" MEV ",\"app\":\"shop\",\"seg\":{\"device\":\"mobile\"},\"session_id\":\"s\","
        "\"name\":\"x\"}",
        /* session */
        "{" EV ",\"session_id\":\"\"}", "{" EV ",\"session_id\":5,\"view_id\":\"v\"}",
        "{" EV ",\"session_id\":\"s\",\"view_id\":\"v\"}", "{" EV ",\"view_id\":\"\\u00e9\"}",
        /* structure and whitespace */
        " \t\r\n{" EV "} \t\r\n", "{" EV "}x", "{" EV "},", "{" EV "}{}", "{" EV ",}", "{," EV "}",
        "{" EV " , \"a\" : [ 1 , 2 , { } , [ ] ] }", "{" EV ",\"a\":[1,]}", "{" EV ",\"a\":[,1]}",
        "{" EV ",\"a\" 1}", "{" EV ",\"a\"::1}", "{" EV ",1:1}", "{" EV ",\"a\":}", "{" EV "\f}",
        "{" EV ",\"a\":{\"b\":1,\"b\":2}}", "{" EV ",\"a\":[{\"b\":1,\"b\":2}]}",
        "{" EV ",\"a\":[{\"b\":1},{\"b\":2}]}", "{" EV ",\"a\":{\"b\":{\"c\":1},\"c\":1}}",
        "{" EV ",\"seg\":{\"a\":\"x\"},\"seg\":{}}", "{" EV ",\"error\":{\"v\":2}}",
        "null", "true", "1", "-1.5", "[]", "{}", "\"\"", "  ", "nul", "{\"\":0}", "{\"\":0,\"\":1}",
        "\xef\xbb\xbf{" EV "}", "{" EV ",\"a\":\"tab\there\"}", "{" EV ",\"a\":\"nl\nhere\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        diffs(cases[i]);

    /* each vital name as metric.c spells it lands in its own bit */
    for (int i = 0; i < RW_NVITALS; i++) {
        char vb[256];
        struct rw_event ev;
        snprintf(vb, sizeof vb, "{" EV ",\"vitals\":{\"%s\":%d}}", rw_metric_names[i], i + 1);
        CHECK_INT(diffs(vb), RW_OK);
        CHECK_INT(rw_fastdec_decode(fast, vb, strlen(vb), &ev), RW_OK);
        CHECK_INT(ev.vital_mask, 1u << i);
        CHECK(ev.vital[i] == i + 1);
    }

    /* jansson loses one NUL byte right after a number or literal */
    static const struct {
        const char *s;
        size_t n;
    } nul[] = {
        {"1\0", 2},
        {"1\0\0", 3},
        {"true\0", 5},
        {"null\0 ", 6},
        {"[1\0,2]", 6},
        {"[1.5\0]", 6},
        {"[1e5\0]", 6},
        {"[false\0]", 8},
        {"\"a\"\0", 4},
        {"{\"a\":\"b\"\0}", 10},
        {"[1,\0 2]", 7},
        {"{\"v\":1\0,\"type\":\"view\",\"ts\":1762041601000\0,\"page\":\"/\"}", 54},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}\0", 53},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\\u0000\"}", 58},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\0\"}", 53},
    };
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++)
        diff(nul[i].s, nul[i].n);
    CHECK_INT(diff("[1\0,2]", 6), RW_REJ_SHAPE);

    /* depth: jansson counts every value, limit 2048 */
    struct sb b = {0};
    for (int depth = 2040; depth <= 2052; depth++) {
        for (int inner = 0; inner < 4; inner++) {
            b.n = 0;
            sb_s(&b, "{" EV ",\"deep\":");
            for (int i = 0; i < depth; i++)
                sb_s(&b, inner == 3 ? "{\"k\":" : "[");
            sb_s(&b, inner == 0 ? "" : inner == 1 ? "1" : "\"s\"");
            for (int i = 0; i < depth; i++)
                sb_s(&b, inner == 3 ? "}" : "]");
            sb_s(&b, "}");
            diff(b.p, b.n);
        }
        b.n = 0;
        for (int i = 0; i < depth; i++)
            sb_c(&b, '[');
        for (int i = 0; i < depth; i++)
            sb_c(&b, ']');
        diff(b.p, b.n);
    }
    /* a 100,000-deep prefix must fail fast, not overflow a stack */
    b.n = 0;
    for (int i = 0; i < 100000; i++)
        sb_c(&b, '[');
    diff(b.p, b.n);

    /* big objects: duplicate detection beyond the linear scan */
    for (int nk = 10; nk <= 3000; nk = nk * 3 / 2 + 1) {
        for (int dup = -1; dup < 3; dup++) {
            b.n = 0;
            sb_s(&b, "{" EV ",\"seg\":{");
            char kbuf[64];
            for (int i = 0; i < nk; i++) {
                int k = i;
                if (dup == 0 && i == nk - 1)
                    k = 0;
                if (dup == 1 && i == nk - 1)
                    k = nk / 2;
                if (dup == 2 && i == nk / 2)
                    k = nk / 2 - 1;
                snprintf(kbuf, sizeof kbuf, "%s\"k%d\":\"v\"", i ? "," : "", k);
                sb_s(&b, kbuf);
            }
            sb_s(&b, "},\"big\":{");
            for (int i = 0; i < nk; i++) {
                snprintf(kbuf, sizeof kbuf, "%s\"%c%d\":{\"a\":1,\"b\":[%d]}", i ? "," : "",
                         'a' + i % 3, i / 3 + (dup == 2 && i == nk - 1 ? -1 : 0), i);
                sb_s(&b, kbuf);
            }
            sb_s(&b, "}}");
            diff(b.p, b.n);
        }
    }
    /* long number tokens (strtod fallback buffer) */
    for (int nd = 50; nd <= 400; nd += 10) {
        for (int form = 0; form < 3; form++) {
            b.n = 0;
            sb_s(&b, "{" EV ",\"vitals\":{\"lcp\":");
            if (form == 2)
                sb_s(&b, "0.");
            for (int i = 0; i < nd; i++)
                sb_c(&b, (char)('1' + i % 9));
            if (form == 0)
                sb_s(&b, ".5");
            if (form == 1)
                sb_s(&b, "e-300");
            sb_s(&b, "},\"x\":");
            for (int i = 0; i < nd; i++)
                sb_c(&b, (char)('1' + i % 9));
            sb_s(&b, form == 1 ? "e-100}" : ".25}");
            diff(b.p, b.n);
        }
    }
    /* long strings: page and seg bounds */
    for (int n = 500; n <= 520; n++) {
        b.n = 0;
        sb_s(&b, "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/");
        for (int i = 1; i < n; i++)
            sb_s(&b, i % 50 == 0 ? "\\u00e9" : "a");
        sb_s(&b, "\"}");
        diff(b.p, b.n);
    }
    for (int n = 60; n <= 70; n++) {
        b.n = 0;
        sb_s(&b, "{" EV ",\"seg\":{\"k\":\"");
        for (int i = 0; i < n; i++)
            sb_c(&b, 'x');
        sb_s(&b, "\"}}");
        diff(b.p, b.n);
    }
    /* seg with more than 16 keys: 16 kept, all checked */
    for (int bad = -1; bad < 20; bad += 4) {
        b.n = 0;
        sb_s(&b, "{" EV ",\"seg\":{");
        for (int i = 0; i < 20; i++) {
            char kb[64];
            snprintf(kb, sizeof kb, "%s\"k%02d\":%s", i ? "," : "", i, i == bad ? "1" : "\"v\"");
            sb_s(&b, kb);
        }
        sb_s(&b, "}}");
        diff(b.p, b.n);
    }
    /* metric name length bounds, raw and escaped (64 bytes after unescaping) */
    for (int n = 0; n <= RW_METRIC_NAME_MAX + 2; n++) {
        for (int esc = 0; esc < 3; esc++) {
            b.n = 0;
            sb_s(&b, "{" MEV ",\"name\":\"");
            for (int i = 0; i < n; i++) {
                if (esc == 1 && i % 7 == 3)
                    sb_s(&b, "\\u005f"); /* "_" */
                else
                    sb_s(&b, esc == 2 && i == n - 1 ? "\\u00e9" : "m");
            }
            sb_s(&b, "\",\"value\":0.5}");
            enum rw_reject r = diff(b.p, b.n);
            CHECK_INT(r, n >= 1 && n <= RW_METRIC_NAME_MAX && esc != 2 ? RW_OK : RW_REJ_METRIC);
        }
    }
    /* each byte as a one-byte name: exactly [A-Za-z0-9_.:-] pass */
    for (int c = 0x20; c < 0x80; c++) {
        char nb[128];
        if (c == '"' || c == '\\')
            snprintf(nb, sizeof nb, "{" MEV ",\"name\":\"\\%c\"}", c);
        else
            snprintf(nb, sizeof nb, "{" MEV ",\"name\":\"%c\"}", c);
        int good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == ':' || c == '-';
        CHECK_INT(diffs(nb), good ? RW_OK : RW_REJ_METRIC);
    }
    free(b.p);
}

/* ---- the sample file ---- */

static int load_sample(char ***lines, size_t **lens, int max)
{
    gzFile gz = gzopen("data/sample.ndjson.gz", "rb");
    if (!gz)
        return 0;
    *lines = calloc((size_t)max, sizeof **lines);
    *lens = calloc((size_t)max, sizeof **lens);
    static char buf[1 << 16];
    int n = 0;
    while (n < max && gzgets(gz, buf, sizeof buf)) {
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
            l--;
        (*lines)[n] = malloc(l + 1);
        memcpy((*lines)[n], buf, l);
        (*lines)[n][l] = '\0';
        (*lens)[n] = l;
        n++;
    }
    gzclose(gz);
    return n;
}

/* ---- generated events ---- */

static const char *pick(const char *const *a, size_t n) { return a[rn((unsigned)n)]; }
#define PICK(a) pick(a, sizeof a / sizeof a[0])
/* The first ngood entries of a are acceptable values: pick one of those most of the time. */
static const char *pickg(const char *const *a, size_t n, size_t ngood)
{
    return rn(100) < 85 ? a[rn((unsigned)ngood)] : a[rn((unsigned)n)];
}
#define PICKG(a, ngood) pickg(a, sizeof a / sizeof a[0], ngood)

/* Mostly well-formed values; a poisoned one (invalid JSON) one time in 25. */
static const char *const strs[] = {
    "\"mobile\"", "\"DE\"", "\"\"", "\"\\u00e9t\\u00e9\"", "\"\\ud83d\\ude00\"",
    "\"\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\\/\\\\\\\"\"", "\"chrome\"",
    "\"0123456789012345678901234567890123456789012345678901234567890123\"",
    /* refused as segment values: */
    "\"\\u007f\"", "\"tab\\t\"", "\"x\x7f\"", "\"a\\nb\"",
    "\"01234567890123456789012345678901234567890123456789012345678901234\"",
};
static const char *const nums[] = {
    "0", "-0", "1", "1.0", "1E0", "2", "-1", "246.8", "0.0513", "3600000", "3600000.5", "100",
    "100.5", "1e-400", "-0.0", "1e2", "9223372036854775807", "-9223372036854775808",
    "1762041601080", "1762041601080.9", "1.76204160108e12", "4.9e-324", "1e308",
};
static const char *const others[] = {
    "null", "true", "false", "{}", "[]", "[1,\"a\",null]", "{\"a\":{\"b\":[{}]}}",
};
static const char *const poison[] = {
    "\"x\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"", "1e400", "01", "+1", "NaN",
    "9223372036854775808", "{\"a\":1,\"a\":2}", "\"\xc0\xaf\"", "\"a\tb\"", "[1,]",
};

static void gen_value(struct sb *b, int which)
{
    if (rn(25) == 0) {
        sb_s(b, PICK(poison));
        return;
    }
    switch (which < 0 ? (int)rn(3) : which) {
    case 0:
        sb_s(b, PICKG(strs, 11));
        break;
    case 1:
        sb_s(b, PICK(nums));
        break;
    default:
        sb_s(b, PICK(others));
        break;
    }
}

/* metric_only: a custom metric event whose common fields (v, type, ts, page)
 * are always present and good, so most inputs reach the name/value checks. */
static void gen_event_m(struct sb *b, int metric_only)
{
    /* good values first (count in the PICKG call), then bad ones */
    static const char *const pages[] = {"\"/\"", "\"/product/48213\"", "\"/a/b?q=1#f\"",
                                        "\"https://x.com/p/1\"", "\"/caf\\u00e9\"", "\"/cart\"",
                                        "\"\"", "\"/a\\u0001\"", "42", "null"};
    static const char *const types[] = {"\"view\"",       "\"error\"",        "\"metric\"",
                                        "\"vi\\u0065w\"", "\"m\\u0065tric\"", "\"click\"",
                                        "\"Metric\"",     "\"metri\"",        "null"};
    /* custom metric names: good ones first */
    static const char *const mnames[] = {
        "\"add_to_cart\"", "\"x\"", "\"A-z.0:9_\"", "\"add\\u005fto\\u005Fcart\"", "\"\\u0061\"",
        "\"checkout.step:2\"",
        "\"0123456789012345678901234567890123456789012345678901234567890123\"",
        /* bad */
        "\"\"", "\"01234567890123456789012345678901234567890123456789012345678901234\"",
        "\"add to cart\"", "\"a/b\"", "\"a\\/b\"", "\"caf\\u00e9\"", "\"caf\xc3\xa9\"", "\"a\\nb\"",
        "\"a\\u007f\"", "\"a+b\"", "5", "null", "true", "[]", "{}", "[\"x\"]"};
    static const char *const mvals[] = {
        "1", "0", "-0", "-0.0", "12.5", "2.5e3", "1e-400", "1.7976931348623157e308",
        "-1.7976931348623157e308", "9223372036854775807", "-9223372036854775808", "4.9e-324",
        "1e308", "-7", "0.1",
        /* bad */
        "\"1\"", "null", "true", "false", "{}", "[1]", "1e400", "-1e309", "9223372036854775808",
        "NaN", "1.7976931348623159e308", "Infinity", "1.", "-"};
    static const char *const vs[] = {"1", "1.0", "2", "\"1\"", "-0", "true"};
    static const char *const tss[] = {"1762041601080", "1762041601080.5", "946684800000",
                                      "1.7620416e12", "1762041601", "7258118400000",
                                      "\"1762041601080\"", "-1", "null"};
    static const char *const apps[] = {"\"shop\"", "null", "\"\\u00e9\"", "\"\"", "5",
                                       "\"a\\u0000\"", "\"x\\ty\""};
    static const char *const vnames[] = {"ttfb", "fcp", "lcp", "inp", "cls", "LCP", "x"};
    const char *fields[16];
    int nf = 0;
    /* field order is shuffled; each field present with high probability
     * (the first four and "name" mostly, the rest half the time) */
    static const char *const all[] = {"v",       "type",  "ts",     "page",  "name",
                                      "app",     "seg",   "vitals", "value", "session_id",
                                      "view_id", "error", "extra"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if ((metric_only && i < 4) || rn(100) < (i < 5 ? 95u : 50u))
            fields[nf++] = all[i];
    for (int i = nf - 1; i > 0; i--) {
        int j = (int)rn((unsigned)i + 1);
        const char *t = fields[i];
        fields[i] = fields[j];
        fields[j] = t;
    }
    sb_c(b, '{');
    for (int i = 0; i < nf; i++) {
        const char *f = fields[i];
        if (i)
            sb_c(b, ',');
        sb_c(b, '"');
        sb_s(b, f);
        sb_s(b, "\":");
        if (metric_only && !strcmp(f, "v"))
            sb_s(b, "1");
        else if (metric_only && !strcmp(f, "type"))
            sb_s(b, rn(4) ? "\"metric\"" : "\"m\\u0065tric\"");
        else if (metric_only && !strcmp(f, "ts"))
            sb_s(b, "1732000000000");
        else if (metric_only && !strcmp(f, "page"))
            sb_s(b, "\"/checkout\"");
        else if (!strcmp(f, "v"))
            sb_s(b, PICKG(vs, 1));
        else if (!strcmp(f, "type"))
            sb_s(b, PICKG(types, 5));
        else if (!strcmp(f, "name"))
            sb_s(b, PICKG(mnames, 7));
        else if (!strcmp(f, "value"))
            sb_s(b, PICKG(mvals, 15));
        else if (!strcmp(f, "ts"))
            sb_s(b, PICKG(tss, 4));
        else if (!strcmp(f, "page"))
            sb_s(b, PICKG(pages, 6));
        else if (!strcmp(f, "app"))
            sb_s(b, PICKG(apps, 3));
        else if (!strcmp(f, "seg")) {
            if (rn(10) == 0) {
                gen_value(b, -1);
                continue;
            }
            int nk = (int)rn(rn(5) == 0 ? 22 : 5);
            sb_c(b, '{');
            for (int k = 0; k < nk; k++) {
                char kb[32];
                snprintf(kb, sizeof kb, "%s\"%s%d\":", k ? "," : "", rn(8) ? "k" : "\\u006b",
                         rn(6) ? k : (int)rn(4));
                sb_s(b, kb);
                gen_value(b, rn(8) ? 0 : -1);
            }
            sb_c(b, '}');
        } else if (!strcmp(f, "vitals")) {
            if (rn(10) == 0) {
                gen_value(b, -1);
                continue;
            }
            sb_c(b, '{');
            int nk = (int)rn(7);
            for (int k = 0; k < nk; k++) {
                sb_s(b, k ? ",\"" : "\"");
                sb_s(b, rn(12) ? vnames[(k + rn(2)) % 7] : PICK(vnames));
                sb_s(b, "\":");
                gen_value(b, rn(6) ? 1 : -1);
            }
            sb_c(b, '}');
        } else if (!strcmp(f, "session_id") || !strcmp(f, "view_id")) {
            gen_value(b, rn(5) ? 0 : -1);
        } else {
            gen_value(b, -1);
        }
    }
    sb_c(b, '}');
}

static void gen_event(struct sb *b) { gen_event_m(b, 0); }

/* ---- mutations ---- */

static const char *const snippets[] = {
    "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\u0000", "\\u0076", "\\", "\"", "1e400",
    "-0", "1E2", "01", "+1", " ", "\t", "\n", "\r", ",", ":", "{", "}", "[", "]", "null", "true",
    "false", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xff", "NaN", "Infinity",
    "1.", ".5", "1e", "-", "9223372036854775808", "-9223372036854775809", "1e-400", "\"v\":1,",
    "\"seg\":{},", "\"a\":1,", "{\"a\":1,\"a\":1}", "[[[[[[[[", "]]]]]]]]", "\x7f", "\x01",
    "\"type\":\"metric\",", "\"name\":\"x\",", "\"value\":2.5,", "\"name\":", "\"value\":",
    "metric", "1e309", "\\u005f", "_", ".", ":", "/",
};

static void mutate(struct sb *b)
{
    int nm = 1 + (int)rn(3);
    for (int m = 0; m < nm; m++) {
        size_t n = b->n;
        size_t pos = n ? rn((unsigned)n + 1) : 0;
        char tmp[4096];
        switch (rn(10)) {
        case 0: /* byte flip */
            if (n)
                b->p[rn((unsigned)n)] = (char)rnd();
            break;
        case 1: /* bit flip */
            if (n)
                b->p[rn((unsigned)n)] ^= (char)(1u << rn(8));
            break;
        case 2: /* delete a range */
            if (n) {
                size_t l = 1 + rn(rn(4) ? 3 : 20);
                if (pos + l > n)
                    l = n - pos;
                memmove(b->p + pos, b->p + pos + l, n - pos - l);
                b->n -= l;
            }
            break;
        case 3: /* truncate */
            b->n = pos;
            break;
        case 4:
        case 5:
        case 6: { /* insert a snippet */
            const char *s = PICK(snippets);
            size_t l = rn(16) ? strlen(s) : 1; /* sometimes a NUL byte */
            if (l == 1 && s[1])
                s = "";
            if (n + l + 1 > sizeof tmp)
                break;
            memcpy(tmp, b->p, pos);
            memcpy(tmp + pos, s, l);
            memcpy(tmp + pos + l, b->p + pos, n - pos);
            b->n = 0;
            sb_put(b, tmp, n + l);
            break;
        }
        case 7: { /* duplicate a member: copy "key":value-ish span after a comma */
            if (n < 4 || n * 2 + 1 > sizeof tmp)
                break;
            char *q = memchr(b->p + pos, '"', n - pos);
            if (!q)
                break;
            size_t st = (size_t)(q - b->p);
            char *e = memchr(b->p + st, ',', n - st);
            if (!e)
                break;
            size_t en = (size_t)(e - b->p) + 1;
            memcpy(tmp, b->p, en);
            memcpy(tmp + en, b->p + st, en - st);
            memcpy(tmp + en + (en - st), b->p + en, n - en);
            b->n = 0;
            sb_put(b, tmp, n + (en - st));
            break;
        }
        case 8: { /* whitespace around a structural character */
            static const char *const ws[] = {" ", "\t", "\r\n", "  ", "\f", "\v"};
            const char *s = PICK(ws);
            size_t l = strlen(s);
            if (n + l + 1 > sizeof tmp)
                break;
            memcpy(tmp, b->p, pos);
            memcpy(tmp + pos, s, l);
            memcpy(tmp + pos + l, b->p + pos, n - pos);
            b->n = 0;
            sb_put(b, tmp, n + l);
            break;
        }
        default: { /* swap a digit or replace a byte with a JSON-ish one */
            static const char jb[] = "{}[]\":,0123456789-+.eEtrufalsn \\u";
            if (n)
                b->p[rn((unsigned)n)] = jb[rn(sizeof jb - 1)];
            break;
        }
        }
    }
}

int main(void)
{
    char err[256];
    pn_ref = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    pn_fast = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    ref = rw_decoder_new(pn_ref, 64);
    fast = rw_fastdec_new(pn_fast, 64, 1024); /* small: growth gets exercised */
    CHECK(pn_ref && pn_fast && ref && fast);
    if (!fast || !ref)
        TEST_DONE();

    test_corners();
    long after_corners = n_inputs;

    char **lines = NULL;
    size_t *lens = NULL;
    int nl = load_sample(&lines, &lens, 20000);
    CHECK_INT(nl, 20000);
    long ok_before = n_ok;
    for (int i = 0; i < nl; i++)
        diff(lines[i], lens[i]);
    long sample_ok = n_ok - ok_before;
    CHECK(sample_ok > nl / 2);

    /* generated events, plain */
    struct sb b = {0};
    long gen_ok = 0;
    for (int i = 0; i < 50000; i++) {
        b.n = 0;
        gen_event(&b);
        gen_ok += diff(b.p, b.n) == RW_OK;
    }
    /* generated custom metric events: names and values good and bad */
    for (int i = 0; i < 20000; i++) {
        b.n = 0;
        gen_event_m(&b, 1);
        gen_ok += diff(b.p, b.n) == RW_OK;
    }
    /* 300,000 mutations: of sample lines and of generated events */
    long mut_ok = 0;
    for (int i = 0; i < FJ_MUTATIONS; i++) {
        b.n = 0;
        if (nl && i % 2 == 0) {
            int k = (int)rn((unsigned)nl);
            sb_put(&b, lines[k], lens[k]);
        } else {
            gen_event(&b);
        }
        mutate(&b);
        mut_ok += diff(b.p, b.n) == RW_OK;
    }
    /* random bytes, and random JSON-alphabet strings */
    for (int i = 0; i < 30000; i++) {
        b.n = 0;
        int l = (int)rn(64);
        static const char ja[] = "{}[]\":,0123456789-.eE tfnul\\\x00\xc3\xa9";
        for (int k = 0; k < l; k++)
            sb_c(&b, i % 2 ? (char)rnd() : ja[rn(sizeof ja - 1)]);
        diff(b.p, b.n);
    }
    free(b.p);

    printf("inputs %ld (corners %ld, sample %d, generated 70000, mutated %d, random 30000)\n",
           n_inputs, after_corners, nl, FJ_MUTATIONS);
    printf("jansson reasons:");
    for (int r = 0; r < RW_NREJECT; r++)
        if (n_reason[r])
            printf(" %s=%ld", rw_reject_names[r], n_reason[r]);
    printf("\nidentical-event checks on RW_OK: %ld (sample %ld, generated %ld, mutated %ld; "
           "metric events %ld)\n",
           n_ok, sample_ok, gen_ok, mut_ok, n_metric_ok);
    /* the generator must keep covering custom metric events, good and bad */
    CHECK(n_metric_ok > 5000);
    CHECK(n_reason[RW_REJ_METRIC] > 2000);

    for (int i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    free(lens);
    rw_fastdec_destroy(&fast);
    rw_fastdec_destroy(&fast); /* safe twice */
    rw_decoder_destroy(&ref);
    rw_pagenorm_destroy(&pn_ref);
    rw_pagenorm_destroy(&pn_fast);
    CHECK(fast == NULL);
    TEST_DONE();
}
