/* Metric and statistic names. */
#include "engine/metric.h"

#include <math.h>
#include <string.h>

const char *const rw_metric_names[] = {"ttfb", "fcp", "lcp", "inp", "cls",
                                       "error_rate", "views", "errors", "custom", NULL};
const char *const rw_stat_names[] = {"p50", "p75", "p95", "rate", "count", "sum", "mean", "per_view", NULL};

/* https://web.dev/articles/vitals thresholds, in the order of enum rw_vital. */
const double rw_vital_good[RW_NVITALS] = {800, 1800, 2500, 200, 0.1};
const double rw_vital_poor[RW_NVITALS] = {1800, 3000, 4000, 500, 0.25};

static int find(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int rw_metric_parse(const char *s) { return find(rw_metric_names, s); }
int rw_stat_parse(const char *s) { return find(rw_stat_names, s); }

int rw_metric_stat_ok(int metric, int stat)
{
    if (rw_metric_is_vital(metric))
        return stat == RW_S_P50 || stat == RW_S_P75 || stat == RW_S_P95;
    if (metric == RW_M_ERROR_RATE)
        return stat == RW_S_RATE;
    if (metric == RW_M_CUSTOM)
        return stat == RW_S_SUM || stat == RW_S_MEAN || stat == RW_S_COUNT ||
               stat == RW_S_PER_VIEW;
    return stat == RW_S_COUNT;
}

int rw_metric_default_stat(int metric)
{
    if (rw_metric_is_vital(metric))
        return RW_S_P75;
    if (metric == RW_M_CUSTOM)
        return RW_S_SUM;
    return metric == RW_M_ERROR_RATE ? RW_S_RATE : RW_S_COUNT;
}

double rw_stat_quantile(int stat)
{
    switch (stat) {
    case RW_S_P50: return 0.50;
    case RW_S_P75: return 0.75;
    case RW_S_P95: return 0.95;
    default: return NAN;
    }
}
