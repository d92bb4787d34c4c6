/* Unit tests for api/policy.c: a table of (request allowed_tools / require_approval, the config's
 * ceiling / floor / approve_destructive, tool annotations) -> (allowed, needs approval); resolving by
 * label and by URL (allow-list, link-local and metadata hosts in every spelling), header merging,
 * and secrets kept out of error messages. */
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/policy.h"
#include "daemon/config.h"
#include "tests/unit/t.h"

/* JSON written with ' for " to keep the tables readable. */
static json_t *
J(const char *text)
{
	char buf[4096];
	json_error_t je;
	json_t *v;
	size_t i;

	for (i = 0; text[i] && i + 1 < sizeof buf; i++)
		buf[i] = text[i] == '\'' ? '"' : text[i];
	buf[i] = '\0';
	v = json_loads(buf, JSON_DECODE_ANY, &je);
	if (v == NULL) {
		printf("bad test JSON: %s: %s\n", buf, je.text);
		abort();
	}
	return v;
}

static void
load_cfg(struct config *c, const char *text)
{
	char buf[4096], err[256];
	size_t i;

	for (i = 0; text[i] && i + 1 < sizeof buf; i++)
		buf[i] = text[i] == '\'' ? '"' : text[i];
	buf[i] = '\0';
	if (config_load_string(buf, strlen(buf), c, err, sizeof err) < 0) {
		printf("bad test config: %s\n", err);
		abort();
	}
}

#define UP "'upstreams':[{'name':'u','base_url':'http://u'}]"

static const char cfg_text[] =
        "{" UP ",'mcp_servers':["
        "{'label':'plain','url':'https://plain.example/mcp'},"
        "{'label':'ceil','url':'https://ceil.example/mcp','allowed_tools':['read','write']},"
        "{'label':'empty','url':'https://empty.example/mcp','allowed_tools':[]},"
        "{'label':'floor','url':'https://floor.example/mcp','require_approval':['write']},"
        "{'label':'always','url':'https://always.example/mcp','require_approval':'always'},"
        "{'label':'destr','url':'https://destr.example/mcp','approve_destructive':true},"
        "{'label':'hdr','url':'https://hdr.example/mcp','headers':{'X-Api-Key':'cfg-key','X-Trace':'cfg'},"
        "'bearer':'cfg-token','timeout_ms':1500,'cache_ttl_s':0},"
        "{'label':'noauth','url':'https://noauth.example/mcp','headers':{'X-Api-Key':'cfg-key'},"
        "'cache_ttl_s':30}"
        "],'mcp_policy':{'allow_request_urls':['http://127.0.0.1:','https://mcp.example.com/',"
        "'http://[::1]:8000/'],'approve_destructive':true,'max_tool_calls':64}}";

/* Tools: annotations as MCP 2025-11-25 has them. */
#define T_RO     "{'name':'read','annotations':{'readOnlyHint':true}}"
#define T_W      "{'name':'write'}"
#define T_WND    "{'name':'write','annotations':{'destructiveHint':false}}"
#define T_OTHER  "{'name':'other','annotations':{'readOnlyHint':false,'destructiveHint':true}}"
#define T_LIE    "{'name':'write','annotations':{'readOnlyHint':true}}"
#define T_BOTH   "{'name':'other','annotations':{'readOnlyHint':true,'destructiveHint':true}}"
#define T_ODD    "{'name':'other','annotations':'yes'}"
#define T_NONAME "{'annotations':{'readOnlyHint':true}}"

struct row {
	const char *label;
	const char *allowed;  /* the request's allowed_tools, NULL: absent */
	const char *approval; /* the request's require_approval, NULL: absent */
	const char *tool;
	int allowed_want, approval_want;
};

static const struct row rows[] = {
        /* No bounds in the config: the request decides; require_approval defaults to "always". */
        {"plain", NULL, NULL, T_RO, 1, 1},
        {"plain", "null", "null", T_RO, 1, 1},
        {"plain", NULL, "'always'", T_RO, 1, 1},
        {"plain", NULL, "'never'", T_W, 1, 0},
        {"plain", NULL, "'never'", T_OTHER, 1, 0},
        {"plain", NULL, "'sometimes'", T_RO, 1, 1},
        /* allowed_tools: a list, or {tool_names, read_only}; both conditions hold together. */
        {"plain", "['read']", "'never'", T_RO, 1, 0},
        {"plain", "['read']", "'never'", T_W, 0, 0},
        {"plain", "{'tool_names':['read'],'read_only':null}", "'never'", T_RO, 1, 0},
        {"plain", "{'tool_names':['read'],'read_only':null}", "'never'", T_W, 0, 0},
        {"plain", "{'tool_names':null,'read_only':true}", "'never'", T_RO, 1, 0},
        {"plain", "{'tool_names':null,'read_only':true}", "'never'", T_W, 0, 0},
        {"plain", "{'tool_names':null,'read_only':true}", "'never'", T_OTHER, 0, 0},
        {"plain", "{'tool_names':['write'],'read_only':true}", "'never'", T_W, 0, 0},
        {"plain", "{'tool_names':['write'],'read_only':true}", "'never'", T_LIE, 1, 0},
        {"plain", "{'tool_names':null,'read_only':false}", "'never'", T_W, 1, 0},
        {"plain", "{'tool_names':null,'read_only':null}", "'never'", T_W, 1, 0},
        {"plain", "{}", "'never'", T_W, 1, 0},
        {"plain", "[]", "'never'", T_RO, 0, 0},
        {"plain", "{'tool_names':[]}", "'never'", T_RO, 0, 0},
        /* Shapes we do not know admit nothing. */
        {"plain", "'read'", "'never'", T_RO, 0, 0},
        {"plain", "{'tool_names':'read'}", "'never'", T_RO, 0, 0},
        {"plain", "{'tool_names':null,'read_only':'yes'}", "'never'", T_RO, 0, 0},
        {"plain", "7", "'never'", T_RO, 0, 0},
        /* require_approval filters: always wins over never; in neither: approval. */
        {"plain", NULL, "{'always':{'tool_names':['write']},'never':{'tool_names':['write','read']}}", T_W, 1,
         1},
        {"plain", NULL, "{'always':{'tool_names':['write']},'never':{'tool_names':['write','read']}}", T_RO,
         1, 0},
        {"plain", NULL, "{'always':null,'never':{'tool_names':['read']}}", T_W, 1, 1},
        {"plain", NULL, "{'always':null,'never':{'tool_names':['read']}}", T_RO, 1, 0},
        {"plain", NULL, "{'never':{'tool_names':['read'],'read_only':null}}", T_RO, 1, 0},
        /* never.read_only alone relaxes nothing: annotations are the server's claim. */
        {"plain", NULL, "{'never':{'read_only':true}}", T_RO, 1, 1},
        {"plain", NULL, "{'never':{'tool_names':null,'read_only':true}}", T_RO, 1, 1},
        /* ...but it may narrow a list of names. */
        {"plain", NULL, "{'never':{'tool_names':['read','write'],'read_only':true}}", T_RO, 1, 0},
        {"plain", NULL, "{'never':{'tool_names':['read','write'],'read_only':true}}", T_W, 1, 1},
        {"plain", NULL, "{'never':{'tool_names':['read','write'],'read_only':false}}", T_W, 1, 0},
        /* always.read_only tightens: read-only tools need approval even when named in never. */
        {"plain", NULL, "{'always':{'read_only':true},'never':{'tool_names':['read','write']}}", T_RO, 1, 1},
        {"plain", NULL, "{'always':{'read_only':true},'never':{'tool_names':['read','write']}}", T_W, 1, 0},
        {"plain", NULL, "{'always':{'tool_names':['x']}}", T_RO, 1, 1},
        {"plain", NULL, "{'always':null,'never':null}", T_RO, 1, 1},
        {"plain", NULL, "{}", T_RO, 1, 1},
        {"plain", NULL, "{'never':['read']}", T_RO, 1, 0},
        {"plain", NULL, "{'never':{'tool_names':'read'}}", T_RO, 1, 1},
        {"plain", NULL, "{'always':'x','never':{'tool_names':['read']}}", T_RO, 1, 1},
        {"plain", NULL, "['read']", T_RO, 1, 1},
        /* A tool without a name: never imported, always approved. */
        {"plain", NULL, "'never'", T_NONAME, 0, 1},
        {"plain", "{'tool_names':null,'read_only':true}", "'never'", T_NONAME, 0, 1},
        /* The config's ceiling: a caller may narrow it, never widen it. */
        {"ceil", NULL, "'never'", T_RO, 1, 0},
        {"ceil", NULL, "'never'", T_W, 1, 0},
        {"ceil", NULL, "'never'", T_OTHER, 0, 0},
        {"ceil", "['other','read']", "'never'", T_OTHER, 0, 0},
        {"ceil", "['other','read']", "'never'", T_RO, 1, 0},
        {"ceil", "['other','read']", "'never'", T_W, 0, 0},
        {"ceil", "{'tool_names':null,'read_only':true}", "'never'", T_W, 0, 0},
        {"empty", NULL, "'never'", T_RO, 0, 0},
        {"empty", "['read']", "'never'", T_RO, 0, 0},
        /* The config's floor: named tools, or all of them, need approval whatever the request says. */
        {"floor", NULL, "'never'", T_W, 1, 1},
        {"floor", NULL, "'never'", T_WND, 1, 1},
        {"floor", NULL, "'never'", T_RO, 1, 0},
        {"floor", NULL, "{'never':{'tool_names':['write','read']}}", T_W, 1, 1},
        {"floor", NULL, "{'never':{'tool_names':['write','read']}}", T_RO, 1, 0},
        {"always", NULL, "'never'", T_RO, 1, 1},
        {"always", NULL, "{'never':{'tool_names':['read']}}", T_RO, 1, 1},
        /* approve_destructive: unless readOnlyHint:true or destructiveHint:false. */
        {"destr", NULL, "'never'", T_RO, 1, 0},
        {"destr", NULL, "'never'", T_W, 1, 1},
        {"destr", NULL, "'never'", T_WND, 1, 0},
        {"destr", NULL, "'never'", T_OTHER, 1, 1},
        {"destr", NULL, "'never'", T_BOTH, 1, 0},
        {"destr", NULL, "'never'", T_ODD, 1, 1},
        {"destr", NULL, "{'never':{'tool_names':['write']}}", T_W, 1, 1},
        {"plain", NULL, "'never'", T_ODD, 1, 0},
};

static json_t *
mcp_tool(const char *label, const char *url, const char *allowed, const char *approval)
{
	json_t *t = J("{'type':'mcp','server_description':null,'headers':null,'authorization':null}");

	json_object_set_new(t, "server_label", json_string(label));
	json_object_set_new(t, "server_url", url ? json_string(url) : json_null());
	if (allowed)
		json_object_set_new(t, "allowed_tools", J(allowed));
	if (approval)
		json_object_set_new(t, "require_approval", J(approval));
	return t;
}

static void
test_table(const struct config *cfg)
{
	struct policy_server s;
	struct api_error e;
	json_t *t, *tool;
	size_t i;
	int a, n;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		t = mcp_tool(rows[i].label, NULL, rows[i].allowed, rows[i].approval);
		tool = J(rows[i].tool);
		if (policy_resolve(cfg, t, 0, &s, &e) < 0) {
			printf("row %zu: resolve failed: %s\n", i, e.message);
			T(0);
		} else {
			a = policy_tool_allowed(&s, tool);
			n = policy_needs_approval(&s, tool);
			if (a != rows[i].allowed_want || n != rows[i].approval_want) {
				printf("row %zu (%s, allowed %s, approval %s, tool %s): allowed %d approval "
				       "%d, want %d "
				       "%d\n",
				       i, rows[i].label, rows[i].allowed ? rows[i].allowed : "-",
				       rows[i].approval ? rows[i].approval : "-", rows[i].tool, a, n,
				       rows[i].allowed_want, rows[i].approval_want);
				T(0);
			} else {
				T(1);
			}
		}
		policy_server_clear(&s);
		json_decref(tool);
		json_decref(t);
	}
}

static size_t
count(char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void
test_resolve_label(const struct config *cfg)
{
	struct policy_server s;
	struct api_error e;
	json_t *t;

	t = mcp_tool("ceil", NULL, "['read']", "'never'");
	T(policy_resolve(cfg, t, 2, &s, &e) == 0);
	T_STREQ(s.label, "ceil");
	T_STREQ(s.url, "https://ceil.example/mcp");
	T(s.from_config == 1);
	T(s.timeout_ms == 0 && s.cache_ttl_s == 0);
	T(count(s.ceiling) == 2 && s.ceiling != config_mcp_server_find(cfg, "ceil")->allowed_tools);
	if (count(s.ceiling) == 2) {
		T_STREQ(s.ceiling[0], "read");
		T_STREQ(s.ceiling[1], "write");
	}
	T(s.floor_always == 0 && s.floor_tools == NULL && s.approve_destructive == 0);
	/* The request's settings are borrowed as they are. */
	T(s.allowed_tools == json_object_get(t, "allowed_tools"));
	T(s.require_approval == json_object_get(t, "require_approval"));
	T(s.headers != NULL && s.headers[0] == NULL);
	policy_server_clear(&s);
	T(s.label == NULL && s.url == NULL && s.ceiling == NULL);
	policy_server_clear(&s);
	policy_server_clear(NULL);
	json_decref(t);

	t = mcp_tool("floor", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.ceiling == NULL && s.floor_always == 0 && count(s.floor_tools) == 1);
	T(s.allowed_tools == NULL && s.require_approval == NULL);
	policy_server_clear(&s);
	json_decref(t);
	t = mcp_tool("always", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.floor_always == 1 && s.floor_tools == NULL);
	policy_server_clear(&s);
	json_decref(t);
	t = mcp_tool("destr", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.approve_destructive == 1);
	policy_server_clear(&s);
	json_decref(t);
	/* timeout and TTL from the config (cache_ttl_s 0 in the file is "never": -1). */
	t = mcp_tool("hdr", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.timeout_ms == 1500 && s.cache_ttl_s == -1);
	policy_server_clear(&s);
	json_decref(t);
	t = mcp_tool("noauth", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.timeout_ms == 0 && s.cache_ttl_s == 30);
	policy_server_clear(&s);
	json_decref(t);

	/* An unknown label without a URL. */
	t = mcp_tool("nope", NULL, NULL, NULL);
	memset(&s, 0x5a, sizeof s);
	T(policy_resolve(cfg, t, 3, &s, &e) == -1);
	T(e.status == 400);
	T_STREQ(e.type, "invalid_request");
	T_STREQ(e.code, "invalid_value");
	T_STREQ(e.param, "tools[3].server_label");
	T_STREQ(e.message, "no MCP server labelled 'nope' is configured, and no server_url was given");
	policy_server_clear(&s);
	json_decref(t);
	/* Labels are exact. */
	t = mcp_tool("PLAIN", NULL, NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].server_label");
	policy_server_clear(&s);
	json_decref(t);
	/* No label at all. */
	t = J("{'type':'mcp','server_url':null}");
	T(policy_resolve(cfg, t, 1, &s, &e) == -1);
	T_STREQ(e.param, "tools[1].server_label");
	T_STREQ(e.code, "invalid_value");
	policy_server_clear(&s);
	json_decref(t);
}

static void
test_resolve_url(const struct config *cfg, const struct config *bare)
{
	static const char *const ok[] = {
	        "http://127.0.0.1:9000/mcp",
	        "http://127.0.0.1:/x",
	        "http://127.0.0.1:1",
	        "https://mcp.example.com/",
	        "https://mcp.example.com/mcp?x=1#f",
	        "HTTPS://MCP.Example.COM/mcp",
	        "http://[::1]:8000/mcp",
	        "http://[0:0:0:0:0:0:0:1]:8000/mcp" /* no: text differs */,
	};
	static const int ok_want[] = {1, 1, 1, 1, 1, 1, 1, 0};
	static const char *const refused[] = {
	        "https://mcp.example.com.evil.test/",
	        "https://mcp.example.com:443/",
	        "http://127.0.0.1:x@evil.example/",
	        "http://127.0.0.1:@evil.example/",
	        "http://127.0.0.2:9000/",
	        "http://127.0.0.10:9000/",
	        "https://mcp.example.co/",
	        "https://mcp.example.com",
	        "http://mcp.example.com/",
	        "http://[::1]:8001/",
	        "http://localhost:9000/",
	};
	struct policy_server s;
	struct api_error e;
	json_t *t;
	size_t i;
	int rc;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		t = mcp_tool("mine", ok[i], NULL, NULL);
		rc = policy_resolve(cfg, t, 1, &s, &e);
		if ((rc == 0) != ok_want[i]) {
			printf("url %s: rc %d (%s), want %s\n", ok[i], rc, rc ? e.message : "",
			       ok_want[i] ? "ok" : "refused");
			T(0);
		} else if (rc == 0) {
			T_STREQ(s.url, ok[i]);
			T_STREQ(s.label, "mine");
			T(s.from_config == 0 && s.ceiling == NULL && s.floor_always == 0 &&
			  s.floor_tools == NULL);
			T(s.timeout_ms == 0 && s.cache_ttl_s == 0);
			/* The global policy's approve_destructive applies to URL servers. */
			T(s.approve_destructive == 1);
			T(s.headers != NULL && s.headers[0] == NULL);
		} else {
			T_STREQ(e.code, "mcp_server_not_allowed");
		}
		policy_server_clear(&s);
		json_decref(t);
	}
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		t = mcp_tool("mine", refused[i], NULL, NULL);
		rc = policy_resolve(cfg, t, 4, &s, &e);
		if (rc != -1 || strcmp(e.code, "mcp_server_not_allowed") != 0 ||
		    strcmp(e.param, "tools[4].server_url") != 0 || e.status != 400 ||
		    strstr(e.message, "not allowed by this server's policy") == NULL) {
			printf("url %s: rc %d, code %s, param %s, message %s\n", refused[i], rc, e.code,
			       e.param, e.message);
			T(0);
		} else {
			T(1);
		}
		policy_server_clear(&s);
		json_decref(t);
	}

	/* No allow-list: every request URL refused, even one the config's own server uses. */
	t = mcp_tool("plain", "https://plain.example/mcp", NULL, NULL);
	T(policy_resolve(bare, t, 0, &s, &e) == -1);
	T_STREQ(e.code, "mcp_server_not_allowed");
	T_STREQ(e.param, "tools[0].server_url");
	T_STREQ(e.type, "invalid_request");
	T_STREQ(e.message,
	        "MCP server URL 'https://plain.example/mcp' is not allowed by this server's policy; "
	        "name a configured server by server_label alone, or ask the operator to allow the URL.");
	policy_server_clear(&s);
	json_decref(t);
	t = mcp_tool("x", "http://127.0.0.1:9000/mcp", NULL, NULL);
	T(policy_resolve(bare, t, 0, &s, &e) == -1);
	T_STREQ(e.code, "mcp_server_not_allowed");
	policy_server_clear(&s);
	json_decref(t);
	/* A URL server with a configured label is still a URL server: the allow-list decides. */
	t = mcp_tool("ceil", "http://127.0.0.1:9/", NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(s.from_config == 0 && s.ceiling == NULL);
	T_STREQ(s.url, "http://127.0.0.1:9/");
	policy_server_clear(&s);
	json_decref(t);
	/* server_url of a wrong type. */
	t = J("{'type':'mcp','server_label':'x','server_url':5}");
	T(policy_resolve(cfg, t, 6, &s, &e) == -1);
	T_STREQ(e.param, "tools[6].server_url");
	T_STREQ(e.code, "invalid_value");
	policy_server_clear(&s);
	json_decref(t);
}

/* Hosts a request may never name, in every spelling; the allow-list below admits them all by text so
 * that only the host check can refuse them. */
static void
test_blocked_hosts(void)
{
	static const char *const blocked[] = {
	        "http://169.254.169.254/latest/meta-data/",
	        "http://169.254.0.1:80/",
	        "http://169.254.169.254./",
	        "http://user:pw@169.254.169.254/",
	        "http://[fe80::1]/",
	        "http://[FE80::abcd]:8080/",
	        "http://[febf:ffff::1]/",
	        "http://0.0.0.0:8000/",
	        "http://0.1.2.3/",
	        "http://0/",
	        "http://[::]/",
	        "http://[0:0:0:0:0:0:0:0]/",
	        "http://[fd00:ec2::254]/",
	        "http://[FD00:0EC2:0000::0254]/",
	        "http://100.100.100.200/",
	        "http://metadata.google.internal/computeMetadata/v1/",
	        "http://METADATA.Google.Internal./",
	        "http://metadata/",
	        "http://Metadata.:80/",
	        "http://[::ffff:169.254.169.254]/",
	        "http://[::ffff:a9fe:a9fe]/",
	        "http://[::169.254.169.254]/",
	        "http://[64:ff9b::a9fe:a9fe]/",
	        "http://[::ffff:0.0.0.0]/",
	        "http://[::ffff:100.100.100.200]/",
	        "http://2852039166/",
	        "http://0xa9fea9fe/",
	        "http://0xa9.0xfe.0xa9.0xfe/",
	        "http://0251.0376.0251.0376/",
	        "http://169.254.43518/",
	        "https://169.254.169.254:443/",
	};
	static const char *const not_blocked[] = {
	        "http://127.0.0.1:1/",
	        "http://[::1]/",
	        "http://metadata.google.internal.evil.test/",
	        "http://fe80.example/",
	        "http://169.254.example/",
	        "http://100.100.100.201/",
	        "http://[fe00::1]/",
	        "http://[fec0::1]/",
	        "http://metadata-service/",
	        "http://10.0.0.1/",
	        "http://[fd00:ec2::253]/",
	};
	static const char *const invalid[] = {
	        "ftp://x/",
	        "http://",
	        "http:///x",
	        "https://a b/",
	        "http://a\tb/",
	        "http://a/\r\nX: 1",
	        "http://a\\@b/",
	        "http://a@b@c/",
	        "http://%31%32%37.0.0.1/",
	        "http://[zz::1]/",
	        "http://[fe80::1%25eth0]/",
	        "http://[1.2.3.4]/",
	        "http://[::1/",
	        "http://1.2.3.4.5/",
	        "http://0x/",
	        "http://h:99999x/",
	        "http://h:123456/",
	        "http://h:65536/",
	        "http://[::1]:80000/",
	        "http://h:8x/",
	        "http://h:8:9/",
	        "javascript:alert(1)",
	        "http://exa mple/",
	        "http://exa~mple/",
	        "",
	};
	struct config c;
	struct policy_server s;
	struct api_error e;
	json_t *t;
	size_t i;
	int rc;

	load_cfg(&c,
	         "{" UP ",'mcp_policy':{'allow_request_urls':['http://169.254.169.254/','http://0.0.0.0:',"
	         "'http://[::]/','http://metadata/','http://metadata.google.internal/','http://"
	         "100.100.100.200/',"
	         "'http://2852039166/','http://[fe80::1]/','http://[fd00:ec2::254]/','http://127.0.0.1:',"
	         "'http://[::1]/']}}");
	for (i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		t = mcp_tool("m", blocked[i], NULL, NULL);
		rc = policy_resolve(&c, t, 0, &s, &e);
		if (rc != -1 || strcmp(e.code, "mcp_server_not_allowed") != 0 ||
		    strcmp(e.param, "tools[0].server_url") != 0 ||
		    strstr(e.message, "link-local, cloud metadata or unspecified") == NULL) {
			printf("blocked %s: rc %d, code %s, message %s\n", blocked[i], rc, e.code, e.message);
			T(0);
		} else {
			T(1);
		}
		policy_server_clear(&s);
		json_decref(t);
	}
	for (i = 0; i < sizeof not_blocked / sizeof not_blocked[0]; i++) {
		t = mcp_tool("m", not_blocked[i], NULL, NULL);
		rc = policy_resolve(&c, t, 0, &s, &e);
		/* Admitted, or refused by the allow-list, never by the host check. */
		if (rc != 0 && strstr(e.message, "not allowed by this server's policy") == NULL) {
			printf("not blocked %s: rc %d, message %s\n", not_blocked[i], rc, e.message);
			T(0);
		} else {
			T(1);
		}
		policy_server_clear(&s);
		json_decref(t);
	}
	t = mcp_tool("m", "http://127.0.0.1:1/", NULL, NULL);
	T(policy_resolve(&c, t, 0, &s, &e) == 0);
	policy_server_clear(&s);
	json_decref(t);
	t = mcp_tool("m", "http://[::1]/", NULL, NULL);
	T(policy_resolve(&c, t, 0, &s, &e) == 0);
	policy_server_clear(&s);
	json_decref(t);
	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		t = mcp_tool("m", invalid[i], NULL, NULL);
		rc = policy_resolve(&c, t, 2, &s, &e);
		if (rc != -1 || strcmp(e.code, "mcp_server_not_allowed") != 0 ||
		    strcmp(e.param, "tools[2].server_url") != 0 ||
		    strstr(e.message, "is not a valid") == NULL) {
			printf("invalid %s: rc %d, code %s, message %s\n", invalid[i], rc, e.code, e.message);
			T(0);
		} else {
			T(1);
		}
		policy_server_clear(&s);
		json_decref(t);
	}
	config_free(&c);
}

static void
test_secrets_in_errors(const struct config *cfg)
{
	static const char *const urls[] = {
	        "https://user:url-SECRET@169.254.169.254/?token=q-SECRET",
	        "https://user:url-SECRET@mcp.example.org/mcp?token=q-SECRET#f-SECRET",
	        "https://user:url-SECRET@bad host/?token=q-SECRET",
	        "https://mcp.example.org/mcp?token=q-SECRET",
	};
	struct policy_server s;
	struct api_error e;
	json_t *t, *env;
	char *text;
	size_t i;

	for (i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		t = mcp_tool("m", urls[i], NULL, NULL);
		T(policy_resolve(cfg, t, 0, &s, &e) == -1);
		env = api_error_envelope(&e);
		text = json_dumps(env, 0);
		if (text == NULL || strstr(text, "SECRET") != NULL || strstr(text, "user:") != NULL) {
			printf("secret in error: %s\n", text ? text : "(null)");
			T(0);
		} else {
			T(1);
		}
		free(text);
		json_decref(env);
		policy_server_clear(&s);
		json_decref(t);
	}
	/* The redacted URL is still shown, to say which tool was refused. */
	t = mcp_tool("m", urls[3], NULL, NULL);
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T(strstr(e.message, "'https://mcp.example.org/mcp'") != NULL);
	policy_server_clear(&s);
	json_decref(t);

	/* Header values and authorization with a line break: refused, never quoted. */
	t = J("{'type':'mcp','server_label':'plain','server_url':null,"
	      "'headers':{'X-Key':'h-SECRET\\r\\nX-Injected: 1'},'authorization':null}");
	T(policy_resolve(cfg, t, 5, &s, &e) == -1);
	T_STREQ(e.param, "tools[5].headers");
	T_STREQ(e.code, "invalid_value");
	T(strstr(e.message, "X-Key") != NULL && strstr(e.message, "SECRET") == NULL &&
	  strstr(e.message, "Injected") == NULL);
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','server_url':null,'headers':null,"
	      "'authorization':'a-SECRET\\nX-Injected: 1'}");
	T(policy_resolve(cfg, t, 5, &s, &e) == -1);
	T_STREQ(e.param, "tools[5].authorization");
	T(strstr(e.message, "SECRET") == NULL);
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','server_url':null,'headers':null,'authorization':''}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].authorization");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','server_url':null,'headers':null,'authorization':7}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].authorization");
	policy_server_clear(&s);
	json_decref(t);
	/* Bad header names, values of the wrong type, names the transport owns. */
	t = J("{'type':'mcp','server_label':'plain','headers':{'Bad Name':'v'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].headers");
	T(strstr(e.message, "not a valid HTTP header name") != NULL);
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','headers':{'X-A':5}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].headers");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','headers':['X-A: 1']}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].headers");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','headers':{'mcp-session-id':'abc'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.message, "header 'mcp-session-id' is set by the MCP client and cannot be given.");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'plain','headers':{'Host':'metadata.google.internal'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == -1);
	T_STREQ(e.param, "tools[0].headers");
	policy_server_clear(&s);
	json_decref(t);
	/* A tab inside a value is legal. */
	t = J("{'type':'mcp','server_label':'plain','headers':{'X-A':'a\\tb'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	T(count(s.headers) == 1 && s.headers[0] && strcmp(s.headers[0], "X-A: a\tb") == 0);
	policy_server_clear(&s);
	json_decref(t);
}

static void
expect_headers(char **got, const char *const *want, const char *what)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		if (got == NULL || got[i] == NULL || strcmp(got[i], want[i]) != 0)
			break;
	}
	if (want[i] != NULL || got == NULL || got[i] != NULL) {
		printf("%s: headers differ at %zu: got \"%s\", want \"%s\"\n", what, i,
		       got && got[i] ? got[i] : "(end)", want[i] ? want[i] : "(end)");
		T(0);
	} else {
		T(1);
	}
}

static void
test_headers(const struct config *cfg)
{
	static const char *const cfg_auth[] = {"X-Api-Key: cfg-key", "X-Trace: cfg",
	                                       "Authorization: Bearer cfg-token", "X-Extra: req", NULL};
	static const char *const cfg_only[] = {"X-Api-Key: cfg-key", "X-Trace: cfg",
	                                       "Authorization: Bearer cfg-token", NULL};
	static const char *const added[] = {"X-Api-Key: cfg-key", "X-Extra: req",
	                                    "Authorization: Bearer req-token", NULL};
	static const char *const hdr_auth[] = {"X-Api-Key: cfg-key", "authorization: Basic abc", NULL};
	static const char *const none[] = {"X-Api-Key: cfg-key", NULL};
	static const char *const url_both[] = {"X-Extra: req", "Authorization: Bearer req-token", NULL};
	static const char *const url_hdr[] = {"X-Extra: req", "Authorization: Basic abc", NULL};
	static const char *const url_tok[] = {"Authorization: Bearer req-token", NULL};
	struct policy_server s;
	struct api_error e;
	json_t *t;

	/* The config sets X-Api-Key (in another case) and Authorization: the request's are dropped, its
	 * other names added after the config's lines. */
	t = J("{'type':'mcp','server_label':'hdr','server_url':null,'headers':{'x-api-key':'req','X-Extra':'"
	      "req',"
	      "'AUTHORIZATION':'Bearer req-hdr'},'authorization':'req-token'}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, cfg_auth, "config with Authorization");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'hdr','server_url':null,'headers':null,'authorization':null}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, cfg_only, "config alone");
	policy_server_clear(&s);
	json_decref(t);
	/* No Authorization in the config: the request's authorization becomes a bearer token, and wins over
	 * a request header of that name. */
	t = J("{'type':'mcp','server_label':'noauth','server_url':null,'headers':{'X-Api-Key':'req','X-Extra'"
	      ":'req',"
	      "'Authorization':'Basic abc'},'authorization':'req-token'}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, added, "authorization added");
	policy_server_clear(&s);
	json_decref(t);
	/* Without authorization, the request's own Authorization header goes through. */
	t = J("{'type':'mcp','server_label':'noauth','headers':{'authorization':'Basic abc'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, hdr_auth, "request Authorization header");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'noauth'}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, none, "nothing from the request");
	policy_server_clear(&s);
	json_decref(t);
	/* A URL server: the request's headers and authorization only. */
	t = J("{'type':'mcp','server_label':'m','server_url':'http://127.0.0.1:9/"
	      "','headers':{'X-Extra':'req',"
	      "'Authorization':'Basic abc'},'authorization':'req-token'}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, url_both, "URL server");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'m','server_url':'http://127.0.0.1:9/"
	      "','headers':{'X-Extra':'req',"
	      "'Authorization':'Basic abc'}}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, url_hdr, "URL server, header only");
	policy_server_clear(&s);
	json_decref(t);
	t = J("{'type':'mcp','server_label':'m','server_url':'http://127.0.0.1:9/"
	      "','authorization':'req-token'}");
	T(policy_resolve(cfg, t, 0, &s, &e) == 0);
	expect_headers(s.headers, url_tok, "URL server, token only");
	policy_server_clear(&s);
	json_decref(t);
}

static void
test_max_tool_calls(const struct config *cfg)
{
	struct config c;

	T(policy_max_tool_calls(cfg, -1) == 64);
	T(policy_max_tool_calls(cfg, 0) == 0);
	T(policy_max_tool_calls(cfg, 1) == 1);
	T(policy_max_tool_calls(cfg, 63) == 63);
	T(policy_max_tool_calls(cfg, 64) == 64);
	T(policy_max_tool_calls(cfg, 65) == 64);
	T(policy_max_tool_calls(cfg, INT64_MAX) == 64);
	load_cfg(&c, "{" UP ",'mcp_policy':{'max_tool_calls':3}}");
	T(policy_max_tool_calls(&c, -1) == 3);
	T(policy_max_tool_calls(&c, 2) == 2);
	T(policy_max_tool_calls(&c, 4) == 3);
	config_free(&c);
}

int
main(void)
{
	struct config cfg, bare;

	load_cfg(&cfg, cfg_text);
	load_cfg(&bare, "{" UP ",'mcp_servers':[{'label':'plain','url':'https://plain.example/mcp'}]}");
	test_table(&cfg);
	test_resolve_label(&cfg);
	test_resolve_url(&cfg, &bare);
	test_blocked_hosts();
	test_secrets_in_errors(&cfg);
	test_headers(&cfg);
	test_max_tool_calls(&cfg);
	config_free(&cfg);
	config_free(&bare);
	return T_DONE();
}
