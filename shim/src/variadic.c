/*
 * Entry points for the variadic libc functions the shim intercepts.
 *
 * Stable Rust cannot define a C-variadic function, so each exported variadic name is a naked
 * Rust function that jumps here with the caller's registers untouched; these read the
 * variable arguments the C way and hand fixed arguments (or a va_list) to the Rust hooks.
 * All of them are hidden: only the Rust side exports symbols.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

int mfs_rs_fcntl(int fd, int cmd, unsigned long arg);
int mfs_rs_ioctl(int fd, unsigned long request, void *arg);
int mfs_rs_vfprintf(FILE *f, const char *fmt, va_list ap);
int mfs_rs_vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int mfs_rs_vdprintf(int fd, const char *fmt, va_list ap);
int mfs_rs_vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
void *mfs_rs_mremap(void *old, size_t old_size, size_t new_size, int flags, void *new_addr);
long mfs_rs_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* syscall(2) takes up to six arguments; like glibc's own, this reads all six. */
long mfs_c_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    return mfs_rs_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* fcntl's third argument is an int, a pointer or absent; glibc itself reads it as a pointer. */
int mfs_c_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    return mfs_rs_fcntl(fd, cmd, arg);
}

int mfs_c_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return mfs_rs_ioctl(fd, request, arg);
}

int mfs_c_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vfprintf(stdout, fmt, ap);
    va_end(ap);
    return r;
}

int mfs_c_fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vfprintf(f, fmt, ap);
    va_end(ap);
    return r;
}

int mfs_c_printf_chk(int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vfprintf_chk(stdout, flag, fmt, ap);
    va_end(ap);
    return r;
}

int mfs_c_fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vfprintf_chk(f, flag, fmt, ap);
    va_end(ap);
    return r;
}

int mfs_c_dprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vdprintf(fd, fmt, ap);
    va_end(ap);
    return r;
}

int mfs_c_dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mfs_rs_vdprintf_chk(fd, flag, fmt, ap);
    va_end(ap);
    return r;
}

/* mremap's fifth argument (the new address) exists only with MREMAP_FIXED. */
void *mfs_c_mremap(void *old, size_t old_size, size_t new_size, int flags, ...)
{
    void *new_addr = 0;
    if (flags & 2 /* MREMAP_FIXED */) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    return mfs_rs_mremap(old, old_size, new_size, flags, new_addr);
}

/* vprintf and __vprintf_chk write to stdout, which only C can name portably. */
int mfs_c_vprintf(const char *fmt, va_list ap)
{
    return mfs_rs_vfprintf(stdout, fmt, ap);
}

int mfs_c_vprintf_chk(int flag, const char *fmt, va_list ap)
{
    return mfs_rs_vfprintf_chk(stdout, flag, fmt, ap);
}

/* The stream putchar and puts write to. */
FILE *mfs_c_stdout(void)
{
    return stdout;
}
