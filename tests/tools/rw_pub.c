/* rw_pub — a real ZeroMQ publisher of RUM events for tests and demos.
 *
 * Reads NDJSON (plain or gzip, '-' = stdin), and publishes it on a PUB socket
 * as [topic][body] messages, topic "rum.<type>.sNN." taken from the first
 * event of each message (NN = rw_page_shard of the page normalized with the
 * engine's own rw_pagenorm, default id mode "digits"). The body holds up to
 * --batch events separated by '\n' (no trailing newline).
 *
 * Pacing: as fast as possible, at --rate events/s, or --retime: an event is
 * due at t0 + (ts - ts_first) / speed on the monotonic clock, and its "ts" is
 * rewritten to wall_t0 + (ts - ts_first) / speed. For events in ts order that
 * is the wall clock at sending; an event that was late in the file (ts below
 * the largest ts seen) is sent at once and keeps its lateness, scaled by
 * 1/speed, so the engine's lateness handling sees what a live feed would send.
 *
 * Lines are never judged: a line without a usable "type"/"page" is still sent
 * (topic "rum.unknown.s05.", the shard of an empty page) so malformed-input
 * tests can go through this tool too.
 *
 * CURVE (engine/curve.h): with --curve-server KEY the PUB socket is a CURVE
 * client of a server with that public key, using the key pair given by
 * --curve-public / --curve-secret, or a fresh one (printed to stderr) when
 * they are left out: a valid CURVE client the server does not know.
 *
 * Ownership: everything is owned by main(); one thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zmq.h>

#include "engine/pagenorm.h"

#define HOLD_NS 50000000LL /* send a partial batch if the next event is further away */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ------------------------------------------------------------------------ */
/* Clocks                                                                    */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_until_ns(int64_t when)
{
    struct timespec ts = {.tv_sec = (time_t)(when / 1000000000LL),
                          .tv_nsec = (long)(when % 1000000000LL)};
    while (!stop_flag && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void sleep_ms(int ms)
{
    if (ms > 0)
        sleep_until_ns(mono_ns() + (int64_t)ms * 1000000LL);
}

/* ------------------------------------------------------------------------ */
/* Growable byte buffer                                                      */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

static int buf_append(struct buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n + 1) < 0)
        return -ENOMEM;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* One line (without '\n' / "\r\n") into b; 1 = got a line, 0 = EOF, <0 error. */
static int read_line(gzFile in, struct buf *b)
{
    b->len = 0;
    for (;;) {
        if (buf_reserve(b, 4096) < 0)
            return -ENOMEM;
        if (!gzgets(in, b->p + b->len,
                    (int)(b->cap - b->len > INT32_MAX ? INT32_MAX : b->cap - b->len))) {
            int zerr;
            gzerror(in, &zerr);
            if (zerr != Z_OK) /* Z_BUF_ERROR: truncated gzip */
                return -EIO;
            if (b->len == 0)
                return 0;
            break; /* last line without newline */
        }
        b->len += strlen(b->p + b->len);
        if (b->len > 0 && b->p[b->len - 1] == '\n')
            break;
    }
    while (b->len > 0 && (b->p[b->len - 1] == '\n' || b->p[b->len - 1] == '\r'))
        b->len--;
    b->p[b->len] = '\0';
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Just enough JSON: find the top-level "type", "page" and "ts" members      */

struct span {
    size_t off, len; /* len 0 and off 0: absent */
    int present;
};

struct fields {
    struct span type, page, ts; /* type/page: string contents without quotes */
    int page_escaped;
};

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] == '"'; returns the index after the closing quote, or n if unterminated. */
static size_t skip_string(const char *s, size_t n, size_t i, int *escaped)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            if (escaped)
                *escaped = 1;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return n;
}

static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, n, i, NULL);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, n, i, NULL);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\r' && s[i] != '\n')
        i++;
    return i;
}

/* 0 if s is a well-formed-looking object (as far as we look), -1 otherwise.
 * Whatever members were found before a problem stay filled in. */
static int scan_fields(const char *s, size_t n, struct fields *f)
{
    memset(f, 0, sizeof *f);
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{')
        return -1;
    i = skip_ws(s, n, i + 1);
    if (i < n && s[i] == '}')
        return 0;
    while (i < n) {
        if (s[i] != '"')
            return -1;
        size_t kstart = i + 1;
        int kesc = 0;
        size_t kend = skip_string(s, n, i, &kesc);
        if (kend >= n)
            return -1;
        size_t klen = kend - 1 - kstart;
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':')
            return -1;
        i = skip_ws(s, n, i + 1);
        size_t vstart = i;
        int vesc = 0;
        size_t vend = s[i] == '"' ? skip_string(s, n, i, &vesc) : skip_value(s, n, i);
        if (vend > n || vend == vstart)
            return -1;
        const char *key = s + kstart;
        int is_str = s[vstart] == '"' && vend - vstart >= 2;
        if (!kesc && klen == 4 && memcmp(key, "type", 4) == 0 && is_str) {
            f->type = (struct span){vstart + 1, vend - vstart - 2, 1};
        } else if (!kesc && klen == 4 && memcmp(key, "page", 4) == 0 && is_str) {
            f->page = (struct span){vstart + 1, vend - vstart - 2, 1};
            f->page_escaped = vesc;
        } else if (!kesc && klen == 2 && memcmp(key, "ts", 2) == 0 && !is_str) {
            f->ts = (struct span){vstart, vend - vstart, 1};
        }
        i = skip_ws(s, n, vend);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, n, i + 1);
            continue;
        }
        if (i < n && s[i] == '}')
            return 0;
        return -1;
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *out)
{
    if (i + 4 > n)
        return -1;
    unsigned v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hexval(s[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Decodes a JSON string body into out (UTF-8); returns the length, or -1 if
 * it does not fit. Invalid escapes are dropped. */
static long unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = (unsigned char)s[i];
        int raw = 1; /* copy the byte as is (plain text, already UTF-8) */
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[++i];
            cp = (unsigned char)c; /* \" \\ \/ and unknown escapes */
            switch (c) {
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(s, n, i + 1, &cp) < 0)
                    continue;
                i += 4;
                raw = 0;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (i + 2 < n && s[i + 1] == '\\' && s[i + 2] == 'u' &&
                        hex4(s, n, i + 3, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    } else {
                        continue;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    continue;
                }
                break;
            default: break;
            }
        }
        unsigned char enc[4];
        size_t k;
        if (raw || cp < 0x80) {
            enc[0] = (unsigned char)cp;
            k = 1;
        } else if (cp < 0x800) {
            enc[0] = (unsigned char)(0xC0 | (cp >> 6));
            enc[1] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 2;
        } else if (cp < 0x10000) {
            enc[0] = (unsigned char)(0xE0 | (cp >> 12));
            enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            enc[2] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 3;
        } else {
            enc[0] = (unsigned char)(0xF0 | (cp >> 18));
            enc[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            enc[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            enc[3] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 4;
        }
        if (o + k >= cap)
            return -1;
        memcpy(out + o, enc, k);
        o += k;
    }
    out[o] = '\0';
    return (long)o;
}

/* ------------------------------------------------------------------------ */
/* Topics                                                                    */

static int type_ok(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* topic for one event; returns its length. */
static int make_topic(struct rw_pagenorm *pn, const char *line, const struct fields *f, char *topic,
                      size_t cap)
{
    const char *type = "unknown";
    int tlen = 7;
    if (f->type.present && type_ok(line + f->type.off, f->type.len)) {
        type = line + f->type.off;
        tlen = (int)f->type.len;
    }
    unsigned shard = rw_page_shard("", 0);
    if (f->page.present) {
        char raw[4 * RW_PAGE_MAX + 64];
        const char *page = line + f->page.off;
        long plen = (long)f->page.len;
        if (f->page_escaped) {
            plen = unescape(page, f->page.len, raw, sizeof raw);
            page = raw;
        }
        char norm[RW_PAGE_MAX + 1];
        int n = plen >= 0 ? rw_pagenorm_apply(pn, page, (size_t)plen, norm, sizeof norm) : -1;
        if (n >= 0)
            shard = rw_page_shard(norm, (size_t)n);
    }
    return snprintf(topic, cap, "rum.%.*s.s%02u.", tlen, type, shard);
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                                */

struct opts {
    const char *endpoint, *file;
    const char *curve_server, *curve_public, *curve_secret; /* Z85; NULL = off / generate */
    int bind, batch, single_frame, retime, hwm, wait_ms, linger_ms, nodrop;
    double rate, speed;
    size_t max_bytes;
    enum rw_id_mode ids;
};

struct stats {
    uint64_t lines, events, messages, bytes, unparsed, no_ts, blank, retries;
};

struct pub {
    const struct opts *o;
    void *sock;
    struct stats st;
    struct buf body;
    char topic[64];
    int topic_len, nbatch;
};

static int send_frame(struct pub *p, const void *data, size_t len, int flags)
{
    for (;;) {
        if (zmq_send(p->sock, data, len, flags) >= 0)
            return 0;
        int e = zmq_errno();
        if (e == EINTR && !stop_flag)
            continue;
        if (e == EAGAIN && !stop_flag) { /* only with --nodrop: HWM reached, wait */
            p->st.retries++;
            sleep_ms(1);
            continue;
        }
        fprintf(stderr, "rw_pub: send failed: %s\n", zmq_strerror(e));
        return -1;
    }
}

static int flush_batch(struct pub *p)
{
    if (p->nbatch == 0)
        return 0;
    if (!p->o->single_frame && send_frame(p, p->topic, (size_t)p->topic_len, ZMQ_SNDMORE) < 0)
        return -1;
    if (send_frame(p, p->body.p, p->body.len, 0) < 0)
        return -1;
    p->st.messages++;
    p->st.events += (uint64_t)p->nbatch;
    p->st.bytes += p->body.len;
    p->body.len = 0;
    p->nbatch = 0;
    return 0;
}

/* Appends one event (already retimed if needed) to the current batch. */
static int add_event(struct pub *p, struct rw_pagenorm *pn, const char *line, size_t len,
                     const struct fields *f)
{
    if (p->nbatch > 0 && p->body.len + 1 + len > p->o->max_bytes && flush_batch(p) < 0)
        return -1;
    if (p->nbatch == 0) {
        p->topic_len = make_topic(pn, line, f, p->topic, sizeof p->topic);
    } else if (buf_append(&p->body, "\n", 1) < 0) {
        return -1;
    }
    if (buf_append(&p->body, line, len) < 0)
        return -1;
    if (++p->nbatch >= p->o->batch)
        return flush_batch(p);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rw_pub --endpoint tcp://127.0.0.1:PORT [--bind | --connect] [--file FILE]\n"
            "              [--batch N] [--single-frame] [--rate EV_PER_S] [--retime [--speed X]]\n"
            "              [--hwm N] [--wait-ms MS] [--linger-ms MS] [--max-bytes B] [--nodrop]\n"
            "              [--ids digits|strict|none]\n"
            "              [--curve-server KEY [--curve-public KEY --curve-secret KEY]]\n"
            "  --endpoint EP     ZeroMQ endpoint (required)\n"
            "  --bind/--connect  bind the PUB socket (default) or connect it\n"
            "  --file FILE       NDJSON input, plain or gzip; '-' = stdin (default)\n"
            "  --batch N         events per message body, '\\n'-separated (default 1)\n"
            "  --max-bytes B     start a new message rather than exceed B body bytes (65536)\n"
            "  --single-frame    send only the body frame (no topic frame)\n"
            "  --rate R          events per second, 0 = as fast as possible (default 0)\n"
            "  --retime          send at the file's pace and rewrite \"ts\" to wall-clock ms\n"
            "  --speed X         with --retime: X times faster (default 1)\n"
            "  --hwm N           ZMQ_SNDHWM (default 1000000)\n"
            "  --nodrop          block (retry) at the HWM instead of dropping (ZMQ_XPUB_NODROP)\n"
            "  --wait-ms MS      wait up to MS (x RW_TIMEOUT_SCALE) for a first subscriber (default 500)\n"
            "  --linger-ms MS    ZMQ_LINGER at close (default 2000)\n"
            "  --ids MODE        page id mode for topic shards, as the engine's pages.ids\n"
            "  --curve-server K  be a CURVE client of the server with public key K (Z85)\n"
            "  --curve-public K  this client's public key (Z85; with --curve-secret)\n"
            "  --curve-secret K  this client's secret key (Z85); both left out: a new pair\n");
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_dbl(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int takes_value(const char *a)
{
    static const char *const names[] = {"--endpoint",  "--file",  "--batch", "--max-bytes",
                                        "--rate",      "--speed", "--hwm",   "--wait-ms",
                                        "--linger-ms", "--ids",   "--curve-server",
                                        "--curve-public", "--curve-secret", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(a, names[i]) == 0)
            return 1;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.bind = 1,
                       .batch = 1,
                       .hwm = 1000000,
                       .wait_ms = 500,
                       .linger_ms = 2000,
                       .speed = 1.0,
                       .file = "-",
                       .max_bytes = 65536,
                       .ids = RW_IDS_DIGITS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--bind") == 0) {
            o->bind = 1, takes = 0;
        } else if (strcmp(a, "--connect") == 0) {
            o->bind = 0, takes = 0;
        } else if (strcmp(a, "--single-frame") == 0) {
            o->single_frame = 1, takes = 0;
        } else if (strcmp(a, "--retime") == 0) {
            o->retime = 1, takes = 0;
        } else if (strcmp(a, "--nodrop") == 0) {
            o->nodrop = 1, takes = 0;
        } else if (!takes_value(a)) {
            fprintf(stderr, "rw_pub: unknown option %s\n", a);
            return -1;
        } else if (!v) {
            bad = 1;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = v;
        } else if (strcmp(a, "--file") == 0) {
            o->file = v;
        } else if (strcmp(a, "--curve-server") == 0) {
            o->curve_server = v, bad = strlen(v) != 40; /* Z85 keys; libzmq checks the rest */
        } else if (strcmp(a, "--curve-public") == 0) {
            o->curve_public = v, bad = strlen(v) != 40;
        } else if (strcmp(a, "--curve-secret") == 0) {
            o->curve_secret = v, bad = strlen(v) != 40;
        } else if (strcmp(a, "--batch") == 0) {
            bad = parse_int(v, 1, 1000000, &o->batch);
        } else if (strcmp(a, "--max-bytes") == 0) {
            int mb;
            bad = parse_int(v, 1, 1 << 30, &mb);
            o->max_bytes = (size_t)mb;
        } else if (strcmp(a, "--rate") == 0) {
            bad = parse_dbl(v, 0.0, 1e9, &o->rate);
        } else if (strcmp(a, "--speed") == 0) {
            bad = parse_dbl(v, 1e-6, 1e9, &o->speed);
        } else if (strcmp(a, "--hwm") == 0) {
            bad = parse_int(v, 0, 1 << 30, &o->hwm);
        } else if (strcmp(a, "--wait-ms") == 0) {
            bad = parse_int(v, 0, 3600000, &o->wait_ms);
        } else if (strcmp(a, "--linger-ms") == 0) {
            bad = parse_int(v, -1, 3600000, &o->linger_ms);
        } else { /* --ids */
            bad = 1;
            for (int k = 0; rw_id_mode_names[k]; k++)
                if (strcmp(v, rw_id_mode_names[k]) == 0) {
                    o->ids = (enum rw_id_mode)k;
                    bad = 0;
                }
        }
        if (bad) {
            fprintf(stderr, "rw_pub: bad or missing value for %s\n", a);
            return -1;
        }
        i += takes;
    }
    if (!o->endpoint) {
        fprintf(stderr, "rw_pub: --endpoint is required\n");
        return -1;
    }
    if (!o->curve_public != !o->curve_secret || (o->curve_public && !o->curve_server)) {
        fprintf(stderr, "rw_pub: --curve-public and --curve-secret go together, with "
                        "--curve-server\n");
        return -1;
    }
    if (o->retime && o->rate > 0) {
        fprintf(stderr, "rw_pub: --rate and --retime are exclusive\n");
        return -1;
    }
    return 0;
}

/* Parses the "ts" span as epoch ms (integer or a number with a fraction). */
static int parse_ts(const char *line, const struct span *sp, int64_t *out)
{
    char tmp[40];
    if (!sp->present || sp->len == 0 || sp->len >= sizeof tmp)
        return -1;
    memcpy(tmp, line + sp->off, sp->len);
    tmp[sp->len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (errno || *end || !isfinite(v) || fabs(v) > 9e15)
        return -1;
    *out = (int64_t)llround(v);
    return 0;
}

static void report(const struct opts *o, const struct stats *st, double secs)
{
    fprintf(stderr,
            "rw_pub: endpoint=%s events=%" PRIu64 " messages=%" PRIu64 " bytes=%" PRIu64
            " lines=%" PRIu64 " unparsed=%" PRIu64 " blank=%" PRIu64 " secs=%.3f rate=%.0f/s%s\n",
            o->endpoint, st->events, st->messages, st->bytes, st->lines, st->unparsed, st->blank,
            secs, secs > 0 ? (double)st->events / secs : 0.0, stop_flag ? " (interrupted)" : "");
    if (o->retime)
        fprintf(stderr, "rw_pub: retime speed=%g no_ts=%" PRIu64 "\n", o->speed, st->no_ts);
    if (o->nodrop)
        fprintf(stderr, "rw_pub: nodrop hwm_waits=%" PRIu64 "\n", st->retries);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }

    int rc = 1;
    void *ctx = NULL, *sock = NULL;
    gzFile in = NULL;
    struct rw_pagenorm *pn = NULL;
    struct buf line = {0}, retimed = {0};
    struct pub p = {.o = &o};
    char err[256] = "";
    int started = 0;
    int64_t t0 = mono_ns(), t0_wall = wall_ms();

    pn = rw_pagenorm_new(NULL, 0, o.ids, err, sizeof err);
    if (!pn) {
        fprintf(stderr, "rw_pub: page normalizer: %s\n", err);
        goto fail;
    }
    in = strcmp(o.file, "-") == 0 ? gzdopen(0, "rb") : gzopen(o.file, "rb");
    if (!in) {
        fprintf(stderr, "rw_pub: cannot open %s: %s\n", o.file, strerror(errno ? errno : ENOMEM));
        goto fail;
    }
    gzbuffer(in, 256 * 1024);

    ctx = zmq_ctx_new();
    sock = ctx ? zmq_socket(ctx, ZMQ_XPUB) : NULL; /* XPUB: subscriptions are seen */
    if (!sock) {
        fprintf(stderr, "rw_pub: zmq socket: %s\n", zmq_strerror(zmq_errno()));
        goto fail;
    }
    p.sock = sock;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_SNDHWM, &o.hwm, sizeof o.hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &o.linger_ms, sizeof o.linger_ms) != 0 ||
        (o.nodrop && zmq_setsockopt(sock, ZMQ_XPUB_NODROP, &one, sizeof one) != 0)) {
        fprintf(stderr, "rw_pub: setsockopt: %s\n", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (o.curve_server) {
        char cpub[41], csec[41];
        if (o.curve_public) {
            snprintf(cpub, sizeof cpub, "%s", o.curve_public);
            snprintf(csec, sizeof csec, "%s", o.curve_secret);
        } else if (zmq_curve_keypair(cpub, csec) == 0) {
            fprintf(stderr, "rw_pub: new CURVE client key pair, public %s\n", cpub);
        } else {
            fprintf(stderr, "rw_pub: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o.curve_server, 41) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cpub, 41) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, csec, 41) != 0) {
            fprintf(stderr, "rw_pub: CURVE keys: %s\n", zmq_strerror(zmq_errno()));
            goto fail;
        }
    }
    if ((o.bind ? zmq_bind(sock, o.endpoint) : zmq_connect(sock, o.endpoint)) != 0) {
        fprintf(stderr, "rw_pub: cannot %s %s: %s\n", o.bind ? "bind" : "connect", o.endpoint,
                zmq_strerror(zmq_errno()));
        goto fail;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* PUB drops everything sent before a subscriber has joined: wait for
     * the first subscription (an XPUB socket shows it), at most wait_ms
     * (times RW_TIMEOUT_SCALE: a daemon under valgrind starts slowly), then
     * a moment for subscribers joining with it. */
    {
        const char *scale_env = getenv("RW_TIMEOUT_SCALE");
        int scale = scale_env ? atoi(scale_env) : 1;
        int64_t w0 = mono_ns();
        int64_t deadline = w0 + (int64_t)o.wait_ms * (scale > 1 ? scale : 1) * 1000000LL;
        int subscribed = 0;
        while (!stop_flag && !subscribed && mono_ns() < deadline) {
            zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
            long left = (long)((deadline - mono_ns()) / 1000000LL);
            if (zmq_poll(&it, 1, left > 0 ? left : 0) <= 0)
                continue;
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&m) >= 1 &&
                ((const unsigned char *)zmq_msg_data(&m))[0] == 1)
                subscribed = 1;
            zmq_msg_close(&m);
        }
        if (subscribed) {
            fprintf(stderr, "rw_pub: first subscriber after %lld ms\n",
                    (long long)((mono_ns() - w0) / 1000000LL));
            sleep_ms(o.wait_ms < 200 ? o.wait_ms : 200);
        }
    }

    t0 = mono_ns();
    t0_wall = wall_ms();
    started = 1;
    int have_first = 0;
    int64_t ts_first = 0, ts_max = 0;
    uint64_t paced = 0; /* events scheduled so far (--rate) */
    int r = 0;
    while (!stop_flag && (r = read_line(in, &line)) > 0) {
        p.st.lines++;
        if (line.len == 0) {
            p.st.blank++;
            continue;
        }
        struct fields f;
        if (scan_fields(line.p, line.len, &f) < 0)
            p.st.unparsed++;

        const char *send = line.p;
        size_t send_len = line.len;
        int64_t due = -1; /* monotonic ns; -1 = now */
        if (o.rate > 0) {
            due = t0 + (int64_t)((double)paced++ * 1e9 / o.rate);
        } else if (o.retime) {
            int64_t ts;
            if (parse_ts(line.p, &f.ts, &ts) == 0) {
                if (!have_first) {
                    have_first = 1;
                    ts_first = ts_max = ts;
                    t0 = mono_ns();
                    t0_wall = wall_ms();
                }
                if (ts > ts_max)
                    ts_max = ts;
                due = t0 + (int64_t)((double)(ts_max - ts_first) * 1e6 / o.speed);
                int64_t new_ts = t0_wall + llround((double)(ts - ts_first) / o.speed);
                char num[32];
                int nl = snprintf(num, sizeof num, "%" PRId64, new_ts);
                retimed.len = 0;
                if (buf_append(&retimed, line.p, f.ts.off) < 0 ||
                    buf_append(&retimed, num, (size_t)nl) < 0 ||
                    buf_append(&retimed, line.p + f.ts.off + f.ts.len,
                               line.len - f.ts.off - f.ts.len) < 0)
                    goto fail;
                /* the rewrite shifted everything after "ts" */
                long shift = (long)nl - (long)f.ts.len;
                if (f.type.present && f.type.off > f.ts.off)
                    f.type.off = (size_t)((long)f.type.off + shift);
                if (f.page.present && f.page.off > f.ts.off)
                    f.page.off = (size_t)((long)f.page.off + shift);
                send = retimed.p;
                send_len = retimed.len;
            } else {
                p.st.no_ts++;
            }
        }
        if (due >= 0) {
            int64_t now = mono_ns();
            if (due > now) {
                if (due - now > HOLD_NS && flush_batch(&p) < 0)
                    goto fail;
                sleep_until_ns(due);
            }
        }
        if (add_event(&p, pn, send, send_len, &f) < 0)
            goto fail;
    }
    if (flush_batch(&p) < 0)
        goto fail;
    if (!stop_flag && r < 0) {
        fprintf(stderr, "rw_pub: read error on %s (truncated or corrupt?)\n", o.file);
        goto fail;
    }
    rc = 0;
fail:
    if (started)
        report(&o, &p.st, (double)(mono_ns() - t0) / 1e9);
    if (sock)
        zmq_close(sock); /* lingers up to --linger-ms for queued messages */
    if (ctx)
        zmq_ctx_term(ctx);
    if (in)
        gzclose(in);
    rw_pagenorm_destroy(&pn);
    free(line.p);
    free(retimed.p);
    free(p.body.p);
    return rc;
}
