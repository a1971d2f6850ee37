#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "train/plot.h"

typedef struct series {
    double *x, *y;
    size_t n, cap;
} series;

static int series_push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return 0;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return 0;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 1;
}

static void polyline(hlm_buf *b, const series *s, double x0, double x1, double y0, double y1,
                     const char *color, int W, int H, int L, int T)
{
    if (!s->n) return;
    hlm_buf_appendf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (size_t i = 0; i < s->n; i++) {
        double px = L + (s->x[i] - x0) / (x1 - x0) * W;
        double py = T + H - (s->y[i] - y0) / (y1 - y0) * H;
        hlm_buf_appendf(b, "%.1f,%.1f ", px, py);
    }
    hlm_buf_appendf(b, "\"/>\n");
}

hlm_status hlm_plot_loss_svg(const char *metrics_path, const char *svg_path, hlm_error *err)
{
    hlm_buf in = {0}, b = {0};
    hlm_status st = hlm_file_read_all(metrics_path, &in, err);
    if (st != HLM_OK) return st;
    series tr = {0}, va = {0};
    char *line = (char *)in.data, *end = line + in.len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
        const cJSON *vl = cJSON_GetObjectItemCaseSensitive(j, "val_loss");
        if (cJSON_IsNumber(step) && cJSON_IsNumber(loss) && isfinite(loss->valuedouble))
            series_push(&tr, step->valuedouble, loss->valuedouble);
        if (cJSON_IsNumber(step) && cJSON_IsNumber(vl) && isfinite(vl->valuedouble))
            series_push(&va, step->valuedouble, vl->valuedouble);
        cJSON_Delete(j);
        line += len + 1;
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    const series *all[2] = {&tr, &va};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < all[k]->n; i++) {
            x0 = fmin(x0, all[k]->x[i]);
            x1 = fmax(x1, all[k]->x[i]);
            y0 = fmin(y0, all[k]->y[i]);
            y1 = fmax(y1, all[k]->y[i]);
        }
    if (!(x1 > x0)) {
        x0 = isfinite(x0) ? x0 - 1 : 0;
        x1 = x0 + 2;
    }
    if (!(y1 > y0)) {
        y0 = isfinite(y0) ? y0 - 1 : 0;
        y1 = y0 + 2;
    }
    const int W = 640, H = 360, L = 60, T = 30;
    hlm_buf_appendf(&b,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                    "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                    "<text x=\"%d\" y=\"18\" font-size=\"14\">HyperLM training loss</text>\n"
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
                    W + L + 20, H + T + 50, L, L, T, W, H);
    for (int i = 0; i <= 4; i++) {
        double yv = y0 + (y1 - y0) * i / 4, py = T + H - (double)H * i / 4;
        double xv = x0 + (x1 - x0) * i / 4, px = L + (double)W * i / 4;
        hlm_buf_appendf(&b, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n", L - 4, py + 4, yv);
        hlm_buf_appendf(&b, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", px, T + H + 16, xv);
    }
    hlm_buf_appendf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", L + W / 2, T + H + 34);
    polyline(&b, &tr, x0, x1, y0, y1, "#1f77b4", W, H, L, T);
    polyline(&b, &va, x0, x1, y0, y1, "#d62728", W, H, L, T);
    for (size_t i = 0; i < va.n; i++)
        hlm_buf_appendf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n",
                        L + (va.x[i] - x0) / (x1 - x0) * W, T + H - (va.y[i] - y0) / (y1 - y0) * H);
    hlm_buf_appendf(&b,
                    "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">train loss</text>\n"
                    "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">validation loss</text>\n</svg>\n",
                    L + W - 200, T + 16, L + W - 100, T + 16);
    st = hlm_file_write_atomic(svg_path, b.data, b.len, err);
    free(tr.x);
    free(tr.y);
    free(va.x);
    free(va.y);
    hlm_buf_free(&in);
    hlm_buf_free(&b);
    return st;
}
