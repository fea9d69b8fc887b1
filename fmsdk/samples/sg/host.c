/*
 * The sg sample's host program (PTK style): asks for 3 records, giving one
 * reply buffer per record, sized for the largest, and shows how the reply
 * lands — each buffer filled before the next — and the record boundaries
 * recovered from the records' own lengths.
 */
#include <stdio.h>
#include <string.h>

#include <endyn.h>
#include <md.h>

#include "sg.h"

int main(void)
{
    if (MD_Initialize() != MDR_OK) {
        fprintf(stderr, "sg-host: MD_Initialize failed\n");
        return 1;
    }
    uint32_t req = hton_long(3);
    uint8_t b[3][8];
    memset(b, '_', sizeof b); /* '_': bytes the reply did not reach */
    MD_Buffer_t rq[] = { { (uint8_t *)&req, 4 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { b[0], 8 }, { b[1], 8 }, { b[2], 8 }, { NULL, 0 } };
    uint32_t got = 0, status = 0;
    MD_RV rv = MD_SendReceive(0, 0, SG_FM_NUMBER, rq, 0, rs, &got, &status);
    MD_Finalize();
    if (rv != MDR_OK || status) {
        fprintf(stderr, "sg-host: %s, FM status 0x%x\n", MD_RvAsString(rv), status);
        return 1;
    }
    printf("%u bytes in buffers of 8:", got);
    for (int i = 0; i < 3; i++) {
        printf(" [");
        for (int j = 0; j < 8; j++)
            putchar(b[i][j] >= 0x20 && b[i][j] < 0x7f ? b[i][j] : '.');
        printf("]");
    }
    printf("\n");
    /* The reply is contiguous across the buffers: walk it by record lengths. */
    uint8_t all[24];
    memcpy(all, b, sizeof all);
    uint32_t off = 0;
    for (int i = 0; off + 2 <= got; i++) {
        uint16_t n;
        memcpy(&n, all + off, 2);
        n = ntoh_short(n);
        printf("record %d: %.*s\n", i, (int)n, (const char *)all + off + 2);
        off += 2u + n;
    }
    return 0;
}
