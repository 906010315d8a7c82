/*
 * A shared writable mapping still in place at exit (as SQLite leaves its WAL index): the
 * stores reach the mirror when the program ends; the harness compares the trees.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(P("shm"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, 2 * pg));
    char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 's', 2 * pg);
    strcpy(p + pg, "left mapped at exit");
    return mt_done();
}
