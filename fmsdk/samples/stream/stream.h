/*
 * The stream sample's message: a big-endian u32 count n, then n big-endian
 * u32 numbers. The reply: their sum as two big-endian u32 (high, low), then
 * the numbers in reverse order. Status FM_ERR_INVALID_LENGTH when the
 * request is shorter than it says.
 */
#ifndef STREAM_SAMPLE_H
#define STREAM_SAMPLE_H

#define STREAM_FM_NAME "stream"
#define STREAM_FM_NUMBER 0x0302

#endif
