/* A mirrored fd without FD_CLOEXEC keeps mirroring in a new program image, whichever way the
 * exec happens (fork+execv, fork+execvp, vfork+execve), through write(), stdio and dprintf. */
#include "mfstest.h"
#include <sys/wait.h>

static int child(int argc, char **argv)
{
    /* argv: --child FD TAG */
    int fd = atoi(argv[2]);
    const char *tag = argv[3];
    char line[128];
    int n = snprintf(line, sizeof line, "write from %s\n", tag);
    if (write(fd, line, n) != n)
        return 3;
    dprintf(fd, "dprintf from %s\n", tag);
    FILE *f = fdopen(dup(fd), "a");
    if (!f)
        return 4;
    fprintf(f, "stdio from %s\n", tag);
    fclose(f);
    /* stdout was redirected onto the file by the parent: left for the exit-time flush */
    printf("stdout from %s\n", tag);
    (void)argc;
    return 0;
}

static void run(const char *how, int fd)
{
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", fd);
    char *args[] = {"proc_exec", "--child", fdbuf, (char *)how, NULL};
    pid_t pid = strcmp(how, "vfork") == 0 ? vfork() : fork();
    if (pid == 0) {
        dup2(fd, 1);
        if (strcmp(how, "execvp") == 0)
            execvp("/proc/self/exe", args);
        else if (strcmp(how, "vfork") == 0)
            execve("/proc/self/exe", args, environ);
        else
            execv("/proc/self/exe", args);
        _exit(127);
    }
    CHECK(pid > 0);
    int st = 0;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--child") == 0)
        return child(argc, argv);
    mt_init(argc, argv);
    int fd = open(P("log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(fd >= 0);
    OK(write(fd, "parent\n", 7));
    run("execv", fd);
    run("execvp", fd);
    run("vfork", fd);
    OK(write(fd, "parent again\n", 13));
    OK(close(fd));
    return mt_done();
}
