/*
 * The key custodian's host program.
 *
 *   custodian-host generate NAME | use NAME TEXT | delete NAME | list
 */
#include <stdio.h>
#include <string.h>

#include <md.h>

#include "custodian.h"

int main(int argc, char **argv)
{
    uint32_t cmd;
    if (argc == 3 && !strcmp(argv[1], "generate"))
        cmd = CUSTODIAN_GENERATE;
    else if (argc == 4 && !strcmp(argv[1], "use"))
        cmd = CUSTODIAN_USE;
    else if (argc == 3 && !strcmp(argv[1], "delete"))
        cmd = CUSTODIAN_DELETE;
    else if (argc == 2 && !strcmp(argv[1], "list"))
        cmd = CUSTODIAN_LIST;
    else {
        fprintf(stderr, "usage: custodian-host generate NAME | use NAME TEXT | delete NAME | list\n");
        return 2;
    }
    uint8_t req[512];
    uint32_t n = 0, be = fm_htobe32(cmd);
    memcpy(req, &be, 4);
    n = 4;
    if (argc >= 3) {
        uint32_t nl = (uint32_t)strlen(argv[2]);
        if (nl > CUSTODIAN_NAME_MAX) {
            fprintf(stderr, "custodian-host: names have at most %d characters\n",
                    CUSTODIAN_NAME_MAX);
            return 2;
        }
        be = fm_htobe32(nl);
        memcpy(req + n, &be, 4);
        memcpy(req + n + 4, argv[2], nl);
        n += 4 + nl;
    }
    if (argc == 4) {
        size_t dl = strlen(argv[3]);
        if (dl > sizeof req - n)
            return 2;
        memcpy(req + n, argv[3], dl);
        n += (uint32_t)dl;
    }
    if (MD_Initialize() != MDR_OK)
        return 1;
    uint8_t out[512];
    MD_Buffer_t rq[] = { { req, n }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, status = 0;
    MD_RV rv = MD_SendReceive(0, 0, CUSTODIAN_FM_NUMBER, rq, 0, rs, &got, &status);
    MD_Finalize();
    if (rv != MDR_OK || status) {
        fprintf(stderr, "custodian-host: %s, FM status 0x%x\n", MD_RvAsString(rv), status);
        return 1;
    }
    if (cmd == CUSTODIAN_USE) {
        for (uint32_t i = 0; i < got; i++)
            printf("%02x", out[i]);
        printf("\n");
    } else if (cmd == CUSTODIAN_LIST) {
        fwrite(out, 1, got, stdout);
    } else {
        printf("ok\n");
    }
    return 0;
}
