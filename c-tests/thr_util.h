/*
 * Helpers of the threaded programs (thr_*).
 */
#ifndef THR_UTIL_H
#define THR_UTIL_H

#include "mfstest.h"

#include <pthread.h>

/* Runs fn(0) .. fn(n - 1) in n threads at once and waits for all of them; each must return
 * NULL. */
__attribute__((unused)) static void mt_run_threads(int n, void *(*fn)(void *))
{
    pthread_t t[256];
    CHECK(n <= 256);
    for (long i = 0; i < n && i < 256; i++)
        CHECK(pthread_create(&t[i], NULL, fn, (void *)i) == 0);
    for (int i = 0; i < n && i < 256; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        CHECK(r == NULL);
    }
}

#endif
