/*
 * chown, lchown, fchown and fchownat inside the primary: the mirror gets the same owner and
 * group, by path, through a symlink (chown changes the target, lchown and
 * AT_SYMLINK_NOFOLLOW the link itself), through the twin of a writable fd, a read-only fd, a
 * directory fd, and an O_PATH fd with AT_EMPTY_PATH; -1 keeps an id; the set-id bits that
 * chown clears are cleared on the mirror too. Run as root, real ids are given away; as
 * another user, the program's own ids are set and giving a file to root fails with EPERM.
 * Errors and outside paths keep their result and errno.
 */
#include "meta_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int root = geteuid() == 0;
    uid_t me = geteuid();
    gid_t mg = getegid();
    uid_t u1 = root ? 1234 : me, u2 = root ? 4321 : me;
    gid_t g1 = root ? 5678 : mg, g2 = root ? 8765 : mg;

    OK(put(P("f"), "file"));
    OK(mkdir(P("d"), 0755));
    OK(put(P("d/g"), "in dir"));
    OK(symlink("f", P("l")));
    OK(symlink("d", P("dl")));
    OK(put(O("x"), "outside"));
    OK(symlink(O("x"), P("out")));

    /* by path, through links, and the links themselves */
    KEEP(chown(P("f"), u1, g1));
    POWNER("f", u1, g1);
    MOWNER("f", u1, g1);
    KEEP(chown(P("d"), u2, g2));
    MOWNER("d", u2, g2);
    KEEP(chown(P("l"), u2, g1));            /* follows: f changes */
    MOWNER("f", u2, g1);
    MOWNER("l", me, mg);
    KEEP(lchown(P("l"), u1, g2));           /* the link itself */
    MOWNER("l", u1, g2);
    MOWNER("f", u2, g1);
    KEEP(chown(P("dl/g"), u1, g1));
    MOWNER("d/g", u1, g1);
    KEEP(chown(P("out"), me, mg));          /* outside file only */
    MTYPE("out", 'l');
    MABSENT("x");

    /* -1 keeps an id */
    KEEP(chown(P("f"), (uid_t)-1, g2));
    MOWNER("f", u2, g2);
    KEEP(chown(P("f"), u1, (gid_t)-1));
    MOWNER("f", u1, g2);

    /* chown clears set-id bits (same on both sides) */
    KEEP(chmod(P("d/g"), 06755));
    KEEP(chown(P("d/g"), u2, g2));
    MOWNER("d/g", u2, g2);
    MMODE("d/g", mode_of(P("d/g")));

    /* fd forms */
    int w = open(P("f"), O_RDWR | O_CLOEXEC);
    int r = open(P("d/g"), O_RDONLY | O_CLOEXEC);
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pfd = open(P("l"), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    CHECK(w >= 0 && r >= 0 && dfd >= 0 && pfd >= 0);
    KEEP(fchown(w, u2, g1));
    MOWNER("f", u2, g1);
    KEEP(fchown(r, u1, g2));
    MOWNER("d/g", u1, g2);
    KEEP(fchown(dfd, u1, g1));
    MOWNER("d", u1, g1);
    FAILS(fchown(pfd, u1, g1), EBADF);
    KEEP(fchownat(pfd, "", u2, g2, AT_EMPTY_PATH));   /* the symlink, through O_PATH */
    MOWNER("l", u2, g2);
    MOWNER("f", u2, g1);
    KEEP(fchownat(dfd, "g", u2, g1, 0));
    MOWNER("d/g", u2, g1);
    KEEP(fchownat(AT_FDCWD, P("l"), u1, g2, 0));      /* follows */
    MOWNER("f", u1, g2);
    MOWNER("l", u2, g2);
    KEEP(fchownat(AT_FDCWD, P("l"), u1, g1, AT_SYMLINK_NOFOLLOW));
    MOWNER("l", u1, g1);
    MOWNER("f", u1, g2);

    /* relative to the current directory, and the root itself */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(P("d")));
    KEEP(chown("g", u1, g1));
    KEEP(fchownat(AT_FDCWD, "", u2, g2, AT_EMPTY_PATH));  /* the current directory: d */
    OK(chdir(cwd));
    MOWNER("d/g", u1, g1);
    MOWNER("d", u2, g2);
    KEEP(chown(mt_primary, u1, g1));
    MCHECK(owner_is(mt_mirror, u1, g1));
    KEEP(chown(mt_primary, me, mg));
    MCHECK(owner_is(mt_mirror, me, mg));

    /* errors */
    FAILS(chown(P("missing"), u1, g1), ENOENT);
    MABSENT("missing");
    FAILS(lchown(P("missing"), u1, g1), ENOENT);
    FAILS(chown(P("f/x"), u1, g1), ENOTDIR);
    FAILS(fchown(-1, u1, g1), EBADF);
    FAILS(fchownat(dfd, "g", u1, g1, 0x100000), EINVAL);
    FAILS(fchownat(AT_FDCWD, P("f"), u1, g1, AT_EMPTY_PATH | 0x100000), EINVAL);
    MOWNER("d/g", u1, g1);
    FAILS(chown(O("missing"), me, mg), ENOENT);
    KEEP(chown(O("x"), me, mg));
    if (!root) {
        FAILS(chown(P("f"), 0, 0), EPERM);
        FAILS(fchown(w, 0, 0), EPERM);
        MOWNER("f", u1, g2);
    }

    close(w);
    close(r);
    close(dfd);
    close(pfd);
    const char *all[] = {"f", "d", "d/g", "l", "dl", "out"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        MSAME(all[i]);
        MPERMS(all[i]);
    }
    rm_rf(mt_outside());
    return mt_done();
}
