/* Input loss by sequence frames: gaps, restarts, streams per topic and
 * publisher, frames that cannot be read, and the caps. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "engine/inputseq.h"

static int note(struct rw_inputseq *q, const char *topic, const char *frame)
{
    return rw_inputseq_note(q, topic, strlen(topic), frame, strlen(frame));
}

static int seq(struct rw_inputseq *q, const char *pub, const char *topic, long long n)
{
    char f[128];
    snprintf(f, sizeof f, "{\"pub\":\"%s\",\"seq\":%lld}", pub, n);
    return note(q, topic, f);
}

static struct rw_inputseq_pub pub_of(const struct rw_inputseq *q, const char *id)
{
    struct rw_inputseq_pub all[16], none = {{0}, 0, 0, 0};
    int n = rw_inputseq_publishers(q, all, 16);
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].id, id) == 0)
            return all[i];
    return none;
}

static void test_gaps(void)
{
    struct rw_inputseq *q = rw_inputseq_new(16, 4);
    const char *A = "rum.view.s01.", *B = "rum.view.s02.";
    /* the first message only sets the start: the publisher may be older than us */
    CHECK_INT(seq(q, "c1", A, 41), 0);
    for (int n = 42; n <= 50; n++)
        seq(q, "c1", A, n);
    struct rw_inputseq_stats st;
    rw_inputseq_stats(q, &st);
    CHECK_INT(st.lost, 0);
    CHECK_INT(st.sequenced, 10);
    seq(q, "c1", A, 53); /* 51, 52 lost */
    seq(q, "c1", A, 54);
    seq(q, "c1", A, 60); /* 55..59 lost */
    /* another topic of the same publisher is its own sequence */
    seq(q, "c1", B, 7);
    seq(q, "c1", B, 8);
    /* a restart: not a loss */
    seq(q, "c1", A, 1);
    seq(q, "c1", A, 2);
    seq(q, "c1", A, 2); /* the same number again: also a restart */
    /* a jump beyond 2^32 is a restart with a fresh counter, not billions lost */
    seq(q, "c1", B, 8 + (1ll << 33));
    /* another publisher on topic A */
    seq(q, "c2", A, 100);
    seq(q, "c2", A, 102);
    rw_inputseq_stats(q, &st);
    CHECK_INT(st.lost, 2 + 5 + 1);
    CHECK_INT(st.resets, 3);
    CHECK_INT(st.streams, 3);
    CHECK_INT(st.publishers, 2);
    CHECK_INT(st.invalid, 0);
    struct rw_inputseq_pub c1 = pub_of(q, "c1"), c2 = pub_of(q, "c2");
    CHECK_INT(c1.lost, 7);
    CHECK_INT(c1.resets, 3);
    CHECK_INT(c1.messages, 10 + 3 + 2 + 3 + 1);
    CHECK_INT(c2.lost, 1);
    CHECK_INT(c2.messages, 2);
    rw_inputseq_destroy(&q);
    CHECK(q == NULL);
    rw_inputseq_destroy(&q); /* safe twice */
}

static void test_frames(void)
{
    struct rw_inputseq *q = rw_inputseq_new(16, 4);
    const char *T = "rum.view.s00.";
    /* what is read: members in any order, whitespace, other members ignored */
    CHECK_INT(note(q, T,
                   " { \"seq\" : 5 ,\n\"pub\":\"a.b:c-d_9\", \"ts\": 1762041600000, "
                   "\"x\": \"y\\\"z\", \"ok\": true, \"n\": null } "),
              0);
    CHECK_INT(note(q, T, "{\"pub\":\"a.b:c-d_9\",\"seq\":6}"), 0);
    CHECK_INT(note(q, T, "{\"pub\":\"m\",\"seq\":9223372036854775807}"), 0);
    static const char *const bad[] =
        {
            "",
            "not json",
            "{}",
            "[1]",
            "{\"pub\":\"a\"}",             /* no seq */
            "{\"seq\":1}",                 /* no pub */
            "{\"pub\":\"a\",\"seq\":-1}",  /* negative */
            "{\"pub\":\"a\",\"seq\":1.5}", /* not an integer */
            "{\"pub\":\"a\",\"seq\":1e3}",
            "{\"pub\":\"a\",\"seq\":\"1\"}",               /* a string */
            "{\"pub\":\"a\",\"seq\":9223372036854775808}", /* beyond int64 */
            "{\"pub\":\"a\",\"seq\":12345678901234567890}",
            "{\"pub\":1,\"seq\":1}",
            "{\"pub\":\"\",\"seq\":1}",
            "{\"pub\":\"a b\",\"seq\":1}",             /* a space */
            "{\"pub\":\"caf\xC3\xA9\",\"seq\":1}",     /* not [A-Za-z0-9_.:-] */
            "{\"pub\":\"a\\u0062\",\"seq\":1}",        /* escapes are not unescaped: refused */
            "{\"pub\":\"a\",\"pub\":\"b\",\"seq\":1}", /* twice */
            "{\"pub\":\"a\",\"seq\":1,\"seq\":2}",
            "{\"pub\":\"a\",\"seq\":1,\"x\":{\"y\":1}}", /* nested */
            "{\"pub\":\"a\",\"seq\":1} trailing",
            "{\"pub\":\"a\",\"seq\":1", /* unterminated */
            "{\"pub\":\"a\",\"seq\":1,}",
            "{\"pub\":\"a\" \"seq\":1}",
            "{\"pub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
            "\"seq\":1}", /* 65 */
        };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (note(q, T, bad[i]) != -EINVAL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    /* a frame that is not text at all, with NULs */
    CHECK_INT(rw_inputseq_note(q, T, strlen(T), "{\"pub\":\"a\0\",\"seq\":1}", 20), -EINVAL);
    struct rw_inputseq_stats st;
    rw_inputseq_stats(q, &st);
    CHECK_INT(st.invalid, sizeof bad / sizeof bad[0] + 1);
    CHECK_INT(st.sequenced, 3);
    CHECK_INT(st.lost, 0);
    CHECK_INT(pub_of(q, "a.b:c-d_9").messages, 2);
    /* 64 bytes is the longest id */
    char f[128];
    snprintf(f, sizeof f, "{\"pub\":\"%064d\",\"seq\":1}", 0);
    CHECK_INT(note(q, T, f), 0);
    rw_inputseq_destroy(&q);
}

static void test_caps(void)
{
    struct rw_inputseq *q = rw_inputseq_new(3, 2);
    CHECK(rw_inputseq_new(0, 1) == NULL);
    seq(q, "p1", "t1", 1);
    seq(q, "p2", "t1", 1);
    seq(q, "p3", "t1", 1); /* third publisher: counted under "(other)" */
    seq(q, "p4", "t1", 1); /* fourth stream: not tracked */
    seq(q, "p4", "t1", 5); /* ... so no gap is seen */
    seq(q, "p3", "t1", 4); /* p3's own stream: 2 lost, under "(other)" */
    struct rw_inputseq_stats st;
    rw_inputseq_stats(q, &st);
    CHECK_INT(st.streams, 3);
    CHECK_INT(st.untracked, 2);
    CHECK_INT(st.publishers, 2);
    CHECK_INT(st.lost, 2);
    struct rw_inputseq_pub all[8];
    int n = rw_inputseq_publishers(q, all, 8);
    CHECK_INT(n, 3);
    CHECK_STR(all[0].id, "p1");
    CHECK_STR(all[1].id, "p2");
    CHECK_STR(all[2].id, RW_PUB_OTHER);
    CHECK_INT(all[2].messages, 4); /* p3 twice, p4 twice */
    CHECK_INT(all[2].lost, 2);
    CHECK_INT(rw_inputseq_publishers(q, all, 1), 1);
    /* many more messages change nothing in size: all fixed at creation */
    for (int i = 0; i < 100000; i++) {
        char id[32], topic[32];
        snprintf(id, sizeof id, "x%d", i);
        snprintf(topic, sizeof topic, "t%d", i % 977);
        seq(q, id, topic, i);
    }
    rw_inputseq_stats(q, &st);
    CHECK_INT(st.streams, 3);
    CHECK_INT(st.publishers, 2);
    CHECK_INT(st.untracked, 100002);
    rw_inputseq_destroy(&q);
}

int main(void)
{
    test_gaps();
    test_frames();
    test_caps();
    TEST_DONE();
}
