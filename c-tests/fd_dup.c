/*
 * Duplicated descriptors: dup, dup2, dup3 and fcntl F_DUPFD / F_DUPFD_CLOEXEC of a mirrored
 * descriptor write to the same file at the shared offset, also after the original is closed;
 * dup2 onto a descriptor of another mirrored file and onto standard output (the shell's
 * redirection dance); F_SETFL O_APPEND on and off; lowest-free numbering; and the errors
 * EBADF and EINVAL.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int fd = open(P("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(fd, 3);
    int d = dup(fd);
    EQ(d, 4);
    EQ(write(fd, "one.", 4), 4);
    EQ(write(d, "two.", 4), 4); /* shared offset */
    CONTENT_IS(P("f"), "one.two.", 8);
    SAME("f");
    OK(close(fd));
    EQ(write(d, "three.", 6), 6);
    SAME("f");

    /* Numbering: the lowest free number, never one of the shim's. */
    fd = dup(d);
    EQ(fd, 3);
    OK(close(fd));

    errno = 1234;
    EQ(dup2(d, 10), 10);
    EQ(errno, 1234);
    EQ(write(10, "ten.", 4), 4);
    EQ(dup3(d, 11, O_CLOEXEC), 11);
    EQ(fcntl(11, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ(write(11, "eleven.", 7), 7);
    int f20 = fcntl(d, F_DUPFD, 20);
    EQ(f20, 20);
    EQ(write(f20, "twenty.", 7), 7);
    int f30 = fcntl(d, F_DUPFD_CLOEXEC, 30);
    EQ(f30, 30);
    EQ(fcntl(f30, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ(write(f30, "thirty.", 7), 7);
    CONTENT_IS(P("f"), "one.two.three.ten.eleven.twenty.thirty.", 39);
    SAME("f");
    EQ(dup2(d, d), d);

    /* dup2 onto a descriptor of another mirrored file: it now writes to f only. */
    int g = open(P("g"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(g, "g-before.", 9), 9);
    EQ(dup2(d, g), g);
    EQ(write(g, "via-g.", 6), 6);
    CONTENT_IS(P("g"), "g-before.", 9);
    SAME("g");
    SAME("f");
    OK(close(g));

    /* The shell's redirection: save stdout, point it at a file, write, restore. */
    int saved = fcntl(1, F_DUPFD, 10);
    CHECK(saved >= 10);
    int out = open(P("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(dup2(out, 1), 1);
    OK(close(out));
    EQ(write(1, "to stdout\n", 10), 10);
    EQ(dup2(saved, 1), 1);
    OK(close(saved));
    CONTENT_IS(M("stdout"), "to stdout\n", 10);
    SAME("stdout");

    /* F_SETFL O_APPEND on and off through a duplicate. */
    int h = open(P("h"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int hd = dup(h);
    EQ(write(h, "abc", 3), 3);
    EQ(lseek(h, 0, SEEK_SET), 0);
    OK(fcntl(hd, F_SETFL, O_APPEND));
    EQ(fcntl(h, F_GETFL) & O_APPEND, O_APPEND);
    EQ(write(h, "d", 1), 1); /* appends: the flag belongs to the open file description */
    CONTENT_IS(P("h"), "abcd", 4);
    SAME("h");
    OK(fcntl(h, F_SETFL, 0));
    EQ(lseek(hd, 0, SEEK_SET), 0);
    EQ(write(hd, "X", 1), 1);
    CONTENT_IS(P("h"), "Xbcd", 4);
    SAME("h");
    OK(close(h));
    OK(close(hd));

    /* Errors. */
    FAILS(dup(4242), EBADF);
    FAILS(dup2(4242, 50), EBADF);
    FAILS(dup2(d, -1), EBADF);
    FAILS(dup3(d, d, 0), EINVAL);
    FAILS(dup3(d, 51, 0x1234), EINVAL);
    FAILS(fcntl(d, F_DUPFD, -1), EINVAL);
    FAILS(fcntl(4242, F_DUPFD, 0), EBADF);
    FAILS(fcntl(4242, F_GETFL), EBADF);
    FAILS(fcntl(d, F_SETFL + 1000, 0), EINVAL);
    FAILS(close(50), EBADF);
    FAILS(close(51), EBADF);

    OK(close(d));
    OK(close(10));
    OK(close(11));
    OK(close(f20));
    OK(close(f30));
    SAME("f");
    return mt_done();
}
