/* Descriptors opened where no hook sees them (posix_spawn file actions, system(), popen())
 * are adopted by the new image, which brings their mirror level first. */
#include "mfstest.h"
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
        printf("spawned child writes this through stdout\n");
        return 0;
    }
    mt_init(argc, argv);

    /* posix_spawn with an open file action: the child opens the file itself. */
    posix_spawn_file_actions_t fa;
    OK(posix_spawn_file_actions_init(&fa));
    OK(posix_spawn_file_actions_addopen(&fa, 1, P("spawned.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0640));
    char *args[] = {"proc_spawn", "--child", NULL};
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ) == 0);
    int st = 0;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    posix_spawn_file_actions_destroy(&fa);

    /* posix_spawnp with a dup2 action onto a file the parent opened (mirrored). */
    int fd = open(P("dup2.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    OK(write(fd, "parent\n", 7));
    OK(posix_spawn_file_actions_init(&fa));
    OK(posix_spawn_file_actions_adddup2(&fa, fd, 1));
    CHECK(posix_spawnp(&pid, "/proc/self/exe", &fa, NULL, args, environ) == 0);
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    posix_spawn_file_actions_destroy(&fa);
    OK(close(fd));

    /* system(): the shell's redirection opens the file. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "echo from system > '%s'; echo more >> '%s'", P("system.txt"), P("system.txt"));
    CHECK(system(cmd) == 0);

    /* popen() for writing: the child's stdout is a file it opens itself. */
    snprintf(cmd, sizeof cmd, "cat > '%s'", P("popen.txt"));
    FILE *p = popen(cmd, "w");
    CHECK(p != NULL);
    if (p) {
        for (int i = 0; i < 1000; i++)
            fprintf(p, "popen line %d\n", i);
        CHECK(pclose(p) == 0);
    }
    return mt_done();
}
