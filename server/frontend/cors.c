#include "server/frontend/cors.h"

#include <string.h>

#include "server/frontend/listener.h"
#include "server/frontend/request.h"

/* How long a browser may reuse a preflight's answer (Chrome caps it at two
 * hours); ten minutes is Starlette's (vLLM's) default. */
#define MAX_AGE "600"

/* What fetch sends to an OpenAI-style API beyond the CORS-safelisted
 * headers, for a preflight that did not list any. */
#define DEFAULT_HEADERS "Authorization, Content-Type"

/* Echoed into our response head: a CR or LF there would split it. Both
 * parsers already refuse them; this does not rely on it. */
static int printable(const char *v) {
  for (; *v; v++)
    if ((unsigned char)*v < ' ' || *v == 0x7f) return 0;
  return 1;
}

int duet_cors_origin_ok(const char *o) { return *o && printable(o) && !strpbrk(o, " ,") ? 0 : -1; }

int duet_cors_headers(const duet_req *r, duet_hdr out[DUET_CORS_MAX]) {
  const char *allowed = r->conn->srv->opts.allowed_origin;
  if (!r->origin || !allowed || !strcmp(allowed, "none")) return 0;
  int n = 0;
  /* Only with Origin, as vLLM: curl and SDK users see no change. No Vary:
   * the value never depends on the Origin sent, and duetd's answers carry
   * no freshness or validators, so no cache keeps one to serve a request
   * with Origin the answer made for one without. */
  out[n++] = (duet_hdr){"access-control-allow-origin", allowed};
  /* the router sets allow on a known route's OPTIONS answer: with
   * Access-Control-Request-Method that answer is a preflight */
  if (!strcmp(r->method, "OPTIONS") && r->acr_method && r->allow && r->status == 200) {
    out[n++] = (duet_hdr){"access-control-allow-methods", r->allow};
    int echo = r->acr_headers && printable(r->acr_headers);
    out[n++] = (duet_hdr){"access-control-allow-headers", echo ? r->acr_headers : DEFAULT_HEADERS};
    out[n++] = (duet_hdr){"access-control-max-age", MAX_AGE};
  }
  return n;
}
