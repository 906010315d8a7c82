/*
 * Stores into a MAP_SHARED, PROT_WRITE mapping of a mirrored file reach the mirror at
 * msync (MS_SYNC and MS_ASYNC, whole and partial ranges, a mapping at a file offset).
 * A MAP_PRIVATE mapping changes neither copy. Failing msync keeps its errno.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(P("m.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, 3 * pg));
    char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 'x', 3 * pg);
    KEEPS(msync(p, 3 * pg, MS_SYNC));
    MSAME("m.bin");

    p[pg + 5] = 'Y';
    p[2 * pg] = 'Z';
    KEEPS(msync(p + pg, pg, MS_ASYNC)); /* only the second page */
    MRANGE("m.bin", pg, pg);
    KEEPS(msync(p + 2 * pg, pg, MS_SYNC));
    MSAME("m.bin");

    /* A second mapping at a file offset. */
    char *q = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * pg);
    CHECK(q != MAP_FAILED);
    memcpy(q + 100, "offset mapping", 14);
    KEEPS(msync(q, pg, MS_SYNC));
    MSAME("m.bin");
    KEEPS(munmap(q, pg));

    /* MAP_PRIVATE: copy-on-write, no file changes. */
    char *r = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(r != MAP_FAILED);
    memset(r, 'P', pg);
    KEEPS(msync(r, pg, MS_SYNC));
    KEEPS(munmap(r, pg));
    CHECK(p[0] == 'x');
    MSAME("m.bin");

    /* msync of memory that is not mapped fails with ENOMEM. */
    KEEPS(munmap(p, 3 * pg));
    errno = 0;
    CHECK(msync(p, pg, MS_SYNC) == -1 && errno == ENOMEM);
    KEEPS(close(fd));
    MSAME("m.bin");
    return mt_done();
}
