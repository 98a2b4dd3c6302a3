/* proc.c -- see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

void
proc_log_to(const char *log_path)
{
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}

pid_t
proc_spawn(const char *log_path, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid; /* parent, or -1 */
	/* child: dies with its parent, logs to a file */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	proc_log_to(log_path);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

bool
proc_alive(pid_t pid)
{
	int status;
	return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

bool
proc_wait_ready(const char *path, pid_t pid, char *out, size_t cap, uint32_t timeout_ms)
{
	uint64_t end = util_mono_ms() + timeout_ms;
	while (util_mono_ms() < end) {
		FILE *f = fopen(path, "r");
		if (f) {
			bool ok = fgets(out, (int)cap, f) != NULL;
			fclose(f);
			if (ok) {
				out[strcspn(out, "\r\n")] = '\0';
				if (out[0])
					return true;
			}
		}
		if (!proc_alive(pid))
			return false;
		util_sleep_ms(20);
	}
	return false;
}

void
proc_stop(pid_t *pid, int sig, uint32_t grace_ms)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	uint64_t end = util_mono_ms() + grace_ms;
	int status;
	while (waitpid(*pid, &status, WNOHANG) == 0) {
		if (util_mono_ms() > end) {
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			break;
		}
		util_sleep_ms(10);
	}
	*pid = 0;
}
