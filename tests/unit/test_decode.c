/* Event decoding: valid events, every rejection reason, hostile input. */
#include <stdlib.h>

#include "check.h"
#include "engine/decode.h"

static struct rw_pagenorm *pn;
static struct rw_decoder *dec;

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
    dec = rw_decoder_new(pn, 64);
    CHECK(pn && dec);
    test_view();
    test_error_and_optional();
    test_rejections();
    test_sizes();
    test_garbage();
    rw_decoder_destroy(&dec);
    rw_pagenorm_destroy(&pn);
    CHECK(dec == NULL);
    TEST_DONE();
}
