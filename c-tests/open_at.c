/*
 * openat and openat64 with directory descriptors inside and outside the pair, relative paths
 * with "." and "..", absolute paths (the dirfd is ignored), and relative opens after chdir
 * and fchdir into and out of the primary. Errors (EBADF, ENOTDIR, ENOENT, EEXIST, EISDIR)
 * pass through unchanged.
 */
#include "mfstest.h"

#include <libgen.h>

/* Creates a file through fd-relative openat and writes its own name into it. */
static void make(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) {
        EQ(write(fd, path, strlen(path)), (long)strlen(path));
        OK(close(fd));
    }
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int start = open(".", O_RDONLY | O_DIRECTORY); /* the scratch cwd, outside both trees */
    CHECK(start >= 0);
    OK(mkdir(P("d"), 0755));
    OK(mkdir(P("d/sub"), 0755));

    /* A dirfd inside the pair. */
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    make(dfd, "f1");
    SAME("d/f1");
    make(dfd, "sub/f2");
    SAME("d/sub/f2");
    make(dfd, "../f3");
    SAME("f3");
    make(dfd, "./../d/./sub/../f4");
    SAME("d/f4");
    make(dfd, P("f5")); /* absolute: dirfd ignored */
    SAME("f5");
    make(999, P("f5b")); /* absolute: even a bad dirfd is ignored */
    SAME("f5b");
    int fd = openat64(dfd, "f64", O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    EQ(write(fd, "64", 2), 2);
    OK(close(fd));
    SAME("d/f64");

    /* An O_PATH dirfd works for openat too. */
    int pfd = open(P("d/sub"), O_PATH | O_DIRECTORY);
    CHECK(pfd >= 0);
    make(pfd, "via-o-path");
    SAME("d/sub/via-o-path");
    OK(close(pfd));

    /* A dirfd outside the pair (the primary's parent) with a path leading into it. */
    char parent[4096], base[4096];
    snprintf(parent, sizeof parent, "%s", mt_primary);
    snprintf(base, sizeof base, "%s", mt_primary);
    int outfd = open(dirname(parent), O_RDONLY | O_DIRECTORY);
    CHECK(outfd >= 0);
    char rel[8192];
    snprintf(rel, sizeof rel, "%s/f6", basename(base));
    make(outfd, rel);
    SAME("f6");
    /* ... and a file outside every tree, which must not appear in the mirror. */
    make(start, "outside-file");
    FAILS(access(M("outside-file"), F_OK), ENOENT);

    /* chdir into the primary, then relative opens (open, openat(AT_FDCWD), creat). */
    OK(chdir(P("d")));
    make(AT_FDCWD, "f7");
    SAME("d/f7");
    fd = open("sub/f8", O_WRONLY | O_CREAT, 0640);
    CHECK(fd >= 0);
    EQ(write(fd, "8", 1), 1);
    OK(close(fd));
    SAME("d/sub/f8");
    fd = creat("../f9", 0600);
    CHECK(fd >= 0);
    EQ(write(fd, "9", 1), 1);
    OK(close(fd));
    SAME("f9");

    /* fchdir deeper, then out of the pair and back in by a relative path. */
    int sfd = open(P("d/sub"), O_RDONLY | O_DIRECTORY);
    CHECK(sfd >= 0);
    OK(fchdir(sfd));
    make(AT_FDCWD, "f10");
    SAME("d/sub/f10");
    OK(fchdir(outfd));
    make(AT_FDCWD, rel);
    SAME("f6");
    OK(fchdir(start));
    make(AT_FDCWD, "outside-2");
    FAILS(access(M("outside-2"), F_OK), ENOENT);
    OK(chdir(P("")));
    make(AT_FDCWD, "f11");
    SAME("f11");
    OK(fchdir(start));

    /* Errors. */
    FAILS(openat(999, "x", O_RDONLY), EBADF);
    FAILS(openat(-5, "x", O_WRONLY | O_CREAT, 0644), EBADF);
    fd = open(P("f3"), O_RDONLY);
    FAILS(openat(fd, "x", O_WRONLY | O_CREAT, 0644), ENOTDIR);
    OK(close(fd));
    FAILS(openat(dfd, "nope/x", O_WRONLY | O_CREAT, 0644), ENOENT);
    FAILS(openat(dfd, "f1", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    FAILS(openat(dfd, "sub", O_WRONLY), EISDIR);
    FAILS(openat(dfd, "missing", O_RDONLY), ENOENT);
    CONTENT_IS(M("d/f1"), "f1", 2);

    OK(close(dfd));
    OK(close(sfd));
    OK(close(outfd));
    OK(close(start));
    return mt_done();
}
