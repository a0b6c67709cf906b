/* Silences, as in Alertmanager: matchers plus a time span; while active, a
 * matching alert is not notified. A silence is pending before startsAt,
 * active in [startsAt, endsAt), expired from endsAt on. Expiring a silence
 * sets its endsAt to now; expired silences stay listed for `retention`
 * (default 5 days, like Alertmanager) and are then purged by rw_silences_gc.
 *
 * Persistence: with a state_dir the store lives in <state_dir>/silences.json
 * ({"version":1,"silences":[...]}, each in Alertmanager's API v2 shape).
 * Every change is written to a temporary file, fsync'ed, renamed over the
 * old one and the directory fsync'ed, so a crash leaves the old or the new
 * file, never half of one; a change that cannot be written is rolled back
 * and reported. A file that does not parse is renamed aside
 * (silences.json.bad-<ms>) and the store starts empty, with a warning.
 *
 * Nothing here reads the clock: every call takes now_ms (Unix ms).
 *
 * Ownership: the store owns its silences; pointers/ids it returns are
 * borrowed and valid until the next call that changes the store.
 * struct rw_silence_spec owns its matchers (rw_silence_spec_clear).
 * Single-threaded: the delivery thread owns the store.
 */
#ifndef RW_SILENCE_H
#define RW_SILENCE_H

#include <jansson.h>
#include <stdint.h>

#include "notifiers/matcher.h"

#define RW_SILENCE_ID_LEN 36 /* uuid: 8-4-4-4-12 */
#define RW_SILENCE_AUTHOR_MAX 128
#define RW_SILENCE_COMMENT_MAX 1024

enum rw_silence_state { RW_SILENCE_PENDING = 0, RW_SILENCE_ACTIVE, RW_SILENCE_EXPIRED };
const char *rw_silence_state_name(enum rw_silence_state s); /* "pending", "active", "expired" */

struct rw_silence {
    char id[RW_SILENCE_ID_LEN + 1];
    struct rw_matchers matchers;
    int64_t starts_ms, ends_ms, updated_ms;
    char created_by[RW_SILENCE_AUTHOR_MAX];
    char comment[RW_SILENCE_COMMENT_MAX];
};
enum rw_silence_state rw_silence_state(const struct rw_silence *s, int64_t now_ms);

/* What `silence add` asks for. starts_ms 0 means "now". */
struct rw_silence_spec {
    struct rw_matchers matchers;
    int64_t starts_ms, ends_ms;
    char created_by[RW_SILENCE_AUTHOR_MAX];
    char comment[RW_SILENCE_COMMENT_MAX];
};
void rw_silence_spec_clear(struct rw_silence_spec *spec);

/* Parse the CLI arguments after `silence add`:
 *   --match M (repeatable; also --match=M or a bare "label=value" argument),
 *   --for D (90s, 15m, 2h, 1d, 1h30m; default 1h) or --until RFC3339,
 *   --start RFC3339 (default now), --comment TEXT (required),
 *   --author NAME (or --created-by).
 * Fills *spec (cleared first). 0 or -EINVAL with a message; on error the
 * spec is left cleared. */
int rw_silence_parse_args(int argc, char *const argv[], int64_t now_ms,
                          struct rw_silence_spec *spec, char *err, size_t errlen);
/* The spec as an Alertmanager "postable silence" JSON object (new reference)
 * and back, so a CLI can hand it to the daemon over a socket. */
json_t *rw_silence_spec_to_json(const struct rw_silence_spec *spec);
int rw_silence_spec_from_json(const json_t *j, struct rw_silence_spec *spec, char *err,
                              size_t errlen);

struct rw_silences;

struct rw_silences_opts {
    int64_t retention_ms; /* keep expired silences this long; <= 0: 5 days */
    int max_silences;     /* store cap (active + pending + kept expired); <= 0: 10000 */
};

struct rw_silences_stats {
    int active, pending, expired;
    uint64_t purged;       /* expired silences removed after retention */
    uint64_t write_errors; /* persist failures (the change was refused) */
};

/* state_dir NULL: in memory only. The directory is created (0700) if
 * missing. Returns NULL with a message if the directory or an existing file
 * cannot be used at all. A corrupt file is moved aside: the store is
 * returned and *warning says so (warning[0] == 0 otherwise). */
struct rw_silences *rw_silences_open(const char *state_dir, const struct rw_silences_opts *opts,
                                     int64_t now_ms, char *warning, size_t warnlen, char *err,
                                     size_t errlen);
void rw_silences_close(struct rw_silences **sp);

/* Validate and store a silence: at least one matcher, not all matching the
 * empty string, endsAt after startsAt and after now. The new id is copied
 * into id_out (RW_SILENCE_ID_LEN + 1 bytes) if not NULL. 0, -EINVAL,
 * -ENOSPC (store full), -EIO (could not persist; nothing changed). */
int rw_silences_add(struct rw_silences *s, const struct rw_silence_spec *spec, int64_t now_ms,
                    char *id_out, char *err, size_t errlen);
/* Expire by id or a unique id prefix of at least 8 characters. 0,
 * -ENOENT, -EINVAL (ambiguous prefix), -EALREADY (already expired), -EIO. */
int rw_silences_expire(struct rw_silences *s, const char *id, int64_t now_ms, char *err,
                       size_t errlen);
/* The id of the first active silence matching these labels, or NULL. */
const char *rw_silences_match(const struct rw_silences *s, const json_t *labels, int64_t now_ms);
/* Purge silences expired for longer than the retention; returns how many
 * (persisted if any). */
int rw_silences_gc(struct rw_silences *s, int64_t now_ms);

int rw_silences_count(const struct rw_silences *s);
const struct rw_silence *rw_silences_get(const struct rw_silences *s, int i);
/* Silences as an API v2 array ({id, matchers:[{name,value,isRegex,isEqual}],
 * startsAt, endsAt, updatedAt, createdBy, comment, status:{state}}), active
 * first, then pending, then expired (if include_expired). New reference. */
json_t *rw_silences_list(const struct rw_silences *s, int64_t now_ms, int include_expired);
void rw_silences_stats(const struct rw_silences *s, int64_t now_ms, struct rw_silences_stats *out);

#endif
