/* Config loader: walks libconfig settings against option tables.
 * Every error names file, line and the key path; unknown keys are errors. */
#include "config/config.h"
#include "config/cfgerr.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "engine/event.h"
#include "engine/httpd.h"
#include "engine/log.h"
#include "engine/metric.h"
#include "notifiers/sign.h"

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

#define EOPT(field, type, def, lo, hi, help) \
    {#field, type, offsetof(struct rw_engine_params, field), def, lo, hi, NULL, 0, NULL, help}

static const struct rw_option engine_options[] = {
    EOPT(window, RW_OPT_DOUBLE, 60, 1, 86400, "window length in seconds (tumbling, event time)"),
    EOPT(lateness, RW_OPT_DOUBLE, 30, 0, 86400, "how late (s) an event may arrive after its window ends"),
    EOPT(max_future, RW_OPT_DOUBLE, 30, 0, 86400,
         "run mode: events more than this many seconds ahead of the wall clock are rejected"),
    EOPT(idle_expire, RW_OPT_DOUBLE, 86400, 60, 365 * 86400.0,
         "a series with no events for this long (s) and no active alert is forgotten"),
    EOPT(max_series, RW_OPT_INT, 20000, 1, 10000000,
         "default cap on series per scope; new keys beyond it fold into '(other)'"),
    EOPT(max_seg_value, RW_OPT_INT, 128, 1, RW_SEG_VALUE_MAX, "longest accepted segment value, bytes"),
    EOPT(max_message, RW_OPT_INT, 65536, 256, 64 << 20,
         "largest accepted message / NDJSON line, bytes (also ZMQ_MAXMSGSIZE)"),
    {"log_level", RW_OPT_ENUM, offsetof(struct rw_engine_params, log_level), 1, 0, 0, NULL, 0,
     log_level_names, "debug | info | warn | error"},
    EOPT(stats_interval, RW_OPT_DOUBLE, 60, 0, 86400, "run mode: seconds between stats log lines (0 = off)"),
    EOPT(drain_timeout, RW_OPT_DOUBLE, 10, 0, 3600,
         "run mode: seconds to keep delivering queued notifications at shutdown"),
    EOPT(pool_windows, RW_OPT_INT, 5, 1, 60,
         "a series with fewer than pool_min_n measurements of a vital in a window is evaluated "
         "on up to this many consecutive windows pooled (1 = off)"),
    EOPT(pool_min_n, RW_OPT_INT, 30, 1, 1000000, "measurements a pooled evaluation waits for"),
    EOPT(max_memory, RW_OPT_INT, 0, 0, 16 << 20,
         "MiB the keyspace may take with every scope at its series cap (checked at load; 0 = "
         "unchecked)"),
    EOPT(snapshot_interval, RW_OPT_DOUBLE, 300, 0, 86400,
         "run mode: seconds between engine state snapshots (<notify.state_dir>/engine.snap; "
         "also written at shutdown and loaded at start); 0 = off"),
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};

#define NOPT(field, type, def, lo, hi, help) \
    {#field, type, offsetof(struct rw_notifier_cfg, field), def, lo, hi, NULL, 0, NULL, help}

static const struct rw_option notifier_options[] = {
    {"name", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, name), 0, 0, 0, "", RW_NOTIFIER_NAME_MAX,
     NULL, "receiver name (unique)"},
    {"type", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, type), 0, 0, 0, "", 32, NULL,
     "webhook | slack | alertmanager | pagerduty"},
    {"url", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, url), 0, 0, 0, "", RW_URL_MAX, NULL,
     "endpoint URL (prefer url_env for secrets); alertmanager: its base URL; "
     "pagerduty: default " RW_PAGERDUTY_URL},
    {"url_env", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, url_env), 0, 0, 0, "", 128, NULL,
     "name of an environment variable holding the URL"},
    NOPT(timeout, RW_OPT_DOUBLE, 5, 0.05, 300, "seconds per attempt"),
    NOPT(retries, RW_OPT_INT, -1, -1, 1000000,
         "extra attempts after the first before the notification is dead-lettered "
         "(-1 = keep trying until notify.outbox.max_age)"),
    NOPT(backoff, RW_OPT_DOUBLE, 1, 0, 3600, "first retry delay (s), doubled per attempt, +-25% jitter"),
    NOPT(max_backoff, RW_OPT_DOUBLE, 60, 0.1, 86400, "cap on one retry delay (s)"),
    {"min_severity", RW_OPT_ENUM, offsetof(struct rw_notifier_cfg, min_severity), 0, 0, 0, NULL, 0,
     rw_severity_names, "info | warning | critical: lower severities are not sent"},
    NOPT(send_resolved, RW_OPT_BOOL, 1, 0, 1, "also send resolution notifications"),
    NOPT(max_alerts, RW_OPT_INT, 0, 0, 100000,
         "alerts listed per message (0 = all for webhook, the receiver's own cap otherwise)"),
    NOPT(resend_interval, RW_OPT_DOUBLE, 0, 0, 3600,
         "alertmanager: seconds between re-sends of a firing alert (endsAt = now + 4 x this); "
         "0 = notify.resend_interval"),
    {"secret_env", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, secret_env), 0, 0, 0, "", 128, NULL,
     "environment variable holding the Standard Webhooks signing secret (whsec_<base64> or raw)"},
    {"secret_file", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, secret_file), 0, 0, 0, "", 512,
     NULL, "file holding the signing secret"},
    {"routing_key_env", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, routing_key_env), 0, 0, 0,
     "", 128, NULL, "pagerduty: environment variable holding the integration's routing key"},
    {"routing_key_file", RW_OPT_STRING, offsetof(struct rw_notifier_cfg, routing_key_file), 0, 0, 0,
     "", 512, NULL, "pagerduty: file holding the routing key"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};

#define POPT(field, type, def, lo, hi, help) \
    {#field, type, offsetof(struct rw_notify_params, field), def, lo, hi, NULL, 0, NULL, help}

static const struct rw_option notify_options[] = {
    {"external_url", RW_OPT_STRING, offsetof(struct rw_notify_params, external_url), 0, 0, 0, "",
     RW_URL_MAX, NULL,
     "rumwatch's own URL: notifications carry it as externalURL and alerts link to "
     "<external_url>/api/alerts?fingerprint=... (\"\" = no links)"},
    {"state_dir", RW_OPT_STRING, offsetof(struct rw_notify_params, state_dir), 0, 0, 0,
     "rumwatch-state", RW_PATH_MAX, NULL,
     "directory for the outbox, silences, history and the control socket (a relative path is "
     "taken from the config file's directory)"},
    {"history", RW_OPT_STRING, offsetof(struct rw_notify_params, history), 0, 0, 0,
     "history.jsonl", RW_PATH_MAX, NULL,
     "JSON-lines log of every alert transition and delivery attempt (relative to state_dir; "
     "\"\" = off)"},
    POPT(history_max_bytes, RW_OPT_INT, 64 << 20, 65536, 2147483647.0,
         "the history rotates to <history>.1 beyond this many bytes"),
    POPT(resend_interval, RW_OPT_DOUBLE, 60, 1, 3600,
         "default for alertmanager receivers: seconds between re-posts of firing alerts"),
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};
static const char *const notify_extra_keys[] = {"outbox", NULL};

#define OOPT(field, type, def, lo, hi, help) \
    {#field, type, offsetof(struct rw_notify_outbox_params, field), def, lo, hi, NULL, 0, NULL, help}

static const struct rw_option outbox_options[] = {
    OOPT(max_count, RW_OPT_INT, 10000, 1, 10000000,
         "pending notifications at most; beyond, the oldest is dead-lettered (\"outbox full\")"),
    OOPT(max_bytes, RW_OPT_INT, 64 << 20, 65536, 2147483647.0,
         "pending bytes on disk at most; beyond, the oldest is dead-lettered"),
    OOPT(max_age, RW_OPT_DOUBLE, 86400, 1, 90 * 86400.0,
         "seconds: a notification still failing this long after it was queued is dead-lettered"),
    OOPT(max_dead, RW_OPT_INT, 1000, 1, 1000000, "dead letters kept for `rumwatch outbox retry`"),
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};

#define HOPT(field, type, def, lo, hi, help) \
    {#field, type, offsetof(struct rw_http_params, field), def, lo, hi, NULL, 0, NULL, help}

/* `http`: present = on (listen defaults to loopback); absent = off. */
static const struct rw_option http_options[] = {
    {"listen", RW_OPT_STRING, offsetof(struct rw_http_params, listen), 0, 0, 0, "127.0.0.1:9464",
     sizeof(((struct rw_http_params *)0)->listen), NULL,
     "address of /metrics, /healthz and /api/alerts: \"HOST:PORT\" or \"[IPv6]:PORT\" "
     "(\"\" = off)"},
    HOPT(tick_timeout, RW_OPT_DOUBLE, 10, 1, 3600,
         "/healthz fails when the engine loop has not run for this many seconds"),
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};

static const struct rw_option heartbeat_options[] = {
    {"receiver", RW_OPT_STRING, offsetof(struct rw_heartbeat_params, receiver), 0, 0, 0, "",
     RW_NOTIFIER_NAME_MAX, NULL, "the `notifiers` name that gets the heartbeats (required)"},
    {"interval", RW_OPT_DOUBLE, offsetof(struct rw_heartbeat_params, interval), 300, 1, 86400,
     NULL, 0, NULL, "seconds between heartbeats, sent while events are being accepted"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL},
};

/* Receiver keys load_notifiers reads itself (not scalar options). */
static const char *const notifier_extra_keys[] = {"headers", "links", "tls_verify", NULL};

/* ---- error helpers ---------------------------------------------------- */

struct ctx {
    const char *name; /* file name for messages */
    char *err;
    size_t errlen;
    const char *path; /* the config file, NULL for a string: relative paths start here */
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rw_cfg_vfail(c->err, c->errlen, c->name, s, fmt, ap);
    va_end(ap);
    return rc;
}

static int is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT ||
           t == CONFIG_TYPE_BOOL;
}

static int set_option(struct ctx *c, const config_setting_t *s, const struct rw_option *opt,
                      void *params)
{
    char msg[256];
    int rc;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        rc = rw_options_set_string(opt, params, config_setting_get_string(s), msg, sizeof msg);
    } else if (is_number(s)) {
        if ((opt->type == RW_OPT_BOOL) != (config_setting_type(s) == CONFIG_TYPE_BOOL))
            return fail(c, s, "expects %s", opt->type == RW_OPT_BOOL ? "true or false" : "a number");
        double v = config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                   : config_setting_type(s) == CONFIG_TYPE_BOOL ? config_setting_get_bool(s)
                                                                : (double)config_setting_get_int64(s);
        rc = rw_options_set_number(opt, params, v, msg, sizeof msg);
    } else {
        return fail(c, s, "expects a single value, not a group or list");
    }
    return rc ? fail(c, s, "%s", msg) : 0;
}

static int in_list(const char *name, const char *const *list)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

static void known_keys(const struct rw_option *t, const char *const *extra, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; extra && extra[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", extra[i]);
    for (; t && t->name && off < len; t++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", t->name);
}

/* Apply every member of `group` that is in `table`; members named in `extra`
 * are the caller's; anything else is an unknown key. */
static int load_table(struct ctx *c, const config_setting_t *group, const struct rw_option *table,
                      const char *const *extra, void *params)
{
    if (!config_setting_is_group(group))
        return fail(c, group, "expects a group { ... }");
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *nm = config_setting_name(s);
        if (in_list(nm, extra))
            continue;
        const struct rw_option *opt = rw_options_find(table, nm);
        if (!opt) {
            char known[1024];
            known_keys(table, extra, known, sizeof known);
            return fail(c, s, "unknown key '%s' (known: %s)", nm, known);
        }
        if (set_option(c, s, opt, params))
            return -EINVAL;
    }
    return 0;
}

/* A string setting member (required or optional). */
static int get_string(struct ctx *c, const config_setting_t *group, const char *key, char *dst,
                      size_t size, int required)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    if (!s) {
        if (required)
            return fail(c, group, "missing '%s'", key);
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(c, s, "expects a string");
    const char *v = config_setting_get_string(s);
    if (strlen(v) >= size)
        return fail(c, s, "longer than %zu bytes", size - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int get_int(struct ctx *c, const config_setting_t *group, const char *key, int *dst,
                   int lo, int hi)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
        return fail(c, s, "expects an integer");
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi)
        return fail(c, s, "%lld is out of range [%d, %d]", v, lo, hi);
    *dst = (int)v;
    return 0;
}

/* A list/array of strings into a fixed 2-D buffer. */
static int get_strings(struct ctx *c, const config_setting_t *s, char *dst, size_t each,
                       int max, int *count)
{
    if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
        return fail(c, s, "expects a list of strings [\"a\", \"b\"]");
    int n = config_setting_length(s);
    if (n > max)
        return fail(c, s, "at most %d entries", max);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail(c, e, "expects a string");
        const char *v = config_setting_get_string(e);
        if (strlen(v) >= each)
            return fail(c, e, "longer than %zu bytes", each - 1);
        memcpy(dst + (size_t)i * each, v, strlen(v) + 1);
    }
    *count = n;
    return 0;
}

static int check_name(struct ctx *c, const config_setting_t *s, const char *name)
{
    if (!name[0])
        return fail(c, s, "name must not be empty");
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return fail(c, s, "name '%s' may only use letters, digits, '_', '-', '.'", name);
    return 0;
}

/* ---- sections --------------------------------------------------------- */

static const struct rw_option stall_option = {
    "stall_after", RW_OPT_DOUBLE, offsetof(struct rw_input_params, stall_after), 120, 0,
    7 * 86400.0, NULL, 0, NULL,
    "run: seconds without an accepted event before the input_stall alert (0 = off)"};

/* ---- input.curve ------------------------------------------------------- */

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/* 0 if s[0..n) is a Z85 CURVE key (40 characters of the Z85 alphabet, each
 * 5-character group below 2^32, as zmq_z85_decode wants), else -EINVAL with
 * why in msg. The key itself is never quoted in msg: it may be a secret. */
static int z85_key_check(const char *s, size_t n, char *msg, size_t len)
{
    if (n != RW_CURVE_KEY_LEN) {
        snprintf(msg, len, "%zu characters: a CURVE key is %d characters of Z85", n,
                 RW_CURVE_KEY_LEN);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i += 5) {
        uint64_t v = 0;
        for (size_t k = i; k < i + 5; k++) {
            const char *q = s[k] ? strchr(z85_chars, s[k]) : NULL;
            if (!q) {
                snprintf(msg, len, "character %zu is not in the Z85 alphabet", k + 1);
                return -EINVAL;
            }
            v = v * 85 + (uint64_t)(q - z85_chars);
        }
        if (v > 0xffffffffu) {
            snprintf(msg, len, "characters %zu-%zu do not decode (not a Z85 key)", i + 1, i + 5);
            return -EINVAL;
        }
    }
    return 0;
}

/* A secret key file: a regular file no other user may read or write,
 * holding the Z85 key (whitespace and '#' comment lines around it are
 * ignored). 0, or -EINVAL after fail(). */
static int read_secret_key(struct ctx *c, const config_setting_t *at, const char *path,
                           char *key)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(c, at, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = -EINVAL;
    ssize_t n = 0;
    if (fstat(fd, &st) != 0) {
        fail(c, at, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(c, at, "%s: not a regular file", path);
        goto out;
    }
    /* Checked on the open file, so a chmod race cannot slip past it. */
    if (st.st_mode & S_IRWXO) {
        fail(c, at, "%s: other users can access the secret key (mode %04o): chmod o-rwx (600)",
             path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        fail(c, at, "%s: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    const char *k = NULL;
    size_t klen = 0;
    int nkeys = 0;
    for (char *line = buf, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line += strspn(line, " \t\r");
        size_t l = strcspn(line, " \t\r");
        if (l == 0 || line[0] == '#')
            continue;
        k = line;
        klen = l;
        nkeys++;
    }
    char msg[160];
    if (nkeys != 1 || (size_t)n == sizeof buf - 1)
        fail(c, at, "%s: expects one Z85 key (`rumwatch keygen --secret-file`)", path);
    else if (z85_key_check(k, klen, msg, sizeof msg))
        fail(c, at, "%s: %s", path, msg);
    else {
        memcpy(key, k, RW_CURVE_KEY_LEN);
        key[RW_CURVE_KEY_LEN] = '\0';
        rc = 0;
    }
out:
    memset(buf, 0, sizeof buf);
    close(fd);
    return rc;
}

/* allow_file: one public key a line; blank lines and '#' comments are
 * skipped, and so is a '#' comment after the key ("KEY  # collector-eu-1"). */
static int read_allow_file(struct ctx *c, const config_setting_t *at, struct rw_curve_params *cu)
{
    FILE *f = fopen(cu->allow_file, "r");
    if (!f)
        return fail(c, at, "%s: %s", cu->allow_file, strerror(errno));
    char line[512];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t ll = strlen(line);
        if (ll == sizeof line - 1 && line[ll - 1] != '\n' && !feof(f)) {
            rc = fail(c, at, "%s:%d: line too long", cu->allow_file, lineno);
            break;
        }
        char *p = line + strspn(line, " \t\r\n");
        size_t l = strcspn(p, " \t\r\n");
        if (l == 0 || p[0] == '#')
            continue;
        const char *rest = p + l + strspn(p + l, " \t\r\n");
        char msg[160];
        if (*rest && *rest != '#')
            rc = fail(c, at, "%s:%d: one key a line (a comment after it starts with '#')",
                      cu->allow_file, lineno);
        else if (z85_key_check(p, l, msg, sizeof msg))
            rc = fail(c, at, "%s:%d: %s", cu->allow_file, lineno, msg);
        else if (cu->nallow >= RW_MAX_CURVE_CLIENTS)
            rc = fail(c, at, "%s:%d: more than %d client keys in all", cu->allow_file, lineno,
                      RW_MAX_CURVE_CLIENTS);
        else {
            memcpy(cu->allow[cu->nallow], p, RW_CURVE_KEY_LEN);
            cu->allow[cu->nallow++][RW_CURVE_KEY_LEN] = '\0';
        }
    }
    if (!rc && ferror(f))
        rc = fail(c, at, "%s: read error", cu->allow_file);
    fclose(f);
    return rc;
}

static int load_curve(struct ctx *c, struct rw_curve_params *cu, const config_setting_t *g)
{
    static const char *const keys[] = {"server_secret_file", "server_secret_env", "allow",
                                       "allow_file", NULL};
    if (!config_setting_is_group(g))
        return fail(c, g, "expects a group { server_secret_file = \"...\"; allow = [...]; }");
    memset(cu, 0, sizeof *cu);
    cu->on = 1;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (!in_list(config_setting_name(s), keys))
            return fail(c, s,
                        "unknown key '%s' (known: server_secret_file, server_secret_env, allow, "
                        "allow_file)",
                        config_setting_name(s));
    }
    if (get_string(c, g, "server_secret_file", cu->server_secret_file,
                   sizeof cu->server_secret_file, 0) ||
        get_string(c, g, "server_secret_env", cu->server_secret_env, sizeof cu->server_secret_env,
                   0) ||
        get_string(c, g, "allow_file", cu->allow_file, sizeof cu->allow_file, 0))
        return -EINVAL;
    const config_setting_t *sf = config_setting_get_member(g, "server_secret_file");
    const config_setting_t *se = config_setting_get_member(g, "server_secret_env");
    if (!!cu->server_secret_file[0] == !!cu->server_secret_env[0])
        return fail(c, sf && se ? se : g,
                    "set exactly one of server_secret_file and server_secret_env");
    /* Checked here so that `rumwatch check` already says it. */
    if (!zmq_has("curve")) {
        int a, b, d;
        zmq_version(&a, &b, &d);
        return fail(c, g, "this libzmq (%d.%d.%d) was built without CURVE support", a, b, d);
    }
    char msg[160];
    if (cu->server_secret_file[0]) {
        if (read_secret_key(c, sf, cu->server_secret_file, cu->server_secret))
            return -EINVAL;
    } else {
        const char *v = getenv(cu->server_secret_env);
        if (!v)
            return fail(c, se, "$%s is not set", cu->server_secret_env);
        v += strspn(v, " \t\r\n");
        size_t l = strlen(v);
        while (l > 0 && strchr(" \t\r\n", v[l - 1]))
            l--;
        if (z85_key_check(v, l, msg, sizeof msg))
            return fail(c, se, "$%s: %s", cu->server_secret_env, msg);
        memcpy(cu->server_secret, v, RW_CURVE_KEY_LEN);
        cu->server_secret[RW_CURVE_KEY_LEN] = '\0';
    }
    const config_setting_t *al = config_setting_get_member(g, "allow");
    if (al) {
        if (!config_setting_is_array(al) && !config_setting_is_list(al))
            return fail(c, al, "expects a list of Z85 public keys [\"...\", ...]");
        int n = config_setting_length(al);
        if (n > RW_MAX_CURVE_CLIENTS)
            return fail(c, al, "at most %d client keys", RW_MAX_CURVE_CLIENTS);
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(al, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return fail(c, e, "expects a Z85 public key string");
            const char *v = config_setting_get_string(e);
            if (z85_key_check(v, strlen(v), msg, sizeof msg))
                return fail(c, e, "%s", msg);
            if (strcmp(v, cu->server_secret) == 0)
                return fail(c, e, "this is the server's secret key, not a client's public key");
            memcpy(cu->allow[i], v, RW_CURVE_KEY_LEN + 1);
        }
        cu->nallow_inline = cu->nallow = n;
    }
    if (cu->allow_file[0] &&
        read_allow_file(c, config_setting_get_member(g, "allow_file"), cu))
        return -EINVAL;
    if (cu->nallow == 0)
        return fail(c, g, "no client key in allow or allow_file: no publisher could send");
    return 0;
}

static int load_input(struct ctx *c, struct rw_config *cfg, const config_setting_t *g)
{
    struct rw_input_params *in = &cfg->input;
    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(c, g, "expects a group { ... }");
    static const char *const keys[] = {"endpoints",   "bind",  "topics", "rcvhwm",
                                       "stall_after", "curve", NULL};
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *nm = config_setting_name(s);
        if (!in_list(nm, keys))
            return fail(c, s,
                        "unknown key '%s' (known: endpoints, bind, topics, rcvhwm, stall_after, "
                        "curve)",
                        nm);
        if (strcmp(nm, "endpoints") == 0) {
            if (get_strings(c, s, in->endpoints[0], sizeof in->endpoints[0], RW_MAX_ENDPOINTS,
                            &in->nendpoints))
                return -EINVAL;
            if (in->nendpoints == 0)
                return fail(c, s, "needs at least one endpoint");
        } else if (strcmp(nm, "topics") == 0) {
            if (get_strings(c, s, in->topics[0], sizeof in->topics[0], RW_MAX_TOPICS, &in->ntopics))
                return -EINVAL;
        } else if (strcmp(nm, "bind") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return fail(c, s, "expects true or false");
            in->bind = config_setting_get_bool(s);
        } else if (strcmp(nm, "stall_after") == 0) {
            if (set_option(c, s, &stall_option, in))
                return -EINVAL;
        } else if (strcmp(nm, "curve") == 0) {
            if (load_curve(c, &in->curve, s))
                return -EINVAL;
        } else if (get_int(c, g, "rcvhwm", &in->rcvhwm, 0, 1 << 30)) {
            return -EINVAL;
        }
    }
    return 0;
}

static int load_pages(struct ctx *c, struct rw_config *cfg, const config_setting_t *g)
{
    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(c, g, "expects a group { ... }");
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *nm = config_setting_name(s);
        if (strcmp(nm, "ids") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail(c, s, "expects \"digits\", \"strict\" or \"none\"");
            int m = -1;
            for (int k = 0; rw_id_mode_names[k]; k++)
                if (strcmp(rw_id_mode_names[k], config_setting_get_string(s)) == 0)
                    m = k;
            if (m < 0)
                return fail(c, s, "must be \"digits\", \"strict\" or \"none\"");
            cfg->page_ids = (enum rw_id_mode)m;
        } else if (strcmp(nm, "rewrite") == 0) {
            if (!config_setting_is_list(s) && !(config_setting_is_array(s) && config_setting_length(s) == 0))
                return fail(c, s, "expects a list ( { match = \"...\"; replace = \"...\"; }, ... )");
            int nr = config_setting_length(s);
            if (nr > RW_MAX_REWRITES)
                return fail(c, s, "at most %d rewrite rules", RW_MAX_REWRITES);
            for (int k = 0; k < nr; k++) {
                const config_setting_t *r = config_setting_get_elem(s, (unsigned)k);
                struct rw_rewrite_rule *rr = &cfg->rewrites[k];
                if (!config_setting_is_group(r))
                    return fail(c, r, "expects { match = \"...\"; replace = \"...\"; }");
                for (int m = 0; m < config_setting_length(r); m++) {
                    const char *kn = config_setting_name(config_setting_get_elem(r, (unsigned)m));
                    if (strcmp(kn, "match") && strcmp(kn, "replace"))
                        return fail(c, config_setting_get_elem(r, (unsigned)m),
                                    "unknown key '%s' (known: match, replace)", kn);
                }
                if (get_string(c, r, "match", rr->match, sizeof rr->match, 1) ||
                    get_string(c, r, "replace", rr->replace, sizeof rr->replace, 1))
                    return -EINVAL;
                char msg[256];
                struct rw_pagenorm *pn = rw_pagenorm_new(rr, 1, RW_IDS_NONE, msg, sizeof msg);
                if (!pn)
                    return fail(c, r, "%s", msg);
                rw_pagenorm_destroy(&pn);
            }
            cfg->nrewrites = nr;
        } else {
            return fail(c, s, "unknown key '%s' (known: ids, rewrite)", nm);
        }
    }
    return 0;
}

static int find_scope(const struct rw_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nscopes; i++)
        if (strcmp(cfg->scopes[i].name, name) == 0)
            return i;
    return -1;
}

static int load_scopes(struct ctx *c, struct rw_config *cfg, const config_setting_t *l)
{
    if (!config_setting_is_list(l))
        return fail(c, l, "expects a list ( { name = \"page\"; dims = [\"page\"]; }, ... )");
    int n = config_setting_length(l);
    if (n == 0)
        return fail(c, l, "needs at least one scope");
    if (n > RW_MAX_SCOPES)
        return fail(c, l, "at most %d scopes", RW_MAX_SCOPES);
    static const char *const keys[] = {"name", "dims", "max_series", NULL};
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        struct rw_scope_cfg *sc = &cfg->scopes[i];
        if (!config_setting_is_group(g))
            return fail(c, g, "expects a group { name = ...; dims = [...]; }");
        for (int k = 0; k < config_setting_length(g); k++) {
            const config_setting_t *s = config_setting_get_elem(g, (unsigned)k);
            if (!in_list(config_setting_name(s), keys))
                return fail(c, s, "unknown key '%s' (known: name, dims, max_series)",
                            config_setting_name(s));
        }
        if (get_string(c, g, "name", sc->name, sizeof sc->name, 1) || check_name(c, g, sc->name))
            return -EINVAL;
        if (find_scope(cfg, sc->name) >= 0)
            return fail(c, g, "duplicate scope name '%s'", sc->name);
        const config_setting_t *d = config_setting_get_member(g, "dims");
        if (!d)
            return fail(c, g, "missing 'dims' (use [] for the whole app)");
        if (get_strings(c, d, sc->dims[0], sizeof sc->dims[0], RW_MAX_DIMS, &sc->ndims))
            return -EINVAL;
        for (int a = 0; a < sc->ndims; a++) {
            if (!sc->dims[a][0])
                return fail(c, d, "empty dimension name");
            for (int b = 0; b < a; b++)
                if (strcmp(sc->dims[a], sc->dims[b]) == 0)
                    return fail(c, d, "dimension '%s' listed twice", sc->dims[a]);
        }
        sc->max_series = cfg->engine.max_series;
        if (get_int(c, g, "max_series", &sc->max_series, 1, 10000000))
            return -EINVAL;
        cfg->nscopes = i + 1;
    }
    return 0;
}

const char *const rw_nodata_names[] = {"ok", "alert", "keep", NULL};

#define ROPT(field) offsetof(struct rw_rule_cfg, field)
const struct rw_option rw_rule_options[] = {
    {.name = "q", .type = RW_OPT_DOUBLE, .offset = ROPT(q), .def = 0.05, .min = 1e-12, .max = 1,
     .help = "Benjamini-Hochberg false discovery rate across the rule's series in each window "
             "(p-value detectors); 1 turns the correction off"},
    {.name = "nodata", .type = RW_OPT_ENUM, .offset = ROPT(nodata), .def = RW_NODATA_OK,
     .choices = rw_nodata_names,
     .help = "a series that stops giving data: ok (a firing alert resolves), alert (fire a "
             "no-data alert), keep (hold the alert state until data returns)"},
    {.name = "nodata_after", .type = RW_OPT_INT, .offset = ROPT(nodata_after), .def = 30,
     .min = 1, .max = 65535, .help = "windows without data before the nodata policy applies"},
    {.name = "flap_window", .type = RW_OPT_INT, .offset = ROPT(flap_window), .def = 60, .min = 2,
     .max = 60000, .help = "windows over which an alert's state changes are counted"},
    {.name = "flap_max", .type = RW_OPT_INT, .offset = ROPT(flap_max), .def = 4, .min = 2,
     .max = 1000,
     .help = "state changes within flap_window that mark an alert flapping: it is held to one "
             "notification until it settles"},
    {.name = "shrink", .type = RW_OPT_BOOL, .offset = ROPT(shrink), .def = 1,
     .help = "sparse series borrow strength from their parent series (page x device from page)"},
    {.name = "match", .type = RW_OPT_STRING, .offset = ROPT(match), .def_str = "*",
     .size = RW_NAME_MAX,
     .help = "custom metric rules: glob on the metric name (\"checkout_*\"); others: \"*\""},
    {.name = NULL},
};
#undef ROPT

static int load_rules(struct ctx *c, struct rw_config *cfg, const config_setting_t *l)
{
    if (!config_setting_is_list(l))
        return fail(c, l, "expects a list ( { name = ...; metric = ...; detector = ...; }, ... )");
    int n = config_setting_length(l);
    if (n > RW_MAX_RULES)
        return fail(c, l, "at most %d rules", RW_MAX_RULES);
    static const char *const keys[] = {"name", "metric", "stat", "scopes", "detector",
                                       "for", "recover", "severity", NULL};
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        struct rw_rule_cfg *r = &cfg->rules[i];
        char buf[RW_NAME_MAX];
        if (!config_setting_is_group(g))
            return fail(c, g, "expects a group { name = ...; ... }");
        r->line = (int)config_setting_source_line(g);
        if (get_string(c, g, "name", r->name, sizeof r->name, 1) || check_name(c, g, r->name))
            return -EINVAL;
        for (int k = 0; k < i; k++)
            if (strcmp(cfg->rules[k].name, r->name) == 0)
                return fail(c, g, "duplicate rule name '%s'", r->name);

        if (get_string(c, g, "metric", buf, sizeof buf, 1))
            return -EINVAL;
        r->metric = rw_metric_parse(buf);
        if (r->metric < 0)
            return fail(c, config_setting_get_member(g, "metric"),
                        "unknown metric '%s' (known: ttfb, fcp, lcp, inp, cls, error_rate, views, errors, "
                        "custom)",
                        buf);
        r->stat = rw_metric_default_stat(r->metric);
        buf[0] = '\0';
        if (get_string(c, g, "stat", buf, sizeof buf, 0))
            return -EINVAL;
        if (buf[0]) {
            r->stat = rw_stat_parse(buf);
            if (r->stat < 0 || !rw_metric_stat_ok(r->metric, r->stat))
                return fail(c, config_setting_get_member(g, "stat"),
                            "stat '%s' does not apply to metric '%s' (vitals: p50, p75, p95; "
                            "error_rate: rate; views, errors: count; custom: sum, mean, count, per_view)",
                            buf, rw_metric_names[r->metric]);
        }

        const config_setting_t *sc = config_setting_get_member(g, "scopes");
        if (sc) {
            char names[RW_MAX_SCOPES][RW_NAME_MAX];
            if (get_strings(c, sc, names[0], sizeof names[0], RW_MAX_SCOPES, &r->nscopes))
                return -EINVAL;
            if (r->nscopes == 0)
                return fail(c, sc, "needs at least one scope");
            for (int k = 0; k < r->nscopes; k++) {
                r->scopes[k] = find_scope(cfg, names[k]);
                if (r->scopes[k] < 0)
                    return fail(c, config_setting_get_elem(sc, (unsigned)k),
                                "unknown scope '%s'", names[k]);
                for (int m = 0; m < k; m++)
                    if (r->scopes[m] == r->scopes[k])
                        return fail(c, sc, "scope '%s' listed twice", names[k]);
            }
        } else {
            r->nscopes = cfg->nscopes;
            for (int k = 0; k < cfg->nscopes; k++)
                r->scopes[k] = k;
        }

        if (get_string(c, g, "detector", buf, sizeof buf, 1))
            return -EINVAL;
        r->det = rw_detector_find(buf);
        if (!r->det) {
            char known[256] = "";
            size_t off = 0;
            for (int k = 0; rw_detectors[k]; k++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", k ? ", " : "",
                                        rw_detectors[k]->name);
            return fail(c, config_setting_get_member(g, "detector"),
                        "unknown detector '%s' (known: %s)", buf, known);
        }
        r->params = calloc(1, r->det->params_size ? r->det->params_size : 1);
        if (!r->params)
            return fail(c, g, "out of memory");
        rw_options_defaults(r->det->options, r->params);

        r->for_windows = 2;
        r->recover_windows = 3;
        if (get_int(c, g, "for", &r->for_windows, 1, 10000) ||
            get_int(c, g, "recover", &r->recover_windows, 1, 10000))
            return -EINVAL;
        r->severity = 1;
        buf[0] = '\0';
        if (get_string(c, g, "severity", buf, sizeof buf, 0))
            return -EINVAL;
        if (buf[0]) {
            r->severity = rw_severity_parse(buf);
            if (r->severity < 0)
                return fail(c, config_setting_get_member(g, "severity"),
                            "severity must be info, warning or critical");
        }
        /* Then the settings every rule has, then the detector's options. */
        rw_options_defaults(rw_rule_options, r);
        int m = config_setting_length(g);
        for (int k = 0; k < m; k++) {
            const config_setting_t *s = config_setting_get_elem(g, (unsigned)k);
            const char *nm = config_setting_name(s);
            if (in_list(nm, keys))
                continue;
            const struct rw_option *ropt = rw_options_find(rw_rule_options, nm);
            if (ropt) {
                if (set_option(c, s, ropt, r))
                    return -EINVAL;
                continue;
            }
            const struct rw_option *opt = rw_options_find(r->det->options, nm);
            if (!opt) {
                char known[1024];
                known_keys(r->det->options, keys, known, sizeof known);
                size_t kl = strlen(known);
                for (const struct rw_option *o = rw_rule_options; o->name && kl + 20 < sizeof known; o++)
                    kl += (size_t)snprintf(known + kl, sizeof known - kl, ", %s", o->name);
                return fail(c, s, "unknown key '%s' for detector %s (known: %s)", nm,
                            r->det->name, known);
            }
            if (set_option(c, s, opt, r->params))
                return -EINVAL;
        }
        char msg[256] = "";
        if (r->det->validate && r->det->validate(r->params, msg, sizeof msg))
            return fail(c, g, "%s", msg);
        if ((r->det->flags & RW_DET_RATINGS) && !rw_metric_is_vital(r->metric))
            return fail(c, config_setting_get_member(g, "detector"),
                        "detector %s rates web vitals: metric must be ttfb, fcp, lcp, inp or cls",
                        r->det->name);
        if (r->metric != RW_M_CUSTOM && strcmp(r->match, "*") != 0)
            return fail(c, config_setting_get_member(g, "match"),
                        "'match' selects custom metrics by name: only for metric = \"custom\"");
        if (r->metric == RW_M_CUSTOM)
            for (int k = 0; k < r->nscopes; k++)
                if (cfg->scopes[r->scopes[k]].ndims >= RW_MAX_DIMS)
                    return fail(c, g, "custom metric rules add a 'metric' dimension: scope '%s' "
                                "already has %d", cfg->scopes[r->scopes[k]].name, RW_MAX_DIMS);
        cfg->nrules = i + 1;
    }
    return 0;
}

/* Up to bufsize-1 bytes of a small file (secrets, keys). Length, or -errno
 * (-EFBIG when it does not fit). */
static long read_small_file(const char *path, char *buf, size_t bufsize)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, bufsize - 1, f);
    int big = n == bufsize - 1 && fgetc(f) != EOF;
    int rerr = ferror(f);
    fclose(f);
    if (rerr)
        return -EIO;
    if (big)
        return -EFBIG;
    buf[n] = '\0';
    if (memchr(buf, '\0', n))
        return -EINVAL;
    return (long)n;
}

/* Record why a receiver cannot send (the first reason only). */
static void set_missing(struct rw_notifier_cfg *nc, const char *fmt, const char *a, const char *b)
{
    if (!nc->missing[0])
        snprintf(nc->missing, sizeof nc->missing, fmt, a, b);
}

/* A secret from `<key>_env` or `<key>_file` (exactly one may be set) into
 * buf. 1 = got it, 0 = not configured or not available (nc->missing says
 * which), -EINVAL = config error (reported). */
static int load_secret_text(struct ctx *c, const config_setting_t *g, struct rw_notifier_cfg *nc,
                            const char *key, const char *env, const char *file, char *buf,
                            size_t bufsize)
{
    char ek[64], fk[64];
    snprintf(ek, sizeof ek, "%s_env", key);
    snprintf(fk, sizeof fk, "%s_file", key);
    if (env[0] && file[0])
        return fail(c, config_setting_get_member(g, fk), "set either %s or %s, not both", ek, fk);
    if (env[0]) {
        const char *v = getenv(env);
        if (!v) {
            set_missing(nc, "%s: $%s is not set", ek, env);
            return 0;
        }
        if (strlen(v) >= bufsize)
            return fail(c, config_setting_get_member(g, ek), "$%s is longer than %zu bytes", env,
                        bufsize - 1);
        memcpy(buf, v, strlen(v) + 1);
        return 1;
    }
    if (file[0]) {
        long n = read_small_file(file, buf, bufsize);
        if (n == -EFBIG || n == -EINVAL)
            return fail(c, config_setting_get_member(g, fk), "%s: %s", file,
                        n == -EFBIG ? "file too large for a secret" : "file holds a NUL byte");
        if (n < 0) {
            set_missing(nc, "%s: cannot read %s", fk, file);
            return 0;
        }
        return 1;
    }
    return 0;
}

static int is_token_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* One custom header: name checked, value literal or from the environment. */
static int add_header(struct ctx *c, const config_setting_t *at, struct rw_notifier_cfg *nc,
                      const char *name, const char *value, const char *value_env)
{
    static const char *const reserved[] = {
        "content-type", "content-length", "host", "transfer-encoding", "connection", "expect",
        "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature", NULL};
    if (nc->nheaders >= RW_NOTIFIER_MAX_HEADERS)
        return fail(c, at, "at most %d headers", RW_NOTIFIER_MAX_HEADERS);
    struct rw_header_cfg *h = &nc->headers[nc->nheaders];
    if (!name[0] || strlen(name) >= sizeof h->name)
        return fail(c, at, "header name must be 1-%zu characters", sizeof h->name - 1);
    for (const char *p = name; *p; p++)
        if (!is_token_char(*p))
            return fail(c, at, "header name '%s' may only use letters, digits and !#$%%&'*+-.^_`|~",
                        name);
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return fail(c, at, "header '%s' is set by rumwatch and cannot be configured", name);
    for (int i = 0; i < nc->nheaders; i++)
        if (strcasecmp(name, nc->headers[i].name) == 0)
            return fail(c, at, "header '%s' is set twice", name);
    if ((value != NULL) == (value_env != NULL))
        return fail(c, at, "header '%s' needs either value or value_env", name);
    if (value_env) {
        if (!value_env[0] || strlen(value_env) >= sizeof h->value_env)
            return fail(c, at, "value_env must be 1-%zu characters", sizeof h->value_env - 1);
        snprintf(h->value_env, sizeof h->value_env, "%s", value_env);
        value = getenv(value_env);
        if (!value) {
            set_missing(nc, "headers: $%s is not set%s", value_env, "");
            value = "";
        }
    }
    if (strlen(value) >= sizeof h->value)
        return fail(c, at, "header '%s' value is longer than %zu bytes", name, sizeof h->value - 1);
    if (strpbrk(value, "\r\n"))
        return fail(c, at, "header '%s' value contains a line break", name);
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->value, sizeof h->value, "%s", value);
    nc->nheaders++;
    return 0;
}

/* headers = { X-Team = "web"; }   or
 * headers = ( { name = "Authorization"; value_env = "HOOK_TOKEN"; }, ... ) */
static int load_headers(struct ctx *c, const config_setting_t *s, struct rw_notifier_cfg *nc)
{
    int n = config_setting_length(s);
    if (config_setting_is_group(s)) {
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return fail(c, e, "a header value must be a string");
            if (add_header(c, e, nc, config_setting_name(e), config_setting_get_string(e), NULL))
                return -EINVAL;
        }
        return 0;
    }
    if (!config_setting_is_list(s) && !(config_setting_is_array(s) && n == 0))
        return fail(c, s, "expects { Name = \"value\"; ... } or ( { name = ...; value = ...; }, ... )");
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        static const char *const keys[] = {"name", "value", "value_env", NULL};
        if (!config_setting_is_group(e))
            return fail(c, e, "expects { name = \"...\"; value = \"...\"; }");
        for (int k = 0; k < config_setting_length(e); k++) {
            const config_setting_t *m = config_setting_get_elem(e, (unsigned)k);
            if (!in_list(config_setting_name(m), keys))
                return fail(c, m, "unknown key '%s' (known: name, value, value_env)",
                            config_setting_name(m));
            if (config_setting_type(m) != CONFIG_TYPE_STRING)
                return fail(c, m, "expects a string");
        }
        const config_setting_t *nm = config_setting_get_member(e, "name");
        const config_setting_t *v = config_setting_get_member(e, "value");
        const config_setting_t *ve = config_setting_get_member(e, "value_env");
        if (!nm)
            return fail(c, e, "missing 'name'");
        if (add_header(c, e, nc, config_setting_get_string(nm),
                       v ? config_setting_get_string(v) : NULL,
                       ve ? config_setting_get_string(ve) : NULL))
            return -EINVAL;
    }
    return 0;
}

/* links = ( { text = "Runbook"; url = "https://..."; }, ... ) */
static int load_links(struct ctx *c, const config_setting_t *s, struct rw_notifier_cfg *nc)
{
    int n = config_setting_length(s);
    if (!config_setting_is_list(s) && !(config_setting_is_array(s) && n == 0))
        return fail(c, s, "expects ( { text = \"Runbook\"; url = \"https://...\"; }, ... )");
    if (n > RW_NOTIFIER_MAX_LINKS)
        return fail(c, s, "at most %d links", RW_NOTIFIER_MAX_LINKS);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct rw_link_cfg *l = &nc->links[i];
        static const char *const keys[] = {"text", "url", NULL};
        if (!config_setting_is_group(e))
            return fail(c, e, "expects { text = \"...\"; url = \"...\"; }");
        for (int k = 0; k < config_setting_length(e); k++) {
            const config_setting_t *m = config_setting_get_elem(e, (unsigned)k);
            if (!in_list(config_setting_name(m), keys))
                return fail(c, m, "unknown key '%s' (known: text, url)", config_setting_name(m));
        }
        if (get_string(c, e, "text", l->text, sizeof l->text, 1) ||
            get_string(c, e, "url", l->url, sizeof l->url, 1))
            return -EINVAL;
        if (!l->text[0])
            return fail(c, config_setting_get_member(e, "text"), "must not be empty");
        if (strncmp(l->url, "http://", 7) && strncmp(l->url, "https://", 8))
            return fail(c, config_setting_get_member(e, "url"),
                        "must start with http:// or https://");
        nc->nlinks = i + 1;
    }
    return 0;
}

static int load_notifiers(struct ctx *c, struct rw_config *cfg, const config_setting_t *l)
{
    if (!config_setting_is_list(l) && !(config_setting_is_array(l) && config_setting_length(l) == 0))
        return fail(c, l, "expects a list ( { name = ...; type = ...; url_env = ...; }, ... )");
    int n = config_setting_length(l);
    if (n > RW_MAX_NOTIFIERS)
        return fail(c, l, "at most %d notifiers", RW_MAX_NOTIFIERS);
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        struct rw_notifier_cfg *nc = &cfg->notifiers[i];
        memset(nc, 0, sizeof *nc);
        rw_options_defaults(notifier_options, nc);
        if (load_table(c, g, notifier_options, notifier_extra_keys, nc))
            return -EINVAL;
        if (check_name(c, g, nc->name))
            return -EINVAL;
        for (int k = 0; k < i; k++)
            if (strcmp(cfg->notifiers[k].name, nc->name) == 0)
                return fail(c, g, "duplicate notifier name '%s'", nc->name);
        if (!rw_notifier_find(nc->type))
            return fail(c, g, "unknown notifier type '%s' (known: %s)", nc->type,
                        rw_notifier_type_list);
        int is_pd = strcmp(nc->type, "pagerduty") == 0;
        if (nc->url[0] && nc->url_env[0])
            return fail(c, g, "set either url or url_env, not both");
        if (nc->url_env[0]) {
            const char *v = getenv(nc->url_env);
            if (v && strlen(v) >= sizeof nc->url)
                return fail(c, config_setting_get_member(g, "url_env"),
                            "$%s is longer than %zu bytes", nc->url_env, sizeof nc->url - 1);
            if (v)
                memcpy(nc->url, v, strlen(v) + 1);
        } else if (!nc->url[0]) {
            if (!is_pd)
                return fail(c, g, "needs url or url_env");
            snprintf(nc->url, sizeof nc->url, "%s", RW_PAGERDUTY_URL);
        }
        if (nc->url[0] && strncmp(nc->url, "http://", 7) && strncmp(nc->url, "https://", 8))
            return fail(c, g, "url must start with http:// or https://");

        const config_setting_t *s;
        if ((s = config_setting_get_member(g, "tls_verify"))) {
            if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return fail(c, s, "expects true or false");
            nc->tls_insecure = !config_setting_get_bool(s);
        }
        if ((s = config_setting_get_member(g, "headers")) && load_headers(c, s, nc))
            return -EINVAL;
        if ((s = config_setting_get_member(g, "links"))) {
            if (strcmp(nc->type, "slack") != 0 && !is_pd)
                return fail(c, s, "links are shown by slack and pagerduty receivers only");
            if (load_links(c, s, nc))
                return -EINVAL;
        }

        char text[RW_SECRET_MAX * 2 + 64];
        int got = load_secret_text(c, g, nc, "secret", nc->secret_env, nc->secret_file, text,
                                   sizeof text);
        if (got < 0)
            return -EINVAL;
        if (got > 0) {
            char msg[256];
            if (rw_sign_parse_secret(text, nc->secret, &nc->secret_len, msg, sizeof msg)) {
                memset(text, 0, sizeof text);
                return fail(c, config_setting_get_member(g, nc->secret_env[0] ? "secret_env"
                                                                               : "secret_file"),
                            "%s", msg);
            }
        }
        memset(text, 0, sizeof text);

        if (!is_pd && (nc->routing_key_env[0] || nc->routing_key_file[0]))
            return fail(c, config_setting_get_member(g, nc->routing_key_env[0] ? "routing_key_env"
                                                                                : "routing_key_file"),
                        "routing keys are for pagerduty receivers only");
        if (is_pd) {
            if (!nc->routing_key_env[0] && !nc->routing_key_file[0])
                return fail(c, g, "pagerduty needs routing_key_env or routing_key_file");
            got = load_secret_text(c, g, nc, "routing_key", nc->routing_key_env,
                                   nc->routing_key_file, text, sizeof text);
            if (got < 0)
                return -EINVAL;
            if (got > 0) {
                size_t kl = strlen(text);
                while (kl > 0 && strchr(" \t\r\n", text[kl - 1]))
                    text[--kl] = '\0';
                const char *key = nc->routing_key_env[0] ? "routing_key_env" : "routing_key_file";
                if (kl == 0 || kl >= sizeof nc->routing_key)
                    return fail(c, config_setting_get_member(g, key),
                                "the routing key must be 1-%zu characters", sizeof nc->routing_key - 1);
                for (size_t k = 0; k < kl; k++)
                    if ((unsigned char)text[k] <= ' ' || (unsigned char)text[k] >= 0x7f)
                        return fail(c, config_setting_get_member(g, key),
                                    "the routing key holds a space or a non-ASCII character");
                memcpy(nc->routing_key, text, kl + 1);
            }
            memset(text, 0, sizeof text);
        }
        cfg->nnotifiers = i + 1;
    }
    return 0;
}

/* ---- notify, route, inhibit_rules, time_intervals ---------------------- */

/* dst = dir + "/" + rel, unless rel is absolute or dir is NULL/"". */
static int join_path(struct ctx *c, const config_setting_t *at, char *dst, size_t size,
                     const char *dir, size_t dirlen, const char *rel)
{
    int n = (rel[0] == '/' || !dir || !dirlen)
                ? snprintf(dst, size, "%s", rel)
                : snprintf(dst, size, "%.*s/%s", (int)dirlen, dir, rel);
    if (n < 0 || (size_t)n >= size)
        return fail(c, at, "path longer than %zu bytes", size - 1);
    return 0;
}

static int load_notify(struct ctx *c, struct rw_config *cfg, const config_setting_t *g)
{
    struct rw_notify_params *np = &cfg->notify;
    const config_setting_t *s;
    if (g) {
        if (load_table(c, g, notify_options, notify_extra_keys, np))
            return -EINVAL;
        if ((s = config_setting_get_member(g, "outbox")) &&
            load_table(c, s, outbox_options, NULL, &np->outbox))
            return -EINVAL;
    }
    if (np->external_url[0] && strncmp(np->external_url, "http://", 7) &&
        strncmp(np->external_url, "https://", 8))
        return fail(c, g ? config_setting_get_member(g, "external_url") : NULL,
                    "must start with http:// or https://");
    const config_setting_t *at_dir = g ? config_setting_get_member(g, "state_dir") : NULL;
    if (!np->state_dir[0])
        return fail(c, at_dir ? at_dir : g, "state_dir must not be empty");
    /* Relative to the config file, so `-c /srv/x/rw.conf` keeps its state
     * next to it whatever the working directory (the built-in config: the
     * working directory). */
    char tmp[RW_PATH_MAX];
    const char *slash = c->path ? strrchr(c->path, '/') : NULL;
    memcpy(tmp, np->state_dir, sizeof tmp);
    if (join_path(c, at_dir ? at_dir : g, np->state_dir, sizeof np->state_dir, c->path,
                  slash ? (size_t)(slash - c->path) : 0, tmp))
        return -EINVAL;
    if (np->history[0]) {
        memcpy(tmp, np->history, sizeof tmp);
        if (join_path(c, g ? config_setting_get_member(g, "history") : NULL, np->history,
                      sizeof np->history, np->state_dir, strlen(np->state_dir), tmp))
            return -EINVAL;
    }
    for (int i = 0; i < cfg->nnotifiers; i++)
        if (cfg->notifiers[i].resend_interval <= 0)
            cfg->notifiers[i].resend_interval = np->resend_interval;
    return 0;
}

/* No `route`: every alert on its own (group_by "...") to every receiver at
 * once, as rumwatch did before routing existed; repeated while it fires. */
static int implicit_route(struct ctx *c, struct rw_config *cfg)
{
    char msg[256];
    static const char *const every[] = {"..."};
    struct rw_route *root = rw_route_new(cfg->notifiers[0].name);
    if (!root || rw_route_set_group_by(root, every, 1, msg, sizeof msg))
        goto oom;
    root->group_by_set = 1;
    root->group_wait_ms = 0;
    root->group_interval_ms = 1000;
    root->repeat_interval_ms = RW_DEFAULT_REPEAT_INTERVAL_MS;
    root->send_resolved = cfg->notifiers[0].send_resolved;
    for (int i = 0; i < cfg->nnotifiers; i++) {
        struct rw_route *child = rw_route_new(cfg->notifiers[i].name);
        if (!child || rw_route_add_child(root, child)) {
            rw_route_free(&child);
            goto oom;
        }
        child->cont = 1;
        child->send_resolved = cfg->notifiers[i].send_resolved;
    }
    if (rw_route_finalize(root, cfg->pipeline.timeints, msg, sizeof msg)) {
        rw_route_free(&root);
        return fail(c, NULL, "implicit route: %s", msg);
    }
    cfg->pipeline.root = root;
    cfg->route_implicit = 1;
    return 0;
oom:
    rw_route_free(&root);
    return fail(c, NULL, "out of memory");
}

static int load_pipeline(struct ctx *c, struct rw_config *cfg, config_t *lc)
{
    struct rw_receiver_ref refs[RW_MAX_NOTIFIERS];
    for (int i = 0; i < cfg->nnotifiers; i++)
        refs[i] = (struct rw_receiver_ref){cfg->notifiers[i].name, cfg->notifiers[i].send_resolved};
    const config_setting_t *route = config_lookup(lc, "route");
    if (rw_pipeline_config_load(route, config_lookup(lc, "inhibit_rules"),
                                config_lookup(lc, "time_intervals"), refs, cfg->nnotifiers,
                                c->name, NULL, &cfg->pipeline, c->err, c->errlen))
        return -EINVAL;
    if (!route && cfg->nnotifiers > 0)
        return implicit_route(c, cfg);
    return 0;
}

/* ---- self-monitoring: http, heartbeat ----------------------------------- */

static int load_http(struct ctx *c, struct rw_config *cfg, const config_setting_t *g)
{
    if (!g)
        return 0; /* absent: off (set_defaults left listen "") */
    rw_options_defaults(http_options, &cfg->http);
    if (load_table(c, g, http_options, NULL, &cfg->http))
        return -EINVAL;
    if (cfg->http.listen[0]) {
        char msg[256];
        struct sockaddr_storage ss;
        socklen_t len;
        if (rw_httpd_parse_listen(cfg->http.listen, &ss, &len, msg, sizeof msg))
            return fail(c, config_setting_get_member(g, "listen"), "%s", msg);
    }
    return 0;
}

static int load_heartbeat(struct ctx *c, struct rw_config *cfg, const config_setting_t *g)
{
    if (!g)
        return 0;
    rw_options_defaults(heartbeat_options, &cfg->heartbeat);
    if (load_table(c, g, heartbeat_options, NULL, &cfg->heartbeat))
        return -EINVAL;
    struct rw_heartbeat_params *hb = &cfg->heartbeat;
    const config_setting_t *at = config_setting_get_member(g, "receiver");
    if (!hb->receiver[0])
        return fail(c, at ? at : g, "needs a receiver (a `notifiers` name)");
    const struct rw_notifier_cfg *r = NULL;
    for (int i = 0; i < cfg->nnotifiers && !r; i++)
        if (strcmp(cfg->notifiers[i].name, hb->receiver) == 0)
            r = &cfg->notifiers[i];
    if (!r) {
        char known[512] = "";
        size_t off = 0;
        for (int i = 0; i < cfg->nnotifiers && off < sizeof known; i++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                    cfg->notifiers[i].name);
        return fail(c, at, "unknown receiver '%s' (notifiers: %s)", hb->receiver,
                    cfg->nnotifiers ? known : "none defined");
    }
    if (r->min_severity > 0)
        return fail(c, at,
                    "receiver '%s' has min_severity = \"%s\": heartbeats (severity info) would "
                    "never reach it",
                    hb->receiver, rw_severity_names[r->min_severity]);
    return 0;
}

/* The heartbeat's own route, first under the root and without `continue`,
 * so heartbeats reach heartbeat.receiver only and never share a group with
 * real alerts (group_by alertname), with no group_wait and a short
 * group_interval. Each heartbeat is a new alert (its
 * `beat` label counts up) resolving the previous one, so the group notifies
 * once per heartbeat the engine sends and never repeats on its own
 * (repeat_interval of 100 years): silence means no heartbeat was sent. */
static int heartbeat_route(struct ctx *c, struct rw_config *cfg)
{
    struct rw_route *root = cfg->pipeline.root;
    if (!cfg->heartbeat.receiver[0] || !root)
        return 0;
    char msg[256];
    static const char *const by[] = {"alertname"};
    struct rw_route *r = rw_route_new(cfg->heartbeat.receiver);
    if (!r || rw_matchers_add(&r->matchers, "alertname=" RW_RULE_HEARTBEAT, msg, sizeof msg) ||
        rw_route_set_group_by(r, by, 1, msg, sizeof msg) || rw_route_add_child(root, r)) {
        rw_route_free(&r);
        return fail(c, NULL, "out of memory");
    }
    for (int i = 0; i < cfg->nnotifiers; i++)
        if (strcmp(cfg->notifiers[i].name, r->receiver) == 0)
            r->send_resolved = cfg->notifiers[i].send_resolved;
    r->group_wait_ms = 0;
    /* The group's tick is the heartbeat's delivery delay: a tenth of the
     * interval, between 100 ms and 1 s. */
    double gi = cfg->heartbeat.interval * 100.0;
    r->group_interval_ms = gi < 100 ? 100 : gi > 1000 ? 1000 : (int64_t)gi;
    r->repeat_interval_ms = 100LL * 365 * 86400 * 1000;
    /* rw_route_add_child appended it: move it to the front. */
    memmove(root->children + 1, root->children,
            sizeof *root->children * (size_t)(root->nchildren - 1));
    root->children[0] = r;
    for (int i = 0; i < root->nchildren; i++)
        root->children[i]->index = i;
    if (rw_route_finalize(root, cfg->pipeline.timeints, msg, sizeof msg))
        return fail(c, NULL, "heartbeat route: %s", msg);
    return 0;
}

/* Rule names rumwatch's own alerts use. */
static int check_reserved_rules(struct ctx *c, const struct rw_config *cfg)
{
    for (int i = 0; i < cfg->nrules; i++)
        if (strcmp(cfg->rules[i].name, RW_RULE_INPUT_STALL) == 0 ||
            strcmp(cfg->rules[i].name, RW_RULE_HEARTBEAT) == 0) {
            snprintf(c->err, c->errlen,
                     "%s:%d: rules.[%d].name: '%s' is reserved for rumwatch's own alert", c->name,
                     cfg->rules[i].line, i, cfg->rules[i].name);
            return -EINVAL;
        }
    return 0;
}

/* ---- entry points ----------------------------------------------------- */

static void set_defaults(struct rw_config *cfg)
{
    rw_options_defaults(engine_options, &cfg->engine);
    rw_options_defaults(notify_options, &cfg->notify);
    rw_options_defaults(outbox_options, &cfg->notify.outbox);
    cfg->input.nendpoints = 1;
    snprintf(cfg->input.endpoints[0], sizeof cfg->input.endpoints[0], "tcp://127.0.0.1:5556");
    cfg->input.bind = 0;
    cfg->input.ntopics = 1;
    snprintf(cfg->input.topics[0], sizeof cfg->input.topics[0], "rum.");
    cfg->input.rcvhwm = 1000000;
    cfg->input.stall_after = stall_option.def;
    cfg->page_ids = RW_IDS_DIGITS;
    rw_options_defaults(http_options, &cfg->http);
    cfg->http.listen[0] = '\0'; /* off unless the `http` group is there */
    rw_options_defaults(heartbeat_options, &cfg->heartbeat);
}

static int load_root(struct ctx *c, struct rw_config *cfg, config_t *lc, int builtin);

/* Sections a user config leaves out come from the built-in default. */
static int load_builtin_section(struct ctx *c, struct rw_config *cfg, const char *section)
{
    config_t lc;
    config_init(&lc);
    int rc = -EINVAL;
    if (!config_read_string(&lc, rw_default_conf)) {
        snprintf(c->err, c->errlen, "<built-in>:%d: %s", config_error_line(&lc),
                 config_error_text(&lc));
        goto out;
    }
    const config_setting_t *s = config_lookup(&lc, section);
    struct ctx bc = {"<built-in>", c->err, c->errlen, NULL};
    if (!s) {
        rc = 0;
        goto out;
    }
    if (strcmp(section, "scopes") == 0)
        rc = load_scopes(&bc, cfg, s);
    else
        rc = load_rules(&bc, cfg, s);
    if (rc) {
        /* Keep the message but say why a built-in section was involved. */
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s: '%s' is not set, and the default %s do not fit: %s",
                 c->name, section, section, c->err);
        snprintf(c->err, c->errlen, "%s", tmp);
    }
out:
    config_destroy(&lc);
    return rc;
}

static int load_root(struct ctx *c, struct rw_config *cfg, config_t *lc, int builtin)
{
    const config_setting_t *root = config_root_setting(lc);
    static const char *const top[] = {"engine", "input",     "pages",  "scopes",
                                      "rules",  "notifiers", "notify", "route",
                                      "inhibit_rules", "time_intervals", "http", "heartbeat",
                                      NULL};
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (!in_list(config_setting_name(s), top))
            return fail(c, s,
                        "unknown key '%s' (known: engine, input, pages, scopes, rules, notifiers, "
                        "notify, route, inhibit_rules, time_intervals, http, heartbeat)",
                        config_setting_name(s));
    }
    const config_setting_t *s;
    if ((s = config_lookup(lc, "engine")) && load_table(c, s, engine_options, NULL, &cfg->engine))
        return -EINVAL;
    if (load_input(c, cfg, config_lookup(lc, "input")) ||
        load_pages(c, cfg, config_lookup(lc, "pages")))
        return -EINVAL;
    if ((s = config_lookup(lc, "scopes"))) {
        if (load_scopes(c, cfg, s))
            return -EINVAL;
    } else if (!builtin && load_builtin_section(c, cfg, "scopes")) {
        return -EINVAL;
    }
    if ((s = config_lookup(lc, "rules"))) {
        if (load_rules(c, cfg, s))
            return -EINVAL;
    } else if (!builtin && load_builtin_section(c, cfg, "rules")) {
        return -EINVAL;
    }
    if ((s = config_lookup(lc, "notifiers")) && load_notifiers(c, cfg, s))
        return -EINVAL;
    if (load_notify(c, cfg, config_lookup(lc, "notify")) || load_pipeline(c, cfg, lc))
        return -EINVAL;
    if (check_reserved_rules(c, cfg) || load_http(c, cfg, config_lookup(lc, "http")) ||
        load_heartbeat(c, cfg, config_lookup(lc, "heartbeat")) || heartbeat_route(c, cfg))
        return -EINVAL;
    /* Every series keeps one window slot per window that can still be open:
     * bound them, or a small window with a long lateness costs megabytes a series. */
    double slots = (cfg->engine.lateness + cfg->engine.max_future) / cfg->engine.window;
    if (slots > 64)
        return fail(c, config_lookup(lc, "engine"),
                    "(lateness + max_future) / window = %.0f: at most 64 windows may be open at once",
                    slots);
    /* The series caps bound memory only if their worst case fits the budget
     * the operator set: refuse the config here, not at 3 a.m. under attack. */
    if (cfg->engine.max_memory > 0) {
        size_t per[RW_MAX_SCOPES];
        size_t worst = rw_engine_worst_bytes(cfg, per);
        if (worst > (size_t)cfg->engine.max_memory << 20) {
            int big = 0;
            for (int i = 1; i < cfg->nscopes; i++)
                big = per[i] > per[big] ? i : big;
            return fail(c, config_lookup(lc, "engine.max_memory"),
                        "the series caps allow up to %zu MiB (worst case), over %d MiB; largest: "
                        "scope '%s' (max_series = %d) %zu MiB: lower max_series or raise max_memory",
                        (worst + (1u << 20) - 1) >> 20, cfg->engine.max_memory,
                        cfg->scopes[big].name, cfg->scopes[big].max_series,
                        (per[big] + (1u << 20) - 1) >> 20);
        }
    }
    return 0;
}

static struct rw_config *load(const char *text, const char *path, const char *name, char *err,
                              size_t errlen)
{
    struct rw_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(cfg->source, sizeof cfg->source, "%s", name);
    set_defaults(cfg);
    config_t lc;
    config_init(&lc);
    int ok = path ? config_read_file(&lc, path) : config_read_string(&lc, text);
    if (!ok) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read file: %s", name, strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: syntax error: %s",
                     config_error_file(&lc) ? config_error_file(&lc) : name,
                     config_error_line(&lc), config_error_text(&lc));
        config_destroy(&lc);
        rw_config_free(&cfg);
        return NULL;
    }
    struct ctx c = {name, err, errlen, path};
    int rc = load_root(&c, cfg, &lc, text == rw_default_conf);
    config_destroy(&lc);
    if (rc) {
        rw_config_free(&cfg);
        return NULL;
    }
    return cfg;
}

struct rw_config *rw_config_load(const char *path, char *err, size_t errlen)
{
    if (!path)
        return load(rw_default_conf, NULL, "<built-in>", err, errlen);
    return load(NULL, path, path, err, errlen);
}

struct rw_config *rw_config_load_string(const char *text, const char *name, char *err,
                                        size_t errlen)
{
    return load(text, NULL, name, err, errlen);
}

void rw_config_free(struct rw_config **cp)
{
    if (!cp || !*cp)
        return;
    rw_pipeline_cfg_clear(&(*cp)->pipeline);
    explicit_bzero((*cp)->input.curve.server_secret, sizeof (*cp)->input.curve.server_secret);
    for (int i = 0; i < (*cp)->nrules; i++)
        free((*cp)->rules[i].params);
    /* rules beyond nrules may hold params if loading failed mid-rule */
    for (int i = (*cp)->nrules; i < RW_MAX_RULES; i++)
        free((*cp)->rules[i].params);
    free(*cp);
    *cp = NULL;
}

/* libconfig string literal: escape backslashes and quotes. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void print_table(FILE *out, const struct rw_option *t, const void *params, const char *indent)
{
    char buf[2 * RW_URL_MAX + 8]; /* the longest string option, every byte escaped */
    for (; t && t->name; t++) {
        if (t->type == RW_OPT_DOUBLE && isnan(*(const double *)((const char *)params + t->offset)))
            continue; /* unset optional bound */
        rw_options_format(t, params, buf, sizeof buf);
        fprintf(out, "%s%s = %s;\n", indent, t->name, buf);
    }
}

static void print_matchers(FILE *out, const struct rw_matchers *ms)
{
    fputc('[', out);
    for (int i = 0; i < ms->n; i++) {
        char buf[1200];
        const struct rw_matcher *m = &ms->m[i];
        rw_matcher_format(m, buf, sizeof buf); /* name="value": the parser reads it back */
        fprintf(out, "%s", i ? ", " : "");
        print_quoted(out, buf);
    }
    fputc(']', out);
}

static void print_duration(FILE *out, const char *key, int64_t ms, const char *indent)
{
    char buf[64];
    rw_duration_format(ms, buf, sizeof buf);
    fprintf(out, "%s%s = \"%s\";\n", indent, key, buf);
}

/* The effective tree, inherited values filled in. */
static void print_route(FILE *out, const struct rw_route *r, int depth)
{
    char ind[80];
    int w = 2 * (depth + 1) < (int)sizeof ind - 1 ? 2 * (depth + 1) : (int)sizeof ind - 1;
    memset(ind, ' ', (size_t)w);
    ind[w] = '\0';
    fprintf(out, "{\n%sreceiver = ", ind);
    print_quoted(out, r->receiver);
    fprintf(out, ";\n");
    if (r->matchers.n) {
        fprintf(out, "%smatchers = ", ind);
        print_matchers(out, &r->matchers);
        fprintf(out, ";\n");
    }
    if (r->cont)
        fprintf(out, "%scontinue = true;\n", ind);
    fprintf(out, "%sgroup_by = [", ind);
    if (r->group_by_all)
        fprintf(out, "\"...\"");
    for (int i = 0; !r->group_by_all && i < r->ngroup_by; i++)
        fprintf(out, "%s\"%s\"", i ? ", " : "", r->group_by[i]);
    fprintf(out, "];\n");
    print_duration(out, "group_wait", r->group_wait_ms, ind);
    print_duration(out, "group_interval", r->group_interval_ms, ind);
    print_duration(out, "repeat_interval", r->repeat_interval_ms, ind);
    for (int k = 0; k < 2; k++) {
        int n = k ? r->nactive : r->nmute;
        char **names = k ? r->active_names : r->mute_names;
        if (!n)
            continue;
        fprintf(out, "%s%s = [", ind, k ? "active_time_intervals" : "mute_time_intervals");
        for (int i = 0; i < n; i++) {
            fprintf(out, "%s", i ? ", " : "");
            print_quoted(out, names[i]);
        }
        fprintf(out, "];\n");
    }
    if (r->nchildren) {
        fprintf(out, "%sroutes = (\n", ind);
        for (int i = 0; i < r->nchildren; i++) {
            fprintf(out, "%s  ", ind);
            print_route(out, r->children[i], depth + 2);
            fprintf(out, "%s\n", i + 1 < r->nchildren ? "," : "");
        }
        fprintf(out, "%s);\n", ind);
    }
    fprintf(out, "%.*s}", w >= 2 ? w - 2 : 0, ind);
}

/* The key sources, never the secret key; allow_file's keys stay in the file. */
static void print_curve(FILE *out, const struct rw_curve_params *cu)
{
    if (!cu->on)
        return;
    fprintf(out, "  curve = {\n    # %d client keys allowed (%d from allow_file)\n", cu->nallow,
            cu->nallow - cu->nallow_inline);
    fprintf(out, "    %s = ", cu->server_secret_file[0] ? "server_secret_file" : "server_secret_env");
    print_quoted(out, cu->server_secret_file[0] ? cu->server_secret_file : cu->server_secret_env);
    fprintf(out, ";\n    allow = [");
    for (int i = 0; i < cu->nallow_inline; i++) {
        fprintf(out, "%s\n      ", i ? "," : "");
        print_quoted(out, cu->allow[i]);
    }
    fprintf(out, "%s];\n", cu->nallow_inline ? "\n    " : "");
    if (cu->allow_file[0]) {
        fprintf(out, "    allow_file = ");
        print_quoted(out, cu->allow_file);
        fprintf(out, ";\n");
    }
    fprintf(out, "  };\n");
}

void rw_config_print(const struct rw_config *c, FILE *out)
{
    fprintf(out, "# effective configuration from %s\n", c->source);
    fprintf(out, "engine = {\n");
    print_table(out, engine_options, &c->engine, "  ");
    fprintf(out, "};\ninput = {\n  endpoints = [");
    /* Free-form strings are printed quoted, so the printout loads back. */
    for (int i = 0; i < c->input.nendpoints; i++) {
        fprintf(out, "%s", i ? ", " : "");
        print_quoted(out, c->input.endpoints[i]);
    }
    fprintf(out, "];\n  bind = %s;\n  topics = [", c->input.bind ? "true" : "false");
    for (int i = 0; i < c->input.ntopics; i++) {
        fprintf(out, "%s", i ? ", " : "");
        print_quoted(out, c->input.topics[i]);
    }
    fprintf(out, "];\n  rcvhwm = %d;\n  stall_after = %.17g;\n", c->input.rcvhwm,
            c->input.stall_after);
    print_curve(out, &c->input.curve);
    fprintf(out, "};\n");
    if (c->http.listen[0]) {
        fprintf(out, "http = {\n");
        print_table(out, http_options, &c->http, "  ");
        fprintf(out, "};\n");
    } else {
        fprintf(out, "# http: off (no `http` group)\n");
    }
    if (c->heartbeat.receiver[0]) {
        fprintf(out, "heartbeat = {\n");
        print_table(out, heartbeat_options, &c->heartbeat, "  ");
        fprintf(out, "};\n");
    }
    fprintf(out, "pages = {\n  ids = \"%s\";\n  rewrite = (", rw_id_mode_names[c->page_ids]);
    for (int i = 0; i < c->nrewrites; i++) {
        fprintf(out, "%s\n    { match = ", i ? "," : "");
        print_quoted(out, c->rewrites[i].match);
        fprintf(out, "; replace = ");
        print_quoted(out, c->rewrites[i].replace);
        fprintf(out, "; }");
    }
    fprintf(out, "%s);\n};\nscopes = (\n", c->nrewrites ? "\n  " : "");
    for (int i = 0; i < c->nscopes; i++) {
        fprintf(out, "  { name = \"%s\"; dims = [", c->scopes[i].name);
        for (int k = 0; k < c->scopes[i].ndims; k++) {
            fprintf(out, "%s", k ? ", " : "");
            print_quoted(out, c->scopes[i].dims[k]);
        }
        fprintf(out, "]; max_series = %d; }%s\n", c->scopes[i].max_series,
                i + 1 < c->nscopes ? "," : "");
    }
    fprintf(out, ");\nrules = (\n");
    for (int i = 0; i < c->nrules; i++) {
        const struct rw_rule_cfg *r = &c->rules[i];
        fprintf(out, "  { name = \"%s\"; metric = \"%s\"; stat = \"%s\"; detector = \"%s\";\n",
                r->name, rw_metric_names[r->metric], rw_stat_names[r->stat], r->det->name);
        fprintf(out, "    scopes = [");
        for (int k = 0; k < r->nscopes; k++)
            fprintf(out, "%s\"%s\"", k ? ", " : "", c->scopes[r->scopes[k]].name);
        fprintf(out, "]; for = %d; recover = %d; severity = \"%s\";\n", r->for_windows,
                r->recover_windows, rw_severity_names[r->severity]);
        print_table(out, rw_rule_options, r, "    ");
        print_table(out, r->det->options, r->params, "    ");
        fprintf(out, "  }%s\n", i + 1 < c->nrules ? "," : "");
    }
    fprintf(out, ");\nnotifiers = (\n");
    for (int i = 0; i < c->nnotifiers; i++) {
        struct rw_notifier_cfg shown = c->notifiers[i];
        /* Never print a secret URL that came from the environment; print
         * url = "" so the printout loads again (url and url_env exclude
         * each other), and whether it is set as a comment. */
        fprintf(out, "  {\n");
        if (shown.url_env[0]) {
            fprintf(out, "    # url: %s\n", shown.url[0] ? "<set>" : "<unset>");
            shown.url[0] = '\0';
        }
        print_table(out, notifier_options, &shown, "    ");
        fprintf(out, "    tls_verify = %s;\n", shown.tls_insecure ? "false" : "true");
        /* Header values from the environment stay there; literal ones are config. */
        if (shown.nheaders)
            fprintf(out, "    headers = (");
        for (int k = 0; k < shown.nheaders; k++) {
            fprintf(out, "%s\n      { name = ", k ? "," : "");
            print_quoted(out, shown.headers[k].name);
            if (shown.headers[k].value_env[0]) {
                fprintf(out, "; value_env = ");
                print_quoted(out, shown.headers[k].value_env);
            } else {
                fprintf(out, "; value = ");
                print_quoted(out, shown.headers[k].value);
            }
            fprintf(out, "; }");
        }
        if (shown.nheaders)
            fprintf(out, "\n    );\n");
        if (shown.nlinks)
            fprintf(out, "    links = (");
        for (int k = 0; k < shown.nlinks; k++) {
            fprintf(out, "%s\n      { text = ", k ? "," : "");
            print_quoted(out, shown.links[k].text);
            fprintf(out, "; url = ");
            print_quoted(out, shown.links[k].url);
            fprintf(out, "; }");
        }
        if (shown.nlinks)
            fprintf(out, "\n    );\n");
        fprintf(out, "  }%s\n", i + 1 < c->nnotifiers ? "," : "");
    }
    fprintf(out, ");\nnotify = {\n");
    /* history is kept joined to state_dir. With a relative state_dir, print
     * it as written (relative to state_dir): printed as joined, it would be
     * joined once more when the printout is loaded (found by fuzzing). */
    struct rw_notify_params np = c->notify;
    size_t sl = strlen(np.state_dir);
    if (np.state_dir[0] != '/' && strncmp(np.history, np.state_dir, sl) == 0 &&
        np.history[sl] == '/')
        memmove(np.history, np.history + sl + 1, strlen(np.history + sl + 1) + 1);
    print_table(out, notify_options, &np, "  ");
    fprintf(out, "  outbox = {\n");
    print_table(out, outbox_options, &c->notify.outbox, "    ");
    fprintf(out, "  };\n};\n");
    if (c->pipeline.root) {
        if (c->route_implicit)
            fprintf(out, "# no `route` in the config: every alert goes on its own to every receiver\n");
        if (c->heartbeat.receiver[0])
            fprintf(out, "# the first route is the heartbeat's own (added for `heartbeat`)\n");
        fprintf(out, "route = ");
        print_route(out, c->pipeline.root, 0);
        fprintf(out, ";\n");
    }
    if (c->pipeline.ninhibit)
        fprintf(out, "inhibit_rules = (\n");
    for (int i = 0; i < c->pipeline.ninhibit; i++) {
        const struct rw_inhibit_rule *r = &c->pipeline.inhibit[i];
        fprintf(out, "  { source_matchers = ");
        print_matchers(out, &r->source);
        fprintf(out, "; target_matchers = ");
        print_matchers(out, &r->target);
        fprintf(out, "; equal = [");
        for (int k = 0; k < r->nequal; k++)
            fprintf(out, "%s\"%s\"", k ? ", " : "", r->equal[k]);
        fprintf(out, "]; }%s\n", i + 1 < c->pipeline.ninhibit ? "," : "");
    }
    if (c->pipeline.ninhibit)
        fprintf(out, ");\n");
    if (c->pipeline.timeints && c->pipeline.timeints->n) {
        fprintf(out, "# time_intervals (as written in the file):");
        for (int i = 0; i < c->pipeline.timeints->n; i++)
            fprintf(out, " %s", c->pipeline.timeints->items[i].name);
        fprintf(out, "\n");
    }
}
