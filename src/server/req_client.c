/*
 * Administration of the network link: the clients the HSM SO registers,
 * the partitions assigned to them, and the HSM's certificate. Like every
 * administration request these reach the HSM only through its local
 * socket; each change carries the SO PIN and goes to the audit log.
 */
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "requests.h"

static void (*client_hook)(const char *name);

void dispatch_set_client_hook(void (*fn)(const char *name))
{
    client_hook = fn;
}

static void changed(const char *name)
{
    if (client_hook)
        client_hook(name);
}

/* The SO PIN and the client's name that every change starts with. */
static bool get_pin_name(req_t *q, const uint8_t **pin, size_t *pin_len, char *name, size_t cap)
{
    *pin = rb_bytes(q->r, pin_len);
    return get_str(q, name, cap);
}

static CK_RV op_register(req_t *q)
{
    const uint8_t *pin;
    size_t pin_len, der_len;
    char name[HSM_NAME_MAX + 2];
    bool named = get_pin_name(q, &pin, &pin_len, name, sizeof name);
    const uint8_t *der = rb_bytes(q->r, &der_len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (!named)
        return SFM_R_BAD_NAME;
    uint8_t fp[NET_FP_LEN];
    CK_RV rv = hsm_client_register(q->h, pin, pin_len, name, der, der_len, fp);
    if (rv == CKR_OK) {
        char text[NET_FP_TEXT];
        net_fp_text(fp, text);
        hsm_audit(q->h, q->app, "client register %s (certificate SHA-256 %s)", name, text);
    }
    return rv;
}

static CK_RV op_delete(req_t *q)
{
    const uint8_t *pin;
    size_t pin_len;
    char name[HSM_NAME_MAX + 2];
    bool named = get_pin_name(q, &pin, &pin_len, name, sizeof name);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (!named)
        return SFM_R_NOT_FOUND;
    CK_RV rv = hsm_client_delete(q->h, pin, pin_len, name);
    if (rv == CKR_OK) {
        hsm_audit(q->h, q->app, "client delete %s", name);
        changed(name);
    }
    return rv;
}

static CK_RV op_revoke(req_t *q)
{
    const uint8_t *pin;
    size_t pin_len;
    char name[HSM_NAME_MAX + 2];
    bool named = get_pin_name(q, &pin, &pin_len, name, sizeof name);
    uint8_t revoked = rb_u8(q->r);
    if (!rb_done(q->r) || revoked > 1)
        return CKR_ARGUMENTS_BAD;
    if (!named)
        return SFM_R_NOT_FOUND;
    CK_RV rv = hsm_client_revoke(q->h, pin, pin_len, name, revoked);
    if (rv == CKR_OK) {
        hsm_audit(q->h, q->app, "client %s %s", revoked ? "revoke" : "reinstate", name);
        changed(name);
    }
    return rv;
}

static CK_RV op_assign(req_t *q)
{
    const uint8_t *pin;
    size_t pin_len;
    char name[HSM_NAME_MAX + 2], part[HSM_NAME_MAX + 2];
    bool named = get_pin_name(q, &pin, &pin_len, name, sizeof name);
    bool parted = get_str(q, part, sizeof part);
    uint8_t assigned = rb_u8(q->r);
    if (!rb_done(q->r) || assigned > 1)
        return CKR_ARGUMENTS_BAD;
    if (!named || !parted)
        return SFM_R_NOT_FOUND;
    CK_RV rv = hsm_client_assign(q->h, pin, pin_len, name, part, assigned);
    if (rv == CKR_OK) {
        hsm_audit(q->h, q->app, "client %s %s partition %s", assigned ? "assign" : "unassign",
                  name, part);
        changed(name);
    }
    return rv;
}

/* Per client: string name, 32 bytes certificate SHA-256, u8 revoked, u8
   certificate current, u64 registered (epoch seconds), string common name,
   string not-after date, u32 count, u64 slot of each assigned partition. */
static CK_RV op_list(req_t *q)
{
    hsm_client_info_t *v = NULL;
    size_t n = 0;
    CK_RV rv = hsm_client_list(q->h, &v, &n);
    if (rv)
        return rv;
    wb_u32(q->w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put_str(q->w, v[i].name);
        wb_raw(q->w, v[i].fp, sizeof v[i].fp);
        wb_u8(q->w, v[i].revoked);
        wb_u8(q->w, v[i].current);
        wb_u64(q->w, v[i].created);
        put_str(q->w, v[i].common_name);
        put_str(q->w, v[i].not_after);
        wb_u32(q->w, (uint32_t)v[i].nslots);
        for (size_t k = 0; k < v[i].nslots; k++)
            wb_u64(q->w, v[i].slots[k]);
    }
    free(v);
    return CKR_OK;
}

static CK_RV op_server_cert(req_t *q)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    uint8_t *der = NULL;
    size_t len = 0;
    int rc = hsm_tls_identity(q->h, &key, &cert);
    EVP_PKEY_free(key); /* only the certificate leaves */
    if (rc < 0 || (rc == 0 && net_cert_to_der(cert, &der, &len))) {
        X509_free(cert);
        return CKR_DEVICE_ERROR;
    }
    wb_bytes(q->w, der, len);
    OPENSSL_free(der);
    X509_free(cert);
    return CKR_OK;
}

const op_entry_t ops_client[] = {
    { OP_ADMIN_CLIENT_REGISTER, op_register }, { OP_ADMIN_CLIENT_DELETE, op_delete },
    { OP_ADMIN_CLIENT_REVOKE, op_revoke },     { OP_ADMIN_CLIENT_ASSIGN, op_assign },
    { OP_ADMIN_CLIENT_LIST, op_list },         { OP_ADMIN_SERVER_CERT, op_server_cert },
};

const size_t ops_client_count = sizeof ops_client / sizeof ops_client[0];
