// engine/cli_number.h: command-line numbers of the tools and clients are
// whole decimal numbers in range or a DUET_EINVAL naming the option
// (atoi/atof read "abc" as 0 and "10x" as 10).
#include <limits.h>

#include "engine/cli_number.h"
#include "unit_check.h"

int main(void) {
  long long n = -1;
  double x = -1;
  CHECK_OK(duet_cli_int("--top-k", "40", 0, 100, &n));
  CHECK(n == 40, "got %lld", n);
  CHECK_OK(duet_cli_int("--seed", "9223372036854775807", 0, LLONG_MAX, &n));
  CHECK(n == LLONG_MAX, "got %lld", n);
  CHECK_OK(duet_cli_int("--x", "-5", -10, 10, &n));
  CHECK(n == -5, "got %lld", n);
  CHECK_ERR(duet_cli_int("--top-k", "", 0, 100, &n), DUET_EINVAL, "--top-k");
  CHECK_ERR(duet_cli_int("--top-k", "abc", 0, 100, &n), DUET_EINVAL, "--top-k", "abc");
  CHECK_ERR(duet_cli_int("--top-k", "10x", 0, 100, &n), DUET_EINVAL, "10x");
  CHECK_ERR(duet_cli_int("--top-k", "101", 0, 100, &n), DUET_EINVAL, "[0, 100]");
  CHECK_ERR(duet_cli_int("--seed", "9223372036854775808", 0, LLONG_MAX, &n), DUET_EINVAL, "--seed");
  CHECK_ERR(duet_cli_int("--n", "2.5", 0, 100, &n), DUET_EINVAL, "2.5");
  CHECK(n == -5, "out untouched on failure: %lld", n);

  CHECK_OK(duet_cli_double("--temperature", "0.7", &x));
  CHECK(x == 0.7, "got %g", x);
  CHECK_OK(duet_cli_double("--top-p", "1e-1", &x));
  CHECK(x == 0.1, "got %g", x);
  CHECK_ERR(duet_cli_double("--temperature", "abc", &x), DUET_EINVAL, "--temperature", "abc");
  CHECK_ERR(duet_cli_double("--temperature", "0.7x", &x), DUET_EINVAL, "0.7x");
  CHECK_ERR(duet_cli_double("--temperature", "", &x), DUET_EINVAL, "--temperature");
  CHECK_ERR(duet_cli_double("--temperature", "inf", &x), DUET_EINVAL, "finite");
  CHECK_ERR(duet_cli_double("--temperature", "nan", &x), DUET_EINVAL, "finite");
  CHECK_ERR(duet_cli_double("--temperature", "1e999", &x), DUET_EINVAL, "finite");
  return finish();
}
