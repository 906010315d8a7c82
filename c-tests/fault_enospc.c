/*
 * `fault_enospc PRIMARY MIRROR STATE MODE`: sequential 4 KiB writes to a new file while the
 * mirror is a tiny tmpfs that fills up (run by tests/tests/mirror_full.rs, which mounts it).
 *
 * MODE degrade: every write returns the primary's result (4096) with errno untouched; the
 * file is journaled as dirty for the mirror; the primary holds all 256 KiB.
 * MODE fail: writes succeed until the mirror is full; then a write returns -1 with ENOSPC.
 */
#include "mfstest.h"

#define BLOCKS 64

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    const char *state = mt_state(argc, argv);
    if (argc < 5) {
        fprintf(stderr, "usage: %s PRIMARY MIRROR STATE degrade|fail\n", argv[0]);
        return 2;
    }
    int fail_mode = strcmp(argv[4], "fail") == 0;
    static char block[4096];
    mt_fill(block, sizeof block, 7);

    int fd = open(P("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd > 2);
    int failed_at = -1;
    for (int i = 0; i < BLOCKS; i++) {
        errno = 1234;
        long r = write(fd, block, sizeof block);
        if (!fail_mode) {
            EQ(r, (long)sizeof block);
            EQ(errno, 1234);
        } else if (r != (long)sizeof block) {
            EQ(r, -1);
            EQ(errno, ENOSPC);
            failed_at = i;
            break;
        }
    }
    OK(close(fd));
    if (fail_mode) {
        /* 64 KiB of tmpfs holds at most 16 blocks. */
        CHECK(failed_at > 0 && failed_at <= 16);
    } else {
        struct stat st;
        OK(stat(P("f"), &st));
        EQ(st.st_size, BLOCKS * (long)sizeof block);
        CHECK(mt_journal_has(state, " f\n"));
    }
    return mt_done();
}
