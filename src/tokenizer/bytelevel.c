#include "tokenizer/bytelevel.h"

static int printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

uint32_t hlm_bytelevel_char(uint8_t b)
{
    if (printable(b)) return b;
    int k = 0; /* number of non-printable bytes below b */
    for (int i = 0; i < b; i++) k += !printable(i);
    return 256u + (uint32_t)k;
}

int hlm_bytelevel_byte(uint32_t cp)
{
    if (cp < 256) return printable((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    int k = (int)cp - 256;
    for (int i = 0; i < 256; i++)
        if (!printable(i) && k-- == 0) return i;
    return -1;
}

int hlm_bytelevel_rank_of_byte(uint8_t b)
{
    int r = 0;
    if (printable(b)) {
        for (int i = 0; i < b; i++) r += printable(i);
        return r;
    }
    r = 188; /* all printable bytes come first */
    for (int i = 0; i < b; i++) r += !printable(i);
    return r;
}

uint8_t hlm_bytelevel_byte_of_rank(int rank)
{
    for (int b = 0; b < 256; b++)
        if (hlm_bytelevel_rank_of_byte((uint8_t)b) == rank) return (uint8_t)b;
    return 0;
}
