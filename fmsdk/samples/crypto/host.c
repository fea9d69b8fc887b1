/*
 * The crypto sample's host program: asks the FM to open a session on a
 * partition and compute an HMAC-SHA256 with a key found there by label.
 *
 *   crypto-host SLOT PIN LABEL TEXT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <md.h>

#include "crypto.h"

typedef struct msg {
    uint8_t b[512];
    uint32_t n;
} msg_t;

static void put32(msg_t *m, uint32_t v)
{
    v = fm_htobe32(v);
    memcpy(m->b + m->n, &v, 4);
    m->n += 4;
}

static void put_str(msg_t *m, const char *s)
{
    put32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += (uint32_t)strlen(s);
}

/* The CK_RV the FM reports, the rest of its reply into out. */
static uint32_t call(const msg_t *m, uint8_t *out, uint32_t *n)
{
    uint8_t buf[512];
    MD_Buffer_t rq[] = { { (uint8_t *)m->b, m->n }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { buf, sizeof buf }, { NULL, 0 } };
    uint32_t got = 0, status = 0, rv;
    if (MD_SendReceive(0, 0, CRYPTO_FM_NUMBER, rq, 0, rs, &got, &status) != MDR_OK || status ||
        got < 4)
        return 0xFFFFFFFFu;
    memcpy(&rv, buf, 4);
    *n = got - 4;
    memcpy(out, buf + 4, *n);
    return fm_betoh32(rv);
}

int main(int argc, char **argv)
{
    if (argc != 5 || strlen(argv[2]) + strlen(argv[3]) + strlen(argv[4]) > 400) {
        fprintf(stderr, "usage: crypto-host SLOT PIN LABEL TEXT\n");
        return 2;
    }
    if (MD_Initialize() != MDR_OK)
        return 1;
    uint8_t out[512];
    uint32_t n = 0, rv;
    msg_t m = { .n = 0 };
    put32(&m, CRYPTO_INIT);
    m.b[m.n++] = 0; /* this process's own AppId */
    rv = call(&m, out, &n);
    if (rv != 0 && rv != 0x191) { /* CKR_CRYPTOKI_ALREADY_INITIALIZED */
        fprintf(stderr, "crypto-host: C_Initialize in the FM: 0x%x\n", rv);
        return 1;
    }
    m.n = 0;
    put32(&m, CRYPTO_OPEN);
    m.b[m.n++] = 0;
    put32(&m, (uint32_t)strtoul(argv[1], NULL, 0));
    put_str(&m, argv[2]);
    if ((rv = call(&m, out, &n)) != 0 || n != 4) {
        fprintf(stderr, "crypto-host: opening a session in the FM: 0x%x\n", rv);
        return 1;
    }
    uint32_t session;
    memcpy(&session, out, 4);
    m.n = 0;
    put32(&m, CRYPTO_HMAC);
    m.b[m.n++] = 0;
    memcpy(m.b + m.n, &session, 4); /* still big-endian */
    m.n += 4;
    put_str(&m, argv[3]);
    memcpy(m.b + m.n, argv[4], strlen(argv[4]));
    m.n += (uint32_t)strlen(argv[4]);
    if ((rv = call(&m, out, &n)) != 0) {
        fprintf(stderr, "crypto-host: HMAC in the FM: 0x%x\n", rv);
        return 1;
    }
    printf("HMAC-SHA256: ");
    for (uint32_t i = 0; i < n; i++)
        printf("%02x", out[i]);
    printf("\n");
    MD_Finalize();
    return 0;
}
