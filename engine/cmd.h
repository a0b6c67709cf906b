/* The rumwatch commands. Each returns a process exit code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error. */
#ifndef RW_CMD_H
#define RW_CMD_H

int rw_cmd_run(int argc, char **argv);
int rw_cmd_replay(int argc, char **argv);
int rw_cmd_check(int argc, char **argv);
int rw_cmd_shard(int argc, char **argv);

/* Load -c FILE or the built-in default; prints the error and returns NULL. */
struct rw_config;
struct rw_config *rw_cmd_load_config(const char *path);
/* Print "received/accepted/rejected per reason/series..." to stderr. */
struct rw_engine;
void rw_cmd_print_summary(const char *cmd, const struct rw_engine *e, double seconds);

#endif
