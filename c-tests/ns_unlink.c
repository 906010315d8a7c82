/*
 * unlink, unlinkat and remove inside the primary: files, symlinks (the link, never its
 * target), FIFOs, one name of a hard-linked file, an open file (later writes through the fd
 * must not bring it back on the mirror), directories through remove() and AT_REMOVEDIR,
 * and the error cases (ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL).
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("f1"), "one"));
    OK(put(P("target"), "target"));
    OK(symlink("target", P("lnk")));
    OK(symlink("nowhere", P("dangling")));
    OK(mkfifo(P("fifo"), 0644));
    OK(put(P("hl1"), "shared"));
    OK(link(P("hl1"), P("hl2")));
    OK(mkdir(P("dir"), 0755));
    OK(mkdir(P("full"), 0755));
    OK(put(P("full/x"), "x"));
    MSAME("f1");
    MSAME("lnk");
    MSAME("hl2");

    KEEP(unlink(P("f1")));
    MABSENT("f1");
    KEEP(unlink(P("lnk")));
    MABSENT("lnk");
    MSAME("target");
    KEEP(unlink(P("dangling")));
    MABSENT("dangling");
    KEEP(unlink(P("fifo")));
    MABSENT("fifo");
    KEEP(unlink(P("hl1")));
    MABSENT("hl1");
    MSAME("hl2");

    FAILS(unlink(P("f1")), ENOENT);
    FAILS(unlink(P("missing/x")), ENOENT);
    FAILS(unlink(P("dir")), EISDIR);
    FAILS(unlink(P("target/")), ENOTDIR);
    FAILS(unlink(P("target/x")), ENOTDIR);
    MSAME("dir");
    MSAME("target");

    /* unlinkat relative to a dirfd inside the pair */
    int d = open(P("dir"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    OK(put(P("dir/g"), "g"));
    OK(mkdir(P("dir/sub"), 0755));
    OK(put(P("dir/h"), "h"));
    KEEP(unlinkat(d, "g", 0));
    MABSENT("dir/g");
    KEEP(unlinkat(d, "sub", AT_REMOVEDIR));
    MABSENT("dir/sub");
    FAILS(unlinkat(d, "h", AT_REMOVEDIR), ENOTDIR);
    FAILS(unlinkat(d, "g", 0), ENOENT);
    FAILS(unlinkat(d, "../full", AT_REMOVEDIR), ENOTEMPTY);
    FAILS(unlinkat(d, "h", 0x4000), EINVAL);
    FAILS(unlinkat(d, "..", AT_REMOVEDIR), ENOTEMPTY);
    KEEP(unlinkat(d, "../full/x", 0));
    KEEP(unlinkat(d, "../full", AT_REMOVEDIR));
    MABSENT("full");
    MSAME("dir/h");
    close(d);

    /* remove(): a file, then an empty directory (glibc tries unlink first, which leaves
     * errno at EISDIR even though remove succeeds), then the failures */
    OK(put(P("r1"), "r1"));
    KEEP(remove(P("r1")));
    MABSENT("r1");
    OK(mkdir(P("rdir"), 0755));
    errno = 1234;
    CHECK(remove(P("rdir")) == 0);
    CHECK(errno == EISDIR);
    MABSENT("rdir");
    OK(mkdir(P("rfull"), 0755));
    OK(put(P("rfull/x"), "x"));
    FAILS(remove(P("rfull")), ENOTEMPTY);
    FAILS(remove(P("r1")), ENOENT);
    MSAME("rfull/x");

    /* an open file: unlink it, keep writing through the fd */
    int fd = open(P("open"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "before", 6) == 6);
    MSAME("open");
    KEEP(unlink(P("open")));
    MABSENT("open");
    CHECK(write(fd, " after", 6) == 6);
    CHECK(ftruncate(fd, 3) == 0);
    MABSENT("open");
    close(fd);
    MABSENT("open");

    /* a new file under the same name afterwards is an ordinary new file */
    OK(put(P("open"), "new"));
    MSAME("open");

    return mt_done();
}
