/* The xorsign sample: what its FM and host program share. */
#ifndef XORSIGN_H
#define XORSIGN_H

#define XORSIGN_FM_NAME "xorsign"
#define XORSIGN_FM_NUMBER 0x0309

/* A vendor-defined mechanism: an 8-byte "signature", the XOR of the data
   in 8-byte blocks (zero-padded) and of the key folded to 8 bytes. A toy:
   it shows a mechanism an FM adds to the HSM, not a secure MAC. */
#define CKM_XOR_SIGN (CKM_VENDOR_DEFINED | 0x5846UL)
#define XOR_SIGN_LEN 8

#endif
