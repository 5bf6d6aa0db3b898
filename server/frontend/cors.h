#ifndef DUET_FRONTEND_CORS_H
#define DUET_FRONTEND_CORS_H

/* CORS, so browser clients (web UIs calling /v1/chat/completions with
 * fetch) can read duetd's answers, as vLLM and llama.cpp's server allow by
 * default. A request with Origin gets Access-Control-Allow-Origin (the
 * --allowed-origin value, "*" unless set) on every response, errors and
 * streams included; a preflight (OPTIONS with Origin and
 * Access-Control-Request-Method on a known route) also gets the route's
 * methods, the headers asked for, and how long to cache the answer. No
 * credentials: with "*" a browser would refuse them anyway. */

typedef struct duet_req duet_req;

typedef struct {
  const char *name;  /* lower case: HTTP/2 requires it, HTTP/1.1 ignores case */
  const char *value;
} duet_hdr;

#define DUET_CORS_MAX 4

/* The CORS header fields for r's response (none without Origin or with
 * --allowed-origin none). Values point into r and the options; valid until
 * r is freed. Returns how many were written to out. */
int duet_cors_headers(const duet_req *r, duet_hdr out[DUET_CORS_MAX]);

/* --allowed-origin's value is sent as is: "*", "none", or one origin
 * (scheme://host[:port]) with no spaces, commas or control characters.
 * Returns 0 when acceptable. */
int duet_cors_origin_ok(const char *origin);

#endif
