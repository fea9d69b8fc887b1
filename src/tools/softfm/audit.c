/*
 * softfm audit: the HSM's audit log, its HMAC chain checked by the HSM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

int cmd_audit(tool_t *t, int argc, char **argv)
{
    static const char usage[] = "usage: softfm audit show [--last N]";
    unsigned long last = 0;
    if (argc < 1 || strcmp(argv[0], "show"))
        return fail_msg("%s", usage), 2;
    if (argc == 3 && !strcmp(argv[1], "--last")) {
        char *end;
        last = strtoul(argv[2], &end, 10);
        if (*end || !last || last > 1000000)
            return fail_msg("%s", usage), 2;
    } else if (argc != 1) {
        return fail_msg("%s", usage), 2;
    }
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_AUDIT, &k, &w);
    if (rv == CKR_OK) {
        wb_u32(w, (uint32_t)last);
        rv = admin_send(t, k, &r);
    }
    if (rv) {
        client_end(t->client, k);
        return fail("audit show", rv);
    }
    uint32_t n = rb_u32(&r);
    int broken = 0;
    for (uint32_t i = 0; i < n && !r.err; i++) {
        uint64_t seq = rb_u64(&r), when = rb_u64(&r);
        char who[128], event[600], stamp[32] = "-";
        wire_str(&r, who, sizeof who);
        wire_str(&r, event, sizeof event);
        uint8_t ok = rb_u8(&r);
        time_t tt = (time_t)when;
        struct tm tm;
        if (gmtime_r(&tt, &tm))
            strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%6llu %s %-24s %s%s\n", (unsigned long long)seq, stamp, who, event,
               ok ? "" : "  [CHAIN BROKEN]");
        if (!ok && !broken)
            broken = 1;
    }
    client_end(t->client, k);
    if (r.err)
        return fail_msg("audit show: a malformed reply");
    if (broken)
        return fail_msg("audit show: the audit log's chain is broken: records were altered, "
                        "removed or inserted outside the HSM");
    if (!n)
        printf("the audit log is empty\n");
    return 0;
}
