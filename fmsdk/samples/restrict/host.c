/*
 * The restrict sample's host program: chooses the slot on which the HSM
 * refuses sessions, or lifts the rule.
 *
 *   restrict-host set SLOT | clear | show
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <md.h>

#include "restrict.h"

static uint32_t be32(uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    uint32_t out;
    memcpy(&out, b, 4);
    return out;
}

int main(int argc, char **argv)
{
    uint32_t cmd, slot = 0;
    if (argc == 3 && !strcmp(argv[1], "set")) {
        char *end;
        unsigned long v = strtoul(argv[2], &end, 0);
        if (*end || v >= 0xFFFFFFFFul) {
            fprintf(stderr, "restrict-host: bad slot %s\n", argv[2]);
            return 2;
        }
        cmd = RESTRICT_SET;
        slot = (uint32_t)v;
    } else if (argc == 2 && !strcmp(argv[1], "clear")) {
        cmd = RESTRICT_CLEAR;
    } else if (argc == 2 && !strcmp(argv[1], "show")) {
        cmd = RESTRICT_SHOW;
    } else {
        fprintf(stderr, "usage: restrict-host set SLOT | clear | show\n");
        return 2;
    }
    MD_RV rv = MD_Initialize();
    if (rv != MDR_OK) {
        fprintf(stderr, "restrict-host: MD_Initialize: %s\n", MD_RvAsString(rv));
        return 1;
    }
    uint32_t fm = 0;
    rv = MD_GetFmIdFromName(0, RESTRICT_FM_NAME, (uint32_t)strlen(RESTRICT_FM_NAME), &fm);
    uint32_t req[2] = { be32(cmd), be32(slot) };
    uint8_t out[4];
    MD_Buffer_t rq[] = { { (uint8_t *)req, sizeof req }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, status = 0;
    if (rv == MDR_OK)
        rv = MD_SendReceive(0, 0, (uint16_t)fm, rq, 0, rs, &got, &status);
    MD_Finalize();
    if (rv != MDR_OK || status != 0 || got != 4) {
        fprintf(stderr, "restrict-host: %s (FM status 0x%x)\n", MD_RvAsString(rv), status);
        return 1;
    }
    uint32_t s = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    if (s == 0xFFFFFFFFu)
        printf("no slot is refused\n");
    else
        printf("sessions on slot %u are refused\n", s);
    return 0;
}
