#ifndef DUET_OPENAI_STREAM_H
#define DUET_OPENAI_STREAM_H

/* One OpenAI-style completion request (completions or chat, streamed or
 * not) over duet_http_client, reporting text pieces with their arrival
 * times. Shared by `duet` (prints them) and `duet-bench` (times them). */

#include <jansson.h>
#include <stdint.h>

#include "clients/http_client.h"
#include "clients/sse.h"

typedef struct duet_oai_call duet_oai_call;

typedef struct {
  /* A piece of generated text (a stream event's text, or the whole text of
   * a non-streamed answer). */
  void (*on_text)(duet_oai_call *call, const char *text, size_t len);
  /* Finished. err 0: ok (call->status 200); otherwise call->error says why. */
  void (*on_done)(duet_oai_call *call, int err);
} duet_oai_callbacks;

struct duet_oai_call {
  /* set by the caller before duet_oai_start */
  int chat, stream;
  void *user;
  int print_raw;          /* on_text gets raw JSON events/bodies instead of text */
  /* results */
  int status;             /* HTTP status */
  int completion_tokens;  /* from usage when the server reports it, else -1 */
  int prompt_tokens;
  char finish_reason[32];
  char error[512];
  int n_events;           /* stream events carrying text */
  /* internal */
  duet_oai_callbacks cb;
  duet_http_req *req;
  duet_sse_parser sse;
  char *body;             /* non-streamed response body */
  size_t body_len, body_cap;
  int saw_done;
};

/* Start the request on connection c. path_prefix: "" or e.g. "/api".
 * request: the JSON body (stream flags are set from call->stream). The
 * caller keeps `call` alive until on_done. */
int duet_oai_start(duet_oai_call *call, duet_http_conn *c, const char *path_prefix,
                   const char *api_key, json_t *request, const duet_oai_callbacks *cb);
void duet_oai_cancel(duet_oai_call *call);

/* Monotonic seconds, for timing. */
double duet_now(void);

#endif
