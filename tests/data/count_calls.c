/*
 * A second interposer, preloaded after libmfs.so: counts the open, openat, close and write
 * calls that reach it and writes the counts to $COUNT_FILE at exit. Built with -DONLY_WRITE it
 * defines write alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long opens, closes, writes;

#ifndef ONLY_WRITE
static mode_t mode_of(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
    static int (*next)(const char *, int, ...);
    if (!next)
        next = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    opens++;
    return next(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*next)(int, const char *, int, ...);
    if (!next)
        next = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    opens++;
    return next(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int close(int fd)
{
    static int (*next)(int);
    if (!next)
        next = (int (*)(int))dlsym(RTLD_NEXT, "close");
    closes++;
    return next(fd);
}

#endif

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*next)(int, const void *, size_t);
    if (!next)
        next = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    writes++;
    return next(fd, buf, n);
}

__attribute__((destructor)) static void report(void)
{
    const char *file = getenv("COUNT_FILE");
    FILE *f = file ? fopen(file, "w") : NULL;
    if (f) {
        fprintf(f, "opens %ld closes %ld writes %ld\n", opens, closes, writes);
        fclose(f);
    }
}
