/* Unit tests for daemon/config.c: defaults, good configs, one table row per broken rule (the message
 * must name the key path), keys from the environment and from files, and secrets kept out of messages. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "tests/unit/t.h"

#define UP "\"upstreams\":[{\"name\":\"hf\",\"base_url\":\"https://router.example/v1\"}]"
#define UP2                                                                                                  \
	"\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\"},{\"name\":\"b\",\"base_url\":\"http://"   \
	"b\""
#define KEY "\"api_keys\":[{\"name\":\"ci\",\"key\":\"k1\"}]"

static char tmpfiles[16][64];
static int ntmpfiles;

/* A temporary file holding content; its name is returned (removed at the end). */
static const char *
tmpfile_with(const char *content, size_t len)
{
	char *name;
	int fd;

	if (ntmpfiles == (int)(sizeof tmpfiles / sizeof tmpfiles[0]))
		abort();
	name = tmpfiles[ntmpfiles++];

	snprintf(name, 64, "/tmp/test_config_XXXXXX");
	fd = mkstemp(name);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		printf("cannot write %s\n", name);
	close(fd);
	return name;
}

static int
load(const char *json, struct config *c, char *err, size_t errlen)
{
	return config_load_string(json, strlen(json), c, err, errlen);
}

static void
test_defaults(void)
{
	struct config c;

	unsetenv("RUNTIME_DIRECTORY");
	config_defaults(&c);
	T_STREQ(c.unix_path, "/run/toolhost/toolhostd.sock");
	T(c.unix_mode == 0660);
	T(c.n_allow_uids == 0 && c.n_allow_gids == 0);
	T(c.tcp_address == NULL);
	T(c.n_api_keys == 0 && c.n_upstreams == 0);
	T_STREQ(c.store_path, "/var/lib/toolhost/toolhostd.db");
	T(c.limits.max_body_bytes == 8 * 1024 * 1024);
	T(c.limits.max_header_bytes == 16384);
	T(c.limits.header_timeout_s == 10);
	T(c.limits.request_timeout_s == 600);
	T(c.limits.upstream_connect_timeout_s == 10);
	T(c.limits.upstream_idle_timeout_s == 120);
	T(c.limits.keepalive_s == 15);
	T(c.limits.drain_timeout_s == 10);
	T(c.limits.max_upstream_event_bytes == 1024 * 1024);
	T(c.limits.max_output_bytes == 16 * 1024 * 1024);
	T(c.limits.max_connections == 20000);
	T(c.log_level == LOG_LVL_INFO);
	config_free(&c);

	setenv("RUNTIME_DIRECTORY", "/run/th", 1);
	config_defaults(&c);
	T_STREQ(c.unix_path, "/run/th/toolhostd.sock");
	config_free(&c);
	/* systemd joins several runtime directories with ':'. */
	setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
	config_defaults(&c);
	T_STREQ(c.unix_path, "/run/a/toolhostd.sock");
	config_free(&c);
	setenv("RUNTIME_DIRECTORY", "", 1);
	config_defaults(&c);
	T_STREQ(c.unix_path, "/run/toolhost/toolhostd.sock");
	config_free(&c);
	unsetenv("RUNTIME_DIRECTORY");
}

static void
test_minimal(void)
{
	struct config c;
	char err[256];

	T(load("{" UP "}", &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T_STREQ(c.unix_path, "/run/toolhost/toolhostd.sock");
	T(c.n_upstreams == 1);
	T_STREQ(c.upstreams[0].name, "hf");
	T_STREQ(c.upstreams[0].base_url, "https://router.example/v1");
	T(c.upstreams[0].is_default == 1);
	T(c.upstreams[0].api_key == NULL);
	T(c.upstreams[0].default_model == NULL);
	T(c.upstreams[0].forward_caller_auth == 0);
	T(c.tcp_address == NULL);
	T(c.limits.max_connections == 20000);
	T(config_upstream_find(&c, NULL) == &c.upstreams[0]);
	T(config_upstream_find(&c, "hf") == &c.upstreams[0]);
	T(config_upstream_find(&c, "nope") == NULL);
	config_free(&c);
	/* A second free, and a free of a zeroed struct, do nothing. */
	config_free(&c);
	config_free(NULL);

	/* Loading applies the environment's default socket path too; trailing slashes go. */
	setenv("RUNTIME_DIRECTORY", "/run/x", 1);
	T(load("{\"upstreams\":[{\"name\":\"l\",\"base_url\":\"HTTP://127.0.0.1:8080/v1///\"}]}", &c, err,
	       sizeof err) == 0);
	T_STREQ(c.unix_path, "/run/x/toolhostd.sock");
	T_STREQ(c.upstreams[0].base_url, "HTTP://127.0.0.1:8080/v1");
	config_free(&c);
	unsetenv("RUNTIME_DIRECTORY");
}

static void
test_full(void)
{
	struct config c;
	char err[256], json[4096];
	const char *kf, *uf;

	setenv("TOOLHOST_TEST_KEY", "env-secret", 1);
	kf = tmpfile_with("file-secret\r\n", 13);
	uf = tmpfile_with("upstream-secret\n", 16);
	snprintf(json, sizeof json,
	         "{\"listen\":{\"unix\":{\"path\":\"/tmp/"
	         "th.sock\",\"mode\":\"0600\",\"allow_uids\":[0,1000,4294967294],"
	         "\"allow_gids\":[]},\"tcp\":{\"address\":\"::1\",\"port\":65535}},"
	         "\"api_keys\":[{\"name\":\"env\",\"key_env\":\"TOOLHOST_TEST_KEY\"},{\"name\":\"file.1\","
	         "\"key_file\":"
	         "\"%s\"},{\"name\":\"lit-2\",\"key\":\"literal-secret\"}],"
	         "\"upstreams\":[{\"name\":\"hf\",\"base_url\":\"https://router.example/"
	         "v1\",\"api_key_file\":\"%s\","
	         "\"default_model\":\"org/model\"},{\"name\":\"local\",\"base_url\":\"http://127.0.0.1:8000/"
	         "v1\","
	         "\"api_key_env\":\"TOOLHOST_TEST_KEY\",\"default\":true,\"forward_caller_auth\":true}],"
	         "\"store\":{\"path\":\":memory:\"},"
	         "\"limits\":{\"max_body_bytes\":1024,\"max_header_bytes\":1048576,\"header_timeout_s\":1,"
	         "\"request_timeout_s\":86400,\"upstream_connect_timeout_s\":2,\"upstream_idle_timeout_s\":3,"
	         "\"keepalive_s\":4,\"drain_timeout_s\":5,\"max_upstream_event_bytes\":2048,"
	         "\"max_output_bytes\":1073741824,\"max_connections\":7},"
	         "\"log_level\":\"debug\"}",
	         kf, uf);
	T(load(json, &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T_STREQ(c.unix_path, "/tmp/th.sock");
	T(c.unix_mode == 0600);
	T(c.n_allow_uids == 3 && c.allow_uids[0] == 0 && c.allow_uids[1] == 1000 &&
	  c.allow_uids[2] == (uid_t)4294967294u);
	T(c.n_allow_gids == 0);
	T_STREQ(c.tcp_address, "::1");
	T(c.tcp_port == 65535);
	T(c.n_api_keys == 3);
	T_STREQ(c.api_keys[0].name, "env");
	T_STREQ(c.api_keys[0].key, "env-secret");
	T_STREQ(c.api_keys[1].name, "file.1");
	T_STREQ(c.api_keys[1].key, "file-secret");
	T_STREQ(c.api_keys[2].key, "literal-secret");
	T(c.n_upstreams == 2);
	T_STREQ(c.upstreams[0].api_key, "upstream-secret");
	T_STREQ(c.upstreams[0].default_model, "org/model");
	T(c.upstreams[0].is_default == 0);
	T_STREQ(c.upstreams[1].api_key, "env-secret");
	T(c.upstreams[1].is_default == 1 && c.upstreams[1].forward_caller_auth == 1);
	T(config_upstream_find(&c, NULL) == &c.upstreams[1]);
	T(config_upstream_find(&c, "hf") == &c.upstreams[0]);
	T_STREQ(c.store_path, ":memory:");
	T(c.limits.max_body_bytes == 1024 && c.limits.max_header_bytes == 1048576);
	T(c.limits.header_timeout_s == 1 && c.limits.request_timeout_s == 86400);
	T(c.limits.upstream_connect_timeout_s == 2 && c.limits.upstream_idle_timeout_s == 3);
	T(c.limits.keepalive_s == 4 && c.limits.drain_timeout_s == 5);
	T(c.limits.max_upstream_event_bytes == 2048 && c.limits.max_output_bytes == 1073741824);
	T(c.limits.max_connections == 7);
	T(c.log_level == LOG_LVL_DEBUG);
	config_free(&c);

	/* TCP with defaults: 127.0.0.0/8 is all loopback. */
	T(load("{\"listen\":{\"tcp\":{\"address\":\"127.1.2.3\"}}," KEY "," UP "}", &c, err, sizeof err) ==
	  0);
	T_STREQ(c.tcp_address, "127.1.2.3");
	T(c.tcp_port == 8787);
	config_free(&c);
	T(load("{\"listen\":{\"tcp\":{}}," KEY "," UP "}", &c, err, sizeof err) == 0);
	T_STREQ(c.tcp_address, "127.0.0.1");
	config_free(&c);

	/* A single upstream is the default even when it says otherwise. */
	T(load("{\"upstreams\":[{\"name\":\"x\",\"base_url\":\"http://x\",\"default\":false}]}", &c, err,
	       sizeof err) == 0);
	T(c.upstreams[0].is_default == 1);
	config_free(&c);
	unsetenv("TOOLHOST_TEST_KEY");
}

struct bad_case {
	const char *json;
	const char *msg; /* must appear in the error */
};

static const struct bad_case bad[] = {
        {"{", "(json) line 1"},
        {"", "(json)"},
        {"[]", "(top level): must be an object"},
        {"{" UP ",\"log_level\":\"info\",\"log_level\":\"debug\"}", "duplicate"},
        /* Unknown keys, at every level. */
        {"{" UP ",\"bogus\":1}", "bogus: unknown key"},
        {"{" UP ",\"listen\":{\"udp\":{}}}", "listen.udp: unknown key"},
        {"{" UP ",\"listen\":{\"unix\":{\"owner\":1}}}", "listen.unix.owner: unknown key"},
        {"{" UP ",\"listen\":{\"tcp\":{\"host\":\"x\"}}}", "listen.tcp.host: unknown key"},
        {"{" UP "," KEY ",\"api_keys\":[{\"name\":\"a\",\"key\":\"k\",\"scope\":1}]}", "duplicate"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"k\",\"scope\":1}]}",
         "api_keys[0].scope: unknown key"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"api_key\":\"x\"}]}",
         "upstreams[0].api_key: unknown key"},
        {"{" UP ",\"store\":{\"dir\":\"/x\"}}", "store.dir: unknown key"},
        {"{" UP ",\"limits\":{\"max_fun\":1}}", "limits.max_fun: unknown key"},
        {"{" UP ",\"bad\\nkey\":1}", "bad?key: unknown key"},
        /* listen */
        {"{" UP ",\"listen\":[]}", "listen: must be an object"},
        {"{" UP ",\"listen\":{\"unix\":1}}", "listen.unix: must be an object"},
        {"{" UP ",\"listen\":{\"unix\":{\"path\":\"\"}}}", "listen.unix.path: must not be empty"},
        {"{" UP ",\"listen\":{\"unix\":{\"path\":5}}}", "listen.unix.path: must be a string"},
        {"{" UP
         ",\"listen\":{\"unix\":{\"path\":\"/tmp/0123456789012345678901234567890123456789012345678901234567"
         "890123456789012345678901234567890123456789.sock\"}}}",
         "listen.unix.path: longer than 107"},
        {"{" UP ",\"listen\":{\"unix\":{\"mode\":\"660\"}}}", "listen.unix.mode"},
        {"{" UP ",\"listen\":{\"unix\":{\"mode\":\"0500\"}}}", "listen.unix.mode"},
        {"{" UP ",\"listen\":{\"unix\":{\"mode\":\"0680\"}}}", "listen.unix.mode"},
        {"{" UP ",\"listen\":{\"unix\":{\"mode\":\"06600\"}}}", "listen.unix.mode"},
        {"{" UP ",\"listen\":{\"unix\":{\"mode\":432}}}", "listen.unix.mode: must be a string"},
        {"{" UP ",\"listen\":{\"unix\":{\"allow_uids\":1000}}}", "listen.unix.allow_uids: must be an array"},
        {"{" UP ",\"listen\":{\"unix\":{\"allow_uids\":[-1]}}}", "listen.unix.allow_uids[0]"},
        {"{" UP ",\"listen\":{\"unix\":{\"allow_gids\":[1,4294967295]}}}", "listen.unix.allow_gids[1]"},
        {"{" UP ",\"listen\":{\"unix\":{\"allow_gids\":[\"wheel\"]}}}", "listen.unix.allow_gids[0]"},
        {"{" UP
         ",\"listen\":{\"unix\":{\"allow_uids\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
         "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}}}",
         "listen.unix.allow_uids: at most 64"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"0.0.0.0\"}}}",
         "listen.tcp.address: must be a loopback"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"localhost\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"192.168.1.1\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"127.1\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"::\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"::ffff:127.0.0.1\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"address\":\"\"}}}", "listen.tcp.address"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"port\":0}}}", "listen.tcp.port"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"port\":65536}}}", "listen.tcp.port"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"port\":\"80\"}}}", "listen.tcp.port"},
        {"{" UP "," KEY ",\"listen\":{\"tcp\":{\"port\":80.0}}}", "listen.tcp.port"},
        {"{" UP ",\"listen\":{\"tcp\":{\"port\":8080}}}", "api_keys: at least one key is required"},
        {"{" UP ",\"api_keys\":[],\"listen\":{\"tcp\":{}}}", "api_keys: at least one key is required"},
        /* api_keys */
        {"{" UP ",\"api_keys\":{}}", "api_keys: must be an array"},
        {"{" UP ",\"api_keys\":[1]}", "api_keys[0]: must be an object"},
        {"{" UP ",\"api_keys\":[{\"key\":\"k\"}]}", "api_keys[0].name: required"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a b\",\"key\":\"k\"}]}", "api_keys[0].name"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\"}]}",
         "api_keys[0]: one of key_env, key_file or key is required"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"k\",\"key_env\":\"HOME\"}]}",
         "api_keys[0]: give only one"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"\"}]}", "api_keys[0].key: the key is empty"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":7}]}", "api_keys[0].key: must be a string"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_env\":\"\"}]}",
         "api_keys[0].key_env: must not be empty"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_env\":\"TOOLHOST_TEST_UNSET\"}]}",
         "api_keys[0].key_env: environment variable TOOLHOST_TEST_UNSET is not set"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"/nonexistent/key\"}]}",
         "api_keys[0].key_file: cannot open /nonexistent/key"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"/\"}]}",
         "api_keys[0].key_file: / is not a regular file"},
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"k\"},{\"name\":\"b\",\"key\":\"k\"}]}",
         "api_keys[1]: the same key as api_keys[0]"},
        /* upstreams */
        {"{}", "upstreams: at least one upstream is required"},
        {"{\"upstreams\":[]}", "upstreams: at least one upstream is required"},
        {"{\"upstreams\":{}}", "upstreams: must be an array"},
        {"{\"upstreams\":[\"hf\"]}", "upstreams[0]: must be an object"},
        {"{\"upstreams\":[{\"base_url\":\"http://a\"}]}", "upstreams[0].name: required"},
        {"{\"upstreams\":[{\"name\":\"a/b\",\"base_url\":\"http://a\"}]}", "upstreams[0].name"},
        {"{\"upstreams\":[{\"name\":\"\",\"base_url\":\"http://a\"}]}", "upstreams[0].name"},
        {"{\"upstreams\":[{\"name\":\"012345678901234567890123456789012\",\"base_url\":\"http://a\"}]}",
         "upstreams[0].name"},
        {"{\"upstreams\":[{\"name\":\"a\"}]}", "upstreams[0].base_url: required"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"ftp://a\"}]}",
         "upstreams[0].base_url: must start with http:// or https://"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"router.example/v1\"}]}",
         "upstreams[0].base_url: must start"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://\"}]}",
         "upstreams[0].base_url: has no host"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https:///v1\"}]}",
         "upstreams[0].base_url: has no host"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://a b\"}]}",
         "upstreams[0].base_url: must not contain"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://a\\r\\nX: y\"}]}", "upstreams[0].base_url"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"default\":1}]}",
         "upstreams[0].default: must be true or false"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"forward_caller_auth\":\"yes\"}]}",
         "upstreams[0].forward_caller_auth"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"default_model\":\"\"}]}",
         "upstreams[0].default_model: must not be empty"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://"
         "a\",\"api_key_env\":\"HOME\",\"api_key_file\":\"/x\"}]}",
         "upstreams[0]: give only one of api_key_env, api_key_file"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://"
         "a\",\"api_key_env\":\"TOOLHOST_TEST_UNSET\"}]}",
         "upstreams[0].api_key_env: environment variable TOOLHOST_TEST_UNSET is not set"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"api_key_file\":\"/nonexistent\"}]}",
         "upstreams[0].api_key_file: cannot open /nonexistent"},
        {"{" UP2 "}]}", "upstreams: with several upstreams exactly one must have \"default\": true"},
        {"{" UP2 ",\"default\":true},{\"name\":\"c\",\"base_url\":\"http://c\",\"default\":true}]}",
         "upstreams[2].default: upstreams[1] is already the default"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\"},{\"name\":\"a\",\"base_url\":\"http://"
         "b\"}]}",
         "upstreams[1].name: \"a\" is already the name of upstreams[0]"},
        /* store, limits, log_level */
        {"{" UP ",\"store\":{\"path\":\"\"}}", "store.path: must not be empty"},
        {"{" UP ",\"store\":\"/x\"}", "store: must be an object"},
        {"{" UP ",\"limits\":[]}", "limits: must be an object"},
        {"{" UP ",\"limits\":{\"max_body_bytes\":1023}}",
         "limits.max_body_bytes: must be an integer from 1024"},
        {"{" UP ",\"limits\":{\"max_body_bytes\":1073741825}}", "limits.max_body_bytes"},
        {"{" UP ",\"limits\":{\"max_header_bytes\":0}}", "limits.max_header_bytes"},
        {"{" UP ",\"limits\":{\"header_timeout_s\":0}}",
         "limits.header_timeout_s: must be an integer from 1 to 86400"},
        {"{" UP ",\"limits\":{\"request_timeout_s\":86401}}", "limits.request_timeout_s"},
        {"{" UP ",\"limits\":{\"upstream_connect_timeout_s\":-1}}", "limits.upstream_connect_timeout_s"},
        {"{" UP ",\"limits\":{\"upstream_idle_timeout_s\":1.5}}", "limits.upstream_idle_timeout_s"},
        {"{" UP ",\"limits\":{\"keepalive_s\":\"15\"}}", "limits.keepalive_s"},
        {"{" UP ",\"limits\":{\"drain_timeout_s\":null}}", "limits.drain_timeout_s"},
        {"{" UP ",\"limits\":{\"max_upstream_event_bytes\":100}}", "limits.max_upstream_event_bytes"},
        {"{" UP ",\"limits\":{\"max_output_bytes\":99999999999999}}", "limits.max_output_bytes"},
        {"{" UP ",\"limits\":{\"max_connections\":0}}", "limits.max_connections"},
        {"{" UP ",\"log_level\":\"verbose\"}", "log_level: must be one of"},
        {"{" UP ",\"log_level\":6}", "log_level: must be one of"},
};

static void
test_bad(void)
{
	struct config c;
	char err[256];
	size_t i;
	int rc;

	unsetenv("TOOLHOST_TEST_UNSET");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&c, 0x5a, sizeof c);
		err[0] = 'x';
		err[1] = '\0';
		rc = load(bad[i].json, &c, err, sizeof err);
		if (rc != -1 || strstr(err, bad[i].msg) == NULL) {
			printf("bad[%zu] %s: rc %d, err \"%s\", want \"%s\"\n", i, bad[i].json, rc, err,
			       bad[i].msg);
			T(0);
		} else {
			T(1);
		}
		/* On error nothing is left to free, and freeing is harmless. */
		T(c.unix_path == NULL && c.upstreams == NULL && c.api_keys == NULL);
		config_free(&c);
	}
	/* No room for a message, or a short one: still an error, never an overflow. */
	T(load("{}", &c, NULL, 0) == -1);
	T(load("{}", &c, err, 8) == -1);
	T(strlen(err) == 7);
}

/* Keys from the environment and from files; secrets never appear in a message. */
static void
test_secrets(void)
{
	struct config c;
	char err[512], json[1024], big[5000];
	const char *f;

	/* A secret's source is named, its value never. */
	setenv("TOOLHOST_TEST_KEY", "env-SECRET-value", 1);
	T(load("{\"api_keys\":[{\"name\":\"a\",\"key_env\":\"TOOLHOST_TEST_KEY\"},{\"name\":\"b\",\"key_"
	       "env\":"
	       "\"TOOLHOST_TEST_KEY\"}]," UP "}",
	       &c, err, sizeof err) == -1);
	T(strstr(err, "api_keys[1]: the same key as api_keys[0]") != NULL);
	T(strstr(err, "SECRET") == NULL);
	setenv("TOOLHOST_TEST_KEY", "", 1);
	T(load("{\"api_keys\":[{\"name\":\"a\",\"key_env\":\"TOOLHOST_TEST_KEY\"}]," UP "}", &c, err,
	       sizeof err) == -1);
	T_STREQ(err, "api_keys[0].key_env: environment variable TOOLHOST_TEST_KEY is empty");
	setenv("TOOLHOST_TEST_KEY", "SECRET\r\nX-Injected: 1", 1);
	T(load("{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_env\":\"TOOLHOST_TEST_KEY\"}]}", &c, err,
	       sizeof err) == -1);
	T_STREQ(err,
	        "api_keys[0].key_env: environment variable TOOLHOST_TEST_KEY contains control characters");
	unsetenv("TOOLHOST_TEST_KEY");

	/* A literal key next to a syntax error: jansson's "near '...'" quote is dropped. */
	T(load("{\"api_keys\":[{\"name\":\"a\",\"key\":\"lit-SECRET", &c, err, sizeof err) == -1);
	T(strstr(err, "(json) line 1") != NULL);
	T(strstr(err, "SECRET") == NULL);
	T(load("{\"api_keys\":[{\"name\":\"a\",\"key\":\"lit-SECRET\" \"x\"}]}", &c, err, sizeof err) == -1);
	T(strstr(err, "SECRET") == NULL);
	T(load("{\"api_keys\":[{\"name\":\"a\",\"key\":\"lit-SECRET\"}],\"upstreams\":[{\"name\":\"a\","
	       "\"base_url\":"
	       "\"ftp://u:SECRET@x\"}]}",
	       &c, err, sizeof err) == -1);
	T(strstr(err, "upstreams[0].base_url") != NULL);
	T(strstr(err, "SECRET") == NULL);
	T(load("{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"SECRET\\u0001\"}]}", &c, err, sizeof err) ==
	  -1);
	T_STREQ(err, "api_keys[0].key: the key contains control characters");

	/* Key files: trailing newline trimmed; empty, newline-only, control characters, too big. */
	f = tmpfile_with("file-SECRET\n", 12);
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == 0);
	T_STREQ(c.api_keys[0].key, "file-SECRET");
	config_free(&c);

	f = tmpfile_with("", 0);
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "api_keys[0].key_file: ") == err && strstr(err, f) && strstr(err, "is empty"));

	f = tmpfile_with("\r\n\n", 3);
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "is empty") != NULL);

	f = tmpfile_with("SECRET\nline2\n", 13);
	snprintf(json, sizeof json,
	         "{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"api_key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "upstreams[0].api_key_file: ") == err && strstr(err, "contains control characters"));
	T(strstr(err, "SECRET") == NULL);

	memset(big, 'S', sizeof big);
	f = tmpfile_with(big, 4097);
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "larger than 4096 bytes") != NULL);
	T(strstr(err, "SSSS") == NULL);
	f = tmpfile_with(big, 4096);
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"a\",\"key_file\":\"%s\"}]}", f);
	T(load(json, &c, err, sizeof err) == 0);
	T(c.n_api_keys == 1 && strlen(c.api_keys[0].key) == 4096);
	config_free(&c);
}

static void
test_file(void)
{
	struct config c;
	char err[256];
	const char *f;
	static const char good[] =
	        "{\n  \"upstreams\": [ { \"name\": \"hf\", \"base_url\": \"https://h/v1\" } ],\n"
	        "  \"log_level\": \"warning\"\n}\n";

	f = tmpfile_with(good, strlen(good));
	T(config_load_file(f, &c, err, sizeof err) == 0);
	T(c.log_level == LOG_LVL_WARNING);
	T_STREQ(c.upstreams[0].base_url, "https://h/v1");
	config_free(&c);

	T(config_load_file("/nonexistent/toolhost.json", &c, err, sizeof err) == -1);
	T(strstr(err, "/nonexistent/toolhost.json: cannot open") != NULL);
	T(c.unix_path == NULL);
	T(config_load_file("/", &c, err, sizeof err) == -1);
	T(strstr(err, "not a regular file") != NULL);

	f = tmpfile_with("{\n\"upstreams\": [],\n", 19);
	T(config_load_file(f, &c, err, sizeof err) == -1);
	T(strstr(err, "(json) line") != NULL);
}

int
main(void)
{
	int i;

	test_defaults();
	test_minimal();
	test_full();
	test_bad();
	test_secrets();
	test_file();
	for (i = 0; i < ntmpfiles; i++)
		unlink(tmpfiles[i]);
	return T_DONE();
}
