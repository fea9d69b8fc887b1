/*
 * The login sample's messages: a big-endian u32 command and its data. The
 * FM keeps the AppIds of host processes that logged in to it (the seed's
 * login pattern) and forgets one when its process ends.
 */
#ifndef LOGIN_SAMPLE_H
#define LOGIN_SAMPLE_H

#define LOGIN_FM_NAME "login"
#define LOGIN_FM_NUMBER 0x0303

enum login_cmd {
    LOGIN_LOGIN = 1,    /* data: the password -> status FM_OK or FM_ARGUMENTS_BAD */
    LOGIN_SECRET = 2,   /* -> the secret, for a logged-in process; else status
                           FM_ERR_INVALID_REQUEST */
    LOGIN_LOGOUT = 3,
    LOGIN_COUNT = 4,    /* -> u32 processes logged in */
};

#define LOGIN_PASSWORD "open sesame"
#define LOGIN_THE_SECRET "the answer is 42"

#endif
