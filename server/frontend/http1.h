#ifndef DUET_FRONTEND_HTTP1_H
#define DUET_FRONTEND_HTTP1_H

/* HTTP/1.1 on one connection, parsed by Node's http_parser (Debian's
 * libhttp-parser): keep-alive, pipelining (responses leave in request
 * order; a request behind a stream waits, with its output staged), chunked
 * streams, and `Upgrade: h2c` handing the connection to HTTP/2. */

#include <stddef.h>

typedef struct duet_conn duet_conn;
typedef struct duet_h1 duet_h1;

duet_h1 *duet_h1_new(duet_conn *c);
/* Aborts and frees every request still on the connection. */
void duet_h1_free(duet_h1 *h);
/* Bytes from the client. Returns < 0 when the connection must close. */
int duet_h1_feed(duet_h1 *h, const char *p, size_t n);
/* The socket's send queue drained: produce more. */
void duet_h1_writable(duet_h1 *h);
/* Continue parsing what was held back while the pipeline was full. */
void duet_h1_resume(duet_h1 *h);
/* No request pending or partially received. */
int duet_h1_idle(const duet_h1 *h);
/* A partial request has been waiting for more bytes. */
int duet_h1_mid_request(const duet_h1 *h);
/* Shutting down: answer what is in flight with Connection: close. */
void duet_h1_drain(duet_h1 *h);

#endif
