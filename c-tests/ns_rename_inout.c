/*
 * Renames across the pair's boundary (one file system, so the kernel moves the inode):
 * a file, a small tree (with a symlink, a FIFO, an empty directory and a 1 MiB file) and a
 * replacement from a scratch directory outside the pair into the primary must be copied into
 * the mirror; renames out of the primary must remove the object from the mirror; a
 * RENAME_EXCHANGE across the boundary brings the outside object's contents in; a refused
 * RENAME_NOREPLACE leaves the mirror alone. Nothing outside the mirror root is written.
 */
#include "ns_util.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    mt_outside();

    /* a file */
    OK(put(O("file"), "from outside"));
    OK(chmod(O("file"), 0640));
    KEEP(rename(O("file"), P("in_file")));
    MSAME("in_file");

    /* a small tree */
    OK(mkdir(O("tree"), 0750));
    OK(mkdir(O("tree/sub"), 0700));
    OK(mkdir(O("tree/empty"), 0755));
    OK(put(O("tree/a"), "a"));
    OK(put(O("tree/sub/b"), "bb"));
    OK(symlink("../a", O("tree/sub/lnk")));
    OK(symlink("/nonexistent/abs", O("tree/abs")));
    OK(mkfifo(O("tree/fifo"), 0600));
    {
        static char big[1 << 20];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)('a' + i % 23);
        int fd = open(O("tree/sub/big"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        CHECK(write(fd, big, sizeof big) == (long)sizeof big);
        close(fd);
    }
    KEEP(rename(O("tree"), P("in_tree")));
    MSAME("in_tree");
    MSAME("in_tree/sub");
    MSAME("in_tree/empty");
    MSAME("in_tree/a");
    MSAME("in_tree/sub/b");
    MSAME("in_tree/sub/lnk");
    MSAME("in_tree/abs");
    MSAME("in_tree/fifo");
    MSAME("in_tree/sub/big");

    /* into the primary over an existing file */
    OK(put(P("victim"), "old primary contents"));
    OK(put(O("repl"), "replacement"));
    KEEP(rename(O("repl"), P("victim")));
    MSAME("victim");

    /* relative source: working directory outside, destination absolute in the primary */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(mt_outside()));
    OK(put("rel", "relative source"));
    KEEP(rename("rel", P("in_rel")));
    MSAME("in_rel");
    /* and with renameat from an outside dirfd into an inside dirfd */
    int od = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pd = open(mt_primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(od >= 0 && pd >= 0);
    OK(put("viafd", "via dirfds"));
    KEEP(renameat(od, "viafd", pd, "in_viafd"));
    MSAME("in_viafd");
    OK(chdir(cwd));

    /* RENAME_NOREPLACE refused: nothing changes */
    OK(put(O("nr"), "noreplace"));
    FAILS(renameat2(AT_FDCWD, O("nr"), AT_FDCWD, P("victim"), RENAME_NOREPLACE), EEXIST);
    MSAME("victim");
    KEEP(renameat2(od, "nr", pd, "in_nr", RENAME_NOREPLACE));
    MSAME("in_nr");

    /* RENAME_EXCHANGE across the boundary: the primary gets the outside object */
    OK(put(P("swap"), "inside before"));
    OK(put(O("swap"), "outside before, longer"));
    KEEP(renameat2(AT_FDCWD, O("swap"), AT_FDCWD, P("swap"), RENAME_EXCHANGE));
    CHECK(is(P("swap"), "outside before, longer"));
    CHECK(is(O("swap"), "inside before"));
    MSAME("swap");
    OK(mkdir(O("swapdir"), 0700));
    OK(put(O("swapdir/inner"), "inner"));
    OK(put(P("swapfile"), "a file becomes a directory"));
    KEEP(renameat2(pd, "swapfile", od, "swapdir", RENAME_EXCHANGE));
    MSAME("swapfile");
    MSAME("swapfile/inner");

    /* out of the primary: a file, a tree, a symlink */
    OK(put(P("out_file"), "leaving"));
    OK(mkdir(P("out_tree"), 0755));
    OK(mkdir(P("out_tree/sub"), 0755));
    OK(put(P("out_tree/sub/f"), "f"));
    OK(symlink("in_file", P("out_link")));
    MSAME("out_file");
    MSAME("out_tree/sub/f");
    KEEP(rename(P("out_file"), O("out_file")));
    KEEP(rename(P("out_tree"), O("out_tree")));
    KEEP(renameat(pd, "out_link", od, "out_link"));
    MABSENT("out_file");
    MABSENT("out_tree");
    MABSENT("out_link");
    CHECK(is(O("out_file"), "leaving"));
    CHECK(is(O("out_tree/sub/f"), "f"));

    /* out of the primary over an outside file */
    OK(put(P("out_over"), "new"));
    OK(put(O("out_over"), "old"));
    KEEP(rename(P("out_over"), O("out_over")));
    MABSENT("out_over");
    CHECK(is(O("out_over"), "new"));

    /* a failed rename in from outside changes nothing */
    FAILS(rename(O("missing"), P("never")), ENOENT);
    OK(mkdir(O("adir"), 0755));
    FAILS(rename(O("adir"), P("in_file")), ENOTDIR);
    MABSENT("never");
    MSAME("in_file");

    /* the scratch directory next to the primary never shows up next to the mirror */
    char sib[PATH_MAX];
    snprintf(sib, sizeof sib, "%s/../outside-%d/in_file", mt_mirror, (int)getpid());
    CHECK(raw_type(sib) == '-');

    close(od);
    close(pd);
    rm_rf(mt_outside());
    return mt_done();
}
