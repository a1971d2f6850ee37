/* Document readers over a buffer in memory instead of a file: the same parsers, without the file
 * system, for the fuzz targets and tests. The data must be uncompressed. */
#ifndef HLM_TEXT_DOCS_INTERNAL_H
#define HLM_TEXT_DOCS_INTERNAL_H

#include "text/docs.h"

/* name is used in error messages and, with HLM_DOC_AUTO, to choose the format. data must stay
 * valid until the reader is closed. */
hlm_status hlm_doc_reader_open_mem(hlm_doc_reader **out, const char *name, const void *data, size_t len,
                                   const hlm_doc_reader_opts *opts, hlm_error *err);

/* 1 if a plain text chunk may end right after s[i] (i + 1 < len): either s[i] is a '\n' with a
 * character before it that is not Unicode White_Space and one after it that is neither
 * White_Space nor '/', or s[i] ends an ASCII letter or a Hangul syllable and s[i + 1] is U+0020.
 * Exposed for the tests. */
int hlm_doc_text_cut_ok(const uint8_t *s, size_t len, size_t i);

#endif
