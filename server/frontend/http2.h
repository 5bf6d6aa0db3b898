#ifndef DUET_FRONTEND_HTTP2_H
#define DUET_FRONTEND_HTTP2_H

/* HTTP/2 on one connection, framed by nghttp2: prior knowledge or an
 * upgrade from HTTP/1.1 (the upgraded request becomes stream 1). Responses
 * stream through a data provider that defers when a request has nothing
 * ready and resumes when it has; frames go out only while the socket's
 * send queue is short, which is how flow control and slow readers stay
 * bounded. A client RST_STREAM aborts its request (the generation is
 * cancelled). */

#include <stddef.h>

typedef struct duet_conn duet_conn;
typedef struct duet_h2 duet_h2;
typedef struct duet_req duet_req;

/* upgraded: the HTTP/1.1 request that asked for h2c (becomes stream 1,
 * now owned by the session), with its HTTP2-Settings payload (decoded). */
int duet_h2_new(duet_conn *c, duet_req *upgraded, const unsigned char *settings, size_t settings_len,
                duet_h2 **out);
void duet_h2_free(duet_h2 *h);
int duet_h2_feed(duet_h2 *h, const char *p, size_t n);
/* Sends what nghttp2 has queued while the socket can take it. Returns < 0
 * when the session is over and the connection should close. */
int duet_h2_flush(duet_h2 *h);
int duet_h2_idle(const duet_h2 *h);
/* A stream has begun and its request is not complete yet. */
int duet_h2_mid_request(const duet_h2 *h);
void duet_h2_drain(duet_h2 *h);
/* A GOAWAY (NO_ERROR) naming the last stream taken, then the connection
 * closes once it is out: a client sees why, and retries what came later. */
void duet_h2_goaway(duet_h2 *h);
/* The dispatcher: run the router once the request is complete. */
void duet_h2_start_upgraded(duet_h2 *h);

#endif
