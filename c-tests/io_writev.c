/*
 * writev, pwritev, pwritev64 and pwritev2: several buffers incl. empty ones, explicit
 * offsets, pwritev2 with offset -1 (current offset, which advances), RWF_APPEND and
 * RWF_DSYNC, a vectored write the kernel cuts short (RLIMIT_FSIZE) in the middle of a
 * buffer, and the errors EINVAL (negative count, bad offset), EOPNOTSUPP (unknown flag), EBADF.
 */
#include "mfstest.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    static char buf[3 * 4096];
    mt_fill(buf, sizeof buf, 3);

    int fd = open(P("v"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    struct iovec iov[4] = {
        { .iov_base = buf, .iov_len = 10 },
        { .iov_base = buf + 100, .iov_len = 0 },
        { .iov_base = buf + 200, .iov_len = 4096 },
        { .iov_base = "tail", .iov_len = 4 },
    };
    KEEPS(writev(fd, iov, 4));
    EQ(lseek(fd, 0, SEEK_CUR), 4110);
    SAME("v");
    EQ(writev(fd, iov, 0), 0);
    SAME("v");

    /* pwritev and pwritev64 do not move the offset. */
    KEEPS(pwritev(fd, iov, 4, 3));
    KEEPS(pwritev64(fd, iov + 2, 2, 9000));
    EQ(lseek(fd, 0, SEEK_CUR), 4110);
    SAME("v");

    /* pwritev2: offset -1 writes at the current offset and advances it. */
    struct iovec two[2] = { { .iov_base = "AB", .iov_len = 2 }, { .iov_base = "CDE", .iov_len = 3 } };
    EQ(lseek(fd, 50, SEEK_SET), 50);
    KEEPS(pwritev2(fd, two, 2, -1, 0));
    EQ(lseek(fd, 0, SEEK_CUR), 55);
    SAME("v");
    KEEPS(pwritev2(fd, two, 2, 7, 0));
    EQ(lseek(fd, 0, SEEK_CUR), 55);
    SAME("v");
    KEEPS(pwritev2(fd, two, 2, 20, RWF_DSYNC));
    SAME("v");
    /* RWF_APPEND: at the end of the file, whatever the offset says. */
    struct stat st;
    OK(fstat(fd, &st));
    EQ(pwritev2(fd, two, 2, 0, RWF_APPEND), 5);
    struct stat st2;
    OK(fstat(fd, &st2));
    EQ(st2.st_size, st.st_size + 5);
    SAME("v");
    EQ(pwritev2(fd, two, 1, -1, RWF_APPEND), 2);
    SAME("v");

    /* A vectored write cut short inside its second buffer. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = 6000;
    OK(setrlimit(RLIMIT_FSIZE, &lim));
    int s = open(P("short"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct iovec three[3] = {
        { .iov_base = buf, .iov_len = 4096 },
        { .iov_base = buf + 4096, .iov_len = 4096 },
        { .iov_base = buf + 8192, .iov_len = 4096 },
    };
    EQ(writev(s, three, 3), 6000);
    FAILS(writev(s, three, 3), EFBIG);
    EQ(pwritev(s, three, 3, 5000), 1000);
    OK(setrlimit(RLIMIT_FSIZE, &old));
    SAME("short");
    OK(close(s));

    /* Errors. */
    volatile int negative = -1;
    FAILS(writev(fd, iov, negative), EINVAL);
    FAILS(pwritev(fd, iov, 4, -2), EINVAL);
    FAILS(pwritev2(fd, iov, 4, 0, 0x40000000), EOPNOTSUPP);
    FAILS(writev(999, iov, 4), EBADF);
    OK(close(fd));
    FAILS(pwritev2(fd, iov, 4, -1, 0), EBADF);
    fd = open(P("v"), O_RDONLY);
    FAILS(writev(fd, iov, 4), EBADF);
    OK(close(fd));
    SAME("v");

    return mt_done();
}
