/* A signal handler that writes to a mirrored fd interrupts hooks (including ones writing the
 * same fd): no deadlock, no write applied twice, copies identical. Partial writes (a file size
 * limit cuts a write short) mirror exactly the bytes the primary took. */
#include "mfstest.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>

static int shared_fd, log_fd;
static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    char line[32];
    int n = snprintf(line, sizeof line, "tick %d\n", (int)ticks);
    if (write(log_fd, line, n) != n)
        _exit(20);
    /* Also write into the file the main loop is writing, at a fixed slot. */
    if (pwrite(shared_fd, "S", 1, (off_t)(ticks % 4096)) != 1)
        _exit(21);
    ticks++;
    errno = saved;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    shared_fd = open(P("shared"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    log_fd = open(P("ticks"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(shared_fd >= 0 && log_fd >= 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    OK(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {{0, 200}, {0, 200}};
    OK(setitimer(ITIMER_REAL, &it, NULL));
    char buf[4096];
    memset(buf, 'm', sizeof buf);
    for (int i = 0; i < 20000 || ticks < 50; i++) {
        if (pwrite(shared_fd, buf, 512, (off_t)((i * 512) % (1 << 20))) != 512) {
            CHECK(0);
            break;
        }
        if (i > 2000000)
            break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    OK(setitimer(ITIMER_REAL, &off, NULL));
    CHECK(ticks >= 50);

    /* Partial write: the size limit lets only part of the buffer in. */
    signal(SIGXFSZ, SIG_IGN);
    int pfd = open(P("partial"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(pfd >= 0);
    struct rlimit rl = {10000, RLIM_INFINITY};
    OK(setrlimit(RLIMIT_FSIZE, &rl));
    char big[16384];
    memset(big, 'p', sizeof big);
    errno = 0;
    ssize_t n = write(pfd, big, sizeof big);
    CHECK(n == 10000);
    FAILS(write(pfd, big, 10), EFBIG);
    rl.rlim_cur = RLIM_INFINITY;
    OK(setrlimit(RLIMIT_FSIZE, &rl));
    OK(close(pfd));
    OK(close(shared_fd));
    OK(close(log_fd));
    return mt_done();
}
