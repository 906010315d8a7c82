/*
 * Sequential writes after every way a process moves a written descriptor's offset other than
 * writing through it: lseek and its aliases, writes and seeks through a dup (plain, onto
 * stderr, through F_DUPFD), a dup made appending by F_SETFL or by an "a" stream while another
 * descriptor extends the file, stdio flushes and seeks on a stream over a dup, sendfile into
 * it, writev and pwritev2 at the offset, and pwrite (which moves nothing). After each, the
 * next write(2) on the original descriptor must land where the primary's did, on the mirror
 * too.
 */
#include "offsets_util.h"

#include <sys/sendfile.h>
#include <sys/uio.h>


int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    /* lseek, lseek64 and SEEK_END/SEEK_CUR, backwards and past the end. */
    int fd = fresh("lseek");
    EQ(lseek(fd, 100, SEEK_SET), 100);
    put(fd, 3, 50);
    SAME("lseek");
    EQ(lseek64(fd, -20, SEEK_CUR), 130);
    put(fd, 4, 10);
    SAME("lseek");
    EQ(lseek(fd, 0, SEEK_END), 2000);
    put(fd, 5, 10);
    EQ(lseek(fd, 500, SEEK_END), 2510);
    put(fd, 6, 10);
    SAME("lseek");
    EQ(lseek(fd, 0, SEEK_CUR), 2520);
    put(fd, 7, 10);
    OK(close(fd));
    SAME("lseek");

    /* A dup shares the offset: writes and seeks through either. */
    fd = fresh("dup");
    int d = dup(fd);
    CHECK(d > 2);
    put(d, 8, 300);
    put(fd, 9, 300);
    EQ(lseek(d, 10, SEEK_SET), 10);
    put(fd, 10, 20);
    SAME("dup");
    int d2 = fcntl(fd, F_DUPFD, 100);
    CHECK(d2 >= 100);
    EQ(lseek(d2, 0, SEEK_END), 2600);
    put(fd, 11, 20);
    put(d2, 12, 20);
    put(fd, 13, 20);
    OK(close(d2));
    OK(close(d));
    OK(close(fd));
    SAME("dup");

    /* A dup onto stderr, written through both. */
    int saved = dup(2);
    fd = fresh("stderr");
    OK(dup2(fd, 2));
    put(2, 14, 100);
    put(fd, 15, 100);
    EQ(lseek(2, 50, SEEK_SET), 50);
    put(fd, 16, 100);
    OK(dup2(saved, 2));
    OK(close(saved));
    put(fd, 17, 100);
    OK(close(fd));
    SAME("stderr");

    /* F_SETFL O_APPEND on a dup makes the shared description append: another descriptor
     * extends the file, and the original's next write lands at the new end. */
    fd = fresh("setfl");
    d = dup(fd);
    OK(fcntl(d, F_SETFL, O_APPEND));
    int other = open(P("setfl"), O_WRONLY);
    CHECK(other > 2);
    EQ(pwrite(other, "far away", 8, 10000), 8);
    put(fd, 18, 100);
    SAME("setfl");
    EQ(lseek(fd, 0, SEEK_CUR), 10108);
    OK(fcntl(d, F_SETFL, 0));
    EQ(lseek(fd, 5, SEEK_SET), 5);
    put(fd, 19, 100);
    OK(close(other));
    OK(close(d));
    OK(close(fd));
    SAME("setfl");

    /* An "a" stream over a dup: the same, through stdio. */
    fd = fresh("fdopen");
    FILE *f = fdopen(dup(fd), "a");
    CHECK(f != NULL);
    other = open(P("fdopen"), O_WRONLY);
    EQ(pwrite(other, "further", 7, 20000), 7);
    fprintf(f, "through the stream\n");
    OK(fflush(f));
    put(fd, 20, 100);
    SAME("fdopen");
    EQ(pwrite(other, "further still", 13, 30000), 13);
    put(fd, 30, 100);
    SAME("fdopen");
    OK(close(other));
    OK(fclose(f));
    OK(close(fd));
    SAME("fdopen");

    /* A "w" stream over a dup: its flushes and seeks move the shared offset. */
    fd = fresh("stream");
    f = fdopen(dup(fd), "w");
    CHECK(f != NULL);
    fprintf(f, "stream bytes %d\n", 1);
    OK(fflush(f));
    put(fd, 21, 100);
    OK(fseek(f, 7, SEEK_SET));
    fprintf(f, "X");
    OK(fflush(f));
    put(fd, 22, 100);
    OK(fclose(f));
    put(fd, 23, 100);
    OK(close(fd));
    SAME("stream");

    /* sendfile into the descriptor moves its offset. */
    int src = open(P("source"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    mt_fill(mt_block, sizeof mt_block, 24);
    EQ(write(src, mt_block, sizeof mt_block), (long)sizeof mt_block);
    fd = fresh("sendfile");
    off_t from = 0;
    EQ(sendfile(fd, src, &from, 3000), 3000);
    put(fd, 25, 100);
    OK(close(fd));
    OK(close(src));
    SAME("sendfile");

    /* writev and pwritev2 at the offset, pwrite and pwritev2 at a position. */
    fd = fresh("vectors");
    char a[10] = "0123456789", b[7] = "abcdefg";
    struct iovec iov[2] = { { a, sizeof a }, { b, sizeof b } };
    EQ(writev(fd, iov, 2), 17);
    put(fd, 26, 100);
    EQ(pwritev2(fd, iov, 2, -1, 0), 17);
    put(fd, 27, 100);
    EQ(pwrite(fd, "positioned", 10, 3), 10);
    EQ(pwritev2(fd, iov, 2, 40, 0), 17);
    put(fd, 28, 100);
    EQ(lseek(fd, 0, SEEK_CUR), 2334);
    OK(close(fd));
    SAME("vectors");

    /* Truncation below the offset leaves the offset: the next write leaves a hole. */
    fd = fresh("truncate");
    OK(ftruncate(fd, 100));
    put(fd, 29, 100);
    OK(close(fd));
    SAME("truncate");
    return mt_done();
}
