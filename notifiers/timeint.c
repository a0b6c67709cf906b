/* Durations, RFC 3339 timestamps, TZif zones and recurring time intervals.
 *
 * Why our own TZif reader: localtime_r() follows the process-wide TZ
 * variable, and switching it per interval (setenv + tzset) is neither
 * thread-safe nor cheap. A zone here is an immutable table loaded once, so
 * the delivery thread can evaluate "is it night in Europe/Berlin" for any
 * instant without locks.
 */
#include "notifiers/timeint.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MS_PER_DAY 86400000LL

static void set_err(char *err, size_t errlen, const char *fmt, const char *a)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a ? a : "");
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* ---- calendar ----------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days (public domain
 * algorithms), valid for the whole proleptic Gregorian calendar. */
int64_t rw_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void rw_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int rw_days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return dm[m - 1] + (m == 2 && is_leap(y));
}

/* ---- durations ---------------------------------------------------------- */

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {{"w", 7 * MS_PER_DAY}, {"d", MS_PER_DAY}, {"h", 3600000},
             {"m", 60000},          {"s", 1000},       {"ms", 1}};
#define NUNITS ((int)(sizeof units / sizeof units[0]))

int rw_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -EINVAL;
    int64_t total = 0;
    int last = -1; /* index of the previous unit: units must come largest first */
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                return -ERANGE;
            v = v * 10 + (*p++ - '0');
        }
        int u = -1;
        /* "ms" before "m": the longest unit that matches. */
        if (p[0] == 'm' && p[1] == 's')
            u = NUNITS - 1;
        else
            for (int k = 0; k < NUNITS - 1; k++)
                if (*p == units[k].unit[0])
                    u = k;
        if (u < 0 || u <= last)
            return -EINVAL;
        p += strlen(units[u].unit);
        last = u;
        if (v > (INT64_MAX / 4 - total) / units[u].ms)
            return -ERANGE;
        total += v * units[u].ms;
    }
    *ms = total;
    return 0;
}

int rw_duration_format(int64_t ms, char *buf, size_t len)
{
    if (ms == 0)
        return snprintf(buf, len, "0s");
    size_t off = 0;
    int w = 0;
    if (ms < 0) {
        w = snprintf(buf, len, "-");
        off = 1;
        ms = -ms;
    }
    /* Weeks are left out on purpose: "9d" reads better than "1w2d". */
    for (int k = 1; k < NUNITS && ms; k++) {
        if (ms / units[k].ms == 0)
            continue;
        w = snprintf(buf + (off < len ? off : len), off < len ? len - off : 0, "%lld%s",
                     (long long)(ms / units[k].ms), units[k].unit);
        off += (size_t)w;
        ms %= units[k].ms;
    }
    return (int)off;
}

/* ---- RFC 3339 ----------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int rw_time_parse(const char *s, int64_t *ms)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > rw_days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    int frac = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        int scale = 100;
        for (; isdigit((unsigned char)*p); p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    if (se == 60)
        se = 59; /* a leap second: the instant before is close enough */
    int64_t secs = rw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && se == 0 && frac == 0 && off == 0) {
        *ms = RW_TIME_ZERO;
        return 0;
    }
    *ms = secs * 1000 + frac;
    return 0;
}

void rw_time_format(int64_t ms, char *buf, size_t len)
{
    if (ms == RW_TIME_ZERO) {
        snprintf(buf, len, "0001-01-01T00:00:00Z");
        return;
    }
    int64_t days = floor_div(ms, MS_PER_DAY);
    int64_t rem = ms - days * MS_PER_DAY;
    int64_t y;
    int m, d;
    rw_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
}

/* ---- POSIX TZ strings (the TZif footer) -------------------------------- */

struct posix_rule {
    char kind;    /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day) */
    int a, b, c;  /* J/D: a = day; M: a = month, b = week (5 = last), c = weekday */
    int32_t time; /* seconds after local midnight (may be negative or > 24h) */
};

struct posix_tz {
    int valid;
    int has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    char std_abbr[16], dst_abbr[16];
    struct posix_rule start, end;
};

static int px_name(const char **pp, char *out, size_t len)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>') {
            if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-'))
                return -1;
            if (n + 1 < len)
                out[n++] = *p;
            p++;
        }
        if (*p != '>')
            return -1;
        p++;
    } else {
        while (isalpha((unsigned char)*p)) {
            if (n + 1 < len)
                out[n++] = *p;
            p++;
        }
    }
    out[n] = '\0';
    if (n < 3)
        return -1;
    *pp = p;
    return 0;
}

/* [+-]h[h][:mm[:ss]], hours up to 167 (RFC 8536 extension). */
static int px_time(const char **pp, int32_t *out)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return -1;
    int h = 0, m = 0, s = 0;
    while (isdigit((unsigned char)*p))
        h = h * 10 + (*p++ - '0');
    if (h > 167)
        return -1;
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return -1;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
                return -1;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (m > 59 || s > 59)
        return -1;
    *out = sign * (h * 3600 + m * 60 + s);
    *pp = p;
    return 0;
}

static int px_num(const char **pp, int *out)
{
    const char *p = *pp;
    if (!isdigit((unsigned char)*p))
        return -1;
    int v = 0;
    while (isdigit((unsigned char)*p) && v < 10000)
        v = v * 10 + (*p++ - '0');
    *out = v;
    *pp = p;
    return 0;
}

static int px_rule(const char **pp, struct posix_rule *r)
{
    const char *p = *pp;
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (px_num(&p, &r->a) || r->a < 1 || r->a > 365)
            return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (px_num(&p, &r->a) || *p++ != '.' || px_num(&p, &r->b) || *p++ != '.' ||
            px_num(&p, &r->c))
            return -1;
        if (r->a < 1 || r->a > 12 || r->b < 1 || r->b > 5 || r->c > 6)
            return -1;
    } else {
        r->kind = 'D';
        if (px_num(&p, &r->a) || r->a > 365)
            return -1;
    }
    r->time = 7200;
    if (*p == '/') {
        p++;
        if (px_time(&p, &r->time))
            return -1;
    }
    *pp = p;
    return 0;
}

static int px_parse(const char *s, struct posix_tz *tz)
{
    memset(tz, 0, sizeof *tz);
    const char *p = s;
    int32_t off;
    if (px_name(&p, tz->std_abbr, sizeof tz->std_abbr) || px_time(&p, &off))
        return -1;
    tz->std_off = -off; /* POSIX counts west of UTC positive */
    if (*p) {
        if (px_name(&p, tz->dst_abbr, sizeof tz->dst_abbr))
            return -1;
        tz->has_dst = 1;
        tz->dst_off = tz->std_off + 3600;
        if (*p && *p != ',') {
            if (px_time(&p, &off))
                return -1;
            tz->dst_off = -off;
        }
        if (*p == ',') {
            p++;
            if (px_rule(&p, &tz->start) || *p++ != ',' || px_rule(&p, &tz->end))
                return -1;
        } else {
            /* No rule given: POSIX leaves it to the implementation; glibc
             * and tzcode use the US rule. */
            tz->start = (struct posix_rule){'M', 3, 2, 0, 7200};
            tz->end = (struct posix_rule){'M', 11, 1, 0, 7200};
        }
    }
    if (*p)
        return -1;
    tz->valid = 1;
    return 0;
}

/* Local seconds (since the epoch, on the local time line) of a rule in year y. */
static int64_t px_rule_local(const struct posix_rule *r, int64_t y)
{
    int64_t days;
    if (r->kind == 'J') {
        days = rw_days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a > 59);
    } else if (r->kind == 'D') {
        days = rw_days_from_civil(y, 1, 1) + r->a;
    } else {
        int64_t first = rw_days_from_civil(y, r->a, 1);
        int wd1 = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int d = 1 + (r->c - wd1 + 7) % 7 + (r->b - 1) * 7;
        if (d > rw_days_in_month(y, r->a))
            d -= 7;
        days = first + d - 1;
    }
    return days * 86400 + r->time;
}

static int px_isdst(const struct posix_tz *tz, int64_t t)
{
    if (!tz->has_dst)
        return 0;
    int64_t y;
    int m, d;
    rw_civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    int64_t start = px_rule_local(&tz->start, y) - tz->std_off;
    int64_t end = px_rule_local(&tz->end, y) - tz->dst_off;
    if (start < end)
        return t >= start && t < end;
    return !(t >= end && t < start); /* southern hemisphere: DST spans new year */
}

/* ---- TZif --------------------------------------------------------------- */

struct tz_type {
    int32_t off;
    uint8_t isdst;
    uint8_t abbr; /* index into abbrs */
};

struct rw_tz {
    char name[96];
    int ntrans;
    int64_t *trans; /* UTC seconds, ascending */
    uint8_t *idx;   /* type index per transition */
    int ntypes;
    struct tz_type *types;
    char *abbrs; /* NUL-separated, NUL-terminated */
    size_t nabbrs;
    struct posix_tz footer;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int tzif_header(const unsigned char *p, size_t avail, struct tzif_counts *c)
{
    if (avail < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    /* Sanity caps keep the size arithmetic far from overflow. */
    if (c->time > 1000000 || c->type > 256 || c->type == 0 || c->chars > 65536 ||
        c->leap > 100000 || c->isut > 256 || c->isstd > 256)
        return -1;
    return 0;
}

static size_t tzif_block(const struct tzif_counts *c, int tsize)
{
    return (size_t)c->time * (size_t)tsize + c->time + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

static struct rw_tz *tz_utc(const char *name)
{
    struct rw_tz *tz = calloc(1, sizeof *tz);
    if (!tz)
        return NULL;
    snprintf(tz->name, sizeof tz->name, "%s", name);
    tz->types = calloc(1, sizeof *tz->types);
    tz->abbrs = strdup("UTC");
    if (!tz->types || !tz->abbrs) {
        rw_tz_free(&tz);
        return NULL;
    }
    tz->ntypes = 1;
    tz->nabbrs = 4;
    return tz;
}

struct rw_tz *rw_tz_parse(const char *name, const unsigned char *buf, size_t len, char *err,
                          size_t errlen)
{
    struct tzif_counts c;
    if (tzif_header(buf, len, &c)) {
        set_err(err, errlen, "%s: not a TZif time zone file", name);
        return NULL;
    }
    int version = buf[4] ? buf[4] - '0' : 1;
    const unsigned char *p = buf + 44;
    size_t avail = len - 44;
    int tsize = 4;
    size_t block = tzif_block(&c, 4);
    if (block > avail) {
        set_err(err, errlen, "%s: truncated TZif file", name);
        return NULL;
    }
    if (version >= 2) {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        p += block;
        avail -= block;
        if (tzif_header(p, avail, &c)) {
            set_err(err, errlen, "%s: bad TZif v2 header", name);
            return NULL;
        }
        p += 44;
        avail -= 44;
        tsize = 8;
        block = tzif_block(&c, 8);
        if (block > avail) {
            set_err(err, errlen, "%s: truncated TZif file", name);
            return NULL;
        }
    }
    struct rw_tz *tz = calloc(1, sizeof *tz);
    if (!tz) {
        set_err(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    tz->ntrans = (int)c.time;
    tz->ntypes = (int)c.type;
    tz->trans = malloc(sizeof *tz->trans * (c.time ? c.time : 1));
    tz->idx = malloc(c.time ? c.time : 1);
    tz->types = calloc(c.type, sizeof *tz->types);
    tz->abbrs = calloc(1, c.chars + 1);
    if (!tz->trans || !tz->idx || !tz->types || !tz->abbrs) {
        set_err(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    tz->nabbrs = c.chars + 1;
    for (uint32_t i = 0; i < c.time; i++) {
        tz->trans[i] = tsize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        p += tsize;
        if (i && tz->trans[i] <= tz->trans[i - 1]) {
            set_err(err, errlen, "%s: transitions out of order", name);
            goto fail;
        }
    }
    for (uint32_t i = 0; i < c.time; i++) {
        tz->idx[i] = *p++;
        if (tz->idx[i] >= c.type) {
            set_err(err, errlen, "%s: bad type index", name);
            goto fail;
        }
    }
    for (uint32_t i = 0; i < c.type; i++, p += 6) {
        tz->types[i].off = (int32_t)be32(p);
        tz->types[i].isdst = p[4];
        tz->types[i].abbr = p[5];
        if (p[5] >= c.chars || tz->types[i].off < -25 * 3600 || tz->types[i].off > 26 * 3600) {
            set_err(err, errlen, "%s: bad local time type", name);
            goto fail;
        }
    }
    memcpy(tz->abbrs, p, c.chars);
    p += c.chars + (size_t)c.leap * (size_t)(tsize + 4) + c.isstd + c.isut;
    avail = len - (size_t)(p - buf);
    if (tsize == 8 && avail >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', avail - 1);
        if (nl && nl - p - 1 < 128) {
            char footer[128];
            memcpy(footer, p + 1, (size_t)(nl - p - 1));
            footer[nl - p - 1] = '\0';
            if (footer[0] && px_parse(footer, &tz->footer)) {
                char msg[200];
                snprintf(msg, sizeof msg, "%%s: bad POSIX TZ footer \"%s\"", footer);
                set_err(err, errlen, msg, name);
                goto fail;
            }
        }
    }
    return tz;
fail:
    rw_tz_free(&tz);
    return NULL;
}

static int valid_zone_name(const char *name)
{
    if (name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("/_+-.", *p)))
            return 0;
    return 1;
}

struct rw_tz *rw_tz_load(const char *name, const char *dir, char *err, size_t errlen)
{
    if (!name || !name[0] || strcmp(name, "UTC") == 0)
        return tz_utc("UTC");
    char path[1024];
    if (strcmp(name, "Local") == 0) {
        snprintf(path, sizeof path, "/etc/localtime");
    } else {
        if (!valid_zone_name(name)) {
            set_err(err, errlen, "bad time zone name '%s'", name);
            return NULL;
        }
        if (!dir)
            dir = getenv("TZDIR");
        if (!dir || !dir[0])
            dir = "/usr/share/zoneinfo";
        snprintf(path, sizeof path, "%s/%s", dir, name);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        char msg[1200];
        snprintf(msg, sizeof msg, "unknown time zone '%%s' (%s: %s; is tzdata installed?)", path,
                 strerror(errno));
        set_err(err, errlen, msg, name);
        return NULL;
    }
    /* Real zone files are a few KB; 1 MB rules out reading a device or a huge file. */
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    size_t n;
    while (len < cap && (n = fread(buf + len, 1, cap - len, f)) > 0)
        len += n;
    fclose(f);
    struct rw_tz *tz = rw_tz_parse(name, buf, len, err, errlen);
    free(buf);
    return tz;
}

void rw_tz_free(struct rw_tz **tzp)
{
    if (!tzp || !*tzp)
        return;
    free((*tzp)->trans);
    free((*tzp)->idx);
    free((*tzp)->types);
    free((*tzp)->abbrs);
    free(*tzp);
    *tzp = NULL;
}

const char *rw_tz_name(const struct rw_tz *tz)
{
    return tz ? tz->name : "UTC";
}

static const char *abbr_at(const struct rw_tz *tz, int i)
{
    return i < (int)tz->nabbrs ? tz->abbrs + i : "";
}

/* Offset, isdst and abbreviation in effect at UTC second t. */
static void tz_lookup(const struct rw_tz *tz, int64_t t, int32_t *off, int *isdst,
                      const char **abbr)
{
    int n = tz->ntrans;
    if (tz->footer.valid && (n == 0 || t > tz->trans[n - 1])) {
        int d = px_isdst(&tz->footer, t);
        *off = d ? tz->footer.dst_off : tz->footer.std_off;
        *isdst = d;
        /* The footer's abbreviation lives in the footer; the type table may
         * not have it (e.g. a zone that only gained DST in its rule). */
        *abbr = d ? tz->footer.dst_abbr : tz->footer.std_abbr;
        return;
    }
    const struct tz_type *ty = &tz->types[0]; /* before the first transition: type 0 */
    if (n && t >= tz->trans[0]) {
        int lo = 0, hi = n - 1; /* last transition <= t */
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (tz->trans[mid] <= t)
                lo = mid;
            else
                hi = mid - 1;
        }
        ty = &tz->types[tz->idx[lo]];
    }
    *off = ty->off;
    *isdst = ty->isdst;
    *abbr = abbr_at(tz, ty->abbr);
}

void rw_tz_civil(const struct rw_tz *tz, int64_t utc_ms, struct rw_civil *out)
{
    int32_t off = 0;
    int isdst = 0;
    const char *abbr = "UTC";
    if (tz)
        tz_lookup(tz, floor_div(utc_ms, 1000), &off, &isdst, &abbr);
    int64_t local = utc_ms + (int64_t)off * 1000;
    int64_t days = floor_div(local, MS_PER_DAY);
    int64_t rem = local - days * MS_PER_DAY;
    rw_civil_from_days(days, &out->year, &out->month, &out->mday);
    out->wday = (int)(((days % 7) + 7 + 4) % 7);
    out->hour = (int)(rem / 3600000);
    out->min = (int)(rem / 60000 % 60);
    out->sec = (int)(rem / 1000 % 60);
    out->ms = (int)(rem % 1000);
    out->utc_offset = off;
    out->isdst = isdst;
    out->abbr = abbr;
}

/* ---- time interval builders --------------------------------------------- */

static int fail_msg(char *err, size_t errlen, const char *fmt, const char *a, int rc)
{
    set_err(err, errlen, fmt, a);
    return rc;
}

static int hhmm(const char *s, int *minutes)
{
    const char *p = s;
    int h = 0, m;
    if (!isdigit((unsigned char)*p))
        return -1;
    h = *p++ - '0';
    if (isdigit((unsigned char)*p))
        h = h * 10 + (*p++ - '0');
    if (*p++ != ':' || digits(&p, 2, &m) || *p)
        return -1;
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

int rw_ti_add_times(struct rw_time_interval *ti, const char *start, const char *end, char *err,
                    size_t errlen)
{
    int a, b;
    if (!start || hhmm(start, &a) || a == 1440)
        return fail_msg(err, errlen, "bad start_time '%s' (expects HH:MM, 00:00 to 23:59)", start,
                        -EINVAL);
    if (!end || hhmm(end, &b) || b == 0)
        return fail_msg(err, errlen, "bad end_time '%s' (expects HH:MM, 00:01 to 24:00)", end,
                        -EINVAL);
    if (a == b)
        return fail_msg(err, errlen, "start_time and end_time are both %s", start, -EINVAL);
    int need = a < b ? 1 : 2;
    if (ti->ntimes + need > RW_TI_MAX_RANGES)
        return fail_msg(err, errlen, "too many time ranges%s", "", -E2BIG);
    if (a < b) {
        ti->times[ti->ntimes++] = (struct rw_range){a, b};
    } else {
        ti->times[ti->ntimes++] = (struct rw_range){a, 1440};
        ti->times[ti->ntimes++] = (struct rw_range){0, b};
    }
    return 0;
}

/* Split "a:b" (or "a") into two tokens. */
static int split_range(const char *spec, char *a, char *b, size_t len)
{
    if (!spec || !spec[0] || strlen(spec) >= len)
        return -1;
    const char *colon = strchr(spec, ':');
    if (!colon) {
        snprintf(a, len, "%s", spec);
        snprintf(b, len, "%s", spec);
        return 0;
    }
    if (strchr(colon + 1, ':'))
        return -1;
    snprintf(a, len, "%.*s", (int)(colon - spec), spec);
    snprintf(b, len, "%s", colon + 1);
    return a[0] && b[0] ? 0 : -1;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN / 2 || v > INT_MAX / 2)
        return -1;
    *out = (int)v;
    return 0;
}

static int name_index(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *const weekday_names[] = {"sunday",   "monday", "tuesday",  "wednesday",
                                            "thursday", "friday", "saturday", NULL};
static const char *const month_names[] = {"january",  "february", "march",  "april",     "may",
                                          "june",     "july",     "august", "september", "october",
                                          "november", "december", NULL};

int rw_ti_add_weekdays(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen)
{
    char a[32], b[32];
    if (split_range(spec, a, b, sizeof a))
        return fail_msg(err, errlen, "bad weekday range '%s' (e.g. \"monday:friday\")", spec,
                        -EINVAL);
    int lo = name_index(a, weekday_names), hi = name_index(b, weekday_names);
    if (lo < 0 || hi < 0)
        return fail_msg(err, errlen, "unknown weekday in '%s' (sunday .. saturday)", spec, -EINVAL);
    if (lo > hi)
        return fail_msg(err, errlen,
                        "weekday range '%s' runs backwards (weeks start on sunday: list "
                        "\"saturday\" and \"sunday\" separately)",
                        spec, -EINVAL);
    for (int d = lo; d <= hi; d++)
        ti->weekdays |= 1u << d;
    return 0;
}

int rw_ti_add_days(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen)
{
    char a[32], b[32];
    int lo, hi;
    if (split_range(spec, a, b, sizeof a) || parse_int(a, &lo) || parse_int(b, &hi))
        return fail_msg(err, errlen, "bad days_of_month range '%s' (e.g. \"1:7\", \"-1\")", spec,
                        -EINVAL);
    if (lo == 0 || hi == 0 || lo < -31 || lo > 31 || hi < -31 || hi > 31)
        return fail_msg(err, errlen, "days_of_month '%s': days are 1..31 or -31..-1", spec,
                        -EINVAL);
    if ((lo < 0) == (hi < 0) ? lo > hi : lo < 0)
        return fail_msg(err, errlen, "days_of_month range '%s' runs backwards", spec, -EINVAL);
    if (ti->ndays >= RW_TI_MAX_RANGES)
        return fail_msg(err, errlen, "too many days_of_month ranges%s", "", -E2BIG);
    ti->days[ti->ndays++] = (struct rw_range){lo, hi};
    return 0;
}

int rw_ti_add_months(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen)
{
    char a[32], b[32];
    if (split_range(spec, a, b, sizeof a))
        return fail_msg(err, errlen, "bad month range '%s' (e.g. \"january:march\")", spec,
                        -EINVAL);
    int lo = name_index(a, month_names) + 1, hi = name_index(b, month_names) + 1;
    if (lo == 0 && parse_int(a, &lo))
        lo = 0;
    if (hi == 0 && parse_int(b, &hi))
        hi = 0;
    if (lo < 1 || lo > 12 || hi < 1 || hi > 12)
        return fail_msg(err, errlen, "unknown month in '%s' (january .. december or 1 .. 12)", spec,
                        -EINVAL);
    if (lo > hi)
        return fail_msg(err, errlen, "month range '%s' runs backwards", spec, -EINVAL);
    for (int m = lo; m <= hi; m++)
        ti->months |= 1u << m;
    return 0;
}

int rw_ti_add_years(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen)
{
    char a[32], b[32];
    int lo, hi;
    if (split_range(spec, a, b, sizeof a) || parse_int(a, &lo) || parse_int(b, &hi) || lo < 1 ||
        hi < 1)
        return fail_msg(err, errlen, "bad year range '%s' (e.g. \"2025:2026\")", spec, -EINVAL);
    if (lo > hi)
        return fail_msg(err, errlen, "year range '%s' runs backwards", spec, -EINVAL);
    if (ti->nyears >= RW_TI_MAX_RANGES)
        return fail_msg(err, errlen, "too many year ranges%s", "", -E2BIG);
    ti->years[ti->nyears++] = (struct rw_range){lo, hi};
    return 0;
}

int rw_ti_set_location(struct rw_time_interval *ti, const char *name, const char *zoneinfo_dir,
                       char *err, size_t errlen)
{
    struct rw_tz *tz = rw_tz_load(name, zoneinfo_dir, err, errlen);
    if (!tz)
        return -EINVAL;
    rw_tz_free(&ti->tz);
    ti->tz = tz;
    return 0;
}

int rw_ti_contains(const struct rw_time_interval *ti, int64_t utc_ms)
{
    struct rw_civil c;
    rw_tz_civil(ti->tz, utc_ms, &c);
    if (ti->ntimes) {
        int minute = c.hour * 60 + c.min, ok = 0;
        for (int i = 0; i < ti->ntimes && !ok; i++)
            ok = minute >= ti->times[i].lo && minute < ti->times[i].hi;
        if (!ok)
            return 0;
    }
    if (ti->weekdays && !(ti->weekdays & (1u << c.wday)))
        return 0;
    if (ti->months && !(ti->months & (1u << c.month)))
        return 0;
    if (ti->ndays) {
        int dim = rw_days_in_month(c.year, c.month), ok = 0;
        for (int i = 0; i < ti->ndays && !ok; i++) {
            int lo = ti->days[i].lo < 0 ? dim + ti->days[i].lo + 1 : ti->days[i].lo;
            int hi = ti->days[i].hi < 0 ? dim + ti->days[i].hi + 1 : ti->days[i].hi;
            if (lo > dim) /* "31" in a 30-day month: no day */
                continue;
            if (lo < 1)
                lo = 1; /* "-31:-1" in February: from the 1st */
            if (hi > dim)
                hi = dim;
            ok = c.mday >= lo && c.mday <= hi;
        }
        if (!ok)
            return 0;
    }
    if (ti->nyears) {
        int ok = 0;
        for (int i = 0; i < ti->nyears && !ok; i++)
            ok = c.year >= ti->years[i].lo && c.year <= ti->years[i].hi;
        if (!ok)
            return 0;
    }
    return 1;
}

void rw_ti_clear(struct rw_time_interval *ti)
{
    if (!ti)
        return;
    rw_tz_free(&ti->tz);
    memset(ti, 0, sizeof *ti);
}

/* ---- named intervals ---------------------------------------------------- */

struct rw_timeints *rw_timeints_new(void)
{
    return calloc(1, sizeof(struct rw_timeints));
}

struct rw_timeint *rw_timeints_add(struct rw_timeints *set, const char *name)
{
    if (!name || strlen(name) >= RW_TI_NAME_MAX || rw_timeints_find(set, name))
        return NULL;
    struct rw_timeint *items = realloc(set->items, sizeof *items * (size_t)(set->n + 1));
    if (!items)
        return NULL;
    set->items = items;
    struct rw_timeint *t = &items[set->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

struct rw_time_interval *rw_timeint_add_entry(struct rw_timeint *t)
{
    struct rw_time_interval *e = realloc(t->entries, sizeof *e * (size_t)(t->n + 1));
    if (!e)
        return NULL;
    t->entries = e;
    memset(&e[t->n], 0, sizeof e[t->n]);
    return &e[t->n++];
}

const struct rw_timeint *rw_timeints_find(const struct rw_timeints *set, const char *name)
{
    for (int i = 0; set && i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

int rw_timeint_contains(const struct rw_timeint *t, int64_t utc_ms)
{
    for (int i = 0; t && i < t->n; i++)
        if (rw_ti_contains(&t->entries[i], utc_ms))
            return 1;
    return 0;
}

void rw_timeints_free(struct rw_timeints **setp)
{
    if (!setp || !*setp)
        return;
    struct rw_timeints *set = *setp;
    for (int i = 0; i < set->n; i++) {
        for (int k = 0; k < set->items[i].n; k++)
            rw_ti_clear(&set->items[i].entries[k]);
        free(set->items[i].entries);
    }
    free(set->items);
    free(set);
    *setp = NULL;
}
