/* The control socket of a running `rumwatch run`: ZeroMQ REQ/REP over
 * ipc://<state_dir>/control.sock (mode 0600, in a 0700 state directory), one
 * JSON object per request and per reply (docs/notifications.md "Control
 * socket"):
 *   {"cmd": "status"}
 *   {"cmd": "silence.add", "silence": <Alertmanager postable silence>}
 *   {"cmd": "silence.list", "expired": true|false}
 *   {"cmd": "silence.expire", "id": "<id or unique prefix>"}
 *   {"cmd": "outbox.list", "limit": N, "bodies": true|false}
 *   {"cmd": "outbox.retry", "id": "<id>"} or {"cmd": "outbox.retry", "all": true}
 *   {"cmd": "reload"} (answered for the engine: engine/reload.h)
 * Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
 *
 * The server side is polled by the thread that owns what the requests touch
 * (the delivery thread: silences and outbox); requests are answered one at
 * a time by a handler callback, never blocking.
 *
 * Ownership: rw_control_bind borrows the ZeroMQ context (it must outlive the
 * server); the server owns its socket and removes the socket file on close.
 * Replies from rw_control_call are new references.
 */
#ifndef RW_CONTROL_H
#define RW_CONTROL_H

#include <jansson.h>
#include <stddef.h>

#define RW_CONTROL_SOCK "control.sock"
#define RW_CONTROL_MAX_MSG (4 << 20) /* bytes of one request or reply */

/* ---- server ------------------------------------------------------------ */

struct rw_control;

/* Bind ipc://<state_dir>/control.sock (a stale file from a crashed daemon is
 * replaced: callers hold the state directory's outbox lock first, so no live
 * daemon owns it) and make it 0600. NULL with a message on error (path too
 * long for a unix socket, bind failed). */
struct rw_control *rw_control_bind(void *zctx, const char *state_dir, char *err, size_t errlen);
/* Close the socket and remove the file. Sets *cp to NULL; safe on NULL. */
void rw_control_close(struct rw_control **cp);
/* The socket's ZMQ_FD (edge-triggered: call rw_control_serve whenever it
 * signals, and before blocking), -1 on error. */
int rw_control_fd(const struct rw_control *c);
/* 1 if a request is waiting (ZMQ_EVENTS): check it last before blocking. */
int rw_control_readable(struct rw_control *c);

/* Answer up to `max` waiting requests: each parsed request (a JSON object)
 * goes to fn, whose reply (a new reference; NULL = out of memory) is sent
 * back. Malformed requests get {"ok": false, "error": ...} without calling
 * fn. Never blocks. Returns how many requests were answered. */
typedef json_t *(*rw_control_fn)(void *ud, const json_t *req);
int rw_control_serve(struct rw_control *c, rw_control_fn fn, void *ud, int max);

/* ---- client ------------------------------------------------------------ */

/* Send one request to the daemon owning state_dir and wait up to timeout_ms
 * for the reply. 0 with *reply set, or:
 *   -ENOENT        no socket: no daemon runs on this state directory
 *   -ECONNREFUSED  a socket file nobody listens on (the daemon died)
 *   -ETIMEDOUT     a daemon is there but did not answer in time
 *   -EPROTO        the reply is not a JSON object
 *   other          negative errno
 * with a message in err. */
int rw_control_call(const char *state_dir, const json_t *req, json_t **reply, int timeout_ms,
                    char *err, size_t errlen);
/* 1 if the error means "no daemon is running" (the CLI may then work on the
 * state directory's files itself). */
int rw_control_not_running(int rc);

#endif
