/* Standard Webhooks signing: the official test vector, a raw-secret vector
 * computed with `openssl dgst -sha256 -mac HMAC`, secret parsing, message ids,
 * and a sign/verify round trip that must notice any tampering. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/sign.h"
#include "tests/unit/check.h"

/* From the Standard Webhooks reference libraries (libraries/go/webhook_test.go). */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS 1614265330
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_official_vector(void)
{
    unsigned char key[RW_SECRET_MAX];
    size_t kl = 0;
    char err[256] = "";
    CHECK_INT(rw_sign_parse_secret(SW_SECRET, key, &kl, err, sizeof err), 0);
    CHECK_INT(kl, 24); /* 32 base64 characters */
    char sig[RW_SIGN_SIG_MAX];
    CHECK_INT(rw_sign_compute(key, kl, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), sig, sizeof sig), 0);
    CHECK_STR(sig, SW_SIG);
    CHECK_INT(rw_sign_verify(key, kl, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), SW_SIG, 0), 0);
    /* A trailing newline (a secret file) changes nothing. */
    CHECK_INT(rw_sign_parse_secret(SW_SECRET "\n", key, &kl, err, sizeof err), 0);
    CHECK_INT(rw_sign_compute(key, kl, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), sig, sizeof sig), 0);
    CHECK_STR(sig, SW_SIG);
}

static void test_raw_secret_vector(void)
{
    /* printf '%s' 'msg_rumwatchTest0000000000001.1762045260.{"hello":"world"}' |
     *   openssl dgst -sha256 -mac HMAC -macopt key:rumwatch-test-secret-0123456789 -binary | base64
     */
    unsigned char key[RW_SECRET_MAX];
    size_t kl = 0;
    char err[256] = "";
    CHECK_INT(rw_sign_parse_secret("rumwatch-test-secret-0123456789", key, &kl, err, sizeof err),
              0);
    CHECK_INT(kl, 31);
    CHECK(memcmp(key, "rumwatch-test-secret-0123456789", 31) == 0);
    const char *body = "{\"hello\":\"world\"}";
    char sig[RW_SIGN_SIG_MAX];
    CHECK_INT(rw_sign_compute(key, kl, "msg_rumwatchTest0000000000001", 1762045260, body,
                              strlen(body), sig, sizeof sig),
              0);
    CHECK_STR(sig, "v1,6IqHJoD9553vwhlbw9MLjuuSMy/4fLN/1XxnktXOZ+I=");
    /* The same text without the prefix would be another key: the official
     * libraries read prefix-less secrets as base64, we do not. */
    unsigned char key2[RW_SECRET_MAX];
    size_t kl2 = 0;
    CHECK_INT(rw_sign_parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key2, &kl2, err, sizeof err),
              0);
    CHECK_INT(kl2, 32);
    CHECK(memcmp(key2, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32) == 0);
}

static void test_parse_errors(void)
{
    unsigned char key[RW_SECRET_MAX];
    size_t kl = 99;
    char err[256] = "";
    CHECK_INT(rw_sign_parse_secret("whsec_not*base64!", key, &kl, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "base64") != NULL);
    CHECK_INT(kl, 0);
    CHECK_INT(
        rw_sign_parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", key, &kl, err, sizeof err),
        -EINVAL); /* 31 characters: not a multiple of 4 */
    CHECK_INT(
        rw_sign_parse_secret("whsec_MfKQ=r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &kl, err, sizeof err),
        -EINVAL); /* padding in the middle */
    CHECK_INT(rw_sign_parse_secret("whsec_c2hvcnQ=", key, &kl, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "at least 16") != NULL); /* "short" is 5 bytes */
    CHECK_INT(rw_sign_parse_secret("tooshort", key, &kl, err, sizeof err), -EINVAL);
    CHECK_INT(rw_sign_parse_secret("", key, &kl, err, sizeof err), -EINVAL);
    CHECK_INT(rw_sign_parse_secret(NULL, key, &kl, err, sizeof err), -EINVAL);
    char big[RW_SECRET_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT(rw_sign_parse_secret(big, key, &kl, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "longer") != NULL);
    big[RW_SECRET_MAX] = '\0'; /* exactly the maximum is fine */
    CHECK_INT(rw_sign_parse_secret(big, key, &kl, err, sizeof err), 0);
    CHECK_INT(kl, RW_SECRET_MAX);
    /* Padding variants decode to the right length: "whsec_" + base64 of 17 and 16 bytes. */
    CHECK_INT(rw_sign_parse_secret("whsec_MDEyMzQ1Njc4OWFiY2RlZmc=", key, &kl, err, sizeof err), 0);
    CHECK_INT(kl, 17);
    CHECK(memcmp(key, "0123456789abcdefg", 17) == 0);
    CHECK_INT(rw_sign_parse_secret("whsec_MDEyMzQ1Njc4OWFiY2RlZg==", key, &kl, err, sizeof err), 0);
    CHECK_INT(kl, 16);
    CHECK(memcmp(key, "0123456789abcdef", 16) == 0);
}

static void test_verify_round_trip(void)
{
    unsigned char key[RW_SECRET_MAX];
    size_t kl = 0;
    char err[256] = "", id[RW_SIGN_ID_MAX], sig[RW_SIGN_SIG_MAX];
    CHECK_INT(rw_sign_parse_secret(SW_SECRET, key, &kl, err, sizeof err), 0);
    CHECK_INT(rw_sign_new_id(id, sizeof id), 0);
    const char *body = "{\"version\":\"4\",\"status\":\"firing\"}";
    size_t bl = strlen(body);
    int64_t ts = 1762045260;
    CHECK_INT(rw_sign_compute(key, kl, id, ts, body, bl, sig, sizeof sig), 0);
    CHECK_INT(strlen(sig), 47);
    CHECK(strncmp(sig, "v1,", 3) == 0);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, sig, ts + 10), 0);

    /* Anything changed: refused. */
    char *tampered = strdup(body);
    tampered[20] ^= 1;
    CHECK_INT(rw_sign_verify(key, kl, id, ts, tampered, bl, sig, 0), -EBADMSG);
    free(tampered);
    CHECK_INT(rw_sign_verify(key, kl, id, ts + 1, body, bl, sig, 0), -EBADMSG);
    CHECK_INT(rw_sign_verify(key, kl, "msg_other", ts, body, bl, sig, 0), -EBADMSG);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl - 1, sig, 0), -EBADMSG);
    unsigned char key2[RW_SECRET_MAX];
    memcpy(key2, key, kl);
    key2[0] ^= 0x80;
    CHECK_INT(rw_sign_verify(key2, kl, id, ts, body, bl, sig, 0), -EBADMSG);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, "v1,AAAA", 0), -EBADMSG);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, "", 0), -EBADMSG);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, NULL, 0), -EBADMSG);
    /* Several signatures (key rotation): one matching is enough. */
    char multi[256];
    snprintf(multi, sizeof multi, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= %s v2,xyz", sig);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, multi, 0), 0);
    /* Timestamps too far from now. */
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, sig, ts + RW_SIGN_TOLERANCE + 1), -ETIME);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, sig, ts - RW_SIGN_TOLERANCE - 1), -ETIME);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, body, bl, sig, ts + RW_SIGN_TOLERANCE), 0);

    /* Empty body is signable. */
    CHECK_INT(rw_sign_compute(key, kl, id, ts, "", 0, sig, sizeof sig), 0);
    CHECK_INT(rw_sign_verify(key, kl, id, ts, "", 0, sig, 0), 0);
    /* Bad arguments. */
    CHECK_INT(rw_sign_compute(key, 0, id, ts, body, bl, sig, sizeof sig), -EINVAL);
    CHECK_INT(rw_sign_compute(key, kl, "", ts, body, bl, sig, sizeof sig), -EINVAL);
    CHECK_INT(rw_sign_compute(key, kl, id, ts, body, bl, sig, 10), -EINVAL);
}

static void test_new_id(void)
{
    char a[RW_SIGN_ID_MAX], b[RW_SIGN_ID_MAX];
    CHECK_INT(rw_sign_new_id(a, sizeof a), 0);
    CHECK_INT(rw_sign_new_id(b, sizeof b), 0);
    CHECK_INT(strlen(a), 28);
    CHECK(strncmp(a, "msg_", 4) == 0);
    CHECK(strcmp(a, b) != 0);
    for (const char *p = a + 4; *p; p++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p) !=
              NULL);
    /* 1000 ids, no repeat, and every character position varies. */
    enum { N = 1000 };
    static char ids[N][RW_SIGN_ID_MAX];
    int dup = 0;
    for (int i = 0; i < N; i++) {
        CHECK_INT(rw_sign_new_id(ids[i], sizeof ids[i]), 0);
        for (int k = 0; k < i; k++)
            dup += strcmp(ids[i], ids[k]) == 0;
    }
    CHECK_INT(dup, 0);
    for (int pos = 4; pos < 28; pos++) {
        int varied = 0;
        for (int i = 1; i < N && !varied; i++)
            varied = ids[i][pos] != ids[0][pos];
        CHECK(varied);
    }
    char small[10];
    CHECK_INT(rw_sign_new_id(small, sizeof small), -EINVAL);
}

static void test_sign_request(void)
{
    struct rw_notifier_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    struct rw_http_req req;
    memset(&req, 0, sizeof req);
    req.body = strdup(SW_BODY);
    req.body_len = strlen(SW_BODY);
    /* No key: nothing added. */
    CHECK_INT(rw_sign_request(&cfg, SW_ID, SW_TS, &req), 0);
    CHECK_INT(req.nheaders, 0);
    char err[256];
    CHECK_INT(rw_sign_parse_secret(SW_SECRET, cfg.secret, &cfg.secret_len, err, sizeof err), 0);
    CHECK_INT(rw_sign_request(&cfg, "", SW_TS, &req), -EINVAL);
    CHECK_INT(req.nheaders, 0);
    CHECK_INT(rw_sign_request(&cfg, SW_ID, SW_TS, &req), 0);
    CHECK_INT(req.nheaders, 3);
    CHECK_STR(req.headers[0], "webhook-id: " SW_ID);
    CHECK_STR(req.headers[1], "webhook-timestamp: 1614265330");
    CHECK_STR(req.headers[2], "webhook-signature: " SW_SIG);
    /* No room for all three: none added. */
    while (req.nheaders < RW_HTTP_MAX_HEADERS - 2)
        CHECK_INT(rw_http_req_add_header(&req, "X-Fill", "x"), 0);
    int before = req.nheaders;
    CHECK_INT(rw_sign_request(&cfg, SW_ID, SW_TS, &req), -ENOSPC);
    CHECK_INT(req.nheaders, before);
    rw_http_req_clear(&req);
    CHECK(req.body == NULL && req.nheaders == 0);
}

static void test_sha256(void)
{
    char hex[65];
    rw_sign_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rw_sign_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
    test_official_vector();
    test_raw_secret_vector();
    test_parse_errors();
    test_verify_round_trip();
    test_new_id();
    test_sign_request();
    test_sha256();
    TEST_DONE();
}
