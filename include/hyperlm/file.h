/* Files: atomic writes (temp file in the same folder, fsync, rename, fsync of the folder: a crash
 * leaves the old file or the new one, never half of one), memory-mapped reads, and a streaming
 * reader that decompresses .gz and .zst transparently (detected by magic bytes, not the name). */
#ifndef HYPERLM_FILE_H
#define HYPERLM_FILE_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef struct hlm_atomic_file {
    FILE *fp;        /* write through this */
    char *path;      /* final name */
    char *tmp_path;  /* PATH.tmp.XXXXXX in the same folder */
} hlm_atomic_file;

hlm_status hlm_atomic_open(hlm_atomic_file *f, const char *path, hlm_error *err);
/* Flushes, fsyncs, renames over path and fsyncs the folder. Closes f in every case. */
hlm_status hlm_atomic_commit(hlm_atomic_file *f, hlm_error *err);
/* Closes and removes the temporary file; path is untouched. Safe on a committed/zeroed f. */
void hlm_atomic_abort(hlm_atomic_file *f);
hlm_status hlm_file_write_atomic(const char *path, const void *data, size_t len, hlm_error *err);

typedef struct hlm_mmap {
    const uint8_t *data;
    size_t len;
} hlm_mmap;

/* Maps a whole file read-only ("-" is not accepted). An empty file gives data == NULL, len 0. */
hlm_status hlm_mmap_open(hlm_mmap *m, const char *path, hlm_error *err);
void hlm_mmap_close(hlm_mmap *m);

typedef enum hlm_compression { HLM_COMP_NONE, HLM_COMP_GZIP, HLM_COMP_ZSTD } hlm_compression;

typedef struct hlm_reader hlm_reader;
/* path "-" reads standard input. */
hlm_status hlm_reader_open(hlm_reader **out, const char *path, hlm_error *err);
/* Reads up to cap decompressed bytes into dst; *n == 0 means end of input. */
hlm_status hlm_reader_read(hlm_reader *r, void *dst, size_t cap, size_t *n, hlm_error *err);
hlm_compression hlm_reader_compression(const hlm_reader *r);
/* Bytes of the underlying file consumed so far (compressed bytes for .gz/.zst): for progress. */
uint64_t hlm_reader_bytes_in(const hlm_reader *r);
void hlm_reader_close(hlm_reader *r);

/* Reads a whole (possibly compressed) file into out (appends; out is NUL-terminated). */
hlm_status hlm_file_read_all(const char *path, hlm_buf *out, hlm_error *err);

#endif
