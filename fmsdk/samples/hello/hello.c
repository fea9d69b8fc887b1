/*
 * The hello FM: echo and transform, who is calling, replies in blocks, the
 * trace, and some misbehaviour for the HSM to survive. Integers travel in
 * network byte order, converted with the SDK's byte-order helpers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fm.h>
#include <fmsw.h>
#include <csa8hiface.h>
#include <fmappid.h>
#include "fm/common/fm_byteorder.h"

#include "hello.h"

static uint32_t closed_apps;

static void put32(uint8_t *p, uint32_t v)
{
    v = fm_htobe32(v);
    memcpy(p, &v, 4);
}

static void reply_bytes(HI_MsgHandle token, const uint8_t *data, uint32_t n)
{
    uint8_t *out = SVC_GetReplyBuffer(token, n);
    if (!out && n) {
        SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
        return;
    }
    if (n)
        memcpy(out, data, n);
    SVC_SendReply(token, FM_OK);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t cmd;
    if (len < 4) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    memcpy(&cmd, req, 4);
    cmd = fm_betoh32(cmd);
    uint8_t *data = (uint8_t *)req + 4;
    uint32_t n = len - 4;
    switch (cmd) {
    case HELLO_ECHO:
        reply_bytes(token, data, n);
        break;
    case HELLO_UPPER: {
        uint8_t *out = SVC_GetReplyBuffer(token, n);
        for (uint32_t i = 0; out && i < n; i++)
            out[i] = (uint8_t)toupper(data[i]);
        SVC_SendReply(token, out || !n ? FM_OK : FM_ERR_OUT_OF_MEMORY);
        break;
    }
    case HELLO_WHO: {
        uint8_t out[12];
        put32(out, SVC_GetPid(token));
        put32(out + 4, SVC_GetOid(token));
        put32(out + 8, (uint32_t)FM_GetCurrentAppId());
        reply_bytes(token, out, sizeof out);
        break;
    }
    case HELLO_TWO_BLOCKS: {
        uint8_t out[64];
        memset(out, 0x11, 32);
        memset(out + 32, 0x22, 32);
        reply_bytes(token, out, sizeof out);
        break;
    }
    case HELLO_TRACE:
        printf("hello: %.*s\n", (int)n, (const char *)data);
        dump("the data", data, n);
        reply_bytes(token, NULL, 0);
        break;
    case HELLO_CRASH:
        *(volatile int *)(uintptr_t)n = 1;
        break;
    case HELLO_SPIN:
        for (;;)
            ;
    case HELLO_NO_REPLY:
        break;
    case HELLO_ESCAPE: {
        /* What a misbehaving FM might try: the HSM's sandbox stops it. */
        long ret = -1;
#if defined(__x86_64__)
        static const char path[] = "/etc/passwd";
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(257L), "D"(-100L), "S"(path), "d"(0L)
                         : "rcx", "r11", "memory");
#endif
        uint8_t out[4];
        put32(out, (uint32_t)ret);
        reply_bytes(token, out, sizeof out);
        break;
    }
    case HELLO_HOG: {
        uint32_t mib = 0;
        void *head = NULL;
        while (mib < 2048) {
            void **block = malloc(1u << 20);
            if (!block)
                break;
            memset(block, 0xA5, 1u << 20);
            *block = head;
            head = block;
            mib++;
        }
        while (head) {
            void *next = *(void **)head;
            free(head);
            head = next;
        }
        uint8_t out[4];
        put32(out, mib);
        reply_bytes(token, out, sizeof out);
        break;
    }
    case HELLO_CLOSED: {
        uint8_t out[4];
        put32(out, closed_apps);
        reply_bytes(token, out, sizeof out);
        break;
    }
    default:
        SVC_SendReply(token, FM_ERR_INVALID_CMD);
    }
}

static void host_event(FMSW_HostEvent_t event)
{
    if (event == FMSW_EVENT_APP_CLOSE) {
        closed_apps++;
        printf("hello: host process %lu has ended\n", FM_GetCurrentPid());
    } else if (event == FMSW_EVENT_ALL_APPS_CLOSED) {
        printf("hello: no host process is left\n");
    }
}

FM_RV Startup(void)
{
    printf("hello FM starting as 0x%04x\n", GetFMID());
    if (FMSW_RegisterDispatch(GetFMID(), dispatch) != FMSW_OK)
        return FM_UNSUCCESSFUL;
    if (FMSW_RegisterHostNotify(GetFMID(), host_event) != FMSW_OK)
        return FM_UNSUCCESSFUL;
    return FM_OK;
}
