/*
 * write on mirrored files: sizes from 0 bytes to 8 MiB, writes at the current offset after
 * lseek (incl. past the end, leaving a hole), two descriptors with independent offsets, a
 * write the kernel cuts short (RLIMIT_FSIZE) and the one after it (EFBIG), and the error
 * cases EBADF (bad, read-only and directory descriptors) and EFAULT. The mirror must hold
 * exactly what the primary holds after every call.
 */
#include "mfstest.h"

#include <signal.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    static char big[8 << 20];
    mt_fill(big, sizeof big, 1);

    int fd = open(P("sizes"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    size_t sizes[] = { 0, 1, 2, 511, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20 };
    size_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        KEEPS(write(fd, big + at, sizes[i]));
        at += sizes[i];
        SAME("sizes");
    }
    EQ(lseek(fd, 0, SEEK_CUR), (long)at);
    OK(close(fd));

    /* One 8 MiB write. */
    fd = open(P("big"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EQ(write(fd, big, sizeof big), (long)sizeof big);
    SAME("big");

    /* Writes after lseek: overwrite, append, and past the end (a hole of zeros). */
    EQ(lseek(fd, 100, SEEK_SET), 100);
    EQ(write(fd, "overwrite", 9), 9);
    EQ(lseek(fd, 0, SEEK_END), (long)sizeof big);
    EQ(write(fd, "tail", 4), 4);
    EQ(lseek(fd, 1 << 20, SEEK_CUR), (long)sizeof big + 4 + (1 << 20));
    EQ(write(fd, "after a hole", 12), 12);
    SAME("big");
    EQ(lseek(fd, -6, SEEK_END), (long)sizeof big + 4 + (1 << 20) + 6);
    EQ(write(fd, "HOLE", 4), 4);
    SAME("big");
    OK(close(fd));

    /* Two descriptors on one file, each with its own offset. */
    int a = open(P("two"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    int b = open(P("two"), O_WRONLY);
    CHECK(a >= 0 && b >= 0);
    EQ(write(a, "aaaaaaaaaa", 10), 10);
    EQ(write(b, "bbb", 3), 3);
    EQ(write(a, "AA", 2), 2);
    EQ(write(b, "BBBBBBBBBBBBBBB", 15), 15);
    CONTENT_IS(P("two"), "bbbBBBBBBBBBBBBBBB", 18);
    SAME("two");
    OK(close(a));
    OK(close(b));

    /* A write the kernel shortens, then EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = 10000;
    OK(setrlimit(RLIMIT_FSIZE, &lim));
    fd = open(P("short"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, big, 16384), 10000);
    FAILS(write(fd, big, 10), EFBIG);
    OK(setrlimit(RLIMIT_FSIZE, &old));
    SAME("short");
    OK(close(fd));

    /* Errors: nothing may change anywhere. */
    FAILS(write(-1, "x", 1), EBADF);
    FAILS(write(4242, "x", 1), EBADF);
    fd = open(P("two"), O_RDONLY);
    FAILS(write(fd, "x", 1), EBADF);
    OK(close(fd));
    fd = open(P(""), O_RDONLY | O_DIRECTORY);
    FAILS(write(fd, "x", 1), EBADF);
    OK(close(fd));
    fd = open(P("two"), O_WRONLY);
    const char *volatile bad = (const char *)8;
    FAILS(write(fd, bad, 10), EFAULT);
    EQ(lseek(fd, 0, SEEK_CUR), 0);
    OK(close(fd));
    SAME("two");

    return mt_done();
}
