/* Time for the notification pipeline: durations, RFC 3339 timestamps, IANA
 * time zones read straight from TZif files, and Alertmanager's recurring
 * time intervals (mute_time_intervals / active_time_intervals).
 *
 * Nothing here reads the clock or touches TZ/setenv/tzset: every function
 * takes the instant it works on (Unix ms, UTC), so it is thread-safe and
 * testable. A zone is loaded once (file I/O) and is then immutable.
 *
 * Zones: TZif v1/v2/v3/v4 (RFC 8536) transitions and types; instants past the
 * last transition use the file's footer POSIX TZ string (e.g.
 * "CET-1CEST,M3.5.0,M10.5.0/3"), so far-future dates follow the current rule.
 * Leap-second records are ignored (the "right/" zones are not supported).
 *
 * Ownership: a struct rw_time_interval owns its rw_tz; a struct rw_timeint
 * owns its entries; a struct rw_timeints owns its intervals. Free each with
 * its _free/_destroy function (NULL-safe, NULLs the pointer).
 */
#ifndef RW_TIMEINT_H
#define RW_TIMEINT_H

#include <stddef.h>
#include <stdint.h>

/* ---- durations and timestamps ----------------------------------------- */

/* "90s", "15m", "2h", "1d", "1w", "500ms", "1h30m", "0s" (Prometheus style;
 * units ms s m h d w, each at most once, largest first). 0 or -EINVAL/-ERANGE. */
int rw_duration_parse(const char *s, int64_t *ms);
/* Shortest form of the same kind ("1h30m", "0s"). Returns the snprintf length. */
int rw_duration_format(int64_t ms, char *buf, size_t len);

/* "2024-03-31T01:00:00Z", "...T01:00:00.123+02:00", lower-case t/z too.
 * 0 or -EINVAL. Alertmanager's zero time "0001-01-01T00:00:00Z" parses to
 * RW_TIME_ZERO. */
#define RW_TIME_ZERO INT64_MIN
int rw_time_parse(const char *s, int64_t *ms);
/* "2024-03-31T01:00:00.000Z" (always UTC, always milliseconds); RW_TIME_ZERO
 * formats as "0001-01-01T00:00:00Z". buf needs 32 bytes. */
void rw_time_format(int64_t ms, char *buf, size_t len);

/* Proleptic Gregorian calendar helpers (any year, no libc). */
int64_t rw_days_from_civil(int64_t y, int m, int d); /* days since 1970-01-01 */
void rw_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int rw_days_in_month(int64_t y, int m);

/* ---- time zones -------------------------------------------------------- */

struct rw_tz;

/* A local civil time. */
struct rw_civil {
    int64_t year;
    int month; /* 1..12 */
    int mday;  /* 1..31 */
    int wday;  /* 0 = Sunday .. 6 = Saturday */
    int hour, min, sec;
    int ms;
    int utc_offset; /* seconds east of UTC in effect */
    int isdst;
    const char *abbr; /* "CEST", "EST", ... (borrowed from the zone) */
};

/* Load an IANA zone by name ("Europe/Berlin"). "UTC" and "" need no file;
 * "Local" reads /etc/localtime. dir NULL: $TZDIR
 * or /usr/share/zoneinfo. NULL with a message on error (unknown zone, bad
 * file, name with ".." or a leading '/'). */
struct rw_tz *rw_tz_load(const char *name, const char *dir, char *err, size_t errlen);
/* Parse TZif bytes (tests, embedded zones); `name` is kept for messages. */
struct rw_tz *rw_tz_parse(const char *name, const unsigned char *buf, size_t len, char *err,
                          size_t errlen);
void rw_tz_free(struct rw_tz **tzp);
const char *rw_tz_name(const struct rw_tz *tz);
/* tz NULL means UTC. */
void rw_tz_civil(const struct rw_tz *tz, int64_t utc_ms, struct rw_civil *out);

/* ---- recurring time intervals (Alertmanager time_intervals) ------------ */

#define RW_TI_MAX_RANGES 16
#define RW_TI_NAME_MAX 64

struct rw_range {
    int lo, hi; /* inclusive, except times: [lo, hi) in minutes of the day */
};

/* One entry of a named interval. A field left empty matches anything; within
 * a field one range must match; all fields must match. Fields are evaluated
 * in local time of `tz` (NULL = UTC). */
struct rw_time_interval {
    int ntimes;
    struct rw_range times[RW_TI_MAX_RANGES]; /* minutes of day, [lo, hi), hi <= 1440 */
    unsigned weekdays;                       /* bit 0 = Sunday; 0 = any */
    int ndays;
    struct rw_range days[RW_TI_MAX_RANGES]; /* days of month, negative = from the end */
    unsigned months;                        /* bit 1 = January; 0 = any */
    int nyears;
    struct rw_range years[RW_TI_MAX_RANGES];
    struct rw_tz *tz; /* owned; NULL = UTC */
};

/* Builders: parse one Alertmanager-style value into `ti`. 0 or -EINVAL /
 * -E2BIG (more than RW_TI_MAX_RANGES), with a message.
 * times: "HH:MM" each, start < end, end up to "24:00". start > end (e.g.
 * "22:00"-"06:00") is split into [start, 24:00) and [00:00, end) on the same
 * day's terms: each calendar day is muted from 00:00 to end and from start to
 * 24:00 (weekdays etc. still apply per day). */
int rw_ti_add_times(struct rw_time_interval *ti, const char *start, const char *end, char *err,
                    size_t errlen);
int rw_ti_add_weekdays(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen);
int rw_ti_add_days(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen);
int rw_ti_add_months(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen);
int rw_ti_add_years(struct rw_time_interval *ti, const char *spec, char *err, size_t errlen);
/* Loads the zone (see rw_tz_load); replaces a previous one. */
int rw_ti_set_location(struct rw_time_interval *ti, const char *name, const char *zoneinfo_dir,
                       char *err, size_t errlen);
int rw_ti_contains(const struct rw_time_interval *ti, int64_t utc_ms);
void rw_ti_clear(struct rw_time_interval *ti); /* frees the zone, zeroes the entry */

/* A named interval: matches when any of its entries does. */
struct rw_timeint {
    char name[RW_TI_NAME_MAX];
    int n;
    struct rw_time_interval *entries; /* owned */
};

/* All named intervals of a config. */
struct rw_timeints {
    int n;
    struct rw_timeint *items; /* owned */
};

struct rw_timeints *rw_timeints_new(void);
/* Appends an empty named interval (name copied); NULL on duplicate name, a
 * name of RW_TI_NAME_MAX bytes or more, or ENOMEM. The pointer (and pointers
 * from rw_timeint_add_entry) stay valid until the next add to the same set /
 * interval: build first, then look intervals up with rw_timeints_find. */
struct rw_timeint *rw_timeints_add(struct rw_timeints *set, const char *name);
/* Appends a zeroed entry to `t`; NULL on ENOMEM. */
struct rw_time_interval *rw_timeint_add_entry(struct rw_timeint *t);
const struct rw_timeint *rw_timeints_find(const struct rw_timeints *set, const char *name);
int rw_timeint_contains(const struct rw_timeint *t, int64_t utc_ms);
void rw_timeints_free(struct rw_timeints **setp);

#endif
