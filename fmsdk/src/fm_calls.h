/*
 * The one table through which an FM reaches everything outside itself.
 *
 * An FM image imports nothing: libfmsupt.a, linked into it, defines every
 * function the FM may call as a small stub that calls through
 * softfm_fm_calls, a pointer the fmhost process sets (by dlsym) right after
 * it maps the image and before it calls Startup. The C runtime part is lent
 * by the fmhost's own libc; the FM services are the fmhost's.
 *
 * This header is shared by libfmsupt (compiled freestanding: it may include
 * only <stddef.h>, <stdint.h> and <stdarg.h>) and the fmhost. A change to the
 * table's layout changes FM_CALLS_VERSION; the fmhost refuses an image built
 * with another version.
 */
#ifndef SFM_FM_CALLS_H
#define SFM_FM_CALLS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define FM_CALLS_VERSION 5u /* 4: cprov_table; 5: user data */
#define FM_CALLS_SYMBOL "softfm_fm_calls"

struct tm;

/* The C runtime: R(return type, name, parameters, arguments) for functions
   with a result, V(name, parameters, arguments) for those without. The
   names are libc's; libfmsupt defines each with the same prototype. */
#define FM_LIBC_CALLS(R, V)                                                                  \
    R(void *, malloc, (size_t n), (n))                                                       \
    R(void *, calloc, (size_t n, size_t size), (n, size))                                    \
    R(void *, realloc, (void *p, size_t n), (p, n))                                          \
    V(free, (void *p), (p))                                                                  \
    R(void *, memcpy, (void *d, const void *s, size_t n), (d, s, n))                         \
    R(void *, memmove, (void *d, const void *s, size_t n), (d, s, n))                        \
    R(void *, memset, (void *d, int c, size_t n), (d, c, n))                                 \
    R(int, memcmp, (const void *a, const void *b, size_t n), (a, b, n))                      \
    R(void *, memchr, (const void *s, int c, size_t n), (s, c, n))                           \
    R(size_t, strlen, (const char *s), (s))                                                  \
    R(size_t, strnlen, (const char *s, size_t n), (s, n))                                    \
    R(char *, strcpy, (char *d, const char *s), (d, s))                                      \
    R(char *, strncpy, (char *d, const char *s, size_t n), (d, s, n))                        \
    R(char *, strcat, (char *d, const char *s), (d, s))                                      \
    R(char *, strncat, (char *d, const char *s, size_t n), (d, s, n))                        \
    R(int, strcmp, (const char *a, const char *b), (a, b))                                   \
    R(int, strncmp, (const char *a, const char *b, size_t n), (a, b, n))                     \
    R(int, strcasecmp, (const char *a, const char *b), (a, b))                               \
    R(int, strncasecmp, (const char *a, const char *b, size_t n), (a, b, n))                 \
    R(char *, strchr, (const char *s, int c), (s, c))                                        \
    R(char *, strrchr, (const char *s, int c), (s, c))                                       \
    R(char *, strstr, (const char *h, const char *n), (h, n))                                \
    R(size_t, strspn, (const char *s, const char *a), (s, a))                                \
    R(size_t, strcspn, (const char *s, const char *r), (s, r))                               \
    R(char *, strpbrk, (const char *s, const char *a), (s, a))                               \
    R(char *, strtok, (char *s, const char *d), (s, d))                                      \
    R(char *, strtok_r, (char *s, const char *d, char **save), (s, d, save))                 \
    R(char *, strdup, (const char *s), (s))                                                  \
    R(char *, strndup, (const char *s, size_t n), (s, n))                                    \
    R(long, strtol, (const char *s, char **end, int base), (s, end, base))                   \
    R(unsigned long, strtoul, (const char *s, char **end, int base), (s, end, base))         \
    R(long long, strtoll, (const char *s, char **end, int base), (s, end, base))             \
    R(unsigned long long, strtoull, (const char *s, char **end, int base), (s, end, base))   \
    R(int, atoi, (const char *s), (s))                                                       \
    R(long, atol, (const char *s), (s))                                                      \
    R(long long, atoll, (const char *s), (s))                                                \
    R(int, abs, (int v), (v))                                                                \
    R(long, labs, (long v), (v))                                                             \
    R(long long, llabs, (long long v), (v))                                                  \
    V(qsort, (void *b, size_t n, size_t size, int (*cmp)(const void *, const void *)),       \
      (b, n, size, cmp))                                                                     \
    R(void *, bsearch,                                                                       \
      (const void *k, const void *b, size_t n, size_t size,                                  \
       int (*cmp)(const void *, const void *)),                                              \
      (k, b, n, size, cmp))                                                                  \
    R(int, rand, (void), ())                                                                 \
    V(srand, (unsigned seed), (seed))                                                        \
    R(long, time, (long *t), (t))                                                            \
    R(struct tm *, gmtime, (const long *t), (t))                                             \
    R(struct tm *, gmtime_r, (const long *t, struct tm *out), (t, out))                      \
    R(struct tm *, localtime, (const long *t), (t))                                          \
    R(struct tm *, localtime_r, (const long *t, struct tm *out), (t, out))                   \
    R(long, mktime, (struct tm *tm), (tm))                                                   \
    R(size_t, strftime, (char *s, size_t max, const char *fmt, const struct tm *tm),        \
      (s, max, fmt, tm))                                                                     \
    R(int, vsnprintf, (char *s, size_t n, const char *fmt, va_list ap), (s, n, fmt, ap))     \
    R(int, vsprintf, (char *s, const char *fmt, va_list ap), (s, fmt, ap))                   \
    R(int, vsscanf, (const char *s, const char *fmt, va_list ap), (s, fmt, ap))              \
    R(int, toupper, (int c), (c))                                                            \
    R(int, tolower, (int c), (c))                                                            \
    R(const unsigned short **, __ctype_b_loc, (void), ())                                    \
    R(const int32_t **, __ctype_toupper_loc, (void), ())                                     \
    R(const int32_t **, __ctype_tolower_loc, (void), ())

#define FM_CALLS_FIELD_R(ret, name, params, args) ret(*name) params;
#define FM_CALLS_FIELD_V(name, params, args) void(*name) params;

typedef struct fm_calls {
    uint32_t version;   /* FM_CALLS_VERSION */
    uint32_t size;      /* sizeof(fm_calls_t) */
    FM_LIBC_CALLS(FM_CALLS_FIELD_R, FM_CALLS_FIELD_V)

    /* Output to the FM's trace; the fmhost formats. */
    int (*vtrace)(const char *fmt, va_list ap);
    void (*dump)(const char *description, const void *data, uint32_t len);
    /* The FM cannot go on (abort, a failed assertion, a smashed stack). */
    void (*fatal)(const char *why, const char *file, unsigned line);

    /* Dispatch registration; model: 0 random, 1 stream. */
    int (*register_dispatch)(uint16_t fm, int model, void *fn);
    int (*deregister_dispatch)(uint16_t fm);
    int (*register_notify)(uint16_t fm, void (*fn)(int event));
    int (*deregister_notify)(uint16_t fm);
    uint16_t (*fm_number)(void);

    /* The request a token names. */
    void *(*get_request)(void *t);
    uint32_t (*get_request_length)(void *t);
    uint32_t (*get_user_reply_buf_len)(void *t);
    void *(*get_reply_buffer)(void *t, uint32_t size);
    void *(*resize_reply_buffer)(void *t, uint32_t len);
    void *(*convert_req_to_reply)(void *t);
    void (*discard_reply_buffer)(void *t);
    void *(*get_reply)(void *t);
    uint32_t (*get_reply_length)(void *t);
    uint32_t (*get_pid)(void *t);
    uint32_t (*get_oid)(void *t);
    void (*send_reply)(void *t, uint32_t status);
    void *(*io_read_pointer)(void *t, uint32_t *available);
    int (*io_consume)(void *t, uint32_t n);
    void *(*io_write_pointer)(void *t, uint32_t n);
    int (*io_commit)(void *t, uint32_t n);

    /* Who the FM acts for, and with what privilege. */
    unsigned long (*get_app_id)(void);
    void (*set_app_id)(unsigned long id);
    unsigned long (*get_oid_current)(void);
    void (*set_oid_current)(unsigned long oid);
    void (*set_privilege)(int level);
    int (*get_privilege)(void);

    /* A monotonic clock for THR_*: seconds and nanoseconds. */
    void (*clock)(uint32_t *secs, uint32_t *ns);

    /* The HSM's Cryptoki, on behalf of the current AppId: a
       CK_FUNCTION_LIST (typed void here, as this header does without
       pkcs11.h). */
    const void *ck;

    /* An SMFS request: op and its arguments encoded as on the link
       (src/common/fmlink.h); returns the SMFS code and copies the results
       (at most *out_len bytes) to out, setting *out_len. */
    int (*smfs)(uint32_t op, const uint8_t *args, uint32_t len, uint8_t *out, uint32_t *out_len);

    /* The HSM's patchable Cryptoki table (a CprovFnTable_t, sfm_cprov.h). */
    void *(*cprov_table)(void);

    /* User data (objstate.h): kind FM_UD_*, key a slot id or a session
       handle (unused for FM_UD_APP); results are CK_RV codes. */
    unsigned long (*user_data_set)(int kind, uint16_t fm, unsigned long key, void *data,
                                   void (*free_fn)(void *));
    unsigned long (*user_data_get)(int kind, uint16_t fm, unsigned long key, void **out);
} fm_calls_t;

enum { FM_UD_APP, FM_UD_SLOT, FM_UD_TOKEN, FM_UD_TOKEN_APP, FM_UD_SESSION };

#endif
