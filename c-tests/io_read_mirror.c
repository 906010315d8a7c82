// mfs-config: read_from = "mirror"
// mfs-config: mode = "one-way"
/*
 * read_from = "mirror": reads through a read-only descriptor of a primary file return the
 * mirror's bytes (read, pread, readv, preadv), while the primary descriptor's offset moves as
 * if the primary had been read. The program changes the mirror's copy behind the shim's back
 * (raw system calls; in one-way mode nothing flows back) to tell the copies apart, and puts it
 * back at the end so the trees compare equal.
 */
#include "mfstest.h"

#include <sys/uio.h>

static void raw_pwrite(const char *path, const char *data, size_t n, off_t off)
{
    int fd = (int)RAWSYS(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    EQ(RAWSYS(SYS_pwrite64, fd, data, n, off), (long)n);
    RAWSYS(SYS_close, fd);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    const char *orig = "0123456789abcdef";
    char buf[64];

    int fd = open(P("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, orig, 16), 16);
    OK(close(fd));
    SAME("f");

    raw_pwrite(M("f"), "XYZ", 3, 4); /* mirror: 0123XYZ789abcdef */

    fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0);
    memset(buf, 0, sizeof buf);
    errno = 1234;
    EQ(read(fd, buf, 6), 6);
    EQ(errno, 1234);
    CHECK(memcmp(buf, "0123XY", 6) == 0);
    EQ(lseek(fd, 0, SEEK_CUR), 6);

    memset(buf, 0, sizeof buf);
    EQ(pread(fd, buf, 4, 5), 4);
    CHECK(memcmp(buf, "YZ78", 4) == 0);
    EQ(lseek(fd, 0, SEEK_CUR), 6);

    char a[2], b[3];
    struct iovec iov[2] = { { .iov_base = a, .iov_len = 2 }, { .iov_base = b, .iov_len = 3 } };
    EQ(readv(fd, iov, 2), 5);
    CHECK(memcmp(a, "Z7", 2) == 0 && memcmp(b, "89a", 3) == 0);
    EQ(lseek(fd, 0, SEEK_CUR), 11);

    EQ(preadv(fd, iov, 2, 3), 5);
    CHECK(memcmp(a, "3X", 2) == 0 && memcmp(b, "YZ7", 3) == 0);
    EQ(lseek(fd, 0, SEEK_CUR), 11);

    memset(buf, 0, sizeof buf);
    EQ(read(fd, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "bcdef", 5) == 0);
    EQ(read(fd, buf, sizeof buf), 0);
    EQ(lseek(fd, 0, SEEK_CUR), 16);
    EQ(lseek(fd, 2, SEEK_SET), 2);
    EQ(pread64(fd, buf, 4, 3), 4);
    CHECK(memcmp(buf, "3XYZ", 4) == 0);
    OK(close(fd));

    /* The primary itself was never changed. */
    CONTENT_IS(P("f"), orig, 16);

    /* Errors. */
    FAILS(read(4242, buf, 1), EBADF);
    FAILS(read(fd, buf, 1), EBADF);
    int d = open(P(""), O_RDONLY | O_DIRECTORY);
    FAILS(read(d, buf, 1), EISDIR);
    OK(close(d));
    fd = open(P("f"), O_WRONLY);
    FAILS(read(fd, buf, 1), EBADF);
    OK(close(fd));

    raw_pwrite(M("f"), "456", 3, 4); /* level again */
    SAME("f");
    return mt_done();
}
