/* `rumwatch silence`, `rumwatch outbox`, `rumwatch status`: the notification
 * pipeline's CLI.
 *
 * Each command finds the state directory through the config (-c FILE) and
 * talks to the running daemon over its control socket (engine/control.h).
 * When no daemon runs on that directory, silences and the outbox are worked
 * on directly: the silence store and the outbox are files made for that
 * (atomic renames; the outbox CLI never takes the daemon's lock), and the
 * daemon reads them at its next start. A daemon that runs but does not
 * answer is an error: writing behind its back would be lost.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/cmd.h"
#include "engine/control.h"
#include "engine/log.h"
#include "notifiers/delivery.h"
#include "notifiers/outbox.h"
#include "notifiers/silence.h"
#include "notifiers/timeint.h"

#define CALL_TIMEOUT_MS 5000

static const json_t *reload_of(const json_t *status);

struct cli {
    const char *config;
    int json;
    int argc; /* what is left after -c/--config and --json */
    char **argv;
    struct rw_config *cfg;
    const char *state_dir;
};

/* Take -c FILE / --config FILE / --config=FILE and --json from anywhere in
 * argv (argv[0] is the subcommand); the rest stays in order. */
static int cli_parse(struct cli *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->argv = calloc((size_t)argc + 1, sizeof *c->argv);
    if (!c->argv)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "rumwatch: %s needs a file\n", a);
                return -EINVAL;
            }
            c->config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            c->config = a + 9;
        } else if (strncmp(a, "-c", 2) == 0 && a[2]) {
            c->config = a + 2;
        } else if (strcmp(a, "--json") == 0) {
            c->json = 1;
        } else {
            c->argv[c->argc++] = argv[i];
        }
    }
    return 0;
}

static int cli_load(struct cli *c)
{
    c->cfg = rw_cmd_load_config(c->config);
    if (!c->cfg)
        return -EINVAL;
    c->state_dir = c->cfg->notify.state_dir;
    return 0;
}

static void cli_free(struct cli *c)
{
    rw_config_free(&c->cfg);
    free(c->argv);
}

/* Parse argv of a command with subcommands. -1: go on with c->argv[0] as
 * the subcommand; else the exit code (bad options, no subcommand, --help),
 * with c freed. */
static int cli_subcommand(struct cli *c, int argc, char **argv, const char *usage)
{
    if (cli_parse(c, argc, argv)) {
        cli_free(c);
        return 2;
    }
    if (c->argc < 1 || strcmp(c->argv[0], "-h") == 0 || strcmp(c->argv[0], "--help") == 0) {
        int missing = c->argc < 1;
        fputs(usage, missing ? stderr : stdout);
        cli_free(c);
        return missing ? 2 : 0;
    }
    return -1;
}

/* 0 with *reply (ok or not), 1 = no daemon (caller falls back), -1 = error printed. */
static int call(struct cli *c, json_t *req, json_t **reply)
{
    char err[1024];
    int rc = rw_control_call(c->state_dir, req, reply, CALL_TIMEOUT_MS, err, sizeof err);
    json_decref(req);
    if (rc == 0)
        return 0;
    if (rw_control_not_running(rc))
        return 1;
    fprintf(stderr, "rumwatch: %s\n", err);
    return -1;
}

/* A reply with "ok": false: print its error. 1 if ok. */
static int reply_ok(const json_t *reply)
{
    if (json_is_true(json_object_get(reply, "ok")))
        return 1;
    const char *e = json_string_value(json_object_get(reply, "error"));
    fprintf(stderr, "rumwatch: %s\n", e ? e : "the daemon refused the request");
    return 0;
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    if (s) {
        puts(s);
        free(s);
    }
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void offline_note(const struct cli *c, const char *what)
{
    fprintf(stderr, "rumwatch: not running on %s: %s\n", c->state_dir, what);
}

/* ---- silence --------------------------------------------------------------- */

static void print_silences(const json_t *list)
{
    if (!json_array_size(list)) {
        printf("no silences\n");
        return;
    }
    printf("%-36s  %-8s  %-24s  %-24s  %s\n", "ID", "STATE", "STARTS", "ENDS",
           "MATCHERS / BY / COMMENT");
    size_t i;
    const json_t *s;
    json_array_foreach(list, i, s)
    {
        char m[1024] = "";
        size_t off = 0, k;
        const json_t *x;
        json_array_foreach(json_object_get(s, "matchers"), k, x)
        {
            int re = json_is_true(json_object_get(x, "isRegex"));
            int eq = !json_is_false(json_object_get(x, "isEqual"));
            int w =
                snprintf(m + off, sizeof m - off, "%s%s%s\"%s\"", off ? "," : "", str(x, "name"),
                         re ? (eq ? "=~" : "!~") : (eq ? "=" : "!="), str(x, "value"));
            if (w < 0 || (size_t)w >= sizeof m - off)
                break;
            off += (size_t)w;
        }
        printf("%-36s  %-8s  %-24s  %-24s  {%s} by %s: %s\n", str(s, "id"),
               str(json_object_get(s, "status"), "state"), str(s, "startsAt"), str(s, "endsAt"), m,
               str(s, "createdBy")[0] ? str(s, "createdBy") : "-", str(s, "comment"));
    }
}

static struct rw_silences *open_store(const struct cli *c)
{
    char warn[512] = "", err[512] = "";
    struct rw_silences *s =
        rw_silences_open(c->state_dir, NULL, rw_wall_ms(), warn, sizeof warn, err, sizeof err);
    if (warn[0])
        fprintf(stderr, "rumwatch: warning: %s\n", warn);
    if (!s)
        fprintf(stderr, "rumwatch: %s\n", err);
    return s;
}

static int silence_add(struct cli *c)
{
    struct rw_silence_spec spec;
    char err[1024];
    int64_t now = rw_wall_ms();
    if (rw_silence_parse_args(c->argc - 1, c->argv + 1, now, &spec, err, sizeof err)) {
        fprintf(stderr, "rumwatch silence add: %s\n", err);
        return 2;
    }
    if (!spec.created_by[0]) {
        const char *u = getenv("USER");
        snprintf(spec.created_by, sizeof spec.created_by, "%s", u && *u ? u : "rumwatch-cli");
    }
    json_t *reply = NULL;
    int rc = call(
        c, json_pack("{s:s, s:o}", "cmd", "silence.add", "silence", rw_silence_spec_to_json(&spec)),
        &reply);
    char id[RW_SILENCE_ID_LEN + 1] = "";
    int code = 0;
    if (rc == 0) {
        if (reply_ok(reply))
            snprintf(id, sizeof id, "%s", str(reply, "id"));
        else
            code = 1;
    } else if (rc == 1) {
        /* No daemon: the store is a file; the next start reads it. */
        struct rw_silences *s = open_store(c);
        if (!s || rw_silences_add(s, &spec, now, id, err, sizeof err)) {
            if (s)
                fprintf(stderr, "rumwatch silence add: %s\n", err);
            code = 1;
        } else {
            offline_note(c, "silence written to silences.json, in effect from the next start");
        }
        rw_silences_close(&s);
    } else {
        code = 1;
    }
    if (!code) {
        if (c->json) {
            json_t *o = json_pack("{s:s}", "id", id);
            print_json(o);
            json_decref(o);
        } else {
            char until[40];
            rw_time_format(spec.ends_ms, until, sizeof until);
            printf("%s\n", id);
            fprintf(stderr, "silence %s added, until %s\n", id, until);
        }
    }
    json_decref(reply);
    rw_silence_spec_clear(&spec);
    return code;
}

static int silence_list(struct cli *c)
{
    int expired = 0;
    for (int i = 1; i < c->argc; i++) {
        if (strcmp(c->argv[i], "--expired") == 0 || strcmp(c->argv[i], "--all") == 0)
            expired = 1;
        else {
            fprintf(stderr, "rumwatch silence list: unknown argument '%s'\n", c->argv[i]);
            return 2;
        }
    }
    json_t *reply = NULL, *list = NULL;
    int rc = call(c, json_pack("{s:s, s:b}", "cmd", "silence.list", "expired", expired), &reply);
    if (rc < 0)
        return 1;
    if (rc == 0) {
        if (!reply_ok(reply)) {
            json_decref(reply);
            return 1;
        }
        list = json_incref(json_object_get(reply, "silences"));
    } else {
        struct rw_silences *s = open_store(c);
        if (!s)
            return 1;
        list = rw_silences_list(s, rw_wall_ms(), expired);
        rw_silences_close(&s);
    }
    if (c->json)
        print_json(list);
    else
        print_silences(list);
    json_decref(list);
    json_decref(reply);
    return 0;
}

static int silence_expire(struct cli *c)
{
    if (c->argc != 2) {
        fprintf(stderr, "usage: rumwatch silence expire [-c FILE] ID\n");
        return 2;
    }
    const char *id = c->argv[1];
    json_t *reply = NULL;
    int rc = call(c, json_pack("{s:s, s:s}", "cmd", "silence.expire", "id", id), &reply);
    int code = 0;
    if (rc < 0) {
        code = 1;
    } else if (rc == 0) {
        code = reply_ok(reply) ? 0 : 1;
    } else {
        char err[512];
        struct rw_silences *s = open_store(c);
        if (!s || rw_silences_expire(s, id, rw_wall_ms(), err, sizeof err)) {
            if (s)
                fprintf(stderr, "rumwatch: %s\n", err);
            code = 1;
        } else {
            offline_note(c, "silences.json updated");
        }
        rw_silences_close(&s);
    }
    if (!code)
        fprintf(stderr, "silence %s expired\n", id);
    json_decref(reply);
    return code;
}

int rw_cmd_silence(int argc, char **argv)
{
    static const char usage[] =
        "usage: rumwatch silence add [-c FILE] --match LABEL=VALUE [--match ...] [--for 2h | "
        "--until T]\n"
        "                            [--start T] --comment TEXT [--author NAME] [--json]\n"
        "       rumwatch silence list [-c FILE] [--expired] [--json]\n"
        "       rumwatch silence expire [-c FILE] ID\n";
    struct cli c;
    int early = cli_subcommand(&c, argc, argv, usage);
    if (early >= 0)
        return early;
    int rc;
    if (strcmp(c.argv[0], "add") && strcmp(c.argv[0], "list") && strcmp(c.argv[0], "expire")) {
        fprintf(stderr, "rumwatch silence: unknown subcommand '%s'\n%s", c.argv[0], usage);
        rc = 2;
    } else if (cli_load(&c)) {
        rc = 2;
    } else if (strcmp(c.argv[0], "add") == 0) {
        rc = silence_add(&c);
    } else if (strcmp(c.argv[0], "list") == 0) {
        rc = silence_list(&c);
    } else {
        rc = silence_expire(&c);
    }
    cli_free(&c);
    return rc;
}

/* ---- outbox -------------------------------------------------------------------- */

static void print_outbox(const json_t *list)
{
    if (!json_array_size(list)) {
        printf("outbox empty\n");
        return;
    }
    printf("%-34s  %-8s  %-16s  %4s  %-24s  %-8s  %s\n", "ID", "STATE", "RECEIVER", "TRY",
           "NEXT ATTEMPT / DEAD AT", "STATUS", "LAST ERROR / REASON");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *when = str(e, "dead_at")[0] ? str(e, "dead_at") : str(e, "next_attempt");
        char why[400];
        if (str(e, "dead_reason")[0])
            snprintf(why, sizeof why, "%s: %s", str(e, "dead_reason"), str(e, "last_error"));
        else
            snprintf(why, sizeof why, "%s", str(e, "last_error"));
        char status[32];
        snprintf(status, sizeof status, "%s:%lld", str(e, "status"),
                 (long long)json_integer_value(json_object_get(e, "alerts")));
        printf("%-34s  %-8s  %-16s  %4lld  %-24s  %-8s  %s%s\n", str(e, "id"), str(e, "state"),
               str(e, "receiver"), (long long)json_integer_value(json_object_get(e, "attempts")),
               when, status, why,
               json_is_true(json_object_get(e, "retry_requested")) ? " (retry requested)" : "");
    }
}

static int outbox_list(struct cli *c)
{
    int bodies = 0, limit = 0;
    for (int i = 1; i < c->argc; i++) {
        if (strcmp(c->argv[i], "--bodies") == 0)
            bodies = 1;
        else if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
            char *end;
            long v = strtol(c->argv[++i], &end, 10);
            if (*end || end == c->argv[i] || v < 1 || v > 1000000) {
                fprintf(stderr, "rumwatch outbox list: --limit takes a number from 1 to 1000000\n");
                return 2;
            }
            limit = (int)v;
        } else {
            fprintf(stderr, "rumwatch outbox list: unknown argument '%s'\n", c->argv[i]);
            return 2;
        }
    }
    /* Listing only reads complete files, with or without a daemon: do it
     * here rather than make the delivery thread read every record. */
    char err[1024];
    json_t *list = rw_delivery_outbox_list(c->state_dir, limit, bodies, err, sizeof err);
    if (!list) {
        fprintf(stderr, "rumwatch: %s\n", err);
        return 1;
    }
    if (c->json)
        print_json(list);
    else
        print_outbox(list);
    json_decref(list);
    return 0;
}

static int outbox_retry(struct cli *c)
{
    const char *id = NULL;
    int all = 0;
    for (int i = 1; i < c->argc; i++) {
        if (strcmp(c->argv[i], "--all") == 0)
            all = 1;
        else if (!id && c->argv[i][0] != '-')
            id = c->argv[i];
        else {
            fprintf(stderr, "rumwatch outbox retry: unexpected '%s'\n", c->argv[i]);
            return 2;
        }
    }
    if (!!id == all) {
        fprintf(stderr, "usage: rumwatch outbox retry [-c FILE] ID|--all\n");
        return 2;
    }
    json_t *reply = NULL;
    json_t *req = all ? json_pack("{s:s, s:b}", "cmd", "outbox.retry", "all", 1)
                      : json_pack("{s:s, s:s}", "cmd", "outbox.retry", "id", id);
    int rc = call(c, req, &reply);
    long n = 0;
    int code = 0;
    if (rc < 0) {
        code = 1;
    } else if (rc == 0) {
        if (reply_ok(reply))
            n = (long)json_integer_value(json_object_get(reply, "count"));
        else
            code = 1;
    } else {
        char dir[600], err[512];
        if (rw_delivery_outbox_dir(c->state_dir, dir, sizeof dir)) {
            fprintf(stderr, "rumwatch: state directory path too long\n");
            code = 1;
        } else if (access(dir, F_OK) != 0) {
            fprintf(stderr, "rumwatch: no outbox at %s: nothing to retry\n", dir);
            code = 1;
        } else if ((n = rw_outbox_retry(dir, id, err, sizeof err)) < 0) {
            fprintf(stderr, "rumwatch: %s\n", err);
            code = 1;
        } else {
            offline_note(c, "retry requested, applied at the next start");
        }
    }
    if (!code)
        fprintf(stderr, "%ld notification(s) due for a new attempt\n", n);
    json_decref(reply);
    return code;
}

int rw_cmd_outbox(int argc, char **argv)
{
    static const char usage[] =
        "usage: rumwatch outbox list [-c FILE] [--json] [--bodies] [--limit N]\n"
        "       rumwatch outbox retry [-c FILE] ID|--all\n";
    struct cli c;
    int early = cli_subcommand(&c, argc, argv, usage);
    if (early >= 0)
        return early;
    int rc;
    if (strcmp(c.argv[0], "list") && strcmp(c.argv[0], "retry")) {
        fprintf(stderr, "rumwatch outbox: unknown subcommand '%s'\n%s", c.argv[0], usage);
        rc = 2;
    } else if (cli_load(&c)) {
        rc = 2;
    } else {
        rc = strcmp(c.argv[0], "list") == 0 ? outbox_list(&c) : outbox_retry(&c);
    }
    cli_free(&c);
    return rc;
}

/* ---- status ----------------------------------------------------------------------- */

int rw_cmd_status(int argc, char **argv)
{
    struct cli c;
    int rc = 2;
    if (cli_parse(&c, argc, argv) || c.argc > 0) {
        fprintf(stderr, "usage: rumwatch status [-c FILE] [--json]\n");
        goto out;
    }
    if (cli_load(&c))
        goto out;
    json_t *reply = NULL;
    int r = call(&c, json_pack("{s:s}", "cmd", "status"), &reply);
    if (r != 0) {
        if (r == 1)
            fprintf(stderr, "rumwatch: not running on %s\n", c.state_dir);
        rc = 1;
        goto out;
    }
    if (!reply_ok(reply)) {
        json_decref(reply);
        rc = 1;
        goto out;
    }
    if (c.json) {
        print_json(reply);
    } else {
        const json_t *st = json_object_get(reply, "stats");
        printf("rumwatch %s, pid %lld, up since %s, state %s\n", str(reply, "version"),
               (long long)json_integer_value(json_object_get(reply, "pid")), str(reply, "started"),
               str(reply, "state_dir"));
        const char *k;
        json_t *v;
        printf("notifications:");
        json_object_foreach((json_t *)st, k, v)
            printf(" %s=%lld", k, (long long)json_integer_value(v));
        const json_t *rl = reload_of(reply);
        if (rl)
            printf("\nconfig %s, loaded %s; reloads %lld (%lld refused)%s%s", str(rl, "config"),
                   str(rl, "last_success"),
                   (long long)json_integer_value(json_object_get(rl, "attempts")),
                   (long long)json_integer_value(json_object_get(rl, "failures")),
                   json_is_true(json_object_get(rl, "last_ok")) ? "" : "; last refused: ",
                   str(rl, "error"));
        const json_t *sl = json_object_get(reply, "silences");
        printf("\nsilences: %lld active, %lld pending\nreceivers:\n",
               (long long)json_integer_value(json_object_get(sl, "active")),
               (long long)json_integer_value(json_object_get(sl, "pending")));
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(reply, "receivers"), i, e)
            printf("  %-16s %-12s in flight %lld, queued %lld%s%s\n", str(e, "name"),
                   str(e, "type"), (long long)json_integer_value(json_object_get(e, "inflight")),
                   (long long)json_integer_value(json_object_get(e, "queued")),
                   str(e, "problem")[0] ? ", cannot send: " : "", str(e, "problem"));
    }
    json_decref(reply);
    rc = 0;
out:
    cli_free(&c);
    return rc;
}

/* ---- rumwatch reload ------------------------------------------------------------ */

#define RELOAD_WAIT_MS 30000 /* a reload rebuilds the engine: seconds for a big keyspace */

/* The daemon's reload record from a status reply (borrowed), NULL if none. */
static const json_t *reload_of(const json_t *status)
{
    return json_object_get(json_object_get(status, "engine"), "reload");
}

int rw_cmd_reload(int argc, char **argv)
{
    struct cli c;
    int rc = 2;
    json_t *reply = NULL;
    if (cli_parse(&c, argc, argv) || c.argc > 0) {
        fprintf(stderr, "usage: rumwatch reload [-c FILE] [--json]\n");
        goto out;
    }
    /* The config must load here first: its errors are printed with their
     * file:line, and the daemon is left alone. */
    if (cli_load(&c)) {
        fprintf(stderr, "rumwatch: not reloaded: the running config stays\n");
        goto out;
    }
    rc = 1;
    int r = call(&c, json_pack("{s:s}", "cmd", "reload"), &reply);
    if (r == 1)
        fprintf(stderr,
                "rumwatch: no daemon answers on %s/" RW_CONTROL_SOCK
                " (without receivers there is no control socket: send the daemon SIGHUP, e.g. "
                "`systemctl reload rumwatch`)\n",
                c.state_dir);
    if (r != 0 || !reply_ok(reply))
        goto out;
    json_int_t before = json_integer_value(json_object_get(reply, "attempts"));
    for (int waited = 0; waited < RELOAD_WAIT_MS; waited += 100) {
        json_decref(reply);
        reply = NULL;
        usleep(100 * 1000);
        if (call(&c, json_pack("{s:s}", "cmd", "status"), &reply) != 0 || !reply_ok(reply))
            goto out;
        const json_t *rl = reload_of(reply);
        if (!rl) {
            fprintf(stderr, "rumwatch: this daemon does not report reloads\n");
            goto out;
        }
        if (json_integer_value(json_object_get(rl, "attempts")) <= before)
            continue;
        int ok = json_is_true(json_object_get(rl, "last_ok"));
        if (c.json)
            print_json(rl);
        else if (ok)
            printf("reloaded %s: %s\n", str(rl, "config"), str(rl, "summary"));
        else
            fprintf(stderr, "rumwatch: reload refused: %s\nrumwatch: the running config stays\n",
                    str(rl, "error"));
        rc = ok ? 0 : 1;
        goto out;
    }
    fprintf(stderr, "rumwatch: the daemon did not report the reload within %d s\n",
            RELOAD_WAIT_MS / 1000);
out:
    json_decref(reply);
    cli_free(&c);
    return rc;
}
