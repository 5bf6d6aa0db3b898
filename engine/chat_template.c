#include "engine/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/jinja/template.h"
#include "engine/read_file.h"

static const char *const SPECIALS[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
enum { NSPECIAL = 4 };

struct duet_chat_template {
  jinja_template *tpl;
  char *special[NSPECIAL]; /* NULL when the config has none */
};

void duet_chat_template_free(duet_chat_template *t) {
  if (!t) return;
  jinja_template_free(t->tpl);
  for (int k = 0; k < NSPECIAL; k++) free(t->special[k]);
  free(t);
}

static int compile(duet_chat_template *t, const char *src, const char *where) {
  int rc = jinja_template_compile(src, strlen(src), &t->tpl);
  if (rc < 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", duet_last_error());
    return duet_error(rc, "%s: %s", where, msg);
  }
  return DUET_OK;
}

int duet_chat_template_new(const char *source, const char *bos_token, const char *eos_token,
                           duet_chat_template **out) {
  *out = NULL;
  if (!source) return duet_error(DUET_EINVAL, "chat template: no template text");
  duet_chat_template *t = calloc(1, sizeof *t);
  if (!t) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  if ((bos_token && !(t->special[0] = strdup(bos_token))) || (eos_token && !(t->special[1] = strdup(eos_token)))) {
    duet_chat_template_free(t);
    return duet_error(DUET_ENOMEM, "chat template: out of memory");
  }
  int rc = compile(t, source, "chat template");
  if (rc < 0) {
    duet_chat_template_free(t);
    return rc;
  }
  *out = t;
  return DUET_OK;
}

/* A special token is "text" or an AddedToken {"content": "text", ...}. */
static const char *token_text(const json_t *v) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
    return json_string_value(json_object_get(v, "content"));
  return NULL;
}

/* The template text from the config (malloc'd copy in *src), or the
 * chat_template.jinja file next to it. */
static int find_source(const json_t *cfg, const char *cfg_path, char **src) {
  const json_t *ct = json_object_get(cfg, "chat_template");
  if (json_is_string(ct)) return (*src = strdup(json_string_value(ct))) ? DUET_OK : DUET_ENOMEM;
  if (json_is_array(ct)) {
    size_t i;
    json_t *e;
    json_array_foreach(ct, i, e) {
      const char *name = json_string_value(json_object_get(e, "name"));
      const char *text = json_string_value(json_object_get(e, "template"));
      if (name && text && !strcmp(name, "default")) return (*src = strdup(text)) ? DUET_OK : DUET_ENOMEM;
    }
    return duet_error(DUET_EFORMAT, "%s: chat_template is a list without a \"default\" template", cfg_path);
  }
  if (ct && !json_is_null(ct)) return duet_error(DUET_EFORMAT, "%s: chat_template must be a string or a list", cfg_path);
  char jpath[4096];
  const char *slash = strrchr(cfg_path, '/');
  int dirlen = slash ? (int)(slash - cfg_path) : 1;
  snprintf(jpath, sizeof jpath, "%.*s/chat_template.jinja", dirlen, slash ? cfg_path : ".");
  size_t n;
  int rc = duet_read_file(jpath, src, &n);
  if (rc == DUET_ENOENT) return duet_error(DUET_ENOENT, "model has no chat template (%s has no chat_template)", cfg_path);
  return rc;
}

int duet_chat_template_load(const char *path, duet_chat_template **out) {
  *out = NULL;
  char cfg_path[4096];
  struct stat st;
  if (stat(path, &st) < 0) return duet_error(DUET_ENOENT, "%s: no such file or directory", path);
  snprintf(cfg_path, sizeof cfg_path, S_ISDIR(st.st_mode) ? "%s/tokenizer_config.json" : "%s", path);
  json_error_t jerr;
  /* model_max_length is often 1e30, too big for an integer: read as real */
  json_t *cfg = json_load_file(cfg_path, JSON_DECODE_INT_AS_REAL, &jerr);
  if (!cfg) return duet_error(DUET_EFORMAT, "%s: %s (line %d)", cfg_path, jerr.text, jerr.line);
  if (!json_is_object(cfg)) {
    json_decref(cfg);
    return duet_error(DUET_EFORMAT, "%s: not a JSON object", cfg_path);
  }
  char *src = NULL;
  duet_chat_template *t = calloc(1, sizeof *t);
  int rc = t ? find_source(cfg, cfg_path, &src) : DUET_ENOMEM;
  for (int k = 0; rc == DUET_OK && k < NSPECIAL; k++) {
    const char *tok = token_text(json_object_get(cfg, SPECIALS[k]));
    if (tok && !(t->special[k] = strdup(tok))) rc = DUET_ENOMEM;
  }
  if (rc == DUET_OK) rc = compile(t, src, cfg_path);
  if (rc == DUET_ENOMEM) duet_error(rc, "%s: out of memory", cfg_path);
  free(src);
  json_decref(cfg);
  if (rc < 0) {
    duet_chat_template_free(t);
    return rc;
  }
  *out = t;
  return DUET_OK;
}

static int check_messages(const json_t *messages) {
  if (!json_is_array(messages)) return duet_error(DUET_EINVAL, "chat template: messages must be an array");
  size_t i;
  json_t *m;
  json_array_foreach(messages, i, m) {
    if (!json_is_object(m)) return duet_error(DUET_EINVAL, "chat template: messages[%zu] is not an object", i);
    if (!json_is_string(json_object_get(m, "role")))
      return duet_error(DUET_EINVAL, "chat template: messages[%zu] has no string \"role\"", i);
  }
  return DUET_OK;
}

int duet_chat_template_render_ex(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                                 const json_t *extra, char **out) {
  return duet_chat_template_render_n(t, messages, add_generation_prompt, extra, out, NULL);
}

int duet_chat_template_render_n(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                                const json_t *extra, char **out, size_t *len) {
  *out = NULL;
  int rc = check_messages(messages);
  if (rc < 0) return rc;
  if (extra && !json_is_object(extra)) return duet_error(DUET_EINVAL, "chat template: extra variables must be an object");
  json_t *vars = json_object();
  if (!vars) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  rc = json_object_set(vars, "messages", (json_t *)messages);
  rc |= json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
  for (int k = 0; k < NSPECIAL; k++)
    if (t->special[k]) rc |= json_object_set_new(vars, SPECIALS[k], json_string(t->special[k]));
  if (extra) rc |= json_object_update(vars, (json_t *)extra);
  if (rc) {
    json_decref(vars);
    return duet_error(DUET_ENOMEM, "chat template: out of memory");
  }
  rc = jinja_template_render(t->tpl, vars, out, len);
  json_decref(vars);
  return rc;
}

int duet_chat_template_render(const duet_chat_template *t, const json_t *messages, int add_generation_prompt,
                              char **out) {
  return duet_chat_template_render_ex(t, messages, add_generation_prompt, NULL, out);
}

const char *duet_chat_template_bos(const duet_chat_template *t) { return t->special[0]; }
const char *duet_chat_template_eos(const duet_chat_template *t) { return t->special[1]; }
