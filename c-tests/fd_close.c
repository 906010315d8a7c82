/*
 * Closing descriptors wholesale, as daemons and spawners do: close() on every number from 3
 * to the descriptor limit, close_range and closefrom. Exactly the program's own descriptors
 * close successfully; every other number reports EBADF as if nothing were open there; and
 * opening and writing files afterwards is still mirrored.
 */
#include "mfstest.h"

#include <sys/resource.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Opens n mirrored files named prefix0.. and writes to each; returns the highest fd. */
static int open_some(const char *prefix, int n, int *fds)
{
    char rel[64];
    int hi = -1;
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "%s%d", prefix, i);
        fds[i] = open(P(rel), O_RDWR | O_CREAT | O_TRUNC, 0644);
        CHECK(fds[i] >= 0);
        EQ(write(fds[i], rel, strlen(rel)), (long)strlen(rel));
        hi = fds[i] > hi ? fds[i] : hi;
    }
    return hi;
}

/* After everything was closed: new files are mirrored, and the lowest numbers are reused. */
static void still_mirrors(const char *rel)
{
    int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(fd, 3);
    EQ(write(fd, "still mirrored", 14), 14);
    EQ(pwrite(fd, "S", 1, 0), 1);
    OK(ftruncate(fd, 10));
    SAME(rel);
    OK(close(fd));
    CONTENT_IS(M(rel), "Still mirr", 10);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int fds[8];

    /* Descriptors inherited from whoever started the program count as its own. */
    struct rlimit rl;
    OK(getrlimit(RLIMIT_NOFILE, &rl));
    long limit = (long)rl.rlim_cur, inherited = 0;
    for (long fd = 3; fd < limit; fd++)
        inherited += fcntl((int)fd, F_GETFD) != -1;

    /* 1. close() on every number up to the limit. */
    open_some("a", 8, fds);
    int dirfd = open(P(""), O_RDONLY | O_DIRECTORY);
    CHECK(dirfd >= 0);
    long closed = 0, ebadf = 0, other = 0;
    for (long fd = 3; fd < limit; fd++) {
        errno = 0;
        if (close((int)fd) == 0)
            closed++;
        else if (errno == EBADF)
            ebadf++;
        else
            other++;
    }
    EQ(closed, 9 + inherited);
    EQ(other, 0);
    EQ(ebadf, limit - 3 - 9 - inherited);
    FAILS(write(fds[0], "x", 1), EBADF);
    FAILS(fcntl(fds[7], F_GETFD), EBADF);
    still_mirrors("after-close-loop");

    /* 2. close_range over everything. */
    open_some("b", 8, fds);
    errno = 1234;
    EQ(close_range(3, ~0U, 0), 0);
    EQ(errno, 1234);
    FAILS(write(fds[3], "x", 1), EBADF);
    still_mirrors("after-close-range");

    /* close_range over a part, and with CLOSE_RANGE_CLOEXEC. */
    int hi = open_some("c", 8, fds);
    EQ(close_range(fds[0], fds[3], 0), 0);
    FAILS(write(fds[0], "x", 1), EBADF);
    EQ(write(fds[4], "+", 1), 1);
    EQ(close_range(fds[4], hi, CLOSE_RANGE_CLOEXEC), 0);
    EQ(fcntl(fds[5], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ(write(fds[5], "+", 1), 1);
    SAME("c5");
    EQ(close_range(fds[4], hi, 0), 0);
    SAME("c4");
    FAILS(close_range(10, 5, 0), EINVAL);
    FAILS(close_range(3, 10, 0x1000), EINVAL);
    still_mirrors("after-partial-close-range");

    /* 3. closefrom. */
    open_some("d", 8, fds);
    errno = 1234;
    closefrom(3);
    EQ(errno, 1234);
    FAILS(write(fds[7], "x", 1), EBADF);
    FAILS(close(fds[0]), EBADF);
    still_mirrors("after-closefrom");

    /* Repeated full sweeps do not wear anything out. */
    for (int round = 0; round < 3; round++) {
        open_some("e", 4, fds);
        closefrom(3);
        EQ(close_range(3, ~0U, 0), 0);
    }
    still_mirrors("after-rounds");

    return mt_done();
}
