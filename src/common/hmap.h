/*
 * A map from 64-bit keys to pointers (open addressing, linear probing).
 * Not thread-safe: its owner holds the lock.
 */
#ifndef SOFTFM_HMAP_H
#define SOFTFM_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap {
    uint64_t *keys;
    void **vals;
    size_t cap;    /* power of two, or 0 */
    size_t count;
} hmap_t;

void hmap_init(hmap_t *m);
void hmap_free(hmap_t *m);
void *hmap_get(const hmap_t *m, uint64_t key);
/* 0 on success, -1 when memory is short. Replaces an existing value. */
int hmap_put(hmap_t *m, uint64_t key, void *val);
void *hmap_del(hmap_t *m, uint64_t key);

/* Iterate: for (size_t i = 0; hmap_next(m, &i, &k, &v); ) ... */
int hmap_next(const hmap_t *m, size_t *pos, uint64_t *key, void **val);

#endif
