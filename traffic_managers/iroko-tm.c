/*
 * iroko-tm: per-host egress rate control for iroko_gym through tc htb classes.
 *
 * One process serves every host of an environment.  For each target
 * NETNS_PATH:IFNAME it enters the namespace just long enough to open a
 * NETLINK_ROUTE socket there (the socket stays bound to that namespace),
 * replaces the root qdisc of IFNAME with "htb <major>: default 1" holding a
 * single class <major>:1, and then changes that class's rate and ceil on each
 * command line read from stdin.  See --help for the protocol and exit codes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* rtnl_htb_set_rate() takes bytes/s as uint32: about 34.36 Gbit/s at most. */
#define MAX_RATE_BPS ((uint64_t)UINT32_MAX * 8)
#define DEFAULT_RATE_BPS UINT64_C(10000000)
/* The bucket must drain in at most this long: keeps the tick count far from uint32 overflow. */
#define MAX_BURST_USEC UINT64_C(10000000)
/* Default bucket: this many microseconds of traffic at the class rate ... */
#define DEFAULT_BURST_USEC UINT64_C(1000)
/* ... but never less than this many full-size frames. */
#define MIN_BURST_FRAMES 2U
#define ETH_HLEN_BYTES 14U
#define MAX_BURST_BYTES (64U << 20)

struct target {
	const char *spec;       /* argv text, for messages */
	char *ns_path;
	char ifname[IFNAMSIZ];
	struct nl_sock *sk;     /* bound to the target namespace */
	int ifindex;
	uint32_t frame_bytes;   /* MTU + Ethernet header */
	struct rtnl_class *cls; /* reused for every change */
	uint64_t rate_bps;      /* last applied; 0 = none yet */
	int have_qdisc;
};

struct config {
	uint32_t major;
	uint64_t initial_rate_bps;
	uint32_t burst_bytes; /* 0 = rate dependent default */
	int cleanup;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage_hint(void)
{
	fprintf(stderr, "Try 'iroko-tm --help'.\n");
}

static void print_help(void)
{
	printf(
"Usage: iroko-tm [OPTIONS] NETNS_PATH:IFNAME [NETNS_PATH:IFNAME ...]\n"
"       iroko-tm --help\n"
"\n"
"Rate-limit the egress of each target interface with a tc htb class, and change\n"
"the rates on command.  Target i is the i-th NETNS_PATH:IFNAME argument;\n"
"NETNS_PATH is a network namespace file (/proc/<pid>/ns/net, /run/netns/<name>).\n"
"At start the root qdisc of IFNAME is replaced by 'htb <major>: default 1' with\n"
"one class <major>:1 (rate = ceil = initial rate).\n"
"\n"
"Options:\n"
"  --handle-major M       htb qdisc major handle in decimal, 1..65534 (default 1;\n"
"                         tc shows it in hex: 16 is tc's 10:)\n"
"  --initial-rate-bps N   initial rate of every class in bit/s (default %" PRIu64 ")\n"
"  --burst-bytes B        htb burst and cburst in bytes, 1..%u (default: the\n"
"                         larger of %" PRIu64 " us of traffic at the class rate and %u\n"
"                         frames of MTU+14 bytes, recomputed on each rate change)\n"
"  --cleanup              delete the root qdiscs on exit\n"
"  -h, --help             show this help and exit\n"
"\n"
"All numbers are decimal integers.  Rates are in bit/s, %d..%" PRIu64 "\n"
"(libnl htb limit), and the burst must drain in at most %" PRIu64 " s at the rate\n"
"(burst_bytes * 8 / rate <= %" PRIu64 ").\n"
"\n"
"Protocol (stdin, one command per line; replies on stdout, one per command):\n"
"  ready <n>                          printed once all n targets are set up\n"
"  <seq> <rate_0> ... <rate_{n-1}>    set every class to its rate (bit/s);\n"
"                                     only changed classes are touched\n"
"    -> ok <seq>                      applied\n"
"    -> err <seq|-> <message>         bad line (count, non-integer, range);\n"
"                                     nothing applied\n"
"    -> err <seq> <i> <netlink error> target i failed; other targets applied\n"
"  q  (or end of input, SIGTERM, SIGINT, SIGHUP)  exit\n"
"\n"
"Exit status:\n"
"  0  quit on request\n"
"  1  runtime failure: namespace not openable, interface missing, netlink\n"
"     failure while setting up, or --cleanup failed\n"
"  2  usage error (bad option or target)\n",
	       DEFAULT_RATE_BPS, MAX_BURST_BYTES, DEFAULT_BURST_USEC, MIN_BURST_FRAMES,
	       8, MAX_RATE_BPS, MAX_BURST_USEC / 1000000, MAX_BURST_USEC / 1000000);
}

/* Strict unsigned decimal parse of the whole string; 0 on success. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static uint32_t rate_bytes(uint64_t bps)
{
	return (uint32_t)(bps / 8);
}

static uint32_t burst_for(const struct config *cfg, const struct target *t, uint64_t bps)
{
	uint64_t b;

	if (cfg->burst_bytes)
		return cfg->burst_bytes;
	b = rate_bytes(bps) * DEFAULT_BURST_USEC / 1000000;
	if (b < (uint64_t)MIN_BURST_FRAMES * t->frame_bytes)
		b = (uint64_t)MIN_BURST_FRAMES * t->frame_bytes;
	return (uint32_t)b;
}

/*
 * Check one rate for target t; on failure write the reason (naming the value)
 * into msg and return -1.
 */
static int check_rate(const struct config *cfg, const struct target *t, uint64_t bps,
		      char *msg, size_t len)
{
	uint64_t burst;

	if (bps < 8) {
		snprintf(msg, len, "rate %" PRIu64 " bit/s is below the minimum of 8", bps);
		return -1;
	}
	if (bps > MAX_RATE_BPS) {
		snprintf(msg, len, "rate %" PRIu64 " bit/s exceeds the libnl htb maximum %" PRIu64,
			 bps, MAX_RATE_BPS);
		return -1;
	}
	burst = burst_for(cfg, t, bps);
	if (burst * 1000000 / rate_bytes(bps) > MAX_BURST_USEC) {
		snprintf(msg, len,
			 "rate %" PRIu64 " bit/s is too low for a burst of %" PRIu64
			 " bytes (needs >= %" PRIu64 " bit/s)",
			 bps, burst, (burst * 1000000 + MAX_BURST_USEC - 1) / MAX_BURST_USEC * 8);
		return -1;
	}
	return 0;
}

/* Quantum as the kernel would derive it (rate/10 within 1000..200000), but
 * passed explicitly so that the kernel does not log a warning on every change. */
static uint32_t quantum_for(uint64_t bps)
{
	uint32_t q = rate_bytes(bps) / 10;

	if (q < 1000)
		q = 1000;
	if (q > 200000)
		q = 200000;
	return q;
}

static int apply_rate(const struct config *cfg, struct target *t, uint64_t bps)
{
	uint32_t burst = burst_for(cfg, t, bps);
	int err;

	rtnl_htb_set_rate(t->cls, rate_bytes(bps));
	rtnl_htb_set_ceil(t->cls, rate_bytes(bps));
	rtnl_htb_set_rbuffer(t->cls, burst);
	rtnl_htb_set_cbuffer(t->cls, burst);
	rtnl_htb_set_quantum(t->cls, quantum_for(bps));
	err = rtnl_class_add(t->sk, t->cls, NLM_F_CREATE);
	if (err == 0)
		t->rate_bps = bps;
	return err;
}

static int parse_target(const char *spec, struct target *t)
{
	const char *colon = strrchr(spec, ':');
	size_t plen, nlen;

	if (!colon) {
		fprintf(stderr, "iroko-tm: target '%s' is not NETNS_PATH:IFNAME (no ':')\n", spec);
		return -1;
	}
	plen = (size_t)(colon - spec);
	nlen = strlen(colon + 1);
	if (plen == 0) {
		fprintf(stderr, "iroko-tm: target '%s' has an empty NETNS_PATH\n", spec);
		return -1;
	}
	if (nlen == 0 || nlen >= IFNAMSIZ) {
		fprintf(stderr, "iroko-tm: target '%s': interface name must be 1..%d characters\n",
			spec, IFNAMSIZ - 1);
		return -1;
	}
	t->spec = spec;
	t->ns_path = strndup(spec, plen);
	if (!t->ns_path) {
		fprintf(stderr, "iroko-tm: out of memory\n");
		return -1;
	}
	memcpy(t->ifname, colon + 1, nlen + 1);
	return 0;
}

/* Open a route socket inside the target namespace, then return to home_fd. */
static int open_socket(struct target *t, int home_fd)
{
	int fd, err;

	fd = open(t->ns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "iroko-tm: target %s: cannot open namespace '%s': %s\n",
			t->spec, t->ns_path, strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "iroko-tm: target %s: cannot enter namespace '%s': %s\n",
			t->spec, t->ns_path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	t->sk = nl_socket_alloc();
	err = t->sk ? nl_connect(t->sk, NETLINK_ROUTE) : -NLE_NOMEM;
	if (setns(home_fd, CLONE_NEWNET) < 0) {
		/* Continuing here would open later sockets in the wrong namespace. */
		fprintf(stderr, "iroko-tm: cannot return to the original namespace: %s\n",
			strerror(errno));
		exit(EXIT_RUNTIME);
	}
	if (err < 0) {
		fprintf(stderr, "iroko-tm: target %s: netlink socket: %s\n", t->spec,
			nl_geterror(err));
		return -1;
	}
	return 0;
}

static int delete_root_qdisc(struct target *t)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int err;

	if (!q)
		return -NLE_NOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), t->ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	err = rtnl_qdisc_delete(t->sk, q);
	rtnl_qdisc_put(q);
	return err;
}

static int setup_target(const struct config *cfg, struct target *t)
{
	struct rtnl_link *link = NULL;
	struct rtnl_qdisc *q;
	char msg[256];
	int err;

	err = rtnl_link_get_kernel(t->sk, 0, t->ifname, &link);
	if (err < 0) {
		fprintf(stderr, "iroko-tm: target %s: interface '%s' not found: %s\n",
			t->spec, t->ifname, nl_geterror(err));
		return -1;
	}
	t->ifindex = rtnl_link_get_ifindex(link);
	t->frame_bytes = rtnl_link_get_mtu(link) + ETH_HLEN_BYTES;
	rtnl_link_put(link);
	/* The default burst depends on the MTU, so the initial rate is checked here. */
	if (check_rate(cfg, t, cfg->initial_rate_bps, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "iroko-tm: target %s: --initial-rate-bps: %s\n", t->spec, msg);
		return -1;
	}

	/* htb has no "change" for the qdisc itself: drop whatever is there
	 * (an error just means the device still has its default root). */
	delete_root_qdisc(t);

	q = rtnl_qdisc_alloc();
	if (!q) {
		fprintf(stderr, "iroko-tm: out of memory\n");
		return -1;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), t->ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(cfg->major, 0));
	err = rtnl_tc_set_kind(TC_CAST(q), "htb");
	if (err == 0)
		err = rtnl_htb_set_defcls(q, 1); /* minor of the default class */
	if (err == 0)
		err = rtnl_qdisc_add(t->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_qdisc_put(q);
	if (err < 0) {
		fprintf(stderr, "iroko-tm: target %s: cannot add htb root qdisc %x: on '%s': %s\n",
			t->spec, cfg->major, t->ifname, nl_geterror(err));
		return -1;
	}
	t->have_qdisc = 1;

	t->cls = rtnl_class_alloc();
	if (!t->cls) {
		fprintf(stderr, "iroko-tm: out of memory\n");
		return -1;
	}
	rtnl_tc_set_ifindex(TC_CAST(t->cls), t->ifindex);
	rtnl_tc_set_parent(TC_CAST(t->cls), TC_HANDLE(cfg->major, 0));
	rtnl_tc_set_handle(TC_CAST(t->cls), TC_HANDLE(cfg->major, 1));
	rtnl_tc_set_mtu(TC_CAST(t->cls), t->frame_bytes - ETH_HLEN_BYTES);
	err = rtnl_tc_set_kind(TC_CAST(t->cls), "htb");
	if (err == 0)
		err = apply_rate(cfg, t, cfg->initial_rate_bps);
	if (err < 0) {
		fprintf(stderr, "iroko-tm: target %s: cannot add htb class %x:1 on '%s': %s\n",
			t->spec, cfg->major, t->ifname, nl_geterror(err));
		return -1;
	}
	return 0;
}

/* Delete the root qdiscs this process installed; returns the number of failures. */
static int remove_qdiscs(struct target *targets, int n)
{
	int i, err, failed = 0;

	for (i = 0; i < n; i++) {
		if (!targets[i].have_qdisc)
			continue;
		err = delete_root_qdisc(&targets[i]);
		if (err < 0) {
			fprintf(stderr, "iroko-tm: target %s: cannot delete root qdisc: %s\n",
				targets[i].spec, nl_geterror(err));
			failed++;
		} else {
			targets[i].have_qdisc = 0;
		}
	}
	return failed;
}

/* Handle one command line (without its newline); writes exactly one reply line. */
static void handle_command(const struct config *cfg, struct target *targets, int n,
			   uint64_t *rates, char *line)
{
	char msg[256];
	char *save = NULL, *tok;
	const char *seq;
	uint64_t seqv;
	int i, count = 0, first_fail = -1, fail_err = 0, err;

	seq = strtok_r(line, " \t", &save);
	if (!seq) {
		printf("err - empty command line\n");
		return;
	}
	if (parse_u64(seq, &seqv) < 0) {
		printf("err - sequence number '%.40s' is not a non-negative integer\n", seq);
		return;
	}
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (count < n) {
			if (parse_u64(tok, &rates[count]) < 0) {
				printf("err %s rate %d '%.40s' is not a non-negative integer\n",
				       seq, count, tok);
				return;
			}
			if (check_rate(cfg, &targets[count], rates[count], msg, sizeof(msg)) < 0) {
				printf("err %s rate %d: %s\n", seq, count, msg);
				return;
			}
		}
		count++;
	}
	if (count != n) {
		printf("err %s expected %d rates, got %d\n", seq, n, count);
		return;
	}
	for (i = 0; i < n; i++) {
		if (rates[i] == targets[i].rate_bps)
			continue;
		err = apply_rate(cfg, &targets[i], rates[i]);
		if (err < 0 && first_fail < 0) {
			first_fail = i;
			fail_err = err;
		}
	}
	if (first_fail >= 0)
		printf("err %s %d %s\n", seq, first_fail, nl_geterror(fail_err));
	else
		printf("ok %s\n", seq);
}

static int parse_options(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{"handle-major", required_argument, NULL, 'm'},
		{"initial-rate-bps", required_argument, NULL, 'r'},
		{"burst-bytes", required_argument, NULL, 'b'},
		{"cleanup", no_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_help();
			exit(0);
		case 'm':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 0xfffe) {
				fprintf(stderr, "iroko-tm: --handle-major '%s' must be an integer in 1..65534\n",
					optarg);
				return -1;
			}
			cfg->major = (uint32_t)v;
			break;
		case 'r':
			if (parse_u64(optarg, &v) < 0 || v < 8 || v > MAX_RATE_BPS) {
				fprintf(stderr,
					"iroko-tm: --initial-rate-bps '%s' must be an integer in 8..%" PRIu64 "\n",
					optarg, MAX_RATE_BPS);
				return -1;
			}
			cfg->initial_rate_bps = v;
			break;
		case 'b':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > MAX_BURST_BYTES) {
				fprintf(stderr, "iroko-tm: --burst-bytes '%s' must be an integer in 1..%u\n",
					optarg, MAX_BURST_BYTES);
				return -1;
			}
			cfg->burst_bytes = (uint32_t)v;
			break;
		case 'c':
			cfg->cleanup = 1;
			break;
		case ':':
			fprintf(stderr, "iroko-tm: option '%s' needs a value\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "iroko-tm: unknown option '%s'\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "iroko-tm: no targets given (need NETNS_PATH:IFNAME ...)\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {.major = 1, .initial_rate_bps = DEFAULT_RATE_BPS};
	struct target *targets;
	struct sigaction sa;
	uint64_t *rates;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n, i, home_fd, status = 0;

	if (parse_options(argc, argv, &cfg) < 0) {
		usage_hint();
		return EXIT_USAGE;
	}
	n = argc - optind;
	targets = calloc((size_t)n, sizeof(*targets));
	rates = calloc((size_t)n, sizeof(*rates));
	if (!targets || !rates) {
		fprintf(stderr, "iroko-tm: out of memory\n");
		return EXIT_RUNTIME;
	}
	for (i = 0; i < n; i++) {
		if (parse_target(argv[optind + i], &targets[i]) < 0) {
			usage_hint();
			return EXIT_USAGE;
		}
	}

	home_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home_fd < 0) {
		fprintf(stderr, "iroko-tm: cannot open /proc/self/ns/net: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	for (i = 0; i < n; i++) {
		if (open_socket(&targets[i], home_fd) < 0)
			return EXIT_RUNTIME;
	}
	close(home_fd);
	for (i = 0; i < n; i++) {
		if (setup_target(&cfg, &targets[i]) < 0) {
			/* Leave no half-configured environment behind. */
			remove_qdiscs(targets, n);
			return EXIT_RUNTIME;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: getline() returns early */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	printf("ready %d\n", n);
	fflush(stdout);
	while (!stop_requested && (len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strcmp(line, "q") == 0)
			break;
		handle_command(&cfg, targets, n, rates, line);
		fflush(stdout);
	}
	if (cfg.cleanup && remove_qdiscs(targets, n) > 0)
		status = EXIT_RUNTIME;
	for (i = 0; i < n; i++) {
		rtnl_class_put(targets[i].cls);
		nl_socket_free(targets[i].sk);
		free(targets[i].ns_path);
	}
	free(targets);
	free(rates);
	free(line);
	return status;
}
