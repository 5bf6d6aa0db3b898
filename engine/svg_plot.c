#include "engine/svg_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

enum { W = 900, H = 560, ML = 90, MR = 30, MT = 50, MB = 70 }; /* canvas and margins, px */

typedef struct {
  char *name;
  double *x, *y;
  int n;
  duet_plot_style style;
} series;

typedef struct {
  double x, y;
  char *label;
} mark;

struct duet_plot {
  char *title, *xlabel, *ylabel;
  int log[2];
  int fixed[2];
  double lo[2], hi[2];
  series *s;
  int ns;
  mark *m;
  int nm;
};

static const char *PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

static char *dupstr(const char *s) { return strdup(s ? s : ""); }

duet_plot *duet_plot_new(const char *title, const char *xlabel, const char *ylabel) {
  duet_plot *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->title = dupstr(title), p->xlabel = dupstr(xlabel), p->ylabel = dupstr(ylabel);
  if (!p->title || !p->xlabel || !p->ylabel) {
    duet_plot_free(p);
    return NULL;
  }
  return p;
}

void duet_plot_free(duet_plot *p) {
  if (!p) return;
  for (int i = 0; i < p->ns; i++) free(p->s[i].name), free(p->s[i].x), free(p->s[i].y);
  for (int i = 0; i < p->nm; i++) free(p->m[i].label);
  free(p->s), free(p->m), free(p->title), free(p->xlabel), free(p->ylabel);
  free(p);
}

void duet_plot_set_log(duet_plot *p, int log_x, int log_y) { p->log[0] = log_x, p->log[1] = log_y; }

void duet_plot_set_range(duet_plot *p, int axis_y, double lo, double hi) {
  if (!(lo < hi)) return;
  p->fixed[axis_y] = 1, p->lo[axis_y] = lo, p->hi[axis_y] = hi;
}

int duet_plot_add(duet_plot *p, const char *name, const double *x, const double *y, int n, duet_plot_style style) {
  if (n < 0) return duet_error(DUET_EINVAL, "plot series '%s': n %d", name ? name : "", n);
  series *ns = realloc(p->s, (size_t)(p->ns + 1) * sizeof *ns);
  if (!ns) return duet_error(DUET_ENOMEM, "plot series");
  p->s = ns;
  series *s = &p->s[p->ns];
  s->name = dupstr(name), s->n = n, s->style = style;
  s->x = malloc((size_t)n * sizeof(double) + 1), s->y = malloc((size_t)n * sizeof(double) + 1);
  if (!s->name || !s->x || !s->y) {
    free(s->name), free(s->x), free(s->y);
    return duet_error(DUET_ENOMEM, "plot series '%s'", name ? name : "");
  }
  if (n) memcpy(s->x, x, (size_t)n * sizeof(double)), memcpy(s->y, y, (size_t)n * sizeof(double));
  p->ns++;
  return DUET_OK;
}

int duet_plot_mark(duet_plot *p, double x, double y, const char *label) {
  mark *nm = realloc(p->m, (size_t)(p->nm + 1) * sizeof *nm);
  if (!nm) return duet_error(DUET_ENOMEM, "plot mark");
  p->m = nm;
  p->m[p->nm] = (mark){x, y, dupstr(label)};
  if (!p->m[p->nm].label) return duet_error(DUET_ENOMEM, "plot mark");
  p->nm++;
  return DUET_OK;
}

static int usable(const duet_plot *p, double x, double y) {
  return isfinite(x) && isfinite(y) && (!p->log[0] || x > 0) && (!p->log[1] || y > 0);
}

// Data range of each axis, padded; decades on log axes.
static void fit_ranges(const duet_plot *p, double lo[2], double hi[2]) {
  lo[0] = lo[1] = INFINITY, hi[0] = hi[1] = -INFINITY;
  for (int i = 0; i < p->ns + p->nm; i++) {
    int n = i < p->ns ? p->s[i].n : 1;
    for (int j = 0; j < n; j++) {
      double v[2] = {i < p->ns ? p->s[i].x[j] : p->m[i - p->ns].x, i < p->ns ? p->s[i].y[j] : p->m[i - p->ns].y};
      if (!usable(p, v[0], v[1])) continue;
      for (int a = 0; a < 2; a++) lo[a] = fmin(lo[a], v[a]), hi[a] = fmax(hi[a], v[a]);
    }
  }
  for (int a = 0; a < 2; a++) {
    if (p->fixed[a]) {
      lo[a] = p->lo[a], hi[a] = p->hi[a];
    } else if (!(lo[a] <= hi[a])) {
      lo[a] = p->log[a] ? 1 : 0, hi[a] = p->log[a] ? 10 : 1;
    } else if (p->log[a]) {
      // a hair of slack so 1000.0000001 (rounding) does not open a new decade
      lo[a] = pow(10, floor(log10(lo[a]) + 1e-9)), hi[a] = pow(10, ceil(log10(hi[a]) - 1e-9));
      if (lo[a] == hi[a]) hi[a] *= 10;
    } else {
      double pad = hi[a] > lo[a] ? 0.05 * (hi[a] - lo[a]) : fmax(1, fabs(lo[a]) * 0.1);
      lo[a] -= pad, hi[a] += pad;
    }
  }
}

typedef struct {
  const duet_plot *p;
  double lo[2], hi[2];
} frame;

// Data coordinate -> pixel along axis a (0: x left to right, 1: y bottom to top).
static double px(const frame *f, int a, double v) {
  double t = f->p->log[a] ? (log10(v) - log10(f->lo[a])) / (log10(f->hi[a]) - log10(f->lo[a]))
                          : (v - f->lo[a]) / (f->hi[a] - f->lo[a]);
  return a == 0 ? ML + t * (W - ML - MR) : H - MB - t * (H - MT - MB);
}

static void text(FILE *o, double x, double y, const char *anchor, int size, const char *extra, const char *s) {
  fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", o);
    else if (*s == '>') fputs("&gt;", o);
    else if (*s == '&') fputs("&amp;", o);
    else fputc(*s, o);
  }
  fputs("</text>\n", o);
}

static void tick_label(char *buf, size_t n, double v) {
  double a = fabs(v);
  if (v == 0) snprintf(buf, n, "0");
  else if (a >= 1e5 || a < 1e-3) snprintf(buf, n, "%.0e", v);
  else snprintf(buf, n, "%g", v);
}

// Grid lines and tick labels of axis a: decades (and 2, 5 within them when
// few decades) on a log axis, steps of 1, 2 or 5 x 10^k on a linear one.
static void axis(FILE *o, const frame *f, int a) {
  double lo = f->lo[a], hi = f->hi[a];
  char buf[32];
  double vals[256];
  int n = 0;
  if (f->p->log[a]) {
    int decades = (int)lround(log10(hi) - log10(lo));
    for (double d = lo; d <= hi * 1.0001 && n < 250; d *= 10) {
      vals[n++] = d;
      if (decades <= 3 && d * 2 < hi) vals[n++] = d * 2;
      if (decades <= 3 && d * 5 < hi) vals[n++] = d * 5;
    }
  } else {
    double raw = (hi - lo) / 8, mag = pow(10, floor(log10(raw))), step = mag;
    if (raw / mag > 5) step = 10 * mag;
    else if (raw / mag > 2) step = 5 * mag;
    else if (raw / mag > 1) step = 2 * mag;
    for (double v = ceil(lo / step) * step; v <= hi + 1e-9 * step && n < 250; v += step) vals[n++] = v;
  }
  for (int i = 0; i < n; i++) {
    double c = px(f, a, vals[i]);
    tick_label(buf, sizeof buf, vals[i]);
    if (a == 0) {
      fprintf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", c, MT, c, H - MB);
      text(o, c, H - MB + 18, "middle", 12, "", buf);
    } else {
      fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ML, c, W - MR, c);
      text(o, ML - 6, c + 4, "end", 12, "", buf);
    }
  }
}

static void draw_series(FILE *o, const frame *f, const series *s, const char *color) {
  if (s->style & DUET_PLOT_LINE) {
    fprintf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (int j = 0; j < s->n; j++)
      if (usable(f->p, s->x[j], s->y[j])) fprintf(o, "%.1f,%.1f ", px(f, 0, s->x[j]), px(f, 1, s->y[j]));
    fputs("\"/>\n", o);
  }
  if (s->style & DUET_PLOT_POINTS)
    for (int j = 0; j < s->n; j++)
      if (usable(f->p, s->x[j], s->y[j]))
        fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" fill-opacity=\"0.8\"/>\n", px(f, 0, s->x[j]),
                px(f, 1, s->y[j]), color);
}

// Legend width from the longest name (about 7.5 px a character at 13 px).
static int legend_width(const duet_plot *p) {
  size_t longest = 0;
  for (int i = 0; i < p->ns; i++)
    if (strlen(p->s[i].name) > longest) longest = strlen(p->s[i].name);
  return p->ns ? 60 + (int)(7.5 * (double)longest) : 0;
}

// To the right of the plot area, so it never hides data.
static void legend(FILE *o, const duet_plot *p) {
  int x = W, y = MT, w = legend_width(p) - 20;
  fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n", x, y, w,
          8 + 20 * p->ns);
  for (int i = 0; i < p->ns; i++) {
    const char *c = PALETTE[i % 8];
    int yy = y + 18 + 20 * i;
    if (p->s[i].style & DUET_PLOT_LINE)
      fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", x + 8, yy - 4, x + 32, yy - 4, c);
    if (p->s[i].style & DUET_PLOT_POINTS) fprintf(o, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>\n", x + 20, yy - 4, c);
    text(o, x + 40, yy, "start", 13, "", p->s[i].name);
  }
}

int duet_plot_save(const duet_plot *p, const char *path) {
  FILE *o = fopen(path, "w");
  if (!o) return duet_error(DUET_EIO, "plot: cannot write %s", path);
  frame f = {p, {0}, {0}};
  fit_ranges(p, f.lo, f.hi);
  int tw = W + legend_width(p); /* canvas: plot, then the legend on the right */
  fprintf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", tw, H, tw, H);
  axis(o, &f, 0);
  axis(o, &f, 1);
  fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", ML, MT, W - ML - MR,
          H - MT - MB);
  fprintf(o, "<clipPath id=\"area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n<g clip-path=\"url(#area)\">\n",
          ML, MT, W - ML - MR, H - MT - MB);
  for (int i = 0; i < p->ns; i++) draw_series(o, &f, &p->s[i], PALETTE[i % 8]);
  fputs("</g>\n", o);
  for (int i = 0; i < p->nm; i++) {
    if (!usable(p, p->m[i].x, p->m[i].y)) continue;
    double x = px(&f, 0, p->m[i].x), y = px(&f, 1, p->m[i].y);
    fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"black\" stroke-width=\"2\"/>\n", x, y);
    text(o, x + 10, y + 18, "start", 13, "", p->m[i].label);
  }
  text(o, tw / 2.0, 30, "middle", 17, " font-weight=\"bold\"", p->title);
  text(o, ML + (W - ML - MR) / 2.0, H - 20, "middle", 14, "", p->xlabel);
  char rot[64];
  snprintf(rot, sizeof rot, " transform=\"rotate(-90 22 %d)\"", MT + (H - MT - MB) / 2);
  text(o, 22, MT + (H - MT - MB) / 2.0, "middle", 14, rot, p->ylabel);
  if (p->ns) legend(o, p);
  fputs("</svg>\n", o);
  if (fclose(o) != 0) return duet_error(DUET_EIO, "plot: error writing %s", path);
  return DUET_OK;
}
