#ifndef DUET_SVG_PLOT_H
#define DUET_SVG_PLOT_H

/* A tiny dependency-free SVG writer for line and scatter plots: axes with
 * ticks and labels (linear or log10), a title, a legend, and labelled marks
 * (e.g. a roofline's ridge point). The file opens in any browser.
 *
 *   duet_plot *p = duet_plot_new("Loss", "step", "loss");
 *   duet_plot_set_log(p, 0, 1);                     // log y
 *   duet_plot_add(p, "train", xs, ys, n, DUET_PLOT_LINE);
 *   duet_plot_mark(p, 100, 2.5, "warmup ends");
 *   duet_plot_save(p, "loss.svg");
 *   duet_plot_free(p);
 * Points with non-finite coordinates (or <= 0 on a log axis) are skipped. */

typedef enum { DUET_PLOT_LINE = 1, DUET_PLOT_POINTS = 2, DUET_PLOT_LINE_POINTS = 3 } duet_plot_style;

typedef struct duet_plot duet_plot;

duet_plot *duet_plot_new(const char *title, const char *xlabel, const char *ylabel); /* NULL: out of memory */
void duet_plot_free(duet_plot *p);
void duet_plot_set_log(duet_plot *p, int log_x, int log_y);
/* Fix an axis range instead of fitting the data (lo < hi). */
void duet_plot_set_range(duet_plot *p, int axis_y, double lo, double hi);
/* A series (copied). Colors cycle through a fixed palette in order of adding.
 * Returns DUET_OK, DUET_EINVAL (n < 0) or DUET_ENOMEM. */
int duet_plot_add(duet_plot *p, const char *name, const double *x, const double *y, int n, duet_plot_style style);
/* A highlighted point with a text label next to it. */
int duet_plot_mark(duet_plot *p, double x, double y, const char *label);
/* Write the SVG. DUET_EIO naming the path on failure. */
int duet_plot_save(const duet_plot *p, const char *path);

#endif
