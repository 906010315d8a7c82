/*
 * A program that lowers its descriptor limit (RLIMIT_NOFILE) below the numbers the shim
 * keeps its own descriptors at, then opens mirrored files until EMFILE: it must get exactly
 * as many descriptors as without the shim (the shim may not take numbers below the limit),
 * every file it opened must be mirrored, and raising the limit again restores normal work.
 */
#include "mfstest.h"

#include <sys/resource.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    struct rlimit old, lim;
    OK(getrlimit(RLIMIT_NOFILE, &old));
    lim = old;
    lim.rlim_cur = 40;
    OK(setrlimit(RLIMIT_NOFILE, &lim));
    int used = 0;
    for (int i = 0; i < 40; i++)
        used += fcntl(i, F_GETFD) != -1;
    int fds[64], n = 0;
    char rel[32];
    for (;;) {
        snprintf(rel, sizeof rel, "many%02d", n);
        errno = 0;
        int f = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (f < 0) {
            EQ(errno, EMFILE);
            break;
        }
        fds[n++] = f;
        EQ(write(f, rel, strlen(rel)), (long)strlen(rel));
        if (n == 64)
            break;
    }
    EQ(n, 40 - used);
    for (int i = 0; i < n; i++)
        OK(close(fds[i]));
    OK(setrlimit(RLIMIT_NOFILE, &old));
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "many%02d", i);
        SAME(rel);
    }
    /* The failed open must not have left a file on either side... */
    snprintf(rel, sizeof rel, "many%02d", n);
    int left = access(P(rel), F_OK) == 0;
    if (left) /* ...or, if the kernel created it before failing, the same on both. */
        SAME(rel);

    int fd = open(P("after"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, "limit restored", 14), 14);
    OK(close(fd));
    SAME("after");
    return mt_done();
}
