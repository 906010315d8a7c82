/*
 * dprintf and vdprintf write through a temporary stream on the descriptor and flush it
 * before returning: each call's bytes must be on the mirror when it returns, at the offset
 * they took on the primary (after an lseek, and at the end for O_APPEND).
 */
// mfs-cflags: -D_FORTIFY_SOURCE=2
#include "stdio_util.h"

static int my_vdprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vdprintf(fd, fmt, ap);
    va_end(ap);
    return r;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("d.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    for (int i = 0; i < 1000; i++) {
        CHECK(dprintf(fd, "line %d\n", i) > 0);
        if (i % 250 == 0)
            MSAME("d.txt");
    }
    MSAME("d.txt");
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    errno = 1234;
    CHECK(my_vdprintf(fd, "%s", "OVER") == 4);
    CHECK(errno == 1234);
    MSAME("d.txt");
    close(fd);

    fd = open(P("d.txt"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(dprintf(fd, "tail %x\n", 255) == 8);
    MSAME("d.txt");
    close(fd);
    return mt_done();
}
