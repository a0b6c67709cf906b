/* The notifier interface.
 *
 * A notifier only *formats* an HTTP request from an alert and *classifies*
 * the response. The delivery core (notifiers/delivery.c) owns libcurl,
 * threads, retries and backoff. So every formatter is testable without a
 * network: feed it an alert JSON object (the documented alert line, see
 * docs/schema.md "Alert line"), check the body.
 */
#ifndef RW_NOTIFIER_H
#define RW_NOTIFIER_H

#include <jansson.h>
#include <stddef.h>

#define RW_NOTIFIER_NAME_MAX 64
#define RW_URL_MAX 1024

/* One configured receiver (config group in `notifiers = ( ... )`). */
struct rw_notifier_cfg {
    char name[RW_NOTIFIER_NAME_MAX]; /* config `name` */
    char type[32];                   /* "webhook" | "slack" */
    char url[RW_URL_MAX];            /* resolved URL (from `url` or env var `url_env`) */
    char url_env[128];               /* name of the env var the URL came from, or "" */
    double timeout;                  /* seconds per attempt (default 5) */
    int retries;                     /* extra attempts after the first (default 5) */
    double backoff;                  /* first retry delay in s, doubled each time, +-25% jitter (default 1) */
    double max_backoff;              /* cap on one delay in s (default 60) */
    int min_severity;                /* 0=info 1=warning 2=critical: lower ones are not sent (default 0) */
    int send_resolved;               /* also send resolved transitions (default 1) */
};

/* Severity names indexed by min_severity / alert severity. */
extern const char *const rw_severity_names[]; /* {"info","warning","critical",NULL} */
int rw_severity_parse(const char *s); /* index or -1 */

/* An HTTP request a notifier produced. Owns body (free with rw_http_req_clear). */
struct rw_http_req {
    const char *url;          /* borrowed from the cfg */
    const char *content_type; /* static string */
    char *body;               /* malloc'd, NUL-terminated */
    size_t body_len;
};
void rw_http_req_clear(struct rw_http_req *req);

enum rw_delivery_class {
    RW_DELIVERY_OK = 0,    /* 2xx: done */
    RW_DELIVERY_RETRY,     /* 429, 5xx, timeout, connection error: try again later */
    RW_DELIVERY_FAIL,      /* other 4xx, bad URL: retrying will not help */
};

struct rw_notifier {
    const char *type; /* "webhook", "slack" */
    /* Build the request for one alert transition. `alert` is the alert line
     * object (borrowed); it may carry a "children" array of grouped child
     * alerts (each {"scope":{..},"value":..,"summary":..}).
     * Returns 0 or a negative errno; on error *req is left empty. */
    int (*format)(const struct rw_notifier_cfg *cfg, const json_t *alert,
                  struct rw_http_req *req);
    /* http_status is 0 when the transfer failed; curl_code is a CURLcode. */
    enum rw_delivery_class (*classify)(long http_status, int curl_code);
};

extern const struct rw_notifier rw_notifier_webhook;
extern const struct rw_notifier rw_notifier_slack;
const struct rw_notifier *rw_notifier_find(const char *type);

/* Shared classification: 2xx ok; 408/429/5xx and transport errors retry; rest fail. */
enum rw_delivery_class rw_notifier_classify_http(long http_status, int curl_code);

#endif
