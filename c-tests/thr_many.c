/* 64 threads, each writing its own file and all writing one shared file (pwrite at their own
 * slots, plus O_APPEND records): copies identical. */
#include "thr_util.h"

#define THREADS 64
static int shared_fd, append_fd;

static void *work(void *arg)
{
    long id = (long)arg;
    char name[32];
    snprintf(name, sizeof name, "t%02ld", id);
    int fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return (void *)1;
    char buf[1000];
    for (int i = 0; i < 200; i++) {
        memset(buf, 'A' + (int)(id + i) % 26, sizeof buf);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            return (void *)2;
        if (pwrite(shared_fd, buf, 100, (off_t)(id * 100 + (i % 10) * THREADS * 100)) != 100)
            return (void *)3;
        char rec[64];
        int n = snprintf(rec, sizeof rec, "thread %ld record %d\n", id, i);
        if (write(append_fd, rec, n) != n)
            return (void *)4;
    }
    return close(fd) == 0 ? NULL : (void *)5;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    shared_fd = open(P("shared"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    append_fd = open(P("append.log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(shared_fd >= 0 && append_fd >= 0);
    mt_run_threads(THREADS, work);
    OK(close(shared_fd));
    OK(close(append_fd));
    return mt_done();
}
