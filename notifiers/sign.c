/* Standard Webhooks signing with OpenSSL's libcrypto (see sign.h).
 *
 * HMAC goes through the one-shot HMAC() (present in OpenSSL 1.1 and 3.x;
 * deprecated only as the low-level HMAC_CTX API, not this call). Base64 is
 * checked strictly before EVP_DecodeBlock, which would otherwise skip
 * whitespace and count padding as zero bytes.
 */
#include "notifiers/sign.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHSEC_PREFIX "whsec_"

static int b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Strict standard base64 with padding -> bytes. Returns decoded length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t outmax)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '=') {
            if (i < n - 2)
                return -1; /* '=' only in the last two places */
            pad++;
        } else if (pad || !b64_char(c)) {
            return -1;
        }
    }
    size_t len = n / 4 * 3 - pad;
    if (len > outmax)
        return -1;
    unsigned char *tmp = malloc(n / 4 * 3 + 1);
    if (!tmp)
        return -1;
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
    if (got < 0 || (size_t)got != n / 4 * 3) {
        free(tmp);
        return -1;
    }
    memcpy(out, tmp, len);
    OPENSSL_cleanse(tmp, n / 4 * 3 + 1);
    free(tmp);
    return (long)len;
}

int rw_sign_parse_secret(const char *text, unsigned char *key, size_t *keylen, char *err,
                         size_t errlen)
{
    if (!text || !key || !keylen) {
        snprintf(err, errlen, "no secret");
        return -EINVAL;
    }
    *keylen = 0;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' ||
                     text[n - 1] == '\t'))
        n--;
    size_t plen = strlen(WHSEC_PREFIX);
    if (n >= plen && strncmp(text, WHSEC_PREFIX, plen) == 0) {
        long got = b64_decode(text + plen, n - plen, key, RW_SECRET_MAX);
        if (got < 0) {
            snprintf(err, errlen,
                     "secret starts with whsec_ but the rest is not valid base64 of at most %d "
                     "bytes",
                     RW_SECRET_MAX);
            return -EINVAL;
        }
        *keylen = (size_t)got;
    } else {
        if (n > RW_SECRET_MAX) {
            snprintf(err, errlen, "secret is longer than %d bytes", RW_SECRET_MAX);
            return -EINVAL;
        }
        memcpy(key, text, n);
        *keylen = n;
    }
    if (*keylen < RW_SIGN_MIN_KEY) {
        snprintf(err, errlen, "secret is %zu bytes, at least %d are needed", *keylen,
                 RW_SIGN_MIN_KEY);
        OPENSSL_cleanse(key, *keylen);
        *keylen = 0;
        return -EINVAL;
    }
    return 0;
}

int rw_sign_compute(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
                    const char *body, size_t body_len, char *out, size_t outlen)
{
    if (!key || keylen == 0 || !msg_id || !*msg_id || (!body && body_len) || !out ||
        outlen < RW_SIGN_SIG_MAX)
        return -EINVAL;
    char ts[32];
    int tl = snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    size_t il = strlen(msg_id);
    size_t n = il + 1 + (size_t)tl + 1 + body_len;
    unsigned char *msg = malloc(n ? n : 1);
    if (!msg)
        return -ENOMEM;
    memcpy(msg, msg_id, il);
    msg[il] = '.';
    memcpy(msg + il + 1, ts, (size_t)tl);
    msg[il + 1 + (size_t)tl] = '.';
    if (body_len)
        memcpy(msg + il + 2 + (size_t)tl, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *r = HMAC(EVP_sha256(), key, (int)keylen, msg, n, mac, &maclen);
    free(msg);
    if (!r || maclen != 32)
        return -EINVAL;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen); /* 44 chars + NUL */
    return 0;
}

int rw_sign_verify(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
                   const char *body, size_t body_len, const char *signature_header, int64_t now)
{
    if (!signature_header)
        return -EBADMSG;
    if (now > 0 && (now - timestamp > RW_SIGN_TOLERANCE || timestamp - now > RW_SIGN_TOLERANCE))
        return -ETIME;
    char want[RW_SIGN_SIG_MAX];
    if (rw_sign_compute(key, keylen, msg_id, timestamp, body, body_len, want, sizeof want))
        return -EBADMSG;
    size_t wl = strlen(want);
    int ok = 0;
    for (const char *p = signature_header; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        /* Compare every candidate of the right length, in constant time. */
        if ((size_t)(e - p) == wl && CRYPTO_memcmp(p, want, wl) == 0)
            ok = 1;
        p = e;
    }
    return ok ? 0 : -EBADMSG;
}

int rw_sign_new_id(char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (!out || outlen < 4 + 24 + 1)
        return -EINVAL;
    unsigned char rnd[18]; /* 18 bytes = 24 base64 characters, no padding */
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return -EIO;
    memcpy(out, "msg_", 4);
    for (int i = 0; i < 6; i++) {
        uint32_t v =
            ((uint32_t)rnd[3 * i] << 16) | ((uint32_t)rnd[3 * i + 1] << 8) | rnd[3 * i + 2];
        for (int k = 0; k < 4; k++)
            out[4 + 4 * i + k] = alphabet[(v >> (18 - 6 * k)) & 63];
    }
    out[28] = '\0';
    return 0;
}

int rw_sign_request(const struct rw_notifier_cfg *cfg, const char *msg_id, int64_t timestamp,
                    struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    if (cfg->secret_len == 0)
        return 0;
    if (cfg->secret_len > RW_SECRET_MAX || !msg_id || !*msg_id)
        return -EINVAL;
    if (req->nheaders < 0 || req->nheaders > RW_HTTP_MAX_HEADERS - 3)
        return -ENOSPC; /* all three or none */
    char sig[RW_SIGN_SIG_MAX], ts[32];
    int rc = rw_sign_compute(cfg->secret, cfg->secret_len, msg_id, timestamp, req->body,
                             req->body ? req->body_len : 0, sig, sizeof sig);
    if (rc)
        return rc;
    snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    if ((rc = rw_http_req_add_header(req, "webhook-id", msg_id)) ||
        (rc = rw_http_req_add_header(req, "webhook-timestamp", ts)) ||
        (rc = rw_http_req_add_header(req, "webhook-signature", sig)))
        return rc;
    return 0;
}

void rw_sign_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
