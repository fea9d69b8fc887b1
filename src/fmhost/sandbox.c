/*
 * The fmhost's confinement, applied once the image is mapped and before
 * Startup: a memory limit, and a seccomp filter (libseccomp) that allows
 * only the system calls an FM's process needs — reading and writing the
 * link and the trace it already has, memory, time, and ending. Opening
 * files, sockets or processes is not among them: an FM cannot reach the
 * data directory or anything else. A forbidden call stops the FM with
 * SIGSYS, which its trace reports.
 *
 * Under a debugger or valgrind (SOFTFM_FMHOST_WRAPPER, which the daemon
 * passes on as SOFTFM_FMHOST_NO_SANDBOX) and in sanitizer builds, whose
 * runtimes need more, the filter is left out.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fmhost.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#define DEFAULT_MEMORY_MB 256

#ifndef SANITIZED
static const int allowed[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
    SCMP_SYS(close), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
    SCMP_SYS(mprotect), SCMP_SYS(brk), SCMP_SYS(madvise), SCMP_SYS(futex),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid),
    SCMP_SYS(getrandom), SCMP_SYS(sched_yield), SCMP_SYS(restart_syscall),
    SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(tgkill),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static int memory_limit(void)
{
    const char *env = getenv("SOFTFM_FM_MEMORY_MB");
    unsigned long mb = env && *env ? strtoul(env, NULL, 10) : DEFAULT_MEMORY_MB;
    if (!mb)
        return 0; /* 0: no limit */
    struct rlimit rl = { mb << 20, mb << 20 };
    return setrlimit(RLIMIT_DATA, &rl);
}
#endif

int fmh_sandbox(void)
{
#ifdef SANITIZED
    return 0;
#else
    if (getenv("SOFTFM_FMHOST_NO_SANDBOX"))
        return 0;
    tzset(); /* localtime() reads the zone now: files are out of reach later */
    if (memory_limit())
        return -1;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc ? -1 : 0;
#endif
}
