/*
 * libfmsupt: the Cryptoki functions an FM calls, each a stub that calls the
 * HSM's Cryptoki in the fmhost, on behalf of the FM's current AppId.
 */
/* The GNU spelling of the types, in which p11-kit declares the functions. */
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include "fm_calls.h"

extern const fm_calls_t *softfm_fm_calls;
#define CK ((const struct ck_function_list *)softfm_fm_calls->ck)


ck_rv_t C_Initialize(void *init_args)
{
    return CK->C_Initialize(init_args);
}

ck_rv_t C_Finalize(void *reserved)
{
    return CK->C_Finalize(reserved);
}

ck_rv_t C_GetInfo(struct ck_info *info)
{
    return CK->C_GetInfo(info);
}

ck_rv_t C_GetFunctionList(struct ck_function_list **function_list)
{
    if (!function_list)
        return CKR_ARGUMENTS_BAD;
    *function_list = (struct ck_function_list *)CK;
    return CKR_OK;
}

ck_rv_t C_GetSlotList(unsigned char token_present, ck_slot_id_t *slot_list, unsigned long *count)
{
    return CK->C_GetSlotList(token_present, slot_list, count);
}

ck_rv_t C_GetSlotInfo(ck_slot_id_t slot_id, struct ck_slot_info *info)
{
    return CK->C_GetSlotInfo(slot_id, info);
}

ck_rv_t C_GetTokenInfo(ck_slot_id_t slot_id, struct ck_token_info *info)
{
    return CK->C_GetTokenInfo(slot_id, info);
}

ck_rv_t C_WaitForSlotEvent(ck_flags_t flags, ck_slot_id_t *slot, void *reserved)
{
    return CK->C_WaitForSlotEvent(flags, slot, reserved);
}

ck_rv_t C_GetMechanismList(ck_slot_id_t slot_id, ck_mechanism_type_t *mechanism_list, unsigned long *count)
{
    return CK->C_GetMechanismList(slot_id, mechanism_list, count);
}

ck_rv_t C_GetMechanismInfo(ck_slot_id_t slot_id, ck_mechanism_type_t type, struct ck_mechanism_info *info)
{
    return CK->C_GetMechanismInfo(slot_id, type, info);
}

ck_rv_t C_InitToken(ck_slot_id_t slot_id, unsigned char *pin, unsigned long pin_len, unsigned char *label)
{
    return CK->C_InitToken(slot_id, pin, pin_len, label);
}

ck_rv_t C_InitPIN(ck_session_handle_t session, unsigned char *pin, unsigned long pin_len)
{
    return CK->C_InitPIN(session, pin, pin_len);
}

ck_rv_t C_SetPIN(ck_session_handle_t session, unsigned char *old_pin, unsigned long old_len, unsigned char *new_pin, unsigned long new_len)
{
    return CK->C_SetPIN(session, old_pin, old_len, new_pin, new_len);
}

ck_rv_t C_OpenSession(ck_slot_id_t slot_id, ck_flags_t flags, void *application, ck_notify_t notify, ck_session_handle_t *session)
{
    return CK->C_OpenSession(slot_id, flags, application, notify, session);
}

ck_rv_t C_CloseSession(ck_session_handle_t session)
{
    return CK->C_CloseSession(session);
}

ck_rv_t C_CloseAllSessions(ck_slot_id_t slot_id)
{
    return CK->C_CloseAllSessions(slot_id);
}

ck_rv_t C_GetSessionInfo(ck_session_handle_t session, struct ck_session_info *info)
{
    return CK->C_GetSessionInfo(session, info);
}

ck_rv_t C_GetOperationState(ck_session_handle_t session, unsigned char *operation_state, unsigned long *operation_state_len)
{
    return CK->C_GetOperationState(session, operation_state, operation_state_len);
}

ck_rv_t C_SetOperationState(ck_session_handle_t session, unsigned char *operation_state, unsigned long operation_state_len, ck_object_handle_t encryption_key, ck_object_handle_t authentiation_key)
{
    return CK->C_SetOperationState(session, operation_state, operation_state_len, encryption_key, authentiation_key);
}

ck_rv_t C_Login(ck_session_handle_t session, ck_user_type_t user_type, unsigned char *pin, unsigned long pin_len)
{
    return CK->C_Login(session, user_type, pin, pin_len);
}

ck_rv_t C_Logout(ck_session_handle_t session)
{
    return CK->C_Logout(session);
}

ck_rv_t C_CreateObject(ck_session_handle_t session, struct ck_attribute *templ, unsigned long count, ck_object_handle_t *object)
{
    return CK->C_CreateObject(session, templ, count, object);
}

ck_rv_t C_CopyObject(ck_session_handle_t session, ck_object_handle_t object, struct ck_attribute *templ, unsigned long count, ck_object_handle_t *new_object)
{
    return CK->C_CopyObject(session, object, templ, count, new_object);
}

ck_rv_t C_DestroyObject(ck_session_handle_t session, ck_object_handle_t object)
{
    return CK->C_DestroyObject(session, object);
}

ck_rv_t C_GetObjectSize(ck_session_handle_t session, ck_object_handle_t object, unsigned long *size)
{
    return CK->C_GetObjectSize(session, object, size);
}

ck_rv_t C_GetAttributeValue(ck_session_handle_t session, ck_object_handle_t object, struct ck_attribute *templ, unsigned long count)
{
    return CK->C_GetAttributeValue(session, object, templ, count);
}

ck_rv_t C_SetAttributeValue(ck_session_handle_t session, ck_object_handle_t object, struct ck_attribute *templ, unsigned long count)
{
    return CK->C_SetAttributeValue(session, object, templ, count);
}

ck_rv_t C_FindObjectsInit(ck_session_handle_t session, struct ck_attribute *templ, unsigned long count)
{
    return CK->C_FindObjectsInit(session, templ, count);
}

ck_rv_t C_FindObjects(ck_session_handle_t session, ck_object_handle_t *object, unsigned long max_object_count, unsigned long *object_count)
{
    return CK->C_FindObjects(session, object, max_object_count, object_count);
}

ck_rv_t C_FindObjectsFinal(ck_session_handle_t session)
{
    return CK->C_FindObjectsFinal(session);
}

ck_rv_t C_EncryptInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_EncryptInit(session, mechanism, key);
}

ck_rv_t C_Encrypt(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *encrypted_data, unsigned long *encrypted_data_len)
{
    return CK->C_Encrypt(session, data, data_len, encrypted_data, encrypted_data_len);
}

ck_rv_t C_EncryptUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
    return CK->C_EncryptUpdate(session, part, part_len, encrypted_part, encrypted_part_len);
}

ck_rv_t C_EncryptFinal(ck_session_handle_t session, unsigned char *last_encrypted_part, unsigned long *last_encrypted_part_len)
{
    return CK->C_EncryptFinal(session, last_encrypted_part, last_encrypted_part_len);
}

ck_rv_t C_DecryptInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_DecryptInit(session, mechanism, key);
}

ck_rv_t C_Decrypt(ck_session_handle_t session, unsigned char *encrypted_data, unsigned long encrypted_data_len, unsigned char *data, unsigned long *data_len)
{
    return CK->C_Decrypt(session, encrypted_data, encrypted_data_len, data, data_len);
}

ck_rv_t C_DecryptUpdate(ck_session_handle_t session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
    return CK->C_DecryptUpdate(session, encrypted_part, encrypted_part_len, part, part_len);
}

ck_rv_t C_DecryptFinal(ck_session_handle_t session, unsigned char *last_part, unsigned long *last_part_len)
{
    return CK->C_DecryptFinal(session, last_part, last_part_len);
}

ck_rv_t C_DigestInit(ck_session_handle_t session, struct ck_mechanism *mechanism)
{
    return CK->C_DigestInit(session, mechanism);
}

ck_rv_t C_Digest(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *digest, unsigned long *digest_len)
{
    return CK->C_Digest(session, data, data_len, digest, digest_len);
}

ck_rv_t C_DigestUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len)
{
    return CK->C_DigestUpdate(session, part, part_len);
}

ck_rv_t C_DigestKey(ck_session_handle_t session, ck_object_handle_t key)
{
    return CK->C_DigestKey(session, key);
}

ck_rv_t C_DigestFinal(ck_session_handle_t session, unsigned char *digest, unsigned long *digest_len)
{
    return CK->C_DigestFinal(session, digest, digest_len);
}

ck_rv_t C_SignInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_SignInit(session, mechanism, key);
}

ck_rv_t C_Sign(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len)
{
    return CK->C_Sign(session, data, data_len, signature, signature_len);
}

ck_rv_t C_SignUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len)
{
    return CK->C_SignUpdate(session, part, part_len);
}

ck_rv_t C_SignFinal(ck_session_handle_t session, unsigned char *signature, unsigned long *signature_len)
{
    return CK->C_SignFinal(session, signature, signature_len);
}

ck_rv_t C_SignRecoverInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_SignRecoverInit(session, mechanism, key);
}

ck_rv_t C_SignRecover(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len)
{
    return CK->C_SignRecover(session, data, data_len, signature, signature_len);
}

ck_rv_t C_VerifyInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_VerifyInit(session, mechanism, key);
}

ck_rv_t C_Verify(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long signature_len)
{
    return CK->C_Verify(session, data, data_len, signature, signature_len);
}

ck_rv_t C_VerifyUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len)
{
    return CK->C_VerifyUpdate(session, part, part_len);
}

ck_rv_t C_VerifyFinal(ck_session_handle_t session, unsigned char *signature, unsigned long signature_len)
{
    return CK->C_VerifyFinal(session, signature, signature_len);
}

ck_rv_t C_VerifyRecoverInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    return CK->C_VerifyRecoverInit(session, mechanism, key);
}

ck_rv_t C_VerifyRecover(ck_session_handle_t session, unsigned char *signature, unsigned long signature_len, unsigned char *data, unsigned long *data_len)
{
    return CK->C_VerifyRecover(session, signature, signature_len, data, data_len);
}

ck_rv_t C_DigestEncryptUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
    return CK->C_DigestEncryptUpdate(session, part, part_len, encrypted_part, encrypted_part_len);
}

ck_rv_t C_DecryptDigestUpdate(ck_session_handle_t session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
    return CK->C_DecryptDigestUpdate(session, encrypted_part, encrypted_part_len, part, part_len);
}

ck_rv_t C_SignEncryptUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
    return CK->C_SignEncryptUpdate(session, part, part_len, encrypted_part, encrypted_part_len);
}

ck_rv_t C_DecryptVerifyUpdate(ck_session_handle_t session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
    return CK->C_DecryptVerifyUpdate(session, encrypted_part, encrypted_part_len, part, part_len);
}

ck_rv_t C_GenerateKey(ck_session_handle_t session, struct ck_mechanism *mechanism, struct ck_attribute *templ, unsigned long count, ck_object_handle_t *key)
{
    return CK->C_GenerateKey(session, mechanism, templ, count, key);
}

ck_rv_t C_GenerateKeyPair(ck_session_handle_t session, struct ck_mechanism *mechanism, struct ck_attribute *public_key_template, unsigned long public_key_attribute_count, struct ck_attribute *private_key_template, unsigned long private_key_attribute_count, ck_object_handle_t *public_key, ck_object_handle_t *private_key)
{
    return CK->C_GenerateKeyPair(session, mechanism, public_key_template, public_key_attribute_count, private_key_template, private_key_attribute_count, public_key, private_key);
}

ck_rv_t C_WrapKey(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t wrapping_key, ck_object_handle_t key, unsigned char *wrapped_key, unsigned long *wrapped_key_len)
{
    return CK->C_WrapKey(session, mechanism, wrapping_key, key, wrapped_key, wrapped_key_len);
}

ck_rv_t C_UnwrapKey(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t unwrapping_key, unsigned char *wrapped_key, unsigned long wrapped_key_len, struct ck_attribute *templ, unsigned long attribute_count, ck_object_handle_t *key)
{
    return CK->C_UnwrapKey(session, mechanism, unwrapping_key, wrapped_key, wrapped_key_len, templ, attribute_count, key);
}

ck_rv_t C_DeriveKey(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t base_key, struct ck_attribute *templ, unsigned long attribute_count, ck_object_handle_t *key)
{
    return CK->C_DeriveKey(session, mechanism, base_key, templ, attribute_count, key);
}

ck_rv_t C_SeedRandom(ck_session_handle_t session, unsigned char *seed, unsigned long seed_len)
{
    return CK->C_SeedRandom(session, seed, seed_len);
}

ck_rv_t C_GenerateRandom(ck_session_handle_t session, unsigned char *random_data, unsigned long random_len)
{
    return CK->C_GenerateRandom(session, random_data, random_len);
}

ck_rv_t C_GetFunctionStatus(ck_session_handle_t session)
{
    return CK->C_GetFunctionStatus(session);
}

ck_rv_t C_CancelFunction(ck_session_handle_t session)
{
    return CK->C_CancelFunction(session);
}
