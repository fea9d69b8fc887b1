/*
 * libfmsupt: the HSM's patchable Cryptoki table, which the fmhost keeps.
 */
#include "fm_calls.h"
#include "../include/sfm_cprov.h"

extern const fm_calls_t *softfm_fm_calls;

CprovFnTable_t *OS_GetCprovFuncTable(void)
{
    return (CprovFnTable_t *)softfm_fm_calls->cprov_table();
}
