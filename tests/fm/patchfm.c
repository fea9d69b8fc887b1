/*
 * An FM that patches the HSM's Cryptoki, for the tests: one source, several
 * images chosen at build time.
 *   patcha (0x0340)  C_GenerateRandom: the HSM's random with the first byte
 *                    set to 0xA5 (proof the replacement ran and reached the
 *                    HSM's own function); C_OpenSession: refuses the slot a
 *                    message names. Messages: 1 slot (refuse it), 2 crash in
 *                    the next patched call, 3 hang in it, 4 return a code
 *                    outside PKCS#11 from it, 5 count of replacement calls.
 *   patchb (0x0341)  also patches C_GenerateRandom: refused while patcha is
 *                    loaded.
 *   patchnull        leaves C_Sign NULL; patchover writes past the table.
 *   patchsign        C_Sign passed through to the HSM's (bench/run-patch.sh).
 */
#include <string.h>

#include <cprovpch.h>
#include <fm.h>
#include <mkfmhdr.h>
#include "fm/common/fm_byteorder.h"

#if defined(PATCHFM_B)
DEFINE_FM_HEADER(0x0341, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "patchb");
#elif defined(PATCHFM_NULL)
DEFINE_FM_HEADER(0x0342, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "patchnull");
#elif defined(PATCHFM_OVER)
DEFINE_FM_HEADER(0x0343, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "patchover");
#elif defined(PATCHFM_SIGN)
DEFINE_FM_HEADER(0x0344, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "patchsign");
#else
DEFINE_FM_HEADER(0x0340, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "patcha");
#endif

enum { CMD_REFUSE_SLOT = 1, CMD_CRASH, CMD_HANG, CMD_BAD_RV, CMD_CALLS };

static unsigned long refused_slot = (unsigned long)-1;
static int misbehave;
static uint32_t calls;

static CK_RV misbehaviour(void)
{
    int m = misbehave;
    misbehave = 0;
    if (m == CMD_CRASH)
        *(volatile int *)0 = 1;
    if (m == CMD_HANG)
        for (;;)
            ;
    return m == CMD_BAD_RV ? (CK_RV)0x0DEADBEE : CKR_OK;
}

__attribute__((unused)) static CK_RV CK_ENTRY my_generate_random(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len)
{
    calls++;
    CK_RV rv = misbehaviour();
    if (rv)
        return rv;
    rv = C_GenerateRandom(s, out, len); /* the HSM's own */
    if (rv == CKR_OK && len)
        out[0] = 0xA5;
    return rv;
}

__attribute__((unused)) static CK_RV CK_ENTRY my_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
                                      CK_NOTIFY notify, CK_SESSION_HANDLE_PTR out)
{
    calls++;
    CK_RV rv = misbehaviour();
    if (rv)
        return rv;
    if (slot == refused_slot)
        return CKR_SLOT_ID_INVALID;
    return C_OpenSession(slot, flags, app, notify, out);
}

__attribute__((unused)) static CK_RV CK_ENTRY my_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data,
                                                     CK_ULONG len, CK_BYTE_PTR sig,
                                                     CK_ULONG_PTR sig_len)
{
    calls++;
    return C_Sign(s, data, len, sig, sig_len);
}

static void reply32(HI_MsgHandle token, uint32_t v)
{
    uint8_t *out = SVC_GetReplyBuffer(token, 4);
    v = fm_htobe32(v);
    if (out)
        memcpy(out, &v, 4);
    SVC_SendReply(token, out ? FM_OK : FM_ERR_OUT_OF_MEMORY);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t cmd = 0, arg = 0;
    if (len >= 4)
        memcpy(&cmd, req, 4);
    if (len >= 8)
        memcpy(&arg, (uint8_t *)req + 4, 4);
    cmd = fm_betoh32(cmd);
    arg = fm_betoh32(arg);
    switch (cmd) {
    case CMD_REFUSE_SLOT:
        refused_slot = arg;
        break;
    case CMD_CRASH:
    case CMD_HANG:
    case CMD_BAD_RV:
        misbehave = (int)cmd;
        break;
    }
    reply32(token, calls);
}

FM_RV Startup(void)
{
    CprovFnTable_t *tbl = OS_GetCprovFuncTable();
    if (!tbl)
        return FM_UNSUCCESSFUL;
#if defined(PATCHFM_NULL)
    tbl->C_Sign = NULL;
#elif defined(PATCHFM_SIGN)
    tbl->C_Sign = my_sign;
#elif defined(PATCHFM_OVER)
    void **entries = (void **)&tbl->C_GetFunctionList;
    entries[tbl->numEntries + 6] = (void *)my_open_session; /* past the vendor entries */
#else
    tbl->C_GenerateRandom = my_generate_random;
#if !defined(PATCHFM_B)
    tbl->C_OpenSession = my_open_session;
#else
#endif
#endif
    return FMSW_RegisterRandomDispatch(GetFMID(), dispatch);
}
