/* Input loss we can see: per-publisher message sequence numbers.
 *
 * ZeroMQ PUB/SUB drops messages silently when a high-water mark is reached
 * (docs/schema.md "Transport"). A publisher that numbers its messages lets
 * rumwatch count what was lost: a message may carry a third frame,
 *   [topic][body][{"pub":"collector-1","seq":42}]
 * where `seq` counts the messages that publisher sent with exactly that
 * topic (+1 per message, any start). Per (pub, topic) stream:
 *   seq == last + 1          in order
 *   seq >  last + 1          seq - last - 1 messages lost
 *   seq <= last, or a jump of more than 2^32: the publisher restarted
 *                            (counted as a reset; nothing counted lost)
 * The first message of a stream only sets its start. Topics, not
 * publishers, are the unit because a sharded subscriber only receives some
 * of a publisher's topics.
 *
 * Bounded: at most max_streams streams and max_publishers publisher ids are
 * tracked; messages of streams beyond are counted `untracked`, and the
 * counters of publishers beyond the cap go to one "(other)" entry.
 * Everything is allocated by rw_inputseq_new; rw_inputseq_note never
 * allocates (it is on the ingest path).
 *
 * Ownership: the tracker owns its tables. Single-threaded (engine thread).
 */
#ifndef RW_INPUTSEQ_H
#define RW_INPUTSEQ_H

#include <stddef.h>
#include <stdint.h>

#define RW_PUB_ID_MAX 64 /* bytes of a publisher id: [A-Za-z0-9_.:-] */
#define RW_PUB_OTHER "(other)"

struct rw_inputseq_pub {
    char id[RW_PUB_ID_MAX + 1];
    uint64_t messages; /* messages that carried a valid sequence frame */
    uint64_t lost;     /* messages missing from its sequences */
    uint64_t resets;   /* sequences that started over */
};

struct rw_inputseq_stats {
    uint64_t sequenced; /* messages with a valid sequence frame */
    uint64_t invalid;   /* sequence frames that could not be read */
    uint64_t untracked; /* valid, but beyond max_streams: not checked */
    uint64_t lost, resets;
    uint64_t streams;    /* tracked now */
    uint64_t publishers; /* ids tracked now ("(other)" not included) */
};

struct rw_inputseq;

/* NULL on ENOMEM. max_streams >= 1, max_publishers >= 1. */
struct rw_inputseq *rw_inputseq_new(int max_streams, int max_publishers);
void rw_inputseq_destroy(struct rw_inputseq **qp);

/* Account one message's sequence frame. 0, or -EINVAL (counted invalid)
 * when the frame is not {"pub": ID, "seq": N} (other members are ignored;
 * ID 1..64 bytes of [A-Za-z0-9_.:-], N an integer 0..2^63-1). */
int rw_inputseq_note(struct rw_inputseq *q, const char *topic, size_t topic_len, const char *frame,
                     size_t frame_len);

void rw_inputseq_stats(const struct rw_inputseq *q, struct rw_inputseq_stats *out);
/* Up to max publishers (in the order first seen; "(other)" last when
 * used). Returns how many were written. */
int rw_inputseq_publishers(const struct rw_inputseq *q, struct rw_inputseq_pub *out, int max);

#endif
