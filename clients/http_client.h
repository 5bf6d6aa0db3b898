#ifndef DUET_HTTP_CLIENT_H
#define DUET_HTTP_CLIENT_H

/* A small asynchronous HTTP client on libuv for duet's clients: HTTP/2 over
 * cleartext with prior knowledge (nghttp2; many concurrent streams on one
 * connection) or HTTP/1.1 (Debian's http-parser; keep-alive, one request
 * in flight per connection, the rest queued). Enough to talk to any
 * OpenAI-compatible server: duet, vLLM, llama-server.
 *
 * Ownership: a duet_http_conn is created with _connect and released with
 * _close; a request belongs to its connection and lives until its on_done
 * callback has returned. All callbacks run on the loop thread. */

#include <stddef.h>
#include <uv.h>

typedef enum { DUET_HTTP_1 = 1, DUET_HTTP_2 = 2 } duet_http_version;

typedef struct {
  void (*on_status)(int status, void *user);                /* before any data */
  void (*on_data)(const char *buf, size_t len, void *user); /* body bytes, de-chunked */
  /* err 0: complete response; negative DUET_E*: failed or cancelled. */
  void (*on_done)(int err, void *user);
} duet_http_callbacks;

typedef struct duet_http_conn duet_http_conn;
typedef struct duet_http_req duet_http_req;

/* Parse "http://host:port[/prefix]" into host, port and path prefix. */
int duet_http_parse_url(const char *url, char *host, size_t host_cap, int *port, char *prefix,
                        size_t prefix_cap);

/* Start connecting (host is a name or an address; resolution happens
 * here, before any request, so it may block briefly). Requests may be
 * issued at once; they are sent when the connection is up. */
int duet_http_connect(uv_loop_t *loop, const char *host, int port, duet_http_version v,
                      duet_http_conn **out);

/* Issue a request. extra_headers: NULL or a NULL-terminated list of
 * "name", "value" pairs (e.g. {"authorization", "Bearer k", NULL}). body
 * may be NULL for GET. The body is copied. */
int duet_http_request(duet_http_conn *c, const char *method, const char *path,
                      const char *const *extra_headers, const char *body, size_t body_len,
                      const duet_http_callbacks *cb, void *user, duet_http_req **out);

/* Abandon a request: HTTP/2 resets the stream, HTTP/1.1 closes the
 * connection (the only way to stop a response). on_done gets
 * DUET_ECANCELED. */
void duet_http_cancel(duet_http_req *r);

/* Fail every pending request (on_done with DUET_ECLOSED) and free the
 * connection once libuv has closed the socket. */
void duet_http_close(duet_http_conn *c);

#endif
