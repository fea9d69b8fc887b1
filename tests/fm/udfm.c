/*
 * An FM that keeps user data (objstate.h), for the tests. Requests: u32
 * command, u32 argument (big-endian); the reply is u32 values.
 *   1 SET kind key  : FM_Set*UserData for kind (FM_UD_* order) and key
 *   2 GET kind key  : the datum's tag (0: none)
 *   3 FREES         : frees per kind (5 × u32), then double frees (u32)
 *   4 BAD           : the bad-input codes (4 × u32)
 *   5 RANDOM slot   : C_GenerateRandom in a session of its own: rv, first byte
 * Each datum carries a tag and a live mark; the free function counts it
 * and catches a second free.
 */
#include <stdlib.h>
#include <string.h>

#include <fm.h>
#include <mkfmhdr.h>
#include <objstate.h>
#include "fm/common/fm_byteorder.h"

DEFINE_FM_HEADER(0x0350, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "udfm");

#define LIVE 0x4C495645u
#define DEAD 0x44454144u

typedef struct datum {
    uint32_t magic, kind, tag;
} datum_t;

static uint32_t frees[5], double_frees, next_tag = 1;

static void free_datum(void *p)
{
    datum_t *d = p;
    if (d->magic != LIVE) {
        double_frees++;
        return;
    }
    d->magic = DEAD;
    if (d->kind < 5)
        frees[d->kind]++;
    free(d);
}

static CK_RV set(uint32_t kind, uint32_t key, void *data, void (*fn)(void *), FmNumber_t fm)
{
    switch (kind) {
    case 0: return FM_SetAppUserData(fm, data, fn);
    case 1: return FM_SetSlotUserData(fm, key, data, fn);
    case 2: return FM_SetTokenUserData(fm, key, data, fn);
    case 3: return FM_SetTokenAppUserData(fm, key, data, fn);
    default: return FM_SetSessionUserData(fm, key, data, fn);
    }
}

static CK_RV get(uint32_t kind, uint32_t key, void **out)
{
    FmNumber_t fm = GetFMID();
    switch (kind) {
    case 0: return FM_GetAppUserData(fm, out);
    case 1: return FM_GetSlotUserData(fm, key, out);
    case 2: return FM_GetTokenUserData(fm, key, out);
    case 3: return FM_GetTokenAppUserData(fm, key, out);
    default: return FM_GetSessionUserData(fm, key, out);
    }
}

static void reply(HI_MsgHandle token, const uint32_t *v, uint32_t n)
{
    uint32_t *out = SVC_GetReplyBuffer(token, 4 * n);
    if (!out) {
        SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t be = fm_htobe32(v[i]);
        memcpy(out + i, &be, 4);
    }
    SVC_SendReply(token, FM_OK);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t w[3] = { 0, 0, 0 };
    memcpy(w, req, len < sizeof w ? len : sizeof w);
    uint32_t cmd = fm_betoh32(w[0]), kind = fm_betoh32(w[1]), key = fm_betoh32(w[2]);
    C_Initialize(NULL); /* this application's Cryptoki in the FM (validates handles) */
    uint32_t out[6] = { 0 };
    if (cmd == 1) {
        datum_t *d = malloc(sizeof *d);
        if (!d) {
            SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
            return;
        }
        *d = (datum_t){ LIVE, kind, next_tag++ };
        out[0] = (uint32_t)set(kind, key, d, free_datum, GetFMID());
        if (out[0] != CKR_OK)
            free(d);
        reply(token, out, 1);
    } else if (cmd == 2) {
        void *p = NULL;
        out[0] = (uint32_t)get(kind, key, &p);
        out[1] = p ? ((datum_t *)p)->tag : 0;
        reply(token, out, 2);
    } else if (cmd == 3) {
        memcpy(out, frees, sizeof frees);
        out[5] = double_frees;
        reply(token, out, 6);
    } else if (cmd == 5) {
        /* Cryptoki of this FM: another FM's patches apply to it */
        CK_SESSION_HANDLE s;
        CK_BYTE b[4] = { 0 };
        CK_RV rv = C_OpenSession(kind, CKF_SERIAL_SESSION, NULL, NULL, &s);
        if (rv == CKR_OK) {
            rv = C_GenerateRandom(s, b, sizeof b);
            C_CloseSession(s);
        }
        out[0] = (uint32_t)rv;
        out[1] = b[0];
        reply(token, out, 2);
    } else {
        static datum_t spare = { LIVE, 0, 0 };
        out[0] = (uint32_t)FM_SetAppUserData(GetFMID(), &spare, NULL);       /* no free fn */
        out[1] = (uint32_t)FM_SetAppUserData((FmNumber_t)(GetFMID() + 1), NULL, NULL);
        out[2] = (uint32_t)FM_SetSessionUserData(GetFMID(), 0x7FFFFFF0, &spare, free_datum);
        out[3] = (uint32_t)FM_SetSlotUserData(GetFMID(), 0x7FFFFFF0, &spare, free_datum);
        reply(token, out, 4);
    }
}

FM_RV Startup(void)
{
    return FMSW_RegisterRandomDispatch(GetFMID(), dispatch);
}
