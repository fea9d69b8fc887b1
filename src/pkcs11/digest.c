/*
 * Digests and random numbers. Data larger than one frame is sent in pieces
 * (C_DigestUpdate), so applications may digest any length.
 */
#include <string.h>

#include "p11.h"

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    return p11_start(OPK_DIGEST, OP_DIGEST_INIT, hSession, 0, pMechanism, false, 0);
}

/* One digest request: OP_DIGEST with data, or OP_DIGEST_FINAL. */
static CK_RV digest_call(uint32_t op, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
                         CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    wb_u8(c.w, out != NULL);
    wb_u64(c.w, out ? *out_len : 0);
    if (op == OP_DIGEST)
        wb_bytes(c.w, data, len);
    rv = p11_send_op(&c, OPK_DIGEST, s);
    rv = p11_get_output(&c, rv, out, out_len);
    p11_op_after(OPK_DIGEST, s, rv, out != NULL);
    p11_end(&c);
    return rv;
}

static CK_RV update_call(CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_DIGEST_UPDATE);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    wb_bytes(c.w, data, len);
    rv = p11_send_op(&c, OPK_DIGEST, s);
    p11_op_after(OPK_DIGEST, s, rv, false);
    p11_end(&c);
    return rv;
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    if (!pPart && ulPartLen)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = CKR_OK;
    do {
        CK_ULONG n = ulPartLen > WIRE_CHUNK ? WIRE_CHUNK : ulPartLen;
        rv = update_call(hSession, pPart, n);
        pPart += n;
        ulPartLen -= n;
    } while (rv == CKR_OK && ulPartLen);
    return rv;
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    if (!pulDigestLen || (!pData && ulDataLen))
        return CKR_ARGUMENTS_BAD;
    if (!pDigest)  /* a length query needs no data */
        return digest_call(OP_DIGEST, hSession, NULL, 0, NULL, pulDigestLen);
    if (ulDataLen <= WIRE_CHUNK)
        return digest_call(OP_DIGEST, hSession, pData, ulDataLen, pDigest, pulDigestLen);
    /* Too large for one frame: check the buffer first, so that a
       CKR_BUFFER_TOO_SMALL leaves the operation as it was. */
    CK_ULONG need = 0;
    CK_RV rv = digest_call(OP_DIGEST, hSession, NULL, 0, NULL, &need);
    if (rv)
        return rv;
    if (*pulDigestLen < need) {
        *pulDigestLen = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    if ((rv = C_DigestUpdate(hSession, pData, ulDataLen)))
        return rv;
    return digest_call(OP_DIGEST_FINAL, hSession, NULL, 0, pDigest, pulDigestLen);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    if (!pulDigestLen)
        return CKR_ARGUMENTS_BAD;
    return digest_call(OP_DIGEST_FINAL, hSession, NULL, 0, pDigest, pulDigestLen);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_SEED_RANDOM);
    if (rv)
        return rv;
    if ((!pSeed && ulSeedLen) || ulSeedLen > WIRE_CHUNK) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        wb_bytes(c.w, pSeed, ulSeedLen);
        rv = p11_send(&c);
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
    if (!pRandomData && ulRandomLen)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv;
    do {
        CK_ULONG n = ulRandomLen > WIRE_CHUNK ? WIRE_CHUNK : ulRandomLen;
        call_t c;
        if ((rv = p11_begin(&c, OP_GENERATE_RANDOM)))
            return rv;
        wb_u64(c.w, hSession);
        wb_u64(c.w, n);
        if ((rv = p11_send(&c)) == CKR_OK) {
            size_t got;
            const uint8_t *p = rb_bytes(&c.r, &got);
            if (!p || got != n)
                rv = CKR_DEVICE_ERROR;
            else if (n)
                memcpy(pRandomData, p, n);
        }
        p11_end(&c);
        pRandomData += n;
        ulRandomLen -= n;
    } while (rv == CKR_OK && ulRandomLen);
    return rv;
}
