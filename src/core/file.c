#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "hyperlm/file.h"

hlm_status hlm_atomic_open(hlm_atomic_file *f, const char *path, hlm_error *err)
{
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    f->path = strdup(path);
    f->tmp_path = malloc(n + 16);
    if (!f->path || !f->tmp_path) {
        hlm_atomic_abort(f);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp_path);
    if (fd < 0) {
        hlm_status st = hlm_errorf(err, HLM_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                                   f->tmp_path, strerror(errno));
        free(f->tmp_path);
        f->tmp_path = NULL;
        hlm_atomic_abort(f);
        return st;
    }
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        hlm_atomic_abort(f);
        return hlm_errorf(err, HLM_ERR_IO, "%s: fdopen failed: %s", path, strerror(errno));
    }
    return HLM_OK;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

hlm_status hlm_atomic_commit(hlm_atomic_file *f, hlm_error *err)
{
    hlm_status st = HLM_OK;
    if (!f->fp) return hlm_errorf(err, HLM_ERR_INVALID, "atomic write: file is not open");
    int bad = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    int saved = errno;
    if (fclose(f->fp) != 0) bad = 1;
    f->fp = NULL;
    if (bad) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", f->path, strerror(saved));
    } else if (rename(f->tmp_path, f->path) != 0) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: rename from %s failed: %s", f->path, f->tmp_path,
                        strerror(errno));
    } else {
        fsync_dir_of(f->path);
        free(f->tmp_path);
        f->tmp_path = NULL;
    }
    hlm_atomic_abort(f);
    return st;
}

void hlm_atomic_abort(hlm_atomic_file *f)
{
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    memset(f, 0, sizeof *f);
}

hlm_status hlm_file_write_atomic(const char *path, const void *data, size_t len, hlm_error *err)
{
    hlm_atomic_file f;
    hlm_status st = hlm_atomic_open(&f, path, err);
    if (st) return st;
    if (len && fwrite(data, 1, len, f.fp) != len) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        hlm_atomic_abort(&f);
        return st;
    }
    return hlm_atomic_commit(&f, err);
}

hlm_status hlm_mmap_open(hlm_mmap *m, const char *path, hlm_error *err)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return hlm_errorf(err, HLM_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return hlm_errorf(err, HLM_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
        m->len = (size_t)sb.st_size;
    }
    close(fd);
    return HLM_OK;
}

void hlm_mmap_close(hlm_mmap *m)
{
    if (m->data) munmap((void *)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

/* ---- streaming reader with transparent decompression ---- */

#define READER_IN_CAP (1u << 17)

struct hlm_reader {
    int fd;
    int own_fd;
    char *path;
    hlm_compression comp;
    uint8_t *in;          /* compressed input buffer */
    size_t in_len, in_pos;
    int in_eof;
    z_stream z;
    int z_live;
    ZSTD_DCtx *zd;
    int frame_done;       /* zstd: last frame ended exactly (for truncation detection) */
    uint64_t bytes_in;    /* raw bytes read from fd */
};

static hlm_status fill(hlm_reader *r, hlm_error *err)
{
    if (r->in_pos < r->in_len || r->in_eof) return HLM_OK;
    ssize_t n;
    do n = read(r->fd, r->in, READER_IN_CAP);
    while (n < 0 && errno == EINTR);
    if (n < 0) return hlm_errorf(err, HLM_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
    r->in_len = (size_t)n;
    r->in_pos = 0;
    r->bytes_in += (uint64_t)n;
    if (n == 0) r->in_eof = 1;
    return HLM_OK;
}

hlm_status hlm_reader_open(hlm_reader **out, const char *path, hlm_error *err)
{
    *out = NULL;
    hlm_reader *r = calloc(1, sizeof *r);
    if (!r) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    r->path = strdup(path);
    r->in = malloc(READER_IN_CAP);
    if (!r->path || !r->in) {
        hlm_reader_close(r);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (strcmp(path, "-") == 0) {
        r->fd = 0;
    } else {
        r->fd = open(path, O_RDONLY);
        if (r->fd < 0) {
            hlm_status st = hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            hlm_reader_close(r);
            return st;
        }
        struct stat sb;
        if (fstat(r->fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            close(r->fd);
            r->fd = -1;
            hlm_reader_close(r);
            return hlm_errorf(err, HLM_ERR_IO, "%s: is a directory, expected a file", path);
        }
        r->own_fd = 1;
    }
    hlm_status st = fill(r, err);
    if (st) {
        hlm_reader_close(r);
        return st;
    }
    /* Sniff the magic; a short first read still holds the first bytes of a regular file. */
    if (r->in_len >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
        r->comp = HLM_COMP_GZIP;
        if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) {
            hlm_reader_close(r);
            return hlm_errorf(err, HLM_ERR_NOMEM, "%s: cannot start gzip decoder", path);
        }
        r->z_live = 1;
    } else if (r->in_len >= 4 && r->in[0] == 0x28 && r->in[1] == 0xb5 && r->in[2] == 0x2f &&
               r->in[3] == 0xfd) {
        r->comp = HLM_COMP_ZSTD;
        r->zd = ZSTD_createDCtx();
        if (!r->zd) {
            hlm_reader_close(r);
            return hlm_errorf(err, HLM_ERR_NOMEM, "%s: cannot start zstd decoder", path);
        }
        r->frame_done = 1;
    }
    *out = r;
    return HLM_OK;
}

hlm_status hlm_reader_read(hlm_reader *r, void *dst, size_t cap, size_t *n, hlm_error *err)
{
    *n = 0;
    while (*n == 0 && cap > 0) {
        hlm_status st = fill(r, err);
        if (st) return st;
        if (r->comp == HLM_COMP_NONE) {
            size_t k = r->in_len - r->in_pos;
            if (k > cap) k = cap;
            memcpy(dst, r->in + r->in_pos, k);
            r->in_pos += k;
            *n = k;
            if (r->in_eof) return HLM_OK;
        } else if (r->comp == HLM_COMP_GZIP) {
            if (r->in_eof && r->in_pos == r->in_len) {
                if (r->z_live)
                    return hlm_errorf(err, HLM_ERR_FORMAT, "%s: truncated gzip stream", r->path);
                return HLM_OK;
            }
            if (!r->z_live) {
                /* Concatenated gzip members (as `cat a.gz b.gz`) continue the stream. */
                if (inflateReset(&r->z) != Z_OK)
                    return hlm_errorf(err, HLM_ERR_FORMAT, "%s: gzip reset failed", r->path);
                r->z_live = 1;
            }
            r->z.next_in = r->in + r->in_pos;
            r->z.avail_in = (uInt)(r->in_len - r->in_pos);
            r->z.next_out = dst;
            r->z.avail_out = (uInt)(cap > (1u << 30) ? (1u << 30) : cap);
            uInt before = r->z.avail_out;
            int rc = inflate(&r->z, Z_NO_FLUSH);
            r->in_pos = r->in_len - r->z.avail_in;
            *n = before - r->z.avail_out;
            if (rc == Z_STREAM_END) {
                r->z_live = 0;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: corrupt gzip data: %s", r->path,
                                  r->z.msg ? r->z.msg : "inflate failed");
            }
        } else {
            if (r->in_eof && r->in_pos == r->in_len) {
                if (!r->frame_done)
                    return hlm_errorf(err, HLM_ERR_FORMAT, "%s: truncated zstd stream", r->path);
                return HLM_OK;
            }
            ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
            ZSTD_outBuffer ob = {dst, cap, 0};
            size_t rc = ZSTD_decompressStream(r->zd, &ob, &ib);
            if (ZSTD_isError(rc))
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: corrupt zstd data: %s", r->path,
                                  ZSTD_getErrorName(rc));
            r->frame_done = rc == 0;
            r->in_pos = ib.pos;
            *n = ob.pos;
        }
    }
    return HLM_OK;
}

hlm_compression hlm_reader_compression(const hlm_reader *r) { return r->comp; }

uint64_t hlm_reader_bytes_in(const hlm_reader *r) { return r->bytes_in - (r->in_len - r->in_pos); }

void hlm_reader_close(hlm_reader *r)
{
    if (!r) return;
    if (r->z_live || r->comp == HLM_COMP_GZIP) inflateEnd(&r->z);
    if (r->zd) ZSTD_freeDCtx(r->zd);
    if (r->own_fd && r->fd >= 0) close(r->fd);
    free(r->in);
    free(r->path);
    free(r);
}

hlm_status hlm_file_read_all(const char *path, hlm_buf *out, hlm_error *err)
{
    hlm_reader *r;
    hlm_status st = hlm_reader_open(&r, path, err);
    if (st) return st;
    for (;;) {
        if (hlm_buf_reserve(out, 1 << 16)) {
            hlm_reader_close(r);
            return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
        }
        size_t n;
        st = hlm_reader_read(r, out->data + out->len, out->cap - out->len - 1, &n, err);
        if (st) break;
        if (n == 0) break;
        out->len += n;
    }
    hlm_reader_close(r);
    if (!st) st = hlm_buf_terminate(out) ? hlm_errorf(err, HLM_ERR_NOMEM, "out of memory") : HLM_OK;
    return st;
}
