/*
 * Character output that fills the buffer many times: putc and fputc (function calls),
 * putc_unlocked (an inline macro that calls __overflow when the buffer is full) and
 * putchar on a redirected stdout. Whatever was flushed by the loop must already be on the
 * mirror before any explicit flush.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    FILE *f = fopen(P("p.txt"), "w");
    CHECK(f != NULL);
    for (int i = 0; i < 100000; i++)
        CHECK(putc('a' + i % 26, f) == 'a' + i % 26);
    CHECK(psize("p.txt") > 90000);
    MSAME("p.txt");
    for (int i = 0; i < 50000; i++)
        CHECK(fputc('0' + i % 10, f) == '0' + i % 10);
    MSAME("p.txt");
    KEEPS(fclose(f));
    CHECK(psize("p.txt") == 150000);
    MSAME("p.txt");

    f = fopen(P("u.txt"), "w");
    CHECK(f != NULL);
    flockfile(f);
    for (int i = 0; i < 70000; i++)
        putc_unlocked('A' + i % 26, f);
    funlockfile(f);
    MSAME("u.txt");
    KEEPS(fclose(f));
    CHECK(psize("u.txt") == 70000);
    MSAME("u.txt");

    CHECK(freopen(P("stdout.txt"), "w", stdout) == stdout);
    for (int i = 0; i < 30000; i++) {
        putchar('x');
        putchar_unlocked('\n');
    }
    MSAME("stdout.txt");
    KEEPS(fclose(stdout));
    CHECK(psize("stdout.txt") == 60000);
    MSAME("stdout.txt");
    return mt_done();
}
