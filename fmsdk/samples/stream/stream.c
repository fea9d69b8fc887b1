/*
 * The stream FM: the Luna stream dispatch model. The handler reads its
 * request with SVC_IO_Read32 and the read pointer, writes its reply with
 * SVC_IO_Write32 and the write pointer, and returns the status.
 */
#include <string.h>

#include <fm.h>
#include <fm_io_service.h>
#include "fm/common/fm_byteorder.h"

#include "stream.h"

static int handler(FmMsgHandle token)
{
    uint32_t n;
    if (SVC_IO_Read32(token, &n) != 4)
        return FM_ERR_INVALID_LENGTH;
    uint32_t avail = 0;
    const uint8_t *in = SVC_IO_GetReadPointer(token, &avail);
    if (n > avail / 4)
        return FM_ERR_INVALID_LENGTH;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, in + 4 * i, 4);
        sum += fm_betoh32(v);
    }
    if (SVC_IO_Write32(token, (uint32_t)(sum >> 32)) != 4 ||
        SVC_IO_Write32(token, (uint32_t)sum) != 4)
        return FM_ERR_OUT_OF_MEMORY;
    uint8_t *out = n ? SVC_IO_GetWritePointer(token, 4 * n) : NULL;
    if (n && !out)
        return FM_ERR_OUT_OF_MEMORY; /* the host's buffers are too small */
    for (uint32_t i = 0; i < n; i++)
        memcpy(out + 4 * i, in + 4 * (n - 1 - i), 4);
    if (n)
        SVC_IO_UpdateWritePointer(token, 4 * n);
    SVC_IO_UpdateReadPointer(token, 4 * n);
    return FM_OK;
}

FM_RV Startup(void)
{
    return FMSW_RegisterStreamDispatch(GetFMID(), handler) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
