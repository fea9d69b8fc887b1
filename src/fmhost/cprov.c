/*
 * The HSM's patchable Cryptoki table, as the FM sees it: OS_GetCprovFuncTable
 * returns it, filled with the HSM's functions (the same the FM reaches by
 * calling C_xxx). After Startup the entries the FM changed are the
 * functions it patches: the daemon sends those calls of every application
 * here (cprov_serve.c).
 *
 * A guard area follows the table: an FM that writes past numEntries, or
 * leaves an entry NULL, does not start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fmsdk/include/sfm_cprov.h"
#include "fm.h"
#include "fmhost.h"

#define GUARD_WORDS 64
#define GUARD_BYTE 0xA5

static struct {
    CprovFnTable_t t;
    unsigned char guard[GUARD_WORDS * sizeof(void *)];
} table;
static CprovFnTable_t original;

/* The entries as an array of function pointers (the struct is numEntries
   and then pointers only: the same layout). */
typedef void (*fn_t)(void);
static fn_t *entries(CprovFnTable_t *t)
{
    return (fn_t *)(void *)&t->C_GetFunctionList;
}

void fmh_cprov_init(const CK_FUNCTION_LIST *ck)
{
    memset(&table, 0, sizeof table);
    memset(table.guard, GUARD_BYTE, sizeof table.guard);
    CprovFnTable_t *t = &table.t;
    t->numEntries = SFM_CPROV_CK_ENTRIES;
#define SET(name) t->C_##name = ck->C_##name;
    SFM_CPROV_FUNCTIONS(SET)
#undef SET
    original = *t;
}

void *fmh_cprov_table(void)
{
    return &table.t;
}

int fmh_cprov_patched(uint8_t bits[FMH_CPROV_BYTES], char *why, size_t cap)
{
    memset(bits, 0, FMH_CPROV_BYTES);
    for (size_t i = 0; i < sizeof table.guard; i++)
        if (table.guard[i] != GUARD_BYTE) {
            snprintf(why, cap, "Startup wrote past the %d entries of the Cryptoki table",
                     SFM_CPROV_CK_ENTRIES);
            return -1;
        }
    if (table.t.numEntries != SFM_CPROV_CK_ENTRIES) {
        snprintf(why, cap, "Startup changed numEntries of the Cryptoki table");
        return -1;
    }
    fn_t *now = entries(&table.t), *was = entries(&original);
    for (unsigned i = 0; i < SFM_CPROV_CK_ENTRIES; i++) {
        if (!now[i]) {
            snprintf(why, cap, "Startup left %s NULL in the Cryptoki table",
                     fm_patch_name((int)i));
            return -1;
        }
        if (now[i] != was[i])
            bits[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    return 0;
}
