// SPDX-License-Identifier: Apache-2.0
/*
 * guard-attach: attach the pinned fleet guard at the head of a device's tcx chain, with a
 * bpf_link pinned in bpffs so that it outlives the loader pod. The loader script
 * (compiler/guard/delivery.py) runs it; bpf/README.md explains why the head.
 *
 *   guard-attach probe DEV                        exit 0 when DEV has tcx, 3 when it has not
 *   guard-attach attach PROG DEV DIR LINK         DIR: ingress | egress; PROG, LINK: pin paths
 *   guard-attach detach LINK                      detach the pinned link, remove the pin
 *   guard-attach show DEV DIR                     the chain, head first, and its revision
 *
 * attach is idempotent: when LINK already holds a live link for DEV and DIR, it is kept
 * (its program swapped in place if PROG is another program), so a second run changes
 * nothing and never adds a second attachment. A link left defunct by a device that went away
 * is replaced.
 *
 * Raw bpf(2), no libbpf: the packaged bpftool (7.1) and libbpf (1.1) predate tcx (Linux
 * 6.6), and the uapi headers beside them do too, so the few attr layouts used here are
 * spelt out below, as in union bpf_attr and struct bpf_link_info of Linux >= 6.6.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
	CMD_OBJ_PIN = 6,
	CMD_OBJ_GET = 7,
	CMD_OBJ_GET_INFO_BY_FD = 15,
	CMD_PROG_QUERY = 16,
	CMD_LINK_CREATE = 28,
	CMD_LINK_UPDATE = 29,
	CMD_LINK_DETACH = 34,
};

#define TCX_INGRESS 46
#define TCX_EGRESS 47
#define LINK_TYPE_TCX 11
#define F_BEFORE (1U << 3) /* with no relative program: the head of the chain */
#define MAX_CHAIN 64
#define EXIT_NO_TCX 3

struct obj_attr { /* BPF_OBJ_PIN, BPF_OBJ_GET */
	uint64_t pathname;
	uint32_t bpf_fd;
	uint32_t file_flags;
};

struct info_attr { /* BPF_OBJ_GET_INFO_BY_FD */
	uint32_t bpf_fd;
	uint32_t info_len;
	uint64_t info;
};

struct query_attr { /* BPF_PROG_QUERY */
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t query_flags;
	uint32_t attach_flags;
	uint64_t prog_ids;
	uint32_t count;
	uint32_t pad;
	uint64_t prog_attach_flags;
	uint64_t link_ids;
	uint64_t link_attach_flags;
	uint64_t revision;
};

struct link_create_attr { /* BPF_LINK_CREATE, tcx member of the union */
	uint32_t prog_fd;
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t flags;
	uint32_t relative_fd;
	uint32_t pad;
	uint64_t expected_revision;
};

struct link_update_attr { /* BPF_LINK_UPDATE */
	uint32_t link_fd;
	uint32_t new_prog_fd;
	uint32_t flags;
	uint32_t old_prog_fd;
};

struct link_info { /* struct bpf_link_info, up to its tcx member */
	uint32_t type;
	uint32_t id;
	uint32_t prog_id;
	uint32_t pad;
	uint32_t ifindex;
	uint32_t attach_type;
	uint64_t rest[6]; /* the largest other union members; the kernel fills what it has */
};

struct prog_info { /* struct bpf_prog_info, up to its id */
	uint32_t type;
	uint32_t id;
};

static int sys_bpf(int cmd, void *attr, unsigned int size)
{
	return (int)syscall(__NR_bpf, cmd, attr, size);
}

static int obj_get(const char *path)
{
	struct obj_attr attr = {.pathname = (uint64_t)(uintptr_t)path};
	return sys_bpf(CMD_OBJ_GET, &attr, sizeof(attr));
}

static int info(int fd, void *out, uint32_t size)
{
	struct info_attr attr = {.bpf_fd = (uint32_t)fd, .info_len = size};
	attr.info = (uint64_t)(uintptr_t)out;
	memset(out, 0, size);
	return sys_bpf(CMD_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr));
}

static int fail(const char *what, const char *subject)
{
	fprintf(stderr, "guard-attach: %s %s: %s\n", what, subject, strerror(errno));
	return 1;
}

/* The tcx attach type of "ingress" or "egress", and DEV's ifindex; 0 when either is wrong. */
static int target(const char *dev, const char *dir, unsigned int *ifindex)
{
	int type = strcmp(dir, "ingress") == 0 ? TCX_INGRESS
		   : strcmp(dir, "egress") == 0 ? TCX_EGRESS
						 : 0;
	if (type == 0) {
		fprintf(stderr, "guard-attach: not a direction: %s\n", dir);
		return 0;
	}
	*ifindex = if_nametoindex(dev);
	if (*ifindex == 0) {
		fail("no device", dev);
		return 0;
	}
	return type;
}

/* The chain on ifindex/type: program and link ids, head first; -1 with errno on failure. */
static int query(unsigned int ifindex, int type, uint32_t *progs, uint32_t *links,
		 uint64_t *revision)
{
	struct query_attr attr = {.target_ifindex = ifindex, .attach_type = (uint32_t)type};
	attr.prog_ids = (uint64_t)(uintptr_t)progs;
	attr.link_ids = (uint64_t)(uintptr_t)links;
	attr.count = MAX_CHAIN;
	if (sys_bpf(CMD_PROG_QUERY, &attr, sizeof(attr)) < 0)
		return -1;
	*revision = attr.revision;
	return (int)attr.count;
}

static int probe(const char *dev)
{
	unsigned int ifindex;
	if (target(dev, "ingress", &ifindex) == 0)
		return 1;
	struct query_attr attr = {.target_ifindex = ifindex, .attach_type = TCX_INGRESS};
	if (sys_bpf(CMD_PROG_QUERY, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno == EINVAL) /* a kernel without tcx does not know the attach type */
		return EXIT_NO_TCX;
	return fail("query tcx on", dev);
}

static int show(const char *dev, const char *dir)
{
	uint32_t progs[MAX_CHAIN], links[MAX_CHAIN];
	uint64_t revision;
	unsigned int ifindex;
	int type = target(dev, dir, &ifindex);
	if (type == 0)
		return 1;
	int count = query(ifindex, type, progs, links, &revision);
	if (count < 0)
		return fail("query tcx on", dev);
	for (int i = 0; i < count; i++)
		printf("prog %u link %u\n", progs[i], links[i]);
	printf("revision %llu\n", (unsigned long long)revision);
	return 0;
}

static int detach_fd(int link_fd)
{
	uint32_t attr = (uint32_t)link_fd;
	return sys_bpf(CMD_LINK_DETACH, &attr, sizeof(attr));
}

static int detach(const char *pin)
{
	int fd = obj_get(pin);
	if (fd < 0)
		return errno == ENOENT ? 0 : fail("open link", pin);
	/* Detach now rather than when the last reference goes (deferred to a workqueue). */
	int err = detach_fd(fd) < 0 ? fail("detach", pin) : 0;
	close(fd);
	if (unlink(pin) < 0 && errno != ENOENT)
		return fail("unpin", pin);
	if (err == 0)
		printf("detached %s\n", pin);
	return err;
}

/* Keep a live link already pinned for this device and direction; 1 when kept, 0 when there
 * is none usable (removed), -1 on error. */
static int keep(const char *pin, unsigned int ifindex, int type, int prog_fd, uint32_t prog_id)
{
	struct link_info link;
	int fd = obj_get(pin);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		fail("open link", pin);
		return -1;
	}
	if (info(fd, &link, sizeof(link)) < 0) {
		fail("read link", pin);
		close(fd);
		return -1;
	}
	if (link.type == LINK_TYPE_TCX && link.ifindex == ifindex &&
	    link.attach_type == (uint32_t)type) {
		const char *what = "kept";
		if (link.prog_id != prog_id) { /* the guard was reloaded: swap it in place */
			struct link_update_attr attr = {(uint32_t)fd, (uint32_t)prog_fd, 0, 0};
			if (sys_bpf(CMD_LINK_UPDATE, &attr, sizeof(attr)) < 0) {
				fail("update link", pin);
				close(fd);
				return -1;
			}
			what = "updated";
		}
		close(fd);
		printf("%s %s\n", what, pin);
		return 1;
	}
	/* Defunct (its device is gone: ifindex 0) or not ours to keep: replace it. */
	detach_fd(fd);
	close(fd);
	if (unlink(pin) < 0) {
		fail("unpin", pin);
		return -1;
	}
	return 0;
}

static int attach(const char *prog_pin, const char *dev, const char *dir, const char *pin)
{
	struct prog_info prog;
	unsigned int ifindex;
	int type = target(dev, dir, &ifindex);
	if (type == 0)
		return 1;
	int prog_fd = obj_get(prog_pin);
	if (prog_fd < 0)
		return fail("open program", prog_pin);
	if (info(prog_fd, &prog, sizeof(prog)) < 0) {
		int err = fail("read program", prog_pin);
		close(prog_fd);
		return err;
	}
	int kept = keep(pin, ifindex, type, prog_fd, prog.id);
	if (kept != 0) {
		close(prog_fd);
		return kept < 0;
	}
	struct link_create_attr attr = {
		.prog_fd = (uint32_t)prog_fd,
		.target_ifindex = ifindex,
		.attach_type = (uint32_t)type,
		.flags = F_BEFORE,
	};
	int link_fd = sys_bpf(CMD_LINK_CREATE, &attr, sizeof(attr));
	if (link_fd < 0) {
		int err = fail("attach at the head of tcx on", dev);
		close(prog_fd);
		return err;
	}
	close(prog_fd);
	struct obj_attr pin_attr = {.pathname = (uint64_t)(uintptr_t)pin, .bpf_fd = (uint32_t)link_fd};
	if (sys_bpf(CMD_OBJ_PIN, &pin_attr, sizeof(pin_attr)) < 0) {
		/* Unpinned, the link would go with this process: say so, leave nothing half done. */
		int err = fail("pin link", pin);
		detach_fd(link_fd);
		close(link_fd);
		return err;
	}
	close(link_fd);
	printf("attached %s\n", pin);
	return 0;
}

static int usage(void)
{
	fputs("usage: guard-attach probe DEV | attach PROG DEV ingress|egress LINK\n"
	      "       | detach LINK | show DEV ingress|egress\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "probe") == 0)
		return probe(argv[2]);
	if (argc == 6 && strcmp(argv[1], "attach") == 0)
		return attach(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 3 && strcmp(argv[1], "detach") == 0)
		return detach(argv[2]);
	if (argc == 4 && strcmp(argv[1], "show") == 0)
		return show(argv[2], argv[3]);
	return usage();
}
