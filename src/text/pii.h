/* PII: finds personal data in text and replaces each match with a typed placeholder.
 *
 * Types: e-mail addresses; phone numbers (Korean mobile 010-XXXX-XXXX and its variants, Korean
 * landlines with area codes, 1588-style numbers, +82, and international +CC numbers); IPv4 and
 * IPv6 addresses; Korean resident registration numbers (YYMMDD-GNNNNNN with a valid date and a
 * valid gender/century digit; the check digit is only required for numbers issued before October
 * 2020, so it is not required); card numbers (13-19 digits in the usual groupings, Luhn-valid,
 * known issuer prefix); bank-account-like numbers (digit groups with hyphens) only within a short
 * distance of a Korean or English banking context word (계좌, 입금, 은행, account, ...).
 *
 * Precision matters as much as recall: dates, times, prices, version numbers, order and product
 * codes, ISBNs and the like must survive. Boundaries are decided on characters, not with \b
 * (which fails next to Hangul): a match may not be preceded or followed by a digit or an ASCII
 * letter where that would extend the token, but Hangul right before or after is fine
 * ("연락처:010-1234-5678로"). Thread-safe; pure function of its input. */
#ifndef HLM_TEXT_PII_H
#define HLM_TEXT_PII_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef enum hlm_pii_type {
    HLM_PII_EMAIL = 0,
    HLM_PII_PHONE,
    HLM_PII_IP,
    HLM_PII_RRN,
    HLM_PII_CARD,
    HLM_PII_ACCOUNT,
    HLM_PII_TYPE_COUNT
} hlm_pii_type;

#define HLM_PII_ALL ((1u << HLM_PII_TYPE_COUNT) - 1)

/* "email", "phone", "ip", "rrn", "card", "account" (config and report names). */
const char *hlm_pii_type_name(hlm_pii_type t);
/* "<EMAIL>", "<PHONE>", "<IP>", "<RRN>", "<CARD>", "<ACCOUNT>". */
const char *hlm_pii_placeholder(hlm_pii_type t);
/* Parses a comma-separated list of type names ("email,phone" or "all" or "none") into a mask. */
hlm_status hlm_pii_parse_types(const char *list, unsigned *mask, hlm_error *err);

typedef struct hlm_pii_span {
    size_t start, end; /* byte offsets in the input, end exclusive */
    hlm_pii_type type;
} hlm_pii_span;

/* Finds the matches of the types in mask, in order, not overlapping. spans may be NULL to only
 * count; returns the number found (which may exceed cap: only the first cap are stored).
 * Detection does not depend on mask; it only selects which matches are reported, so a phone
 * number with phone off is not reported as an account, nor digits inside an e-mail address. */
size_t hlm_pii_find(const uint8_t *s, size_t len, unsigned mask, hlm_pii_span *spans, size_t cap);

/* Writes s with every match replaced by its placeholder to out (cleared first); counts[t] is
 * incremented per match of type t (counts may be NULL). */
hlm_status hlm_pii_redact(const uint8_t *s, size_t len, unsigned mask, hlm_buf *out,
                          uint64_t counts[HLM_PII_TYPE_COUNT], hlm_error *err);

#endif
