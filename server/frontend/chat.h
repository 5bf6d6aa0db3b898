#ifndef DUET_FRONTEND_CHAT_H
#define DUET_FRONTEND_CHAT_H

/* POST /v1/chat/completions: messages rendered by the model's chat
 * template (with the generation prompt), tokenized, then generated like a
 * completion; answers in the chat shapes (role in the first streamed
 * delta, finish_reason null until the last). */

#include <jansson.h>

typedef struct duet_req duet_req;
typedef struct duet_server duet_server;

void duet_chat_completions(duet_req *r);
/* body's messages through the chat template (malloc'd text, *len bytes:
 * it may hold a U+0000 of the messages), or NULL with r answered (400). */
char *duet_chat_render(duet_req *r, const json_t *body, int add_generation_prompt, size_t *len);
/* Loads the model's chat template into s->tmpl (DUET_ENOENT when it has
 * none: chat requests then get a 400 saying so). */
int duet_chat_load(duet_server *s);
void duet_chat_unload(duet_server *s);

#endif
