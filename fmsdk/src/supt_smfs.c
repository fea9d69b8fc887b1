/*
 * libfmsupt: the SMFS functions. Each encodes its arguments as the fmhost's
 * link carries them (big-endian integers, strings as a length and bytes)
 * and calls the fmhost, which asks the HSM.
 */
#include "../include/fmsmfs.h"
#include "fm_calls.h"

extern const fm_calls_t *softfm_fm_calls;
#define FMC softfm_fm_calls

/* The link's operation numbers (src/common/fmlink.h). */
enum {
    OP_CREATE_DIR = 1, OP_CREATE_FILE, OP_DELETE, OP_OPEN, OP_CLOSE, OP_READ, OP_WRITE,
    OP_ATTR, OP_OPEN_ATTR, OP_RENAME, OP_CALC_FREE, OP_FIND_INIT, OP_FIND, OP_FIND_CLOSE,
};

#define ARG_MAX 512

typedef struct args {
    uint8_t b[ARG_MAX];
    uint32_t n;
    int bad;
} args_t;

static void put32(args_t *a, uint32_t v)
{
    if (a->n + 4 > ARG_MAX) {
        a->bad = 1;
        return;
    }
    a->b[a->n++] = (uint8_t)(v >> 24);
    a->b[a->n++] = (uint8_t)(v >> 16);
    a->b[a->n++] = (uint8_t)(v >> 8);
    a->b[a->n++] = (uint8_t)v;
}

static void put_str(args_t *a, const char *s)
{
    if (!s) {
        a->bad = 1;
        return;
    }
    size_t n = FMC->strnlen(s, 256);
    if (n == 256) {
        a->bad = 1;
        return;
    }
    put32(a, (uint32_t)n);
    if (a->bad || a->n + n > ARG_MAX) {
        a->bad = 1;
        return;
    }
    FMC->memcpy(a->b + a->n, s, n);
    a->n += (uint32_t)n;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int call(uint32_t op, const args_t *a, uint8_t *out, uint32_t *out_len)
{
    uint32_t none = 0;
    if (a->bad)
        return SMFS_ERR_PARAMETER;
    return FMC->smfs(op, a->b, a->n, out, out_len ? out_len : &none);
}

static int create(uint32_t op, const char *name, unsigned int n)
{
    args_t a = { .n = 0 };
    put_str(&a, name);
    put32(&a, n);
    return call(op, &a, 0, 0);
}

int SmFsCreateDir(const char *name, unsigned int entries)
{
    return create(OP_CREATE_DIR, name, entries);
}

int SmFsCreateFile(const char *name, unsigned int len)
{
    return create(OP_CREATE_FILE, name, len);
}

int SmFsCreateFileClr(const char *name, unsigned int len)
{
    return create(OP_CREATE_FILE, name, len);
}

int SmFsDeleteFile(const char *name)
{
    args_t a = { .n = 0 };
    put_str(&a, name);
    return call(OP_DELETE, &a, 0, 0);
}

int SmFsOpenFile(SMFS_HANDLE *fh, const char *name)
{
    args_t a = { .n = 0 };
    uint8_t out[4];
    uint32_t n = sizeof out;
    if (!fh)
        return SMFS_ERR_PARAMETER;
    put_str(&a, name);
    int rc = call(OP_OPEN, &a, out, &n);
    if (rc == SMFS_OK && n == 4)
        *fh = (SMFS_HANDLE)get32(out);
    return rc;
}

int SmFsCloseFile(SMFS_HANDLE fh)
{
    args_t a = { .n = 0 };
    put32(&a, (uint32_t)fh);
    return call(OP_CLOSE, &a, 0, 0);
}

int SmFsReadFile(SMFS_HANDLE fh, unsigned int offset, char *buf, unsigned int count)
{
    if (!buf && count)
        return SMFS_ERR_PARAMETER;
    args_t a = { .n = 0 };
    put32(&a, (uint32_t)fh);
    put32(&a, offset);
    put32(&a, count);
    uint32_t n = count + 4;
    uint8_t *out = FMC->malloc(n);
    if (!out)
        return SMFS_ERR_MEMORY;
    int rc = call(OP_READ, &a, out, &n);
    if (rc == SMFS_OK && (n != count + 4 || get32(out) != count))
        rc = SMFS_ERR_ERROR;
    if (rc == SMFS_OK && count)
        FMC->memcpy(buf, out + 4, count);
    FMC->memset(out, 0, count + 4);
    FMC->free(out);
    return rc;
}

int SmFsWriteFile(SMFS_HANDLE fh, unsigned int offset, char *buf, unsigned int count)
{
    if ((!buf && count) || count > 0x7FFFFFF0u)
        return SMFS_ERR_PARAMETER;
    uint32_t len = 12 + count;
    uint8_t *b = FMC->malloc(len);
    if (!b)
        return SMFS_ERR_MEMORY;
    args_t a = { .n = 0 };
    put32(&a, (uint32_t)fh);
    put32(&a, offset);
    put32(&a, count);
    FMC->memcpy(b, a.b, 12);
    if (count)
        FMC->memcpy(b + 12, buf, count);
    uint32_t none = 0;
    int rc = FMC->smfs(OP_WRITE, b, len, 0, &none);
    FMC->memset(b, 0, len);
    FMC->free(b);
    return rc;
}

static int attr_result(int rc, const uint8_t *out, uint32_t n, SmFsAttr *attr)
{
    if (rc == SMFS_OK && n == 8) {
        attr->Size = get32(out);
        attr->isDir = get32(out + 4);
    } else if (rc == SMFS_OK) {
        rc = SMFS_ERR_ERROR;
    }
    return rc;
}

int SmFsGetFileAttr(const char *name, SmFsAttr *attr)
{
    if (!attr)
        return SMFS_ERR_PARAMETER;
    args_t a = { .n = 0 };
    uint8_t out[8];
    uint32_t n = sizeof out;
    put_str(&a, name);
    return attr_result(call(OP_ATTR, &a, out, &n), out, n, attr);
}

int SmFsGetOpenFileAttr(SMFS_HANDLE fh, SmFsAttr *attr)
{
    if (!attr)
        return SMFS_ERR_PARAMETER;
    args_t a = { .n = 0 };
    uint8_t out[8];
    uint32_t n = sizeof out;
    put32(&a, (uint32_t)fh);
    return attr_result(call(OP_OPEN_ATTR, &a, out, &n), out, n, attr);
}

int SmFsRenameFile(const char *oldName, const char *newName)
{
    args_t a = { .n = 0 };
    put_str(&a, oldName);
    put_str(&a, newName);
    return call(OP_RENAME, &a, 0, 0);
}

unsigned int SmFsCalcFree(void)
{
    args_t a = { .n = 0 };
    uint8_t out[4];
    uint32_t n = sizeof out;
    return call(OP_CALC_FREE, &a, out, &n) == SMFS_OK && n == 4 ? get32(out) : 0;
}

int SmFsFindFileInit(int *sh, const char *path, const char *pattern)
{
    if (!sh)
        return SMFS_ERR_PARAMETER;
    args_t a = { .n = 0 };
    uint8_t out[4];
    uint32_t n = sizeof out;
    put_str(&a, path);
    put_str(&a, pattern);
    int rc = call(OP_FIND_INIT, &a, out, &n);
    if (rc == SMFS_OK && n == 4)
        *sh = (int)get32(out);
    return rc;
}

int SmFsFindFile(int sh, char *name, unsigned int size)
{
    if (!name || !size)
        return SMFS_ERR_PARAMETER;
    args_t a = { .n = 0 };
    uint8_t out[4 + 64];
    uint32_t n = sizeof out;
    put32(&a, (uint32_t)sh);
    put32(&a, size);
    int rc = call(OP_FIND, &a, out, &n);
    if (rc != SMFS_OK)
        return rc;
    uint32_t len = n >= 4 ? get32(out) : 0xFFFFFFFFu;
    if (len > n - 4 || len + 1 > size)
        return SMFS_ERR_ERROR;
    FMC->memcpy(name, out + 4, len);
    name[len] = '\0';
    return SMFS_OK;
}

int SmFsFindFileClose(int sh)
{
    args_t a = { .n = 0 };
    put32(&a, (uint32_t)sh);
    return call(OP_FIND_CLOSE, &a, 0, 0);
}
