/*
 * The Secure Memory File System: each FM's own tree of directories and
 * fixed-size files, kept in the store (sealed under the master key), and
 * the handles an FM has open. An FM reaches only its own tree: every path
 * is looked up under the FM's name, and handles are the FM's own.
 *
 * Rules: absolute paths of at most SMFS_PATH_MAX characters, components of
 * 1 to SMFS_NAME_MAX characters, no "." or ".." and no wildcard characters;
 * a file's size is fixed when it is made and it starts zero-filled; a write
 * or read must lie inside the file; a directory holds at most the entries
 * it was made for; at most so many open files and searches per FM; the
 * whole SMFS holds at most its capacity in file bytes.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fmlink.h"
#include "smfs.h"

#define SMFS_NAME_MAX 16
#define SMFS_PATH_MAX 100
#define ROOT_ENTRIES 256

/* The return codes of fmsmfs.h. */
enum {
    SMFS_OK = 0,
    SMFS_ERR_ERROR = 1,
    SMFS_ERR_NOT_INITED = 2,
    SMFS_ERR_MEMORY = 3,
    SMFS_ERR_NAME_TOO_LONG = 4,
    SMFS_ERR_RESOURCES = 5,
    SMFS_ERR_PARAMETER = 6,
    SMFS_ERR_ACCESS = 7,
    SMFS_ERR_NOT_FOUND = 8,
    SMFS_ERR_BUSY = 9,
    SMFS_ERR_EXIST = 10,
    SMFS_ERR_FILE_TYPE = 11,
};

typedef struct open_file {
    char path[SMFS_PATH_MAX + 1];
    uint32_t size;
    bool used;
} open_file_t;

typedef struct search {
    char **names;
    size_t n, next;
    bool used;
} search_t;

struct fm_smfs {
    open_file_t *files;
    search_t *searches;
    unsigned max_files, max_searches;
};

static unsigned env_limit(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    unsigned long n = v && *v ? strtoul(v, NULL, 10) : dflt;
    return n >= 1 && n <= 4096 ? (unsigned)n : dflt;
}

fm_smfs_t *smfs_new(void)
{
    fm_smfs_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->max_files = env_limit("SOFTFM_SMFS_MAX_OPEN", 32);
    m->max_searches = env_limit("SOFTFM_SMFS_MAX_SEARCHES", 16);
    m->files = calloc(m->max_files, sizeof *m->files);
    m->searches = calloc(m->max_searches, sizeof *m->searches);
    if (!m->files || !m->searches) {
        smfs_free(m);
        return NULL;
    }
    return m;
}

static void search_end(search_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

void smfs_reset(fm_smfs_t *m)
{
    if (!m)
        return;
    memset(m->files, 0, m->max_files * sizeof *m->files);
    for (unsigned i = 0; i < m->max_searches; i++)
        search_end(&m->searches[i]);
}

void smfs_free(fm_smfs_t *m)
{
    if (!m)
        return;
    if (m->searches)
        smfs_reset(m);
    free(m->files);
    free(m->searches);
    free(m);
}

uint64_t smfs_capacity(void)
{
    const char *v = getenv("SOFTFM_SMFS_CAPACITY");
    unsigned long long n = v && *v ? strtoull(v, NULL, 10) : 0;
    return n ? n : 1024u * 1024u;
}

/* Check a path and copy it: 0 or an SMFS error. */
static int path_ok(const uint8_t *p, size_t n, char *out)
{
    if (!p || n == 0 || p[0] != '/')
        return SMFS_ERR_PARAMETER;
    if (n > SMFS_PATH_MAX)
        return SMFS_ERR_NAME_TOO_LONG;
    if (n == 1) {
        strcpy(out, "/");
        return SMFS_OK;
    }
    size_t comp = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || p[i] == '/') {
            size_t len = comp;
            if (len == 0)
                return SMFS_ERR_PARAMETER; /* an empty part, or a trailing '/' */
            if (len > SMFS_NAME_MAX)
                return SMFS_ERR_NAME_TOO_LONG;
            const uint8_t *c = p + i - len;
            if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                return SMFS_ERR_PARAMETER;
            comp = 0;
            continue;
        }
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '*' || p[i] == '?' || p[i] == '\\')
            return SMFS_ERR_PARAMETER;
        comp++;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return SMFS_OK;
}

/* The parent of a path ("/" for a top-level entry). */
static void parent_of(const char *path, char *out)
{
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);
    if (n == 0) {
        strcpy(out, "/");
        return;
    }
    memcpy(out, path, n);
    out[n] = '\0';
}

typedef struct walk {
    const char *dir;        /* count or collect its children */
    const char *pattern;    /* for searches */
    size_t children;
    uint64_t bytes;         /* of every file seen */
    char **names;
    size_t n, cap;
} walk_t;

static bool child_of(const char *dir, const char *path, const char **name)
{
    size_t d = strlen(dir);
    if (!strcmp(dir, "/"))
        d = 0;
    if (strncmp(path, dir, d) || path[d] != '/' || strchr(path + d + 1, '/'))
        return false;
    *name = path + d + 1;
    return true;
}

static int walk_cb(void *ctx, const store_smfs_t *e)
{
    walk_t *w = ctx;
    if (!e->is_dir)
        w->bytes += e->size;
    const char *name;
    if (!w->dir || !child_of(w->dir, e->path, &name))
        return 0;
    w->children++;
    if (!w->pattern || fnmatch(w->pattern, name, 0))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        char **p = realloc(w->names, cap * sizeof *p);
        if (!p)
            return -1;
        w->names = p;
        w->cap = cap;
    }
    return (w->names[w->n++] = strdup(name)) ? 0 : -1;
}

static int walk(store_t *st, const char *fm, walk_t *w)
{
    return store_smfs_list(st, fm, walk_cb, w) ? SMFS_ERR_ERROR : SMFS_OK;
}

/* The used file bytes of the whole SMFS. */
static int used_bytes(store_t *st, uint64_t *bytes)
{
    walk_t w = { 0 };
    int rc = store_smfs_list(st, NULL, walk_cb, &w) ? SMFS_ERR_ERROR : SMFS_OK;
    *bytes = w.bytes;
    return rc;
}

/* What a path names: 1 nothing, 0 an entry (in *e), <0 a failure. */
static int lookup(store_t *st, const char *fm, const char *path, store_smfs_t *e)
{
    if (!strcmp(path, "/")) {
        memset(e, 0, sizeof *e);
        strcpy(e->path, "/");
        e->is_dir = 1;
        e->size = ROOT_ENTRIES;
        return 0;
    }
    return store_smfs_get(st, fm, path, e, NULL);
}

static bool is_open(const fm_smfs_t *m, const char *path)
{
    for (unsigned i = 0; i < m->max_files; i++)
        if (m->files[i].used && !strcmp(m->files[i].path, path))
            return true;
    return false;
}

/* Make a directory or a file under an existing directory with room. */
static int create(store_t *st, const char *fm, const char *path, bool dir, uint32_t size)
{
    if (!strcmp(path, "/"))
        return SMFS_ERR_EXIST;
    store_smfs_t e, parent;
    char pp[SMFS_PATH_MAX + 1];
    parent_of(path, pp);
    int r = lookup(st, fm, pp, &parent);
    if (r < 0)
        return SMFS_ERR_ERROR;
    if (r > 0)
        return SMFS_ERR_NOT_FOUND;
    if (!parent.is_dir)
        return SMFS_ERR_FILE_TYPE;
    if ((r = lookup(st, fm, path, &e)) < 0)
        return SMFS_ERR_ERROR;
    if (r == 0)
        return SMFS_ERR_EXIST;
    walk_t w = { .dir = pp };
    if (walk(st, fm, &w))
        return SMFS_ERR_ERROR;
    if (w.children >= parent.size)
        return SMFS_ERR_RESOURCES; /* the directory is full */
    if (dir)
        return store_smfs_put(st, fm, path, 1, size, NULL, 0) ? SMFS_ERR_ERROR : SMFS_OK;
    uint64_t used;
    if (used_bytes(st, &used))
        return SMFS_ERR_ERROR;
    if (used + size > smfs_capacity())
        return SMFS_ERR_MEMORY; /* the SMFS is full */
    uint8_t *zeros = calloc(1, size ? size : 1);
    if (!zeros)
        return SMFS_ERR_MEMORY;
    int rc = store_smfs_put(st, fm, path, 0, size, zeros, size) ? SMFS_ERR_ERROR : SMFS_OK;
    free(zeros);
    return rc;
}

static int delete_entry(store_t *st, fm_smfs_t *m, const char *fm, const char *path)
{
    store_smfs_t e;
    int r = lookup(st, fm, path, &e);
    if (r < 0)
        return SMFS_ERR_ERROR;
    if (r > 0)
        return SMFS_ERR_NOT_FOUND;
    if (!strcmp(path, "/"))
        return SMFS_ERR_ACCESS;
    if (is_open(m, path))
        return SMFS_ERR_BUSY;
    if (e.is_dir) {
        walk_t w = { .dir = path };
        if (walk(st, fm, &w))
            return SMFS_ERR_ERROR;
        if (w.children)
            return SMFS_ERR_ACCESS; /* not empty */
    } else {
        /* The data is zeroed before the entry goes. */
        uint8_t *zeros = calloc(1, e.size ? e.size : 1);
        if (!zeros || store_smfs_put(st, fm, path, 0, e.size, zeros, e.size)) {
            free(zeros);
            return SMFS_ERR_ERROR;
        }
        free(zeros);
    }
    return store_smfs_delete(st, fm, path) ? SMFS_ERR_ERROR : SMFS_OK;
}

static open_file_t *handle(fm_smfs_t *m, uint32_t h)
{
    return h >= 1 && h <= m->max_files && m->files[h - 1].used ? &m->files[h - 1] : NULL;
}

static int rw(store_t *st, fm_smfs_t *m, const char *fm, rbuf_t *r, wbuf_t *w, bool write)
{
    uint32_t h = rb_u32(r), off = rb_u32(r), count = 0;
    size_t n = 0;
    const uint8_t *src = NULL;
    if (write)
        src = rb_bytes(r, &n);
    else
        count = rb_u32(r);
    if (!rb_done(r))
        return SMFS_ERR_PARAMETER;
    if (write)
        count = (uint32_t)n;
    open_file_t *f = handle(m, h);
    if (!f)
        return SMFS_ERR_PARAMETER; /* not an open handle of this FM */
    if (off > f->size || count > f->size - off)
        return SMFS_ERR_PARAMETER; /* past the end of the file */
    store_smfs_t e;
    uint8_t *data = NULL;
    int g = store_smfs_get(st, fm, f->path, &e, &data);
    if (g || e.len != f->size) {
        if (data) {
            secure_zero(data, e.len);
            free(data);
        }
        return g > 0 ? SMFS_ERR_NOT_FOUND : SMFS_ERR_ERROR;
    }
    int rc = SMFS_OK;
    if (write) {
        if (count)
            memcpy(data + off, src, count);
        /* One statement: the file holds the old contents or the new. */
        rc = store_smfs_put(st, fm, f->path, 0, f->size, data, f->size) ? SMFS_ERR_ERROR
                                                                          : SMFS_OK;
    }
    if (rc == SMFS_OK) {
        wb_u32(w, rc);
        if (!write)
            wb_bytes(w, data + off, count);
    }
    secure_zero(data, e.len);
    free(data);
    return rc;
}

int smfs_serve(store_t *st, fm_smfs_t *m, const char *fm, bool active, rbuf_t *r, wbuf_t *w)
{
    uint32_t op = rb_u32(r);
    char path[SMFS_PATH_MAX + 1], other[SMFS_PATH_MAX + 1];
    size_t n;
    const uint8_t *p;
    int rc = SMFS_ERR_PARAMETER;
    store_smfs_t e;
    if (!active) {
        rc = SMFS_ERR_NOT_INITED;
        goto done;
    }
    switch (op) {
    case SMFS_OP_CREATE_DIR:
    case SMFS_OP_CREATE_FILE: {
        p = rb_bytes(r, &n);
        uint32_t size = rb_u32(r);
        if (!rb_done(r) || (rc = path_ok(p, n, path)))
            break;
        if (op == SMFS_OP_CREATE_DIR && size == 0)
            rc = SMFS_ERR_PARAMETER;
        else
            rc = create(st, fm, path, op == SMFS_OP_CREATE_DIR, size);
        break;
    }
    case SMFS_OP_DELETE:
        p = rb_bytes(r, &n);
        if (rb_done(r) && !(rc = path_ok(p, n, path)))
            rc = delete_entry(st, m, fm, path);
        break;
    case SMFS_OP_OPEN: {
        p = rb_bytes(r, &n);
        if (!rb_done(r) || (rc = path_ok(p, n, path)))
            break;
        int l = lookup(st, fm, path, &e);
        if (l != 0) {
            rc = l > 0 ? SMFS_ERR_NOT_FOUND : SMFS_ERR_ERROR;
            break;
        }
        if (e.is_dir) {
            rc = SMFS_ERR_FILE_TYPE;
            break;
        }
        rc = SMFS_ERR_RESOURCES; /* every handle in use */
        for (unsigned i = 0; i < m->max_files; i++) {
            if (m->files[i].used)
                continue;
            m->files[i] = (open_file_t){ .size = e.size, .used = true };
            snprintf(m->files[i].path, sizeof m->files[i].path, "%s", path);
            wb_u32(w, SMFS_OK);
            wb_u32(w, i + 1);
            return SMFS_OK;
        }
        break;
    }
    case SMFS_OP_CLOSE: {
        uint32_t h = rb_u32(r);
        open_file_t *f = rb_done(r) ? handle(m, h) : NULL;
        if (f) {
            f->used = false;
            rc = SMFS_OK;
        }
        break;
    }
    case SMFS_OP_READ:
    case SMFS_OP_WRITE:
        rc = rw(st, m, fm, r, w, op == SMFS_OP_WRITE);
        if (rc == SMFS_OK)
            return rc; /* rw wrote the reply */
        break;
    case SMFS_OP_ATTR:
    case SMFS_OP_OPEN_ATTR: {
        if (op == SMFS_OP_ATTR) {
            p = rb_bytes(r, &n);
            if (!rb_done(r) || (rc = path_ok(p, n, path)))
                break;
        } else {
            uint32_t h = rb_u32(r);
            open_file_t *f = rb_done(r) ? handle(m, h) : NULL;
            if (!f)
                break;
            snprintf(path, sizeof path, "%s", f->path);
        }
        int l = lookup(st, fm, path, &e);
        if (l != 0) {
            rc = l > 0 ? SMFS_ERR_NOT_FOUND : SMFS_ERR_ERROR;
            break;
        }
        uint32_t size = e.size;
        if (e.is_dir) { /* a directory's size: the entries it holds */
            walk_t wk = { .dir = path };
            if (walk(st, fm, &wk)) {
                rc = SMFS_ERR_ERROR;
                break;
            }
            size = (uint32_t)wk.children;
        }
        wb_u32(w, SMFS_OK);
        wb_u32(w, size);
        wb_u32(w, (uint32_t)e.is_dir);
        return SMFS_OK;
    }
    case SMFS_OP_RENAME: {
        p = rb_bytes(r, &n);
        size_t nn;
        const uint8_t *nm = rb_bytes(r, &nn);
        if (!rb_done(r) || (rc = path_ok(p, n, path)))
            break;
        if (!nm || nn == 0 || memchr(nm, '/', nn)) {
            rc = SMFS_ERR_PARAMETER;
            break;
        }
        char pp[SMFS_PATH_MAX + 1];
        parent_of(path, pp);
        char cand[2 * SMFS_PATH_MAX + 4];
        int cl = snprintf(cand, sizeof cand, "%s/%.*s", strcmp(pp, "/") ? pp : "", (int)nn,
                          (const char *)nm);
        if ((rc = path_ok((const uint8_t *)cand, (size_t)cl, other)))
            break;
        int l = lookup(st, fm, path, &e);
        if (l != 0) {
            rc = l > 0 ? SMFS_ERR_NOT_FOUND : SMFS_ERR_ERROR;
            break;
        }
        store_smfs_t x;
        if (is_open(m, path))
            rc = SMFS_ERR_BUSY;
        else if (lookup(st, fm, other, &x) == 0)
            rc = SMFS_ERR_EXIST;
        else if (e.is_dir) {
            walk_t wk = { .dir = path };
            rc = walk(st, fm, &wk) ? SMFS_ERR_ERROR : wk.children ? SMFS_ERR_ACCESS : SMFS_OK;
        } else {
            rc = SMFS_OK;
        }
        if (rc == SMFS_OK && store_smfs_rename(st, fm, path, other))
            rc = SMFS_ERR_ERROR;
        break;
    }
    case SMFS_OP_CALC_FREE: {
        uint64_t used;
        if (!rb_done(r) || (rc = used_bytes(st, &used)))
            break;
        uint64_t cap = smfs_capacity(), free_bytes = used < cap ? cap - used : 0;
        wb_u32(w, SMFS_OK);
        wb_u32(w, free_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)free_bytes);
        return SMFS_OK;
    }
    case SMFS_OP_FIND_INIT: {
        p = rb_bytes(r, &n);
        size_t pl;
        const uint8_t *pat = rb_bytes(r, &pl);
        if (!rb_done(r) || (rc = path_ok(p, n, path)))
            break;
        if (!pat || pl == 0 || pl > SMFS_NAME_MAX || memchr(pat, '/', pl) ||
            memchr(pat, '\0', pl)) {
            rc = SMFS_ERR_PARAMETER;
            break;
        }
        memcpy(other, pat, pl);
        other[pl] = '\0';
        int l = lookup(st, fm, path, &e);
        if (l != 0 || !e.is_dir) {
            rc = l < 0 ? SMFS_ERR_ERROR : l > 0 ? SMFS_ERR_NOT_FOUND : SMFS_ERR_FILE_TYPE;
            break;
        }
        rc = SMFS_ERR_RESOURCES;
        for (unsigned i = 0; i < m->max_searches; i++) {
            if (m->searches[i].used)
                continue;
            walk_t wk = { .dir = path, .pattern = other };
            if (walk(st, fm, &wk)) {
                for (size_t k = 0; k < wk.n; k++)
                    free(wk.names[k]);
                free(wk.names);
                rc = SMFS_ERR_ERROR;
                break;
            }
            m->searches[i] = (search_t){ .names = wk.names, .n = wk.n, .used = true };
            wb_u32(w, SMFS_OK);
            wb_u32(w, i + 1);
            return SMFS_OK;
        }
        break;
    }
    case SMFS_OP_FIND: {
        uint32_t h = rb_u32(r), room = rb_u32(r);
        search_t *s = rb_done(r) && h >= 1 && h <= m->max_searches &&
                              m->searches[h - 1].used ? &m->searches[h - 1] : NULL;
        if (!s)
            break;
        if (s->next >= s->n) {
            rc = SMFS_ERR_NOT_FOUND;
            break;
        }
        const char *name = s->names[s->next];
        if (strlen(name) + 1 > room) {
            rc = SMFS_ERR_NAME_TOO_LONG;
            break;
        }
        s->next++;
        wb_u32(w, SMFS_OK);
        wb_bytes(w, name, strlen(name));
        return SMFS_OK;
    }
    case SMFS_OP_FIND_CLOSE: {
        uint32_t h = rb_u32(r);
        if (rb_done(r) && h >= 1 && h <= m->max_searches && m->searches[h - 1].used) {
            search_end(&m->searches[h - 1]);
            rc = SMFS_OK;
        }
        break;
    }
    default:
        break;
    }
done:
    wb_u32(w, (uint32_t)rc);
    return rc;
}
