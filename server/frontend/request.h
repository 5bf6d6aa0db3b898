#ifndef DUET_FRONTEND_REQUEST_H
#define DUET_FRONTEND_REQUEST_H

/* One HTTP request and its response, the same for HTTP/1.1 and HTTP/2: the
 * transports fill in the request (method, path, a few headers, the body) and
 * implement three response operations; handlers only see this.
 *
 * Lifetime: the transport owns a duet_req. A handler may keep a pointer to
 * it until it calls duet_req_end() (or a helper that ends the response), or
 * until the transport calls on_abort (the client went away: the request is
 * freed right after). After either, the handler must not touch it. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct duet_conn duet_conn;
typedef struct duet_req duet_req;

typedef struct {
  /* content_length < 0: a stream (chunked on HTTP/1.1, DATA frames on 2) */
  void (*head)(duet_req *r, int status, const char *ctype, int retry_after, long long content_length);
  void (*body)(duet_req *r, const char *data, size_t len);
  void (*end)(duet_req *r);
} duet_req_transport;

struct duet_req {
  duet_conn *conn;
  const duet_req_transport *tp;
  char method[12];
  char *path;       /* as sent, query included */
  char *auth;       /* Authorization header, or NULL */
  char *origin;     /* Origin, or NULL (CORS) */
  char *acr_method; /* Access-Control-Request-Method (a preflight) */
  char *acr_headers; /* Access-Control-Request-Headers */
  char *body;
  size_t body_len, body_cap;
  long long content_length; /* -1 when absent */
  int body_too_big;
  size_t hdr_bytes;
  int reject_status;  /* transport found the request bad: answer this */
  int status;       /* set by head() */
  const char *allow; /* static; sent as Allow (405 and OPTIONS answers) */
  int headed, ended;
  int received;     /* the whole request is in (HTTP/2: END_STREAM seen) */
  double t_start;   /* seconds, loop clock */
  /* handler state */
  void (*on_abort)(duet_req *r);
  void *handler;
  /* transport state */
  int32_t stream_id;      /* HTTP/2 */
  char *out;              /* bytes produced and not yet handed to the socket */
  size_t out_len, out_cap, out_off;
  int chunked, keep_alive;
  int http10;             /* an HTTP/1.0 request: no chunked responses */
  duet_req *next;         /* HTTP/1.1 pipeline order */
};

duet_req *duet_req_new(duet_conn *c, const duet_req_transport *tp);
/* Frees the request; calls on_abort first if the response never ended. */
void duet_req_free(duet_req *r);
int duet_req_append_body(duet_req *r, const char *p, size_t n, size_t limit);
int duet_req_set_str(char **dst, const char *p, size_t n); /* copy, NUL-terminated */
/* A header field both transports read the same way (Authorization, the
 * CORS ones); name lower-cased. Others are ignored. */
void duet_req_header(duet_req *r, const char *name, size_t nlen, const char *v, size_t vlen);
/* Output staging used by both transports. */
int duet_req_out_append(duet_req *r, const char *p, size_t n);
void duet_req_out_consume(duet_req *r, size_t n);
static inline size_t duet_req_out_pending(const duet_req *r) { return r->out_len - r->out_off; }
static inline int duet_req_is_head(const duet_req *r) { return !strcmp(r->method, "HEAD"); }

/* Whole responses. */
void duet_req_respond(duet_req *r, int status, const char *ctype, const char *body, size_t len,
                      int retry_after);
void duet_req_json(duet_req *r, int status, json_t *j); /* steals j */
/* OpenAI's error shape {"error":{"message","type","param","code"}}. param
 * may be NULL; code NULL means the status number. */
void duet_req_error(duet_req *r, int status, const char *type, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 429/503 with Retry-After. */
void duet_req_busy(duet_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Server-sent events. */
void duet_req_sse_begin(duet_req *r);
void duet_req_sse_json(duet_req *r, json_t *j); /* steals j; one "data: ...\n\n" event */
void duet_req_sse_done(duet_req *r);            /* "data: [DONE]" and end */
void duet_req_end(duet_req *r);

/* The error object alone (for an SSE error event). */
json_t *duet_error_json(const char *type, const char *param, int code, const char *msg);

#endif
