// Implementation of CHopperProcess.h; see the header for why each wrapper exists.

#include "CHopperProcess.h"

#include <pthread.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int hopper_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int hopper_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

short hopper_spawn_flag_usevfork(void) {
#ifdef POSIX_SPAWN_USEVFORK
    return POSIX_SPAWN_USEVFORK;
#else
    return 0;
#endif
}

int hopper_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

const char *hopper_signal_abbreviation(int signo) {
    return sigabbrev_np(signo);
}

int hopper_signal_disposition(int signo) {
    struct sigaction action;
    if (sigaction(signo, NULL, &action) != 0) return -1;
    if (action.sa_handler == SIG_IGN) return 1;
    if (signo == SIGCHLD && (action.sa_flags & SA_NOCLDWAIT)) return 1;
    if (action.sa_handler == SIG_DFL) return 0;
    return 2;
}

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
    return sigaction(signo, &action, NULL);
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
