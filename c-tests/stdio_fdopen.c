/*
 * fdopen on descriptors in the primary: a "w" stream on an O_WRONLY fd, an "a" stream on an
 * O_RDWR fd (libc sets O_APPEND itself), and close() of a stream's descriptor under a live
 * stream. fclose closes the descriptor inside libc; the shim must forget it.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("fd.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    CHECK(f != NULL);
    CHECK(fprintf(f, "via fdopen %d\n", 1) == 13);
    KEEPS(fflush(f));
    MSAME("fd.txt");
    KEEPS(fclose(f));
    errno = 0;
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    MSAME("fd.txt");

    /* The descriptor number is free again and reused by the next open. */
    int fd2 = open(P("fd.txt"), O_RDWR);
    CHECK(fd2 == fd);
    FILE *g = fdopen(fd2, "a");
    CHECK(g != NULL);
    CHECK(fputs("appended\n", g) >= 0);
    KEEPS(fclose(g));
    HOLDS("fd.txt", "via fdopen 1\nappended\n");
    MSAME("fd.txt");

    /* close() under a stream whose output was flushed: the mirror is level. */
    int fd3 = open(P("fd3.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd3 >= 0);
    FILE *h = fdopen(fd3, "w");
    CHECK(h != NULL);
    CHECK(fputs("x", h) >= 0);
    KEEPS(fflush(h));
    KEEPS(close(fd3));
    MSAME("fd3.txt");
    errno = 0;
    CHECK(fclose(h) == EOF && errno == EBADF);
    return mt_done();
}
