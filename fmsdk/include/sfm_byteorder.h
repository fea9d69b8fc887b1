/*
 * softfm FM SDK: byte order helpers, usable in FMs and host programs alike.
 * Luna names (fm_htobe16 ...) and PTK names (swap16, hton_long ...).
 * Messages between host and FM should carry integers in network (big
 * endian) order, converted on both sides with these.
 */
#ifndef SFM_BYTEORDER_H
#define SFM_BYTEORDER_H

#include <stdint.h>

static inline uint16_t swap16(uint16_t v)
{
    return (uint16_t)((v >> 8) | (v << 8));
}

static inline uint32_t swap32(uint32_t v)
{
    return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

static inline uint64_t swap64(uint64_t v)
{
    return ((uint64_t)swap32((uint32_t)v) << 32) | swap32((uint32_t)(v >> 32));
}

static inline int isBE(void)
{
    const union { uint16_t v; uint8_t b[2]; } u = { 0x0102 };
    return u.b[0] == 0x01;
}

static inline int isLE(void)
{
    return !isBE();
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SFM_BE(bits, v) (v)
#define SFM_LE(bits, v) swap##bits(v)
#else
#define SFM_BE(bits, v) swap##bits(v)
#define SFM_LE(bits, v) (v)
#endif

static inline uint16_t fm_htobe16(uint16_t v) { return SFM_BE(16, v); }
static inline uint32_t fm_htobe32(uint32_t v) { return SFM_BE(32, v); }
static inline uint64_t fm_htobe64(uint64_t v) { return SFM_BE(64, v); }
static inline uint16_t fm_betoh16(uint16_t v) { return SFM_BE(16, v); }
static inline uint32_t fm_betoh32(uint32_t v) { return SFM_BE(32, v); }
static inline uint64_t fm_betoh64(uint64_t v) { return SFM_BE(64, v); }
static inline uint16_t fm_htole16(uint16_t v) { return SFM_LE(16, v); }
static inline uint32_t fm_htole32(uint32_t v) { return SFM_LE(32, v); }
static inline uint64_t fm_htole64(uint64_t v) { return SFM_LE(64, v); }
static inline uint16_t fm_letoh16(uint16_t v) { return SFM_LE(16, v); }
static inline uint32_t fm_letoh32(uint32_t v) { return SFM_LE(32, v); }
static inline uint64_t fm_letoh64(uint64_t v) { return SFM_LE(64, v); }

/* PTK endyn.h */
#define hton_short(v) fm_htobe16((uint16_t)(v))
#define ntoh_short(v) fm_betoh16((uint16_t)(v))
#define hton_long(v) fm_htobe32((uint32_t)(v))
#define ntoh_long(v) fm_betoh32((uint32_t)(v))
#define hton_longlong(v) fm_htobe64((uint64_t)(v))
#define ntoh_longlong(v) fm_betoh64((uint64_t)(v))

#endif
