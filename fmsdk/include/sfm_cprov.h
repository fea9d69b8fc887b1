/*
 * The HSM's patchable Cryptoki table (cprovtbl.h, cprovpch.h): numEntries,
 * then one pointer per function in the vendor's order, then the vendor's
 * own entries. An FM that sets an entry in Startup changes that function for
 * every application of the HSM; its replacement reaches the HSM's own
 * function by calling C_xxx directly. See docs/fm-guide.md, "Extending the
 * HSM's Cryptoki".
 */
#ifndef SFM_CPROV_H
#define SFM_CPROV_H
#include "cryptoki.h"

/* The functions of the table, in order: X(name) for C_name. */
#define SFM_CPROV_FUNCTIONS(X) \
    X(GetFunctionList) X(Initialize) X(Finalize) X(GetInfo) \
    X(GetSlotList) X(GetSlotInfo) X(GetTokenInfo) X(GetMechanismList) \
    X(GetMechanismInfo) X(InitToken) X(InitPIN) X(SetPIN) \
    X(OpenSession) X(CloseSession) X(CloseAllSessions) X(GetSessionInfo) \
    X(GetOperationState) X(SetOperationState) X(Login) X(Logout) \
    X(CreateObject) X(CopyObject) X(DestroyObject) X(GetObjectSize) \
    X(GetAttributeValue) X(SetAttributeValue) X(FindObjectsInit) X(FindObjects) \
    X(FindObjectsFinal) X(DigestInit) X(Digest) X(DigestUpdate) \
    X(DigestFinal) X(DigestKey) X(EncryptInit) X(Encrypt) \
    X(EncryptUpdate) X(EncryptFinal) X(DecryptInit) X(Decrypt) \
    X(DecryptUpdate) X(DecryptFinal) X(SignInit) X(Sign) \
    X(SignUpdate) X(SignFinal) X(VerifyInit) X(Verify) \
    X(VerifyUpdate) X(VerifyFinal) X(SignRecoverInit) X(SignRecover) \
    X(VerifyRecoverInit) X(VerifyRecover) X(DigestEncryptUpdate) X(DecryptDigestUpdate) \
    X(SignEncryptUpdate) X(DecryptVerifyUpdate) X(GenerateKey) X(GenerateKeyPair) \
    X(WrapKey) X(UnwrapKey) X(DeriveKey) X(SeedRandom) \
    X(GenerateRandom) X(GetFunctionStatus) X(CancelFunction) X(WaitForSlotEvent)

#define SFM_CPROV_CK_ENTRIES 68

#define SFM_CPROV_FIELD(name) CK_C_##name C_##name;
typedef struct CprovFnTable {
    unsigned int numEntries;
    SFM_CPROV_FUNCTIONS(SFM_CPROV_FIELD)
    /* The vendor's entries: present for layout, not patchable here. */
    void *CT_ResetToken;
    void *CT_InitToken;
    void *CT_CopyObject;
    void *CT_SetPrivilegeLevel;
} CprovFnTable_t;
#undef SFM_CPROV_FIELD

/* The table of this HSM (never NULL in softfm). */
CprovFnTable_t *OS_GetCprovFuncTable(void);

#endif
