/* Small text helpers shared by the notifiers: a growable string and
 * readers of alert-line fields.
 *
 * rw_sb: appends never fail loudly; after a failed allocation the buffer
 * is marked oom, later appends are ignored, and rw_sb_take() returns NULL.
 * The caller owns what rw_sb_take() returns (free()). */
#ifndef RW_TEXT_H
#define RW_TEXT_H

#include <jansson.h>
#include <stddef.h>

struct rw_sb {
    char *p; /* NUL-terminated while non-NULL */
    size_t len, cap;
    int oom;
};

void rw_sb_addn(struct rw_sb *b, const char *s, size_t n);
void rw_sb_add(struct rw_sb *b, const char *s);
/* Appends at most 255 bytes of the formatted text. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void rw_sb_printf(struct rw_sb *b, const char *fmt, ...);
/* Hands the string over ("" when nothing was added, NULL after OOM) and
 * resets b. */
char *rw_sb_take(struct rw_sb *b);

/* The string at key, or def when absent, not a string, or empty. */
const char *rw_json_str(const json_t *o, const char *key, const char *def);
/* 1 and *out when key holds a finite number, else 0. */
int rw_json_num(const json_t *o, const char *key, double *out);

#endif
