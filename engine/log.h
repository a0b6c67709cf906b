/* Logging: one line per record on stderr,
 *   ts=2026-11-28T05:12:01.123Z level=warn comp=ingest msg="..." key=value ...
 * The level is checked before formatting. rw_log_ratelimited() lets a hot
 * path report at most one line per `interval_ms` per call site, counting
 * what it suppressed. */
#ifndef RW_LOG_H
#define RW_LOG_H

#include <stdint.h>

enum rw_log_level { RW_LOG_DEBUG = 0, RW_LOG_INFO, RW_LOG_WARN, RW_LOG_ERROR };

extern enum rw_log_level rw_log_min_level;

void rw_log_set_level(enum rw_log_level lvl);
int rw_log_level_parse(const char *s); /* -1 if unknown */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void rw_log_write(enum rw_log_level lvl, const char *comp, const char *fmt, ...);

#define rw_log(lvl, comp, ...)                   \
    do {                                         \
        if ((lvl) >= rw_log_min_level)           \
            rw_log_write((lvl), (comp), __VA_ARGS__); \
    } while (0)

/* Per-call-site limiter state; zero-initialise (static). */
struct rw_ratelimit {
    int64_t last_ms;
    uint64_t suppressed;
};
/* Returns 1 if a line may be written now (and how many were suppressed since
 * the last one in *suppressed), 0 if this one should be dropped. */
int rw_ratelimit_ok(struct rw_ratelimit *rl, int64_t interval_ms, uint64_t *suppressed);

/* Wall clock in epoch ms (CLOCK_REALTIME) and a monotonic ms clock. */
int64_t rw_wall_ms(void);
int64_t rw_mono_ms(void);

#endif
