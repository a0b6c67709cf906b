/* The rumwatch commands. Each returns a process exit code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error. */
#ifndef RW_CMD_H
#define RW_CMD_H

int rw_cmd_run(int argc, char **argv);
int rw_cmd_replay(int argc, char **argv);
int rw_cmd_check(int argc, char **argv);
int rw_cmd_shard(int argc, char **argv);
/* The notification pipeline's CLI (engine/notifycmd.c): silences, the
 * outbox and the daemon's status, through the control socket of a running
 * `rumwatch run`, or on the state directory's files when none runs. */
int rw_cmd_silence(int argc, char **argv);
int rw_cmd_outbox(int argc, char **argv);
int rw_cmd_status(int argc, char **argv);
/* Ask the running daemon to re-read its config (SIGHUP) and report how it went. */
int rw_cmd_reload(int argc, char **argv);

/* Load -c FILE or the built-in default; prints the error and returns NULL. */
struct rw_config;
struct rw_config *rw_cmd_load_config(const char *path);
/* Print "received/accepted/rejected per reason/series..." to stderr. */
struct rw_engine;
void rw_cmd_print_summary(const char *cmd, const struct rw_engine *e, double seconds);
/* Start the notification pipeline of cfg (notifiers/delivery.h). NULL and
 * *failed = 0 when no receiver can send (a warning says so: alerts go to
 * the output only); NULL and *failed = 1 with the error printed when it
 * cannot start (state directory in use, ...). event_time: replay's group
 * timers; control: serve the control socket. */
struct rw_delivery;
struct rw_delivery_opts;
/* The pipeline's options for cfg (borrowing from it); 0 when no receiver
 * can send (a warning says so). */
int rw_cmd_delivery_opts(const struct rw_config *cfg, int event_time, int control,
                         struct rw_delivery_opts *o);
struct rw_delivery *rw_cmd_start_delivery(void *zctx, const struct rw_config *cfg, int event_time,
                                          int control, int *failed);

#endif
