/*
 * Streams left unflushed at exit: an fputs without fclose, a stream with several buffers'
 * worth written, stdout redirected into the primary, and stderr (unbuffered, also used by
 * perror, whose write libc makes internally) dup2'ed onto a file in the primary. The bytes
 * reach the primary in exit's final flush; the harness's tree comparison checks the mirror.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    FILE *f = fopen(P("pending.txt"), "w");
    CHECK(f != NULL);
    CHECK(fputs("abc", f) >= 0);

    FILE *g = fopen(P("big.txt"), "w");
    CHECK(g != NULL);
    for (int i = 0; i < 3000; i++)
        CHECK(fprintf(g, "line %04d\n", i) == 10);

    CHECK(freopen(P("stdout.txt"), "w", stdout) == stdout);
    CHECK(printf("not flushed\n") == 12);

    /* stderr goes to the primary from here on: failures are reported on the saved fd. */
    int saved = dup(2);
    int fd = open(P("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int redirected = fd >= 0 && dup2(fd, 2) == 2;
    close(fd);
    fputs("to stderr\n", stderr);
    errno = ENOENT;
    perror("perror");
    if (!redirected) {
        dprintf(saved, "%s: cannot redirect stderr\n", __FILE__);
        mt_failures++;
    }
    if (mt_failures)
        dprintf(saved, "%d check(s) failed\n", mt_failures);
    return mt_done();
}
