/* GPT-2's byte-level alphabet: every byte is shown in tokenizer.json as one printable Unicode
 * character (bytes_to_unicode in GPT-2's encoder.py): the printable ranges '!'..'~', U+00A1..U+00AC
 * and U+00AE..U+00FF stand for themselves, the other 68 bytes map to U+0100.. in byte order.
 * The "rank" of a byte is its position in that list (printable ranges first); tiktoken's rank
 * files and HyperLM-trained tokenizers give byte tokens these ranks as ids. */
#ifndef HLM_TOKENIZER_BYTELEVEL_H
#define HLM_TOKENIZER_BYTELEVEL_H

#include <stdint.h>

/* Code point that represents byte b in tokenizer.json. */
uint32_t hlm_bytelevel_char(uint8_t b);
/* Inverse: the byte for a code point, or -1 if cp is not in the alphabet. */
int hlm_bytelevel_byte(uint32_t cp);
/* Position of byte b in GPT-2's order (0..255), and the byte at a position. */
int hlm_bytelevel_rank_of_byte(uint8_t b);
uint8_t hlm_bytelevel_byte_of_rank(int rank);

#endif
