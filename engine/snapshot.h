/* Engine state snapshots: the container format, its codec and its file
 * (docs/operations.md "State and restarts").
 *
 * A snapshot is a header and a payload of tagged sections:
 *
 *   header (RW_SNAP_HEADER bytes, little-endian hosts' native order):
 *     magic "RWSNAP\r\n" | u32 version | u32 header length | u64 payload length |
 *     u32 CRC-32 of the payload | u32 byte-order mark 0x01020304 |
 *     u64 config identity | i64 watermark | i64 newest event time |
 *     i64 wall clock when saved (ms) | u32 reserved | u32 CRC-32 of the header above
 *   payload: sections [u32 tag][u64 length][bytes], written by the engine
 *     (rw_engine_save in engine/engine.c, which owns the series layout).
 *
 * Every length and count is checked while reading: a truncated, corrupt or
 * foreign file is refused with a message, never half-read into memory
 * (rw_engine_restore validates the whole payload before it changes the engine).
 * The format is native (byte order, float layout): a snapshot moves between
 * builds of the same version on the same architecture, not across them.
 *
 * Ownership: a rw_snapbuf owns its bytes (rw_snapbuf_free); a rw_snapreader
 * borrows the caller's buffer for its life. The file functions own nothing.
 */
#ifndef RW_SNAPSHOT_H
#define RW_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define RW_SNAP_MAGIC "RWSNAP\r\n" /* 8 bytes; the CR/LF catch text-mode mangling */
#define RW_SNAP_VERSION 1
#define RW_SNAP_HEADER 72
#define RW_SNAP_FILE "engine.snap"

/* Section tags (four characters read as a little-endian u32). */
#define RW_SNAP_TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* ---- writing -------------------------------------------------------- */

/* A growable byte buffer; err is set (and stays) once an allocation failed. */
struct rw_snapbuf {
    unsigned char *p;
    size_t len, cap;
    int err;
};

void rw_snapbuf_free(struct rw_snapbuf *b);
void rw_snap_put(struct rw_snapbuf *b, const void *p, size_t n);
void rw_snap_u8(struct rw_snapbuf *b, uint8_t v);
void rw_snap_u16(struct rw_snapbuf *b, uint16_t v);
void rw_snap_u32(struct rw_snapbuf *b, uint32_t v);
void rw_snap_u64(struct rw_snapbuf *b, uint64_t v);
void rw_snap_i64(struct rw_snapbuf *b, int64_t v);
void rw_snap_f64(struct rw_snapbuf *b, double v);
void rw_snap_str(struct rw_snapbuf *b, const char *s); /* u32 length + bytes */
/* Start a section: returns where its length goes (rw_snap_end patches it). */
size_t rw_snap_begin(struct rw_snapbuf *b, uint32_t tag);
void rw_snap_end(struct rw_snapbuf *b, size_t at);

/* What the header says besides lengths and checksums. */
struct rw_snap_info {
    uint32_t version;
    uint64_t config_id; /* the engine's identity hash (window and rules) */
    int64_t watermark, max_ts;
    int64_t saved_wall_ms;
    uint64_t payload_len;
};

/* Reserve the header at the start of an empty buffer. */
void rw_snap_reserve_header(struct rw_snapbuf *b);
/* Fill the header (lengths, CRCs) once the payload is written. */
void rw_snap_seal(struct rw_snapbuf *b, const struct rw_snap_info *info);

/* ---- reading -------------------------------------------------------- */

/* A bounds-checked cursor. The first failure sets bad and the message
 * (naming `what` and the offset); later reads return zeros. */
struct rw_snapreader {
    const unsigned char *p;
    size_t len, off;
    size_t base;      /* offset of p in the whole file, for messages */
    int bad;
    const char *what; /* the section or record being read */
    char *err;
    size_t errlen;
};

int rw_snap_get(struct rw_snapreader *r, void *out, size_t n);
/* Borrow n bytes in place (NULL when short). */
const void *rw_snap_take(struct rw_snapreader *r, size_t n);
uint8_t rw_snap_get_u8(struct rw_snapreader *r);
uint16_t rw_snap_get_u16(struct rw_snapreader *r);
uint32_t rw_snap_get_u32(struct rw_snapreader *r);
uint64_t rw_snap_get_u64(struct rw_snapreader *r);
int64_t rw_snap_get_i64(struct rw_snapreader *r);
double rw_snap_get_f64(struct rw_snapreader *r);
/* A string of at most max bytes into out[max + 1] (NUL-terminated). */
int rw_snap_get_str(struct rw_snapreader *r, char *out, size_t max);
/* Mark the reader bad with a message (printf-style). Returns -EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int rw_snap_fail(struct rw_snapreader *r, const char *fmt, ...);
/* The next section: its tag and a reader over its body. 0 at the end of
 * the payload (*tag = 0), 1 for a section, -EINVAL when malformed. */
int rw_snap_next(struct rw_snapreader *r, uint32_t *tag, struct rw_snapreader *body);

/* Check magic, version, header and payload checksums and lengths, and set
 * `payload` over the payload. 0 or -EINVAL with a message in err. */
int rw_snap_open(const void *buf, size_t len, struct rw_snap_info *info,
                 struct rw_snapreader *payload, char *err, size_t errlen);

/* CRC-32 (zlib's, ISO-HDLC polynomial) of a byte range. */
uint32_t rw_snap_crc(const void *p, size_t n);

/* ---- files ---------------------------------------------------------- */

/* Write buf atomically to dir/engine.snap: a temporary file in dir, fsync,
 * rename over the old one, fsync the directory. 0 or a negative errno
 * with a message. A crash at any point leaves the old file or the new one. */
int rw_snapshot_write_file(const char *dir, const void *buf, size_t len, char *err, size_t errlen);
/* Read dir/engine.snap (at most max_bytes) into a new buffer (the caller
 * frees *out). -ENOENT when there is none; other negative errno with err. */
int rw_snapshot_read_file(const char *dir, size_t max_bytes, void **out, size_t *len, char *err,
                          size_t errlen);
/* Move dir/engine.snap aside to dir/engine.snap.bad-<epoch s> (the name in
 * moved). 0 or a negative errno. */
int rw_snapshot_set_aside(const char *dir, int64_t wall_ms, char *moved, size_t movedlen);

/* ---- the engine's snapshot file ------------------------------------ */

struct rw_engine;
struct rw_restore_report;

/* rw_engine_save, then rw_snapshot_write_file. Returns the bytes written
 * or a negative errno with a message. */
long long rw_snapshot_save_engine(const struct rw_engine *e, const char *dir, char *err,
                                  size_t errlen);
/* Restore dir/engine.snap into a freshly created engine. 1: restored (rep
 * and info filled); 0: no file, or a bad one, which is moved aside with one
 * log line (the engine starts fresh); -ENOMEM: out of memory half-way (the
 * engine must be destroyed). */
int rw_snapshot_load_engine(struct rw_engine *e, const char *dir, struct rw_restore_report *rep,
                            struct rw_snap_info *info);

#endif
