/*
 * FM requests: host messages to FMs (the MD API) and the HSM SO's FM
 * administration (load, status, delete, trace).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmlink.h"
#include "requests.h"

static fm_registry_t *fms;

void dispatch_set_fms(fm_registry_t *r)
{
    fms = r;
}

bool fms_patch_call(uint16_t fm, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply)
{
    if (!fms)
        return false;
    fm_patch_call(fms, fm, (uint32_t)app, req, len, reply);
    return true;
}

void fms_ud_note(CK_RV rv, app_id_t app, uint16_t caller_fm, const uint8_t *req, size_t len)
{
    if (!fms || rv != CKR_OK || len < 4)
        return;
    uint32_t op = be32_get(req);
    uint64_t arg = len >= 12 ? be64_get(req + 4) : 0;
    switch (op) {
    case OP_CLOSE_SESSION:
        fm_ud_note(fms, FMH_UD_SESSION_CLOSED, (uint32_t)app, 0, arg);
        break;
    case OP_CLOSE_ALL_SESSIONS:
        fm_ud_note(fms, FMH_UD_SLOT_CLOSED, (uint32_t)app, arg, 0);
        break;
    case OP_INIT_TOKEN:
        fm_ud_note(fms, FMH_UD_TOKEN_RESET, (uint32_t)app, arg, 0);
        break;
    case OP_FINALIZE:
        if (!caller_fm) /* an application's own C_Finalize */
            fm_ud_note(fms, FMH_UD_APP_GONE, (uint32_t)app, 0, 0);
        break;
    default:
        break;
    }
}

void fms_zeroized(void)
{
    if (fms)
        fm_registry_zeroize(fms);
}

void fms_policy_changed(const char *name, unsigned long value)
{
    /* Switching auto-activation on, the SO also activates it now. */
    if (fms && value && !strcmp(name, "smfs-auto-activate"))
        fm_registry_activate_smfs(fms);
}

static int admin_signer(void *ctx, const uint8_t sha256[32], uint8_t **der, size_t *len)
{
    return hsm_admin_cert((hsm_t *)ctx, sha256, der, len);
}

void fms_trust(hsm_t *h, fm_trust_t *t)
{
    unsigned long allow = 1, unsig = 0, release = 0;
    (void)hsm_policy_get(h, "allow-fms", &allow);
    (void)hsm_policy_get(h, "allow-unsigned-fms", &unsig);
    (void)hsm_policy_get(h, "fm-release-only", &release);
    *t = (fm_trust_t){ allow != 0, unsig != 0, release != 0, admin_signer, h };
}

static CK_RV no_fms(void)
{
    return SFM_R_FM_NOT_AVAILABLE;
}

static CK_RV op_md_send(req_t *q)
{
    uint32_t number = rb_u32(q->r), oid = rb_u32(q->r), timeout = rb_u32(q->r);
    uint32_t cap = rb_u32(q->r);
    size_t len;
    const uint8_t *req = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (number > 0xFFFF || len > FM_MAX_MESSAGE || cap > FM_MAX_MESSAGE)
        return CKR_ARGUMENTS_BAD;
    if (!fms)
        return no_fms();
    uint32_t status = 0;
    uint8_t *reply;
    size_t n;
    enum fm_result r = fm_call(fms, (uint16_t)number, (uint32_t)q->app, oid, req, len, cap,
                               timeout, &status, &reply, &n);
    switch (r) {
    case FMR_OK:
        break;
    case FMR_FAILED:
        return SFM_R_FM_FAILED;
    case FMR_RESOURCES:
        return CKR_HOST_MEMORY;
    default:
        return SFM_R_FM_NOT_AVAILABLE;
    }
    wb_u32(q->w, status);
    wb_bytes(q->w, reply, n);
    secure_zero(reply, n);
    free(reply);
    return CKR_OK;
}

/* FMSC_SendReceive: a message to an FM on behalf of the application that
   owns the session (the session must be the caller's). */
static CK_RV op_fmsc_send(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    uint32_t number = rb_u32(q->r), cap = rb_u32(q->r);
    size_t len;
    const uint8_t *req = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (number > 0xFFFF || len > FM_MAX_MESSAGE || cap > FM_MAX_MESSAGE)
        return CKR_ARGUMENTS_BAD;
    CK_SESSION_INFO info;
    CK_RV rv = hsm_get_session_info(q->h, q->app, s, &info);
    if (rv)
        return rv;
    if (!fms)
        return CKR_FUNCTION_FAILED;
    uint32_t status = 0;
    uint8_t *reply;
    size_t n;
    enum fm_result r = fm_call(fms, (uint16_t)number, (uint32_t)q->app, 0, req, len, cap, 0,
                               &status, &reply, &n);
    if (r == FMR_FAILED)
        return CKR_DEVICE_ERROR;
    if (r == FMR_RESOURCES)
        return CKR_DEVICE_MEMORY;
    if (r)
        return CKR_FUNCTION_FAILED; /* no such FM, or it is not running */
    wb_u32(q->w, status);
    wb_bytes(q->w, reply, n);
    secure_zero(reply, n);
    free(reply);
    return CKR_OK;
}

static CK_RV op_md_fm_id(req_t *q)
{
    size_t len;
    const uint8_t *name = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    uint16_t number;
    if (!fms || len > FM_NAME_MAX || fm_number_of(fms, (const char *)name, len, &number))
        return SFM_R_NOT_FOUND;
    wb_u32(q->w, number);
    return CKR_OK;
}

static void put_status(hsm_t *h, wbuf_t *w, const fm_status_t *s)
{
    put_str(w, s->info.name);
    wb_u32(w, s->number);
    wb_u8(w, s->info.version_major);
    wb_u8(w, s->info.version_minor);
    put_str(w, s->info.manufacturer);
    wb_u64(w, s->info.serial);
    wb_u64(w, s->info.build_time);
    wb_raw(w, s->info.fingerprint, sizeof s->info.fingerprint);
    wb_u32(w, s->state);
    wb_u32(w, s->startup_status);
    wb_u32(w, s->restarts);
    wb_u8(w, s->unsigned_image);
    put_str(w, s->why);
    wb_u8(w, s->origin.build);
    wb_raw(w, s->origin.signer, sizeof s->origin.signer);
    char label[128] = "";
    if (s->origin.build != FM_BUILD_UNSIGNED)
        (void)hsm_admin_cert_label(h, s->origin.signer, label, sizeof label);
    put_str(w, label);
    wb_u32(w, s->origin.image_len);
    wb_u32(w, s->elf_len);
}

/* Load flags: the image is unsigned (development); the signer the SO names
   follows, as the SHA-256 of its certificate or the label of the Admin
   Token's certificate. */
enum { LOAD_DEV = 1, LOAD_SIGNER_SHA = 2, LOAD_SIGNER_LABEL = 4 };

/* The image is signed by the certificate the SO named: 0, or -1 with why. */
static int named_signer(hsm_t *h, uint8_t flags, const uint8_t *spec, size_t spec_len,
                        const uint8_t *img, size_t len, char *why, size_t cap)
{
    uint8_t want[32];
    if (flags & LOAD_SIGNER_LABEL) {
        if (hsm_admin_cert_by_label(h, (const char *)spec, spec_len, want)) {
            snprintf(why, cap, "the Admin Token has no certificate labelled %.*s",
                     (int)(spec_len > 64 ? 64 : spec_len), (const char *)spec);
            return -1;
        }
    } else {
        memcpy(want, spec, sizeof want);
    }
    fm_origin_t o;
    const uint8_t *elf;
    size_t elf_len;
    if (fm_origin(img, len, false, &o, &elf, &elf_len))
        return 0; /* not a signed image: the load says why */
    if (memcmp(o.signer, want, sizeof want)) {
        snprintf(why, cap, "the image is signed by another certificate than the one named");
        return -1;
    }
    return 0;
}

static CK_RV op_fm_load(req_t *q)
{
    size_t plen, len, spec_len = 0;
    const uint8_t *pin = rb_bytes(q->r, &plen);
    uint8_t flags = rb_u8(q->r);
    const uint8_t *img = rb_bytes(q->r, &len);
    const uint8_t *spec = NULL;
    if (flags & LOAD_SIGNER_SHA)
        spec = rb_raw(q->r, spec_len = 32);
    else if (flags & LOAD_SIGNER_LABEL)
        spec = rb_bytes(q->r, &spec_len);
    if (!rb_done(q->r) || flags > 7 || (flags & LOAD_DEV && flags != LOAD_DEV) ||
        (flags & LOAD_SIGNER_SHA && flags & LOAD_SIGNER_LABEL) || (flags > 1 && !spec))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_admin_check(q->h, pin, (CK_ULONG)plen);
    if (rv)
        return rv;
    if (!fms)
        return no_fms();
    fm_trust_t trust;
    fms_trust(q->h, &trust);
    fm_status_t st;
    char why[200] = "";
    enum fm_result r;
    if (spec && named_signer(q->h, flags, spec, spec_len, img, len, why, sizeof why))
        r = FMR_BAD_IMAGE;
    else
        r = fm_load(fms, img, len, flags & LOAD_DEV, &trust, &st, why, sizeof why);
    if (r == FMR_BAD_IMAGE || r == FMR_EXISTS || r == FMR_POLICY) {
        put_str(q->w, why);
        log_warn("FM image refused: %s", why);
        hsm_audit(q->h, q->app, "fm load refused: %s", why);
        return r == FMR_EXISTS ? SFM_R_EXISTS : r == FMR_POLICY ? SFM_R_POLICY : SFM_R_BAD_IMAGE;
    }
    if (r)
        return CKR_DEVICE_MEMORY;
    log_info("FM %s (0x%04x) loaded, %s", st.info.name, st.number,
             flags & LOAD_DEV ? "unsigned" : "signed");
    hsm_audit(q->h, q->app, "fm load %s 0x%04x %s", st.info.name, st.number,
              flags & LOAD_DEV                         ? "unsigned"
              : st.origin.build == FM_BUILD_RELEASE ? "release"
                                                     : "debug");
    put_status(q->h, q->w, &st);
    return CKR_OK;
}

static CK_RV op_fm_status(req_t *q)
{
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    fm_status_t *v = NULL;
    size_t n = 0;
    if (fms && fm_list(fms, &v, &n))
        return CKR_HOST_MEMORY;
    wb_u32(q->w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        put_status(q->h, q->w, &v[i]);
    free(v);
    return CKR_OK;
}

static CK_RV op_fm_delete(req_t *q)
{
    size_t plen;
    char key[64];
    const uint8_t *pin = rb_bytes(q->r, &plen);
    if (!get_str(q, key, sizeof key) || !rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_admin_check(q->h, pin, (CK_ULONG)plen);
    if (rv)
        return rv;
    if (!fms)
        return SFM_R_NOT_FOUND;
    enum fm_result r = fm_delete(fms, key);
    if (r == FMR_NOT_FOUND)
        return SFM_R_NOT_FOUND;
    if (r)
        return CKR_DEVICE_ERROR;
    log_info("FM %s deleted", key);
    hsm_audit(q->h, q->app, "fm delete %s", key);
    return CKR_OK;
}

/* A piece of an FM's trace from an offset; the shell polls with it. */
static CK_RV op_fm_trace(req_t *q)
{
    char name[FM_NAME_MAX + 1], path[4300];
    if (!get_str(q, name, sizeof name))
        return CKR_ARGUMENTS_BAD;
    uint64_t off = rb_u64(q->r);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (!fms || fm_trace_path(fms, name, path, sizeof path))
        return SFM_R_NOT_FOUND;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t buf[65536];
    ssize_t n = 0;
    if (fd >= 0) {
        n = pread(fd, buf, sizeof buf, (off_t)off);
        close(fd);
    }
    if (n < 0)
        n = 0;
    wb_u64(q->w, off + (uint64_t)n);
    wb_bytes(q->w, buf, (size_t)n);
    return CKR_OK;
}

/* The SMFS: activation, backup and restore (HSM SO), and its state. */
static CK_RV op_smfs(req_t *q, uint32_t op)
{
    size_t plen, blen = 0;
    const uint8_t *pin = rb_bytes(q->r, &plen), *blob = NULL;
    if (op == OP_ADMIN_SMFS_RESTORE)
        blob = rb_bytes(q->r, &blen);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_admin_check(q->h, pin, (CK_ULONG)plen);
    if (rv)
        return rv;
    if (!fms)
        return no_fms();
    if (op == OP_ADMIN_SMFS_ACTIVATE) {
        fm_registry_activate_smfs(fms);
        hsm_audit(q->h, q->app, "smfs activate");
        return CKR_OK;
    }
    if (op == OP_ADMIN_SMFS_BACKUP) {
        uint8_t *out;
        size_t n;
        if (store_smfs_export(hsm_store(q->h), &out, &n))
            return CKR_DEVICE_ERROR;
        wb_bytes(q->w, out, n);
        free(out);
        log_info("SMFS backed up (%zu bytes)", n);
        hsm_audit(q->h, q->app, "smfs backup (%zu bytes)", n);
        return q->w->err ? CKR_DEVICE_MEMORY : CKR_OK;
    }
    int r = store_smfs_import(hsm_store(q->h), blob, blen);
    if (r > 0) {
        put_str(q->w, "not an SMFS backup of this HSM (or damaged)");
        return SFM_R_BAD_IMAGE;
    }
    if (r)
        return CKR_DEVICE_ERROR;
    log_info("SMFS restored; FMs start again");
    hsm_audit(q->h, q->app, "smfs restore (%zu bytes)", blen);
    fm_registry_restart_all(fms);
    return CKR_OK;
}

static CK_RV op_smfs_activate(req_t *q)
{
    return op_smfs(q, OP_ADMIN_SMFS_ACTIVATE);
}

static CK_RV op_smfs_backup(req_t *q)
{
    return op_smfs(q, OP_ADMIN_SMFS_BACKUP);
}

static CK_RV op_smfs_restore(req_t *q)
{
    return op_smfs(q, OP_ADMIN_SMFS_RESTORE);
}

static CK_RV op_smfs_status(req_t *q)
{
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    uint64_t cap = 0, used = 0;
    if (fms && fm_registry_smfs_usage(fms, &cap, &used))
        return CKR_DEVICE_ERROR;
    wb_u8(q->w, fms && fm_registry_smfs_active(fms));
    wb_u64(q->w, cap);
    wb_u64(q->w, used);
    return CKR_OK;
}

const op_entry_t ops_fm[] = {
    { OP_MD_SEND, op_md_send },
    { OP_MD_FM_ID, op_md_fm_id },
    { OP_FMSC_SEND, op_fmsc_send },
    { OP_ADMIN_FM_LOAD, op_fm_load },
    { OP_ADMIN_FM_STATUS, op_fm_status },
    { OP_ADMIN_FM_DELETE, op_fm_delete },
    { OP_ADMIN_FM_TRACE, op_fm_trace },
    { OP_ADMIN_SMFS_ACTIVATE, op_smfs_activate },
    { OP_ADMIN_SMFS_BACKUP, op_smfs_backup },
    { OP_ADMIN_SMFS_RESTORE, op_smfs_restore },
    { OP_ADMIN_SMFS_STATUS, op_smfs_status },
};
const size_t ops_fm_count = sizeof ops_fm / sizeof ops_fm[0];
