/* The restrict sample: what its FM and host program share. */
#ifndef RESTRICT_H
#define RESTRICT_H

#define RESTRICT_FM_NAME "restrict"
#define RESTRICT_FM_NUMBER 0x0308

/* A request: u32 command, u32 slot (big-endian). The reply: u32 the slot
   refused now (0xFFFFFFFF: none). */
enum { RESTRICT_SET = 1, RESTRICT_CLEAR = 2, RESTRICT_SHOW = 3 };

#endif
