#include "server/frontend/drain.h"

#include <signal.h>
#include <stdio.h>

#include "server/frontend/generate.h"
#include "server/frontend/listener.h"

static double deadline;

static void on_backend_closed(void *user) {
  duet_server *s = user;
  s->backend = NULL;
  uv_stop(s->loop);
}

static void finish(duet_server *s) {
  uv_timer_stop(&s->drain_timer);
  duet_conns_close_all(s);
  fprintf(stderr, "duetd: drained, shutting the workers down\n");
  if (s->backend) duet_backend_close(s->backend, on_backend_closed);
  else uv_stop(s->loop);
}

/* Every 50 ms: done when no job is alive, or at the deadline after
 * cancelling what is left (their finishes then arrive and free them). */
static void on_tick(uv_timer_t *t) {
  duet_server *s = t->data;
  duet_conns_drain(s);
  if (s->jobs == 0 || duet_now() > deadline + 5) {
    finish(s);
    return;
  }
  static int cancelled;
  if (duet_now() > deadline && !cancelled) {
    cancelled = 1;
    duet_gen_cancel_all(s);
  }
}

void duet_drain_start(duet_server *s) {
  if (s->draining) {
    deadline = 0; /* second signal: stop waiting */
    return;
  }
  s->draining = 1;
  fprintf(stderr, "duetd: draining (%d jobs in flight, up to %.0f s)\n", s->jobs, s->opts.drain_timeout);
  deadline = duet_now() + s->opts.drain_timeout;
  duet_listener_stop(s);
  duet_conns_drain(s);
  uv_timer_start(&s->drain_timer, on_tick, 0, 50);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)sig;
  duet_drain_start(h->data);
}

void duet_drain_install(duet_server *s) {
  uv_timer_init(s->loop, &s->drain_timer);
  s->drain_timer.data = s;
  uv_signal_init(s->loop, &s->sigterm);
  uv_signal_init(s->loop, &s->sigint);
  s->sigterm.data = s->sigint.data = s;
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
}
