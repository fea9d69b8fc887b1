/*
 * cmu: what its commands share (cmu.c: options and token objects; cert.c:
 * certificates).
 */
#ifndef SOFTFM_CMU_H
#define SOFTFM_CMU_H

#include "p11app.h"

typedef struct cmu_opts {
    /* the token and who logs in */
    long slot;
    const char *token, *password, *pin_file, *module;
    bool so;
    /* objects */
    long handle;
    const char *label, *id_hex;
    /* keys */
    const char *key_type, *curve;
    unsigned long modulus_bits, public_exponent;
    /* certificates */
    const char *subject, *cn, *o, *ou, *c, *st, *l, *email;
    const char *start_date, *end_date, *serial_hex, *cert_label;
    long days;
    const char *in_file, *out_file, *format;
    bool force;
} cmu_opts_t;

typedef struct cmu {
    p11app_t p;
    CK_SESSION_HANDLE s;
    const cmu_opts_t *o;
} cmu_t;

/* The one object of a class (CK_UNAVAILABLE_INFORMATION: any) that
   -handle or -label names: 0, or 1 with a message. */
int cmu_find_one(cmu_t *m, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out);

int cmu_selfsign(cmu_t *m);
int cmu_export(cmu_t *m);
int cmu_import(cmu_t *m);

#endif
