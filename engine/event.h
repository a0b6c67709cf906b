/* A decoded RUM event and the reasons an event is rejected.
 *
 * Strings in struct rw_event are borrowed from the decoder (valid until the
 * next rw_decode call on the same decoder); the page is already normalized. */
#ifndef RW_EVENT_H
#define RW_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/metric.h"
#include "engine/pagenorm.h"

#define RW_MAX_SEG 16
#define RW_APP_MAX 128        /* longest accepted app name, bytes */
#define RW_SEG_VALUE_MAX 4096 /* upper bound of engine.max_seg_value */

#define RW_METRIC_NAME_MAX 64 /* custom metric names: [A-Za-z0-9_.:-], 1..64 bytes */

enum rw_event_type { RW_EV_VIEW = 0, RW_EV_ERROR, RW_EV_METRIC };

struct rw_event {
    enum rw_event_type type;
    int64_t ts; /* epoch ms */
    const char *app;
    size_t app_len;
    char page[RW_PAGE_MAX + 1]; /* normalized */
    size_t page_len;
    int nseg;
    const char *seg_key[RW_MAX_SEG];
    const char *seg_val[RW_MAX_SEG];
    size_t seg_len[RW_MAX_SEG];
    uint32_t session; /* hash of session_id (else view_id); 0 = unknown */
    unsigned vital_mask; /* bit v set: vital[v] present */
    double vital[RW_NVITALS];
    /* RW_EV_METRIC only: the custom metric's name and value ("value"
     * absent = 1, so counters can send bare events). mname is borrowed like
     * app and the seg strings (valid until the next decode call on the same
     * decoder; copy it to keep it), NUL-terminated, 1..RW_METRIC_NAME_MAX
     * bytes of [A-Za-z0-9_.:-]; mvalue is finite (any sign). For views and
     * errors: mname NULL, mname_len 0, mvalue 0. */
    const char *mname;
    size_t mname_len;
    double mvalue;
};

/* Why an event was dropped. Counted per reason; names are stable (metrics, summary). */
enum rw_reject {
    RW_OK = 0,
    RW_REJ_JSON,      /* not valid JSON */
    RW_REJ_SHAPE,     /* not an object, or a field of the wrong JSON type */
    RW_REJ_VERSION,   /* v missing or not 1 */
    RW_REJ_TYPE,      /* type not "view"/"error"/"metric" */
    RW_REJ_TS,        /* ts missing, not an integer, or out of range */
    RW_REJ_PAGE,      /* page missing or empty or not a string */
    RW_REJ_PAGE_LONG, /* page over 512 bytes (raw or normalized) */
    RW_REJ_SEG,       /* seg not an object, a non-string value, or a value too long */
    RW_REJ_VITAL,     /* vital negative, not a number, or absurd (> 1 h; CLS > 100) */
    RW_REJ_METRIC,    /* type "metric": name missing/invalid, or value not a finite number */
    RW_REJ_OVERSIZE,  /* message or line larger than max_message */
    RW_REJ_LATE,      /* its window already closed */
    RW_REJ_FUTURE,    /* too far ahead of the clock */
    RW_NREJECT
};
extern const char *const rw_reject_names[]; /* "ok","json","shape",... */

#endif
