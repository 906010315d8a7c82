/*
 * pwrite and pwrite64: writes at explicit offsets (inside, at and past the end, beyond 4 GiB
 * with pwrite64), which must not move the file offset; pwrite on an O_APPEND descriptor
 * (Linux appends); and the errors EINVAL (negative offset), ESPIPE (pipe), EBADF.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char buf[65536];
    mt_fill(buf, sizeof buf, 2);

    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    KEEPS(pwrite(fd, buf, 1000, 0));
    KEEPS(pwrite(fd, buf + 1000, 500, 250));
    KEEPS(pwrite(fd, "end", 3, 1250));
    KEEPS(pwrite(fd, buf, 4096, 100000)); /* a hole before */
    EQ(lseek(fd, 0, SEEK_CUR), 0);
    SAME("f");
    EQ(write(fd, "at offset 0", 11), 11);
    SAME("f");

    /* Large offsets: pwrite64 past 4 GiB, then cut back so the trees stay small. */
    off64_t far = ((off64_t)1 << 32) + 12345;
    EQ(pwrite64(fd, "far away", 8, far), 8);
    struct stat st;
    OK(fstat(fd, &st));
    EQ(st.st_size, far + 8);
    struct stat mst;
    OK(stat(M("f"), &mst));
    EQ(mst.st_size, far + 8);
    char got[8] = { 0 };
    int m = open(M("f"), O_RDONLY);
    EQ(pread64(m, got, 8, far), 8);
    CHECK(memcmp(got, "far away", 8) == 0);
    OK(close(m));
    OK(ftruncate(fd, 200000));
    SAME("f");
    OK(close(fd));

    /* O_APPEND: pwrite ignores the offset and appends. */
    fd = open(P("app"), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    EQ(pwrite(fd, "first", 5, 0), 5);
    EQ(pwrite(fd, "second", 6, 0), 6);
    EQ(pwrite64(fd, "third", 5, 2), 5);
    CONTENT_IS(P("app"), "firstsecondthird", 16);
    SAME("app");
    OK(close(fd));

    /* Errors. */
    fd = open(P("f"), O_WRONLY);
    FAILS(pwrite(fd, "x", 1, -1), EINVAL);
    FAILS(pwrite64(fd, "x", 1, -4096), EINVAL);
    OK(close(fd));
    FAILS(pwrite(fd, "x", 1, 0), EBADF);
    fd = open(P("f"), O_RDONLY);
    FAILS(pwrite(fd, "x", 1, 0), EBADF);
    OK(close(fd));
    int p[2];
    OK(pipe(p));
    FAILS(pwrite(p[1], "x", 1, 0), ESPIPE);
    OK(close(p[0]));
    OK(close(p[1]));
    SAME("f");

    return mt_done();
}
