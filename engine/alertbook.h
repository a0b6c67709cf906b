/* The current alerts for /api/alerts (docs/operations.md).
 *
 * The engine knows which alerts are pending or firing (rw_engine_alerts_json)
 * but keeps no numbers per alert; the alert lines it emitted have them. The
 * book remembers, per fingerprint, the newest firing line's value,
 * expected and summary, and forgets it when the resolution line comes;
 * rw_alertbook_render joins both into one JSON document:
 *
 *   {"generated": <epoch ms>, "firing": N, "pending": N, "truncated": N,
 *    "alerts": [{"rule", "state": "firing"|"pending", "severity", "metric",
 *                "stat", "app", "scope_name", "scope": {...}, "since": <ms>,
 *                "since_time": RFC 3339, "value", "expected", "summary",
 *                "fingerprint", "parent" (grouped under), "flapping",
 *                "updated": <ms of the line the numbers come from>}]}
 *
 * value/expected/summary are null for pending alerts (pending is never
 * printed) and for a firing alert whose line this process has not seen.
 *
 * Bounded: at most `max` lines are remembered (more are not, and those
 * alerts show null numbers). Ownership: the book owns what it keeps.
 * Single-threaded (engine thread); the rendered text is the caller's.
 */
#ifndef RW_ALERTBOOK_H
#define RW_ALERTBOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct rw_alertbook;

struct rw_alertbook *rw_alertbook_new(size_t max);
void rw_alertbook_destroy(struct rw_alertbook **bp);

/* One alert line as emitted (JSON text). Not objects: ignored. */
void rw_alertbook_note(struct rw_alertbook *b, const char *line);
/* Lines remembered now. */
size_t rw_alertbook_size(const struct rw_alertbook *b);

/* The document above. engine_alerts: rw_engine_alerts_json's array
 * (stolen); own: firing lines of rumwatch's own alerts (input_stall) as
 * full alert lines, borrowed, may be NULL; truncated: alerts the engine
 * left out of its list. malloc'd text, NULL on ENOMEM. */
char *rw_alertbook_render(const struct rw_alertbook *b, json_t *engine_alerts, const json_t *own,
                          size_t truncated, int64_t now_wall_ms);

#endif
