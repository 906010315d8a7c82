/*
 * Helpers for the metadata (meta_*) test programs, on top of ns_util.h.
 *
 * The harness's tree comparison covers types, sizes, modes, symlink targets and contents but
 * not owners, times or extended attributes, so these programs also check the mirror directly
 * (through raw syscalls, skipped with MT_NATIVE=1):
 * - MMETA(rel): same mode (except for symlinks), owner, group, atime and mtime (to the
 *   nanosecond) on both sides, not following a final symlink; MPERMS(rel): the same without
 *   the times;
 * - MMODE(rel, m), MOWNER(rel, u, g): the mirror's values;
 * - MXATTR(rel, name, value, len) / MNOXATTR(rel, name): an attribute on both sides.
 * Reading a file's contents may move its atime, so times are checked before any MSAME.
 */
#ifndef META_UTIL_H
#define META_UTIL_H

#include "ns_util.h"

#include <sys/time.h>
#include <sys/xattr.h>
#include <utime.h>

__attribute__((unused)) static int raw_stat(const char *path, struct stat *st)
{
    return (int)RAWSYS(SYS_newfstatat, AT_FDCWD, path, st, 0);
}

/* Permission bits of a path (lstat), or -1. */
__attribute__((unused)) static int mode_of(const char *path)
{
    struct stat st;
    return raw_lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

#define MMODE(rel, m) MCHECK(mode_of(M(rel)) == (m))
#define PMODE(rel, m) CHECK(mode_of(P(rel)) == (m))

__attribute__((unused)) static int owner_is(const char *path, uid_t u, gid_t g)
{
    struct stat st;
    return raw_lstat(path, &st) == 0 && st.st_uid == u && st.st_gid == g;
}

#define MOWNER(rel, u, g) MCHECK(owner_is(M(rel), (u), (g)))
#define POWNER(rel, u, g) CHECK(owner_is(P(rel), (u), (g)))

/* Compares mode, owner and (when `times`) times of two paths (lstat). */
__attribute__((unused)) static void mt_same_meta(const char *a, const char *b, int times, const char *file, int line)
{
    struct stat sa, sb;
    const char *why = NULL;
    if (raw_lstat(a, &sa) != 0 || raw_lstat(b, &sb) != 0)
        why = "missing";
    else if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777))
        why = "modes differ";
    else if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)
        why = "owners differ";
    else if (times && (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec))
        why = "mtimes differ";
    else if (times && (sa.st_atim.tv_sec != sb.st_atim.tv_sec || sa.st_atim.tv_nsec != sb.st_atim.tv_nsec))
        why = "atimes differ";
    if (why) {
        fprintf(stderr, "%s:%d: %s vs %s: %s\n", file, line, a, b, why);
        mt_failures++;
    }
}

#define MMETA(rel)                                                                        \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            mt_same_meta(P(rel), M(rel), 1, __FILE__, __LINE__);                          \
    } while (0)

/* Same mode and owner on both sides (times not compared). */
#define MPERMS(rel)                                                                       \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            mt_same_meta(P(rel), M(rel), 0, __FILE__, __LINE__);                          \
    } while (0)

/* The path's (lstat) mtime and atime are exactly these. */
__attribute__((unused)) static int times_are(const char *path, time_t a, long ans, time_t m, long mns)
{
    struct stat st;
    return raw_lstat(path, &st) == 0 && st.st_atim.tv_sec == a && st.st_atim.tv_nsec == ans &&
           st.st_mtim.tv_sec == m && st.st_mtim.tv_nsec == mns;
}

/* An attribute's value (lgetxattr through a raw syscall): length, or -1 with errno. */
__attribute__((unused)) static long raw_getx(const char *path, const char *name, void *buf, size_t cap)
{
    return RAWSYS(SYS_lgetxattr, path, name, buf, cap);
}

__attribute__((unused)) static int xattr_is(const char *path, const char *name, const void *v, size_t n)
{
    char buf[4096];
    long got = raw_getx(path, name, buf, sizeof buf);
    return got == (long)n && memcmp(buf, v, n) == 0;
}

__attribute__((unused)) static int xattr_absent(const char *path, const char *name)
{
    char buf[16];
    return raw_getx(path, name, buf, sizeof buf) == -1 && errno == ENODATA;
}

/* Both sides have exactly this attribute value. */
#define MXATTR(rel, name, v, n)                                                           \
    do {                                                                                  \
        CHECK(xattr_is(P(rel), (name), (v), (n)));                                        \
        MCHECK(xattr_is(M(rel), (name), (v), (n)));                                       \
    } while (0)

/* Neither side has the attribute. */
#define MNOXATTR(rel, name)                                                               \
    do {                                                                                  \
        CHECK(xattr_absent(P(rel), (name)));                                              \
        MCHECK(xattr_absent(M(rel), (name)));                                             \
    } while (0)

/* Both sides have the attribute with the same value, or both lack it. */
__attribute__((unused)) static int xattr_same(const char *a, const char *b, const char *name)
{
    char va[4096], vb[4096];
    long na = raw_getx(a, name, va, sizeof va);
    int ea = errno;
    long nb = raw_getx(b, name, vb, sizeof vb);
    int eb = errno;
    if (na < 0 || nb < 0)
        return na == nb && ea == eb;
    return na == nb && memcmp(va, vb, (size_t)na) == 0;
}

#define MXSAME(rel, name) MCHECK(xattr_same(P(rel), M(rel), (name)))

#endif
