#ifndef CHOPPER_FILES_H
#define CHOPPER_FILES_H
#include <stddef.h>
#include <sys/types.h>

/// renameat2(2); flags: 1 = RENAME_NOREPLACE. Returns 0 or -1 with errno.
int hopper_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int noreplace);
/// getdents64(2) on an open directory. Returns bytes read, 0 at end, -1 with errno.
long hopper_getdents64(int fd, void *buffer, size_t size);
/// syncfs(2): writes back the whole file system that holds `fd`. Returns 0 or -1 with errno.
int hopper_syncfs(int fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to this process.
int hopper_become_subreaper(void);

/// major(3) and minor(3) of a device number (macros in <sys/sysmacros.h>).
unsigned int hopper_major(unsigned long long device);
unsigned int hopper_minor(unsigned long long device);

/// epoll_create1(EPOLL_CLOEXEC).
int hopper_epoll_create(void);
/// epoll_ctl ADD/MOD/DEL with the event mask and a 64-bit token as data. op: 0 add, 1 modify, 2 delete.
int hopper_epoll_ctl(int epfd, int op, int fd, unsigned int events, unsigned long long token);
/// epoll_wait into parallel arrays of tokens and event masks.
int hopper_epoll_wait(int epfd, unsigned long long *tokens, unsigned int *events, int max, int timeout_ms);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int hopper_eventfd(void);

extern const unsigned int hopper_EPOLLIN;
extern const unsigned int hopper_EPOLLOUT;
extern const unsigned int hopper_EPOLLHUP;
extern const unsigned int hopper_EPOLLERR;

#endif
