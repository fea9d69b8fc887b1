/*
 * User data an FM keeps per application, slot, token, token and
 * application, or session (objstate.h). fmNo is the FM's own number (or
 * FM_NUMBER_CUSTOM_FM). Setting replaces (and frees) what was there; NULL
 * frees it. softfm frees each datum once, with the function given: a
 * session's when the session closes (C_CloseSession, C_CloseAllSessions,
 * C_Finalize, the process's end, the token's re-initialisation); an
 * application's and its token-application data when it calls C_Finalize or
 * ends; a token's when the token is initialised again or its partition is
 * deleted; slot and token data also when the last application of the HSM
 * has gone.
 */
#ifndef SFM_OBJSTATE_H
#define SFM_OBJSTATE_H
#include "cryptoki.h"
#include "sfm_fm.h"

CK_RV FM_SetAppUserData(FmNumber_t fmNo, CK_VOID_PTR userData, CK_VOID (*freeUserData)(CK_VOID_PTR));
CK_RV FM_GetAppUserData(FmNumber_t fmNo, CK_VOID_PTR_PTR ppUserData);
CK_RV FM_SetSlotUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                         CK_VOID (*freeUserData)(CK_VOID_PTR));
CK_RV FM_GetSlotUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData);
CK_RV FM_SetTokenUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                          CK_VOID (*freeUserData)(CK_VOID_PTR));
CK_RV FM_GetTokenUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData);
CK_RV FM_SetTokenAppUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR userData,
                             CK_VOID (*freeUserData)(CK_VOID_PTR));
CK_RV FM_GetTokenAppUserData(FmNumber_t fmNo, CK_SLOT_ID slotId, CK_VOID_PTR_PTR ppUserData);
CK_RV FM_SetSessionUserData(FmNumber_t fmNo, CK_SESSION_HANDLE hSession, CK_VOID_PTR userData,
                            CK_VOID (*freeUserData)(CK_VOID_PTR));
CK_RV FM_GetSessionUserData(FmNumber_t fmNo, CK_SESSION_HANDLE hSession,
                            CK_VOID_PTR_PTR ppUserData);

#endif
