/*
 * An FM that uses the C runtime the SDK promises (through the system's own
 * headers, as FM sources do): formatted output and input, conversions,
 * sorting and searching, strings, ctype, memory, time, assert. Its one
 * command answers a line that the test computes the same way on the host.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fm.h>
#include <mkfmhdr.h>

DEFINE_FM_HEADER(0x0330, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "libc");

static int cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    char in[128];
    if (len >= sizeof in) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    memcpy(in, req, len);
    in[len] = '\0';
    /* in: "NUMBERS WORD HEX", e.g. "5,3,9,1 hello ff" */
    char nums[64], word[32];
    unsigned hex = 0;
    if (sscanf(in, "%63s %31s %x", nums, word, &hex) != 3) {
        SVC_SendReply(token, FM_ERR_INVALID_REQUEST);
        return;
    }
    int v[16], n = 0;
    for (char *save = NULL, *t = strtok_r(nums, ",", &save); t && n < 16;
         t = strtok_r(NULL, ",", &save))
        v[n++] = (int)strtol(t, NULL, 10);
    qsort(v, (size_t)n, sizeof v[0], cmp);
    int key = 9;
    int *found = bsearch(&key, v, (size_t)n, sizeof v[0], cmp);
    char *up = strdup(word);
    assert(up != NULL);
    for (char *c = up; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    int *grown = calloc(2, sizeof *grown);
    grown = realloc(grown, 64 * sizeof *grown);
    grown[63] = abs(-7) + (int)labs(-8L);
    div_t dv = div(17, 5);
    time_t t0 = 86400 * 365;
    struct tm tm;
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&t0, &tm));
    char out[256];
    int w = snprintf(out, sizeof out, "sorted=%d,%d,%d,%d found=%d upper=%s hex=%u sum=%d div=%d.%d "
                     "date=%s alpha=%d len=%zu",
                     v[0], v[1], v[2], v[3], found ? (int)(found - v) : -1, up, hex, grown[63],
                     dv.quot, dv.rem, date, isalpha((unsigned char)word[0]) != 0, strlen(word));
    free(up);
    free(grown);
    char *r = SVC_GetReplyBuffer(token, (uint32_t)w);
    if (r)
        memcpy(r, out, (size_t)w);
    SVC_SendReply(token, r ? FM_OK : FM_ERR_OUT_OF_MEMORY);
}

FM_RV Startup(void)
{
    printf("libc FM: %d%c %s\n", 42, '!', "ready");
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
