/*
 * The Secure Memory File System (SMFS): storage only FMs see, one tree per
 * FM, encrypted by the HSM. Every function returns 0 (SMFS_OK) or an
 * SMFS_ERR_ code. Paths are absolute ("/keys/master"), at most 100
 * characters, each name at most 16; files have the size they were made
 * with and start zero-filled; at most 32 files and 16 searches are open at
 * once (the HSM may be configured otherwise).
 */
#ifndef SFM_FMSMFS_H
#define SFM_FMSMFS_H

#ifdef __cplusplus
extern "C" {
#endif

#define SMFS_OK 0
#define SMFS_ERR_ERROR 1
#define SMFS_ERR_NOT_INITED 2
#define SMFS_ERR_MEMORY 3
#define SMFS_ERR_NAME_TOO_LONG 4
#define SMFS_ERR_RESOURCES 5
#define SMFS_ERR_PARAMETER 6
#define SMFS_ERR_ACCESS 7
#define SMFS_ERR_NOT_FOUND 8
#define SMFS_ERR_BUSY 9
#define SMFS_ERR_EXIST 10
#define SMFS_ERR_FILE_TYPE 11

#ifndef SMFS_HANDLE
#define SMFS_HANDLE int
#endif

typedef struct SmFsAttr {
    unsigned int Size;   /* a file's bytes, or the entries of a directory */
    unsigned int isDir;
} SmFsAttr;

/* A directory that may hold up to entries names. */
int SmFsCreateDir(const char *name, unsigned int entries);
/* A file of len bytes, zero-filled (both forms). */
int SmFsCreateFile(const char *name, unsigned int len);
int SmFsCreateFileClr(const char *name, unsigned int len);
/* A file (its data zeroed first), or an empty directory. */
int SmFsDeleteFile(const char *name);
int SmFsOpenFile(SMFS_HANDLE *fh, const char *name);
int SmFsCloseFile(SMFS_HANDLE fh);
/* count bytes at offset; reading or writing past the end is an error. A
   write is all or nothing, and durable when it returns. */
int SmFsReadFile(SMFS_HANDLE fh, unsigned int offset, char *buf, unsigned int count);
int SmFsWriteFile(SMFS_HANDLE fh, unsigned int offset, char *buf, unsigned int count);
int SmFsGetFileAttr(const char *name, SmFsAttr *attr);
int SmFsGetOpenFileAttr(SMFS_HANDLE fh, SmFsAttr *attr);
/* Rename within its directory: newName is a bare name. */
int SmFsRenameFile(const char *oldName, const char *newName);
/* Bytes left in the SMFS. */
unsigned int SmFsCalcFree(void);
/* The entries of directory path whose names match pattern (? and *). */
int SmFsFindFileInit(int *sh, const char *path, const char *pattern);
/* The next one's name into name (size bytes with the NUL): 0, or
   SMFS_ERR_NOT_FOUND when there are no more. */
int SmFsFindFile(int sh, char *name, unsigned int size);
int SmFsFindFileClose(int sh);

#ifdef __cplusplus
}
#endif

#endif
