/*
 * Helpers for the stdio (stdio_*) and memory-map (mmap_*) test programs, on top of mfstest.h.
 *
 * - MSAME(rel): mfstest.h's SAME (primary and mirror byte-identical, read through raw
 *   syscalls), checked right after a sync point (fflush, fclose, msync, munmap...).
 * - MRANGE(rel, off, len): the same for one byte range (what a partial msync or munmap
 *   synchronises; the rest of a file that is still mapped may differ until its own sync).
 * - HOLDS(rel, text): the primary file holds exactly `text` (proves the program itself).
 * - With MT_NATIVE=1 in the environment the mirror checks are skipped, so a program can be
 *   run without the shim to prove its own expectations.
 */
#ifndef STDIO_UTIL_H
#define STDIO_UTIL_H

#include "mfstest.h"

#include <stdarg.h>
#include <sys/mman.h>

__attribute__((unused)) static int mt_native(void)
{
    const char *e = getenv("MT_NATIVE");
    return e && *e && strcmp(e, "0") != 0;
}

/* The file at rel is identical on the primary and the mirror (skipped in a native run). */
#define MSAME(rel)                                                                        \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            SAME(rel);                                                                    \
    } while (0)

__attribute__((unused)) static void mt_range(const char *rel, long off, long len, const char *file, int line)
{
    char *a = malloc(len), *b = malloc(len);
    int fa = (int)RAWSYS(SYS_openat, AT_FDCWD, P(rel), O_RDONLY | O_CLOEXEC);
    int fb = (int)RAWSYS(SYS_openat, AT_FDCWD, M(rel), O_RDONLY | O_CLOEXEC);
    long na = fa < 0 ? -1 : RAWSYS(SYS_pread64, fa, a, len, off);
    long nb = fb < 0 ? -1 : RAWSYS(SYS_pread64, fb, b, len, off);
    if (na != len || nb != len || memcmp(a, b, len) != 0) {
        fprintf(stderr, "%s:%d: %s bytes %ld..%ld differ (read %ld on the primary, %ld on the mirror)\n", file,
                line, rel, off, off + len, na, nb);
        mt_failures++;
    }
    if (fa >= 0)
        RAWSYS(SYS_close, fa);
    if (fb >= 0)
        RAWSYS(SYS_close, fb);
    free(a);
    free(b);
}

/* Bytes [off, off + len) of rel are identical on the primary and the mirror. */
#define MRANGE(rel, off, len)                                                             \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            mt_range(rel, off, len, __FILE__, __LINE__);                                  \
    } while (0)

/* The primary file at rel holds exactly the string `text`. */
#define HOLDS(rel, text) CONTENT_IS(P(rel), text, strlen(text))

/* Size of the primary file at rel, or -1. */
__attribute__((unused)) static long psize(const char *rel)
{
    struct stat st;
    return stat(P(rel), &st) == 0 ? (long)st.st_size : -1;
}

/* True when the mirror has no object at rel (checked with a raw syscall). */
__attribute__((unused)) static int mabsent(const char *rel)
{
    struct stat st;
    return RAWSYS(SYS_newfstatat, AT_FDCWD, M(rel), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

#endif
