/*
 * fflush(NULL) and fcloseall flush every stream: a "w", an "a" and a "w+" stream with
 * pending output must all reach the mirror.
 */
#include "stdio_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    FILE *w = fopen(P("w"), "w");
    FILE *a = fopen(P("a"), "a");
    FILE *u = fopen(P("u"), "w+");
    CHECK(w && a && u);
    CHECK(fputs("to w\n", w) >= 0);
    CHECK(fputs("to a\n", a) >= 0);
    CHECK(fputs("to u\n", u) >= 0);
    KEEPS(fflush(NULL));
    HOLDS("w", "to w\n");
    HOLDS("a", "to a\n");
    HOLDS("u", "to u\n");
    MSAME("w");
    MSAME("a");
    MSAME("u");

    CHECK(fputs("more w\n", w) >= 0);
    CHECK(fputs("more a\n", a) >= 0);
    CHECK(fputs("more u\n", u) >= 0);
    KEEPS(fflush_unlocked(NULL));
    MSAME("w");
    MSAME("a");
    MSAME("u");

    CHECK(fputs("last w\n", w) >= 0);
    CHECK(fputs("last a\n", a) >= 0);
    CHECK(fputs("last u\n", u) >= 0);
    KEEPS(fcloseall());
    HOLDS("w", "to w\nmore w\nlast w\n");
    MSAME("w");
    MSAME("a");
    MSAME("u");
    return mt_done();
}
