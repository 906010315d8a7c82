/*
 * mknod, mknodat, mkfifo and mkfifoat inside the primary: FIFOs and regular files (with an
 * explicit S_IFREG and with a zero file type) under umasks, a socket node, a character
 * device (root only; the mirror must get the same device number), dirfds inside the pair,
 * and the error cases (EEXIST, ENOENT, ENOTDIR, EPERM for S_IFDIR, EINVAL for a bad type).
 */
#include "ns_util.h"

#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    KEEP(mknod(P("fifo1"), S_IFIFO | 0666, 0));
    KEEP(mknod(P("reg1"), S_IFREG | 0640, 0));
    KEEP(mknod(P("reg0"), 0777, 0)); /* type 0 means a regular file */
    KEEP(mkfifo(P("fifo2"), 0600));
    KEEP(mknod(P("sock"), S_IFSOCK | 0755, 0));
    MTYPE("fifo1", 'p');
    MTYPE("reg1", 'f');
    MTYPE("reg0", 'f');
    MSAME("fifo1");
    MSAME("reg1");
    MSAME("reg0");
    MSAME("fifo2");
    MSAME("sock");

    umask(0);
    KEEP(mkfifo(P("fifo_u0"), 0777));
    KEEP(mknod(P("reg_u0"), S_IFREG | 0666, 0));
    umask(022);
    MSAME("fifo_u0");
    MSAME("reg_u0");

    /* a device node: needs CAP_MKNOD; whatever the primary gets, the mirror must match */
    errno = 1234;
    int r = mknod(P("null"), S_IFCHR | 0644, makedev(1, 3));
    if (r == 0) {
        CHECK(errno == 1234);
        MTYPE("null", 'c');
        MSAME("null");
    } else {
        CHECK(errno == EPERM);
        MABSENT("null");
    }

    /* *at forms with dirfds inside the pair */
    OK(mkdir(P("d"), 0755));
    int d = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dp = open(P("d"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0 && dp >= 0);
    KEEP(mknodat(d, "fifo", S_IFIFO | 0640, 0));
    KEEP(mknodat(dp, "reg", S_IFREG | 0600, 0));
    KEEP(mkfifoat(d, "fifo3", 0666));
    KEEP(mkfifoat(dp, "../fifo4", 0644));
    KEEP(mkfifoat(AT_FDCWD, P("d/fifo5"), 0644));
    MSAME("d/fifo");
    MSAME("d/reg");
    MSAME("d/fifo3");
    MSAME("fifo4");
    MSAME("d/fifo5");
    errno = 1234;
    r = mknodat(d, "zero", S_IFCHR | 0600, makedev(1, 5));
    if (r == 0) {
        CHECK(errno == 1234);
        MSAME("d/zero");
    } else {
        CHECK(errno == EPERM);
    }

    /* the regular file made by mknod is an ordinary file afterwards */
    OK(put(P("reg1"), "written later"));
    MSAME("reg1");

    /* errors */
    FAILS(mknod(P("fifo1"), S_IFIFO | 0644, 0), EEXIST);
    FAILS(mknod(P("reg1"), S_IFREG | 0644, 0), EEXIST);
    FAILS(mkfifo(P("d"), 0644), EEXIST);
    FAILS(mkfifo(P("missing/f"), 0644), ENOENT);
    FAILS(mkfifo(P("reg1/f"), 0644), ENOTDIR);
    FAILS(mknod(P("dirnode"), S_IFDIR | 0755, 0), EPERM);
    FAILS(mknod(P("badtype"), 0170000 | 0644, 0), EINVAL);
    FAILS(mkfifoat(d, "fifo", 0644), EEXIST);
    MSAME("fifo1");
    MSAME("reg1");
    MABSENT("dirnode");
    MABSENT("badtype");
    MABSENT("missing");

    close(d);
    close(dp);
    return mt_done();
}
