/* rumwatch: watch Real User Monitoring metrics and alert when real users
 * start having a worse time. Command dispatch only. */
#include <curl/curl.h>
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/cmd.h"
#include "engine/curve.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rumwatch <command> [options]\n"
            "\n"
            "commands:\n"
            "  run     [-c FILE] [-o FILE]          subscribe over ZeroMQ and alert until SIGINT/SIGTERM\n"
            "  replay  [-c FILE] [-o FILE] [--notify] [--state-dir DIR [--snapshot-every DUR]] INPUT...\n"
            "                                       replay NDJSON files ('-' = stdin, .gz ok) in event time\n"
            "  replay  [-c FILE] [-o FILE] --csv NAME FILE\n"
            "                                       replay an exported series (timestamp,value[,n]) of metric NAME\n"
            "  check   [-c FILE]                    validate the config and print the effective rules\n"
            "  silence add [-c FILE] --match L=V [--match ...] [--for 2h] --comment TEXT [--author NAME]\n"
            "  silence list [-c FILE] [--expired] [--json] | silence expire [-c FILE] ID\n"
            "                                       mute matching alerts (persisted across restarts)\n"
            "  outbox  list [-c FILE] [--json] | retry [-c FILE] ID|--all\n"
            "                                       undelivered and dead-lettered notifications\n"
            "  status  [-c FILE] [--json]           the running daemon's notification pipeline\n"
            "  reload  [-c FILE] [--json]           the running daemon re-reads its config (SIGHUP)\n"
            "  shard   PAGE...                      print the topic shard (00-63) of normalized pages\n"
            "  keygen  [--secret-file PATH]         new CURVE key pair for input.curve (Z85); with\n"
            "                                       --secret-file the secret goes to a new 0600 file\n"
            "\n"
            "Without -c the built-in default config (config/rumwatch.conf) is used.\n"
            "rumwatch --version prints the version.\n");
}

int main(int argc, char **argv)
{
    /* GSL's default handler aborts the process; detectors check return codes. */
    gsl_set_error_handler_off();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
#ifdef RW_GIT_COMMIT
        printf("rumwatch %s (git %s)\n", RW_VERSION, RW_GIT_COMMIT);
#else
        printf("rumwatch %s\n", RW_VERSION);
#endif
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "rumwatch: cannot initialise libcurl\n");
        return 1;
    }
    int rc;
    if (strcmp(cmd, "run") == 0)
        rc = rw_cmd_run(argc - 1, argv + 1);
    else if (strcmp(cmd, "replay") == 0)
        rc = rw_cmd_replay(argc - 1, argv + 1);
    else if (strcmp(cmd, "check") == 0)
        rc = rw_cmd_check(argc - 1, argv + 1);
    else if (strcmp(cmd, "shard") == 0)
        rc = rw_cmd_shard(argc - 1, argv + 1);
    else if (strcmp(cmd, "silence") == 0)
        rc = rw_cmd_silence(argc - 1, argv + 1);
    else if (strcmp(cmd, "outbox") == 0)
        rc = rw_cmd_outbox(argc - 1, argv + 1);
    else if (strcmp(cmd, "status") == 0)
        rc = rw_cmd_status(argc - 1, argv + 1);
    else if (strcmp(cmd, "reload") == 0)
        rc = rw_cmd_reload(argc - 1, argv + 1);
    else if (strcmp(cmd, "keygen") == 0)
        rc = rw_cmd_keygen(argc - 1, argv + 1);
    else {
        fprintf(stderr, "rumwatch: unknown command '%s'\n\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
