/* Names of CK_RV codes, for messages people read. */
#ifndef SOFTFM_CKR_H
#define SOFTFM_CKR_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

/* "CKR_PIN_INCORRECT", or "0x..." for a code without a name. Thread-safe
   for known codes; unknown ones share a static buffer. */
const char *ckr_name(CK_RV rv);
/* A code PKCS#11 v2.40 defines, or a vendor-defined one. */
bool ckr_defined(CK_RV rv);

#endif
