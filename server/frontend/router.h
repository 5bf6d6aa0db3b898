#ifndef DUET_FRONTEND_ROUTER_H
#define DUET_FRONTEND_ROUTER_H

/* Maps a complete request to its handler: method and path (404 unknown
 * path, 405 wrong method), the API key for /v1/, and 503 while draining.
 * Also the small handlers: /health, /metrics, /v1/models. */

typedef struct duet_req duet_req;

void duet_route(duet_req *r);

#endif
