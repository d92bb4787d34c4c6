/*
 * test_store: the SQLite store, on real files in a mkdtemp directory. Checks the API contract
 * (put/get/delete/count, replace, not-found codes, the tool-list cache's keys and expiry, the MCP
 * transport memory, MCP approvals, the audit log, named secrets), durability (close/open, and a writer
 * killed with SIGKILL: the WAL promise), the migrations from schema versions 1 and 2, the refusals (newer
 * schema, garbage, someone else's database) and hostile values (odd ids and urls, megabytes, NULLs). Reads
 * SQLite's file header directly so this file needs no sqlite3.h; the version 1 and 2 databases are written
 * with the sqlite3 command-line tool, and those checks are skipped with a note when it is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/util.h"
#include "store/store.h"
#include "tests/unit/t.h"

/* The store's current schema version, as its file header must show it. */
#define SCHEMA_VERSION 7

static char tmpdir[] = "/tmp/test_store.XXXXXX";

static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The whole file, NUL-terminated; NULL when it cannot be read. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = xmalloc((size_t)n + 1);
		if (fread(data, 1, (size_t)n, f) != (size_t)n) {
			free(data);
			data = NULL;
		} else {
			data[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return data;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok;

	if (fd == -1)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

/* SQLite header fields: big-endian 32-bit user_version at offset 60; write/read version at 18/19. */
static long long
header_user_version(const char *path)
{
	unsigned char h[100];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = pread(fd, h, sizeof h, 0);
	close(fd);
	if (n != (ssize_t)sizeof h)
		return -1;
	return (long long)(int32_t)((uint32_t)h[60] << 24 | (uint32_t)h[61] << 16 | (uint32_t)h[62] << 8 |
	                            h[63]);
}

static int
header_is_wal(const char *path)
{
	unsigned char h[20];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd == -1)
		return 0;
	n = pread(fd, h, sizeof h, 0);
	close(fd);
	return n == (ssize_t)sizeof h && h[18] == 2 && h[19] == 2;
}

static int
set_header_user_version(const char *path, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = pwrite(fd, b, sizeof b, 60);
	close(fd);
	return n == 4 ? 0 : -1;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_basic(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	char *resp = NULL, *input = NULL;

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_response_count(s) == 0);
	T(store_response_get(s, "resp_nope", NULL, &resp, &input) == 1);
	T(resp == NULL && input == NULL);
	T(store_response_delete(s, "resp_nope", NULL) == 1);

	T(store_response_put(s, "resp_1", "uid=1", "{\"a\":1}", "[]", 100) == 0);
	T(store_response_put(s, "resp_2", "uid=1", "{\"b\":2}", "[{\"id\":\"x\"}]", 200) == 0);
	T(store_response_count(s) == 2);
	T(store_response_get(s, "resp_1", NULL, &resp, &input) == 0);
	T_STREQ(resp, "{\"a\":1}");
	T_STREQ(input, "[]");
	free(resp);
	free(input);
	resp = input = NULL;

	/* Either out-pointer may be NULL. */
	T(store_response_get(s, "resp_2", NULL, NULL, &input) == 0);
	T_STREQ(input, "[{\"id\":\"x\"}]");
	free(input);
	input = NULL;
	T(store_response_get(s, "resp_2", NULL, &resp, NULL) == 0);
	T_STREQ(resp, "{\"b\":2}");
	free(resp);
	resp = NULL;
	T(store_response_get(s, "resp_2", NULL, NULL, NULL) == 0);

	/* put replaces. */
	T(store_response_put(s, "resp_1", "uid=1", "{\"a\":\"cancelled\"}", "[1]", 150) == 0);
	T(store_response_count(s) == 2);
	T(store_response_get(s, "resp_1", NULL, &resp, &input) == 0);
	T_STREQ(resp, "{\"a\":\"cancelled\"}");
	T_STREQ(input, "[1]");
	free(resp);
	free(input);
	resp = input = NULL;

	/* Empty values are kept as empty, not turned into NULL. */
	T(store_response_put(s, "resp_3", "uid=1", "", "", 0) == 0);
	T(store_response_get(s, "resp_3", NULL, &resp, &input) == 0);
	T_STREQ(resp, "");
	T_STREQ(input, "");
	free(resp);
	free(input);
	resp = input = NULL;

	T(store_response_delete(s, "resp_1", NULL) == 0);
	T(store_response_delete(s, "resp_1", NULL) == 1);
	T(store_response_get(s, "resp_1", NULL, &resp, &input) == 1);
	T(store_response_count(s) == 2);

	/* Bad arguments are errors with a message that does not echo the values. */
	T(store_response_put(s, "resp_secret_id", "uid=1", NULL, "[]", 1) == -1);
	T(strstr(store_errmsg(s), "put") != NULL);
	T(strstr(store_errmsg(s), "secret") == NULL);
	T(store_response_put(s, "resp_4", "uid=1", "{}", NULL, 1) == -1);
	T(store_response_put(s, NULL, "uid=1", "{}", "[]", 1) == -1);
	T(store_response_put(s, "", "uid=1", "{}", "[]", 1) == -1);
	T(store_response_get(s, NULL, NULL, &resp, &input) == -1);
	T(store_response_delete(s, NULL, NULL) == -1);
	T(store_response_count(s) == 2);

	/* NULL store: errors, no crash. */
	T(store_response_put(NULL, "a", "uid=1", "{}", "[]", 1) == -1);
	T(store_response_get(NULL, "a", NULL, &resp, &input) == -1);
	T(store_response_delete(NULL, "a", NULL) == -1);
	T(store_response_count(NULL) == -1);
	T(store_errmsg(NULL) != NULL);
	store_close(NULL);

	store_close(s);

	/* "" would be a private temporary database; a configuration never means that. */
	err[0] = '\0';
	T(store_open("", err, sizeof err) == NULL);
	T(err[0] != '\0');
	T(store_open(NULL, err, sizeof err) == NULL);
	/* A NULL or zero-sized err buffer is allowed. */
	T(store_open("", NULL, 0) == NULL);
}

static void
test_persistence(void)
{
	char err[256] = "";
	char *path = tpath("a/b/c/db.sqlite");
	char *dir_a = tpath("a"), *dir_c = tpath("a/b/c");
	char *wal = xasprintf("%s-wal", path);
	char *resp = NULL, *input = NULL;
	struct stat st;
	struct store *s;

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	/* Missing parents are created 0700, the file 0600. */
	T(stat(dir_a, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	T(stat(dir_c, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	T(stat(path, &st) == 0 && (st.st_mode & 0077) == 0);
	T(header_is_wal(path));

	T(store_response_put(s, "resp_keep", "uid=1", "{\"k\":true}", "[{\"id\":\"i1\"}]", 1700000000) == 0);
	T(store_response_put(s, "resp_gone", "uid=1", "{}", "[]", 1700000001) == 0);
	T(store_response_delete(s, "resp_gone", NULL) == 0);
	T(store_toolcache_put(s, "https://mcp.example/", "h1", "2025-06-18", "[\"kept\"]", 1700000000,
	                      1700003600) == 0);
	T(store_toolcache_put(s, "https://mcp.example/", "h2", "2025-06-18", "[]", 1700000000, 1700003600) ==
	  0);
	T(store_toolcache_delete(s, "https://mcp.example/", "h2") == 1);
	T(store_mcp_transport_put(s, "https://mcp.example/", "sse", "2024-11-05", 1700000000) == 0);
	store_close(s);

	/* The close checkpointed: the main file holds the schema version, no WAL is left behind. */
	T(header_user_version(path) == SCHEMA_VERSION);
	T(access(wal, F_OK) != 0 || file_size(wal) == 0);

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto done;
	T(store_response_count(s) == 1);
	T(store_response_get(s, "resp_keep", NULL, &resp, &input) == 0);
	T_STREQ(resp, "{\"k\":true}");
	T_STREQ(input, "[{\"id\":\"i1\"}]");
	T(store_response_get(s, "resp_gone", NULL, NULL, NULL) == 1);
	free(resp);
	free(input);
	resp = input = NULL;
	T(store_toolcache_get(s, "https://mcp.example/", "h1", "2025-06-18", 1700000000, &resp, NULL) == 0);
	T_STREQ(resp, "[\"kept\"]");
	free(resp);
	resp = NULL;
	T(store_toolcache_get(s, "https://mcp.example/", "h2", "2025-06-18", 1700000000, &resp, NULL) == 1);
	T(store_mcp_transport_get(s, "https://mcp.example/", &resp, &input) == 0);
	T_STREQ(resp, "sse");
	T_STREQ(input, "2024-11-05");
	free(resp);
	free(input);
	store_close(s);
	T(header_user_version(path) == SCHEMA_VERSION);
done:
	free(path);
	free(dir_a);
	free(dir_c);
	free(wal);
}

/* Two connections to one file see each other's commits (WAL readers and one writer). */
static void
test_two_connections(void)
{
	char err[256] = "";
	char *path = tpath("two.sqlite");
	struct store *a = store_open(path, err, sizeof err);
	struct store *b = store_open(path, err, sizeof err);
	char *resp = NULL;

	T(a != NULL && b != NULL);
	if (a && b) {
		T(store_response_put(a, "resp_x", "uid=1", "{\"from\":\"a\"}", "[]", 1) == 0);
		T(store_response_get(b, "resp_x", NULL, &resp, NULL) == 0);
		T_STREQ(resp, "{\"from\":\"a\"}");
		free(resp);
		T(store_response_put(b, "resp_x", "uid=1", "{\"from\":\"b\"}", "[]", 2) == 0);
		resp = NULL;
		T(store_response_get(a, "resp_x", NULL, &resp, NULL) == 0);
		T_STREQ(resp, "{\"from\":\"b\"}");
		free(resp);
	}
	store_close(a);
	store_close(b);
	free(path);
}

/*
 * The WAL promise: a commit that returned survives the process being killed before it closes (and
 * before any checkpoint), because it is in the -wal file, which the next open replays. The parent sends
 * the SIGKILL once the child reports its writes done: a raise() in the child would be seen by valgrind,
 * which then runs its exit-time leak report in the child; a kill from outside cannot be intercepted.
 */
static void
test_sigkill(void)
{
	char err[256] = "";
	char *path = tpath("killed/db.sqlite");
	char *wal = xasprintf("%s-wal", path);
	char *resp = NULL, *input = NULL;
	struct store *s;
	pid_t pid;
	int status = 0, fds[2];
	char c = 0;

	T(pipe(fds) == 0);
	fflush(stdout);
	pid = fork();
	T(pid != -1);
	if (pid == 0) {
		close(fds[0]);
		s = store_open(path, err, sizeof err);
		if (s == NULL)
			_exit(2);
		if (store_response_put(s, "resp_killed", "uid=1", "{\"survived\":true}", "[{\"id\":\"m\"}]",
		                       42) != 0)
			_exit(3);
		if (store_response_put(s, "resp_killed_2", "uid=1", "{}", "[]", 43) != 0)
			_exit(3);
		if (store_response_delete(s, "resp_killed_2", NULL) != 0)
			_exit(3);
		if (write(fds[1], "k", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	/* Read returns 0 (EOF) instead if the child failed and exited. */
	T(read(fds[0], &c, 1) == 1 && c == 'k');
	close(fds[0]);
	T(kill(pid, SIGKILL) == 0);
	T(waitpid(pid, &status, 0) == pid);
	T(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The data is only in the WAL: the killed writer never checkpointed. */
	T(file_size(wal) > 0);

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_response_count(s) == 1);
		T(store_response_get(s, "resp_killed", NULL, &resp, &input) == 0);
		T_STREQ(resp, "{\"survived\":true}");
		T_STREQ(input, "[{\"id\":\"m\"}]");
		T(store_response_get(s, "resp_killed_2", NULL, NULL, NULL) == 1);
		free(resp);
		free(input);
		store_close(s);
	}
	free(path);
	free(wal);
}

/* A database from a newer toolhost is refused and left byte-for-byte as it was. */
static void
test_newer_version(void)
{
	char err[256] = "";
	char *path = tpath("newer.sqlite");
	char *before, *after;
	size_t nbefore = 0, nafter = 0;
	struct store *s = store_open(path, err, sizeof err);
	const uint32_t versions[] = {SCHEMA_VERSION + 1, 0x7fffffff, 0xffffffff};
	size_t i;

	T(s != NULL);
	if (s == NULL)
		goto done;
	T(store_response_put(s, "resp_old", "uid=1", "{}", "[]", 1) == 0);
	store_close(s);

	for (i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		T(set_header_user_version(path, versions[i]) == 0);
		before = slurp(path, &nbefore);
		err[0] = '\0';
		s = store_open(path, err, sizeof err);
		T(s == NULL);
		store_close(s);
		T(strstr(err, "schema version") != NULL);
		T(strstr(err, "refusing") != NULL);
		after = slurp(path, &nafter);
		T(before && after && nbefore == nafter && memcmp(before, after, nbefore) == 0);
		T(header_user_version(path) == (int32_t)versions[i]);
		free(before);
		free(after);
	}

	/* Version 0 with tables in it is someone else's database: refused, not written into. */
	T(set_header_user_version(path, 0) == 0);
	before = slurp(path, &nbefore);
	err[0] = '\0';
	s = store_open(path, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "refusing") != NULL);
	after = slurp(path, &nafter);
	T(before && after && nbefore == nafter && memcmp(before, after, nbefore) == 0);
	free(before);
	free(after);

	/* Back at its own version it opens again with its row. */
	T(set_header_user_version(path, SCHEMA_VERSION) == 0);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_response_get(s, "resp_old", NULL, NULL, NULL) == 0);
		store_close(s);
	}
done:
	free(path);
}

static void
check_garbage(const char *name, const void *data, size_t len)
{
	char err[256] = "";
	char *path = tpath(name);
	char *after;
	size_t nafter = 0;
	struct store *s;

	T(write_file(path, data, len) == 0);
	s = store_open(path, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "not an SQLite database") != NULL);
	after = slurp(path, &nafter);
	T(after && nafter == len && memcmp(after, data, len) == 0);
	free(after);
	free(path);
}

static void
test_garbage(void)
{
	char big[16384];
	char hdr[4096];
	size_t i;
	uint32_t x = 12345;

	for (i = 0; i < sizeof big; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (char)(x >> 16);
	}
	check_garbage("garbage.bin", big, sizeof big);
	check_garbage("text.txt", "this is not a database\n", 23);

	memset(big, 'A', 512);
	check_garbage("as.bin", big, 512);

	/* A right magic string followed by nonsense. */
	memset(hdr, 0xff, sizeof hdr);
	memcpy(hdr, "SQLite format 3", 16);
	check_garbage("fakehdr.bin", hdr, sizeof hdr);
}

/*
 * A real database whose data pages were overwritten: any outcome but a crash is acceptable, and no
 * error message may carry the stored values.
 */
static void
test_corrupt_pages(void)
{
	char err[256] = "";
	char *path = tpath("corrupt.sqlite");
	char *value = xmalloc(200000);
	char id[32];
	char junk[4096];
	struct store *s;
	int fd, i, r;
	off_t size, off;
	char *resp = NULL, *input = NULL;

	memset(value, 'S', 199999);
	memcpy(value, "SECRETVALUE", 11);
	value[199999] = '\0';
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto done;
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof id, "resp_%d", i);
		T(store_response_put(s, id, "uid=1", value, "[]", i) == 0);
	}
	store_close(s);

	size = file_size(path);
	T(size > 100000);
	memset(junk, 0x5a, sizeof junk);
	fd = open(path, O_WRONLY);
	T(fd != -1);
	/* Leave page 1 (header and schema) alone, scribble over every third page after it. */
	for (off = 4096; fd != -1 && off < size; off += 3 * 4096)
		T(pwrite(fd, junk, sizeof junk, off) == (ssize_t)sizeof junk);
	if (fd != -1)
		close(fd);

	s = store_open(path, err, sizeof err);
	if (s == NULL) {
		T(err[0] != '\0');
		T(strstr(err, "SECRET") == NULL);
		goto done;
	}
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof id, "resp_%d", i);
		r = store_response_get(s, id, NULL, &resp, &input);
		T(r == 0 || r == 1 || r == -1);
		if (r == -1)
			T(strstr(store_errmsg(s), "SECRET") == NULL);
		if (r == 0) {
			free(resp);
			free(input);
		}
		resp = input = NULL;
	}
	T(store_response_count(s) >= -1);
	r = store_response_put(s, "resp_new", "uid=1", value, "[]", 99);
	if (r == -1)
		T(strstr(store_errmsg(s), "SECRET") == NULL);
	r = store_response_delete(s, "resp_3", NULL);
	T(r == 0 || r == 1 || r == -1);
	store_close(s);
done:
	free(value);
	free(path);
}

static void
test_bad_paths(void)
{
	char err[256] = "";
	char *file = tpath("plainfile");
	char *under = tpath("plainfile/db.sqlite");
	char *dir = tpath("adir");
	struct store *s;

	T(write_file(file, "x", 1) == 0);
	s = store_open(under, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "not a directory") != NULL);

	T(mkdir(dir, 0700) == 0);
	err[0] = '\0';
	s = store_open(dir, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(err[0] != '\0');

	free(file);
	free(under);
	free(dir);
}

static void
test_large(void)
{
	char err[256] = "";
	char *path = tpath("large.sqlite");
	size_t nresp = 8u << 20, ninput = 3u << 20, ntools = 1u << 20;
	char *big_resp = xmalloc(nresp + 1), *big_input = xmalloc(ninput + 1);
	char *big_tools = xmalloc(ntools + 1); /* a 1 MB tool listing */
	char *resp = NULL, *input = NULL;
	struct store *s;
	size_t i;

	for (i = 0; i < nresp; i++)
		big_resp[i] = (char)('a' + i % 26);
	big_resp[nresp] = '\0';
	for (i = 0; i < ninput; i++)
		big_input[i] = (char)('0' + i % 10);
	big_input[ninput] = '\0';
	for (i = 0; i < ntools; i++)
		big_tools[i] = (char)('A' + i % 23);
	big_tools[ntools] = '\0';

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto done;
	T(store_response_put(s, "resp_big", "uid=1", big_resp, big_input, 1) == 0);
	T(store_toolcache_put(s, "https://big.example/", "h", "v", big_tools, 1, 100) == 0);
	store_close(s);

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto done;
	T(store_response_get(s, "resp_big", NULL, &resp, &input) == 0);
	T(resp && strlen(resp) == nresp && memcmp(resp, big_resp, nresp) == 0);
	T(input && strlen(input) == ninput && memcmp(input, big_input, ninput) == 0);
	free(resp);
	free(input);
	input = NULL;
	T(store_toolcache_get(s, "https://big.example/", "h", "v", 99, &input, NULL) == 0);
	T(input && strlen(input) == ntools && memcmp(input, big_tools, ntools) == 0);
	free(input);
	/* Replacing big rows with small ones. */
	T(store_toolcache_put(s, "https://big.example/", "h", "v", "[]", 2, 100) == 0);
	input = NULL;
	T(store_toolcache_get(s, "https://big.example/", "h", "v", 99, &input, NULL) == 0);
	T_STREQ(input, "[]");
	free(input);
	T(store_response_put(s, "resp_big", "uid=1", "{}", "[]", 2) == 0);
	resp = NULL;
	T(store_response_get(s, "resp_big", NULL, &resp, NULL) == 0);
	T_STREQ(resp, "{}");
	free(resp);
	store_close(s);
done:
	free(big_resp);
	free(big_input);
	free(big_tools);
	free(path);
}

/* Ids are bound parameters: SQL syntax, quotes, format directives and UTF-8 are just bytes. */
static void
test_odd_ids(void)
{
	static const char *const ids[] = {
	        "'; DROP TABLE responses; --",
	        "\"); DELETE FROM responses; --",
	        "resp_' OR '1'='1",
	        "%s%s%n%x",
	        "?1",
	        ":id",
	        "back\\slash",
	        "tab\tnew\nline\r",
	        "r\xc3\xa9sp_\xe2\x9c\x93",
	        "\xff\xfe not utf-8",
	        " ",
	        "resp_%",
	        "resp__",
	        "*",
	};
	size_t n = sizeof ids / sizeof ids[0], i;
	char err[256] = "";
	char *resp = NULL, *json;
	struct store *s = store_open(":memory:", err, sizeof err);

	T(s != NULL);
	if (s == NULL)
		return;
	for (i = 0; i < n; i++) {
		json = xasprintf("{\"n\":%zu}", i);
		T(store_response_put(s, ids[i], "uid=1", json, "[]", (int64_t)i) == 0);
		free(json);
	}
	T(store_response_count(s) == (int64_t)n);
	for (i = 0; i < n; i++) {
		json = xasprintf("{\"n\":%zu}", i);
		resp = NULL;
		T(store_response_get(s, ids[i], NULL, &resp, NULL) == 0);
		T_STREQ(resp, json);
		free(resp);
		free(json);
	}
	/* LIKE-style wildcards match nothing but themselves. */
	T(store_response_get(s, "resp_x", NULL, NULL, NULL) == 1);
	T(store_response_delete(s, "resp_x", NULL) == 1);
	for (i = 0; i < n; i++)
		T(store_response_delete(s, ids[i], NULL) == 0);
	T(store_response_count(s) == 0);

	/* The same bytes as urls, credential hashes and protocol versions. */
	for (i = 0; i < n; i++) {
		json = xasprintf("[%zu]", i);
		T(store_toolcache_put(s, ids[i], ids[i], ids[i], json, 0, 10) == 0);
		T(store_mcp_transport_put(s, ids[i], ids[(i + 1) % n], ids[(i + 2) % n], 0) == 0);
		free(json);
	}
	for (i = 0; i < n; i++) {
		char *tr = NULL, *ver = NULL;

		json = xasprintf("[%zu]", i);
		resp = NULL;
		T(store_toolcache_get(s, ids[i], ids[i], ids[i], 0, &resp, NULL) == 0);
		T_STREQ(resp, json);
		free(resp);
		free(json);
		T(store_mcp_transport_get(s, ids[i], &tr, &ver) == 0);
		T_STREQ(tr, ids[(i + 1) % n]);
		T_STREQ(ver, ids[(i + 2) % n]);
		free(tr);
		free(ver);
	}
	/* Wildcards delete only their own url: each delete takes exactly one row. */
	for (i = 0; i < n; i++)
		T(store_toolcache_delete(s, ids[i], NULL) == 1);
	T(store_toolcache_delete(s, NULL, NULL) == 0);
	store_close(s);
}

static void
test_toolcache_basic(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	const char *u = "https://mcp.example/mcp";
	char *tools = NULL;
	int64_t exp = -7;

	T(s != NULL);
	if (s == NULL)
		return;
	/* Not found leaves the out-pointers alone. */
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 0, &tools, &exp) == 1);
	T(tools == NULL && exp == -7);

	T(store_toolcache_put(s, u, "h1", "2025-06-18", "[{\"name\":\"a\"}]", 100, 200) == 0);
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 150, &tools, &exp) == 0);
	T_STREQ(tools, "[{\"name\":\"a\"}]");
	T(exp == 200);
	free(tools);
	tools = NULL;
	/* The expires_at out-pointer may be NULL. */
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 150, &tools, NULL) == 0);
	T_STREQ(tools, "[{\"name\":\"a\"}]");
	free(tools);
	tools = NULL;

	/* Fresh while expires_at > now; at and after expires_at, gone, and the out-pointers untouched. */
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 199, &tools, NULL) == 0);
	free(tools);
	tools = NULL;
	exp = -7;
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 200, &tools, &exp) == 1);
	T(tools == NULL && exp == -7);
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 201, &tools, &exp) == 1);
	T(tools == NULL && exp == -7);

	/* put replaces: new value and new expiry, still one row. */
	T(store_toolcache_put(s, u, "h1", "2025-06-18", "[2]", 300, 400) == 0);
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 250, &tools, &exp) == 0);
	T_STREQ(tools, "[2]");
	T(exp == 400);
	free(tools);
	tools = NULL;
	/* Replacing with an expired row expires it. */
	T(store_toolcache_put(s, u, "h1", "2025-06-18", "[3]", 10, 20) == 0);
	T(store_toolcache_get(s, u, "h1", "2025-06-18", 250, &tools, NULL) == 1);
	T(tools == NULL);
	T(store_toolcache_delete(s, NULL, NULL) == 1);

	/* Empty strings are keys and values like any other. */
	T(store_toolcache_put(s, "", "", "", "", 0, 10) == 0);
	T(store_toolcache_get(s, "", "", "", 0, &tools, NULL) == 0);
	T_STREQ(tools, "");
	free(tools);
	tools = NULL;
	T(store_toolcache_get(s, u, "", "", 0, &tools, NULL) == 1);

	/* The extremes of time. */
	T(store_toolcache_put(s, u, "h", "v", "[\"max\"]", INT64_MIN, INT64_MAX) == 0);
	T(store_toolcache_get(s, u, "h", "v", INT64_MAX - 1, &tools, &exp) == 0);
	T_STREQ(tools, "[\"max\"]");
	T(exp == INT64_MAX);
	free(tools);
	tools = NULL;
	T(store_toolcache_get(s, u, "h", "v", INT64_MAX, &tools, NULL) == 1);
	T(store_toolcache_put(s, u, "h", "w", "[\"min\"]", INT64_MIN, INT64_MIN + 1) == 0);
	T(store_toolcache_get(s, u, "h", "w", INT64_MIN, &tools, &exp) == 0);
	T_STREQ(tools, "[\"min\"]");
	T(exp == INT64_MIN + 1);
	free(tools);
	tools = NULL;
	T(store_toolcache_purge(s, INT64_MIN) == 0);
	T(store_toolcache_purge(s, INT64_MIN + 1) == 1);
	T(store_toolcache_purge(s, INT64_MAX - 1) == 1); /* the "" row, expiring at 10 */
	T(store_toolcache_get(s, u, "h", "v", 0, &tools, NULL) == 0);
	free(tools);
	store_close(s);
}

/* Expects row (url, cred, version) to hold exactly want, or to be missing when want is NULL. */
static void
check_row(struct store *s, const char *url, const char *cred, const char *version, const char *want, int line)
{
	char *tools = NULL;
	int r = store_toolcache_get(s, url, cred, version, 0, &tools, NULL);

	if (want == NULL) {
		T(r == 1);
		if (r != 1)
			printf("  (row %s %s %s, line %d)\n", url, cred, version, line);
	} else {
		T(r == 0);
		T_STREQ(tools, want);
		if (r != 0 || tools == NULL || strcmp(tools, want) != 0)
			printf("  (row %s %s %s, line %d)\n", url, cred, version, line);
	}
	free(tools);
}

#define ROW(s, u, c, v, want) check_row(s, u, c, v, want, __LINE__)

/* The eight rows test_toolcache_keys works on; each tools_json names its row. */
static void
put_key_rows(struct store *s)
{
	T(store_toolcache_put(s, "https://a/", "A", "V1", "a-A-1", 0, 100) == 0);
	T(store_toolcache_put(s, "https://a/", "A", "V2", "a-A-2", 0, 100) == 0);
	T(store_toolcache_put(s, "https://a/", "B", "V1", "a-B-1", 0, 100) == 0);
	T(store_toolcache_put(s, "https://a/", "", "V1", "a--1", 0, 100) == 0);
	T(store_toolcache_put(s, "https://b/", "A", "V1", "b-A-1", 0, 100) == 0);
	/* Rows whose keys concatenate to the same bytes. */
	T(store_toolcache_put(s, "x", "yz", "V1", "x-yz", 0, 100) == 0);
	T(store_toolcache_put(s, "xy", "z", "V1", "xy-z", 0, 100) == 0);
	T(store_toolcache_put(s, "x", "y", "zV1", "x-y-zV1", 0, 100) == 0);
}

static void
test_toolcache_keys(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);

	T(s != NULL);
	if (s == NULL)
		return;
	put_key_rows(s);
	ROW(s, "https://a/", "A", "V1", "a-A-1");
	ROW(s, "https://a/", "A", "V2", "a-A-2");
	ROW(s, "https://a/", "B", "V1", "a-B-1");
	ROW(s, "https://a/", "", "V1", "a--1");
	ROW(s, "https://b/", "A", "V1", "b-A-1");
	ROW(s, "x", "yz", "V1", "x-yz");
	ROW(s, "xy", "z", "V1", "xy-z");
	ROW(s, "x", "y", "zV1", "x-y-zV1");
	/* No row is served for a key it was not stored under. */
	ROW(s, "https://a/", "B", "V2", NULL);
	ROW(s, "https://a/", "C", "V1", NULL);
	ROW(s, "https://a/", "A", "V3", NULL);
	ROW(s, "https://a/", "A", "", NULL);
	ROW(s, "https://b/", "B", "V1", NULL);
	ROW(s, "https://c/", "A", "V1", NULL);
	ROW(s, "HTTPS://A/", "A", "V1", NULL);
	ROW(s, "https://a", "A", "V1", NULL);
	ROW(s, "https://a/", "a", "V1", NULL);
	ROW(s, "xyz", "", "V1", NULL);
	ROW(s, "x", "y", "V1", NULL);

	/* url + cred: every version of that credential, nothing else. */
	T(store_toolcache_delete(s, "https://a/", "A") == 2);
	ROW(s, "https://a/", "A", "V1", NULL);
	ROW(s, "https://a/", "A", "V2", NULL);
	ROW(s, "https://a/", "B", "V1", "a-B-1");
	ROW(s, "https://a/", "", "V1", "a--1");
	ROW(s, "https://b/", "A", "V1", "b-A-1");
	T(store_toolcache_delete(s, "https://a/", "A") == 0);
	/* "" is a credential hash like any other, not "every credential". */
	T(store_toolcache_delete(s, "https://a/", "") == 1);
	ROW(s, "https://a/", "B", "V1", "a-B-1");
	T(store_toolcache_delete(s, "x", "y") == 1);
	ROW(s, "x", "yz", "V1", "x-yz");

	/* url with a NULL cred: every credential of that url only. */
	put_key_rows(s);
	T(store_toolcache_delete(s, "https://a/", NULL) == 4);
	ROW(s, "https://a/", "A", "V1", NULL);
	ROW(s, "https://a/", "B", "V1", NULL);
	ROW(s, "https://a/", "", "V1", NULL);
	ROW(s, "https://b/", "A", "V1", "b-A-1");
	ROW(s, "x", "yz", "V1", "x-yz");
	T(store_toolcache_delete(s, "https://a/", NULL) == 0);
	/* An empty url is a url, not "every url". */
	T(store_toolcache_delete(s, "", NULL) == 0);
	T(store_toolcache_delete(s, "x", NULL) == 2);
	ROW(s, "xy", "z", "V1", "xy-z");

	/* url NULL: every row, whatever the credential. */
	put_key_rows(s);
	T(store_toolcache_delete(s, NULL, NULL) == 8);
	ROW(s, "https://b/", "A", "V1", NULL);
	ROW(s, "xy", "z", "V1", NULL);
	T(store_toolcache_delete(s, NULL, NULL) == 0);
	put_key_rows(s);
	T(store_toolcache_delete(s, NULL, "A") == 8);
	ROW(s, "https://a/", "B", "V1", NULL);
	store_close(s);
}

static void
test_toolcache_purge(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_toolcache_purge(s, 1000) == 0);
	T(store_toolcache_put(s, "u1", "h", "v", "[100]", 0, 100) == 0);
	T(store_toolcache_put(s, "u2", "h", "v", "[200]", 0, 200) == 0);
	T(store_toolcache_put(s, "u3", "h", "v", "[300]", 0, 300) == 0);
	T(store_toolcache_put(s, "u3", "g", "v", "[301]", 0, 301) == 0);
	T(store_toolcache_put(s, "u4", "h", "v", "[-5]", 0, -5) == 0);

	T(store_toolcache_purge(s, -6) == 0);
	T(store_toolcache_purge(s, -5) == 1);
	T(store_toolcache_purge(s, 99) == 0);
	/* expires_at <= now goes: 100 and 200, not 300. */
	T(store_toolcache_purge(s, 200) == 2);
	T(store_toolcache_purge(s, 200) == 0);
	/* What a purge removed is gone even for a reader whose clock is behind. */
	ROW(s, "u1", "h", "v", NULL);
	ROW(s, "u2", "h", "v", NULL);
	ROW(s, "u3", "h", "v", "[300]");
	ROW(s, "u3", "g", "v", "[301]");
	T(store_toolcache_purge(s, 300) == 1);
	ROW(s, "u3", "g", "v", "[301]");
	T(store_toolcache_purge(s, 1000) == 1);
	T(store_toolcache_delete(s, NULL, NULL) == 0);
	store_close(s);
}

static void
test_transport(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	char *tr = NULL, *ver = NULL;

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 1);
	T(tr == NULL && ver == NULL);

	T(store_mcp_transport_put(s, "https://a/", "streamable", "2025-06-18", 10) == 0);
	T(store_mcp_transport_put(s, "https://b/", "sse", "2024-11-05", 11) == 0);
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 0);
	T_STREQ(tr, "streamable");
	T_STREQ(ver, "2025-06-18");
	free(tr);
	free(ver);
	tr = ver = NULL;

	/* put replaces, and only the row of its url. */
	T(store_mcp_transport_put(s, "https://a/", "sse", "2024-11-05", 20) == 0);
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 0);
	T_STREQ(tr, "sse");
	T_STREQ(ver, "2024-11-05");
	free(tr);
	free(ver);
	tr = ver = NULL;
	T(store_mcp_transport_put(s, "https://b/", "streamable", "2025-03-26", 21) == 0);
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 0);
	T_STREQ(tr, "sse");
	T_STREQ(ver, "2024-11-05");
	free(tr);
	free(ver);
	tr = ver = NULL;
	T(store_mcp_transport_get(s, "https://b/", &tr, &ver) == 0);
	T_STREQ(tr, "streamable");
	T_STREQ(ver, "2025-03-26");
	free(tr);
	free(ver);
	tr = ver = NULL;
	T(store_mcp_transport_get(s, "https://c/", &tr, &ver) == 1);
	T(store_mcp_transport_get(s, "https://a", &tr, &ver) == 1);
	T(tr == NULL && ver == NULL);

	/* Empty strings are kept as empty. */
	T(store_mcp_transport_put(s, "", "", "", 0) == 0);
	T(store_mcp_transport_get(s, "", &tr, &ver) == 0);
	T_STREQ(tr, "");
	T_STREQ(ver, "");
	free(tr);
	free(ver);
	tr = ver = NULL;

	/* Clearing the tool-list cache leaves the transports alone. */
	T(store_toolcache_put(s, "https://a/", "h", "v", "[]", 0, 10) == 0);
	T(store_toolcache_delete(s, NULL, NULL) == 1);
	T(store_toolcache_purge(s, INT64_MAX) == 0);
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 0);
	T_STREQ(tr, "sse");
	free(tr);
	free(ver);
	store_close(s);
}

/* Every NULL the API does not allow is an error with a message that does not echo the values. */
static void
test_mcp_nulls(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	char *tools = NULL, *tr = NULL, *ver = NULL;
	int64_t exp = -7;

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_toolcache_put(s, "https://a/", "SECRETHASH", "v", "[\"kept\"]", 0, 100) == 0);
	T(store_mcp_transport_put(s, "https://a/", "sse", "v", 0) == 0);

	T(store_toolcache_put(s, NULL, "SECRETHASH", "v", "[]", 0, 100) == -1);
	T(strstr(store_errmsg(s), "tool cache put") != NULL);
	T(strstr(store_errmsg(s), "SECRET") == NULL);
	T(store_toolcache_put(s, "https://a/", NULL, "v", "[]", 0, 100) == -1);
	T(store_toolcache_put(s, "https://a/", "SECRETHASH", NULL, "[]", 0, 100) == -1);
	T(store_toolcache_put(s, "https://a/", "SECRETHASH", "v", NULL, 0, 100) == -1);
	T(strstr(store_errmsg(s), "SECRET") == NULL);

	T(store_toolcache_get(s, NULL, "SECRETHASH", "v", 0, &tools, &exp) == -1);
	T(store_toolcache_get(s, "https://a/", NULL, "v", 0, &tools, &exp) == -1);
	T(store_toolcache_get(s, "https://a/", "SECRETHASH", NULL, 0, &tools, &exp) == -1);
	T(store_toolcache_get(s, "https://a/", "SECRETHASH", "v", 0, NULL, &exp) == -1);
	T(strstr(store_errmsg(s), "tool cache get") != NULL);
	T(strstr(store_errmsg(s), "SECRET") == NULL);
	T(tools == NULL && exp == -7);

	T(store_mcp_transport_put(s, NULL, "sse", "v", 0) == -1);
	T(strstr(store_errmsg(s), "transport put") != NULL);
	T(store_mcp_transport_put(s, "https://a/", NULL, "v", 0) == -1);
	T(store_mcp_transport_put(s, "https://a/", "sse", NULL, 0) == -1);
	T(store_mcp_transport_get(s, NULL, &tr, &ver) == -1);
	T(strstr(store_errmsg(s), "transport get") != NULL);
	T(store_mcp_transport_get(s, "https://a/", NULL, &ver) == -1);
	T(store_mcp_transport_get(s, "https://a/", &tr, NULL) == -1);
	T(tr == NULL && ver == NULL);

	/* The refused calls changed nothing. */
	T(store_toolcache_get(s, "https://a/", "SECRETHASH", "v", 0, &tools, NULL) == 0);
	T_STREQ(tools, "[\"kept\"]");
	free(tools);
	tools = NULL;
	T(store_mcp_transport_get(s, "https://a/", &tr, &ver) == 0);
	T_STREQ(tr, "sse");
	free(tr);
	free(ver);
	tr = ver = NULL;

	/* NULL store: errors, no crash. */
	T(store_toolcache_put(NULL, "u", "h", "v", "[]", 0, 1) == -1);
	T(store_toolcache_get(NULL, "u", "h", "v", 0, &tools, &exp) == -1);
	T(store_toolcache_delete(NULL, "u", "h") == -1);
	T(store_toolcache_delete(NULL, NULL, NULL) == -1);
	T(store_toolcache_purge(NULL, 0) == -1);
	T(store_mcp_transport_put(NULL, "u", "sse", "v", 0) == -1);
	T(store_mcp_transport_get(NULL, "u", &tr, &ver) == -1);
	T(tools == NULL && tr == NULL && ver == NULL && exp == -7);
	store_close(s);
}

/* Runs sql through the sqlite3 command-line tool on path, its output (if out) into the file out. */
static int
sqlite_cli(const char *path, const char *sql, const char *out)
{
	char *cmd = xasprintf("sqlite3 -batch -init /dev/null '%s' >'%s'", path, out ? out : "/dev/null");
	FILE *p = popen(cmd, "w");
	int status;

	free(cmd);
	if (p == NULL)
		return -1;
	fputs(sql, p);
	status = pclose(p);
	return status == 0 ? 0 : -1;
}

/* The schema of version 1 exactly as that release's store wrote it, with one response in it. */
static const char v1_db[] = "PRAGMA journal_mode = WAL;"
                            "CREATE TABLE responses ("
                            " id TEXT PRIMARY KEY NOT NULL,"
                            " created_at INTEGER NOT NULL,"
                            " response_json TEXT NOT NULL,"
                            " input_json TEXT NOT NULL);"
                            "CREATE INDEX responses_created_at ON responses(created_at);"
                            "INSERT INTO responses VALUES ('resp_v1', 7, '{\"v\":1}', '[{\"id\":\"i\"}]');"
                            "PRAGMA user_version = 1;";

/*
 * A version 1 database migrates forward on open, keeping its responses; a migration that fails part
 * way leaves the file at version 1 without any of the half-made schema, and opens once the obstacle is
 * gone.
 */
static void
test_migrate_v1(void)
{
	char err[256] = "";
	char *path = tpath("v1.sqlite"), *path2 = tpath("v1_blocked.sqlite"), *out = tpath("cli.out");
	char *resp = NULL, *input = NULL, *text;
	size_t len = 0;
	struct store *s;

	if (system("command -v sqlite3 >/dev/null 2>&1") != 0) {
		printf("test_store: note: no sqlite3 command-line tool, migration from version 1 not "
		       "tested (Debian: apt-get install sqlite3)\n");
		goto done;
	}
	T(sqlite_cli(path, v1_db, NULL) == 0);
	T(header_user_version(path) == 1);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	T(store_response_count(s) == 1);
	T(store_response_get(s, "resp_v1", NULL, &resp, &input) == 0);
	T_STREQ(resp, "{\"v\":1}");
	T_STREQ(input, "[{\"id\":\"i\"}]");
	free(resp);
	free(input);
	resp = input = NULL;
	T(store_toolcache_put(s, "https://a/", "h", "v", "[\"new\"]", 0, 100) == 0);
	T(store_mcp_transport_put(s, "https://a/", "streamable", "v", 0) == 0);
	store_close(s);
	T(header_user_version(path) == SCHEMA_VERSION);

	/* Opened again, nothing is migrated twice and everything is there. */
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_response_get(s, "resp_v1", NULL, NULL, NULL) == 0);
		ROW(s, "https://a/", "h", "v", "[\"new\"]");
		T(store_mcp_transport_get(s, "https://a/", &resp, &input) == 0);
		T_STREQ(resp, "streamable");
		free(resp);
		free(input);
		resp = input = NULL;
		store_close(s);
	}

	/* A table in the way of the second CREATE fails the migration after the first one ran. */
	T(sqlite_cli(path2, v1_db, NULL) == 0);
	T(sqlite_cli(path2, "CREATE TABLE mcp_transport (x);", NULL) == 0);
	err[0] = '\0';
	s = store_open(path2, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "migrate") != NULL);
	T(header_user_version(path2) == 1);
	T(sqlite_cli(path2, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'mcp_tool_cache%';", out) ==
	  0);
	text = slurp(out, &len);
	T_STREQ(text, "0\n");
	free(text);

	T(sqlite_cli(path2, "DROP TABLE mcp_transport;", NULL) == 0);
	s = store_open(path2, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_response_get(s, "resp_v1", NULL, NULL, NULL) == 0);
		T(store_mcp_transport_put(s, "https://a/", "sse", "v", 0) == 0);
		store_close(s);
	}
	T(header_user_version(path2) == SCHEMA_VERSION);
done:
	free(path);
	free(path2);
	free(out);
}

/* The ids store_approval_list gives, comma-separated ("" for none, "(error)" on -1); static buffer. */
static const char *
approval_ids(struct store *s, const char *status, const char *response_id, int limit)
{
	static char out[256];
	char *text = NULL;
	json_t *rows, *row;
	size_t i, n = 0;

	if (store_approval_list(s, status, response_id, limit, &text) < 0)
		return "(error)";
	rows = json_loads(text, 0, NULL);
	out[0] = '\0';
	json_array_foreach (rows, i, row) {
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "," : "",
		                      json_string_value(json_object_get(row, "id")));
		if (n >= sizeof out)
			break;
	}
	json_decref(rows);
	free(text);
	return out;
}

static void
check_pending(struct store *s, const char *id, const char *resp_id)
{
	struct store_approval a = {0};

	T(store_approval_get(s, id, &a) == 0);
	T_STREQ(a.id, id);
	T_STREQ(a.response_id, resp_id);
	T_STREQ(a.server_label, "docs");
	T_STREQ(a.tool, "search");
	T_STREQ(a.arguments_sha256, "ab12");
	T_STREQ(a.status, "pending");
	T(a.decided_by == NULL && a.reason == NULL);
	T(a.created_at == 1700000000 && a.decided_at == 0);
	store_approval_clear(&a);
	T(a.id == NULL && a.status == NULL);
}

/* Approvals: put/get, one decision per row whichever way it goes, replays and unknown ids told apart,
 * rows kept across a reopen and seen by a second connection. */
static void
test_approvals(void)
{
	char err[256] = "";
	char *path = tpath("approvals.sqlite");
	struct store *s = store_open(path, err, sizeof err), *b;
	struct store_approval a = {0};

	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	T(store_approval_put(s, "mcpr_1", "resp_1", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	T(store_approval_put(s, "mcpr_2", "resp_1", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	T(store_approval_put(s, "mcpr_3", "resp_2", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	check_pending(s, "mcpr_1", "resp_1");
	check_pending(s, "mcpr_3", "resp_2");

	/* A duplicate id is an error, and the row keeps what it had. */
	T(store_approval_put(s, "mcpr_1", "resp_9", "other", "tgt", "other", "ff", "uid=1", 5) == -1);
	T(strstr(store_errmsg(s), "approval put") != NULL);
	check_pending(s, "mcpr_1", "resp_1");

	T(store_approval_get(s, "mcpr_nope", &a) == 1);
	T(a.id == NULL);
	T(store_approval_decide(s, "mcpr_nope", 1, "uid=1000", NULL, 1700000100) == 1);
	T(store_approval_get(s, "mcpr_nope", &a) == 1);

	T(store_approval_decide(s, "mcpr_1", 1, "uid=1000", "looks fine", 1700000100) == 0);
	T(store_approval_get(s, "mcpr_1", &a) == 0);
	T_STREQ(a.status, "approved");
	T_STREQ(a.decided_by, "uid=1000");
	T_STREQ(a.reason, "looks fine");
	T(a.created_at == 1700000000 && a.decided_at == 1700000100);
	store_approval_clear(&a);

	/* Replays, either way, are 2 and change nothing. */
	T(store_approval_decide(s, "mcpr_1", 1, "uid=1000", "again", 1700000200) == 2);
	T(store_approval_decide(s, "mcpr_1", 0, "key=ci", NULL, 1700000300) == 2);
	T(store_approval_get(s, "mcpr_1", &a) == 0);
	T_STREQ(a.status, "approved");
	T_STREQ(a.decided_by, "uid=1000");
	T_STREQ(a.reason, "looks fine");
	T(a.decided_at == 1700000100);
	store_approval_clear(&a);

	/* Denied, with no decider or reason: NULLs come back as NULL. */
	T(store_approval_decide(s, "mcpr_2", 0, NULL, NULL, 1700000400) == 0);
	T(store_approval_get(s, "mcpr_2", &a) == 0);
	T_STREQ(a.status, "denied");
	T(a.decided_by == NULL && a.reason == NULL && a.decided_at == 1700000400);
	store_approval_clear(&a);
	T(store_approval_decide(s, "mcpr_2", 1, "uid=0", NULL, 1700000500) == 2);
	/* Any non-zero approve approves. */
	T(store_approval_put(s, "mcpr_4", "resp_2", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	T(store_approval_decide(s, "mcpr_4", 7, "uid=1", NULL, 1700000600) == 0);
	T(store_approval_get(s, "mcpr_4", &a) == 0);
	T_STREQ(a.status, "approved");
	store_approval_clear(&a);
	/* The approved row is claimed once: the one run of the call. Denied or pending rows are not. */
	T(store_approval_claim(s, "mcpr_4") == 0);
	T(store_approval_claim(s, "mcpr_4") == 2);
	T(store_approval_get(s, "mcpr_4", &a) == 0);
	T_STREQ(a.status, "running");
	T_STREQ(a.target_sha256, "tgt");
	T_STREQ(a.requested_by, "uid=1");
	T(a.version == 3); /* put, decide, claim */
	store_approval_clear(&a);
	/* The claimed call ended: done, once; a done row is never claimed again. */
	T(store_approval_finish(s, "mcpr_4") == 0);
	T(store_approval_finish(s, "mcpr_4") == 2);
	T(store_approval_claim(s, "mcpr_4") == 2);
	T(store_approval_get(s, "mcpr_4", &a) == 0);
	T_STREQ(a.status, "done");
	T(a.version == 4);
	store_approval_clear(&a);
	T(store_approval_finish(s, "mcpr_2") == 2);
	T(store_approval_finish(s, NULL) == -1);
	/* A start settles the rows a stopped daemon left running, and only those. */
	T(store_approval_put(s, "mcpr_5", "resp_2", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	T(store_approval_decide(s, "mcpr_5", 1, "uid=1", NULL, 1700000800) == 0);
	T(store_approval_claim(s, "mcpr_5") == 0);
	T(store_approval_settle_running(s) == 1);
	T(store_approval_settle_running(s) == 0);
	T(store_approval_get(s, "mcpr_5", &a) == 0);
	T_STREQ(a.status, "done");
	store_approval_clear(&a);
	T(store_approval_claim(s, "mcpr_5") == 2);
	/* The operator's lists: newest first (the same second here: the later insert first), by state,
	 * by response, or both; limit bounded. */
	T_STREQ(approval_ids(s, NULL, NULL, 10), "mcpr_5,mcpr_4,mcpr_3,mcpr_2,mcpr_1");
	T_STREQ(approval_ids(s, NULL, NULL, 2), "mcpr_5,mcpr_4");
	T_STREQ(approval_ids(s, "pending", NULL, 10), "mcpr_3");
	T_STREQ(approval_ids(s, "done", NULL, 10), "mcpr_5,mcpr_4");
	T_STREQ(approval_ids(s, NULL, "resp_2", 10), "mcpr_5,mcpr_4,mcpr_3");
	T_STREQ(approval_ids(s, "pending", "resp_2", 10), "mcpr_3");
	T_STREQ(approval_ids(s, "pending", "resp_1", 10), "");
	T_STREQ(approval_ids(s, "expired", NULL, 10), "");
	{
		char *text = NULL;
		json_t *rows;

		T(store_approval_list(s, NULL, "resp_1", 1, &text) == 0);
		rows = json_loads(text ? text : "", 0, NULL);
		T_STREQ(json_string_value(json_object_get(json_array_get(rows, 0), "status")), "denied");
		T(json_integer_value(json_object_get(json_array_get(rows, 0), "version")) == 2);
		T(json_is_null(json_object_get(json_array_get(rows, 0), "reason")));
		T_STREQ(json_string_value(json_object_get(json_array_get(rows, 0), "requested_by")), "uid=1");
		json_decref(rows);
		free(text);
		T(store_approval_list(s, NULL, NULL, 0, &text) == -1);
		T(store_approval_list(s, NULL, NULL, 1001, &text) == -1);
		T(store_approval_list(s, NULL, NULL, 10, NULL) == -1);
	}
	T(store_approval_decide(s, "mcpr_4", 1, "uid=1", NULL, 1700000700) == 2);
	T(store_approval_claim(s, "mcpr_2") == 2);
	T(store_approval_claim(s, "mcpr_nope") == 2);
	T(store_approval_claim(s, NULL) == -1);
	/* The other rows were not touched by those decisions. */
	check_pending(s, "mcpr_3", "resp_2");
	T(store_approval_claim(s, "mcpr_3") == 2);
	check_pending(s, "mcpr_3", "resp_2");

	/* Responses left queued or in progress by a stop become failed; the others keep their text. */
	T(store_response_put(s, "resp_q", "uid=1", "{\"id\":\"resp_q\",\"status\":\"queued\"}", "[]", 1) ==
	  0);
	T(store_response_put(s, "resp_p", "uid=1", "{\"id\":\"resp_p\",\"status\":\"in_progress\"}", "[]",
	                     1) == 0);
	T(store_response_put(s, "resp_c", "uid=1", "{\"id\":\"resp_c\",\"status\":\"completed\"}", "[]", 1) ==
	  0);
	T(store_response_fail_unfinished(s, "server_restarted", "stopped") == 2);
	T(store_response_fail_unfinished(s, "server_restarted", "stopped") == 0);
	{
		char *text = NULL;

		T(store_response_get(s, "resp_q", NULL, &text, NULL) == 0);
		T_STREQ(text,
		        "{\"id\":\"resp_q\",\"status\":\"failed\",\"error\":{\"code\":\"server_restarted\","
		        "\"message\":\"stopped\"}}");
		free(text);
		text = NULL;
		T(store_response_get(s, "resp_c", NULL, &text, NULL) == 0);
		T_STREQ(text, "{\"id\":\"resp_c\",\"status\":\"completed\"}");
		free(text);
	}

	/* Refusals. */
	T(store_approval_put(s, NULL, "r", "l", "tgt", "t", "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "", "r", "l", "tgt", "t", "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", NULL, "l", "tgt", "t", "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", "r", NULL, "tgt", "t", "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", "r", "l", "tgt", NULL, "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", "r", "l", "tgt", "t", NULL, "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", "r", "l", NULL, "t", "h", "uid=1", 0) == -1);
	T(store_approval_put(s, "mcpr_x", "r", "l", "tgt", "t", "h", NULL, 0) == -1);
	T(store_approval_get(s, "mcpr_x", &a) == 1);
	T(store_approval_get(s, NULL, &a) == -1);
	T(store_approval_get(s, "mcpr_1", NULL) == -1);
	T(store_approval_decide(s, NULL, 1, "u", NULL, 0) == -1);
	T(store_approval_put(NULL, "mcpr_x", "r", "l", "tgt", "t", "h", "uid=1", 0) == -1);
	T(store_approval_get(NULL, "mcpr_1", &a) == -1);
	T(store_approval_decide(NULL, "mcpr_3", 1, "u", NULL, 0) == -1);
	T(a.id == NULL);
	store_approval_clear(NULL);
	store_approval_clear(&a);

	/* A second connection decides the row the first one still sees pending: the first gets 2. */
	b = store_open(path, err, sizeof err);
	T(b != NULL);
	if (b) {
		T(store_approval_decide(b, "mcpr_3", 0, "key=ci", "no", 1700000700) == 0);
		T(store_approval_decide(s, "mcpr_3", 1, "uid=1000", NULL, 1700000800) == 2);
		T(store_approval_get(s, "mcpr_3", &a) == 0);
		T_STREQ(a.status, "denied");
		T_STREQ(a.decided_by, "key=ci");
		store_approval_clear(&a);
		store_close(b);
	}
	store_close(s);

	/* A restart between request and approval: the rows are there. */
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_approval_get(s, "mcpr_1", &a) == 0);
		T_STREQ(a.status, "approved");
		T_STREQ(a.reason, "looks fine");
		store_approval_clear(&a);
		T(store_approval_decide(s, "mcpr_1", 1, "uid=1000", NULL, 1700000900) == 2);
		store_close(s);
	}
done:
	free(path);
}

static struct store_audit
audit_row(int64_t at_ms, const char *tool)
{
	struct store_audit r = {
	        .at_ms = at_ms,
	        .response_id = "resp_a",
	        .caller = "uid=1000",
	        .server_label = "docs",
	        .server_url = "https://mcp.example/mcp",
	        .tool = tool,
	        .args_bytes = 17,
	        .args_sha256 = "ab12",
	        .outcome = "ok",
	        .error = NULL,
	        .duration_ms = 42,
	        .approval_id = NULL,
	        .decided_by = NULL,
	};

	return r;
}

/* The tools of a listing, in order, joined with ','; NULL tool as "-". */
static char *
list_tools(struct store *s, int limit)
{
	char *json = NULL, *out = xstrdup(""), *next;
	json_t *arr, *v;
	size_t i;

	if (store_audit_list(s, NULL, limit, &json) != 0) {
		free(out);
		return NULL;
	}
	arr = json_loads(json, 0, NULL);
	free(json);
	json_array_foreach (arr, i, v) {
		const char *t = json_string_value(json_object_get(v, "tool"));

		next = xasprintf("%s%s%s", out, i ? "," : "", t ? t : "-");
		free(out);
		out = next;
	}
	json_decref(arr);
	return out;
}

/* The audit log: exact JSON of a row (NULLs as null), newest-first order with ties by insertion, limit,
 * purge by age, text that is not UTF-8, and refusals. */
static void
test_audit(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	struct store_audit r;
	char *json = NULL, *tools;
	json_t *arr;

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_audit_list(s, NULL, 10, &json) == 0);
	T_STREQ(json, "[]");
	free(json);
	json = NULL;

	r = audit_row(1700000000123, "search");
	r.error = "boom \"quoted\"";
	r.approval_id = "mcpr_1";
	r.decided_by = "uid=1000";
	r.outcome = "error";
	T(store_audit_add(s, &r) == 0);
	T(store_audit_list(s, NULL, 1, &json) == 0);
	T_STREQ(json,
	        "[{\"id\":1,\"at_ms\":1700000000123,\"response_id\":\"resp_a\",\"caller\":\"uid=1000\","
	        "\"server_label\":\"docs\",\"server_url\":\"https://mcp.example/mcp\",\"tool\":\"search\","
	        "\"args_bytes\":17,\"args_sha256\":\"ab12\",\"outcome\":\"error\","
	        "\"error\":\"boom \\\"quoted\\\"\",\"duration_ms\":42,\"approval_id\":\"mcpr_1\","
	        "\"decided_by\":\"uid=1000\"}]");
	free(json);
	json = NULL;

	/* Every string NULL: stored and listed as null. */
	memset(&r, 0, sizeof r);
	r.at_ms = 1700000000200;
	T(store_audit_add(s, &r) == 0);
	T(store_audit_list(s, NULL, 1, &json) == 0);
	T_STREQ(json, "[{\"id\":2,\"at_ms\":1700000000200,\"response_id\":null,\"caller\":null,"
	              "\"server_label\":null,\"server_url\":null,\"tool\":null,\"args_bytes\":0,"
	              "\"args_sha256\":null,\"outcome\":null,\"error\":null,\"duration_ms\":0,"
	              "\"approval_id\":null,\"decided_by\":null}]");
	free(json);
	json = NULL;

	/* Order: by at_ms, newest first, whatever the insertion order; same millisecond: later insert first.
	 */
	r = audit_row(1700000000150, "b");
	T(store_audit_add(s, &r) == 0);
	r = audit_row(1700000000300, "c1");
	T(store_audit_add(s, &r) == 0);
	r = audit_row(1700000000300, "c2");
	T(store_audit_add(s, &r) == 0);
	r = audit_row(5, "old");
	T(store_audit_add(s, &r) == 0);
	tools = list_tools(s, 1000);
	T_STREQ(tools, "c2,c1,-,b,search,old");
	free(tools);
	tools = list_tools(s, 3);
	T_STREQ(tools, "c2,c1,-");
	free(tools);
	tools = list_tools(s, 1);
	T_STREQ(tools, "c2");
	free(tools);

	/* Purge is strictly before: the row at exactly before_ms stays. */
	T(store_audit_purge(s, 5) == 0);
	T(store_audit_purge(s, 1700000000150) == 2); /* "old" and "search" */
	tools = list_tools(s, 1000);
	T_STREQ(tools, "c2,c1,-,b");
	free(tools);
	T(store_audit_purge(s, 1700000000150) == 0);
	T(store_audit_purge(s, INT64_MAX) == 4);
	tools = list_tools(s, 1000);
	T_STREQ(tools, "");
	free(tools);

	/* Text cut inside a UTF-8 character still lists as valid JSON; valid UTF-8 is kept as is. */
	r = audit_row(10, "t\xc3\xa9");
	r.error = "cut \xe2\x82";
	T(store_audit_add(s, &r) == 0);
	T(store_audit_list(s, NULL, 10, &json) == 0);
	arr = json ? json_loads(json, 0, NULL) : NULL;
	T(arr != NULL && json_array_size(arr) == 1);
	T_STREQ(json_string_value(json_object_get(json_array_get(arr, 0), "error")), "cut ??");
	T_STREQ(json_string_value(json_object_get(json_array_get(arr, 0), "tool")), "t\xc3\xa9");
	T(json_integer_value(json_object_get(json_array_get(arr, 0), "id")) == 7);
	json_decref(arr);
	free(json);
	json = NULL;

	/* Refusals leave the output alone. */
	T(store_audit_list(s, NULL, 0, &json) == -1);
	T(store_audit_list(s, NULL, 1001, &json) == -1);
	T(store_audit_list(s, NULL, -1, &json) == -1);
	T(strstr(store_errmsg(s), "audit list") != NULL);
	T(store_audit_list(s, NULL, 10, NULL) == -1);
	T(json == NULL);
	T(store_audit_add(s, NULL) == -1);
	T(store_audit_add(NULL, &r) == -1);
	T(store_audit_purge(NULL, 0) == -1);
	T(store_audit_list(NULL, NULL, 10, &json) == -1);
	T(json == NULL);
	store_close(s);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Named secrets: random, stable for the life of the file, one per name, one per file; concurrent first
 * uses from several processes agree on one value. */
/* Audit rows are committed in batches: another connection sees them after a flush, after any other
 * write of the first connection, or after 256 rows; the writer sees them at once. */
static void
test_audit_batches(void)
{
	char err[256];
	char *path = tpath("audit-batch.sqlite"), *text;
	struct store *a = store_open(path, err, sizeof err), *b = store_open(path, err, sizeof err);
	struct store_audit row;
	int i;

	T(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		goto done;
	row = audit_row(1, "one");
	T(store_audit_add(a, &row) == 0);
	text = list_tools(a, 10);
	T_STREQ(text, "one");
	free(text);
	text = list_tools(b, 10);
	T_STREQ(text, "");
	free(text);
	T(store_audit_flush(a) == 0);
	T(store_audit_flush(a) == 0);
	text = list_tools(b, 10);
	T_STREQ(text, "one");
	free(text);

	/* Another write commits the batch before itself. */
	row = audit_row(2, "two");
	T(store_audit_add(a, &row) == 0);
	T(store_response_put(a, "resp_batch", "uid=1", "{}", "[]", 1) == 0);
	text = list_tools(b, 10);
	T_STREQ(text, "two,one");
	free(text);

	/* A full batch commits by itself. */
	for (i = 0; i < 256; i++) {
		row = audit_row(10 + i, "many");
		T(store_audit_add(a, &row) == 0);
	}
	text = list_tools(b, 1);
	T_STREQ(text, "many");
	free(text);

	/* Close commits what is left. */
	row = audit_row(1000, "last");
	T(store_audit_add(a, &row) == 0);
	store_close(a);
	a = NULL;
	text = list_tools(b, 1);
	T_STREQ(text, "last");
	free(text);
	T(store_audit_flush(NULL) == -1);
done:
	store_close(a);
	store_close(b);
	free(path);
}

static void
test_secrets(void)
{
	char err[256] = "";
	char *path = tpath("secrets.sqlite"), *path2 = tpath("secrets2.sqlite"),
	     *path3 = tpath("race.sqlite");
	unsigned char k1[32], k1b[32], k2[32], k3[32], k64[64], small[16];
	struct store *s = store_open(path, err, sizeof err), *o;
	int fds[2], i, status, agree = 1;
	unsigned char got[8][32];
	pid_t pids[8];

	T(s != NULL);
	if (s == NULL)
		goto done;
	T(store_secret(s, "compact", k1, sizeof k1) == 0);
	T(!all_zero(k1, sizeof k1));
	T(store_secret(s, "compact", k1b, sizeof k1b) == 0);
	T(memcmp(k1, k1b, sizeof k1) == 0);
	T(store_secret(s, "other", k2, sizeof k2) == 0);
	T(memcmp(k1, k2, sizeof k1) != 0);
	T(store_secret(s, "max", k64, sizeof k64) == 0);
	T(!all_zero(k64 + 32, 32));

	/* Asked with another length, a secret is refused rather than cut or stretched. */
	T(store_secret(s, "compact", small, sizeof small) == -1);
	T(strstr(store_errmsg(s), "32 bytes") != NULL);
	T(store_secret(s, "compact", k64, 0) == -1);
	T(store_secret(s, "new", k64, 65) == -1);
	T(store_secret(s, NULL, k1b, sizeof k1b) == -1);
	T(store_secret(s, "compact", NULL, 32) == -1);
	T(store_secret(NULL, "compact", k1b, sizeof k1b) == -1);
	store_close(s);

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_secret(s, "compact", k1b, sizeof k1b) == 0);
		T(memcmp(k1, k1b, sizeof k1) == 0);
		T(store_secret(s, "other", k3, sizeof k3) == 0);
		T(memcmp(k2, k3, sizeof k2) == 0);
		store_close(s);
	}
	/* Another database, another secret. */
	o = store_open(path2, err, sizeof err);
	T(o != NULL);
	if (o) {
		T(store_secret(o, "compact", k3, sizeof k3) == 0);
		T(memcmp(k1, k3, sizeof k1) != 0);
		store_close(o);
	}

	/* Eight processes ask for a new secret at once: all get the same bytes, which stay. */
	o = store_open(path3, err, sizeof err); /* created and migrated before the race */
	store_close(o);
	T(pipe(fds) == 0);
	for (i = 0; i < 8; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			unsigned char key[33];
			struct store *c;

			close(fds[0]);
			c = store_open(path3, NULL, 0);
			key[0] = (unsigned char)i;
			if (c == NULL || store_secret(c, "k", key + 1, 32) != 0)
				_exit(1);
			store_close(c);
			_exit(write(fds[1], key, sizeof key) == (ssize_t)sizeof key ? 0 : 1);
		}
	}
	close(fds[1]);
	for (i = 0; i < 8; i++) {
		unsigned char key[33] = {0xff};

		T(read(fds[0], key, sizeof key) == (ssize_t)sizeof key);
		if (key[0] < 8)
			memcpy(got[key[0]], key + 1, 32);
	}
	close(fds[0]);
	for (i = 0; i < 8; i++) {
		T(pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		  WEXITSTATUS(status) == 0);
		if (memcmp(got[i], got[0], 32) != 0)
			agree = 0;
	}
	T(agree);
	o = store_open(path3, err, sizeof err);
	T(o != NULL);
	if (o) {
		T(store_secret(o, "k", k3, sizeof k3) == 0);
		T(memcmp(k3, got[0], 32) == 0);
		store_close(o);
	}
done:
	free(path);
	free(path2);
	free(path3);
}

/* The schema of version 2 exactly as that release's store wrote it, with a row in each table. */
static const char v2_db[] = "PRAGMA journal_mode = WAL;"
                            "CREATE TABLE responses ("
                            " id TEXT PRIMARY KEY NOT NULL,"
                            " created_at INTEGER NOT NULL,"
                            " response_json TEXT NOT NULL,"
                            " input_json TEXT NOT NULL);"
                            "CREATE INDEX responses_created_at ON responses(created_at);"
                            "CREATE TABLE mcp_tool_cache ("
                            " url TEXT NOT NULL,"
                            " cred_hash TEXT NOT NULL,"
                            " protocol_version TEXT NOT NULL,"
                            " tools_json TEXT NOT NULL,"
                            " fetched_at INTEGER NOT NULL,"
                            " expires_at INTEGER NOT NULL,"
                            " PRIMARY KEY (url, cred_hash, protocol_version));"
                            "CREATE INDEX mcp_tool_cache_expires_at ON mcp_tool_cache(expires_at);"
                            "CREATE TABLE mcp_transport ("
                            " url TEXT PRIMARY KEY NOT NULL,"
                            " transport TEXT NOT NULL,"
                            " protocol_version TEXT NOT NULL,"
                            " updated_at INTEGER NOT NULL);"
                            "INSERT INTO responses VALUES ('resp_v2', 7, '{\"v\":2}', '[]');"
                            "INSERT INTO mcp_tool_cache VALUES ('https://a/', 'h', 'v', '[\"v2\"]', 0, 100);"
                            "INSERT INTO mcp_transport VALUES ('https://a/', 'sse', 'v', 0);"
                            "PRAGMA user_version = 2;";

/*
 * A version 2 database migrates to 3 keeping its rows, and what the new tables hold survives a reopen;
 * a migration 3 that fails leaves version 2 without any of its tables.
 */
static void
test_migrate_v2(void)
{
	char err[256] = "";
	char *path = tpath("v2.sqlite"), *path2 = tpath("v2_blocked.sqlite"), *out = tpath("cli2.out");
	char *resp = NULL, *ver = NULL, *text;
	unsigned char k[32], k2[32];
	struct store_approval a = {0};
	struct store_audit row = audit_row(1, "t");
	size_t len = 0;
	struct store *s;

	if (system("command -v sqlite3 >/dev/null 2>&1") != 0) {
		printf("test_store: note: no sqlite3 command-line tool, migration from version 2 not "
		       "tested (Debian: apt-get install sqlite3)\n");
		goto done;
	}
	T(sqlite_cli(path, v2_db, NULL) == 0);
	T(header_user_version(path) == 2);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	T(store_response_get(s, "resp_v2", NULL, &resp, NULL) == 0);
	T_STREQ(resp, "{\"v\":2}");
	free(resp);
	resp = NULL;
	ROW(s, "https://a/", "h", "v", "[\"v2\"]");
	T(store_mcp_transport_get(s, "https://a/", &resp, &ver) == 0);
	T_STREQ(resp, "sse");
	free(resp);
	free(ver);
	resp = ver = NULL;
	T(store_approval_put(s, "mcpr_v", "resp_v2", "docs", "tgt", "search", "ab12", "uid=1", 1700000000) ==
	  0);
	T(store_audit_add(s, &row) == 0);
	T(store_secret(s, "compact", k, sizeof k) == 0);
	store_close(s);
	T(header_user_version(path) == SCHEMA_VERSION);

	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_approval_get(s, "mcpr_v", &a) == 0);
		T_STREQ(a.status, "pending");
		store_approval_clear(&a);
		T(store_approval_decide(s, "mcpr_v", 1, "uid=1", NULL, 1700000001) == 0);
		T(store_secret(s, "compact", k2, sizeof k2) == 0);
		T(memcmp(k, k2, sizeof k) == 0);
		text = list_tools(s, 10);
		T_STREQ(text, "t");
		free(text);
		store_close(s);
	}
	/* The new tables as SQLite sees them (a constraint in the schema, not only in our code). */
	T(sqlite_cli(path, "SELECT status FROM mcp_approvals; SELECT count(*) FROM secrets;", out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "approved\n1\n");
	free(text);
	/* OR IGNORE skips the row a constraint refuses, quietly: still "approved" only if the CHECK is there.
	 */
	T(sqlite_cli(path,
	             "UPDATE OR IGNORE mcp_approvals SET status = 'maybe'; SELECT status FROM mcp_approvals;",
	             out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "approved\n");
	free(text);

	/* A table in the way of migration 3's last CREATE: the file stays at version 2, without the rest. */
	T(sqlite_cli(path2, v2_db, NULL) == 0);
	T(sqlite_cli(path2, "CREATE TABLE secrets (x);", NULL) == 0);
	err[0] = '\0';
	s = store_open(path2, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "migrate") != NULL);
	T(header_user_version(path2) == 2);
	T(sqlite_cli(path2, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'mcp_a%';", out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "0\n");
	free(text);
	T(sqlite_cli(path2, "DROP TABLE secrets;", NULL) == 0);
	s = store_open(path2, err, sizeof err);
	T(s != NULL);
	if (s) {
		T(store_response_get(s, "resp_v2", NULL, NULL, NULL) == 0);
		T(store_secret(s, "compact", k2, sizeof k2) == 0);
		store_close(s);
	}
	T(header_user_version(path2) == SCHEMA_VERSION);
done:
	free(path);
	free(path2);
	free(out);
}

/*
 * Owners: get and delete act for one owner (another owner's row is "not found", like a missing one),
 * NULL acts for all; a put cannot move a row to another owner; the audit list filters on caller.
 */
static void
test_owners(void)
{
	char err[256] = "";
	struct store *s = store_open(":memory:", err, sizeof err);
	struct store_audit r1 = audit_row(1, "mine"), r2 = audit_row(2, "theirs"), r3 = audit_row(3, "ours");
	char *resp = NULL, *input = NULL, *text;

	T(s != NULL);
	if (s == NULL)
		return;
	T(store_response_put(s, "resp_a", "key=alpha", "{\"who\":\"a\"}", "[]", 1) == 0);
	T(store_response_put(s, "resp_b", "uid=1000", "{\"who\":\"b\"}", "[]", 2) == 0);
	T(store_response_get(s, "resp_a", "key=alpha", &resp, &input) == 0);
	T_STREQ(resp, "{\"who\":\"a\"}");
	free(resp);
	free(input);
	resp = input = NULL;
	T(store_response_get(s, "resp_a", "key=beta", &resp, &input) == 1);
	T(resp == NULL && input == NULL);
	T(store_response_get(s, "resp_a", "uid=1000", NULL, NULL) == 1);
	/* A prefix or a longer name is another owner. */
	T(store_response_get(s, "resp_a", "key=alph", NULL, NULL) == 1);
	T(store_response_get(s, "resp_a", "key=alphax", NULL, NULL) == 1);
	T(store_response_get(s, "resp_a", "", NULL, NULL) == 1);
	T(store_response_get(s, "resp_b", NULL, &resp, NULL) == 0);
	T_STREQ(resp, "{\"who\":\"b\"}");
	free(resp);
	resp = NULL;

	/* Another owner's put of the same id fails and leaves the row as it was. */
	T(store_response_put(s, "resp_a", "key=beta", "{\"who\":\"beta\"}", "[1]", 3) == -1);
	T(strstr(store_errmsg(s), "another owner") != NULL);
	T(store_response_get(s, "resp_a", "key=alpha", &resp, NULL) == 0);
	T_STREQ(resp, "{\"who\":\"a\"}");
	free(resp);
	resp = NULL;
	T(store_response_get(s, "resp_a", "key=beta", NULL, NULL) == 1);
	/* The owner's own put still replaces it. */
	T(store_response_put(s, "resp_a", "key=alpha", "{\"who\":\"a2\"}", "[]", 4) == 0);
	T(store_response_get(s, "resp_a", "key=alpha", &resp, NULL) == 0);
	T_STREQ(resp, "{\"who\":\"a2\"}");
	free(resp);
	resp = NULL;
	T(store_response_put(s, "resp_c", NULL, "{}", "[]", 1) == -1);
	T(store_response_put(s, "resp_c", "", "{}", "[]", 1) == -1);
	T(store_response_count(s) == 2);

	T(store_response_delete(s, "resp_a", "key=beta") == 1);
	T(store_response_get(s, "resp_a", "key=alpha", NULL, NULL) == 0);
	T(store_response_delete(s, "resp_a", "key=alpha") == 0);
	T(store_response_get(s, "resp_a", NULL, NULL, NULL) == 1);
	T(store_response_delete(s, "resp_b", NULL) == 0);
	T(store_response_count(s) == 0);

	r2.caller = "key=other";
	r3.caller = NULL;
	T(store_audit_add(s, &r1) == 0 && store_audit_add(s, &r2) == 0 && store_audit_add(s, &r3) == 0);
	T(store_audit_list(s, "uid=1000", 10, &text) == 0);
	T(text && strstr(text, "\"mine\"") && !strstr(text, "\"theirs\"") && !strstr(text, "\"ours\""));
	free(text);
	T(store_audit_list(s, "key=other", 10, &text) == 0);
	T(text && strstr(text, "\"theirs\"") && !strstr(text, "\"mine\""));
	free(text);
	T(store_audit_list(s, "uid=1", 10, &text) == 0);
	T_STREQ(text, "[]");
	free(text);
	text = list_tools(s, 10);
	T_STREQ(text, "ours,theirs,mine");
	free(text);
	store_close(s);
}

/* Migration 3's schema exactly as that release wrote it (over v2_db), with rows in it. */
static const char v3_db[] = "CREATE TABLE mcp_approvals ("
                            " id TEXT PRIMARY KEY NOT NULL,"
                            " response_id TEXT NOT NULL,"
                            " server_label TEXT NOT NULL,"
                            " target_sha256 TEXT NOT NULL,"
                            " tool TEXT NOT NULL,"
                            " arguments_sha256 TEXT NOT NULL,"
                            " requested_by TEXT NOT NULL,"
                            " status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied',"
                            " 'executed')),"
                            " decided_by TEXT,"
                            " reason TEXT,"
                            " created_at INTEGER NOT NULL,"
                            " decided_at INTEGER NOT NULL);"
                            "CREATE TABLE mcp_audit ("
                            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                            " at_ms INTEGER NOT NULL,"
                            " response_id TEXT,"
                            " caller TEXT,"
                            " server_label TEXT,"
                            " server_url TEXT,"
                            " tool TEXT,"
                            " args_bytes INTEGER NOT NULL,"
                            " args_sha256 TEXT,"
                            " outcome TEXT,"
                            " error TEXT,"
                            " duration_ms INTEGER NOT NULL,"
                            " approval_id TEXT,"
                            " decided_by TEXT);"
                            "CREATE INDEX mcp_audit_at_ms ON mcp_audit(at_ms);"
                            "CREATE TABLE secrets ("
                            " name TEXT PRIMARY KEY NOT NULL,"
                            " value BLOB NOT NULL);"
                            "INSERT INTO responses VALUES ('resp_v3', 8, '{\"v\":3}', '[{\"id\":\"m\"}]');"
                            "INSERT INTO mcp_audit (at_ms, caller, tool, args_bytes, duration_ms)"
                            " VALUES (5, 'uid=1000', 'old', 0, 0);"
                            "INSERT INTO mcp_approvals VALUES ('mcpr_p', 'resp_v3', 'docs', 't', 'search',"
                            " 'h', 'uid=1000', 'pending', NULL, NULL, 10, 0),"
                            " ('mcpr_a', 'resp_v3', 'docs', 't', 'search', 'h', 'uid=1000', 'approved',"
                            " 'uid=1000', NULL, 10, 11),"
                            " ('mcpr_d', 'resp_v3', 'docs', 't', 'search', 'h', 'uid=1000', 'denied',"
                            " 'uid=1000', 'no', 10, 11),"
                            " ('mcpr_x', 'resp_v3', 'docs', 't', 'search', 'h', 'uid=1000', 'executed',"
                            " 'uid=1000', NULL, 10, 11);"
                            "PRAGMA user_version = 3;";

/*
 * A version 3 database migrates to 4: its responses keep their content and belong to the legacy
 * owner, which only the all-owners view (an operator) reaches; the audit rows keep their caller;
 * new rows get their owner. A migration 4 that fails leaves version 3 without the column.
 */
static void
test_migrate_v3(void)
{
	char err[256] = "";
	char *path = tpath("v3.sqlite"), *path2 = tpath("v3_blocked.sqlite"), *out = tpath("cli3.out");
	char *resp = NULL, *input = NULL, *text;
	size_t len = 0;
	struct store *s;

	if (system("command -v sqlite3 >/dev/null 2>&1") != 0) {
		printf("test_store: note: no sqlite3 command-line tool, migration from version 3 not "
		       "tested (Debian: apt-get install sqlite3)\n");
		goto done;
	}
	T(sqlite_cli(path, v2_db, NULL) == 0);
	T(sqlite_cli(path, v3_db, NULL) == 0);
	T(header_user_version(path) == 3);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	T(store_response_get(s, "resp_v3", "uid=1000", NULL, NULL) == 1);
	T(store_response_get(s, "resp_v3", "uid=0", NULL, NULL) == 1);
	T(store_response_get(s, "resp_v3", "key=ci", NULL, NULL) == 1);
	T(store_response_delete(s, "resp_v3", "uid=1000") == 1);
	T(store_response_get(s, "resp_v3", NULL, &resp, &input) == 0);
	T_STREQ(resp, "{\"v\":3}");
	T_STREQ(input, "[{\"id\":\"m\"}]");
	free(resp);
	free(input);
	T(store_response_get(s, "resp_v2", STORE_OWNER_LEGACY, NULL, NULL) == 0);
	/* A caller cannot take a legacy row over by writing its id. */
	T(store_response_put(s, "resp_v3", "uid=1000", "{}", "[]", 9) == -1);
	T(store_response_put(s, "resp_new", "uid=1000", "{}", "[]", 9) == 0);
	T(store_audit_list(s, "uid=1000", 10, &text) == 0);
	T(text && strstr(text, "\"old\"") != NULL);
	free(text);
	store_close(s);
	T(header_user_version(path) == SCHEMA_VERSION);
	T(sqlite_cli(path, "SELECT id || ' ' || owner FROM responses ORDER BY id;", out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "resp_new uid=1000\nresp_v2 legacy:\nresp_v3 legacy:\n");
	free(text);
	/* Migration 6: an executed approval is done, versions count the steps so far, nothing else moved. */
	T(sqlite_cli(path,
	             "SELECT id || ' ' || status || ' ' || version || ' ' || ifnull(reason, '-') FROM "
	             "mcp_approvals"
	             " ORDER BY id;",
	             out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "mcpr_a approved 2 -\nmcpr_d denied 2 no\nmcpr_p pending 1 -\nmcpr_x done 2 -\n");
	free(text);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	T(store_approval_claim(s, "mcpr_a") == 0);
	T(store_approval_claim(s, "mcpr_x") == 2);
	T(store_approval_decide(s, "mcpr_p", 0, "uid=1000", NULL, 12) == 0);
	store_close(s);

	/* An index in the way of migration 4's last statement: the file stays at version 3. */
	T(sqlite_cli(path2, v2_db, NULL) == 0);
	T(sqlite_cli(path2, v3_db, NULL) == 0);
	T(sqlite_cli(path2, "CREATE INDEX mcp_audit_caller_at_ms ON mcp_audit(tool);", NULL) == 0);
	err[0] = '\0';
	s = store_open(path2, err, sizeof err);
	T(s == NULL);
	store_close(s);
	T(strstr(err, "migrate") != NULL);
	T(header_user_version(path2) == 3);
	T(sqlite_cli(path2, "SELECT count(*) FROM pragma_table_info('responses') WHERE name = 'owner';",
	             out) == 0);
	text = slurp(out, &len);
	T_STREQ(text, "0\n");
	free(text);
done:
	free(path);
	free(path2);
	free(out);
}

/* The outcome (and error) of the audit row with id, read through the list; NULL when absent. */
static char *
audit_outcome(struct store *s, int64_t id, char **error)
{
	char *json = NULL, *out = NULL;
	json_t *arr, *row;
	size_t i;

	if (error)
		*error = NULL;
	if (store_audit_list(s, NULL, 1000, &json) != 0)
		return NULL;
	arr = json_loads(json, 0, NULL);
	free(json);
	json_array_foreach (arr, i, row) {
		if (json_integer_value(json_object_get(row, "id")) != id)
			continue;
		out = xstrdup(json_string_value(json_object_get(row, "outcome")));
		if (error && json_is_string(json_object_get(row, "error")))
			*error = xstrdup(json_string_value(json_object_get(row, "error")));
	}
	json_decref(arr);
	return out;
}

/*
 * Issue 11, 8: a call's row is written when it starts and completed when it ends. The start is
 * committed before store_audit_start returns (a process killed right after keeps it, while a batched
 * completion may be lost), and the sweep at the next start marks what was left open "interrupted".
 */
static void
test_audit_start(void)
{
	char err[256] = "";
	char *path = tpath("audit-kill/db.sqlite"), *o, *e;
	struct store *s = store_open(":memory:", err, sizeof err);
	struct store_audit r = audit_row(1700000000000, "slow");
	int64_t id = 0, id2 = 0, ids[2] = {0, 0};
	pid_t pid;
	int status = 0, fds[2];

	T(s != NULL);
	if (s == NULL)
		return;
	r.outcome = "ok"; /* ignored by start */
	r.error = "ignored";
	r.duration_ms = 99;
	T(store_audit_start(s, &r, &id) == 0 && id > 0);
	o = audit_outcome(s, id, &e);
	T_STREQ(o, "in_progress");
	T(e == NULL);
	free(o);
	T(store_audit_end(s, id, "tool_error", "it failed", 42) == 0);
	o = audit_outcome(s, id, &e);
	T_STREQ(o, "tool_error");
	T_STREQ(e, "it failed");
	free(o);
	free(e);
	/* A row ends once; an unknown id is not an error of the store. */
	T(store_audit_end(s, id, "ok", NULL, 1) == 1);
	T(store_audit_end(s, id + 100, "ok", NULL, 1) == 1);
	o = audit_outcome(s, id, NULL);
	T_STREQ(o, "tool_error");
	free(o);
	T(store_audit_end(s, id, NULL, NULL, 1) == -1);
	T(store_audit_start(s, NULL, &id2) == -1);
	T(store_audit_start(s, &r, NULL) == -1);
	T(store_audit_start(NULL, &r, &id2) == -1);
	/* The sweep: only open rows. */
	T(store_audit_start(s, &r, &id2) == 0 && id2 > id);
	T(store_audit_interrupt_open(s, "stopped") == 1);
	o = audit_outcome(s, id2, &e);
	T_STREQ(o, "interrupted");
	T_STREQ(e, "stopped");
	free(o);
	free(e);
	o = audit_outcome(s, id, NULL);
	T_STREQ(o, "tool_error");
	free(o);
	T(store_audit_end(s, id2, "ok", NULL, 5) == 1);
	T(store_audit_interrupt_open(s, "stopped") == 0);
	store_close(s);

	/* Killed with no flush at all: the started rows are there, open; the unflushed completion of one
	 * of them may be lost, and then the sweep marks it interrupted as well. */
	T(pipe(fds) == 0);
	fflush(stdout);
	pid = fork();
	T(pid != -1);
	if (pid == 0) {
		close(fds[0]);
		s = store_open(path, err, sizeof err);
		if (s == NULL)
			_exit(2);
		r = audit_row(1700000000000, "hang");
		if (store_audit_start(s, &r, &ids[0]) != 0)
			_exit(3);
		r.tool = "echo";
		if (store_audit_start(s, &r, &ids[1]) != 0 || store_audit_end(s, ids[1], "ok", NULL, 3) != 0)
			_exit(3);
		if (write(fds[1], ids, sizeof ids) != (ssize_t)sizeof ids)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	T(read(fds[0], ids, sizeof ids) == (ssize_t)sizeof ids);
	close(fds[0]);
	T(kill(pid, SIGKILL) == 0);
	T(waitpid(pid, &status, 0) == pid);
	T(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s) {
		o = audit_outcome(s, ids[0], NULL);
		T_STREQ(o, "in_progress");
		free(o);
		o = audit_outcome(s, ids[1], NULL);
		T(o != NULL && (strcmp(o, "in_progress") == 0 || strcmp(o, "ok") == 0));
		free(o);
		T(store_audit_interrupt_open(s, "toolhostd stopped before the call ended") >= 1);
		o = audit_outcome(s, ids[0], &e);
		T_STREQ(o, "interrupted");
		T_STREQ(e, "toolhostd stopped before the call ended");
		free(o);
		free(e);
		store_close(s);
	}
	free(path);
}

/* An operator's pending row, as api/ophub writes it. */
static int
open_operator(struct store *s, const char *id, const char *response_id, int64_t created_at,
              const char *detail)
{
	struct store_approval_new a = {
	        .id = id,
	        .response_id = response_id,
	        .server_label = "ops",
	        .target_sha256 = "tgt",
	        .tool = "deploy",
	        .arguments_sha256 = "args",
	        .requested_by = "key=ci",
	        .definition_sha256 = "def1",
	        .detail = detail,
	        .created_at = created_at,
	        .expires_at = created_at + 900,
	};

	return store_approval_open(s, &a);
}

/*
 * Operator approvals (schema 7): a decision moves a row only at the version it names and only once;
 * a batch moves all or none; the start abandons what waited; the snapshot lists the pending operator
 * rows oldest first with their detail as JSON; rules match one definition hash until they expire or
 * are deleted, and tell of a changed definition; decisions leave audit rows.
 */
static void
test_operator_approvals(void)
{
	char err[256] = "";
	char *path = tpath("operator.sqlite"), *text = NULL, *rule = NULL, *def = NULL;
	struct store *s = store_open(path, err, sizeof err);
	struct store_resolution approve = {"approved", "approve_once", "uid=0", NULL, 1700000100};
	struct store_resolution deny = {"denied", "deny", "uid=0", "not now", 1700000100};
	struct store_approval a = {0};
	const char *ids[2] = {"mcpr_o2", "mcpr_o3"};
	int64_t versions[2] = {1, 1}, pending = -1;
	json_t *list;

	T(s != NULL);
	if (s == NULL) {
		printf("open: %s\n", err);
		goto done;
	}
	T(open_operator(s, "mcpr_o1", "resp_a", 1700000003, "{\"arguments\":\"{}\",\"why\":\"floor\"}") == 0);
	T(open_operator(s, "mcpr_o2", "resp_b", 1700000001, NULL) == 0);
	T(open_operator(s, "mcpr_o3", "resp_b", 1700000002, "not json") == 0);
	T(open_operator(s, "mcpr_o1", "resp_x", 1, NULL) == -1); /* the id is taken */
	T(store_approval_put(s, "mcpr_c1", "resp_a", "ops", "tgt", "deploy", "args", "key=ci", 1700000000) ==
	  0);
	T(store_approval_get(s, "mcpr_o1", &a) == 0);
	T_STREQ(a.mode, "operator");
	T_STREQ(a.status, "pending");
	T(a.version == 1 && a.expires_at == 1700000903);
	T_STREQ(a.definition_sha256, "def1");
	store_approval_clear(&a);

	/* The snapshot: operator rows only, oldest first, detail an object ({} when none or not JSON). */
	T(store_approval_pending_operator(s, 10, 1 << 20, &text, &pending) == 0);
	list = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(list) == 3);
	T(pending == 3);
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "id")), "mcpr_o2");
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 2), "id")), "mcpr_o1");
	T_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(list, 2), "detail"), "why")),
	        "floor");
	T(json_is_object(json_object_get(json_array_get(list, 0), "detail")));
	T(json_object_size(json_object_get(json_array_get(list, 1), "detail")) == 0);
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "object")), "approval");
	T(json_integer_value(json_object_get(json_array_get(list, 0), "version")) == 1);
	json_decref(list);
	free(text);
	text = NULL;
	T(store_approval_pending_operator(s, 1, 1 << 20, &text, &pending) == 0);
	list = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(list) == 1);
	T(pending == 3);
	json_decref(list);
	free(text);
	text = NULL;
	/* A byte budget: the oldest that fit (1 KiB a row, and its detail), the count of all the same. */
	T(store_approval_pending_operator(s, 10, 2048 + 10, &text, &pending) == 0);
	list = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(list) == 2);
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 1), "id")), "mcpr_o3");
	T(pending == 3);
	json_decref(list);
	free(text);
	text = NULL;
	T(store_approval_pending_operator(s, 10, 100, &text, &pending) == 0);
	T_STREQ(text, "[]");
	T(pending == 3);
	free(text);
	text = NULL;

	/* One decision wins: a stale version, a second decision, a missing id all get 2. */
	T(store_approval_resolve(s, "mcpr_o1", 2, &approve) == 2);
	T(store_approval_resolve(s, "mcpr_o1", 1, &approve) == 0);
	T(store_approval_resolve(s, "mcpr_o1", 1, &deny) == 2);
	T(store_approval_resolve(s, "mcpr_o1", 2, &deny) == 2);
	T(store_approval_resolve(s, "mcpr_none", 1, &deny) == 2);
	T(store_approval_get(s, "mcpr_o1", &a) == 0);
	T_STREQ(a.status, "approved");
	T_STREQ(a.decision, "approve_once");
	T_STREQ(a.decided_by, "uid=0");
	T(a.version == 2 && a.decided_at == 1700000100);
	store_approval_clear(&a);
	T(store_approval_claim(s, "mcpr_o1") == 0);
	T(store_approval_claim(s, "mcpr_o1") == 2); /* runs once */

	/* A batch with one stale member changes nothing; at the right versions, all. */
	versions[1] = 5;
	T(store_approval_resolve_all(s, ids, versions, 2, &deny) == 2);
	T(store_approval_get(s, "mcpr_o2", &a) == 0);
	T_STREQ(a.status, "pending");
	store_approval_clear(&a);
	versions[1] = 1;
	T(store_approval_resolve_all(s, ids, versions, 2, &deny) == 0);
	T(store_approval_get(s, "mcpr_o3", &a) == 0);
	T_STREQ(a.status, "denied");
	T_STREQ(a.reason, "not now");
	store_approval_clear(&a);

	/* The start abandons the operator rows still pending, never a caller's. */
	T(open_operator(s, "mcpr_o4", "resp_c", 1700000004, NULL) == 0);
	T(store_approval_settle_waiting(s, "restart", 1700000200) == 1);
	T(store_approval_get(s, "mcpr_o4", &a) == 0);
	T_STREQ(a.status, "abandoned");
	T_STREQ(a.reason, "restart");
	T_STREQ(a.decided_by, "daemon");
	store_approval_clear(&a);
	T(store_approval_get(s, "mcpr_c1", &a) == 0);
	T_STREQ(a.status, "pending");
	store_approval_clear(&a);
	T(store_approval_pending_operator(s, 10, 1 << 20, &text, &pending) == 0);
	T_STREQ(text, "[]");
	T(pending == 0);
	free(text);
	text = NULL;

	/* Rules: match the definition they were made for, count their hits, expire, and say what changed. */
	{
		struct store_rule_new r = {
		        "rule_1", "ops",     "tgt",      "deploy",  "def1", "{\"name\":\"deploy\"}",
		        "uid=0",  "mcpr_o1", 1700000000, 1700003600};
		struct store_rule_new forever = {"rule_2", "ops",   "tgt", "status",   "defS",
		                                 "{}",     "uid=0", NULL,  1700000000, 0};

		T(store_rule_put(s, &r) == 0);
		T(store_rule_put(s, &r) == -1);
		T(store_rule_put(s, &forever) == 0);
	}
	T(store_rule_match(s, "tgt", "deploy", "def1", 1700000500, 1, &rule) == 0);
	T_STREQ(rule, "rule_1");
	free(rule);
	rule = NULL;
	T(store_rule_match(s, "tgt", "deploy", "def2", 1700000500, 1, &rule) == 1);
	T(store_rule_match(s, "other", "deploy", "def1", 1700000500, 1, &rule) == 1);
	T(store_rule_match(s, "tgt", "deploy", "def1", 1700003600, 1, &rule) == 1); /* expired */
	T(store_rule_match(s, "tgt", "status", "defS", 2000000000, 0, &rule) == 0); /* never expires */
	free(rule);
	rule = NULL;
	T(store_rule_changed(s, "tgt", "deploy", "def2", 1700000500, &rule, &def) == 0);
	T_STREQ(rule, "rule_1");
	T_STREQ(def, "{\"name\":\"deploy\"}");
	free(rule);
	free(def);
	rule = def = NULL;
	T(store_rule_changed(s, "tgt", "deploy", "def1", 1700000500, &rule, &def) == 1);
	T(store_rule_list(s, 10, &text) == 0);
	list = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(list) == 2);
	{
		json_t *r1 = NULL, *v;
		size_t i;

		json_array_foreach (list, i, v) {
			if (strcmp(json_string_value(json_object_get(v, "id")), "rule_1") == 0)
				r1 = v;
		}
		T(json_integer_value(json_object_get(r1, "hits")) ==
		  1); /* counted once: the other match asked not to */
		T(json_integer_value(json_object_get(r1, "last_used_at")) == 1700000500);
		T_STREQ(json_string_value(json_object_get(r1, "from_approval")), "mcpr_o1");
	}
	json_decref(list);
	free(text);
	text = NULL;
	T(store_rule_delete(s, "rule_1") == 0);
	T(store_rule_delete(s, "rule_1") == 1);
	T(store_rule_match(s, "tgt", "deploy", "def1", 1700000500, 1, &rule) == 1);

	/* The decisions' audit: one row each, in order, with what it was about. */
	{
		struct store_decision d1 = {"mcpr_o1", "resp_a", "approve_once", "uid=0",   "args",
		                            "def1",    NULL,     "approved",     1700000100};
		struct store_decision d2 = {"mcpr_o1", "resp_a", "deny",     "uid=0 via page", "args",
		                            NULL,      "late",   "approved", 1700000101};

		T(store_decision_add(s, &d1) == 0);
		T(store_decision_add(s, &d2) == 0);
	}
	T(store_decision_list(s, "mcpr_o1", &text) == 0);
	list = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(list) == 2);
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "decision")), "approve_once");
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 1), "actor")), "uid=0 via page");
	T_STREQ(json_string_value(json_object_get(json_array_get(list, 1), "message")), "late");
	T(json_is_null(json_object_get(json_array_get(list, 1), "definition_sha256")));
	json_decref(list);
	free(text);
	text = NULL;
	T(store_decision_list(s, "mcpr_none", &text) == 0);
	T_STREQ(text, "[]");
	free(text);
	store_close(s);
done:
	free(path);
}

/*
 * Version 5 drops the tool-cache and transport rows whose URL kept a query or user info in clear,
 * and keeps the others.
 */
static void
test_migrate_v5_urls(void)
{
	char err[256] = "";
	char *path = tpath("v5/db.sqlite"), *out = tpath("v5/out.txt"), *text, *t = NULL, *v = NULL;
	struct store *s;
	size_t len = 0;

	if (system("command -v sqlite3 >/dev/null 2>&1") != 0) {
		printf("test_store: note: no sqlite3 command-line tool, migration 5 not tested\n");
		free(path);
		free(out);
		return;
	}
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto out;
	store_close(s);
	/* Back to version 4 as it was (without the later versions' tables): rows written with the URL in
	 * clear. */
	T(sqlite_cli(
	          path,
	          "DROP INDEX mcp_audit_open;"
	          "DROP TABLE mcp_approval_rules;"
	          "DROP TABLE mcp_approval_decisions;"
	          "INSERT INTO mcp_tool_cache VALUES ('https://h/mcp?token=s3cr3t', 'c', 'v', '[]', 1, "
	          "9999999999);"
	          "INSERT INTO mcp_tool_cache VALUES ('https://u:pw@h/mcp', 'c', 'v', '[]', 1, 9999999999);"
	          "INSERT INTO mcp_tool_cache VALUES ('https://h/mcp', 'c', 'v', '[1]', 1, 9999999999);"
	          "INSERT INTO mcp_transport VALUES ('https://h/mcp?token=s3cr3t', 'sse', 'v', 1);"
	          "INSERT INTO mcp_transport VALUES ('https://h/mcp', 'streamable', 'v', 1);"
	          "PRAGMA user_version = 4;",
	          NULL) == 0);
	T(header_user_version(path) == 4);
	s = store_open(path, err, sizeof err);
	T(s != NULL);
	if (s == NULL)
		goto out;
	T(store_toolcache_get(s, "https://h/mcp", "c", "v", 1, &text, NULL) == 0);
	T_STREQ(text, "[1]");
	free(text);
	T(store_mcp_transport_get(s, "https://h/mcp", &t, &v) == 0);
	T_STREQ(t, "streamable");
	free(t);
	free(v);
	store_close(s);
	T(header_user_version(path) == SCHEMA_VERSION);
	T(sqlite_cli(path, "SELECT url FROM mcp_tool_cache UNION ALL SELECT url FROM mcp_transport;", out) ==
	  0);
	text = slurp(out, &len);
	T(text != NULL && strcmp(text, "https://h/mcp\nhttps://h/mcp\n") == 0);
	free(text);
out:
	free(path);
	free(out);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_basic();
	test_persistence();
	test_two_connections();
	test_sigkill();
	test_newer_version();
	test_garbage();
	test_corrupt_pages();
	test_bad_paths();
	test_large();
	test_odd_ids();
	test_toolcache_basic();
	test_toolcache_keys();
	test_toolcache_purge();
	test_transport();
	test_mcp_nulls();
	test_migrate_v1();
	test_approvals();
	test_audit();
	test_audit_batches();
	test_secrets();
	test_migrate_v2();
	test_owners();
	test_migrate_v3();
	test_audit_start();
	test_migrate_v5_urls();
	test_operator_approvals();
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return T_DONE();
}
