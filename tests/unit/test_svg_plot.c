// SVG plot writer: a log-log plot with a series, points and a mark is well
// formed, escapes text, skips unplottable points, and reports bad paths.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"
#include "tests/unit/unit_check.h"
#include "engine/svg_plot.h"


static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int count(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, sub)); p++) n++;
  return n;
}

int main(void) {
  duet_plot *p = duet_plot_new("a <b> & c", "x", "y");
  CHECK(p != NULL);
  duet_plot_set_log(p, 1, 1);
  double x[4] = {0.1, 1, 10, -1}, y[4] = {1, 10, 100, 5};
  CHECK(duet_plot_add(p, "line", x, y, 4, DUET_PLOT_LINE) == DUET_OK);
  CHECK(duet_plot_add(p, "dots", x, y, 4, DUET_PLOT_POINTS) == DUET_OK);
  CHECK(duet_plot_add(p, "bad", x, y, -1, DUET_PLOT_POINTS) == DUET_EINVAL);
  CHECK(duet_plot_mark(p, 1, 10, "ridge") == DUET_OK);
  char path[64];
  snprintf(path, sizeof path, "/tmp/test_svg_plot_%d.svg", (int)getpid());
  CHECK(duet_plot_save(p, path) == DUET_OK);
  char *s = slurp(path);
  CHECK(s != NULL);
  if (s) {
    CHECK(strncmp(s, "<svg", 4) == 0 && strstr(s, "</svg>") != NULL);
    CHECK(strstr(s, "a &lt;b&gt; &amp; c") != NULL);
    CHECK(count(s, "<circle") == 3 + 1 + 1); /* 3 plottable dots, the mark, the legend dot */
    CHECK(count(s, "<polyline") == 1);
    CHECK(strstr(s, ">ridge<") != NULL && strstr(s, ">0.1<") != NULL && strstr(s, ">100<") != NULL);
  }
  remove(path);
  CHECK(duet_plot_save(p, "/nonexistent-dir/x.svg") == DUET_EIO);
  CHECK(strstr(duet_last_error(), "/nonexistent-dir/x.svg") != NULL);
  duet_plot_free(p);
  return finish();
}
