/* HTML extraction on arbitrary bytes: never crash, never take quadratic time on nesting, and
 * always produce text of the documented shape: valid UTF-8 without NUL, no whitespace at either
 * end, no line starting or ending with a space, never two blank lines in a row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/extract.h"
#include "text/unicode.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hlm_buf out = {0};
    hlm_html_info info = {0};
    hlm_error err;
    CHECK(hlm_html_extract((const char *)data, size, &out, &info, &err) == HLM_OK);
    const char *s = (const char *)out.data;
    size_t n = out.len;
    CHECK(s && s[n] == 0);
    CHECK(hlm_utf8_valid(out.data, n));
    CHECK(memchr(s, 0, n) == NULL);
    if (n) {
        CHECK(s[0] != '\n' && s[0] != ' ');
        CHECK(s[n - 1] != '\n' && s[n - 1] != ' ');
    }
    CHECK(strstr(s, "\n\n\n") == NULL);
    CHECK(strstr(s, " \n") == NULL);
    /* The title is collapsed the same way and is UTF-8 too. */
    CHECK(info.title.data && hlm_utf8_valid(info.title.data, info.title.len));
    CHECK(info.title.len == 0 || (info.title.data[0] != ' ' && info.title.data[info.title.len - 1] != ' '));
    CHECK(info.lang.data && info.lang.data[info.lang.len] == 0);
    /* A second call on the same buffers gives the same text (no state leaks between calls). */
    hlm_buf again = {0};
    CHECK(hlm_html_extract((const char *)data, size, &again, NULL, &err) == HLM_OK);
    CHECK(again.len == n && memcmp(again.data, s, n) == 0);
    hlm_buf_free(&again);
    hlm_buf_free(&out);
    hlm_html_info_free(&info);
    return 0;
}
