/*
 * The crypto sample's messages. A request is a big-endian u32 command, a
 * u8 "shared" flag (act under FM_SetCurrentAppId((unsigned long)-1), the
 * seed's advice for sessions used across host processes) and arguments;
 * every reply starts with the big-endian CK_RV of the Cryptoki call that
 * decided it. Strings are a big-endian u32 length and the bytes.
 */
#ifndef CRYPTO_SAMPLE_H
#define CRYPTO_SAMPLE_H

#define CRYPTO_FM_NAME "crypto"
#define CRYPTO_FM_NUMBER 0x0301

enum crypto_cmd {
    CRYPTO_INIT = 1,         /* C_Initialize */
    CRYPTO_OPEN = 2,         /* u32 slot, string PIN -> u32 session (C_OpenSession, C_Login) */
    CRYPTO_SESSION = 3,      /* u32 session: C_GetSessionInfo */
    CRYPTO_CLOSE_ALL = 4,    /* u32 slot: C_CloseAllSessions */
    CRYPTO_HMAC = 5,         /* u32 session, string label, data -> the SHA-256 HMAC */
    CRYPTO_ENCRYPT = 6,      /* u32 session, string label, data -> AES-CBC-PAD, zero IV */
    CRYPTO_READ_VALUE = 7,   /* u8 override, u32 session, string label -> CKA_VALUE */
    CRYPTO_UNWRAP = 8,       /* u8 override, u32 session, string KEK label, wrapped key ->
                                the unwrapped key's value (AES key wrap) */
};

#endif
