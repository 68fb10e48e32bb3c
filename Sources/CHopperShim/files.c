#include "CHopperFiles.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int hopper_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int noreplace) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, noreplace ? RENAME_NOREPLACE : 0);
}

long hopper_getdents64(int fd, void *buffer, size_t size) {
    return syscall(SYS_getdents64, fd, buffer, size);
}

int hopper_syncfs(int fd) { return syncfs(fd); }

#include <sys/epoll.h>
#include <sys/eventfd.h>

const unsigned int hopper_EPOLLIN = EPOLLIN;
const unsigned int hopper_EPOLLOUT = EPOLLOUT;
const unsigned int hopper_EPOLLHUP = EPOLLHUP;
const unsigned int hopper_EPOLLERR = EPOLLERR;

int hopper_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int hopper_epoll_ctl(int epfd, int op, int fd, unsigned int events, unsigned long long token) {
    struct epoll_event ev = { .events = events, .data.u64 = token };
    int cmd = op == 0 ? EPOLL_CTL_ADD : op == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    return epoll_ctl(epfd, cmd, fd, &ev);
}

int hopper_epoll_wait(int epfd, unsigned long long *tokens, unsigned int *events, int max, int timeout_ms) {
    struct epoll_event buffer[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, buffer, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        tokens[i] = buffer[i].data.u64;
        events[i] = buffer[i].events;
    }
    return n;
}

int hopper_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#include <sys/prctl.h>
#include <sys/sysmacros.h>

int hopper_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

unsigned int hopper_major(unsigned long long device) { return major(device); }
unsigned int hopper_minor(unsigned long long device) { return minor(device); }
