/* The shim's twin descriptors are invisible: closing a twin's number fails with EBADF as if
 * nothing were open there, dup2/dup3 onto a twin's number give the program that number while
 * mirroring of the original file goes on, and everything keeps mirroring afterwards. */
#include "mfstest.h"
#include <dirent.h>

/* The descriptors this process has open on files inside the mirror tree (the twins). */
static int twins_of(int *out, int cap)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    struct dirent *e;
    size_t ml = strlen(mt_mirror);
    while ((e = readdir(d)) && n < cap) {
        char link[300], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        if (strncmp(target, mt_mirror, ml) == 0 && target[ml] == '/')
            out[n++] = atoi(e->d_name);
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int a = open(P("a"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int b = open(P("b"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(a >= 0 && b >= 0);
    EQ(write(a, "a1\n", 3), 3);
    EQ(write(b, "b1\n", 3), 3);
    int twins[16];
    int n = twins_of(twins, 16);
    CHECK(n >= 2); /* one twin per open file (natively: none, and the checks below are void) */
    for (int i = 0; i < n; i++)
        CHECK(twins[i] > 2 && twins[i] != a && twins[i] != b);

    if (n >= 2) {
        /* close() of a twin's number: the program never had it. */
        FAILS(close(twins[0]), EBADF);
        /* dup2 onto a twin's number: the program gets that number for its own file... */
        int t1 = twins[1];
        EQ(dup2(b, t1), t1);
        EQ(write(t1, "b2 via dup2\n", 12), 12);
        /* ...and dup3 onto another twin number (after dup2 moved things, look again). */
        int m = twins_of(twins, 16);
        for (int i = 0; i < m; i++)
            if (twins[i] != t1) {
                EQ(dup3(a, twins[i], O_CLOEXEC), twins[i]);
                EQ(write(twins[i], "a2 via dup3\n", 12), 12);
                OK(close(twins[i]));
                break;
            }
        OK(close(t1));
    }
    /* The original descriptors still mirror. */
    EQ(write(a, "a3\n", 3), 3);
    EQ(write(b, "b3\n", 3), 3);
    OK(close(a));
    OK(close(b));
    int c = open(P("c"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(c, "after\n", 6), 6);
    OK(close(c));
    return mt_done();
}
