/*
 * setxattr, lsetxattr, fsetxattr, removexattr, lremovexattr and fremovexattr inside the
 * primary: the mirror gets the same attributes (empty and binary values, XATTR_CREATE and
 * XATTR_REPLACE), by path, through a symlink (the target changes), on a symlink itself
 * (trusted.* as root; user.* is refused there with EPERM), through the twin of a writable fd,
 * a read-only fd and a directory fd, on the root of the pair and after chdir. Access ACLs set
 * through fsetxattr/setxattr("system.posix_acl_access"), as cp -a does, give the mirror the
 * same mode; an extended ACL and a default ACL are copied. Errors (ENOENT, EEXIST, ENODATA,
 * EBADF, EPERM, EINVAL, ERANGE, EOPNOTSUPP) change nothing and keep their errno.
 */
#include "meta_util.h"

#include <stdint.h>

static const char ACL_ACCESS[] = "system.posix_acl_access";
static const char ACL_DEFAULT[] = "system.posix_acl_default";

/* A POSIX ACL in the kernel's xattr format: version 2, then (tag, perm, id) entries. */
struct acl_entry {
    uint16_t tag, perm;
    uint32_t id;
};
struct acl {
    uint32_t version;
    struct acl_entry e[5];
};
enum { USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, MASK = 0x10, OTHER = 0x20 };
#define NOID 0xffffffffu

/* The minimal ACL equivalent to mode u/g/o (the kernel stores it as the mode). */
static size_t acl_minimal(struct acl *a, int u, int g, int o)
{
    *a = (struct acl){2, {{USER_OBJ, u, NOID}, {GROUP_OBJ, g, NOID}, {OTHER, o, NOID}}};
    return 4 + 3 * sizeof(struct acl_entry);
}

/* An extended ACL with a named user and a mask. */
static size_t acl_extended(struct acl *a)
{
    *a = (struct acl){2, {{USER_OBJ, 7, NOID}, {USER, 6, 1000}, {GROUP_OBJ, 5, NOID}, {MASK, 7, NOID}, {OTHER, 1, NOID}}};
    return 4 + 5 * sizeof(struct acl_entry);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int root = geteuid() == 0;

    OK(put(P("f"), "file"));
    OK(mkdir(P("d"), 0755));
    OK(put(P("d/g"), "in dir"));
    OK(symlink("f", P("l")));
    OK(put(O("x"), "outside"));
    OK(symlink(O("x"), P("out")));

    /* by path: create, replace, empty and binary values */
    KEEP(setxattr(P("f"), "user.a", "one", 3, 0));
    MXATTR("f", "user.a", "one", 3);
    FAILS(setxattr(P("f"), "user.a", "new", 3, XATTR_CREATE), EEXIST);
    MXATTR("f", "user.a", "one", 3);
    KEEP(setxattr(P("f"), "user.a", "two!", 4, XATTR_REPLACE));
    MXATTR("f", "user.a", "two!", 4);
    FAILS(setxattr(P("f"), "user.none", "x", 1, XATTR_REPLACE), ENODATA);
    MNOXATTR("f", "user.none");
    KEEP(setxattr(P("f"), "user.empty", "", 0, 0));
    MXATTR("f", "user.empty", "", 0);
    KEEP(setxattr(P("f"), "user.bin", "a\0b\377", 4, XATTR_CREATE));
    MXATTR("f", "user.bin", "a\0b\377", 4);
    KEEP(setxattr(P("d"), "user.dir", "dir", 3, 0));
    MXATTR("d", "user.dir", "dir", 3);
    KEEP(setxattr(mt_primary, "user.root", "r", 1, 0));
    MCHECK(xattr_is(mt_mirror, "user.root", "r", 1));
    KEEP(removexattr(mt_primary, "user.root"));
    MCHECK(xattr_absent(mt_mirror, "user.root"));

    /* through a symlink, and on symlinks themselves */
    KEEP(setxattr(P("l"), "user.vialink", "v", 1, 0));
    MXATTR("f", "user.vialink", "v", 1);
    MNOXATTR("l", "user.vialink");
    FAILS(lsetxattr(P("l"), "user.onlink", "v", 1, 0), EPERM);
    KEEP(lsetxattr(P("f"), "user.l", "l", 1, 0));
    MXATTR("f", "user.l", "l", 1);
    if (root) {
        KEEP(lsetxattr(P("l"), "trusted.t", "link", 4, 0));
        MXATTR("l", "trusted.t", "link", 4);
        MNOXATTR("f", "trusted.t");
        KEEP(lremovexattr(P("l"), "trusted.t"));
        MNOXATTR("l", "trusted.t");
    }
    KEEP(setxattr(P("out"), "user.o", "o", 1, 0));   /* leads outside: outside file only */
    CHECK(xattr_is(O("x"), "user.o", "o", 1));
    MTYPE("out", 'l');
    MABSENT("x");

    /* relative to the current directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(P("d")));
    KEEP(setxattr("g", "user.rel", "rel", 3, 0));
    KEEP(setxattr(".", "user.dot", "dot", 3, 0));
    OK(chdir(cwd));
    MXATTR("d/g", "user.rel", "rel", 3);
    MXATTR("d", "user.dot", "dot", 3);

    /* fd forms: writable fd (twin), read-only fd, directory fd, O_PATH fd */
    int w = open(P("f"), O_WRONLY | O_CLOEXEC);
    int r = open(P("d/g"), O_RDONLY | O_CLOEXEC);
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pfd = open(P("f"), O_PATH | O_CLOEXEC);
    CHECK(w >= 0 && r >= 0 && dfd >= 0 && pfd >= 0);
    KEEP(fsetxattr(w, "user.fw", "w", 1, 0));
    MXATTR("f", "user.fw", "w", 1);
    KEEP(fsetxattr(r, "user.fr", "r", 1, 0));
    MXATTR("d/g", "user.fr", "r", 1);
    KEEP(fsetxattr(dfd, "user.fd", "d", 1, 0));
    MXATTR("d", "user.fd", "d", 1);
    FAILS(fsetxattr(pfd, "user.fp", "p", 1, 0), EBADF);
    MNOXATTR("f", "user.fp");

    /* removal in every form; removing what is gone fails with ENODATA */
    KEEP(removexattr(P("f"), "user.a"));
    MNOXATTR("f", "user.a");
    FAILS(removexattr(P("f"), "user.a"), ENODATA);
    KEEP(removexattr(P("l"), "user.vialink"));
    MNOXATTR("f", "user.vialink");
    KEEP(lremovexattr(P("f"), "user.l"));
    MNOXATTR("f", "user.l");
    FAILS(lremovexattr(P("l"), "user.l"), EPERM);      /* no user.* on symlinks */
    KEEP(fremovexattr(w, "user.fw"));
    MNOXATTR("f", "user.fw");
    KEEP(fremovexattr(r, "user.fr"));
    MNOXATTR("d/g", "user.fr");
    KEEP(fremovexattr(dfd, "user.fd"));
    MNOXATTR("d", "user.fd");
    FAILS(fremovexattr(w, "user.fw"), ENODATA);
    FAILS(fremovexattr(pfd, "user.bin"), EBADF);
    MXATTR("f", "user.bin", "a\0b\377", 4);

    /* access ACLs set the mode (cp -a does this through fsetxattr on its new file) */
    struct acl a;
    size_t n = acl_minimal(&a, 6, 4, 0);
    KEEP(fsetxattr(w, ACL_ACCESS, &a, n, 0));
    PMODE("f", 0640);
    MMODE("f", 0640);
    n = acl_minimal(&a, 7, 5, 0);
    KEEP(setxattr(P("d"), ACL_ACCESS, &a, n, 0));
    MMODE("d", 0750);
    n = acl_minimal(&a, 6, 0, 4);
    KEEP(fsetxattr(r, ACL_ACCESS, &a, n, 0));
    MMODE("d/g", 0604);
    n = acl_extended(&a);
    KEEP(setxattr(P("d/g"), ACL_ACCESS, &a, n, 0));
    MXSAME("d/g", ACL_ACCESS);
    MPERMS("d/g");
    KEEP(removexattr(P("d/g"), ACL_ACCESS));
    MNOXATTR("d/g", ACL_ACCESS);
    MPERMS("d/g");
    n = acl_extended(&a);
    KEEP(fsetxattr(dfd, ACL_DEFAULT, &a, n, 0));
    MXSAME("d", ACL_DEFAULT);
    KEEP(removexattr(P("d"), ACL_DEFAULT));
    MNOXATTR("d", ACL_DEFAULT);
    a.version = 7;
    FAILS(fsetxattr(w, ACL_ACCESS, &a, n, 0), EOPNOTSUPP);
    n = acl_minimal(&a, 7, 7, 7);
    a.e[1].tag = 0x40;
    FAILS(fsetxattr(w, ACL_ACCESS, &a, n, 0), EINVAL);
    MMODE("f", 0640);
    n = acl_minimal(&a, 6, 4, 4);
    KEEP(fsetxattr(w, ACL_ACCESS, &a, n, 0));
    MMODE("f", 0644);
    MMODE("d", 0750);
    KEEP(chmod(P("d"), 0755));

    /* errors */
    static char longname[300] = "user.";
    memset(longname + 5, 'n', 270);
    FAILS(setxattr(P("f"), longname, "x", 1, 0), ERANGE);
    FAILS(setxattr(P("f"), "nonamespace.x", "x", 1, 0), EOPNOTSUPP);
    FAILS(setxattr(P("missing"), "user.a", "x", 1, 0), ENOENT);
    MABSENT("missing");
    FAILS(lsetxattr(P("missing"), "user.a", "x", 1, 0), ENOENT);
    FAILS(removexattr(P("missing"), "user.a"), ENOENT);
    FAILS(lremovexattr(P("f/x"), "user.a"), ENOTDIR);
    FAILS(fsetxattr(-1, "user.a", "x", 1, 0), EBADF);
    FAILS(fremovexattr(-1, "user.a"), EBADF);
    FAILS(setxattr(P("f"), "user.a", "x", 1, XATTR_CREATE | XATTR_REPLACE), ENODATA);
    FAILS(setxattr(P("f"), "user.a", "x", 1, 0x10), EINVAL);
    MNOXATTR("f", "user.a");
    FAILS(setxattr(O("missing"), "user.a", "x", 1, 0), ENOENT);
    KEEP(setxattr(O("x"), "user.a", "x", 1, 0));     /* outside the pair */
    KEEP(removexattr(O("x"), "user.a"));

    close(w);
    close(r);
    close(dfd);
    close(pfd);
    const char *all[] = {"f", "d", "d/g", "l", "out"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        MSAME(all[i]);
        MPERMS(all[i]);
        MXSAME(all[i], "user.bin");
        MXSAME(all[i], "user.empty");
        MXSAME(all[i], ACL_ACCESS);
    }
    rm_rf(mt_outside());
    return mt_done();
}
