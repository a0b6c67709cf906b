/* Durable outbox: notifications on disk from before their first attempt
 * until a receiver accepts them (docs/notifications.md#the-outbox).
 *
 * One file per notification under DIR/msg/<id>.msg, written tmp + fdatasync
 * + rename + directory fsync, so a file under its final name is always
 * complete; a trailing CRC-32 catches what the filesystem did not (torn or
 * bit-rotted files go to DIR/quarantine/, never crash the reader). Updates
 * (a failed attempt) rewrite the file the same way; done unlinks it.
 * Dead notifications (refused, too old, or dropped because the outbox is
 * full) are appended to DIR/dead.jsonl (fsync'ed) and their record moves to
 * DIR/dead/ so `outbox retry` can bring them back.
 *
 * Memory: an index entry per pending notification (id, next attempt time,
 * order, size; see rw_outbox_stats.index_bytes), never the bodies. Caps on
 * count and bytes drop the oldest pending notification when full.
 *
 * Processes: one daemon owns DIR (an flock on DIR/lock; a second open gets
 * -EBUSY). The CLI functions rw_outbox_list() and rw_outbox_retry() take no
 * lock: they only read files (complete, thanks to the renames) and make
 * requests by renaming dead records into DIR/incoming/ or creating markers
 * in DIR/retry/, which the daemon applies in rw_outbox_poll() (and open).
 *
 * Threads: a struct rw_outbox is used by one thread (the delivery thread).
 * Ownership: the caller owns what it passes; rw_outbox_rec bodies are
 * malloc'd for the caller (rw_outbox_rec_clear). Errors are negative errno
 * with a message in err; constructors return NULL.
 */
#ifndef RW_OUTBOX_H
#define RW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#define RW_OUTBOX_ID_MAX 64      /* id + NUL: [A-Za-z0-9_.-], first char not '.' */
#define RW_OUTBOX_RECV_MAX 64    /* receiver name + NUL, printable */
#define RW_OUTBOX_ERR_MAX 256    /* last error text + NUL (longer text is cut) */
#define RW_OUTBOX_REASON_MAX 128 /* dead reason + NUL */

/* 0 in any field means its default. */
struct rw_outbox_limits {
    uint32_t max_count;      /* pending notifications (default 10000) */
    uint64_t max_bytes;      /* pending bytes on disk (default 64 MiB) */
    uint32_t max_body;       /* bytes of one body (default 1 MiB) */
    int64_t max_age_ms;      /* a failure whose next attempt would come later than
                              * enqueued + max_age dead-letters (default 24 h) */
    uint32_t max_dead;       /* records kept in DIR/dead/ for retry (default 1000) */
    uint64_t dead_log_max;   /* dead.jsonl rotates to dead.jsonl.1 beyond (default 64 MiB) */
    int64_t (*now_ms)(void); /* wall clock, epoch ms (default rw_wall_ms) */
};

/* One notification. Times are epoch ms. */
struct rw_outbox_rec {
    char id[RW_OUTBOX_ID_MAX]; /* stable: the webhook-id / idempotency key */
    char receiver[RW_OUTBOX_RECV_MAX];
    uint64_t seq;        /* arrival order in this outbox (set by put and by retry) */
    uint32_t attempts;   /* failed attempts so far */
    int64_t created_ms;  /* first put */
    int64_t enqueued_ms; /* put, or brought back by retry: max_age counts from here */
    int64_t next_ms;     /* not attempted before this */
    char last_error[RW_OUTBOX_ERR_MAX];
    char dead_reason[RW_OUTBOX_REASON_MAX]; /* "" unless dead */
    int64_t dead_ms;                        /* 0 unless dead */
    char *body;                             /* owned (malloc), NUL-terminated; may be NULL */
    size_t body_len;
};
void rw_outbox_rec_clear(struct rw_outbox_rec *rec); /* frees body; safe twice */

struct rw_outbox_stats {
    uint64_t depth;             /* pending notifications, in flight included */
    uint64_t bytes;             /* their files' bytes */
    uint64_t inflight;          /* handed out by next_due, not yet done/failed */
    uint64_t put, done, failed; /* since open; failed = rw_outbox_fail calls */
    uint64_t dropped;           /* oldest dropped because the outbox was full (since open) */
    uint64_t dead;              /* dead-lettered as refused or too old (since open; not dropped) */
    uint64_t quarantined;       /* corrupt files moved aside (since open) */
    uint64_t index_bytes;       /* memory held by the index (grows with depth, never bodies) */
};

struct rw_outbox;

/* Open (creating DIR and its subdirectories if missing; DIR's parent must
 * exist), take the lock, finish interrupted moves, quarantine corrupt files,
 * apply pending retry requests, rebuild the index in due order, then enforce
 * the caps. `lim` may be NULL (all defaults); it is copied. */
struct rw_outbox *rw_outbox_open(const char *dir, const struct rw_outbox_limits *lim, char *err,
                                 size_t errlen);
/* Release the lock and free. Sets *obp to NULL; safe on NULL. Notifications
 * in flight stay pending on disk (sent again after the next open). */
void rw_outbox_close(struct rw_outbox **obp);

/* Accept one notification: on return 0 it is on disk (file and directory
 * fsync'ed) and due now. `id` NULL generates one ("msg_" + time + random);
 * a given id must be new: -EEXIST if a notification with it is pending,
 * dead-lettered (kept in DIR/dead/) or queued for retry, so the outbox
 * never holds two copies of one id (delivered ones are gone: their id can
 * come again). The id is copied to id_out (may be NULL).
 * -EMSGSIZE if the body exceeds max_body or the record alone max_bytes.
 * If full, the oldest pending notification not in flight is dead-lettered
 * first with reason "outbox full" (stats.dropped). */
int rw_outbox_put(struct rw_outbox *ob, const char *receiver, const void *body, size_t len,
                  const char *id, char id_out[RW_OUTBOX_ID_MAX], char *err, size_t errlen);

/* The pending notification due first, if due at now_ms: returns 1 and fills
 * *rec (caller clears it) and marks it in flight, so it is not handed out
 * again until rw_outbox_done/rw_outbox_fail. 0: nothing due. -EBADMSG: its
 * file was corrupt and is quarantined (err says which); call again. */
int rw_outbox_next_due(struct rw_outbox *ob, int64_t now_ms, struct rw_outbox_rec *rec, char *err,
                       size_t errlen);
/* Earliest next attempt time among pending notifications not in flight,
 * INT64_MAX if none: how long the delivery thread may sleep. */
int64_t rw_outbox_next_time(const struct rw_outbox *ob);

/* Give back a notification from next_due without attempting it (e.g. its
 * receiver is at its concurrency limit): due again at next_at_ms, attempts
 * unchanged. Memory only, nothing written. -ENOENT if unknown. */
int rw_outbox_release(struct rw_outbox *ob, const char *id, int64_t next_at_ms);

/* Delivered: remove it (unlink + directory fsync). -ENOENT if unknown. */
int rw_outbox_done(struct rw_outbox *ob, const char *id, char *err, size_t errlen);

/* A failed attempt: attempts+1, last_error = error_text (may be NULL). Then
 *  - !retryable (4xx other than 429): dead-lettered, reason "rejected";
 *  - next_at_ms later than enqueued_ms + max_age_ms: dead-lettered, "max age";
 *  - otherwise persisted with next_ms = next_at_ms.
 * Returns 0 (will be retried), 1 (dead-lettered) or a negative errno. */
int rw_outbox_fail(struct rw_outbox *ob, const char *id, int retryable, int64_t next_at_ms,
                   const char *error_text, char *err, size_t errlen);

/* Dead-letter a pending notification now with `reason` (e.g. "receiver
 * removed"), error_text as its last error (counted as a failed attempt).
 * 0 or a negative errno (-ENOENT if unknown). */
int rw_outbox_dead_letter(struct rw_outbox *ob, const char *id, const char *reason,
                          const char *error_text, char *err, size_t errlen);

/* Apply the CLI's requests (records renamed into DIR/incoming/, markers in
 * DIR/retry/). The delivery thread calls it about once a second. Returns
 * how many notifications became due (>= 0) or a negative errno. */
int rw_outbox_poll(struct rw_outbox *ob, char *err, size_t errlen);

void rw_outbox_stats(const struct rw_outbox *ob, struct rw_outbox_stats *out);

/* Delay before the next attempt after `attempts` failed ones, in ms:
 * min(cap, base * 2^(attempts-1)) times a jitter factor 0.75 + 0.5*rand01
 * (+-25%), then capped again, so delays never exceed cap and spread over
 * [0.75*cap, cap] once the cap is reached. attempts < 1 counts as 1;
 * rand01 in [0,1). */
int64_t rw_outbox_backoff(uint32_t attempts, int64_t base_ms, int64_t cap_ms, double rand01);

/* ---- for the CLI (another process; no lock taken) ----------------------- */

enum rw_outbox_state {
    RW_OUTBOX_PENDING = 0, /* DIR/msg: waiting for (another) attempt */
    RW_OUTBOX_QUEUED,      /* DIR/incoming: retry requested, daemon not yet taken it */
    RW_OUTBOX_DEAD,        /* DIR/dead: dead-lettered, kept for retry */
    RW_OUTBOX_CORRUPT,     /* unreadable file (only id and last_error are set) */
};
const char *rw_outbox_state_name(enum rw_outbox_state s); /* "pending", ... */

struct rw_outbox_entry {
    enum rw_outbox_state state;
    int retry_requested;      /* a retry marker waits for the daemon */
    struct rw_outbox_rec rec; /* body loaded; borrowed for the callback */
};
/* Calls fn for every notification in DIR: pending (due order), queued,
 * then dead (newest first). A file removed meanwhile is skipped. fn returns
 * nonzero to stop. Returns the number listed or a negative errno. Memory:
 * one small sort key per file, one body at a time. */
int rw_outbox_list(const char *dir, int (*fn)(const struct rw_outbox_entry *e, void *arg),
                   void *arg, char *err, size_t errlen);

/* Make a dead or delayed notification due now (id NULL: all of them).
 * Dead: its record is renamed into DIR/incoming/; the daemon adopts it with
 * enqueued_ms = next_ms = its now (attempts and id kept). Pending: a marker
 * DIR/retry/<id> (or ".all") asks the daemon to move next_ms to now.
 * Returns how many were requested, -ENOENT for an unknown id. */
int rw_outbox_retry(const char *dir, const char *id, char *err, size_t errlen);

#endif
