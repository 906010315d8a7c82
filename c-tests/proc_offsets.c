/*
 * A written descriptor shared with a child process: fork, vfork + exec, posix_spawn (the
 * descriptor inherited as is, and dup2'd onto the child's stdout by a file action),
 * posix_spawnp, system() and popen(). The child writes through the shared offset, with twins
 * of its own when it is a new program; the parent's next write must land after the child's
 * bytes, on the mirror too.
 */
#include "offsets_util.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;
static char self[4096];


static void reap(pid_t pid)
{
    int st = 0;
    EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A child made by fork (or vfork) runs this program again on the descriptor of `rel`; then
 * the parent writes `seed`'s bytes. */
static void exec_child(const char *rel, int use_vfork, unsigned seed)
{
    int fd = fresh(rel);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    char *args[] = { "proc_offsets", "--child", num, "from the new program image\n", NULL };
    pid_t pid = use_vfork ? vfork() : fork();
    if (pid == 0) {
        execve(self, args, environ);
        _exit(127);
    }
    CHECK(pid > 0);
    reap(pid);
    put(fd, seed, 100);
    OK(close(fd));
    SAME(rel);
}

/* `proc_offsets --child FD TEXT`: writes TEXT to FD, twice, with a seek-free write each. */
static int child(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int fd = atoi(argv[2]);
    size_t n = strlen(argv[3]);
    for (int i = 0; i < 2; i++)
        if (write(fd, argv[3], n) != (long)n)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        return child(argc, argv);
    mt_init(argc, argv);
    umask(022);
    long len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len > 0 ? len : 0] = 0;
    char num[16];

    /* fork: the child writes through the inherited descriptor and through a dup of it on
     * its stdout. */
    int fd = fresh("fork");
    pid_t pid = fork();
    if (pid == 0) {
        put(fd, 3, 500);
        if (dup2(fd, 1) != 1)
            _exit(1);
        put(1, 10, 500);
        put(fd, 11, 500);
        _exit(mt_failures ? 1 : 0);
    }
    CHECK(pid > 0);
    reap(pid);
    put(fd, 4, 100);
    OK(close(fd));
    SAME("fork");

    /* fork + exec and vfork + exec: a new program image writes through it. */
    exec_child("fork-exec", 0, 12);
    exec_child("vfork", 1, 5);

    /* posix_spawn, the descriptor inherited under its own number. */
    fd = fresh("spawn");
    snprintf(num, sizeof num, "%d", fd);
    char *sargs[] = { "proc_offsets", "--child", num, "from the spawned child\n", NULL };
    CHECK(posix_spawn(&pid, self, NULL, NULL, sargs, environ) == 0);
    reap(pid);
    put(fd, 6, 100);
    OK(close(fd));
    SAME("spawn");

    /* posix_spawnp with the descriptor dup2'd onto the child's stdout. */
    fd = fresh("spawnp");
    posix_spawn_file_actions_t fa;
    OK(posix_spawn_file_actions_init(&fa));
    OK(posix_spawn_file_actions_adddup2(&fa, fd, 1));
    char *pargs[] = { "proc_offsets", "--child", "1", "through stdout\n", NULL };
    CHECK(posix_spawnp(&pid, self, &fa, NULL, pargs, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    reap(pid);
    put(fd, 7, 100);
    OK(close(fd));
    SAME("spawnp");

    /* system(): the shell writes to the inherited descriptor. */
    fd = fresh("system");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "printf 'from the shell\\n' >&%d", fd);
    EQ(system(cmd), 0);
    put(fd, 8, 100);
    OK(close(fd));
    SAME("system");

    /* popen(): the same through a pipe-connected shell. */
    fd = fresh("popen");
    snprintf(cmd, sizeof cmd, "printf 'from popen\\n' >&%d", fd);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p)
        EQ(pclose(p), 0);
    put(fd, 9, 100);
    OK(close(fd));
    SAME("popen");
    return mt_done();
}
