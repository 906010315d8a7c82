// mfs-cflags: -D_FORTIFY_SOURCE=2 -O2
/*
 * The fortified open entry points: with _FORTIFY_SOURCE and flags that are not a compile-time
 * constant, glibc's headers turn open/open64/openat/openat64 without a mode into __open_2,
 * __open64_2, __openat_2 and __openat64_2. Opens through them must be mirrored like plain
 * ones (O_TRUNC, O_APPEND, writes) and their errors must pass through unchanged.
 */
#include "mfstest.h"

/* Flags the compiler cannot see through, so the fortified entry points are used. */
static int flags(int f)
{
    static volatile int v;
    v = f;
    return v;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    /* Create the files with a mode (plain open), then reopen them through __open*_2. */
    const char *names[] = { "o2", "o64_2", "oat2", "oat64_2" };
    for (int i = 0; i < 4; i++) {
        int fd = open(P(names[i]), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(fd >= 0);
        EQ(write(fd, "original contents", 17), 17);
        OK(close(fd));
    }
    int dfd = open(P(""), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);

    int fd = open(P("o2"), flags(O_WRONLY | O_TRUNC)); /* __open_2 */
    CHECK(fd >= 0);
    EQ(write(fd, "via __open_2", 12), 12);
    OK(close(fd));
    CONTENT_IS(M("o2"), "via __open_2", 12);

    fd = open64(P("o64_2"), flags(O_RDWR | O_APPEND)); /* __open64_2 */
    CHECK(fd >= 0);
    EQ(write(fd, "+", 1), 1);
    OK(close(fd));
    SAME("o64_2");

    fd = openat(dfd, "oat2", flags(O_WRONLY | O_TRUNC)); /* __openat_2 */
    CHECK(fd >= 0);
    EQ(write(fd, "at", 2), 2);
    OK(close(fd));
    CONTENT_IS(M("oat2"), "at", 2);

    fd = openat64(dfd, "oat64_2", flags(O_WRONLY)); /* __openat64_2 */
    CHECK(fd >= 0);
    EQ(pwrite(fd, "AT64", 4, 9), 4);
    OK(close(fd));
    SAME("oat64_2");

    /* Errors through the fortified entry points. */
    FAILS(open(P("missing"), flags(O_RDONLY)), ENOENT);
    FAILS(open64(P(""), flags(O_WRONLY)), EISDIR);
    FAILS(openat(dfd, "missing", flags(O_RDWR)), ENOENT);
    FAILS(openat64(999, "x", flags(O_RDONLY)), EBADF);
    FAILS(openat(dfd, "o2/x", flags(O_RDONLY)), ENOTDIR);

    OK(close(dfd));
    return mt_done();
}
