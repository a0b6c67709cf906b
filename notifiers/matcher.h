/* Label matchers, as in Alertmanager: name=value, name!=value, name=~regex,
 * name!~regex. A list of matchers is ANDed. A label the alert does not have
 * reads as "" (so `team!=""` means "has a team", `team=""` "has none").
 *
 * Regexes are POSIX extended (regcomp), anchored like Alertmanager's
 * ^(?:re)$: "severity=~warning|critical" matches exactly those two values.
 * RE2-only syntax (\d, \w, (?i), non-greedy ?) is not available.
 *
 * Labels are a jansson object of string values (an AM alert's "labels").
 *
 * Ownership: a matcher owns its value and compiled regex; rw_matcher_clear
 * frees them. struct rw_matchers owns its array; rw_matchers_clear frees all.
 * Both are plain values: zero-initialise, fill, clear.
 */
#ifndef RW_MATCHER_H
#define RW_MATCHER_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

#define RW_LABEL_NAME_MAX 128

enum rw_match_type {
    RW_MATCH_EQ = 0, /* =  */
    RW_MATCH_NE,     /* != */
    RW_MATCH_RE,     /* =~ */
    RW_MATCH_NRE,    /* !~ */
};
const char *rw_match_type_name(enum rw_match_type t); /* "=", "!=", "=~", "!~" */

struct rw_matcher {
    char name[RW_LABEL_NAME_MAX];
    enum rw_match_type type;
    char *value; /* owned */
    int has_re;  /* re is compiled */
    regex_t re;  /* "^(value)$", REG_EXTENDED | REG_NOSUB */
};

/* "page=/checkout", "severity=~warning|critical", `team!=""`, `a="x \"y\""`.
 * Spaces around the operator are allowed; a double-quoted value may use \" \\ \n.
 * 0 or -EINVAL with a message naming the problem. On error m is left cleared. */
int rw_matcher_parse(struct rw_matcher *m, const char *s, char *err, size_t errlen);
/* Build from parts (value copied). 0, -EINVAL (bad name/regex) or -ENOMEM. */
int rw_matcher_init(struct rw_matcher *m, const char *name, enum rw_match_type type,
                    const char *value, char *err, size_t errlen);
/* value NULL is the empty string (absent label). */
int rw_matcher_matches(const struct rw_matcher *m, const char *value);
/* Alertmanager's form: name="value" / name=~"value", quotes escaped. */
int rw_matcher_format(const struct rw_matcher *m, char *buf, size_t len);
void rw_matcher_clear(struct rw_matcher *m);

struct rw_matchers {
    int n, cap;
    struct rw_matcher *m; /* owned */
};

/* Parse one matcher string and append it. 0 or negative errno with message. */
int rw_matchers_add(struct rw_matchers *ms, const char *s, char *err, size_t errlen);
int rw_matchers_add_parts(struct rw_matchers *ms, const char *name, enum rw_match_type type,
                          const char *value, char *err, size_t errlen);
/* 1 if every matcher matches `labels` (an empty list matches everything). */
int rw_matchers_match(const struct rw_matchers *ms, const json_t *labels);
/* 1 if every matcher accepts the empty string (such a list matches alerts
 * without those labels, i.e. nearly everything; silences refuse it). */
int rw_matchers_all_match_empty(const struct rw_matchers *ms);
/* {a="b",c=~"d"} (Alertmanager's form, list order); returns the length it
 * needed (like snprintf). */
int rw_matchers_format(const struct rw_matchers *ms, char *buf, size_t len);
void rw_matchers_clear(struct rw_matchers *ms);
/* Deep copy into a cleared dst. 0 or -ENOMEM (dst left cleared). */
int rw_matchers_copy(struct rw_matchers *dst, const struct rw_matchers *src);

/* A label's value or "" when absent or not a string. */
const char *rw_label_get(const json_t *labels, const char *name);
/* 1 if s is a valid label name: [A-Za-z_][A-Za-z0-9_]*. */
int rw_label_name_valid(const char *s);

#endif
