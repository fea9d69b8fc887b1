/*
 * The login sample's host program: asks for the secret, logs in with the
 * password given, and asks again.
 *
 *   login-host PASSWORD
 */
#include <stdio.h>
#include <string.h>

#include <md.h>

#include "login.h"

static uint32_t call(uint32_t cmd, const char *data, char *out, uint32_t *got)
{
    uint8_t req[128];
    uint32_t be = fm_htobe32(cmd), n = data ? (uint32_t)strlen(data) : 0;
    if (n > sizeof req - 4)
        return 0xFFFFFFFFu;
    memcpy(req, &be, 4);
    memcpy(req + 4, data ? data : "", n);
    char buf[64];
    MD_Buffer_t rq[] = { { req, 4 + n }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { (uint8_t *)buf, sizeof buf }, { NULL, 0 } };
    uint32_t g = 0, status = 0;
    if (MD_SendReceive(0, 0, LOGIN_FM_NUMBER, rq, 0, rs, &g, &status) != MDR_OK)
        return 0xFFFFFFFFu;
    if (out) {
        memcpy(out, buf, g);
        out[g] = '\0';
    }
    if (got)
        *got = g;
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: login-host PASSWORD\n");
        return 2;
    }
    if (MD_Initialize() != MDR_OK)
        return 1;
    char secret[65];
    printf("before login: status 0x%x\n", call(LOGIN_SECRET, NULL, NULL, NULL));
    printf("login: status 0x%x\n", call(LOGIN_LOGIN, argv[1], NULL, NULL));
    uint32_t st = call(LOGIN_SECRET, NULL, secret, NULL);
    if (st == 0)
        printf("secret: %s\n", secret);
    else
        printf("secret: status 0x%x\n", st);
    MD_Finalize();
    return st == 0 ? 0 : 1;
}
