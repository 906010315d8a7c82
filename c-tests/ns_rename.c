/*
 * rename, renameat and renameat2 within the primary: files and directories, over an existing
 * file or empty directory, two dirfds, RENAME_NOREPLACE and RENAME_EXCHANGE, a symlink (the
 * link moves, not its target), two names of one inode (a no-op that keeps both), and the
 * error cases (ENOENT, EEXIST, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL), which leave the mirror
 * unchanged.
 */
#include "ns_util.h"

#include <stdio.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("a"), "file a"));
    KEEP(rename(P("a"), P("b")));
    MABSENT("a");
    MSAME("b");

    /* over an existing file */
    OK(put(P("victim"), "old contents, longer than the new ones"));
    KEEP(rename(P("b"), P("victim")));
    MABSENT("b");
    MSAME("victim");
    CHECK(is(P("victim"), "file a"));

    /* directories with contents, and over an empty directory */
    OK(mkdir(P("d"), 0750));
    OK(mkdir(P("d/sub"), 0755));
    OK(put(P("d/sub/f"), "deep"));
    OK(symlink("sub/f", P("d/l")));
    KEEP(rename(P("d"), P("e")));
    MABSENT("d");
    MSAME("e");
    MSAME("e/sub/f");
    MSAME("e/l");
    OK(mkdir(P("emptydst"), 0700));
    KEEP(rename(P("e"), P("emptydst")));
    MSAME("emptydst");
    MSAME("emptydst/sub/f");
    MABSENT("e");
    KEEP(rename(P("emptydst/"), P("moved/"))); /* trailing slashes on directories */
    MSAME("moved/sub/f");

    /* errors */
    OK(put(P("file"), "f"));
    OK(mkdir(P("dir"), 0755));
    OK(mkdir(P("full"), 0755));
    OK(put(P("full/x"), "x"));
    FAILS(rename(P("missing"), P("x")), ENOENT);
    FAILS(rename(P("file"), P("nodir/x")), ENOENT);
    FAILS(rename(P("file"), P("dir")), EISDIR);
    FAILS(rename(P("dir"), P("file")), ENOTDIR);
    FAILS(rename(P("dir"), P("full")), ENOTEMPTY);
    FAILS(rename(P("moved"), P("moved/sub/into")), EINVAL);
    FAILS(rename(P("file/"), P("file2")), ENOTDIR);
    FAILS(rename(P("file"), P("file2/")), ENOTDIR);
    MSAME("file");
    MSAME("dir");
    MSAME("full/x");
    MABSENT("x");
    MABSENT("file2");

    /* rename onto itself and between two names of one inode: success, nothing changes */
    KEEP(rename(P("file"), P("file")));
    MSAME("file");
    OK(put(P("h1"), "hard"));
    OK(link(P("h1"), P("h2")));
    KEEP(rename(P("h1"), P("h2")));
    CHECK(access(P("h1"), F_OK) == 0);
    CHECK(access(P("h2"), F_OK) == 0);
    MSAME("h1");
    MSAME("h2");

    /* a symlink is renamed itself */
    OK(put(P("tgt"), "target"));
    OK(symlink("tgt", P("sl")));
    KEEP(rename(P("sl"), P("sl2")));
    MABSENT("sl");
    MSAME("sl2");
    MSAME("tgt");
    OK(symlink("nowhere", P("dangle")));
    KEEP(rename(P("dangle"), P("dir/dangle")));
    MSAME("dir/dangle");
    MABSENT("dangle");

    /* renameat with two dirfds */
    OK(mkdir(P("src"), 0755));
    OK(mkdir(P("dst"), 0755));
    OK(put(P("src/one"), "one"));
    OK(put(P("src/two"), "two"));
    int s = open(P("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int t = open(P("dst"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(s >= 0 && t >= 0);
    KEEP(renameat(s, "one", t, "uno"));
    KEEP(renameat(s, "two", AT_FDCWD, P("dst/dos")));
    KEEP(renameat(t, "uno", t, "../src/back"));
    FAILS(renameat(s, "one", t, "x"), ENOENT);
    MABSENT("src/one");
    MABSENT("src/two");
    MSAME("dst/dos");
    MSAME("src/back");
    MABSENT("dst/uno");

    /* renameat2 RENAME_NOREPLACE */
    OK(put(P("n1"), "n1"));
    OK(put(P("n2"), "n2"));
    FAILS(renameat2(AT_FDCWD, P("n1"), AT_FDCWD, P("n2"), RENAME_NOREPLACE), EEXIST);
    FAILS(renameat2(s, "back", t, "dos", RENAME_NOREPLACE), EEXIST);
    MSAME("n1");
    MSAME("n2");
    KEEP(renameat2(AT_FDCWD, P("n1"), AT_FDCWD, P("n3"), RENAME_NOREPLACE));
    MABSENT("n1");
    MSAME("n3");
    KEEP(renameat2(s, "back", t, "back", RENAME_NOREPLACE));
    MSAME("dst/back");
    MABSENT("src/back");

    /* renameat2 RENAME_EXCHANGE: two files, a file and a directory, then the failures */
    OK(put(P("x1"), "first"));
    OK(put(P("x2"), "second, longer"));
    OK(chmod(P("x2"), 0600));
    KEEP(renameat2(AT_FDCWD, P("x1"), AT_FDCWD, P("x2"), RENAME_EXCHANGE));
    CHECK(is(P("x1"), "second, longer"));
    CHECK(is(P("x2"), "first"));
    MSAME("x1");
    MSAME("x2");
    OK(mkdir(P("xd"), 0711));
    OK(put(P("xd/inner"), "inner"));
    KEEP(renameat2(AT_FDCWD, P("x1"), AT_FDCWD, P("xd"), RENAME_EXCHANGE));
    MSAME("x1");
    MSAME("x1/inner");
    MSAME("xd");
    KEEP(renameat2(s, "../x2", t, "dos", RENAME_EXCHANGE));
    MSAME("x2");
    MSAME("dst/dos");
    FAILS(renameat2(AT_FDCWD, P("x2"), AT_FDCWD, P("nope"), RENAME_EXCHANGE), ENOENT);
    FAILS(renameat2(AT_FDCWD, P("x2"), AT_FDCWD, P("n3"), RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
    FAILS(renameat2(AT_FDCWD, P("x2"), AT_FDCWD, P("n3"), 0x80), EINVAL);
    MABSENT("nope");
    MSAME("x2");
    MSAME("n3");

    /* plain renameat2 without flags behaves like rename */
    KEEP(renameat2(AT_FDCWD, P("n3"), AT_FDCWD, P("x2"), 0));
    MABSENT("n3");
    MSAME("x2");

    close(s);
    close(t);
    return mt_done();
}
