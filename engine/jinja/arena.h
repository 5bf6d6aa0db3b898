#ifndef DUET_JINJA_ARENA_H
#define DUET_JINJA_ARENA_H

/* Bump allocator for the Jinja engine. A parsed template owns one arena (its
 * syntax tree) and every render owns another (its values), so neither needs
 * per-object frees or reference counts: a render that fails half-way simply
 * drops its arena. */

#include <stddef.h>

typedef struct jinja_chunk jinja_chunk;
typedef struct {
  jinja_chunk *head;
  size_t total; /* bytes handed out, to cap a runaway render */
} jinja_arena;

/* Zeroed memory, 16-byte aligned; NULL when out of memory. */
void *jinja_alloc(jinja_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *jinja_strndup(jinja_arena *a, const char *s, size_t n);
void jinja_arena_free(jinja_arena *a);

#endif
