/*
 * mdbench: FM message round trips through libsoftfm-md.so, and Cryptoki
 * calls made inside an FM next to the same calls from the host.
 *
 *   mdbench echo [--size N] [--threads T] [--procs P] [--seconds S]
 *       round trips of N bytes to the benchmark FM; prints
 *       "echo-N-TtPp OPS_PER_SECOND USEC_PER_ROUND_TRIP"
 *   mdbench ck --module LIB --slot N [--calls N]
 *       C_GenerateRandom(32) timed inside the FM and from the host; prints
 *       "ck-in-fm NS_PER_CALL" and "ck-from-host NS_PER_CALL"
 *
 * The benchmark FM (bench/fm, build/bench/benchfm.bin) must be loaded.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "fm/benchfm.h"
#include "sfm_md.h"

static atomic_bool stop;
static uint32_t size = 64;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *echo_loop(void *arg)
{
    unsigned long *count = arg;
    uint8_t *req = calloc(1, size + 4), *out = malloc(size + 4);
    uint32_t cmd = fm_htobe32(BENCHFM_ECHO);
    memcpy(req, &cmd, 4);
    MD_Buffer_t rq[] = { { req, size + 4 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, size + 4 }, { NULL, 0 } };
    while (!atomic_load(&stop)) {
        uint32_t got = 0, st = 1;
        if (MD_SendReceive(0, 0, BENCHFM_NUMBER, rq, 0, rs, &got, &st) != MDR_OK || st ||
            got != size) {
            fprintf(stderr, "mdbench: echo failed\n");
            exit(1);
        }
        (*count)++;
    }
    free(req);
    free(out);
    return NULL;
}

/* One process: T threads for S seconds; returns round trips. */
static unsigned long run_threads(int threads, double seconds)
{
    if (MD_Initialize() != MDR_OK) {
        fprintf(stderr, "mdbench: MD_Initialize failed\n");
        exit(1);
    }
    pthread_t t[64];
    unsigned long counts[64] = { 0 };
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, echo_loop, &counts[i]);
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += counts[i];
    }
    MD_Finalize();
    return total;
}

static int echo(int threads, int procs, double seconds)
{
    unsigned long *counts = mmap(NULL, sizeof(unsigned long) * (size_t)procs,
                                 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED)
        return 1;
    double t0 = now();
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            counts[i] = run_threads(threads, seconds);
            _exit(0);
        }
    }
    for (int i = 0; i < procs; i++)
        wait(NULL);
    double took = now() - t0;
    unsigned long total = 0;
    for (int i = 0; i < procs; i++)
        total += counts[i];
    double ops = (double)total / (took < seconds ? seconds : took);
    printf("echo-%u-%dt%dp %.0f %.1f\n", size, threads, procs, ops,
           1e6 * threads * procs / (ops > 0 ? ops : 1));
    return 0;
}

static MD_RV fm_call(uint32_t cmd, uint32_t arg, uint32_t *a, uint32_t *b)
{
    uint32_t req[2] = { fm_htobe32(cmd), fm_htobe32(arg) };
    uint32_t out[2] = { 0, 0 };
    MD_Buffer_t rq[] = { { (uint8_t *)req, 8 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { (uint8_t *)out, 8 }, { NULL, 0 } };
    uint32_t got = 0, st = 1;
    MD_RV rv = MD_SendReceive(0, 0, BENCHFM_NUMBER, rq, 0, rs, &got, &st);
    *a = fm_betoh32(out[0]);
    *b = fm_betoh32(out[1]);
    return rv != MDR_OK ? rv : st || got != 8 ? MDR_UNSUCCESSFUL : MDR_OK;
}

static int ck(const char *module, unsigned long slot, uint32_t calls)
{
    uint32_t rv, ns;
    if (MD_Initialize() != MDR_OK || fm_call(BENCHFM_CK_SETUP, (uint32_t)slot, &rv, &ns) || rv) {
        fprintf(stderr, "mdbench: the FM could not open a session\n");
        return 1;
    }
    if (fm_call(BENCHFM_CK_LOOP, calls, &rv, &ns) || rv) {
        fprintf(stderr, "mdbench: the FM's Cryptoki calls failed\n");
        return 1;
    }
    printf("ck-in-fm %u\n", ns);
    MD_Finalize();

    void *lib = dlopen(module, RTLD_NOW);
    CK_C_GetFunctionList gfl = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    CK_FUNCTION_LIST_PTR p;
    CK_SESSION_HANDLE s;
    if (!gfl || gfl(&p) || p->C_Initialize(NULL) ||
        p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) {
        fprintf(stderr, "mdbench: cannot use %s\n", module);
        return 1;
    }
    CK_BYTE buf[32];
    double t0 = now();
    for (uint32_t i = 0; i < calls; i++)
        if (p->C_GenerateRandom(s, buf, sizeof buf))
            return 1;
    printf("ck-from-host %.0f\n", (now() - t0) * 1e9 / calls);
    p->C_Finalize(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, procs = 1;
    double seconds = 2;
    const char *module = NULL;
    unsigned long slot = 1;
    uint32_t calls = 20000;
    static const struct option opts[] = {
        { "size", required_argument, NULL, 'z' },   { "threads", required_argument, NULL, 't' },
        { "procs", required_argument, NULL, 'P' },  { "seconds", required_argument, NULL, 'S' },
        { "module", required_argument, NULL, 'm' }, { "slot", required_argument, NULL, 's' },
        { "calls", required_argument, NULL, 'c' },  { NULL, 0, NULL, 0 },
    };
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'z': size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 't': threads = atoi(optarg); break;
        case 'P': procs = atoi(optarg); break;
        case 'S': seconds = atof(optarg); break;
        case 'm': module = optarg; break;
        case 's': slot = strtoul(optarg, NULL, 10); break;
        case 'c': calls = (uint32_t)strtoul(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (threads < 1 || threads > 64 || procs < 1 || procs > 64 || size > (1u << 20) - 4)
        return 2;
    if (!strcmp(mode, "echo"))
        return echo(threads, procs, seconds);
    if (!strcmp(mode, "ck") && module)
        return ck(module, slot, calls ? calls : 1);
    return 2;
}
