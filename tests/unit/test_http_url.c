// duet_http_parse_url (clients/http_client.h), used by duet and duet-bench
// for --url: host, port and path prefix, and a clear refusal of ports that
// are not a plain number in 1..65535 (atoi used to read "80x" as 80 and
// wrap 4294967377 to 81).
#include <string.h>

#include "clients/http_client.h"
#include "unit_check.h"

static void check_url(const char *url, const char *host, int port, const char *prefix) {
  char h[64] = "", pre[64] = "";
  int p = -1;
  CHECK_OK(duet_http_parse_url(url, h, sizeof h, &p, pre, sizeof pre));
  CHECK(!strcmp(h, host) && p == port && !strcmp(pre, prefix), "%s -> host '%s' port %d prefix '%s'", url, h, p,
        pre);
}

static void check_refused(const char *url, const char *what) {
  char h[64], pre[64];
  int p;
  CHECK_ERR(duet_http_parse_url(url, h, sizeof h, &p, pre, sizeof pre), DUET_EINVAL, what, url);
}

int main(void) {
  check_url("http://127.0.0.1:8080", "127.0.0.1", 8080, "");
  check_url("http://localhost:1/v1/", "localhost", 1, "/v1");
  check_url("localhost:65535/api", "localhost", 65535, "/api");
  check_url("http://example", "example", 80, "");
  check_url("example/x", "example", 80, "/x");

  check_refused("https://example:443", "only http://");
  check_refused("http://:8080", "bad host");
  check_refused("http://h:", "bad port");
  check_refused("http://h:0", "bad port");
  check_refused("http://h:65536", "bad port");
  check_refused("http://h:4294967377", "bad port");
  check_refused("http://h:99999999999999999999/x", "bad port");
  check_refused("http://h:80x", "bad port");
  check_refused("http://h:-80", "bad port");
  check_refused("http://h: 80", "bad port");
  return finish();
}
