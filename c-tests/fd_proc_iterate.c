/*
 * A program that lists /proc/self/fd and closes every descriptor above 2 it finds (as
 * daemons and sandboxes do), then keeps working: every descriptor it opened itself closes
 * successfully, any other number it may see reports EBADF and nothing else, and files opened
 * and written afterwards are still mirrored.
 */
#include "mfstest.h"

#include <dirent.h>

#define MINE 6

static int is_mine(int fd, const int *mine, int n)
{
    for (int i = 0; i < n; i++)
        if (mine[i] == fd)
            return 1;
    return 0;
}

/* Closes every listed descriptor above 2 except the listing's own; returns how many of
 * `mine` were among those that closed. */
static int sweep(const int *mine, int n)
{
    int fds[65536], count = 0, mine_closed = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 65536) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d))
            fds[count++] = fd;
    }
    OK(closedir(d));
    for (int i = 0; i < count; i++) {
        errno = 0;
        int r = close(fds[i]);
        if (is_mine(fds[i], mine, n)) {
            EQ(r, 0);
            mine_closed += r == 0;
        } else if (r != 0) {
            EQ(errno, EBADF);
        }
    }
    return mine_closed;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int mine[MINE];
    char rel[32];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MINE; i++) {
            snprintf(rel, sizeof rel, "r%d-f%d", round, i);
            mine[i] = i == MINE - 1 ? open(P(""), O_RDONLY | O_DIRECTORY)
                                    : open(P(rel), O_RDWR | O_CREAT | O_TRUNC, 0644);
            CHECK(mine[i] >= 0);
            if (i != MINE - 1)
                EQ(write(mine[i], rel, strlen(rel)), (long)strlen(rel));
        }
        EQ(sweep(mine, MINE), MINE);
        for (int i = 0; i < MINE; i++)
            FAILS(fcntl(mine[i], F_GETFD), EBADF);

        snprintf(rel, sizeof rel, "after-%d", round);
        int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        EQ(fd, 3);
        EQ(write(fd, "written after the sweep", 23), 23);
        SAME(rel);
        OK(close(fd));
    }
    return mt_done();
}
