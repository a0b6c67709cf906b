/* Event decoding: valid events, every rejection reason, hostile input.
 * Custom metric events are checked on both decoders (jansson's rw_decode and
 * fastjson's rw_fastdec_decode); test_fastjson.c compares them at large. */
#include <stdlib.h>

#include "check.h"
#include "engine/decode.h"
#include "engine/fastjson.h"

static struct rw_pagenorm *pn, *pn_fast;
static struct rw_decoder *dec;
static struct rw_fastdec *fast;

static enum rw_reject dec_str(const char *s, struct rw_event *ev)
{
    return rw_decode(dec, s, strlen(s), ev);
}

static void test_view(void)
{
    struct rw_event ev;
    const char *s =
        "{\"v\":1,\"type\":\"view\",\"ts\":1762041601080,\"page\":\"/product/48213?x=1\","
        "\"seg\":{\"device\":\"mobile\",\"country\":\"DE\",\"browser\":\"chrome\"},"
        "\"vitals\":{\"ttfb\":246.8,\"fcp\":524.4,\"lcp\":1535.3,\"inp\":38.0,\"cls\":0.0513},"
        "\"view_id\":\"v1\",\"session_id\":\"s1\",\"unknown\":{\"a\":[1,2]}}";
    CHECK_INT(dec_str(s, &ev), RW_OK);
    CHECK_INT(ev.type, RW_EV_VIEW);
    CHECK_INT(ev.ts, 1762041601080LL);
    CHECK_STR(ev.page, "/product/?");
    CHECK_INT(ev.page_len, 10);
    CHECK_STR(ev.app, "default");
    CHECK_INT(ev.nseg, 3);
    CHECK_INT(ev.vital_mask, 0x1f);
    CHECK_NEAR(ev.vital[RW_LCP], 1535.3, 1e-9);
    CHECK_NEAR(ev.vital[RW_CLS], 0.0513, 1e-12);
}

static void test_error_and_optional(void)
{
    struct rw_event ev;
    CHECK_INT(dec_str("{\"v\":1,\"type\":\"error\",\"ts\":1762041601900,\"page\":\"/checkout\","
                      "\"app\":\"shop\",\"error\":{\"kind\":\"TypeError\",\"message\":\"x\"}}",
                      &ev),
              RW_OK);
    CHECK_INT(ev.type, RW_EV_ERROR);
    CHECK_STR(ev.app, "shop");
    CHECK_INT(ev.nseg, 0);
    CHECK_INT(ev.vital_mask, 0);
    /* absent and null vitals are "not measured", not 0 */
    CHECK_INT(dec_str("{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\","
                      "\"vitals\":{\"lcp\":null,\"ttfb\":10}}",
                      &ev),
              RW_OK);
    CHECK_INT(ev.vital_mask, 1u << RW_TTFB);
    /* float ts accepted (truncated to ms) */
    CHECK_INT(dec_str("{\"v\":1,\"type\":\"view\",\"ts\":1762041601000.7,\"page\":\"/\"}", &ev), RW_OK);
    CHECK_INT(ev.ts, 1762041601000LL);
}

struct bad {
    const char *json;
    enum rw_reject why;
};

static void test_rejections(void)
{
    static const struct bad cases[] = {
        {"", RW_REJ_JSON},
        {"{", RW_REJ_JSON},
        {"{\"v\":1,\"type\":\"view\",\"ts\":NaN,\"page\":\"/\"}", RW_REJ_JSON},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"lcp\":1e999}}", RW_REJ_JSON},
        {"{\"v\":1,\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_JSON},
        {"[1,2]", RW_REJ_SHAPE},
        {"\"view\"", RW_REJ_SHAPE},
        {"{\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_VERSION},
        {"{\"v\":2,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_VERSION},
        {"{\"v\":\"1\",\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_VERSION},
        {"{\"v\":1,\"type\":\"click\",\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_TYPE},
        {"{\"v\":1,\"ts\":1762041601000,\"page\":\"/\"}", RW_REJ_TYPE},
        {"{\"v\":1,\"type\":\"view\",\"page\":\"/\"}", RW_REJ_TS},
        {"{\"v\":1,\"type\":\"view\",\"ts\":\"2025-01-01\",\"page\":\"/\"}", RW_REJ_TS},
        {"{\"v\":1,\"type\":\"view\",\"ts\":-5,\"page\":\"/\"}", RW_REJ_TS},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601,\"page\":\"/\"}", RW_REJ_TS}, /* seconds, 1970 */
        {"{\"v\":1,\"type\":\"view\",\"ts\":99999999999999999,\"page\":\"/\"}", RW_REJ_TS},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000}", RW_REJ_PAGE},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"\"}", RW_REJ_PAGE},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":42}", RW_REJ_PAGE},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":[1]}", RW_REJ_SEG},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":{\"device\":1}}", RW_REJ_SEG},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":{\"device\":null}}", RW_REJ_SEG},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"lcp\":-1}}", RW_REJ_VITAL},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"lcp\":3600001}}", RW_REJ_VITAL},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"cls\":101}}", RW_REJ_VITAL},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":{\"inp\":\"fast\"}}", RW_REJ_VITAL},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"vitals\":[1]}", RW_REJ_SHAPE},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"app\":5}", RW_REJ_SHAPE},
        /* control characters (the series-key separator among them) */
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":{\"d\":\"a\\u001fb\"}}", RW_REJ_SEG},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/a\\u0007\"}", RW_REJ_PAGE},
        {"{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"app\":\"x\\ny\"}", RW_REJ_SHAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rw_event ev;
        enum rw_reject r = dec_str(cases[i].json, &ev);
        if (r != cases[i].why)
            fprintf(stderr, "case %zu: %s -> %s, want %s\n", i, cases[i].json, rw_reject_names[r],
                    rw_reject_names[cases[i].why]);
        CHECK_INT(r, cases[i].why);
    }
}

/* ---- custom metric events ---- */

#define MEV "\"v\":1,\"type\":\"metric\",\"ts\":1732000000000,\"page\":\"/checkout\""

/* Decode s with both decoders; both must say want. On RW_OK both events
 * must carry name (NULL: a view/error, no metric) and value. */
static void metric_case(const char *s, enum rw_reject want, const char *name, double value)
{
    struct rw_event a, b;
    memset(&a, 0xAA, sizeof a);
    memset(&b, 0x55, sizeof b);
    enum rw_reject ra = dec_str(s, &a);
    enum rw_reject rb = rw_fastdec_decode(fast, s, strlen(s), &b);
    if (ra != want || rb != want)
        fprintf(stderr, "metric case %s -> jansson %s, fast %s, want %s\n", s, rw_reject_names[ra],
                rw_reject_names[rb], rw_reject_names[want]);
    CHECK_INT(ra, want);
    CHECK_INT(rb, want);
    if (want != RW_OK || ra != RW_OK || rb != RW_OK)
        return;
    const struct rw_event *evs[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        const struct rw_event *ev = evs[k];
        if (name) {
            CHECK_INT(ev->type, RW_EV_METRIC);
            CHECK_STR(ev->mname, name);
            CHECK_INT(ev->mname_len, strlen(name));
            CHECK(ev->mname && ev->mname[ev->mname_len] == '\0');
            CHECK(memcmp(&ev->mvalue, &value, sizeof value) == 0); /* bit for bit, -0 too */
            CHECK_INT(ev->vital_mask, 0);
        } else {
            CHECK(ev->type != RW_EV_METRIC);
            CHECK(ev->mname == NULL);
            CHECK_INT(ev->mname_len, 0);
            CHECK(ev->mvalue == 0);
        }
    }
}

static void test_metric(void)
{
    struct rw_event ev;
    /* the schema's example, every common field */
    const char *s = "{\"v\":1,\"type\":\"metric\",\"ts\":1732000000000,\"app\":\"shop\","
                    "\"page\":\"/checkout/12345\",\"seg\":{\"device\":\"mobile\"},"
                    "\"session_id\":\"s1\",\"name\":\"add_to_cart\",\"value\":1}";
    for (int k = 0; k < 2; k++) {
        memset(&ev, 0xAA, sizeof ev);
        CHECK_INT(k ? rw_fastdec_decode(fast, s, strlen(s), &ev) : dec_str(s, &ev), RW_OK);
        CHECK_INT(ev.type, RW_EV_METRIC);
        CHECK_INT(ev.ts, 1732000000000LL);
        CHECK_STR(ev.app, "shop");
        CHECK_STR(ev.page, "/checkout/?"); /* normalized as for views */
        CHECK_INT(ev.nseg, 1);
        CHECK_STR(ev.seg_key[0], "device");
        CHECK_STR(ev.seg_val[0], "mobile");
        CHECK(ev.session != 0);
        CHECK_STR(ev.mname, "add_to_cart");
        CHECK_INT(ev.mname_len, 11);
        CHECK(ev.mvalue == 1.0);
        CHECK_INT(ev.vital_mask, 0);
    }

    /* accepted: value forms, name alphabet and bounds, escapes */
    metric_case("{" MEV ",\"name\":\"add_to_cart\"}", RW_OK, "add_to_cart", 1.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":0}", RW_OK, "x", 0.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":-3}", RW_OK, "x", -3.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":-0.0}", RW_OK, "x", -0.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":-0}", RW_OK, "x", 0.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":12.5}", RW_OK, "x", 12.5);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":2.5e3}", RW_OK, "x", 2500.0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":1e-400}", RW_OK, "x", 0.0); /* underflow ok */
    metric_case("{" MEV ",\"name\":\"x\",\"value\":1.7976931348623157e308}", RW_OK, "x",
                1.7976931348623157e308);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":9223372036854775807}", RW_OK, "x",
                9223372036854775807.0);
    metric_case("{" MEV ",\"name\":\"A-z.0:9_\"}", RW_OK, "A-z.0:9_", 1.0);
    metric_case("{" MEV ",\"name\":\"add\\u005fto\\u005Fcart\"}", RW_OK, "add_to_cart", 1.0);
    metric_case("{" MEV ",\"name\":\"a\\/b\"}", RW_REJ_METRIC, NULL, 0); /* "/" unescaped */
    metric_case("{\"value\":7,\"name\":\"first\"," MEV "}", RW_OK, "first", 7.0);
    char buf[512], nm[80];
    memset(nm, 'n', sizeof nm);
    nm[RW_METRIC_NAME_MAX] = '\0';
    snprintf(buf, sizeof buf, "{" MEV ",\"name\":\"%s\"}", nm);
    metric_case(buf, RW_OK, nm, 1.0); /* 64 bytes */
    nm[RW_METRIC_NAME_MAX] = 'n';
    nm[RW_METRIC_NAME_MAX + 1] = '\0';
    snprintf(buf, sizeof buf, "{" MEV ",\"name\":\"%s\"}", nm);
    metric_case(buf, RW_REJ_METRIC, NULL, 0); /* 65 bytes */
    /* vitals on a metric event are ignored, even broken ones (as on errors) */
    metric_case("{" MEV ",\"name\":\"x\",\"vitals\":{\"lcp\":1000}}", RW_OK, "x", 1.0);
    metric_case("{" MEV ",\"name\":\"x\",\"vitals\":{\"lcp\":-1,\"cls\":\"a\"}}", RW_OK, "x", 1.0);
    metric_case("{" MEV ",\"name\":\"x\",\"vitals\":[1]}", RW_OK, "x", 1.0);
    /* name/value on views and errors are ignored, valid or not */
    metric_case("{\"v\":1,\"type\":\"view\",\"ts\":1732000000000,\"page\":\"/\",\"name\":7,"
                "\"value\":\"x\",\"vitals\":{\"lcp\":5}}",
                RW_OK, NULL, 0);
    metric_case("{\"v\":1,\"type\":\"error\",\"ts\":1732000000000,\"page\":\"/\","
                "\"name\":\"ok\",\"value\":null}",
                RW_OK, NULL, 0);

    /* rejected: the name */
    metric_case("{" MEV "}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"value\":2}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":null}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":5}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":[\"x\"]}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":{}}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":true}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"add to cart\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"a/b\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"caf\xc3\xa9\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"caf\\u00e9\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"a\\nb\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"a\\u007f\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"a\\\"b\"}", RW_REJ_METRIC, NULL, 0);
    /* rejected: the value */
    metric_case("{" MEV ",\"name\":\"x\",\"value\":\"1\"}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":null}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":true}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":false}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":{}}", RW_REJ_METRIC, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":[1]}", RW_REJ_METRIC, NULL, 0);
    /* numbers that overflow a double, and non-JSON numbers, make the whole
     * line invalid JSON (jansson refuses them while parsing): "json" */
    metric_case("{" MEV ",\"name\":\"x\",\"value\":1e400}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":-1.8e308}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":9223372036854775808}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":NaN}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":Infinity}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"name\":\"y\"}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\",\"value\":1,\"value\":2}", RW_REJ_JSON, NULL, 0);
    metric_case("{" MEV ",\"name\":\"x\\u0000\"}", RW_REJ_JSON, NULL, 0);
    /* common fields first: a metric event fails on them as a view would,
     * before its name and value are looked at */
    metric_case("{\"v\":1,\"type\":\"Metric\",\"ts\":1732000000000,\"page\":\"/\",\"name\":\"x\"}",
                RW_REJ_TYPE, NULL, 0);
    metric_case("{\"v\":2,\"type\":\"metric\",\"ts\":1732000000000,\"page\":\"/\",\"name\":\"x\"}",
                RW_REJ_VERSION, NULL, 0);
    metric_case("{\"v\":1,\"type\":\"metric\",\"ts\":1732000000,\"page\":\"/\",\"name\":\"x\"}",
                RW_REJ_TS, NULL, 0);
    metric_case("{\"v\":1,\"type\":\"metric\",\"ts\":1732000000000,\"name\":\"\"}", RW_REJ_PAGE,
                NULL, 0);
    metric_case("{" MEV ",\"app\":\"\",\"name\":\"\"}", RW_REJ_SHAPE, NULL, 0);
    metric_case("{" MEV ",\"seg\":{\"d\":1},\"name\":\"\"}", RW_REJ_SEG, NULL, 0);
    metric_case("{" MEV ",\"name\":\"\",\"vitals\":{\"lcp\":-1}}", RW_REJ_METRIC, NULL, 0);

    /* mname is borrowed: still intact until the next call */
    CHECK_INT(dec_str("{" MEV ",\"name\":\"signup\",\"value\":3}", &ev), RW_OK);
    CHECK_STR(ev.mname, "signup");
    CHECK(ev.mvalue == 3.0);
}

static void test_sizes(void)
{
    struct rw_event ev;
    char buf[4096], page[600];
    /* a 512-byte page is accepted, 513 is not */
    memset(page, 'a', sizeof page);
    page[0] = '/';
    page[512] = '\0';
    snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"%s\"}", page);
    CHECK_INT(dec_str(buf, &ev), RW_OK);
    page[512] = 'a';
    page[513] = '\0';
    snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"%s\"}", page);
    CHECK_INT(dec_str(buf, &ev), RW_REJ_PAGE_LONG);
    /* segment value over max_seg_value (64 here) */
    char val[80];
    memset(val, 'x', 65);
    val[65] = '\0';
    snprintf(buf, sizeof buf,
             "{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":{\"country\":\"%s\"}}", val);
    CHECK_INT(dec_str(buf, &ev), RW_REJ_SEG);
    /* a NUL escaped inside a segment value is refused */
    CHECK_INT(dec_str("{\"v\":1,\"type\":\"view\",\"ts\":1762041601000,\"page\":\"/\",\"seg\":{\"a\":\"x\\u0000y\"}}", &ev),
              RW_REJ_JSON);
}

static void test_garbage(void)
{
    /* seeded random bytes and mutated valid events: never crash */
    const char *base = "{\"v\":1,\"type\":\"view\",\"ts\":1762041601080,\"page\":\"/p/1\","
                       "\"seg\":{\"device\":\"mobile\"},\"vitals\":{\"lcp\":1535.3,\"cls\":0.05}}";
    size_t bl = strlen(base);
    uint64_t x = 42;
    char buf[512];
    int ok = 0;
    for (int i = 0; i < 100000; i++) {
        memcpy(buf, base, bl);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[x % bl] = (char)(x >> 24);
        }
        struct rw_event ev;
        ok += rw_decode(dec, buf, bl, &ev) == RW_OK;
    }
    CHECK(ok > 0);
}

int main(void)
{
    char err[256];
    pn = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    pn_fast = rw_pagenorm_new(NULL, 0, RW_IDS_DIGITS, err, sizeof err);
    dec = rw_decoder_new(pn, 64);
    fast = rw_fastdec_new(pn_fast, 64, 0);
    CHECK(pn && pn_fast && dec && fast);
    if (!dec || !fast)
        TEST_DONE();
    test_view();
    test_error_and_optional();
    test_rejections();
    test_metric();
    test_sizes();
    test_garbage();
    rw_decoder_destroy(&dec);
    rw_fastdec_destroy(&fast);
    rw_pagenorm_destroy(&pn);
    rw_pagenorm_destroy(&pn_fast);
    CHECK(dec == NULL);
    TEST_DONE();
}
