/* Config error messages shared by the config parsers (config.c,
 * pipeline_config.c): every message names the file, the line and the
 * setting's path, "rumwatch.conf:12: rules.[...]" style:
 *
 *   rumwatch.conf:12: route.routes[0].receiver: unknown receiver 'ops'
 *
 * Stateless; writes into the caller's buffer. */
#ifndef RW_CFGERR_H
#define RW_CFGERR_H

#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>

/* "a.b[2].c" for a setting (empty for the root). */
void rw_cfg_setting_path(const config_setting_t *s, char *buf, size_t len);

/* Formats "file:line: path: message" into err (file: the setting's own
 * source file when libconfig knows it, else `file`; s may be NULL: line 0,
 * no path). Returns -EINVAL, so parsers can `return rw_cfg_vfail(...)`. */
int rw_cfg_vfail(char *err, size_t errlen, const char *file, const config_setting_t *s,
                 const char *fmt, va_list ap);

#endif
