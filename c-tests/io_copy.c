/*
 * In-kernel copies into mirrored files: copy_file_range with and without offsets (the
 * offsets given are advanced, the file offsets are not, and the other way round), from a
 * file outside every pair, sendfile and sendfile64 with and without an input offset, splice
 * from a pipe with and without an output offset, and the errors EBADF, EINVAL and EXDEV-free
 * error cases the shim must leave unchanged.
 */
#include "mfstest.h"

#include <sys/sendfile.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    static char buf[300000];
    mt_fill(buf, sizeof buf, 6);

    int src = open(P("src"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EQ(write(src, buf, sizeof buf), (long)sizeof buf);
    EQ(lseek(src, 0, SEEK_SET), 0);

    /* copy_file_range, no offsets: both file offsets advance. */
    int dst = open(P("cfr"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(dst >= 0);
    EQ(write(dst, "head", 4), 4);
    KEEPS(copy_file_range(src, NULL, dst, NULL, 100000, 0));
    EQ(lseek(src, 0, SEEK_CUR), 100000);
    EQ(lseek(dst, 0, SEEK_CUR), 100004);
    SAME("cfr");
    /* With offsets: the offsets advance, the file offsets stay. */
    loff_t in = 5000, out = 250000;
    EQ(copy_file_range(src, &in, dst, &out, 20000, 0), 20000);
    EQ(in, 25000);
    EQ(out, 270000);
    EQ(lseek(src, 0, SEEK_CUR), 100000);
    EQ(lseek(dst, 0, SEEK_CUR), 100004);
    SAME("cfr");
    /* Past the source's end: a short copy, then 0. */
    in = sizeof buf - 10;
    EQ(copy_file_range(src, &in, dst, NULL, 1000, 0), 10);
    EQ(copy_file_range(src, &in, dst, NULL, 1000, 0), 0);
    SAME("cfr");
    OK(close(dst));

    /* From a file outside every pair (the scratch cwd). */
    int outside = open("outside-src", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EQ(write(outside, buf + 7, 5000), 5000);
    dst = open(P("from-outside"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    in = 0;
    EQ(copy_file_range(outside, &in, dst, NULL, 5000, 0), 5000);
    SAME("from-outside");
    OK(close(dst));

    /* sendfile: with an input offset (the input's file offset stays), and without. */
    dst = open(P("sf"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    off_t soff = 1000;
    KEEPS(sendfile(dst, src, &soff, 7000));
    EQ(soff, 8000);
    EQ(lseek(src, 0, SEEK_CUR), 100000);
    SAME("sf");
    EQ(sendfile(dst, src, NULL, 3000), 3000);
    EQ(lseek(src, 0, SEEK_CUR), 103000);
    off64_t soff64 = 0;
    EQ(lseek(dst, 50, SEEK_SET), 50);
    EQ(sendfile64(dst, src, &soff64, 100), 100);
    EQ(lseek(dst, 0, SEEK_CUR), 150);
    SAME("sf");
    OK(close(dst));

    /* splice from a pipe: to the file offset, and to an explicit offset. */
    int p[2];
    OK(pipe(p));
    dst = open(P("spl"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(p[1], buf, 30000), 30000);
    KEEPS(splice(p[0], NULL, dst, NULL, 30000, 0));
    EQ(lseek(dst, 0, SEEK_CUR), 30000);
    SAME("spl");
    EQ(write(p[1], "spliced at 7", 12), 12);
    loff_t soff2 = 7;
    EQ(splice(p[0], NULL, dst, &soff2, 12, 0), 12);
    EQ(soff2, 19);
    EQ(lseek(dst, 0, SEEK_CUR), 30000);
    SAME("spl");
    /* From the file into the pipe: nothing changes in the trees. */
    int rd = open(P("spl"), O_RDONLY);
    EQ(splice(rd, NULL, p[1], NULL, 100, 0), 100);
    OK(close(rd));
    OK(close(dst));

    /* Errors. */
    dst = open(P("cfr"), O_WRONLY | O_APPEND);
    FAILS(copy_file_range(src, NULL, dst, NULL, 10, 0), EBADF); /* O_APPEND destination */
    FAILS(sendfile(dst, src, NULL, 10), EINVAL);                 /* O_APPEND destination */
    OK(close(dst));
    dst = open(P("cfr"), O_WRONLY);
    FAILS(copy_file_range(src, NULL, dst, NULL, 10, 1), EINVAL); /* flags must be 0 */
    FAILS(copy_file_range(4242, NULL, dst, NULL, 10, 0), EBADF);
    FAILS(copy_file_range(src, NULL, 4242, NULL, 10, 0), EBADF);
    in = 0;
    out = 5;
    FAILS(copy_file_range(src, &in, src, &out, 100, 0), EINVAL); /* overlapping ranges */
    FAILS(sendfile(4242, src, NULL, 10), EBADF);
    FAILS(splice(p[0], NULL, dst, NULL, 10, 0x1000), EINVAL);
    FAILS(splice(src, NULL, dst, NULL, 10, 0), EINVAL); /* neither end is a pipe */
    OK(close(dst));
    rd = open(P("cfr"), O_RDONLY);
    FAILS(copy_file_range(src, NULL, rd, NULL, 10, 0), EBADF);
    OK(close(rd));
    SAME("cfr");
    SAME("src");

    OK(close(p[0]));
    OK(close(p[1]));
    OK(close(src));
    OK(close(outside));
    return mt_done();
}
