/* The notification pipeline's config: the top-level libconfig groups
 * `route`, `inhibit_rules` and `time_intervals` (docs/notifications.md).
 *
 *   route = { receiver = "slack"; group_by = ["rule", "page"];
 *             group_wait = "30s"; group_interval = "5m"; repeat_interval = "4h";
 *             routes = ( { matchers = ["severity=critical"]; receiver = "pager"; continue = true; }
 * ); }; inhibit_rules = ( { source_matchers = ["rule=traffic_drop_app"]; target_matchers =
 * ["rule=~.*_slowdown"]; equal = ["page"]; } ); time_intervals = ( { name = "nights";
 * time_intervals = ( { times = ( { start_time = "22:00"; end_time = "06:00"; } ); weekdays =
 * ["monday:friday"]; location = "Europe/Berlin"; } ); } );
 *
 * Every error names the file, the line and the key path, like the main
 * config loader ("rumwatch.conf:42: route.routes.[1].matchers.[0]: ...").
 * Unknown keys are errors. Time zones are loaded here (file I/O), so the
 * result is ready to evaluate without further I/O.
 *
 * Ownership: *out owns everything (route tree, rules, intervals); free with
 * rw_pipeline_cfg_clear. The route tree borrows out->timeints, so keep them
 * together. Nothing is kept from the libconfig settings.
 */
#ifndef RW_PIPELINE_CONFIG_H
#define RW_PIPELINE_CONFIG_H

#include <stddef.h>

#include "notifiers/inhibit.h"
#include "notifiers/route.h"
#include "notifiers/timeint.h"

struct config_setting_t; /* libconfig's; only pipeline_config.c includes libconfig.h */

/* A receiver the routes may name (from the `notifiers` section). */
struct rw_receiver_ref {
    const char *name;
    int send_resolved;
};

struct rw_pipeline_cfg {
    struct rw_route *root; /* finalized; NULL when the config has no `route` */
    int ninhibit;
    struct rw_inhibit_rule *inhibit; /* array of ninhibit */
    struct rw_timeints *timeints;    /* never NULL after success */
};

/* Any of the three settings may be NULL (absent). receivers NULL: names are
 * not checked (send_resolved = 1). file_name is used in messages when
 * libconfig does not know the file (configs read from a string).
 * zoneinfo_dir NULL: $TZDIR or /usr/share/zoneinfo.
 * 0 or -EINVAL/-ENOMEM with "file:line: path: message" in err; on error
 * *out is left cleared. */
int rw_pipeline_config_load(const struct config_setting_t *route,
                            const struct config_setting_t *inhibit_rules,
                            const struct config_setting_t *time_intervals,
                            const struct rw_receiver_ref *receivers, int nreceivers,
                            const char *file_name, const char *zoneinfo_dir,
                            struct rw_pipeline_cfg *out, char *err, size_t errlen);
void rw_pipeline_cfg_clear(struct rw_pipeline_cfg *cfg);

#endif
