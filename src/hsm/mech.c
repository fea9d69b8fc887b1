/*
 * The mechanisms softfm offers, with what C_GetMechanismInfo says of each.
 * A mechanism is listed here only once every path it names works.
 */
#include "internal.h"

static const mech_info_t mechs[] = {
    { CKM_SHA_1, 0, 0, CKF_DIGEST },
    { CKM_SHA224, 0, 0, CKF_DIGEST },
    { CKM_SHA256, 0, 0, CKF_DIGEST },
    { CKM_SHA384, 0, 0, CKF_DIGEST },
    { CKM_SHA512, 0, 0, CKF_DIGEST },
    { CKM_SHA3_256, 0, 0, CKF_DIGEST },
    { CKM_SHA3_384, 0, 0, CKF_DIGEST },
    { CKM_SHA3_512, 0, 0, CKF_DIGEST },
    /* Key sizes in bytes for secret keys, as v2.40 counts them. */
    { CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE },
    { CKM_DES3_KEY_GEN, 24, 24, CKF_GENERATE },
    /* Generic secrets and HMAC count key sizes in bits. */
    { CKM_GENERIC_SECRET_KEY_GEN, 8, 4096, CKF_GENERATE },
#define CRYPT (CKF_ENCRYPT | CKF_DECRYPT)
    { CKM_AES_ECB, 16, 32, CRYPT },
    { CKM_AES_CBC, 16, 32, CRYPT },
    { CKM_AES_CBC_PAD, 16, 32, CRYPT },
    { CKM_AES_CTR, 16, 32, CRYPT },
    { CKM_AES_GCM, 16, 32, CRYPT },
    { CKM_AES_KEY_WRAP, 16, 32, CRYPT },
    { CKM_AES_KEY_WRAP_PAD, 16, 32, CRYPT },
    { CKM_DES3_ECB, 24, 24, CRYPT },
    { CKM_DES3_CBC, 24, 24, CRYPT },
    { CKM_DES3_CBC_PAD, 24, 24, CRYPT },
#define MAC (CKF_SIGN | CKF_VERIFY)
    { CKM_SHA_1_HMAC, 8, 4096, MAC },
    { CKM_SHA_1_HMAC_GENERAL, 8, 4096, MAC },
    { CKM_SHA224_HMAC, 8, 4096, MAC },
    { CKM_SHA224_HMAC_GENERAL, 8, 4096, MAC },
    { CKM_SHA256_HMAC, 8, 4096, MAC },
    { CKM_SHA256_HMAC_GENERAL, 8, 4096, MAC },
    { CKM_SHA384_HMAC, 8, 4096, MAC },
    { CKM_SHA384_HMAC_GENERAL, 8, 4096, MAC },
    { CKM_SHA512_HMAC, 8, 4096, MAC },
    { CKM_SHA512_HMAC_GENERAL, 8, 4096, MAC },
    { CKM_AES_CMAC, 16, 32, MAC },
    { CKM_AES_CMAC_GENERAL, 16, 32, MAC },
    /* Asymmetric key sizes in bits. */
    { CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR },
#define RECOVER (CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER)
    { CKM_RSA_PKCS, 2048, 4096, MAC | CRYPT | RECOVER },
    { CKM_RSA_X_509, 2048, 4096, MAC | CRYPT | RECOVER },
    { CKM_RSA_PKCS_OAEP, 2048, 4096, CRYPT },
    { CKM_RSA_PKCS_PSS, 2048, 4096, MAC },
    { CKM_SHA1_RSA_PKCS, 2048, 4096, MAC },
    { CKM_SHA224_RSA_PKCS, 2048, 4096, MAC },
    { CKM_SHA256_RSA_PKCS, 2048, 4096, MAC },
    { CKM_SHA384_RSA_PKCS, 2048, 4096, MAC },
    { CKM_SHA512_RSA_PKCS, 2048, 4096, MAC },
    { CKM_SHA1_RSA_PKCS_PSS, 2048, 4096, MAC },
    { CKM_SHA224_RSA_PKCS_PSS, 2048, 4096, MAC },
    { CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, MAC },
    { CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, MAC },
    { CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, MAC },
#define EC (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
    { CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC },
    { CKM_ECDSA, 256, 521, MAC | EC },
    { CKM_ECDSA_SHA1, 256, 521, MAC | EC },
    { CKM_ECDSA_SHA224, 256, 521, MAC | EC },
    { CKM_ECDSA_SHA256, 256, 521, MAC | EC },
    { CKM_ECDSA_SHA384, 256, 521, MAC | EC },
    { CKM_ECDSA_SHA512, 256, 521, MAC | EC },
    { CKM_ECDH1_DERIVE, 256, 521, CKF_DERIVE | EC },
    { CKM_ECDH1_COFACTOR_DERIVE, 256, 521, CKF_DERIVE | EC },
    { CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR },
    { CKM_EDDSA, 255, 255, MAC },
};

#define NMECHS (sizeof mechs / sizeof mechs[0])

size_t mech_count(void)
{
    return NMECHS;
}

const mech_info_t *mech_at(size_t i)
{
    return i < NMECHS ? &mechs[i] : NULL;
}

const mech_info_t *mech_find(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < NMECHS; i++)
        if (mechs[i].type == type)
            return &mechs[i];
    return NULL;
}
