/* Fuzz target: engine state snapshots (engine/snapshot.h, rw_engine_restore).
 *
 * A snapshot is rumwatch's own file, but it lives on disk for months: a
 * torn write, a disk error or an operator's mistake must give a refusal
 * with a message, never a crash or a half-restored engine. The first input
 * byte says whether to fix up the header's lengths and both CRCs (bit 0),
 * so that mutations reach the section parser instead of dying at the
 * checksum; the rest is the snapshot. Invariants: restore returns 0 or
 * -EINVAL with a message; refused, the engine is still fresh; accepted, the
 * engine saves again, that snapshot restores into another fresh engine and
 * saves to the same payload (a fixed point), and /api/alerts renders.
 * Detector state bytes are taken as stored (they are checked by the CRC,
 * not by meaning), so the engine is not advanced over restored states. */
#include <errno.h>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "tests/fuzz/fuzz.h"

/* Small: two scopes (one with a custom twin), a threshold, a robust_z and a
 * seasonal rule, so seeds stay a few KB. */
static const char *CONF =
    "engine = { window = 60.0; lateness = 30.0; max_future = 30.0; };\n"
    "scopes = ( { name = \"app\"; dims = []; },\n"
    "           { name = \"page\"; dims = [\"page\"]; max_series = 4; } );\n"
    "rules = ( { name = \"lcp_poor\"; metric = \"lcp\"; stat = \"p75\"; detector = \"threshold\";\n"
    "            above = 4000.0; min_n = 3; for = 2; recover = 2; },\n"
    "          { name = \"lcp_z\"; metric = \"lcp\"; stat = \"p75\"; detector = \"robust_z\";\n"
    "            min_n = 3; },\n"
    "          { name = \"views_s\"; metric = \"views\"; scopes = [\"app\"]; detector = \"seasonal\"; },\n"
    "          { name = \"orders\"; metric = \"custom\"; stat = \"count\"; scopes = [\"app\"];\n"
    "            detector = \"threshold\"; below = 1.0; min_n = 0; } );\n";

static struct rw_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[1024] = "";
    cfg = rw_config_load_string(CONF, "fuzz.conf", err, sizeof err);
    FUZZ_CHECK(cfg, "config: %s", err);
    return 0;
}

static struct rw_engine *fresh(void)
{
    char err[256] = "";
    struct rw_engine *e = rw_engine_new(cfg, NULL, err, sizeof err);
    FUZZ_CHECK(e, "engine: %s", err);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fix = data[0] & 1;
    size_t len = size - 1;
    unsigned char *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf, "malloc");
    memcpy(buf, data + 1, len);
    if (fix && len >= RW_SNAP_HEADER) {
        uint64_t plen = len - RW_SNAP_HEADER;
        uint32_t pcrc = rw_snap_crc(buf + RW_SNAP_HEADER, plen);
        memcpy(buf + 16, &plen, 8);
        memcpy(buf + 24, &pcrc, 4);
        uint32_t hcrc = rw_snap_crc(buf, 68);
        memcpy(buf + 68, &hcrc, 4);
    }
    struct rw_engine *e = fresh();
    struct rw_restore_report rep;
    char err[512] = "";
    int rc = rw_engine_restore(e, buf, len, &rep, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "restore returned %d", rc);
    if (rc) {
        FUZZ_CHECK(err[0], "refused without a message");
        struct rw_engine_stats st;
        rw_engine_get_stats(e, &st);
        FUZZ_CHECK(st.series == 0 && st.watermark == INT64_MIN, "refused but changed: %s", err);
    } else {
        struct rw_snapbuf b1 = {0}, b2 = {0};
        FUZZ_CHECK(rw_engine_save(e, &b1, err, sizeof err) == 0, "save: %s", err);
        struct rw_engine *e2 = fresh();
        rc = rw_engine_restore(e2, b1.p, b1.len, NULL, err, sizeof err);
        FUZZ_CHECK(rc == 0, "a saved snapshot does not restore: %s", err);
        FUZZ_CHECK(rw_engine_save(e2, &b2, err, sizeof err) == 0, "save: %s", err);
        FUZZ_CHECK(b1.len == b2.len && memcmp(b1.p + RW_SNAP_HEADER, b2.p + RW_SNAP_HEADER,
                                              b1.len - RW_SNAP_HEADER) == 0,
                   "save is not a fixed point (%zu vs %zu bytes)", b1.len, b2.len);
        json_t *alerts = rw_engine_alerts_json(e2, 100, NULL);
        json_decref(alerts);
        rw_snapbuf_free(&b1);
        rw_snapbuf_free(&b2);
        rw_engine_destroy(&e2);
    }
    rw_engine_destroy(&e);
    free(buf);
    return 0;
}
