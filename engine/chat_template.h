#ifndef DUET_CHAT_TEMPLATE_H
#define DUET_CHAT_TEMPLATE_H

/* Chat templates: render a conversation to the prompt text a model was
 * trained on, from tokenizer_config.json's `chat_template` (Jinja), exactly
 * as Hugging Face transformers renders it (trim_blocks and lstrip_blocks,
 * tojson without ASCII escaping, raise_exception, strftime_now...).
 *
 * The template is compiled at load: a syntax error or a filter, test,
 * function, method or tag this engine does not implement fails the load
 * with a message naming it, never a request later. Rendering only reads
 * the template, so one loaded template may serve many threads. */

#include <jansson.h>

typedef struct duet_chat_template duet_chat_template;

/* path: a model directory or its tokenizer_config.json. The template is
 * `chat_template` (a string, or a list of {name, template} from which
 * "default" is taken), else a chat_template.jinja file beside it. Special
 * tokens bos/eos/unk/pad may be strings or AddedToken objects.
 * DUET_ENOENT "model has no chat template" when there is none. */
int duet_chat_template_load(const char *path, duet_chat_template **out);

/* From template text; bos_token/eos_token may be NULL (left undefined). */
int duet_chat_template_new(const char *source, const char *bos_token, const char *eos_token,
                           duet_chat_template **out);
void duet_chat_template_free(duet_chat_template *t);

/* messages: a JSON array of {"role": string, "content": ...} objects.
 * *out: malloc'd NUL-terminated text. A template's raise_exception() gives
 * DUET_EINVAL with its message in duet_last_error(). */
int duet_chat_template_render(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                              char **out);
/* Same, plus extra template variables (an object, may be NULL), e.g.
 * {"tools": [...], "enable_thinking": false}. */
int duet_chat_template_render_ex(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                                 const json_t *extra, char **out);
/* Same, with the text's length in *len: a message may hold U+0000 (JSON's
 * \u0000), where strlen would end the text. */
int duet_chat_template_render_n(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                                const json_t *extra, char **out, size_t *len);

/* The special token strings read at load (NULL when absent). */
const char *duet_chat_template_bos(const duet_chat_template *t);
const char *duet_chat_template_eos(const duet_chat_template *t);

#endif
