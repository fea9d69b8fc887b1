/*
 * libfmsupt: the C runtime an FM may use, each function a stub that calls
 * the fmhost's libc through the call table. Output functions (printf, puts,
 * ...) write to the FM's trace. Compiled freestanding: no libc header may
 * be included here, as some define these names as macros.
 */
#include "fm_calls.h"

/* Set by the fmhost before Startup (see fm_calls.h). */
__attribute__((visibility("default"))) const fm_calls_t *softfm_fm_calls;
#define FMC softfm_fm_calls

#define STUB_R(ret, name, params, args) \
    ret name params { return FMC->name args; }
#define STUB_V(name, params, args) \
    void name params { FMC->name args; }
FM_LIBC_CALLS(STUB_R, STUB_V)

int vprintf(const char *fmt, va_list ap)
{
    return FMC->vtrace(fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vtrace(fmt, ap);
    va_end(ap);
    return n;
}

static int trace_text(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vtrace(fmt, ap);
    va_end(ap);
    return n;
}

int puts(const char *s)
{
    return trace_text("%s\n", s);
}

int putchar(int c)
{
    trace_text("%c", c);
    return (unsigned char)c;
}

int sprintf(char *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vsprintf(s, fmt, ap);
    va_end(ap);
    return n;
}

int snprintf(char *s, size_t max, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vsnprintf(s, max, fmt, ap);
    va_end(ap);
    return n;
}

int sscanf(const char *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vsscanf(s, fmt, ap);
    va_end(ap);
    return n;
}

/* The names glibc's headers turn sscanf and vsscanf into. */
int __isoc99_sscanf(const char *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vsscanf(s, fmt, ap);
    va_end(ap);
    return n;
}

int __isoc99_vsscanf(const char *s, const char *fmt, va_list ap)
{
    return FMC->vsscanf(s, fmt, ap);
}

typedef struct { int quot, rem; } sfm_div_t;
typedef struct { long quot, rem; } sfm_ldiv_t;

sfm_div_t div(int n, int d);
sfm_div_t div(int n, int d)
{
    sfm_div_t r = { n / d, n % d };
    return r;
}

sfm_ldiv_t ldiv(long n, long d);
sfm_ldiv_t ldiv(long n, long d)
{
    sfm_ldiv_t r = { n / d, n % d };
    return r;
}

__attribute__((noreturn)) void abort(void)
{
    FMC->fatal("abort() called", "", 0);
    __builtin_unreachable();
}

__attribute__((noreturn)) void __assert_fail(const char *expr, const char *file, unsigned line,
                                             const char *fn)
{
    (void)fn;
    FMC->fatal(expr, file, line);
    __builtin_unreachable();
}

__attribute__((noreturn)) void __stack_chk_fail(void)
{
    FMC->fatal("stack smashing detected", "", 0);
    __builtin_unreachable();
}
