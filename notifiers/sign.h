/* Standard Webhooks signing (https://www.standardwebhooks.com/).
 *
 * A signed request carries three headers:
 *   webhook-id:        a unique message id, the same on every retry of the
 *                      message (receivers dedupe on it)
 *   webhook-timestamp: unix seconds of this attempt
 *   webhook-signature: "v1," + base64(HMAC-SHA256(key, id "." timestamp "." body))
 * The key comes from the receiver's `secret_env` / `secret_file`:
 * "whsec_<base64>" is base64-decoded (the form the Standard Webhooks
 * libraries use); any other text is used as raw bytes.
 *
 * OpenSSL's libcrypto does the HMAC, SHA-256, base64 and randomness. No
 * state; thread-safe.
 */
#ifndef RW_SIGN_H
#define RW_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "notifiers/notifier.h"

#define RW_SIGN_ID_MAX 48     /* buffer for a message id ("msg_" + 24 chars + NUL fits) */
#define RW_SIGN_SIG_MAX 64    /* buffer for "v1,<44 base64 chars>" + NUL */
#define RW_SIGN_MIN_KEY 16    /* shorter keys are refused */
#define RW_SIGN_TOLERANCE 300 /* s: receivers reject timestamps further off than this */

/* Parse a secret (see above) into key (RW_SECRET_MAX bytes). Trailing
 * whitespace (a newline at the end of a secret file) is ignored.
 * 0, or -EINVAL with a message in err (bad base64, shorter than
 * RW_SIGN_MIN_KEY bytes, longer than RW_SECRET_MAX). */
int rw_sign_parse_secret(const char *text, unsigned char *key, size_t *keylen, char *err,
                         size_t errlen);

/* out = "v1,<base64 signature>". 0, -EINVAL (no key, no id, outlen too
 * small) or -ENOMEM. */
int rw_sign_compute(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
                    const char *body, size_t body_len, char *out, size_t outlen);

/* Check a webhook-signature header (one or more space-separated
 * "v1,<sig>"): 0 if one matches (constant-time compare), -EBADMSG if none.
 * If now > 0, also -ETIME when |now - timestamp| > RW_SIGN_TOLERANCE. */
int rw_sign_verify(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
                   const char *body, size_t body_len, const char *signature_header, int64_t now);

/* A fresh message id: "msg_" + 24 base64url characters (144 random bits from
 * RAND_bytes). 0 or -EIO when the random generator fails. */
int rw_sign_new_id(char *out, size_t outlen);

/* Add webhook-id, webhook-timestamp and webhook-signature to req (whose body
 * is final) when cfg has a key; nothing when it has none. The caller keeps
 * msg_id stable across retries and passes each attempt's time. 0 or a
 * negative errno. */
int rw_sign_request(const struct rw_notifier_cfg *cfg, const char *msg_id, int64_t timestamp,
                    struct rw_http_req *req);

/* SHA-256 of data as 64 lowercase hex digits + NUL (out: 65 bytes). */
void rw_sign_sha256_hex(const void *data, size_t len, char out[65]);

#endif
