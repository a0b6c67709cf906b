/* Config error messages with file:line and the setting's path (cfgerr.h). */
#include "config/cfgerr.h"

#include <errno.h>
#include <stdio.h>

#define MAX_DEPTH 48 /* deeper settings are named from their 48 innermost levels */

void rw_cfg_setting_path(const config_setting_t *s, char *buf, size_t len)
{
    const config_setting_t *chain[MAX_DEPTH];
    int n = 0;
    for (const config_setting_t *p = s; p && !config_setting_is_root(p) && n < MAX_DEPTH;
         p = config_setting_parent(p))
        chain[n++] = p;
    size_t off = 0;
    if (len)
        buf[0] = '\0';
    for (int i = n - 1; i >= 0 && off < len; i--) {
        const char *nm = config_setting_name(chain[i]);
        int w = nm ? snprintf(buf + off, len - off, "%s%s", off ? "." : "", nm)
                   : snprintf(buf + off, len - off, "[%d]", config_setting_index(chain[i]));
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

int rw_cfg_vfail(char *err, size_t errlen, const char *file, const config_setting_t *s,
                 const char *fmt, va_list ap)
{
    char msg[600], path[256] = "";
    vsnprintf(msg, sizeof msg, fmt, ap);
    int line = 0;
    if (!file)
        file = "<config>";
    if (s) {
        rw_cfg_setting_path(s, path, sizeof path);
        line = (int)config_setting_source_line(s);
        if (config_setting_source_file(s))
            file = config_setting_source_file(s);
    }
    if (path[0])
        snprintf(err, errlen, "%s:%d: %s: %s", file, line, path, msg);
    else
        snprintf(err, errlen, "%s:%d: %s", file, line, msg);
    return -EINVAL;
}
