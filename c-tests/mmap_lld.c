/*
 * The way rust-lld writes an executable: create a temporary file exclusively, size it with
 * ftruncate, map it shared and writable, close the descriptor, fill the memory, munmap,
 * then rename the temporary over the final name. The mirror must end with the same file
 * under the final name and no temporary.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    const long size = 3 * 4096 + 123;
    int dir = open(P(""), O_RDONLY | O_DIRECTORY);
    CHECK(dir >= 0);
    int fd = openat(dir, "app.tmp", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0777);
    CHECK(fd >= 0);
    KEEPS(ftruncate(fd, size));
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    KEEPS(close(fd));
    memcpy(p, "\177ELF", 4);
    for (long i = 4; i < size; i++)
        p[i] = (unsigned char)(i * 7 + 3);
    KEEPS(munmap(p, size));
    MSAME("app.tmp");
    KEEPS(renameat(dir, "app.tmp", dir, "app"));
    close(dir);
    CHECK(psize("app") == size);
    MSAME("app");
    if (!mt_native())
        CHECK(mabsent("app.tmp"));
    return mt_done();
}
