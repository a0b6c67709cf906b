/* Authenticated input: ZeroMQ CURVE on the SUB socket, and `rumwatch keygen`
 * (docs/operations.md "Authenticated input (CURVE)").
 *
 * With `input.curve`, the SUB socket is a CURVE server (ZMQ_CURVE_SERVER,
 * the server secret key, ZAP domain "rumwatch") and a ZAP handler (RFC 27)
 * answers libzmq's authentication requests on inproc://zeromq.zap.01 in the
 * socket's context: a publisher whose public key is in the allow-list gets
 * "200", any other "400" and its connection is closed before one message
 * is read. A publisher that does not speak CURVE, or uses another server
 * key, fails the handshake before ZAP is asked; the engine's connection
 * monitor sees that (rw_curve_monitor_events / rw_curve_note_event). With
 * input.bind = false, libzmq gives up a connect endpoint for good after such
 * a failure (until a restart): docs/operations.md says to bind with CURVE.
 *
 * The ZAP handler runs on its own thread: a handshake is answered at once
 * whatever the engine loop is doing (a window close over many series), and
 * the loop's poll set stays as it is. The thread reads only the allow-list,
 * fixed at start; the counters are atomics, the only state both threads see.
 *
 * Ownership: rw_curve_start returns a struct the caller owns and must stop
 * with rw_curve_stop() after closing the SUB socket and before
 * zmq_ctx_term(); `sub` is borrowed; the allow-list is copied (the caller may free its
 * config).
 */
#ifndef RW_CURVE_H
#define RW_CURVE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define RW_CURVE_ZAP_DOMAIN "rumwatch"

struct rw_curve;

struct rw_curve_stats {
    uint64_t allowed;          /* ZAP: key in the allow-list */
    uint64_t denied;           /* ZAP: valid CURVE client, key not allowed */
    uint64_t handshake_failed; /* no CURVE, a wrong server key, garbage (monitor events) */
};

/* With p->on: make `sub` a CURVE server and start the ZAP handler on zctx.
 * Call before `sub` binds or connects: libzmq lets every CURVE client in
 * when no handler is bound. Without p->on: *out = NULL, returns 0. Returns
 * 0 or a negative errno with a message in err (no handler left running). */
int rw_curve_start(struct rw_curve **out, void *zctx, void *sub, const struct rw_curve_params *p,
                   char *err, size_t errlen);
/* Stop the ZAP thread and close its socket; *c = NULL. Safe on NULL. */
void rw_curve_stop(struct rw_curve **c);

/* ZeroMQ monitor events to add to the SUB socket's monitor (0 without curve). */
int rw_curve_monitor_events(const struct rw_curve *c);
/* A monitor event of the SUB socket, endpoint as the monitor gave it (may
 * be NULL): handshake failures are counted and logged (rate-limited).
 * Engine thread only. No-op on NULL or other events. */
void rw_curve_note_event(struct rw_curve *c, int event, const char *endpoint);

/* Counters so far (all zero on NULL). Any thread. */
void rw_curve_stats(const struct rw_curve *c, struct rw_curve_stats *st);

/* `rumwatch keygen [--secret-file PATH]`. */
int rw_cmd_keygen(int argc, char **argv);

#endif
