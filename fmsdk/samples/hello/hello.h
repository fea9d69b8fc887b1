/*
 * The hello sample's messages, shared by the FM and its host program. A
 * request is a big-endian u32 command and its data.
 */
#ifndef HELLO_H
#define HELLO_H

#define HELLO_FM_NAME "hello"
#define HELLO_FM_NUMBER 0x0300

enum hello_cmd {
    HELLO_ECHO = 1,      /* reply: the data */
    HELLO_UPPER = 2,     /* reply: the data in capitals */
    HELLO_WHO = 3,       /* reply: u32 pid, u32 oid, u32 AppId (SVC_GetPid, SVC_GetOid,
                            FM_GetCurrentAppId) */
    HELLO_TWO_BLOCKS = 4,/* reply: two 32-byte blocks, 0x11... then 0x22... */
    HELLO_TRACE = 5,     /* writes the data to the trace; empty reply */
    HELLO_CRASH = 6,     /* dereferences NULL */
    HELLO_SPIN = 7,      /* never returns */
    HELLO_NO_REPLY = 8,  /* returns without replying */
    HELLO_CLOSED = 9,    /* reply: u32 count of host processes seen closing */
    HELLO_ESCAPE = 10,   /* tries to open a file with a raw system call */
    HELLO_HOG = 11,      /* allocates 1 MiB blocks until refused (at most 2 GiB);
                            reply: u32 MiB obtained */
};

#endif
