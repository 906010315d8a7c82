/*
 * fopen/fwrite/fclose on a mirrored file: buffered and direct (larger than the buffer)
 * writes, a truncating reopen, "x" on an existing file, "w+" with a read back, and
 * fwrite_unlocked. Each sync point (fflush, fclose) must leave the mirror identical.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    static char big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);

    errno = 1234;
    FILE *f = fopen(P("w.txt"), "w");
    CHECK(f != NULL);
    CHECK(errno == 1234);
    CHECK(fwrite("hello ", 1, 6, f) == 6);
    MSAME("w.txt"); /* nothing flushed yet: both empty */
    CHECK(fwrite(big, 1, sizeof big, f) == sizeof big);
    MSAME("w.txt"); /* the buffer and most of `big` reached the file */
    CHECK(fwrite(big, 100, 3, f) == 3);
    KEEPS(fflush(f));
    MSAME("w.txt");
    CHECK(psize("w.txt") == 6 + 10000 + 300);
    KEEPS(fclose(f));
    MSAME("w.txt");

    /* "w" truncates the primary, and so the mirror. */
    f = fopen(P("w.txt"), "w");
    CHECK(f != NULL);
    CHECK(fputs("short", f) >= 0);
    KEEPS(fclose(f));
    HOLDS("w.txt", "short");
    MSAME("w.txt");

    /* "x" on an existing file fails with EEXIST and changes nothing. */
    errno = 0;
    CHECK(fopen(P("w.txt"), "wx") == NULL && errno == EEXIST);
    MSAME("w.txt");

    /* "w+" (O_RDWR): write, read back, write more. */
    f = fopen64(P("rw.txt"), "w+");
    CHECK(f != NULL);
    CHECK(fwrite_unlocked("0123456789", 1, 10, f) == 10);
    rewind(f);
    char buf[4] = {0};
    CHECK(fread(buf, 1, 3, f) == 3 && memcmp(buf, "012", 3) == 0);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    CHECK(fputs("abc", f) >= 0);
    KEEPS(fclose(f));
    HOLDS("rw.txt", "0123456789abc");
    MSAME("rw.txt");

    /* A stream that is never written leaves an empty twin. */
    f = fopen(P("empty.txt"), "w");
    CHECK(f != NULL);
    KEEPS(fclose(f));
    MSAME("empty.txt");

    /* Reading a missing file fails as it would without the shim. */
    errno = 0;
    CHECK(fopen(P("missing"), "r") == NULL && errno == ENOENT);
    return mt_done();
}
