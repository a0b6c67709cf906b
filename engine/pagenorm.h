/* Page-name normalization: turns what browsers report into a bounded set of
 * series keys. See docs/page-names.md for the exact rule and its
 * test vectors.
 *
 *  1. Strip scheme://host if present, then the query (?...) and fragment (#...).
 *  2. Configured rewrite rules (POSIX extended regex -> replacement, \1..\9
 *     back-references) run in order on the stripped path; every rule that
 *     matches is applied (first match in the string, once per rule).
 *  3. Path segments that look like ids become "?" according to the id mode:
 *       RW_IDS_DIGITS (default): any segment containing an ASCII digit;
 *       RW_IDS_STRICT: all-digits, UUIDs (8-4-4-4-12 hex), or hex strings of
 *                      >= 16 chars;
 *       RW_IDS_NONE:   nothing is replaced.
 *     Route templates are kept: a segment starting with ':' or '{' or '[' or
 *     equal to '*' or '?' is never replaced.
 *  4. Collapse repeated '/', drop a trailing '/' (except the root), and an
 *     empty result becomes "/".
 * A cache of recent raw -> normalized results (direct-mapped, fixed size)
 * keeps the regex cost off the hot path for repeated pages.
 */
#ifndef RW_PAGENORM_H
#define RW_PAGENORM_H

#include <stddef.h>
#include <stdint.h>

#define RW_PAGE_MAX 512 /* longest accepted page, bytes (raw and normalized) */

enum rw_id_mode { RW_IDS_DIGITS = 0, RW_IDS_STRICT, RW_IDS_NONE };
extern const char *const rw_id_mode_names[]; /* {"digits","strict","none",NULL} */

struct rw_rewrite_rule {
    char match[256];   /* POSIX ERE */
    char replace[256]; /* replacement; \1..\9 insert groups, \\ a backslash */
};

struct rw_pagenorm;

/* Compiles the rules (copied). NULL on a bad regex, with a message in err. */
struct rw_pagenorm *rw_pagenorm_new(const struct rw_rewrite_rule *rules, int nrules,
                                    enum rw_id_mode mode, char *err, size_t errlen);
void rw_pagenorm_destroy(struct rw_pagenorm **pp);

/* Normalize in[0..len) into out (outcap >= RW_PAGE_MAX + 1 recommended).
 * Returns the output length, or -1 if the result would exceed RW_PAGE_MAX.
 * Not thread-safe (the cache is mutated): one instance per thread. */
int rw_pagenorm_apply(struct rw_pagenorm *pn, const char *in, size_t len, char *out,
                      size_t outcap);

/* Shard number of a normalized page for topic sharding (rum.<type>.sNN.):
 * FNV-1a 32-bit hash of the page bytes, modulo 64. */
unsigned rw_page_shard(const char *page, size_t len);

#endif
