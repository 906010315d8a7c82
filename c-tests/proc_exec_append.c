/*
 * Programs started while other processes append to a log they all share: three writers
 * append through one O_APPEND description, while another process keeps starting programs that
 * inherit it (each new program adopts the descriptor and checks its twin at start-up). The
 * mirror's log must hold every line at the primary's offsets, with no bytes cut out by a
 * start-up check that ran on a stale size.
 */
#include "mfstest.h"
#include <sys/wait.h>

#define WRITERS 3
#define LINES 3000
#define STARTS 150

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--exit") == 0)
        return 0;
    mt_init(argc, argv);
    int log = open(P("log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(log >= 0);
    pid_t kids[WRITERS + 1];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = fork();
        if (kids[w] == 0) {
            char line[64];
            for (int i = 0; i < LINES; i++) {
                int n = snprintf(line, sizeof line, "writer %d line %04d\n", w, i);
                if (write(log, line, (size_t)n) != n)
                    _exit(1);
            }
            _exit(0);
        }
    }
    kids[WRITERS] = fork();
    if (kids[WRITERS] == 0) {
        for (int i = 0; i < STARTS; i++) {
            pid_t p = fork();
            if (p == 0) {
                execl("/proc/self/exe", "child", "--exit", (char *)NULL);
                _exit(127);
            }
            int status;
            if (waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                _exit(1);
        }
        _exit(0);
    }
    for (int k = 0; k <= WRITERS; k++) {
        int status;
        CHECK(waitpid(kids[k], &status, 0) == kids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct stat st;
    OK(fstat(log, &st));
    EQ(st.st_size, (long)WRITERS * LINES * strlen("writer 0 line 0000\n"));
    OK(close(log));
    return mt_done();
}
