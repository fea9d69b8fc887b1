/*
 * The SMFS behind the FMs (private to src/fm): one handle table per FM, and
 * the serving of an FM's SMFS requests (fmlink.h) against the store.
 */
#ifndef SOFTFM_FM_SMFS_H
#define SOFTFM_FM_SMFS_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "store.h"

typedef struct fm_smfs fm_smfs_t;

/* Limits from SOFTFM_SMFS_MAX_OPEN (32) and SOFTFM_SMFS_MAX_SEARCHES (16). */
fm_smfs_t *smfs_new(void);
void smfs_free(fm_smfs_t *m);
/* Close every handle (the FM's process has ended). */
void smfs_reset(fm_smfs_t *m);
/* The file bytes the whole SMFS may hold: SOFTFM_SMFS_CAPACITY, 1 MiB. */
uint64_t smfs_capacity(void);
/* One request of FM fm (op and arguments in r); the reply (u32 SMFS code,
   results) into w. Before activation every request is SMFS_ERR_NOT_INITED. */
int smfs_serve(store_t *st, fm_smfs_t *m, const char *fm, bool active, rbuf_t *r, wbuf_t *w);

#endif
