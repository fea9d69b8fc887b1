/*
 * The common part: byte order and the wire codec, the request protocol,
 * logging, secure zeroing and small containers. Other parts include this
 * header only.
 */
#ifndef SOFTFM_COMMON_H
#define SOFTFM_COMMON_H

#include "ckm_extra.h"
#include "ckr.h"
#include "hmap.h"
#include "log.h"
#include "proto.h"
#include "util.h"
#include "wire.h"

#endif
