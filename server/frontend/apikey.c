#include "server/frontend/apikey.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

int duet_apikey_ok(const char *key, const char *auth) {
  if (!auth || strncasecmp(auth, "Bearer ", 7)) return 0;
  const char *given = auth + 7;
  while (*given == ' ') given++;
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)given, strlen(given), a);
  SHA256((const unsigned char *)key, strlen(key), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}
