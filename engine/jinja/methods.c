#include "engine/jinja/methods.h"

#include <locale.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <wctype.h>

#include "engine/error.h"
#include "engine/jinja/case_special.h"

static locale_t utf8_locale;
static pthread_once_t locale_once = PTHREAD_ONCE_INIT;
static void init_locale(void) { utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

static unsigned map_case(unsigned cp, int upper) {
  pthread_once(&locale_once, init_locale);
  if (utf8_locale) return upper ? (unsigned)towupper_l((wint_t)cp, utf8_locale) : (unsigned)towlower_l((wint_t)cp, utf8_locale);
  if (cp < 0x80) return upper ? (unsigned)(cp >= 'a' && cp <= 'z' ? cp - 32 : cp) : (unsigned)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
  return cp;
}

static int is_alpha(unsigned cp) {
  pthread_once(&locale_once, init_locale);
  if (utf8_locale) return iswalpha_l((wint_t)cp, utf8_locale);
  return (cp | 32) >= 'a' && (cp | 32) <= 'z';
}

// The mapping of cp in a sorted table, or NULL.
static const char *special(const jinja_case_entry *t, int n, unsigned cp) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (t[mid].cp == cp) return t[mid].utf8;
    if (t[mid].cp < cp) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

static int is_cased(unsigned cp) { return is_alpha(cp) && (map_case(cp, 1) != cp || map_case(cp, 0) != cp); }

/* Unicode's Case_Ignorable, the part that occurs in text: combining
 * accents, apostrophes, the soft hyphen and a few punctuation marks. */
static int is_case_ignorable(unsigned cp) {
  return (cp >= 0x300 && cp < 0x370) || cp == 0xAD || cp == 0xB7 || cp == 0x2019 || (cp && cp < 0x80 && strchr("'.:^`", (int)cp));
}

/* Python's final sigma: a capital sigma at s[i] lowers to U+03C2 when a
 * cased letter comes before it and none after (case-ignorables skipped). */
static int final_sigma(const jinja_value *s, size_t i, size_t l) {
  int before = 0, after = 0;
  for (size_t j = i; j > 0 && !before;) {
    size_t k = j - 1;
    while (k > 0 && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--;
    unsigned cp;
    int ok;
    jinja_utf8_next(s->s, s->len, k, &cp, &ok);
    if (!is_case_ignorable(cp)) before = is_cased(cp) ? 1 : -1;
    j = k;
  }
  for (size_t j = i + l; j < s->len && !after;) {
    unsigned cp;
    int ok;
    j += jinja_utf8_next(s->s, s->len, j, &cp, &ok);
    if (!is_case_ignorable(cp)) after = is_cased(cp) ? 1 : -1;
  }
  return before == 1 && after != 1;
}

enum { TO_LOWER, TO_UPPER, TO_TITLE };

/* cp (at s[i], l bytes) mapped as Python maps it: the special tables
 * first (several characters, or title case), then the locale. */
static void put_mapped(jinja_buf *b, const jinja_value *s, size_t i, size_t l, unsigned cp, int to) {
  const char *sp = to == TO_LOWER ? special(jinja_lower_special, jinja_lower_special_n, cp) : NULL;
  if (to == TO_TITLE) sp = special(jinja_title_special, jinja_title_special_n, cp);
  if (!sp && to != TO_LOWER) sp = special(jinja_upper_special, jinja_upper_special_n, cp);
  if (sp) jinja_buf_put(b, sp, strlen(sp));
  else if (to == TO_LOWER && cp == 0x3A3 && final_sigma(s, i, l)) jinja_buf_put_cp(b, 0x3C2);
  else jinja_buf_put_cp(b, map_case(cp, to != TO_LOWER));
}

jinja_value *jinja_str_case(jinja_arena *a, const jinja_value *s, jinja_case mode) {
  jinja_buf b = {0};
  int prev_alpha = 0, prev_sep = 1, first = 1;
  for (size_t i = 0; i < s->len;) {
    unsigned cp;
    int ok;
    size_t l = jinja_utf8_next(s->s, s->len, i, &cp, &ok);
    if (!ok) {
      jinja_buf_put(&b, s->s + i, l);
    } else {
      /* str.title() and capitalize() start a word in title case, Jinja's
       * |title (item[0].upper()) and upper() in upper case */
      int to = mode == JCASE_UPPER || (mode == JCASE_TITLE_FILTER && prev_sep)              ? TO_UPPER
               : (mode == JCASE_TITLE && !prev_alpha) || (mode == JCASE_CAPITALIZE && first) ? TO_TITLE
                                                                                           : TO_LOWER;
      put_mapped(&b, s, i, l, cp, to);
      prev_alpha = is_alpha(cp);
      prev_sep = jinja_is_space(cp) || (cp < 0x80 && strchr("-({[<", (int)cp));
    }
    first = 0;
    i += l;
  }
  return jv_from_buf(a, &b);
}

static int in_chars(unsigned cp, const jinja_value *chars) {
  if (!chars) return jinja_is_space(cp);
  for (size_t i = 0; i < chars->len;) {
    unsigned c;
    int ok;
    i += jinja_utf8_next(chars->s, chars->len, i, &c, &ok);
    if (c == cp) return 1;
  }
  return 0;
}

jinja_value *jinja_str_strip(jinja_arena *a, const jinja_value *s, const jinja_value *chars, int left, int right) {
  if (chars && chars->type != JV_STR) chars = NULL;
  size_t begin = 0, end = s->len;
  while (left && begin < end) {
    unsigned cp;
    int ok;
    size_t l = jinja_utf8_next(s->s, end, begin, &cp, &ok);
    if (!ok || !in_chars(cp, chars)) break;
    begin += l;
  }
  while (right && end > begin) {
    size_t st = end - 1;
    while (st > begin && ((unsigned char)s->s[st] & 0xC0) == 0x80) st--;
    unsigned cp;
    int ok;
    size_t l = jinja_utf8_next(s->s, end, st, &cp, &ok);
    if (!ok || st + l != end || !in_chars(cp, chars)) break;
    end = st;
  }
  return jv_str(a, s->s + begin, end - begin);
}

jinja_value *jinja_str_replace(jinja_arena *a, const jinja_value *s, const jinja_value *old, const jinja_value *rep,
                               long long count) {
  jinja_buf b = {0};
  size_t i = 0;
  long long done = 0;
  while (i <= s->len) {
    const char *hit = NULL;
    if (count < 0 || done < count) {
      if (!old->len) hit = s->s + i;
      else hit = memmem(s->s + i, s->len - i, old->s, old->len);
    }
    if (!hit) break;
    size_t at = (size_t)(hit - s->s);
    jinja_buf_put(&b, s->s + i, at - i);
    jinja_buf_put(&b, rep->s, rep->len);
    done++;
    if (old->len) {
      i = at + old->len;
    } else { /* empty pattern: insert before every code point and at the end */
      if (at == s->len) {
        i = s->len + 1;
        break;
      }
      size_t l = 1;
      while (at + l < s->len && ((unsigned char)s->s[at + l] & 0xC0) == 0x80) l++;
      jinja_buf_put(&b, s->s + at, l);
      i = at + l;
    }
  }
  if (i < s->len) jinja_buf_put(&b, s->s + i, s->len - i);
  return jv_from_buf(a, &b);
}

static jinja_value *str_split(jinja_arena *a, const jinja_value *s, const jinja_args *args) {
  jinja_value *sep = jinja_arg(args, 0, "sep"), *maxv = jinja_arg(args, 1, "maxsplit");
  long long max = maxv && maxv->type == JV_INT ? maxv->i : -1;
  jinja_value *out = jv_new(a, JV_LIST);
  if (!out) return NULL;
  if (sep && sep->type == JV_STR) {
    if (!sep->len) return jinja_fail(args->line, "split(): empty separator");
    size_t i = 0;
    for (;;) {
      const char *hit = (max < 0 || out->n < max) ? memmem(s->s + i, s->len - i, sep->s, sep->len) : NULL;
      size_t end = hit ? (size_t)(hit - s->s) : s->len;
      jinja_value *part = jv_str(a, s->s + i, end - i);
      if (!part || jv_push(a, out, part) < 0) return NULL;
      if (!hit) return out;
      i = end + sep->len;
    }
  }
  /* No separator: runs of whitespace split, no empty parts. */
  size_t i = 0;
  while (i < s->len) {
    unsigned cp;
    int ok;
    size_t l = jinja_utf8_next(s->s, s->len, i, &cp, &ok);
    if (ok && jinja_is_space(cp)) {
      i += l;
      continue;
    }
    size_t j = i;
    if (max >= 0 && out->n >= max) {
      jinja_value *rest = jinja_str_strip(a, &(jinja_value){.type = JV_STR, .s = s->s + i, .len = s->len - i}, NULL, 0, 1);
      return rest && jv_push(a, out, rest) == DUET_OK ? out : NULL;
    }
    while (j < s->len) {
      l = jinja_utf8_next(s->s, s->len, j, &cp, &ok);
      if (ok && jinja_is_space(cp)) break;
      j += l;
    }
    jinja_value *part = jv_str(a, s->s + i, j - i);
    if (!part || jv_push(a, out, part) < 0) return NULL;
    i = j;
  }
  return out;
}

static int affix_match(const jinja_value *s, const jinja_value *p, int suffix) {
  if (p->type != JV_STR || p->len > s->len) return 0;
  return !memcmp(s->s + (suffix ? s->len - p->len : 0), p->s, p->len);
}

static jinja_value *str_affix(const jinja_value *s, const jinja_args *args, int suffix) {
  jinja_value *p = jinja_arg(args, 0, NULL);
  if (!p || (p->type != JV_STR && p->type != JV_LIST))
    return jinja_fail(args->line, "%s() needs a string or a tuple of strings", suffix ? "endswith" : "startswith");
  if (p->type == JV_STR) return jv_bool(affix_match(s, p, suffix));
  for (int k = 0; k < p->n; k++)
    if (affix_match(s, p->items[k], suffix)) return &jinja_true;
  return &jinja_false;
}

static jinja_value *str_method(jinja_arena *a, jinja_value *s, const char *name, const jinja_args *args) {
  jinja_value *a0 = jinja_arg(args, 0, NULL);
  if (!strcmp(name, "strip")) return jinja_str_strip(a, s, a0, 1, 1);
  if (!strcmp(name, "lstrip")) return jinja_str_strip(a, s, a0, 1, 0);
  if (!strcmp(name, "rstrip")) return jinja_str_strip(a, s, a0, 0, 1);
  if (!strcmp(name, "upper")) return jinja_str_case(a, s, JCASE_UPPER);
  if (!strcmp(name, "lower")) return jinja_str_case(a, s, JCASE_LOWER);
  if (!strcmp(name, "title")) return jinja_str_case(a, s, JCASE_TITLE);
  if (!strcmp(name, "capitalize")) return jinja_str_case(a, s, JCASE_CAPITALIZE);
  if (!strcmp(name, "split")) return str_split(a, s, args);
  if (!strcmp(name, "startswith")) return str_affix(s, args, 0);
  if (!strcmp(name, "endswith")) return str_affix(s, args, 1);
  if (!strcmp(name, "join")) { /* sep.join(strings) */
    if (!a0 || a0->type != JV_LIST) return jinja_fail(args->line, "join() needs a list of strings");
    jinja_buf b = {0};
    for (int k = 0; k < a0->n; k++) {
      if (a0->items[k]->type != JV_STR) {
        free(b.p);
        return jinja_fail(args->line, "join(): item %d is %s, not a string", k, jv_type_name(a0->items[k]));
      }
      if (k) jinja_buf_put(&b, s->s, s->len);
      jinja_buf_put(&b, a0->items[k]->s, a0->items[k]->len);
    }
    return jv_from_buf(a, &b);
  }
  if (!strcmp(name, "replace")) {
    jinja_value *old = a0, *rep = jinja_arg(args, 1, NULL), *cnt = jinja_arg(args, 2, "count");
    if (!old || !rep || old->type != JV_STR || rep->type != JV_STR)
      return jinja_fail(args->line, "replace() needs two strings");
    return jinja_str_replace(a, s, old, rep, cnt && cnt->type == JV_INT ? cnt->i : -1);
  }
  return jinja_fail(args->line, "string has no method '%s'", name);
}

static jinja_value *dict_method(jinja_arena *a, jinja_value *d, const char *name, const jinja_args *args) {
  if (!strcmp(name, "get")) {
    jinja_value *k = jinja_arg(args, 0, NULL), *def = jinja_arg(args, 1, NULL);
    jinja_value *v = k && k->type == JV_STR ? jv_dict_get(d, k->s, k->len) : NULL;
    return v ? v : def ? def : &jinja_none;
  }
  int which = !strcmp(name, "items") ? 0 : !strcmp(name, "keys") ? 1 : !strcmp(name, "values") ? 2 : -1;
  if (which < 0) return jinja_fail(args->line, "dict has no method '%s'", name);
  jinja_value *out = jv_new(a, JV_LIST);
  for (int k = 0; out && k < d->n; k++) {
    jinja_value *item = which == 1 ? d->keys[k] : which == 2 ? d->items[k] : jv_new(a, JV_LIST);
    if (!item) return NULL;
    if (which == 0 && (jv_push(a, item, d->keys[k]) < 0 || jv_push(a, item, d->items[k]) < 0)) return NULL;
    if (jv_push(a, out, item) < 0) return NULL;
  }
  return out;
}

static const char *const METHODS[] = {"strip",   "lstrip",     "rstrip",  "upper",    "lower", "title",
                                      "capitalize", "split", "startswith", "endswith", "replace", "get",
                                      "items",   "keys",       "values",  "join", NULL};

int jinja_method_exists(const char *name) { return jinja_name_in(METHODS, name); }

jinja_value *jinja_method(jinja_arena *a, jinja_value *obj, const char *name, const jinja_args *args) {
  if (obj->type == JV_STR) return str_method(a, obj, name, args);
  if (obj->type == JV_DICT) return dict_method(a, obj, name, args);
  if (obj->type == JV_UNDEF)
    return jinja_fail(args->line, "'%s' is undefined (calling .%s())", obj->s ? obj->s : "value", name);
  return jinja_fail(args->line, "%s has no method '%s'", jv_type_name(obj), name);
}
