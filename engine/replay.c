/* `rumwatch replay` and `rumwatch check`: the same engine as `run`, fed from
 * files in event time. Output is deterministic: same input and config, the
 * same bytes. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <jansson.h>
#include <zmq.h>

#include "config/config.h"
#include "engine/cmd.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/snapshot.h"
#include "notifiers/delivery.h"
#include <sys/stat.h>

struct rw_config *rw_cmd_load_config(const char *path)
{
    char err[1024] = "";
    struct rw_config *cfg = rw_config_load(path, err, sizeof err);
    if (!cfg)
        fprintf(stderr, "rumwatch: config error: %s\n", err);
    else
        rw_log_set_level((enum rw_log_level)cfg->engine.log_level);
    return cfg;
}

void rw_cmd_print_summary(const char *cmd, const struct rw_engine *e, double seconds)
{
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    uint64_t rej = 0;
    for (int i = 1; i < RW_NREJECT; i++)
        rej += st.rejected[i];
    fprintf(stderr, "%s: %llu events read, %llu accepted (%llu views, %llu errors, %llu metrics), "
                    "%llu rejected",
            cmd, (unsigned long long)st.received, (unsigned long long)st.accepted,
            (unsigned long long)st.views, (unsigned long long)st.errors,
            (unsigned long long)st.metrics, (unsigned long long)rej);
    if (rej) {
        const char *sep = " (";
        for (int i = 1; i < RW_NREJECT; i++)
            if (st.rejected[i]) {
                fprintf(stderr, "%s%s=%llu", sep, rw_reject_names[i],
                        (unsigned long long)st.rejected[i]);
                sep = " ";
            }
        fprintf(stderr, ")");
    }
    fprintf(stderr, "\n%s: %llu series alive (%llu created, %llu expired, %llu folded into (other)), "
                    "%llu windows closed, %llu evaluations (%llu insufficient_data), ~%.1f MiB\n",
            cmd, (unsigned long long)st.series, (unsigned long long)st.series_created,
            (unsigned long long)st.series_expired, (unsigned long long)st.folded,
            (unsigned long long)st.windows_closed, (unsigned long long)st.evaluations,
            (unsigned long long)st.insufficient, st.bytes / 1048576.0);
    fprintf(stderr, "%s: %llu alerts fired, %llu resolved, %llu still firing; %.2f s, %.0f events/s\n",
            cmd, (unsigned long long)st.alerts_fired, (unsigned long long)st.alerts_resolved,
            (unsigned long long)st.firing_now, seconds,
            seconds > 0 ? st.received / seconds : 0.0);
}

/* ---- output sink ---------------------------------------------------- */

struct out_sink {
    FILE *out;
    struct rw_delivery *delivery; /* NULL unless --notify */
    unsigned long lines;
    int text; /* --format text */
};

/* --format text: one line a transition for people reading a terminal,
 *   2025-11-03T07:29:00Z FIRING   warning  lcp_slowdown  p75 LCP 8.2 s vs ... [+3 grouped]
 * Grouped children are indented under their parent's line. */
static void print_text(FILE *out, const char *line)
{
    json_t *j = json_loads(line, 0, NULL);
    if (!j) {
        fprintf(out, "%s\n", line);
        return;
    }
    time_t t = (time_t)(json_integer_value(json_object_get(j, "ts")) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *state = json_string_value(json_object_get(j, "state"));
    int grouped = json_object_get(j, "parent") != NULL;
    json_int_t kids = json_integer_value(json_object_get(j, "children_total"));
    fprintf(out, "%s %s%-8s %-8s %-16s %s", when, grouped ? "  └ " : "",
            state && strcmp(state, "firing") == 0 ? "FIRING" : "RESOLVED",
            json_string_value(json_object_get(j, "severity")),
            json_string_value(json_object_get(j, "rule")),
            json_string_value(json_object_get(j, "summary")));
    if (kids)
        fprintf(out, "  [+%lld grouped]", (long long)kids);
    fputc('\n', out);
    json_decref(j);
}

static void emit_line(void *ctx, const char *line, int notify)
{
    struct out_sink *o = ctx;
    if (o->text) {
        print_text(o->out, line);
    } else {
        fputs(line, o->out);
        fputc('\n', o->out);
    }
    o->lines++;
    if (notify && o->delivery)
        rw_delivery_submit(o->delivery, line);
}

/* ---- state snapshots in event time (--state-dir) -------------------- */

/* With --state-dir, a snapshot is written whenever the watermark passes the
 * next multiple of --snapshot-every (event time) and at the end. It records
 * how many input lines it covers and a CRC-32 of them: a restart over the
 * same input skips those lines ("resumed"), checks the CRC, and goes on
 * exactly where the snapshot was taken. */
struct replay_snap {
    const char *dir;  /* NULL: off */
    int64_t every_ms; /* event time between snapshots; 0: only at the end */
    int64_t next_wm;  /* INT64_MIN: set by the first event */
    uint64_t pos;     /* input lines consumed (ingested or skipped) */
    uint32_t crc;     /* of those lines' bytes */
    uint64_t skip;    /* lines still to skip (resuming) */
    uint64_t skipped;
    uint32_t want_crc; /* the snapshot's CRC of the skipped lines */
    int mismatch;
    uint64_t written;
    FILE *out; /* alert lines: flushed before a snapshot, so none it covers is lost */
};

static int snap_write(struct replay_snap *sn, struct rw_engine *e)
{
    char err[512] = "";
    if (sn->out && fflush(sn->out) != 0) {
        rw_log(RW_LOG_ERROR, "snapshot", "msg=\"snapshot not written: output not flushed\" error=\"%s\"",
               strerror(errno));
        return -1;
    }
    rw_engine_set_cursor(e, sn->pos, sn->crc);
    long long n = rw_snapshot_save_engine(e, sn->dir, err, sizeof err);
    if (n < 0) {
        rw_log(RW_LOG_ERROR, "snapshot", "msg=\"snapshot not written\" error=\"%s\"", err);
        return -1;
    }
    sn->written++;
    rw_log(RW_LOG_DEBUG, "snapshot", "msg=\"snapshot written\" bytes=%lld watermark=%lld lines=%llu",
           n, (long long)rw_engine_watermark(e), (unsigned long long)sn->pos);
    return 0;
}

static void snap_next(struct replay_snap *sn, int64_t wm)
{
    if (wm == INT64_MIN) { /* no event yet: decided by the first one */
        sn->next_wm = INT64_MIN;
        return;
    }
    sn->next_wm = sn->every_ms > 0 ? (wm / sn->every_ms + 1) * sn->every_ms : INT64_MAX;
}

/* One input line (len bytes at p; p NULL for an oversize line). Returns 1
 * when the line is to be ingested, 0 when it was covered by the snapshot,
 * -1 when the input is not the one the snapshot was taken on. */
static int snap_line(struct replay_snap *sn, const char *p, size_t len)
{
    if (p)
        sn->crc = (uint32_t)crc32(sn->crc, (const Bytef *)p, (uInt)len);
    sn->pos++;
    if (!sn->skip)
        return 1;
    sn->skip--;
    sn->skipped++;
    if (sn->skip == 0 && sn->crc != sn->want_crc) {
        sn->mismatch = 1;
        return -1;
    }
    return 0;
}

static void snap_after_line(struct replay_snap *sn, struct rw_engine *e)
{
    int64_t wm = rw_engine_watermark(e);
    if (sn->next_wm == INT64_MIN) {
        snap_next(sn, wm);
    } else if (wm >= sn->next_wm) {
        snap_write(sn, e);
        snap_next(sn, wm);
    }
}

/* "90", "90s", "15m", "1h", "2d" -> ms; -1 when malformed. */
static int64_t parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double unit = 1000;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        unit = 60e3, end++;
    else if (*end == 'h')
        unit = 3600e3, end++;
    else if (*end == 'd')
        unit = 86400e3, end++;
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v * unit > 1e15)
        return -1;
    return (int64_t)llround(v * unit);
}

/* ---- NDJSON input --------------------------------------------------- */

/* Feed every line of one file to the engine. Lines are cut at '\n' by
 * position, not by strlen, so a NUL inside a line cannot split it; a line
 * longer than max_message (after dropping a trailing '\r') is skipped to
 * its newline and counted as oversize. */
static int replay_file(struct rw_engine *e, const char *path, size_t max_line,
                       struct replay_snap *sn)
{
    gzFile gz = strcmp(path, "-") == 0 ? gzdopen(0, "rb") : gzopen(path, "rb");
    if (!gz) {
        fprintf(stderr, "rumwatch: cannot open %s: %s\n", path, strerror(errno ? errno : ENOENT));
        return -1;
    }
    gzbuffer(gz, 1 << 18);
    size_t cap = max_line + 2 > (1 << 20) ? max_line + 2 : (1 << 20);
    char *buf = malloc(cap);
    if (!buf) {
        gzclose(gz);
        return -1;
    }
    size_t have = 0;   /* bytes in buf */
    int skipping = 0;  /* inside an oversize line, dropping until '\n' */
    int rc = 0, n;
    for (;;) {
        n = gzread(gz, buf + have, (unsigned)(cap - have));
        if (n < 0) {
            int errnum = 0;
            fprintf(stderr, "rumwatch: %s: read error: %s\n", path, gzerror(gz, &errnum));
            rc = -1;
            break;
        }
        have += (size_t)n;
        int eof = n == 0;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(buf + pos, '\n', have - pos);
            if (!nl && !(eof && pos < have))
                break;
            size_t end = nl ? (size_t)(nl - buf) : have;
            size_t len = end - pos;
            if (len && buf[pos + len - 1] == '\r')
                len--;
            int take = 1;
            if (skipping) {
                skipping = 0; /* the tail of an oversize line, already counted */
            } else if (len > max_line) {
                if (sn->dir && (take = snap_line(sn, NULL, 0)) < 0)
                    break;
                if (take)
                    rw_engine_count_reject(e, RW_REJ_OVERSIZE);
            } else if (len) {
                if (sn->dir && (take = snap_line(sn, buf + pos, len)) < 0)
                    break;
                if (take) {
                    rw_engine_ingest_json(e, buf + pos, len);
                    if (sn->dir)
                        snap_after_line(sn, e);
                }
            }
            pos = nl ? end + 1 : have;
        }
        /* keep the unfinished line; if it alone fills the buffer it is oversize */
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        if (sn->mismatch) {
            fprintf(stderr, "rumwatch: %s: not the input the snapshot in %s was taken on "
                    "(its first %llu lines differ); use another --state-dir\n",
                    path, sn->dir, (unsigned long long)sn->skipped);
            rc = -1;
            break;
        }
        if (have > max_line + 1) {
            if (!skipping && (!sn->dir || snap_line(sn, NULL, 0) > 0))
                rw_engine_count_reject(e, RW_REJ_OVERSIZE);
            skipping = 1;
            have = 0;
        }
        if (eof)
            break;
    }
    free(buf);
    gzclose(gz);
    return rc;
}

/* ---- CSV input ------------------------------------------------------ */

/* Parse "2025-11-03T14:00:00Z", "2025-11-03 14:00:00.5+01:00", or epoch s/ms. */
static int parse_time(const char *s, int64_t *ms)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end;
    if (isdigit((unsigned char)s[0]) && !(strlen(s) > 4 && s[4] == '-')) {
        errno = 0;
        double v = strtod(s, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || *end || !isfinite(v) || v < 0)
            return -1;
        *ms = v < 1e11 ? (int64_t)llround(v * 1000) : (int64_t)llround(v);
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return -1;
    s += n;
    if (*s == 'T' || *s == ' ') {
        s++;
        if (sscanf(s, "%2d:%2d%n", &h, &mi, &n) != 2)
            return -1;
        s += n;
        if (*s == ':') {
            if (!isdigit((unsigned char)s[1]))
                return -1; /* strtod would take "nan" or "inf" */
            sec = strtod(s + 1, &end);
            s = end;
        }
    }
    int off_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om = 0, sign = *s == '-' ? -1 : 1;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) == 2 || sscanf(s + 1, "%2d%2d%n", &oh, &om, &n) == 2)
            s += 1 + n;
        else if (sscanf(s + 1, "%2d%n", &oh, &n) == 1 && n == 2)
            s += 1 + n, om = 0;
        else
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61))
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + (int64_t)llround(sec * 1000);
    return 0;
}

static int replay_csv(struct rw_engine *e, const char *name, const char *path)
{
    char err[512];
    int nrules = rw_engine_csv_begin(e, name, path, err, sizeof err);
    if (nrules < 0) {
        fprintf(stderr, "rumwatch: %s\n", err);
        return 2;
    }
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rumwatch: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[4096];
    long lineno = 0, rows = 0, bad = 0, gaps = 0;
    int64_t last_ts = INT64_MIN;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *fields[3] = {line, NULL, NULL};
        int nf = 1;
        for (char *p = line; *p && nf < 3; p++)
            if (*p == ',') {
                *p = '\0';
                fields[nf++] = p + 1;
            }
        int64_t ts;
        if (parse_time(fields[0], &ts)) {
            if (lineno == 1)
                continue; /* a header row */
            fprintf(stderr, "rumwatch: %s:%ld: bad timestamp '%s' (ISO 8601 or epoch s/ms); row skipped\n",
                    path, lineno, fields[0]);
            bad++;
            continue;
        }
        if (nf < 2) {
            fprintf(stderr, "rumwatch: %s:%ld: expected timestamp,value[,n]; row skipped\n", path, lineno);
            bad++;
            continue;
        }
        char *end;
        while (isspace((unsigned char)*fields[1]))
            fields[1]++;
        if (!*fields[1] || strcasecmp(fields[1], "nan") == 0 || strcasecmp(fields[1], "null") == 0) {
            gaps++; /* an empty value is a gap, like a missing row */
            continue;
        }
        double v = strtod(fields[1], &end);
        while (isspace((unsigned char)*end))
            end++;
        if (*end || !isfinite(v)) {
            fprintf(stderr, "rumwatch: %s:%ld: bad value '%s'; row skipped\n", path, lineno, fields[1]);
            bad++;
            continue;
        }
        double n = -1;
        if (nf == 3 && *fields[2]) {
            n = strtod(fields[2], &end);
            if (*end || !isfinite(n) || n < 0) {
                fprintf(stderr, "rumwatch: %s:%ld: bad sample count '%s'; row skipped\n", path,
                        lineno, fields[2]);
                bad++;
                continue;
            }
        }
        if (last_ts != INT64_MIN && ts <= last_ts) {
            fprintf(stderr, "rumwatch: %s:%ld: timestamp not after the previous row; row skipped\n",
                    path, lineno);
            bad++;
            continue;
        }
        last_ts = ts;
        rw_engine_csv_row(e, ts, v, n);
        rows++;
    }
    if (f != stdin)
        fclose(f);
    struct rw_engine_stats st;
    rw_engine_get_stats(e, &st);
    fprintf(stderr, "replay: %ld rows through %d rule(s) of %s, %ld bad rows skipped, %ld empty values (gaps); "
                    "%llu alerts fired, %llu resolved\n",
            rows, nrules, name, bad, gaps, (unsigned long long)st.alerts_fired,
            (unsigned long long)st.alerts_resolved);
    return 0;
}

/* ---- commands ------------------------------------------------------- */

int rw_cmd_delivery_opts(const struct rw_config *cfg, int event_time, int control,
                         struct rw_delivery_opts *o)
{
    int usable = 0;
    for (int i = 0; i < cfg->nnotifiers; i++) {
        if (cfg->notifiers[i].url[0])
            usable++;
        else
            rw_log(RW_LOG_WARN, "notify", "msg=\"receiver skipped: $%s is not set\" receiver=%s",
                   cfg->notifiers[i].url_env, cfg->notifiers[i].name);
    }
    if (!usable || !cfg->pipeline.root) {
        rw_log(RW_LOG_WARN, "notify",
               "msg=\"no receiver configured with a URL; alerts go to the output only\"");
        return 0;
    }
    const struct rw_notify_params *np = &cfg->notify;
    *o = (struct rw_delivery_opts){
        .receivers = cfg->notifiers,
        .nreceivers = cfg->nnotifiers,
        .route = cfg->pipeline.root,
        .inhibit = cfg->pipeline.inhibit,
        .ninhibit = cfg->pipeline.ninhibit,
        .external_url = np->external_url,
        .state_dir = np->state_dir,
        .history = np->history,
        .history_max_bytes = (uint64_t)np->history_max_bytes,
        .outbox = {.max_count = (uint32_t)np->outbox.max_count,
                   .max_bytes = (uint64_t)np->outbox.max_bytes,
                   .max_age_ms = (int64_t)(np->outbox.max_age * 1000.0),
                   .max_dead = (uint32_t)np->outbox.max_dead},
        .event_time = event_time,
        .control = control,
    };
    return 1;
}

struct rw_delivery *rw_cmd_start_delivery(void *zctx, const struct rw_config *cfg, int event_time,
                                          int control, int *failed)
{
    *failed = 0;
    struct rw_delivery_opts o;
    if (!rw_cmd_delivery_opts(cfg, event_time, control, &o))
        return NULL;
    char err[1024] = "";
    struct rw_delivery *d = rw_delivery_new(zctx, &o, err, sizeof err);
    if (!d) {
        fprintf(stderr, "rumwatch: cannot start notifications: %s\n", err);
        *failed = 1;
    }
    return d;
}

int rw_cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"output", required_argument, 0, 'o'},
        {"notify", no_argument, 0, 'n'},       {"csv", required_argument, 0, 'C'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {"format", required_argument, 0, 'f'}, {"state-dir", required_argument, 0, 'S'},
        {"snapshot-every", required_argument, 0, 'E'}, {0, 0, 0, 0}};
    const char *cfg_path = NULL, *out_path = NULL, *csv_name = NULL;
    struct replay_snap snap = {.every_ms = 3600000, .crc = (uint32_t)crc32(0L, Z_NULL, 0)};
    int notify = 0, quiet = 0, text = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'n': notify = 1; break;
        case 'C': csv_name = optarg; break;
        case 'q': quiet = 1; break;
        case 'f':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "rumwatch replay: --format json|text\n");
                return 2;
            }
            text = strcmp(optarg, "text") == 0;
            break;
        case 'S': snap.dir = optarg; break;
        case 'E':
            if ((snap.every_ms = parse_duration(optarg)) < 0) {
                fprintf(stderr, "rumwatch replay: --snapshot-every: a duration (90s, 15m, 1h, 2d; 0 = only at the end), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            printf("usage: rumwatch replay [-c FILE] [-o FILE] [--format json|text] [--notify] [--quiet]\n"
                   "                       [--state-dir DIR [--snapshot-every DURATION]] INPUT...\n"
                   "       rumwatch replay [-c FILE] [-o FILE] [--format json|text] --csv NAME FILE\n");
            return 0;
        default: return 2;
        }
    }
    if (csv_name && snap.dir) {
        fprintf(stderr, "rumwatch replay: --state-dir does not apply to --csv\n");
        return 2;
    }
    if (optind >= argc || (csv_name && argc - optind != 1)) {
        fprintf(stderr, "rumwatch replay: %s\n",
                csv_name ? "--csv NAME takes exactly one FILE" : "no input files (use - for stdin)");
        return 2;
    }
    struct rw_config *cfg = rw_cmd_load_config(cfg_path);
    if (!cfg)
        return 2;
    struct out_sink sink = {stdout, NULL, 0, text};
    if (out_path && !(sink.out = fopen(out_path, "w"))) {
        fprintf(stderr, "rumwatch: cannot write %s: %s\n", out_path, strerror(errno));
        rw_config_free(&cfg);
        return 1;
    }
    void *zctx = NULL;
    int rc = 0;
    struct rw_engine *e = NULL;
    char err[512] = "";
    if (notify) {
        /* The same pipeline as `run`, with group timers in event time: a
         * replay sends the notifications `run` would have sent then. */
        int failed = 0;
        zctx = zmq_ctx_new();
        sink.delivery = rw_cmd_start_delivery(zctx, cfg, 1, 0, &failed);
        if (failed) {
            rc = 1;
            goto out;
        }
    }
    struct rw_alert_sink as = {emit_line, &sink};
    e = rw_engine_new(cfg, &as, err, sizeof err);
    if (!e) {
        fprintf(stderr, "rumwatch: %s\n", err);
        rc = 1;
        goto out;
    }
    snap.out = sink.out;
    if (snap.dir) {
        /* Resume: the snapshot's state, and its events are not ingested twice. */
        struct rw_restore_report rep;
        struct rw_snap_info info;
        if (mkdir(snap.dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "rumwatch: cannot create %s: %s\n", snap.dir, strerror(errno));
            rc = 1;
            goto out;
        }
        int lr = rw_snapshot_load_engine(e, snap.dir, &rep, &info);
        if (lr < 0) {
            fprintf(stderr, "rumwatch: out of memory loading the state snapshot\n");
            rc = 1;
            goto out;
        }
        if (lr == 1) {
            snap.skip = rep.cursor;
            snap.want_crc = rep.cursor_crc;
            snap.pos = 0;
            snap.crc = (uint32_t)crc32(0L, Z_NULL, 0);
            rw_log(RW_LOG_INFO, "snapshot",
                   "msg=\"state restored\" dir=\"%s\" lines=%llu watermark=%lld series=%llu "
                   "rules_kept=%d rules_changed=%d rules_removed=%d rules_new=%d firing=%llu "
                   "pending=%llu",
                   snap.dir, (unsigned long long)rep.cursor, (long long)rep.watermark,
                   (unsigned long long)rep.series, rep.rules_kept, rep.rules_changed,
                   rep.rules_removed, rep.rules_new, (unsigned long long)rep.alerts_firing,
                   (unsigned long long)rep.alerts_pending);
        }
        snap_next(&snap, rw_engine_watermark(e));
    }
    int64_t t0 = rw_mono_ms();
    if (csv_name) {
        rc = replay_csv(e, csv_name, argv[optind]);
    } else {
        for (int i = optind; i < argc; i++)
            if (replay_file(e, argv[i], (size_t)cfg->engine.max_message, &snap))
                rc = 1;
        if (snap.skip && !snap.mismatch) {
            fprintf(stderr, "rumwatch: the input has %llu lines, the snapshot in %s covers %llu: "
                    "not the input it was taken on; use another --state-dir\n",
                    (unsigned long long)snap.skipped, snap.dir,
                    (unsigned long long)(snap.skipped + snap.skip));
            rc = 2;
            goto out;
        }
        if (snap.mismatch) {
            rc = 2;
            goto out;
        }
        rw_engine_finish(e);
        if (snap.dir && snap_write(&snap, e))
            rc = 1;
        if (snap.skipped && !quiet)
            fprintf(stderr, "replay: resumed from %s: the first %llu lines were in the snapshot "
                    "(skipped)\n", snap.dir, (unsigned long long)snap.skipped);
        if (!quiet)
            rw_cmd_print_summary("replay", e, (rw_mono_ms() - t0) / 1000.0);
    }
out:
    if (sink.delivery) {
        rw_delivery_destroy(&sink.delivery, (int)(cfg->engine.drain_timeout * 1000));
    }
    if (zctx)
        zmq_ctx_term(zctx);
    rw_engine_destroy(&e);
    if (sink.out != stdout && fclose(sink.out) != 0)
        rc = 1;
    else
        fflush(stdout);
    rw_config_free(&cfg);
    return rc;
}

int rw_cmd_check(int argc, char **argv)
{
    const char *cfg_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt(argc, argv, "c:h")) != -1) {
        if (c == 'c')
            cfg_path = optarg;
        else {
            fprintf(c == 'h' ? stdout : stderr, "usage: rumwatch check [-c FILE]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    struct rw_config *cfg = rw_cmd_load_config(cfg_path);
    if (!cfg)
        return 2;
    rw_config_print(cfg, stdout);
    fprintf(stderr, "config ok: %d scopes, %d rules, %d notifiers\n", cfg->nscopes, cfg->nrules,
            cfg->nnotifiers);
    rw_config_free(&cfg);
    return 0;
}

int rw_cmd_shard(int argc, char **argv)
{
    struct rw_config *cfg = rw_cmd_load_config(NULL);
    if (!cfg)
        return 2;
    char err[256];
    struct rw_pagenorm *pn = rw_pagenorm_new(cfg->rewrites, cfg->nrewrites, cfg->page_ids, err, sizeof err);
    int rc = 0;
    for (int i = 1; pn && i < argc; i++) {
        char out[RW_PAGE_MAX + 1];
        int n = rw_pagenorm_apply(pn, argv[i], strlen(argv[i]), out, sizeof out);
        if (n < 0) {
            fprintf(stderr, "rumwatch shard: page too long\n");
            rc = 2;
            continue;
        }
        printf("%02u %s\n", rw_page_shard(out, (size_t)n), out);
    }
    rw_pagenorm_destroy(&pn);
    rw_config_free(&cfg);
    return rc;
}
