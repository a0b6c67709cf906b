/* The alert journal (journal.h). */
#include "notifiers/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17)) /* doubles round-trip */

struct rw_journal {
    int fd;
    int dirty;
    char *path;
    struct rw_journal_stats st;
};

static int journal_fd(const char *path, int flags)
{
    return open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
}

struct rw_journal *rw_journal_open(const char *path, char *err, size_t errlen)
{
    struct rw_journal *j = calloc(1, sizeof *j);
    if (!j || !path || !(j->path = strdup(path))) {
        free(j);
        snprintf(err, errlen, "journal: %s", path ? "out of memory" : "no path");
        return NULL;
    }
    j->fd = journal_fd(path, O_APPEND);
    struct stat sb;
    if (j->fd < 0 || fstat(j->fd, &sb) < 0) {
        snprintf(err, errlen, "cannot open the alert journal %s: %s", path, strerror(errno));
        if (j->fd >= 0)
            close(j->fd);
        free(j->path);
        free(j);
        return NULL;
    }
    j->st.bytes = (uint64_t)sb.st_size;
    return j;
}

void rw_journal_close(struct rw_journal **jp)
{
    if (!jp || !*jp)
        return;
    struct rw_journal *j = *jp;
    rw_journal_sync(j);
    close(j->fd);
    free(j->path);
    free(j);
    *jp = NULL;
}

/* The record as one line, malloc'd; *len includes the '\n'. */
static char *journal_line(const json_t *rec, size_t *len)
{
    if (!json_is_object(rec))
        return NULL;
    size_t need = json_dumpb(rec, NULL, 0, JOURNAL_DUMP_FLAGS);
    char *buf = need ? malloc(need + 1) : NULL;
    if (!buf)
        return NULL;
    json_dumpb(rec, buf, need, JOURNAL_DUMP_FLAGS);
    buf[need] = '\n';
    *len = need + 1;
    return buf;
}

int rw_journal_append(struct rw_journal *j, const json_t *rec)
{
    size_t len;
    char *buf = journal_line(rec, &len);
    if (!buf) {
        j->st.errors++;
        return json_is_object(rec) ? -ENOMEM : -EINVAL;
    }
    ssize_t w = write(j->fd, buf, len);
    int werr = errno;
    free(buf);
    if (w > 0)
        j->st.bytes += (uint64_t)w;
    if (w != (ssize_t)len) {
        /* A short write leaves a torn line: the next record would be glued
         * to it, so the reader skips one bad line, not the good ones. */
        j->st.errors++;
        return w < 0 ? -werr : -EIO;
    }
    j->dirty = 1;
    j->st.records++;
    return 0;
}

int rw_journal_sync(struct rw_journal *j)
{
    if (!j || !j->dirty)
        return 0;
    j->st.syncs++;
    if (fdatasync(j->fd) != 0) {
        j->st.errors++;
        return -errno;
    }
    j->dirty = 0;
    return 0;
}

struct rewrite_ctx {
    FILE *f;
    uint64_t bytes;
    int err;
};

static int rewrite_put(void *ctx, const json_t *rec)
{
    struct rewrite_ctx *c = ctx;
    size_t len;
    char *buf = journal_line(rec, &len);
    if (!buf)
        return c->err = json_is_object(rec) ? -ENOMEM : -EINVAL;
    if (fwrite(buf, 1, len, c->f) != len)
        c->err = errno ? -errno : -EIO;
    else
        c->bytes += len;
    free(buf);
    return c->err;
}

static int fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

int rw_journal_rewrite(struct rw_journal *j,
                       int (*fill)(void *ud, rw_journal_put_fn put, void *ctx), void *ud, char *err,
                       size_t errlen)
{
    size_t n = strlen(j->path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        j->st.errors++;
        snprintf(err, errlen, "journal: out of memory");
        return -ENOMEM;
    }
    snprintf(tmp, n, "%s.tmp", j->path);
    struct rewrite_ctx c = {0};
    int fd = journal_fd(tmp, O_TRUNC), rc = 0, afd = -1;
    if (fd < 0 || !(c.f = fdopen(fd, "w"))) {
        rc = -errno;
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    rc = fill(ud, rewrite_put, &c);
    if (rc >= 0 && c.err)
        rc = c.err;
    if (rc >= 0 && (fflush(c.f) != 0 || fdatasync(fileno(c.f)) != 0))
        rc = errno ? -errno : -EIO;
    if (fclose(c.f) != 0 && rc >= 0)
        rc = errno ? -errno : -EIO;
    if (rc < 0) {
        snprintf(err, errlen, "cannot compact the alert journal into %s: %s", tmp, strerror(-rc));
        goto out;
    }
    /* The new file is complete on disk; from the rename on it is the journal. */
    if (rename(tmp, j->path) != 0 || (afd = journal_fd(j->path, O_APPEND)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot replace %s: %s", j->path, strerror(errno));
        goto out;
    }
    if ((rc = fsync_parent(j->path)) < 0)
        snprintf(err, errlen, "cannot fsync the directory of %s: %s", j->path, strerror(-rc));
    close(j->fd);
    j->fd = afd;
    j->dirty = 0;
    j->st.bytes = j->st.base_bytes = c.bytes;
    j->st.rewrites++;
out:
    if (rc < 0) {
        j->st.errors++;
        unlink(tmp);
    }
    free(tmp);
    return rc < 0 ? rc : 0;
}

void rw_journal_stats(const struct rw_journal *j, struct rw_journal_stats *out)
{
    memset(out, 0, sizeof *out);
    if (j)
        *out = j->st;
}

int rw_journal_read(const char *path, int (*fn)(void *ud, const json_t *rec), void *ud,
                    uint64_t *skipped, char *err, size_t errlen)
{
    if (skipped)
        *skipped = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read the alert journal %s: %s", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *rec = line[len - 1] == '\n' ? json_loadb(line, (size_t)len, 0, NULL) : NULL;
        if (!json_is_object(rec)) {
            json_decref(rec);
            if (skipped)
                (*skipped)++;
            continue;
        }
        int stop = fn(ud, rec);
        json_decref(rec);
        n++;
        if (stop)
            break;
    }
    int rc = ferror(f) ? -EIO : n;
    if (rc < 0)
        snprintf(err, errlen, "error reading the alert journal %s", path);
    free(line);
    fclose(f);
    return rc;
}
