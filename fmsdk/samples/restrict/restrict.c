/*
 * The restrict sample: an FM that changes the HSM's PKCS#11 interface. It
 * patches C_OpenSession so that no application of the HSM can open a
 * session on one chosen slot (CKR_SLOT_ID_INVALID); every other slot is
 * served by the HSM's own C_OpenSession. The slot is chosen by a message
 * from restrict-host and kept in the SMFS, so the rule holds across HSM
 * restarts.
 */
#include <stdio.h>
#include <string.h>

#include <cprovpch.h>
#include <fm.h>
#include <fmappid.h>
#include <fmsmfs.h>
#include "fm/common/fm_byteorder.h"

#include "restrict.h"

#define RULE_FILE "/restrict"
#define NONE 0xFFFFFFFFu

static uint32_t refused = NONE;

static CK_RV CK_ENTRY restricted_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
                                              CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
    if (refused != NONE && slot == refused) {
        printf("restrict: refused a session on slot %lu to application %lu\n",
               (unsigned long)slot, FM_GetCurrentAppId());
        return CKR_SLOT_ID_INVALID;
    }
    return C_OpenSession(slot, flags, app, notify, session); /* the HSM's own */
}

/* The rule in the SMFS: 4 bytes, big-endian. */
static void save_rule(void)
{
    SmFsAttr a;
    if (SmFsGetFileAttr(RULE_FILE, &a) != 0 && SmFsCreateFile(RULE_FILE, 4) != 0)
        return;
    int fh;
    if (SmFsOpenFile(&fh, RULE_FILE) != 0)
        return;
    uint32_t be = fm_htobe32(refused);
    SmFsWriteFile(fh, 0, (char *)&be, 4);
    SmFsCloseFile(fh);
}

static void load_rule(void)
{
    int fh;
    uint32_t be;
    if (SmFsOpenFile(&fh, RULE_FILE) != 0)
        return;
    if (SmFsReadFile(fh, 0, (char *)&be, 4) == 0)
        refused = fm_betoh32(be);
    SmFsCloseFile(fh);
}

static void handle(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t cmd = 0, slot = 0;
    if (len >= 4)
        memcpy(&cmd, req, 4);
    if (len >= 8)
        memcpy(&slot, (char *)req + 4, 4);
    cmd = fm_betoh32(cmd);
    slot = fm_betoh32(slot);
    if (cmd == RESTRICT_SET || cmd == RESTRICT_CLEAR) {
        refused = cmd == RESTRICT_SET ? slot : NONE;
        save_rule();
    } else if (cmd != RESTRICT_SHOW) {
        SVC_SendReply(token, FM_ERR_INVALID_REQUEST);
        return;
    }
    uint32_t *out = SVC_GetReplyBuffer(token, 4);
    if (!out) {
        SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
        return;
    }
    uint32_t be = fm_htobe32(refused);
    memcpy(out, &be, 4);
    SVC_SendReply(token, FM_OK);
}

FM_RV Startup(void)
{
    CprovFnTable_t *tbl = OS_GetCprovFuncTable();
    if (!tbl)
        return FM_UNSUCCESSFUL;
    load_rule();
    tbl->C_OpenSession = restricted_open_session;
    return FMSW_RegisterRandomDispatch(GetFMID(), handle);
}
