/* PII detection and redaction: one left-to-right scan over the bytes.
 *
 * Invariants:
 *  - Every match consists of ASCII bytes only, so cutting the text at match boundaries never
 *    splits a UTF-8 sequence: redacting valid UTF-8 gives valid UTF-8.
 *  - Matches are produced in order and never overlap: a scanner remembers where the last match
 *    ended (last_end) and no candidate may start before it. Candidates found by looking back
 *    from a trigger (the local part of an e-mail before '@', an IPv6 group before ':', the '('
 *    of "(02) 123-4567") stop at last_end.
 *  - Detection does not depend on the mask: the same spans are found for every mask and only
 *    those of the requested types are reported. So a phone number with phone off is not
 *    reported as an account number, and a number inside an e-mail address is never redacted on
 *    its own.
 *
 * Speed: only four kinds of byte can start a candidate: an ASCII digit, '@', '+' and ':'. The
 * scan jumps between them 16 bytes at a time (SSE2), so Hangul text without digits is read at
 * memory speed. A digit run that starts no match is skipped whole, so no digit is looked at as
 * a start twice and the scan stays linear; look-backs are bounded (64 bytes for an e-mail local
 * part, 39 for IPv6, 20 code points for a context word).
 *
 * Boundaries: a numeric match may not touch an ASCII letter, digit, '_' or '@', nor continue a
 * longer number ("1.010-...", "...5678-9", "...5678.5"); Hangul and punctuation around it are
 * fine. Why not \b: a regex word boundary fails next to Hangul particles ("5678로"). */
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "text/pii.h"

static const char *const type_names[HLM_PII_TYPE_COUNT] = {"email", "phone", "ip", "rrn", "card", "account"};
static const char *const placeholders[HLM_PII_TYPE_COUNT] = {"<EMAIL>", "<PHONE>", "<IP>", "<RRN>", "<CARD>", "<ACCOUNT>"};

const char *hlm_pii_type_name(hlm_pii_type t)
{
    return (unsigned)t < HLM_PII_TYPE_COUNT ? type_names[t] : "unknown";
}

const char *hlm_pii_placeholder(hlm_pii_type t)
{
    return (unsigned)t < HLM_PII_TYPE_COUNT ? placeholders[t] : "<PII>";
}

hlm_status hlm_pii_parse_types(const char *list, unsigned *mask, hlm_error *err)
{
    if (!list || !mask) return hlm_errorf(err, HLM_ERR_INVALID, "pii types: expected a list, got NULL");
    unsigned m = 0;
    const char *p = list;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *q = p;
        while (*q && *q != ',') q++;
        const char *e = q;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
        size_t n = (size_t)(e - p);
        int found = 0;
        if (n == 3 && !memcmp(p, "all", 3)) {
            m |= HLM_PII_ALL;
            found = 1;
        } else if (n == 4 && !memcmp(p, "none", 4)) {
            found = 1;
        } else {
            for (int t = 0; t < HLM_PII_TYPE_COUNT; t++)
                if (strlen(type_names[t]) == n && !memcmp(p, type_names[t], n)) {
                    m |= 1u << t;
                    found = 1;
                }
        }
        if (!found)
            return hlm_errorf(err, HLM_ERR_INVALID,
                              "pii types: unknown type '%.*s' in '%s': expected a comma-separated list of "
                              "email, phone, ip, rrn, card, account, or all, or none",
                              (int)(n > 64 ? 64 : n), p, list);
        if (!*q) break;
        p = q + 1;
    }
    *mask = m;
    return HLM_OK;
}

/* ---- character classes (ASCII only: every match is ASCII) ---- */

static inline int is_digit(uint8_t c) { return (unsigned)(c - '0') < 10; }
static inline int is_alpha(uint8_t c) { return (unsigned)((c | 0x20) - 'a') < 26; }
static inline int is_alnum(uint8_t c) { return is_digit(c) || is_alpha(c); }
static inline int is_hex(uint8_t c) { return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6; }
static inline int is_trigger(uint8_t c) { return (unsigned)(c - '0') <= 10 || c == '@' || c == '+'; }

/* Characters of an e-mail local part: [A-Za-z0-9._%+-]. */
static inline int is_local(uint8_t c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static size_t digit_run(const uint8_t *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && is_digit(s[j])) j++;
    return j - i;
}

/* Value of n <= 9 digits at s. */
static uint32_t num_at(const uint8_t *s, size_t n)
{
    uint32_t v = 0;
    for (size_t k = 0; k < n; k++) v = v * 10 + (uint32_t)(s[k] - '0');
    return v;
}

static size_t skip_to_trigger(const uint8_t *s, size_t len, size_t i)
{
#ifdef __SSE2__
    const __m128i zero = _mm_set1_epi8('0'), ten = _mm_set1_epi8(10);
    const __m128i at = _mm_set1_epi8('@'), plus = _mm_set1_epi8('+');
    while (i + 16 <= len) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i t = _mm_sub_epi8(x, zero); /* '0'..':' map to 0..10 */
        __m128i m = _mm_cmpeq_epi8(_mm_min_epu8(t, ten), t);
        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, at), _mm_cmpeq_epi8(x, plus)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i < len && !is_trigger(s[i])) i++;
    return i;
}

/* ---- boundaries of numeric matches ---- */

/* May a numeric match start at p? Not after a letter, digit, '_' or '@', nor as the tail of a
 * longer number ("1.010...", "12-010...", "AB-010..."). */
static int num_left_ok(const uint8_t *s, size_t p)
{
    if (p == 0) return 1;
    uint8_t c = s[p - 1];
    if (is_alnum(c) || c == '_' || c == '@') return 0;
    if (p >= 2) {
        uint8_t c2 = s[p - 2];
        if ((c == '-' || c == '.' || c == ':' || c == '+') && is_digit(c2)) return 0;
        if (c == '-' && (is_alpha(c2) || c2 == '_')) return 0;
    }
    return 1;
}

/* May a numeric match end at e? Not before a letter, digit, '_' or '@', nor where the number
 * continues ("...5678-9", "...5678.5", "...4:5", "...-A"). spaced: the match used spaces
 * between its groups, so a following " 9" would make it part of a longer spaced number. */
static int num_right_ok(const uint8_t *s, size_t len, size_t e, int spaced)
{
    if (e >= len) return 1;
    uint8_t c = s[e];
    if (is_alnum(c) || c == '_' || c == '@') return 0;
    if (e + 1 < len) {
        uint8_t c2 = s[e + 1];
        if ((c == '-' || c == '.' || c == '+') && is_digit(c2)) return 0;
        if (c == '-' && is_alpha(c2)) return 0;
        if (c == ':' && (is_hex(c2) || c2 == ':')) return 0;
        if (spaced && c == ' ' && is_digit(c2)) return 0;
    }
    return 1;
}

/* ---- context words (account numbers, RRNs without a hyphen) ---- */

/* Start of the window of up to n code points before p (not before lo). */
static size_t back_chars(const uint8_t *s, size_t p, size_t n, size_t lo)
{
    size_t i = p;
    while (i > lo && n > 0) {
        i--;
        if ((s[i] & 0xC0) != 0x80) n--;
    }
    return i;
}

/* End of the window of up to n code points after p. */
static size_t fwd_chars(const uint8_t *s, size_t len, size_t p, size_t n)
{
    size_t i = p;
    while (i < len && n > 0) {
        i++;
        while (i < len && (s[i] & 0xC0) == 0x80) i++;
        n--;
    }
    return i;
}

typedef struct word {
    const char *text;
    size_t len;
} word;
#define WORD(lit) {lit, sizeof lit - 1}

/* Does s[a..b) contain one of words (lowercase ASCII compared without case)? */
static int has_word(const uint8_t *s, size_t a, size_t b, const word *words)
{
    for (size_t i = a; i < b; i++) {
        uint8_t c = s[i];
        if (c < 0x80 && !is_alpha(c)) continue;
        if ((c & 0xC0) == 0x80) continue;
        uint8_t lc = is_alpha(c) ? (uint8_t)(c | 0x20) : c;
        for (const word *w = words; w->text; w++) {
            const uint8_t *wp = (const uint8_t *)w->text;
            size_t n = w->len;
            if (wp[0] != lc || n > b - i) continue;
            size_t k = 1;
            for (; k < n; k++) {
                uint8_t x = s[i + k];
                if (is_alpha(x)) x |= 0x20;
                if (x != wp[k]) break;
            }
            if (k == n) return 1;
        }
    }
    return 0;
}

static const word account_words[] = {
    WORD("계좌"), WORD("입금"), WORD("송금"), WORD("이체"), WORD("예금주"), WORD("은행"), WORD("국민"), WORD("신한"),
    WORD("우리"), WORD("하나"), WORD("농협"), WORD("기업"), WORD("카카오뱅크"), WORD("토스"), WORD("새마을"),
    WORD("우체국"), WORD("account"), WORD("acct"), WORD("bank"), WORD("a/c"), {NULL, 0}};
static const word rrn_words[] = {WORD("주민"), WORD("resident registration"), WORD("rrn"), {NULL, 0}};

#define CONTEXT_CHARS 20

/* ---- validators ---- */

static int luhn_ok(const uint8_t *d, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = d[n - 1 - k];
        if (k & 1) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* Issuer ranges (IIN) with the lengths each issues; d holds digit values. */
static int card_iin_ok(const uint8_t *d, size_t n)
{
    unsigned p2 = d[0] * 10u + d[1], p3 = p2 * 10u + d[2], p4 = p3 * 10u + d[3];
    if (d[0] == 4) return n == 13 || n == 16 || n == 19;                        /* Visa */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;   /* Mastercard */
    if (p2 == 34 || p2 == 37) return n == 15;                                   /* Amex */
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return n >= 16;     /* Discover */
    if (p4 >= 3528 && p4 <= 3589) return n >= 16;                              /* JCB */
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305)) return n >= 14; /* Diners */
    if (p2 == 62) return n >= 16;                                               /* UnionPay */
    return 0;
}

static int is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* YYMMDD at d (ASCII) with the century from the gender digit g: 1,2,5,6 -> 1900s; 3,4,7,8 ->
 * 2000s; 9,0 -> 1800s. */
static int rrn_date_ok(const uint8_t *d, uint8_t g)
{
    static const unsigned century[10] = {1800, 1900, 1900, 2000, 2000, 1900, 1900, 2000, 2000, 1800};
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = century[g - '0'] + num_at(d, 2), m = num_at(d + 2, 2), day = num_at(d + 4, 2);
    if (m < 1 || m > 12 || day < 1) return 0;
    unsigned maxd = mdays[m - 1] + (m == 2 && is_leap(y));
    return day <= maxd;
}

/* ---- matchers: each returns the end of a match (> start) or 0 ---- */

/* Dotted quad, each octet 0..255 without leading zeros, not followed by another .digit. With
 * wide = 1 at least one octet has two digits or more: "1.2.3.4" in running text is far more
 * often a list of episodes or steps, and the all-single-digit addresses that exist (1.1.1.1,
 * 8.8.8.8) are public resolvers, not personal data. */
static size_t match_ipv4(const uint8_t *s, size_t len, size_t p, int wide)
{
    size_t i = p, widest = 0;
    for (int k = 0; k < 4; k++) {
        if (k) {
            if (i >= len || s[i] != '.') return 0;
            i++;
        }
        size_t r = digit_run(s, len, i);
        if (r < 1 || r > 3 || (r > 1 && s[i] == '0') || num_at(s + i, r) > 255) return 0;
        if (r > widest) widest = r;
        i += r;
    }
    return wide && widest < 2 ? 0 : i;
}

static size_t match_rrn(const uint8_t *s, size_t len, size_t p, size_t r0)
{
    if (r0 == 6 && p + 14 <= len && (s[p + 6] == '-' || s[p + 6] == ' ') && digit_run(s, len, p + 7) == 7) {
        uint8_t g = s[p + 7];
        if (rrn_date_ok(s + p, g) && num_right_ok(s, len, p + 14, s[p + 6] == ' ')) return p + 14;
        return 0;
    }
    if (r0 == 13 && rrn_date_ok(s + p, s[p + 6]) && num_right_ok(s, len, p + 13, 0) &&
        has_word(s, back_chars(s, p, CONTEXT_CHARS, 0), p, rrn_words))
        return p + 13;
    return 0;
}

static size_t match_card(const uint8_t *s, size_t len, size_t p, size_t r0)
{
    uint8_t d[19];
    size_t n = 0, end;
    int spaced = 0;
    if (r0 >= 13 && r0 <= 19) {
        for (size_t k = 0; k < r0; k++) d[n++] = (uint8_t)(s[p + k] - '0');
        end = p + r0;
    } else if (r0 == 4 && p + 4 < len && (s[p + 4] == '-' || s[p + 4] == ' ')) {
        /* 4-4-4-4, 4-4-4-4-1..3, 4-4-4-1..3, Amex 4-6-5, Diners 4-6-4; one separator. */
        uint8_t sep = s[p + 4];
        size_t g[6], ng = 0, i = p;
        for (;;) {
            size_t r = digit_run(s, len, i);
            if (r == 0 || ng == 6) return 0;
            g[ng++] = r;
            if (n + r > 19) return 0;
            for (size_t k = 0; k < r; k++) d[n++] = (uint8_t)(s[i + k] - '0');
            i += r;
            if (i + 1 < len && s[i] == sep && is_digit(s[i + 1])) {
                i++;
                continue;
            }
            break;
        }
        int ok = 0;
        if (ng == 3 && g[1] == 6 && (g[2] == 4 || g[2] == 5)) ok = 1;
        else if (ng >= 4 && g[1] == 4 && g[2] == 4) {
            if (ng == 4 && g[3] >= 1 && g[3] <= 4) ok = 1;
            else if (ng == 5 && g[3] == 4 && g[4] <= 3) ok = 1;
        }
        if (!ok || n < 13) return 0;
        end = i;
        spaced = sep == ' ';
    } else {
        return 0;
    }
    if (!card_iin_ok(d, n) || !luhn_ok(d, n) || !num_right_ok(s, len, end, spaced)) return 0;
    return end;
}

static int is_phone_sep(uint8_t c) { return c == '-' || c == ' ' || c == '.'; }

/* A counter or unit right after a number ("1500-2000원", "1592-1598년"): a range, not a phone. */
static int unit_follows(const uint8_t *s, size_t len, size_t e)
{
    /* 만 alone is also the particle "only" ("1588-1234만 기억하세요"), so only 만원, 만 명, ... */
    static const word units[] = {WORD("원"),   WORD("년"),   WORD("명"), WORD("개"),   WORD("억"),    WORD("천"),
                                 WORD("점"),   WORD("달러"), WORD("위"), WORD("회"),   WORD("%"),     WORD("만원"),
                                 WORD("만 원"), WORD("만명"), WORD("만 명"), WORD("만개"), WORD("만 개"), {NULL, 0}};
    if (e < len && s[e] == ' ') e++;
    for (const word *u = units; u->text; u++) {
        if (e + u->len <= len && !memcmp(s + e, u->text, u->len)) return 1;
    }
    return 0;
}

/* Korean numbers: mobile 01[016789], area codes 02, 031-033, 041-044, 051-055, 061-064, 070,
 * 080, 050X; 15XX/16XX/18XX service numbers. *start is p, or p - 1 for "(02) 123-4567". */
static size_t match_kr_phone(const uint8_t *s, size_t len, size_t p, size_t r0, size_t lo, size_t *start)
{
    *start = p;
    const uint8_t *d = s + p;
    int mobile = d[0] == '0' && r0 >= 3 && d[1] == '1' && (d[2] == '0' || (d[2] >= '6' && d[2] <= '9') || d[2] == '1');
    if (mobile && (r0 == 10 || r0 == 11)) {
        /* 01012345678, 0111234567 */
        return num_right_ok(s, len, p + r0, 0) ? p + r0 : 0;
    }
    int area = 0, service = 0;
    if (r0 == 3 && mobile) area = 1;
    else if (r0 == 2 && d[0] == '0' && d[1] == '2') area = 1;
    else if (r0 == 3 && d[0] == '0') {
        unsigned a = num_at(d + 1, 2);
        area = (a >= 31 && a <= 33) || (a >= 41 && a <= 44) || (a >= 51 && a <= 55) || (a >= 61 && a <= 64) ||
               a == 70 || a == 80;
    } else if (r0 == 4 && d[0] == '0' && d[1] == '5' && d[2] == '0' && d[3] >= '2' && d[3] <= '8') {
        area = 1;
    } else if (r0 == 4 && d[0] == '1' && (d[1] == '5' || d[1] == '6' || d[1] == '8')) {
        service = 1;
    }
    if (!area && !service) return 0;
    size_t i = p + r0;
    int spaced = 0;
    if (service) {
        if (i + 5 > len || s[i] != '-' || digit_run(s, len, i + 1) != 4) return 0;
        size_t e = i + 5;
        uint32_t a = num_at(d, 4), b = num_at(s + i + 1, 4);
        if (b >= a && b - a <= 300) return 0; /* a range of years or prices: "1592-1598" */
        if (!num_right_ok(s, len, e, 0) || unit_follows(s, len, e)) return 0;
        return e;
    }
    if (p > lo && s[p - 1] == '(' && i < len && s[i] == ')') {
        /* (02) 123-4567, (010)1234-5678 */
        i++;
        if (i < len && s[i] == ' ') i++;
        *start = p - 1;
    } else if (i < len && s[i] == ')') {
        /* 02)123-4567 */
        i++;
        if (i < len && s[i] == ' ') i++;
    } else {
        if (i >= len || !is_phone_sep(s[i])) return 0;
        spaced |= s[i] == ' ';
        i++;
    }
    size_t r1 = digit_run(s, len, i);
    if (r1 < 3 || r1 > 4) return 0;
    i += r1;
    if (i >= len || !is_phone_sep(s[i])) return 0;
    spaced |= s[i] == ' ';
    i++;
    if (digit_run(s, len, i) != 4) return 0;
    i += 4;
    return num_right_ok(s, len, i, spaced) ? i : 0;
}

/* Bank account: 2-4 hyphenated groups of 2..8 digits, 10..14 digits in all, with a banking word
 * within CONTEXT_CHARS code points before or after; not a date (YYYY-MM-...). */
static size_t match_account(const uint8_t *s, size_t len, size_t p)
{
    size_t i = p, ng = 0, total = 0, g[5];
    for (;;) {
        size_t r = digit_run(s, len, i);
        if (r < 2 || r > 8 || ng == 4) return 0;
        g[ng++] = r;
        total += r;
        i += r;
        if (i + 1 < len && s[i] == '-' && is_digit(s[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    if (ng < 2 || total < 10 || total > 14) return 0;
    if (g[0] == 4 && g[1] == 2) {
        unsigned y = num_at(s + p, 4), m = num_at(s + p + 5, 2);
        if (y >= 1900 && y <= 2099 && m >= 1 && m <= 12) return 0;
    }
    if (!num_right_ok(s, len, i, 0) || unit_follows(s, len, i)) return 0;
    if (!has_word(s, back_chars(s, p, CONTEXT_CHARS, 0), p, account_words) &&
        !has_word(s, i, fwd_chars(s, len, i, CONTEXT_CHARS), account_words))
        return 0;
    return i;
}

/* A candidate starting at the digit p. */
static size_t match_numeric(const uint8_t *s, size_t len, size_t p, size_t lo, size_t *start, hlm_pii_type *type)
{
    if (!num_left_ok(s, p)) return 0;
    size_t r0 = digit_run(s, len, p), e;
    *start = p;
    /* An address may be followed by a port ("10.0.0.1:8080"). */
    if (r0 <= 3 && p + r0 < len && s[p + r0] == '.' && (e = match_ipv4(s, len, p, 1)) &&
        (num_right_ok(s, len, e, 0) || (s[e] == ':' && e + 1 < len && is_digit(s[e + 1])))) {
        *type = HLM_PII_IP;
        return e;
    }
    if ((r0 == 6 || r0 == 13) && (e = match_rrn(s, len, p, r0))) {
        *type = HLM_PII_RRN;
        return e;
    }
    if ((r0 == 4 || r0 >= 13) && (e = match_card(s, len, p, r0))) {
        *type = HLM_PII_CARD;
        return e;
    }
    if (r0 >= 2 && r0 <= 11 && (e = match_kr_phone(s, len, p, r0, lo, start))) {
        *type = HLM_PII_PHONE;
        return e;
    }
    *start = p;
    if (r0 >= 2 && r0 <= 8 && p + r0 < len && s[p + r0] == '-' && (e = match_account(s, len, p))) {
        *type = HLM_PII_ACCOUNT;
        return e;
    }
    return 0;
}

/* International number at '+' (q): +CC then groups separated by one ' ', '-' or '.', with
 * optional parenthesized groups ("+1 (415) 555-0123", "+82 (0)2 ..."); 7..15 digits, or 10..15
 * when written without separators ("+5000000" is more likely an amount). +82 must continue as a
 * Korean number. */
static size_t match_intl_phone(const uint8_t *s, size_t len, size_t q)
{
    if (q > 0 && (is_alnum(s[q - 1]) || s[q - 1] == '_' || s[q - 1] == '+')) return 0;
    size_t i = q + 1;
    if (i >= len || !is_digit(s[i]) || s[i] == '0') return 0;
    uint8_t d[16];
    size_t n = 0, ngroups = 0, maxg = 0;
    int seps = 0, spaced = 0;
    for (;;) {
        size_t r;
        if (s[i] == '(') {
            r = digit_run(s, len, i + 1);
            if (r < 1 || r > 4 || i + 1 + r >= len || s[i + 1 + r] != ')') break;
            if (n + r > 15) return 0;
            for (size_t k = 0; k < r; k++) d[n++] = (uint8_t)(s[i + 1 + k] - '0');
            i += r + 2;
            seps = 1;
        } else {
            r = digit_run(s, len, i);
            if (r == 0) break;
            if (n + r > 15) return 0;
            for (size_t k = 0; k < r; k++) d[n++] = (uint8_t)(s[i + k] - '0');
            i += r;
        }
        if (++ngroups > 7) return 0;
        if (r > maxg) maxg = r;
        if (i + 1 < len && is_phone_sep(s[i]) && (is_digit(s[i + 1]) || s[i + 1] == '(')) {
            spaced |= s[i] == ' ';
            seps = 1;
            i++;
            continue;
        }
        if (i < len && (s[i] == '(' || (s[i - 1] == ')' && is_digit(s[i])))) continue;
        break;
    }
    while (i > q + 1 && (is_phone_sep(s[i - 1]) || s[i - 1] == '(')) i--;
    if (n < 7 || (!seps && n < 10) || maxg < 2) return 0;
    if (d[0] == 8 && d[1] == 2) {
        /* +82: national number after an optional trunk 0. */
        size_t k = 2;
        if (d[k] == 0) k++;
        if (k + 2 > n) return 0;
        size_t m = n - k;
        unsigned a = d[k], b = d[k + 1];
        int ok = (a == 1 && (b == 0 || b == 1 || b >= 6) && (m == 9 || m == 10)) || (a == 2 && (m == 8 || m == 9)) ||
                 (a >= 3 && a <= 6 && b >= 1 && b <= 5 && (m == 9 || m == 10)) || (a == 7 && b == 0 && m == 10);
        if (!ok) return 0;
    }
    if (!num_right_ok(s, len, i, spaced)) return 0;
    return i;
}

/* IPv6 around the ':' at q (RFC 4291 text forms): 8 groups, or fewer with one "::", optionally
 * ending in a dotted quad. Times such as 12:30:45 (three groups, no "::") are not addresses; a
 * compressed form also needs two groups, one digit and one group of 3+ hex digits, so neither
 * "a::b" (C++) nor a score written "2::8" is one. */
static size_t match_ipv6(const uint8_t *s, size_t len, size_t q, size_t lo, size_t *start)
{
    size_t a = q;
    while (a > lo && q - a < 39 && (is_hex(s[a - 1]) || s[a - 1] == ':')) a--;
    if (a > 0 && (is_alnum(s[a - 1]) || s[a - 1] == '_' || s[a - 1] == ':' || s[a - 1] == '.')) return 0;
    size_t i = a, groups = 0;
    int dbl = 0, digit = 0, long_group = 0;
    if (s[i] == ':') {
        if (i + 1 >= len || s[i + 1] != ':') return 0;
        dbl = 1;
        i += 2;
    }
    for (;;) {
        size_t h = 0;
        while (i + h < len && is_hex(s[i + h])) h++;
        if (h == 0) break;
        size_t e;
        if (i + h < len && s[i + h] == '.' && (e = match_ipv4(s, len, i, 0))) {
            if (groups > 6) return 0;
            groups += 2;
            digit = long_group = 1;
            i = e;
            break;
        }
        if (h > 4) return 0;
        long_group |= h >= 3;
        for (size_t k = 0; k < h; k++) digit |= is_digit(s[i + k]);
        groups++;
        i += h;
        if (i + 1 < len && s[i] == ':' && s[i + 1] == ':') {
            if (dbl) return 0;
            dbl = 1;
            i += 2;
            continue;
        }
        if (i + 1 < len && s[i] == ':' && is_hex(s[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    if (dbl ? groups > 7 : groups != 8) return 0;
    if (groups < 2 || !digit || (dbl && !long_group)) return 0;
    if (i < len && (is_alnum(s[i]) || s[i] == '_' || s[i] == '@')) return 0;
    if (i + 1 < len && (s[i] == '.' || s[i] == ':') && is_hex(s[i + 1])) return 0;
    *start = a;
    return i;
}

/* E-mail around the '@' at q: local part [A-Za-z0-9._%+-]{1,64} (not starting or ending with a
 * dot), then dot-separated labels [A-Za-z0-9-] (not starting or ending with '-') of which the
 * last, the TLD, is >= 2 letters. */
static size_t match_email(const uint8_t *s, size_t len, size_t q, size_t lo, size_t *start)
{
    size_t a = q;
    while (a > lo && q - a <= 64 && is_local(s[a - 1])) a--;
    if (q - a > 64) return 0;
    while (a < q && (s[a] == '.' || s[a] == '-' || s[a] == '+')) a++;
    if (a == q || s[q - 1] == '.') return 0;
    size_t i = q + 1, end = 0, labels = 0;
    for (;;) {
        size_t ls = i;
        int alpha = 1;
        while (i < len && (is_alnum(s[i]) || s[i] == '-')) {
            alpha &= is_alpha(s[i]);
            i++;
        }
        if (i == ls || i - ls > 63 || s[ls] == '-' || s[i - 1] == '-') break;
        labels++;
        if (labels >= 2 && alpha && i - ls >= 2) end = i;
        if (i + 1 < len && s[i] == '.' && is_alnum(s[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    if (!end || (end < len && (s[end] == '_' || s[end] == '@'))) return 0;
    *start = a;
    return end;
}

/* ---- scanner ---- */

typedef struct scanner {
    const uint8_t *s;
    size_t len, pos, last_end;
} scanner;

/* Next match at or after sc->pos (whatever the mask); 0 at the end of the text. */
static int scan_next(scanner *sc, hlm_pii_span *m)
{
    const uint8_t *s = sc->s;
    size_t len = sc->len, i = sc->pos, lo = sc->last_end;
    while ((i = skip_to_trigger(s, len, i)) < len) {
        uint8_t c = s[i];
        size_t start = i, end = 0;
        hlm_pii_type type = HLM_PII_PHONE;
        if (is_digit(c)) {
            end = match_numeric(s, len, i, lo, &start, &type);
            if (!end) {
                i += digit_run(s, len, i);
                continue;
            }
        } else if (c == '@') {
            end = match_email(s, len, i, lo, &start);
            type = HLM_PII_EMAIL;
        } else if (c == '+') {
            end = match_intl_phone(s, len, i);
            type = HLM_PII_PHONE;
        } else { /* ':' */
            end = match_ipv6(s, len, i, lo, &start);
            type = HLM_PII_IP;
        }
        if (end) {
            m->start = start;
            m->end = end;
            m->type = type;
            sc->pos = sc->last_end = end;
            return 1;
        }
        i++;
    }
    sc->pos = len;
    return 0;
}

size_t hlm_pii_find(const uint8_t *s, size_t len, unsigned mask, hlm_pii_span *spans, size_t cap)
{
    mask &= HLM_PII_ALL;
    if (!s || !mask) return 0;
    scanner sc = {s, len, 0, 0};
    hlm_pii_span m;
    size_t n = 0;
    while (scan_next(&sc, &m)) {
        if (!(mask & (1u << m.type))) continue;
        if (spans && n < cap) spans[n] = m;
        n++;
    }
    return n;
}

hlm_status hlm_pii_redact(const uint8_t *s, size_t len, unsigned mask, hlm_buf *out,
                          uint64_t counts[HLM_PII_TYPE_COUNT], hlm_error *err)
{
    if (!out) return hlm_errorf(err, HLM_ERR_INVALID, "pii redact: expected an output buffer, got NULL");
    if (!s && len) return hlm_errorf(err, HLM_ERR_INVALID, "pii redact: expected text, got NULL with %zu bytes", len);
    out->len = 0;
    if (hlm_buf_reserve(out, len + 1)) goto nomem;
    mask &= HLM_PII_ALL;
    size_t copied = 0;
    if (mask && len) {
        scanner sc = {s, len, 0, 0};
        hlm_pii_span m;
        while (scan_next(&sc, &m)) {
            if (!(mask & (1u << m.type))) continue;
            const char *ph = placeholders[m.type];
            if (hlm_buf_append(out, s + copied, m.start - copied) || hlm_buf_append(out, ph, strlen(ph))) goto nomem;
            copied = m.end;
            if (counts) counts[m.type]++;
        }
    }
    if (len && hlm_buf_append(out, s + copied, len - copied)) goto nomem;
    return HLM_OK;
nomem:
    return hlm_errorf(err, HLM_ERR_NOMEM, "pii redact: out of memory for %zu bytes of output", len);
}
