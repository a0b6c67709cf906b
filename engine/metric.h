/* Metrics and statistics a rule can watch, and the vitals of a view event. */
#ifndef RW_METRIC_H
#define RW_METRIC_H

enum rw_vital { RW_TTFB = 0, RW_FCP, RW_LCP, RW_INP, RW_CLS, RW_NVITALS };

/* Metric ids: the five vitals share their enum values with rw_vital. */
enum rw_metric {
    RW_M_TTFB = RW_TTFB,
    RW_M_FCP = RW_FCP,
    RW_M_LCP = RW_LCP,
    RW_M_INP = RW_INP,
    RW_M_CLS = RW_CLS,
    RW_M_ERROR_RATE,
    RW_M_VIEWS,
    RW_M_ERRORS,
    RW_M_CUSTOM, /* custom metric events (type "metric"), selected by name pattern */
    RW_NMETRICS
};

enum rw_stat {
    RW_S_P50 = 0,
    RW_S_P75,
    RW_S_P95,
    RW_S_RATE,
    RW_S_COUNT,
    RW_S_SUM,  /* custom: sum of values per window */
    RW_S_MEAN, /* custom: mean value per window */
    RW_S_PER_VIEW, /* custom: events per page view of the same page/segment */
    RW_NSTATS
};

extern const char *const rw_metric_names[]; /* "ttfb",...,"error_rate","views","errors","custom" */
extern const char *const rw_stat_names[];   /* "p50",...,"count","sum","mean","per_view" */

/* web-vitals rating lines: a value <= good is "good", > poor is "poor",
 * between is "needs improvement" (ms; CLS unitless). */
extern const double rw_vital_good[RW_NVITALS];
extern const double rw_vital_poor[RW_NVITALS];

int rw_metric_parse(const char *s); /* -1 if unknown */
int rw_stat_parse(const char *s);   /* -1 if unknown */
static inline int rw_metric_is_vital(int m) { return m >= 0 && m < RW_NVITALS; }
/* Is stat valid for metric? */
int rw_metric_stat_ok(int metric, int stat);
/* Default stat for a metric: p75 for vitals, rate for error_rate, count otherwise. */
int rw_metric_default_stat(int metric);
/* Quantile level of a percentile stat (0.75 for p75); NaN otherwise. */
double rw_stat_quantile(int stat);

#endif
