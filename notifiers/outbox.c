/* Durable outbox (see outbox.h and docs/notifications.md#the-outbox).
 *
 * Layout of DIR
 *   lock                 flock'ed by the daemon that has the outbox open
 *   msg/<id>.msg         pending notifications (the outbox proper)
 *   msg/<id>.tmp         a write in progress; removed at open
 *   dead/<id>.msg        dead-lettered records, kept for `outbox retry`
 *   dead.jsonl(.1)       every dead-lettering, one JSON line, fsync'ed
 *   incoming/<id>.msg    dead records the CLI asked to retry
 *   retry/<id>, .all     CLI markers: make these due now
 *   quarantine/          corrupt files moved aside, never deleted
 *
 * Record file (text header, raw body, CRC-32 trailer over everything before it):
 *   RWOUTBOX 1\n id <id>\n receiver <name>\n seq <n>\n created_ms <n>\n enqueued_ms <n>\n
 *   attempts <n>\n next_ms <n>\n last_error <text>\n [dead_reason <t>\n dead_ms <n>\n]
 *   body <len>\n <len bytes>\n crc32 <8 hex>\n
 * The file must end right after the trailer. Unknown header keys are ignored
 * so a later version can add some.
 *
 * Crash safety: every new content goes to a .tmp name, fdatasync, rename,
 * directory fsync, so a name always holds a complete file. A record changes
 * directory only by one rename (msg -> dead, incoming -> msg, dead ->
 * incoming), so it is never in two places nor in none; the dead-lettering
 * rewrites the record in place first (with its reason), and open finishes a
 * move that a crash interrupted.
 *
 * Index: entries in one array (free list), an open-addressing hash by id,
 * a binary heap by (next_ms, seq) of the entries not in flight, and a
 * doubly linked list in arrival order for "drop the oldest".
 */
#include "notifiers/outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/log.h"

#define DEF_MAX_COUNT 10000u
#define DEF_MAX_BYTES (64ull << 20)
#define DEF_MAX_BODY (1u << 20)
#define DEF_MAX_AGE_MS (24ll * 3600 * 1000)
#define DEF_MAX_DEAD 1000u
#define DEF_DEAD_LOG_MAX (64ull << 20)

#define MAGIC "RWOUTBOX 1\n"
#define TRAILER_LEN 15 /* "crc32 xxxxxxxx\n" */
#define HDR_MAX 1024   /* bigger than any header we write */
#define CLI_MAX_FILE (256ull << 20)
#define READ_MAX_FLOOR (64ull << 20)
#define NAME_MAX_LEN (RW_OUTBOX_ID_MAX + 8)
#define IO_RETRY_MS 1000 /* a record that could not be read is tried again this much later */
#define ALL_MARKER ".all"

struct ent {
    char id[RW_OUTBOX_ID_MAX];
    int64_t next_ms;
    uint64_t seq;   /* arrival order: heap tie-break and "oldest" */
    uint32_t bytes; /* file size */
    uint32_t hash;
    int32_t heap;       /* position in the heap, -1 when in flight (or free) */
    int32_t prev, next; /* arrival list; next links the free list */
    uint8_t used, inflight;
};

struct rw_outbox {
    int root_fd, msg_fd, dead_fd, inc_fd, retry_fd, quar_fd, lock_fd, log_fd;
    struct rw_outbox_limits lim;
    uint64_t log_size;
    uint32_t ndead; /* files in dead/ (approximate: the CLI renames some away) */
    uint64_t seq;
    uint64_t rng;

    struct ent *ents;
    int32_t ecap, free_head;
    uint32_t *slots; /* hash: entry index + 1, 0 = empty */
    uint32_t hmask;
    int32_t *heap;
    int32_t nheap;
    int32_t head, tail; /* arrival list, oldest at head */

    struct rw_outbox_stats st;
};

/* ---- small helpers ------------------------------------------------------- */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif
static int seterr(char *err, size_t errlen, int rc, const char *fmt, ...) PRINTF_LIKE(4, 5);

static int seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

const char *rw_outbox_state_name(enum rw_outbox_state s)
{
    switch (s) {
    case RW_OUTBOX_PENDING: return "pending";
    case RW_OUTBOX_QUEUED: return "queued";
    case RW_OUTBOX_DEAD: return "dead";
    case RW_OUTBOX_CORRUPT: return "corrupt";
    }
    return "unknown";
}

void rw_outbox_rec_clear(struct rw_outbox_rec *rec)
{
    if (!rec)
        return;
    free(rec->body);
    rec->body = NULL;
    rec->body_len = 0;
}

static int valid_id(const char *s)
{
    size_t n = 0;
    if (!s || !s[0] || s[0] == '.')
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= RW_OUTBOX_ID_MAX - 1)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Printable names: no control characters, valid UTF-8, 1..RW_OUTBOX_RECV_MAX-1 bytes. */
static int valid_receiver(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= RW_OUTBOX_RECV_MAX)
        return 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        size_t l = utf8_len(p, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* Copy free text into a one-line field: control characters become spaces,
 * invalid UTF-8 bytes '?', and a cut never splits a character. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t o = 0, n = src ? strlen(src) : 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)src + i;
        size_t l = utf8_len(p, n - i);
        if (l == 0) {
            if (o + 1 >= cap)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + l >= cap)
            break;
        if (l == 1 && (*p < 0x20 || *p == 0x7f))
            dst[o++] = ' ';
        else
            memcpy(dst + o, p, l), o += l;
        i += l;
    }
    dst[o] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "<id>.msg" -> id, or 0 if the name is not a record name with a valid id. */
static int stem_of(const char *name, char id[RW_OUTBOX_ID_MAX])
{
    size_t n = strlen(name);
    if (n <= 4 || n - 4 >= RW_OUTBOX_ID_MAX || !ends_with(name, ".msg"))
        return 0;
    memcpy(id, name, n - 4);
    id[n - 4] = '\0';
    return valid_id(id);
}

static void rec_name(char *buf, const char *id, const char *ext)
{
    snprintf(buf, NAME_MAX_LEN, "%s%s", id, ext);
}

static void iso_time(int64_t ms, char out[64])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 64, "invalid");
        return;
    }
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t rw_outbox_backoff(uint32_t attempts, int64_t base_ms, int64_t cap_ms, double rand01)
{
    const double huge = 1e15; /* ~31,000 years: "no cap" without overflow */
    double cap = cap_ms > 0 ? (double)cap_ms : huge;
    double base = base_ms > 0 ? (double)base_ms : 0.0;
    if (attempts < 1)
        attempts = 1;
    if (!(rand01 >= 0.0 && rand01 < 1.0))
        rand01 = 0.5;
    int shift = attempts - 1 > 62 ? 62 : (int)attempts - 1;
    double d = base * (double)(1ull << shift);
    if (!(d <= cap))
        d = cap;
    d *= 0.75 + 0.5 * rand01;
    if (d > cap)
        d = cap;
    return (int64_t)d;
}

/* ---- file I/O -------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(int dfd)
{
    /* Some filesystems refuse fsync on directories; they also do not need it. */
    if (fsync(dfd) < 0 && errno != EINVAL && errno != EROFS)
        return neg_errno();
    return 0;
}

/* Whole file into a malloc'd, NUL-terminated buffer. -ENOENT if gone,
 * -EFBIG beyond maxlen. */
static int read_at(int dfd, const char *name, size_t maxlen, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return neg_errno();
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int rc = neg_errno();
        close(fd);
        return rc;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return -EBADMSG;
    }
    if ((uint64_t)sb.st_size > maxlen) {
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)sb.st_size, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            /* The size we saw may be stale; look for more without trusting it. */
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r == 0)
                break;
            if (r < 0 && errno == EINTR)
                continue;
            free(buf);
            close(fd);
            return r < 0 ? neg_errno() : -EFBIG;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int rc = neg_errno();
            free(buf);
            close(fd);
            return rc;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

/* buf -> tmp_dfd/tmp, fdatasync, rename to dst_dfd/dst, fsync dst_dfd. */
static int write_atomic(int tmp_dfd, const char *tmp, int dst_dfd, const char *dst, const char *buf,
                        size_t len)
{
    int fd = openat(tmp_dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return neg_errno();
    int rc = write_all(fd, buf, len);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = neg_errno();
    if (close(fd) < 0 && rc == 0)
        rc = neg_errno();
    if (rc == 0 && renameat(tmp_dfd, tmp, dst_dfd, dst) < 0)
        rc = neg_errno();
    if (rc < 0) {
        unlinkat(tmp_dfd, tmp, 0);
        return rc;
    }
    return fsync_dir(dst_dfd);
}

/* A new descriptor for listing (fdopendir takes it; a dup would share the offset). */
static DIR *open_listing(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        close(fd);
    return d;
}

static int open_subdir(int root, const char *name, int create)
{
    if (create && mkdirat(root, name, 0700) < 0 && errno != EEXIST)
        return neg_errno();
    int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? neg_errno() : fd;
}

/* ---- record encoding --------------------------------------------------------- */

static char *rec_encode(const struct rw_outbox_rec *r, const void *body, size_t blen,
                        size_t *outlen)
{
    char hdr[HDR_MAX];
    int n = snprintf(hdr, sizeof hdr,
                     MAGIC "id %s\nreceiver %s\nseq %llu\ncreated_ms %lld\nenqueued_ms %lld\n"
                           "attempts %u\nnext_ms %lld\nlast_error %s\n",
                     r->id, r->receiver, (unsigned long long)r->seq, (long long)r->created_ms,
                     (long long)r->enqueued_ms, (unsigned)r->attempts, (long long)r->next_ms,
                     r->last_error);
    if (n > 0 && r->dead_reason[0])
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "dead_reason %s\ndead_ms %lld\n",
                      r->dead_reason, (long long)r->dead_ms);
    if (n > 0 && (size_t)n < sizeof hdr)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "body %zu\n", blen);
    if (n <= 0 || (size_t)n >= sizeof hdr)
        return NULL; /* cannot happen with the field limits */
    size_t total = (size_t)n + blen + 1 + TRAILER_LEN;
    char *buf = malloc(total + 1);
    if (!buf)
        return NULL;
    memcpy(buf, hdr, (size_t)n);
    if (blen)
        memcpy(buf + n, body, blen);
    buf[(size_t)n + blen] = '\n';
    uLong crc = crc32(0L, (const Bytef *)buf, (uInt)((size_t)n + blen + 1));
    snprintf(buf + n + blen + 1, TRAILER_LEN + 1, "crc32 %08lx\n", (unsigned long)crc);
    *outlen = total;
    return buf;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0;
    size_t i = 0;
    if (n && s[0] == '-')
        neg = 1, i = 1;
    if (i == n || n - i > 19)
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int copy_field(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap || memchr(v, '\0', n))
        return -1;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Parse a record file. With check, the trailer and CRC are verified and the
 * body must fill the file exactly; without (the CLI's sort pass), only the
 * header is read. On error returns -EBADMSG and a short tag in *why
 * ("truncated", "checksum", "format"). */
static int rec_decode(const char *buf, size_t len, int check, int want_body,
                      struct rw_outbox_rec *r, const char **why)
{
    memset(r, 0, sizeof *r);
    *why = "format";
    if (check) {
        if (len < sizeof MAGIC - 1 + TRAILER_LEN) {
            *why = "truncated";
            return -EBADMSG;
        }
        const char *t = buf + len - TRAILER_LEN;
        unsigned long want = 0;
        if (memcmp(t, "crc32 ", 6) != 0 || t[TRAILER_LEN - 1] != '\n') {
            *why = "truncated";
            return -EBADMSG;
        }
        for (int i = 6; i < 14; i++) {
            char c = t[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                *why = "truncated";
                return -EBADMSG;
            }
            want = want << 4 | (unsigned long)d;
        }
        uLong got = crc32(0L, (const Bytef *)buf, (uInt)(len - TRAILER_LEN));
        if ((unsigned long)got != want) {
            *why = "checksum";
            return -EBADMSG;
        }
        len -= TRAILER_LEN;
    }
    if (len < sizeof MAGIC - 1 || memcmp(buf, MAGIC, sizeof MAGIC - 1) != 0)
        return -EBADMSG;
    size_t pos = sizeof MAGIC - 1;
    unsigned have = 0; /* bit per required key */
    int64_t blen = -1;
    while (pos < len && blen < 0) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl) {
            *why = check ? "format" : "truncated";
            return -EBADMSG;
        }
        size_t ll = (size_t)(nl - line);
        pos += ll + 1;
        const char *sp = memchr(line, ' ', ll);
        size_t kl = sp ? (size_t)(sp - line) : ll;
        const char *v = sp ? sp + 1 : line + ll;
        size_t vl = sp ? ll - kl - 1 : 0;
        int64_t num = 0;
#define KEY(k) (kl == sizeof(k) - 1 && memcmp(line, k, kl) == 0)
        if (KEY("id")) {
            if (copy_field(r->id, sizeof r->id, v, vl) < 0 || !valid_id(r->id))
                return -EBADMSG;
            have |= 1;
        } else if (KEY("receiver")) {
            if (copy_field(r->receiver, sizeof r->receiver, v, vl) < 0)
                return -EBADMSG;
            have |= 2;
        } else if (KEY("seq")) {
            if (parse_i64(v, vl, &num) < 0 || num < 0)
                return -EBADMSG;
            r->seq = (uint64_t)num;
            have |= 64;
        } else if (KEY("created_ms")) {
            if (parse_i64(v, vl, &r->created_ms) < 0)
                return -EBADMSG;
            have |= 4;
        } else if (KEY("enqueued_ms")) {
            if (parse_i64(v, vl, &r->enqueued_ms) < 0)
                return -EBADMSG;
            have |= 8;
        } else if (KEY("attempts")) {
            if (parse_i64(v, vl, &num) < 0 || num < 0 || num > UINT32_MAX)
                return -EBADMSG;
            r->attempts = (uint32_t)num;
            have |= 16;
        } else if (KEY("next_ms")) {
            if (parse_i64(v, vl, &r->next_ms) < 0)
                return -EBADMSG;
            have |= 32;
        } else if (KEY("last_error")) {
            if (copy_field(r->last_error, sizeof r->last_error, v, vl) < 0)
                return -EBADMSG;
        } else if (KEY("dead_reason")) {
            if (copy_field(r->dead_reason, sizeof r->dead_reason, v, vl) < 0)
                return -EBADMSG;
        } else if (KEY("dead_ms")) {
            if (parse_i64(v, vl, &r->dead_ms) < 0)
                return -EBADMSG;
        } else if (KEY("body")) {
            if (parse_i64(v, vl, &blen) < 0 || blen < 0)
                return -EBADMSG;
        }
#undef KEY
    }
    if (have != 127 || blen < 0)
        return -EBADMSG;
    if (!check) {
        r->body_len = (size_t)blen;
        return 0;
    }
    if ((uint64_t)blen + 1 != len - pos || buf[len - 1] != '\n')
        return -EBADMSG;
    r->body_len = (size_t)blen;
    if (want_body) {
        r->body = malloc((size_t)blen + 1);
        if (!r->body) {
            *why = "memory";
            return -ENOMEM;
        }
        memcpy(r->body, buf + pos, (size_t)blen);
        r->body[blen] = '\0';
    }
    return 0;
}

/* Read and verify dfd/<id>.msg. -EBADMSG with *why on corruption (also a
 * file whose id differs from its name); -ENOENT if gone. */
static int load_rec(int dfd, const char *name, const char *expect_id, size_t maxlen, int want_body,
                    struct rw_outbox_rec *r, size_t *filelen, const char **why)
{
    char *buf;
    size_t len;
    *why = "";
    int rc = read_at(dfd, name, maxlen, &buf, &len);
    if (rc == -EFBIG || rc == -EBADMSG) {
        *why = rc == -EFBIG ? "toolarge" : "notafile";
        return -EBADMSG;
    }
    if (rc < 0)
        return rc;
    rc = rec_decode(buf, len, 1, want_body, r, why);
    free(buf);
    if (rc == 0 && expect_id && strcmp(r->id, expect_id) != 0) {
        rw_outbox_rec_clear(r);
        *why = "misnamed";
        rc = -EBADMSG;
    }
    if (filelen)
        *filelen = len;
    return rc;
}

/* ---- index ------------------------------------------------------------------- */

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int32_t find(const struct rw_outbox *ob, const char *id)
{
    if (!ob->slots)
        return -1;
    uint32_t h = hash_id(id);
    for (uint32_t i = h & ob->hmask;; i = (i + 1) & ob->hmask) {
        uint32_t s = ob->slots[i];
        if (!s)
            return -1;
        const struct ent *e = &ob->ents[s - 1];
        if (e->hash == h && strcmp(e->id, id) == 0)
            return (int32_t)(s - 1);
    }
}

static void hash_put(struct rw_outbox *ob, int32_t idx)
{
    uint32_t i = ob->ents[idx].hash & ob->hmask;
    while (ob->slots[i])
        i = (i + 1) & ob->hmask;
    ob->slots[i] = (uint32_t)idx + 1;
}

/* Linear probing with backward-shift deletion: no tombstones to clean up. */
static void hash_del(struct rw_outbox *ob, int32_t idx)
{
    uint32_t i = ob->ents[idx].hash & ob->hmask;
    while (ob->slots[i] != (uint32_t)idx + 1)
        i = (i + 1) & ob->hmask;
    for (;;) {
        uint32_t j = i;
        for (;;) {
            j = (j + 1) & ob->hmask;
            if (!ob->slots[j]) {
                ob->slots[i] = 0;
                return;
            }
            uint32_t k = ob->ents[ob->slots[j] - 1].hash & ob->hmask;
            /* Leave slots[j] if its home k lies cyclically in (i, j]. */
            int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays)
                break;
        }
        ob->slots[i] = ob->slots[j];
        i = j;
    }
}

static int ent_before(const struct rw_outbox *ob, int32_t a, int32_t b)
{
    const struct ent *x = &ob->ents[a], *y = &ob->ents[b];
    return x->next_ms != y->next_ms ? x->next_ms < y->next_ms : x->seq < y->seq;
}

static void heap_set(struct rw_outbox *ob, int32_t pos, int32_t idx)
{
    ob->heap[pos] = idx;
    ob->ents[idx].heap = pos;
}

static void sift_up(struct rw_outbox *ob, int32_t pos)
{
    int32_t idx = ob->heap[pos];
    while (pos > 0) {
        int32_t parent = (pos - 1) / 2;
        if (!ent_before(ob, idx, ob->heap[parent]))
            break;
        heap_set(ob, pos, ob->heap[parent]);
        pos = parent;
    }
    heap_set(ob, pos, idx);
}

static void sift_down(struct rw_outbox *ob, int32_t pos)
{
    int32_t idx = ob->heap[pos];
    for (;;) {
        int32_t c = 2 * pos + 1;
        if (c >= ob->nheap)
            break;
        if (c + 1 < ob->nheap && ent_before(ob, ob->heap[c + 1], ob->heap[c]))
            c++;
        if (!ent_before(ob, ob->heap[c], idx))
            break;
        heap_set(ob, pos, ob->heap[c]);
        pos = c;
    }
    heap_set(ob, pos, idx);
}

static void heap_push(struct rw_outbox *ob, int32_t idx)
{
    heap_set(ob, ob->nheap++, idx);
    sift_up(ob, ob->nheap - 1);
}

static void heap_remove(struct rw_outbox *ob, int32_t idx)
{
    int32_t pos = ob->ents[idx].heap;
    ob->ents[idx].heap = -1;
    int32_t last = ob->heap[--ob->nheap];
    if (pos == ob->nheap)
        return;
    heap_set(ob, pos, last);
    sift_up(ob, pos);
    sift_down(ob, ob->ents[last].heap);
}

/* A new next_ms for an entry in the heap. */
static void heap_update(struct rw_outbox *ob, int32_t idx, int64_t next_ms)
{
    ob->ents[idx].next_ms = next_ms;
    if (ob->ents[idx].heap >= 0) {
        sift_up(ob, ob->ents[idx].heap);
        sift_down(ob, ob->ents[idx].heap);
    }
}

static size_t index_bytes(const struct rw_outbox *ob)
{
    return (size_t)ob->ecap * (sizeof(struct ent) + sizeof(int32_t)) +
           (ob->slots ? (size_t)(ob->hmask + 1) * sizeof(uint32_t) : 0);
}

static int grow(struct rw_outbox *ob)
{
    int32_t ncap = ob->ecap ? ob->ecap * 2 : 64;
    if (ncap > INT32_MAX / 4)
        return -ENOMEM;
    struct ent *ne = realloc(ob->ents, (size_t)ncap * sizeof *ne);
    if (!ne)
        return -ENOMEM;
    ob->ents = ne;
    int32_t *nh = realloc(ob->heap, (size_t)ncap * sizeof *nh);
    if (!nh)
        return -ENOMEM;
    ob->heap = nh;
    uint32_t hcap = (uint32_t)ncap * 2; /* load factor <= 1/2 */
    uint32_t *ns = calloc(hcap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    for (int32_t i = ob->ecap; i < ncap; i++) {
        ne[i].used = 0;
        ne[i].next = i + 1 < ncap ? i + 1 : ob->free_head;
    }
    ob->free_head = ob->ecap;
    free(ob->slots);
    ob->slots = ns;
    ob->hmask = hcap - 1;
    for (int32_t i = 0; i < ob->ecap; i++)
        if (ne[i].used)
            hash_put(ob, i);
    ob->ecap = ncap;
    ob->st.index_bytes = index_bytes(ob);
    return 0;
}

/* A free entry with the id set, not yet linked anywhere. */
static int32_t ent_alloc(struct rw_outbox *ob, const char *id)
{
    if (ob->free_head < 0 && grow(ob) < 0)
        return -1;
    int32_t idx = ob->free_head;
    struct ent *e = &ob->ents[idx];
    ob->free_head = e->next;
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->hash = hash_id(id);
    e->heap = -1;
    e->prev = e->next = -1;
    return idx;
}

static void ent_release_alloc(struct rw_outbox *ob, int32_t idx)
{
    ob->ents[idx].used = 0;
    ob->ents[idx].next = ob->free_head;
    ob->free_head = idx;
}

static void list_append(struct rw_outbox *ob, int32_t idx)
{
    struct ent *e = &ob->ents[idx];
    e->prev = ob->tail;
    e->next = -1;
    if (ob->tail >= 0)
        ob->ents[ob->tail].next = idx;
    else
        ob->head = idx;
    ob->tail = idx;
}

/* Link an allocated entry into the hash and the arrival list (and the heap
 * unless `heap` is 0: open builds the heap in one go). */
static void ent_insert(struct rw_outbox *ob, int32_t idx, int64_t next_ms, uint32_t bytes,
                       uint64_t seq, int heap)
{
    struct ent *e = &ob->ents[idx];
    e->used = 1;
    e->next_ms = next_ms;
    e->bytes = bytes;
    e->seq = seq;
    if (seq > ob->seq)
        ob->seq = seq;
    hash_put(ob, idx);
    list_append(ob, idx);
    if (heap)
        heap_push(ob, idx);
    ob->st.depth++;
    ob->st.bytes += bytes;
}

static void ent_remove(struct rw_outbox *ob, int32_t idx)
{
    struct ent *e = &ob->ents[idx];
    if (e->heap >= 0)
        heap_remove(ob, idx);
    if (e->inflight)
        ob->st.inflight--;
    hash_del(ob, idx);
    if (e->prev >= 0)
        ob->ents[e->prev].next = e->next;
    else
        ob->head = e->next;
    if (e->next >= 0)
        ob->ents[e->next].prev = e->prev;
    else
        ob->tail = e->prev;
    ob->st.depth--;
    ob->st.bytes -= e->bytes;
    ent_release_alloc(ob, idx);
}

/* Back into the due heap (after next_due handed it out). */
static void ent_requeue(struct rw_outbox *ob, int32_t idx, int64_t next_ms)
{
    struct ent *e = &ob->ents[idx];
    if (e->inflight) {
        e->inflight = 0;
        ob->st.inflight--;
    }
    if (e->heap >= 0) {
        heap_update(ob, idx, next_ms);
    } else {
        e->next_ms = next_ms;
        heap_push(ob, idx);
    }
}

/* ---- quarantine, dead letters ------------------------------------------------- */

static int64_t now_ms(const struct rw_outbox *ob)
{
    return ob->lim.now_ms();
}

/* Largest file read back: a safety bound, not max_body, so lowering max_body
 * does not turn records already accepted into "corrupt" ones. */
static size_t read_max(const struct rw_outbox *ob)
{
    uint64_t m = (uint64_t)ob->lim.max_body + HDR_MAX;
    return (size_t)(m > READ_MAX_FLOOR ? m : READ_MAX_FLOOR);
}

/* Move a corrupt dfd/name aside as quarantine/<name>.<ms>.<why>. Never deletes. */
static int quarantine(struct rw_outbox *ob, int dfd, const char *sub, const char *name,
                      const char *why, char *err, size_t errlen)
{
    char qname[NAME_MAX_LEN + 64];
    snprintf(qname, sizeof qname, "%s.%lld.%s", name, (long long)now_ms(ob), why);
    if (renameat(dfd, name, ob->quar_fd, qname) < 0) {
        int rc = neg_errno();
        return seterr(err, errlen, rc,
                      "outbox: %s/%s is corrupt (%s) and could not be moved "
                      "to quarantine: %s",
                      sub, name, why, strerror(-rc));
    }
    fsync_dir(ob->quar_fd);
    fsync_dir(dfd);
    ob->st.quarantined++;
    return seterr(err, errlen, -EBADMSG, "outbox: %s/%s is corrupt (%s); moved to quarantine/%s",
                  sub, name, why, qname);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *s, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *o++ = b64chars[v >> 18 & 63];
        *o++ = b64chars[v >> 12 & 63];
        *o++ = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int log_open(struct rw_outbox *ob)
{
    ob->log_fd = openat(ob->root_fd, "dead.jsonl", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (ob->log_fd < 0)
        return neg_errno();
    struct stat sb;
    if (fstat(ob->log_fd, &sb) < 0)
        return neg_errno();
    ob->log_size = (uint64_t)sb.st_size;
    return 0;
}

/* Append one JSON line and fdatasync; rotate first if it would grow past the cap. */
static int log_dead(struct rw_outbox *ob, const struct rw_outbox_rec *r)
{
    json_t *o = json_object();
    char ts[64];
    iso_time(r->dead_ms, ts);
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "receiver", json_string(r->receiver));
    json_object_set_new(o, "reason", json_string(r->dead_reason));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "created_ms", json_integer(r->created_ms));
    json_object_set_new(o, "enqueued_ms", json_integer(r->enqueued_ms));
    json_object_set_new(o, "dead_ms", json_integer(r->dead_ms));
    json_object_set_new(o, "last_error", json_string(r->last_error));
    json_t *b = json_stringn(r->body ? r->body : "", r->body_len);
    if (b) {
        json_object_set_new(o, "body", b);
    } else { /* not UTF-8: keep the exact bytes anyway */
        char *enc = base64((const unsigned char *)r->body, r->body_len);
        if (enc)
            json_object_set_new(o, "body_base64", json_string(enc));
        free(enc);
    }
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return -ENOMEM;
    size_t n = strlen(line);
    line[n] = '\n'; /* json_dumps leaves room for its NUL only; reuse it */
    int rc = ob->log_fd < 0 ? log_open(ob) : 0; /* a failed rotation left none */
    if (rc == 0 && ob->log_size > 0 && ob->log_size + n + 1 > ob->lim.dead_log_max) {
        close(ob->log_fd);
        ob->log_fd = -1;
        if (renameat(ob->root_fd, "dead.jsonl", ob->root_fd, "dead.jsonl.1") < 0)
            rc = neg_errno();
        int rc2 = log_open(ob);
        if (rc == 0)
            rc = rc2 < 0 ? rc2 : fsync_dir(ob->root_fd);
    }
    if (rc == 0 && ob->log_fd >= 0)
        rc = write_all(ob->log_fd, line, n + 1);
    if (rc == 0 && fdatasync(ob->log_fd) < 0)
        rc = neg_errno();
    if (rc == 0)
        ob->log_size += n + 1;
    free(line);
    return rc;
}

struct dead_file {
    int64_t mtime_ns;
    char name[NAME_MAX_LEN];
};

static int cmp_dead_file(const void *a, const void *b)
{
    const struct dead_file *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Keep dead/ within max_dead: count its records and, if over, delete the
 * oldest down to 90% (they stay in dead.jsonl). Sets ob->ndead. */
static int prune_dead(struct rw_outbox *ob, int force_count)
{
    if (!force_count && ob->ndead <= ob->lim.max_dead)
        return 0;
    DIR *d = open_listing(ob->dead_fd);
    if (!d)
        return neg_errno();
    struct dead_file *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        char id[RW_OUTBOX_ID_MAX];
        if (!stem_of(de->d_name, id))
            continue;
        struct stat sb;
        if (fstatat(ob->dead_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct dead_file *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1); /* stem_of checked the length */
        n++;
    }
    closedir(d);
    if (rc == 0 && n > ob->lim.max_dead) {
        size_t keep = ob->lim.max_dead - ob->lim.max_dead / 10;
        qsort(v, n, sizeof *v, cmp_dead_file);
        for (size_t i = 0; i + keep < n; i++)
            unlinkat(ob->dead_fd, v[i].name, 0);
        fsync_dir(ob->dead_fd);
        n = keep;
    }
    free(v);
    if (rc == 0)
        ob->ndead = (uint32_t)n;
    return rc;
}

/* Dead-letter entry idx whose record (body loaded) is r: log line, record
 * rewritten in place with its reason, then one rename msg/ -> dead/. */
static int dead_letter(struct rw_outbox *ob, int32_t idx, struct rw_outbox_rec *r,
                       const char *reason, char *err, size_t errlen)
{
    char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
    rec_name(name, r->id, ".msg");
    rec_name(tmp, r->id, ".tmp");
    copy_text(r->dead_reason, sizeof r->dead_reason, reason);
    r->dead_ms = now_ms(ob);
    int rc = log_dead(ob, r);
    if (rc < 0)
        return seterr(err, errlen, rc, "outbox: cannot append to dead.jsonl for %s: %s", r->id,
                      strerror(-rc));
    size_t len;
    char *buf = rec_encode(r, r->body, r->body_len, &len);
    if (!buf)
        return seterr(err, errlen, -ENOMEM, "outbox: out of memory");
    rc = write_atomic(ob->msg_fd, tmp, ob->msg_fd, name, buf, len);
    free(buf);
    if (rc == 0 && renameat(ob->msg_fd, name, ob->dead_fd, name) < 0)
        rc = neg_errno();
    if (rc == 0)
        rc = fsync_dir(ob->dead_fd);
    if (rc == 0)
        rc = fsync_dir(ob->msg_fd);
    if (rc < 0)
        return seterr(err, errlen, rc, "outbox: cannot move %s to dead/: %s", r->id, strerror(-rc));
    if (strcmp(reason, "outbox full") == 0)
        ob->st.dropped++;
    else
        ob->st.dead++;
    ent_remove(ob, idx);
    ob->ndead++;
    prune_dead(ob, 0);
    return 0;
}

/* Make room for one more record of `bytes`: dead-letter the oldest pending
 * notifications not in flight. If only in-flight ones are left, the cap is
 * exceeded by them rather than refusing (they leave soon either way). */
static int make_room(struct rw_outbox *ob, uint64_t bytes, char *err, size_t errlen)
{
    int32_t idx = ob->head;
    while (idx >= 0 && (ob->st.depth + (bytes ? 1 : 0) > ob->lim.max_count ||
                        ob->st.bytes + bytes > ob->lim.max_bytes)) {
        int32_t next = ob->ents[idx].next;
        if (ob->ents[idx].inflight) {
            idx = next;
            continue;
        }
        char name[NAME_MAX_LEN];
        const char *why;
        struct rw_outbox_rec r;
        rec_name(name, ob->ents[idx].id, ".msg");
        int rc = load_rec(ob->msg_fd, name, ob->ents[idx].id, read_max(ob), 1, &r, NULL, &why);
        if (rc == -EBADMSG || rc == -ENOENT) {
            if (rc == -EBADMSG)
                quarantine(ob, ob->msg_fd, "msg", name, why, NULL, 0);
            ent_remove(ob, idx);
        } else if (rc < 0) {
            return seterr(err, errlen, rc, "outbox: cannot read %s to drop it: %s", name,
                          strerror(-rc));
        } else {
            rc = dead_letter(ob, idx, &r, "outbox full", err, errlen);
            rw_outbox_rec_clear(&r);
            if (rc < 0)
                return rc;
        }
        idx = next;
    }
    return 0;
}

/* ---- open / close ---------------------------------------------------------------- */

struct load_key {
    uint64_t seq;
    int32_t idx;
};

static int cmp_load_key(const void *a, const void *b)
{
    const struct load_key *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Index every msg/<id>.msg; finish interrupted dead-letter moves; quarantine
 * corrupt files; drop leftover .tmp files. Arrival order is the records' seq. */
static int scan_msg(struct rw_outbox *ob, char *err, size_t errlen)
{
    DIR *d = open_listing(ob->msg_fd);
    if (!d)
        return seterr(err, errlen, neg_errno(), "outbox: cannot list msg/: %s", strerror(errno));
    struct load_key *keys = NULL;
    size_t nkeys = 0, kcap = 0;
    int rc = 0, moved = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        char id[RW_OUTBOX_ID_MAX];
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        if (ends_with(name, ".tmp")) { /* a write that never got its rename */
            unlinkat(ob->msg_fd, name, 0);
            continue;
        }
        if (!ends_with(name, ".msg"))
            continue; /* not ours: leave it alone */
        if (!stem_of(name, id)) {
            quarantine(ob, ob->msg_fd, "msg", name, "misnamed", NULL, 0);
            continue;
        }
        struct rw_outbox_rec r;
        const char *why;
        size_t flen = 0;
        int lr = load_rec(ob->msg_fd, name, id, read_max(ob), 0, &r, &flen, &why);
        if (lr == -EBADMSG) {
            quarantine(ob, ob->msg_fd, "msg", name, why, NULL, 0);
            continue;
        }
        if (lr == -ENOENT)
            continue;
        if (lr < 0) {
            rc = seterr(err, errlen, lr, "outbox: cannot read msg/%s: %s", name, strerror(-lr));
            break;
        }
        if (r.dead_reason[0]) { /* crashed between rewrite and move: finish it */
            if (renameat(ob->msg_fd, name, ob->dead_fd, name) < 0) {
                rc = seterr(err, errlen, neg_errno(), "outbox: cannot move msg/%s to dead/: %s",
                            name, strerror(errno));
                break;
            }
            moved = 1;
            continue;
        }
        if (nkeys == kcap) {
            size_t ncap = kcap ? kcap * 2 : 256;
            struct load_key *nk = realloc(keys, ncap * sizeof *nk);
            if (!nk) {
                rc = seterr(err, errlen, -ENOMEM, "outbox: out of memory");
                break;
            }
            keys = nk;
            kcap = ncap;
        }
        int32_t idx = ent_alloc(ob, id);
        if (idx < 0) {
            rc = seterr(err, errlen, -ENOMEM, "outbox: out of memory");
            break;
        }
        /* Allocated but not linked (used stays 0 so a grow() does not hash
         * it yet); linked below in arrival order. */
        ob->ents[idx].next_ms = r.next_ms;
        ob->ents[idx].bytes = (uint32_t)flen;
        keys[nkeys++] = (struct load_key){r.seq, idx};
    }
    closedir(d);
    if (moved) {
        fsync_dir(ob->dead_fd);
        fsync_dir(ob->msg_fd);
    }
    if (rc == 0 && nkeys) {
        qsort(keys, nkeys, sizeof *keys, cmp_load_key);
        for (size_t i = 0; i < nkeys; i++) {
            int32_t idx = keys[i].idx;
            ent_insert(ob, idx, ob->ents[idx].next_ms, ob->ents[idx].bytes, keys[i].seq, 0);
            ob->heap[ob->nheap] = idx;
            ob->ents[idx].heap = ob->nheap++;
        }
        for (int32_t i = ob->nheap / 2 - 1; i >= 0; i--)
            sift_down(ob, i);
    }
    free(keys);
    return rc;
}

static void drop_tmp_files(int dfd)
{
    DIR *d = open_listing(dfd);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (ends_with(de->d_name, ".tmp"))
            unlinkat(dfd, de->d_name, 0);
    closedir(d);
}

struct rw_outbox *rw_outbox_open(const char *dir, const struct rw_outbox_limits *lim, char *err,
                                 size_t errlen)
{
    struct rw_outbox *ob = calloc(1, sizeof *ob);
    if (!ob) {
        seterr(err, errlen, -ENOMEM, "outbox: out of memory");
        return NULL;
    }
    ob->root_fd = ob->msg_fd = ob->dead_fd = ob->inc_fd = ob->retry_fd = ob->quar_fd = -1;
    ob->lock_fd = ob->log_fd = -1;
    ob->free_head = ob->head = ob->tail = -1;
    if (lim)
        ob->lim = *lim;
    if (!ob->lim.max_count)
        ob->lim.max_count = DEF_MAX_COUNT;
    if (!ob->lim.max_bytes)
        ob->lim.max_bytes = DEF_MAX_BYTES;
    if (!ob->lim.max_body)
        ob->lim.max_body = DEF_MAX_BODY;
    if (ob->lim.max_age_ms <= 0)
        ob->lim.max_age_ms = DEF_MAX_AGE_MS;
    if (!ob->lim.max_dead)
        ob->lim.max_dead = DEF_MAX_DEAD;
    if (!ob->lim.dead_log_max)
        ob->lim.dead_log_max = DEF_DEAD_LOG_MAX;
    if (!ob->lim.now_ms)
        ob->lim.now_ms = rw_wall_ms;

    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = 0;
    seed ^= (uint64_t)rw_mono_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 32;
    ob->rng = seed ? seed : 0x853c49e6748fea9bULL;

    const char *step = "create";
    if (!dir || !dir[0]) {
        seterr(err, errlen, -EINVAL, "outbox: no directory given");
        goto fail_quiet;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        goto fail;
    step = "open";
    ob->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ob->root_fd < 0)
        goto fail;
    step = "lock";
    ob->lock_fd = openat(ob->root_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ob->lock_fd < 0)
        goto fail;
    if (flock(ob->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            seterr(err, errlen, -EBUSY,
                   "outbox: %s is in use by another rumwatch process (lock held on %s/lock)", dir,
                   dir);
            goto fail_quiet;
        }
        goto fail;
    }
    {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(ob->lock_fd, 0) == 0 && pwrite(ob->lock_fd, pid, (size_t)n, 0) < 0) {
            /* informative only */
        }
    }
    step = "create subdirectories of";
    static const char *const subs[] = {"msg", "dead", "incoming", "retry", "quarantine"};
    int *fds[] = {&ob->msg_fd, &ob->dead_fd, &ob->inc_fd, &ob->retry_fd, &ob->quar_fd};
    for (int i = 0; i < 5; i++) {
        *fds[i] = open_subdir(ob->root_fd, subs[i], 1);
        if (*fds[i] < 0) {
            errno = -*fds[i];
            goto fail;
        }
    }
    if (fsync_dir(ob->root_fd) < 0)
        goto fail;
    step = "open dead.jsonl in";
    int rc = log_open(ob);
    if (rc < 0) {
        errno = -rc;
        goto fail;
    }
    if (ob->log_size > 0) {
        /* A crash mid-append leaves a partial line: end it so the next line parses. */
        char last = '\n';
        int rfd = openat(ob->root_fd, "dead.jsonl", O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (pread(rfd, &last, 1, (off_t)ob->log_size - 1) != 1)
                last = '\n';
            close(rfd);
        }
        if (last != '\n' && write_all(ob->log_fd, "\n", 1) == 0) {
            fdatasync(ob->log_fd);
            ob->log_size++;
        }
    }

    if (scan_msg(ob, err, errlen) < 0)
        goto fail_quiet;
    drop_tmp_files(ob->inc_fd);
    prune_dead(ob, 1);
    if (rw_outbox_poll(ob, err, errlen) < 0)
        goto fail_quiet;
    if (make_room(ob, 0, err, errlen) < 0)
        goto fail_quiet;
    ob->st.index_bytes = index_bytes(ob);
    return ob;

fail:
    seterr(err, errlen, neg_errno(), "outbox: cannot %s %s: %s", step, dir, strerror(errno));
fail_quiet:
    rw_outbox_close(&ob);
    return NULL;
}

void rw_outbox_close(struct rw_outbox **obp)
{
    if (!obp || !*obp)
        return;
    struct rw_outbox *ob = *obp;
    int *fds[] = {&ob->msg_fd,  &ob->dead_fd, &ob->inc_fd,  &ob->retry_fd,
                  &ob->quar_fd, &ob->log_fd,  &ob->root_fd, &ob->lock_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0)
            close(*fds[i]); /* the lock goes with lock_fd */
    free(ob->ents);
    free(ob->heap);
    free(ob->slots);
    free(ob);
    *obp = NULL;
}

void rw_outbox_stats(const struct rw_outbox *ob, struct rw_outbox_stats *out)
{
    *out = ob->st;
}

int64_t rw_outbox_next_time(const struct rw_outbox *ob)
{
    return ob->nheap ? ob->ents[ob->heap[0]].next_ms : INT64_MAX;
}

/* ---- the delivery thread's calls ------------------------------------------------- */

int rw_outbox_put(struct rw_outbox *ob, const char *receiver, const void *body, size_t len,
                  const char *id, char id_out[RW_OUTBOX_ID_MAX], char *err, size_t errlen)
{
    struct rw_outbox_rec r;
    memset(&r, 0, sizeof r);
    if (!valid_receiver(receiver))
        return seterr(err, errlen, -EINVAL,
                      "outbox: receiver name must be 1..%d bytes of printable UTF-8",
                      RW_OUTBOX_RECV_MAX - 1);
    if (len > ob->lim.max_body)
        return seterr(err, errlen, -EMSGSIZE, "outbox: body of %zu bytes exceeds max_body %u", len,
                      (unsigned)ob->lim.max_body);
    if (len && !body)
        return seterr(err, errlen, -EINVAL, "outbox: no body");
    int64_t now = now_ms(ob);
    if (id) {
        if (!valid_id(id))
            return seterr(err, errlen, -EINVAL,
                          "outbox: id \"%.80s\" must be 1..%d of [A-Za-z0-9_.-], not "
                          "starting with '.'",
                          id, RW_OUTBOX_ID_MAX - 1);
        /* One copy per id: the same notification made again (a crash
         * between the put and the journal's record of it) is already here,
         * pending, dead-lettered or on its way back from `outbox retry`. */
        if (find(ob, id) >= 0)
            return seterr(err, errlen, -EEXIST, "outbox: id %s is already pending", id);
        char fname[NAME_MAX_LEN];
        rec_name(fname, id, ".msg");
        struct stat sb;
        if (fstatat(ob->dead_fd, fname, &sb, 0) == 0 || fstatat(ob->inc_fd, fname, &sb, 0) == 0)
            return seterr(err, errlen, -EEXIST, "outbox: id %s is already dead-lettered", id);
        snprintf(r.id, sizeof r.id, "%s", id);
    } else {
        do
            snprintf(r.id, sizeof r.id, "msg_%012llx%016llx",
                     (unsigned long long)now & 0xffffffffffffull,
                     (unsigned long long)rng_next(&ob->rng));
        while (find(ob, r.id) >= 0);
    }
    snprintf(r.receiver, sizeof r.receiver, "%s", receiver);
    r.created_ms = r.enqueued_ms = r.next_ms = now;
    r.seq = ob->seq + 1;

    size_t flen;
    char *buf = rec_encode(&r, body, len, &flen);
    if (!buf)
        return seterr(err, errlen, -ENOMEM, "outbox: out of memory");
    int rc = 0;
    if (flen > ob->lim.max_bytes) {
        rc = seterr(err, errlen, -EMSGSIZE, "outbox: record of %zu bytes exceeds max_bytes %llu",
                    flen, (unsigned long long)ob->lim.max_bytes);
        goto out;
    }
    if ((rc = make_room(ob, flen, err, errlen)) < 0)
        goto out;
    int32_t idx = ent_alloc(ob, r.id); /* before writing: no file without an entry */
    if (idx < 0) {
        rc = seterr(err, errlen, -ENOMEM, "outbox: out of memory");
        goto out;
    }
    char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
    rec_name(name, r.id, ".msg");
    rec_name(tmp, r.id, ".tmp");
    rc = write_atomic(ob->msg_fd, tmp, ob->msg_fd, name, buf, flen);
    if (rc < 0) {
        ent_release_alloc(ob, idx);
        seterr(err, errlen, rc, "outbox: cannot write msg/%s: %s", name, strerror(-rc));
        goto out;
    }
    ent_insert(ob, idx, now, (uint32_t)flen, r.seq, 1);
    ob->st.put++;
    if (id_out)
        snprintf(id_out, RW_OUTBOX_ID_MAX, "%s", r.id);
out:
    free(buf);
    return rc;
}

int rw_outbox_next_due(struct rw_outbox *ob, int64_t now, struct rw_outbox_rec *rec, char *err,
                       size_t errlen)
{
    memset(rec, 0, sizeof *rec);
    while (ob->nheap > 0) {
        int32_t idx = ob->heap[0];
        struct ent *e = &ob->ents[idx];
        if (e->next_ms > now)
            return 0;
        char name[NAME_MAX_LEN];
        const char *why;
        rec_name(name, e->id, ".msg");
        int rc = load_rec(ob->msg_fd, name, e->id, read_max(ob), 1, rec, NULL, &why);
        if (rc == -EBADMSG) {
            ent_remove(ob, idx);
            return quarantine(ob, ob->msg_fd, "msg", name, why, err, errlen);
        }
        if (rc == -ENOENT) {
            ent_remove(ob, idx);
            return seterr(err, errlen, -ENOENT, "outbox: msg/%s vanished (removed by hand?)", name);
        }
        if (rc < 0) {
            heap_update(ob, idx, now + IO_RETRY_MS);
            return seterr(err, errlen, rc, "outbox: cannot read msg/%s: %s", name, strerror(-rc));
        }
        if (rec->dead_reason[0]) { /* a dead-lettering whose move failed earlier */
            rw_outbox_rec_clear(rec);
            if (renameat(ob->msg_fd, name, ob->dead_fd, name) < 0) {
                heap_update(ob, idx, now + IO_RETRY_MS);
                return seterr(err, errlen, neg_errno(), "outbox: cannot move msg/%s to dead/: %s",
                              name, strerror(errno));
            }
            fsync_dir(ob->dead_fd);
            fsync_dir(ob->msg_fd);
            ent_remove(ob, idx);
            continue;
        }
        heap_remove(ob, idx);
        e->inflight = 1;
        ob->st.inflight++;
        return 1;
    }
    return 0;
}

int rw_outbox_release(struct rw_outbox *ob, const char *id, int64_t next_at_ms)
{
    int32_t idx = id ? find(ob, id) : -1;
    if (idx < 0)
        return -ENOENT;
    ent_requeue(ob, idx, next_at_ms);
    return 0;
}

int rw_outbox_done(struct rw_outbox *ob, const char *id, char *err, size_t errlen)
{
    int32_t idx = id ? find(ob, id) : -1;
    if (idx < 0)
        return seterr(err, errlen, -ENOENT, "outbox: no pending notification %s",
                      id ? id : "(null)");
    char name[NAME_MAX_LEN];
    rec_name(name, id, ".msg");
    /* Delivered either way: forget it even if the unlink fails, at worst it
     * is sent again after a restart (same id, so receivers can dedupe). */
    ent_remove(ob, idx);
    ob->st.done++;
    int rc = 0;
    if (unlinkat(ob->msg_fd, name, 0) < 0 && errno != ENOENT)
        rc = neg_errno();
    if (rc == 0)
        rc = fsync_dir(ob->msg_fd);
    if (rc < 0)
        return seterr(err, errlen, rc, "outbox: cannot remove msg/%s: %s", name, strerror(-rc));
    return 0;
}

static int fail_or_kill(struct rw_outbox *ob, const char *id, int retryable, int64_t next_at_ms,
                        const char *error_text, const char *kill_reason, char *err, size_t errlen)
{
    int32_t idx = id ? find(ob, id) : -1;
    if (idx < 0)
        return seterr(err, errlen, -ENOENT, "outbox: no pending notification %s",
                      id ? id : "(null)");
    ob->st.failed++;
    char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
    const char *why;
    rec_name(name, id, ".msg");
    rec_name(tmp, id, ".tmp");
    struct rw_outbox_rec r;
    int rc = load_rec(ob->msg_fd, name, id, read_max(ob), 1, &r, NULL, &why);
    if (rc == -EBADMSG) {
        ent_remove(ob, idx);
        return quarantine(ob, ob->msg_fd, "msg", name, why, err, errlen);
    }
    if (rc == -ENOENT) {
        ent_remove(ob, idx);
        return seterr(err, errlen, -ENOENT, "outbox: msg/%s vanished (removed by hand?)", name);
    }
    if (rc < 0) {
        ent_requeue(ob, idx, next_at_ms);
        return seterr(err, errlen, rc, "outbox: cannot read msg/%s: %s", name, strerror(-rc));
    }
    r.attempts++;
    copy_text(r.last_error, sizeof r.last_error, error_text ? error_text : "");
    int too_old = r.enqueued_ms <= INT64_MAX - ob->lim.max_age_ms &&
                  next_at_ms > r.enqueued_ms + ob->lim.max_age_ms;
    const char *reason = kill_reason  ? kill_reason
                         : !retryable ? "rejected"
                         : too_old    ? "max age"
                                      : NULL;
    if (reason) {
        rc = dead_letter(ob, idx, &r, reason, err, errlen);
        rw_outbox_rec_clear(&r);
        if (rc < 0) { /* stays pending: better a retry than a loss */
            ent_requeue(ob, idx, next_at_ms);
            return rc;
        }
        return 1;
    }
    r.next_ms = next_at_ms;
    size_t flen;
    char *buf = rec_encode(&r, r.body, r.body_len, &flen);
    rw_outbox_rec_clear(&r);
    if (!buf) {
        ent_requeue(ob, idx, next_at_ms);
        return seterr(err, errlen, -ENOMEM, "outbox: out of memory");
    }
    rc = write_atomic(ob->msg_fd, tmp, ob->msg_fd, name, buf, flen);
    free(buf);
    ent_requeue(ob, idx, next_at_ms);
    if (rc < 0)
        return seterr(err, errlen, rc, "outbox: cannot update msg/%s: %s", name, strerror(-rc));
    ob->st.bytes = ob->st.bytes - ob->ents[idx].bytes + flen;
    ob->ents[idx].bytes = (uint32_t)flen;
    return 0;
}

int rw_outbox_fail(struct rw_outbox *ob, const char *id, int retryable, int64_t next_at_ms,
                   const char *error_text, char *err, size_t errlen)
{
    return fail_or_kill(ob, id, retryable, next_at_ms, error_text, NULL, err, errlen);
}

int rw_outbox_dead_letter(struct rw_outbox *ob, const char *id, const char *reason,
                          const char *error_text, char *err, size_t errlen)
{
    if (!reason || !reason[0])
        return seterr(err, errlen, -EINVAL, "outbox: a dead letter needs a reason");
    int rc = fail_or_kill(ob, id, 0, 0, error_text, reason, err, errlen);
    return rc < 0 ? rc : 0;
}

/* Take incoming/<name> (a dead record the CLI wants retried) into msg/. */
static int adopt(struct rw_outbox *ob, const char *name, int64_t now, char *err, size_t errlen)
{
    char id[RW_OUTBOX_ID_MAX], tmp[NAME_MAX_LEN];
    if (!stem_of(name, id))
        return quarantine(ob, ob->inc_fd, "incoming", name, "misnamed", err, errlen);
    int32_t idx = find(ob, id);
    if (idx >= 0) { /* already pending (e.g. a crash after the move below): keep that one */
        unlinkat(ob->inc_fd, name, 0);
        fsync_dir(ob->inc_fd);
        if (!ob->ents[idx].inflight && ob->ents[idx].next_ms > now)
            heap_update(ob, idx, now);
        return 1;
    }
    struct rw_outbox_rec r;
    const char *why;
    int rc = load_rec(ob->inc_fd, name, id, read_max(ob), 1, &r, NULL, &why);
    if (rc == -EBADMSG)
        return quarantine(ob, ob->inc_fd, "incoming", name, why, err, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return seterr(err, errlen, rc, "outbox: cannot read incoming/%s: %s", name, strerror(-rc));
    r.enqueued_ms = r.next_ms = now;
    r.seq = ob->seq + 1;
    r.dead_reason[0] = '\0';
    r.dead_ms = 0;
    size_t flen;
    char *buf = rec_encode(&r, r.body, r.body_len, &flen);
    rw_outbox_rec_clear(&r);
    if (!buf)
        return seterr(err, errlen, -ENOMEM, "outbox: out of memory");
    rc = make_room(ob, flen, err, errlen);
    idx = rc < 0 ? -1 : ent_alloc(ob, id);
    if (rc == 0 && idx < 0)
        rc = seterr(err, errlen, -ENOMEM, "outbox: out of memory");
    if (rc == 0) {
        rec_name(tmp, id, ".tmp");
        /* Rewrite in place, then one rename: the record is never in both dirs. */
        rc = write_atomic(ob->inc_fd, tmp, ob->inc_fd, name, buf, flen);
        if (rc == 0 && renameat(ob->inc_fd, name, ob->msg_fd, name) < 0)
            rc = neg_errno();
        if (rc == 0)
            rc = fsync_dir(ob->msg_fd);
        if (rc == 0)
            rc = fsync_dir(ob->inc_fd);
        if (rc < 0) {
            ent_release_alloc(ob, idx);
            seterr(err, errlen, rc, "outbox: cannot move incoming/%s to msg/: %s", name,
                   strerror(-rc));
        } else {
            ent_insert(ob, idx, now, (uint32_t)flen, r.seq, 1);
        }
    }
    free(buf);
    return rc < 0 ? rc : 1;
}

int rw_outbox_poll(struct rw_outbox *ob, char *err, size_t errlen)
{
    int64_t now = now_ms(ob);
    int made = 0, rc = 0;
    DIR *d = open_listing(ob->inc_fd);
    if (!d)
        return seterr(err, errlen, neg_errno(), "outbox: cannot list incoming/: %s",
                      strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".msg"))
            continue;
        int r = adopt(ob, de->d_name, now, err, errlen);
        if (r > 0)
            made += r;
        else if (r < 0 && r != -EBADMSG && rc == 0)
            rc = r; /* keep going: one bad file must not hold up the others */
    }
    closedir(d);

    d = open_listing(ob->retry_fd);
    if (!d)
        return seterr(err, errlen, neg_errno(), "outbox: cannot list retry/: %s", strerror(errno));
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strcmp(name, ALL_MARKER) == 0) {
            for (int32_t i = 0; i < ob->nheap; i++) {
                struct ent *e = &ob->ents[ob->heap[i]];
                if (e->next_ms > now) {
                    e->next_ms = now;
                    made++;
                }
            }
            for (int32_t i = ob->nheap / 2 - 1; i >= 0; i--)
                sift_down(ob, i);
        } else if (valid_id(name)) {
            int32_t idx = find(ob, name);
            if (idx >= 0 && !ob->ents[idx].inflight && ob->ents[idx].next_ms > now) {
                heap_update(ob, idx, now);
                made++;
            }
        } else {
            continue; /* "." and "..", or not ours */
        }
        /* A marker that reappears after a power loss only retries again: no fsync. */
        unlinkat(ob->retry_fd, name, 0);
    }
    closedir(d);
    return rc < 0 ? rc : made;
}

/* ---- CLI: list and retry (no lock; another process may be writing) ---------------- */

struct list_key {
    uint8_t state;
    int64_t key;
    char name[NAME_MAX_LEN];
};

static int cmp_list_key(const void *a, const void *b)
{
    const struct list_key *x = a, *y = b;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sort key from the header only (no checksum: that is for the second pass). */
static int64_t header_key(int dfd, const char *name, enum rw_outbox_state st)
{
    char buf[HDR_MAX];
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return INT64_MIN;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    struct rw_outbox_rec r;
    const char *why;
    if (n <= 0 || rec_decode(buf, (size_t)n, 0, 0, &r, &why) < 0)
        return INT64_MIN;
    if (st == RW_OUTBOX_PENDING)
        return r.next_ms;
    if (st == RW_OUTBOX_DEAD)
        return -r.dead_ms; /* newest first */
    return r.enqueued_ms;
}

static int open_cli(const char *dir, int fds[4], char *err, size_t errlen)
{
    static const char *const subs[] = {"msg", "incoming", "dead", "retry"};
    for (int i = 0; i < 4; i++)
        fds[i] = -1;
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return seterr(err, errlen, neg_errno(), "outbox: cannot open %s: %s", dir, strerror(errno));
    for (int i = 0; i < 4; i++) {
        fds[i] = open_subdir(root, subs[i], 0);
        if (fds[i] < 0) {
            int rc = fds[i];
            close(root);
            for (int j = 0; j < i; j++)
                close(fds[j]);
            fds[i] = -1;
            return seterr(err, errlen, rc,
                          "outbox: %s/%s: %s (not an outbox directory, or never opened by the "
                          "daemon)",
                          dir, subs[i], strerror(-rc));
        }
    }
    close(root);
    return 0;
}

static void close_cli(int fds[4])
{
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int rw_outbox_list(const char *dir, int (*fn)(const struct rw_outbox_entry *e, void *arg),
                   void *arg, char *err, size_t errlen)
{
    int fds[4];
    int rc = open_cli(dir, fds, err, errlen);
    if (rc < 0)
        return rc;
    static const enum rw_outbox_state states[3] = {RW_OUTBOX_PENDING, RW_OUTBOX_QUEUED,
                                                   RW_OUTBOX_DEAD};
    struct list_key *keys = NULL;
    size_t n = 0, cap = 0;
    for (int s = 0; s < 3 && rc == 0; s++) {
        DIR *d = open_listing(fds[s]);
        if (!d) {
            rc = seterr(err, errlen, neg_errno(), "outbox: cannot list %s: %s", dir,
                        strerror(errno));
            break;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!ends_with(de->d_name, ".msg") || strlen(de->d_name) >= NAME_MAX_LEN)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 128;
                struct list_key *nk = realloc(keys, ncap * sizeof *nk);
                if (!nk) {
                    rc = seterr(err, errlen, -ENOMEM, "outbox: out of memory");
                    break;
                }
                keys = nk;
                cap = ncap;
            }
            keys[n].state = (uint8_t)states[s];
            keys[n].key = header_key(fds[s], de->d_name, states[s]);
            memcpy(keys[n].name, de->d_name, strlen(de->d_name) + 1); /* length checked above */
            n++;
        }
        closedir(d);
    }
    int all = rc == 0 && faccessat(fds[3], ALL_MARKER, F_OK, 0) == 0;
    int listed = 0;
    if (rc == 0 && n)
        qsort(keys, n, sizeof *keys, cmp_list_key);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct rw_outbox_entry e;
        const char *why;
        char id[RW_OUTBOX_ID_MAX];
        int dfd = fds[keys[i].state == RW_OUTBOX_PENDING  ? 0
                      : keys[i].state == RW_OUTBOX_QUEUED ? 1
                                                          : 2];
        memset(&e, 0, sizeof e);
        e.state = (enum rw_outbox_state)keys[i].state;
        int lr = load_rec(dfd, keys[i].name, NULL, CLI_MAX_FILE, 1, &e.rec, NULL, &why);
        if (lr == -ENOENT)
            continue; /* sent or moved meanwhile */
        if (lr < 0) {
            memset(&e.rec, 0, sizeof e.rec);
            e.state = RW_OUTBOX_CORRUPT;
            snprintf(e.rec.id, sizeof e.rec.id, "%s",
                     stem_of(keys[i].name, id) ? id : "(misnamed)");
            snprintf(e.rec.last_error, sizeof e.rec.last_error, "unreadable file %s: %s",
                     keys[i].name, lr == -EBADMSG ? why : strerror(-lr));
        } else if (e.state == RW_OUTBOX_PENDING) {
            e.retry_requested = all || faccessat(fds[3], e.rec.id, F_OK, 0) == 0;
        }
        listed++;
        int stop = fn(&e, arg);
        rw_outbox_rec_clear(&e.rec);
        if (stop)
            break;
    }
    free(keys);
    close_cli(fds);
    return rc < 0 ? rc : listed;
}

static int mark_retry(int retry_fd, const char *name)
{
    int fd = openat(retry_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return neg_errno();
    close(fd);
    return 0;
}

/* dead/<name> -> incoming/<name>; 1 moved, 0 gone meanwhile, <0 error. */
static int requeue_dead(int fds[4], const char *name)
{
    if (renameat(fds[2], name, fds[1], name) < 0)
        return errno == ENOENT ? 0 : neg_errno();
    int rc = fsync_dir(fds[1]);
    if (rc == 0)
        rc = fsync_dir(fds[2]);
    return rc < 0 ? rc : 1;
}

int rw_outbox_retry(const char *dir, const char *id, char *err, size_t errlen)
{
    int fds[4];
    int rc = open_cli(dir, fds, err, errlen);
    if (rc < 0)
        return rc;
    int count = 0;
    if (id) {
        char name[NAME_MAX_LEN];
        if (!valid_id(id)) {
            close_cli(fds);
            return seterr(err, errlen, -EINVAL, "outbox: \"%.80s\" is not a notification id", id);
        }
        rec_name(name, id, ".msg");
        rc = requeue_dead(fds, name);
        if (rc == 0 && faccessat(fds[0], name, F_OK, 0) == 0) {
            rc = mark_retry(fds[3], id);
            rc = rc < 0 ? rc : 1;
        }
        if (rc == 0 && faccessat(fds[1], name, F_OK, 0) == 0)
            rc = 1; /* already queued for the daemon */
        close_cli(fds);
        if (rc == 0)
            return seterr(err, errlen, -ENOENT, "outbox: no notification %s in %s", id, dir);
        if (rc < 0)
            return seterr(err, errlen, rc, "outbox: cannot retry %s: %s", id, strerror(-rc));
        return 1;
    }
    DIR *d = open_listing(fds[2]);
    if (!d) {
        rc = seterr(err, errlen, neg_errno(), "outbox: cannot list %s/dead: %s", dir,
                    strerror(errno));
        goto out;
    }
    struct dirent *de;
    char sid[RW_OUTBOX_ID_MAX];
    while ((de = readdir(d))) {
        if (!stem_of(de->d_name, sid))
            continue;
        int r = requeue_dead(fds, de->d_name);
        if (r < 0) {
            rc = seterr(err, errlen, r, "outbox: cannot requeue dead/%s: %s", de->d_name,
                        strerror(-r));
            break;
        }
        count += r;
    }
    closedir(d);
    if (rc < 0)
        goto out;
    d = open_listing(fds[0]);
    if (!d) {
        rc = seterr(err, errlen, neg_errno(), "outbox: cannot list %s/msg: %s", dir,
                    strerror(errno));
        goto out;
    }
    while ((de = readdir(d)))
        if (stem_of(de->d_name, sid))
            count++;
    closedir(d);
    if ((rc = mark_retry(fds[3], ALL_MARKER)) < 0)
        seterr(err, errlen, rc, "outbox: cannot write %s/retry/%s: %s", dir, ALL_MARKER,
               strerror(-rc));
out:
    close_cli(fds);
    return rc < 0 ? rc : count;
}
