/* A vfork child runs in the parent's memory: closing everything and dup2-ing in the child
 * (as python's subprocess does) must not disturb the parent's mirroring. */
#include "mfstest.h"
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("parent.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    OK(write(fd, "before\n", 7));
    for (int round = 0; round < 20; round++) {
        pid_t pid = vfork();
        if (pid == 0) {
            int out = open(P("child.txt"), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (out < 0)
                _exit(10);
            dup2(out, 1);
            close(fd);                 /* the parent's mirrored fd, closed in the child only */
            close_range(3, ~0U, 0);    /* everything else, like close_fds=True */
            execl("/bin/echo", "echo", "child", NULL);
            _exit(127);
        }
        CHECK(pid > 0);
        int st = 0;
        OK(waitpid(pid, &st, 0));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* The parent's fd and its mirroring are intact. */
        char line[32];
        int n = snprintf(line, sizeof line, "round %d\n", round);
        CHECK(write(fd, line, n) == n);
    }
    OK(fsync(fd));
    OK(close(fd));
    return mt_done();
}
