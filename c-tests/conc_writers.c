/*
 * Concurrent writers for the coherency test: THREADS threads each make OPS writes of random
 * lengths at random offsets inside the first MiB of PRIMARY/shared, mixing pwrite on one
 * descriptor shared by all threads, lseek + write and writev on a descriptor of the thread's
 * own, and pwritev. Several processes run this at once (tests/tests/concurrency.rs); the
 * overlapping writes must leave both copies byte-identical.
 *
 * usage: conc_writers PRIMARY MIRROR [SEED [THREADS [OPS]]]
 */
#include "mfstest.h"

#include <pthread.h>
#include <sys/uio.h>

#define SPAN (1 << 20)
#define MAXLEN 16384

static int shared_fd;
static unsigned seed = 1;
static int ops = 100;

static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void *writer(void *arg)
{
    unsigned s = seed * 7919u + (unsigned)(long)arg * 104729u;
    static __thread char buf[MAXLEN];
    int own = open(P("shared"), O_RDWR);
    if (own < 0) {
        perror("open");
        return (void *)1;
    }
    long bad = 0;
    for (int i = 0; i < ops; i++) {
        size_t len = 1 + next(&s) % MAXLEN;
        off_t off = next(&s) % (SPAN - len);
        mt_fill(buf, len, next(&s));
        switch (next(&s) % 4) {
        case 0:
            bad += pwrite(shared_fd, buf, len, off) != (ssize_t)len;
            break;
        case 1:
            bad += lseek(own, off, SEEK_SET) != off || write(own, buf, len) != (ssize_t)len;
            break;
        case 2: {
            size_t half = len / 2;
            struct iovec iov[2] = { { buf, half }, { buf + half, len - half } };
            bad += lseek(own, off, SEEK_SET) != off || writev(own, iov, 2) != (ssize_t)len;
            break;
        }
        default: {
            size_t third = len / 3;
            struct iovec iov[3] = { { buf, third }, { buf + third, third }, { buf + 2 * third, len - 2 * third } };
            bad += pwritev(shared_fd, iov, 3, off) != (ssize_t)len;
            break;
        }
        }
    }
    if (close(own) != 0)
        bad++;
    return (void *)bad;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int threads = 4;
    if (argc > 3)
        seed = (unsigned)atoi(argv[3]);
    if (argc > 4)
        threads = atoi(argv[4]);
    if (argc > 5)
        ops = atoi(argv[5]);
    if (threads < 1 || threads > 64 || ops < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    shared_fd = open(P("shared"), O_RDWR | O_CREAT, 0644);
    CHECK(shared_fd >= 0);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        EQ(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < threads; i++) {
        void *bad = NULL;
        EQ(pthread_join(t[i], &bad), 0);
        if (bad != NULL) {
            fprintf(stderr, "thread %d: %ld write(s) failed or came up short\n", i, (long)bad);
            mt_failures++;
        }
    }
    OK(close(shared_fd));
    return mt_done();
}
