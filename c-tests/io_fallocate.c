/*
 * fallocate, fallocate64, posix_fallocate and posix_fallocate64. fallocate reports errors
 * through -1/errno; posix_fallocate returns the error number and leaves errno alone. Modes the
 * file system does not support (EOPNOTSUPP) must fail unchanged; modes that succeed (plain
 * allocation extends the file, KEEP_SIZE does not, PUNCH_HOLE and ZERO_RANGE zero a range)
 * must leave the mirror equal to the primary.
 */
#include "mfstest.h"

#include <linux/falloc.h>

/* A fallocate mode that may be unsupported here: success, or EOPNOTSUPP. */
static void optional_mode(int fd, int mode, off_t off, off_t len, const char *what)
{
    errno = 1234;
    int r = fallocate(fd, mode, off, len);
    if (r == 0) {
        EQ(errno, 1234);
    } else if (errno != EOPNOTSUPP) {
        fprintf(stderr, "fallocate %s: %s\n", what, strerror(errno));
        mt_failures++;
    }
    SAME("f");
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    static char buf[1 << 20];
    mt_fill(buf, sizeof buf, 5);

    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, buf, 100000), 100000);

    KEEPS(fallocate(fd, 0, 0, 200000)); /* extends */
    struct stat st;
    OK(fstat(fd, &st));
    EQ(st.st_size, 200000);
    SAME("f");
    KEEPS(fallocate64(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
    OK(fstat(fd, &st));
    EQ(st.st_size, 200000);
    SAME("f");
    optional_mode(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192, "PUNCH_HOLE");
    optional_mode(fd, FALLOC_FL_ZERO_RANGE, 50000, 10000, "ZERO_RANGE");
    optional_mode(fd, FALLOC_FL_ZERO_RANGE, 190000, 30000, "ZERO_RANGE past the end");
    OK(fstat(fd, &st));
    CHECK(st.st_size == 200000 || st.st_size == 220000);

    /* posix_fallocate: returns 0 or an error number; errno is never touched. */
    errno = 1234;
    EQ(posix_fallocate(fd, 0, 300000), 0);
    EQ(errno, 1234);
    OK(fstat(fd, &st));
    EQ(st.st_size, 300000);
    SAME("f");
    errno = 1234;
    EQ(posix_fallocate64(fd, 290000, (off64_t)400000), 0);
    EQ(errno, 1234);
    SAME("f");

    /* Errors. */
    errno = 1234;
    EQ(posix_fallocate(fd, 0, 0), EINVAL);
    EQ(posix_fallocate(fd, -1, 10), EINVAL);
    EQ(posix_fallocate(4242, 0, 10), EBADF);
    EQ(posix_fallocate64(4242, 0, 10), EBADF);
    EQ(errno, 1234);
    FAILS(fallocate(fd, 0, 0, 0), EINVAL);
    FAILS(fallocate(fd, 0, -1, 10), EINVAL);
    FAILS(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP); /* needs KEEP_SIZE */
    FAILS(fallocate(4242, 0, 0, 10), EBADF);
    FAILS(fallocate64(4242, 0, 0, 10), EBADF);
    OK(close(fd));
    fd = open(P("f"), O_RDONLY);
    FAILS(fallocate(fd, 0, 0, 10), EBADF);
    errno = 1234;
    EQ(posix_fallocate(fd, 0, 10), EBADF);
    EQ(errno, 1234);
    OK(close(fd));
    int p[2];
    OK(pipe(p));
    FAILS(fallocate(p[1], 0, 0, 10), ESPIPE);
    EQ(posix_fallocate(p[1], 0, 10), ESPIPE);
    OK(close(p[0]));
    OK(close(p[1]));
    SAME("f");

    return mt_done();
}
