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

static char tmpfiles[32][64];
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
	T(c.limits.body_timeout_s == 30);
	T(c.limits.min_body_rate_bytes_s == 1024);
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
	T(c.upstreams[0].http2 == 0 && c.upstreams[0].ca_file == NULL);
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
	         "\"default_model\":\"org/"
	         "model\",\"http2\":true,\"ca_file\":\"%s\"},{\"name\":\"local\",\"base_url\":\"http://"
	         "127.0.0.1:8000/"
	         "v1\","
	         "\"api_key_env\":\"TOOLHOST_TEST_KEY\",\"default\":true,\"forward_caller_auth\":true}],"
	         "\"store\":{\"path\":\":memory:\"},"
	         "\"limits\":{\"max_body_bytes\":1024,\"max_header_bytes\":1048576,\"header_timeout_s\":1,"
	         "\"body_timeout_s\":86400,\"min_body_rate_bytes_s\":0,"
	         "\"request_timeout_s\":86400,\"upstream_connect_timeout_s\":2,\"upstream_idle_timeout_s\":3,"
	         "\"keepalive_s\":4,\"drain_timeout_s\":5,\"max_upstream_event_bytes\":2048,"
	         "\"max_output_bytes\":1073741824,\"max_connections\":7},"
	         "\"log_level\":\"debug\"}",
	         kf, uf, kf);
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
	T(c.upstreams[0].http2 == 1);
	T_STREQ(c.upstreams[0].ca_file, kf);
	T_STREQ(c.upstreams[1].api_key, "env-secret");
	T(c.upstreams[1].is_default == 1 && c.upstreams[1].forward_caller_auth == 1);
	T(config_upstream_find(&c, NULL) == &c.upstreams[1]);
	T(config_upstream_find(&c, "hf") == &c.upstreams[0]);
	T_STREQ(c.store_path, ":memory:");
	T(c.limits.max_body_bytes == 1024 && c.limits.max_header_bytes == 1048576);
	T(c.limits.header_timeout_s == 1 && c.limits.request_timeout_s == 86400);
	T(c.limits.body_timeout_s == 86400 && c.limits.min_body_rate_bytes_s == 0);
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
        {"{" UP ",\"api_keys\":[{\"name\":\"a\",\"key\":\"k1\"},{\"name\":\"a\",\"key\":\"k2\"}]}",
         "api_keys[1].name: the same name as api_keys[0]"},
        {"{" UP ",\"api_keys\":[{\"name\":\"ab12345678901234567890123456789012345678901234567890123456789012"
         "3\",\"key\":\"k\"}]}",
         "api_keys[0].name: required, 1 to 64"},
        /* operators */
        {"{" UP ",\"operators\":[0]}", "operators: must be an object"},
        {"{" UP ",\"operators\":{\"users\":[0]}}", "operators.users: unknown key"},
        {"{" UP ",\"operators\":{\"uids\":0}}", "operators.uids: must be an array"},
        {"{" UP ",\"operators\":{\"uids\":[\"root\"]}}", "operators.uids[0]"},
        {"{" UP ",\"operators\":{\"uids\":[0,-1]}}", "operators.uids[1]"},
        {"{" UP ",\"operators\":{\"gids\":[4294967295]}}", "operators.gids[0]"},
        {"{" UP ",\"operators\":{\"gids\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
         "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}}",
         "operators.gids: at most 64"},
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
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://a\",\"http2\":\"yes\"}]}",
         "upstreams[0].http2: must be true or false"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"http://a\",\"http2\":true}]}",
         "upstreams[0].http2: needs an https:// base_url"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://a\",\"ca_file\":\"/nonexistent/ca.pem\"}]}",
         "upstreams[0].ca_file: cannot read /nonexistent/ca.pem"},
        {"{\"upstreams\":[{\"name\":\"a\",\"base_url\":\"https://a\",\"ca_file\":7}]}",
         "upstreams[0].ca_file"},
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
        {"{" UP ",\"limits\":{\"body_timeout_s\":0}}",
         "limits.body_timeout_s: must be an integer from 1 to 86400"},
        {"{" UP ",\"limits\":{\"body_timeout_s\":86401}}", "limits.body_timeout_s"},
        {"{" UP ",\"limits\":{\"min_body_rate_bytes_s\":-1}}", "limits.min_body_rate_bytes_s"},
        {"{" UP ",\"limits\":{\"min_body_rate_bytes_s\":1073741825}}", "limits.min_body_rate_bytes_s"},
        {"{" UP ",\"limits\":{\"min_body_rate_bytes_s\":\"1k\"}}", "limits.min_body_rate_bytes_s"},
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

/* ---- MCP: the "mcp" settings and "mcp_servers" ---- */

#define MS(body)   "{" UP ",\"mcp_servers\":[" body "]}"
#define MS1(extra) MS("{\"label\":\"docs\",\"url\":\"https://mcp.example/mcp\"" extra "}")

static void
test_mcp_defaults(void)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	T(c.mcp.connect_timeout_ms == 5000);
	T(c.mcp.request_timeout_ms == 60000);
	T(c.mcp.idle_evict_s == 300);
	T(c.mcp.ping_after_idle_s == 60);
	T(c.mcp.cache_ttl_s == 60);
	T(c.mcp.max_message_bytes == (size_t)8 * 1024 * 1024);
	T(c.mcp.max_pages == 100);
	T(c.mcp_servers == NULL && c.n_mcp_servers == 0);
	config_free(&c);

	/* Loading without any MCP key keeps the same defaults. */
	T(load("{" UP "}", &c, err, sizeof err) == 0);
	T(c.mcp.connect_timeout_ms == 5000 && c.mcp.request_timeout_ms == 60000);
	T(c.mcp.idle_evict_s == 300 && c.mcp.ping_after_idle_s == 60 && c.mcp.cache_ttl_s == 60);
	T(c.mcp.max_message_bytes == (size_t)8 * 1024 * 1024 && c.mcp.max_pages == 100);
	T(c.mcp_servers == NULL && c.n_mcp_servers == 0);
	T(config_mcp_server_find(&c, "docs") == NULL);
	config_free(&c);

	/* An empty object and an empty list are fine too. */
	T(load("{" UP ",\"mcp\":{},\"mcp_servers\":[]}", &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.mcp.cache_ttl_s == 60 && c.n_mcp_servers == 0);
	config_free(&c);
}

/* Every mcp key at both ends of its range is accepted and stored. */
static void
test_mcp_bounds(void)
{
	struct config c;
	char err[256];

	T(load("{" UP ",\"mcp\":{\"connect_timeout_ms\":100,\"request_timeout_ms\":100,\"idle_evict_s\":1,"
	       "\"ping_after_idle_s\":1,\"cache_ttl_s\":0,\"max_message_bytes\":1024,\"max_pages\":1}}",
	       &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.mcp.connect_timeout_ms == 100 && c.mcp.request_timeout_ms == 100);
	T(c.mcp.idle_evict_s == 1 && c.mcp.ping_after_idle_s == 1);
	T(c.mcp.cache_ttl_s == 0);
	T(c.mcp.max_message_bytes == 1024 && c.mcp.max_pages == 1);
	config_free(&c);

	T(load("{" UP ",\"mcp\":{\"connect_timeout_ms\":600000,\"request_timeout_ms\":86400000,"
	       "\"idle_evict_s\":86400,\"ping_after_idle_s\":86400,\"cache_ttl_s\":86400,"
	       "\"max_message_bytes\":1073741824,\"max_pages\":10000}}",
	       &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.mcp.connect_timeout_ms == 600000 && c.mcp.request_timeout_ms == 86400000);
	T(c.mcp.idle_evict_s == 86400 && c.mcp.ping_after_idle_s == 86400 && c.mcp.cache_ttl_s == 86400);
	T(c.mcp.max_message_bytes == (size_t)1024 * 1024 * 1024 && c.mcp.max_pages == 10000);
	config_free(&c);
}

static const struct bad_case bad_mcp[] = {
        /* The "mcp" object: out of range at both ends, wrong types, unknown keys. */
        {"{" UP ",\"mcp\":[]}", "mcp: must be an object"},
        {"{" UP ",\"mcp\":5}", "mcp: must be an object"},
        {"{" UP ",\"mcp\":{\"bogus\":1}}", "mcp.bogus: unknown key"},
        {"{" UP ",\"mcp\":{\"cache_ttl\":60}}", "mcp.cache_ttl: unknown key"},
        {"{" UP ",\"mcp\":{\"connect_timeout_ms\":99}}",
         "mcp.connect_timeout_ms: must be an integer from 100 to 600000"},
        {"{" UP ",\"mcp\":{\"connect_timeout_ms\":600001}}", "mcp.connect_timeout_ms"},
        {"{" UP ",\"mcp\":{\"connect_timeout_ms\":\"5000\"}}", "mcp.connect_timeout_ms"},
        {"{" UP ",\"mcp\":{\"request_timeout_ms\":99}}",
         "mcp.request_timeout_ms: must be an integer from 100 to 86400000"},
        {"{" UP ",\"mcp\":{\"request_timeout_ms\":86400001}}", "mcp.request_timeout_ms"},
        {"{" UP ",\"mcp\":{\"request_timeout_ms\":1000.5}}", "mcp.request_timeout_ms"},
        {"{" UP ",\"mcp\":{\"idle_evict_s\":0}}", "mcp.idle_evict_s: must be an integer from 1 to 86400"},
        {"{" UP ",\"mcp\":{\"idle_evict_s\":86401}}", "mcp.idle_evict_s"},
        {"{" UP ",\"mcp\":{\"ping_after_idle_s\":0}}",
         "mcp.ping_after_idle_s: must be an integer from 1 to 86400"},
        {"{" UP ",\"mcp\":{\"ping_after_idle_s\":86401}}", "mcp.ping_after_idle_s"},
        {"{" UP ",\"mcp\":{\"cache_ttl_s\":-1}}", "mcp.cache_ttl_s: must be an integer from 0 to 86400"},
        {"{" UP ",\"mcp\":{\"cache_ttl_s\":86401}}", "mcp.cache_ttl_s"},
        {"{" UP ",\"mcp\":{\"cache_ttl_s\":null}}", "mcp.cache_ttl_s"},
        {"{" UP ",\"mcp\":{\"max_message_bytes\":1023}}",
         "mcp.max_message_bytes: must be an integer from 1024 to 1073741824"},
        {"{" UP ",\"mcp\":{\"max_message_bytes\":1073741825}}", "mcp.max_message_bytes"},
        {"{" UP ",\"mcp\":{\"max_pages\":0}}", "mcp.max_pages: must be an integer from 1 to 10000"},
        {"{" UP ",\"mcp\":{\"max_pages\":10001}}", "mcp.max_pages"},
        {"{" UP ",\"mcp\":{\"max_pages\":true}}", "mcp.max_pages"},
        /* The list itself. */
        {"{" UP ",\"mcp_servers\":{}}", "mcp_servers: must be an array"},
        {"{" UP ",\"mcp_servers\":\"docs\"}", "mcp_servers: must be an array"},
        {MS("1"), "mcp_servers[0]: must be an object"},
        {MS1(",\"bogus\":1"), "mcp_servers[0].bogus: unknown key"},
        {MS1(",\"Headers\":{}"), "mcp_servers[0].Headers: unknown key"},
        /* label */
        {MS("{\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label: required"},
        {MS("{\"label\":\"\",\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label: required"},
        {MS("{\"label\":7,\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label: must be a string"},
        {MS("{\"label\":\"a b\",\"url\":\"https://mcp.example/mcp\"}"),
         "mcp_servers[0].label: required, 1 to 64"},
        {MS("{\"label\":\"a.b\",\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label"},
        {MS("{\"label\":\"a/b\",\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label"},
        {MS("{\"label\":\"a:b\",\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label"},
        {MS("{\"label\":\"\\u00e9\",\"url\":\"https://mcp.example/mcp\"}"), "mcp_servers[0].label"},
        {MS("{\"label\":\"01234567890123456789012345678901234567890123456789012345678901234\",\"url\":"
            "\"https://mcp.example/mcp\"}"),
         "mcp_servers[0].label: required, 1 to 64"},
        {MS("{\"label\":\"a\",\"url\":\"http://a\"},{\"label\":\"b\",\"url\":\"http://b\"},{\"label\":\"a\","
            "\"url\":\"http://c\"}"),
         "mcp_servers[2].label: \"a\" is already the label of mcp_servers[0]"},
        {MS("{\"label\":\"x\",\"url\":\"http://a\"},{\"label\":\"x\",\"url\":\"http://a\"}"),
         "mcp_servers[1].label: \"x\" is already the label of mcp_servers[0]"},
        {MS("{\"label\":\"ok\",\"url\":\"http://a\"},{\"label\":\"b c\",\"url\":\"http://b\"}"),
         "mcp_servers[1].label"},
        /* url */
        {MS("{\"label\":\"docs\"}"), "mcp_servers[0].url: required"},
        {MS("{\"label\":\"docs\",\"url\":5}"), "mcp_servers[0].url: must be a string"},
        {MS("{\"label\":\"docs\",\"url\":\"ftp://mcp.example/mcp\"}"),
         "mcp_servers[0].url: must start with http:// or https://"},
        {MS("{\"label\":\"docs\",\"url\":\"ws://mcp.example/mcp\"}"), "mcp_servers[0].url: must start with"},
        {MS("{\"label\":\"docs\",\"url\":\"mcp.example/mcp\"}"), "mcp_servers[0].url: must start with"},
        {MS("{\"label\":\"docs\",\"url\":\"\"}"), "mcp_servers[0].url: must start with"},
        {MS("{\"label\":\"docs\",\"url\":\"http://\"}"), "mcp_servers[0].url: has no host"},
        {MS("{\"label\":\"docs\",\"url\":\"https:///mcp\"}"), "mcp_servers[0].url: has no host"},
        {MS("{\"label\":\"docs\",\"url\":\"https://mcp.example/my mcp\"}"),
         "mcp_servers[0].url: must not contain spaces or control characters"},
        {MS("{\"label\":\"docs\",\"url\":\"https://mcp example/mcp\"}"),
         "mcp_servers[0].url: must not contain"},
        {MS("{\"label\":\"docs\",\"url\":\"https://mcp.example/mcp\\r\\nX-Evil: 1\"}"),
         "mcp_servers[0].url: must not contain"},
        {MS("{\"label\":\"ok\",\"url\":\"http://a\"},{\"label\":\"two\",\"url\":\"gopher://b\"}"),
         "mcp_servers[1].url: must start with"},
        /* headers */
        {MS1(",\"headers\":[]"), "mcp_servers[0].headers: must be an object"},
        {MS1(",\"headers\":\"X-A: 1\""), "mcp_servers[0].headers: must be an object"},
        {MS1(",\"headers\":{\"Bad Header\":\"v\"}"),
         "mcp_servers[0].headers.Bad Header: not a valid header name"},
        {MS1(",\"headers\":{\"X-A:\":\"v\"}"), "mcp_servers[0].headers.X-A:: not a valid header name"},
        {MS1(",\"headers\":{\"\":\"v\"}"), "not a valid header name"},
        {MS1(",\"headers\":{\"X-A\":1}"), "mcp_servers[0].headers.X-A: must be a string"},
        {MS1(",\"headers\":{\"X-A\":null}"), "mcp_servers[0].headers.X-A: must be a string"},
        {MS1(",\"headers\":{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":\"1\",\"e\":\"1\",\"f\":\"1\",\"g\":"
             "\"1\","
             "\"h\":\"1\",\"i\":\"1\",\"j\":\"1\",\"k\":\"1\",\"l\":\"1\",\"m\":\"1\",\"n\":\"1\",\"o\":"
             "\"1\","
             "\"p\":\"1\",\"q\":\"1\",\"r\":\"1\",\"s\":\"1\",\"t\":\"1\",\"u\":\"1\",\"v\":\"1\",\"w\":"
             "\"1\","
             "\"x\":\"1\",\"y\":\"1\",\"z\":\"1\",\"A\":\"1\",\"B\":\"1\",\"C\":\"1\",\"D\":\"1\",\"E\":"
             "\"1\","
             "\"F\":\"1\",\"G\":\"1\"}"),
         "mcp_servers[0].headers: must be an object of at most 32"},
        /* bearer_* */
        {MS1(",\"bearer\":\"a\",\"bearer_env\":\"HOME\""),
         "mcp_servers[0]: give only one of bearer_env, bearer_file, bearer"},
        {MS1(",\"bearer_file\":\"/x\",\"bearer_env\":\"HOME\""), "mcp_servers[0]: give only one of"},
        {MS1(",\"bearer_file\":\"/x\",\"bearer\":\"t\""), "mcp_servers[0]: give only one of"},
        {MS1(",\"bearer_env\":\"TOOLHOST_TEST_UNSET\""),
         "mcp_servers[0].bearer_env: environment variable TOOLHOST_TEST_UNSET is not set"},
        {MS1(",\"bearer_env\":\"\""), "mcp_servers[0].bearer_env: must not be empty"},
        {MS1(",\"bearer_file\":\"/nonexistent/token\""),
         "mcp_servers[0].bearer_file: cannot open /nonexistent/token"},
        {MS1(",\"bearer_file\":\"/\""), "mcp_servers[0].bearer_file: / is not a regular file"},
        {MS1(",\"bearer\":\"\""), "mcp_servers[0].bearer: the key is empty"},
        {MS1(",\"bearer\":7"), "mcp_servers[0].bearer: must be a string"},
        /* timeout_ms, cache_ttl_s */
        {MS1(",\"timeout_ms\":99"), "mcp_servers[0].timeout_ms: must be an integer from 100 to 86400000"},
        {MS1(",\"timeout_ms\":86400001"), "mcp_servers[0].timeout_ms"},
        {MS1(",\"timeout_ms\":0"), "mcp_servers[0].timeout_ms"},
        {MS1(",\"timeout_ms\":\"1000\""), "mcp_servers[0].timeout_ms"},
        {MS1(",\"cache_ttl_s\":-1"), "mcp_servers[0].cache_ttl_s: must be an integer from 0 to 86400"},
        {MS1(",\"cache_ttl_s\":86401"), "mcp_servers[0].cache_ttl_s"},
        {MS1(",\"cache_ttl_s\":1.5"), "mcp_servers[0].cache_ttl_s"},
};

static void
test_mcp_bad(void)
{
	struct config c;
	char err[256];
	size_t i;
	int rc;

	unsetenv("TOOLHOST_TEST_UNSET");
	for (i = 0; i < sizeof bad_mcp / sizeof bad_mcp[0]; i++) {
		memset(&c, 0x5a, sizeof c);
		err[0] = 'x';
		err[1] = '\0';
		rc = load(bad_mcp[i].json, &c, err, sizeof err);
		if (rc != -1 || strstr(err, bad_mcp[i].msg) == NULL) {
			printf("bad_mcp[%zu] %s: rc %d, err \"%s\", want \"%s\"\n", i, bad_mcp[i].json, rc,
			       err, bad_mcp[i].msg);
			T(0);
		} else {
			T(1);
		}
		T(c.unix_path == NULL && c.mcp_servers == NULL && c.n_mcp_servers == 0);
		config_free(&c);
	}
}

/* A good server list: every field, and what is stored. */
static void
test_mcp_servers(void)
{
	struct config c;
	char err[256];
	char label64[65];
	char json[1024];
	const struct config_mcp_server *s;

	T(load(MS("{\"label\":\"docs\",\"url\":\"https://mcp.example/mcp/"
	          "\",\"headers\":{\"X-Api-Key\":\"hv-1\","
	          "\"x-trace\":\"on\"},\"timeout_ms\":100,\"cache_ttl_s\":86400},"
	          "{\"label\":\"Local_2-b\",\"url\":\"HTTP://127.0.0.1:9000/"
	          "mcp?x=1\",\"timeout_ms\":86400000,"
	          "\"cache_ttl_s\":0},"
	          "{\"label\":\"plain\",\"url\":\"http://p\",\"cache_ttl_s\":1}"),
	       &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.n_mcp_servers == 3);
	s = &c.mcp_servers[0];
	T_STREQ(s->label, "docs");
	T_STREQ(s->url, "https://mcp.example/mcp/");
	T(s->headers != NULL && s->headers[0] && s->headers[1] && s->headers[2] == NULL);
	if (s->headers && s->headers[0] && s->headers[1]) {
		T_STREQ(s->headers[0], "X-Api-Key: hv-1");
		T_STREQ(s->headers[1], "x-trace: on");
	}
	T(s->timeout_ms == 100);
	T(s->cache_ttl_s == 86400);
	s = &c.mcp_servers[1];
	T_STREQ(s->label, "Local_2-b");
	T_STREQ(s->url, "HTTP://127.0.0.1:9000/mcp?x=1");
	T(s->timeout_ms == 86400000);
	/* 0 in the file: never cached, stored as -1 (0 would mean "the client's default"). */
	T(s->cache_ttl_s == -1);
	T(s->headers == NULL || s->headers[0] == NULL);
	s = &c.mcp_servers[2];
	T(s->cache_ttl_s == 1);
	T(s->timeout_ms == 0); /* absent: mcp.request_timeout_ms */
	T(s->headers == NULL || s->headers[0] == NULL);

	T(config_mcp_server_find(&c, "docs") == &c.mcp_servers[0]);
	T(config_mcp_server_find(&c, "Local_2-b") == &c.mcp_servers[1]);
	T(config_mcp_server_find(&c, "plain") == &c.mcp_servers[2]);
	T(config_mcp_server_find(&c, "nope") == NULL);
	T(config_mcp_server_find(&c, "DOCS") == NULL);
	T(config_mcp_server_find(&c, "doc") == NULL);
	T(config_mcp_server_find(&c, "") == NULL);
	T(config_mcp_server_find(&c, NULL) == NULL);
	config_free(&c);
	config_free(&c);

	/* Absent timeout_ms / cache_ttl_s: 0, the client's defaults. */
	T(load(MS1(""), &c, err, sizeof err) == 0);
	T(c.n_mcp_servers == 1 && c.mcp_servers[0].timeout_ms == 0 && c.mcp_servers[0].cache_ttl_s == 0);
	config_free(&c);

	/* A label of exactly 64 characters is fine. */
	memset(label64, 'L', 64);
	label64[64] = '\0';
	snprintf(json, sizeof json, MS("{\"label\":\"%s\",\"url\":\"http://a\"}"), label64);
	T(load(json, &c, err, sizeof err) == 0);
	T(c.n_mcp_servers == 1 && c.mcp_servers[0].label && strlen(c.mcp_servers[0].label) == 64);
	T(config_mcp_server_find(&c, label64) == &c.mcp_servers[0]);
	config_free(&c);

	/* Several servers may share a URL (e.g. with different credentials). */
	T(load(MS("{\"label\":\"a\",\"url\":\"http://same\"},{\"label\":\"b\",\"url\":\"http://same\"}"), &c,
	       err, sizeof err) == 0);
	T(c.n_mcp_servers == 2);
	config_free(&c);
}

/* The three ways of giving a bearer token, and secrets kept out of every message. */
static void
test_mcp_secrets(void)
{
	struct config c;
	char err[512], json[1024];
	const char *f;
	char **h;

	/* A literal. */
	T(load(MS1(",\"bearer\":\"lit-TOKEN-1\""), &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.mcp_servers[0].headers != NULL);
	if (c.mcp_servers[0].headers) {
		T_STREQ(c.mcp_servers[0].headers[0], "Authorization: Bearer lit-TOKEN-1");
		T(c.mcp_servers[0].headers[1] == NULL);
	}
	config_free(&c);

	/* From the environment. */
	setenv("TOOLHOST_TEST_MCP_TOKEN", "env-TOKEN-2", 1);
	T(load(MS1(",\"bearer_env\":\"TOOLHOST_TEST_MCP_TOKEN\""), &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	if (c.mcp_servers && c.mcp_servers[0].headers) {
		T_STREQ(c.mcp_servers[0].headers[0], "Authorization: Bearer env-TOKEN-2");
		T(c.mcp_servers[0].headers[1] == NULL);
	} else {
		T(0);
	}
	config_free(&c);

	/* From a file: the trailing line break goes. */
	f = tmpfile_with("file-TOKEN-3\n", 13);
	snprintf(json, sizeof json, MS1(",\"bearer_file\":\"%s\""), f);
	T(load(json, &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	if (c.mcp_servers && c.mcp_servers[0].headers) {
		T_STREQ(c.mcp_servers[0].headers[0], "Authorization: Bearer file-TOKEN-3");
		T(c.mcp_servers[0].headers[1] == NULL);
	} else {
		T(0);
	}
	config_free(&c);

	/* Next to other headers: every line kept, the Authorization line added once, NULL-terminated. */
	T(load(MS1(",\"headers\":{\"X-A\":\"1\",\"X-B\":\"two words\"},\"bearer\":\"lit-TOKEN-4\""), &c, err,
	       sizeof err) == 0);
	if (c.mcp_servers && c.mcp_servers[0].headers) {
		int n = 0, auth = 0;

		for (h = c.mcp_servers[0].headers; *h; h++, n++)
			auth += strcmp(*h, "Authorization: Bearer lit-TOKEN-4") == 0;
		T(n == 3);
		T(auth == 1);
		T_STREQ(c.mcp_servers[0].headers[0], "X-A: 1");
		T_STREQ(c.mcp_servers[0].headers[1], "X-B: two words");
	} else {
		T(0);
	}
	config_free(&c);

	/* An Authorization header alone is allowed (the operator's own scheme). */
	T(load(MS1(",\"headers\":{\"Authorization\":\"Basic abc\"}"), &c, err, sizeof err) == 0);
	if (c.mcp_servers && c.mcp_servers[0].headers)
		T_STREQ(c.mcp_servers[0].headers[0], "Authorization: Basic abc");
	config_free(&c);

	/* bearer_* and headers.Authorization together: an error naming the server, never a value. */
	T(load(MS1(",\"headers\":{\"Authorization\":\"Bearer hdr-SECRET-a\"},\"bearer\":\"lit-SECRET-b\""),
	       &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0]") == err);
	T(strstr(err, "Authorization") != NULL);
	T(strstr(err, "SECRET") == NULL);
	T(c.mcp_servers == NULL);
	/* Any case of the header name. */
	T(load(MS1(",\"headers\":{\"authorization\":\"Bearer hdr-SECRET-a\"},\"bearer_env\":"
	           "\"TOOLHOST_TEST_MCP_TOKEN\""),
	       &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0]") == err);
	T(strstr(err, "SECRET") == NULL && strstr(err, "TOKEN-2") == NULL);
	snprintf(json, sizeof json,
	         MS1(",\"headers\":{\"AUTHORIZATION\":\"x-SECRET\"},\"bearer_file\":\"%s\""), f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0]") == err);
	T(strstr(err, "SECRET") == NULL && strstr(err, "TOKEN-3") == NULL);

	/* A header value with a line break: an error naming the header, not the value. */
	T(load(MS1(",\"headers\":{\"X-Api-Key\":\"hv-SECRET\\r\\nX-Injected: 1\"}"), &c, err, sizeof err) ==
	  -1);
	T(strstr(err, "mcp_servers[0].headers.X-Api-Key") == err);
	T(strstr(err, "control characters") != NULL);
	T(strstr(err, "SECRET") == NULL && strstr(err, "Injected") == NULL);
	T(load(MS1(",\"headers\":{\"X-Api-Key\":\"hv-SECRET\\n\"}"), &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0].headers.X-Api-Key") == err);
	T(strstr(err, "SECRET") == NULL);
	/* A NUL: jansson refuses it already (no "near" quote of the value). */
	T(load(MS1(",\"headers\":{\"X-Api-Key\":\"hv-SECRET\\u0000x\"}"), &c, err, sizeof err) == -1);
	T(strstr(err, "SECRET") == NULL);
	T(load(MS1(",\"headers\":{\"X-Api-Key\":\"hv-SECRET\\u007f\"}"), &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0].headers.X-Api-Key") == err);
	T(strstr(err, "SECRET") == NULL);
	/* A bad header name next to a secret value. */
	T(load(MS1(",\"headers\":{\"Bad Header\":\"hv-SECRET\"}"), &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_servers[0].headers.Bad Header: not a valid header name");

	/* Tokens with a line break, from each source: named by source, never quoted. */
	T(load(MS1(",\"bearer\":\"lit-SECRET\\r\\nX-Injected: 1\""), &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_servers[0].bearer: the key contains control characters");
	setenv("TOOLHOST_TEST_MCP_TOKEN", "env-SECRET\nX-Injected: 1", 1);
	T(load(MS1(",\"bearer_env\":\"TOOLHOST_TEST_MCP_TOKEN\""), &c, err, sizeof err) == -1);
	T_STREQ(err,
	        "mcp_servers[0].bearer_env: environment variable TOOLHOST_TEST_MCP_TOKEN contains control "
	        "characters");
	setenv("TOOLHOST_TEST_MCP_TOKEN", "", 1);
	T(load(MS1(",\"bearer_env\":\"TOOLHOST_TEST_MCP_TOKEN\""), &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_servers[0].bearer_env: environment variable TOOLHOST_TEST_MCP_TOKEN is empty");
	f = tmpfile_with("file-SECRET\nline2\n", 18);
	snprintf(json, sizeof json, MS1(",\"bearer_file\":\"%s\""), f);
	T(load(json, &c, err, sizeof err) == -1);
	T(strstr(err, "mcp_servers[0].bearer_file: ") == err && strstr(err, "contains control characters"));
	T(strstr(err, "SECRET") == NULL);

	/* An unset variable: the message names the variable (and no value). */
	setenv("TOOLHOST_TEST_MCP_TOKEN", "env-SECRET", 1);
	unsetenv("TOOLHOST_TEST_MCP_UNSET");
	T(load(MS1(",\"bearer_env\":\"TOOLHOST_TEST_MCP_UNSET\""), &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_servers[0].bearer_env: environment variable TOOLHOST_TEST_MCP_UNSET is not set");
	T(strstr(err, "SECRET") == NULL);

	/* Two bearer sources: refused without reading or quoting either. */
	T(load(MS1(",\"bearer\":\"lit-SECRET\",\"bearer_env\":\"TOOLHOST_TEST_MCP_TOKEN\""), &c, err,
	       sizeof err) == -1);
	T(strstr(err, "mcp_servers[0]: give only one of") == err);
	T(strstr(err, "SECRET") == NULL);

	/* A URL with credentials that fails a check is not quoted. */
	T(load(MS("{\"label\":\"docs\",\"url\":\"ftp://user:url-SECRET@mcp.example/mcp\"}"), &c, err,
	       sizeof err) == -1);
	T(strstr(err, "mcp_servers[0].url") == err);
	T(strstr(err, "SECRET") == NULL);
	T(load(MS("{\"label\":\"docs\",\"url\":\"https://mcp.example/mcp?token=url-SECRET x\"}"), &c, err,
	       sizeof err) == -1);
	T(strstr(err, "mcp_servers[0].url") == err);
	T(strstr(err, "SECRET") == NULL);
	unsetenv("TOOLHOST_TEST_MCP_TOKEN");
}

/* An error part-way through a server, or after the servers: all of it freed (ASan's leak check). */
static void
test_mcp_partial_free(void)
{
	static const char *const cases[] = {
	        /* The 2nd server fails at each stage of loading. */
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\"},\"bearer\":\"t1\"},"
	           "{\"label\":\"two\"}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\"},\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"ftp://b\"}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\",\"X-B\":\"2\",\"Bad "
	           "Header\":"
	           "\"3\"}}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\",\"X-B\":\"bad\\n\"}}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\"},\"bearer_env\":"
	           "\"TOOLHOST_TEST_MCP_UNSET\"}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://"
	           "b\",\"headers\":{\"Authorization\":\"x\"},\"bearer\":\"t2\"}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\"},\"bearer\":\"t2\","
	           "\"timeout_ms\":1}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\"},\"bearer\":\"t2\","
	           "\"timeout_ms\":1000,\"cache_ttl_s\":-5}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"one\",\"url\":\"http://b\",\"headers\":{\"X-A\":\"1\"},\"bearer\":\"t2\"}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"bogus\":1}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"bearer\":\"t1\"}, 5"),
	        /* Everything loaded, then a later key fails. */
	        "{" UP
	        ",\"mcp_servers\":[{\"label\":\"one\",\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\"},"
	        "\"bearer\":\"t1\"}],\"log_level\":\"loud\"}",
	};
	struct config c;
	char err[256];
	size_t i;

	unsetenv("TOOLHOST_TEST_MCP_UNSET");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&c, 0x5a, sizeof c);
		if (load(cases[i], &c, err, sizeof err) != -1) {
			printf("partial[%zu]: loaded, want an error: %s\n", i, cases[i]);
			T(0);
			config_free(&c);
			continue;
		}
		T(i == sizeof cases / sizeof cases[0] - 1 ? strstr(err, "log_level") == err
		                                          : strstr(err, "mcp_servers[1]") == err);
		T(c.mcp_servers == NULL && c.n_mcp_servers == 0);
		config_free(&c);
	}

	/* The same through a file. */
	{
		const char *f = tmpfile_with(cases[6], strlen(cases[6]));

		T(config_load_file(f, &c, err, sizeof err) == -1);
		T(strstr(err, "mcp_servers[1].timeout_ms") == err);
		config_free(&c);
	}
}

/* ---- MCP policy: per-server allowed_tools / require_approval / approve_destructive, "mcp_policy" ---- */

#define MP(body) "{" UP ",\"mcp_policy\":{" body "}}"

static int
names_eq(char **names, const char *const *want)
{
	size_t i;

	if (names == NULL)
		return 0;
	for (i = 0; want[i]; i++) {
		if (names[i] == NULL || strcmp(names[i], want[i]) != 0)
			return 0;
	}
	return names[i] == NULL;
}

static void
test_policy_defaults(void)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	T(c.mcp_policy.allow_request_urls == NULL);
	T(c.mcp_policy.max_tool_calls == 64);
	T(c.mcp_policy.max_turns == 16);
	T(c.mcp_policy.approve_destructive == 0);
	T(c.mcp_policy.audit_retention_days == 30);
	config_free(&c);

	/* Nothing about policy in the file: the same defaults, and servers have no bounds of their own. */
	T(load(MS1(""), &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.mcp_policy.allow_request_urls == NULL && c.mcp_policy.max_tool_calls == 64);
	T(c.mcp_policy.max_turns == 16 && c.mcp_policy.approve_destructive == 0);
	T(c.mcp_policy.audit_retention_days == 30);
	T(c.n_mcp_servers == 1);
	T(c.mcp_servers[0].allowed_tools == NULL);
	T(c.mcp_servers[0].approval_always == 0);
	T(c.mcp_servers[0].approval_tools == NULL);
	T(c.mcp_servers[0].approve_destructive == 0);
	config_free(&c);

	/* An empty mcp_policy, and an empty allow-list (same as none). */
	T(load(MP(""), &c, err, sizeof err) == 0);
	T(c.mcp_policy.max_tool_calls == 64 && c.mcp_policy.max_turns == 16);
	T(c.mcp_policy.audit_retention_days == 30 && c.mcp_policy.allow_request_urls == NULL);
	config_free(&c);
	T(load(MP("\"allow_request_urls\":[]"), &c, err, sizeof err) == 0);
	T(c.mcp_policy.allow_request_urls == NULL);
	config_free(&c);
}

static void
test_policy_good(void)
{
	static const char *const urls[] = {"http://127.0.0.1:",
	                                   "https://mcp.example.com/",
	                                   "HTTPS://Mcp.Example.com:8443/mcp",
	                                   "http://[::1]:",
	                                   "http://[::1]:9000/",
	                                   "https://x.example/a?b",
	                                   NULL};
	static const char *const two[] = {"search", "fetch.page", NULL};
	static const char *const one[] = {"delete_all", NULL};
	static const char *const none[] = {NULL};
	const struct config_mcp_server *s;
	struct config c;
	char err[256];

	T(load(MP("\"allow_request_urls\":[\"http://127.0.0.1:\",\"https://mcp.example.com/\","
	          "\"HTTPS://Mcp.Example.com:8443/mcp\",\"http://[::1]:\",\"http://[::1]:9000/\","
	          "\"https://x.example/a?b\"],"
	          "\"max_tool_calls\":1,\"max_turns\":1000,\"approve_destructive\":true,"
	          "\"audit_retention_days\":3650"),
	       &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(names_eq(c.mcp_policy.allow_request_urls, urls));
	T(c.mcp_policy.max_tool_calls == 1 && c.mcp_policy.max_turns == 1000);
	T(c.mcp_policy.approve_destructive == 1 && c.mcp_policy.audit_retention_days == 3650);
	config_free(&c);

	T(load(MP("\"max_tool_calls\":10000,\"max_turns\":1,\"approve_destructive\":false,"
	          "\"audit_retention_days\":1"),
	       &c, err, sizeof err) == 0);
	T(c.mcp_policy.max_tool_calls == 10000 && c.mcp_policy.max_turns == 1);
	T(c.mcp_policy.approve_destructive == 0 && c.mcp_policy.audit_retention_days == 1);
	config_free(&c);

	T(load(MS("{\"label\":\"a\",\"url\":\"http://a\",\"allowed_tools\":[\"search\",\"fetch.page\"],"
	          "\"require_approval\":\"always\",\"approve_destructive\":true},"
	          "{\"label\":\"b\",\"url\":\"http://"
	          "b\",\"allowed_tools\":[],\"require_approval\":[\"delete_all\"],"
	          "\"approve_destructive\":false},"
	          "{\"label\":\"c\",\"url\":\"http://c\",\"require_approval\":[]}"),
	       &c, err, sizeof err) == 0);
	T_STREQ(err, "");
	T(c.n_mcp_servers == 3);
	s = &c.mcp_servers[0];
	T(names_eq(s->allowed_tools, two));
	T(s->approval_always == 1 && s->approval_tools == NULL && s->approve_destructive == 1);
	s = &c.mcp_servers[1];
	/* An empty ceiling is kept as an empty list: no tool at all, unlike an absent one. */
	T(names_eq(s->allowed_tools, none));
	T(s->approval_always == 0 && names_eq(s->approval_tools, one) && s->approve_destructive == 0);
	s = &c.mcp_servers[2];
	T(s->allowed_tools == NULL && s->approval_always == 0 && names_eq(s->approval_tools, none));
	config_free(&c);
}

static const struct bad_case bad_policy[] = {
        /* mcp_servers[i].allowed_tools */
        {MS1(",\"allowed_tools\":\"search\""),
         "mcp_servers[0].allowed_tools: must be an array of at most 1024 tool names"},
        {MS1(",\"allowed_tools\":{}"), "mcp_servers[0].allowed_tools: must be an array"},
        {MS1(",\"allowed_tools\":null"), "mcp_servers[0].allowed_tools: must be an array"},
        {MS1(",\"allowed_tools\":[\"a\",\"\"]"),
         "mcp_servers[0].allowed_tools[1]: must be a non-empty string"},
        {MS1(",\"allowed_tools\":[\"a\",7]"), "mcp_servers[0].allowed_tools[1]: must be a non-empty string"},
        {MS1(",\"allowed_tools\":[null]"), "mcp_servers[0].allowed_tools[0]: must be a non-empty string"},
        {MS1(",\"allowed_tools\":[\"a\\nb\"]"),
         "mcp_servers[0].allowed_tools[0]: must not contain control characters"},
        {MS1(",\"allowed_tools\":[\"a\",\"b\",\"a\"]"),
         "mcp_servers[0].allowed_tools[2]: \"a\" is already listed at [0]"},
        {MS("{\"label\":\"a\",\"url\":\"http://a\"},{\"label\":\"b\",\"url\":\"http://"
            "b\",\"allowed_tools\":[1]}"),
         "mcp_servers[1].allowed_tools[0]: must be a non-empty string"},
        /* require_approval */
        {MS1(",\"require_approval\":\"never\""),
         "mcp_servers[0].require_approval: must be \"always\" or an array of tool names"},
        {MS1(",\"require_approval\":\"Always\""), "mcp_servers[0].require_approval: must be \"always\""},
        {MS1(",\"require_approval\":true"), "mcp_servers[0].require_approval: must be \"always\""},
        {MS1(",\"require_approval\":{\"always\":{\"tool_names\":[\"a\"]}}"),
         "mcp_servers[0].require_approval: must be"},
        {MS1(",\"require_approval\":null"), "mcp_servers[0].require_approval: must be"},
        {MS1(",\"require_approval\":[\"x\",\"\"]"),
         "mcp_servers[0].require_approval[1]: must be a non-empty string"},
        {MS1(",\"require_approval\":[[\"x\"]]"),
         "mcp_servers[0].require_approval[0]: must be a non-empty string"},
        {MS1(",\"require_approval\":[\"x\",\"x\"]"),
         "mcp_servers[0].require_approval[1]: \"x\" is already listed at [0]"},
        /* approve_destructive */
        {MS1(",\"approve_destructive\":1"), "mcp_servers[0].approve_destructive: must be true or false"},
        {MS1(",\"approve_destructive\":\"true\""),
         "mcp_servers[0].approve_destructive: must be true or false"},
        {MS1(",\"approve_destructive\":null"), "mcp_servers[0].approve_destructive: must be true or false"},
        /* mcp_policy */
        {"{" UP ",\"mcp_policy\":[]}", "mcp_policy: must be an object"},
        {MP("\"bogus\":1"), "mcp_policy.bogus: unknown key"},
        {MP("\"allow_request_url\":[]"), "mcp_policy.allow_request_url: unknown key"},
        {MP("\"max_tool_calls\":0"), "mcp_policy.max_tool_calls: must be an integer from 1 to 10000"},
        {MP("\"max_tool_calls\":10001"), "mcp_policy.max_tool_calls: must be an integer from 1 to 10000"},
        {MP("\"max_tool_calls\":\"64\""), "mcp_policy.max_tool_calls: must be an integer"},
        {MP("\"max_tool_calls\":-1"), "mcp_policy.max_tool_calls"},
        {MP("\"max_turns\":0"), "mcp_policy.max_turns: must be an integer from 1 to 1000"},
        {MP("\"max_turns\":1001"), "mcp_policy.max_turns: must be an integer from 1 to 1000"},
        {MP("\"max_turns\":1.5"), "mcp_policy.max_turns"},
        {MP("\"audit_retention_days\":0"),
         "mcp_policy.audit_retention_days: must be an integer from 1 to 3650"},
        {MP("\"audit_retention_days\":3651"),
         "mcp_policy.audit_retention_days: must be an integer from 1 to 3650"},
        {MP("\"audit_retention_days\":null"), "mcp_policy.audit_retention_days"},
        {MP("\"approve_destructive\":\"yes\""), "mcp_policy.approve_destructive: must be true or false"},
        {MP("\"allow_request_urls\":\"http://127.0.0.1:\""),
         "mcp_policy.allow_request_urls: must be an array of at most 64 URL prefixes"},
        {MP("\"allow_request_urls\":[5]"), "mcp_policy.allow_request_urls[0]: must be a string"},
        {MP("\"allow_request_urls\":[\"https://ok.example/\",\"ftp://x/\"]"),
         "mcp_policy.allow_request_urls[1]: must start with http:// or https://"},
        {MP("\"allow_request_urls\":[\"\"]"),
         "mcp_policy.allow_request_urls[0]: must start with http:// or https://"},
        {MP("\"allow_request_urls\":[\"127.0.0.1:8000/\"]"),
         "mcp_policy.allow_request_urls[0]: must start with"},
        {MP("\"allow_request_urls\":[\"https://\"]"), "mcp_policy.allow_request_urls[0]: has no host"},
        {MP("\"allow_request_urls\":[\"http:///x\"]"), "mcp_policy.allow_request_urls[0]: has no host"},
        {MP("\"allow_request_urls\":[\"http://a b/\"]"),
         "mcp_policy.allow_request_urls[0]: must not contain spaces"},
        {MP("\"allow_request_urls\":[\"http://a/\\r\\n\"]"),
         "mcp_policy.allow_request_urls[0]: must not contain"},
        /* A prefix must end its host: else "https://a.example" admits "https://a.example.evil/". */
        {MP("\"allow_request_urls\":[\"https://mcp.example.com\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host with \"/\", or with \":\" for any port"},
        {MP("\"allow_request_urls\":[\"http://127.0.0.1:80\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://127.0.0.1:8x/\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://127.0.0.1:123456/\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://h?x\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://h#x\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://:80/\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://[::1]\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://[::1/\"]"),
         "mcp_policy.allow_request_urls[0]: must end its host"},
        {MP("\"allow_request_urls\":[\"http://user:pw@h/\"]"),
         "mcp_policy.allow_request_urls[0]: must not hold user info"},
        {MP("\"allow_request_urls\":[\"http://h@\"]"),
         "mcp_policy.allow_request_urls[0]: must not hold user info"},
};

static void
test_policy_bad(void)
{
	struct config c;
	char err[256], json[8192];
	size_t i, n;
	int rc;

	for (i = 0; i < sizeof bad_policy / sizeof bad_policy[0]; i++) {
		memset(&c, 0x5a, sizeof c);
		err[0] = 'x';
		err[1] = '\0';
		rc = load(bad_policy[i].json, &c, err, sizeof err);
		if (rc != -1 || strstr(err, bad_policy[i].msg) != err) {
			printf("bad_policy[%zu] %s: rc %d, err \"%s\", want \"%s\"\n", i, bad_policy[i].json,
			       rc, err, bad_policy[i].msg);
			T(0);
		} else {
			T(1);
		}
		T(c.unix_path == NULL && c.mcp_servers == NULL && c.mcp_policy.allow_request_urls == NULL);
		config_free(&c);
	}

	/* Size caps: 1025 names, a 257-byte name, 65 URL prefixes. */
	n = (size_t)snprintf(json, sizeof json, "%s",
	                     "{" UP
	                     ",\"mcp_servers\":[{\"label\":\"a\",\"url\":\"http://a\",\"allowed_tools\":[");
	for (i = 0; i < 1025; i++)
		n += (size_t)snprintf(json + n, sizeof json - n, "%s\"%zx\"", i ? "," : "", i);
	snprintf(json + n, sizeof json - n, "]}]}");
	T(load(json, &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_servers[0].allowed_tools: must be an array of at most 1024 tool names");
	/* 1024 is fine. */
	n = (size_t)snprintf(json, sizeof json, "%s",
	                     "{" UP
	                     ",\"mcp_servers\":[{\"label\":\"a\",\"url\":\"http://a\",\"allowed_tools\":[");
	for (i = 0; i < 1024; i++)
		n += (size_t)snprintf(json + n, sizeof json - n, "%s\"%zx\"", i ? "," : "", i);
	snprintf(json + n, sizeof json - n, "]}]}");
	T(load(json, &c, err, sizeof err) == 0);
	T(c.mcp_servers && c.mcp_servers[0].allowed_tools && c.mcp_servers[0].allowed_tools[1023] &&
	  strcmp(c.mcp_servers[0].allowed_tools[1023], "3ff") == 0 &&
	  c.mcp_servers[0].allowed_tools[1024] == NULL);
	config_free(&c);

	{
		char name[258];

		memset(name, 'n', 257);
		name[257] = '\0';
		snprintf(json, sizeof json,
		         "{" UP
		         ",\"mcp_servers\":[{\"label\":\"a\",\"url\":\"http://a\",\"require_approval\":"
		         "[\"ok\",\"%s\"]}]}",
		         name);
		T(load(json, &c, err, sizeof err) == -1);
		T_STREQ(err, "mcp_servers[0].require_approval[1]: longer than 256 bytes");
		/* 256 bytes is fine. */
		name[256] = '\0';
		snprintf(json, sizeof json,
		         "{" UP
		         ",\"mcp_servers\":[{\"label\":\"a\",\"url\":\"http://a\",\"require_approval\":"
		         "[\"ok\",\"%s\"]}]}",
		         name);
		T(load(json, &c, err, sizeof err) == 0);
		T(c.mcp_servers && c.mcp_servers[0].approval_tools && c.mcp_servers[0].approval_tools[1] &&
		  strlen(c.mcp_servers[0].approval_tools[1]) == 256);
		config_free(&c);
	}

	n = (size_t)snprintf(json, sizeof json, "%s", "{" UP ",\"mcp_policy\":{\"allow_request_urls\":[");
	for (i = 0; i < 65; i++)
		n += (size_t)snprintf(json + n, sizeof json - n, "%s\"http://h%zu/\"", i ? "," : "", i);
	snprintf(json + n, sizeof json - n, "]}}");
	T(load(json, &c, err, sizeof err) == -1);
	T_STREQ(err, "mcp_policy.allow_request_urls: must be an array of at most 64 URL prefixes");

	/* A prefix with credentials is refused without quoting them. */
	T(load(MP("\"allow_request_urls\":[\"https://user:url-SECRET@mcp.example/\"]"), &c, err,
	       sizeof err) == -1);
	T(strstr(err, "SECRET") == NULL);
	T(load(MP("\"allow_request_urls\":[\"https://mcp.example/?token=url-SECRET x\"]"), &c, err,
	       sizeof err) == -1);
	T(strstr(err, "mcp_policy.allow_request_urls[0]") == err && strstr(err, "SECRET") == NULL);
}

/* Failures part-way through the new lists: all of it freed (ASan's leak check). */
static void
test_policy_partial_free(void)
{
	static const char *const cases[] = {
	        MS("{\"label\":\"one\",\"url\":\"http://"
	           "a\",\"allowed_tools\":[\"a\",\"b\"],\"require_approval\":[\"c\"]},"
	           "{\"label\":\"two\",\"url\":\"http://b\",\"allowed_tools\":[\"a\",\"b\",7]}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"allowed_tools\":[\"a\"]},"
	           "{\"label\":\"two\",\"url\":\"http://"
	           "b\",\"allowed_tools\":[\"a\"],\"require_approval\":[\"x\",\"x\"]}"),
	        MS("{\"label\":\"one\",\"url\":\"http://a\",\"allowed_tools\":[\"a\"]},"
	           "{\"label\":\"two\",\"url\":\"http://"
	           "b\",\"allowed_tools\":[\"a\"],\"require_approval\":[\"x\"],"
	           "\"approve_destructive\":0}"),
	        "{" UP
	        ",\"mcp_servers\":[{\"label\":\"one\",\"url\":\"http://a\",\"allowed_tools\":[\"a\"]}],"
	        "\"mcp_policy\":{\"allow_request_urls\":[\"http://a/\",\"http://b/\",\"http://c\"]}}",
	        "{" UP
	        ",\"mcp_servers\":[{\"label\":\"one\",\"url\":\"http://a\",\"require_approval\":[\"a\"]}],"
	        "\"mcp_policy\":{\"allow_request_urls\":[\"http://a/\"]},\"log_level\":\"loud\"}",
	};
	struct config c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&c, 0x5a, sizeof c);
		if (load(cases[i], &c, err, sizeof err) != -1) {
			printf("policy partial[%zu]: loaded, want an error: %s\n", i, cases[i]);
			T(0);
			config_free(&c);
			continue;
		}
		T(strstr(err, i < 3    ? "mcp_servers[1]"
		              : i == 3 ? "mcp_policy.allow_request_urls[2]"
		                       : "log_level") == err);
		T(c.mcp_servers == NULL && c.mcp_policy.allow_request_urls == NULL);
		config_free(&c);
	}
}

/* operators: absent means nobody (root included); listed uids and primary gids are operators, at the
 * bounds of CONFIG_MAX_IDS; an api key name uses all of CONFIG_MAX_API_KEY_NAME and its identity fits. */
static void
test_operators(void)
{
	char err[256] = "", name[CONFIG_MAX_API_KEY_NAME + 1], json[512], identity[CONFIG_IDENTITY_MAX];
	struct config c;

	T(load("{" UP "}", &c, err, sizeof err) == 0);
	T(c.n_operator_uids == 0 && c.n_operator_gids == 0);
	T(!config_is_operator(&c, 0, 0));
	T(!config_is_operator(&c, geteuid(), getegid()));
	config_free(&c);

	T(load("{" UP ",\"operators\":{}}", &c, err, sizeof err) == 0);
	T(!config_is_operator(&c, 0, 0));
	config_free(&c);

	T(load("{" UP ",\"operators\":{\"uids\":[0,4294967294],\"gids\":[50]}}", &c, err, sizeof err) == 0);
	T(c.n_operator_uids == 2 && c.operator_uids[0] == 0 && c.operator_uids[1] == (uid_t)4294967294u);
	T(c.n_operator_gids == 1 && c.operator_gids[0] == 50);
	T(config_is_operator(&c, 0, 1000));
	T(config_is_operator(&c, 1000, 50));
	T(!config_is_operator(&c, 1000, 1000));
	T(!config_is_operator(&c, 1, 0));
	config_free(&c);

	T(load("{" UP ",\"operators\":{\"gids\":[0]}}", &c, err, sizeof err) == 0);
	T(config_is_operator(&c, 1000, 0));
	T(!config_is_operator(&c, 0, 1000));
	config_free(&c);

	memset(name, 'n', CONFIG_MAX_API_KEY_NAME);
	name[CONFIG_MAX_API_KEY_NAME] = '\0';
	snprintf(json, sizeof json, "{" UP ",\"api_keys\":[{\"name\":\"%s\",\"key\":\"k\"}]}", name);
	T(load(json, &c, err, sizeof err) == 0);
	if (c.n_api_keys == 1) {
		T(strlen(c.api_keys[0].name) == CONFIG_MAX_API_KEY_NAME);
		T(snprintf(identity, sizeof identity, "key=%s", c.api_keys[0].name) < (int)sizeof identity);
		T(snprintf(identity, sizeof identity, "uid=%u", 4294967294u) < (int)sizeof identity);
	}
	config_free(&c);
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
	test_mcp_defaults();
	test_mcp_bounds();
	test_mcp_bad();
	test_mcp_servers();
	test_mcp_secrets();
	test_mcp_partial_free();
	test_policy_defaults();
	test_policy_good();
	test_policy_bad();
	test_policy_partial_free();
	test_operators();
	for (i = 0; i < ntmpfiles; i++)
		unlink(tmpfiles[i]);
	return T_DONE();
}
