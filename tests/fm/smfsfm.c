/*
 * An FM that hands the SMFS to its host, for the tests: a request is a
 * big-endian u32 command and arguments (strings as u32 length + bytes);
 * the reply is the SMFS code (u32) and the results. Built twice, as "smfsa"
 * and "smfsb", to show that each FM has its own tree.
 */
#include <string.h>

#include <fm.h>
#include <fmsmfs.h>
#include <mkfmhdr.h>
#include "fm/common/fm_byteorder.h"

#ifdef SMFS_FM_B
DEFINE_FM_HEADER(0x0341, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "smfsb");
#else
DEFINE_FM_HEADER(0x0340, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "smfsa");
#endif

enum {
    T_MKDIR = 1,   /* path, u32 entries */
    T_MKFILE,      /* path, u32 size */
    T_DELETE,      /* path */
    T_OPEN,        /* path -> u32 handle */
    T_CLOSE,       /* u32 handle */
    T_READ,        /* u32 handle, u32 offset, u32 count -> bytes */
    T_WRITE,       /* u32 handle, u32 offset, rest: data */
    T_ATTR,        /* path -> u32 size, u32 isdir */
    T_OATTR,       /* u32 handle -> u32 size, u32 isdir */
    T_RENAME,      /* path, name */
    T_FREE,        /* -> u32 */
    T_LIST,        /* path, pattern -> names separated by '\n' */
    T_PUT,         /* path, rest: data: open, write at 0, close */
    T_GET,         /* path, u32 count: open, read, close -> bytes */
};

typedef struct rd {
    const uint8_t *p;
    uint32_t n;
    int bad;
} rd_t;

static uint32_t get32(rd_t *r)
{
    if (r->n < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    r->n -= 4;
    return fm_betoh32(v);
}

/* A string into buf (NUL-terminated). */
static char *get_str(rd_t *r, char *buf, uint32_t cap)
{
    uint32_t n = get32(r);
    if (r->bad || n >= cap || n > r->n) {
        r->bad = 1;
        buf[0] = '\0';
        return buf;
    }
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    r->p += n;
    r->n -= n;
    return buf;
}

static uint8_t out[70000];
static uint32_t out_n;

static void put32(uint32_t v)
{
    v = fm_htobe32(v);
    memcpy(out + out_n, &v, 4);
    out_n += 4;
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    rd_t r = { req, len, 0 };
    char path[256], other[256];
    uint32_t cmd = get32(&r);
    out_n = 4;
    int rc = SMFS_ERR_PARAMETER;
    switch (cmd) {
    case T_MKDIR:
    case T_MKFILE: {
        get_str(&r, path, sizeof path);
        uint32_t n = get32(&r);
        if (!r.bad)
            rc = cmd == T_MKDIR ? SmFsCreateDir(path, n) : SmFsCreateFile(path, n);
        break;
    }
    case T_DELETE:
        get_str(&r, path, sizeof path);
        if (!r.bad)
            rc = SmFsDeleteFile(path);
        break;
    case T_OPEN: {
        SMFS_HANDLE h = -1;
        get_str(&r, path, sizeof path);
        if (!r.bad && (rc = SmFsOpenFile(&h, path)) == SMFS_OK)
            put32((uint32_t)h);
        break;
    }
    case T_CLOSE:
        rc = SmFsCloseFile((SMFS_HANDLE)get32(&r));
        break;
    case T_READ: {
        SMFS_HANDLE h = (SMFS_HANDLE)get32(&r);
        uint32_t off = get32(&r), n = get32(&r);
        if (r.bad || n > sizeof out - 8)
            break;
        if ((rc = SmFsReadFile(h, off, (char *)out + 4, n)) == SMFS_OK)
            out_n += n;
        break;
    }
    case T_WRITE: {
        SMFS_HANDLE h = (SMFS_HANDLE)get32(&r);
        uint32_t off = get32(&r);
        if (!r.bad)
            rc = SmFsWriteFile(h, off, (char *)r.p, r.n);
        break;
    }
    case T_ATTR:
    case T_OATTR: {
        SmFsAttr a;
        if (cmd == T_ATTR) {
            get_str(&r, path, sizeof path);
            rc = r.bad ? SMFS_ERR_PARAMETER : SmFsGetFileAttr(path, &a);
        } else {
            rc = SmFsGetOpenFileAttr((SMFS_HANDLE)get32(&r), &a);
        }
        if (rc == SMFS_OK) {
            put32(a.Size);
            put32(a.isDir);
        }
        break;
    }
    case T_RENAME:
        get_str(&r, path, sizeof path);
        get_str(&r, other, sizeof other);
        if (!r.bad)
            rc = SmFsRenameFile(path, other);
        break;
    case T_FREE:
        rc = SMFS_OK;
        put32(SmFsCalcFree());
        break;
    case T_LIST: {
        int sh;
        get_str(&r, path, sizeof path);
        get_str(&r, other, sizeof other);
        if (r.bad || (rc = SmFsFindFileInit(&sh, path, other)) != SMFS_OK)
            break;
        char name[32];
        while ((rc = SmFsFindFile(sh, name, sizeof name)) == SMFS_OK) {
            size_t l = strlen(name);
            memcpy(out + out_n, name, l);
            out_n += (uint32_t)l;
            out[out_n++] = '\n';
        }
        rc = rc == SMFS_ERR_NOT_FOUND ? SmFsFindFileClose(sh) : rc;
        break;
    }
    case T_PUT:
    case T_GET: {
        SMFS_HANDLE h;
        get_str(&r, path, sizeof path);
        uint32_t n = cmd == T_GET ? get32(&r) : 0;
        if (r.bad || (rc = SmFsOpenFile(&h, path)) != SMFS_OK)
            break;
        if (cmd == T_PUT) {
            rc = SmFsWriteFile(h, 0, (char *)r.p, r.n);
        } else if (n <= sizeof out - 8 && (rc = SmFsReadFile(h, 0, (char *)out + 4, n)) == 0) {
            out_n += n;
        }
        int c = SmFsCloseFile(h);
        rc = rc ? rc : c;
        break;
    }
    default:
        break;
    }
    uint32_t be = fm_htobe32((uint32_t)rc);
    memcpy(out, &be, 4);
    uint8_t *reply = SVC_GetReplyBuffer(token, out_n);
    if (reply)
        memcpy(reply, out, out_n);
    SVC_SendReply(token, reply ? FM_OK : FM_ERR_OUT_OF_MEMORY);
}

FM_RV Startup(void)
{
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
