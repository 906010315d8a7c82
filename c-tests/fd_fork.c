/*
 * Descriptors across fork and exec: a child writes through an inherited mirrored descriptor
 * (the offset is shared with the parent) and opens files of its own; a child redirects its
 * standard output into the primary and execs a shell (`cmd > file`), whose writes are
 * mirrored by the shim in the new image; the parent keeps writing afterwards.
 */
#include "mfstest.h"

#include <sys/wait.h>

static void wait_ok(pid_t pid)
{
    int status = -1;
    EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int fd = open(P("shared"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, "parent.", 7), 7);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = write(fd, "child.", 6) == 6;
        int own = open(P("child-own"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ok = ok && own >= 0 && write(own, "mine", 4) == 4 && close(own) == 0;
        _exit(ok ? 0 : 1);
    }
    wait_ok(pid);
    EQ(lseek(fd, 0, SEEK_CUR), 13);
    EQ(write(fd, "parent-again.", 13), 13);
    CONTENT_IS(P("shared"), "parent.child.parent-again.", 26);
    SAME("shared");
    SAME("child-own");

    /* cmd > file: open, dup2 onto 1, exec. */
    pid = fork();
    if (pid == 0) {
        int out = open(P("exec-out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || dup2(out, 1) != 1 || close(out) != 0)
            _exit(2);
        execl("/bin/sh", "sh", "-c", "echo from the exec; echo second line", (char *)NULL);
        _exit(3);
    }
    wait_ok(pid);
    CONTENT_IS(P("exec-out"), "from the exec\nsecond line\n", 26);
    SAME("exec-out");

    /* The same with an inherited append descriptor: `cmd >> file`. */
    pid = fork();
    if (pid == 0) {
        int out = open(P("exec-out"), O_WRONLY | O_APPEND);
        if (out < 0 || dup2(out, 1) != 1 || close(out) != 0)
            _exit(2);
        execl("/bin/sh", "sh", "-c", "echo appended", (char *)NULL);
        _exit(3);
    }
    wait_ok(pid);
    CONTENT_IS(P("exec-out"), "from the exec\nsecond line\nappended\n", 35);
    SAME("exec-out");

    OK(close(fd));
    return mt_done();
}
