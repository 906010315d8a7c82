/*
 * Several threads writing one shared stream at once (the stream's lock serialises them),
 * plus one stream per thread: every flush, whichever thread makes it, must reach the mirror
 * at the offset it took on the primary.
 */
#include "stdio_util.h"

#include <pthread.h>

static FILE *shared;

static void *writer(void *arg)
{
    long id = (long)arg;
    char name[32];
    snprintf(name, sizeof name, "own%ld.txt", id);
    FILE *own = fopen(P(name), "w");
    if (!own)
        return (void *)1;
    for (int i = 0; i < 20000; i++) {
        if (fprintf(shared, "thread %ld line %05d\n", id, i) != 20)
            return (void *)1;
        if (fputs("abcdefghij\n", own) < 0)
            return (void *)1;
    }
    return (void *)(long)(fclose(own) != 0);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    shared = fopen(P("shared.txt"), "w");
    CHECK(shared != NULL);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        CHECK(r == NULL);
    }
    MSAME("shared.txt");
    KEEPS(fclose(shared));
    CHECK(psize("shared.txt") == 4 * 20000 * 20);
    MSAME("shared.txt");
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "own%d.txt", i);
        CHECK(psize(name) == 20000 * 11);
        MSAME(name);
    }
    return mt_done();
}
