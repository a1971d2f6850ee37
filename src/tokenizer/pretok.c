/* Pre-tokenization without a regex engine: one matcher per OpenAI pattern that returns exactly
 * the piece that the pattern's leftmost-first backtracking match (tiktoken: Rust fancy-regex)
 * returns at the same position.
 *
 * Characters. A unit is a decoded code point or one invalid byte (text/unicode.h). The classes:
 *   L = \p{L}, N = \p{N}, S = \s = White_Space, M = \p{M};
 *   O = [^\s\p{L}\p{N}]   (an invalid byte is O: it is in no class)
 *   P = [^\r\n\p{L}\p{N}] (an invalid byte is P; P contains O, marks, and all spaces but \r \n)
 *   U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]; U and W share B = Lm Lo M.
 * c0, c1 are the units at pos and after it. "Run of X from i" = the longest sequence of X units
 * starting at i. Every pattern matches at every position (each unit is L, N, S or O and some
 * alternative takes a lone unit of each), so the pieces partition the input; no alternative can
 * match the empty string, so every piece is non-empty.
 *
 * Leftmost-first: the first alternative that can match at pos wins; inside it, the first success
 * in backtracking order (greedy: longest first; `??`-free patterns). An alternative that ends in
 * a greedy run with nothing after it (or only something that always succeeds, like `[\r\n]*` or an
 * optional suffix) therefore takes the whole run.
 *
 * gpt2 / r50k: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   1-7  the contractions: case-sensitive ASCII, none is a prefix of another.
 *   8-10 ` ?X+` (X = L, N, O): ` ?` first tries to take a U+0020; that succeeds iff c0 == ' '
 *        and c1 is X, giving ' ' + run of X from c1. Otherwise ` ?` takes nothing and c0 must be X.
 *        The space itself is S, never X, so there is no other way for these to match.
 *   11   `\s+(?!\S)`: c0 is S (else every alternative above matched). \s+ first takes the run of
 *        S, ending at e. If e is the end of the text, (?!\S) holds: the whole run. Otherwise the
 *        unit at e is \S and the match backs off one unit: the run minus its last unit, which is
 *        followed by that S unit, so (?!\S) holds, provided at least one unit is left.
 *   12   `\s+`: reached only for a run of one S unit followed by \S: that unit.
 *
 * cl100k: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|
 *         \s*[\r\n]|\s+(?!\S)|\s+
 *   1  ' then, case-insensitively (simple case folding), one of s d m t ll ve re. The only
 *      non-ASCII characters that fold to these letters: U+017F LONG S folds to s (U+212A KELVIN
 *      folds to k, not in the list). No option is a prefix of another.
 *   2  `P?+L+`: possessive, but P and L are disjoint, so giving the P back could never let L+
 *      match at c0 anyway: if c0 is P, the match is c0 + run of L from c1 when c1 is L, else
 *      nothing; if c0 is L, the run of L from c0.
 *   3  `\p{N}{1,3}`: c0 is N: up to three N units.
 *   4  ` ?O++[\r\n]*`: c0 == ' ' and c1 is O: ' ' + run of O + run of [\r\n]; else c0 is O: run
 *      of O + run of [\r\n]. (\r \n are not O, so possessive and greedy agree.)
 *   5  `\s*[\r\n]`: c0 is S now. \s* takes the run of S, [pos, e); the unit at e is not S, so
 *      not \r or \n, and \s* gives back units until a \r or \n follows: the match ends just
 *      after the last \r or \n of the run, if the run has one.
 *   6,7 as gpt2 11, 12.
 *
 * o200k: A1 P?U*W+(?i:'s|'t|'re|'ve|'m|'ll|'d)?  A2 P?U+W*(?i:...)?  A3 \p{N}{1,3}
 *        A4 ` ?[^\s\p{L}\p{N}]+[\r\n/]*`  A5 \s*[\r\n]+  A6 \s+(?!\S)  A7 \s+
 *   A1 from x (after the prefix decision): U* takes the run of U, [x, u); W+ must then start at
 *      the unit where U* stopped. Trying U* longest first: at u the unit is not U, so it is W only
 *      if it is Ll; then W+ takes the run of W from u and the alternative has matched (the
 *      suffix is optional). Otherwise U* gives back units one at a time; W+ can start at the
 *      given-back unit y only if y is B, and then the run of W from y stops at the next unit
 *      (which is Lu/Lt, or u). So the match ends after the last B unit of [x, u); with no B there
 *      and no Ll at u, A1 fails from x.
 *      The optional prefix is tried first taken (x = pos + c0) when c0 is P, then not (x = pos).
 *      P contains the marks, which are U and W, so both can matter: "\u0301a" takes the mark as
 *      prefix; "\u0301A " (mark, Lu, space) fails from x = 1 and matches the mark alone from 0.
 *      The suffix is tried after the longest W+ and, being optional, never forces a backtrack.
 *   A2 from x (reached only when A1 failed from both x): needs U at x; U+ takes the run [x, u),
 *      W* the run of W from u. When A1 failed from x, the unit at u is not W (else A1 had
 *      matched), so A2 ends at u if u > x. Order: A1 with prefix, A1 without, A2 with, A2 without.
 *   A3 as cl100k 3.
 *   A4 like cl100k 4 with [\r\n/]* after the run of O ('/' is O, so the run of O already holds
 *      the slashes before the first \r or \n).
 *   A5 `\s*[\r\n]+`: as cl100k 5: the \r or \n at the largest position of the S run; [\r\n]+
 *      then cannot go further (the next unit is a non-\r\n S unit or not S at all).
 *   A6, A7 as gpt2 11, 12.
 *
 * Checked against PCRE2 (same semantics, with \s spelled out as White_Space) by
 * tests/tokenizer/test_pretok.c on random strings, invalid bytes included.
 *
 * Speed: ASCII units are classified with a 128-entry table and never touch the decoder; other
 * units are decoded once per scan and looked up in the two-stage table. An ASCII word, the most
 * common piece, is taken by a small inlined path before the general matcher. No allocation. */
#include "tokenizer/pretok.h"

#include <stdatomic.h>
#include <string.h>

#include "text/unicode.h"

#define C_L HLM_CC_LETTER
#define C_N HLM_CC_NUMBER
#define C_S HLM_CC_SPACE
#define C_U HLM_CC_UPPERISH
#define C_W HLM_CC_LOWERISH

typedef struct unit {
    uint32_t cp;
    uint8_t cls;
    uint8_t n; /* bytes */
} unit;

/* Unit at s[i]; i < len. */
/* The helpers of the hot loops; GCC left unit_at out of line, which cost a quarter of the time. */
#define HOT static inline __attribute__((always_inline))

HOT unit unit_at(const hlm_class_table *t, const uint8_t *s, size_t len, size_t i)
{
    unit u;
    uint8_t b = s[i];
    if (b < 0x80) {
        u.cp = b;
        u.cls = hlm_ascii_class[b];
        u.n = 1;
        return u;
    }
    u.n = (uint8_t)hlm_utf8_decode_inline(s + i, len - i, &u.cp);
    u.cls = u.cp == HLM_CP_INVALID ? 0 : hlm_class_lookup(t, u.cp);
    return u;
}

/* End of the run of units with any bit of mask, from i. */
HOT size_t run_any(const hlm_class_table *t, const uint8_t *s, size_t len, size_t i, uint8_t mask)
{
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            if (!(hlm_ascii_class[b] & mask)) break;
            i++;
            continue;
        }
        unit u = unit_at(t, s, len, i);
        if (!(u.cls & mask)) break;
        i += u.n;
    }
    return i;
}

/* End of the run of O units (no L, N or S bit), from i. */
HOT size_t run_other(const hlm_class_table *t, const uint8_t *s, size_t len, size_t i)
{
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            if (hlm_ascii_class[b]) break; /* ASCII has only L, N, S bits */
            i++;
            continue;
        }
        unit u = unit_at(t, s, len, i);
        if (u.cls & (C_L | C_N | C_S)) break;
        i += u.n;
    }
    return i;
}

static inline size_t run_bytes(const uint8_t *s, size_t len, size_t i, uint8_t a, uint8_t b, uint8_t c)
{
    while (i < len && (s[i] == a || s[i] == b || s[i] == c)) i++;
    return i;
}

static inline int is_o(uint8_t cls) { return !(cls & (C_L | C_N | C_S)); }
static inline int is_p(unit u) { return !(u.cls & (C_L | C_N)) && u.cp != '\r' && u.cp != '\n'; }

/* Case-insensitive contraction at s[i] == '\'': '(?i:s|t|re|ve|m|ll|d) (the same set in cl100k
 * and o200k). Returns its end, or 0. */
static inline size_t contraction_ci(const uint8_t *s, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j >= len) return 0;
    uint8_t a = s[j];
    if (a == 0xC5 && j + 1 < len && s[j + 1] == 0xBF) return j + 2; /* U+017F folds to s */
    a |= 0x20;                                                      /* ASCII letters only below */
    if (s[j] < 'A' || a < 'a' || a > 'z') return 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return j + 1;
    if (j + 1 >= len || s[j + 1] < 'A') return 0;
    uint8_t b = s[j + 1] | 0x20;
    if ((a == 'l' && b == 'l') || ((a == 'r' || a == 'v') && b == 'e')) return j + 2;
    return 0;
}

/* The whitespace alternatives, with c0 S: `\s*[\r\n]` (when crlf, which is the same as
 * `\s*[\r\n]+` here), then `\s+(?!\S)`, then `\s+`. */
static inline size_t whitespace(const hlm_class_table *t, const uint8_t *s, size_t len, size_t pos,
                                int crlf)
{
    size_t i = pos, last = pos, nl_end = 0;
    while (i < len) {
        uint8_t b = s[i];
        size_t n = 1;
        if (b < 0x80) {
            if (!(hlm_ascii_class[b] & C_S)) break;
            if (b == '\r' || b == '\n') nl_end = i + 1;
        } else {
            unit u = unit_at(t, s, len, i);
            if (!(u.cls & C_S)) break;
            n = u.n;
        }
        last = i;
        i += n;
    }
    if (crlf && nl_end) return nl_end;
    if (i == len) return i;
    return last > pos ? last : i;
}

static size_t next_gpt2(const hlm_class_table *t, const uint8_t *s, size_t len, size_t pos)
{
    uint8_t b = s[pos];
    if (b == '\'' && pos + 1 < len) {
        uint8_t a = s[pos + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
        if (pos + 2 < len) {
            uint8_t c = s[pos + 2];
            if ((a == 'r' && c == 'e') || (a == 'v' && c == 'e') || (a == 'l' && c == 'l')) return pos + 3;
        }
    }
    size_t i = pos;
    if (b == ' ' && pos + 1 < len) i = pos + 1;
    for (;;) { /* once with c1 after a space, once with c0 */
        unit u = unit_at(t, s, len, i);
        if (u.cls & C_L) return run_any(t, s, len, i + u.n, C_L);
        if (u.cls & C_N) return run_any(t, s, len, i + u.n, C_N);
        if (is_o(u.cls)) return run_other(t, s, len, i + u.n);
        if (i == pos) break;
        i = pos;
    }
    return whitespace(t, s, len, pos, 0);
}

static size_t next_cl100k(const hlm_class_table *t, const uint8_t *s, size_t len, size_t pos)
{
    if (s[pos] == '\'') {
        size_t e = contraction_ci(s, len, pos);
        if (e) return e;
    }
    unit c0 = unit_at(t, s, len, pos);
    size_t i1 = pos + c0.n;
    if (c0.cls & C_L) return run_any(t, s, len, i1, C_L);
    if (c0.cls & C_N) {
        size_t e = i1;
        for (int k = 1; k < 3 && e < len; k++) {
            unit u = unit_at(t, s, len, e);
            if (!(u.cls & C_N)) break;
            e += u.n;
        }
        return e;
    }
    if (is_p(c0) && i1 < len) {
        unit c1 = unit_at(t, s, len, i1);
        if (c1.cls & C_L) return run_any(t, s, len, i1 + c1.n, C_L);
        if (c0.cp == ' ' && is_o(c1.cls))
            return run_bytes(s, len, run_other(t, s, len, i1 + c1.n), '\r', '\n', '\n');
    }
    if (is_o(c0.cls)) return run_bytes(s, len, run_other(t, s, len, i1), '\r', '\n', '\n');
    return whitespace(t, s, len, pos, 1);
}

/* o200k A1 from x (see the top): returns its end, or 0; *a2 gets A2's end from x, or 0. */
static inline size_t o200k_letters(const hlm_class_table *t, const uint8_t *s, size_t len, size_t x,
                                   size_t *a2)
{
    size_t i = x, last_b_end = 0;
    *a2 = 0;
    while (i < len) {
        unit u = unit_at(t, s, len, i);
        if (!(u.cls & C_U)) {
            if (u.cls & C_W) return run_any(t, s, len, i + u.n, C_W);
            break;
        }
        i += u.n;
        if (u.cls & C_W) last_b_end = i;
    }
    if (last_b_end) return last_b_end;
    if (i > x) *a2 = i;
    return 0;
}

static size_t next_o200k(const hlm_class_table *t, const uint8_t *s, size_t len, size_t pos)
{
    unit c0 = unit_at(t, s, len, pos);
    size_t i1 = pos + c0.n, e = 0, a2_pre = 0, a2_here = 0;
    if (is_p(c0) && i1 < len) e = o200k_letters(t, s, len, i1, &a2_pre);
    if (!e && (c0.cls & (C_U | C_W))) e = o200k_letters(t, s, len, pos, &a2_here);
    if (!e) e = a2_pre ? a2_pre : a2_here;
    if (e) {
        if (e < len && s[e] == '\'') {
            size_t c = contraction_ci(s, len, e);
            if (c) return c;
        }
        return e;
    }
    if (c0.cls & C_N) {
        e = i1;
        for (int k = 1; k < 3 && e < len; k++) {
            unit u = unit_at(t, s, len, e);
            if (!(u.cls & C_N)) break;
            e += u.n;
        }
        return e;
    }
    if (c0.cp == ' ' && i1 < len) {
        unit c1 = unit_at(t, s, len, i1);
        if (is_o(c1.cls)) return run_bytes(s, len, run_other(t, s, len, i1 + c1.n), '\r', '\n', '/');
    }
    if (is_o(c0.cls)) return run_bytes(s, len, run_other(t, s, len, i1), '\r', '\n', '/');
    return whitespace(t, s, len, pos, 1);
}

/* The most common piece of English, an ASCII word with or without one space before it, in
 * few registers so that it needs no full function prologue. Returns 0 where the general matcher
 * has to decide (the word runs into a non-ASCII byte, or for o200k anything but [A-Z]?[a-z]+
 * not followed by an apostrophe). The pieces are the ones derived above: gpt2 ` ?\p{L}+`,
 * cl100k `P?+\p{L}+` (' ' is P), o200k A1 with ' ' as the prefix, U* = [A-Z]?, W+ = [a-z]+. */
HOT size_t ascii_word(hlm_pattern p, const uint8_t *s, size_t len, size_t pos)
{
    size_t i = pos + (s[pos] == ' ');
    if (i >= len || s[i] >= 0x80) return 0;
    uint8_t c = hlm_ascii_class[s[i]];
    if (!(c & C_L)) return 0;
    if (p == HLM_PATTERN_O200K) {
        if ((c & C_U) && (++i >= len || s[i] >= 0x80 || !(hlm_ascii_class[s[i]] & C_W))) return 0;
        for (i++; i < len && s[i] < 0x80 && (hlm_ascii_class[s[i]] & C_W); i++) {}
        if (i < len && (s[i] >= 0x80 || s[i] == '\'')) return 0;
        return i;
    }
    for (i++; i < len && s[i] < 0x80 && (hlm_ascii_class[s[i]] & C_L); i++) {}
    if (i < len && s[i] >= 0x80) return 0;
    return i;
}

/* The class table, once built: one acquire load per piece instead of a call to pthread_once. */
static _Atomic(const hlm_class_table *) g_table;

static __attribute__((noinline)) size_t next_general(hlm_pattern p, const uint8_t *s, size_t len,
                                                      size_t pos)
{
    const hlm_class_table *t = atomic_load_explicit(&g_table, memory_order_acquire);
    if (!t) atomic_store_explicit(&g_table, t = hlm_class_table_get(), memory_order_release);
    switch (p) {
    case HLM_PATTERN_CL100K: return next_cl100k(t, s, len, pos);
    case HLM_PATTERN_O200K: return next_o200k(t, s, len, pos);
    default: return next_gpt2(t, s, len, pos);
    }
}

size_t hlm_pretok_next(hlm_pattern p, const uint8_t *s, size_t len, size_t pos)
{
    if (pos >= len) return len;
    size_t e = ascii_word(p, s, len, pos);
    return e ? e : next_general(p, s, len, pos);
}

/* ---- names and regular expressions ---- */

static const char *const g_regex[HLM_PATTERN_COUNT] = {
    [HLM_PATTERN_GPT2] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    [HLM_PATTERN_CL100K] =
        "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|"
        "\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    [HLM_PATTERN_O200K] =
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

static const struct {
    const char *name;
    hlm_pattern p;
} g_names[] = {
    {"gpt2", HLM_PATTERN_GPT2},     {"r50k", HLM_PATTERN_GPT2},      {"r50k_base", HLM_PATTERN_GPT2},
    {"cl100k", HLM_PATTERN_CL100K}, {"cl100k_base", HLM_PATTERN_CL100K},
    {"o200k", HLM_PATTERN_O200K},   {"o200k_base", HLM_PATTERN_O200K},
};

hlm_status hlm_pattern_from_name(const char *name, hlm_pattern *out, hlm_error *err)
{
    for (size_t i = 0; name && i < sizeof g_names / sizeof g_names[0]; i++) {
        if (!strcmp(name, g_names[i].name)) {
            *out = g_names[i].p;
            return HLM_OK;
        }
    }
    return hlm_errorf(err, HLM_ERR_INVALID,
                      "unknown pre-tokenizer pattern '%s': expected one of gpt2, r50k, r50k_base, "
                      "cl100k, cl100k_base, o200k, o200k_base",
                      name ? name : "(null)");
}

const char *hlm_pattern_name(hlm_pattern p)
{
    switch (p) {
    case HLM_PATTERN_GPT2: return "gpt2";
    case HLM_PATTERN_CL100K: return "cl100k_base";
    case HLM_PATTERN_O200K: return "o200k_base";
    default: return "unknown";
    }
}

const char *hlm_pattern_regex(hlm_pattern p)
{
    return (unsigned)p < HLM_PATTERN_COUNT ? g_regex[p] : NULL;
}
