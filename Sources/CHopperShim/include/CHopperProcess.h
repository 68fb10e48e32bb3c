// Hopper's C shim for processes and signals: the glibc facilities Swift cannot reach directly.
//
// Swift's Glibc module is built without _GNU_SOURCE, so glibc's GNU extensions
// (clone, pipe2, sigabbrev_np) are invisible to it, and the <sys/wait.h> status
// macros are function-like macros that Swift does not import; a spawn's child
// must run nothing but system calls. This target is compiled with _GNU_SOURCE
// and wraps each of them in a plain function. Nothing here allocates but
// hopper_spawn's stack, one a thread, once; the other state is the signal
// relay's (see hopper_signal_relay_install and SignalRelay.swift).

#ifndef CHOPPER_PROCESS_H
#define CHOPPER_PROCESS_H

#include <stdint.h>
#include <sys/types.h>

/// pipe2(2). Returns 0, or -1 with errno set.
int hopper_pipe2(int fds[2], int flags);

/// sigabbrev_np(3): "TERM" for SIGTERM; NULL for a number glibc does not name.
const char *hopper_signal_abbreviation(int signo);

/// sigaction(2): installs Hopper's signal relay handler for `signo` (with SA_RESTART, plus
/// SA_NOCLDSTOP for SIGCHLD). The handler is async-signal-safe: it marks `signo` pending
/// and writes one byte to `wake_fd` (non-blocking; a full pipe already means a wake-up is
/// due). Every call must pass the same `wake_fd`. Returns 0, or -1 with errno set.
int hopper_signal_relay_install(int signo, int wake_fd);

/// Tells the spawns that a signal's disposition may have changed: the next
/// one asks the kernel again which signals its child must set back to
/// SIG_DFL (those caught or ignored). For a sigaction or signal(2) made
/// outside this file; a spawn that runs between that change and this call
/// still uses the old set. (hopper_signal_relay_install and
/// hopper_signal_ignore change dispositions under the spawns' lock, with no
/// such moment.)
void hopper_signal_dispositions_changed(void);

/// signal(2) with SIG_IGN for `signo` (if `only_if_default`, only when its
/// disposition is SIG_DFL), under the spawns' lock: no spawn's child misses
/// the change. Returns 0, or -1 with errno set.
int hopper_signal_ignore(int signo, int only_if_default);

/// preadv2(2) at the current position with RWF_NOWAIT: a read that returns
/// EAGAIN instead of waiting, whatever the descriptor's O_NONBLOCK says.
ssize_t hopper_read_nowait(int fd, void *buffer, size_t length);

/// 1 when this kernel honours RWF_NOWAIT on a pipe (an empty pipe's
/// hopper_read_nowait says EAGAIN; older kernels say EOPNOTSUPP), else 0.
/// Asked of a pipe of its own.
int hopper_pipe_reads_nowait(void);

/// signalfd(2) for SIGCHLD, non-blocking and close-on-exec (readable while
/// a SIGCHLD is pending for the process or the reading thread), then
/// SIGCHLD added to the calling thread's blocked signals, so that thread
/// reads it instead of taking it. Returns the descriptor, or -1 with errno
/// set (and nothing blocked).
int hopper_take_child_signals(void);

/// pthread_sigmask(2) with an empty set: the calling thread blocks no signal.
int hopper_unblock_all_signals(void);

/// pthread_sigmask(2) blocking every signal in the calling thread.
int hopper_block_all_signals(void);

/// Clears `signo`'s pending mark set by the relay handler; returns whether it was set.
int hopper_signal_relay_take(int signo);

/// waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT): the pid of a child that has
/// terminated, left unreaped (a zombie, so its pid and process group id
/// cannot be reused yet); 0 when none has; -1 with errno (ECHILD: no children).
/// Swift cannot read siginfo_t's si_pid, which sits in a union.
int hopper_peek_terminated_child(void);

/// Steps of a spawn that can fail in the child (hopper_spawn, hopper_spawn_as_user).
enum {
    HOPPER_STEP_SETPGID = 1, HOPPER_STEP_STDIO = 2, HOPPER_STEP_SETGROUPS = 3,
    HOPPER_STEP_SETGID = 4, HOPPER_STEP_SETUID = 5, HOPPER_STEP_CHDIR = 6, HOPPER_STEP_EXEC = 7,
};

/// fork(2), then in the child the steps of hopper_spawn's child up to its
/// working directory, then setgroups(`groups`), setresgid(`gid`),
/// setresuid(`uid`) — in that order, each checked — then chdir(`cwd`, if
/// not NULL) with the user's rights, and execve. posix_spawn cannot change
/// credentials, hence this. Returns the child's pid, or -1 with errno: for
/// fork's failure, or for a step that failed in the child (`*failed_step`,
/// HOPPER_STEP_*), which has then exited 127, running nothing, and been
/// reaped here (as hopper_spawn's).
pid_t hopper_spawn_as_user(const char *path, char *const argv[], char *const envp[],
                           int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd, int new_group,
                           unsigned int uid, unsigned int gid, const unsigned int *groups, int ngroups,
                           int *failed_step);

/// clone(2) with CLONE_VM | CLONE_VFORK, as posix_spawn does, with the
/// attributes every Hopper child gets: its own process group (if
/// `new_group`), every signal it catches or ignores back at its default disposition, an
/// empty mask, `stdin_fd`/`stdout_fd`/`stderr_fd` on 0, 1, 2 (-1:
/// /dev/null), every other descriptor closed at exec, chdir(`cwd`) if not
/// NULL, then execve. The calling thread waits (CLONE_VFORK) until the child
/// has exec'd or failed. Unlike glibc's posix_spawn it validates no file
/// action against RLIMIT_NOFILE (six getrlimit calls a spawn) and maps no
/// stack (the calling thread's own, kept from its first spawn), so the
/// parent makes three system calls: the mask blocked, clone, the mask back.
/// Returns the child's pid, or -1 with errno: for clone's failure, or for a
/// step that failed in the child (`*failed_step`, HOPPER_STEP_*), which has
/// then exited 127 and been reaped here (the caller must hold off any other
/// reaping meanwhile, as `Reaper.spawn` does with its lock).
pid_t hopper_spawn(const char *path, char *const argv[], char *const envp[],
                   int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd, int new_group,
                   int *failed_step);

/// Hands the heap's free pages back to the kernel: glibc's malloc_trim(0),
/// which <malloc.h> declares and the Glibc module does not import.
void hopper_release_free_memory(void);

/// WIFEXITED(status) from <sys/wait.h>, as 0 or 1.
int hopper_wait_exited(int status);
/// WEXITSTATUS(status): the exit code when hopper_wait_exited(status).
int hopper_wait_exit_code(int status);
/// WIFSIGNALED(status), as 0 or 1.
int hopper_wait_signaled(int status);
/// WTERMSIG(status): the terminating signal when hopper_wait_signaled(status).
int hopper_wait_term_signal(int status);

#endif
