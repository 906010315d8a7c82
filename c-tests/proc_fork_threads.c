/* fork while other threads are inside the shim (writing mirrored files): the children keep
 * mirroring and never deadlock on state a thread held at fork time. */
#include "mfstest.h"
#include <pthread.h>
#include <sys/wait.h>

static volatile int stop;

static void *writer(void *arg)
{
    long id = (long)arg;
    char name[64];
    snprintf(name, sizeof name, "thread%ld", id);
    int fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return (void *)1;
    char buf[512];
    memset(buf, 'a' + (int)id, sizeof buf);
    long total = 0;
    while (!stop && total < 64 * 1024 * 1024) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            return (void *)2;
        total += sizeof buf;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0);
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char name[64];
            snprintf(name, sizeof name, "child%d", i);
            int fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0)
                _exit(1);
            for (int k = 0; k < 50; k++)
                if (write(fd, "child line\n", 11) != 11)
                    _exit(2);
            _exit(close(fd) == 0 ? 0 : 3);
        }
        CHECK(pid > 0);
        int st = 0;
        OK(waitpid(pid, &st, 0));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    stop = 1;
    for (int i = 0; i < 3; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        CHECK(r == NULL);
    }
    return mt_done();
}
