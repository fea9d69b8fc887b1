/* The vendor name for the PKCS#11 header, with the vendor spellings FM and host sources use. */
#ifndef SFM_VENDOR_CRYPTOKI_H
#define SFM_VENDOR_CRYPTOKI_H
#include <p11-kit/pkcs11.h>

#ifndef CK_ENTRY
#define CK_ENTRY
#endif
#ifndef CK_PTR
#define CK_PTR *
#endif
typedef CK_ULONG CK_SIZE;
typedef CK_ULONG CK_COUNT;
typedef unsigned short CK_USHORT;
typedef CK_USHORT CK_PTR CK_USHORT_PTR;
typedef CK_SIZE CK_PTR CK_SIZE_PTR;
typedef CK_COUNT CK_PTR CK_COUNT_PTR;
typedef void CK_VOID;
#endif
