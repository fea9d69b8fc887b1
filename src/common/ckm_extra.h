/*
 * PKCS#11 v3.0 constants that p11-kit's pkcs11.h (v2.40) does not define,
 * with the values the v3.0 specification gives them.
 */
#ifndef SOFTFM_CKM_EXTRA_H
#define SOFTFM_CKM_EXTRA_H

#ifndef CKM_SHA3_256
#define CKM_SHA3_256 0x000002B0UL
#define CKM_SHA3_224 0x000002B5UL
#define CKM_SHA3_384 0x000002C0UL
#define CKM_SHA3_512 0x000002D0UL
#endif

#endif
