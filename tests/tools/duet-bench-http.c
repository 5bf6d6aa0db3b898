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
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
  const char *model = NULL, *duetd = NULL, *json = NULL;
  int n = 100000, peak = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!strcmp(argv[i], "--duetd") && i + 1 < argc) duetd = argv[++i];
    else if (!strcmp(argv[i], "--requests") && i + 1 < argc) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else if (!strcmp(argv[i], "--no-peak")) peak = 0;
    else {
      fprintf(stderr, "usage: %s --model DIR [--duetd PATH] [--requests N] [--json FILE] [--no-peak]\n", argv[0]);
      return 2;
    }
  }
  if (!model || n < 1) {
    fprintf(stderr, "duet-bench-http: --model DIR is required (a model with a tokenizer)\n");
    return 2;
  }
  char self[4096], dpath[4200];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (!duetd && sl > 0) {
    self[sl] = 0;
    *strrchr(self, '/') = 0;
    snprintf(dpath, sizeof dpath, "%s/duetd", self);
    duetd = dpath;
  }
  char dir[] = "/tmp/duet-bench-http.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char file[300], body[300], dlog[300], nlog[300];
  snprintf(file, sizeof file, "%s/health", dir);
  FILE *f = fopen(file, "w");
  if (!f) return 1;
  fputs("{\"status\":\"ok\"}", f); /* the same 15 bytes duetd answers */
  fclose(f);
  snprintf(body, sizeof body, "%s/stream.json", dir);
  f = fopen(body, "w");
  if (!f) return 1;
  fputs("{\"prompt\":\"hello\",\"max_tokens\":100,\"stream\":true,\"ignore_eos\":true}", f);
  fclose(f);
  snprintf(dlog, sizeof dlog, "%s/duetd.log", dir);
  snprintf(nlog, sizeof nlog, "%s/nghttpd.log", dir);

  int dport = free_port(), nport = free_port();
  char dps[16], nps[16];
  snprintf(dps, sizeof dps, "%d", dport);
  snprintf(nps, sizeof nps, "%d", nport);
  char *dargv[] = {(char *)duetd, "--model", (char *)model, "--port", dps, NULL};
  char *nargv[] = {"nghttpd", "--no-tls", "-d", dir, "--address=127.0.0.1", nps, NULL};
  pid_t dp = spawn(dargv, dlog), np = spawn(nargv, nlog);
  char durl[128], nurl[128], surl[128];
  snprintf(durl, sizeof durl, "http://127.0.0.1:%d/health", dport);
  snprintf(nurl, sizeof nurl, "http://127.0.0.1:%d/health", nport);
  snprintf(surl, sizeof surl, "http://127.0.0.1:%d/v1/completions", dport);
  int rc = 1;
  if (wait_ready(durl) < 0 || wait_ready(nurl) < 0) {
    fprintf(stderr, "duet-bench-http: a server did not start (logs in %s)\n", dir);
    goto out;
  }
  char args[256];
  snprintf(args, sizeof args, "-n %d -c 50 -m 20", n);
  /* alternate, best of two each, so both see the same machine load */
  double d_rps = 0, n_rps = 0;
  for (int r = 0; r < 2; r++) {
    double a = h2load(args, nurl, n), b = h2load(args, durl, n);
    if (a > n_rps) n_rps = a;
    if (b > d_rps) d_rps = b;
  }
  char sargs[512];
  /* 16 streams of 105 tokens fit the default KV pool: no queueing noise */
  snprintf(sargs, sizeof sargs, "-n 400 -c 4 -m 4 -d %s", body);
  double s_rps = h2load(sargs, surl, 400);
  double med = metric(dport, "duet_token_overhead_seconds{quantile=\"0.5\"} ");
  double p99 = metric(dport, "duet_token_overhead_seconds{quantile=\"0.99\"} ");
  double cnt = metric(dport, "duet_token_overhead_seconds_count ");
  printf("duet-bench-http (%d requests, h2load -c 50 -m 20; the machine is shared: figures are noisy)\n", n);
  printf("  %-44s %12.0f req/s\n", "nghttpd, static 15-byte file", n_rps);
  printf("  %-44s %12.0f req/s  (%.0f%% of nghttpd, target >= 70%%)\n", "duetd GET /health", d_rps,
         n_rps > 0 ? 100 * d_rps / n_rps : 0);
  printf("  %-44s %12.0f req/s  (400 x 100 tokens, -c 4 -m 4)\n", "duetd streaming completions", s_rps);
  printf("  %-44s %12.1f us median, %.1f us p99 over %.0f events (target median < 50 us)\n",
         "front-end time per streamed token", med * 1e6, p99 * 1e6, cnt);
  duet_machine_peak mp = {0};
  if (peak && duet_machine_peak_measure(&mp) == 0) duet_machine_peak_print(stdout, &mp);
  if (json && (f = fopen(json, "w"))) {
    fprintf(f,
            "{\"requests\":%d,\"nghttpd_rps\":%.1f,\"duetd_health_rps\":%.1f,\"ratio\":%.4f,"
            "\"stream_rps\":%.1f,\"token_overhead_median_us\":%.3f,\"token_overhead_p99_us\":%.3f,"
            "\"sgemm_gflops\":%.1f,\"read_gbps\":%.2f}\n",
            n, n_rps, d_rps, n_rps > 0 ? d_rps / n_rps : 0, s_rps, med * 1e6, p99 * 1e6, mp.sgemm_gflops, mp.read_gbps);
    fclose(f);
  }
  rc = d_rps > 0 && n_rps > 0 && s_rps > 0 && med >= 0 ? 0 : 1;
out:
  kill(dp, SIGTERM);
  kill(np, SIGTERM);
  waitpid(dp, NULL, 0);
  waitpid(np, NULL, 0);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (rc == 0 && system(cmd) != 0) rc = 1;
  return rc;
}
