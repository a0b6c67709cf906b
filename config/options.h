/* Option tables: how a module (detector, notifier, engine section) declares
 * its settings so that one loader can parse, bound-check, reject unknown keys
 * and print effective values (`rumwatch check`) for all of them.
 *
 * This header does not include libconfig: modules describe their options,
 * only config/config.c reads files.
 *
 * A table is an array of struct rw_option terminated by an entry whose name
 * is NULL. Each entry writes into a caller-owned params struct at `offset`.
 */
#ifndef RW_OPTIONS_H
#define RW_OPTIONS_H

#include <stddef.h>

enum rw_opt_type {
    RW_OPT_INT,    /* int at offset; bounds min..max */
    RW_OPT_DOUBLE, /* double at offset; bounds min..max; NaN/inf refused */
    RW_OPT_BOOL,   /* int (0/1) at offset */
    RW_OPT_STRING, /* char[size] at offset; longer values are an error */
    RW_OPT_ENUM,   /* int at offset; value is an index into choices[] */
};

struct rw_option {
    const char *name;
    enum rw_opt_type type;
    size_t offset;
    double def;              /* default for INT/DOUBLE/BOOL/ENUM (index) */
    double min, max;         /* inclusive bounds for INT/DOUBLE */
    const char *def_str;     /* default for STRING (NULL means "") */
    size_t size;             /* buffer size for STRING */
    const char *const *choices; /* NULL-terminated names for ENUM */
    const char *help;        /* one line, shown by `rumwatch check --help-options` and docs */
};

/* Write every option's default into params. */
void rw_options_defaults(const struct rw_option *table, void *params);

/* Find an option by name; NULL if the table has none. */
const struct rw_option *rw_options_find(const struct rw_option *table, const char *name);

/* Set one option from a double / string value with bound checks.
 * Returns 0 or -EINVAL / -ERANGE, with a human message in err. */
int rw_options_set_number(const struct rw_option *opt, void *params, double v,
                          char *err, size_t errlen);
int rw_options_set_string(const struct rw_option *opt, void *params, const char *s,
                          char *err, size_t errlen);

/* Render an option's current value as text ("4000", "up", "\"x\"") into buf,
 * as the config language reads it back: strings quoted and escaped (buf of
 * 2 * size + 3 bytes never cuts one), doubles with the digits they need. */
void rw_options_format(const struct rw_option *opt, const void *params, char *buf, size_t len);

#endif
