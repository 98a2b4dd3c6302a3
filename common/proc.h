/* proc.h -- child processes for the programs that start shoal daemons
 * themselves: the integration-test harness (tests/integration/harness.c)
 * and the bench's --local cluster (bench/cluster.c).  Not used by the
 * daemons.
 *
 * A child started here never outlives its parent: it has
 * PR_SET_PDEATHSIG(SIGKILL), and exits at once if the parent died
 * between fork and prctl.  Its stdout and stderr append to a log file,
 * its stdin is /dev/null.  Children are stopped by pid, never by name.
 * A daemon says it is listening by writing its URL as the first line of
 * its --ready-file (atomically: a rename), which proc_wait_ready reads.
 */
#ifndef SHOAL_PROC_H
#define SHOAL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts argv[0] (a path; argv NULL-terminated) with output appended to
 * log_path.  Returns the child's pid, or -1 if fork failed; an exec
 * failure shows as a child that exits 127 with the reason in its log.
 * The caller owns the child: proc_stop or waitpid it. */
pid_t proc_spawn(const char *log_path, char *const argv[]);

/* For a child made by another fork (between fork and exec): stdout and
 * stderr append to log_path (left as they are if it cannot be opened). */
void proc_log_to(const char *log_path);

/* True while the child pid (of this process) has not exited; reaps it
 * once it has.  False for pid <= 0. */
bool proc_alive(pid_t pid);

/* Waits up to timeout_ms for the ready file at path to hold a non-empty
 * first line, copied without its newline into out (cap bytes).  False on
 * timeout or as soon as the child pid exits. */
bool proc_wait_ready(const char *path, pid_t pid, char *out, size_t cap, uint32_t timeout_ms);

/* Sends sig to *pid, waits up to grace_ms for it to exit, then SIGKILLs
 * it; reaps it and sets *pid to 0.  Nothing when *pid <= 0. */
void proc_stop(pid_t *pid, int sig, uint32_t grace_ms);

#endif
