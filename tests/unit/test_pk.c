/*
 * Asymmetric keys in the core: key pair generation (RSA, EC, Ed25519) with
 * truthful attributes, signatures checked by OpenSSL outside the HSM and
 * the reverse, imported keys, and the errors the operations name.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "fixture.h"

static const CK_BYTE P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE P521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const CK_BYTE ED25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static void gen_rsa(fx_t *f, CK_SESSION_HANDLE s, CK_ULONG bits, CK_OBJECT_HANDLE *pub,
                    CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = { { CKA_MODULUS_BITS, &bits, sizeof bits }, { CKA_VERIFY, &yes, 1 } };
    CK_ATTRIBUTE kt[] = { { CKA_SIGN, &yes, 1 }, { CKA_LABEL, "rsa", 3 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &m, pt, 2, kt, 2, pub, priv), CKR_OK);
}

static void gen_ec(fx_t *f, CK_SESSION_HANDLE s, const CK_BYTE *curve, size_t n, bool edwards,
                   CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = { edwards ? CKM_EC_EDWARDS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)curve, (CK_ULONG)n } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &m, pt, 1, NULL, 0, pub, priv), CKR_OK);
}

/* The public key object as an OpenSSL key, built from its attributes. */
static EVP_PKEY *public_key(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, CK_KEY_TYPE kt,
                            const char *group)
{
    CK_BYTE a[600], b[600];
    EVP_PKEY *pk = NULL;
    if (kt == CKK_RSA) {
        CK_ATTRIBUTE t[] = { { CKA_MODULUS, a, sizeof a }, { CKA_PUBLIC_EXPONENT, b, sizeof b } };
        assert_int_equal(hsm_get_attribute_value(f->h, A, s, pub, t, 2), CKR_OK);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        BIGNUM *n = BN_bin2bn(a, (int)t[0].ulValueLen, NULL), *e = BN_bin2bn(b, (int)t[1].ulValueLen, NULL);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(p);
        OSSL_PARAM_BLD_free(bld);
        BN_free(n);
        BN_free(e);
        return pk;
    }
    CK_ATTRIBUTE t = { CKA_EC_POINT, a, sizeof a };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, pub, &t, 1), CKR_OK);
    size_t hdr = a[1] & 0x80 ? 2 + (a[1] & 0x7f) : 2;
    assert_int_equal(a[0], 0x04);
    if (kt == CKK_EC_EDWARDS)
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a + hdr, t.ulValueLen - hdr);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, a + hdr, t.ulValueLen - hdr);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

static void test_rsa(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE pub, priv;
    gen_rsa(f, s, 2048, &pub, &priv);
    CK_ULONG bits = 0, kgm = 0;
    CK_BBOOL local = 0, asens = 0, sens = 0;
    CK_ATTRIBUTE g[] = { { CKA_MODULUS_BITS, &bits, sizeof bits }, { CKA_LOCAL, &local, 1 },
                         { CKA_KEY_GEN_MECHANISM, &kgm, sizeof kgm } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, pub, g, 3), CKR_OK);
    assert_int_equal(bits, 2048);
    assert_int_equal(local, CK_TRUE);
    assert_int_equal(kgm, CKM_RSA_PKCS_KEY_PAIR_GEN);
    CK_BYTE d[512];
    CK_ATTRIBUTE kg[] = { { CKA_ALWAYS_SENSITIVE, &asens, 1 }, { CKA_SENSITIVE, &sens, 1 },
                          { CKA_PRIVATE_EXPONENT, d, sizeof d } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, priv, kg, 3), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(asens, CK_TRUE);
    assert_int_equal(sens, CK_TRUE);

    EVP_PKEY *pk = public_key(f, s, pub, CKK_RSA, NULL);
    const CK_BYTE msg[] = "the message";
    CK_BYTE sig[512];
    CK_ULONG len = sizeof sig;
    /* SHA256_RSA_PKCS: OpenSSL verifies what the HSM signed. */
    CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, msg, sizeof msg, NULL, &len), CKR_OK);
    assert_int_equal(len, 256);
    assert_int_equal(hsm_sign(f->h, A, s, msg, sizeof msg, sig, &len), CKR_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, len, msg, sizeof msg), 1);
    /* and the HSM verifies it, and refuses a changed one */
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg, sig, len), CKR_OK);
    sig[10] ^= 1;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg, sig, len), CKR_SIGNATURE_INVALID);
    /* PSS over a hash the caller made; OpenSSL verifies. */
    CK_BYTE hash[32];
    EVP_Digest(msg, sizeof msg, hash, NULL, EVP_sha256(), NULL);
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM pm = { CKM_RSA_PKCS_PSS, &pss, sizeof pss };
    len = sizeof sig;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &pm, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, hash, 32, sig, &len), CKR_OK);
    EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
    EVP_PKEY_CTX_set_rsa_padding(vctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256());
    EVP_PKEY_CTX_set_rsa_pss_saltlen(vctx, 32);
    assert_int_equal(EVP_PKEY_verify(vctx, sig, len, hash, 32), 1);
    EVP_PKEY_CTX_free(vctx);
    /* PSS: wrong hash length, salt too long. */
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &pm, priv), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign(f->h, A, s, hash, 20, sig, &len), CKR_DATA_LEN_RANGE);
    CK_RSA_PKCS_PSS_PARAMS big_salt = { CKM_SHA256, CKG_MGF1_SHA256, 300 };
    CK_MECHANISM bm = { CKM_RSA_PKCS_PSS, &big_salt, sizeof big_salt };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &bm, priv), CKR_MECHANISM_PARAM_INVALID);
    CK_RSA_PKCS_PSS_PARAMS other = { CKM_SHA_1, CKG_MGF1_SHA1, 20 };
    CK_MECHANISM hm = { CKM_SHA256_RSA_PKCS_PSS, &other, sizeof other };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &hm, priv), CKR_MECHANISM_PARAM_INVALID);
    /* Raw PKCS#1 v1.5 of a caller's DigestInfo, and its length limit. */
    CK_MECHANISM raw = { CKM_RSA_PKCS, NULL, 0 };
    CK_BYTE big[300] = { 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &raw, priv), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign(f->h, A, s, big, 246, sig, &len), CKR_DATA_LEN_RANGE);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &raw, priv), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign(f->h, A, s, big, 35, sig, &len), CKR_OK);
    /* Keys of the wrong kind or role. */
    CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &ecdsa, priv), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
    /* Too small a modulus is refused at generation. */
    CK_OBJECT_HANDLE a, b;
    CK_MECHANISM gm = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG small = 1024;
    CK_ATTRIBUTE st[] = { { CKA_MODULUS_BITS, &small, sizeof small } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, st, 1, NULL, 0, &a, &b),
                     CKR_KEY_SIZE_RANGE);
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, NULL, 0, NULL, 0, &a, &b),
                     CKR_TEMPLATE_INCOMPLETE);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
}

static void test_rsa_encryption(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE pub, priv;
    gen_rsa(f, s, 2048, &pub, &priv);
    EVP_PKEY *pk = public_key(f, s, pub, CKK_RSA, NULL);
    CK_BYTE msg[] = "a secret for RSA", ct[256], pt[256];
    CK_ULONG len = sizeof ct, plen = sizeof pt;
    /* OAEP with a label: the HSM encrypts, and decrypts what OpenSSL encrypts. */
    CK_BYTE label[] = "the label";
    CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 9 };
    CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof op };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &oaep, pub), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, msg, sizeof msg, ct, &len), CKR_OK);
    assert_int_equal(len, 256);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &oaep, priv), CKR_OK);
    CK_ULONG small = 3;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, len, pt, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, sizeof msg);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, len, pt, &plen), CKR_OK);
    assert_int_equal(plen, sizeof msg);
    assert_memory_equal(pt, msg, sizeof msg);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
    size_t olen = sizeof ct;
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256());
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256());
    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label, 9), 9);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &olen, msg, sizeof msg), 1);
    EVP_PKEY_CTX_free(ctx);
    plen = sizeof pt;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &oaep, priv), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, (CK_ULONG)olen, pt, &plen), CKR_OK);
    assert_memory_equal(pt, msg, sizeof msg);
    /* Another label: the ciphertext does not open. */
    CK_RSA_PKCS_OAEP_PARAMS other = op;
    other.pSourceData = (CK_BYTE *)"other";
    other.ulSourceDataLen = 5;
    CK_MECHANISM om = { CKM_RSA_PKCS_OAEP, &other, sizeof other };
    plen = sizeof pt;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &om, priv), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, (CK_ULONG)olen, pt, &plen),
                     CKR_ENCRYPTED_DATA_INVALID);
    /* PKCS#1 v1.5: limits and roles. */
    CK_MECHANISM v15 = { CKM_RSA_PKCS, NULL, 0 };
    CK_BYTE big[246] = { 1 };
    len = sizeof ct;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &v15, pub), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, big, 246, ct, &len), CKR_DATA_LEN_RANGE);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &v15, pub), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, big, 245, ct, &len), CKR_OK);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &v15, priv),
                     CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &v15, priv), CKR_OK);
    plen = sizeof pt;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, 255, pt, &plen),
                     CKR_ENCRYPTED_DATA_LEN_RANGE);
    EVP_PKEY_free(pk);
}

static void ec_round(fx_t *f, CK_SESSION_HANDLE s, const CK_BYTE *curve, size_t n,
                     const char *group, size_t fb)
{
    CK_OBJECT_HANDLE pub, priv;
    gen_ec(f, s, curve, n, false, &pub, &priv);
    EVP_PKEY *pk = public_key(f, s, pub, CKK_EC, group);
    const CK_BYTE msg[] = "ecdsa message";
    CK_BYTE sig[200];
    CK_ULONG len = sizeof sig;
    CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, priv), CKR_OK);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_SIGN, msg, 5), CKR_OK);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_SIGN, msg + 5, sizeof msg - 5), CKR_OK);
    assert_int_equal(hsm_sign_final(f->h, A, s, sig, &len), CKR_OK);
    assert_int_equal(len, 2 * fb);
    /* r || s to DER, for OpenSSL */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)fb, NULL), BN_bin2bn(sig + fb, (int)fb, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(md, der, (size_t)dl, msg, sizeof msg), 1);
    /* The HSM verifies a signature OpenSSL made with... its own key: sign
       the hash with CKM_ECDSA and verify it both ways. */
    CK_BYTE hash[32];
    EVP_Digest(msg, sizeof msg, hash, NULL, EVP_sha256(), NULL);
    CK_MECHANISM raw = { CKM_ECDSA, NULL, 0 };
    len = sizeof sig;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &raw, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, hash, 32, sig, &len), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg, sig, len), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg, sig, len - 1),
                     CKR_SIGNATURE_LEN_RANGE);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
}

static void test_ec(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    ec_round(f, s, P256, sizeof P256, "P-256", 32);
    ec_round(f, s, P384, sizeof P384, "P-384", 48);
    ec_round(f, s, P521, sizeof P521, "P-521", 66);
    CK_OBJECT_HANDLE a, b;
    CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    static const CK_BYTE secp256k1[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
    CK_ATTRIBUTE bad[] = { { CKA_EC_PARAMS, (void *)secp256k1, sizeof secp256k1 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &m, bad, 1, NULL, 0, &a, &b),
                     CKR_CURVE_NOT_SUPPORTED);
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &m, NULL, 0, NULL, 0, &a, &b),
                     CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE withpt[] = { { CKA_EC_PARAMS, (void *)P256, sizeof P256 },
                              { CKA_EC_POINT, (void *)P256, sizeof P256 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &m, withpt, 2, NULL, 0, &a, &b),
                     CKR_ATTRIBUTE_READ_ONLY);
}

static void test_eddsa(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE pub, priv;
    gen_ec(f, s, ED25519, sizeof ED25519, true, &pub, &priv);
    EVP_PKEY *pk = public_key(f, s, pub, CKK_EC_EDWARDS, NULL);
    const CK_BYTE msg[] = "an Ed25519 message";
    CK_BYTE sig[64];
    CK_ULONG len = sizeof sig;
    CK_MECHANISM m = { CKM_EDDSA, NULL, 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, msg, sizeof msg, sig, &len), CKR_OK);
    assert_int_equal(len, 64);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, 64, msg, sizeof msg), 1);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg, sig, 64), CKR_OK);
    /* An Ed25519 curve for the EC generator is a contradiction. */
    CK_OBJECT_HANDLE a, b;
    CK_MECHANISM ecm = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_ATTRIBUTE t[] = { { CKA_EC_PARAMS, (void *)ED25519, sizeof ED25519 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &ecm, t, 1, NULL, 0, &a, &b),
                     CKR_TEMPLATE_INCONSISTENT);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
}

/* An EC or Ed25519 key pair from published values: the private key's
   CKA_VALUE and the public key's CKA_EC_POINT (a DER OCTET STRING). */
static void import_ec(fx_t *f, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const CK_BYTE *params,
                      size_t plen, const char *d_hex, const char *point_hex,
                      CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_BYTE d[66], point[140];
    size_t dn = unhex(d_hex, d), qn = unhex(point_hex, point + 2);
    point[0] = 0x04; /* OCTET STRING, short length */
    point[1] = (CK_BYTE)qn;
    CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, uc = CKO_PUBLIC_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = { { CKA_CLASS, &pc, sizeof pc }, { CKA_KEY_TYPE, &kt, sizeof kt },
                          { CKA_EC_PARAMS, (void *)params, plen }, { CKA_VALUE, d, dn },
                          { CKA_SIGN, &yes, 1 } };
    CK_ATTRIBUTE ut[] = { { CKA_CLASS, &uc, sizeof uc }, { CKA_KEY_TYPE, &kt, sizeof kt },
                          { CKA_EC_PARAMS, (void *)params, plen },
                          { CKA_EC_POINT, point, qn + 2 }, { CKA_VERIFY, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, pt, 5, priv), CKR_OK);
    assert_int_equal(hsm_create_object(f->h, A, s, ut, 5, pub), CKR_OK);
}

/* Published signatures: RFC 8032 section 7.1 (Ed25519, TEST 2), and the
   NIST P-256 / SHA-256 ECDSA example (CSRC "Examples with intermediate
   values", message "Example of ECDSA with P-256"). Ed25519 is
   deterministic, so the signature must match byte for byte; ECDSA's is
   checked, and a signature made with the published private key must verify
   under the published public key. */
static void test_known_answers(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE pub, priv;
    CK_BYTE sig[132], want[64];
    CK_ULONG len = sizeof sig;

    import_ec(f, s, CKK_EC_EDWARDS, ED25519, sizeof ED25519,
              "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
              "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", &pub, &priv);
    unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
          "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", want);
    CK_MECHANISM ed = { CKM_EDDSA, NULL, 0 };
    const CK_BYTE m72[] = { 0x72 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &ed, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, m72, 1, sig, &len), CKR_OK);
    assert_int_equal(len, 64);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &ed, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, m72, 1, want, 64), CKR_OK);
    want[63] ^= 0x01;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &ed, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, m72, 1, want, 64), CKR_SIGNATURE_INVALID);

    import_ec(f, s, CKK_EC, P256, sizeof P256,
              "c477f9f65c22cce20657faa5b2d1d8122336f851a508a1ed04e479c34985bf96",
              "04b7e08afdfe94bad3f1dc8c734798ba1c62b3a0ad1e9ea2a38201cd0889bc7a19"
              "3603f747959dbf7a4bb226e41928729063adc7ae43529e61b563bbc606cc5e09", &pub, &priv);
    unhex("2b42f576d07f4165ff65d1f3b1500f81e44c316f1f0b3ef57325b69aca46104f"
          "dc42c2122d6392cd3e3a993a89502a8198c1886fe69d262c4b329bdb6b63faf1", want);
    const CK_BYTE msg[] = "Example of ECDSA with P-256";
    CK_MECHANISM es = { CKM_ECDSA_SHA256, NULL, 0 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &es, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg - 1, want, 64), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &es, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, msg, sizeof msg - 1, sig, &len), CKR_OK);
    assert_int_equal(len, 64);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &es, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg - 1, sig, 64), CKR_OK);
    want[0] ^= 0x80;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &es, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, msg, sizeof msg - 1, want, 64),
                     CKR_SIGNATURE_INVALID);
}

static CK_OBJECT_HANDLE aes_key(fx_t *f, CK_SESSION_HANDLE s, bool extractable, bool wwt)
{
    CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_ULONG len = 32;
    CK_BBOOL e = extractable, w = wwt;
    CK_ATTRIBUTE t[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_EXTRACTABLE, &e, 1 },
                         { CKA_WRAP_WITH_TRUSTED, &w, 1 } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(hsm_generate_key(f->h, A, s, &m, t, 3, &k), CKR_OK);
    return k;
}

/* Two AES keys are the same key when they encrypt a block alike. */
static void same_aes(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b)
{
    CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
    CK_BYTE in[16] = "sixteen bytes..", x[16], y[16];
    CK_ULONG xl = 16, yl = 16;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb, a), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, x, &xl), CKR_OK);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb, b), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, y, &yl), CKR_OK);
    assert_memory_equal(x, y, 16);
}

static void test_wrap_unwrap(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE kek = aes_key(f, s, false, false), key = aes_key(f, s, true, false);
    CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 }, kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
    CK_BYTE wrapped[4096];
    CK_ULONG wl = 0;
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, kek, key, NULL, &wl), CKR_OK);
    assert_int_equal(wl, 40);
    CK_ULONG small = 10;
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, kek, key, wrapped, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, 40);
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, kek, key, wrapped, &wl), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes } };
    CK_OBJECT_HANDLE back;
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kw, kek, wrapped, wl, t, 2, &back), CKR_OK);
    same_aes(f, s, key, back);
    CK_BBOOL local = 1;
    CK_ATTRIBUTE lg = { CKA_LOCAL, &local, 1 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, back, &lg, 1), CKR_OK);
    assert_int_equal(local, CK_FALSE);
    /* The rules: unextractable keys, trusted wrapping, usage, bad input. */
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, key, kek, wrapped, &wl), CKR_KEY_UNEXTRACTABLE);
    CK_OBJECT_HANDLE guarded = aes_key(f, s, true, true);
    wl = sizeof wrapped;
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, kek, guarded, wrapped, &wl),
                     CKR_KEY_NOT_WRAPPABLE);
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, 999999, key, wrapped, &wl),
                     CKR_WRAPPING_KEY_HANDLE_INVALID);
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kw, kek, 999999, wrapped, &wl),
                     CKR_KEY_HANDLE_INVALID);
    CK_BYTE junk[40] = { 0 };
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kw, kek, junk, 40, t, 2, &back),
                     CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kw, kek, junk, 12, t, 2, &back),
                     CKR_WRAPPED_KEY_LEN_RANGE);
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kw, kek, junk, 40, t, 1, &back),
                     CKR_TEMPLATE_INCOMPLETE);
    /* A private key travels as PKCS#8 under AES key wrap with padding, and
       the unwrapped key signs for the original public key. */
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM gm = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)P256, sizeof P256 } };
    CK_ATTRIBUTE kt[] = { { CKA_EXTRACTABLE, &yes, 1 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, pt, 1, kt, 1, &pub, &priv), CKR_OK);
    wl = sizeof wrapped;
    assert_int_equal(hsm_wrap_key(f->h, A, s, &kwp, kek, priv, wrapped, &wl), CKR_OK);
    CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY;
    CK_KEY_TYPE ec = CKK_EC, rsa = CKK_RSA;
    CK_ATTRIBUTE ut[] = { { CKA_CLASS, &pk, sizeof pk }, { CKA_KEY_TYPE, &ec, sizeof ec },
                          { CKA_SIGN, &yes, 1 } };
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kwp, kek, wrapped, wl, ut, 3, &back), CKR_OK);
    CK_MECHANISM sm = { CKM_ECDSA_SHA256, NULL, 0 };
    CK_BYTE sig[64];
    CK_ULONG sl = sizeof sig;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &sm, back), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, (CK_BYTE *)"m", 1, sig, &sl), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &sm, pub), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, (CK_BYTE *)"m", 1, sig, sl), CKR_OK);
    ut[1].pValue = &rsa;
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &kwp, kek, wrapped, wl, ut, 3, &back),
                     CKR_TEMPLATE_INCONSISTENT);
    /* RSA-OAEP wraps a secret key for the holder of the private key. */
    CK_OBJECT_HANDLE rpub, rpriv;
    gen_rsa(f, s, 2048, &rpub, &rpriv);
    CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256, 0, NULL, 0 };
    CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof op };
    wl = sizeof wrapped;
    assert_int_equal(hsm_wrap_key(f->h, A, s, &oaep, rpub, key, wrapped, &wl), CKR_OK);
    assert_int_equal(wl, 256);
    assert_int_equal(hsm_unwrap_key(f->h, A, s, &oaep, rpriv, wrapped, wl, t, 2, &back), CKR_OK);
    same_aes(f, s, key, back);
    /* A private key does not fit in an RSA block. */
    assert_int_equal(hsm_wrap_key(f->h, A, s, &oaep, rpub, priv, wrapped, &wl),
                     CKR_KEY_NOT_WRAPPABLE);
}

/* The EC point of a public key object, as stored (DER OCTET STRING). */
static CK_ULONG ec_point(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, CK_BYTE *out)
{
    CK_ATTRIBUTE t = { CKA_EC_POINT, out, 200 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, pub, &t, 1), CKR_OK);
    return t.ulValueLen;
}

static CK_OBJECT_HANDLE derive(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                               CK_BYTE *point, CK_ULONG plen, CK_ULONG kdf, CK_KEY_TYPE kt,
                               CK_ULONG len, CK_RV want)
{
    CK_ECDH1_DERIVE_PARAMS p = { kdf, kdf == CKD_NULL ? 0 : 5,
                                 kdf == CKD_NULL ? NULL : (CK_BYTE *)"info!", plen, point };
    CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof p };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE_LEN, &len, sizeof len }, { CKA_SENSITIVE, &no, 1 },
                         { CKA_EXTRACTABLE, &yes, 1 } };
    CK_OBJECT_HANDLE k = 0;
    assert_int_equal(hsm_derive_key(f->h, A, s, &m, priv, t, 5, &k), want);
    return k;
}

static void same_value(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b,
                       CK_ULONG len)
{
    CK_BYTE x[64], y[64];
    CK_ATTRIBUTE ta = { CKA_VALUE, x, sizeof x }, tb = { CKA_VALUE, y, sizeof y };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, a, &ta, 1), CKR_OK);
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, b, &tb, 1), CKR_OK);
    assert_int_equal(ta.ulValueLen, len);
    assert_int_equal(tb.ulValueLen, len);
    assert_memory_equal(x, y, len);
}

static void test_ecdh(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE apub, apriv, bpub, bpriv;
    CK_MECHANISM gm = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)P256, sizeof P256 } };
    CK_ATTRIBUTE kt[] = { { CKA_DERIVE, &yes, 1 } };
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, pt, 1, kt, 1, &apub, &apriv), CKR_OK);
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, pt, 1, kt, 1, &bpub, &bpriv), CKR_OK);
    CK_BYTE ap[200], bp[200];
    CK_ULONG al = ec_point(f, s, apub, ap), bl = ec_point(f, s, bpub, bp);
    /* Both sides agree: with no KDF (the point as DER or raw), and X9.63. */
    CK_OBJECT_HANDLE k1 = derive(f, s, apriv, bp, bl, CKD_NULL, CKK_GENERIC_SECRET, 32, CKR_OK);
    CK_OBJECT_HANDLE k2 = derive(f, s, bpriv, ap + 2, al - 2, CKD_NULL, CKK_GENERIC_SECRET, 32,
                                 CKR_OK);
    same_value(f, s, k1, k2, 32);
    CK_OBJECT_HANDLE a1 = derive(f, s, apriv, bp, bl, CKD_SHA256_KDF, CKK_AES, 16, CKR_OK);
    CK_OBJECT_HANDLE a2 = derive(f, s, bpriv, ap, al, CKD_SHA256_KDF, CKK_AES, 16, CKR_OK);
    same_value(f, s, a1, a2, 16);
    CK_BBOOL local = 1, asens = 1;
    CK_ATTRIBUTE g[] = { { CKA_LOCAL, &local, 1 }, { CKA_ALWAYS_SENSITIVE, &asens, 1 } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, a1, g, 2), CKR_OK);
    assert_int_equal(local, CK_FALSE);
    assert_int_equal(asens, CK_FALSE);
    /* A raw point that begins like a DER OCTET STRING header (04 3F...):
       read as the point it is, whatever its first bytes. */
    CK_BYTE raw[65];
    for (int tries = 0; tries < 20000; tries++) {
        EVP_PKEY *peer = EVP_EC_gen("P-256");
        size_t rl = 0;
        assert_non_null(peer);
        assert_int_equal(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, raw,
                                                         sizeof raw, &rl), 1);
        if (raw[1] == 0x3F) {
            CK_OBJECT_HANDLE kx = derive(f, s, apriv, raw, 65, CKD_NULL, CKK_GENERIC_SECRET, 32,
                                         CKR_OK);
            EVP_PKEY *mine = public_key(f, s, apub, CKK_EC, "prime256v1");
            EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
            uint8_t z[32];
            size_t zl = sizeof z;
            assert_int_equal(EVP_PKEY_derive_init(dc), 1);
            assert_int_equal(EVP_PKEY_derive_set_peer(dc, mine), 1);
            assert_int_equal(EVP_PKEY_derive(dc, z, &zl), 1);
            CK_BYTE zv[32];
            CK_ATTRIBUTE zt = { CKA_VALUE, zv, sizeof zv };
            assert_int_equal(hsm_get_attribute_value(f->h, A, s, kx, &zt, 1), CKR_OK);
            assert_memory_equal(zv, z, 32);
            EVP_PKEY_CTX_free(dc);
            EVP_PKEY_free(mine);
            EVP_PKEY_free(peer);
            break;
        }
        EVP_PKEY_free(peer);
    }
    assert_int_equal(raw[1], 0x3F);
    /* Errors: too long for no KDF, a bad point, a key without CKA_DERIVE. */
    derive(f, s, apriv, bp, bl, CKD_NULL, CKK_GENERIC_SECRET, 33, CKR_ATTRIBUTE_VALUE_INVALID);
    CK_BYTE bad[65] = { 0x04 };
    derive(f, s, apriv, bad, 65, CKD_NULL, CKK_GENERIC_SECRET, 32, CKR_MECHANISM_PARAM_INVALID);
    CK_OBJECT_HANDLE npub, npriv;
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, pt, 1, NULL, 0, &npub, &npriv), CKR_OK);
    derive(f, s, npriv, bp, bl, CKD_NULL, CKK_GENERIC_SECRET, 32, CKR_KEY_FUNCTION_NOT_PERMITTED);
    /* C_DigestKey: SHA-256 of a secret key's value. */
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE gen = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE ct[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &gen, sizeof gen },
                          { CKA_VALUE, "abc", 3 } };
    CK_OBJECT_HANDLE dk;
    assert_int_equal(hsm_create_object(f->h, A, s, ct, 3, &dk), CKR_OK);
    CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
    CK_BYTE md[32], want[32];
    CK_ULONG ml = sizeof md;
    EVP_Digest("abc", 3, want, NULL, EVP_sha256(), NULL);
    assert_int_equal(hsm_digest_init(f->h, A, s, &sha), CKR_OK);
    assert_int_equal(hsm_digest_key(f->h, A, s, dk), CKR_OK);
    assert_int_equal(hsm_digest_final(f->h, A, s, md, &ml), CKR_OK);
    assert_memory_equal(md, want, 32);
    assert_int_equal(hsm_digest_init(f->h, A, s, &sha), CKR_OK);
    assert_int_equal(hsm_digest_key(f->h, A, s, apub), CKR_KEY_INDIGESTIBLE);
}

static void test_always_authenticate(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_MECHANISM gm = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG bits = 2048;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = { { CKA_MODULUS_BITS, &bits, sizeof bits } };
    CK_ATTRIBUTE kt[] = { { CKA_ALWAYS_AUTHENTICATE, &yes, 1 } };
    CK_OBJECT_HANDLE pub, priv;
    assert_int_equal(hsm_generate_key_pair(f->h, A, s, &gm, pt, 1, kt, 1, &pub, &priv), CKR_OK);
    CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    CK_BYTE sig[256];
    CK_ULONG len = sizeof sig;
    assert_int_equal(hsm_login(f->h, A, s, CKU_CONTEXT_SPECIFIC, L(USER)),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, (CK_BYTE *)"x", 1, sig, &len), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(hsm_login(f->h, A, s, CKU_CONTEXT_SPECIFIC, L("wrong-pin")),
                     CKR_PIN_INCORRECT);
    assert_int_equal(hsm_login(f->h, A, s, CKU_CONTEXT_SPECIFIC, L(USER)), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, (CK_BYTE *)"x", 1, sig, &len), CKR_OK);
    /* Each use asks again. */
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, priv), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, (CK_BYTE *)"x", 1, sig, &len), CKR_USER_NOT_LOGGED_IN);
}

static void test_recover(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE pub, priv;
    gen_rsa(f, s, 2048, &pub, &priv);
    CK_MECHANISM mechs[] = { { CKM_RSA_PKCS, NULL, 0 }, { CKM_RSA_X_509, NULL, 0 } };
    for (int i = 0; i < 2; i++) {
        CK_BYTE msg[40], sig[256], back[256];
        memset(msg, 0x11 * (i + 1), sizeof msg);
        CK_ULONG len = sizeof sig, blen = sizeof back;
        assert_int_equal(hsm_recover_init(f->h, A, s, HSM_SIGN, &mechs[i], priv), CKR_OK);
        assert_int_equal(hsm_recover(f->h, A, s, HSM_SIGN, msg, sizeof msg, NULL, &len), CKR_OK);
        assert_int_equal(len, 256);
        assert_int_equal(hsm_recover(f->h, A, s, HSM_SIGN, msg, sizeof msg, sig, &len), CKR_OK);
        assert_int_equal(hsm_recover_init(f->h, A, s, HSM_VERIFY, &mechs[i], pub), CKR_OK);
        assert_int_equal(hsm_recover(f->h, A, s, HSM_VERIFY, sig, len, back, &blen), CKR_OK);
        /* raw RSA gives the whole block back, zero-padded on the left */
        assert_int_equal(blen, i == 0 ? sizeof msg : 256);
        assert_memory_equal(back + blen - sizeof msg, msg, sizeof msg);
        sig[100] ^= 1;
        blen = sizeof back;
        assert_int_equal(hsm_recover_init(f->h, A, s, HSM_VERIFY, &mechs[0], pub), CKR_OK);
        if (i == 0)
            assert_int_equal(hsm_recover(f->h, A, s, HSM_VERIFY, sig, len, back, &blen),
                             CKR_SIGNATURE_INVALID);
        else
            assert_int_equal(hsm_recover(f->h, A, s, HSM_VERIFY, sig, len - 1, back, &blen),
                             CKR_SIGNATURE_LEN_RANGE);
    }
    CK_MECHANISM pss = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    assert_int_equal(hsm_recover_init(f->h, A, s, HSM_SIGN, &pss, priv), CKR_MECHANISM_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_encryption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eddsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_unwrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecdh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_authenticate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
