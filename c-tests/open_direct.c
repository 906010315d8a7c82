/*
 * open, openat, close and write outside the pair, which the shim makes as plain system calls
 * while the process has one thread and through libc once it has more: results, errno and the
 * mode of created files are the same either way, and once a second thread exists, open, close
 * and write are cancellation points again (a thread cancelled before it calls them ends
 * there).
 */
// mfs-cflags: -pthread
#include "mfstest.h"
#include <pthread.h>
#include <signal.h>

static char outside[4200];

static const char *O(const char *rel)
{
    static char bufs[4][4400];
    static int i;
    char *b = bufs[i++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", outside, rel);
    return b;
}

static void round_of_calls(const char *tag)
{
    char name[64];
    FAILS(open(O("missing"), O_RDONLY), ENOENT);
    FAILS(openat(AT_FDCWD, O("missing/x"), O_RDONLY), ENOENT);
    FAILS(close(-1), EBADF);
    FAILS(close(1000000), EBADF);
    FAILS(openat(987654, "relative", O_RDONLY), EBADF);

    snprintf(name, sizeof name, "made-%s", tag);
    umask(027);
    int fd = open(O(name), O_WRONLY | O_CREAT | O_EXCL, 0666);
    CHECK(fd >= 0);
    FAILS(open(O(name), O_WRONLY | O_CREAT | O_EXCL, 0666), EEXIST);
    FAILS(open(O(name), O_RDONLY | O_DIRECTORY), ENOTDIR);
    struct stat st;
    OK(fstat(fd, &st));
    EQ(st.st_mode & 07777, 0640);
    EQ(write(fd, tag, strlen(tag)), (ssize_t)strlen(tag));
    EQ(write(fd, tag, 0), 0);
    const char *volatile nowhere = NULL;
    FAILS(write(fd, nowhere, 1), EFAULT);
    OK(close(fd));
    FAILS(close(fd), EBADF);
    FAILS(write(fd, tag, 1), EBADF);
    FAILS(write(-1, tag, 1), EBADF);
    int pipefd[2];
    OK(pipe(pipefd));
    FAILS(write(pipefd[0], tag, 1), EBADF);
    OK(close(pipefd[0]));
    FAILS(write(pipefd[1], tag, 1), EPIPE);
    OK(close(pipefd[1]));

    int dir = open(outside, O_RDONLY | O_DIRECTORY);
    CHECK(dir >= 0);
    fd = openat(dir, name, O_RDONLY);
    CHECK(fd >= 0);
    char buf[64] = {0};
    EQ(read(fd, buf, sizeof buf), (ssize_t)strlen(tag));
    CHECK(strcmp(buf, tag) == 0);
    OK(close(fd));
    snprintf(name, sizeof name, "%s/sub", tag);
    FAILS(openat(dir, name, O_WRONLY | O_CREAT, 0644), ENOENT);
    int tmp = openat(dir, ".", O_TMPFILE | O_WRONLY, 0600);
    if (tmp >= 0) {
        OK(fstat(tmp, &st));
        EQ(st.st_mode & 07777, 0600);
        OK(close(tmp));
    } else {
        /* The file system has no O_TMPFILE: the refusal is the kernel's own. */
        CHECK(errno == EOPNOTSUPP || errno == EISDIR);
    }
    OK(close(dir));

    /* A file inside the pair, between the outside calls, is still mirrored. */
    snprintf(name, sizeof name, "inside-%s", tag);
    fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, tag, strlen(tag)), (ssize_t)strlen(tag));
    OK(close(fd));
    umask(022);
}

static pthread_barrier_t ready, cancelled;
static volatile int returned_from_open, returned_from_close, returned_from_write;

static void *cancelled_at_open(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&cancelled);
    int fd = open(O("made-one"), O_RDONLY);
    returned_from_open = 1;
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void *cancelled_at_close(void *arg)
{
    int fd = *(int *)arg;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&cancelled);
    close(fd);
    returned_from_close = 1;
    return NULL;
}

static void *cancelled_at_write(void *arg)
{
    int fd = *(int *)arg;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&cancelled);
    write(fd, "x", 1);
    returned_from_write = 1;
    return NULL;
}

static void cancel_at(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_barrier_init(&ready, NULL, 2);
    pthread_barrier_init(&cancelled, NULL, 2);
    CHECK(pthread_create(&t, NULL, fn, arg) == 0);
    pthread_barrier_wait(&ready);
    CHECK(pthread_cancel(t) == 0);
    pthread_barrier_wait(&cancelled);
    void *res = NULL;
    CHECK(pthread_join(t, &res) == 0);
    CHECK(res == PTHREAD_CANCELED);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&cancelled);
}

static void *idle(void *arg)
{
    pthread_barrier_wait(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    /* The working directory is a scratch directory outside both trees. */
    CHECK(getcwd(outside, sizeof outside - 64) != NULL);
    strcat(outside, "/direct");
    OK(mkdir(outside, 0755));

    round_of_calls("one");

    /* A second thread that stays alive: the process is multi-threaded from here on. */
    pthread_barrier_t done;
    pthread_barrier_init(&done, NULL, 2);
    pthread_t helper;
    CHECK(pthread_create(&helper, NULL, idle, &done) == 0);
    round_of_calls("many");

    cancel_at(cancelled_at_open, NULL);
    CHECK(!returned_from_open);
    int fd = open(O("made-one"), O_RDONLY);
    CHECK(fd >= 0);
    cancel_at(cancelled_at_close, &fd);
    CHECK(!returned_from_close);
    /* Whether the cancelled close closed the descriptor is libc's business. */
    close(fd);
    fd = open(O("written"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    cancel_at(cancelled_at_write, &fd);
    CHECK(!returned_from_write);
    OK(close(fd));

    pthread_barrier_wait(&done);
    CHECK(pthread_join(helper, NULL) == 0);
    return mt_done();
}
