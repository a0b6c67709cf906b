/* Snapshot container, codec and file (see snapshot.h). The engine decides
 * what goes in (rw_engine_save / rw_engine_restore in engine.c); this file
 * knows bytes, checksums and the disk. */
#include "engine/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/engine.h"
#include "engine/log.h"

#define BOM 0x01020304u
#define MAX_FILE_BYTES ((size_t)4 << 30) /* far above any keyspace a config allows */

/* ---- writing -------------------------------------------------------- */

void rw_snapbuf_free(struct rw_snapbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rw_snap_put(struct rw_snapbuf *b, const void *p, size_t n)
{
    if (b->err || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        unsigned char *q = realloc(b->p, nc);
        if (!q) {
            b->err = -ENOMEM;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void rw_snap_u8(struct rw_snapbuf *b, uint8_t v) { rw_snap_put(b, &v, 1); }
void rw_snap_u16(struct rw_snapbuf *b, uint16_t v) { rw_snap_put(b, &v, 2); }
void rw_snap_u32(struct rw_snapbuf *b, uint32_t v) { rw_snap_put(b, &v, 4); }
void rw_snap_u64(struct rw_snapbuf *b, uint64_t v) { rw_snap_put(b, &v, 8); }
void rw_snap_i64(struct rw_snapbuf *b, int64_t v) { rw_snap_put(b, &v, 8); }
void rw_snap_f64(struct rw_snapbuf *b, double v) { rw_snap_put(b, &v, 8); }

void rw_snap_str(struct rw_snapbuf *b, const char *s)
{
    size_t n = strlen(s);
    rw_snap_u32(b, (uint32_t)n);
    rw_snap_put(b, s, n);
}

size_t rw_snap_begin(struct rw_snapbuf *b, uint32_t tag)
{
    rw_snap_u32(b, tag);
    size_t at = b->len;
    rw_snap_u64(b, 0);
    return at;
}

void rw_snap_end(struct rw_snapbuf *b, size_t at)
{
    if (b->err)
        return;
    uint64_t n = b->len - at - 8;
    memcpy(b->p + at, &n, 8);
}

void rw_snap_reserve_header(struct rw_snapbuf *b)
{
    unsigned char zero[RW_SNAP_HEADER] = {0};
    rw_snap_put(b, zero, sizeof zero);
}

uint32_t rw_snap_crc(const void *p, size_t n)
{
    /* zlib's crc32 takes uInt lengths: feed it in chunks. */
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *q = p;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, q, k);
        q += k;
        n -= k;
    }
    return (uint32_t)c;
}

void rw_snap_seal(struct rw_snapbuf *b, const struct rw_snap_info *in)
{
    if (b->err || b->len < RW_SNAP_HEADER)
        return;
    unsigned char *h = b->p;
    uint32_t version = RW_SNAP_VERSION, hlen = RW_SNAP_HEADER, bom = BOM, reserved = 0;
    uint64_t plen = b->len - RW_SNAP_HEADER;
    uint32_t pcrc = rw_snap_crc(b->p + RW_SNAP_HEADER, plen);
    memcpy(h, RW_SNAP_MAGIC, 8);
    memcpy(h + 8, &version, 4);
    memcpy(h + 12, &hlen, 4);
    memcpy(h + 16, &plen, 8);
    memcpy(h + 24, &pcrc, 4);
    memcpy(h + 28, &bom, 4);
    memcpy(h + 32, &in->config_id, 8);
    memcpy(h + 40, &in->watermark, 8);
    memcpy(h + 48, &in->max_ts, 8);
    memcpy(h + 56, &in->saved_wall_ms, 8);
    memcpy(h + 64, &reserved, 4);
    uint32_t hcrc = rw_snap_crc(h, 68);
    memcpy(h + 68, &hcrc, 4);
}

/* ---- reading -------------------------------------------------------- */

int rw_snap_fail(struct rw_snapreader *r, const char *fmt, ...)
{
    if (!r->bad && r->err && r->errlen) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(r->err, r->errlen, "%s at byte %zu: %s", r->what ? r->what : "snapshot",
                 r->base + r->off, msg);
    }
    r->bad = 1;
    return -EINVAL;
}

const void *rw_snap_take(struct rw_snapreader *r, size_t n)
{
    if (r->bad)
        return NULL;
    if (n > r->len - r->off) {
        rw_snap_fail(r, "truncated (%zu bytes needed, %zu left)", n, r->len - r->off);
        return NULL;
    }
    const void *p = r->p + r->off;
    r->off += n;
    return p;
}

int rw_snap_get(struct rw_snapreader *r, void *out, size_t n)
{
    const void *p = rw_snap_take(r, n);
    if (!p) {
        memset(out, 0, n);
        return -EINVAL;
    }
    memcpy(out, p, n);
    return 0;
}

uint8_t rw_snap_get_u8(struct rw_snapreader *r)
{
    uint8_t v;
    rw_snap_get(r, &v, 1);
    return v;
}

uint16_t rw_snap_get_u16(struct rw_snapreader *r)
{
    uint16_t v;
    rw_snap_get(r, &v, 2);
    return v;
}

uint32_t rw_snap_get_u32(struct rw_snapreader *r)
{
    uint32_t v;
    rw_snap_get(r, &v, 4);
    return v;
}

uint64_t rw_snap_get_u64(struct rw_snapreader *r)
{
    uint64_t v;
    rw_snap_get(r, &v, 8);
    return v;
}

int64_t rw_snap_get_i64(struct rw_snapreader *r)
{
    int64_t v;
    rw_snap_get(r, &v, 8);
    return v;
}

double rw_snap_get_f64(struct rw_snapreader *r)
{
    double v;
    rw_snap_get(r, &v, 8);
    return v;
}

int rw_snap_get_str(struct rw_snapreader *r, char *out, size_t max)
{
    uint32_t n = rw_snap_get_u32(r);
    out[0] = '\0';
    if (r->bad)
        return -EINVAL;
    if (n > max)
        return rw_snap_fail(r, "string of %u bytes (at most %zu)", n, max);
    const char *p = rw_snap_take(r, n);
    if (!p)
        return -EINVAL;
    if (memchr(p, '\0', n))
        return rw_snap_fail(r, "NUL inside a string");
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int rw_snap_next(struct rw_snapreader *r, uint32_t *tag, struct rw_snapreader *body)
{
    *tag = 0;
    if (r->bad)
        return -EINVAL;
    if (r->off == r->len)
        return 0;
    *tag = rw_snap_get_u32(r);
    uint64_t n = rw_snap_get_u64(r);
    if (r->bad)
        return -EINVAL;
    if (n > r->len - r->off)
        return rw_snap_fail(r, "section of %llu bytes, %zu left", (unsigned long long)n,
                            r->len - r->off);
    *body = *r;
    body->p = r->p + r->off;
    body->base = r->base + r->off;
    body->len = (size_t)n;
    body->off = 0;
    r->off += (size_t)n;
    return 1;
}

int rw_snap_open(const void *buf, size_t len, struct rw_snap_info *info,
                 struct rw_snapreader *payload, char *err, size_t errlen)
{
    const unsigned char *h = buf;
    memset(info, 0, sizeof *info);
    if (len < 12 || memcmp(h, RW_SNAP_MAGIC, 8) != 0) {
        snprintf(err, errlen, "not a rumwatch snapshot (%zu bytes, no magic)", len);
        return -EINVAL;
    }
    uint32_t version, hlen, pcrc, bom, hcrc;
    memcpy(&version, h + 8, 4);
    info->version = version;
    if (version != RW_SNAP_VERSION) {
        snprintf(err, errlen, "snapshot format version %u, this build reads version %d", version,
                 RW_SNAP_VERSION);
        return -EINVAL;
    }
    if (len < RW_SNAP_HEADER) {
        snprintf(err, errlen, "truncated header (%zu of %d bytes)", len, RW_SNAP_HEADER);
        return -EINVAL;
    }
    memcpy(&hlen, h + 12, 4);
    memcpy(&bom, h + 28, 4);
    memcpy(&hcrc, h + 68, 4);
    if (hcrc != rw_snap_crc(h, 68)) {
        snprintf(err, errlen, "header checksum mismatch");
        return -EINVAL;
    }
    if (bom != BOM || hlen != RW_SNAP_HEADER) {
        snprintf(err, errlen, "written on another architecture (byte order or header size)");
        return -EINVAL;
    }
    memcpy(&info->payload_len, h + 16, 8);
    memcpy(&pcrc, h + 24, 4);
    memcpy(&info->config_id, h + 32, 8);
    memcpy(&info->watermark, h + 40, 8);
    memcpy(&info->max_ts, h + 48, 8);
    memcpy(&info->saved_wall_ms, h + 56, 8);
    if (info->payload_len != len - RW_SNAP_HEADER) {
        snprintf(err, errlen, "%s: payload of %llu bytes announced, %zu present",
                 info->payload_len > len - RW_SNAP_HEADER ? "truncated" : "trailing bytes",
                 (unsigned long long)info->payload_len, len - RW_SNAP_HEADER);
        return -EINVAL;
    }
    if (pcrc != rw_snap_crc(h + RW_SNAP_HEADER, len - RW_SNAP_HEADER)) {
        snprintf(err, errlen, "payload checksum mismatch (corrupt file)");
        return -EINVAL;
    }
    memset(payload, 0, sizeof *payload);
    payload->p = h + RW_SNAP_HEADER;
    payload->len = len - RW_SNAP_HEADER;
    payload->base = RW_SNAP_HEADER;
    payload->err = err;
    payload->errlen = errlen;
    return 0;
}

/* ---- files ---------------------------------------------------------- */

static int path_in(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rw_snapshot_write_file(const char *dir, const void *buf, size_t len, char *err, size_t errlen)
{
    char tmp[1100], dst[1100], name[64];
    snprintf(name, sizeof name, ".%s.tmp.%ld", RW_SNAP_FILE, (long)getpid());
    if (path_in(tmp, sizeof tmp, dir, name) || path_in(dst, sizeof dst, dir, RW_SNAP_FILE)) {
        snprintf(err, errlen, "state dir path too long");
        return -ENAMETOOLONG;
    }
    int rc = 0;
    const char *step = "create";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    step = "write";
    if ((rc = write_all(fd, buf, len)))
        goto fail_fd;
    step = "fsync";
    if (fsync(fd) != 0) {
        rc = -errno;
        goto fail_fd;
    }
    step = "close";
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto fail_unlink;
    }
    fd = -1;
    step = "rename";
    if (rename(tmp, dst) != 0) {
        rc = -errno;
        goto fail_unlink;
    }
    /* The rename is durable only once the directory is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = -errno;
        close(dfd);
    } else {
        rc = -errno;
    }
    if (rc) {
        snprintf(err, errlen, "%s: directory fsync: %s", dir, strerror(-rc));
        return rc;
    }
    return 0;
fail_fd:
    close(fd);
fail_unlink:
    unlink(tmp);
fail:
    snprintf(err, errlen, "%s: %s: %s", tmp, step, strerror(-rc));
    return rc;
}

int rw_snapshot_read_file(const char *dir, size_t max_bytes, void **out, size_t *len, char *err,
                          size_t errlen)
{
    char path[1100];
    *out = NULL;
    *len = 0;
    if (path_in(path, sizeof path, dir, RW_SNAP_FILE)) {
        snprintf(err, errlen, "state dir path too long");
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_bytes) {
        snprintf(err, errlen, "%s: not a regular file of at most %zu bytes", path, max_bytes);
        close(fd);
        return -EFBIG;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory reading %s (%zu bytes)", path, n);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int rc = r < 0 ? -errno : -EIO;
            snprintf(err, errlen, "%s: read: %s", path, r < 0 ? strerror(errno) : "short file");
            free(buf);
            close(fd);
            return rc;
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

int rw_snapshot_set_aside(const char *dir, int64_t wall_ms, char *moved, size_t movedlen)
{
    char src[1100], name[64];
    snprintf(name, sizeof name, "%s.bad-%lld", RW_SNAP_FILE, (long long)(wall_ms / 1000));
    if (path_in(src, sizeof src, dir, RW_SNAP_FILE) || path_in(moved, movedlen, dir, name))
        return -ENAMETOOLONG;
    if (rename(src, moved) != 0)
        return -errno;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- the engine's snapshot file ------------------------------------ */

long long rw_snapshot_save_engine(const struct rw_engine *e, const char *dir, char *err,
                                  size_t errlen)
{
    struct rw_snapbuf b = {0};
    int rc = rw_engine_save(e, &b, err, errlen);
    if (rc == 0)
        rc = rw_snapshot_write_file(dir, b.p, b.len, err, errlen);
    long long n = rc ? rc : (long long)b.len;
    rw_snapbuf_free(&b);
    return n;
}

/* Temporary files of writes that a crash interrupted (the complete old
 * snapshot is still in place): removed so crashes do not pile them up. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char prefix[64], path[1100];
    int pl = snprintf(prefix, sizeof prefix, ".%s.tmp.", RW_SNAP_FILE);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, (size_t)pl) == 0 &&
            !path_in(path, sizeof path, dir, de->d_name) && unlink(path) == 0)
            rw_log(RW_LOG_INFO, "snapshot", "msg=\"removed an unfinished snapshot\" file=\"%s\"",
                   path);
    closedir(d);
}

int rw_snapshot_load_engine(struct rw_engine *e, const char *dir, struct rw_restore_report *rep,
                            struct rw_snap_info *info)
{
    remove_stale_temps(dir);
    char err[512] = "";
    void *buf = NULL;
    size_t len = 0;
    memset(rep, 0, sizeof *rep);
    memset(info, 0, sizeof *info);
    int rc = rw_snapshot_read_file(dir, MAX_FILE_BYTES, &buf, &len, err, sizeof err);
    if (rc == -ENOENT) {
        rw_log(RW_LOG_INFO, "snapshot", "msg=\"no snapshot: starting fresh\" dir=\"%s\"", dir);
        return 0;
    }
    if (rc == 0) {
        if ((rc = rw_snap_open(buf, len, info, &(struct rw_snapreader){0}, err, sizeof err)) == 0)
            rc = rw_engine_restore(e, buf, len, rep, err, sizeof err);
    }
    free(buf);
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0)
        return 1;
    char moved[1100] = "";
    int mv = rw_snapshot_set_aside(dir, rw_wall_ms(), moved, sizeof moved);
    rw_log(RW_LOG_ERROR, "snapshot",
           "msg=\"snapshot refused: starting fresh\" reason=\"%s\" moved_to=\"%s\"", err,
           mv ? strerror(-mv) : moved);
    memset(info, 0, sizeof *info);
    memset(rep, 0, sizeof *rep);
    return 0;
}
