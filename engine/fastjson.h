/* Specialised event decoder: the same contract as rw_decode() (decode.h),
 * without building a jansson tree.
 *
 * Equivalence: for every input, rw_fastdec_decode() returns the same enum
 * rw_reject as rw_decode() (jansson 2.14, JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY) and, on RW_OK, the same struct rw_event. That includes
 * jansson's corners: strict UTF-8, surrogate pairs, "\u0000" refused,
 * duplicate keys refused at every level, integers beyond int64 and reals that
 * overflow a double refused, value depth limited to 2048, and one NUL byte
 * directly after a number or true/false/null skipped (jansson's lexer loses
 * an ungot NUL). tests/unit/test_fastjson.c checks it differentially.
 *
 * Ownership: the decoder owns one scratch area (unescaped strings, key stack,
 * a hash index for objects with many keys) sized for max_len at creation and
 * grown (rarely, by doubling) if a longer message arrives. Strings in *ev
 * (app, seg keys and values, the metric name) point into that scratch -- unescaped and
 * NUL-terminated -- or, for the default app, to a static literal; they stay
 * valid until the next call on the same decoder. pn is borrowed and must
 * outlive the decoder. One decoder per thread; no allocation per call once
 * the scratch fits. */
#ifndef RW_FASTJSON_H
#define RW_FASTJSON_H

#include <stddef.h>

#include "engine/event.h"

struct rw_fastdec;

/* max_seg_value: bytes (as rw_decoder_new). max_len: the longest message
 * expected (engine.max_message); 0 picks 64 KiB. NULL on allocation failure. */
struct rw_fastdec *rw_fastdec_new(struct rw_pagenorm *pn, int max_seg_value, size_t max_len);
void rw_fastdec_destroy(struct rw_fastdec **dp);

/* Decode buf[0..len) into *ev. Returns RW_OK or the rejection reason, exactly
 * as rw_decode() would. Allocation failure while growing the scratch for an
 * unusually long message reports RW_REJ_JSON (jansson's answer to OOM). */
enum rw_reject rw_fastdec_decode(struct rw_fastdec *d, const char *buf, size_t len,
                                 struct rw_event *ev);

#endif
