/* The benchmark FM's messages (big-endian u32 command, then data). */
#ifndef BENCHFM_H
#define BENCHFM_H

#define BENCHFM_NAME "benchfm"
#define BENCHFM_NUMBER 0x0310

enum benchfm_cmd {
    BENCHFM_ECHO = 1,     /* reply: the data */
    BENCHFM_CK_SETUP = 2, /* u32 slot: C_Initialize and C_OpenSession under one AppId */
    BENCHFM_CK_LOOP = 3,  /* u32 n: n x C_GenerateRandom(32) -> u32 CK_RV, u32 ns per call */
};

#endif
