/* The notifier interface.
 *
 * A notifier only *formats* an HTTP request from a notification and
 * *classifies* the response. The delivery side (grouping, outbox, curl,
 * retries, signing) lives elsewhere, so every formatter is testable without
 * a network: feed it a notification JSON object, check the body.
 *
 * A notification (notifiers/alertmodel.h builds them) is one message for one
 * receiver and one group of alerts, Alertmanager style:
 *   {"receiver", "status", "groupKey", "groupLabels", "commonLabels",
 *    "commonAnnotations", "externalURL", "truncatedAlerts", "alerts": [..]}
 * where each alert is an AM alert made by rw_alert_to_am() from an alert line
 * (docs/schema.md "The alert line"). Optional "sendTime" (epoch ms): the
 * time the request is sent; formatters that need "now" (alertmanager's
 * endsAt) use it, or the wall clock when it is absent.
 *
 * Ownership: the cfg and the notification are borrowed for the call and
 * never modified. The request owns its url, body and headers (free with
 * rw_http_req_clear).
 */
#ifndef RW_NOTIFIER_H
#define RW_NOTIFIER_H

#include <jansson.h>
#include <stddef.h>

#define RW_NOTIFIER_NAME_MAX 64
#define RW_URL_MAX 1024
#define RW_NOTIFIER_MAX_HEADERS 8 /* custom headers per receiver */
#define RW_NOTIFIER_MAX_LINKS 5   /* configured links per receiver */
#define RW_SECRET_MAX 256         /* signing key bytes (decoded) */
#define RW_HTTP_MAX_HEADERS 16    /* headers one request may carry */

/* Events API v2 endpoint used when a pagerduty receiver sets no url. */
#define RW_PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"

/* One custom HTTP header (`headers` in the receiver's config). */
struct rw_header_cfg {
    char name[64];
    char value[512];
    char value_env[64]; /* the environment variable the value came from ("": literal) */
};

/* One link shown with the alert (`links`; slack and pagerduty). */
struct rw_link_cfg {
    char text[76]; /* Slack's button/link text limit is 75 characters */
    char url[RW_URL_MAX];
};

/* One configured receiver (config group in `notifiers = ( ... )`).
 * A zeroed struct plus name/type/url is a valid receiver: every default that
 * matters for safety is the zero value (TLS verified, nothing signed). */
struct rw_notifier_cfg {
    char name[RW_NOTIFIER_NAME_MAX]; /* config `name` */
    char type[32];                   /* "webhook" | "slack" | "alertmanager" | "pagerduty" */
    char url[RW_URL_MAX];            /* resolved URL (from `url` or env var `url_env`);
                                        alertmanager: the base URL, /api/v2/alerts is appended */
    char url_env[128];               /* name of the env var the URL came from, or "" */
    double timeout;                  /* seconds per attempt (default 5) */
    int retries;                     /* extra attempts after the first (default -1: until notify.outbox.max_age) */
    double backoff;     /* first retry delay in s, doubled each time, +-25% jitter (default 1) */
    double max_backoff; /* cap on one delay in s (default 60) */
    int min_severity;   /* 0=info 1=warning 2=critical: lower ones are not sent (default 0) */
    int send_resolved;  /* also send resolved transitions (default 1) */

    int nheaders;
    struct rw_header_cfg headers[RW_NOTIFIER_MAX_HEADERS];
    int nlinks;
    struct rw_link_cfg links[RW_NOTIFIER_MAX_LINKS];
    int max_alerts; /* alerts listed per message; 0 = all (webhook) / the receiver's own cap */
    double resend_interval; /* alertmanager: seconds between re-sends of firing alerts (0 = notify.resend_interval) */
    int tls_insecure;       /* 1 only with an explicit `tls_verify = false` */

    /* Standard Webhooks signing (`secret_env` / `secret_file`). */
    char secret_env[128];
    char secret_file[512];
    unsigned char secret[RW_SECRET_MAX]; /* the HMAC key; secret_len 0 = do not sign */
    size_t secret_len;

    /* pagerduty: the integration's routing key (`routing_key_env` / `routing_key_file`). */
    char routing_key_env[128];
    char routing_key_file[512];
    char routing_key[128];

    /* Non-empty when a secret the receiver needs is not available (env var
     * unset, file missing): "secret_env: $X is not set". Such a receiver must
     * not send; the config stays loadable so `rumwatch check` works without
     * production secrets. */
    char missing[192];
};

/* Severity names indexed by min_severity / alert severity. */
extern const char *const rw_severity_names[]; /* {"info","warning","critical",NULL} */
int rw_severity_parse(const char *s);         /* index or -1 */

/* An HTTP request a notifier produced. Owns url, body and headers. */
struct rw_http_req {
    char *url;                /* malloc'd */
    const char *content_type; /* static string */
    char *body;               /* malloc'd, NUL-terminated */
    size_t body_len;
    int nheaders;
    char *headers[RW_HTTP_MAX_HEADERS]; /* malloc'd "Name: value" lines, no CR/LF */
};
void rw_http_req_clear(struct rw_http_req *req);
/* Append "name: value". 0, -EINVAL (empty/invalid name, CR/LF/NUL in value),
 * -ENOSPC (RW_HTTP_MAX_HEADERS reached) or -ENOMEM. */
int rw_http_req_add_header(struct rw_http_req *req, const char *name, const char *value);

enum rw_delivery_class {
    RW_DELIVERY_OK = 0, /* 2xx: done */
    RW_DELIVERY_RETRY,  /* 429, 5xx, timeout, connection error: try again later */
    RW_DELIVERY_FAIL,   /* other 4xx, bad URL: retrying will not help */
};

struct rw_notifier {
    const char *type; /* "webhook", "slack", "alertmanager", "pagerduty" */
    /* Build the request for one notification (see the top of this file).
     * Fills url, content_type, body and the receiver's custom headers.
     * Returns 0 or a negative errno (-EINVAL: not a notification object or
     * a cfg the receiver cannot use; -ENOMEM); on error *req is left empty. */
    int (*format)(const struct rw_notifier_cfg *cfg, const json_t *notification,
                  struct rw_http_req *req);
    /* http_status is 0 when the transfer failed; curl_code is a CURLcode. */
    enum rw_delivery_class (*classify)(long http_status, int curl_code);
};

extern const struct rw_notifier rw_notifier_webhook;
extern const struct rw_notifier rw_notifier_slack;
extern const struct rw_notifier rw_notifier_alertmanager;
extern const struct rw_notifier rw_notifier_pagerduty;
const struct rw_notifier *rw_notifier_find(const char *type);
/* "webhook, slack, alertmanager, pagerduty" (for messages). */
extern const char rw_notifier_type_list[];

/* Shared classification: 2xx ok; 408/429/5xx and transport errors retry; rest fail. */
enum rw_delivery_class rw_notifier_classify_http(long http_status, int curl_code);

/* ---- helpers shared by the formatters (notifier.c) ---------------------- */

/* Serialise root compactly into req->body (numbers with up to 15 significant
 * digits, so 5.2 stays "5.2"). 0, -EINVAL or -ENOMEM. */
int rw_notifier_dump_body(const json_t *root, struct rw_http_req *req);
/* Set req->url (copied), content_type "application/json" and the cfg's
 * custom headers. 0 or a negative errno. */
int rw_notifier_finish_req(const struct rw_notifier_cfg *cfg, const char *url,
                           struct rw_http_req *req);

#endif
