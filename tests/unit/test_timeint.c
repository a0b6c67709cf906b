/* Durations, RFC 3339, TZif zones (DST in Europe/Berlin and America/New_York,
 * cross-checked against glibc) and Alertmanager time intervals.
 * Needs tzdata (/usr/share/zoneinfo). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notifiers/timeint.h"
#include "tests/unit/check.h"

static int64_t T(const char *s)
{
    int64_t ms = 0;
    int rc = rw_time_parse(s, &ms);
    if (rc)
        fprintf(stderr, "cannot parse %s\n", s);
    CHECK_INT(rc, 0);
    return ms;
}

static void test_durations(void)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"90s", 90000},   {"15m", 900000},   {"2h", 7200000},
              {"1d", 86400000}, {"1w", 604800000}, {"1h30m", 5400000},
              {"500ms", 500},   {"0s", 0},         {"1d2h3m4s5ms", 93784005},
              {"1m30s", 90000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        CHECK_INT(rw_duration_parse(ok[i].s, &v), 0);
        CHECK_INT(v, ok[i].ms);
    }
    static const char *const bad[] = {"",    "h",    "1x", "30m1h", "1h1h",
                                      "-5m", "1.5h", "5",  "1h ",   "99999999999999999999s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        CHECK(rw_duration_parse(bad[i], &v) < 0);
        CHECK_INT(v, 42);
    }
    CHECK(rw_duration_parse(NULL, NULL) < 0);
    char buf[32];
    rw_duration_format(5400000, buf, sizeof buf);
    CHECK_STR(buf, "1h30m");
    rw_duration_format(0, buf, sizeof buf);
    CHECK_STR(buf, "0s");
    rw_duration_format(90000, buf, sizeof buf);
    CHECK_STR(buf, "1m30s");
    rw_duration_format(86400000LL * 9 + 500, buf, sizeof buf);
    CHECK_STR(buf, "9d500ms");
}

static void test_rfc3339(void)
{
    CHECK_INT(T("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(T("2024-03-31T01:00:00Z"), 1711846800000LL);
    CHECK_INT(T("2024-03-31T03:00:00.123+02:00"), 1711846800123LL);
    CHECK_INT(T("2024-03-30T20:00:00-05:00"), 1711846800000LL);
    CHECK_INT(T("2024-02-29t12:00:00.5z"), 1709208000500LL);
    CHECK_INT(T("1969-12-31T23:59:59.999Z"), -1);
    CHECK(T("0001-01-01T00:00:00Z") == RW_TIME_ZERO);
    static const char *const bad[] = {"2024-02-30T00:00:00Z",     "2024-13-01T00:00:00Z",
                                      "2024-01-01 00:00:00",      "2024-01-01T24:00:00Z",
                                      "2024-01-01T00:00:00",      "2024-01-01T00:00:00Zjunk",
                                      "24-01-01T00:00:00Z",       "2024-01-01T00:00:00.Z",
                                      "2024-01-01T00:00:00+0200", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 7;
        CHECK(rw_time_parse(bad[i], &v) == -EINVAL);
        CHECK_INT(v, 7);
    }
    char buf[40];
    rw_time_format(1711846800123LL, buf, sizeof buf);
    CHECK_STR(buf, "2024-03-31T01:00:00.123Z");
    rw_time_format(-1, buf, sizeof buf);
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z");
    rw_time_format(RW_TIME_ZERO, buf, sizeof buf);
    CHECK_STR(buf, "0001-01-01T00:00:00Z");
    /* round trip */
    int64_t v;
    CHECK_INT(rw_time_parse(buf, &v), 0);
    CHECK(v == RW_TIME_ZERO);
    rw_time_format(4102444800000LL, buf, sizeof buf);
    CHECK_STR(buf, "2100-01-01T00:00:00.000Z");
}

static void test_calendar(void)
{
    CHECK_INT(rw_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(rw_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(rw_days_from_civil(1969, 12, 31), -1);
    CHECK_INT(rw_days_from_civil(1, 1, 1), -719162);
    int bad = 0;
    for (int64_t d = -800000; d < 800000; d += 37) {
        int64_t y;
        int m, dd;
        rw_civil_from_days(d, &y, &m, &dd);
        if (rw_days_from_civil(y, m, dd) != d || dd < 1 || dd > rw_days_in_month(y, m))
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(rw_days_in_month(2024, 2), 29);
    CHECK_INT(rw_days_in_month(2023, 2), 28);
    CHECK_INT(rw_days_in_month(1900, 2), 28);
    CHECK_INT(rw_days_in_month(2000, 2), 29);
    CHECK_INT(rw_days_in_month(2024, 4), 30);
}

static void check_civil(const struct rw_tz *tz, const char *utc, int y, int mo, int d, int h,
                        int mi, int s, int off, int dst, const char *abbr, int wday)
{
    struct rw_civil c;
    rw_tz_civil(tz, T(utc), &c);
    int ok = c.year == y && c.month == mo && c.mday == d && c.hour == h && c.min == mi &&
             c.sec == s && c.utc_offset == off && c.isdst == dst && strcmp(c.abbr, abbr) == 0 &&
             c.wday == wday;
    if (!ok)
        fprintf(stderr, "%s in %s: got %04lld-%02d-%02d %02d:%02d:%02d off %d dst %d %s wday %d\n",
                utc, rw_tz_name(tz), (long long)c.year, c.month, c.mday, c.hour, c.min, c.sec,
                c.utc_offset, c.isdst, c.abbr, c.wday);
    CHECK(ok);
}

static struct rw_tz *load(const char *name)
{
    char err[512] = "";
    struct rw_tz *tz = rw_tz_load(name, NULL, err, sizeof err);
    if (!tz)
        fprintf(stderr, "rw_tz_load(%s): %s\n", name, err);
    CHECK(tz != NULL);
    return tz;
}

static void test_dst(void)
{
    struct rw_tz *be = load("Europe/Berlin"), *ny = load("America/New_York");
    if (!be || !ny)
        goto out;
    CHECK_STR(rw_tz_name(be), "Europe/Berlin");
    /* Berlin, spring 2024: 02:00 CET jumps to 03:00 CEST at 01:00 UTC (Sunday). */
    check_civil(be, "2024-03-31T00:59:59Z", 2024, 3, 31, 1, 59, 59, 3600, 0, "CET", 0);
    check_civil(be, "2024-03-31T01:00:00Z", 2024, 3, 31, 3, 0, 0, 7200, 1, "CEST", 0);
    /* Berlin, autumn 2024: 03:00 CEST falls back to 02:00 CET at 01:00 UTC. */
    check_civil(be, "2024-10-27T00:59:59Z", 2024, 10, 27, 2, 59, 59, 7200, 1, "CEST", 0);
    check_civil(be, "2024-10-27T01:00:00Z", 2024, 10, 27, 2, 0, 0, 3600, 0, "CET", 0);
    /* New York, spring 2024: 02:00 EST -> 03:00 EDT at 07:00 UTC. */
    check_civil(ny, "2024-03-10T06:59:59Z", 2024, 3, 10, 1, 59, 59, -18000, 0, "EST", 0);
    check_civil(ny, "2024-03-10T07:00:00Z", 2024, 3, 10, 3, 0, 0, -14400, 1, "EDT", 0);
    /* New York, autumn 2024: 02:00 EDT -> 01:00 EST at 06:00 UTC. */
    check_civil(ny, "2024-11-03T05:59:59Z", 2024, 11, 3, 1, 59, 59, -14400, 1, "EDT", 0);
    check_civil(ny, "2024-11-03T06:00:00Z", 2024, 11, 3, 1, 0, 0, -18000, 0, "EST", 0);
    /* Far future, past any transition table: the footer rule decides.
     * 2100: last Sunday of March is the 28th, first Sunday of November the 7th,
     * second Sunday of March the 14th. */
    check_civil(be, "2100-03-28T00:59:59Z", 2100, 3, 28, 1, 59, 59, 3600, 0, "CET", 0);
    check_civil(be, "2100-03-28T01:00:00Z", 2100, 3, 28, 3, 0, 0, 7200, 1, "CEST", 0);
    check_civil(ny, "2100-03-14T07:00:00Z", 2100, 3, 14, 3, 0, 0, -14400, 1, "EDT", 0);
    check_civil(ny, "2100-11-07T05:59:59Z", 2100, 11, 7, 1, 59, 59, -14400, 1, "EDT", 0);
    check_civil(ny, "2100-11-07T06:00:00Z", 2100, 11, 7, 1, 0, 0, -18000, 0, "EST", 0);
    /* NULL and the built-in UTC zone */
    check_civil(NULL, "2024-03-31T01:00:00Z", 2024, 3, 31, 1, 0, 0, 0, 0, "UTC", 0);
    struct rw_tz *utc = load("UTC");
    if (utc)
        check_civil(utc, "1969-12-31T23:59:59Z", 1969, 12, 31, 23, 59, 59, 0, 0, "UTC", 3);
    rw_tz_free(&utc);
    CHECK(utc == NULL);
    rw_tz_free(&utc); /* safe twice */
out:
    rw_tz_free(&be);
    rw_tz_free(&ny);
}

/* Our zone reader against glibc's localtime_r, for many instants from 1906
 * to 2286 (transition tables and footer rules). TZ is set only here, in a
 * single-threaded test, as the oracle. */
static void test_against_libc(void)
{
    static const char *const zones[] = {
        "Europe/Berlin",     "America/New_York",  "Australia/Sydney", "Asia/Kolkata",
        "America/Sao_Paulo", "Europe/Dublin",     "Pacific/Chatham",  "America/Santiago",
        "Asia/Tehran",       "Africa/Casablanca", "Europe/London",    "America/St_Johns"};
    uint64_t x = 88172645463325252ULL;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        struct rw_tz *tz = load(zones[z]);
        if (!tz)
            continue;
        char env[128];
        snprintf(env, sizeof env, ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        int bad = 0;
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t t = -2000000000LL + (int64_t)(x % 12000000000ULL);
            if (i < 400) /* and a dense sweep around the 2038 table end */
                t = 2145916800LL + (int64_t)i * 86400 * 3 + (int64_t)(x % 86400);
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            struct rw_civil c;
            rw_tz_civil(tz, t * 1000, &c);
            if (c.year != tm.tm_year + 1900 || c.month != tm.tm_mon + 1 || c.mday != tm.tm_mday ||
                c.hour != tm.tm_hour || c.min != tm.tm_min || c.sec != tm.tm_sec ||
                c.wday != tm.tm_wday || c.utc_offset != tm.tm_gmtoff ||
                c.isdst != (tm.tm_isdst > 0)) {
                if (bad++ < 3)
                    fprintf(stderr,
                            "%s t=%lld: ours %04lld-%02d-%02d %02d:%02d:%02d off %d dst %d, "
                            "libc %04d-%02d-%02d %02d:%02d:%02d off %ld dst %d\n",
                            zones[z], (long long)t, (long long)c.year, c.month, c.mday, c.hour,
                            c.min, c.sec, c.utc_offset, c.isdst, tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_gmtoff,
                            tm.tm_isdst);
            }
        }
        CHECK_INT(bad, 0);
        rw_tz_free(&tz);
    }
    unsetenv("TZ");
    tzset();
}

/* A hand-made TZif v1 file: type 0 "AAA" +1h, type 1 "BBB" +2h (dst);
 * transitions at t=1000 (to BBB) and t=2000 (back to AAA). */
static size_t make_v1(unsigned char *b)
{
    memset(b, 0, 200);
    memcpy(b, "TZif", 4);
    b[4] = 0; /* version 1 */
    unsigned char *p = b + 20;
    uint32_t counts[6] = {0, 0, 0, 2, 2, 8};
    for (int i = 0; i < 6; i++, p += 4) {
        p[0] = (unsigned char)(counts[i] >> 24);
        p[1] = (unsigned char)(counts[i] >> 16);
        p[2] = (unsigned char)(counts[i] >> 8);
        p[3] = (unsigned char)counts[i];
    }
    unsigned char data[] = {0,   0,   0x03, 0xe8, 0,   0,   0x07, 0xd0, /* 1000, 2000 */
                            1,   0,                                     /* type per transition */
                            0,   0,   0x0e, 0x10, 0,   0,               /* +3600, std, abbr 0 */
                            0,   0,   0x1c, 0x20, 1,   4,               /* +7200, dst, abbr 4 */
                            'A', 'A', 'A',  0,    'B', 'B', 'B',  0};
    memcpy(b + 44, data, sizeof data);
    return 44 + sizeof data;
}

static void test_tzif_files(void)
{
    unsigned char b[200];
    size_t n = make_v1(b);
    char err[512] = "";
    struct rw_tz *tz = rw_tz_parse("Test/V1", b, n, err, sizeof err);
    CHECK(tz != NULL);
    if (tz) {
        struct rw_civil c;
        rw_tz_civil(tz, 999999, &c);
        CHECK_INT(c.utc_offset, 3600);
        CHECK_STR(c.abbr, "AAA");
        rw_tz_civil(tz, 1000000, &c);
        CHECK_INT(c.utc_offset, 7200);
        CHECK_INT(c.isdst, 1);
        CHECK_STR(c.abbr, "BBB");
        rw_tz_civil(tz, 5000000, &c);
        CHECK_INT(c.utc_offset, 3600);
        rw_tz_civil(tz, -5000000, &c); /* before the first transition: type 0 */
        CHECK_INT(c.utc_offset, 3600);
        rw_tz_free(&tz);
    }
    /* Truncated, wrong magic, bad type index: errors, no crash. */
    for (size_t cut = 0; cut < n; cut += 3) {
        err[0] = '\0';
        struct rw_tz *t = rw_tz_parse("Test/Cut", b, cut, err, sizeof err);
        CHECK(t == NULL);
        CHECK(strstr(err, "Test/Cut") != NULL);
        rw_tz_free(&t);
    }
    b[44 + 8] = 5; /* type index out of range */
    struct rw_tz *t = rw_tz_parse("Test/Idx", b, n, err, sizeof err);
    CHECK(t == NULL);
    CHECK(strstr(err, "type index") != NULL);
    memcpy(b, "TZiF", 4);
    t = rw_tz_parse("Test/Magic", b, n, err, sizeof err);
    CHECK(t == NULL);
    CHECK(strstr(err, "not a TZif") != NULL);

    err[0] = '\0';
    t = rw_tz_load("Mars/Olympus_Mons", NULL, err, sizeof err);
    CHECK(t == NULL);
    CHECK(strstr(err, "unknown time zone 'Mars/Olympus_Mons'") != NULL);
    t = rw_tz_load("../../etc/passwd", NULL, err, sizeof err);
    CHECK(t == NULL);
    CHECK(strstr(err, "bad time zone name") != NULL);
    t = rw_tz_load("/etc/passwd", NULL, err, sizeof err);
    CHECK(t == NULL);
    /* A file that exists but is not a zone */
    t = rw_tz_load("zone.tab", NULL, err, sizeof err);
    CHECK(t == NULL);
    CHECK(strstr(err, "not a TZif") != NULL || strstr(err, "unknown time zone") != NULL);
    rw_tz_free(&t);
    /* A zone directory given explicitly */
    t = rw_tz_load("Berlin", "/usr/share/zoneinfo/Europe", err, sizeof err);
    CHECK(t != NULL);
    rw_tz_free(&t);
}

static void test_intervals(void)
{
    char err[512];
    struct rw_time_interval ti;
    memset(&ti, 0, sizeof ti);
    /* Alertmanager's example shape: weeknights 22:00-06:00 in Berlin. */
    CHECK_INT(rw_ti_add_times(&ti, "22:00", "06:00", err, sizeof err), 0);
    CHECK_INT(ti.ntimes, 2);
    CHECK_INT(rw_ti_add_weekdays(&ti, "monday:friday", err, sizeof err), 0);
    CHECK_INT(rw_ti_set_location(&ti, "Europe/Berlin", NULL, err, sizeof err), 0);
    /* Monday 2024-03-25 (CET, +1) */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-25T20:59:59Z")), 0); /* 21:59:59 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-25T21:00:00Z")), 1); /* 22:00 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-26T04:59:59Z")), 1); /* Tue 05:59:59 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-26T05:00:00Z")), 0); /* Tue 06:00 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-25T12:00:00Z")), 0);
    /* Saturday 2024-03-30: weekend, and split ranges apply per day: */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-30T22:00:00Z")), 0); /* Sat 23:00 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-30T02:00:00Z")), 0); /* Sat 03:00 */
    /* Split ranges apply per calendar day: Friday 23:30 is in, but the
     * Saturday 00:30 right after is not (Saturday is not a listed weekday). */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-29T22:30:00Z")), 1); /* Fri 23:30 */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-29T23:30:00Z")), 0); /* Sat 00:30 */
    {
        struct rw_civil c;
        rw_tz_civil(ti.tz, T("2024-03-29T23:30:00Z"), &c);
        CHECK_INT(c.wday, 6);
        CHECK_INT(c.hour, 0);
    }
    /* After the DST switch (Mon 2024-04-01, CEST +2): 22:00 local is 20:00 UTC. */
    CHECK_INT(rw_ti_contains(&ti, T("2024-04-01T19:59:59Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-04-01T20:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2024-04-02T03:59:59Z")), 1); /* Tue 05:59:59 CEST */
    CHECK_INT(rw_ti_contains(&ti, T("2024-04-02T04:00:00Z")), 0);
    rw_ti_clear(&ti);
    CHECK(ti.tz == NULL);

    /* Business hours in New York across its DST switch. */
    memset(&ti, 0, sizeof ti);
    CHECK_INT(rw_ti_add_times(&ti, "09:00", "17:00", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_weekdays(&ti, "monday:friday", err, sizeof err), 0);
    CHECK_INT(rw_ti_set_location(&ti, "America/New_York", NULL, err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-08T14:00:00Z")), 1); /* Fri 09:00 EST */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-08T13:59:59Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-11T13:00:00Z")), 1); /* Mon 09:00 EDT */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-11T12:59:59Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-11T20:59:59Z")), 1); /* 16:59:59 EDT */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-11T21:00:00Z")), 0); /* 17:00 EDT: end exclusive */
    CHECK_INT(rw_ti_contains(&ti, T("2024-03-10T14:00:00Z")), 0); /* Sunday */
    rw_ti_clear(&ti);

    /* Days of month, months, years (UTC). */
    memset(&ti, 0, sizeof ti);
    CHECK_INT(rw_ti_add_days(&ti, "-1", err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-02-29T10:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2024-02-28T10:00:00Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2023-02-28T10:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2023-04-30T23:59:59Z")), 1);
    rw_ti_clear(&ti);
    CHECK_INT(rw_ti_add_days(&ti, "31", err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-04-30T10:00:00Z")), 0); /* no 31st in April */
    CHECK_INT(rw_ti_contains(&ti, T("2024-05-31T10:00:00Z")), 1);
    rw_ti_clear(&ti);
    CHECK_INT(rw_ti_add_days(&ti, "1:7", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_days(&ti, "-7:-1", err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-06-07T10:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2024-06-08T10:00:00Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-06-24T10:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2024-06-23T10:00:00Z")), 0);
    rw_ti_clear(&ti);
    CHECK_INT(rw_ti_add_days(&ti, "1:-1", err, sizeof err), 0); /* every day */
    CHECK_INT(rw_ti_contains(&ti, T("2024-06-23T10:00:00Z")), 1);
    rw_ti_clear(&ti);
    CHECK_INT(rw_ti_add_months(&ti, "november:december", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_months(&ti, "1", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_years(&ti, "2025:2026", err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2025-01-15T00:00:00Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2025-02-15T00:00:00Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2026-12-31T23:59:59Z")), 1);
    CHECK_INT(rw_ti_contains(&ti, T("2027-01-01T00:00:00Z")), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-11-01T00:00:00Z")), 0);
    rw_ti_clear(&ti);
    /* An empty entry matches any time. */
    CHECK_INT(rw_ti_contains(&ti, T("2024-11-01T00:00:00Z")), 1);
    /* "00:00"-"24:00" is the whole day */
    CHECK_INT(rw_ti_add_times(&ti, "00:00", "24:00", err, sizeof err), 0);
    CHECK_INT(rw_ti_contains(&ti, T("2024-11-01T23:59:59Z")), 1);
    rw_ti_clear(&ti);

    /* Builder errors say what is wrong and change nothing. */
    static const char *const bad_times[][2] = {
        {"25:00", "26:00"}, {"9:60", "10:00"}, {"10:00", "10:00"}, {"24:00", "10:00"},
        {"10:00", "00:00"}, {"10", "11:00"},   {"10:00", "11:00x"}};
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        err[0] = '\0';
        CHECK_INT(rw_ti_add_times(&ti, bad_times[i][0], bad_times[i][1], err, sizeof err), -EINVAL);
        CHECK(err[0] != '\0');
    }
    CHECK_INT(ti.ntimes, 0);
    CHECK_INT(rw_ti_add_weekdays(&ti, "funday", err, sizeof err), -EINVAL);
    CHECK(strstr(err, "funday") != NULL);
    CHECK_INT(rw_ti_add_weekdays(&ti, "saturday:sunday", err, sizeof err), -EINVAL);
    CHECK(strstr(err, "backwards") != NULL);
    CHECK_INT(rw_ti_add_weekdays(&ti, "Monday:FRIDAY", err, sizeof err), 0);
    CHECK_INT(ti.weekdays, 0x3e);
    CHECK_INT(rw_ti_add_days(&ti, "0", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_days(&ti, "-1:5", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_days(&ti, "5:1", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_days(&ti, "32", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_days(&ti, "1:2:3", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_months(&ti, "december:february", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_months(&ti, "13", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_months(&ti, "smarch", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_years(&ti, "2026:2025", err, sizeof err), -EINVAL);
    CHECK_INT(rw_ti_add_years(&ti, "twenty", err, sizeof err), -EINVAL);
    CHECK_INT(ti.ndays + ti.nyears + (int)ti.months, 0);
    CHECK_INT(rw_ti_set_location(&ti, "Nowhere/Special", NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "Nowhere/Special") != NULL);
    for (int i = 0; i < RW_TI_MAX_RANGES; i++)
        CHECK_INT(rw_ti_add_years(&ti, "2030", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_years(&ti, "2031", err, sizeof err), -E2BIG);
    rw_ti_clear(&ti);

    /* Named sets */
    struct rw_timeints *set = rw_timeints_new();
    struct rw_timeint *t = rw_timeints_add(set, "weekends");
    CHECK(t != NULL);
    struct rw_time_interval *e = rw_timeint_add_entry(t);
    CHECK_INT(rw_ti_add_weekdays(e, "saturday", err, sizeof err), 0);
    e = rw_timeint_add_entry(t);
    CHECK_INT(rw_ti_add_weekdays(e, "sunday", err, sizeof err), 0);
    CHECK(rw_timeints_add(set, "weekends") == NULL); /* duplicate */
    CHECK(rw_timeints_add(set, "nights") != NULL);
    const struct rw_timeint *w = rw_timeints_find(set, "weekends");
    CHECK(w != NULL);
    CHECK(rw_timeints_find(set, "holidays") == NULL);
    CHECK_INT(rw_timeint_contains(w, T("2024-06-22T12:00:00Z")), 1); /* Sat */
    CHECK_INT(rw_timeint_contains(w, T("2024-06-23T12:00:00Z")), 1); /* Sun */
    CHECK_INT(rw_timeint_contains(w, T("2024-06-24T12:00:00Z")), 0); /* Mon */
    /* A named interval with no entries matches nothing. */
    CHECK_INT(rw_timeint_contains(rw_timeints_find(set, "nights"), 0), 0);
    rw_timeints_free(&set);
    CHECK(set == NULL);
    rw_timeints_free(&set);
}

int main(void)
{
    test_durations();
    test_rfc3339();
    test_calendar();
    test_dst();
    test_against_libc();
    test_tzif_files();
    test_intervals();
    TEST_DONE();
}
