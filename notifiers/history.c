/* The alert history log (see history.h). */
#include "notifiers/history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notifiers/alertmodel.h"

struct rw_history {
    int fd;
    char *path;
    uint64_t max_bytes;
    struct rw_history_stats st;
};

static int open_fd(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

struct rw_history *rw_history_open(const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "history: no path");
        return NULL;
    }
    struct rw_history *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        snprintf(err, errlen, "history: out of memory");
        return NULL;
    }
    h->max_bytes = max_bytes < 4096 ? 4096 : max_bytes;
    h->fd = open_fd(path);
    struct stat sb;
    if (h->fd < 0 || fstat(h->fd, &sb) < 0) {
        snprintf(err, errlen, "history: cannot open %s: %s", path, strerror(errno));
        if (h->fd >= 0)
            close(h->fd);
        free(h->path);
        free(h);
        return NULL;
    }
    h->st.bytes = (uint64_t)sb.st_size;
    return h;
}

void rw_history_close(struct rw_history **hp)
{
    if (!hp || !*hp)
        return;
    struct rw_history *h = *hp;
    if (h->fd >= 0)
        close(h->fd);
    free(h->path);
    free(h);
    *hp = NULL;
}

/* <path> -> <path>.1 and a fresh <path>. On failure keep appending to the
 * old file rather than lose records. */
static void rotate(struct rw_history *h)
{
    size_t n = strlen(h->path) + 3;
    char *old = malloc(n);
    if (!old)
        return;
    snprintf(old, n, "%s.1", h->path);
    if (rename(h->path, old) == 0) {
        int fd = open_fd(h->path);
        if (fd >= 0) {
            close(h->fd);
            h->fd = fd;
            h->st.bytes = 0;
            h->st.rotations++;
        }
    }
    free(old);
}

int rw_history_write(struct rw_history *h, int64_t now_ms, const json_t *rec)
{
    if (!h)
        return 0;
    if (!json_is_object(rec)) {
        h->st.errors++;
        return -EINVAL;
    }
    char when[RW_AM_TIME_MAX];
    rw_am_time(when, sizeof when, (double)now_ms);
    json_t *line = json_pack("{s:s}", "time", when);
    if (!line || json_object_update(line, (json_t *)rec) != 0) {
        json_decref(line);
        h->st.errors++;
        return -ENOMEM;
    }
    size_t need = json_dumpb(line, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char *buf = need ? malloc(need + 1) : NULL;
    if (!buf) {
        json_decref(line);
        h->st.errors++;
        return -ENOMEM;
    }
    json_dumpb(line, buf, need, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(line);
    buf[need] = '\n';
    if (h->st.bytes > 0 && h->st.bytes + need + 1 > h->max_bytes)
        rotate(h);
    /* One write: O_APPEND makes it land whole at the end. */
    ssize_t w = write(h->fd, buf, need + 1);
    int werr = errno;
    free(buf);
    if (w != (ssize_t)(need + 1)) {
        h->st.errors++;
        if (w > 0)
            h->st.bytes += (uint64_t)w;
        return w < 0 ? -werr : -EIO;
    }
    h->st.bytes += need + 1;
    h->st.records++;
    return 0;
}

void rw_history_stats(const struct rw_history *h, struct rw_history_stats *out)
{
    memset(out, 0, sizeof *out);
    if (h)
        *out = h->st;
}
