/* hyperlm gguf SUBCOMMAND: info (print a GGUF file's header, metadata and tensor table).
 *
 * Every check of the reader runs before anything is printed, so a file that `gguf info` shows
 * is one the library accepts; a file it refuses gets the reader's message (file and field). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "infer/gguf.h"

#define SHOW_ELEMS 8     /* array elements shown before "..." */
#define SHOW_STR_BYTES 64 /* string bytes shown before "..." */

static int cmd_gguf_info(int argc, char **argv);

static const cli_command gguf_commands[] = {
    {"info", cmd_gguf_info, "version, metadata (arrays abbreviated) and tensor table of a GGUF file"},
};

int cli_gguf(int argc, char **argv)
{
    return cli_dispatch("gguf", gguf_commands, sizeof gguf_commands / sizeof *gguf_commands, NULL, argc, argv);
}

/* A string quoted, with control bytes, quotes and backslashes escaped, cut after max bytes. */
static void print_str(FILE *out, hlm_gguf_str s, uint64_t max)
{
    fputc('"', out);
    for (uint64_t i = 0; i < s.len && i < max; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
    if (s.len > max) fprintf(out, "... (%llu bytes)", (unsigned long long)s.len);
}

static void print_value(FILE *out, hlm_gguf_value v, uint64_t max_str)
{
    switch (v.type) {
    case HLM_GGUF_UINT8: case HLM_GGUF_UINT16: case HLM_GGUF_UINT32: case HLM_GGUF_UINT64:
        fprintf(out, "%llu", (unsigned long long)v.u);
        break;
    case HLM_GGUF_INT8: case HLM_GGUF_INT16: case HLM_GGUF_INT32: case HLM_GGUF_INT64:
        fprintf(out, "%lld", (long long)v.i);
        break;
    case HLM_GGUF_FLOAT32:
        fprintf(out, "%.9g", v.f);
        break;
    case HLM_GGUF_FLOAT64:
        fprintf(out, "%.17g", v.f);
        break;
    case HLM_GGUF_BOOL:
        fputs(v.b ? "true" : "false", out);
        break;
    case HLM_GGUF_STRING:
        print_str(out, v.s, max_str);
        break;
    case HLM_GGUF_ARRAY:
        break;
    }
}

static void print_kv(FILE *out, const hlm_gguf_kv *kv, int width)
{
    if (kv->type != HLM_GGUF_ARRAY) {
        fprintf(out, "  %-*s %-8s ", width, kv->key, hlm_gguf_type_name(kv->type));
        print_value(out, hlm_gguf_kv_value(kv), SHOW_STR_BYTES);
        fputc('\n', out);
        return;
    }
    char type[48];
    snprintf(type, sizeof type, "[%s x %llu]", hlm_gguf_type_name(kv->elem_type), (unsigned long long)kv->count);
    fprintf(out, "  %-*s %s [", width, kv->key, type);
    for (uint64_t i = 0; i < kv->count && i < SHOW_ELEMS; i++) {
        if (i) fputs(", ", out);
        print_value(out, hlm_gguf_kv_elem(kv, i), 24);
    }
    fputs(kv->count > SHOW_ELEMS ? ", ...]\n" : "]\n", out);
}

static int info_usage(FILE *f)
{
    fprintf(f, "usage: hyperlm gguf info FILE\n\n"
               "Prints the GGUF version, size, alignment and data offset, every metadata entry (strings\n"
               "cut at %d bytes, arrays at %d elements) and the tensor table (name, type, dims in GGUF\n"
               "order, innermost first, offset in the data section, bytes). The whole file is checked first.\n\n"
               "options:\n"
               "  -h, --help  this help\n",
            SHOW_STR_BYTES, SHOW_ELEMS);
    return f == stdout ? CLI_OK : CLI_USAGE;
}

static int cmd_gguf_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return info_usage(stdout);
        if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("gguf info", "unknown option '%s'", argv[i]);
        if (path) return cli_usage_error("gguf info", "one FILE expected, got another: '%s'", argv[i]);
        path = argv[i];
    }
    if (!path) return info_usage(stderr);
    hlm_gguf_file *f;
    hlm_error err;
    if (hlm_gguf_open(path, &f, &err)) return cli_report(&err);
    FILE *out = stdout;
    fprintf(out, "%s: GGUF version %u, %zu bytes, alignment %u, data at byte %llu\n", path, hlm_gguf_version(f),
            hlm_gguf_file_size(f), hlm_gguf_alignment(f), (unsigned long long)hlm_gguf_data_offset(f));
    size_t n_kv = hlm_gguf_kv_count(f), n_t = hlm_gguf_tensor_count(f);
    int width = 0;
    for (size_t i = 0; i < n_kv; i++) {
        int w = (int)strlen(hlm_gguf_kv_at(f, i)->key);
        if (w > width && w <= 48) width = w;
    }
    fprintf(out, "\nmetadata: %zu entries\n", n_kv);
    for (size_t i = 0; i < n_kv; i++) print_kv(out, hlm_gguf_kv_at(f, i), width);

    uint64_t total = 0, elems = 0;
    width = 4;
    for (size_t i = 0; i < n_t; i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        int w = (int)strlen(t->name);
        if (w > width && w <= 64) width = w;
        total += t->nbytes;
        elems += t->n_elems;
    }
    fprintf(out, "\ntensors: %zu, %llu elements, %llu bytes\n", n_t, (unsigned long long)elems,
            (unsigned long long)total);
    if (n_t) fprintf(out, "  %-*s %-7s %-28s %12s %12s\n", width, "name", "type", "dims", "offset", "bytes");
    for (size_t i = 0; i < n_t; i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        char dims[128];
        size_t k = (size_t)snprintf(dims, sizeof dims, "[");
        for (uint32_t d = 0; d < t->n_dims; d++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%llu", d ? ", " : "", (unsigned long long)t->dims[d]);
        snprintf(dims + k, sizeof dims - k, "]");
        fprintf(out, "  %-*s %-7s %-28s %12llu %12zu\n", width, t->name, hlm_ggml_type_name(t->type), dims,
                (unsigned long long)t->offset, t->nbytes);
    }
    hlm_gguf_close(f);
    return CLI_OK;
}
