/*
 * Symlinks inside the primary that lead elsewhere inside it (relative, absolute naming the
 * primary, from a subdirectory with "..", a chain of two): creating, writing, renaming,
 * truncating and removing through them lands at the right place on the mirror, the mirror's
 * symlinks stay symlinks with their targets unchanged, and the primary's files are written
 * once (an O_APPEND write through a link must not land twice, as it would if the mirror side
 * followed the absolute target back into the primary).
 */
#include "ns_util.h"

static void check_links(void)
{
    MTYPE("lrel", 'l');
    MTYPE("labs", 'l');
    MTYPE("sub/lup", 'l');
    MTYPE("lchain", 'l');
    MTYPE("lfile", 'l');
    MSAME("lrel");
    MSAME("labs");
    MSAME("sub/lup");
    MSAME("lchain");
    MSAME("lfile");
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char cwd0[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);

    OK(mkdir(P("real"), 0755));
    OK(mkdir(P("sub"), 0755));
    OK(symlink("real", P("lrel")));
    OK(symlink(P("real"), P("labs"))); /* absolute target naming the primary */
    OK(symlink("../real", P("sub/lup")));
    OK(symlink("lrel", P("lchain")));
    OK(put(P("real/target"), "0123456789"));
    OK(symlink(P("real/target"), P("lfile")));
    check_links();

    /* creating files through each link */
    OK(put(P("lrel/f1"), "one"));
    OK(put(P("labs/f2"), "two"));
    OK(put(P("sub/lup/f3"), "three"));
    OK(put(P("lchain/f4"), "four"));
    MSAME("real/f1");
    MSAME("real/f2");
    MSAME("real/f3");
    MSAME("real/f4");
    MABSENT("sub/f3");

    /* appends through the absolute link land exactly once on each copy */
    OK(append(P("labs/app"), "a"));
    OK(append(P("labs/app"), "b"));
    OK(append(P("lrel/app"), "c"));
    CHECK(raw_is(P("real/app"), "abc"));
    MCHECK(raw_is(M("real/app"), "abc"));

    /* writing a file through a symlink to it */
    int fd = open(P("lfile"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "rewritten", 9) == 9);
    close(fd);
    CHECK(raw_is(P("real/target"), "rewritten"));
    MSAME("real/target");
    KEEP(truncate(P("lfile"), 3));
    MSAME("real/target");
    fd = open(P("lfile"), O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "+", 1) == 1);
    close(fd);
    CHECK(raw_is(P("real/target"), "rew+"));
    MCHECK(raw_is(M("real/target"), "rew+"));

    /* namespace calls through the links */
    KEEP(mkdir(P("labs/d"), 0700));
    KEEP(mkdir(P("lrel/d/e"), 0755));
    KEEP(rename(P("lrel/f1"), P("labs/f1r")));
    KEEP(rename(P("labs/f2"), P("sub/lup/d/f2r")));
    KEEP(unlink(P("lchain/f4")));
    KEEP(symlink("f3", P("labs/s3")));
    KEEP(link(P("labs/f3"), P("lrel/f3hard")));
    KEEP(mkfifo(P("labs/fifo"), 0644));
    KEEP(rmdir(P("labs/d/e")));
    MSAME("real/f1r");
    MSAME("real/d");
    MSAME("real/d/f2r");
    MSAME("real/s3");
    MSAME("real/f3hard");
    MSAME("real/fifo");
    MABSENT("real/f1");
    MABSENT("real/f4");
    MABSENT("real/d/e");

    /* dirfds opened through links, and a working directory reached through one */
    int d = open(P("labs"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    fd = openat(d, "viafd", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "fd", 2) == 2);
    close(fd);
    KEEP(mkdirat(d, "fdir", 0755));
    KEEP(renameat(d, "viafd", d, "fdir/viafd"));
    MSAME("real/fdir/viafd");
    close(d);
    KEEP(chdir(P("labs")));
    OK(put("cwdfile", "cwd"));
    KEEP(mkdir("cwddir", 0755));
    OK(put("../real/sibling", "dotdot from a link resolves physically"));
    KEEP(chdir(cwd0));
    MSAME("real/cwdfile");
    MSAME("real/cwddir");
    MSAME("real/sibling");
    KEEP(chdir(P("sub/lup")));
    OK(put("cwd2", "cwd2"));
    /* ".." from a working directory entered through sub/lup is the parent of real/, i.e.
     * the primary root, not sub/ as a lexical reading of "sub/lup/.." would say */
    OK(put("../physical", "physical parent"));
    KEEP(mkdir("../physdir", 0755));
    KEEP(chdir(cwd0));
    CHECK(raw_is(P("physical"), "physical parent"));
    MSAME("real/cwd2");
    MABSENT("sub/cwd2");
    MSAME("physical");
    MSAME("physdir");
    MABSENT("sub/physical");
    MABSENT("sub/physdir");

    /* a symlink created through a link keeps its target */
    KEEP(symlink(P("real/f3"), P("lrel/abs_again")));
    MSAME("real/abs_again");

    /* removing the links leaves the targets on both copies */
    check_links();
    KEEP(unlink(P("lchain")));
    KEEP(unlink(P("lfile")));
    MABSENT("lchain");
    MABSENT("lfile");
    MSAME("real/target");
    MSAME("real");

    return mt_done();
}
