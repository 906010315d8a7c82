/*
 * O_APPEND: two descriptors appending in turn to one file, a third writing in the middle at
 * its own offset, O_APPEND switched on and off with fcntl(F_SETFL), and two processes
 * appending many records at the same time: every record ends up whole, once, in the same
 * order on both copies.
 */
#include "mfstest.h"

#include <sys/wait.h>

#define RECORDS 400
#define RECLEN 37

static void appender(char tag)
{
    int fd = open(P("log"), O_WRONLY | O_APPEND);
    if (fd < 0)
        _exit(3);
    char rec[RECLEN];
    for (int i = 0; i < RECORDS; i++) {
        memset(rec, tag, sizeof rec);
        snprintf(rec, sizeof rec, "%c%06d", tag, i);
        rec[RECLEN - 1] = '\n';
        if (write(fd, rec, sizeof rec) != RECLEN)
            _exit(4);
    }
    _exit(close(fd) == 0 ? 0 : 5);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int a = open(P("f"), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    int b = open(P("f"), O_WRONLY | O_APPEND);
    int c = open(P("f"), O_WRONLY);
    CHECK(a >= 0 && b >= 0 && c >= 0);
    EQ(write(a, "a1.", 3), 3);
    EQ(write(b, "b1.", 3), 3);
    EQ(write(a, "a2.", 3), 3);
    EQ(lseek(b, 0, SEEK_SET), 0);
    EQ(write(b, "b2.", 3), 3);
    EQ(lseek(b, 0, SEEK_CUR), 12);
    CONTENT_IS(P("f"), "a1.b1.a2.b2.", 12);
    SAME("f");
    EQ(lseek(c, 3, SEEK_SET), 3);
    EQ(write(c, "XX", 2), 2);
    EQ(write(a, "a3", 2), 2);
    CONTENT_IS(P("f"), "a1.XX.a2.b2.a3", 14);
    SAME("f");

    /* Switch O_APPEND on for c, then off for a. */
    OK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_APPEND));
    EQ(write(c, "c+", 2), 2);
    OK(fcntl(a, F_SETFL, fcntl(a, F_GETFL) & ~O_APPEND));
    EQ(lseek(a, 0, SEEK_SET), 0);
    EQ(write(a, "A", 1), 1);
    CONTENT_IS(P("f"), "A1.XX.a2.b2.a3c+", 16);
    SAME("f");
    OK(close(a));
    OK(close(b));
    OK(close(c));

    /* Two processes appending at once. */
    int fd = open(P("log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    OK(close(fd));
    pid_t p1 = fork();
    if (p1 == 0)
        appender('x');
    pid_t p2 = fork();
    if (p2 == 0)
        appender('y');
    int s1 = -1, s2 = -1;
    EQ(waitpid(p1, &s1, 0), p1);
    EQ(waitpid(p2, &s2, 0), p2);
    CHECK(WIFEXITED(s1) && WEXITSTATUS(s1) == 0);
    CHECK(WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
    struct stat st;
    OK(stat(P("log"), &st));
    EQ(st.st_size, 2 * RECORDS * RECLEN);
    SAME("log");

    return mt_done();
}
