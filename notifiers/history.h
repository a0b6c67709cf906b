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

/* ---- the alert journal ------------------------------------------------------
 * The other JSON-lines log of the pipeline, for durability rather than
 * explanation: <state_dir>/alerts.journal holds what the dispatcher must
 * not lose on a kill -9 (alert lines accepted into groups, group states
 * after flushes; delivery.c and group.h say which records). Each record is
 * one line, one write(2) on an O_APPEND file; rw_journal_sync makes all
 * appended so far durable (fdatasync), so the caller batches them. A torn
 * last line (a crash mid-write) and lines that do not parse are skipped by
 * the reader and counted, never fatal. Not rotated but rewritten:
 * rw_journal_rewrite replaces the file by a compact one (tmp + fsync +
 * rename + directory fsync, so a crash leaves the old or the new file,
 * never a mix) and appending goes on in the new file.
 *
 * Threads: one (the delivery thread). Ownership: records are borrowed for
 * the call; the struct owns its fd and path. */

struct rw_journal;

struct rw_journal_stats {
    uint64_t bytes;      /* size of the file now */
    uint64_t base_bytes; /* its size after the last rewrite (0 before one) */
    uint64_t records;    /* appended since open */
    uint64_t syncs;      /* fdatasync calls */
    uint64_t rewrites;   /* compactions */
    uint64_t errors;     /* failed appends, syncs or rewrites */
};

/* Create (0600) or open path for appending; nothing is read. */
struct rw_journal *rw_journal_open(const char *path, char *err, size_t errlen);
void rw_journal_close(struct rw_journal **jp);
/* One record (a JSON object) as one line; not yet durable. 0 or -errno. */
int rw_journal_append(struct rw_journal *j, const json_t *rec);
/* fdatasync if anything was appended since the last sync. 0 or -errno. */
int rw_journal_sync(struct rw_journal *j);
/* Replace the file by the records `fill` gives to put(ctx, rec) (put
 * returns 0 or -errno; fill returns >= 0 or a negative errno to abort and
 * keep the old file). 0, or a negative errno with a message. */
typedef int (*rw_journal_put_fn)(void *ctx, const json_t *rec);
int rw_journal_rewrite(struct rw_journal *j,
                       int (*fill)(void *ud, rw_journal_put_fn put, void *ctx), void *ud, char *err,
                       size_t errlen);
void rw_journal_stats(const struct rw_journal *j, struct rw_journal_stats *out);

/* Every complete record of the file at path, in order, to fn (a nonzero
 * return stops). A missing file is empty. *skipped (may be NULL) counts the
 * lines that were not a JSON object (a torn tail included). Returns the
 * number of records read or a negative errno with a message. */
int rw_journal_read(const char *path, int (*fn)(void *ud, const json_t *rec), void *ud,
                    uint64_t *skipped, char *err, size_t errlen);

#endif
