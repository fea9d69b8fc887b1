/*
 * libFuzzer target: the FM image checker on arbitrary bytes, and on bytes
 * that start as a real ELF header so the fuzzer reaches the section and
 * symbol walks quickly. Nothing may read outside the image or crash; an
 * accepted image has a name and a header of format 3.
 */
#include <stdlib.h>
#include <string.h>

#include "fm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_image_info_t info;
    char why[200];
    if (fm_image_check(data, size, &info, why, sizeof why) == 0 &&
        (info.format != 3 || !info.name[0]))
        abort();
    /* The same bytes behind a 64-bit little-endian x86-64 ELF identity. */
    static const uint8_t ident[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     3, 0, 0x3e, 0 };
    uint8_t *img = malloc(size + sizeof ident);
    if (!img)
        return 0;
    memcpy(img, ident, sizeof ident);
    memcpy(img + sizeof ident, data, size);
    if (fm_image_check(img, size + sizeof ident, &info, why, sizeof why) == 0 &&
        (info.format != 3 || !info.name[0]))
        abort();
    free(img);
    return 0;
}
