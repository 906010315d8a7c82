/*
 * An update stream ("r+") that reads ahead, seeks and overwrites: glibc seeks back over
 * unread input before it writes, so the bytes land below the descriptor's offset. fseek,
 * fseeko, rewind and fsetpos each flush first; every overwrite must reach the mirror.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    FILE *f = fopen(P("s.txt"), "w");
    CHECK(f != NULL);
    for (int i = 0; i < 1000; i++)
        CHECK(fputs("0123456789", f) >= 0);
    KEEPS(fclose(f));
    MSAME("s.txt");

    f = fopen(P("s.txt"), "r+");
    CHECK(f != NULL);
    char buf[16];
    CHECK(fread(buf, 1, 5, f) == 5); /* reads ahead a whole buffer */
    KEEPS(fseek(f, 0, SEEK_CUR));
    CHECK(fwrite("ABC", 1, 3, f) == 3);
    KEEPS(fseek(f, 100, SEEK_SET));
    MSAME("s.txt");
    CHECK(fputs("XYZ", f) >= 0);
    KEEPS(fflush(f));
    MSAME("s.txt");

    rewind(f);
    CHECK(fputc('#', f) == '#');
    KEEPS(fseeko(f, 9000, SEEK_SET));
    MSAME("s.txt");

    fpos_t pos;
    KEEPS(fgetpos(f, &pos));
    CHECK(fputs("QQ", f) >= 0);
    KEEPS(fsetpos(f, &pos));
    MSAME("s.txt");
    CHECK(fread(buf, 1, 2, f) == 2 && memcmp(buf, "QQ", 2) == 0);

    /* Read 10 of a block, then overwrite exactly the unread rest of it: the flush seeks back
     * and ends where the descriptor already was. */
    KEEPS(fseek(f, 4096, SEEK_SET));
    CHECK(fread(buf, 1, 10, f) == 10);
    KEEPS(fseek(f, 0, SEEK_CUR));
    static char rest[4096 - 10];
    memset(rest, 'r', sizeof rest);
    CHECK(fwrite(rest, 1, sizeof rest, f) == sizeof rest);
    KEEPS(fflush(f));
    MSAME("s.txt");

    /* Past the end: a hole, then data. */
    KEEPS(fseeko64(f, 20000, SEEK_SET));
    CHECK(fputs("END", f) >= 0);
    KEEPS(fclose(f));
    CHECK(psize("s.txt") == 20003);
    MSAME("s.txt");
    return mt_done();
}
