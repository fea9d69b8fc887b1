/*
 * Encryption and decryption. Data larger than one frame is sent in pieces:
 * the module first asks the daemon for the whole output length, so that a
 * buffer too small is reported before any state changes.
 */
#include <string.h>

#include "p11.h"

static CK_RV crypt_init(uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return p11_init_op(OP_CRYPT_INIT, dir, s, m, key);
}

/* One request. out NULL asks for the length of n bytes' output. */
static CK_RV crypt_call(uint32_t op, uint8_t dir, CK_SESSION_HANDLE s, const CK_BYTE *in,
                        CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    wb_u8(c.w, dir);
    wb_u8(c.w, out != NULL);
    wb_u64(c.w, out ? *out_len : 0);
    if (op != OP_CRYPT_FINAL) {
        wb_u64(c.w, n);
        wb_bytes(c.w, in, out ? n : 0);
    }
    opkind_t kind = dir ? OPK_DECRYPT : OPK_ENCRYPT;
    rv = p11_send_op(&c, kind, s);
    rv = p11_get_output(&c, rv, out, out_len);
    p11_op_after(kind, s, rv, out != NULL && op != OP_CRYPT_UPDATE);
    p11_end(&c);
    return rv;
}

/* A single-part (OP_CRYPT) or update call of any length. */
static CK_RV crypt_data(uint32_t op, uint8_t dir, CK_SESSION_HANDLE s, const CK_BYTE *in,
                        CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    if (!out_len || (!in && n))
        return CKR_ARGUMENTS_BAD;
    if (!out || n <= WIRE_CHUNK)
        return crypt_call(op, dir, s, in, n, out, out_len);
    CK_ULONG need = 0;
    CK_RV rv = crypt_call(op, dir, s, in, n, NULL, &need);
    if (rv)
        return rv;
    if (*out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    CK_ULONG done = 0, room = *out_len;
    while (n) {
        CK_ULONG chunk = n > WIRE_CHUNK ? WIRE_CHUNK : n, got = room - done;
        if ((rv = crypt_call(OP_CRYPT_UPDATE, dir, s, in, chunk, out + done, &got)))
            return rv;
        done += got;
        in += chunk;
        n -= chunk;
    }
    if (op == OP_CRYPT) {
        CK_ULONG got = room - done;
        if ((rv = crypt_call(OP_CRYPT_FINAL, dir, s, NULL, 0, out + done, &got)))
            return rv;
        done += got;
    }
    *out_len = done;
    return CKR_OK;
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return crypt_init(0, hSession, pMechanism, hKey);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
    return crypt_data(OP_CRYPT, 0, hSession, pData, ulDataLen, pEncryptedData,
                      pulEncryptedDataLen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    return crypt_data(OP_CRYPT_UPDATE, 0, hSession, pPart, ulPartLen, pEncryptedPart,
                      pulEncryptedPartLen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                     CK_ULONG_PTR pulLastEncryptedPartLen)
{
    if (!pulLastEncryptedPartLen)
        return CKR_ARGUMENTS_BAD;
    return crypt_call(OP_CRYPT_FINAL, 0, hSession, NULL, 0, pLastEncryptedPart,
                      pulLastEncryptedPartLen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return crypt_init(1, hSession, pMechanism, hKey);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    return crypt_data(OP_CRYPT, 1, hSession, pEncryptedData, ulEncryptedDataLen, pData,
                      pulDataLen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    return crypt_data(OP_CRYPT_UPDATE, 1, hSession, pEncryptedPart, ulEncryptedPartLen, pPart,
                      pulPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
    if (!pulLastPartLen)
        return CKR_ARGUMENTS_BAD;
    return crypt_call(OP_CRYPT_FINAL, 1, hSession, NULL, 0, pLastPart, pulLastPartLen);
}
