/* Configuration reload bookkeeping (docs/operations.md "Reload").
 *
 * `rumwatch run` reloads its config on SIGHUP. `rumwatch reload` asks for
 * one through the control socket: the delivery thread, which serves that
 * socket, calls rw_reload_control(), which raises SIGHUP in the daemon and
 * answers with the number of reloads attempted so far; the CLI then polls
 * {"cmd": "status"} until that number moves and prints the outcome (the
 * new config's file:line error when it was refused). The engine thread does
 * the reload itself and records the outcome here.
 *
 * Thread-safe: the engine thread writes, the delivery and HTTP threads read.
 * Ownership: the caller owns the struct (rw_reload_new / rw_reload_destroy).
 */
#ifndef RW_RELOAD_H
#define RW_RELOAD_H

#include <jansson.h>
#include <stdint.h>

struct rw_reload_status {
    uint64_t attempts;      /* reloads tried since start */
    uint64_t failures;      /* ... refused (the old config kept running) */
    int last_ok;            /* 1: the last attempt (or the start) loaded its config */
    int64_t last_ms;        /* epoch ms of the last attempt, 0 = none */
    int64_t last_ok_ms;     /* epoch ms the running config was loaded */
    char config[1024];      /* the config file the daemon reads */
    char last_error[1024];  /* the refused config's message ("" when last_ok) */
    char last_summary[512]; /* what the last successful reload kept and dropped */
};

struct rw_reload;

struct rw_reload *rw_reload_new(const char *config_path, int64_t started_ms);
void rw_reload_destroy(struct rw_reload **rp);

/* The engine thread's record of one attempt. msg: the error (ok == 0) or a
 * summary of what changed (ok == 1). */
void rw_reload_record(struct rw_reload *r, int ok, const char *msg, int64_t now_ms);
void rw_reload_get(struct rw_reload *r, struct rw_reload_status *out);

/* {"attempts", "failures", "last_ok", "last_attempt", "last_success",
 *  "config", "error", "summary"} (times as RFC 3339); NULL on ENOMEM. */
json_t *rw_reload_json(struct rw_reload *r);

/* A control-socket handler for the commands the engine side answers:
 * {"cmd": "reload"} raises SIGHUP in this process and replies
 * {"ok": true, "attempts": <before the request>}. Returns NULL for any other
 * command (the caller answers those). ud: the struct rw_reload. */
json_t *rw_reload_control(void *ud, const json_t *req);

#endif
