#ifndef DUET_FRONTEND_DRAIN_H
#define DUET_FRONTEND_DRAIN_H

/* SIGTERM and SIGINT: stop accepting, let in-flight requests finish (idle
 * connections close at once; HTTP/1.1 answers with Connection: close,
 * HTTP/2 sends GOAWAY), cancel whatever is left at --drain-timeout, shut
 * the workers down, and stop the loop with exit code 0. A second signal
 * skips the wait. */

#include "server/frontend/server.h"

void duet_drain_install(duet_server *s);
void duet_drain_start(duet_server *s);

#endif
