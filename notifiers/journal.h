/* The alert journal: the other JSON-lines log of the notification pipeline
 * (the first is the history, history.h), for durability rather than
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
#ifndef RW_JOURNAL_H
#define RW_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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
