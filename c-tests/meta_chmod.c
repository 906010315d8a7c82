/*
 * chmod, lchmod, fchmod and fchmodat inside the primary: the mirror gets the same permission
 * bits (including set-id and sticky bits) by path, through a symlink (the target changes,
 * wherever in the tree it lies; nothing changes when it leads out of the pair), through the
 * twin of a writable fd, through a read-only fd, a directory fd, a relative path after
 * chdir, and on the primary root itself. AT_SYMLINK_NOFOLLOW and lchmod on a symlink fail
 * with EOPNOTSUPP and change nothing. Errors and outside paths keep their result and errno.
 */
#include "meta_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("f"), "file"));
    OK(mkdir(P("d"), 0755));
    OK(put(P("d/g"), "in dir"));
    OK(symlink("f", P("l")));
    OK(symlink("d", P("dl")));
    OK(symlink(P("f"), P("abs")));          /* absolute, into the primary */
    OK(put(O("x"), "outside"));
    OK(symlink(O("x"), P("out")));          /* leads out of the pair */

    /* by path */
    KEEP(chmod(P("f"), 0600));
    PMODE("f", 0600);
    MMODE("f", 0600);
    KEEP(chmod(P("d"), 0700));
    MMODE("d", 0700);
    KEEP(chmod(P("d"), 0755));
    KEEP(chmod(P("d/g"), 04711));
    MMODE("d/g", 04711);
    KEEP(chmod(P("d/g"), 02751));
    MMODE("d/g", 02751);
    KEEP(chmod(P("d"), 01777));
    MMODE("d", 01777);
    KEEP(chmod(P("d"), 0755));
    KEEP(chmod(P("./d/../f"), 0640));       /* a path with . and .. */
    MMODE("f", 0640);

    /* through symlinks: the target changes, the link stays a link */
    KEEP(chmod(P("l"), 0604));
    MMODE("f", 0604);
    MTYPE("l", 'l');
    KEEP(chmod(P("abs"), 0606));
    MMODE("f", 0606);
    MTYPE("abs", 'l');
    KEEP(chmod(P("dl/g"), 0666));           /* through a symlinked directory */
    MMODE("d/g", 0666);
    KEEP(chmod(P("out"), 0611));            /* changes the outside file only */
    CHECK(mode_of(O("x")) == 0611);
    MTYPE("out", 'l');
    MABSENT("x");

    /* the root of the pair */
    KEEP(chmod(mt_primary, 0750));
    MCHECK(mode_of(mt_mirror) == 0750);
    KEEP(chmod(mt_primary, 0755));
    MCHECK(mode_of(mt_mirror) == 0755);

    /* relative to the current directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(P("d")));
    KEEP(chmod("g", 0612));
    KEEP(chmod("../f", 0620));
    OK(chdir(cwd));
    MMODE("d/g", 0612);
    MMODE("f", 0620);

    /* fchmod: writable fd (twin), read-only fd, directory fd, O_PATH fd */
    int w = open(P("f"), O_WRONLY | O_CLOEXEC);
    int r = open(P("d/g"), O_RDONLY | O_CLOEXEC);
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pfd = open(P("f"), O_PATH | O_CLOEXEC);
    CHECK(w >= 0 && r >= 0 && dfd >= 0 && pfd >= 0);
    KEEP(fchmod(w, 0641));
    MMODE("f", 0641);
    KEEP(fchmod(r, 0642));
    MMODE("d/g", 0642);
    KEEP(fchmod(dfd, 0711));
    MMODE("d", 0711);
    FAILS(fchmod(pfd, 0777), EBADF);
    MMODE("f", 0641);

    /* fchmodat: a dirfd and a relative name, AT_FDCWD, AT_SYMLINK_NOFOLLOW */
    KEEP(fchmodat(dfd, "g", 0644, 0));
    MMODE("d/g", 0644);
    KEEP(fchmodat(AT_FDCWD, P("f"), 0664, 0));
    MMODE("f", 0664);
    KEEP(fchmodat(AT_FDCWD, P("l"), 0660, 0));    /* follows */
    MMODE("f", 0660);
    KEEP(fchmodat(dfd, "g", 0700, AT_SYMLINK_NOFOLLOW));
    MMODE("d/g", 0700);
    FAILS(fchmodat(AT_FDCWD, P("l"), 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    MMODE("f", 0660);
    MTYPE("l", 'l');
    FAILS(fchmodat(AT_FDCWD, P("f"), 0600, 0x100000), EINVAL);
    MMODE("f", 0660);
    KEEP(fchmod(dfd, 0755));

    /* lchmod: works on non-links, refuses symlinks */
    KEEP(lchmod(P("f"), 0644));
    MMODE("f", 0644);
    FAILS(lchmod(P("l"), 0600), EOPNOTSUPP);
    MMODE("f", 0644);

    /* errors change nothing and keep their errno */
    FAILS(chmod(P("missing"), 0644), ENOENT);
    MABSENT("missing");
    FAILS(chmod(P("f/x"), 0644), ENOTDIR);
    FAILS(chmod(P("nodir/x"), 0644), ENOENT);
    FAILS(fchmod(-1, 0644), EBADF);
    FAILS(fchmodat(-1, "f", 0644, 0), EBADF);
    FAILS(lchmod(P("missing"), 0644), ENOENT);
    FAILS(chmod(O("missing"), 0644), ENOENT);
    KEEP(chmod(O("x"), 0600));                     /* outside the pair */
    CHECK(mode_of(O("x")) == 0600);

    close(w);
    close(r);
    close(dfd);
    close(pfd);

    const char *all[] = {"f", "d", "d/g", "l", "dl", "abs", "out"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        MSAME(all[i]);
    rm_rf(mt_outside());
    return mt_done();
}
