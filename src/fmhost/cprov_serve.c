/*
 * Patched functions at work: the daemon sends the requests of every
 * application for a function this FM patched (FMH_PKCS11). They are decoded
 * by the daemon's own request decoders (src/server/req_*.c), whose calls of
 * the HSM core land here and go to the Cryptoki table: to the FM's
 * replacement for a patched entry, to the HSM's function (back over the
 * link) for the others. The caller's AppId is the FM's current AppId
 * meanwhile; privilege stays normal.
 */
#include <stdlib.h>
#include <string.h>

#include "../../fmsdk/include/sfm_cprov.h"
#include "fm.h"
#include "fmhost.h"
#include "requests.h"

#define T ((const CprovFnTable_t *)fmh_cprov_table())
/* The decoders' templates are const; the Cryptoki prototypes are not. */
#define TMPL(t) ((CK_ATTRIBUTE_PTR)(uintptr_t)(t))
#define BYTES(p) ((CK_BYTE_PTR)(uintptr_t)(p))
#define MECH(m) ((CK_MECHANISM_PTR)(uintptr_t)(m))

void hsm_app_finalize(hsm_t *h, app_id_t app)
{
    (void)h;
    (void)app;
    (void)T->C_Finalize(NULL);
}

CK_RV hsm_get_slot_list(hsm_t *h, CK_SLOT_ID *list, CK_ULONG *count)
{
    (void)h;
    return T->C_GetSlotList(CK_FALSE, list, count);
}

CK_RV hsm_get_slot_info(hsm_t *h, CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    (void)h;
    return T->C_GetSlotInfo(slot, info);
}

CK_RV hsm_get_token_info(hsm_t *h, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    (void)h;
    return T->C_GetTokenInfo(slot, info);
}

CK_RV hsm_get_mechanism_list(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
    (void)h;
    return T->C_GetMechanismList(slot, list, count);
}

CK_RV hsm_get_mechanism_info(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                             CK_MECHANISM_INFO *info)
{
    (void)h;
    return T->C_GetMechanismInfo(slot, type, info);
}

CK_RV hsm_init_token(hsm_t *h, app_id_t app, CK_SLOT_ID slot, const CK_UTF8CHAR *pin,
                     CK_ULONG pin_len, const CK_UTF8CHAR label[32])
{
    (void)h;
    (void)app;
    return T->C_InitToken(slot, BYTES(pin), pin_len, BYTES(label));
}

CK_RV hsm_init_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_UTF8CHAR *pin,
                   CK_ULONG pin_len)
{
    (void)h;
    (void)app;
    return T->C_InitPIN(s, BYTES(pin), pin_len);
}

CK_RV hsm_set_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_UTF8CHAR *old_pin,
                  CK_ULONG old_len, const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
    (void)h;
    (void)app;
    return T->C_SetPIN(s, BYTES(old_pin), old_len, BYTES(new_pin), new_len);
}

CK_RV hsm_open_session(hsm_t *h, app_id_t app, CK_SLOT_ID slot, CK_FLAGS flags,
                       CK_SESSION_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_OpenSession(slot, flags, NULL, NULL, out);
}

CK_RV hsm_close_session(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s)
{
    (void)h;
    (void)app;
    return T->C_CloseSession(s);
}

CK_RV hsm_close_all_sessions(hsm_t *h, app_id_t app, CK_SLOT_ID slot)
{
    (void)h;
    (void)app;
    return T->C_CloseAllSessions(slot);
}

CK_RV hsm_get_session_info(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_SESSION_INFO *info)
{
    (void)h;
    (void)app;
    return T->C_GetSessionInfo(s, info);
}

CK_RV hsm_login(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_USER_TYPE user,
                const CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
    (void)h;
    (void)app;
    return T->C_Login(s, user, BYTES(pin), pin_len);
}

CK_RV hsm_logout(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s)
{
    (void)h;
    (void)app;
    return T->C_Logout(s);
}

CK_RV hsm_create_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *t,
                        CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_CreateObject(s, TMPL(t), n, out);
}

CK_RV hsm_copy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_CopyObject(s, o, TMPL(t), n, out);
}

CK_RV hsm_destroy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    (void)h;
    (void)app;
    return T->C_DestroyObject(s, o);
}

CK_RV hsm_get_object_size(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_ULONG *size)
{
    (void)h;
    (void)app;
    return T->C_GetObjectSize(s, o, size);
}

CK_RV hsm_get_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              CK_ATTRIBUTE *t, CK_ULONG n)
{
    (void)h;
    (void)app;
    return T->C_GetAttributeValue(s, o, t, n);
}

CK_RV hsm_set_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              const CK_ATTRIBUTE *t, CK_ULONG n)
{
    (void)h;
    (void)app;
    return T->C_SetAttributeValue(s, o, TMPL(t), n);
}

CK_RV hsm_find_objects_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *t,
                            CK_ULONG n)
{
    (void)h;
    (void)app;
    return T->C_FindObjectsInit(s, TMPL(t), n);
}

CK_RV hsm_find_objects(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out,
                       CK_ULONG max, CK_ULONG *count)
{
    (void)h;
    (void)app;
    return T->C_FindObjects(s, out, max, count);
}

CK_RV hsm_find_objects_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s)
{
    (void)h;
    (void)app;
    return T->C_FindObjectsFinal(s);
}

CK_RV hsm_digest_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m)
{
    (void)h;
    (void)app;
    return T->C_DigestInit(s, MECH(m));
}

CK_RV hsm_digest(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
                 CK_BYTE *out, CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return T->C_Digest(s, BYTES(data), len, out, out_len);
}

CK_RV hsm_digest_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data,
                        CK_ULONG len)
{
    (void)h;
    (void)app;
    return T->C_DigestUpdate(s, BYTES(data), len);
}

CK_RV hsm_digest_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    (void)h;
    (void)app;
    return T->C_DigestKey(s, key);
}

CK_RV hsm_digest_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *out,
                       CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return T->C_DigestFinal(s, out, out_len);
}

CK_RV hsm_seed_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *seed,
                      CK_ULONG len)
{
    (void)h;
    (void)app;
    return T->C_SeedRandom(s, BYTES(seed), len);
}

CK_RV hsm_generate_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *out,
                          CK_ULONG len)
{
    (void)h;
    (void)app;
    return T->C_GenerateRandom(s, out, len);
}

CK_RV hsm_generate_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                       const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_GenerateKey(s, MECH(m), TMPL(t), n, out);
}

CK_RV hsm_generate_key_pair(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                            const CK_ATTRIBUTE *pub_t, CK_ULONG npub, const CK_ATTRIBUTE *priv_t,
                            CK_ULONG npriv, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    (void)h;
    (void)app;
    return T->C_GenerateKeyPair(s, MECH(m), TMPL(pub_t), npub, TMPL(priv_t), npriv, pub, priv);
}

CK_RV hsm_wrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                   CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE *out,
                   CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return T->C_WrapKey(s, MECH(m), wrapping, key, out, out_len);
}

CK_RV hsm_unwrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE unwrapping, const CK_BYTE *wrapped, CK_ULONG len,
                     const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_UnwrapKey(s, MECH(m), unwrapping, BYTES(wrapped), len, TMPL(t), n, out);
}

CK_RV hsm_derive_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE base, const CK_ATTRIBUTE *t, CK_ULONG n,
                     CK_OBJECT_HANDLE *out)
{
    (void)h;
    (void)app;
    return T->C_DeriveKey(s, MECH(m), base, TMPL(t), n, out);
}

CK_RV hsm_crypt_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                     const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    (void)h;
    (void)app;
    return dir == HSM_ENCRYPT ? T->C_EncryptInit(s, MECH(m), key)
                              : T->C_DecryptInit(s, MECH(m), key);
}

CK_RV hsm_crypt(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return dir == HSM_ENCRYPT ? T->C_Encrypt(s, BYTES(in), in_len, out, out_len)
                              : T->C_Decrypt(s, BYTES(in), in_len, out, out_len);
}

CK_RV hsm_crypt_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                       const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return dir == HSM_ENCRYPT ? T->C_EncryptUpdate(s, BYTES(in), in_len, out, out_len)
                              : T->C_DecryptUpdate(s, BYTES(in), in_len, out, out_len);
}

CK_RV hsm_crypt_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                      CK_BYTE *out, CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return dir == HSM_ENCRYPT ? T->C_EncryptFinal(s, out, out_len)
                              : T->C_DecryptFinal(s, out, out_len);
}

CK_RV hsm_sign_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                    const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    (void)h;
    (void)app;
    return dir == HSM_SIGN ? T->C_SignInit(s, MECH(m), key) : T->C_VerifyInit(s, MECH(m), key);
}

CK_RV hsm_sign(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
               CK_BYTE *sig, CK_ULONG *sig_len)
{
    (void)h;
    (void)app;
    return T->C_Sign(s, BYTES(data), len, sig, sig_len);
}

CK_RV hsm_sign_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                      const CK_BYTE *data, CK_ULONG len)
{
    (void)h;
    (void)app;
    return dir == HSM_SIGN ? T->C_SignUpdate(s, BYTES(data), len)
                           : T->C_VerifyUpdate(s, BYTES(data), len);
}

CK_RV hsm_sign_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *sig,
                     CK_ULONG *sig_len)
{
    (void)h;
    (void)app;
    return T->C_SignFinal(s, sig, sig_len);
}

CK_RV hsm_verify(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
                 const CK_BYTE *sig, CK_ULONG sig_len)
{
    (void)h;
    (void)app;
    return T->C_Verify(s, BYTES(data), len, BYTES(sig), sig_len);
}

CK_RV hsm_verify_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *sig,
                       CK_ULONG sig_len)
{
    (void)h;
    (void)app;
    return T->C_VerifyFinal(s, BYTES(sig), sig_len);
}

CK_RV hsm_recover_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                       const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    (void)h;
    (void)app;
    return dir == HSM_SIGN ? T->C_SignRecoverInit(s, MECH(m), key)
                           : T->C_VerifyRecoverInit(s, MECH(m), key);
}

CK_RV hsm_recover(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                  const CK_BYTE *in, CK_ULONG len, CK_BYTE *out, CK_ULONG *out_len)
{
    (void)h;
    (void)app;
    return dir == HSM_SIGN ? T->C_SignRecover(s, BYTES(in), len, out, out_len)
                           : T->C_VerifyRecover(s, BYTES(in), len, out, out_len);
}

void fmh_cprov_serve(rbuf_t *in, wbuf_t *w)
{
    uint32_t app = rb_u32(in);
    size_t len;
    const uint8_t *req = rb_bytes(in, &len);
    if (!rb_done(in)) {
        fmh_trace("malformed patched-function request from the HSM\n");
        exit(4);
    }
    /* The request is copied: the link's buffer is reused by the
       replacement's own Cryptoki calls. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fmh_trace("out of memory for a request of %zu bytes\n", len);
        exit(5);
    }
    memcpy(copy, req, len);
    rbuf_t r;
    rb_init(&r, copy, len);
    uint32_t op = rb_u32(&r);
    handler_t fn = find_pkcs11_op(op);
    wbuf_t reply;
    wb_init(&reply);
    uint8_t *status = wb_reserve(&reply, 4);
    CK_RV rv = CKR_ARGUMENTS_BAD;
    fmh.app_id = app;
    fmh.privilege = 0;
    fmh.forwarding = true;
    if (fn && status) {
        req_t q = { NULL, app, &r, &reply, NULL };
        rv = fn(&q);
        if (!rb_done(&r))
            rv = CKR_ARGUMENTS_BAD;
    }
    fmh.forwarding = false;
    fmh.app_id = FMH_NO_APP;
    fmh.privilege = 0;
    if (!ckr_defined(rv)) { /* PKCS#11's codes and vendor-defined ones pass */
        fmh_trace("the replacement of %s returned 0x%lx, not a PKCS#11 code: the caller "
                  "gets CKR_DEVICE_ERROR\n", fm_patch_name(fm_patch_entry(copy, len)),
                  (unsigned long)rv);
        rv = CKR_DEVICE_ERROR;
    }
    if (reply.err) {
        wb_reset(&reply);
        (void)wb_reserve(&reply, 4);
        rv = CKR_DEVICE_MEMORY;
    }
    be32_put(reply.p + 4, (uint32_t)rv);
    size_t n;
    const uint8_t *p = wb_payload(&reply, &n);
    wb_u32(w, FMH_PKCS11_REPLY);
    wb_bytes(w, p, n);
    wb_u8(w, fmh_ud_any());
    secure_zero(reply.p, reply.len);
    wb_free(&reply);
    secure_zero(copy, len);
    free(copy);
}
