/* The list of detectors known to the config loader. */
#include "detectors/detector.h"

#include <string.h>

const struct rw_detector *const rw_detectors[] = {
    &rw_detector_threshold,
    &rw_detector_robust_z,
    &rw_detector_error_rate,
    &rw_detector_traffic_drop,
    &rw_detector_rating_shift,
    &rw_detector_seasonal,
    &rw_detector_cusum,
    NULL,
};

const struct rw_detector *rw_detector_find(const char *name)
{
    for (int i = 0; rw_detectors[i]; i++)
        if (strcmp(rw_detectors[i]->name, name) == 0)
            return rw_detectors[i];
    return NULL;
}
