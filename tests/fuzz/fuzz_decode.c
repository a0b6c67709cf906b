/* Fuzz target: event decoding (docs/schema.md "Events").
 *
 * Every input goes through both decoders -- the jansson reference
 * (engine/decode.h) and the specialised one (engine/fastjson.h) -- and they
 * must agree: the same rejection reason, and on RW_OK the same event, vitals
 * bit for bit (the contract in fastjson.h; tests/unit/test_fastjson.c checks
 * it on fixed inputs). An accepted event must also satisfy the schema's
 * bounds. The fast decoder starts with a small scratch so growth is
 * exercised, and page rewrite rules are on so the page cache is too.
 * libFuzzer hands over an exact-size buffer: ASan sees any over-read. */
#include <math.h>

#include "engine/decode.h"
#include "engine/fastjson.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SEG_VALUE 64

static struct rw_pagenorm *pn_ref, *pn_fast;
static struct rw_decoder *ref;
static struct rw_fastdec *fast;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const struct rw_rewrite_rule rules[] = {
        {"^/blog/[^/]+$", "/blog/:slug"},
        {"^/u/([a-z]+)/(.*)$", "/user/\\1/\\2"},
    };
    char err[256];
    pn_ref = rw_pagenorm_new(rules, 2, RW_IDS_DIGITS, err, sizeof err);
    pn_fast = rw_pagenorm_new(rules, 2, RW_IDS_DIGITS, err, sizeof err);
    FUZZ_CHECK(pn_ref && pn_fast, "%s", err);
    ref = rw_decoder_new(pn_ref, MAX_SEG_VALUE);
    fast = rw_fastdec_new(pn_fast, MAX_SEG_VALUE, 256);
    FUZZ_CHECK(ref && fast, "decoder_new");
    return 0;
}

static void check_event(const struct rw_event *e)
{
    FUZZ_CHECK(e->type == RW_EV_VIEW || e->type == RW_EV_ERROR || e->type == RW_EV_METRIC, "%d",
               (int)e->type);
    FUZZ_CHECK(e->ts >= 946684800000LL && e->ts < 7258118400000LL, "ts %lld", (long long)e->ts);
    FUZZ_CHECK(e->page_len >= 1 && e->page_len <= RW_PAGE_MAX &&
                   strlen(e->page) == e->page_len,
               "page_len %zu", e->page_len);
    FUZZ_CHECK(e->app && e->app_len >= 1 && e->app_len <= RW_APP_MAX &&
                   strlen(e->app) == e->app_len,
               "app_len %zu", e->app_len);
    FUZZ_CHECK(e->nseg >= 0 && e->nseg <= RW_MAX_SEG, "nseg %d", e->nseg);
    for (int i = 0; i < e->nseg; i++)
        FUZZ_CHECK(e->seg_key[i] && e->seg_val[i] && e->seg_len[i] <= MAX_SEG_VALUE,
                   "seg %d len %zu", i, e->seg_len[i]);
    for (int v = 0; v < RW_NVITALS; v++)
        if (e->vital_mask & (1u << v))
            FUZZ_CHECK(isfinite(e->vital[v]) && e->vital[v] >= 0, "vital %d = %g", v,
                       e->vital[v]);
    if (e->type == RW_EV_METRIC) {
        FUZZ_CHECK(e->mname && e->mname_len >= 1 && e->mname_len <= RW_METRIC_NAME_MAX &&
                       strlen(e->mname) == e->mname_len,
                   "metric name");
        FUZZ_CHECK(isfinite(e->mvalue), "metric value %g", e->mvalue);
    } else {
        FUZZ_CHECK(!e->mname && e->mname_len == 0 && e->mvalue == 0, "metric fields on a %d",
                   (int)e->type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_event a, b;
    memset(&a, 0xAA, sizeof a);
    memset(&b, 0x55, sizeof b);
    enum rw_reject ra = rw_decode(ref, (const char *)data, size, &a);
    enum rw_reject rb = rw_fastdec_decode(fast, (const char *)data, size, &b);
    FUZZ_CHECK(ra >= RW_OK && ra < RW_NREJECT, "reason %d", (int)ra);
    FUZZ_CHECK(ra == rb, "jansson says %s, fastjson says %s", rw_reject_names[ra],
               rw_reject_names[rb]);
    if (ra == RW_OK) {
        check_event(&a);
        FUZZ_CHECK(rw_event_same(&a, &b), "accepted by both, decoded differently");
    }
    return 0;
}
