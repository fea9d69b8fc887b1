/*
 * The xorsign sample's host program: plain PKCS#11, nothing of softfm's.
 * It finds CKM_XOR_SIGN in the slot's mechanism list, signs TEXT with a
 * session key in one part and in two, checks both against the value
 * computed here, and verifies (and fails to verify a changed signature).
 *
 *   xorsign-host SLOT PIN TEXT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cryptoki.h>

#include "xorsign.h"

static const CK_BYTE key_value[16] = "0123456789abcdef";

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "xorsign-host: %s: 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: xorsign-host SLOT PIN TEXT\n");
        return 2;
    }
    CK_SLOT_ID slot = strtoul(argv[1], NULL, 0);
    CK_BYTE_PTR text = (CK_BYTE_PTR)argv[3];
    CK_ULONG n = strlen(argv[3]);
    CK_RV rv = C_Initialize(NULL);
    if (rv)
        return fail("C_Initialize", rv);
    CK_ULONG count = 0;
    CK_MECHANISM_TYPE list[256];
    if ((rv = C_GetMechanismList(slot, NULL, &count)) || count > 256 ||
        (rv = C_GetMechanismList(slot, list, &count)))
        return fail("C_GetMechanismList", rv);
    int found = 0;
    for (CK_ULONG i = 0; i < count; i++)
        found |= list[i] == CKM_XOR_SIGN;
    CK_MECHANISM_INFO info;
    if (!found || (rv = C_GetMechanismInfo(slot, CKM_XOR_SIGN, &info)) ||
        !(info.flags & CKF_SIGN))
        return fail("CKM_XOR_SIGN is not offered", rv);
    printf("CKM_XOR_SIGN offered (%lu mechanisms)\n", (unsigned long)count);
    CK_SESSION_HANDLE s;
    if ((rv = C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)))
        return fail("C_OpenSession", rv);
    if ((rv = C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]))) &&
        rv != CKR_USER_ALREADY_LOGGED_IN)
        return fail("C_Login", rv);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls },         { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_TOKEN, &no, sizeof no },           { CKA_SENSITIVE, &yes, sizeof yes },
                         { CKA_SIGN, &yes, sizeof yes },          { CKA_VERIFY, &yes, sizeof yes },
                         { CKA_VALUE, (void *)key_value, sizeof key_value } };
    CK_OBJECT_HANDLE key;
    if ((rv = C_CreateObject(s, t, 7, &key)))
        return fail("C_CreateObject", rv);
    CK_BYTE want[XOR_SIGN_LEN] = { 0 };
    for (CK_ULONG i = 0; i < sizeof key_value; i++)
        want[i % XOR_SIGN_LEN] ^= key_value[i];
    for (CK_ULONG i = 0; i < n; i++)
        want[i % XOR_SIGN_LEN] ^= text[i];
    CK_MECHANISM m = { CKM_XOR_SIGN, NULL, 0 };
    CK_BYTE sig[XOR_SIGN_LEN], sig2[XOR_SIGN_LEN];
    CK_ULONG len = sizeof sig, len2 = sizeof sig2;
    if ((rv = C_SignInit(s, &m, key)) || (rv = C_Sign(s, text, n, sig, &len)))
        return fail("C_Sign", rv);
    if ((rv = C_SignInit(s, &m, key)) || (rv = C_SignUpdate(s, text, n / 2)) ||
        (rv = C_SignUpdate(s, text + n / 2, n - n / 2)) || (rv = C_SignFinal(s, sig2, &len2)))
        return fail("C_SignUpdate/Final", rv);
    if (len != XOR_SIGN_LEN || memcmp(sig, want, sizeof want) || memcmp(sig, sig2, sizeof sig))
        return fail("the signature is not the expected value", 0);
    printf("signature ");
    for (int i = 0; i < XOR_SIGN_LEN; i++)
        printf("%02x", sig[i]);
    printf(" (one part and two parts agree with the expected value)\n");
    if ((rv = C_VerifyInit(s, &m, key)) || (rv = C_Verify(s, text, n, sig, len)))
        return fail("C_Verify", rv);
    sig[0] ^= 1;
    if ((rv = C_VerifyInit(s, &m, key)) || (rv = C_Verify(s, text, n, sig, len)) !=
                                               CKR_SIGNATURE_INVALID)
        return fail("a changed signature was not refused", rv);
    printf("verified; a changed signature is refused\n");
    C_CloseSession(s);
    C_Finalize(NULL);
    return 0;
}
