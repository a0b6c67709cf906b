/* The silence store (see silence.h). */
#include "notifiers/silence.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notifiers/timeint.h"

#define DEFAULT_RETENTION_MS (5 * 24 * 3600 * 1000LL)
#define DEFAULT_MAX 10000
#define FILE_NAME "silences.json"
#define FILE_MAX (64 << 20) /* refuse to slurp anything larger */

struct rw_silences {
    char *dir;  /* NULL: memory only */
    char *path; /* dir/silences.json */
    int64_t retention_ms;
    int max;
    int n, cap;
    struct rw_silence *v;
    uint64_t purged, write_errors;
};

static const char *const state_names[] = {"pending", "active", "expired"};

const char *rw_silence_state_name(enum rw_silence_state s)
{
    return (unsigned)s < 3 ? state_names[s] : "?";
}

enum rw_silence_state rw_silence_state(const struct rw_silence *s, int64_t now_ms)
{
    if (now_ms < s->starts_ms)
        return RW_SILENCE_PENDING;
    if (now_ms < s->ends_ms)
        return RW_SILENCE_ACTIVE;
    return RW_SILENCE_EXPIRED;
}

void rw_silence_spec_clear(struct rw_silence_spec *spec)
{
    if (!spec)
        return;
    rw_matchers_clear(&spec->matchers);
    memset(spec, 0, sizeof *spec);
}

/* ---- JSON shapes ---------------------------------------------------------- */

static json_t *matchers_to_json(const struct rw_matchers *ms)
{
    json_t *a = json_array();
    for (int i = 0; a && i < ms->n; i++) {
        const struct rw_matcher *m = &ms->m[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:b, s:b}", "name", m->name, "value", m->value, "isRegex",
                         m->type == RW_MATCH_RE || m->type == RW_MATCH_NRE, "isEqual",
                         m->type == RW_MATCH_EQ || m->type == RW_MATCH_RE));
    }
    return a;
}

static int matchers_from_json(const json_t *a, struct rw_matchers *ms, char *err, size_t errlen)
{
    if (!json_is_array(a) || json_array_size(a) == 0) {
        snprintf(err, errlen, "matchers: expects a non-empty array");
        return -EINVAL;
    }
    size_t i;
    const json_t *m;
    json_array_foreach(a, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *value = json_string_value(json_object_get(m, "value"));
        const json_t *isre = json_object_get(m, "isRegex"), *iseq = json_object_get(m, "isEqual");
        if (!name || !value || (isre && !json_is_boolean(isre)) ||
            (iseq && !json_is_boolean(iseq))) {
            snprintf(err, errlen, "matchers[%zu]: expects {name, value, isRegex, isEqual}", i);
            return -EINVAL;
        }
        int re = json_is_true(isre), eq = !iseq || json_is_true(iseq);
        enum rw_match_type t =
            re ? (eq ? RW_MATCH_RE : RW_MATCH_NRE) : (eq ? RW_MATCH_EQ : RW_MATCH_NE);
        char msg[256];
        int rc = rw_matchers_add_parts(ms, name, t, value, msg, sizeof msg);
        if (rc) {
            snprintf(err, errlen, "matchers[%zu]: %s", i, msg);
            return rc;
        }
    }
    return 0;
}

static json_t *time_json(int64_t ms)
{
    char buf[40];
    rw_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static int get_time(const json_t *o, const char *key, int64_t *ms, int required, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || rw_time_parse(json_string_value(v), ms) || *ms == RW_TIME_ZERO) {
        snprintf(err, errlen, "%s: expects an RFC 3339 time like 2025-01-31T12:00:00Z", key);
        return -EINVAL;
    }
    return 0;
}

static int get_text(const json_t *o, const char *key, char *dst, size_t size, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size) {
        snprintf(err, errlen, "%s: expects a string of at most %zu bytes", key, size - 1);
        return -EINVAL;
    }
    snprintf(dst, size, "%s", json_string_value(v));
    return 0;
}

json_t *rw_silence_spec_to_json(const struct rw_silence_spec *spec)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "matchers", matchers_to_json(&spec->matchers));
    if (spec->starts_ms)
        json_object_set_new(o, "startsAt", time_json(spec->starts_ms));
    json_object_set_new(o, "endsAt", time_json(spec->ends_ms));
    json_object_set_new(o, "createdBy", json_string(spec->created_by));
    json_object_set_new(o, "comment", json_string(spec->comment));
    return o;
}

int rw_silence_spec_from_json(const json_t *j, struct rw_silence_spec *spec, char *err,
                              size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "a silence is a JSON object");
        return -EINVAL;
    }
    int rc = matchers_from_json(json_object_get(j, "matchers"), &spec->matchers, err, errlen);
    if (!rc)
        rc = get_time(j, "startsAt", &spec->starts_ms, 0, err, errlen);
    if (!rc)
        rc = get_time(j, "endsAt", &spec->ends_ms, 1, err, errlen);
    if (!rc)
        rc = get_text(j, "createdBy", spec->created_by, sizeof spec->created_by, err, errlen);
    if (!rc)
        rc = get_text(j, "comment", spec->comment, sizeof spec->comment, err, errlen);
    if (rc)
        rw_silence_spec_clear(spec);
    return rc;
}

static json_t *silence_json(const struct rw_silence *s, int64_t now_ms, int with_status)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "matchers", matchers_to_json(&s->matchers));
    json_object_set_new(o, "startsAt", time_json(s->starts_ms));
    json_object_set_new(o, "endsAt", time_json(s->ends_ms));
    json_object_set_new(o, "updatedAt", time_json(s->updated_ms));
    json_object_set_new(o, "createdBy", json_string(s->created_by));
    json_object_set_new(o, "comment", json_string(s->comment));
    if (with_status)
        json_object_set_new(
            o, "status",
            json_pack("{s:s}", "state", rw_silence_state_name(rw_silence_state(s, now_ms))));
    return o;
}

static int valid_id(const char *id)
{
    if (!id || strlen(id) != RW_SILENCE_ID_LEN)
        return 0;
    for (int i = 0; i < RW_SILENCE_ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = id[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

static int silence_from_json(const json_t *j, struct rw_silence *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!json_is_object(j) || !valid_id(id)) {
        snprintf(err, errlen, "expects an object with a uuid 'id'");
        return -EINVAL;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    int rc = matchers_from_json(json_object_get(j, "matchers"), &s->matchers, err, errlen);
    if (!rc)
        rc = get_time(j, "startsAt", &s->starts_ms, 1, err, errlen);
    if (!rc)
        rc = get_time(j, "endsAt", &s->ends_ms, 1, err, errlen);
    s->updated_ms = s->starts_ms;
    if (!rc)
        rc = get_time(j, "updatedAt", &s->updated_ms, 0, err, errlen);
    if (!rc)
        rc = get_text(j, "createdBy", s->created_by, sizeof s->created_by, err, errlen);
    if (!rc)
        rc = get_text(j, "comment", s->comment, sizeof s->comment, err, errlen);
    if (rc)
        rw_matchers_clear(&s->matchers);
    return rc;
}

/* ---- CLI ------------------------------------------------------------------- */

int rw_silence_parse_args(int argc, char *const argv[], int64_t now_ms,
                          struct rw_silence_spec *spec, char *err, size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    int64_t dur = -1, until = 0, start = 0;
    int have_comment = 0;
    char msg[512];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        static const char *const opts[] = {"--match",   "--for",    "--until",      "--start",
                                           "--comment", "--author", "--created-by", NULL};
        int opt = -1;
        for (int k = 0; opts[k]; k++) {
            size_t l = strlen(opts[k]);
            if (strncmp(a, opts[k], l) == 0 && (a[l] == '\0' || a[l] == '=')) {
                opt = k;
                if (a[l] == '=')
                    val = a + l + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    snprintf(err, errlen, "%s needs a value", opts[k]);
                    goto fail;
                }
                break;
            }
        }
        if (opt < 0) {
            if (a[0] == '-') {
                snprintf(err, errlen,
                         "unknown option '%s' (known: --match, --for, --until, --start, "
                         "--comment, --author)",
                         a);
                goto fail;
            }
            opt = 0; /* a bare matcher */
            val = a;
        }
        switch (opt) {
        case 0:
            if (rw_matchers_add(&spec->matchers, val, msg, sizeof msg)) {
                snprintf(err, errlen, "--match: %s", msg);
                goto fail;
            }
            break;
        case 1:
            if (rw_duration_parse(val, &dur) || dur <= 0) {
                snprintf(err, errlen, "--for '%s': expects a duration like 90s, 15m, 2h, 1d, 1h30m",
                         val);
                goto fail;
            }
            break;
        case 2:
        case 3:
            if (rw_time_parse(val, opt == 2 ? &until : &start) ||
                (opt == 2 ? until : start) == RW_TIME_ZERO) {
                snprintf(err, errlen, "%s '%s': expects an RFC 3339 time like 2025-01-31T18:00:00Z",
                         opts[opt], val);
                goto fail;
            }
            break;
        case 4:
            if (strlen(val) >= sizeof spec->comment) {
                snprintf(err, errlen, "--comment is longer than %zu bytes",
                         sizeof spec->comment - 1);
                goto fail;
            }
            snprintf(spec->comment, sizeof spec->comment, "%s", val);
            have_comment = val[0] != '\0';
            break;
        default:
            if (strlen(val) >= sizeof spec->created_by) {
                snprintf(err, errlen, "--author is longer than %zu bytes",
                         sizeof spec->created_by - 1);
                goto fail;
            }
            snprintf(spec->created_by, sizeof spec->created_by, "%s", val);
            break;
        }
    }
    if (!spec->matchers.n) {
        snprintf(err, errlen, "a silence needs at least one --match label=value");
        goto fail;
    }
    if (dur > 0 && until) {
        snprintf(err, errlen, "give either --for or --until, not both");
        goto fail;
    }
    if (!have_comment) {
        snprintf(err, errlen, "a silence needs a --comment saying why");
        goto fail;
    }
    spec->starts_ms = start;
    int64_t from = start ? start : now_ms;
    spec->ends_ms = until ? until : from + (dur > 0 ? dur : 3600 * 1000LL);
    if (spec->ends_ms <= from) {
        snprintf(err, errlen, "--until is not after the start");
        goto fail;
    }
    return 0;
fail:
    rw_silence_spec_clear(spec);
    return -EINVAL;
}

/* ---- persistence ------------------------------------------------------------ */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* tmp + fsync + rename + fsync(dir): the file is either the old or the new one. */
static int persist(struct rw_silences *s, char *err, size_t errlen)
{
    if (!s->dir)
        return 0;
    json_t *arr = json_array(), *root = NULL;
    for (int i = 0; arr && i < s->n; i++)
        json_array_append_new(arr, silence_json(&s->v[i], 0, 0));
    if (arr)
        root = json_pack("{s:i, s:o}", "version", 1, "silences", arr);
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        s->write_errors++;
        return -ENOMEM;
    }
    size_t plen = strlen(s->path) + 8;
    char *tmp = malloc(plen);
    int rc = 0, fd = -1;
    if (!tmp) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(tmp, plen, "%s.tmp", s->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    size_t tlen = strlen(text);
    text[tlen] = '\n'; /* the dump's NUL becomes the final newline */
    if ((rc = write_all(fd, text, tlen + 1)) != 0)
        goto out;
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, s->path) != 0) {
        rc = -errno;
        goto out;
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some file systems refuse fsync on a directory */
        close(dfd);
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc) {
        if (tmp)
            unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", s->path, strerror(-rc));
        s->write_errors++;
    }
    free(tmp);
    free(text);
    return rc ? -EIO : 0;
}

static void free_all(struct rw_silences *s)
{
    for (int i = 0; i < s->n; i++)
        rw_matchers_clear(&s->v[i].matchers);
    s->n = 0;
}

/* Load the file into s. 0 (also when it does not exist), 1 if it was bad
 * (message in warn), or a negative errno if it cannot be read at all. */
static int load(struct rw_silences *s, int64_t now_ms, char *warn, size_t warnlen, char *err,
                size_t errlen)
{
    FILE *f = fopen(s->path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", s->path, strerror(errno));
        return -EIO;
    }
    char why[300] = "";
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root)
        snprintf(why, sizeof why, "line %d: %s", jerr.line, jerr.text);
    const json_t *arr = json_object_get(root, "silences");
    if (root && (json_integer_value(json_object_get(root, "version")) != 1 || !json_is_array(arr)))
        snprintf(why, sizeof why, "expects {\"version\": 1, \"silences\": [...]}");
    if (!why[0]) {
        if ((int)json_array_size(arr) > s->max)
            snprintf(why, sizeof why, "more than %d silences", s->max);
        s->v = calloc(json_array_size(arr) + 1, sizeof *s->v);
        s->cap = (int)json_array_size(arr) + 1;
        if (!s->v) {
            json_decref(root);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        size_t i;
        const json_t *e;
        json_array_foreach(arr, i, e)
        {
            char msg[256];
            if (why[0])
                break;
            if (silence_from_json(e, &s->v[s->n], msg, sizeof msg)) {
                snprintf(why, sizeof why, "silences[%zu]: %s", i, msg);
                break;
            }
            for (int k = 0; k < s->n; k++)
                if (strcmp(s->v[k].id, s->v[s->n].id) == 0)
                    snprintf(why, sizeof why, "silences[%zu]: duplicate id %s", i, s->v[k].id);
            s->n++;
        }
    }
    json_decref(root);
    if (!why[0])
        return 0;
    free_all(s);
    /* Keep the bad file for a human, under a name nothing else uses. */
    size_t blen = strlen(s->path) + 32;
    char *bad = malloc(blen);
    if (!bad) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(bad, blen, "%s.bad-%lld", s->path, (long long)now_ms);
    if (rename(s->path, bad) != 0) {
        snprintf(err, errlen, "%s is corrupt (%s) and cannot be moved aside: %s", s->path, why,
                 strerror(errno));
        free(bad);
        return -EIO;
    }
    snprintf(warn, warnlen, "%s is corrupt (%s): moved to %s, starting with no silences", s->path,
             why, bad);
    free(bad);
    return 1;
}

struct rw_silences *rw_silences_open(const char *state_dir, const struct rw_silences_opts *opts,
                                     int64_t now_ms, char *warning, size_t warnlen, char *err,
                                     size_t errlen)
{
    if (warning && warnlen)
        warning[0] = '\0';
    struct rw_silences *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->retention_ms = opts && opts->retention_ms > 0 ? opts->retention_ms : DEFAULT_RETENTION_MS;
    s->max = opts && opts->max_silences > 0 ? opts->max_silences : DEFAULT_MAX;
    if (!state_dir)
        return s;
    size_t plen = strlen(state_dir) + sizeof FILE_NAME + 2;
    s->dir = strdup(state_dir);
    s->path = malloc(plen);
    if (!s->dir || !s->path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(s->path, plen, "%s/%s", state_dir, FILE_NAME);
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state directory %s: %s", state_dir, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (stat(state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state directory %s is not a directory", state_dir);
        goto fail;
    }
    char wbuf[1];
    int rc =
        load(s, now_ms, warning ? warning : wbuf, warning ? warnlen : sizeof wbuf, err, errlen);
    if (rc < 0)
        goto fail;
    rw_silences_gc(s, now_ms);
    return s;
fail:
    rw_silences_close(&s);
    return NULL;
}

void rw_silences_close(struct rw_silences **sp)
{
    if (!sp || !*sp)
        return;
    free_all(*sp);
    free((*sp)->v);
    free((*sp)->dir);
    free((*sp)->path);
    free(*sp);
    *sp = NULL;
}

/* ---- operations -------------------------------------------------------------- */

static int new_id(const struct rw_silences *s, char *id)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char b[16];
        size_t got = 0;
        while (got < sizeof b) {
            ssize_t r = getrandom(b + got, sizeof b - got, 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            got += (size_t)r;
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        snprintf(id, RW_SILENCE_ID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        int dup = 0;
        for (int i = 0; i < s->n && !dup; i++)
            dup = strcmp(s->v[i].id, id) == 0;
        if (!dup)
            return 0;
    }
    return -EEXIST;
}

int rw_silences_add(struct rw_silences *s, const struct rw_silence_spec *spec, int64_t now_ms,
                    char *id_out, char *err, size_t errlen)
{
    int64_t start = spec->starts_ms ? spec->starts_ms : now_ms;
    if (!spec->matchers.n) {
        snprintf(err, errlen, "a silence needs at least one matcher");
        return -EINVAL;
    }
    if (rw_matchers_all_match_empty(&spec->matchers)) {
        snprintf(err, errlen,
                 "at least one matcher must not match the empty string (this silence would "
                 "mute nearly every alert)");
        return -EINVAL;
    }
    if (spec->ends_ms <= start || spec->ends_ms <= now_ms) {
        snprintf(err, errlen, "the silence ends before it starts or is already over");
        return -EINVAL;
    }
    if (s->n >= s->max) {
        rw_silences_gc(s, now_ms);
        if (s->n >= s->max) {
            snprintf(err, errlen, "the store holds %d silences, its maximum: expire some first",
                     s->n);
            return -ENOSPC;
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        struct rw_silence *v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    struct rw_silence *n = &s->v[s->n];
    memset(n, 0, sizeof *n);
    if (new_id(s, n->id) || rw_matchers_copy(&n->matchers, &spec->matchers)) {
        snprintf(err, errlen, "cannot create a silence id or copy its matchers");
        return -ENOMEM;
    }
    n->starts_ms = start;
    n->ends_ms = spec->ends_ms;
    n->updated_ms = now_ms;
    snprintf(n->created_by, sizeof n->created_by, "%s", spec->created_by);
    snprintf(n->comment, sizeof n->comment, "%s", spec->comment);
    s->n++;
    if (persist(s, err, errlen)) {
        s->n--;
        rw_matchers_clear(&n->matchers);
        return -EIO;
    }
    if (id_out)
        memcpy(id_out, n->id, sizeof n->id);
    return 0;
}

int rw_silences_expire(struct rw_silences *s, const char *id, int64_t now_ms, char *err,
                       size_t errlen)
{
    size_t len = id ? strlen(id) : 0;
    int found = -1;
    if (len < 8 || len > RW_SILENCE_ID_LEN) {
        snprintf(err, errlen, "silence id '%s': give the id (or its first 8+ characters)",
                 id ? id : "");
        return -EINVAL;
    }
    for (int i = 0; i < s->n; i++) {
        if (strncmp(s->v[i].id, id, len) != 0)
            continue;
        if (found >= 0) {
            snprintf(err, errlen, "silence id prefix '%s' is ambiguous", id);
            return -EINVAL;
        }
        found = i;
    }
    if (found < 0) {
        snprintf(err, errlen, "no silence with id '%s'", id);
        return -ENOENT;
    }
    struct rw_silence *x = &s->v[found];
    enum rw_silence_state st = rw_silence_state(x, now_ms);
    if (st == RW_SILENCE_EXPIRED) {
        snprintf(err, errlen, "silence %s has already expired", x->id);
        return -EALREADY;
    }
    struct rw_silence old = *x;
    if (st == RW_SILENCE_PENDING)
        x->starts_ms = now_ms;
    x->ends_ms = now_ms;
    x->updated_ms = now_ms;
    if (persist(s, err, errlen)) {
        x->starts_ms = old.starts_ms;
        x->ends_ms = old.ends_ms;
        x->updated_ms = old.updated_ms;
        return -EIO;
    }
    return 0;
}

const char *rw_silences_match(const struct rw_silences *s, const json_t *labels, int64_t now_ms)
{
    for (int i = 0; s && i < s->n; i++)
        if (rw_silence_state(&s->v[i], now_ms) == RW_SILENCE_ACTIVE &&
            rw_matchers_match(&s->v[i].matchers, labels))
            return s->v[i].id;
    return NULL;
}

int rw_silences_gc(struct rw_silences *s, int64_t now_ms)
{
    int k = 0, purged = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->v[i].ends_ms + s->retention_ms <= now_ms) {
            rw_matchers_clear(&s->v[i].matchers);
            purged++;
            continue;
        }
        s->v[k++] = s->v[i];
    }
    s->n = k;
    if (purged) {
        s->purged += (uint64_t)purged;
        char err[256];
        /* On a write error the file keeps the old entries; they are purged
         * again next time, so nothing is lost by carrying on. */
        persist(s, err, sizeof err);
    }
    return purged;
}

int rw_silences_count(const struct rw_silences *s)
{
    return s ? s->n : 0;
}

const struct rw_silence *rw_silences_get(const struct rw_silences *s, int i)
{
    return s && i >= 0 && i < s->n ? &s->v[i] : NULL;
}

json_t *rw_silences_list(const struct rw_silences *s, int64_t now_ms, int include_expired)
{
    json_t *a = json_array();
    static const enum rw_silence_state order[] = {RW_SILENCE_ACTIVE, RW_SILENCE_PENDING,
                                                  RW_SILENCE_EXPIRED};
    for (int o = 0; a && o < (include_expired ? 3 : 2); o++)
        for (int i = 0; s && i < s->n; i++)
            if (rw_silence_state(&s->v[i], now_ms) == order[o])
                json_array_append_new(a, silence_json(&s->v[i], now_ms, 1));
    return a;
}

void rw_silences_stats(const struct rw_silences *s, int64_t now_ms, struct rw_silences_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        enum rw_silence_state st = rw_silence_state(&s->v[i], now_ms);
        if (st == RW_SILENCE_ACTIVE)
            out->active++;
        else if (st == RW_SILENCE_PENDING)
            out->pending++;
        else
            out->expired++;
    }
    out->purged = s->purged;
    out->write_errors = s->write_errors;
}
