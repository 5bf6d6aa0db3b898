#ifndef DUET_FRONTEND_STOP_H
#define DUET_FRONTEND_STOP_H

/* Stop strings over streamed text. The text grows at its end; a caller
 * has emitted text[0..emitted). duet_stop_scan says where the first stop
 * string starts (the text is cut there and the stop never appears in the
 * output), or else how much may be emitted now: everything except a tail
 * that could still become a stop string once more text arrives. Both
 * positions fall on UTF-8 character boundaries when the text and the stop
 * strings are valid UTF-8. */

#include <stddef.h>

typedef struct {
  long match;   /* offset of the first stop string, or -1 */
  size_t safe;  /* text[0..safe) can be emitted (== match when matched) */
} duet_stop_result;

duet_stop_result duet_stop_scan(const char *const *stops, int n_stops, size_t max_len, const char *text,
                                size_t len, size_t emitted);

#endif
