/* Specialised event decoder (contract: fastjson.h; reference: decode.c).
 *
 * One forward pass over the message validates it as jansson 2.14 would and,
 * on the way, captures only what decode.c looks at: the top-level members v,
 * type, ts, page, app, seg, session_id, view_id, vitals, name, value; the
 * members of the top-level seg object (first RW_MAX_SEG kept, all checked);
 * and the five vitals. The field checks then run in decode.c's order on the
 * captures.
 *
 * Why each corner is the way it is (all from jansson's src/load.c, utf.c):
 *  - Validity is all-or-nothing, so the order in which errors are found does
 *    not matter; only the accepted language must be identical.
 *  - Depth: parse_value() counts every value, scalars included, and fails
 *    above JSON_PARSER_MAX_DEPTH (2048). So "[" x 2048 "]" x 2048 passes and
 *    the same with a scalar innermost does not.
 *  - jansson's lexer reads one byte past a number or a true/false/null and
 *    "ungets" it; an ungot NUL byte is lost (stream_get() treats a NUL in its
 *    one-character buffer as "empty"). So exactly one NUL right after such a
 *    token is skipped, and e.g. "[1\0,2]" is valid. Mirrored in skip_nul().
 *  - Integers (no '.', 'e', 'E') go through strtoll: beyond int64 is an error.
 *    Reals go through strtod: +-HUGE_VAL with ERANGE is an error, underflow
 *    is not. We call strtod on a NUL-terminated copy of the token (with
 *    jansson's swap of '.' for the locale's decimal point) for every real we
 *    use, and for every other real that could overflow.
 *  - Strings: strict UTF-8 (no overlongs, surrogates, > U+10FFFF), raw bytes
 *    below 0x20 refused, \u escapes need a valid pair for surrogates, and a
 *    decoded U+0000 is refused (JSON_ALLOW_NUL off, keys and values alike).
 *  - Duplicate keys are refused in every object; keys compare unescaped.
 *    Objects with more than LINEAR_KEYS keys switch from a linear scan to a
 *    hash index so a hostile 10,000-key object stays linear in time.
 *  - json_object_foreach iterates in insertion order, i.e. document order.
 *
 * Scratch bound: a string of n raw bytes (quotes included) unescapes to at
 * most n - 2 bytes plus a NUL, so all strings of a message fit in len + 1
 * bytes, and the unused tail always has room for a copy of the current
 * number token. A key takes >= 5 raw bytes ("":0,), so len / 5 + 2 key slots
 * suffice. */
#include "engine/fastjson.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048  /* jansson JSON_PARSER_MAX_DEPTH */
#define LINEAR_KEYS 16  /* duplicate check by scan up to this many keys */
#define DEFAULT_MAX_LEN 65536

/* Same bounds as decode.c. */
static const double vital_max[RW_NVITALS] = {3600e3, 3600e3, 3600e3, 3600e3, 100.0};
#define TS_MIN 946684800000LL
#define TS_MAX 7258118400000LL

enum kind { K_NONE = 0, K_NULL, K_TRUE, K_FALSE, K_INT, K_REAL, K_STR, K_OBJ, K_ARR };

struct val {
    unsigned char kind;
    const char *s; /* K_STR: unescaped, NUL-terminated, in scratch */
    size_t n;
    int64_t i; /* K_INT */
    double r;  /* K_REAL */
};

struct key {
    const char *p; /* unescaped, in scratch */
    uint32_t n;
    uint32_t h; /* only set once its object uses the hash index */
};

/* Hash index entry; live only if call == the decoder's current call. */
struct slot {
    uint32_t call;
    uint32_t obj;
    uint32_t idx;
    uint32_t h;
};

enum ctx { C_NONE = 0, C_TOP, C_SEG, C_VIT };

struct level {
    unsigned char is_obj;
    unsigned char ctx;
    uint32_t kbase; /* first key of this object on the key stack */
    uint32_t obj;   /* hash index id once the object is big; 0 = linear scan */
};

/* The top-level members decode.c reads (session_id is F_SID, view_id F_VID;
 * name and value of a metric event are F_NAME, F_VALUE). */
enum { F_V, F_TYPE, F_TS, F_PAGE, F_APP, F_SEG, F_SID, F_VID, F_VITALS, F_NAME, F_VALUE, F_N };

/* What one call captures. */
struct cap {
    int top_is_obj;
    struct val top[F_N];
    struct val vit[RW_NVITALS];
    struct val segv; /* the seg member being parsed */
    int seg_bad;
    int nseg;
    const char *seg_key[RW_MAX_SEG];
    const char *seg_val[RW_MAX_SEG];
    size_t seg_len[RW_MAX_SEG];
};

struct rw_fastdec {
    struct rw_pagenorm *pn;
    int max_seg_value;
    size_t max_len; /* scratch sized for messages up to this many bytes */
    char *scratch;  /* max_len + 1 */
    struct key *keys;
    size_t kcap;
    struct slot *slots;
    uint32_t smask;
    uint32_t call;
    struct level stack[MAX_DEPTH];
};

/* Byte classes inside a string: plain, '"', '\\', control (< 0x20), lead
 * of a 2/3/4-byte UTF-8 sequence, or never valid (continuation bytes, the
 * overlong leads C0/C1, F5..FF). Constant so threads share it safely. */
enum { S_PLAIN = 0, S_QUOTE, S_BSLASH, S_CTRL, S_U2, S_U3, S_U4, S_BAD };
#define PL S_PLAIN
#define QU S_QUOTE
#define BS S_BSLASH
#define CT S_CTRL
#define U2 S_U2
#define U3 S_U3
#define U4 S_U4
#define XX S_BAD
static const unsigned char sclass[256] = {
    CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, /* 00 */
    CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, /* 10 */
    PL, PL, QU, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, /* 20 */
    PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, /* 30 */
    PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, /* 40 */
    PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, BS, PL, PL, PL, /* 50 */
    PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, /* 60 */
    PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, PL, /* 70 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 80 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 90 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* A0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* B0 */
    XX, XX, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, /* C0 */
    U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, U2, /* D0 */
    U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, U3, /* E0 */
    U4, U4, U4, U4, U4, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* F0 */
};
#undef PL
#undef QU
#undef BS
#undef CT
#undef U2
#undef U3
#undef U4
#undef XX

static int grow(struct rw_fastdec *d, size_t max_len)
{
    size_t kcap = max_len / 5 + 2;
    size_t nslots = 64;
    while (nslots < 2 * kcap)
        nslots *= 2;
    if (nslots > UINT32_MAX)
        return -1;
    char *s = malloc(max_len + 1);
    struct key *k = malloc(kcap * sizeof *k);
    struct slot *sl = calloc(nslots, sizeof *sl);
    if (!s || !k || !sl) {
        free(s);
        free(k);
        free(sl);
        return -1;
    }
    free(d->scratch);
    free(d->keys);
    free(d->slots);
    d->scratch = s;
    d->keys = k;
    d->kcap = kcap;
    d->slots = sl;
    d->smask = (uint32_t)(nslots - 1);
    d->call = 0;
    d->max_len = max_len;
    return 0;
}

struct rw_fastdec *rw_fastdec_new(struct rw_pagenorm *pn, int max_seg_value, size_t max_len)
{
    struct rw_fastdec *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->pn = pn;
    d->max_seg_value = max_seg_value;
    if (grow(d, max_len ? max_len : DEFAULT_MAX_LEN)) {
        free(d);
        return NULL;
    }
    return d;
}

void rw_fastdec_destroy(struct rw_fastdec **dp)
{
    if (!dp || !*dp)
        return;
    free((*dp)->scratch);
    free((*dp)->keys);
    free((*dp)->slots);
    free(*dp);
    *dp = NULL;
}

/* ---- lexical pieces ---------------------------------------------------- */

typedef const unsigned char *cur;

static inline cur skip_ws(cur p, cur end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* jansson loses an ungot NUL after a number or literal (see the header). */
static inline cur skip_nul(cur p, cur end) { return (p < end && *p == 0) ? p + 1 : p; }

static inline int is_digit(unsigned c) { return c - '0' < 10u; }

static inline int hexval(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    if (c - 'a' < 6u)
        return (int)(c - 'a' + 10);
    if (c - 'A' < 6u)
        return (int)(c - 'A' + 10);
    return -1;
}

/* p points after "\u"; four hex digits -> value, or -1. */
static inline int32_t hex4(cur p, cur end)
{
    if (end - p < 4)
        return -1;
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), e = hexval(p[3]);
    if ((a | b | c | e) < 0)
        return -1;
    return (a << 12) | (b << 8) | (c << 4) | e;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Does any byte of x need attention in a string: below 0x20, '"', '\\' or
 * 0x80 and up? (The classic has-zero-byte trick; exact for bytes < 0x80,
 * and bytes >= 0x80 are flagged anyway.) */
static inline uint64_t swar_special(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    uint64_t lt = x - ONES * 0x20;
    uint64_t zq = q - ONES, zb = b - ONES;
    return ((lt | zq | zb) & ~x & HIGHS) | (x & HIGHS);
}

/* String body from p (after the opening quote): validate and unescape into
 * *outp (NUL-terminated; *outp advances past the NUL). Returns the position
 * after the closing quote, or NULL if jansson would refuse it. */
static cur scan_string(cur p, cur end, char **outp)
{
    char *o = *outp;
    for (;;) {
        /* Eight plain bytes at a time. Storing all eight before knowing how
         * many are plain is safe: o never runs ahead of p - buf (see the
         * scratch bound above), and the bytes past a stop are rewritten. */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            memcpy(o, &x, 8);
            if (!swar_special(x))
                p += 8, o += 8;
            else
                break;
        }
        while (p < end && sclass[*p] == S_PLAIN)
            *o++ = (char)*p++;
        if (p == end)
            return NULL;
        switch (sclass[*p]) {
        case S_QUOTE:
            *o++ = '\0';
            *outp = o;
            return p + 1;
        case S_BSLASH: {
            if (end - p < 2)
                return NULL;
            char c;
            switch (p[1]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int32_t v = hex4(p + 2, end);
                if (v < 0)
                    return NULL;
                p += 6;
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                        return NULL;
                    int32_t v2 = hex4(p + 2, end);
                    if (v2 < 0xDC00 || v2 > 0xDFFF)
                        return NULL;
                    p += 6;
                    v = ((v - 0xD800) << 10) + (v2 - 0xDC00) + 0x10000;
                } else if (v >= 0xDC00 && v <= 0xDFFF) {
                    return NULL;
                } else if (v == 0) {
                    return NULL; /* JSON_ALLOW_NUL is off */
                }
                if (v < 0x80) {
                    *o++ = (char)v;
                } else if (v < 0x800) {
                    *o++ = (char)(0xC0 | (v >> 6));
                    *o++ = (char)(0x80 | (v & 0x3F));
                } else if (v < 0x10000) {
                    *o++ = (char)(0xE0 | (v >> 12));
                    *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (v & 0x3F));
                } else {
                    *o++ = (char)(0xF0 | (v >> 18));
                    *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
                    *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (v & 0x3F));
                }
                continue;
            }
            default:
                return NULL;
            }
            *o++ = c;
            p += 2;
            continue;
        }
        case S_U2:
            if (end - p < 2 || (p[1] & 0xC0) != 0x80)
                return NULL;
            o[0] = (char)p[0];
            o[1] = (char)p[1];
            o += 2;
            p += 2;
            continue;
        case S_U3: {
            if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return NULL;
            uint32_t v = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
                         (p[2] & 0x3F);
            if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))
                return NULL;
            memcpy(o, p, 3);
            o += 3;
            p += 3;
            continue;
        }
        case S_U4: {
            if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80)
                return NULL;
            uint32_t v = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                         ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            if (v < 0x10000 || v > 0x10FFFF)
                return NULL;
            memcpy(o, p, 4);
            o += 4;
            p += 4;
            continue;
        }
        default: /* S_CTRL, S_BAD */
            return NULL;
        }
    }
}

/* strtod exactly as jansson's jsonp_strtod: overflow is an error, underflow
 * is not. tmp has room for n + 1 bytes. */
static int real_value(const unsigned char *tok, size_t n, char *tmp, double *out)
{
    memcpy(tmp, tok, n);
    tmp[n] = '\0';
    /* jansson's to_locale(): the token's '.' becomes the locale's decimal
     * point, so the result does not depend on LC_NUMERIC -- nor does ours. */
    const char *point = localeconv()->decimal_point;
    if (*point != '.') {
        char *dot = memchr(tmp, '.', n);
        if (dot)
            *dot = *point;
    }
    errno = 0;
    double v = strtod(tmp, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static uint32_t fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

/* Insert key idx of big object obj into the hash index; -1 if a key equal to
 * it is already there. The index holds at most kcap < nslots / 2 entries per
 * call, so probing ends. */
static int index_key(struct rw_fastdec *d, uint32_t obj, uint32_t idx)
{
    const struct key *k = &d->keys[idx];
    uint32_t i = (k->h ^ (obj * 0x9E3779B9u)) & d->smask;
    for (;;) {
        struct slot *s = &d->slots[i];
        if (s->call != d->call) {
            s->call = d->call;
            s->obj = obj;
            s->idx = idx;
            s->h = k->h;
            return 0;
        }
        if (s->obj == obj && s->h == k->h) {
            const struct key *o = &d->keys[s->idx];
            if (o->n == k->n && memcmp(o->p, k->p, k->n) == 0)
                return -1;
        }
        i = (i + 1) & d->smask;
    }
}

static inline int eq(const char *p, size_t n, const char *lit, size_t ln)
{
    return n == ln && memcmp(p, lit, ln) == 0;
}
#define EQ(p, n, lit) eq(p, n, lit, sizeof lit - 1)

/* Which of the F_ members the key names, or -1. */
static int top_field(const char *p, size_t n)
{
    switch (n ? p[0] : 0) {
    case 'v':
        return n == 1                ? F_V
               : EQ(p, n, "vitals")  ? F_VITALS
               : EQ(p, n, "view_id") ? F_VID
               : EQ(p, n, "value")   ? F_VALUE
                                     : -1;
    case 't':
        return EQ(p, n, "ts") ? F_TS : EQ(p, n, "type") ? F_TYPE : -1;
    case 'p':
        return EQ(p, n, "page") ? F_PAGE : -1;
    case 'a':
        return EQ(p, n, "app") ? F_APP : -1;
    case 'n':
        return EQ(p, n, "name") ? F_NAME : -1;
    case 's':
        return EQ(p, n, "seg") ? F_SEG : EQ(p, n, "session_id") ? F_SID : -1;
    default:
        return -1;
    }
}

/* Index in rw_metric_names among the vitals, or -1. Spelled out for speed;
 * test_fastjson.c checks each spelling against rw_metric_names. */
static int vital_field(const char *p, size_t n)
{
    if (n == 4)
        return memcmp(p, "ttfb", 4) == 0 ? RW_TTFB : -1;
    if (n != 3)
        return -1;
    if (memcmp(p, "fcp", 3) == 0)
        return RW_FCP;
    if (memcmp(p, "lcp", 3) == 0)
        return RW_LCP;
    if (memcmp(p, "inp", 3) == 0)
        return RW_INP;
    if (memcmp(p, "cls", 3) == 0)
        return RW_CLS;
    return -1;
}

/* ---- the parser -------------------------------------------------------- */

/* Validate buf[0..len) and fill *c. 0 if jansson would accept it. */
static int parse_doc(struct rw_fastdec *d, cur p, cur end, struct cap *c, int max_seg_value)
{
    char *out = d->scratch;
    uint32_t nkeys = 0, nbig = 0;
    int depth = 0; /* open containers; the value being parsed is at depth + 1 */
    struct level *lv = NULL;
    struct val *dst = NULL; /* capture for the value being parsed */
    const char *kp = NULL;  /* key of the member being parsed */
    size_t kn = 0;

value:
    if (depth >= MAX_DEPTH)
        return -1;
    p = skip_ws(p, end);
    if (p == end)
        return -1;
    switch (*p) {
    case '{':
    case '[': {
        int is_obj = *p == '{';
        unsigned char ctx = C_NONE;
        if (is_obj) {
            if (depth == 0)
                ctx = C_TOP, c->top_is_obj = 1;
            else if (dst == &c->top[F_SEG])
                ctx = C_SEG;
            else if (dst == &c->top[F_VITALS])
                ctx = C_VIT;
        }
        if (dst) {
            dst->kind = is_obj ? K_OBJ : K_ARR;
            if (dst == &c->segv)
                c->seg_bad = 1;
        }
        lv = &d->stack[depth++];
        lv->is_obj = (unsigned char)is_obj;
        lv->ctx = ctx;
        lv->kbase = nkeys;
        lv->obj = 0;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (is_obj ? '}' : ']')) {
            p++;
            depth--;
            goto after_value;
        }
        dst = NULL;
        if (is_obj)
            goto key;
        goto value;
    }
    case '"': {
        char *s = out;
        p = scan_string(p + 1, end, &out);
        if (!p)
            return -1;
        if (dst) {
            dst->kind = K_STR;
            dst->s = s;
            dst->n = (size_t)(out - s - 1);
            if (dst == &c->segv) {
                /* decode.c: a seg value must be a short, control-free string. */
                size_t l = dst->n;
                int bad = l > (size_t)max_seg_value;
                for (size_t i = 0; i < l && !bad; i++)
                    bad = (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
                if (bad)
                    c->seg_bad = 1;
                else if (c->nseg < RW_MAX_SEG) {
                    c->seg_key[c->nseg] = kp;
                    c->seg_val[c->nseg] = s;
                    c->seg_len[c->nseg] = l;
                    c->nseg++;
                }
            }
        }
        goto after_value;
    }
    case 't':
    case 'f':
    case 'n': {
        cur s = p;
        while (p < end && (unsigned)((*p | 0x20) - 'a') < 26u)
            p++;
        size_t n = (size_t)(p - s);
        unsigned char kind;
        if (n == 4 && memcmp(s, "true", 4) == 0)
            kind = K_TRUE;
        else if (n == 5 && memcmp(s, "false", 5) == 0)
            kind = K_FALSE;
        else if (n == 4 && memcmp(s, "null", 4) == 0)
            kind = K_NULL;
        else
            return -1;
        if (dst) {
            dst->kind = kind;
            if (dst == &c->segv)
                c->seg_bad = 1;
        }
        p = skip_nul(p, end);
        goto after_value;
    }
    default: {
        if (*p != '-' && !is_digit(*p))
            return -1;
        cur s = p;
        if (*p == '-')
            p++;
        if (p == end)
            return -1;
        cur ds = p;
        if (*p == '0') {
            p++;
            if (p < end && is_digit(*p))
                return -1;
        } else if (is_digit(*p)) {
            while (p < end && is_digit(*p))
                p++;
        } else {
            return -1;
        }
        size_t ndig = (size_t)(p - ds);
        if (p == end || (*p != '.' && *p != 'e' && *p != 'E')) {
            /* integer: strtoll semantics, overflow is an error */
            if (ndig > 19)
                return -1;
            uint64_t u = 0;
            for (cur q = ds; q < p; q++)
                u = u * 10 + (uint64_t)(*q - '0');
            int64_t iv;
            if (s != ds) {
                if (u > (uint64_t)INT64_MAX + 1)
                    return -1;
                iv = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
            } else {
                if (u > (uint64_t)INT64_MAX)
                    return -1;
                iv = (int64_t)u;
            }
            if (dst) {
                dst->kind = K_INT;
                dst->i = iv;
            }
        } else {
            int has_exp = 0;
            if (*p == '.') {
                p++;
                if (p == end || !is_digit(*p))
                    return -1;
                while (p < end && is_digit(*p))
                    p++;
            }
            if (p < end && (*p == 'e' || *p == 'E')) {
                has_exp = 1;
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                    p++;
                if (p == end || !is_digit(*p))
                    return -1;
                while (p < end && is_digit(*p))
                    p++;
            }
            /* Without an exponent and with <= 308 integer digits the value is
             * below 1e308 and cannot overflow: no need to ask strtod. */
            if (dst || has_exp || ndig > 308) {
                size_t n = (size_t)(p - s);
                char small[64];
                double r;
                if (real_value(s, n, n < sizeof small ? small : out, &r))
                    return -1;
                if (dst) {
                    dst->kind = K_REAL;
                    dst->r = r;
                }
            }
        }
        if (dst == &c->segv)
            c->seg_bad = 1;
        p = skip_nul(p, end);
        goto after_value;
    }
    }

after_value:
    if (depth == 0)
        return skip_ws(p, end) == end ? 0 : -1;
    p = skip_ws(p, end);
    if (p == end)
        return -1;
    lv = &d->stack[depth - 1];
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        dst = NULL;
        if (lv->is_obj)
            goto key;
        goto value;
    }
    if (*p == (lv->is_obj ? '}' : ']')) {
        p++;
        nkeys = lv->kbase;
        depth--;
        goto after_value;
    }
    return -1;

key:
    /* p at the key's opening quote (whitespace skipped); lv is its object */
    if (p == end || *p != '"')
        return -1;
    kp = out;
    p = scan_string(p + 1, end, &out);
    if (!p)
        return -1;
    kn = (size_t)(out - kp - 1);
    {
        uint32_t cnt = nkeys - lv->kbase;
        struct key *k = &d->keys[nkeys];
        k->p = kp;
        k->n = (uint32_t)kn;
        if (lv->obj == 0 && cnt < LINEAR_KEYS) {
            for (uint32_t i = lv->kbase; i < nkeys; i++)
                if (d->keys[i].n == kn && (kn == 0 || (d->keys[i].p[0] == kp[0] &&
                                                       memcmp(d->keys[i].p, kp, kn) == 0)))
                    return -1;
        } else {
            if (lv->obj == 0) {
                lv->obj = ++nbig;
                for (uint32_t i = lv->kbase; i < nkeys; i++) {
                    d->keys[i].h = fnv1a(d->keys[i].p, d->keys[i].n);
                    (void)index_key(d, lv->obj, i); /* already known distinct */
                }
            }
            k->h = fnv1a(kp, kn);
            if (index_key(d, lv->obj, nkeys))
                return -1;
        }
        nkeys++;
    }
    dst = NULL;
    if (lv->ctx == C_TOP) {
        int f = top_field(kp, kn);
        if (f >= 0)
            dst = &c->top[f];
    } else if (lv->ctx == C_SEG) {
        dst = &c->segv;
    } else if (lv->ctx == C_VIT) {
        int f = vital_field(kp, kn);
        if (f >= 0)
            dst = &c->vit[f];
    }
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return -1;
    p++;
    goto value;
}

static int has_control(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 1;
    return 0;
}

/* Custom metric names, as decode.c: [A-Za-z0-9_.:-], 1..RW_METRIC_NAME_MAX. */
static int metric_name_ok(const char *p, size_t n)
{
    if (n == 0 || n > RW_METRIC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- the checks, in decode.c's order ----------------------------------- */

enum rw_reject rw_fastdec_decode(struct rw_fastdec *d, const char *buf, size_t len,
                                 struct rw_event *ev)
{
    if (!buf)
        return RW_REJ_JSON; /* json_loadb(NULL, ...) fails */
    if (len > d->max_len) {
        size_t want = d->max_len * 2 > len ? d->max_len * 2 : len;
        if (grow(d, want))
            return RW_REJ_JSON;
    }
    if (++d->call == 0) {
        memset(d->slots, 0, ((size_t)d->smask + 1) * sizeof *d->slots);
        d->call = 1;
    }

    struct cap c;
    c.top_is_obj = 0;
    c.seg_bad = 0;
    c.nseg = 0;
    for (int i = 0; i < F_N; i++)
        c.top[i].kind = K_NONE;
    for (int i = 0; i < RW_NVITALS; i++)
        c.vit[i].kind = K_NONE;

    cur p = (cur)buf;
    if (parse_doc(d, p, p + len, &c, d->max_seg_value))
        return RW_REJ_JSON;
    if (!c.top_is_obj)
        return RW_REJ_SHAPE;

    const struct val *v = &c.top[F_V];
    if (v->kind != K_INT || v->i != 1)
        return RW_REJ_VERSION;

    const struct val *type = &c.top[F_TYPE];
    if (type->kind != K_STR)
        return RW_REJ_TYPE;
    if (type->n == 4 && memcmp(type->s, "view", 4) == 0)
        ev->type = RW_EV_VIEW;
    else if (type->n == 5 && memcmp(type->s, "error", 5) == 0)
        ev->type = RW_EV_ERROR;
    else if (type->n == 6 && memcmp(type->s, "metric", 6) == 0)
        ev->type = RW_EV_METRIC;
    else
        return RW_REJ_TYPE;

    const struct val *ts = &c.top[F_TS];
    if (ts->kind == K_INT) {
        ev->ts = ts->i;
    } else if (ts->kind == K_REAL) {
        double t = ts->r;
        if (!(t >= (double)TS_MIN && t < (double)TS_MAX))
            return RW_REJ_TS;
        ev->ts = (int64_t)t;
    } else {
        return RW_REJ_TS;
    }
    if (ev->ts < TS_MIN || ev->ts >= TS_MAX)
        return RW_REJ_TS;

    const struct val *page = &c.top[F_PAGE];
    if (page->kind != K_STR || page->n == 0)
        return RW_REJ_PAGE;
    if (page->n > RW_PAGE_MAX)
        return RW_REJ_PAGE_LONG;
    if (has_control(page->s, page->n))
        return RW_REJ_PAGE;
    int n = rw_pagenorm_apply(d->pn, page->s, page->n, ev->page, sizeof ev->page);
    if (n < 0)
        return RW_REJ_PAGE_LONG;
    ev->page_len = (size_t)n;

    const struct val *app = &c.top[F_APP];
    if (app->kind != K_NONE && app->kind != K_NULL) {
        if (app->kind != K_STR || app->n == 0 || app->n > RW_APP_MAX || has_control(app->s, app->n))
            return RW_REJ_SHAPE;
        ev->app = app->s;
        ev->app_len = app->n;
    } else {
        ev->app = "default";
        ev->app_len = 7;
    }

    ev->nseg = 0;
    const struct val *seg = &c.top[F_SEG];
    if (seg->kind != K_NONE && seg->kind != K_NULL) {
        if (seg->kind != K_OBJ || c.seg_bad)
            return RW_REJ_SEG;
        ev->nseg = c.nseg;
        for (int i = 0; i < c.nseg; i++) {
            ev->seg_key[i] = c.seg_key[i];
            ev->seg_val[i] = c.seg_val[i];
            ev->seg_len[i] = c.seg_len[i];
        }
    }

    /* session_id, else view_id: FNV-1a, 0 reserved for "unknown" */
    ev->session = 0;
    const struct val *sid = &c.top[F_SID];
    if (sid->kind != K_STR)
        sid = &c.top[F_VID];
    if (sid->kind == K_STR) {
        uint32_t h = fnv1a(sid->s, sid->n);
        ev->session = h ? h : 1;
    }

    /* type-specific fields last, each type ignoring the others' (decode.c) */
    ev->vital_mask = 0;
    ev->mname = NULL;
    ev->mname_len = 0;
    ev->mvalue = 0;
    if (ev->type == RW_EV_METRIC) {
        const struct val *name = &c.top[F_NAME];
        if (name->kind != K_STR || !metric_name_ok(name->s, name->n))
            return RW_REJ_METRIC;
        const struct val *x = &c.top[F_VALUE];
        double mv;
        if (x->kind == K_NONE)
            mv = 1.0; /* absent: a count of one */
        else if (x->kind == K_INT)
            mv = (double)x->i;
        else if (x->kind == K_REAL)
            mv = x->r; /* overflow was refused by the parser, as jansson does */
        else
            return RW_REJ_METRIC;
        if (!isfinite(mv))
            return RW_REJ_METRIC;
        ev->mname = name->s;
        ev->mname_len = name->n;
        ev->mvalue = mv;
    } else if (ev->type == RW_EV_VIEW) {
        const struct val *vit = &c.top[F_VITALS];
        if (vit->kind != K_NONE && vit->kind != K_NULL) {
            if (vit->kind != K_OBJ)
                return RW_REJ_SHAPE;
            for (int i = 0; i < RW_NVITALS; i++) {
                const struct val *x = &c.vit[i];
                if (x->kind == K_NONE || x->kind == K_NULL)
                    continue;
                double val;
                if (x->kind == K_INT)
                    val = (double)x->i;
                else if (x->kind == K_REAL)
                    val = x->r;
                else
                    return RW_REJ_VITAL;
                if (!isfinite(val) || val < 0 || val > vital_max[i])
                    return RW_REJ_VITAL;
                ev->vital[i] = val;
                ev->vital_mask |= 1u << i;
            }
        }
    }
    return RW_OK;
}
