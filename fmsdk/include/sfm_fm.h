/*
 * softfm FM SDK: the FM-side interface in one place. The vendor-named
 * headers (fm.h, fmsw.h, csa8hiface.h, fm/hsm/fm.h, ...) include this file,
 * so FM sources written for either flavour of the vendor SDK compile
 * unchanged. Everything here is implemented by libfmsupt.a.
 */
#ifndef SFM_FM_H
#define SFM_FM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sfm_byteorder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Declaring an FM ------------------------------------------------ */

typedef uint16_t FmNumber_t;
typedef uint16_t FmVersion_t;
typedef uint32_t FM_FormatVersion_t;
typedef uint64_t FmSerialNumber_t;
typedef uint64_t FmTimeStamp_t;

/* The header in the image's .fm.header section: 72 bytes. */
typedef struct FM_Header {
    FM_FormatVersion_t formatVersion; /* FM_HEADER_FORMAT_VERSION */
    FmNumber_t fmNumber;
    FmVersion_t fmVersion;            /* in memory: major byte, then minor */
    FmSerialNumber_t serialNumber;
    FmTimeStamp_t productionDate;     /* seconds since 1970, or 0 */
    char manufacturerId[32];          /* NUL-padded */
    char productId[16];               /* the FM's name, NUL-padded */
} FM_Header_t;

#define FM_HEADER_FORMAT_VERSION 3u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FM_MAKE_VERSION(major, minor) ((FmVersion_t)((((major) & 0xff) << 8) | ((minor) & 0xff)))
#else
#define FM_MAKE_VERSION(major, minor) ((FmVersion_t)((((minor) & 0xff) << 8) | ((major) & 0xff)))
#endif

/* Set by the SDK's makefiles to the build time; 0 when not. */
#ifndef FM_BUILD_TIME
#define FM_BUILD_TIME 0
#endif

#define DEFINE_FM_HEADER(number, version, serial, manufacturer, product)                   \
    __attribute__((section(".fm.header"), used, visibility("default")))                    \
    const FM_Header_t _FM_Header_ = { FM_HEADER_FORMAT_VERSION, (FmNumber_t)(number),      \
                                      (FmVersion_t)(version), (FmSerialNumber_t)(serial),  \
                                      (FmTimeStamp_t)(FM_BUILD_TIME), manufacturer, product }

/* FM numbers (csa8fm.h). 0x0000-0x000B belong to the HSM itself. */
#define FM_NUMBER_CUSTOM_FM 0x0100
#define FM_NUMBER_EMPTY 0xFFFF
/* In a header: let the HSM choose the number when the FM is loaded (from
   0xA000 up); GetFMID() tells the FM which. */
#define FMID_ALLOCATE_NORM 0xFFFE

/* ---- FM_RV (fmerr.h) ------------------------------------------------ */

typedef uint32_t FM_RV;
#define FM_OK 0x00
#define FM_ALREADY_INITIALIZED 0x01
#define FM_ARGUMENTS_BAD 0x02
#define FM_CANT_LOCK 0x03
#define FM_HOST_MEMORY 0x04
#define FM_INVALID_ADAPTER_NUMBER 0x05
#define FM_MUTEX_BAD 0x06
#define FM_MUTEX_NOT_LOCKED 0x07
#define FM_ERR_DMA_FAILED 0x08
#define FM_ERR_OUT_OF_MEMORY 0x09
#define FM_ERR_INVALID_DESTINATION_MODULE 0x0A
#define FM_WRN_REPLY_TOO_LONG 0x0B
#define FM_ERR_INVALID_REQUEST 0x0C
#define FM_ERR_INVALID_LENGTH 0x0D
#define FM_ERR_INVALID_CMD 0x0E
#define FM_IERR_INVALID_CONNECTION_HANDLE 0x0F
#define FM_IERR_PENDING_DESTROY 0x10
#define FM_IERR_CONNECTION_BUSY 0x11
#define FM_IERR_PENDING_REQUEST 0x12
#define FM_IERR_NO_PENDING_REQUEST 0x13
#define FM_IERR_REPLY_NOT_AVAILABLE 0x14
#define FM_IERR_OPERATION_CANCELLED 0x15
#define FM_IERR_UNSUCCESSFUL 0x16
#define FM_IERR_INVALID_POINTER 0x17
#define FM_IERR_ADAPTER_RESET 0x18
#define FM_IERR_GENERAL 0x19
#define FM_INCOMPATIBLE 0x1A
#define FM_INSUFFICIENT_RESOURCES 0x1B
#define FM_UNSUCCESSFUL 0x1C

/* The FM's entry point, called once when the HSM starts it. */
FM_RV Startup(void);

/* ---- Dispatch (fmsw.h) ---------------------------------------------- */

typedef int FMSW_STATUS;
#define FMSW_OK 0
#define FMSW_ALREADY_REGISTERED 1
#define FMSW_BAD_FM_NUMBER 2
#define FMSW_BAD_POINTER 3
#define FMSW_INSUFFICIENT_RESOURCES 4
#define FMSW_NOT_REGISTERED 5
#define FMSW_BUSY 6
#define FMSW_DISPATCH_BLOCKED 7

typedef uint16_t FMSW_FmNumber_t;
typedef void *HI_MsgHandle;
typedef void *FmMsgHandle;

typedef int FMSW_HostEvent_t;
#define FMSW_EVENT_APP_CLOSE 0
#define FMSW_EVENT_ALL_APPS_CLOSED 1

typedef void (*FMSW_DispatchFn_t)(HI_MsgHandle token, void *req, uint32_t reqLen);
typedef int (*FMSW_StreamDispatchFn_t)(FmMsgHandle token);
typedef void (*FMSW_HostNotifyFn_t)(FMSW_HostEvent_t event);

FMSW_STATUS FMSW_RegisterDispatch(FMSW_FmNumber_t fmNumber, FMSW_DispatchFn_t fn);
FMSW_STATUS FMSW_RegisterRandomDispatch(FMSW_FmNumber_t fmNumber, FMSW_DispatchFn_t fn);
FMSW_STATUS FMSW_RegisterStreamDispatch(FMSW_FmNumber_t fmNumber, FMSW_StreamDispatchFn_t fn);
FMSW_STATUS FMSW_DeregisterDispatch(FMSW_FmNumber_t fmNumber);
FMSW_STATUS FMSW_RegisterHostNotify(FMSW_FmNumber_t fmNumber, FMSW_HostNotifyFn_t fn);
FMSW_STATUS FMSW_DeregisterHostNotify(FMSW_FmNumber_t fmNumber);

/* The FM's own number (allocated at load time when the header asked). */
FmNumber_t GetFMID(void);

/* ---- Service calls on a request (csa8hiface.h) ----------------------- */

void *SVC_GetRequest(HI_MsgHandle token);
uint32_t SVC_GetRequestLength(HI_MsgHandle token);
uint32_t SVC_GetUserReplyBufLen(HI_MsgHandle token);
void *SVC_GetReplyBuffer(HI_MsgHandle token, uint32_t size);
void *SVC_ResizeReplyBuffer(HI_MsgHandle token, uint32_t len);
void *SVC_ConvertReqToReply(HI_MsgHandle token);
void SVC_DiscardReplyBuffer(HI_MsgHandle token);
void *SVC_GetReply(HI_MsgHandle token);
uint32_t SVC_GetReplyLength(HI_MsgHandle token);
uint32_t SVC_GetPid(HI_MsgHandle token);
uint32_t SVC_GetOid(HI_MsgHandle token);
void SVC_SendReply(HI_MsgHandle token, uint32_t status);

/* Stream model (fm_io_service.h). Reads return the bytes read; writes the
   bytes written, or -1 when the reply cannot grow. The pointer variants
   give direct access: GetReadPointer returns the unread request bytes and
   their count; UpdateReadPointer consumes n of them; GetWritePointer
   reserves room for n more reply bytes; UpdateWritePointer commits n. */
int SVC_IO_Read(FmMsgHandle token, void *buf, uint32_t max);
int SVC_IO_Read32(FmMsgHandle token, uint32_t *out);
int SVC_IO_Write(FmMsgHandle token, const void *buf, uint32_t len);
int SVC_IO_Write32(FmMsgHandle token, uint32_t value);
void *SVC_IO_GetReadPointer(FmMsgHandle token, uint32_t *available);
int SVC_IO_UpdateReadPointer(FmMsgHandle token, uint32_t n);
void *SVC_IO_GetWritePointer(FmMsgHandle token, uint32_t n);
int SVC_IO_UpdateWritePointer(FmMsgHandle token, uint32_t n);

/* ---- Who is calling (fmappid.h) -------------------------------------- */

#define FM_DEFAULT_PID ((unsigned long)0xFFFFFFFFu)
unsigned long FM_GetCurrentAppId(void);
void FM_SetCurrentAppId(unsigned long appId);
unsigned long FM_GetCurrentPid(void);
void FM_SetCurrentPid(unsigned long pid);
unsigned long FM_GetCurrentOid(void);
void FM_SetCurrentOid(unsigned long oid);

/* ---- Privilege (privilege.h) ------------------------------------------ */

#define PRIVILEGE_NORMAL 0
#define PRIVILEGE_OVERRIDE 1
void CT_SetPrivilegeLevel(int level);
int CT_GetPrivilegeLevel(void);

/* ---- Trace output (fmdebug.h) ----------------------------------------- */

int dbg_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dump(const char *description, const void *data, uint32_t len);
#ifdef DEBUG
#define debug(x) x
#else
#define debug(x)
#endif

/* ---- Timing (timing.h) ------------------------------------------------ */

typedef struct THR_TIME {
    uint32_t secs;
    uint32_t ns;
} THR_TIME;
/* THR_BeginTiming stores the time now; THR_UpdateTiming turns it into the
   time elapsed since then. */
void THR_BeginTiming(THR_TIME *t);
void THR_UpdateTiming(THR_TIME *t);

#ifdef __cplusplus
}
#endif

#endif
