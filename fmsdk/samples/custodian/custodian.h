/*
 * The key custodian sample's messages: a big-endian u32 command, then a
 * name (u32 length + bytes, at most CUSTODIAN_NAME_MAX) and data. Replies
 * carry the FM status; USE answers the HMAC-SHA256 of the data under the
 * named key, LIST the names, one a line.
 */
#ifndef CUSTODIAN_H
#define CUSTODIAN_H

#define CUSTODIAN_FM_NAME "custodian"
#define CUSTODIAN_FM_NUMBER 0x0305
#define CUSTODIAN_NAME_MAX 16
#define CUSTODIAN_KEYS 16

enum custodian_cmd {
    CUSTODIAN_GENERATE = 1, /* name: a new random 256-bit key */
    CUSTODIAN_USE = 2,      /* name, data -> HMAC-SHA256 */
    CUSTODIAN_DELETE = 3,   /* name */
    CUSTODIAN_LIST = 4,     /* -> names */
};

#endif
