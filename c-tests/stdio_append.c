/*
 * Append-mode streams: two "a" streams on one file interleave their flushes, each landing
 * at the end whatever the other wrote; an "a+" stream reads from the start and still
 * appends.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    FILE *a = fopen(P("log"), "a");
    FILE *b = fopen(P("log"), "a");
    CHECK(a != NULL && b != NULL);
    CHECK(fputs("A1\n", a) >= 0);
    KEEPS(fflush(a));
    CHECK(fputs("B1\n", b) >= 0);
    KEEPS(fflush(b));
    MSAME("log");
    CHECK(fputs("A2\n", a) >= 0);
    CHECK(fputs("B2\n", b) >= 0);
    KEEPS(fclose(b));
    MSAME("log");
    KEEPS(fclose(a));
    HOLDS("log", "A1\nB1\nB2\nA2\n");
    MSAME("log");

    FILE *c = fopen(P("log"), "a+");
    CHECK(c != NULL);
    char buf[64] = {0};
    CHECK(fread(buf, 1, sizeof buf - 1, c) == 12);
    CHECK(fputs("C\n", c) >= 0);
    KEEPS(fseek(c, 0, SEEK_SET));
    MSAME("log");
    CHECK(fread(buf, 1, 2, c) == 2 && memcmp(buf, "A1", 2) == 0);
    KEEPS(fclose(c));
    HOLDS("log", "A1\nB1\nB2\nA2\nC\n");
    MSAME("log");

    /* A large append, several buffers long. */
    FILE *d = fopen(P("log"), "a");
    CHECK(d != NULL);
    for (int i = 0; i < 2000; i++)
        CHECK(fprintf(d, "entry %d\n", i) > 0);
    MSAME("log");
    KEEPS(fclose(d));
    MSAME("log");
    return mt_done();
}
