#include "server/frontend/stop.h"

#include <string.h>

duet_stop_result duet_stop_scan(const char *const *stops, int n, size_t max_len, const char *text, size_t len,
                                size_t emitted) {
  duet_stop_result r = {-1, len};
  if (!n) return r;
  /* A match must end in the new text, so it starts at most max_len-1
   * bytes before what was emitted. */
  size_t from = emitted + 1 > max_len ? emitted + 1 - max_len : 0;
  for (int i = 0; i < n; i++) {
    size_t sl = strlen(stops[i]);
    const char *hit = memmem(text + from, len - from, stops[i], sl);
    if (hit && (r.match < 0 || hit - text < r.match)) r.match = hit - text;
  }
  if (r.match >= 0) {
    r.safe = (size_t)r.match;
    return r;
  }
  /* Hold back the longest tail that is a proper prefix of some stop. */
  size_t hold = 0;
  for (int i = 0; i < n; i++) {
    size_t sl = strlen(stops[i]);
    for (size_t k = sl - 1; k > hold; k--)
      if (k <= len && !memcmp(text + len - k, stops[i], k)) {
        hold = k;
        break;
      }
  }
  r.safe = len - hold < emitted ? emitted : len - hold;
  return r;
}
