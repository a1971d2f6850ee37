/* Loss curves as SVG: read a metrics.jsonl and draw train loss (and val_loss where present)
 * against the step, written atomically. No plotting library: an SVG is a few lines of text. */
#ifndef HYPERLM_TRAIN_PLOT_H
#define HYPERLM_TRAIN_PLOT_H

#include "hyperlm/error.h"

hlm_status hlm_plot_loss_svg(const char *metrics_path, const char *svg_path, hlm_error *err);

#endif
