/* Metric and statistic names. */
#include "engine/metric.h"

#include <math.h>
#include <string.h>

const char *const rw_metric_names[] = {"ttfb", "fcp", "lcp", "inp", "cls",
                                       "error_rate", "views", "errors", NULL};
const char *const rw_stat_names[] = {"p50", "p75", "p95", "rate", "count", NULL};

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
    return stat == RW_S_COUNT;
}

int rw_metric_default_stat(int metric)
{
    if (rw_metric_is_vital(metric))
        return RW_S_P75;
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
