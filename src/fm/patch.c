/*
 * Which FM patches which Cryptoki function, and which function a PKCS#11
 * request of the wire is. The daemon asks fm_patch_route for every request
 * once any FM patches anything; with none, one relaxed atomic load is all a
 * request pays.
 *
 * Entries are those of CprovFnTable_t (fmsdk/include/sfm_cprov.h): index 0
 * is C_GetFunctionList, 67 C_WaitForSlotEvent.
 */
#include <stdatomic.h>
#include <string.h>

#include "../../fmsdk/include/sfm_cprov.h"
#include "fm.h"
#include "proto.h"

#define NAME(name) "C_" #name,
static const char *const names[] = { SFM_CPROV_FUNCTIONS(NAME) };
#undef NAME
_Static_assert(sizeof names / sizeof names[0] == FM_PATCH_ENTRIES, "the table's entries");

const char *fm_patch_name(int i)
{
    return i >= 0 && i < FM_PATCH_ENTRIES ? names[i] : "?";
}

enum {
    E_FINALIZE = 2, E_GET_SLOT_LIST = 4, E_GET_SLOT_INFO, E_GET_TOKEN_INFO, E_GET_MECH_LIST,
    E_GET_MECH_INFO, E_INIT_TOKEN, E_INIT_PIN, E_SET_PIN, E_OPEN_SESSION, E_CLOSE_SESSION,
    E_CLOSE_ALL, E_GET_SESSION_INFO, E_LOGIN = 18, E_LOGOUT, E_CREATE_OBJECT, E_COPY_OBJECT,
    E_DESTROY_OBJECT, E_GET_OBJECT_SIZE, E_GET_ATTR, E_SET_ATTR, E_FIND_INIT, E_FIND,
    E_FIND_FINAL, E_DIGEST_INIT, E_DIGEST, E_DIGEST_UPDATE, E_DIGEST_FINAL, E_DIGEST_KEY,
    E_ENCRYPT_INIT, E_ENCRYPT, E_ENCRYPT_UPDATE, E_ENCRYPT_FINAL, E_DECRYPT_INIT, E_DECRYPT,
    E_DECRYPT_UPDATE, E_DECRYPT_FINAL, E_SIGN_INIT, E_SIGN, E_SIGN_UPDATE, E_SIGN_FINAL,
    E_VERIFY_INIT, E_VERIFY, E_VERIFY_UPDATE, E_VERIFY_FINAL, E_SIGN_RECOVER_INIT,
    E_SIGN_RECOVER, E_VERIFY_RECOVER_INIT, E_VERIFY_RECOVER, E_GENERATE_KEY = 58,
    E_GENERATE_KEY_PAIR, E_WRAP_KEY, E_UNWRAP_KEY, E_DERIVE_KEY, E_SEED_RANDOM,
    E_GENERATE_RANDOM,
};

static _Atomic int any;
static _Atomic uint16_t route[FM_PATCH_ENTRIES];

/* The direction byte that follows the session in the requests that serve
   two functions (proto.h); -1 when the request is too short. */
static int dir_of(const uint8_t *req, size_t len)
{
    return len >= 4 + 8 + 1 ? req[12] : -1;
}

int fm_patch_entry(const uint8_t *req, size_t len)
{
    if (len < 4)
        return -1;
    uint32_t op = (uint32_t)req[0] << 24 | (uint32_t)req[1] << 16 | (uint32_t)req[2] << 8 | req[3];
    int d;
    switch (op) {
    case OP_FINALIZE: return E_FINALIZE;
    case OP_GET_SLOT_LIST: return E_GET_SLOT_LIST;
    case OP_GET_SLOT_INFO: return E_GET_SLOT_INFO;
    case OP_GET_TOKEN_INFO: return E_GET_TOKEN_INFO;
    case OP_GET_MECH_LIST: return E_GET_MECH_LIST;
    case OP_GET_MECH_INFO: return E_GET_MECH_INFO;
    case OP_INIT_TOKEN: return E_INIT_TOKEN;
    case OP_INIT_PIN: return E_INIT_PIN;
    case OP_SET_PIN: return E_SET_PIN;
    case OP_OPEN_SESSION: return E_OPEN_SESSION;
    case OP_CLOSE_SESSION: return E_CLOSE_SESSION;
    case OP_CLOSE_ALL_SESSIONS: return E_CLOSE_ALL;
    case OP_GET_SESSION_INFO: return E_GET_SESSION_INFO;
    case OP_LOGIN: return E_LOGIN;
    case OP_LOGOUT: return E_LOGOUT;
    case OP_CREATE_OBJECT: return E_CREATE_OBJECT;
    case OP_COPY_OBJECT: return E_COPY_OBJECT;
    case OP_DESTROY_OBJECT: return E_DESTROY_OBJECT;
    case OP_GET_OBJECT_SIZE: return E_GET_OBJECT_SIZE;
    case OP_GET_ATTRIBUTE_VALUE: return E_GET_ATTR;
    case OP_SET_ATTRIBUTE_VALUE: return E_SET_ATTR;
    case OP_FIND_OBJECTS_INIT: return E_FIND_INIT;
    case OP_FIND_OBJECTS: return E_FIND;
    case OP_FIND_OBJECTS_FINAL: return E_FIND_FINAL;
    case OP_DIGEST_INIT: return E_DIGEST_INIT;
    case OP_DIGEST: return E_DIGEST;
    case OP_DIGEST_UPDATE: return E_DIGEST_UPDATE;
    case OP_DIGEST_FINAL: return E_DIGEST_FINAL;
    case OP_DIGEST_KEY: return E_DIGEST_KEY;
    case OP_SEED_RANDOM: return E_SEED_RANDOM;
    case OP_GENERATE_RANDOM: return E_GENERATE_RANDOM;
    case OP_GENERATE_KEY: return E_GENERATE_KEY;
    case OP_GENERATE_KEY_PAIR: return E_GENERATE_KEY_PAIR;
    case OP_WRAP_KEY: return E_WRAP_KEY;
    case OP_UNWRAP_KEY: return E_UNWRAP_KEY;
    case OP_DERIVE_KEY: return E_DERIVE_KEY;
    case OP_CRYPT_INIT:
    case OP_CRYPT:
    case OP_CRYPT_UPDATE:
    case OP_CRYPT_FINAL:
        if ((d = dir_of(req, len)) < 0)
            return -1;
        return (d ? E_DECRYPT_INIT : E_ENCRYPT_INIT) + (int)(op - OP_CRYPT_INIT);
    case OP_SIGN_INIT:
        if ((d = dir_of(req, len)) < 0)
            return -1;
        return d ? E_VERIFY_INIT : E_SIGN_INIT;
    case OP_SIGN: return E_SIGN;
    case OP_SIGN_UPDATE:
        if ((d = dir_of(req, len)) < 0)
            return -1;
        return d ? E_VERIFY_UPDATE : E_SIGN_UPDATE;
    case OP_SIGN_FINAL: return E_SIGN_FINAL;
    case OP_VERIFY: return E_VERIFY;
    case OP_VERIFY_FINAL: return E_VERIFY_FINAL;
    case OP_RECOVER_INIT:
        if ((d = dir_of(req, len)) < 0)
            return -1;
        return d ? E_VERIFY_RECOVER_INIT : E_SIGN_RECOVER_INIT;
    case OP_RECOVER:
        if ((d = dir_of(req, len)) < 0)
            return -1;
        return d ? E_VERIFY_RECOVER : E_SIGN_RECOVER;
    default: return -1;
    }
}

uint16_t fm_patch_route(const uint8_t *req, size_t len, uint16_t caller)
{
    if (!atomic_load_explicit(&any, memory_order_relaxed))
        return 0;
    int e = fm_patch_entry(req, len);
    if (e < 0)
        return 0;
    uint16_t fm = atomic_load_explicit(&route[e], memory_order_acquire);
    /* The patching FM's own calls reach the HSM's functions. */
    return fm == caller ? 0 : fm;
}

void fm_patch_set(const uint16_t owners[FM_PATCH_ENTRIES])
{
    int n = 0;
    for (int i = 0; i < FM_PATCH_ENTRIES; i++) {
        atomic_store_explicit(&route[i], owners[i], memory_order_release);
        n += owners[i] != 0;
    }
    atomic_store_explicit(&any, n, memory_order_release);
}
