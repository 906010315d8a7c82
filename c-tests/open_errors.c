/*
 * Less common open outcomes on paths in the primary: ENAMETOOLONG (long component, path
 * longer than PATH_MAX), ELOOP (symlink loop, O_NOFOLLOW), ENOTDIR (O_DIRECTORY on a file),
 * EISDIR (O_CREAT on a directory), EEXIST (O_EXCL on a dangling symlink), ENXIO (FIFO without
 * a reader), and O_CREAT through a dangling symlink inside the tree, which creates the target
 * on both copies.
 */
#include "mfstest.h"

#include <limits.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    FAILS(open(P(name), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    static char huge[PATH_MAX + 100];
    size_t len = (size_t)snprintf(huge, sizeof huge, "%s/", mt_primary);
    while (len + 2 < sizeof huge) {
        huge[len++] = 'x';
        huge[len++] = '/';
    }
    huge[len] = 0;
    FAILS(open(huge, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);

    OK(symlink("loop2", P("loop1")));
    OK(symlink("loop1", P("loop2")));
    FAILS(open(P("loop1"), O_RDONLY), ELOOP);
    FAILS(open(P("loop1"), O_WRONLY | O_CREAT, 0644), ELOOP);

    int fd = open(P("file"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, "f", 1), 1);
    OK(close(fd));
    OK(symlink("file", P("link")));
    FAILS(open(P("link"), O_RDONLY | O_NOFOLLOW), ELOOP);
    FAILS(open(P("link"), O_WRONLY | O_TRUNC | O_NOFOLLOW), ELOOP);
    CONTENT_IS(M("file"), "f", 1);
    FAILS(open(P("file"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    OK(mkdir(P("dir"), 0755));
    FAILS(open(P("dir"), O_RDWR | O_CREAT, 0644), EISDIR);

    /* Dangling symlinks: O_EXCL refuses, plain O_CREAT creates the target. */
    OK(symlink("target", P("dangling")));
    FAILS(open(P("dangling"), O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    fd = open(P("dangling"), O_WRONLY | O_CREAT, 0640);
    CHECK(fd >= 0);
    EQ(write(fd, "through the link", 16), 16);
    OK(close(fd));
    SAME("target");

    /* A FIFO: ENXIO for a non-blocking writer without a reader; readers do not block. */
    OK(mkfifo(P("fifo"), 0644));
    FAILS(open(P("fifo"), O_WRONLY | O_NONBLOCK), ENXIO);
    int r = open(P("fifo"), O_RDONLY | O_NONBLOCK);
    CHECK(r >= 0);
    int w = open(P("fifo"), O_WRONLY | O_NONBLOCK);
    CHECK(w >= 0);
    EQ(write(w, "pipe", 4), 4);
    char buf[8];
    EQ(read(r, buf, sizeof buf), 4);
    OK(close(w));
    OK(close(r));

    return mt_done();
}
