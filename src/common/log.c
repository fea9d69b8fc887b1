#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level g_level = LOG_INFO;
static FILE *g_out;

void log_set_level(enum log_level level)
{
    g_level = level;
}

int log_open(const char *path)
{
    FILE *f = fopen(path, "ae");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    g_out = f;
    return 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    if (level > g_level)
        return;
    FILE *out = g_out ? g_out : stderr;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    flockfile(out);
    fprintf(out, "%s softfmd %s: ", stamp, names[level]);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    funlockfile(out);
    va_end(ap);
}
