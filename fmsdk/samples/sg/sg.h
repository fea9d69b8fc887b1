/*
 * The sg sample's message: a big-endian u32 count n. The reply: n records,
 * record i being a big-endian u16 length i + 1 and that many bytes of the
 * letter 'a' + i. Records are of different lengths, so a host that gives
 * one reply buffer per record sees them run into each other (the seed's
 * "Scatter Gather" section); the host program shows both ways round it.
 */
#ifndef SG_SAMPLE_H
#define SG_SAMPLE_H

#define SG_FM_NAME "sg"
#define SG_FM_NUMBER 0x0304
#define SG_MAX_RECORDS 26

#endif
