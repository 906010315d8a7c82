/*
 * Helpers for the namespace (ns_*) and path-classification (path_*) test programs, on top
 * of mfstest.h.
 *
 * - KEEP(call): the call must succeed and leave errno as the program set it (1234).
 * - Mirror checks (MSAME, MABSENT, MTYPE, MCONTENT, MCOUNT) look at the mirror through raw
 *   syscalls, so no hook can redirect or serve them; with MT_NATIVE=1 in the environment they
 *   are skipped, which lets a program be run natively (no shim) to prove the program itself.
 * - mt_outside(): a scratch directory next to the primary, outside every pair.
 */
#ifndef NS_UTIL_H
#define NS_UTIL_H

#include "mfstest.h"

#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* True when MT_NATIVE is set (and not "0"): skip the checks that look at the mirror. */
__attribute__((unused)) static int mt_native(void)
{
    const char *e = getenv("MT_NATIVE");
    return e && *e && strcmp(e, "0") != 0;
}

/* A call that must succeed and must not touch errno (mfstest.h's KEEPS). */
#define KEEP(call) KEEPS(call)

/* A check that looks at the mirror: skipped in a native run. */
#define MCHECK(cond)                                                                      \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            CHECK(cond);                                                                  \
    } while (0)

/* ---- raw syscalls: never interposed ---- */

__attribute__((unused)) static int raw_lstat(const char *path, struct stat *st)
{
    return (int)RAWSYS(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

/* Reads up to cap-1 bytes of a file (NUL-terminated); returns the length or -1. */
__attribute__((unused)) static long raw_slurp(const char *path, char *buf, size_t cap)
{
    int fd = (int)RAWSYS(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    long total = 0;
    for (;;) {
        long n = RAWSYS(SYS_read, fd, buf + total, cap - 1 - total);
        if (n <= 0)
            break;
        total += n;
        if ((size_t)total >= cap - 1)
            break;
    }
    RAWSYS(SYS_close, fd);
    buf[total] = 0;
    return total;
}

__attribute__((unused)) static long raw_readlink(const char *path, char *buf, size_t cap)
{
    long n = RAWSYS(SYS_readlinkat, AT_FDCWD, path, buf, cap - 1);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

/* Number of entries (without . and ..) in a directory, or -1. */
__attribute__((unused)) static int raw_count(const char *path)
{
    int fd = (int)RAWSYS(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    int count = 0;
    for (;;) {
        long n = RAWSYS(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            const char *name = buf + off + 19;
            if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
                count++;
            off += reclen;
        }
    }
    RAWSYS(SYS_close, fd);
    return count;
}

/* One-letter type of a path (lstat): f d l p c b s, '-' when absent, '?' on another error. */
__attribute__((unused)) static char raw_type(const char *path)
{
    struct stat st;
    if (raw_lstat(path, &st) != 0)
        return errno == ENOENT ? '-' : '?';
    switch (st.st_mode & S_IFMT) {
    case S_IFREG: return 'f';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFIFO: return 'p';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFSOCK: return 's';
    }
    return '?';
}

/* Compares two objects, a relative to dirfd fa and b relative to dirfd fb (lstat type,
 * permission bits, size, symlink target, contents, device number); counts a failure and
 * returns 1 when they differ. */
__attribute__((unused)) static int mt_same_at(int fa, const char *a, int fb, const char *b,
                                              const char *file, int line)
{
    struct stat sa, sb;
    int ea = RAWSYS(SYS_newfstatat, fa, a, &sa, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
    int eb = RAWSYS(SYS_newfstatat, fb, b, &sb, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
    const char *why = NULL;
    if (ea || eb) {
        if (ea != eb)
            why = ea ? "missing in primary" : "missing in mirror";
    } else if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
        why = "types differ";
    } else if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777)) {
        why = "permission bits differ";
    } else if (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size) {
        why = "sizes differ";
    } else if ((S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) && sa.st_rdev != sb.st_rdev) {
        why = "device numbers differ";
    } else if (S_ISLNK(sa.st_mode)) {
        static char ta[PATH_MAX + 1], tb[PATH_MAX + 1];
        long na = RAWSYS(SYS_readlinkat, fa, a, ta, PATH_MAX);
        long nb = RAWSYS(SYS_readlinkat, fb, b, tb, PATH_MAX);
        if (na != nb || na < 0 || memcmp(ta, tb, (size_t)na) != 0)
            why = "symlink targets differ";
    } else if (S_ISREG(sa.st_mode)) {
        int xa = (int)RAWSYS(SYS_openat, fa, a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int xb = (int)RAWSYS(SYS_openat, fb, b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        static char ba[65536], bb[65536];
        if (xa < 0 || xb < 0)
            why = "cannot open to compare";
        for (off_t off = 0; !why;) {
            long na = RAWSYS(SYS_pread64, xa, ba, sizeof ba, off);
            long nb = RAWSYS(SYS_pread64, xb, bb, sizeof bb, off);
            if (na != nb || na < 0 || memcmp(ba, bb, (size_t)(na > 0 ? na : 0)) != 0)
                why = "contents differ";
            if (na <= 0)
                break;
            off += na;
        }
        if (xa >= 0)
            RAWSYS(SYS_close, xa);
        if (xb >= 0)
            RAWSYS(SYS_close, xb);
    }
    if (why) {
        fprintf(stderr, "%s:%d: %.200s vs %.200s: %s\n", file, line, a, b, why);
        mt_failures++;
        return 1;
    }
    return 0;
}

/* Compares two objects named by paths (see mt_same_at). */
__attribute__((unused)) static int mt_same_paths(const char *a, const char *b, const char *file,
                                                 int line)
{
    return mt_same_at(AT_FDCWD, a, AT_FDCWD, b, file, line);
}

/* The object at rel is the same in the primary and the mirror (or absent from both). */
#define MSAME(rel)                                                                        \
    do {                                                                                  \
        if (!mt_native())                                                                 \
            mt_same_paths(P(rel), M(rel), __FILE__, __LINE__);                            \
    } while (0)

/* Nothing at rel in the mirror. */
#define MABSENT(rel) MCHECK(raw_type(M(rel)) == '-')
/* The mirror has an object of type t (see raw_type) at rel. */
#define MTYPE(rel, t) MCHECK(raw_type(M(rel)) == (t))
/* The mirror's directory rel holds exactly n entries. */
#define MCOUNT(rel, n) MCHECK(raw_count(M(rel)) == (n))

/* The file at an arbitrary path has exactly the given contents (read through raw syscalls). */
__attribute__((unused)) static int raw_is(const char *path, const char *want)
{
    static char buf[1 << 16];
    long n = raw_slurp(path, buf, sizeof buf);
    return n == (long)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

/* ---- writing through the shim (ordinary libc calls) ---- */

/* Opens path with `flags` (plus O_WRONLY|O_CREAT|O_CLOEXEC), writes s; returns 0 or -1. */
__attribute__((unused)) static int write_file(const char *path, const char *s, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(s);
    long n = write(fd, s, len);
    int e = errno;
    close(fd);
    errno = e;
    return n == (long)len ? 0 : -1;
}

/* Creates or truncates a file and writes s to it; returns 0 or -1. */
__attribute__((unused)) static int put(const char *path, const char *s)
{
    return write_file(path, s, O_TRUNC);
}

/* Appends s to a file through O_APPEND; returns 0 or -1. */
__attribute__((unused)) static int append(const char *path, const char *s)
{
    return write_file(path, s, O_APPEND);
}

/* The file reads back (through the shim) as exactly s. */
__attribute__((unused)) static int is(const char *path, const char *s)
{
    static char buf[1 << 16];
    long n = slurp(path, buf, sizeof buf);
    return n == (long)strlen(s) && memcmp(buf, s, (size_t)n) == 0;
}

/* ---- scratch directories outside the pair ---- */

/* The primary path without trailing slashes (static). */
__attribute__((unused)) static const char *mt_primary_clean(void)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", mt_primary);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    return buf;
}

/* The directory holding the primary (static). */
__attribute__((unused)) static const char *mt_primary_parent(void)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", mt_primary_clean());
    return dirname(buf);
}

/* The last component of the primary's path (static). */
__attribute__((unused)) static const char *mt_primary_base(void)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", mt_primary_clean());
    return basename(buf);
}

/* dirname(PRIMARY)/outside-<pid>, created on first use. */
__attribute__((unused)) static const char *mt_outside(void)
{
    static char buf[PATH_MAX];
    if (!buf[0]) {
        snprintf(buf, sizeof buf, "%s/outside-%d", mt_primary_parent(), (int)getpid());
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "cannot create %s: %s\n", buf, strerror(errno));
            exit(2);
        }
    }
    return buf;
}

/* A path inside mt_outside() (rotating static buffers). */
__attribute__((unused)) static const char *O(const char *rel)
{
    static char bufs[8][PATH_MAX];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, PATH_MAX, "%s/%s", mt_outside(), rel);
    return b;
}

__attribute__((unused)) static int mt_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes a tree (not following symlinks); for scratch directories outside the pair only. */
__attribute__((unused)) static void rm_rf(const char *path)
{
    int e = errno;
    nftw(path, mt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    errno = e;
}

#endif
