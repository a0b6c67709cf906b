/* The control socket (see control.h). */
#include "engine/control.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

struct rw_control {
    void *rep;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int sock_path(const char *state_dir, char *out, size_t outlen, char *err, size_t errlen)
{
    int n = snprintf(out, outlen, "%s/%s", state_dir, RW_CONTROL_SOCK);
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen,
                 "control socket path %s/%s is longer than a unix socket allows (%zu bytes): "
                 "use a shorter notify.state_dir",
                 state_dir, RW_CONTROL_SOCK, outlen - 1);
        return -ENAMETOOLONG;
    }
    return 0;
}

struct rw_control *rw_control_bind(void *zctx, const char *state_dir, char *err, size_t errlen)
{
    struct rw_control *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sock_path(state_dir, c->path, sizeof c->path, err, errlen)) {
        free(c);
        return NULL;
    }
    c->rep = zmq_socket(zctx, ZMQ_REP);
    char ep[sizeof c->path + 8];
    snprintf(ep, sizeof ep, "ipc://%s", c->path);
    int zero = 0;
    int64_t maxmsg = RW_CONTROL_MAX_MSG;
    if (c->rep) {
        zmq_setsockopt(c->rep, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(c->rep, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    }
    /* libzmq replaces a leftover socket file itself on bind. */
    if (!c->rep || zmq_bind(c->rep, ep) != 0) {
        snprintf(err, errlen, "cannot bind the control socket %s: %s", ep,
                 zmq_strerror(zmq_errno()));
        if (c->rep)
            zmq_close(c->rep);
        free(c);
        return NULL;
    }
    if (chmod(c->path, 0600) != 0) {
        snprintf(err, errlen, "cannot chmod 0600 %s: %s", c->path, strerror(errno));
        zmq_close(c->rep);
        unlink(c->path);
        free(c);
        return NULL;
    }
    return c;
}

void rw_control_close(struct rw_control **cp)
{
    if (!cp || !*cp)
        return;
    struct rw_control *c = *cp;
    zmq_close(c->rep);
    unlink(c->path);
    free(c);
    *cp = NULL;
}

int rw_control_fd(const struct rw_control *c)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (!c || zmq_getsockopt(c->rep, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

int rw_control_readable(struct rw_control *c)
{
    int ev = 0;
    size_t len = sizeof ev;
    return c && zmq_getsockopt(c->rep, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN);
}

static json_t *error_reply(const char *msg)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

int rw_control_serve(struct rw_control *c, rw_control_fn fn, void *ud, int max)
{
    int done = 0;
    while (c && done < max) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->rep, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        /* A REP socket must answer every request before the next one, so a
         * multi-part request still gets one reply. */
        int more = zmq_msg_more(&m);
        json_error_t jerr;
        json_t *req = more ? NULL : json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
        zmq_msg_close(&m);
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, c->rep, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        json_t *reply;
        if (!json_is_object(req))
            reply = error_reply("a request is one JSON object, e.g. {\"cmd\": \"status\"}");
        else if (!(reply = fn(ud, req)))
            reply = error_reply("out of memory");
        json_decref(req);
        char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
        json_decref(reply);
        if (!text)
            text = strdup("{\"ok\":false,\"error\":\"out of memory\"}");
        if (!text || zmq_send(c->rep, text, strlen(text), ZMQ_DONTWAIT) < 0)
            zmq_send(c->rep, "{}", 2, ZMQ_DONTWAIT); /* keep the REP state machine going */
        free(text);
        done++;
    }
    return done;
}

/* ---- client ------------------------------------------------------------------ */

/* A plain connect tells "no daemon" apart from "daemon busy" at once:
 * ZeroMQ would keep retrying a dead socket in the background. */
static int probe(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int rw_control_not_running(int rc)
{
    return rc == -ENOENT || rc == -ECONNREFUSED;
}

int rw_control_call(const char *state_dir, const json_t *req, json_t **reply, int timeout_ms,
                    char *err, size_t errlen)
{
    *reply = NULL;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int rc = sock_path(state_dir, path, sizeof path, err, errlen);
    if (rc)
        return rc;
    rc = probe(path);
    if (rc == -ENOENT || rc == -ECONNREFUSED) {
        snprintf(err, errlen, "rumwatch is not running on %s (%s)", state_dir,
                 rc == -ENOENT ? "no control socket" : "stale control socket");
        return rc;
    }
    if (rc) {
        snprintf(err, errlen, "cannot reach %s: %s", path, strerror(-rc));
        return rc;
    }
    char *text = json_dumps(req, JSON_COMPACT);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    if (!text || !s) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    int zero = 0, one = 1;
    int64_t maxmsg = RW_CONTROL_MAX_MSG;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char ep[sizeof path + 8];
    snprintf(ep, sizeof ep, "ipc://%s", path);
    if (zmq_connect(s, ep) != 0 || zmq_send(s, text, strlen(text), 0) < 0) {
        rc = zmq_errno() == EAGAIN ? -ETIMEDOUT : -zmq_errno();
        snprintf(err, errlen, "cannot send to %s: %s", path,
                 rc == -ETIMEDOUT ? "no answer" : zmq_strerror(-rc));
        goto out;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) {
        rc = zmq_errno() == EAGAIN ? -ETIMEDOUT : -zmq_errno();
        snprintf(err, errlen, "no answer from rumwatch on %s within %d ms", path, timeout_ms);
        zmq_msg_close(&m);
        goto out;
    }
    json_error_t jerr;
    json_t *r = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
    zmq_msg_close(&m);
    if (!json_is_object(r)) {
        json_decref(r);
        snprintf(err, errlen, "rumwatch sent a reply that is not a JSON object");
        rc = -EPROTO;
        goto out;
    }
    *reply = r;
    rc = 0;
out:
    free(text);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
