/*
 * The stream sample's host program: sends the numbers given on the command
 * line and prints their sum and the numbers reversed, as the FM returns them.
 *
 *   stream-host N...
 */
#include <stdio.h>
#include <stdlib.h>

#include <md.h>

#include "stream.h"

int main(int argc, char **argv)
{
    uint32_t n = (uint32_t)(argc - 1), req[65], out[66];
    if (n > 64) {
        fprintf(stderr, "usage: stream-host N... (at most 64)\n");
        return 2;
    }
    req[0] = fm_htobe32(n);
    for (uint32_t i = 0; i < n; i++)
        req[1 + i] = fm_htobe32((uint32_t)strtoul(argv[1 + i], NULL, 0));
    if (MD_Initialize() != MDR_OK)
        return 1;
    MD_Buffer_t rq[] = { { (uint8_t *)req, 4 * (n + 1) }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { (uint8_t *)out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, status = 0;
    MD_RV rv = MD_SendReceive(0, 0, STREAM_FM_NUMBER, rq, 0, rs, &got, &status);
    MD_Finalize();
    if (rv != MDR_OK || status || got != 8 + 4 * n) {
        fprintf(stderr, "stream-host: %s, FM status 0x%x\n", MD_RvAsString(rv), status);
        return 1;
    }
    printf("sum %llu; reversed:",
           (unsigned long long)fm_betoh32(out[0]) << 32 | fm_betoh32(out[1]));
    for (uint32_t i = 0; i < n; i++)
        printf(" %u", fm_betoh32(out[2 + i]));
    printf("\n");
    return 0;
}
