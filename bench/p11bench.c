/*
 * p11bench: PKCS#11 throughput of any module, N threads.
 *
 *   p11bench --module PATH --slot N --pin PIN [--threads N] [--seconds S] [--only OP]
 *            [--objects N]
 *
 * Each operation runs on every thread for S seconds, each thread with its own
 * logged-in session; the total ops/s is printed as "op ops_per_second", one
 * line each, so that runs of two modules can be set side by side.
 *   open-close  C_OpenSession + C_CloseSession
 *   find        C_FindObjectsInit (by label, among 100 or --objects N) + C_FindObjects + Final
 *   digest      C_DigestInit + C_Digest of 1 KiB with SHA-256
 *   digest-64   the same of 64 bytes
 *   random      C_GenerateRandom of 32 bytes
 *   aes-gcm-4k  C_EncryptInit + C_Encrypt of 4 KiB with AES-256-GCM
 *   hmac-sha256 C_SignInit + C_Sign of 64 bytes with HMAC-SHA256
 *   rsa2048-sign  C_SignInit + C_Sign, SHA256_RSA_PKCS
 *   ecdsa-p256-sign C_SignInit + C_Sign of a 32-byte hash, CKM_ECDSA (SoftHSMv2
 *               offers no hashing ECDSA mechanism)
 */
#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static int nobj = 100; /* objects to find among (--objects) */

static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID slot;
static const char *pin;
static double seconds = 2.0;
static int nthreads = 4;
static atomic_bool stop;
static CK_OBJECT_HANDLE *objs;

enum op { OP_OPEN_CLOSE, OP_FIND, OP_DIGEST, OP_DIGEST64, OP_RANDOM, OP_GCM, OP_HMAC, OP_RSA,
          OP_ECDSA, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "open-close", "find", "digest", "digest-64", "random",
                                                "aes-gcm-4k", "hmac-sha256", "rsa2048-sign",
                                                "ecdsa-p256-sign" };
static CK_OBJECT_HANDLE aes_key, hmac_key, rsa_key, ec_key;

typedef struct job {
    enum op op;
    unsigned long count;
    CK_RV err;
} job_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CK_RV one(enum op op, CK_SESSION_HANDLE s, unsigned long i)
{
    CK_RV rv = CKR_OK;
    switch (op) {
    case OP_OPEN_CLOSE: {
        CK_SESSION_HANDLE t;
        rv = p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &t);
        if (rv == CKR_OK)
            rv = p->C_CloseSession(t);
        break;
    }
    case OP_FIND: {
        char label[32];
        snprintf(label, sizeof label, "bench-%lu", i % (unsigned long)nobj);
        CK_ATTRIBUTE q = { CKA_LABEL, label, (CK_ULONG)strlen(label) };
        CK_OBJECT_HANDLE found[4];
        CK_ULONG n = 0;
        rv = p->C_FindObjectsInit(s, &q, 1);
        if (rv == CKR_OK)
            rv = p->C_FindObjects(s, found, 4, &n);
        if (rv == CKR_OK)
            rv = p->C_FindObjectsFinal(s);
        if (rv == CKR_OK && n != 1)
            rv = CKR_GENERAL_ERROR;
        break;
    }
    case OP_DIGEST:
    case OP_DIGEST64: {
        static CK_BYTE data[1024];
        CK_BYTE md[32];
        CK_ULONG len = sizeof md;
        CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
        rv = p->C_DigestInit(s, &m);
        if (rv == CKR_OK)
            rv = p->C_Digest(s, data, op == OP_DIGEST ? sizeof data : 64, md, &len);
        break;
    }
    case OP_RANDOM: {
        CK_BYTE r[32];
        rv = p->C_GenerateRandom(s, r, sizeof r);
        break;
    }
    case OP_GCM: {
        static CK_BYTE data[4096];
        CK_BYTE out[4096 + 16], iv[12] = { 0 };
        CK_ULONG len = sizeof out;
        iv[0] = (CK_BYTE)i;
        CK_GCM_PARAMS g = { iv, 12, 96, NULL, 0, 128 };
        CK_MECHANISM m = { CKM_AES_GCM, &g, sizeof g };
        rv = p->C_EncryptInit(s, &m, aes_key);
        if (rv == CKR_OK)
            rv = p->C_Encrypt(s, data, sizeof data, out, &len);
        break;
    }
    case OP_HMAC:
    case OP_RSA:
    case OP_ECDSA: {
        static CK_BYTE data[64];
        CK_BYTE sig[512];
        CK_ULONG len = sizeof sig;
        CK_MECHANISM m = { op == OP_HMAC ? CKM_SHA256_HMAC
                           : op == OP_RSA ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0 };
        rv = p->C_SignInit(s, &m, op == OP_HMAC ? hmac_key : op == OP_RSA ? rsa_key : ec_key);
        if (rv == CKR_OK)
            rv = p->C_Sign(s, data, op == OP_ECDSA ? 32 : sizeof data, sig, &len);
        break;
    }
    default:
        break;
    }
    return rv;
}

static void *worker(void *arg)
{
    job_t *j = arg;
    CK_SESSION_HANDLE s;
    j->err = p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (j->err)
        return NULL;
    for (unsigned long i = 0; !atomic_load(&stop); i++) {
        if ((j->err = one(j->op, s, i)))
            break;
        j->count++;
    }
    p->C_CloseSession(s);
    return NULL;
}

static int run(enum op op)
{
    pthread_t t[256];
    job_t jobs[256];
    atomic_store(&stop, false);
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = (job_t){ op, 0, CKR_OK };
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    double start = now();
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    unsigned long total = 0;
    int bad = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        total += jobs[i].count;
        if (jobs[i].err) {
            fprintf(stderr, "p11bench: %s failed: 0x%lx\n", op_names[op], jobs[i].err);
            bad = 1;
        }
    }
    double elapsed = now() - start;
    printf("%s %.0f\n", op_names[op], (double)total / elapsed);
    fflush(stdout);
    return bad;
}

int main(int argc, char **argv)
{
    const char *module = NULL;
    static const struct option opts[] = {
        { "module", required_argument, NULL, 'm' }, { "slot", required_argument, NULL, 's' },
        { "pin", required_argument, NULL, 'p' },    { "threads", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 'S' }, { "only", required_argument, NULL, 'o' },
        { "objects", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    const char *only = NULL;
    while ((c = getopt_long(argc, argv, "m:s:p:t:S:o:n:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': module = optarg; break;
        case 's': slot = strtoul(optarg, NULL, 0); break;
        case 'p': pin = optarg; break;
        case 't': nthreads = atoi(optarg); break;
        case 'S': seconds = atof(optarg); break;
        case 'o': only = optarg; break;
        case 'n': nobj = atoi(optarg); break;
        default: return 2;
        }
    }
    if (!module || !pin || nthreads < 1 || nthreads > 256 || nobj < 1 || nobj > 1000000 ||
        !(objs = calloc((size_t)nobj, sizeof *objs))) {
        fprintf(stderr, "usage: p11bench --module PATH --slot N --pin PIN [--threads N] "
                        "[--seconds S]\n");
        return 2;
    }
    void *h = dlopen(module, RTLD_NOW);
    CK_C_GetFunctionList gfl = h ? (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&p) != CKR_OK) {
        fprintf(stderr, "p11bench: cannot load %s\n", module);
        return 1;
    }
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    CK_SESSION_HANDLE s;
    if (p->C_Initialize(&args) ||
        p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ||
        p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) {
        fprintf(stderr, "p11bench: cannot open a logged-in session on slot %lu\n", slot);
        return 1;
    }
    /* Objects to find: public token objects, as every session sees them. */
    for (int i = 0; i < nobj; i++) {
        char label[32];
        snprintf(label, sizeof label, "bench-%d", i);
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_TOKEN, &yes, 1 },
                             { CKA_PRIVATE, &no, 1 }, { CKA_LABEL, label, (CK_ULONG)strlen(label) },
                             { CKA_VALUE, "x", 1 } };
        if (p->C_CreateObject(s, t, 5, &objs[i])) {
            fprintf(stderr, "p11bench: cannot create objects\n");
            return 1;
        }
    }
    /* Keys for the cryptographic operations: session objects. */
    {
        CK_BBOOL no = CK_FALSE;
        CK_ULONG len32 = 32, bits = 2048;
        CK_KEY_TYPE gen_kt = CKK_GENERIC_SECRET;
        CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
        CK_MECHANISM aes = { CKM_AES_KEY_GEN, NULL, 0 }, gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
        CK_MECHANISM rsa = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 }, ec = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
        static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE at[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_TOKEN, &no, 1 },
                              { CKA_ENCRYPT, &yes, 1 } };
        CK_ATTRIBUTE ht[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &gen_kt, sizeof gen_kt },
                              { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_TOKEN, &no, 1 },
                              { CKA_SIGN, &yes, 1 } };
        CK_ATTRIBUTE rp[] = { { CKA_MODULUS_BITS, &bits, sizeof bits }, { CKA_TOKEN, &no, 1 } };
        CK_ATTRIBUTE ep[] = { { CKA_EC_PARAMS, (void *)p256, sizeof p256 }, { CKA_TOKEN, &no, 1 } };
        CK_ATTRIBUTE kp[] = { { CKA_TOKEN, &no, 1 }, { CKA_SIGN, &yes, 1 } };
        CK_OBJECT_HANDLE pub;
        if (p->C_GenerateKey(s, &aes, at, 3, &aes_key) || p->C_GenerateKey(s, &gen, ht, 5, &hmac_key) ||
            p->C_GenerateKeyPair(s, &rsa, rp, 2, kp, 2, &pub, &rsa_key) ||
            p->C_GenerateKeyPair(s, &ec, ep, 2, kp, 2, &pub, &ec_key)) {
            fprintf(stderr, "p11bench: cannot generate the keys\n");
            return 1;
        }
    }
    int bad = 0;
    for (int op = 0; op < OP_COUNT; op++)
        if (!only || !strcmp(only, op_names[op]))
            bad |= run((enum op)op);
    for (int i = 0; i < nobj; i++)
        p->C_DestroyObject(s, objs[i]);
    free(objs);
    p->C_CloseSession(s);
    p->C_Finalize(NULL);
    return bad;
}
