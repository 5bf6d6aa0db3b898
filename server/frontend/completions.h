#ifndef DUET_FRONTEND_COMPLETIONS_H
#define DUET_FRONTEND_COMPLETIONS_H

/* POST /v1/completions: prompt as a string, a list of token ids, or a list
 * of either (a batch, one set of choices per prompt). */

#include <jansson.h>

#include "server/frontend/params.h"

typedef struct duet_req duet_req;

void duet_completions(duet_req *r);

/* Shared by both endpoints: parse the JSON body (400 when malformed),
 * check the model name (404) and read the parameters (400 naming one).
 * On failure the request is answered and NULL returned. */
json_t *duet_api_begin(duet_req *r, int chat, duet_params *p);
/* The first two steps alone (/tokenize, /detokenize). */
json_t *duet_api_body(duet_req *r);

#endif
