/*
 * FMSC_SendReceive, a host extension of softfm's PKCS#11 module
 * (libsoftfm-pkcs11.so): one flat request to FM fmNumber on the HSM behind
 * hSession, on behalf of the calling process; the FM's reply (cut to
 * responseLen, *receivedLen bytes) and its status. CKR_SESSION_HANDLE_INVALID
 * for a session that is not the caller's, CKR_FUNCTION_FAILED when no such
 * FM runs, CKR_DEVICE_ERROR when it fails on the request.
 */
#ifndef SFM_FMSC_H
#define SFM_FMSC_H
#include <stdint.h>
#include "cryptoki.h"

CK_RV FMSC_SendReceive(CK_SESSION_HANDLE hSession, CK_USHORT fmNumber, CK_BYTE_PTR pRequest,
                       CK_ULONG requestLen, CK_BYTE_PTR pResponse, CK_ULONG responseLen,
                       CK_ULONG_PTR pReceivedLen, uint32_t *pFmStatus);

#endif
