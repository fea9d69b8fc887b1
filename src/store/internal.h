/*
 * What the store's files share (private to src/store): the database and the
 * master key, under the store's lock.
 */
#ifndef SOFTFM_STORE_INTERNAL_H
#define SOFTFM_STORE_INTERNAL_H

#include <sqlite3.h>

#include "seal.h"
#include "store.h"

void store_lock(store_t *s);
void store_unlock(store_t *s);
/* The database and the master key; the store's lock must be held. */
sqlite3 *store_db_locked(store_t *s, const uint8_t **master);

/* A key of its own in the store's directory (e.g. audit.key), made on first
   use; the store's lock must be held. */
int store_key_file(store_t *s, const char *name, uint8_t key[SEAL_KEY_LEN]);

#endif
