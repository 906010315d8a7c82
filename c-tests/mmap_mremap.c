/*
 * mremap of a shared writable mapping: grown (possibly moved) after the file was extended,
 * stores into the new pages reach the mirror at msync and munmap; shrunk, the stores into
 * the part cut off reach the mirror too.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(P("r.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, pg));
    char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    memset(p, '1', pg);
    KEEPS(ftruncate(fd, 4 * pg));
    char *q = mremap(p, pg, 4 * pg, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED);
    memset(q + 3 * pg, '4', pg);
    KEEPS(msync(q, 4 * pg, MS_SYNC));
    MSAME("r.bin");

    memset(q + pg, '2', pg);
    memset(q + 2 * pg, '3', pg); /* cut off below, never msync'ed */
    char *s = mremap(q, 4 * pg, 2 * pg, 0);
    CHECK(s == q);
    MRANGE("r.bin", 2 * pg, 2 * pg); /* the part cut off */
    s[pg + 1] = '!';
    KEEPS(munmap(s, 2 * pg));
    MSAME("r.bin");
    KEEPS(close(fd));
    return mt_done();
}
