/*
 * libfmsupt: the HSM's patchable Cryptoki table, which the fmhost keeps.
 */
#include "fm_calls.h"
#include "../include/objstate.h"
#include "../include/sfm_cprov.h"

extern const fm_calls_t *softfm_fm_calls;

CprovFnTable_t *OS_GetCprovFuncTable(void)
{
    return (CprovFnTable_t *)softfm_fm_calls->cprov_table();
}

/* User data (objstate.h), kept by the fmhost. */
#define UD_SET(kind, key) (CK_RV) softfm_fm_calls->user_data_set(kind, fmNo, key, userData, freeUserData)
#define UD_GET(kind, key) (CK_RV) softfm_fm_calls->user_data_get(kind, fmNo, key, ppUserData)

CK_RV FM_SetAppUserData(FmNumber_t fmNo, CK_VOID_PTR userData, CK_VOID (*freeUserData)(CK_VOID_PTR))
{
    return UD_SET(FM_UD_APP, 0);
}

CK_RV FM_GetAppUserData(FmNumber_t fmNo, CK_VOID_PTR_PTR ppUserData)
{
    return UD_GET(FM_UD_APP, 0);
}

CK_RV FM_SetSlotUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                         CK_VOID (*freeUserData)(CK_VOID_PTR))
{
    return UD_SET(FM_UD_SLOT, slotId);
}

CK_RV FM_GetSlotUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData)
{
    return UD_GET(FM_UD_SLOT, slotId);
}

CK_RV FM_SetTokenUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                          CK_VOID (*freeUserData)(CK_VOID_PTR))
{
    return UD_SET(FM_UD_TOKEN, slotId);
}

CK_RV FM_GetTokenUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData)
{
    return UD_GET(FM_UD_TOKEN, slotId);
}

CK_RV FM_SetTokenAppUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                             CK_VOID (*freeUserData)(CK_VOID_PTR))
{
    return UD_SET(FM_UD_TOKEN_APP, slotId);
}

CK_RV FM_GetTokenAppUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData)
{
    return UD_GET(FM_UD_TOKEN_APP, slotId);
}

CK_RV FM_SetSessionUserData(FmNumber_t fmNo, CK_SESSION_HANDLE hSession, CK_VOID_PTR userData,
                            CK_VOID (*freeUserData)(CK_VOID_PTR))
{
    return UD_SET(FM_UD_SESSION, hSession);
}

CK_RV FM_GetSessionUserData(FmNumber_t fmNo, CK_SESSION_HANDLE hSession,
                            CK_VOID_PTR_PTR ppUserData)
{
    return UD_GET(FM_UD_SESSION, hSession);
}
