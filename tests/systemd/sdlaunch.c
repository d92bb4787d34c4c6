/*
 * sdlaunch: runs a command under what toolhostd.service asks of systemd, for a test on a machine where
 * systemd is not PID 1 (tests/integration/systemd.test.mjs). Each flag emulates a unit setting:
 *
 *   -d NAME     SystemCallFilter=~...: the syscall NAME kills the process (SIGSYS, systemd's default
 *               action); names not on this architecture (setuid32 on x86-64) are skipped. Repeatable.
 *               The filter also sets no_new_privs (NoNewPrivileges=yes).
 *   -m MODE     UMask=MODE (octal)
 *   -u UID:GID  User= / Group=, no supplementary groups; every capability leaves the bounding set
 *               first (CapabilityBoundingSet=)
 *   -p          PrivateMounts=yes, ProtectProc=invisible, ProcSubset=pid: a mount namespace of its own
 *               with /proc mounted again as hidepid=invisible,subset=pid
 *   -N PATH     Type=notify: binds a datagram socket at PATH, passes NOTIFY_SOCKET=PATH, and prints every
 *               message as "notify pid=PID: LINE" on stdout, PID being the sender's (SO_PASSCRED)
 *   -W USEC     WatchdogSec=: WATCHDOG_USEC=USEC and WATCHDOG_PID=the command's pid
 *
 * Prints "child pid=PID" first and "exit status=N" or "exit signal=N" last, and exits with the
 * child's status (128 + signal when killed). SIGTERM and SIGINT are passed on to the child.
 * Needs root (namespaces, setuid). A test tool, not a sandbox: it trusts its arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DENY 512

struct opts {
	const char *deny[MAX_DENY];
	int ndeny;
	int umask_set;
	mode_t umask;
	int user_set;
	uid_t uid;
	gid_t gid;
	int private_proc;
	const char *notify_path;
	const char *watchdog_usec;
	char **argv;
};

static volatile sig_atomic_t child_pid;

static void
usage(void)
{
	fprintf(stderr, "usage: sdlaunch [-d SYSCALL]... [-m UMASK] [-u UID:GID] [-p] [-N NOTIFY_PATH] "
	                "[-W WATCHDOG_USEC] -- COMMAND [ARG]...\n");
	exit(2);
}

static void
die(const char *what)
{
	fprintf(stderr, "sdlaunch: %s: %s\n", what, strerror(errno));
	_exit(125);
}

static void
on_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int opt;
	char *end;

	memset(o, 0, sizeof *o);
	while ((opt = getopt(argc, argv, "d:m:u:pN:W:")) != -1) {
		switch (opt) {
		case 'd':
			if (o->ndeny == MAX_DENY)
				usage();
			o->deny[o->ndeny++] = optarg;
			break;
		case 'm':
			o->umask = (mode_t)strtoul(optarg, &end, 8);
			if (*end)
				usage();
			o->umask_set = 1;
			break;
		case 'u':
			o->uid = (uid_t)strtoul(optarg, &end, 10);
			if (*end != ':')
				usage();
			o->gid = (gid_t)strtoul(end + 1, &end, 10);
			if (*end)
				usage();
			o->user_set = 1;
			break;
		case 'p':
			o->private_proc = 1;
			break;
		case 'N':
			o->notify_path = optarg;
			break;
		case 'W':
			o->watchdog_usec = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	o->argv = argv + optind;
}

/* In the child, in the order systemd applies them: namespace, umask, user, seccomp last. */
static void
child(const struct opts *o)
{
	char buf[32];
	int i, n_denied = 0, n_foreign = 0;
	scmp_filter_ctx ctx;

	if (o->private_proc) {
		if (unshare(CLONE_NEWNS) < 0)
			die("unshare(CLONE_NEWNS)");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("mount --make-rprivate /");
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		          "hidepid=invisible,subset=pid") < 0)
			die("mount proc hidepid=invisible,subset=pid");
	}
	if (o->umask_set)
		umask(o->umask);
	if (o->notify_path && setenv("NOTIFY_SOCKET", o->notify_path, 1) < 0)
		die("setenv");
	if (o->watchdog_usec) {
		snprintf(buf, sizeof buf, "%ld", (long)getpid());
		if (setenv("WATCHDOG_USEC", o->watchdog_usec, 1) < 0 || setenv("WATCHDOG_PID", buf, 1) < 0)
			die("setenv");
	}
	if (o->user_set) {
		for (i = 0; i <= 63; i++)
			if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
				die("prctl(PR_CAPBSET_DROP)");
		if (setgroups(0, NULL) < 0 || setgid(o->gid) < 0 || setuid(o->uid) < 0)
			die("setgroups/setgid/setuid");
	}
	if (o->ndeny > 0) {
		ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (ctx == NULL) {
			fprintf(stderr, "sdlaunch: seccomp_init failed\n");
			_exit(125);
		}
		for (i = 0; i < o->ndeny; i++) {
			int nr = seccomp_syscall_resolve_name(o->deny[i]);

			/* Negative: unknown, or a pseudo number for a call this architecture does not have.
			 */
			if (nr < 0) {
				n_foreign++;
				continue;
			}
			if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0) < 0) {
				fprintf(stderr, "sdlaunch: cannot deny %s\n", o->deny[i]);
				_exit(125);
			}
			n_denied++;
		}
		if (seccomp_load(ctx) < 0) {
			fprintf(stderr, "sdlaunch: seccomp_load failed\n");
			_exit(125);
		}
		seccomp_release(ctx);
		fprintf(stderr, "sdlaunch: %d syscalls denied, %d not on this architecture\n", n_denied,
		        n_foreign);
	}
	execvp(o->argv[0], o->argv);
	die(o->argv[0]);
}

/* Prints each line of one notify datagram with its sender's pid. */
static void
read_notify(int fd)
{
	char data[4096], ctl[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {data, sizeof data - 1};
	struct msghdr mh;
	struct cmsghdr *c;
	pid_t pid = 0;
	ssize_t n;
	char *line, *save = NULL;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return;
	data[n] = '\0';
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof uc);
			pid = uc.pid;
		}
	}
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("notify pid=%ld: %s\n", (long)pid, line);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct sigaction sa;
	struct sockaddr_un sun;
	int nfd = -1, status, one = 1;
	pid_t pid;

	parse(argc, argv, &o);
	if (o.notify_path) {
		if (strlen(o.notify_path) >= sizeof sun.sun_path) {
			fprintf(stderr, "sdlaunch: notify socket path too long\n");
			return 125;
		}
		nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (nfd < 0)
			die("socket");
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, o.notify_path, strlen(o.notify_path));
		unlink(o.notify_path);
		if (bind(nfd, (struct sockaddr *)&sun, sizeof sun) < 0)
			die("bind notify socket");
		/* The service runs as another user: it must be able to send here. */
		if (chmod(o.notify_path, 0666) < 0 ||
		    setsockopt(nfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
			die("notify socket");
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		child(&o);
	child_pid = pid;
	printf("child pid=%ld\n", (long)pid);
	fflush(stdout);

	for (;;) {
		struct pollfd p = {nfd, POLLIN, 0};
		pid_t w;

		if (nfd >= 0 && poll(&p, 1, 100) > 0)
			read_notify(nfd);
		else if (nfd < 0)
			poll(NULL, 0, 100);
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			die("waitpid");
	}
	if (nfd >= 0) {
		struct pollfd p = {nfd, POLLIN, 0};

		while (poll(&p, 1, 0) > 0)
			read_notify(nfd);
		close(nfd);
		unlink(o.notify_path);
	}
	if (WIFSIGNALED(status)) {
		printf("exit signal=%d\n", WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	printf("exit status=%d\n", WEXITSTATUS(status));
	return WEXITSTATUS(status);
}
