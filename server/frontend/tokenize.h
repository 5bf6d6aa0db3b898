#ifndef DUET_FRONTEND_TOKENIZE_H
#define DUET_FRONTEND_TOKENIZE_H

/* POST /tokenize and /detokenize, in both shapes clients use:
 *   vLLM:         {"prompt": "..."} or {"messages": [...]}, add_special_tokens
 *                 (default true; messages: add_generation_prompt, default
 *                 true) -> {"count", "max_model_len", "tokens"};
 *                 {"tokens": [...]} -> {"prompt": "..."}
 *   llama-server: {"content": "...", "add_special" (default false),
 *                 "with_pieces"} -> {"tokens": [ids or {"id", "piece"}]};
 *                 {"tokens": [...]} -> {"content": "..."}
 * A detokenize answer carries both "prompt" and "content". */

typedef struct duet_req duet_req;

void duet_tokenize(duet_req *r);
void duet_detokenize(duet_req *r);

#endif
