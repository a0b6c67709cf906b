/* Configuration: the only module that includes libconfig.h.
 *
 * rw_config_load() reads a libconfig file (or, with path NULL, the built-in
 * copy of config/rumwatch.conf), fills every unset setting with its default,
 * and rejects unknown keys, wrong types and out-of-range values with a
 * message naming file, line and key ("rumwatch.conf:42: rules.[3].z: ...").
 *
 * Ownership: the returned struct owns everything it points to, including the
 * detector params blocks; free with rw_config_free().
 */
#ifndef RW_CONFIG_H
#define RW_CONFIG_H

#include <stdio.h>

#include "detectors/detector.h"
#include "config/pipeline_config.h"
#include "engine/pagenorm.h"
#include "notifiers/notifier.h"

#define RW_NAME_MAX 64
#define RW_MAX_DIMS 8
#define RW_MAX_SCOPES 32
#define RW_MAX_RULES 128
#define RW_MAX_NOTIFIERS 16
#define RW_MAX_ENDPOINTS 8
#define RW_MAX_TOPICS 16
#define RW_MAX_REWRITES 64
#define RW_PATH_MAX 512

struct rw_engine_params {
    double window;      /* s */
    double lateness;    /* s */
    double max_future;  /* s, run mode */
    double idle_expire; /* s */
    int max_series;     /* default per-scope cap */
    int max_seg_value;  /* bytes */
    int max_message;    /* bytes */
    int log_level;      /* enum rw_log_level */
    double stats_interval; /* s, run mode */
    double drain_timeout;  /* s, run mode shutdown */
    int pool_windows;      /* low-traffic vitals: pool up to this many windows (1 = off) */
    int pool_min_n;        /* ... until this many measurements */
    int max_memory;        /* MiB the keyspace may take at its series caps; 0 = unchecked */
    double snapshot_interval; /* s between state snapshots to notify.state_dir (run); 0 = off */
};

/* `input.curve` (docs/config.md, docs/operations.md "Authenticated input
 * (CURVE)"): the SUB socket is a CURVE server and only publishers whose
 * public key is allowed may send. Keys are Z85 text, checked at load. */
#define RW_CURVE_KEY_LEN 40       /* Z85 of a 32-byte key */
#define RW_MAX_CURVE_CLIENTS 1024 /* allow + allow_file */
struct rw_curve_params {
    int on; /* the `curve` group is present */
    /* Where the server secret key comes from: exactly one is set. Printed by
     * `check`; the key itself never is. */
    char server_secret_file[RW_PATH_MAX];
    char server_secret_env[128];
    char server_secret[RW_CURVE_KEY_LEN + 1]; /* the key, loaded; wiped by rw_config_free */
    char allow_file[RW_PATH_MAX];             /* one key a line; "" = none */
    /* Client public keys: allow[0 .. nallow_inline) from `allow`, then the
     * ones read from allow_file (not printed: the file is the reference). */
    int nallow_inline;
    int nallow;
    char allow[RW_MAX_CURVE_CLIENTS][RW_CURVE_KEY_LEN + 1];
};

struct rw_input_params {
    char endpoints[RW_MAX_ENDPOINTS][256];
    int nendpoints;
    int bind;
    char topics[RW_MAX_TOPICS][128];
    int ntopics;
    int rcvhwm;
    double stall_after; /* s without an accepted event before input_stall (run); 0 = off */
    struct rw_curve_params curve;
};

/* The self-monitoring HTTP endpoint (`http`; docs/operations.md). Absent
 * group or listen "" = off. */
struct rw_http_params {
    char listen[128];    /* "127.0.0.1:9464", "[::1]:9464"; "" = off */
    double tick_timeout; /* s: /healthz fails when the engine loop has not run for this long */
};

/* The deadman heartbeat (`heartbeat`): receiver "" = off. */
struct rw_heartbeat_params {
    char receiver[RW_NOTIFIER_NAME_MAX]; /* a `notifiers` name */
    double interval;                     /* s between heartbeats while events are accepted */
};

/* Rule names of rumwatch's own alerts: a configured rule may not take them. */
#define RW_RULE_INPUT_STALL "input_stall"
#define RW_RULE_HEARTBEAT "rumwatch_heartbeat"

struct rw_scope_cfg {
    char name[RW_NAME_MAX];
    int ndims;
    char dims[RW_MAX_DIMS][RW_NAME_MAX]; /* "page", "app" or a seg key */
    int max_series;
};

struct rw_rule_cfg {
    char name[RW_NAME_MAX];
    int metric;   /* enum rw_metric */
    int stat;     /* enum rw_stat */
    int nscopes;
    int scopes[RW_MAX_SCOPES]; /* indices into rw_config.scopes */
    const struct rw_detector *det;
    void *params; /* det->params_size bytes, owned */
    int for_windows;
    int recover_windows;
    int severity; /* index into rw_severity_names */
    int line;     /* source line, for messages */
    /* Settings every rule has (rw_rule_options, docs/config.md): */
    double q;         /* FDR level of the Benjamini-Hochberg step across the rule's
                         series in each window (p-value detectors); 1 = off */
    int nodata;       /* enum rw_nodata_policy */
    int nodata_after; /* windows without data before the policy applies */
    int flap_window;  /* windows over which state changes are counted */
    int flap_max;     /* this many changes within flap_window: flapping */
    int shrink;       /* sparse series may borrow strength from their parent series */
    char match[RW_NAME_MAX]; /* custom metric rules: glob on the metric name */
};

enum rw_nodata_policy {
    RW_NODATA_OK = 0, /* a firing alert resolves after nodata_after windows without data */
    RW_NODATA_ALERT,  /* a series that stops reporting fires a "no data" alert */
    RW_NODATA_KEEP,   /* the alert keeps its state until data returns */
};
extern const char *const rw_nodata_names[]; /* "ok", "alert", "keep" */
/* Options shared by every rule (besides name/metric/stat/scopes/detector/
 * for/recover/severity), writing into struct rw_rule_cfg. */
extern const struct rw_option rw_rule_options[];

/* The durable outbox's caps (`notify.outbox`; notifiers/outbox.h). */
struct rw_notify_outbox_params {
    int max_count;  /* pending notifications */
    int max_bytes;  /* pending bytes on disk */
    double max_age; /* s: a notification still failing this long after it was queued is dead */
    int max_dead;   /* dead letters kept for `outbox retry` */
};

/* The notification pipeline (`notify`, docs/notifications.md). */
struct rw_notify_params {
    char external_url[RW_URL_MAX]; /* base of generatorURL / externalURL; "" = none */
    char state_dir[RW_PATH_MAX];   /* outbox, silences, history, control socket; resolved:
                                      a relative path is taken from the config file's directory */
    char history[RW_PATH_MAX];     /* JSON-lines history; "" = off; resolved against state_dir */
    int history_max_bytes;         /* rotate to <history>.1 beyond this */
    double resend_interval;        /* s: default of alertmanager receivers' resend_interval */
    struct rw_notify_outbox_params outbox;
};

struct rw_config {
    char source[512]; /* file path or "<built-in>" */
    struct rw_engine_params engine;
    struct rw_input_params input;
    enum rw_id_mode page_ids;
    int nrewrites;
    struct rw_rewrite_rule rewrites[RW_MAX_REWRITES];
    int nscopes;
    struct rw_scope_cfg scopes[RW_MAX_SCOPES];
    int nrules;
    struct rw_rule_cfg rules[RW_MAX_RULES];
    int nnotifiers;
    struct rw_notifier_cfg notifiers[RW_MAX_NOTIFIERS];
    struct rw_notify_params notify;
    /* route / inhibit_rules / time_intervals. Without `route` and with
     * receivers, an implicit root sends every alert on its own to every
     * receiver at once (route_implicit = 1); root is NULL without receivers. */
    struct rw_pipeline_cfg pipeline;
    int route_implicit;
    struct rw_http_params http;
    struct rw_heartbeat_params heartbeat; /* adds a first route for it (config.c) */
};

/* The built-in copy of config/rumwatch.conf (generated at build time). */
extern const char rw_default_conf[];
extern const size_t rw_default_conf_len;

/* path NULL -> built-in default. NULL on error with "file:line: key: msg" in err. */
struct rw_config *rw_config_load(const char *path, char *err, size_t errlen);
/* Same, from a string (tests); `name` is used in messages. */
struct rw_config *rw_config_load_string(const char *text, const char *name, char *err,
                                        size_t errlen);
void rw_config_free(struct rw_config **cp);
/* The most memory the engine's keyspace can take at cfg's series caps, in
 * bytes: every scope full (plus "(other)"), the longest keys, every quantile
 * sketch its series could hold at once (docs/operations.md, Capacity).
 * scope_bytes (may be NULL): cfg->nscopes entries, each scope's share (its
 * custom metric twin included). 0 if no engine can be built for cfg.
 * Implemented in engine/engine.c (it needs the engine's own layout); the
 * loader checks engine.max_memory against it. */
size_t rw_engine_worst_bytes(const struct rw_config *cfg, size_t *scope_bytes);
/* Print the effective configuration (every setting, defaults included). */
void rw_config_print(const struct rw_config *c, FILE *out);

#endif
