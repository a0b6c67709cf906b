/* Per-publisher sequence gaps (see inputseq.h).
 *
 * Two open-addressing tables allocated once: streams keyed by a 64-bit hash
 * of (publisher, topic) — a collision between two live streams (odds about
 * n^2 / 2^64) would at worst mix up their counts — and publisher ids keyed
 * by their text. Nothing is ever removed: the caps bound both. */
#include "engine/inputseq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RESET_JUMP (1ull << 32) /* a larger forward jump is a restart, not a loss */

struct stream {
    uint64_t key; /* hash of pub index and topic */
    uint64_t last;
    int pub; /* index into pubs */
    int used;
};

struct rw_inputseq {
    struct stream *streams;
    size_t smask; /* table size - 1 */
    int max_streams, nstreams;
    struct rw_inputseq_pub *pubs; /* max_publishers + 1 ("(other)") */
    int *pidx;                    /* open addressing over pubs: index + 1, 0 = empty */
    size_t pmask;
    int max_pubs, npubs, other_used;
    struct rw_inputseq_stats st;
};

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV0 14695981039346656037ULL

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t v = 16;
    while (v < n)
        v <<= 1;
    return v;
}

struct rw_inputseq *rw_inputseq_new(int max_streams, int max_publishers)
{
    if (max_streams < 1 || max_publishers < 1)
        return NULL;
    struct rw_inputseq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->max_streams = max_streams;
    q->max_pubs = max_publishers;
    size_t ss = pow2_at_least(2 * (size_t)max_streams);
    size_t ps = pow2_at_least(2 * (size_t)max_publishers);
    q->smask = ss - 1;
    q->pmask = ps - 1;
    q->streams = calloc(ss, sizeof *q->streams);
    q->pubs = calloc((size_t)max_publishers + 1, sizeof *q->pubs);
    q->pidx = calloc(ps, sizeof *q->pidx);
    if (!q->streams || !q->pubs || !q->pidx) {
        rw_inputseq_destroy(&q);
        return NULL;
    }
    memcpy(q->pubs[max_publishers].id, RW_PUB_OTHER, sizeof RW_PUB_OTHER);
    return q;
}

void rw_inputseq_destroy(struct rw_inputseq **qp)
{
    if (!qp || !*qp)
        return;
    free((*qp)->streams);
    free((*qp)->pubs);
    free((*qp)->pidx);
    free(*qp);
    *qp = NULL;
}

/* ---- the frame: a flat JSON object --------------------------------------- */

static size_t ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] == '"': index after the closing quote, or 0 if unterminated. *esc
 * says whether it holds an escape. */
static size_t str_end(const char *s, size_t n, size_t i, int *esc)
{
    *esc = 0;
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            *esc = 1;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        } else if ((unsigned char)s[i] < 0x20) {
            return 0;
        }
    }
    return 0;
}

static int id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

static int parse_frame(const char *s, size_t n, const char **pub, size_t *publen, uint64_t *seq)
{
    int have_pub = 0, have_seq = 0;
    size_t i = ws(s, n, 0);
    if (i >= n || s[i] != '{')
        return -EINVAL;
    i = ws(s, n, i + 1);
    if (i < n && s[i] == '}')
        return -EINVAL; /* {} has neither */
    for (;;) {
        int kesc, vesc;
        if (i >= n || s[i] != '"')
            return -EINVAL;
        size_t k0 = i + 1, ke = str_end(s, n, i, &kesc);
        if (!ke)
            return -EINVAL;
        size_t klen = ke - 1 - k0;
        i = ws(s, n, ke);
        if (i >= n || s[i] != ':')
            return -EINVAL;
        i = ws(s, n, i + 1);
        if (i >= n)
            return -EINVAL;
        int is_pub = !kesc && klen == 3 && memcmp(s + k0, "pub", 3) == 0;
        int is_seq = !kesc && klen == 3 && memcmp(s + k0, "seq", 3) == 0;
        if ((is_pub && have_pub) || (is_seq && have_seq))
            return -EINVAL; /* duplicate */
        size_t v0 = i, ve;
        if (s[i] == '"') {
            if (!(ve = str_end(s, n, i, &vesc)))
                return -EINVAL;
            if (is_seq)
                return -EINVAL;
            if (is_pub) {
                size_t len = ve - v0 - 2;
                if (vesc || len == 0 || len > RW_PUB_ID_MAX)
                    return -EINVAL;
                for (size_t k = 0; k < len; k++)
                    if (!id_char(s[v0 + 1 + k]))
                        return -EINVAL;
                *pub = s + v0 + 1;
                *publen = len;
                have_pub = 1;
            }
        } else if (s[i] == '{' || s[i] == '[') {
            return -EINVAL; /* flat objects only */
        } else {
            ve = i;
            while (ve < n && s[ve] != ',' && s[ve] != '}' && s[ve] != ' ' && s[ve] != '\t' &&
                   s[ve] != '\r' && s[ve] != '\n')
                ve++;
            size_t len = ve - v0;
            if (len == 0)
                return -EINVAL;
            if (is_pub)
                return -EINVAL;
            if (is_seq) {
                if (len > 19)
                    return -EINVAL;
                uint64_t v = 0;
                for (size_t k = 0; k < len; k++) {
                    char c = s[v0 + k];
                    if (c < '0' || c > '9')
                        return -EINVAL;
                    v = v * 10 + (uint64_t)(c - '0');
                }
                if (v > (uint64_t)INT64_MAX)
                    return -EINVAL;
                *seq = v;
                have_seq = 1;
            } else {
                /* another member: a number or a literal, not judged closely */
                char c = s[v0];
                if (!(c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n'))
                    return -EINVAL;
            }
        }
        i = ws(s, n, ve);
        if (i < n && s[i] == ',') {
            i = ws(s, n, i + 1);
            continue;
        }
        if (i < n && s[i] == '}') {
            if (ws(s, n, i + 1) != n)
                return -EINVAL;
            break;
        }
        return -EINVAL;
    }
    return have_pub && have_seq ? 0 : -EINVAL;
}

/* ---- tables -------------------------------------------------------------- */

static int find_pub(struct rw_inputseq *q, const char *id, size_t len)
{
    uint64_t h = mix(fnv(FNV0, id, len));
    for (size_t b = h & q->pmask;; b = (b + 1) & q->pmask) {
        int k = q->pidx[b];
        if (k == 0) {
            if (q->npubs >= q->max_pubs) {
                q->other_used = 1;
                return q->max_pubs;
            }
            struct rw_inputseq_pub *p = &q->pubs[q->npubs];
            memcpy(p->id, id, len);
            p->id[len] = '\0';
            q->pidx[b] = ++q->npubs;
            return q->npubs - 1;
        }
        const char *have = q->pubs[k - 1].id;
        if (strlen(have) == len && memcmp(have, id, len) == 0)
            return k - 1;
    }
}

int rw_inputseq_note(struct rw_inputseq *q, const char *topic, size_t topic_len, const char *frame,
                     size_t frame_len)
{
    const char *id = NULL;
    size_t idlen = 0;
    uint64_t seq = 0;
    if (parse_frame(frame, frame_len, &id, &idlen, &seq)) {
        q->st.invalid++;
        return -EINVAL;
    }
    int pi = find_pub(q, id, idlen);
    struct rw_inputseq_pub *p = &q->pubs[pi];
    p->messages++;
    q->st.sequenced++;
    /* Streams are keyed by the id's text, not its slot: ids folded into
     * "(other)" keep their own streams. */
    uint64_t key = fnv(FNV0, id, idlen);
    key = mix(fnv(fnv(key, "\x1f", 1), topic, topic_len));
    for (size_t b = key & q->smask;; b = (b + 1) & q->smask) {
        struct stream *s = &q->streams[b];
        if (!s->used) {
            if (q->nstreams >= q->max_streams) {
                q->st.untracked++;
                return 0;
            }
            *s = (struct stream){key, seq, pi, 1};
            q->nstreams++;
            return 0;
        }
        if (s->key != key)
            continue;
        if (seq == s->last + 1) {
            /* in order */
        } else if (seq > s->last && seq - s->last - 1 < RESET_JUMP) {
            uint64_t gap = seq - s->last - 1;
            p->lost += gap;
            q->st.lost += gap;
        } else {
            p->resets++;
            q->st.resets++;
        }
        s->last = seq;
        return 0;
    }
}

void rw_inputseq_stats(const struct rw_inputseq *q, struct rw_inputseq_stats *out)
{
    *out = q->st;
    out->streams = (uint64_t)q->nstreams;
    out->publishers = (uint64_t)q->npubs;
}

int rw_inputseq_publishers(const struct rw_inputseq *q, struct rw_inputseq_pub *out, int max)
{
    int n = 0;
    for (int i = 0; i < q->npubs && n < max; i++)
        out[n++] = q->pubs[i];
    if (q->other_used && n < max)
        out[n++] = q->pubs[q->max_pubs];
    return n;
}
