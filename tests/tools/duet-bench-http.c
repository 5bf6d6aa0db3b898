/* duet-bench-http: the front end's own speed, beside a reference server in
 * the same run.
 *   1. GET /health under `h2load -n N -c 50 -m 20` against duetd, and
 *      against nghttpd (Debian's nghttp2-server) serving a small static file
 *      under the same load; prints both req/s and the ratio (target >= 70%).
 *   2. Per streamed token, the front end's time from the backend's token
 *      callback to the bytes handed to the socket (duetd measures it and
 *      reports quantiles in /metrics as duet_token_overhead_seconds), under
 *      a streaming load; target median < 50 us.
 *   3. This machine's sgemm peak and memory bandwidth (engine/machine_peak.h).
 * usage: duet-bench-http --model DIR [--duetd PATH] [--requests N]
 *        [--json FILE] [--no-peak]
 * The model must have a tokenizer (tests/integration/http_model.py adds a
 * byte-level one to a fixture model). */

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/cli_number.h"
#include "engine/error.h"
#include "engine/machine_peak.h"

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static pid_t spawn(char *const argv[], const char *log) {
  pid_t p = fork();
  if (p == 0) {
    FILE *f = freopen(log, "w", stderr);
    (void)f;
    if (!freopen("/dev/null", "w", stdout)) _exit(127);
    execvp(argv[0], argv);
    _exit(127);
  }
  return p;
}

/* Runs a shell command and returns its whole stdout (malloc'd). */
static char *run(const char *cmd) {
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  size_t n;
  while (out && (n = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (len + 1 >= cap) {
      char *q = realloc(out, cap *= 2);
      if (!q) break;
      out = q;
    }
  }
  pclose(p);
  if (out) out[len] = 0;
  return out;
}

static int wait_ready(const char *url) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' --max-time 1 --http2-prior-knowledge %s", url);
  for (int i = 0; i < 300; i++) {
    char *o = run(cmd);
    int ok = o && !strcmp(o, "200");
    free(o);
    if (ok) return 0;
    usleep(100000);
  }
  return -1;
}

/* req/s of an h2load run, or -1 when not every request succeeded. */
static double h2load(const char *args, const char *url, int n) {
  char cmd[1024], want[64];
  snprintf(cmd, sizeof cmd, "h2load %s %s 2>&1", args, url);
  char *o = run(cmd);
  double rps = -1;
  snprintf(want, sizeof want, "%d succeeded, 0 failed", n);
  const char *f = o ? strstr(o, "finished in ") : NULL;
  if (f && strstr(o, want)) {
    const char *c = strchr(f, ',');
    if (c) rps = atof(c + 1);
  } else {
    fprintf(stderr, "h2load %s failed:\n%s\n", url, o ? o : "(no output)");
  }
  free(o);
  return rps;
}

static double metric(int port, const char *sample) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "curl -s --max-time 5 http://127.0.0.1:%d/metrics", port);
  char *o = run(cmd);
  const char *p = o ? strstr(o, sample) : NULL;
  double v = p ? atof(p + strlen(sample)) : -1;
  free(o);
  return v;
}

static int write_text(const char *dir, const char *name, const char *text, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

typedef struct {
  int n;
  double nghttpd_rps, duetd_rps, stream_rps, med, p99, events;
  duet_machine_peak mp;
} results;

/* The measurements, with both servers up. */
static int measure(results *r, int dport, int nport, const char *body) {
  char durl[128], nurl[128], surl[128], args[256], sargs[512];
  snprintf(durl, sizeof durl, "http://127.0.0.1:%d/health", dport);
  snprintf(nurl, sizeof nurl, "http://127.0.0.1:%d/health", nport);
  snprintf(surl, sizeof surl, "http://127.0.0.1:%d/v1/completions", dport);
  if (wait_ready(durl) < 0 || wait_ready(nurl) < 0) return -1;
  snprintf(args, sizeof args, "-n %d -c 50 -m 20", r->n);
  /* alternate, best of two each, so both see the same machine load */
  for (int k = 0; k < 2; k++) {
    double a = h2load(args, nurl, r->n), b = h2load(args, durl, r->n);
    if (a > r->nghttpd_rps) r->nghttpd_rps = a;
    if (b > r->duetd_rps) r->duetd_rps = b;
  }
  /* 16 streams of 105 tokens fit the default KV pool: no queueing noise */
  snprintf(sargs, sizeof sargs, "-n 400 -c 4 -m 4 -d %s", body);
  r->stream_rps = h2load(sargs, surl, 400);
  r->med = metric(dport, "duet_token_overhead_seconds{quantile=\"0.5\"} ");
  r->p99 = metric(dport, "duet_token_overhead_seconds{quantile=\"0.99\"} ");
  r->events = metric(dport, "duet_token_overhead_seconds_count ");
  return r->duetd_rps > 0 && r->nghttpd_rps > 0 && r->stream_rps > 0 && r->med >= 0 ? 0 : -1;
}

static void report(const results *r, const char *json) {
  printf("duet-bench-http (%d requests, h2load -c 50 -m 20; the machine is shared: figures are noisy)\n", r->n);
  printf("  %-44s %12.0f req/s\n", "nghttpd, static 15-byte file", r->nghttpd_rps);
  printf("  %-44s %12.0f req/s  (%.0f%% of nghttpd, target >= 70%%)\n", "duetd GET /health", r->duetd_rps,
         r->nghttpd_rps > 0 ? 100 * r->duetd_rps / r->nghttpd_rps : 0);
  printf("  %-44s %12.0f req/s  (400 x 100 tokens, -c 4 -m 4)\n", "duetd streaming completions", r->stream_rps);
  printf("  %-44s %12.1f us median, %.1f us p99 over %.0f events (target median < 50 us)\n",
         "front-end time per streamed token", r->med * 1e6, r->p99 * 1e6, r->events);
  if (r->mp.sgemm_gflops > 0) duet_machine_peak_print(stdout, &r->mp);
  FILE *f = json ? fopen(json, "w") : NULL;
  if (!f) return;
  fprintf(f,
          "{\"requests\":%d,\"nghttpd_rps\":%.1f,\"duetd_health_rps\":%.1f,\"ratio\":%.4f,"
          "\"stream_rps\":%.1f,\"token_overhead_median_us\":%.3f,\"token_overhead_p99_us\":%.3f,"
          "\"sgemm_gflops\":%.1f,\"read_gbps\":%.2f}\n",
          r->n, r->nghttpd_rps, r->duetd_rps, r->nghttpd_rps > 0 ? r->duetd_rps / r->nghttpd_rps : 0, r->stream_rps,
          r->med * 1e6, r->p99 * 1e6, r->mp.sgemm_gflops, r->mp.read_gbps);
  fclose(f);
}

static int usage(FILE *f, const char *why) {
  if (why) fprintf(f, "duet-bench-http: %s\n", why);
  fprintf(f, "usage: duet-bench-http --model DIR [--duetd PATH] [--requests N] [--json FILE] [--no-peak]\n"
             "  DIR: a model with a tokenizer\n");
  return f == stdout ? 0 : 2;
}

int main(int argc, char **argv) {
  const char *model = NULL, *duetd = NULL, *json = NULL;
  results r = {.n = 100000};
  int peak = 1;
  for (int i = 1; i < argc; i++) {
    long long n;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(stdout, NULL);
    else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!strcmp(argv[i], "--duetd") && i + 1 < argc) duetd = argv[++i];
    else if (!strcmp(argv[i], "--requests") && i + 1 < argc) {
      if (duet_cli_int("--requests", argv[++i], 1, INT_MAX, &n) < 0) return usage(stderr, duet_last_error());
      r.n = (int)n;
    } else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else if (!strcmp(argv[i], "--no-peak")) peak = 0;
    else {
      char why[300];
      snprintf(why, sizeof why, "unknown or incomplete option '%.200s'", argv[i]);
      return usage(stderr, why);
    }
  }
  if (!model) return usage(stderr, "--model DIR is required");
  char self[4096], dpath[4200];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (!duetd && sl > 0) {
    self[sl] = 0;
    *strrchr(self, '/') = 0;
    snprintf(dpath, sizeof dpath, "%s/duetd", self);
    duetd = dpath;
  }
  char dir[] = "/tmp/duet-bench-http.XXXXXX", file[300], body[300], dlog[300], nlog[300];
  if (!mkdtemp(dir) || write_text(dir, "health", "{\"status\":\"ok\"}", file, sizeof file) || /* duetd's 15 bytes */
      write_text(dir, "stream.json", "{\"prompt\":\"hello\",\"max_tokens\":100,\"stream\":true,\"ignore_eos\":true}",
                 body, sizeof body))
    return 1;
  snprintf(dlog, sizeof dlog, "%s/duetd.log", dir);
  snprintf(nlog, sizeof nlog, "%s/nghttpd.log", dir);
  int dport = free_port(), nport = free_port();
  char dps[16], nps[16];
  snprintf(dps, sizeof dps, "%d", dport);
  snprintf(nps, sizeof nps, "%d", nport);
  char *dargv[] = {(char *)duetd, "--model", (char *)model, "--port", dps, NULL};
  char *nargv[] = {"nghttpd", "--no-tls", "-d", dir, "--address=127.0.0.1", nps, NULL};
  pid_t dp = spawn(dargv, dlog), np = spawn(nargv, nlog);
  int rc = measure(&r, dport, nport, body);
  kill(dp, SIGTERM);
  kill(np, SIGTERM);
  waitpid(dp, NULL, 0);
  waitpid(np, NULL, 0);
  if (rc < 0) {
    fprintf(stderr, "duet-bench-http: a server did not start or a run failed (logs in %s)\n", dir);
    return 1;
  }
  if (peak) duet_machine_peak_measure(&r.mp);
  report(&r, json);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) != 0;
}
