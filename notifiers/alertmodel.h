/* The alert model: alert lines -> Alertmanager-style alerts -> notifications.
 *
 * An *AM alert* is what routing, grouping and every formatter work on:
 *   {"status": "firing"|"resolved",
 *    "labels": {"alertname", "rule", "severity", "metric", "stat", "app",
 *               <scope keys>, <the line's custom "labels">},
 *    "annotations": {"summary", "description", <the line's "annotations">},
 *    "startsAt", "endsAt": RFC 3339 UTC with ms ("0001-01-01T00:00:00Z" =
 *                          not set: endsAt while firing),
 *    "generatorURL": external_url + "/api/alerts?fingerprint=<fp>" or "",
 *    "fingerprint": 16 hex digits, rw_am_fingerprint() of the labels,
 *    "evidence": the line's evidence object (null if none),
 *    "value", "expected": numbers or null,
 *    "rumwatch": the whole alert line}
 * Label rules: the reserved labels (alertname rule severity metric stat app)
 * are never overridden. A scope key with a reserved name is kept as
 * "scope_<key>" unless it carries the same value (a scope on "app"); custom
 * labels override scope labels but not reserved ones. Non-string scope
 * values are written as compact JSON text.
 *
 * A *notification* is one message for one receiver and one group:
 *   {"receiver", "status": "firing" if any alert fires else "resolved",
 *    "groupKey", "groupLabels", "commonLabels", "commonAnnotations",
 *    "externalURL", "truncatedAlerts": 0, "alerts": [AM alerts]}
 *
 * Ownership: every function returning json_t * returns a new reference the
 * caller must json_decref; inputs are borrowed unless marked "stolen".
 * Nothing here keeps state; all functions are thread-safe.
 */
#ifndef RW_ALERTMODEL_H
#define RW_ALERTMODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RW_AM_ZERO_TIME "0001-01-01T00:00:00Z"
#define RW_AM_TIME_MAX 32 /* buffer for rw_am_time */

/* Prometheus' label-set fingerprint (model.LabelSet.Fingerprint): FNV-1a 64
 * over the label names in byte order, each as name 0xff value 0xff. Members
 * whose value is not a string are skipped. Same labels in any order, same
 * fingerprint; Alertmanager computes the same number for the same labels. */
uint64_t rw_am_fingerprint(const json_t *labels);
/* 16 lowercase hex digits + NUL. */
void rw_am_fingerprint_hex(uint64_t fp, char out[17]);

/* Epoch ms -> "2025-11-02T01:01:00.000Z" (always 3 decimals, UTC).
 * 0, or -EINVAL for a non-finite value or a year outside 1..9999
 * (buf then holds RW_AM_ZERO_TIME). len >= RW_AM_TIME_MAX. */
int rw_am_time(char *buf, size_t len, double epoch_ms);

/* The AM alert of one alert line (see above). external_url may be NULL or
 * "" (generatorURL ""); a trailing '/' is ignored. NULL if alert_line is not
 * an object, or out of memory. */
json_t *rw_alert_to_am(const json_t *alert_line, const char *external_url);

/* Alertmanager-style group key: route + ":" + the group labels as
 * {name="value", ...} in name order (values escaped like Go's %q).
 * route NULL means "{}". malloc'd, NULL on OOM. */
char *rw_am_group_key(const char *route, const json_t *group_labels);

/* A notification over `alerts` (an array of AM alerts, stolen: freed even
 * on failure). Computes status, commonLabels (labels with the same value in
 * every alert), commonAnnotations. group_labels is copied (NULL -> {});
 * receiver/group_key/external_url NULL -> "". NULL on OOM or if alerts is
 * not an array. */
json_t *rw_notification_new(const char *receiver, const char *group_key, const json_t *group_labels,
                            const char *external_url, json_t *alerts);

/* A one-alert notification for one alert line, grouped by all its labels
 * (Alertmanager's group_by: ['...']): groupLabels = the alert's labels,
 * groupKey = rw_am_group_key("{}", labels). NULL if the line is not an
 * object, or out of memory. */
json_t *rw_notification_single(const char *receiver, const json_t *alert_line,
                               const char *external_url);

/* A statistic in words, by metric: "246 ms", "4.1 s", "0.253" (CLS),
 * "2.3%" (rates, rating shares), "1234" (counts). metric/stat/detector may be
 * NULL. Used by the annotations and the Slack/PagerDuty texts. */
void rw_am_format_value(char *buf, size_t len, double v, const char *metric, const char *stat,
                        const char *detector);

#endif
