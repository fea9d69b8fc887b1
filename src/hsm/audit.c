/*
 * The HSM's audit log: who changed what, kept in the store (see store.h for
 * the HMAC chain). Records name the process (its pid and program name) and
 * the change, never a PIN or key material. Failing to write one is logged;
 * the change it describes has happened already.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static void who_of(app_id_t app, char *buf, size_t cap)
{
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/%lu/comm", (unsigned long)app);
    FILE *f = app ? fopen(path, "re") : NULL;
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = '\0';
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        for (char *p = comm; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                *p = '?';
    }
    if (!app)
        snprintf(buf, cap, "softfmd");
    else if (comm[0])
        snprintf(buf, cap, "pid %lu (%s)", (unsigned long)app, comm);
    else
        snprintf(buf, cap, "pid %lu", (unsigned long)app);
}

void hsm_audit(hsm_t *h, app_id_t app, const char *fmt, ...)
{
    char who[64], event[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(event, sizeof event, fmt, ap);
    va_end(ap);
    for (char *p = event; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    who_of(app, who, sizeof who);
    if (store_audit_append(h->store, (uint64_t)time(NULL), who, event))
        log_err("cannot write the audit record: %s", event);
}

int hsm_audit_list(hsm_t *h, size_t last, int (*cb)(void *ctx, const store_audit_t *e),
                   void *ctx)
{
    return store_audit_list(h->store, last, cb, ctx);
}
