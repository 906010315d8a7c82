/*
 * Mirroring where openat2 is unavailable: a kernel before 5.6 answers ENOSYS, and container
 * seccomp profiles answer ENOSYS or EPERM. Two children each refuse openat2 to themselves with
 * a seccomp filter (one errno each) and then create, write, append, truncate and rename files in
 * nested directories, write through a symlink that stays inside the tree, and through one that
 * leads out of it. The mirror must match the primary, and nothing may be written through the
 * mirror's copy of the outward link.
 */
#include "ns_util.h"

#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* From here on, openat2 fails with `err` in this process (and its children). */
static int refuse_openat2(int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void scenario(const char *d, const char *out)
{
    char p[PATH_MAX], q[PATH_MAX];
#define AT(rel) (snprintf(p, sizeof p, "%s/%s", d, rel), P(p))
#define AT2(rel) (snprintf(q, sizeof q, "%s/%s", d, rel), P(q))
    OK(mkdir(P(d), 0755));
    OK(mkdir(AT("sub"), 0750));
    OK(mkdir(AT("sub/deeper"), 0700));
    OK(put(AT("sub/deeper/f"), "first"));
    OK(append(AT("sub/deeper/f"), " and more"));
    OK(put(AT("top"), "top level"));
    int fd = open(AT("top"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "rewritten", 9) == 9);
    CHECK(close(fd) == 0);
    OK(rename(AT("sub/deeper/f"), AT2("sub/moved")));

    /* a link inside the tree, written through */
    OK(symlink("sub", AT("inlink")));
    OK(put(AT("inlink/via"), "through the inner link"));
    CHECK(raw_is(AT("sub/via"), "through the inner link"));

    /* a link out of the tree: the write lands outside once, never through the mirror */
    OK(symlink(out, AT("outlink")));
    OK(append(AT("outlink/once"), "o"));
    snprintf(q, sizeof q, "%s/once", out);
    CHECK(raw_is(q, "o"));

    /* openat2 really is refused here (the control for everything above) */
    CHECK(RAWSYS(SYS_openat2, AT_FDCWD, ".", NULL, 0) == -1);
#undef AT
#undef AT2
}

static int run_child(int err, const char *d, const char *out)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (refuse_openat2(err) != 0) {
            perror("seccomp");
            _exit(3);
        }
        struct open_how how = {.flags = O_RDONLY};
        if (RAWSYS(SYS_openat2, AT_FDCWD, ".", &how, sizeof how) != -1 || errno != err) {
            fprintf(stderr, "openat2 was not refused with errno %d\n", err);
            _exit(3);
        }
        scenario(d, out);
        _exit(mt_done());
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    const char *out = mt_outside();
    EQ(run_child(ENOSYS, "enosys", out), 0);
    char eperm_out[PATH_MAX + 8];
    snprintf(eperm_out, sizeof eperm_out, "%s/eperm", out);
    OK(mkdir(eperm_out, 0755));
    EQ(run_child(EPERM, "eperm", eperm_out), 0);

    const char *files[] = {"enosys/top", "enosys/sub/moved", "enosys/sub/via", "eperm/top", "eperm/sub/moved",
                           "eperm/sub/via"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        MSAME(files[i]);
    MTYPE("enosys/outlink", 'l');
    MTYPE("eperm/inlink", 'l');
    MABSENT("enosys/sub/deeper/f");
    rm_rf(out);
    return mt_done();
}
