/*
 * The login FM: remembers which host processes have authenticated, by the
 * AppId of their requests, as the vendor chapter suggests for FMs with a
 * login; serves a secret only to them; forgets a process when it ends
 * (FMSW_EVENT_APP_CLOSE), so a new process with a reused process id is not
 * taken for a logged-in one.
 */
#include <string.h>

#include <fm.h>
#include <fmappid.h>
#include "fm/common/fm_byteorder.h"

#include "login.h"

#define MAX_LOGINS 64

static unsigned long logged_in[MAX_LOGINS];
static uint32_t count;

static int find(unsigned long app)
{
    for (uint32_t i = 0; i < count; i++)
        if (logged_in[i] == app)
            return (int)i;
    return -1;
}

static void forget(unsigned long app)
{
    int i = find(app);
    if (i >= 0)
        logged_in[i] = logged_in[--count];
}

static void reply(HI_MsgHandle token, uint32_t status, const void *data, uint32_t n)
{
    uint8_t *out = n ? SVC_GetReplyBuffer(token, n) : NULL;
    if (out)
        memcpy(out, data, n);
    SVC_SendReply(token, status);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t cmd;
    if (len < 4) {
        reply(token, FM_ERR_INVALID_LENGTH, NULL, 0);
        return;
    }
    memcpy(&cmd, req, 4);
    cmd = fm_betoh32(cmd);
    const char *data = (const char *)req + 4;
    uint32_t n = len - 4;
    unsigned long app = FM_GetCurrentAppId();
    switch (cmd) {
    case LOGIN_LOGIN:
        if (n != strlen(LOGIN_PASSWORD) || memcmp(data, LOGIN_PASSWORD, n)) {
            reply(token, FM_ARGUMENTS_BAD, NULL, 0);
            return;
        }
        if (find(app) < 0 && count < MAX_LOGINS)
            logged_in[count++] = app;
        reply(token, find(app) >= 0 ? FM_OK : FM_INSUFFICIENT_RESOURCES, NULL, 0);
        return;
    case LOGIN_SECRET:
        if (find(app) < 0)
            reply(token, FM_ERR_INVALID_REQUEST, NULL, 0);
        else
            reply(token, FM_OK, LOGIN_THE_SECRET, sizeof LOGIN_THE_SECRET - 1);
        return;
    case LOGIN_LOGOUT:
        forget(app);
        reply(token, FM_OK, NULL, 0);
        return;
    case LOGIN_COUNT: {
        uint32_t be = fm_htobe32(count);
        reply(token, FM_OK, &be, 4);
        return;
    }
    default:
        reply(token, FM_ERR_INVALID_CMD, NULL, 0);
    }
}

static void host_event(FMSW_HostEvent_t event)
{
    if (event == FMSW_EVENT_APP_CLOSE)
        forget(FM_GetCurrentAppId());
}

FM_RV Startup(void)
{
    if (FMSW_RegisterDispatch(GetFMID(), dispatch) != FMSW_OK ||
        FMSW_RegisterHostNotify(GetFMID(), host_event) != FMSW_OK)
        return FM_UNSUCCESSFUL;
    return FM_OK;
}
