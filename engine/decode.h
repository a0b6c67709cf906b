/* Decoding of one wire-schema v1 event (see docs/schema.md).
 *
 * This is the one function on the hot path that touches JSON: everything
 * after it works on struct rw_event. It keeps the parsed document until the
 * next call so the event's strings can be borrowed without copies. */
#ifndef RW_DECODE_H
#define RW_DECODE_H

#include "engine/event.h"

struct rw_decoder;

/* pn is borrowed (must outlive the decoder). max_seg_value: bytes. */
struct rw_decoder *rw_decoder_new(struct rw_pagenorm *pn, int max_seg_value);
void rw_decoder_destroy(struct rw_decoder **dp);

/* Decode buf[0..len) (one JSON object, no newline needed) into *ev.
 * Returns RW_OK or the rejection reason. */
enum rw_reject rw_decode(struct rw_decoder *d, const char *buf, size_t len, struct rw_event *ev);

/* Two decoded events carry the same data (strings compared by content,
 * numbers by bits): what the decoders' differential tests compare. */
int rw_event_same(const struct rw_event *a, const struct rw_event *b);

#endif
