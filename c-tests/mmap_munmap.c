/*
 * munmap without msync: the stores reach the mirror when the mapping goes, also when the
 * program closed its descriptor first, and when the mapping is unmapped in parts (the
 * middle first, so the rest is split in two).
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(P("u.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, 4 * pg));
    char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    KEEPS(close(fd)); /* the mapping outlives the descriptor */
    for (int i = 0; i < 4; i++)
        memset(p + i * pg, 'a' + i, pg);
    KEEPS(munmap(p + pg, 2 * pg)); /* the middle: pages 1 and 2 */
    MRANGE("u.bin", pg, 2 * pg);
    p[0] = '0';
    p[3 * pg + 1] = '3';
    KEEPS(munmap(p, pg));
    MRANGE("u.bin", 0, 3 * pg);
    KEEPS(munmap(p + 3 * pg, pg));
    MSAME("u.bin");

    /* A file whose size is not a whole number of pages. */
    fd = open(P("odd.bin"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, 1000));
    p = mmap(NULL, 1000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    memcpy(p, "odd sized file", 14);
    memset(p + 900, 'e', 100);
    KEEPS(munmap(p, 1000));
    KEEPS(close(fd));
    CHECK(psize("odd.bin") == 1000);
    MSAME("odd.bin");
    return mt_done();
}
