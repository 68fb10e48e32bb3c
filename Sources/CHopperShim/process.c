// Implementation of CHopperProcess.h; see the header for why each wrapper exists.

#include "CHopperProcess.h"

#include <pthread.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <malloc.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int hopper_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

const char *hopper_signal_abbreviation(int signo) {
    return sigabbrev_np(signo);
}

// Which signals a child must set back to SIG_DFL: those the parent catches
// (a handler must not run in a child that shares the parent's memory, in
// the moment between its mask emptied and its execve) or ignores (SIG_IGN
// survives execve; a task must start with default dispositions). Setting
// all 62 catchable signals in every child cost about 15 microseconds of
// the loop's time a spawn, the parent waiting (CLONE_VFORK); the parent
// asks the kernel once instead (dispositions_locked), and again after any
// change. Hopper's own changes (the relay's handlers, hopper_signal_ignore)
// and every spawn, from reading the set until its child exists, hold the
// lock, so no child starts with a set older than such a change; others are
// told of with hopper_signal_dispositions_changed.
static pthread_mutex_t dispositions_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t dispositions_set;
static int dispositions_known;

// The relay's state is written by hopper_signal_relay_install and read by the
// handler, which may run on any thread at any time: plain atomics only.
static atomic_int relay_wake_fd = -1;
static atomic_int relay_pending[NSIG];

static void relay_handler(int signo) {
    int saved = errno;
    if (signo > 0 && signo < NSIG) atomic_store(&relay_pending[signo], 1);
    int fd = atomic_load(&relay_wake_fd);
    if (fd >= 0) {
        unsigned char byte = (unsigned char)signo;
        (void)write(fd, &byte, 1);
    }
    errno = saved;
}

int hopper_signal_relay_install(int signo, int wake_fd) {
    if (signo <= 0 || signo >= NSIG) { errno = EINVAL; return -1; }
    atomic_store(&relay_wake_fd, wake_fd);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = relay_handler;
    sigfillset(&action.sa_mask);
    action.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
    pthread_mutex_lock(&dispositions_lock);
    int result = sigaction(signo, &action, NULL);
    dispositions_known = 0;
    pthread_mutex_unlock(&dispositions_lock);
    return result;
}

int hopper_unblock_all_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    return pthread_sigmask(SIG_SETMASK, &none, NULL);
}

int hopper_block_all_signals(void) {
    sigset_t all;
    sigfillset(&all);
    return pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int hopper_signal_relay_take(int signo) {
    if (signo <= 0 || signo >= NSIG) return 0;
    return atomic_exchange(&relay_pending[signo], 0);
}

int hopper_peek_terminated_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid;
}

int hopper_wait_exited(int status) { return WIFEXITED(status) ? 1 : 0; }
int hopper_wait_exit_code(int status) { return WEXITSTATUS(status); }
int hopper_wait_signaled(int status) { return WIFSIGNALED(status) ? 1 : 0; }
int hopper_wait_term_signal(int status) { return WTERMSIG(status); }

static inline uint64_t signal_bit(int signo) { return (uint64_t)1 << (signo - 1); }

void hopper_signal_dispositions_changed(void) {
    pthread_mutex_lock(&dispositions_lock);
    dispositions_known = 0;
    pthread_mutex_unlock(&dispositions_lock);
}

// The set, asked of the kernel again if a change was made since. The
// caller holds dispositions_lock.
static uint64_t dispositions_locked(void) {
    if (!dispositions_known) {
        uint64_t set = 0;
        for (int s = 1; s < NSIG && s <= 64; s++) {
            if (s == SIGKILL || s == SIGSTOP) continue;
            // The kernel's layout, so glibc's own signals (32, 33) are seen as they are.
            struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } old;
            memset(&old, 0, sizeof old);
            // Unknown (the query failed): reset it to be safe.
            if (syscall(SYS_rt_sigaction, s, NULL, &old, _NSIG / 8) != 0 || old.handler != (void *)SIG_DFL || (s == SIGCHLD && (old.flags & SA_NOCLDWAIT)))
                set |= signal_bit(s);
        }
        dispositions_set = set;
        dispositions_known = 1;
    }
    return dispositions_set;
}

int hopper_signal_ignore(int signo, int only_if_default) {
    if (signo <= 0 || signo >= NSIG) { errno = EINVAL; return -1; }
    pthread_mutex_lock(&dispositions_lock);
    struct sigaction old;
    int result = sigaction(signo, NULL, &old);
    if (result == 0 && !(only_if_default && old.sa_handler != SIG_DFL)) {
        struct sigaction ignore;
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        result = sigaction(signo, &ignore, NULL);
        dispositions_known = 0;
    }
    pthread_mutex_unlock(&dispositions_lock);
    return result;
}

// The steps every child of Hopper's takes before its own: its process group,
// default dispositions for every signal the parent catches or ignores
// (`reset`, from dispositions_locked; before the mask is emptied, so no
// handler of the parent's can run in the child), an empty
// mask, the standard descriptors, and every other descriptor closed at exec.
// Raw system calls only: hopper_spawn's child shares the parent's memory,
// hopper_spawn_as_user's is a fork of a threaded process. Returns 0, or the
// HOPPER_STEP_* that failed (errno says why).
static int child_prepare(int new_group, const int fds[3], uint64_t reset) {
    if (new_group && syscall(SYS_setpgid, 0, 0) != 0) return HOPPER_STEP_SETPGID;
    struct sigaction dfl;  // all zeros: SIG_DFL in the kernel's layout and glibc's alike
    memset(&dfl, 0, sizeof dfl);
    for (; reset != 0; reset &= reset - 1) {
        syscall(SYS_rt_sigaction, __builtin_ctzll(reset) + 1, &dfl, NULL, _NSIG / 8);
    }
    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
    // Standard descriptors: every source moved above 2 first, so none is overwritten by another's dup3.
    int sources[3] = {fds[0], fds[1], fds[2]};
    for (int i = 0; i < 3; i++) {
        if (sources[i] < 0) {
            sources[i] = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
            if (sources[i] < 0) return HOPPER_STEP_STDIO;
        }
        if (sources[i] <= 2) {
            int moved = (int)syscall(SYS_fcntl, sources[i], F_DUPFD_CLOEXEC, 3);
            if (moved < 0) return HOPPER_STEP_STDIO;
            sources[i] = moved;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (syscall(SYS_dup3, sources[i], i, 0) < 0) return HOPPER_STEP_STDIO;
    }
    // Everything else closes at exec (hopper_spawn_as_user's report pipe too).
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++) {
            int flags = (int)syscall(SYS_fcntl, fd, F_GETFD);
            if (flags >= 0 && !(flags & FD_CLOEXEC)) syscall(SYS_fcntl, fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    return 0;
}

// The last steps of every child: its working directory, then execve.
// Returns the HOPPER_STEP_* that failed (execve returns only on failure).
static int child_exec(const char *cwd, const char *path, char *const argv[], char *const envp[]) {
    if (cwd != NULL && syscall(SYS_chdir, cwd) != 0) return HOPPER_STEP_CHDIR;
    syscall(SYS_execve, path, argv, envp);
    return HOPPER_STEP_EXEC;
}

// See CHopperProcess.h. The child's credentials change with raw system
// calls: glibc's setgroups, setgid and setuid would try to tell threads the
// child does not have.
pid_t hopper_spawn_as_user(const char *path, char *const argv[], char *const envp[],
                           int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd, int new_group,
                           unsigned int uid, unsigned int gid, const unsigned int *groups, int ngroups,
                           int *failed_step) {
    *failed_step = 0;
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pthread_mutex_lock(&dispositions_lock);
    uint64_t reset = dispositions_locked();
    pid_t pid = fork();
    if (pid != 0) pthread_mutex_unlock(&dispositions_lock);  // the child never takes it again
    if (pid < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        int fds[3] = {stdin_fd, stdout_fd, stderr_fd};
        int step = child_prepare(new_group, fds, reset);
        // Groups, then group, then user: each checked; a failure never runs the command.
        if (step == 0 && syscall(SYS_setgroups, (size_t)ngroups, groups) != 0) step = HOPPER_STEP_SETGROUPS;
        if (step == 0 && syscall(SYS_setresgid, gid, gid, gid) != 0) step = HOPPER_STEP_SETGID;
        if (step == 0 && syscall(SYS_setresuid, uid, uid, uid) != 0) step = HOPPER_STEP_SETUID;
        // The working directory with the user's own rights.
        if (step == 0) step = child_exec(cwd, path, argv, envp);
        int what[2] = {step, errno};
        (void)!write(report[1], what, sizeof what);
        _exit(127);
    }
    close(report[1]);
    int what[2] = {0, 0};
    ssize_t got;
    do { got = read(report[0], what, sizeof what); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof what && what[0] != 0) {
        // It exits at once: reaped here, as hopper_spawn does.
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {}
        *failed_step = what[0];
        errno = what[1];
        return -1;
    }
    return pid;
}

// What hopper_spawn's child needs, and what it reports back: the child
// shares the parent's memory (CLONE_VM) until it execs.
struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    int fds[3];
    const char *cwd;
    int new_group;
    uint64_t reset;
    int step;
    int error;
};

// The child of hopper_spawn, on its own stack in the parent's memory, with
// every signal blocked: nothing of the parent's state touched but the request.
static int spawn_child(void *raw) {
    struct spawn_request *request = raw;
    int step = child_prepare(request->new_group, request->fds, request->reset);
    if (step == 0) step = child_exec(request->cwd, request->path, request->argv, request->envp);
    request->step = step;
    request->error = errno;
    syscall(SYS_exit, 127);
    return 127;
}

// One stack a thread, made at its first spawn and kept: the thread waits
// (CLONE_VFORK) while its child runs on it, so a spawn never shares one.
enum { SPAWN_STACK_SIZE = 64 * 1024 };
static __thread char *spawn_stack;

pid_t hopper_spawn(const char *path, char *const argv[], char *const envp[],
                   int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd, int new_group,
                   int *failed_step) {
    *failed_step = 0;
    if (spawn_stack == NULL) {
        spawn_stack = malloc(SPAWN_STACK_SIZE);
        if (spawn_stack == NULL) { errno = ENOMEM; return -1; }
    }
    pthread_mutex_lock(&dispositions_lock);
    struct spawn_request request = {path, argv, envp, {stdin_fd, stdout_fd, stderr_fd}, cwd, new_group, dispositions_locked(), 0, 0};
    // Every signal blocked (glibc's internal ones too) until the child has
    // made its dispositions default.
    sigset_t all, old;
    memset(&all, 0xff, sizeof all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
    uintptr_t top = ((uintptr_t)spawn_stack + SPAWN_STACK_SIZE) & ~(uintptr_t)15;
    pid_t pid = clone(spawn_child, (void *)top, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int saved = errno;
    pthread_mutex_unlock(&dispositions_lock);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, _NSIG / 8);
    if (pid < 0) { errno = saved; return -1; }
    if (request.step != 0) {
        // It has exited (CLONE_VFORK returned): reaped here, as posix_spawn does.
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {}
        *failed_step = request.step;
        errno = request.error;
        return -1;
    }
    return pid;
}

void hopper_release_free_memory(void) {
    malloc_trim(0);
}

ssize_t hopper_read_nowait(int fd, void *buffer, size_t length) {
    struct iovec vector = {buffer, length};
    return preadv2(fd, &vector, 1, -1, RWF_NOWAIT);
}

int hopper_pipe_reads_nowait(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return 0;
    char byte;
    ssize_t got = hopper_read_nowait(fds[0], &byte, 1);
    int supported = got < 0 && errno == EAGAIN;
    close(fds[0]);
    close(fds[1]);
    return supported;
}

int hopper_take_child_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd >= 0) pthread_sigmask(SIG_BLOCK, &set, NULL);
    return fd;
}
