// mfs-args: state
// mfs-compare: no
/*
 * A write no hook sees (a raw system call) moves a written descriptor's offset, so the
 * mirror's copy of the following writes is displaced. The shim's periodic comparison of
 * offsets finds it within 64 writes: the file is journaled as dirty for the mirror (to be
 * resynchronised), and the writes after the comparison land at the primary's offsets again.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    const char *state = mt_state(argc, argv);
    umask(022);

    int fd = open(P("unhooked"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd > 2);
    char rec[10];
    EQ(write(fd, "first", 5), 5);
    EQ(RAWSYS(SYS_write, fd, "unseen", 6), 6);
    for (int i = 0; i < 100; i++) {
        snprintf(rec, sizeof rec, "rec %04d\n", i);
        EQ(write(fd, rec, 9), 9);
    }
    OK(close(fd));
    CHECK(mt_journal_has(state, " unhooked\n"));

    /* The last 30 records are where the primary has them on the mirror too. */
    static char pbuf[4096], mbuf[4096];
    long pn = slurp(P("unhooked"), pbuf, sizeof pbuf);
    long mn = slurp(M("unhooked"), mbuf, sizeof mbuf);
    EQ(pn, 5 + 6 + 900);
    EQ(mn, 5 + 6 + 900);
    if (pn == mn && pn > 270)
        CHECK(memcmp(pbuf + pn - 270, mbuf + mn - 270, 270) == 0);

    EQ(RAWSYS(SYS_unlinkat, AT_FDCWD, P("unhooked"), 0), 0);
    EQ(RAWSYS(SYS_unlinkat, AT_FDCWD, M("unhooked"), 0), 0);
    return mt_done();
}
