/*
 * ftruncate, ftruncate64, truncate and truncate64: shrinking, extending (the new bytes are
 * zeros on both copies), truncating to zero and writing again, and the errors EINVAL
 * (read-only descriptor, negative length), EBADF, EISDIR, ENOENT.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char buf[100000];
    mt_fill(buf, sizeof buf, 4);

    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, buf, sizeof buf), (long)sizeof buf);
    KEEPS(ftruncate(fd, 5000));
    SAME("f");
    KEEPS(ftruncate(fd, 300000));
    SAME("f");
    KEEPS(ftruncate64(fd, ((off64_t)1 << 33) + 1)); /* past 8 GiB, sparse */
    struct stat mst;
    OK(stat(M("f"), &mst));
    EQ(mst.st_size, ((off64_t)1 << 33) + 1);
    KEEPS(ftruncate64(fd, 7000));
    SAME("f");
    KEEPS(ftruncate(fd, 0));
    SAME("f");
    EQ(lseek(fd, 0, SEEK_CUR), (long)sizeof buf); /* the offset is left alone */
    EQ(write(fd, "x", 1), 1);                     /* and leaves a hole */
    SAME("f");
    OK(close(fd));

    fd = open(P("g"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EQ(write(fd, buf, 1234), 1234);
    OK(close(fd));
    KEEPS(truncate(P("g"), 100));
    SAME("g");
    KEEPS(truncate(P("g"), 70000));
    SAME("g");
    KEEPS(truncate64(P("g"), 17));
    SAME("g");
    CONTENT_IS(M("g"), buf, 17);

    /* Errors. */
    fd = open(P("g"), O_RDONLY);
    FAILS(ftruncate(fd, 0), EINVAL);
    OK(close(fd));
    fd = open(P("g"), O_WRONLY);
    FAILS(ftruncate(fd, -1), EINVAL);
    FAILS(ftruncate64(fd, -1), EINVAL);
    OK(close(fd));
    FAILS(ftruncate(fd, 0), EBADF);
    FAILS(truncate(P(""), 0), EISDIR);
    FAILS(truncate(P("missing"), 0), ENOENT);
    FAILS(truncate(P("g"), -5), EINVAL);
    SAME("g");

    return mt_done();
}
