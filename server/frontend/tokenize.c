#include "server/frontend/tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "server/frontend/chat.h"
#include "server/frontend/completions.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"

/* A boolean body field; absent or null: def. -1 (answered) when not one. */
static int flag(duet_req *r, const json_t *body, const char *key, int def) {
  json_t *v = json_object_get(body, key);
  if (!v || json_is_null(v)) return def;
  if (json_is_boolean(v)) return json_is_true(v);
  duet_req_error(r, 400, "invalid_request_error", key, "'%s' must be true or false", key);
  return -1;
}

/* The text to tokenize (*len bytes) and whether to add the special
 * tokens, or NULL (answered). *owned: the text is malloc'd (rendered
 * messages). */
static const char *tokenize_input(duet_req *r, const json_t *body, int *add_special, char **owned, size_t *len) {
  json_t *prompt = json_object_get(body, "prompt"), *content = json_object_get(body, "content");
  *owned = NULL;
  if (json_object_get(body, "messages")) {
    if ((prompt && !json_is_null(prompt)) || (content && !json_is_null(content))) { /* two texts: a guess */
      duet_req_error(r, 400, "invalid_request_error", "messages", "give either 'messages' or a text, not both");
      return NULL;
    }
    /* the template writes the special tokens itself (as in chat) */
    int gen = flag(r, body, "add_generation_prompt", 1);
    *add_special = gen < 0 ? -1 : flag(r, body, "add_special_tokens", 0);
    if (*add_special < 0 || !(*owned = duet_chat_render(r, body, gen, len))) return NULL;
    return *owned;
  }
  json_t *text = prompt ? prompt : content;
  if (!json_is_string(text)) {
    duet_req_error(r, 400, "invalid_request_error", prompt || !content ? "prompt" : "content",
                   "give the text as a string in 'prompt' (or 'content'), or 'messages'");
    return NULL;
  }
  *add_special = prompt ? flag(r, body, "add_special_tokens", 1) : flag(r, body, "add_special", 0);
  *len = json_string_length(text);
  return *add_special < 0 ? NULL : json_string_value(text);
}

static json_t *pieces(const duet_server *s, const int *ids, int n) {
  json_t *out = json_array();
  for (int i = 0; i < n; i++) {
    char *b = NULL;
    size_t len = 0;
    if (duet_tokenizer_token_bytes(s->tok, ids[i], &b, &len) < 0) len = 0;
    json_t *piece = json_stringn(b ? b : "", len);
    if (!piece) { /* a piece of a character: its bytes, as llama-server gives them */
      piece = json_array();
      for (size_t k = 0; k < len; k++) json_array_append_new(piece, json_integer((unsigned char)b[k]));
    }
    json_array_append_new(out, json_pack("{s:i,s:o}", "id", ids[i], "piece", piece));
    free(b);
  }
  return out;
}

void duet_tokenize(duet_req *r) {
  duet_server *s = r->conn->srv;
  json_t *body = duet_api_body(r);
  if (!body) return;
  int add_special = 0, *ids = NULL, n = 0, with_pieces = flag(r, body, "with_pieces", 0);
  char *owned = NULL;
  size_t len = 0;
  const char *text = with_pieces < 0 ? NULL : tokenize_input(r, body, &add_special, &owned, &len);
  if (text && duet_tokenizer_encode(s->tok, text, len, add_special, &ids, &n) < 0) {
    duet_req_error(r, 400, "invalid_request_error", NULL, "cannot tokenize: %s", duet_last_error());
  } else if (text) {
    json_t *toks = json_array();
    if (with_pieces) json_decref(toks), toks = pieces(s, ids, n);
    else
      for (int i = 0; i < n; i++) json_array_append_new(toks, json_integer(ids[i]));
    duet_req_json(r, 200, json_pack("{s:i,s:i,s:o}", "count", n, "max_model_len", s->ctx_len, "tokens", toks));
  }
  free(ids);
  free(owned);
  json_decref(body);
}

void duet_detokenize(duet_req *r) {
  duet_server *s = r->conn->srv;
  json_t *body = duet_api_body(r);
  if (!body) return;
  json_t *tokens = json_object_get(body, "tokens"), *v;
  size_t n = json_array_size(tokens), i;
  int *ids = malloc((n ? n : 1) * sizeof *ids), ok = json_is_array(tokens) && ids && n <= (1u << 24);
  json_array_foreach(tokens, i, v) {
    ok = ok && json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < s->vocab;
    if (ok) ids[i] = (int)json_integer_value(v);
  }
  char *text = NULL;
  size_t len = 0;
  if (!ok) {
    duet_req_error(r, 400, "invalid_request_error", "tokens", "'tokens' must be a list of token ids in [0, %d)",
                   s->vocab);
  } else if (duet_tokenizer_decode(s->tok, ids, (int)n, 0, &text, &len) < 0) {
    duet_req_error(r, 400, "invalid_request_error", "tokens", "cannot detokenize: %s", duet_last_error());
  } else {
    json_t *t = json_stringn(text, len);
    if (!t) t = json_string("\xEF\xBF\xBD"); /* the decoder is lossy: never, kept as a guard */
    duet_req_json(r, 200, json_pack("{s:O,s:o}", "prompt", t, "content", t));
  }
  free(text);
  free(ids);
  json_decref(body);
}
