/* Prometheus exposition (0.0.4), /metrics and /healthz (see metrics.h).
 * Runs on the HTTP thread, on a copy of the snapshot. */
#include "engine/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/log.h"

/* ---- writer --------------------------------------------------------------- */

void rw_prom_init(struct rw_prom *p)
{
    memset(p, 0, sizeof *p);
}

void rw_prom_clear(struct rw_prom *p)
{
    free(p->buf);
    for (int i = 0; i < p->nseen; i++)
        free(p->seen[i]);
    free(p->seen);
    memset(p, 0, sizeof *p);
}

char *rw_prom_take(struct rw_prom *p, size_t *len)
{
    char *out = NULL;
    if (!p->err) {
        out = p->buf ? p->buf : strdup("");
        p->buf = NULL;
        if (len)
            *len = out ? p->len : 0;
    }
    rw_prom_clear(p);
    return out;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
bad(struct rw_prom *p, int err, const char *fmt, ...)
{
    if (!p->err) {
        p->err = err;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
        va_end(ap);
    }
    return p->err;
}

static int put(struct rw_prom *p, const char *s, size_t n)
{
    if (p->err)
        return p->err;
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n + 1)
            cap *= 2;
        char *b = realloc(p->buf, cap);
        if (!b)
            return bad(p, -ENOMEM, "out of memory");
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
    return 0;
}

static int puts_(struct rw_prom *p, const char *s)
{
    return put(p, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Escaped text: \ and newline always, " too in label values. */
static int put_escaped(struct rw_prom *p, const char *s, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (k == 0) {
            put(p, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i++;
            continue;
        }
        if (u[i] == '\\')
            put(p, "\\\\", 2);
        else if (u[i] == '\n')
            put(p, "\\n", 2);
        else if (quote && u[i] == '"')
            put(p, "\\\"", 2);
        else
            put(p, s + i, k);
        i += k;
    }
    return p->err;
}

static int name_ok(const char *s, int colon)
{
    if (!s || !*s)
        return 0;
    for (const char *c = s; *c; c++) {
        int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                    (colon && *c == ':');
        if (!alpha && !(c > s && *c >= '0' && *c <= '9'))
            return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static const char *type_name(enum rw_prom_type t)
{
    switch (t) {
    case RW_PROM_COUNTER: return "counter";
    case RW_PROM_GAUGE: return "gauge";
    case RW_PROM_HISTOGRAM: return "histogram";
    default: return "untyped";
    }
}

int rw_prom_family(struct rw_prom *p, const char *name, enum rw_prom_type type, const char *help)
{
    if (p->err)
        return p->err;
    if (!name_ok(name, 1) || strlen(name) >= sizeof p->family)
        return bad(p, -EINVAL, "bad metric name '%s'", name ? name : "(null)");
    if (type == RW_PROM_COUNTER && !ends_with(name, "_total"))
        return bad(p, -EINVAL, "counter '%s' must end in _total", name);
    if (type == RW_PROM_HISTOGRAM &&
        (ends_with(name, "_bucket") || ends_with(name, "_sum") || ends_with(name, "_count")))
        return bad(p, -EINVAL, "histogram '%s' must not end in _bucket/_sum/_count", name);
    for (int i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i], name) == 0)
            return bad(p, -EINVAL, "family '%s' written twice", name);
    if (p->nseen == p->capseen) {
        int cap = p->capseen ? 2 * p->capseen : 64;
        char **v = realloc(p->seen, sizeof *v * (size_t)cap);
        if (!v)
            return bad(p, -ENOMEM, "out of memory");
        p->seen = v;
        p->capseen = cap;
    }
    if (!(p->seen[p->nseen] = strdup(name)))
        return bad(p, -ENOMEM, "out of memory");
    p->nseen++;
    snprintf(p->family, sizeof p->family, "%s", name);
    p->type = type;
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help ? help : "", 0);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type_name(type));
    return puts_(p, "\n");
}

void rw_prom_format_value(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, len, "0"); /* also -0 */
    } else if (v == nearbyint(v) && fabs(v) <= 9007199254740992.0) {
        snprintf(buf, len, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

static int sample_head(struct rw_prom *p, const char *suffix, const struct rw_prom_label *labels,
                       int nlabels, const char *le)
{
    if (p->err)
        return p->err;
    if (!p->family[0])
        return bad(p, -EINVAL, "sample before any # TYPE");
    suffix = suffix ? suffix : "";
    int hist = p->type == RW_PROM_HISTOGRAM;
    int ok = hist ? (strcmp(suffix, "_bucket") == 0 && le) ||
                        ((strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0) && !le)
                  : suffix[0] == '\0' && !le;
    if (!ok)
        return bad(p, -EINVAL, "sample '%s%s' does not fit its %s family", p->family, suffix,
                   type_name(p->type));
    for (int i = 0; i < nlabels; i++) {
        const char *n = labels[i].name;
        if (!name_ok(n, 0) || strncmp(n, "__", 2) == 0)
            return bad(p, -EINVAL, "bad label name '%s'", n ? n : "(null)");
        if (hist && strcmp(n, "le") == 0)
            return bad(p, -EINVAL, "label 'le' is the histogram's own");
        if (!labels[i].value)
            return bad(p, -EINVAL, "label '%s' has no value", n);
        for (int k = 0; k < i; k++)
            if (strcmp(labels[k].name, n) == 0)
                return bad(p, -EINVAL, "label '%s' twice", n);
    }
    puts_(p, p->family);
    puts_(p, suffix);
    if (nlabels || le) {
        puts_(p, "{");
        for (int i = 0; i < nlabels; i++) {
            if (i)
                puts_(p, ",");
            puts_(p, labels[i].name);
            puts_(p, "=\"");
            put_escaped(p, labels[i].value, 1);
            puts_(p, "\"");
        }
        if (le) {
            puts_(p, nlabels ? ",le=\"" : "le=\"");
            puts_(p, le);
            puts_(p, "\"");
        }
        puts_(p, "}");
    }
    return puts_(p, " ");
}

int rw_prom_sample(struct rw_prom *p, const char *suffix, const struct rw_prom_label *labels,
                   int nlabels, double v)
{
    char num[40];
    if (sample_head(p, suffix, labels, nlabels, NULL))
        return p->err;
    if (p->type == RW_PROM_COUNTER && !(v >= 0)) /* NaN too: a counter is a count */
        return bad(p, -EINVAL, "counter '%s' given %g", p->family, v);
    rw_prom_format_value(v, num, sizeof num);
    puts_(p, num);
    return puts_(p, "\n");
}

int rw_prom_sample_u64(struct rw_prom *p, const char *suffix, const struct rw_prom_label *labels,
                       int nlabels, uint64_t v)
{
    char num[32];
    if (sample_head(p, suffix, labels, nlabels, NULL))
        return p->err;
    snprintf(num, sizeof num, "%" PRIu64, v);
    puts_(p, num);
    return puts_(p, "\n");
}

int rw_prom_histogram(struct rw_prom *p, const struct rw_prom_label *labels, int nlabels,
                      const double *bounds, const uint64_t *counts, int nbounds, double sum)
{
    if (p->err)
        return p->err;
    if (p->type != RW_PROM_HISTOGRAM)
        return bad(p, -EINVAL, "histogram samples in the %s family '%s'", type_name(p->type),
                   p->family);
    for (int i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return bad(p, -EINVAL, "histogram bounds must increase and be finite");
    uint64_t cum = 0;
    char le[40], num[32];
    for (int i = 0; i <= nbounds; i++) {
        cum += counts[i];
        if (i < nbounds)
            rw_prom_format_value(bounds[i], le, sizeof le);
        else
            snprintf(le, sizeof le, "+Inf");
        if (sample_head(p, "_bucket", labels, nlabels, le))
            return p->err;
        snprintf(num, sizeof num, "%" PRIu64, cum);
        puts_(p, num);
        puts_(p, "\n");
    }
    rw_prom_sample(p, "_sum", labels, nlabels, sum);
    return rw_prom_sample_u64(p, "_count", labels, nlabels, cum);
}

/* ---- histogram ------------------------------------------------------------ */

const double rw_eval_bounds[RW_EVAL_NBOUNDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void rw_histogram_observe(struct rw_histogram *h, double v, uint64_t n)
{
    if (!isfinite(v) || v < 0)
        return;
    int i = 0;
    while (i < RW_EVAL_NBOUNDS && v > rw_eval_bounds[i])
        i++;
    h->counts[i] += n;
    h->count += n;
    h->sum += v * (double)n;
}

/* ---- /metrics --------------------------------------------------------------- */

void rw_metrics_proc_memory(double *rss_bytes, double *vm_bytes)
{
    *rss_bytes = *vm_bytes = NAN;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return;
    unsigned long long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0) {
        *vm_bytes = (double)size * (double)page;
        *rss_bytes = (double)resident * (double)page;
    }
    fclose(f);
}

/* Shorthands: one family with one unlabelled sample. */
static void counter(struct rw_prom *p, const char *name, const char *help, uint64_t v)
{
    rw_prom_family(p, name, RW_PROM_COUNTER, help);
    rw_prom_sample_u64(p, "", NULL, 0, v);
}

static void gauge(struct rw_prom *p, const char *name, const char *help, double v)
{
    rw_prom_family(p, name, RW_PROM_GAUGE, help);
    rw_prom_sample(p, "", NULL, 0, v);
}

static double age_s(int64_t now, int64_t then)
{
    return then > 0 ? (double)(now - then) / 1000.0 : NAN;
}

static void engine_metrics(struct rw_prom *p, const struct rw_metrics_snap *s, int64_t now)
{
    const struct rw_engine_stats *e = &s->engine;
    counter(p, "rumwatch_events_received_total",
            "Events offered to the engine (each line of a message body; also messages refused "
            "whole)",
            e->received);
    rw_prom_family(p, "rumwatch_events_accepted_total", RW_PROM_COUNTER,
                   "Events accepted, by type");
    static const char *const types[] = {"view", "error", "metric"};
    const uint64_t acc[] = {e->views, e->errors, e->metrics};
    for (int i = 0; i < 3; i++)
        rw_prom_sample_u64(p, "", &(struct rw_prom_label){"type", types[i]}, 1, acc[i]);
    rw_prom_family(p, "rumwatch_events_rejected_total", RW_PROM_COUNTER,
                   "Events rejected, by reason (docs/schema.md \"Validation\")");
    for (int r = 1; r < RW_NREJECT; r++)
        rw_prom_sample_u64(p, "", &(struct rw_prom_label){"reason", rw_reject_names[r]}, 1,
                           e->rejected[r]);

    /* keyspace, per scope; kind "custom": the scope's custom-metric twin */
    static const char *const kinds[] = {"rum", "custom"};
    struct {
        const char *name, *help;
        int type;
    } fam[] = {
        {"rumwatch_series", "Series alive now, \"(other)\" included", RW_PROM_GAUGE},
        {"rumwatch_series_limit", "max_series of the scope (new keys beyond fold into (other))",
         RW_PROM_GAUGE},
        {"rumwatch_series_created_total", "Series created", RW_PROM_COUNTER},
        {"rumwatch_series_expired_total", "Idle series forgotten (engine.idle_expire)",
         RW_PROM_COUNTER},
        {"rumwatch_series_folded_total",
         "Events folded into the scope's (other) series (scope full)", RW_PROM_COUNTER},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        rw_prom_family(p, fam[f].name, (enum rw_prom_type)fam[f].type, fam[f].help);
        for (int i = 0; i < s->nscopes; i++) {
            const struct rw_metrics_scope *sc = &s->scopes[i];
            for (int k = 0; k < 1 + sc->st.has_custom; k++) {
                struct rw_prom_label l[2] = {{"scope", sc->name}, {"kind", kinds[k]}};
                uint64_t v = f == 0   ? sc->st.series[k]
                             : f == 1 ? (uint64_t)sc->max_series
                             : f == 2 ? sc->st.created[k]
                             : f == 3 ? sc->st.expired[k]
                                      : sc->st.folded[k];
                rw_prom_sample_u64(p, "", l, 2, v);
            }
        }
    }
    gauge(p, "rumwatch_engine_memory_bytes",
          "Memory the engine holds for series and quantile sketches (estimate)", (double)e->bytes);
    gauge(p, "rumwatch_sketch_memory_bytes", "Of which pooled quantile sketches",
          (double)e->sketch_bytes);
    counter(p, "rumwatch_sketch_nomem_total", "Samples lost: no memory for a quantile sketch",
            e->sketch_nomem);

    counter(p, "rumwatch_windows_closed_total", "Windows closed and evaluated", e->windows_closed);
    counter(p, "rumwatch_evaluations_total", "Rule x series evaluations", e->evaluations);
    counter(p, "rumwatch_evaluations_insufficient_total",
            "Evaluations with too little data to judge", e->insufficient);
    gauge(p, "rumwatch_watermark_lag_seconds",
          "Wall clock minus the watermark (about engine.lateness when healthy; NaN before the "
          "first window)",
          e->watermark == INT64_MIN ? NAN : (double)(now - e->watermark) / 1000.0);
    gauge(p, "rumwatch_newest_event_age_seconds",
          "Wall clock minus the newest event time seen (NaN before the first event)",
          e->max_ts == INT64_MIN ? NAN : (double)(now - e->max_ts) / 1000.0);
    rw_prom_family(p, "rumwatch_window_evaluation_seconds", RW_PROM_HISTOGRAM,
                   "Time to close and evaluate one window (every series, every rule)");
    rw_prom_histogram(p, NULL, 0, rw_eval_bounds, s->eval.counts, RW_EVAL_NBOUNDS, s->eval.sum);

    rw_prom_family(p, "rumwatch_alerts", RW_PROM_GAUGE,
                   "Alerts by state, as of the last window close (input_stall included)");
    uint64_t own = s->watch.stalled ? 1 : 0;
    rw_prom_sample_u64(p, "", &(struct rw_prom_label){"state", "pending"}, 1, s->alerts.pending);
    rw_prom_sample_u64(p, "", &(struct rw_prom_label){"state", "firing"}, 1,
                       s->alerts.firing + own);
    gauge(p, "rumwatch_alerts_flapping", "Alerts held as flapping", (double)s->alerts.flapping);
    gauge(p, "rumwatch_alerts_grouped", "Firing alerts grouped under another (not notified)",
          (double)s->alerts.grouped);
    counter(p, "rumwatch_alerts_fired_total", "Alert transitions to firing (engine rules)",
            e->alerts_fired);
    counter(p, "rumwatch_alerts_resolved_total", "Alert transitions to resolved (engine rules)",
            e->alerts_resolved);
}

static void delivery_metrics(struct rw_prom *p, const struct rw_metrics_snap *s)
{
    const struct rw_delivery_stats *d = &s->delivery;
    gauge(p, "rumwatch_notify_enabled",
          "1 when the notification pipeline runs (a receiver can send)", s->delivery_on);
    counter(p, "rumwatch_notify_alerts_total", "Alert lines the pipeline took", d->alerts);
    counter(p, "rumwatch_notifications_queued_total", "Notifications written to the outbox",
            d->submitted);
    counter(p, "rumwatch_notifications_sent_total", "Notifications delivered (2xx)", d->sent);
    counter(p, "rumwatch_notifications_failed_total",
            "Notifications given up: dead-lettered, or for a receiver that cannot send", d->failed);
    counter(p, "rumwatch_notification_retries_total", "Failed attempts that will be tried again",
            d->retried);
    counter(p, "rumwatch_notifications_dead_total",
            "Notifications dead-lettered (refused, retries exhausted, max age)", d->dead);
    counter(p, "rumwatch_notifications_dropped_oldest_total",
            "Pending notifications dead-lettered because the outbox was full", d->dropped_oldest);
    counter(p, "rumwatch_notify_alerts_dropped_total",
            "Alerts lost before the outbox (hand-over queue full, group caps)", d->dropped);
    gauge(p, "rumwatch_outbox_depth", "Notifications in the outbox (in flight included)",
          (double)d->pending);
    gauge(p, "rumwatch_notifications_inflight", "Requests in flight", (double)d->inflight);
    gauge(p, "rumwatch_notify_groups", "Aggregation groups", (double)d->groups);
    counter(p, "rumwatch_notify_silenced_total", "Alerts left out of a notification by a silence",
            d->silenced);
    counter(p, "rumwatch_notify_inhibited_total",
            "Alerts left out of a notification by an inhibit rule", d->inhibited);
    counter(p, "rumwatch_notify_muted_total", "Group flushes held back by time intervals",
            d->muted);
    counter(p, "rumwatch_notify_resent_total",
            "Re-posts of firing alerts to alertmanager receivers answered 2xx", d->resent);
}

static void input_metrics(struct rw_prom *p, const struct rw_metrics_snap *s, int64_t now)
{
    gauge(p, "rumwatch_input_rcvhwm",
          "ZMQ_RCVHWM of the SUB socket (input.rcvhwm): PUB/SUB drops silently beyond it",
          (double)s->rcvhwm);
    counter(p, "rumwatch_input_messages_total", "ZeroMQ messages received", s->messages);
    counter(p, "rumwatch_input_connects_total",
            "ZeroMQ connections established (connected or accepted)", s->connects);
    counter(p, "rumwatch_input_disconnects_total",
            "ZeroMQ connections lost (a peer that went away, or a message beyond ZMQ_MAXMSGSIZE)",
            s->disconnects);
    rw_prom_family(p, "rumwatch_input_auth_failures_total", RW_PROM_COUNTER,
                   "Publishers refused by input.curve: not_allowed = a CURVE key not in the "
                   "allow-list, handshake = no CURVE or another server key");
    rw_prom_sample_u64(p, "", &(struct rw_prom_label){"reason", "not_allowed"}, 1,
                       s->curve.denied);
    rw_prom_sample_u64(p, "", &(struct rw_prom_label){"reason", "handshake"}, 1,
                       s->curve.handshake_failed);
    counter(p, "rumwatch_input_auth_accepted_total",
            "Publishers let in by input.curve (key in the allow-list)", s->curve.allowed);
    counter(p, "rumwatch_input_seq_invalid_total",
            "Sequence frames that could not be read (docs/schema.md)", s->seq.invalid);
    counter(p, "rumwatch_input_seq_untracked_total",
            "Sequenced messages of streams beyond the tracking cap", s->seq.untracked);
    gauge(p, "rumwatch_input_seq_streams", "(publisher, topic) sequences tracked",
          (double)s->seq.streams);
    struct {
        const char *name, *help;
    } fam[] = {
        {"rumwatch_input_sequenced_messages_total", "Messages that carried a sequence frame"},
        {"rumwatch_input_lost_messages_total",
         "Messages missing from a publisher's sequences (dropped on the way)"},
        {"rumwatch_input_seq_resets_total", "Sequences that started over (publisher restarts)"},
    };
    for (int f = 0; f < 3; f++) {
        rw_prom_family(p, fam[f].name, RW_PROM_COUNTER, fam[f].help);
        for (int i = 0; i < s->npubs; i++) {
            const struct rw_inputseq_pub *q = &s->pubs[i];
            rw_prom_sample_u64(p, "", &(struct rw_prom_label){"publisher", q->id}, 1,
                               f == 0   ? q->messages
                               : f == 1 ? q->lost
                                        : q->resets);
        }
    }
    gauge(p, "rumwatch_input_stall_after_seconds", "input.stall_after (0 = off)", s->stall_after);
    gauge(p, "rumwatch_input_stalled",
          "1 while the input_stall alert fires (no event accepted for stall_after)",
          s->watch.stalled);
    counter(p, "rumwatch_input_stalls_total", "input_stall alerts fired", s->watch.stalls);
    gauge(p, "rumwatch_last_event_age_seconds",
          "Seconds since an event was last accepted (since the start when none was)",
          s->watch.idle_s + (double)(now - s->wall_ms) / 1000.0);
    gauge(p, "rumwatch_heartbeat_interval_seconds", "heartbeat.interval (0 = off)",
          s->heartbeat_interval);
    counter(p, "rumwatch_heartbeats_total", "Heartbeats handed to the notification pipeline",
            s->watch.heartbeats);
    gauge(p, "rumwatch_heartbeat_age_seconds", "Seconds since the last heartbeat (NaN: none yet)",
          age_s(now, s->watch.last_heartbeat_wall_ms));
}

char *rw_metrics_render(const struct rw_metrics_snap *s, const struct rw_metrics_now *now,
                        size_t *len)
{
    struct rw_prom p;
    rw_prom_init(&p);
    int64_t t = now->wall_ms;
    rw_prom_family(&p, "rumwatch_build_info", RW_PROM_GAUGE, "rumwatch's version (value 1)");
    rw_prom_sample(&p, "", &(struct rw_prom_label){"version", RW_VERSION}, 1, 1);
    gauge(&p, "process_start_time_seconds", "Start time of the process, seconds since the epoch",
          (double)s->start_wall_ms / 1000.0);
    gauge(&p, "process_resident_memory_bytes", "Resident memory (/proc/self/statm)",
          now->rss_bytes);
    gauge(&p, "process_virtual_memory_bytes", "Virtual memory (/proc/self/statm)", now->vm_bytes);
    gauge(&p, "rumwatch_engine_tick_age_seconds",
          "Seconds since the engine loop last ran (it runs at least every 100 ms)",
          now->tick_age_s);
    gauge(&p, "rumwatch_snapshot_age_seconds",
          "Seconds since state was last snapshotted (NaN: no snapshot yet)",
          age_s(t, s->snapshot_wall_ms));
    counter(&p, "rumwatch_snapshots_written_total", "Engine state snapshots written",
            s->snapshots_written);
    counter(&p, "rumwatch_snapshots_failed_total",
            "Engine state snapshots that could not be written (see the log)", s->snapshots_failed);
    gauge(&p, "rumwatch_snapshot_bytes", "Size of the newest engine state snapshot",
          (double)s->snapshot_bytes);
    if (s->reload_on) {
        gauge(&p, "rumwatch_config_last_reload_successful",
              "1 if the last config reload (or the start) loaded its config, 0 if it was refused",
              s->reload_last_ok ? 1 : 0);
        gauge(&p, "rumwatch_config_last_reload_success_timestamp_seconds",
              "When the running config was loaded, seconds since the epoch",
              (double)s->reload_last_ok_ms / 1000.0);
        rw_prom_family(&p, "rumwatch_config_reloads_total", RW_PROM_COUNTER,
                       "Config reloads (SIGHUP, rumwatch reload) by result");
        rw_prom_sample(&p, "", &(struct rw_prom_label){"result", "success"}, 1,
                       (double)s->reloads_ok);
        rw_prom_sample(&p, "", &(struct rw_prom_label){"result", "failure"}, 1,
                       (double)s->reloads_failed);
    }
    engine_metrics(&p, s, t);
    input_metrics(&p, s, t);
    delivery_metrics(&p, s);
    if (p.err == -EINVAL)
        rw_log(RW_LOG_ERROR, "http", "msg=\"metrics exposition refused\" error=\"%s\"", p.errmsg);
    return rw_prom_take(&p, len);
}

/* ---- /healthz ----------------------------------------------------------------- */

int rw_metrics_health(const struct rw_metrics_snap *s, const struct rw_metrics_now *now,
                      char **body)
{
    char reasons[3][200];
    int n = 0;
    if (!(now->tick_age_s <= now->tick_timeout))
        snprintf(reasons[n++], sizeof reasons[0],
                 "engine loop stalled: last ran %.1f s ago (http.tick_timeout %g s)",
                 now->tick_age_s, now->tick_timeout);
    if (!s || !s->wall_ms)
        snprintf(reasons[n++], sizeof reasons[0], "starting: no metrics published yet");
    else if (s->watch.stalled)
        snprintf(reasons[n++], sizeof reasons[0],
                 "input stalled: no event accepted for %.0f s (input.stall_after %g s)",
                 s->watch.idle_s + (double)(now->wall_ms - s->wall_ms) / 1000.0, s->stall_after);
    if (n == 0) {
        *body = strdup("ok\n");
        return 200;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        fprintf(f, "{\"status\":\"unhealthy\",\"reasons\":[");
        for (int i = 0; i < n; i++)
            fprintf(f, "%s\"%s\"", i ? "," : "", reasons[i]); /* plain ASCII, no quotes */
        char tick[40], idle[40];
        rw_prom_format_value(now->tick_age_s, tick, sizeof tick);
        double ia =
            s && s->wall_ms ? s->watch.idle_s + (double)(now->wall_ms - s->wall_ms) / 1000.0 : NAN;
        rw_prom_format_value(ia, idle, sizeof idle);
        fprintf(f, "],\"engine_tick_age_seconds\":%s,\"last_event_age_seconds\":%s}\n",
                isfinite(now->tick_age_s) ? tick : "null", isfinite(ia) ? idle : "null");
        if (fclose(f) != 0) {
            free(text);
            text = NULL;
        }
    }
    *body = text;
    return 503;
}
