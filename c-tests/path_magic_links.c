/*
 * Files in the pair reached through magic links outside it: /proc/self/fd/N, /proc/PID/fd/N
 * and /dev/fd/N name an open descriptor, /proc/self/cwd the working directory; however the
 * name is spelt (absolute, relative to a /dev or /proc directory descriptor or working
 * directory), what it opens is mirrored like the file itself.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, "one\n", 4), 4);

    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int g = open(link, O_WRONLY | O_APPEND);
    CHECK(g >= 0);
    EQ(write(g, "two\n", 4), 4);
    OK(close(g));

    snprintf(link, sizeof link, "/dev/fd/%d", fd);
    int h = open(link, O_WRONLY | O_APPEND);
    CHECK(h >= 0);
    EQ(write(h, "three\n", 6), 6);
    OK(close(h));

    /* openat with a dirfd outside the pair and a relative magic path. */
    int dev = open("/dev", O_RDONLY | O_DIRECTORY);
    CHECK(dev >= 0);
    snprintf(link, sizeof link, "fd/%d", fd);
    int k = openat(dev, link, O_WRONLY | O_APPEND);
    CHECK(k >= 0);
    EQ(write(k, "four\n", 5), 5);
    OK(close(k));
    OK(close(dev));

    snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)getpid(), fd);
    k = open(link, O_WRONLY | O_APPEND);
    CHECK(k >= 0);
    EQ(write(k, "five\n", 5), 5);
    OK(close(k));

    /* A working directory under /proc: relative names are placed again. */
    char here[4096];
    CHECK(getcwd(here, sizeof here) != NULL);
    OK(chdir("/proc/self"));
    snprintf(link, sizeof link, "fd/%d", fd);
    k = open(link, O_WRONLY | O_APPEND);
    CHECK(k >= 0);
    EQ(write(k, "six\n", 4), 4);
    OK(close(k));
    OK(close(fd));

    /* The working directory's magic link, with the working directory in the primary. */
    OK(chdir(mt_primary));
    k = open("/proc/self/cwd/g", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    CHECK(k >= 0);
    EQ(write(k, "through cwd\n", 12), 12);
    OK(close(k));
    OK(chdir(here));

    CONTENT_IS(M("f"), "one\ntwo\nthree\nfour\nfive\nsix\n", 28);
    CONTENT_IS(M("g"), "through cwd\n", 12);
    return mt_done();
}
