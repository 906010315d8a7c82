/*
 * stdout redirected into the primary with freopen, written through the printf family
 * (fortified: __printf_chk, __fprintf_chk, __vprintf_chk), puts and putchar. A second
 * freopen flushes the old stream into its file before closing it; freopen(NULL) reopens
 * the same file in another mode.
 */
// mfs-cflags: -D_FORTIFY_SOURCE=2
#include "stdio_util.h"

static int my_vprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vprintf(fmt, ap);
    va_end(ap);
    return r;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    CHECK(freopen(P("out.txt"), "w", stdout) == stdout);
    CHECK(printf("number %d\n", 42) == 10);
    CHECK(fprintf(stdout, "%s-%d\n", "str", 7) == 6);
    CHECK(puts("a line") >= 0);
    CHECK(putchar('Z') == 'Z');
    CHECK(putchar('\n') == '\n');
    CHECK(my_vprintf("%05d|\n", 3) == 7);
    KEEPS(fflush(stdout));
    HOLDS("out.txt", "number 42\nstr-7\na line\nZ\n00003|\n");
    MSAME("out.txt");

    /* Output left in the buffer reaches out.txt when freopen closes the old stream. */
    CHECK(printf("pending %s", "bytes") == 13);
    CHECK(freopen(P("out2.txt"), "w", stdout) == stdout);
    HOLDS("out.txt", "number 42\nstr-7\na line\nZ\n00003|\npending bytes");
    MSAME("out.txt");
    CHECK(printf("second\n") == 7);
    KEEPS(fflush(stdout));
    MSAME("out2.txt");

    /* freopen(NULL) reopens the same file: in append mode, its content stays. */
    CHECK(freopen(NULL, "a", stdout) == stdout);
    CHECK(printf("third\n") == 6);
    KEEPS(fclose(stdout));
    HOLDS("out2.txt", "second\nthird\n");
    MSAME("out2.txt");
    return mt_done();
}
