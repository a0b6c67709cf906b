/* Label matchers (see matcher.h). */
#include "notifiers/matcher.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"=", "!=", "=~", "!~"};

const char *rw_match_type_name(enum rw_match_type t)
{
    return (unsigned)t < 4 ? type_names[t] : "?";
}

int rw_label_name_valid(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

const char *rw_label_get(const json_t *labels, const char *name)
{
    const char *v = json_string_value(json_object_get(labels, name));
    return v ? v : "";
}

/* Wrapping the user's regex in ^( )$ is only safe if its parentheses
 * balance: "a)|(b" would otherwise turn into "^(a)|(b)$" and match far more
 * than meant. Escapes and bracket expressions do not count. */
static int parens_balanced(const char *re)
{
    int depth = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return 0;
        } else if (*p == '[') {
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                /* [:alpha:] and friends contain a ']' of their own */
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    char close = p[1];
                    p += 2;
                    while (*p && !(p[0] == close && p[1] == ']'))
                        p++;
                    if (!*p)
                        return 0;
                    p++;
                }
                p++;
            }
            if (!*p)
                return 0;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth < 0)
                return 0;
        }
    }
    return depth == 0;
}

void rw_matcher_clear(struct rw_matcher *m)
{
    if (!m)
        return;
    if (m->has_re)
        regfree(&m->re);
    free(m->value);
    memset(m, 0, sizeof *m);
}

int rw_matcher_init(struct rw_matcher *m, const char *name, enum rw_match_type type,
                    const char *value, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (!rw_label_name_valid(name) || strlen(name) >= sizeof m->name) {
        snprintf(err, errlen,
                 "bad label name '%s' (letters, digits and '_', not starting with a digit)",
                 name ? name : "");
        return -EINVAL;
    }
    if ((unsigned)type > RW_MATCH_NRE || !value) {
        snprintf(err, errlen, "bad matcher for '%s'", name);
        return -EINVAL;
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    m->type = type;
    m->value = strdup(value);
    if (!m->value) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (type == RW_MATCH_RE || type == RW_MATCH_NRE) {
        if (!parens_balanced(value)) {
            snprintf(err, errlen, "bad regex '%s' for '%s': unbalanced ( ) or [ ]", value, name);
            rw_matcher_clear(m);
            return -EINVAL;
        }
        size_t n = strlen(value);
        char *anch = malloc(n + 5);
        if (!anch) {
            snprintf(err, errlen, "out of memory");
            rw_matcher_clear(m);
            return -ENOMEM;
        }
        /* POSIX leaves "()" undefined: an empty regex becomes ^$. */
        if (n)
            snprintf(anch, n + 5, "^(%s)$", value);
        else
            snprintf(anch, n + 5, "^$");
        int rc = regcomp(&m->re, anch, REG_EXTENDED | REG_NOSUB);
        free(anch);
        if (rc) {
            char why[128];
            regerror(rc, NULL, why, sizeof why);
            snprintf(err, errlen, "bad regex '%s' for '%s': %s", value, name, why);
            free(m->value);
            m->value = NULL;
            memset(m, 0, sizeof *m);
            return -EINVAL;
        }
        m->has_re = 1;
    }
    return 0;
}

int rw_matcher_parse(struct rw_matcher *m, const char *s, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (!s) {
        snprintf(err, errlen, "empty matcher");
        return -EINVAL;
    }
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    char name[RW_LABEL_NAME_MAX];
    size_t n = 0;
    while (isalnum((unsigned char)*p) || *p == '_') {
        if (n + 1 >= sizeof name) {
            snprintf(err, errlen, "label name too long in matcher '%s'", s);
            return -EINVAL;
        }
        name[n++] = *p++;
    }
    name[n] = '\0';
    while (isspace((unsigned char)*p))
        p++;
    enum rw_match_type type;
    if (p[0] == '=' && p[1] == '~')
        type = RW_MATCH_RE, p += 2;
    else if (p[0] == '!' && p[1] == '~')
        type = RW_MATCH_NRE, p += 2;
    else if (p[0] == '!' && p[1] == '=')
        type = RW_MATCH_NE, p += 2;
    else if (p[0] == '=')
        type = RW_MATCH_EQ, p += 1;
    else {
        snprintf(err, errlen,
                 "bad matcher '%s': expects label=value, label!=value, label=~regex or "
                 "label!~regex",
                 s);
        return -EINVAL;
    }
    if (!n) {
        snprintf(err, errlen, "bad matcher '%s': no label name before '%s'", s,
                 rw_match_type_name(type));
        return -EINVAL;
    }
    while (isspace((unsigned char)*p))
        p++;
    size_t len = strlen(p);
    char *val = malloc(len + 1);
    if (!val) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (*p == '"') {
        size_t k = 0;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (*p == 'n')
                    val[k++] = '\n';
                else if (*p == '"' || *p == '\\')
                    val[k++] = *p;
                else {
                    snprintf(err, errlen, "bad escape in matcher '%s' (\\\" \\\\ \\n only)", s);
                    free(val);
                    return -EINVAL;
                }
            } else {
                val[k++] = *p;
            }
        }
        val[k] = '\0';
        if (*p != '"') {
            snprintf(err, errlen, "unterminated quote in matcher '%s'", s);
            free(val);
            return -EINVAL;
        }
        for (p++; isspace((unsigned char)*p); p++)
            ;
        if (*p) {
            snprintf(err, errlen, "text after the closing quote in matcher '%s'", s);
            free(val);
            return -EINVAL;
        }
    } else {
        memcpy(val, p, len + 1);
        while (len && isspace((unsigned char)val[len - 1]))
            val[--len] = '\0';
    }
    int rc = rw_matcher_init(m, name, type, val, err, errlen);
    free(val);
    return rc;
}

int rw_matcher_matches(const struct rw_matcher *m, const char *value)
{
    if (!value)
        value = "";
    switch (m->type) {
    case RW_MATCH_EQ: return strcmp(value, m->value) == 0;
    case RW_MATCH_NE: return strcmp(value, m->value) != 0;
    case RW_MATCH_RE: return regexec(&m->re, value, 0, NULL, 0) == 0;
    case RW_MATCH_NRE: return regexec(&m->re, value, 0, NULL, 0) != 0;
    }
    return 0;
}

int rw_matcher_format(const struct rw_matcher *m, char *buf, size_t len)
{
    size_t off = 0;
    int w = snprintf(buf, len, "%s%s\"", m->name, rw_match_type_name(m->type));
    off = (size_t)w;
    for (const char *p = m->value; *p; p++) {
        const char *esc = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : NULL;
        char one[2] = {*p, 0};
        w = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0, "%s",
                     esc ? esc : one);
        off += (size_t)w;
    }
    w = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0, "\"");
    return (int)(off + (size_t)w);
}

/* ---- lists -------------------------------------------------------------- */

static struct rw_matcher *grow(struct rw_matchers *ms)
{
    if (ms->n == ms->cap) {
        int cap = ms->cap ? ms->cap * 2 : 4;
        struct rw_matcher *m = realloc(ms->m, sizeof *m * (size_t)cap);
        if (!m)
            return NULL;
        ms->m = m;
        ms->cap = cap;
    }
    return &ms->m[ms->n];
}

int rw_matchers_add(struct rw_matchers *ms, const char *s, char *err, size_t errlen)
{
    struct rw_matcher *m = grow(ms);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = rw_matcher_parse(m, s, err, errlen);
    if (rc == 0)
        ms->n++;
    return rc;
}

int rw_matchers_add_parts(struct rw_matchers *ms, const char *name, enum rw_match_type type,
                          const char *value, char *err, size_t errlen)
{
    struct rw_matcher *m = grow(ms);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = rw_matcher_init(m, name, type, value, err, errlen);
    if (rc == 0)
        ms->n++;
    return rc;
}

int rw_matchers_match(const struct rw_matchers *ms, const json_t *labels)
{
    for (int i = 0; ms && i < ms->n; i++)
        if (!rw_matcher_matches(&ms->m[i], rw_label_get(labels, ms->m[i].name)))
            return 0;
    return 1;
}

int rw_matchers_all_match_empty(const struct rw_matchers *ms)
{
    for (int i = 0; ms && i < ms->n; i++)
        if (!rw_matcher_matches(&ms->m[i], ""))
            return 0;
    return 1;
}

int rw_matchers_format(const struct rw_matchers *ms, char *buf, size_t len)
{
    size_t off = 0;
    int w = snprintf(buf, len, "{");
    off = (size_t)w;
    for (int i = 0; ms && i < ms->n; i++) {
        if (i) {
            w = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0, ",");
            off += (size_t)w;
        }
        w = rw_matcher_format(&ms->m[i], off < len ? buf + off : NULL, off < len ? len - off : 0);
        off += (size_t)w;
    }
    w = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0, "}");
    return (int)(off + (size_t)w);
}

void rw_matchers_clear(struct rw_matchers *ms)
{
    if (!ms)
        return;
    for (int i = 0; i < ms->n; i++)
        rw_matcher_clear(&ms->m[i]);
    free(ms->m);
    memset(ms, 0, sizeof *ms);
}

int rw_matchers_copy(struct rw_matchers *dst, const struct rw_matchers *src)
{
    char err[256];
    memset(dst, 0, sizeof *dst);
    for (int i = 0; src && i < src->n; i++) {
        if (rw_matchers_add_parts(dst, src->m[i].name, src->m[i].type, src->m[i].value, err,
                                  sizeof err)) {
            rw_matchers_clear(dst);
            return -ENOMEM;
        }
    }
    return 0;
}
