/* Threads that close mirrored descriptors (close, and fclose in every other thread) while
 * others open new ones: the kernel hands a number that was just closed to the next open at
 * once, so the bookkeeping of a closed descriptor must be gone before its number is free, or
 * it is wiped from the new file's (whose later writes would then go unmirrored). Copies
 * identical. */
// mfs-cflags: -pthread
#include "thr_util.h"

#define THREADS 16
#define ROUNDS 150
#define CHUNKS 8

static void *work_stdio(long id)
{
    char name[32], buf[512];
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(name, sizeof name, "s%02ld-%d", id, r % 4);
        FILE *f = fopen(P(name), "w");
        if (!f)
            return (void *)1;
        for (int c = 0; c < CHUNKS; c++) {
            memset(buf, 'A' + (int)(id + r + c) % 26, sizeof buf);
            if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fflush(f) != 0)
                return (void *)2;
            if (c % 3 == 0)
                sched_yield();
        }
        if (fclose(f) != 0)
            return (void *)3;
    }
    return NULL;
}

static void *work(void *arg)
{
    long id = (long)arg;
    if (id % 2)
        return work_stdio(id);
    char name[32], buf[512];
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(name, sizeof name, "t%02ld-%d", id, r % 4);
        int fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            return (void *)1;
        for (int c = 0; c < CHUNKS; c++) {
            memset(buf, 'a' + (int)(id + r + c) % 26, sizeof buf);
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
                return (void *)2;
            if (c % 3 == 0)
                sched_yield();
        }
        if (close(fd) != 0)
            return (void *)3;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    mt_run_threads(THREADS, work);
    return mt_done();
}
