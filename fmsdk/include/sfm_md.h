/*
 * softfm FM SDK: the host side, the MD (message dispatch) API of
 * libsoftfm-md.so (also installed as libethsm.so). md.h, fm/host/md.h and
 * hsmstate.h include this file.
 */
#ifndef SFM_MD_H
#define SFM_MD_H

#include <stdint.h>

#include "sfm_byteorder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t MD_RV;
#define MDR_OK 0
#define MDR_NOT_INITIALIZED 1
#define MDR_INVALID_PARAMETER 3
#define MDR_INVALID_HSM_INDEX 4
#define MDR_INSUFFICIENT_RESOURCES 6
#define MDR_OPERATION_CANCELLED 8
#define MDR_HSM_RESET 9
#define MDR_FM_NOT_AVAILABLE 10
#define MDR_UNSUCCESSFUL 11
#define MDR_INTERNAL_ERROR 12
#define MDR_OPERATION_NOT_ALLOWED 13
#define MDR_TCP_LINK_ERROR 14
#define MDR_HSM_FAILED 15

/* Request and reply arguments are arrays of these ending with {NULL, 0}. */
typedef struct MD_Buffer {
    uint8_t *pData;
    uint32_t length;
} MD_Buffer_t;

typedef enum MD_Parameter {
    MDP_MAX_BUFFER_LENGTH = 1 /* a uint32_t: the largest request or reply */
} MD_Parameter_t;

/* hsmstate.h */
typedef uint32_t HsmState_t;
#define S_HALT 6
#define S_WAIT_FOR_INIT 10
#define S_HSM_ACCESSIBLE 12
#define S_HSM_UNACCESSIBLE 13
#define S_NORMAL_OPERATION 0x8000

MD_RV MD_Initialize(void);
void MD_Finalize(void);
MD_RV MD_GetHsmCount(uint32_t *count);
MD_RV MD_GetHsmState(uint32_t hsmIndex, HsmState_t *state, uint32_t *errorCode);
MD_RV MD_ResetHsm(uint32_t hsmIndex);
MD_RV MD_GetParameter(MD_Parameter_t parameter, void *value, uint32_t valueLen);
/* timeout: milliseconds, 0 for the default (the PTK's "reserved" 0). */
MD_RV MD_SendReceive(uint32_t hsmIndex, uint32_t originatorId, uint16_t fmNumber,
                     MD_Buffer_t *request, uint32_t timeout, MD_Buffer_t *reply,
                     uint32_t *receivedLen, uint32_t *fmStatus);
MD_RV MD_GetHsmIndexForSlot(unsigned long hostSlot, uint32_t *hsmIndex);
MD_RV MD_GetEmbeddedSlotID(unsigned long hostSlot, unsigned long *embeddedSlot);
MD_RV MD_GetFmIdFromName(uint32_t hsmIndex, const char *name, uint32_t nameLen,
                         uint32_t *fmId);
const char *MD_RvAsString(MD_RV rv);

#ifdef __cplusplus
}
#endif

#endif
