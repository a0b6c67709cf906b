/* Option-table helpers shared by the config loader and by modules' tests. */
#include "config/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rw_options_defaults(const struct rw_option *t, void *params)
{
    char *base = params;
    for (; t && t->name; t++) {
        switch (t->type) {
        case RW_OPT_INT:
        case RW_OPT_BOOL:
        case RW_OPT_ENUM:
            *(int *)(base + t->offset) = (int)t->def;
            break;
        case RW_OPT_DOUBLE:
            *(double *)(base + t->offset) = t->def;
            break;
        case RW_OPT_STRING: {
            char *dst = base + t->offset;
            snprintf(dst, t->size, "%s", t->def_str ? t->def_str : "");
            break;
        }
        }
    }
}

const struct rw_option *rw_options_find(const struct rw_option *t, const char *name)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

int rw_options_set_number(const struct rw_option *opt, void *params, double v,
                          char *err, size_t errlen)
{
    char *base = params;
    if (!isfinite(v)) {
        snprintf(err, errlen, "'%s' must be a finite number", opt->name);
        return -EINVAL;
    }
    switch (opt->type) {
    case RW_OPT_INT:
        if (v != floor(v)) {
            snprintf(err, errlen, "'%s' must be an integer", opt->name);
            return -EINVAL;
        }
        /* fallthrough */
    case RW_OPT_DOUBLE:
        if (v < opt->min || v > opt->max) {
            snprintf(err, errlen, "'%s' = %g is out of range [%g, %g]", opt->name, v,
                     opt->min, opt->max);
            return -ERANGE;
        }
        if (opt->type == RW_OPT_INT)
            *(int *)(base + opt->offset) = (int)v;
        else
            *(double *)(base + opt->offset) = v;
        return 0;
    case RW_OPT_BOOL:
        *(int *)(base + opt->offset) = v != 0;
        return 0;
    default:
        snprintf(err, errlen, "'%s' expects a %s", opt->name,
                 opt->type == RW_OPT_STRING ? "string" : "name");
        return -EINVAL;
    }
}

int rw_options_set_string(const struct rw_option *opt, void *params, const char *s,
                          char *err, size_t errlen)
{
    char *base = params;
    if (opt->type == RW_OPT_STRING) {
        if (strlen(s) >= opt->size) {
            snprintf(err, errlen, "'%s' is longer than %zu bytes", opt->name, opt->size - 1);
            return -ERANGE;
        }
        memcpy(base + opt->offset, s, strlen(s) + 1);
        return 0;
    }
    if (opt->type == RW_OPT_ENUM) {
        for (int i = 0; opt->choices[i]; i++) {
            if (strcmp(opt->choices[i], s) == 0) {
                *(int *)(base + opt->offset) = i;
                return 0;
            }
        }
        int n = snprintf(err, errlen, "'%s' must be one of:", opt->name);
        for (int i = 0; opt->choices[i] && n > 0 && (size_t)n < errlen; i++)
            n += snprintf(err + n, errlen - (size_t)n, " %s", opt->choices[i]);
        return -EINVAL;
    }
    snprintf(err, errlen, "'%s' expects a number, not a string", opt->name);
    return -EINVAL;
}

void rw_options_format(const struct rw_option *opt, const void *params, char *buf, size_t len)
{
    const char *base = params;
    switch (opt->type) {
    case RW_OPT_INT:
        snprintf(buf, len, "%d", *(const int *)(base + opt->offset));
        break;
    case RW_OPT_BOOL:
        snprintf(buf, len, "%s", *(const int *)(base + opt->offset) ? "true" : "false");
        break;
    case RW_OPT_DOUBLE: {
        /* The shortest text that reads back as the same double, so a printed
         * config loads to the same values (%g alone keeps 6 digits). */
        double v = *(const double *)(base + opt->offset);
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
        break;
    }
    case RW_OPT_ENUM:
        snprintf(buf, len, "\"%s\"", opt->choices[*(const int *)(base + opt->offset)]);
        break;
    case RW_OPT_STRING: {
        /* A libconfig string literal: '\\' and '"' escaped, so the text loads
         * back. Cut (still quoted) if len is short: 2 * size + 3 always fits. */
        const char *s = base + opt->offset;
        size_t o = 0;
        if (len < 3) {
            if (len)
                buf[0] = '\0';
            break;
        }
        buf[o++] = '"';
        for (; *s && o + 4 <= len; s++) {
            if (*s == '\\' || *s == '"')
                buf[o++] = '\\';
            buf[o++] = *s;
        }
        buf[o++] = '"';
        buf[o] = '\0';
        break;
    }
    }
}
