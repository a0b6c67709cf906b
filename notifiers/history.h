/* The alert history: a JSON-lines log of every alert transition the
 * notification pipeline sees and every delivery attempt it makes
 * (docs/notifications.md "History" lists the records).
 *
 * Each record is one line written with one write(2) on an O_APPEND file,
 * so a crash leaves at worst a torn last line and readers of complete lines
 * never see half a record. No fsync: the history explains what happened,
 * the outbox is what makes delivery durable. Bounded: when the file would
 * grow past max_bytes it is renamed to <path>.1 (replacing the older one)
 * and a new file is started, so the history takes at most 2 x max_bytes.
 *
 * Threads: one writer (the delivery thread). Ownership: records are
 * borrowed for the call; the struct owns its fd and path.
 */
#ifndef RW_HISTORY_H
#define RW_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct rw_history;

struct rw_history_stats {
    uint64_t records; /* lines written since open */
    uint64_t errors;  /* records that could not be written (disk full, ...) */
    uint64_t rotations;
    uint64_t bytes; /* size of the current file */
};

/* Open (create, mode 0600) path for appending. max_bytes < 4096 means 4096.
 * NULL with a message if the file cannot be opened. */
struct rw_history *rw_history_open(const char *path, uint64_t max_bytes, char *err, size_t errlen);
void rw_history_close(struct rw_history **hp);

/* Append one record: `rec` (an object, borrowed) with "time" (RFC 3339 UTC,
 * ms, from now_ms) put first. 0 or a negative errno; errors are counted,
 * never fatal. NULL h: nothing, 0. */
int rw_history_write(struct rw_history *h, int64_t now_ms, const json_t *rec);

void rw_history_stats(const struct rw_history *h, struct rw_history_stats *out);

#endif
