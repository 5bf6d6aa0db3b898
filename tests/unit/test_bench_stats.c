// clients/bench_stats.h: the serving metrics of duet-bench against
// hand-computed values (numpy-style linear percentiles, TPOT, ITL,
// goodput), and --goodput specs, of which NaN, infinite, non-positive
// and unknown ones are refused.
#include <math.h>
#include <string.h>

#include "clients/bench_stats.h"
#include "unit_check.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * (1 + fabs(b)); }

static void test_dist(void) {
  double v[] = {4, 1, 3, 2, 5};
  duet_dist d = duet_dist_of(v, 5);
  /* numpy.percentile([1..5], 90) = 4.6, 99 -> 4.96 */
  CHECK(near(d.mean, 3) && near(d.median, 3) && near(d.p90, 4.6) && near(d.p99, 4.96), "dist %g %g %g %g", d.mean,
        d.median, d.p90, d.p99);
  duet_dist e = duet_dist_of(v, 0);
  CHECK(e.mean == 0 && e.p99 == 0, "empty dist");
}

static void test_summary(void) {
  double itl0[] = {0.01, 0.03}, itl1[] = {0.02};
  duet_bench_result r[3] = {
      {.ok = 1, .ttft = 0.1, .e2el = 0.3, .output_tokens = 3, .prompt_tokens = 10, .itl = itl0, .n_itl = 2},
      {.ok = 1, .ttft = 0.2, .e2el = 0.25, .output_tokens = 2, .prompt_tokens = 5, .itl = itl1, .n_itl = 1},
      {.ok = 0}};
  duet_bench_summary s = {0};
  CHECK_OK(duet_bench_parse_goodput("ttft:150,e2el:400", &s));
  CHECK_OK(duet_bench_summarize(r, 3, 2.0, &s));
  CHECK(s.completed == 2 && s.failed == 1 && s.total_output == 5 && s.total_prompt == 15, "counts %d %d %ld %ld",
        s.completed, s.failed, s.total_output, s.total_prompt);
  CHECK(near(s.req_throughput, 1) && near(s.output_throughput, 2.5) && near(s.total_token_throughput, 10),
        "throughputs %g %g %g", s.req_throughput, s.output_throughput, s.total_token_throughput);
  /* TPOT: (0.3 - 0.1) / 2 = 100 ms and (0.25 - 0.2) / 1 = 50 ms */
  CHECK(near(s.tpot.mean, 75) && near(s.ttft.mean, 150) && near(s.e2el.median, 275), "tpot %g ttft %g e2el %g",
        s.tpot.mean, s.ttft.mean, s.e2el.median);
  CHECK(near(s.itl.mean, 20) && near(s.itl.median, 20), "itl %g %g", s.itl.mean, s.itl.median);
  /* only the first request meets ttft <= 150 ms and e2el <= 400 ms: 1 request in 2 s */
  CHECK(near(s.goodput, 0.5), "goodput %g", s.goodput);
}

static void test_goodput_spec(void) {
  duet_bench_summary s = {0};
  CHECK_OK(duet_bench_parse_goodput("ttft:200 tpot:50 e2el:1000", &s));
  CHECK(s.slo_ttft == 200 && s.slo_tpot == 50 && s.slo_e2el == 1000, "slos %g %g %g", s.slo_ttft, s.slo_tpot,
        s.slo_e2el);
  CHECK_ERR(duet_bench_parse_goodput("ttft:nan", &s), DUET_EINVAL, "ttft:nan");
  CHECK_ERR(duet_bench_parse_goodput("ttft:inf", &s), DUET_EINVAL, "ttft:inf");
  CHECK_ERR(duet_bench_parse_goodput("ttft:0", &s), DUET_EINVAL, "ttft:0");
  CHECK_ERR(duet_bench_parse_goodput("ttft:5ms", &s), DUET_EINVAL, "ttft:5ms");
  CHECK_ERR(duet_bench_parse_goodput("ttft", &s), DUET_EINVAL, "NAME:MS");
  CHECK_ERR(duet_bench_parse_goodput("latency:5", &s), DUET_EINVAL, "unknown metric 'latency'");
}

int main(void) {
  test_dist();
  test_summary();
  test_goodput_spec();
  return finish();
}
