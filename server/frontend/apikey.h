#ifndef DUET_FRONTEND_APIKEY_H
#define DUET_FRONTEND_APIKEY_H

/* --api-key: every /v1/ request needs "Authorization: Bearer KEY". The
 * comparison runs in constant time (both sides hashed with SHA-256, then
 * CRYPTO_memcmp) so neither the key's bytes nor its length leak through
 * timing. Returns 1 when the header carries the key. */
int duet_apikey_ok(const char *key, const char *authorization);

#endif
