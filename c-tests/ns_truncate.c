/*
 * truncate and truncate64 on paths inside the primary: shrink, grow (a hole of zeros), to
 * zero, to the same size, through an in-tree symlink (the target changes, the link stays),
 * on a file the program also has open for writing, and the error cases (ENOENT, EISDIR,
 * EINVAL for a negative length and for a FIFO, ENOTDIR).
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("t"), "0123456789"));
    KEEP(truncate(P("t"), 4));
    CHECK(is(P("t"), "0123"));
    MSAME("t");
    KEEP(truncate(P("t"), 100000));
    MSAME("t");
    KEEP(truncate64(P("t"), 5000));
    MSAME("t");
    KEEP(truncate(P("t"), 5000)); /* same size */
    MSAME("t");
    KEEP(truncate64(P("t"), 0));
    MSAME("t");
    KEEP(truncate(P("t"), 3 * 1024 * 1024 + 17)); /* sparse grow past several blocks */
    MSAME("t");

    /* through a symlink inside the pair: the target is truncated */
    OK(mkdir(P("d"), 0755));
    OK(put(P("d/target"), "abcdefghij"));
    OK(symlink("d/target", P("lnk")));
    KEEP(truncate(P("lnk"), 2));
    CHECK(is(P("d/target"), "ab"));
    MSAME("d/target");
    MSAME("lnk");
    MTYPE("lnk", 'l');
    KEEP(truncate(P("d/../lnk"), 7));
    MSAME("d/target");

    /* relative to the working directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(P("d")));
    KEEP(truncate("target", 1));
    KEEP(truncate("./../t", 9));
    OK(chdir(cwd));
    MSAME("d/target");
    MSAME("t");

    /* a file that is also open for writing: writes and truncates interleave */
    int fd = open(P("open"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "0123456789abcdefghij", 20) == 20);
    KEEP(truncate(P("open"), 10));
    MSAME("open");
    CHECK(write(fd, "XY", 2) == 2); /* at offset 20: a hole from 10 to 20 */
    MSAME("open");
    KEEP(truncate(P("open"), 21));
    CHECK(pwrite(fd, "z", 1, 0) == 1);
    close(fd);
    MSAME("open");

    /* read-only permission bits do not stop root, and the mirror follows */
    OK(put(P("ro"), "read only"));
    OK(chmod(P("ro"), 0444));
    errno = 1234;
    int r = truncate(P("ro"), 4);
    if (r == 0)
        CHECK(errno == 1234);
    else
        CHECK(errno == EACCES);
    MSAME("ro");

    /* errors */
    FAILS(truncate(P("missing"), 1), ENOENT);
    FAILS(truncate(P("missing/x"), 1), ENOENT);
    FAILS(truncate(P("d"), 1), EISDIR);
    FAILS(truncate(P("t"), -1), EINVAL);
    FAILS(truncate64(P("t"), -5), EINVAL);
    FAILS(truncate(P("t/"), 1), ENOTDIR);
    FAILS(truncate(P("t/x"), 1), ENOTDIR);
    OK(mkfifo(P("fifo"), 0644));
    FAILS(truncate(P("fifo"), 0), EINVAL);
    OK(symlink("nowhere", P("dangling")));
    FAILS(truncate(P("dangling"), 1), ENOENT);
    MABSENT("missing");
    MABSENT("nowhere");
    MSAME("t");
    MSAME("fifo");
    MSAME("dangling");

    return mt_done();
}
