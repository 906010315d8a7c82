/* The first writes of a process, made by many threads at once: 24 processes each release 16
 * threads from a barrier, and every thread appends records to one shared O_APPEND file. The
 * first write of each process opens the coherency lock table; the other threads' writes must
 * wait for it, not go unserialised (which left the mirror's log in another order). */
#include "mfstest.h"
#include <pthread.h>
#include <sys/wait.h>

#define PROCS 24
#define THREADS 16
#define RECORDS 20

static pthread_barrier_t start;
static int log_fd;
static int proc_no;

static void *work(void *arg)
{
    long id = (long)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < RECORDS; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof rec, "process %02d thread %02ld record %02d\n", proc_no, id, i);
        if (write(log_fd, rec, n) != n)
            return (void *)1;
    }
    return NULL;
}

static int child(void)
{
    pthread_t t[THREADS];
    if (pthread_barrier_init(&start, NULL, THREADS) != 0)
        return 3;
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, work, (void *)i) != 0)
            return 3;
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    return bad;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        /* Each process opens the log itself, so its first write is its first mirrored one. */
        pids[p] = fork();
        CHECK(pids[p] >= 0);
        if (pids[p] == 0) {
            proc_no = p;
            log_fd = open(P("shared.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            _exit(log_fd < 0 ? 2 : child());
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        CHECK(waitpid(pids[p], &status, 0) == pids[p]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct stat st;
    OK(stat(P("shared.log"), &st));
    EQ(st.st_size, (off_t)PROCS * THREADS * RECORDS * 31);
    return mt_done();
}
