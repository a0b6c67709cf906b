/* FNV-1a, 64 bits: the stable, dependency-free hash behind alert
 * fingerprints, group keys and snapshot rule identities (values that are
 * stored or compared across runs, so it must never change). Continue a
 * hash by passing the previous value as h; start from RW_FNV_OFFSET. */
#ifndef RW_FNV_H
#define RW_FNV_H

#include <stddef.h>
#include <stdint.h>

#define RW_FNV_OFFSET 14695981039346656037ULL

static inline uint64_t rw_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
