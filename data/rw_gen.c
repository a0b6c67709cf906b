/* rw_gen — seeded, labelled RUM scenario generator.
 *
 * Writes wire-schema v1 NDJSON (one event per line, see docs/schema.md) for a
 * synthetic shop of 150 pages, plus an optional labels file describing the
 * incidents it injected, so a replay of the engine can be scored with
 * tests/tools/rw_score.py.
 *
 * Determinism: the output is a pure function of the arguments. There are
 * three kinds of random stream, all xoshiro256** seeded through splitmix64:
 *   - the arrival stream (views per second), never touched by incidents;
 *   - the page-parameter and schedule streams, drawn once at start-up;
 *   - one stream per view (seed, view number), which draws everything about
 *     that view in a fixed order.
 * Incidents only change what a view does with its own draws, so a --clean run
 * and an incident run of the same seed are identical outside the affected
 * views.
 *
 * Ordering: every event gets an event time ("ts") and an arrival time
 * (ts + a small network delay, up to 5 s). Lines are written sorted by
 * arrival, so "ts" is slightly out of order, as a collector would see it.
 * Views are generated one simulated second at a time; an event can only
 * arrive at or after its own ts, so once second s is generated every pending
 * event arriving before s+1 can be written.
 *
 * Incident effects are isolated to the labelled metric (a ttfb incident does
 * not drag fcp/lcp along), so scoring by metric is unambiguous.
 *
 * Suites (--suite): "classic" (the default) is the two-day incident template
 * the bundled sample and tests/integration/test_quality.sh were made with; its
 * output must never change for the same arguments. "detectors" is a multi-week
 * scenario for the detector suite: a weekly cycle on top of the daily one
 * (weekend traffic 0.6x, a slightly different weekend latency profile), a
 * load-driven daily latency cycle, custom metric events (type "metric"), a
 * clean warm-up week and a weekly template with every incident kind (steps,
 * ramps, tail-only shifts, segment slowdowns, error bursts, a custom-metric
 * drop, traffic drops and "slow for the slot" seasonal slowdowns), each
 * labelled with the rules expected to find it. Everything the detectors suite
 * adds draws from a second per-view stream, so the classic draws are
 * untouched and a --clean run still differs from an incident run only in the
 * affected views.
 *
 * Single-threaded; all state lives in struct gen, owned by main().
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define SEC_MS 1000LL
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define DEFAULT_START_MS 1762128000000LL /* 2025-11-03T00:00:00Z, a Monday */

#define NPAGES 150
#define ZIPF_S 1.1
#define SESSION_POOL 4096
#define SESSION_REUSE_P 0.70   /* a view continues an open session */
#define OUTLIER_P 0.003        /* one vital x10 */
#define BURST_P 0.0002         /* noisy session: 3-8 errors from one view */
#define QUIET_PEAK_PER_MIN 2.0 /* target views/min at peak for error_burst_quiet */
#define QUIET_ERROR_P 0.40
#define GRACE_MS (15 * MIN_MS) /* scoring grace after an incident ends */
#define MAX_LATE_MS 5000       /* arrival delay cap */
#define DIURNAL_AMP 0.6        /* peak 1.6, trough 0.4: 4:1 */

/* --suite detectors */
#define DET_DEFAULT_DAYS 21.0
#define DET_DEFAULT_RATE 80.0
#define DET_WARMUP_DAYS 7.0        /* incident-free lead-in (baselines learn) */
#define DET_SEASONAL_MIN_DAYS 14.0 /* seasonal incidents only after two weeks */
#define DET_WEEKEND_DROP 0.4       /* weekend traffic 0.6x */
#define DET_APP "shop"
#define LAT_AMP_WEEKDAY 0.20 /* ttfb/fcp/lcp x(1 +- 0.2), peak 14:00 */
#define LAT_AMP_WEEKEND 0.15 /* weekend: x1.06 (1 +- 0.15), peak 16:00 */
#define LAT_PEAK_WEEKEND_H 16.0
#define LAT_WEEKEND_LEVEL 1.06
#define INP_WEEKEND_LEVEL 1.05
#define TAIL_ADD 0.14   /* tail_shift: poor share + 14 points ... */
#define TAIL_FROM 0.80  /* ... taken from views above the scope's p80 ... */
#define TAIL_MAX_Q 0.85 /* ... at most 85 % of those (p75's neighbourhood stays) */
#define TAIL_CALIB_N 40000
#define DET_SPIKE_MIN_P 0.25 /* error_spike_page: error probability at least this */
#define DET_SLOT_JITTER_MIN 20

/* Stream ids; view streams use the top bit so they never collide. */
#define STREAM_ARRIVALS 1
#define STREAM_PAGES 2
#define STREAM_SCHEDULE 3
#define STREAM_SESSIONS 4
#define STREAM_CALIB 5 /* + incident index * 8: tail_shift calibration samples */
#define STREAM_VIEW (1ULL << 63)
#define STREAM_EXTRA (1ULL << 62) /* detectors suite: per-view extra draws */

/* ------------------------------------------------------------------------ */
/* PRNG                                                                      */

struct rng {
    uint64_t s[4];
    double spare; /* second normal of the polar method */
    int has_spare;
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t mix = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&mix);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t rotl64(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* [0, 1) with 53 random bits */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* (0, 1): safe for log() */
static inline double rng_open(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static double rng_normal(struct rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, q;
    do {
        u = 2.0 * rng_unit(r) - 1.0;
        v = 2.0 * rng_unit(r) - 1.0;
        q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    double m = sqrt(-2.0 * log(q) / q);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}

static inline double rng_lognormal(struct rng *r, double median, double sigma)
{
    return median * exp(sigma * rng_normal(r));
}

static inline double rng_exp(struct rng *r, double mean)
{
    return -mean * log(rng_open(r));
}

static double rng_loguniform(struct rng *r, double lo, double hi)
{
    return lo * exp(rng_unit(r) * log(hi / lo));
}

/* Poisson: multiplication method for small means, Hormann's transformed
 * rejection (PTRS) above; only the arrival stream uses it. */
static long rng_poisson(struct rng *r, double mu)
{
    if (mu <= 0.0)
        return 0;
    if (mu < 12.0) {
        double limit = exp(-mu), p = 1.0;
        long k = -1;
        do {
            k++;
            p *= rng_unit(r);
        } while (p > limit);
        return k;
    }
    double smu = sqrt(mu), logmu = log(mu);
    double b = 0.931 + 2.53 * smu;
    double a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = rng_unit(r) - 0.5;
        double v = rng_open(r);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + mu + 0.43);
        if (us >= 0.07 && v <= vr)
            return (long)k;
        if (k < 0.0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= -mu + k * logmu - lgamma(k + 1.0))
            return (long)k;
    }
}

/* ------------------------------------------------------------------------ */
/* The app: pages, segments, errors                                          */

enum { V_TTFB = 0, V_FCP, V_LCP, V_INP, V_CLS, NVITALS };
static const char *const vital_names[NVITALS] = {"ttfb", "fcp", "lcp", "inp", "cls"};

enum metric { M_TTFB = V_TTFB, M_FCP, M_LCP, M_INP, M_CLS, M_ERROR_RATE, M_VIEWS, M_CUSTOM };
static const char *const metric_names[] = {"ttfb", "fcp",        "lcp",   "inp",
                                           "cls",  "error_rate", "views", "custom"};
/* web-vitals "poor" lines, as engine/metric.c's rw_vital_poor. */
static const double poor_line[NVITALS] = {1800.0, 3000.0, 4000.0, 500.0, 0.25};

/* Custom metric events (detectors suite): at most one per view, on one page. */
enum { CMK_COUNTER = 0, CMK_VALUE };
struct cmetric {
    const char *name, *page; /* page: normalized */
    int kind;
    double p;             /* probability per view */
    double median, sigma; /* CMK_VALUE: lognormal value (times the latency cycle) */
};
static const struct cmetric cmetrics[] = {
    {"add_to_cart", "/product/?", CMK_COUNTER, 0.08, 0.0, 0.0},
    {"checkout_click", "/checkout", CMK_COUNTER, 0.30, 0.0, 0.0},
    {"search_latency_ms", "/search", CMK_VALUE, 0.97, 240.0, 0.5},
};
#define NCMETRICS (sizeof cmetrics / sizeof cmetrics[0])
enum { CM_ADD_TO_CART = 0, CM_CHECKOUT_CLICK, CM_SEARCH_LATENCY };

enum page_kind { PK_PLAIN = 0, PK_ID, PK_SEARCH };

struct page {
    char tmpl[48]; /* '#' marks an id segment */
    char norm[48]; /* normalized form (digits rule) */
    enum page_kind kind;
    uint32_t id_lo, id_span;
    double share, cdf;
    /* medians for desktop/US, error probability per view */
    double ttfb, fcp_gap, lcp_gap, inp, cls, err_p;
    uint64_t views;
};

/* Popularity order: index 0 is Zipf rank 1. The first entries are the shop's
 * main routes; the long tail is interleaved from the families below. */
static const char *const head_pages[] = {
    "/product/#",
    "/",
    "/search",
    "/cart",
    "/checkout",
    "/category/shoes",
    "/category/electronics",
    "/account/orders/#",
    "/product/#/reviews",
    "/login",
    "/category/women",
    "/category/men",
    "/deals",
    "/account",
    "/checkout/confirmation/#",
    "/category/home-garden",
    "/wishlist",
    "/category/kids",
    "/account/orders",
    "/blog",
    "/help",
    "/category/sports",
    "/signup",
    "/category/beauty",
};

static const char *const fam_subcat[] = {
    "/category/shoes/running",       "/category/shoes/boots",
    "/category/electronics/phones",  "/category/electronics/laptops",
    "/category/electronics/audio",   "/category/women/dresses",
    "/category/men/shirts",          "/category/kids/toys",
    "/category/home-garden/kitchen", "/category/sports/cycling",
    "/category/beauty/skincare",     "/category/women/bags",
    "/category/men/watches",         "/category/electronics/cameras",
};
static const char *const fam_cat[] = {
    "/category/toys",     "/category/books",   "/category/jewelry",     "/category/furniture",
    "/category/lighting", "/category/outdoor", "/category/pets",        "/category/automotive",
    "/category/music",    "/category/gaming",  "/category/office",      "/category/baby",
    "/category/health",   "/category/luggage", "/category/accessories", "/category/sale",
    "/category/garden",   "/category/watches", "/category/crafts",      "/category/grocery",
};
static const char *const fam_help[] = {
    "/help/returns",       "/help/shipping",      "/help/payment",     "/help/warranty",
    "/help/contact",       "/help/faq",           "/help/track-order", "/help/gift-cards",
    "/help/size-guide",    "/help/privacy",       "/help/terms",       "/help/cookies",
    "/help/accessibility", "/help/international", "/help/promo-codes", "/help/account-security",
    "/help/cancel-order",  "/help/exchanges",     "/help/price-match", "/help/store-pickup",
};
static const char *const fam_blog[] = {
    "/blog/spring-lookbook",
    "/blog/how-to-choose-running-shoes",
    "/blog/best-laptops-for-students",
    "/blog/holiday-gift-guide",
    "/blog/sustainable-fashion",
    "/blog/home-office-setup",
    "/blog/camping-checklist",
    "/blog/skincare-routine",
    "/blog/sneaker-care",
    "/blog/smart-home-basics",
    "/blog/coffee-brewing-guide",
    "/blog/minimalist-wardrobe",
    "/blog/travel-packing-tips",
    "/blog/kids-birthday-ideas",
    "/blog/headphones-buying-guide",
    "/blog/yoga-for-beginners",
    "/blog/small-kitchen-hacks",
    "/blog/winter-jacket-guide",
    "/blog/gaming-chair-review",
    "/blog/plant-care-basics",
    "/blog/cycling-gear-essentials",
    "/blog/watch-collecting",
    "/blog/back-to-school",
    "/blog/black-friday-preview",
    "/blog/meet-our-makers",
    "/blog/denim-fit-guide",
    "/blog/pet-travel-tips",
    "/blog/hiking-boots-compared",
    "/blog/desk-lamp-roundup",
    "/blog/behind-the-scenes",
};
static const char *const fam_brand[] = {
    "/brand/acme",     "/brand/northwind", "/brand/contoso", "/brand/fabrikam",  "/brand/globex",
    "/brand/initech",  "/brand/umbrella",  "/brand/hooli",   "/brand/vandelay",  "/brand/wonka",
    "/brand/stark",    "/brand/wayne",     "/brand/tyrell",  "/brand/cyberdyne", "/brand/soylent",
    "/brand/aperture", "/brand/oscorp",    "/brand/duff",    "/brand/monarch",   "/brand/gringotts",
};
static const char *const fam_store[] = {
    "/stores/berlin", "/stores/london",    "/stores/paris",     "/stores/new-york",
    "/stores/tokyo",  "/stores/mumbai",    "/stores/sao-paulo", "/stores/toronto",
    "/stores/sydney", "/stores/amsterdam", "/stores/chicago",   "/stores/munich",
    "/stores/austin", "/stores/madrid",    "/stores/seattle",
};
static const char *const fam_ids[] = {
    "/blog/page/#",     "/user/#/reviews", "/compare/#",           "/gift-cards/#",
    "/stores/#/events", "/order/#/track",  "/collections/#/items",
};

static const char *const search_terms[] = {
    "running+shoes", "iphone+case", "laptop",     "winter+jacket", "headphones", "gift+ideas",
    "sneakers",      "desk+lamp",   "yoga+mat",   "coffee+maker",  "backpack",   "usb-c+cable",
    "dress",         "watch",       "sunglasses", "air+fryer",     "lego",       "rain+boots",
};

/* Segments: session-level, independent marginals. */
static const char *const device_names[] = {"mobile", "desktop", "tablet"};
static const double device_w[] = {0.60, 0.35, 0.05};
static const double device_mult[] = {1.4, 1.0, 1.2};

static const char *const country_names[] = {"US", "IN", "DE", "GB", "BR",
                                            "FR", "JP", "CA", "AU", "NL"};
static const double country_w[] = {0.30, 0.16, 0.08, 0.09, 0.10, 0.06, 0.07, 0.06, 0.04, 0.04};
static const double country_mult[] = {1.0, 1.55, 0.95, 0.95, 1.35, 1.0, 0.9, 1.0, 1.15, 0.9};

static const char *const browser_names[] = {"chrome", "safari", "firefox", "edge"};
static const double browser_w[] = {0.64, 0.20, 0.08, 0.08};

#define NDEVICES 3
#define NCOUNTRIES 10
#define NBROWSERS 4

struct err_kind {
    const char *kind, *message; /* JSON-safe literals */
    double w;
};
static const struct err_kind err_kinds[] = {
    {"TypeError", "Cannot read properties of undefined (reading 'price')", 0.22},
    {"TypeError", "undefined is not an object (evaluating 'cart.items.length')", 0.12},
    {"TypeError", "Load failed", 0.10},
    {"ReferenceError", "gtag is not defined", 0.09},
    {"NetworkError", "Failed to fetch", 0.14},
    {"ChunkLoadError", "Loading chunk 742 failed.", 0.08},
    {"SyntaxError", "Unexpected token '<', \\\"<!DOCTYPE \\\"... is not valid JSON", 0.07},
    {"Error", "ResizeObserver loop completed with undelivered notifications.", 0.10},
    {"SecurityError", "The operation is insecure.", 0.03},
    {"UnhandledRejection", "Request timed out after 10000ms", 0.05},
};
#define NERRKINDS (sizeof err_kinds / sizeof err_kinds[0])

/* Raw-page variants: what browsers report besides the bare path. */
enum { RV_PLAIN = 0, RV_UTM, RV_REF, RV_FRAGMENT, RV_FULL_URL };

/* ------------------------------------------------------------------------ */
/* Incidents                                                                 */

enum ikind {
    IK_STEP_PAGE = 0,
    IK_SEGMENT,
    IK_ERR_QUIET,
    IK_ERR_SPIKE,
    IK_TRAFFIC_DROP,
    IK_PAGE_OUTAGE,
    /* detectors suite only */
    IK_RAMP,        /* vital x(1 + (factor-1) * min(1, t/ramp)) in a scope */
    IK_TAIL,        /* poor share of a vital up, p75 about the same */
    IK_CUSTOM_DROP, /* a custom metric's probability per view x factor */
    IK_SEASONAL     /* at night, lcp rises to the usual daytime level */
};
static const char *const ikind_names[] = {"step_page",
                                          "segment_slowdown",
                                          "error_burst_quiet",
                                          "error_spike_page",
                                          "traffic_drop_app",
                                          "page_outage",
                                          "ramp",
                                          "tail_shift",
                                          "custom_drop",
                                          "seasonal_slowdown"};

enum seg_dim { SD_NONE = -1, SD_DEVICE = 0, SD_COUNTRY, SD_BROWSER };
static const char *const seg_dim_names[] = {"device", "country", "browser"};

struct incident {
    enum ikind kind;
    enum metric metric;
    double factor; /* multiplier on the metric (error_rate: on the error probability) */
    int64_t start, end;
    int page;         /* page index, -1 = none */
    int seg_dim, seg; /* SD_NONE or dimension + value index */
    double err_p;     /* error_burst_quiet: absolute error probability */
    uint64_t affected;
    /* detectors suite */
    int64_t ramp_ms;  /* ramp, seasonal: time to full effect (0 = at once) */
    double level;     /* seasonal: the usual daytime latency level */
    double tail_q;    /* tail_shift: probability to move a view in (p75, poor] */
    double tail_c;    /* tail_shift: latency-cycle level behind p75_before */
    double tail_lo;   /* tail_shift: lowest tail value (poor line x1.02) */
    double tail_from; /* tail_shift: views above this (p80) may move */
    double p75_before, poor_before, poor_after; /* tail_shift: from the calibration sample */
    int cm;                                     /* custom_drop: custom metric index */
    int max_delay_min; /* expected detection delay bound, 0 = not labelled */
    char rules[96];    /* JSON list of the rules expected to find it, "" = any */
};

/* One slot of the two-day schedule template. Times are UTC time of day, so
 * the schedule covers night, morning, peak and evening. Pages are normalized
 * names; later cycles rotate through the list. */
struct slot {
    int day, minute, dur_min;
    enum ikind kind;
    enum metric metric;
    double factor;
    int seg_dim;
    const char *seg_val;
    const char *pages[3];
};

static const struct slot schedule[] = {
    {0,
     7 * 60 + 40,
     30,
     IK_STEP_PAGE,
     M_LCP,
     1.8,
     SD_NONE,
     NULL,
     {"/product/?", "/search", "/account/orders/?"}},
    {0, 11 * 60 + 10, 30, IK_ERR_QUIET, M_ERROR_RATE, 0.0, SD_NONE, NULL, {NULL, NULL, NULL}},
    {0, 14 * 60 + 20, 30, IK_SEGMENT, M_INP, 2.5, SD_DEVICE, "mobile", {NULL, NULL, NULL}},
    {0,
     18 * 60 + 30,
     20,
     IK_PAGE_OUTAGE,
     M_VIEWS,
     0.0,
     SD_NONE,
     NULL,
     {"/checkout", "/checkout", "/checkout"}},
    {0, 22 * 60 + 50, 30, IK_SEGMENT, M_CLS, 4.0, SD_BROWSER, "safari", {NULL, NULL, NULL}},
    {1,
     1 * 60 + 30,
     30,
     IK_STEP_PAGE,
     M_FCP,
     1.7,
     SD_NONE,
     NULL,
     {"/", "/category/shoes", "/cart"}},
    {1, 4 * 60 + 40, 30, IK_SEGMENT, M_TTFB, 3.0, SD_COUNTRY, "IN", {NULL, NULL, NULL}},
    {1,
     9 * 60 + 0,
     20,
     IK_ERR_SPIKE,
     M_ERROR_RATE,
     10.0,
     SD_NONE,
     NULL,
     {"/search", "/cart", "/product/?"}},
    {1, 13 * 60 + 50, 20, IK_TRAFFIC_DROP, M_VIEWS, 0.3, SD_NONE, NULL, {NULL, NULL, NULL}},
    {1, 18 * 60 + 10, 30, IK_STEP_PAGE, M_INP, 2.2, SD_NONE, NULL, {"/cart", "/", "/search"}},
};
#define NSLOTS (sizeof schedule / sizeof schedule[0])
#define SLOT_JITTER_MIN 25

/* The detectors suite's weekly template: day 0 is the first day after the
 * warm-up (a Monday for the default start). Scope: pages[] (rotated by
 * week), else seg_dim/seg_val, else the whole app. Gaps between slots leave
 * room for the jitter and the 15 min grace, so nothing is skipped for
 * overlapping; seasonal slots are used only after DET_SEASONAL_MIN_DAYS. */
struct dslot {
    int day, minute, dur_min, ramp_min;
    enum ikind kind;
    enum metric metric;
    double factor;
    int seg_dim;
    const char *seg_val;
    const char *pages[3];
    int cm;
};

#define DS(d, h, m) .day = (d), .minute = (h)*60 + (m)
static const struct dslot dschedule[] = {
    /* Monday */
    {DS(0, 2, 40), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_FCP, .factor = 2.0,
     .seg_dim = SD_COUNTRY, .seg_val = "US"},
    {DS(0, 7, 50), .dur_min = 300, .ramp_min = 180, .kind = IK_RAMP, .metric = M_LCP, .factor = 1.6,
     .seg_dim = SD_NONE, .pages = {"/product/?", "/search", "/"}},
    {DS(0, 14, 10), .dur_min = 30, .kind = IK_ERR_QUIET, .metric = M_ERROR_RATE,
     .seg_dim = SD_NONE},
    {DS(0, 19, 40), .dur_min = 60, .kind = IK_TAIL, .metric = M_LCP, .seg_dim = SD_NONE,
     .pages = {"/product/?", "/", "/search"}},
    /* Tuesday */
    {DS(1, 1, 20), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_TTFB, .factor = 2.5,
     .seg_dim = SD_DEVICE, .seg_val = "mobile"},
    {DS(1, 10, 20), .dur_min = 30, .kind = IK_STEP_PAGE, .metric = M_LCP, .factor = 1.8,
     .seg_dim = SD_NONE, .pages = {"/search", "/product/?", "/"}},
    {DS(1, 12, 40), .dur_min = 60, .kind = IK_CUSTOM_DROP, .metric = M_CUSTOM, .factor = 0.4,
     .seg_dim = SD_NONE, .pages = {"/checkout", "/checkout", "/checkout"}, .cm = CM_CHECKOUT_CLICK},
    {DS(1, 17, 20), .dur_min = 20, .kind = IK_PAGE_OUTAGE, .metric = M_VIEWS, .factor = 0.0,
     .seg_dim = SD_NONE, .pages = {"/checkout", "/cart", "/checkout"}},
    {DS(1, 20, 30), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_LCP, .factor = 2.0,
     .seg_dim = SD_COUNTRY, .seg_val = "IN"},
    /* Wednesday */
    {DS(2, 0, 40), .dur_min = 240, .ramp_min = 120, .kind = IK_SEASONAL, .metric = M_LCP,
     .seg_dim = SD_NONE},
    {DS(2, 8, 10), .dur_min = 300, .ramp_min = 180, .kind = IK_RAMP, .metric = M_INP, .factor = 1.6,
     .seg_dim = SD_NONE},
    {DS(2, 15, 0), .dur_min = 20, .kind = IK_ERR_SPIKE, .metric = M_ERROR_RATE, .factor = 10.0,
     .seg_dim = SD_NONE, .pages = {"/search", "/cart", "/product/?"}},
    {DS(2, 19, 40), .dur_min = 60, .kind = IK_TAIL, .metric = M_INP, .seg_dim = SD_DEVICE,
     .seg_val = "mobile"},
    /* Thursday */
    {DS(3, 2, 30), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_CLS, .factor = 4.0,
     .seg_dim = SD_BROWSER, .seg_val = "chrome"},
    {DS(3, 9, 30), .dur_min = 30, .kind = IK_STEP_PAGE, .metric = M_INP, .factor = 2.2,
     .seg_dim = SD_NONE, .pages = {"/product/?", "/", "/cart"}},
    {DS(3, 11, 30), .dur_min = 30, .kind = IK_ERR_QUIET, .metric = M_ERROR_RATE,
     .seg_dim = SD_NONE},
    {DS(3, 14, 0), .dur_min = 20, .kind = IK_TRAFFIC_DROP, .metric = M_VIEWS, .factor = 0.3,
     .seg_dim = SD_NONE},
    {DS(3, 18, 30), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_INP, .factor = 2.5,
     .seg_dim = SD_DEVICE, .seg_val = "mobile"},
    /* Friday */
    {DS(4, 6, 40), .dur_min = 300, .ramp_min = 180, .kind = IK_RAMP, .metric = M_LCP, .factor = 1.6,
     .seg_dim = SD_DEVICE, .seg_val = "mobile"},
    {DS(4, 13, 40), .dur_min = 60, .kind = IK_TAIL, .metric = M_LCP, .seg_dim = SD_DEVICE,
     .seg_val = "desktop"},
    {DS(4, 17, 10), .dur_min = 30, .kind = IK_ERR_QUIET, .metric = M_ERROR_RATE,
     .seg_dim = SD_NONE},
    {DS(4, 20, 0), .dur_min = 30, .kind = IK_STEP_PAGE, .metric = M_TTFB, .factor = 2.0,
     .seg_dim = SD_NONE, .pages = {"/product/?", "/", "/search"}},
    /* Saturday */
    {DS(5, 1, 10), .dur_min = 240, .ramp_min = 120, .kind = IK_SEASONAL, .metric = M_LCP,
     .seg_dim = SD_NONE},
    {DS(5, 10, 30), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_FCP, .factor = 1.8,
     .seg_dim = SD_DEVICE, .seg_val = "mobile"},
    {DS(5, 12, 40), .dur_min = 20, .kind = IK_ERR_SPIKE, .metric = M_ERROR_RATE, .factor = 10.0,
     .seg_dim = SD_NONE, .pages = {"/cart", "/product/?", "/search"}},
    {DS(5, 15, 30), .dur_min = 60, .kind = IK_CUSTOM_DROP, .metric = M_CUSTOM, .factor = 0.4,
     .seg_dim = SD_NONE, .pages = {"/checkout", "/checkout", "/checkout"}, .cm = CM_CHECKOUT_CLICK},
    /* Sunday */
    {DS(6, 9, 30), .dur_min = 30, .kind = IK_SEGMENT, .metric = M_CLS, .factor = 4.0,
     .seg_dim = SD_DEVICE, .seg_val = "mobile"},
    {DS(6, 11, 30), .dur_min = 30, .kind = IK_STEP_PAGE, .metric = M_LCP, .factor = 1.8,
     .seg_dim = SD_NONE, .pages = {"/product/?", "/", "/product/?"}},
    {DS(6, 14, 40), .dur_min = 20, .kind = IK_TRAFFIC_DROP, .metric = M_VIEWS, .factor = 0.3,
     .seg_dim = SD_NONE},
    {DS(6, 19, 10), .dur_min = 20, .kind = IK_ERR_SPIKE, .metric = M_ERROR_RATE, .factor = 10.0,
     .seg_dim = SD_NONE, .pages = {"/product/?", "/", "/cart"}},
};
#undef DS
#define NDSLOTS (sizeof dschedule / sizeof dschedule[0])

/* ------------------------------------------------------------------------ */
/* Events and the arrival-ordered heap                                       */

enum { EV_VIEW = 0, EV_ERROR, EV_METRIC };

struct ev {
    int64_t arrive; /* sort key */
    uint64_t seq;   /* tie-break: generation order */
    int64_t ts;
    uint64_t view_id, session_id;
    float vital[NVITALS]; /* EV_METRIC: vital[0] is the value */
    uint32_t id;          /* id segment value, or search term */
    uint16_t page;
    uint8_t type, present, variant, device, country, browser, errk; /* EV_METRIC: errk = cmetric */
};

struct heap {
    struct ev *a;
    size_t n, cap;
};

static inline int ev_before(const struct ev *x, const struct ev *y)
{
    return x->arrive < y->arrive || (x->arrive == y->arrive && x->seq < y->seq);
}

static int heap_push(struct heap *h, const struct ev *e)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 4096;
        struct ev *na = realloc(h->a, ncap * sizeof *na);
        if (!na)
            return -ENOMEM;
        h->a = na;
        h->cap = ncap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(e, &h->a[parent]))
            break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = *e;
    return 0;
}

static void heap_pop(struct heap *h, struct ev *out)
{
    *out = h->a[0];
    struct ev last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && ev_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!ev_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

#define OBUF_CAP (1 << 20)
#define OBUF_SLACK 4096 /* longest line we ever write is far below this */

struct out {
    FILE *f;
    gzFile gz;
    char *buf;
    size_t len;
    uint64_t bytes;
    int failed;
};

static int out_flush(struct out *o)
{
    if (o->len == 0 || o->failed)
        return o->failed ? -EIO : 0;
    if (o->gz) {
        if (gzwrite(o->gz, o->buf, (unsigned)o->len) != (int)o->len)
            o->failed = 1;
    } else if (fwrite(o->buf, 1, o->len, o->f) != o->len) {
        o->failed = 1;
    }
    o->bytes += o->len;
    o->len = 0;
    return o->failed ? -EIO : 0;
}

#define PUT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static inline char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Non-negative fixed-point number with `dec` decimals (1..4). */
static inline char *put_fixed(char *p, double v, int dec)
{
    static const uint64_t pow10[] = {1, 10, 100, 1000, 10000};
    uint64_t scaled = (uint64_t)llround(v * (double)pow10[dec]);
    p = put_u64(p, scaled / pow10[dec]);
    *p++ = '.';
    uint64_t frac = scaled % pow10[dec];
    for (int i = dec - 1; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return p + dec;
}

static inline char *put_hex64(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        p[i] = hex[v & 15];
        v >>= 4;
    }
    return p + 16;
}

/* ------------------------------------------------------------------------ */
/* Generator state                                                           */

struct session {
    uint64_t id;
    uint8_t device, country, browser;
};

enum suite { SUITE_CLASSIC = 0, SUITE_DETECTORS };
static const char *const suite_names[] = {"classic", "detectors"};

struct gen {
    /* arguments */
    uint64_t seed;
    int64_t start, end;
    double days, rate;
    int clean;
    enum suite suite;
    const char *app;     /* "app" field on every event, NULL = none (engine default) */
    double warmup_days;  /* detectors suite */
    int page_cm[NPAGES]; /* detectors suite: custom metric of each page, -1 = none */
    /* model */
    struct page pages[NPAGES];
    struct incident *inc;
    size_t ninc;
    int quiet_page;
    /* run state */
    struct session pool[SESSION_POOL]; /* open sessions, pre-filled */
    struct heap heap;
    struct out out;
    uint64_t seq, view_seq;
    uint64_t n_views, n_errors, n_events, n_metrics;
};

/* Digits-rule normalization of a template (no query/host in templates). */
static void normalize_template(const char *tmpl, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = tmpl;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *seg = p;
        int has_id = 0;
        while (*p && *p != '/') {
            if (*p == '#' || (*p >= '0' && *p <= '9'))
                has_id = 1;
            p++;
        }
        if (o + 2 + (size_t)(p - seg) >= cap)
            break;
        out[o++] = '/';
        if (has_id) {
            out[o++] = '?';
        } else {
            memcpy(out + o, seg, (size_t)(p - seg));
            o += (size_t)(p - seg);
        }
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
}

static int page_by_norm(const struct gen *g, const char *norm)
{
    for (int i = 0; i < NPAGES; i++)
        if (strcmp(g->pages[i].norm, norm) == 0)
            return i;
    return -1;
}

static int build_pages(struct gen *g)
{
    const char *order[NPAGES];
    size_t n = 0;
    for (size_t i = 0; i < sizeof head_pages / sizeof head_pages[0]; i++)
        order[n++] = head_pages[i];
    /* Interleave the tail families so each has both busy and quiet members. */
    struct {
        const char *const *names;
        size_t count, next;
    } fam[] = {
        {fam_subcat, sizeof fam_subcat / sizeof *fam_subcat, 0},
        {fam_cat, sizeof fam_cat / sizeof *fam_cat, 0},
        {fam_help, sizeof fam_help / sizeof *fam_help, 0},
        {fam_blog, sizeof fam_blog / sizeof *fam_blog, 0},
        {fam_brand, sizeof fam_brand / sizeof *fam_brand, 0},
        {fam_store, sizeof fam_store / sizeof *fam_store, 0},
        {fam_ids, sizeof fam_ids / sizeof *fam_ids, 0},
    };
    size_t nfam = sizeof fam / sizeof fam[0];
    while (n < NPAGES) {
        int progressed = 0;
        for (size_t f = 0; f < nfam && n < NPAGES; f++) {
            if (fam[f].next < fam[f].count) {
                order[n++] = fam[f].names[fam[f].next++];
                progressed = 1;
            }
        }
        if (!progressed) {
            fprintf(stderr, "rw_gen: internal: page table has fewer than %d pages\n", NPAGES);
            return -EINVAL;
        }
    }

    struct rng r;
    rng_seed(&r, g->seed, STREAM_PAGES);
    double total = 0.0;
    for (int i = 0; i < NPAGES; i++) {
        struct page *p = &g->pages[i];
        memset(p, 0, sizeof *p);
        snprintf(p->tmpl, sizeof p->tmpl, "%s", order[i]);
        normalize_template(p->tmpl, p->norm, sizeof p->norm);
        if (strcmp(p->tmpl, "/search") == 0) {
            p->kind = PK_SEARCH;
            p->id_span = sizeof search_terms / sizeof search_terms[0];
        } else if (strchr(p->tmpl, '#')) {
            p->kind = PK_ID;
            if (strncmp(p->tmpl, "/account/orders", 15) == 0 ||
                strncmp(p->tmpl, "/order/", 7) == 0 || strncmp(p->tmpl, "/checkout/", 10) == 0) {
                p->id_lo = 1000000;
                p->id_span = 9000000;
            } else if (strncmp(p->tmpl, "/blog/page", 10) == 0) {
                p->id_lo = 2;
                p->id_span = 40;
            } else {
                p->id_lo = 10000;
                p->id_span = 90000;
            }
        }
        p->share = pow((double)(i + 1), -ZIPF_S);
        total += p->share;
        p->ttfb = rng_loguniform(&r, 150.0, 600.0);
        p->fcp_gap = rng_loguniform(&r, 200.0, 650.0);
        double lcp_target = rng_loguniform(&r, 900.0, 2600.0);
        p->lcp_gap = lcp_target - p->ttfb - p->fcp_gap;
        if (p->lcp_gap < 150.0)
            p->lcp_gap = 150.0;
        p->inp = rng_loguniform(&r, 50.0, 120.0);
        p->cls = rng_loguniform(&r, 0.015, 0.08);
        p->err_p = rng_loguniform(&r, 0.002, 0.02);
    }
    double acc = 0.0;
    for (int i = 0; i < NPAGES; i++) {
        g->pages[i].share /= total;
        acc += g->pages[i].share;
        g->pages[i].cdf = acc;
    }
    g->pages[NPAGES - 1].cdf = 1.0;
    for (int i = 0; i < NPAGES; i++)
        for (int j = i + 1; j < NPAGES; j++)
            if (strcmp(g->pages[i].norm, g->pages[j].norm) == 0) {
                fprintf(stderr, "rw_gen: internal: pages %s and %s normalize alike\n",
                        g->pages[i].tmpl, g->pages[j].tmpl);
                return -EINVAL;
            }
    return 0;
}

static double diurnal(int64_t t_ms)
{
    /* 1 + 0.6 cos: peak 1.6 at 14:00 UTC, trough 0.4 twelve hours later
     * (4:1), daily mean 1. */
    double h = (double)(((t_ms % DAY_MS) + DAY_MS) % DAY_MS) / (double)HOUR_MS;
    return 1.0 + DIURNAL_AMP * cos(6.283185307179586 * (h - 14.0) / 24.0);
}

/* 0 on weekdays, 1 on Saturday/Sunday (UTC), with 6-hour linear ramps
 * centred on the edges: users span time zones, so the weekend fades in. */
static double weekend_level(int64_t t_ms)
{
    int64_t day = t_ms >= 0 ? t_ms / DAY_MS : (t_ms - DAY_MS + 1) / DAY_MS;
    int dow = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */
    double x = dow * 24.0 + (double)(t_ms - day * DAY_MS) / (double)HOUR_MS; /* hours into week */
    double d = x >= 120.0 ? fmin(x - 120.0, 168.0 - x) : -fmin(120.0 - x, x);
    return fmin(1.0, fmax(0.0, 0.5 + d / 6.0));
}

static double traffic_mult(const struct gen *g, int64_t t_ms)
{
    double drop = g->suite == SUITE_DETECTORS ? DET_WEEKEND_DROP : 0.3;
    return diurnal(t_ms) * (1.0 - drop * weekend_level(t_ms));
}

/* Detectors suite: load-driven latency cycle for ttfb/fcp/lcp (weekdays
 * 1 +- 0.2 peaking at 14:00; weekends 1.06 (1 +- 0.15) peaking at 16:00,
 * blended by weekend_level) and a small weekend factor on inp. */
static void lat_profile(int64_t t_ms, double *lat, double *inp)
{
    double h = (double)(((t_ms % DAY_MS) + DAY_MS) % DAY_MS) / (double)HOUR_MS;
    double w = weekend_level(t_ms);
    double wd = 1.0 + LAT_AMP_WEEKDAY * cos(6.283185307179586 * (h - 14.0) / 24.0);
    double we = LAT_WEEKEND_LEVEL *
                (1.0 + LAT_AMP_WEEKEND * cos(6.283185307179586 * (h - LAT_PEAK_WEEKEND_H) / 24.0));
    *lat = (1.0 - w) * wd + w * we;
    *inp = 1.0 + (INP_WEEKEND_LEVEL - 1.0) * w;
}

/* Page whose expected views/min at peak is closest to QUIET_PEAK_PER_MIN;
 * `nth` picks the nth-closest (later cycles), skipping the head pages. */
static int pick_quiet_page(const struct gen *g, int nth)
{
    int cand[NPAGES];
    double dist[NPAGES];
    int nc = 0;
    for (int i = 10; i < NPAGES; i++) {
        double peak = g->rate * (1.0 + DIURNAL_AMP) * g->pages[i].share;
        cand[nc] = i;
        dist[nc] = fabs(log(peak / QUIET_PEAK_PER_MIN));
        nc++;
    }
    for (int k = 0; k <= nth && k < nc; k++) { /* partial selection sort */
        int best = k;
        for (int j = k + 1; j < nc; j++)
            if (dist[j] < dist[best])
                best = j;
        int ti = cand[k];
        cand[k] = cand[best];
        cand[best] = ti;
        double td = dist[k];
        dist[k] = dist[best];
        dist[best] = td;
    }
    return cand[nth < nc ? nth : nc - 1];
}

static int seg_index(int dim, const char *val)
{
    const char *const *names = dim == SD_DEVICE    ? device_names
                               : dim == SD_COUNTRY ? country_names
                                                   : browser_names;
    int n = dim == SD_DEVICE ? NDEVICES : dim == SD_COUNTRY ? NCOUNTRIES : NBROWSERS;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], val) == 0)
            return i;
    return -1;
}

static const char *seg_value_name(int dim, int idx)
{
    return dim == SD_DEVICE    ? device_names[idx]
           : dim == SD_COUNTRY ? country_names[idx]
                               : browser_names[idx];
}

static int add_incident(struct gen *g, const struct incident *in)
{
    struct incident *n = realloc(g->inc, (g->ninc + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    g->inc = n;
    g->inc[g->ninc++] = *in;
    return 0;
}

static int make_incident(struct gen *g, const struct slot *s, int cycle, int64_t start,
                         int64_t dur_ms)
{
    struct incident in = {
        .kind = s->kind,
        .metric = s->metric,
        .factor = s->factor,
        .start = start,
        .end = start + dur_ms,
        .page = -1,
        .seg_dim = SD_NONE,
        .seg = -1,
    };
    if (s->kind == IK_ERR_QUIET) {
        in.page = pick_quiet_page(g, cycle % 3);
        in.err_p = QUIET_ERROR_P;
        in.factor = QUIET_ERROR_P / g->pages[in.page].err_p;
        g->quiet_page = in.page;
    } else if (s->pages[0]) {
        const char *name = s->pages[cycle % 3] ? s->pages[cycle % 3] : s->pages[0];
        in.page = page_by_norm(g, name);
        if (in.page < 0) {
            fprintf(stderr, "rw_gen: internal: schedule page %s not in the app\n", name);
            return -EINVAL;
        }
    }
    if (s->seg_dim != SD_NONE) {
        in.seg_dim = s->seg_dim;
        in.seg = seg_index(s->seg_dim, s->seg_val);
        if (in.seg < 0)
            return -EINVAL;
    }
    return add_incident(g, &in);
}

/* Lays the two-day template over the requested span: slot times move by a
 * seeded jitter, slots before the warm-up (min(6 h, a quarter of the span))
 * or whose end + 15 min grace passes the end are skipped. A span too short
 * for any slot still gets one lcp step if it is at least 90 minutes long. */
static int build_schedule(struct gen *g)
{
    g->quiet_page = -1;
    if (g->clean)
        return 0;
    int64_t span = g->end - g->start;
    int64_t warm = span / 4 < 6 * HOUR_MS ? span / 4 : 6 * HOUR_MS;
    struct rng r;
    rng_seed(&r, g->seed, STREAM_SCHEDULE);
    int64_t first_day = g->start / DAY_MS;
    int64_t last_day = (g->end + DAY_MS - 1) / DAY_MS;
    int64_t prev_end = INT64_MIN;
    for (int64_t d = first_day; d <= last_day; d++) {
        int parity = (int)((d - first_day) % 2);
        int cycle = (int)((d - first_day) / 2);
        for (size_t k = 0; k < NSLOTS; k++) {
            const struct slot *s = &schedule[k];
            int jitter = (int)rng_below(&r, 2 * SLOT_JITTER_MIN + 1) - SLOT_JITTER_MIN;
            if (s->day != parity)
                continue;
            int64_t st = d * DAY_MS + (int64_t)(s->minute + jitter) * MIN_MS;
            int64_t dur = (int64_t)s->dur_min * MIN_MS;
            if (st < g->start + warm || st + dur + GRACE_MS > g->end || st < prev_end + GRACE_MS)
                continue;
            int rc = make_incident(g, s, cycle, st, dur);
            if (rc < 0)
                return rc;
            prev_end = st + dur;
        }
    }
    if (g->ninc == 0 && span >= 90 * MIN_MS) {
        int64_t st = g->start + span * 55 / 100;
        st -= st % MIN_MS;
        int64_t dur = g->end - GRACE_MS - st;
        if (dur > 30 * MIN_MS)
            dur = 30 * MIN_MS;
        if (dur >= 10 * MIN_MS)
            return make_incident(g, &schedule[0], 0, st, dur);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Views                                                                     */

static int pick_weighted(struct rng *r, const double *w, int n)
{
    double u = rng_unit(r), acc = 0.0;
    for (int i = 0; i < n - 1; i++) {
        acc += w[i];
        if (u < acc)
            return i;
    }
    return n - 1;
}

static int pick_page(const struct gen *g, double u)
{
    int lo = 0, hi = NPAGES - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (u < g->pages[mid].cdf)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Network/collector delay: mostly well under a second, a few up to 5 s. */
static int64_t arrival_delay(struct rng *r)
{
    double d = 30.0 + rng_exp(r, 300.0);
    if (rng_unit(r) < 0.03)
        d += rng_unit(r) * MAX_LATE_MS;
    if (d > MAX_LATE_MS)
        d = MAX_LATE_MS;
    return (int64_t)d;
}

static int pick_err_kind(struct rng *r)
{
    double u = rng_unit(r), acc = 0.0;
    for (size_t i = 0; i + 1 < NERRKINDS; i++) {
        acc += err_kinds[i].w;
        if (u < acc)
            return (int)i;
    }
    return (int)NERRKINDS - 1;
}

static int in_outage(const struct gen *g, int page, int64_t ts)
{
    for (size_t i = 0; i < g->ninc; i++) {
        const struct incident *in = &g->inc[i];
        if (in->kind == IK_PAGE_OUTAGE && in->page == page && ts >= in->start && ts < in->end)
            return 1;
    }
    return 0;
}

static int push_error(struct gen *g, struct rng *r, const struct ev *view, int64_t ts, int kind)
{
    if (ts >= g->end || in_outage(g, view->page, ts))
        return 0;
    struct ev e = *view;
    e.type = EV_ERROR;
    e.ts = ts;
    e.errk = (uint8_t)kind;
    e.present = 0;
    e.arrive = ts + arrival_delay(r);
    e.seq = g->seq++;
    g->n_errors++;
    return heap_push(&g->heap, &e);
}

static void new_session(struct session *s, struct rng *r)
{
    s->id = rng_next(r);
    s->device = (uint8_t)pick_weighted(r, device_w, NDEVICES);
    s->country = (uint8_t)pick_weighted(r, country_w, NCOUNTRIES);
    s->browser = (uint8_t)pick_weighted(r, browser_w, NBROWSERS);
}

/* Vitals: lognormal around page medians, fcp = ttfb + gap, lcp = fcp + gap.
 * The classic suite's draw order; do not change it. */
static void draw_vitals(struct rng *r, const struct page *p, int device, int country,
                        double v[NVITALS])
{
    double m = device_mult[device] * country_mult[country];
    v[V_TTFB] = rng_lognormal(r, p->ttfb * m, 0.45);
    v[V_FCP] = v[V_TTFB] + rng_lognormal(r, p->fcp_gap * m, 0.40);
    v[V_LCP] = v[V_FCP] + rng_lognormal(r, p->lcp_gap * m, 0.55);
    v[V_INP] = rng_lognormal(r, p->inp * device_mult[device], 0.65);
    double ucls = rng_unit(r);
    double cls_ln = rng_lognormal(r, p->cls, 1.1);
    v[V_CLS] = ucls < 0.32 ? 0.0 : ucls < 0.40 ? cls_ln * 0.01 : cls_ln;
}

/* ------------------------------------------------------------------------ */
/* The detectors suite's schedule                                            */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sorted_quantile(const double *x, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return x[i < n ? i : n - 1];
}

static double share_above(const double *x, size_t n, double line)
{
    size_t lo = 0, hi = n; /* first index with x > line */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x[mid] > line)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (double)(n - lo) / (double)n;
}

/* tail_shift: views of the scope whose vital lies between the scope's p80 and
 * the poor line move, with probability q, into a poor tail (poor line x1.02
 * and up). Values below p80 are untouched and values above it stay above it,
 * so the scope's p50 and p75 do not move (the p75..p80 band keeps its
 * density, so p75 cannot fall into the gap) while the poor share grows by
 * q (0.20 - poor0): q = TAIL_ADD / (0.20 - poor0), capped at TAIL_MAX_Q. p80
 * and poor0 come from a sample of the scope's distribution at the incident's
 * midpoint; during the incident the p80 threshold follows the latency cycle
 * (tail_c = the cycle's level at the midpoint). A scope whose poor share is
 * already high gets less than TAIL_ADD: the label says what it got. */
static int calibrate_tail(const struct gen *g, struct incident *in, size_t idx)
{
    double *x = malloc(TAIL_CALIB_N * sizeof *x);
    if (!x)
        return -ENOMEM;
    struct rng r;
    rng_seed(&r, g->seed, STREAM_CALIB + 8 * (uint64_t)idx);
    double lat, inpm;
    lat_profile(in->start + (in->end - in->start) / 2, &lat, &inpm);
    int k = (int)in->metric;
    for (size_t i = 0; i < TAIL_CALIB_N; i++) {
        int pi = in->page >= 0 ? in->page : pick_page(g, rng_unit(&r));
        int dev = pick_weighted(&r, device_w, NDEVICES);
        int cty = pick_weighted(&r, country_w, NCOUNTRIES);
        if (in->seg_dim == SD_DEVICE)
            dev = in->seg;
        else if (in->seg_dim == SD_COUNTRY)
            cty = in->seg;
        double v[NVITALS];
        draw_vitals(&r, &g->pages[pi], dev, cty, v);
        x[i] = v[k] * (k == V_INP ? inpm : k == V_CLS ? 1.0 : lat);
    }
    qsort(x, TAIL_CALIB_N, sizeof *x, cmp_double);
    double x75 = sorted_quantile(x, TAIL_CALIB_N, 0.75);
    double from = sorted_quantile(x, TAIL_CALIB_N, TAIL_FROM);
    double poor = poor_line[k];
    double b0 = share_above(x, TAIL_CALIB_N, poor);
    double band = share_above(x, TAIL_CALIB_N, from) - b0; /* (p80, poor] */
    free(x);
    double q = band > 0.0 ? TAIL_ADD / band : 0.0;
    if (q > TAIL_MAX_Q)
        q = TAIL_MAX_Q;
    in->tail_from = from;
    in->tail_q = q;
    in->tail_c = k == V_INP ? inpm : k == V_CLS ? 1.0 : lat;
    in->tail_lo = 1.02 * poor;
    in->p75_before = x75;
    in->poor_before = b0;
    in->poor_after = b0 + q * (band > 0.0 ? band : 0.0);
    in->factor = in->poor_after / (b0 > 0.0 ? b0 : 1e-9);
    return 0;
}

static void set_rules(struct incident *in)
{
    const char *m = metric_names[in->metric];
    switch (in->kind) {
    case IK_STEP_PAGE:
    case IK_SEGMENT:
        /* A x1.5-2 step of the whole distribution moves p75 and the rating
         * shares alike: the p75 rule or the vital's rating rule may find it.
         * On a quiet series only the shares can: a p75 over 30 views has a
         * log-sd of ~0.18, so a x1.8 step averages z ~3.3 against the
         * rule's 3.5 (docs/detectors.md, "The default rules"). */
        if (in->metric == M_CLS)
            snprintf(in->rules, sizeof in->rules, "[\"cls_shift\",\"cls_rating\"]");
        else
            snprintf(in->rules, sizeof in->rules, "[\"%s_slowdown\",\"%s_rating\"]", m, m);
        in->max_delay_min = 10;
        break;
    case IK_RAMP:
        snprintf(in->rules, sizeof in->rules, "[\"%s_regression\"]", m);
        in->max_delay_min = 150;
        break;
    case IK_TAIL:
        snprintf(in->rules, sizeof in->rules, "[\"%s_rating\"]", m);
        in->max_delay_min = 30;
        break;
    case IK_SEASONAL:
        snprintf(in->rules, sizeof in->rules, "[\"%s_seasonal\"]", m);
        in->max_delay_min = 120;
        break;
    case IK_ERR_QUIET:
    case IK_ERR_SPIKE:
        snprintf(in->rules, sizeof in->rules, "[\"error_spike\", \"error_spike_quiet\"]");
        in->max_delay_min = 10;
        break;
    case IK_TRAFFIC_DROP:
        snprintf(in->rules, sizeof in->rules, "[\"traffic_drop_app\",\"traffic_drop\"]");
        in->max_delay_min = 10;
        break;
    case IK_PAGE_OUTAGE:
        snprintf(in->rules, sizeof in->rules, "[\"traffic_drop\"]");
        in->max_delay_min = 10;
        break;
    case IK_CUSTOM_DROP:
        snprintf(in->rules, sizeof in->rules, "[\"custom_drop\", \"custom_conversion\", \"custom_metric\"]");
        in->max_delay_min = 40;
        break;
    }
}

static int make_dincident(struct gen *g, const struct dslot *s, int cycle, int nquiet,
                          int64_t start)
{
    struct incident in = {
        .kind = s->kind,
        .metric = s->metric,
        .factor = s->factor,
        .start = start,
        .end = start + (int64_t)s->dur_min * MIN_MS,
        .page = -1,
        .seg_dim = SD_NONE,
        .seg = -1,
        .ramp_ms = (int64_t)s->ramp_min * MIN_MS,
        .cm = -1,
    };
    if (s->kind == IK_ERR_QUIET) {
        in.page = pick_quiet_page(g, nquiet % 3);
        in.err_p = QUIET_ERROR_P;
        in.factor = QUIET_ERROR_P / g->pages[in.page].err_p;
        g->quiet_page = in.page;
    } else if (s->pages[0]) {
        const char *name = s->pages[cycle % 3] ? s->pages[cycle % 3] : s->pages[0];
        in.page = page_by_norm(g, name);
        if (in.page < 0) {
            fprintf(stderr, "rw_gen: internal: schedule page %s not in the app\n", name);
            return -EINVAL;
        }
    }
    if (s->seg_dim != SD_NONE) {
        in.seg_dim = s->seg_dim;
        in.seg = seg_index(s->seg_dim, s->seg_val);
        if (in.seg < 0)
            return -EINVAL;
    }
    if (s->kind == IK_ERR_SPIKE) /* at least DET_SPIKE_MIN_P: visible at a modest rate */
        in.factor = fmax(s->factor, DET_SPIKE_MIN_P / g->pages[in.page].err_p);
    if (s->kind == IK_CUSTOM_DROP) {
        in.cm = s->cm;
        if (in.page < 0 || g->page_cm[in.page] != s->cm) {
            fprintf(stderr, "rw_gen: internal: custom_drop page does not emit %s\n",
                    cmetrics[s->cm].name);
            return -EINVAL;
        }
    }
    if (s->kind == IK_SEASONAL) {
        /* the usual daytime level: the peak of the profile within 12 h */
        double lat, inpm, peak = 0.0, worst = 1.0;
        for (int64_t t = start - 12 * HOUR_MS; t <= start + 12 * HOUR_MS; t += 15 * MIN_MS) {
            lat_profile(t, &lat, &inpm);
            if (lat > peak)
                peak = lat;
        }
        in.level = peak;
        for (int64_t t = start + in.ramp_ms; t < in.end; t += MIN_MS) {
            lat_profile(t, &lat, &inpm);
            if (peak / lat > worst)
                worst = peak / lat;
        }
        in.factor = worst;
    }
    if (s->kind == IK_TAIL) {
        int rc = calibrate_tail(g, &in, g->ninc);
        if (rc < 0)
            return rc;
    }
    set_rules(&in);
    return add_incident(g, &in);
}

/* The weekly template from the first day after the warm-up (main() makes
 * it at most a third of the span); the same jitter, grace and
 * no-overlap rules as the classic schedule. */
static int build_schedule_detectors(struct gen *g)
{
    g->quiet_page = -1;
    if (g->clean)
        return 0;
    int64_t warm = (int64_t)llround(g->warmup_days * (double)DAY_MS);
    int64_t seasonal_from = g->start + (int64_t)llround(DET_SEASONAL_MIN_DAYS * (double)DAY_MS);
    struct rng r;
    rng_seed(&r, g->seed, STREAM_SCHEDULE);
    int64_t day0 = (g->start + warm) / DAY_MS;
    int64_t last_day = (g->end + DAY_MS - 1) / DAY_MS;
    int64_t prev_end = INT64_MIN;
    int nquiet = 0;
    for (int64_t d = day0; d <= last_day; d++) {
        int tday = (int)((d - day0) % 7);
        int cycle = (int)((d - day0) / 7);
        for (size_t k = 0; k < NDSLOTS; k++) {
            const struct dslot *s = &dschedule[k];
            if (s->day != tday)
                continue;
            int jitter = (int)rng_below(&r, 2 * DET_SLOT_JITTER_MIN + 1) - DET_SLOT_JITTER_MIN;
            int64_t st = d * DAY_MS + (int64_t)(s->minute + jitter) * MIN_MS;
            int64_t dur = (int64_t)s->dur_min * MIN_MS;
            if (st < g->start + warm || st + dur + GRACE_MS > g->end || st < prev_end + GRACE_MS)
                continue;
            if (s->kind == IK_SEASONAL && st < seasonal_from)
                continue;
            int rc = make_dincident(g, s, cycle, nquiet, st);
            if (rc < 0)
                return rc;
            if (s->kind == IK_ERR_QUIET)
                nquiet++;
            prev_end = st + dur;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One view                                                                  */

static int in_scope(const struct incident *in, int pi, const struct ev *e)
{
    if (in->page >= 0)
        return in->page == pi;
    if (in->seg_dim == SD_DEVICE)
        return e->device == in->seg;
    if (in->seg_dim == SD_COUNTRY)
        return e->country == in->seg;
    if (in->seg_dim == SD_BROWSER)
        return e->browser == in->seg;
    return 1;
}

static double ramp_frac(const struct incident *in, int64_t ts)
{
    if (in->ramp_ms <= 0)
        return 1.0;
    double f = (double)(ts - in->start) / (double)in->ramp_ms;
    return f < 1.0 ? f : 1.0;
}

static int push_metric(struct gen *g, const struct ev *view, int64_t ts, int64_t delay, int cm,
                       double value)
{
    if (ts >= g->end || in_outage(g, view->page, ts))
        return 0;
    struct ev e = *view;
    e.type = EV_METRIC;
    e.ts = ts;
    e.errk = (uint8_t)cm;
    e.present = 0;
    e.vital[0] = (float)value;
    e.arrive = ts + delay;
    e.seq = g->seq++;
    g->n_metrics++;
    return heap_push(&g->heap, &e);
}

static int gen_view(struct gen *g, int64_t sec_ms, struct incident *const *active, int nactive)
{
    struct rng r;
    uint64_t vseq = g->view_seq++;
    rng_seed(&r, g->seed, STREAM_VIEW | vseq);
    struct ev e;
    memset(&e, 0, sizeof e);
    e.type = EV_VIEW;
    e.ts = sec_ms + rng_below(&r, 1000);
    int pi = pick_page(g, rng_unit(&r));
    const struct page *p = &g->pages[pi];
    e.page = (uint16_t)pi;
    uint32_t idraw = rng_below(&r, 90000000u);
    e.id = p->id_span ? p->id_lo + idraw % p->id_span : 0;
    double uv = rng_unit(&r);
    e.variant = uv < 0.06    ? RV_UTM
                : uv < 0.09  ? RV_REF
                : uv < 0.10  ? RV_FRAGMENT
                : uv < 0.105 ? RV_FULL_URL
                             : RV_PLAIN;

    /* Session: continue an open one or start a new one (segments are fixed
     * per session). The pool evolves the same way with or without incidents. */
    struct session *s = &g->pool[rng_below(&r, SESSION_POOL)];
    if (rng_unit(&r) >= SESSION_REUSE_P)
        new_session(s, &r);
    e.session_id = s->id;
    e.device = s->device;
    e.country = s->country;
    e.browser = s->browser;
    e.view_id = rng_next(&r);

    double v[NVITALS];
    draw_vitals(&r, p, e.device, e.country, v);
    unsigned present = (1u << V_TTFB) | (1u << V_FCP);
    if (rng_unit(&r) < 0.97)
        present |= 1u << V_LCP;
    if (rng_unit(&r) < 0.70)
        present |= 1u << V_INP;
    if (rng_unit(&r) < 0.97)
        present |= 1u << V_CLS;
    if (rng_unit(&r) < OUTLIER_P) {
        int which = (int)rng_below(&r, NVITALS);
        while (!(present & (1u << which)))
            which = (which + 1) % NVITALS;
        v[which] *= 10.0;
    }
    e.arrive = e.ts + arrival_delay(&r);
    double ukeep = rng_unit(&r);

    /* Detectors suite: the latency cycle, and every extra draw, unconditionally
     * and from a stream of its own (the classic draws above stay as they are). */
    double lat = 1.0, inpm = 1.0, u_tail = 1.0, z_tail = 0.0, u_cm = 1.0, z_cm = 0.0;
    int64_t cm_delay = 0, cm_arrive = 0;
    if (g->suite == SUITE_DETECTORS) {
        lat_profile(e.ts, &lat, &inpm);
        v[V_TTFB] *= lat;
        v[V_FCP] *= lat;
        v[V_LCP] *= lat;
        v[V_INP] *= inpm;
        struct rng x;
        rng_seed(&x, g->seed, STREAM_EXTRA | vseq);
        u_tail = rng_unit(&x);
        z_tail = rng_normal(&x);
        u_cm = rng_unit(&x);
        z_cm = rng_normal(&x);
        double du = rng_unit(&x);
        cm_arrive = arrival_delay(&x);
        int cmi = g->page_cm[pi];
        if (cmi >= 0 && cmetrics[cmi].kind == CMK_VALUE) /* the results arrive */
            cm_delay = 20 + (int64_t)fmin(rng_lognormal(&x, 300.0, 0.5) * lat, 10000.0);
        else /* the user clicks: seconds to a couple of minutes */
            cm_delay = 1500 + (int64_t)fmin(-8000.0 * log(1.0 - du), 120000.0);
    }

    /* Incidents: only the labelled metric moves. */
    double keep = 1.0, err_p = p->err_p, cm_mult = 1.0;
    for (int i = 0; i < nactive; i++) {
        struct incident *in = active[i];
        if (e.ts < in->start || e.ts >= in->end)
            continue;
        int hit = 0;
        switch (in->kind) {
        case IK_STEP_PAGE:
            hit = in->page == pi;
            if (hit)
                v[in->metric] *= in->factor;
            break;
        case IK_SEGMENT: {
            int val = in->seg_dim == SD_DEVICE    ? e.device
                      : in->seg_dim == SD_COUNTRY ? e.country
                                                  : e.browser;
            hit = val == in->seg;
            if (hit)
                v[in->metric] *= in->factor;
            break;
        }
        case IK_ERR_QUIET:
            hit = in->page == pi;
            if (hit)
                err_p = in->err_p;
            break;
        case IK_ERR_SPIKE:
            hit = in->page == pi;
            if (hit)
                err_p = fmin(1.0, err_p * in->factor);
            break;
        case IK_TRAFFIC_DROP:
            hit = 1;
            keep *= in->factor;
            break;
        case IK_PAGE_OUTAGE:
            hit = in->page == pi;
            if (hit)
                keep = 0.0;
            break;
        case IK_RAMP:
            hit = in_scope(in, pi, &e);
            if (hit)
                v[in->metric] *= 1.0 + (in->factor - 1.0) * ramp_frac(in, e.ts);
            break;
        case IK_SEASONAL: {
            hit = in_scope(in, pi, &e);
            double full = in->level / lat; /* up to the usual daytime level, never down */
            if (hit && full > 1.0)
                v[in->metric] *= 1.0 + (full - 1.0) * ramp_frac(in, e.ts);
            break;
        }
        case IK_TAIL: {
            hit = in_scope(in, pi, &e);
            double now = in->metric == M_INP ? inpm : in->metric == M_CLS ? 1.0 : lat;
            double thr = in->tail_from * now / in->tail_c, x = v[in->metric];
            if (hit && x > thr && x <= poor_line[in->metric] && u_tail < in->tail_q)
                v[in->metric] = in->tail_lo * exp(0.35 * fabs(z_tail));
            break;
        }
        case IK_CUSTOM_DROP:
            hit = in->page == pi;
            if (hit)
                cm_mult *= in->factor;
            break;
        }
        if (hit)
            in->affected++;
    }
    if (ukeep >= keep || e.ts >= g->end)
        return 0; /* the view never happened; its draws are simply unused */

    static const double cap[NVITALS] = {60000.0, 90000.0, 120000.0, 30000.0, 10.0};
    for (int k = 0; k < NVITALS; k++)
        e.vital[k] = (float)(v[k] > cap[k] ? cap[k] : v[k]);
    e.present = (uint8_t)present;
    e.seq = g->seq++;
    int rc = heap_push(&g->heap, &e);
    if (rc < 0)
        return rc;
    g->n_views++;
    g->pages[pi].views++;

    if (rng_unit(&r) < err_p) {
        int64_t ets = e.ts + 200 + (int64_t)fmin(rng_lognormal(&r, 900.0, 0.9), 15000.0);
        rc = push_error(g, &r, &e, ets, pick_err_kind(&r));
        if (rc < 0)
            return rc;
    }
    if (rng_unit(&r) < BURST_P) { /* a noisy session: one error, repeated */
        int n = 3 + (int)rng_below(&r, 6);
        int kind = pick_err_kind(&r);
        int64_t ets = e.ts + 300;
        for (int k = 0; k < n; k++) {
            ets += 100 + (int64_t)rng_exp(&r, 700.0);
            rc = push_error(g, &r, &e, ets, kind);
            if (rc < 0)
                return rc;
        }
    }
    int cmi = g->page_cm[pi];
    if (g->suite == SUITE_DETECTORS && cmi >= 0 && u_cm < cmetrics[cmi].p * cm_mult) {
        const struct cmetric *cm = &cmetrics[cmi];
        double value =
            cm->kind == CMK_VALUE ? fmin(cm->median * lat * exp(cm->sigma * z_cm), 600000.0) : 1.0;
        rc = push_metric(g, &e, e.ts + cm_delay, cm_arrive, cmi, value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void write_event(struct gen *g, const struct ev *e)
{
    struct out *o = &g->out;
    if (o->len + OBUF_SLACK > OBUF_CAP)
        out_flush(o);
    char *p = o->buf + o->len;
    const struct page *pg = &g->pages[e->page];

    p = e->type == EV_VIEW    ? PUT(p, "{\"v\":1,\"type\":\"view\",\"ts\":")
        : e->type == EV_ERROR ? PUT(p, "{\"v\":1,\"type\":\"error\",\"ts\":")
                              : PUT(p, "{\"v\":1,\"type\":\"metric\",\"ts\":");
    p = put_u64(p, (uint64_t)e->ts);
    if (g->app) {
        p = PUT(p, ",\"app\":\"");
        p = put_str(p, g->app);
        *p++ = '"';
    }
    p = PUT(p, ",\"page\":\"");
    if (e->variant == RV_FULL_URL)
        p = PUT(p, "https://shop.example.com");
    for (const char *t = pg->tmpl; *t; t++) {
        if (*t == '#')
            p = put_u64(p, e->id);
        else
            *p++ = *t;
    }
    int has_query = 0;
    if (pg->kind == PK_SEARCH) {
        p = PUT(p, "?q=");
        p = put_str(p, search_terms[e->id]);
        has_query = 1;
    }
    switch (e->variant) {
    case RV_UTM:
        *p++ = has_query ? '&' : '?';
        p = PUT(p, "utm_source=newsletter&utm_medium=email");
        break;
    case RV_REF:
        *p++ = has_query ? '&' : '?';
        p = PUT(p, "ref=home");
        break;
    case RV_FRAGMENT: p = PUT(p, "#top"); break;
    default: break;
    }
    p = PUT(p, "\",\"seg\":{\"device\":\"");
    p = put_str(p, device_names[e->device]);
    p = PUT(p, "\",\"country\":\"");
    p = put_str(p, country_names[e->country]);
    p = PUT(p, "\",\"browser\":\"");
    p = put_str(p, browser_names[e->browser]);
    p = PUT(p, "\"},");
    if (e->type == EV_METRIC) {
        const struct cmetric *cm = &cmetrics[e->errk];
        p = PUT(p, "\"session_id\":\"");
        p = put_hex64(p, e->session_id);
        p = PUT(p, "\",\"name\":\"");
        p = put_str(p, cm->name);
        p = PUT(p, "\",\"value\":");
        if (cm->kind == CMK_COUNTER)
            p = put_u64(p, (uint64_t)llround(e->vital[0]));
        else
            p = put_fixed(p, e->vital[0], 1);
        p = PUT(p, "}\n");
        o->len = (size_t)(p - o->buf);
        g->n_events++;
        return;
    }
    if (e->type == EV_VIEW) {
        p = PUT(p, "\"vitals\":{");
        int first = 1;
        for (int k = 0; k < NVITALS; k++) {
            if (!(e->present & (1u << k)))
                continue;
            if (!first)
                *p++ = ',';
            first = 0;
            *p++ = '"';
            p = put_str(p, vital_names[k]);
            *p++ = '"';
            *p++ = ':';
            p = put_fixed(p, e->vital[k], k == V_CLS ? 4 : 1);
        }
        p = PUT(p, "},");
    } else {
        p = PUT(p, "\"error\":{\"kind\":\"");
        p = put_str(p, err_kinds[e->errk].kind);
        p = PUT(p, "\",\"message\":\"");
        p = put_str(p, err_kinds[e->errk].message);
        p = PUT(p, "\"},");
    }
    p = PUT(p, "\"view_id\":\"");
    p = put_hex64(p, e->view_id);
    p = PUT(p, "\",\"session_id\":\"");
    p = put_hex64(p, e->session_id);
    p = PUT(p, "\"}\n");
    o->len = (size_t)(p - o->buf);
    g->n_events++;
}

static void drain(struct gen *g, int64_t before)
{
    struct ev e;
    while (g->heap.n > 0 && g->heap.a[0].arrive < before) {
        heap_pop(&g->heap, &e);
        write_event(g, &e);
    }
}

static int run(struct gen *g)
{
    struct rng arr;
    rng_seed(&arr, g->seed, STREAM_SESSIONS);
    for (size_t i = 0; i < SESSION_POOL; i++)
        new_session(&g->pool[i], &arr);
    rng_seed(&arr, g->seed, STREAM_ARRIVALS);
    struct incident *active[64];
    int nactive = 0;
    size_t next_inc = 0;
    double per_sec = g->rate / 60.0;
    for (int64_t t = g->start; t < g->end; t += SEC_MS) {
        /* incidents are sorted by start and never overlap */
        while (next_inc < g->ninc && g->inc[next_inc].start < t + SEC_MS) {
            if (nactive < (int)(sizeof active / sizeof active[0]))
                active[nactive++] = &g->inc[next_inc];
            next_inc++;
        }
        for (int i = 0; i < nactive;) {
            if (active[i]->end <= t)
                active[i] = active[--nactive];
            else
                i++;
        }
        long n = rng_poisson(&arr, per_sec * traffic_mult(g, t + SEC_MS / 2));
        for (long i = 0; i < n; i++) {
            int rc = gen_view(g, t, active, nactive);
            if (rc < 0)
                return rc;
        }
        drain(g, t + SEC_MS);
        if (g->out.failed)
            return -EIO;
    }
    drain(g, INT64_MAX);
    return out_flush(&g->out);
}

/* ------------------------------------------------------------------------ */
/* Labels and summary                                                        */

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void incident_scope(const struct gen *g, const struct incident *in, char *buf, size_t cap)
{
    if (in->page >= 0)
        snprintf(buf, cap, "{\"page\":\"%s\"}", g->pages[in->page].norm);
    else if (in->seg_dim != SD_NONE)
        snprintf(buf, cap, "{\"%s\":\"%s\"}", seg_dim_names[in->seg_dim],
                 seg_value_name(in->seg_dim, in->seg));
    else
        snprintf(buf, cap, "{}");
}

static int write_labels(const struct gen *g, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "rw_gen: cannot write %s: %s\n", path, strerror(errno));
        return -errno;
    }
    fprintf(f,
            "{\"generator\":\"rw_gen\",\"seed\":%" PRIu64 ",\"start\":%" PRId64 ",\"end\":%" PRId64
            ",\"days\":%.6g,\"rate\":%.6g,\"clean\":%s,",
            g->seed, g->start, g->end, g->days, g->rate, g->clean ? "true" : "false");
    if (g->app)
        fprintf(f, "\"app\":\"%s\",", g->app);
    if (g->suite == SUITE_DETECTORS) {
        fprintf(f,
                "\"suite\":\"detectors\",\"warmup_days\":%.6g,\"seasonal_min_days\":%.6g,"
                "\"weekend_traffic\":%.3g,\"custom_metrics\":[",
                g->warmup_days, DET_SEASONAL_MIN_DAYS, 1.0 - DET_WEEKEND_DROP);
        for (size_t k = 0; k < NCMETRICS; k++)
            fprintf(f, "%s{\"name\":\"%s\",\"page\":\"%s\",\"kind\":\"%s\",\"prob\":%.3g}",
                    k ? "," : "", cmetrics[k].name, cmetrics[k].page,
                    cmetrics[k].kind == CMK_COUNTER ? "counter" : "value", cmetrics[k].p);
        fprintf(f, "],");
    }
    fprintf(f, "\"incidents\":[");
    for (size_t i = 0; i < g->ninc; i++) {
        const struct incident *in = &g->inc[i];
        char scope[160], t0[32];
        incident_scope(g, in, scope, sizeof scope);
        fmt_time(in->start, t0, sizeof t0);
        fprintf(f,
                "%s\n  {\"id\":\"inc%zu\",\"kind\":\"%s\",\"metric\":\"%s\",\"scope\":%s,"
                "\"factor\":%.4g,\"start\":%" PRId64 ",\"end\":%" PRId64,
                i ? "," : "", i + 1, ikind_names[in->kind], metric_names[in->metric], scope,
                in->factor, in->start, in->end);
        if (in->kind == IK_ERR_QUIET || in->kind == IK_ERR_SPIKE)
            fprintf(f, ",\"base_error_prob\":%.4g", g->pages[in->page].err_p);
        if (in->kind == IK_ERR_QUIET)
            fprintf(f, ",\"error_prob\":%.4g,\"peak_views_per_min\":%.3g", in->err_p,
                    g->rate * (1.0 + DIURNAL_AMP) * g->pages[in->page].share);
        if (in->kind == IK_CUSTOM_DROP)
            fprintf(f, ",\"name\":\"%s\",\"base_prob\":%.4g,\"prob\":%.4g", cmetrics[in->cm].name,
                    cmetrics[in->cm].p, cmetrics[in->cm].p * in->factor);
        if (in->kind == IK_RAMP || in->kind == IK_SEASONAL)
            fprintf(f, ",\"ramp_min\":%" PRId64 ",\"hold_min\":%" PRId64,
                    (int64_t)(in->ramp_ms / MIN_MS),
                    (int64_t)((in->end - in->start - in->ramp_ms) / MIN_MS));
        if (in->kind == IK_SEASONAL)
            fprintf(f, ",\"level\":%.4g", in->level);
        if (in->kind == IK_TAIL)
            fprintf(f,
                    ",\"poor_line\":%.4g,\"poor_share_before\":%.4f,\"poor_share_after\":%.4f,"
                    "\"p75\":%.4g,\"move_prob\":%.4f",
                    poor_line[in->metric], in->poor_before, in->poor_after, in->p75_before,
                    in->tail_q);
        if (in->rules[0])
            fprintf(f, ",\"rules\":%s,\"max_delay_min\":%d", in->rules, in->max_delay_min);
        fprintf(f, ",\"start_utc\":\"%s\",\"affected_views\":%" PRIu64 "}", t0, in->affected);
    }
    fprintf(f, "%s]}\n", g->ninc ? "\n" : "");
    if (fclose(f) != 0) {
        fprintf(stderr, "rw_gen: cannot write %s: %s\n", path, strerror(errno));
        return -EIO;
    }
    return 0;
}

static void print_summary(const struct gen *g, double secs)
{
    char t0[32], t1[32];
    fmt_time(g->start, t0, sizeof t0);
    fmt_time(g->end, t1, sizeof t1);
    int seen = 0, busiest = 0, quietest = -1;
    for (int i = 0; i < NPAGES; i++) {
        if (!g->pages[i].views)
            continue;
        seen++;
        if (g->pages[i].views > g->pages[busiest].views)
            busiest = i;
        if (quietest < 0 || g->pages[i].views < g->pages[quietest].views)
            quietest = i;
    }
    double hours = (double)(g->end - g->start) / (double)HOUR_MS;
    fprintf(stderr,
            "rw_gen: seed=%" PRIu64 " start=%s end=%s days=%.6g rate=%.6g/min clean=%s\n"
            "rw_gen: events=%" PRIu64 " views=%" PRIu64 " errors=%" PRIu64
            " pages=%d (normalized) bytes=%" PRIu64 "\n",
            g->seed, t0, t1, g->days, g->rate, g->clean ? "yes" : "no", g->n_events, g->n_views,
            g->n_errors, seen, g->out.bytes);
    if (g->suite == SUITE_DETECTORS)
        fprintf(stderr,
                "rw_gen: suite=%s app=%s metrics=%" PRIu64
                " warmup_days=%.3g views/min mean=%.1f\n",
                suite_names[g->suite], g->app ? g->app : "(none)", g->n_metrics, g->warmup_days,
                (double)g->n_views / ((double)(g->end - g->start) / (double)MIN_MS));
    if (seen > 0)
        fprintf(stderr, "rw_gen: busiest %s %.0f views/h, quietest %s %.1f views/h\n",
                g->pages[busiest].norm, (double)g->pages[busiest].views / hours,
                g->pages[quietest].norm, (double)g->pages[quietest].views / hours);
    fprintf(stderr, "rw_gen: incidents=%zu\n", g->ninc);
    for (size_t i = 0; i < g->ninc; i++) {
        const struct incident *in = &g->inc[i];
        char scope[160], a[32], b[32];
        incident_scope(g, in, scope, sizeof scope);
        fmt_time(in->start, a, sizeof a);
        fmt_time(in->end, b, sizeof b);
        if (g->suite == SUITE_DETECTORS) {
            fprintf(stderr,
                    "  inc%-3zu %-18s %-14s x%-6.3g %-30s %s .. %s affected_views=%-6" PRIu64
                    " %s\n",
                    i + 1, ikind_names[in->kind],
                    in->kind == IK_CUSTOM_DROP ? cmetrics[in->cm].name : metric_names[in->metric],
                    in->factor, scope, a, b + 5, in->affected, in->rules);
            continue;
        }
        fprintf(stderr,
                "  inc%-3zu %-18s %-10s x%-6.3g %-34s %s .. %s affected_views=%" PRIu64 "\n", i + 1,
                ikind_names[in->kind], metric_names[in->metric], in->factor, scope, a, b + 11,
                in->affected);
    }
    fprintf(stderr, "rw_gen: %.2f s, %.2f M events/s\n", secs,
            secs > 0 ? (double)g->n_events / secs / 1e6 : 0.0);
}

/* ------------------------------------------------------------------------ */
/* CLI                                                                       */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rw_gen [--suite classic|detectors] [--seed N] [--start EPOCH_MS] [--days D]\n"
            "              [--rate VIEWS_PER_MIN] [--clean] [--app NAME] [--warmup-days D]\n"
            "              [--out FILE[.gz]] [--labels FILE]\n"
            "  --suite S       classic (default): the two-day incident template;\n"
            "                  detectors: weeks with a weekly cycle, custom metric events\n"
            "                  and every incident kind, labelled with the expected rules\n"
            "  --seed N        PRNG seed (default 1); same arguments -> same bytes\n"
            "  --start MS      first event time, epoch ms (default 1762128000000 =\n"
            "                  2025-11-03T00:00:00Z, a Monday)\n"
            "  --days D        span in days, fractional ok (default 2; detectors: 21)\n"
            "  --rate V        mean weekday views per minute for the whole app\n"
            "                  (default 300; detectors: 80)\n"
            "  --clean         no incidents\n"
            "  --app NAME      put \"app\":NAME on every event (default none; detectors: shop)\n"
            "  --warmup-days D detectors: incident-free lead-in (default 7, at most a third\n"
            "                  of the span)\n"
            "  --out FILE      NDJSON output; a .gz name is gzip-compressed (default stdout)\n"
            "  --labels FILE   write the incident labels (JSON)\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -EINVAL;
    *out = v;
    return 0;
}

static int valid_app(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == ':' || *s == '-'))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int main(int argc, char **argv)
{
    static struct gen g; /* large: keep off the stack */
    g.seed = 1;
    g.start = DEFAULT_START_MS;
    g.days = 2.0;
    g.rate = 300.0;
    g.warmup_days = DET_WARMUP_DAYS;
    const char *out_path = NULL, *labels_path = NULL;
    int rc = 0, days_set = 0, rate_set = 0, app_set = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--clean") == 0) {
            g.clean = 1;
            continue;
        } else if (strcmp(a, "--seed") && strcmp(a, "--start") && strcmp(a, "--days") &&
                   strcmp(a, "--rate") && strcmp(a, "--out") && strcmp(a, "--labels") &&
                   strcmp(a, "--suite") && strcmp(a, "--app") && strcmp(a, "--warmup-days")) {
            fprintf(stderr, "rw_gen: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!val) {
            bad = 1;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_u64(val, &g.seed) < 0;
        } else if (strcmp(a, "--start") == 0) {
            bad = parse_i64(val, &g.start) < 0 || g.start < 0;
        } else if (strcmp(a, "--days") == 0) {
            bad = parse_double(val, &g.days) < 0 || g.days <= 0.0 || g.days > 3660.0;
            days_set = 1;
        } else if (strcmp(a, "--rate") == 0) {
            bad = parse_double(val, &g.rate) < 0 || g.rate <= 0.0 || g.rate > 1e8;
            rate_set = 1;
        } else if (strcmp(a, "--suite") == 0) {
            if (strcmp(val, "classic") == 0)
                g.suite = SUITE_CLASSIC;
            else if (strcmp(val, "detectors") == 0)
                g.suite = SUITE_DETECTORS;
            else
                bad = 1;
        } else if (strcmp(a, "--app") == 0) {
            bad = !valid_app(val);
            g.app = val;
            app_set = 1;
        } else if (strcmp(a, "--warmup-days") == 0) {
            bad = parse_double(val, &g.warmup_days) < 0 || g.warmup_days < 0.0 ||
                  g.warmup_days > 3660.0;
        } else if (strcmp(a, "--out") == 0) {
            out_path = val;
        } else {
            labels_path = val;
        }
        if (bad) {
            fprintf(stderr, "rw_gen: bad or missing value for %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (g.suite == SUITE_DETECTORS) {
        if (!days_set)
            g.days = DET_DEFAULT_DAYS;
        if (!rate_set)
            g.rate = DET_DEFAULT_RATE;
        if (!app_set)
            g.app = DET_APP;
    }
    g.end = g.start + (int64_t)llround(g.days * (double)DAY_MS);
    if (g.warmup_days > g.days / 3.0)
        g.warmup_days = g.days / 3.0;

    if (build_pages(&g) < 0)
        return 2;
    for (int i = 0; i < NPAGES; i++)
        g.page_cm[i] = -1;
    if (g.suite == SUITE_DETECTORS)
        for (size_t k = 0; k < NCMETRICS; k++) {
            int pi = page_by_norm(&g, cmetrics[k].page);
            if (pi < 0) {
                fprintf(stderr, "rw_gen: internal: custom metric page %s not in the app\n",
                        cmetrics[k].page);
                return 2;
            }
            g.page_cm[pi] = (int)k;
        }
    if ((g.suite == SUITE_DETECTORS ? build_schedule_detectors(&g) : build_schedule(&g)) < 0)
        return 2;

    g.out.buf = malloc(OBUF_CAP);
    if (!g.out.buf) {
        fprintf(stderr, "rw_gen: out of memory\n");
        return 1;
    }
    if (!out_path || strcmp(out_path, "-") == 0) {
        g.out.f = stdout;
    } else if (ends_with(out_path, ".gz")) {
        g.out.gz = gzopen(out_path, "wb1");
        if (!g.out.gz) {
            fprintf(stderr, "rw_gen: cannot open %s: %s\n", out_path, strerror(errno));
            rc = 1;
            goto done;
        }
        gzbuffer(g.out.gz, 256 * 1024);
    } else {
        g.out.f = fopen(out_path, "wb");
        if (!g.out.f) {
            fprintf(stderr, "rw_gen: cannot open %s: %s\n", out_path, strerror(errno));
            rc = 1;
            goto done;
        }
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int err = run(&g);
    if (g.out.gz) {
        if (gzclose(g.out.gz) != Z_OK && err == 0)
            err = -EIO;
        g.out.gz = NULL;
    } else if (g.out.f == stdout) {
        if (fflush(stdout) != 0 && err == 0)
            err = -EIO;
    } else if (fclose(g.out.f) != 0 && err == 0) {
        err = -EIO;
    }
    g.out.f = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err < 0) {
        fprintf(stderr, "rw_gen: generation failed: %s\n", strerror(-err));
        rc = 1;
        goto done;
    }
    if (labels_path && write_labels(&g, labels_path) < 0) {
        rc = 1;
        goto done;
    }
    print_summary(&g, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

done:
    free(g.out.buf);
    free(g.heap.a);
    free(g.inc);
    return rc;
}
