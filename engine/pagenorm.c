/* Page-name normalization (rule and vectors: pagenorm.h, docs/page-names.md).
 *
 * Ownership: a struct rw_pagenorm owns its compiled regexes, its copies of the
 * replacement strings and (only when there are rewrite rules) a 1 MiB
 * direct-mapped cache. Callers own `in` and `out`.
 *
 * Invariants:
 *  - Input stops at len or at the first NUL byte, whichever comes first
 *    (regexec works on C strings, so an embedded NUL could not be honoured
 *    consistently anyway).
 *  - Every intermediate buffer is bounded by RW_PAGE_MAX: a stripped path, or
 *    the result of a rewrite rule, that is longer makes apply() return -1.
 *    The id/collapse step never lengthens a path, so the final result then
 *    fits too.
 *  - No allocation in apply(); the cache is a fixed array.
 */
#include "engine/pagenorm.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rw_id_mode_names[] = {"digits", "strict", "none", NULL};

/* Cache geometry: 4096 slots of 256 bytes. Raw (stripped) paths up to 120
 * bytes and results up to 127 bytes are cached; anything longer is recomputed
 * every time, which only costs speed. */
#define CACHE_SLOTS 4096u
#define CACHE_RAW_MAX 120u
#define CACHE_OUT_MAX 127u
#define MAX_GROUPS 10 /* \0 (whole match, internal) plus \1..\9 */

struct cache_slot {
    uint32_t hash;
    uint8_t rawlen1; /* stripped length + 1; 0 marks an empty slot */
    uint8_t outlen;
    char raw[CACHE_RAW_MAX];
    char out[CACHE_OUT_MAX + 1];
};

struct rule {
    regex_t re;
    size_t nmatch; /* groups regexec must report: 1 + highest back-reference */
    char replace[sizeof(((struct rw_rewrite_rule *)0)->replace)];
};

struct rw_pagenorm {
    enum rw_id_mode mode;
    int nrules;
    struct rule *rules;
    struct cache_slot *cache; /* NULL when nrules == 0: nothing slow to cache */
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Checks a replacement string (escapes \1..\9 and \\ only, groups that exist)
 * and returns the number of regmatch_t slots regexec must fill, or 0 on error. */
static size_t check_replace(const char *rep, size_t nsub, const char **why)
{
    size_t need = 1;
    for (size_t i = 0; rep[i]; i++) {
        if (rep[i] != '\\')
            continue;
        char c = rep[i + 1];
        if (c == '\\') {
            i++;
        } else if (c >= '1' && c <= '9') {
            size_t g = (size_t)(c - '0');
            if (g > nsub) {
                *why = "back-reference to a group the pattern does not have";
                return 0;
            }
            if (g + 1 > need)
                need = g + 1;
            i++;
        } else {
            *why = "'\\' must be followed by 1-9 or '\\'";
            return 0;
        }
    }
    return need;
}

struct rw_pagenorm *rw_pagenorm_new(const struct rw_rewrite_rule *rules, int nrules,
                                    enum rw_id_mode mode, char *err, size_t errlen)
{
    struct rw_pagenorm *pn = NULL;
    int ncompiled = 0;

    if (mode != RW_IDS_DIGITS && mode != RW_IDS_STRICT && mode != RW_IDS_NONE) {
        set_err(err, errlen, "pages: unknown id mode %d", (int)mode);
        return NULL;
    }
    if (nrules < 0 || (nrules > 0 && !rules)) {
        set_err(err, errlen, "pages: bad rewrite rule count %d", nrules);
        return NULL;
    }
    pn = calloc(1, sizeof(*pn));
    if (!pn)
        goto nomem;
    pn->mode = mode;
    if (nrules > 0) {
        pn->rules = calloc((size_t)nrules, sizeof(*pn->rules));
        pn->cache = calloc(CACHE_SLOTS, sizeof(*pn->cache));
        if (!pn->rules || !pn->cache)
            goto nomem;
    }
    for (int i = 0; i < nrules; i++) {
        const struct rw_rewrite_rule *r = &rules[i];
        struct rule *dst = &pn->rules[i];
        const char *why = NULL;

        if (!memchr(r->match, '\0', sizeof(r->match)) ||
            !memchr(r->replace, '\0', sizeof(r->replace))) {
            set_err(err, errlen, "pages: rewrite rule %d: match or replace not NUL-terminated",
                    i + 1);
            goto fail;
        }
        int rc = regcomp(&dst->re, r->match, REG_EXTENDED);
        if (rc != 0) {
            char msg[160];
            regerror(rc, &dst->re, msg, sizeof(msg));
            set_err(err, errlen, "pages: rewrite rule %d: bad regex \"%s\": %s", i + 1,
                    r->match, msg);
            goto fail;
        }
        ncompiled++;
        dst->nmatch = check_replace(r->replace, dst->re.re_nsub, &why);
        if (dst->nmatch == 0) {
            set_err(err, errlen, "pages: rewrite rule %d: bad replace \"%s\": %s", i + 1,
                    r->replace, why);
            goto fail;
        }
        memcpy(dst->replace, r->replace, sizeof(dst->replace));
    }
    pn->nrules = nrules;
    return pn;

nomem:
    set_err(err, errlen, "pages: out of memory");
fail:
    if (pn) {
        for (int i = 0; i < ncompiled; i++)
            regfree(&pn->rules[i].re);
        free(pn->rules);
        free(pn->cache);
        free(pn);
    }
    return NULL;
}

void rw_pagenorm_destroy(struct rw_pagenorm **pp)
{
    if (!pp || !*pp)
        return;
    struct rw_pagenorm *pn = *pp;
    for (int i = 0; i < pn->nrules; i++)
        regfree(&pn->rules[i].re);
    free(pn->rules);
    free(pn->cache);
    free(pn);
    *pp = NULL;
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

static inline int is_hex(unsigned char c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6u;
}

static inline int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }

/* Offset where the path starts: after "scheme://host" when the input begins
 * with an RFC 3986 scheme (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")) followed
 * by "://"; the host runs to the first '/', '?' or '#'. Otherwise 0, so
 * "//a///b" is a path, not a protocol-relative URL. */
static size_t skip_scheme_host(const unsigned char *s, size_t len)
{
    if (len < 4 || !is_alpha(s[0]))
        return 0;
    size_t i = 1;
    while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' ||
                       s[i] == '.'))
        i++;
    if (len - i < 3 || s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/')
        return 0;
    i += 3;
    while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
        i++;
    return i;
}

static int is_template(const unsigned char *seg, size_t n)
{
    unsigned char c = seg[0];
    return c == ':' || c == '{' || c == '[' || (n == 1 && (c == '*' || c == '?'));
}

/* 8-4-4-4-12 hex digits, any case. */
static int is_uuid(const unsigned char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int is_strict_id(const unsigned char *s, size_t n)
{
    size_t digits = 0, hex = 0;
    for (size_t i = 0; i < n; i++) {
        digits += is_digit(s[i]);
        hex += is_hex(s[i]);
    }
    if (digits == n)
        return 1;
    if (hex == n && n >= 16)
        return 1;
    return is_uuid(s, n);
}

/* Steps 3 and 4 in one pass: split p[0..len) on '/', drop empty segments,
 * replace ids, re-join. A leading '/' is kept (and a relative path stays
 * relative); the result is never longer than len, except that an empty result
 * becomes "/". dst must hold len + 2 bytes. Returns the length (NUL-terminated). */
static size_t segments(const unsigned char *p, size_t len, enum rw_id_mode mode, char *dst)
{
    size_t o = 0, i = 0;
    int first = 1;

    if (len > 0 && p[0] == '/')
        dst[o++] = '/';
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        if (i == len)
            break;
        size_t b = i;
        int digit = 0;
        if (mode == RW_IDS_DIGITS) {
            while (i < len && p[i] != '/')
                digit |= is_digit(p[i++]);
        } else {
            while (i < len && p[i] != '/')
                i++;
        }
        const unsigned char *seg = p + b;
        size_t n = i - b;
        if (!first)
            dst[o++] = '/';
        first = 0;
        int id = 0;
        if (mode == RW_IDS_DIGITS)
            id = digit && !is_template(seg, n);
        else if (mode == RW_IDS_STRICT)
            id = !is_template(seg, n) && is_strict_id(seg, n);
        if (id) {
            dst[o++] = '?';
        } else {
            memcpy(dst + o, seg, n);
            o += n;
        }
    }
    if (o == 0)
        dst[o++] = '/';
    dst[o] = '\0';
    return o;
}

/* Applies one rule to src (NUL-terminated, srclen bytes) into dst
 * (RW_PAGE_MAX + 1 bytes). Returns the new length, -1 if the rule did not
 * match, -2 if the result would exceed RW_PAGE_MAX. */
static int rewrite_one(const struct rule *r, const char *src, size_t srclen, char *dst)
{
    regmatch_t m[MAX_GROUPS];
    if (regexec(&r->re, src, r->nmatch, m, 0) != 0)
        return -1;

    size_t o = 0;
    size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;

#define PUT(ptr, cnt)                                 \
    do {                                              \
        size_t n_ = (cnt);                            \
        if (n_ > RW_PAGE_MAX - o)                     \
            return -2;                                \
        memcpy(dst + o, (ptr), n_);                   \
        o += n_;                                      \
    } while (0)

    PUT(src, so);
    for (const char *q = r->replace; *q; q++) {
        if (*q != '\\') {
            PUT(q, 1);
            continue;
        }
        q++; /* validated at construction: '\\' or '1'..'9' follows */
        if (*q == '\\') {
            PUT(q, 1);
        } else {
            const regmatch_t *g = &m[*q - '0'];
            if (g->rm_so >= 0)
                PUT(src + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
        }
    }
    PUT(src + eo, srclen - eo);
#undef PUT
    dst[o] = '\0';
    return (int)o;
}

/* Cache key hash over the stripped path, 8 bytes at a time. Only used for the
 * in-memory cache index, so byte order does not matter. */
static uint32_t cache_hash(const unsigned char *p, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)len;
    uint64_t w;
    while (len >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 32;
    return (uint32_t)h;
}

static int emit(const char *res, size_t n, char *out, size_t outcap)
{
    if (n > RW_PAGE_MAX || n + 1 > outcap)
        return -1;
    memcpy(out, res, n + 1);
    return (int)n;
}

int rw_pagenorm_apply(struct rw_pagenorm *pn, const char *in, size_t len, char *out,
                      size_t outcap)
{
    char res[RW_PAGE_MAX + 2];

    if (!pn || !out || outcap == 0)
        return -1;
    if (!in) {
        in = "";
        len = 0;
    }
    const unsigned char *s = (const unsigned char *)in;
    const unsigned char *nul = len ? memchr(s, '\0', len) : NULL;
    if (nul)
        len = (size_t)(nul - s);

    /* Step 1: the path is [b, e). */
    size_t b = skip_scheme_host(s, len), e = b;
    while (e < len && s[e] != '?' && s[e] != '#')
        e++;
    const unsigned char *path = s + b;
    size_t plen = e - b;
    if (plen > RW_PAGE_MAX)
        return -1;

    if (pn->nrules == 0)
        return emit(res, segments(path, plen, pn->mode, res), out, outcap);

    /* With rules: regexec costs microseconds, so look in the cache first. */
    struct cache_slot *slot = NULL;
    uint32_t h = 0;
    if (plen <= CACHE_RAW_MAX) {
        h = cache_hash(path, plen);
        slot = &pn->cache[h & (CACHE_SLOTS - 1)];
        if (slot->rawlen1 == plen + 1 && slot->hash == h && memcmp(slot->raw, path, plen) == 0)
            return emit(slot->out, slot->outlen, out, outcap);
    }

    /* Step 2: every rule in order, each on the previous one's output. */
    char buf[2][RW_PAGE_MAX + 1];
    int cur = 0;
    size_t clen = plen;
    memcpy(buf[0], path, plen);
    buf[0][plen] = '\0';
    for (int i = 0; i < pn->nrules; i++) {
        int n = rewrite_one(&pn->rules[i], buf[cur], clen, buf[!cur]);
        if (n == -2)
            return -1;
        if (n >= 0) {
            cur = !cur;
            clen = (size_t)n;
        }
    }

    /* Steps 3 and 4. */
    size_t rlen = segments((const unsigned char *)buf[cur], clen, pn->mode, res);
    if (slot && rlen <= CACHE_OUT_MAX) {
        slot->hash = h;
        slot->rawlen1 = (uint8_t)(plen + 1);
        slot->outlen = (uint8_t)rlen;
        memcpy(slot->raw, path, plen);
        memcpy(slot->out, res, rlen + 1);
    }
    return emit(res, rlen, out, outcap);
}

unsigned rw_page_shard(const char *page, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)page[i];
        h *= 16777619u;
    }
    return h % 64u;
}
