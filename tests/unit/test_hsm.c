/*
 * The HSM core, driven in-process: tokens, AppIds, PINs, object rules,
 * digests, persistence and encryption at rest.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hsm.h"

#include "ckm_extra.h"
#include "fixture.h"

static void test_slots_and_tokens(void **state)
{
    fx_t *f = *state;
    CK_ULONG n = 0;
    assert_int_equal(hsm_get_slot_list(f->h, NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
    CK_SLOT_ID one[1];
    n = 1;
    assert_int_equal(hsm_get_slot_list(f->h, one, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 2);
    CK_TOKEN_INFO ti;
    assert_int_equal(hsm_get_token_info(f->h, f->slot, &ti), CKR_OK);
    assert_true(ti.flags & CKF_TOKEN_INITIALIZED);
    assert_true(ti.flags & CKF_USER_PIN_INITIALIZED);
    assert_memory_equal(ti.label, "part one", 8);
    assert_int_equal(hsm_get_token_info(f->h, 99, &ti), CKR_SLOT_ID_INVALID);
    CK_SESSION_HANDLE s;
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_RW_SESSION, &s),
                     CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION, NULL),
                     CKR_ARGUMENTS_BAD);
    assert_int_equal(hsm_get_mechanism_info(f->h, f->slot, CKM_MD5, &(CK_MECHANISM_INFO){0}),
                     CKR_MECHANISM_INVALID);
}

static void test_appid_isolation(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE sa = open_rw(f, A), sb = open_rw(f, B);
    CK_SESSION_INFO si;
    assert_int_equal(hsm_get_session_info(f->h, B, sa, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(hsm_close_session(f->h, B, sa), CKR_SESSION_HANDLE_INVALID);
    /* Both log in; neither logs the other out. */
    assert_int_equal(hsm_login(f->h, A, sa, CKU_USER, L(USER)), CKR_OK);
    assert_int_equal(hsm_login(f->h, B, sb, CKU_USER, L(USER)), CKR_OK);
    assert_int_equal(hsm_logout(f->h, A, sa), CKR_OK);
    assert_int_equal(hsm_get_session_info(f->h, B, sb, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
    /* C_CloseAllSessions closes only the caller's sessions. */
    assert_int_equal(hsm_close_all_sessions(f->h, A, f->slot), CKR_OK);
    assert_int_equal(hsm_get_session_info(f->h, A, sa, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(hsm_get_session_info(f->h, B, sb, &si), CKR_OK);
    /* The last connection of B goes: its sessions go with it. */
    hsm_app_attach(f->h, B);
    hsm_app_detach(f->h, B);
    assert_int_equal(hsm_get_session_info(f->h, B, sb, &si), CKR_SESSION_HANDLE_INVALID);
}

static void test_login_states(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE ro, rw = open_rw(f, A);
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION, &ro), CKR_OK);
    assert_int_equal(hsm_login(f->h, A, rw, CKU_SO, L(P_SO)), CKR_SESSION_READ_ONLY_EXISTS);
    assert_int_equal(hsm_init_pin(f->h, A, rw, L("abcdef")), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(hsm_set_pin(f->h, A, ro, L(USER), L("abcdef")), CKR_SESSION_READ_ONLY);
    assert_int_equal(hsm_login(f->h, A, rw, 77, L(USER)), CKR_USER_TYPE_INVALID);
    assert_int_equal(hsm_login(f->h, A, rw, CKU_USER, L(USER)), CKR_OK);
    assert_int_equal(hsm_login(f->h, A, ro, CKU_USER, L(USER)), CKR_USER_ALREADY_LOGGED_IN);
    CK_SESSION_INFO si;
    assert_int_equal(hsm_get_session_info(f->h, A, ro, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_USER_FUNCTIONS); /* shared by the AppId's sessions */
    assert_int_equal(hsm_logout(f->h, A, ro), CKR_OK);
    assert_int_equal(hsm_logout(f->h, A, ro), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(hsm_close_session(f->h, A, ro), CKR_OK);
    assert_int_equal(hsm_login(f->h, A, rw, CKU_SO, L(P_SO)), CKR_OK);
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION, &ro),
                     CKR_SESSION_READ_WRITE_SO_EXISTS);
    /* Closing the last session ends the login. */
    assert_int_equal(hsm_close_session(f->h, A, rw), CKR_OK);
    rw = open_rw(f, A);
    assert_int_equal(hsm_get_session_info(f->h, A, rw, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
}

static void test_pin_lockout(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    CK_TOKEN_INFO ti;
    for (int i = 1; i <= 10; i++) {
        assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L("wrong-pin")), CKR_PIN_INCORRECT);
        assert_int_equal(hsm_get_token_info(f->h, f->slot, &ti), CKR_OK);
        if (i < 10)
            assert_true(ti.flags & CKF_USER_PIN_COUNT_LOW);
        if (i == 9)
            assert_true(ti.flags & CKF_USER_PIN_FINAL_TRY);
    }
    assert_true(ti.flags & CKF_USER_PIN_LOCKED);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_PIN_LOCKED);
    /* The partition SO unlocks the Crypto Officer with C_InitPIN. */
    assert_int_equal(hsm_login(f->h, A, s, CKU_SO, L(P_SO)), CKR_OK);
    assert_int_equal(hsm_init_pin(f->h, A, s, L("new-user")), CKR_OK);
    assert_int_equal(hsm_logout(f->h, A, s), CKR_OK);
    assert_int_equal(hsm_get_token_info(f->h, f->slot, &ti), CKR_OK);
    assert_false(ti.flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW));
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L("new-user")), CKR_OK);
    /* C_SetPIN checks the old PIN and the new one's length. */
    assert_int_equal(hsm_set_pin(f->h, A, s, L("bad-old"), L("abcd")), CKR_PIN_INCORRECT);
    assert_int_equal(hsm_set_pin(f->h, A, s, L("new-user"), L("abc")), CKR_PIN_LEN_RANGE);
    assert_int_equal(hsm_set_pin(f->h, A, s, L("new-user"), L("newer-user")), CKR_OK);
    /* The HSM SO locks after 3 (default policy). */
    for (int i = 0; i < 3; i++)
        assert_int_equal(hsm_admin_partition_create(f->h, L("bad-so-pin"), "x", &(CK_SLOT_ID){0}),
                         CKR_PIN_INCORRECT);
    assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), "x", &(CK_SLOT_ID){0}),
                     CKR_PIN_LOCKED);
}

static CK_OBJECT_HANDLE make_secret(fx_t *f, CK_SESSION_HANDLE s, const char *value, bool token)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL tok = token ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE t[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
        { CKA_TOKEN, &tok, 1 },
        { CKA_LABEL, "k", 1 },
        { CKA_VALUE, (void *)value, (CK_ULONG)strlen(value) },
    };
    CK_OBJECT_HANDLE o = 0;
    assert_int_equal(hsm_create_object(f->h, A, s, t, 5, &o), CKR_OK);
    return o;
}

static void test_object_rules(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A), ro;
    CK_OBJECT_CLASS data = CKO_DATA, bogus = 0x7777;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE o;
    CK_ATTRIBUTE noclass[] = { { CKA_LABEL, "x", 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, noclass, 1, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE badclass[] = { { CKA_CLASS, &bogus, sizeof bogus } };
    assert_int_equal(hsm_create_object(f->h, A, s, badclass, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE badtype[] = { { CKA_CLASS, &data, sizeof data }, { CKA_MODULUS, "m", 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, badtype, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ATTRIBUTE badlen[] = { { CKA_CLASS, &data, 3 } };
    assert_int_equal(hsm_create_object(f->h, A, s, badlen, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE clash[] = { { CKA_CLASS, &data, sizeof data }, { CKA_TOKEN, &yes, 1 },
                             { CKA_TOKEN, &no, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, clash, 3, &o), CKR_TEMPLATE_INCONSISTENT);
    CK_ATTRIBUTE priv[] = { { CKA_CLASS, &data, sizeof data }, { CKA_PRIVATE, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, priv, 2, &o), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION, &ro), CKR_OK);
    CK_ATTRIBUTE tokobj[] = { { CKA_CLASS, &data, sizeof data }, { CKA_TOKEN, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, ro, tokobj, 2, &o), CKR_SESSION_READ_ONLY);

    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ATTRIBUTE local[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                             { CKA_VALUE, "0123456789abcdef", 16 }, { CKA_LOCAL, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, local, 4, &o), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE shortkey[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                                { CKA_VALUE, "short", 5 } };
    assert_int_equal(hsm_create_object(f->h, A, s, shortkey, 3, &o), CKR_ATTRIBUTE_VALUE_INVALID);

    CK_OBJECT_HANDLE k = make_secret(f, s, "0123456789abcdef", false);
    /* A sensitive value is never returned; the rest still is. */
    CK_BYTE buf[32];
    CK_ULONG vlen = 0;
    CK_BBOOL sens = 0;
    CK_ATTRIBUTE get[] = { { CKA_VALUE, buf, sizeof buf }, { CKA_VALUE_LEN, &vlen, sizeof vlen },
                           { CKA_SENSITIVE, &sens, 1 }, { CKA_MODULUS, buf, sizeof buf } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, get, 4), CKR_ATTRIBUTE_SENSITIVE);
    assert_true(get[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(vlen, 16);
    assert_int_equal(sens, CK_TRUE);
    assert_true(get[3].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    /* Length query, then a buffer too small. */
    CK_ATTRIBUTE lab = { CKA_LABEL, NULL, 0 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &lab, 1), CKR_OK);
    assert_int_equal(lab.ulValueLen, 1);
    CK_ATTRIBUTE cls = { CKA_CLASS, buf, 2 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &cls, 1), CKR_BUFFER_TOO_SMALL);
    assert_true(cls.ulValueLen == CK_UNAVAILABLE_INFORMATION);
    /* CKA_SENSITIVE cannot go back to false; CKA_KEY_TYPE cannot change. */
    CK_ATTRIBUTE unsens = { CKA_SENSITIVE, &no, 1 };
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, k, &unsens, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_KEY_TYPE des = CKK_DES3;
    CK_ATTRIBUTE kt = { CKA_KEY_TYPE, &des, sizeof des };
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, k, &kt, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE relabel = { CKA_LABEL, "renamed", 7 };
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, k, &relabel, 1), CKR_OK);
    /* CKA_TRUSTED is the SO's to set. */
    CK_ATTRIBUTE trust = { CKA_TRUSTED, &yes, 1 };
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, k, &trust, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* Not modifiable: no changes at all; copies may be made. */
    CK_ATTRIBUTE frozen[] = { { CKA_CLASS, &data, sizeof data }, { CKA_MODIFIABLE, &no, 1 },
                              { CKA_DESTROYABLE, &no, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, frozen, 3, &o), CKR_OK);
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, o, &relabel, 1), CKR_ACTION_PROHIBITED);
    assert_int_equal(hsm_destroy_object(f->h, A, s, o), CKR_ACTION_PROHIBITED);
    CK_OBJECT_HANDLE copy;
    CK_ATTRIBUTE copy_t[] = { { CKA_LABEL, "copy", 4 }, { CKA_DESTROYABLE, &yes, 1 } };
    assert_int_equal(hsm_copy_object(f->h, A, s, o, copy_t, 2, &copy), CKR_OK);
    assert_int_equal(hsm_destroy_object(f->h, A, s, copy), CKR_OK);
    assert_int_equal(hsm_destroy_object(f->h, A, s, copy), CKR_OBJECT_HANDLE_INVALID);
    /* Another AppId cannot see this AppId's session objects. */
    CK_SESSION_HANDLE sb = open_rw(f, B);
    assert_int_equal(hsm_get_attribute_value(f->h, B, sb, o, &lab, 1), CKR_OBJECT_HANDLE_INVALID);
}

static void test_key_objects(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY, priv = CKO_PRIVATE_KEY;
    CK_KEY_TYPE rsa = CKK_RSA, ec = CKK_EC, bogus = 0x7777;
    CK_BYTE modulus[256], e[3] = { 1, 0, 1 }, d[256];
    memset(modulus, 0xc3, sizeof modulus);
    memset(d, 0x11, sizeof d);
    CK_BBOOL yes = CK_TRUE;
    CK_ULONG mech = 0;
    CK_ATTRIBUTE rpub[] = { { CKA_CLASS, &pub, sizeof pub }, { CKA_KEY_TYPE, &rsa, sizeof rsa },
                            { CKA_MODULUS, modulus, sizeof modulus },
                            { CKA_PUBLIC_EXPONENT, e, sizeof e } };
    CK_OBJECT_HANDLE o;
    assert_int_equal(hsm_create_object(f->h, A, s, rpub, 4, &o), CKR_OK);
    CK_ULONG bits = 0;
    CK_BBOOL verify = 0, local = 1, priv_flag = 1;
    CK_ATTRIBUTE get[] = { { CKA_MODULUS_BITS, &bits, sizeof bits },
                           { CKA_VERIFY, &verify, 1 }, { CKA_LOCAL, &local, 1 },
                           { CKA_KEY_GEN_MECHANISM, &mech, sizeof mech },
                           { CKA_PRIVATE, &priv_flag, 1 } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, o, get, 5), CKR_OK);
    assert_int_equal(bits, 2048);
    assert_int_equal(verify, CK_TRUE);
    assert_int_equal(local, CK_FALSE);
    assert_true(mech == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(priv_flag, CK_FALSE);
    /* CKA_MODULUS_BITS is the token's to set; the modulus is required. */
    CK_ATTRIBUTE rbits[] = { { CKA_CLASS, &pub, sizeof pub }, { CKA_KEY_TYPE, &rsa, sizeof rsa },
                             { CKA_MODULUS, modulus, sizeof modulus },
                             { CKA_PUBLIC_EXPONENT, e, sizeof e },
                             { CKA_MODULUS_BITS, &bits, sizeof bits } };
    assert_int_equal(hsm_create_object(f->h, A, s, rbits, 5, &o), CKR_ATTRIBUTE_READ_ONLY);
    assert_int_equal(hsm_create_object(f->h, A, s, rpub, 3, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE nokt[] = { { CKA_CLASS, &pub, sizeof pub } };
    assert_int_equal(hsm_create_object(f->h, A, s, nokt, 1, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE badkt[] = { { CKA_CLASS, &pub, sizeof pub }, { CKA_KEY_TYPE, &bogus, sizeof bogus } };
    assert_int_equal(hsm_create_object(f->h, A, s, badkt, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    /* A private key: private and sensitive by default, its secrets hidden. */
    CK_ATTRIBUTE rpriv[] = { { CKA_CLASS, &priv, sizeof priv }, { CKA_KEY_TYPE, &rsa, sizeof rsa },
                             { CKA_MODULUS, modulus, sizeof modulus },
                             { CKA_PRIVATE_EXPONENT, d, sizeof d }, { CKA_TOKEN, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, rpriv, 5, &o), CKR_OK);
    CK_BYTE buf[256];
    CK_BBOOL sens = 0, extr = 1, asens = 1;
    CK_ATTRIBUTE pget[] = { { CKA_PRIVATE_EXPONENT, buf, sizeof buf },
                            { CKA_MODULUS, buf, sizeof buf }, { CKA_SENSITIVE, &sens, 1 },
                            { CKA_EXTRACTABLE, &extr, 1 }, { CKA_ALWAYS_SENSITIVE, &asens, 1 },
                            { CKA_PRIVATE, &priv_flag, 1 } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, o, pget, 6), CKR_ATTRIBUTE_SENSITIVE);
    assert_true(pget[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(pget[1].ulValueLen, 256);
    assert_int_equal(sens, CK_TRUE);
    assert_int_equal(extr, CK_FALSE);
    assert_int_equal(asens, CK_FALSE); /* its value came from outside */
    assert_int_equal(priv_flag, CK_TRUE);
    /* CKA_EXTRACTABLE may go to false, never back. */
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE mk_extr = { CKA_EXTRACTABLE, &yes, 1 }, unextr = { CKA_EXTRACTABLE, &no, 1 };
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, o, &unextr, 1), CKR_OK);
    assert_int_equal(hsm_set_attribute_value(f->h, A, s, o, &mk_extr, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* EC keys need their parameters and point. */
    static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    CK_BYTE point[67] = { 0x04, 0x41, 0x04 };
    CK_ATTRIBUTE ecpub[] = { { CKA_CLASS, &pub, sizeof pub }, { CKA_KEY_TYPE, &ec, sizeof ec },
                             { CKA_EC_PARAMS, (void *)p256, sizeof p256 },
                             { CKA_EC_POINT, point, sizeof point } };
    assert_int_equal(hsm_create_object(f->h, A, s, ecpub, 4, &o), CKR_OK);
    assert_int_equal(hsm_create_object(f->h, A, s, ecpub, 3, &o), CKR_TEMPLATE_INCOMPLETE);
    /* Certificates: X.509 only, CKA_TRUSTED the SO's. */
    CK_OBJECT_CLASS cert = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE x509 = CKC_X_509, wtls = CKC_WTLS;
    CK_ATTRIBUTE c[] = { { CKA_CLASS, &cert, sizeof cert },
                         { CKA_CERTIFICATE_TYPE, &x509, sizeof x509 },
                         { CKA_SUBJECT, "subj", 4 }, { CKA_VALUE, "der", 3 },
                         { CKA_TRUSTED, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, s, c, 5, &o), CKR_ATTRIBUTE_READ_ONLY);
    assert_int_equal(hsm_create_object(f->h, A, s, c, 4, &o), CKR_OK);
    c[1].pValue = &wtls;
    assert_int_equal(hsm_create_object(f->h, A, s, c, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    c[1].pValue = &x509;
    /* The HSM SO keeps trusted certificates in the Admin Token. */
    CK_SESSION_HANDLE adm;
    assert_int_equal(hsm_open_session(f->h, A, HSM_ADMIN_SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                      &adm), CKR_OK);
    assert_int_equal(hsm_login(f->h, A, adm, CKU_SO, L(SO_PIN)), CKR_OK);
    CK_BBOOL tok = CK_TRUE;
    CK_ATTRIBUTE tc[] = { c[0], c[1], c[2], c[3], c[4], { CKA_TOKEN, &tok, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, adm, tc, 6, &o), CKR_OK);
    CK_BBOOL trusted = 0;
    CK_ATTRIBUTE tget = { CKA_TRUSTED, &trusted, 1 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, adm, o, &tget, 1), CKR_OK);
    assert_int_equal(trusted, CK_TRUE);
    /* The SO creates no private objects. */
    CK_ATTRIBUTE sopriv[] = { c[0], c[1], c[2], c[3], { CKA_PRIVATE, &yes, 1 } };
    assert_int_equal(hsm_create_object(f->h, A, adm, sopriv, 5, &o), CKR_USER_NOT_LOGGED_IN);
}

static void test_generate_secret_keys(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_MECHANISM aes = { CKM_AES_KEY_GEN, NULL, 0 }, des3 = { CKM_DES3_KEY_GEN, NULL, 0 };
    CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
    CK_ULONG len32 = 32, len15 = 15, len20 = 20;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE k;
    CK_ATTRIBUTE t[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_TOKEN, &yes, 1 },
                         { CKA_LABEL, "gen", 3 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, t, 3, &k), CKR_OK);
    CK_ULONG vlen = 0, kgm = 0, cls = 0;
    CK_BBOOL local = 0, asens = 0, nextr = 0, sens = 0;
    CK_BYTE kcv[3], val[32];
    CK_ATTRIBUTE get[] = { { CKA_VALUE_LEN, &vlen, sizeof vlen }, { CKA_LOCAL, &local, 1 },
                           { CKA_KEY_GEN_MECHANISM, &kgm, sizeof kgm },
                           { CKA_ALWAYS_SENSITIVE, &asens, 1 }, { CKA_NEVER_EXTRACTABLE, &nextr, 1 },
                           { CKA_SENSITIVE, &sens, 1 }, { CKA_CHECK_VALUE, kcv, sizeof kcv },
                           { CKA_CLASS, &cls, sizeof cls } };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, get, 8), CKR_OK);
    assert_int_equal(vlen, 32);
    assert_int_equal(local, CK_TRUE);
    assert_int_equal(kgm, CKM_AES_KEY_GEN);
    assert_int_equal(asens, CK_TRUE);
    assert_int_equal(nextr, CK_TRUE);
    assert_int_equal(get[6].ulValueLen, 3);
    assert_int_equal(cls, CKO_SECRET_KEY);
    CK_ATTRIBUTE v = { CKA_VALUE, val, sizeof val };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &v, 1), CKR_ATTRIBUTE_SENSITIVE);
    /* Not sensitive, extractable: the value can be read; the flags say so. */
    CK_ATTRIBUTE open_t[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_SENSITIVE, &no, 1 },
                              { CKA_EXTRACTABLE, &yes, 1 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, open_t, 3, &k), CKR_OK);
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, get, 8), CKR_OK);
    assert_int_equal(asens, CK_FALSE);
    assert_int_equal(nextr, CK_FALSE);
    v.ulValueLen = sizeof val;
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &v, 1), CKR_OK);
    assert_int_equal(v.ulValueLen, 32);
    /* Bad templates and mechanisms. */
    CK_ATTRIBUTE bad_len[] = { { CKA_VALUE_LEN, &len15, sizeof len15 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, bad_len, 1, &k), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, NULL, 0, &k), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE with_value[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_VALUE, val, 32 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, with_value, 2, &k), CKR_ATTRIBUTE_READ_ONLY);
    CK_KEY_TYPE des_kt = CKK_DES3;
    CK_ATTRIBUTE clash[] = { { CKA_VALUE_LEN, &len32, sizeof len32 },
                             { CKA_KEY_TYPE, &des_kt, sizeof des_kt } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, clash, 2, &k), CKR_TEMPLATE_INCONSISTENT);
    CK_ATTRIBUTE local_t[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_LOCAL, &yes, 1 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, local_t, 2, &k), CKR_ATTRIBUTE_READ_ONLY);
    CK_MECHANISM sha = { CKM_SHA256, NULL, 0 }, withp = { CKM_AES_KEY_GEN, val, 4 };
    assert_int_equal(hsm_generate_key(f->h, A, s, &sha, t, 1, &k), CKR_MECHANISM_INVALID);
    assert_int_equal(hsm_generate_key(f->h, A, s, &withp, t, 1, &k), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(hsm_generate_key(f->h, B, s, &aes, t, 1, &k), CKR_SESSION_HANDLE_INVALID);
    /* DES3 keys have odd parity; generic secrets take any length. */
    CK_ATTRIBUTE des_t[] = { { CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &des3, des_t, 2, &k), CKR_OK);
    v.ulValueLen = sizeof val;
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &v, 1), CKR_OK);
    assert_int_equal(v.ulValueLen, 24);
    for (int i = 0; i < 24; i++)
        assert_int_equal(__builtin_popcount(val[i]) & 1, 1);
    CK_ATTRIBUTE gen_t[] = { { CKA_VALUE_LEN, &len20, sizeof len20 } };
    assert_int_equal(hsm_generate_key(f->h, A, s, &gen, gen_t, 1, &k), CKR_OK);
    /* A private key needs a logged-in Crypto Officer. */
    assert_int_equal(hsm_logout(f->h, A, s), CKR_OK);
    assert_int_equal(hsm_generate_key(f->h, A, s, &aes, t, 1, &k), CKR_USER_NOT_LOGGED_IN);
}

static void test_check_values(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
    CK_BYTE zero[16] = { 0 };
    CK_OBJECT_HANDLE k;
    CK_BYTE kcv[3];
    CK_ATTRIBUTE get = { CKA_CHECK_VALUE, kcv, sizeof kcv };
    /* AES-128 with the zero key encrypts the zero block to 66e94bd4... */
    CK_ATTRIBUTE a[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                         { CKA_VALUE, zero, 16 }, { CKA_CHECK_VALUE, NULL, 0 } };
    assert_int_equal(hsm_create_object(f->h, A, s, a, 3, &k), CKR_OK);
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &get, 1), CKR_OK);
    assert_memory_equal(kcv, "\x66\xe9\x4b", 3);
    a[3].pValue = (void *)"\x66\xe9\x4b";
    a[3].ulValueLen = 3;
    assert_int_equal(hsm_create_object(f->h, A, s, a, 4, &k), CKR_OK);
    a[3].pValue = (void *)"\x66\xe9\x4c";
    assert_int_equal(hsm_create_object(f->h, A, s, a, 4, &k), CKR_ATTRIBUTE_VALUE_INVALID);
    /* A generic secret's is the start of SHA-1 of its value. */
    CK_ATTRIBUTE g[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &gen, sizeof gen },
                         { CKA_VALUE, "abc", 3 } };
    assert_int_equal(hsm_create_object(f->h, A, s, g, 3, &k), CKR_OK);
    get.ulValueLen = sizeof kcv;
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, k, &get, 1), CKR_OK);
    assert_memory_equal(kcv, "\xa9\x99\x3e", 3);
}

static void test_private_visibility_and_find(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE priv[] = { { CKA_CLASS, &data, sizeof data }, { CKA_PRIVATE, &yes, 1 },
                            { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, "secret", 6 } };
    CK_ATTRIBUTE pub[] = { { CKA_CLASS, &data, sizeof data }, { CKA_TOKEN, &yes, 1 },
                           { CKA_LABEL, "public", 6 } };
    CK_OBJECT_HANDLE po, uo, found[8];
    CK_ULONG n;
    assert_int_equal(hsm_create_object(f->h, A, s, priv, 4, &po), CKR_OK);
    assert_int_equal(hsm_create_object(f->h, A, s, pub, 3, &uo), CKR_OK);
    CK_ATTRIBUTE q[] = { { CKA_CLASS, &data, sizeof data } };
    assert_int_equal(hsm_find_objects_init(f->h, A, s, q, 1), CKR_OK);
    assert_int_equal(hsm_find_objects_init(f->h, A, s, q, 1), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_find_objects(f->h, A, s, found, 8, &n), CKR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hsm_find_objects_final(f->h, A, s), CKR_OK);
    assert_int_equal(hsm_find_objects(f->h, A, s, found, 8, &n), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(hsm_logout(f->h, A, s), CKR_OK);
    assert_int_equal(hsm_find_objects_init(f->h, A, s, q, 1), CKR_OK);
    assert_int_equal(hsm_find_objects(f->h, A, s, found, 8, &n), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], uo);
    assert_int_equal(hsm_find_objects_final(f->h, A, s), CKR_OK);
    CK_ATTRIBUTE lab = { CKA_LABEL, NULL, 0 };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, po, &lab, 1), CKR_OBJECT_HANDLE_INVALID);
    /* A find never matches on a sensitive value. */
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    make_secret(f, s, "0123456789abcdef", false);
    CK_ATTRIBUTE guess[] = { { CKA_VALUE, "0123456789abcdef", 16 } };
    assert_int_equal(hsm_find_objects_init(f->h, A, s, guess, 1), CKR_OK);
    assert_int_equal(hsm_find_objects(f->h, A, s, found, 8, &n), CKR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(hsm_find_objects_final(f->h, A, s), CKR_OK);
}

static void test_digest(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_rw(f, A);
    CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
    static const uint8_t abc256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    CK_BYTE out[64];
    CK_ULONG len = 0;
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"abc", 3, out, &len),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(hsm_digest_init(f->h, A, s, &(CK_MECHANISM){ CKM_MD5, NULL, 0 }),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(hsm_digest_init(f->h, A, s, &m), CKR_OK);
    assert_int_equal(hsm_digest_init(f->h, A, s, &m), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"abc", 3, NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = 31;
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"abc", 3, out, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    len = sizeof out;
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"abc", 3, out, &len), CKR_OK);
    assert_memory_equal(out, abc256, 32);
    /* Multi-part gives the same; C_Digest after an update is refused. */
    assert_int_equal(hsm_digest_init(f->h, A, s, &m), CKR_OK);
    assert_int_equal(hsm_digest_update(f->h, A, s, (CK_BYTE *)"a", 1), CKR_OK);
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"bc", 2, out, &len), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_digest_update(f->h, A, s, (CK_BYTE *)"bc", 2), CKR_OK);
    len = sizeof out;
    assert_int_equal(hsm_digest_final(f->h, A, s, out, &len), CKR_OK);
    assert_memory_equal(out, abc256, 32);
    assert_int_equal(hsm_digest_final(f->h, A, s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* An argument error ends the operation. */
    assert_int_equal(hsm_digest_init(f->h, A, s, &m), CKR_OK);
    assert_int_equal(hsm_digest_update(f->h, A, s, NULL, 5), CKR_ARGUMENTS_BAD);
    assert_int_equal(hsm_digest_final(f->h, A, s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* SHA3-256("abc"), FIPS 202 */
    static const uint8_t abc3[32] = {
        0x3a, 0x98, 0x5d, 0xa7, 0x4f, 0xe2, 0x25, 0xb2, 0x04, 0x5c, 0x17, 0x2d, 0x6b, 0xd3, 0x90, 0xbd,
        0x85, 0x5f, 0x08, 0x6e, 0x3e, 0x9d, 0x52, 0x5b, 0x46, 0xbf, 0xe2, 0x45, 0x11, 0x43, 0x15, 0x32 };
    CK_MECHANISM sha3 = { CKM_SHA3_256, NULL, 0 };
    len = sizeof out;
    assert_int_equal(hsm_digest_init(f->h, A, s, &sha3), CKR_OK);
    assert_int_equal(hsm_digest(f->h, A, s, (CK_BYTE *)"abc", 3, out, &len), CKR_OK);
    assert_int_equal(len, 32);
    assert_memory_equal(out, abc3, 32);
    assert_int_equal(hsm_generate_random(f->h, A, s, out, 64), CKR_OK);
    assert_int_equal(hsm_generate_random(f->h, B, s, out, 64), CKR_SESSION_HANDLE_INVALID);
}

/* Does any file under dir contain needle? */
static bool dir_contains(const char *dir, const char *needle)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "grep -rqa -- '%s' %s", needle, dir);
    return system(cmd) == 0;
}

static void test_persistence_and_secrecy(void **state)
{
    fx_t *f = *state;
    const char *key = "KEYVALUE-4f2a9c1e";  /* 17 bytes: generic secret */
    const char *note = "PRIVATE-NOTE-77c3e1";
    CK_SESSION_HANDLE s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY, data = CKO_DATA;
    CK_KEY_TYPE gen = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE kt[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &gen, sizeof gen },
                          { CKA_TOKEN, &yes, 1 }, { CKA_VALUE, (void *)key, 17 } };
    CK_ATTRIBUTE dt[] = { { CKA_CLASS, &data, sizeof data }, { CKA_TOKEN, &yes, 1 },
                          { CKA_PRIVATE, &yes, 1 },
                          { CKA_VALUE, (void *)note, (CK_ULONG)strlen(note) } };
    CK_OBJECT_HANDLE ko, dobj;
    assert_int_equal(hsm_create_object(f->h, A, s, kt, 4, &ko), CKR_OK);
    assert_int_equal(hsm_create_object(f->h, A, s, dt, 4, &dobj), CKR_OK);
    hsm_close(f->h);
    f->h = NULL;
    assert_false(dir_contains(f->dir, key));
    assert_false(dir_contains(f->dir, note));
    assert_false(dir_contains(f->dir, USER));
    assert_int_equal(hsm_open(f->dir, &f->h), 0);
    s = open_rw(f, A);
    assert_int_equal(hsm_login(f->h, A, s, CKU_USER, L(USER)), CKR_OK);
    char buf[64];
    CK_ATTRIBUTE get = { CKA_VALUE, buf, sizeof buf };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, dobj, &get, 1), CKR_OK);
    assert_int_equal(get.ulValueLen, strlen(note));
    assert_memory_equal(buf, note, strlen(note));
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE klen = { CKA_VALUE_LEN, &vlen, sizeof vlen };
    assert_int_equal(hsm_get_attribute_value(f->h, A, s, ko, &klen, 1), CKR_OK);
    assert_int_equal(vlen, 17);
    hsm_close(f->h);
    f->h = NULL;

    /* Without its master key the store does not open. */
    char key_file[128], moved[140], cmd[512];
    snprintf(key_file, sizeof key_file, "%s/master.key", f->dir);
    snprintf(moved, sizeof moved, "%s.away", key_file);
    assert_int_equal(rename(key_file, moved), 0);
    assert_int_not_equal(hsm_open(f->dir, &f->h), 0);
    assert_int_equal(rename(moved, key_file), 0);
    /* A blob changed on disk is detected, not loaded. */
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s/softfm.db \"UPDATE objects SET blob = substr(blob, 1, 20) || "
             "CASE WHEN substr(blob, 21, 1) = X'00' THEN X'01' ELSE X'00' END || "
             "substr(blob, 22) WHERE handle = %lu\"",
             f->dir, (unsigned long)dobj);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(hsm_open(f->dir, &f->h), 0);
}

static void test_admin(void **state)
{
    fx_t *f = *state;
    CK_SLOT_ID slot;
    assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), "p1", &slot), 0x80000002UL);
    assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), "bad name", &slot), 0x80000004UL);
    assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), "p2", &slot), CKR_OK);
    assert_int_equal(hsm_admin_policy_set(f->h, L(SO_PIN), "user-pin-max-tries", 0),
                     CKR_ARGUMENTS_BAD);
    assert_int_equal(hsm_admin_policy_set(f->h, L(SO_PIN), "user-pin-max-tries", 5), CKR_OK);
    CK_SESSION_HANDLE s;
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION, &s), CKR_OK);
    assert_int_equal(hsm_admin_partition_delete(f->h, L(SO_PIN), "p1"), CKR_OK);
    CK_SESSION_INFO si;
    assert_int_equal(hsm_get_session_info(f->h, A, s, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(hsm_get_token_info(f->h, f->slot, &(CK_TOKEN_INFO){0}), CKR_SLOT_ID_INVALID);
    assert_int_equal(hsm_admin_partition_delete(f->h, L(SO_PIN), "p1"), 0x80000003UL);
    hsm_info_t info;
    assert_int_equal(hsm_admin_info(f->h, &info), CKR_OK);
    assert_int_equal(info.npartitions, 2);
    assert_int_equal(info.policies[1].value, 5);
    hsm_admin_info_free(&info);
    assert_int_equal(hsm_admin_zeroize(f->h, L("wrong-pin")), CKR_PIN_INCORRECT);
    assert_int_equal(hsm_admin_zeroize(f->h, L(SO_PIN)), CKR_OK);
    assert_int_equal(hsm_admin_info(f->h, &info), CKR_OK);
    assert_false(info.initialized);
    assert_int_equal(info.npartitions, 1);
    hsm_admin_info_free(&info);
}

/* Threads work on a partition while it is deleted and created again: every
   call answers a Cryptoki code and nothing touches freed memory (run under
   ASan in CI). */
typedef struct stress {
    fx_t *f;
    app_id_t app;
    atomic_int stop;
} stress_t;

static void *stress_worker(void *arg)
{
    stress_t *st = arg;
    CK_BYTE buf[64];
    CK_ULONG len;
    while (!atomic_load(&st->stop)) {
        CK_SESSION_HANDLE s;
        CK_SLOT_ID slots[8];
        CK_ULONG n = 8;
        if (hsm_get_slot_list(st->f->h, slots, &n) || n < 2)
            continue;
        if (hsm_open_session(st->f->h, st->app, slots[n - 1], CKF_SERIAL_SESSION | CKF_RW_SESSION,
                             &s))
            continue;
        (void)hsm_login(st->f->h, st->app, s, CKU_USER, L(USER));
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, "s", 1 } };
        CK_OBJECT_HANDLE o = 0, found[4];
        (void)hsm_create_object(st->f->h, st->app, s, t, 2, &o);
        if (hsm_find_objects_init(st->f->h, st->app, s, t, 2) == CKR_OK) {
            (void)hsm_find_objects(st->f->h, st->app, s, found, 4, &n);
            (void)hsm_find_objects_final(st->f->h, st->app, s);
        }
        CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
        len = sizeof buf;
        if (hsm_digest_init(st->f->h, st->app, s, &m) == CKR_OK)
            (void)hsm_digest(st->f->h, st->app, s, buf, 32, buf, &len);
        (void)hsm_destroy_object(st->f->h, st->app, s, o);
        (void)hsm_close_session(st->f->h, st->app, s);
    }
    return NULL;
}

static void test_delete_under_load(void **state)
{
    fx_t *f = *state;
    stress_t st[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        st[i] = (stress_t){ f, (app_id_t)(5000 + i), 0 };
        pthread_create(&t[i], NULL, stress_worker, &st[i]);
    }
    char name[16];
    for (int round = 0; round < 15; round++) {
        CK_SLOT_ID slot;
        CK_UTF8CHAR lbl[32];
        snprintf(name, sizeof name, "r%d", round);
        assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), name, &slot), CKR_OK);
        label32(lbl, name);
        assert_int_equal(hsm_init_token(f->h, A, slot, L(P_SO), lbl), CKR_OK);
        CK_SESSION_HANDLE s;
        assert_int_equal(hsm_open_session(f->h, A, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s),
                         CKR_OK);
        assert_int_equal(hsm_login(f->h, A, s, CKU_SO, L(P_SO)), CKR_OK);
        assert_int_equal(hsm_init_pin(f->h, A, s, L(USER)), CKR_OK);
        assert_int_equal(hsm_close_session(f->h, A, s), CKR_OK);
        usleep(20000);
        assert_int_equal(hsm_admin_partition_delete(f->h, L(SO_PIN), name), CKR_OK);
    }
    for (int i = 0; i < 3; i++) {
        atomic_store(&st[i].stop, 1);
        pthread_join(t[i], NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slots_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appid_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_secret_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_visibility_and_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_and_secrecy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_under_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
