/*
 * A program that lowers its descriptor limit (RLIMIT_NOFILE) below the numbers the shim
 * keeps its own descriptors at, then opens mirrored files until EMFILE: it must get exactly
 * as many descriptors as without the shim (the shim may not take numbers below the limit).
 * Files whose twins cannot be kept are mirrored by path; a change the shim could not make at
 * all (no descriptor free even for a moment) must be in the journal. Raising the limit again
 * restores normal work.
 */
// mfs-args: state
// mfs-compare: no
#include "mfstest.h"

#include <sys/resource.h>

/* True when a journal in the state directory names `rel`. */
static int journaled(const char *state, const char *rel)
{
    char needle[64];
    snprintf(needle, sizeof needle, " %s\n", rel);
    return mt_journal_has(state, needle);
}

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
        if (n == 64)
            break;
    }
    EQ(n, 40 - used);
    /* With one number free again, every write can be mirrored by path. */
    OK(close(fds[--n]));
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "many%02d", i);
        EQ(write(fds[i], rel, strlen(rel)), (long)strlen(rel));
    }
    for (int i = 0; i < n; i++)
        OK(close(fds[i]));
    OK(setrlimit(RLIMIT_NOFILE, &old));
    for (int i = 0; i <= n; i++) {
        snprintf(rel, sizeof rel, "many%02d", i);
        struct stat ms;
        if (stat(M(rel), &ms) != 0 || i == n) {
            /* The last open left no room even for a moment: journaled instead. */
            CHECK(argc >= 4 && journaled(argv[3], rel));
            if (stat(M(rel), &ms) != 0)
                continue;
        }
        SAME(rel);
    }
    n++;
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
