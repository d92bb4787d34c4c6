// toolhostd's MCP admin surface: GET /v1/mcp/servers, GET /v1/mcp/servers/{label}/tools, GET /metrics,
// with MCP servers from the config: the fault server (behind --bearer), server-everything
// (streamableHttp, with a secret in its URL's query and in a header) and a server that is down (a
// closed loopback port, with user info in its URL). Then the listing cache across SIGHUP (dropped),
// SIGTERM (sessions DELETEd) and a restart on the same store (served from the cache, no network).
//
// One daemon for the whole file; the tests run in order and build on each other. Every wait is
// bounded; everything stays on loopback and in a temp dir.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import { freePort, sanitizerReports, startDaemon } from './lib/harness.mjs';
import { startEverything, startMcpFault } from './lib/mcp.mjs';
import { validateErrorEnvelope } from './lib/schema.mjs';

const T = { timeout: 15000 };
const SETUP = { timeout: 30000 };
const EXIT_TIMEOUT_MS = 15000;

// Secrets that must never come back in a body (and, for the credentials, never reach the log).
const TOKEN = `bearer-${randomUUID()}`; // the fault server's bearer token
const HEADER_SECRET = `hdr-${randomUUID()}`; // a header value for server-everything
const QUERY_SECRET = `qry-${randomUUID()}`; // ?token= in server-everything's URL
const USERINFO_SECRET = `pw-${randomUUID()}`; // user info in the down server's URL
const BODY_SECRETS = { TOKEN, HEADER_SECRET, QUERY_SECRET, USERINFO_SECRET };

describe('MCP admin endpoints', () => {
	let fault;
	let everything;
	let downPort;
	let d;
	const bodies = []; // every response body the daemon sent in this file: [what, text]
	const counts = { hits: 0, misses: 0 }; // tools listings the test saw served from the cache or not

	async function get(urlPath) {
		const r = await d.request('GET', urlPath, undefined, {}, { timeoutMs: 10000 });
		bodies.push([`GET ${urlPath} -> ${r.status}`, r.body]);
		return r;
	}

	// A tools GET that must answer 200; counts cache hits and misses as the daemon should.
	async function tools(label) {
		const r = await get(`/v1/mcp/servers/${label}/tools`);
		assert.equal(r.status, 200, `GET tools of ${label}: ${r.body.slice(0, 500)}`);
		const body = r.json();
		if (body.from_cache === true) counts.hits++;
		else counts.misses++;
		return body;
	}

	function assertNoSecrets(text, where) {
		for (const [name, s] of Object.entries(BODY_SECRETS)) assert.ok(!text.includes(s), `${where} holds ${name}`);
	}

	before(async () => {
		[fault, everything, downPort] = await Promise.all([startMcpFault(['--bearer', TOKEN]), startEverything('streamableHttp'), freePort()]);
		d = await startDaemon({
			config: {
				mcp: { connect_timeout_ms: 2000, request_timeout_ms: 5000 },
				mcp_servers: [
					{ label: 'fault', url: fault.url, bearer: TOKEN },
					{ label: 'everything', url: `${everything.url}?token=${QUERY_SECRET}`, headers: { 'X-Test-Key': HEADER_SECRET } },
					{ label: 'down', url: `http://alice:${USERINFO_SECRET}@127.0.0.1:${downPort}/mcp?k=v#frag`, timeout_ms: 2000 },
				],
			},
		});
	}, SETUP);

	after(async () => {
		const errors = [];
		for (const stop of [() => d?.stop(), () => fault?.stop(), () => everything?.stop()]) {
			try {
				await stop();
			} catch (e) {
				errors.push(e);
			}
		}
		if (errors.length) throw errors[0];
	}, SETUP);

	it('GET /v1/mcp/servers lists labels and URLs without query, user info or headers', T, async () => {
		const r = await get('/v1/mcp/servers');
		assert.equal(r.status, 200);
		assert.match(String(r.headers['content-type']), /^application\/json/);
		const body = r.json();
		assert.equal(body.object, 'list');
		assert.deepEqual(
			body.data.map((s) => [s.label, s.url]),
			[
				['fault', fault.url],
				['everything', everything.url],
				['down', `http://127.0.0.1:${downPort}/mcp`],
			],
		);
		for (const s of body.data) {
			assert.equal(s.object, 'mcp.server');
			assert.deepEqual(Object.keys(s).sort(), ['label', 'object', 'url'], 'no headers or other fields');
		}
		assertNoSecrets(r.body, 'the server list');
		assert.ok(!/alice|token=|k=v|#frag|X-Test-Key|Authorization|Bearer/i.test(r.body), `leaks URL parts or headers: ${r.body}`);
	});

	it('tools of server-everything: 200 with echo; the second GET comes from the cache with no HTTP request', T, async () => {
		const first = await tools('everything');
		assert.equal(first.object, 'list');
		assert.equal(first.server_label, 'everything');
		assert.equal(first.from_cache, false);
		assert.equal(typeof first.protocol_version, 'string');
		assert.ok(first.protocol_version.length > 0, 'a negotiated protocol version');
		assert.ok(Array.isArray(first.data) && first.data.length > 0);
		const names = first.data.map((t) => t.name);
		assert.ok(names.includes('echo'), `echo among ${names.join(', ')}`);
		for (const t of first.data) assert.equal(typeof t.inputSchema, 'object', `${t.name} has an inputSchema`);

		const before = (await everything.stats()).http.total;
		const second = await tools('everything');
		assert.equal(second.from_cache, true);
		assert.deepEqual(
			second.data.map((t) => t.name),
			names,
		);
		assert.equal((await everything.stats()).http.total, before, 'no HTTP request to server-everything for a cached listing');
	});

	it('tools of the fault server: task_only and "bad name" hidden; the second GET is cached (one tools/list)', T, async () => {
		const first = await tools('fault');
		assert.equal(first.server_label, 'fault');
		assert.equal(first.from_cache, false);
		const names = first.data.map((t) => t.name);
		for (const n of ['echo', 'add', 'slow']) assert.ok(names.includes(n), `${n} among ${names.join(', ')}`);
		assert.ok(!names.includes('task_only'), 'task_only is hidden');
		assert.ok(!names.includes('bad name'), '"bad name" is hidden');
		assert.equal(first.hidden, 2);

		const s1 = await fault.stats();
		assert.equal(s1.tools_list.calls, 1, 'one tools/list so far');
		const second = await tools('fault');
		assert.equal(second.from_cache, true);
		assert.deepEqual(
			second.data.map((t) => t.name),
			names,
		);
		const s2 = await fault.stats();
		assert.equal(s2.tools_list.calls, 1, 'no second tools/list');
		assert.equal(s2.rpc.methods['tools/list'], 1);
		assert.equal(s2.http.total, s1.http.total, 'no HTTP request for a cached listing');
	});

	it('the fault server saw the configured bearer token on every request', T, async () => {
		const s = await fault.stats();
		assert.equal(s.auth.required, true);
		assert.deepEqual(s.auth.last, { present: true, correct: true });
		assert.ok(s.auth.ok >= 2, `auth.ok ${s.auth.ok}`);
		assert.equal(s.auth.missing, 0);
		assert.equal(s.auth.wrong, 0);
		assert.equal(s.sessions.created, 1, 'one pooled session');
	});

	it('an unknown label answers 404 with the error envelope', T, async () => {
		const r = await get('/v1/mcp/servers/nope/tools');
		assert.equal(r.status, 404);
		const body = validateErrorEnvelope(r.json());
		assert.equal(body.error.type, 'not_found');
		assert.equal(body.error.code, 'mcp_server_not_found');
		assert.match(body.error.message, /nope/);
		// A label is matched exactly.
		assert.equal((await get('/v1/mcp/servers/FAULT/tools')).status, 404);
	});

	it('a server that is down answers 502 mcp_server_error; the daemon keeps serving', T, async () => {
		const t0 = Date.now();
		const r = await get('/v1/mcp/servers/down/tools');
		counts.misses++;
		assert.equal(r.status, 502, r.body);
		const body = validateErrorEnvelope(r.json());
		assert.equal(body.error.type, 'server_error');
		assert.equal(body.error.code, 'mcp_server_error');
		assert.match(body.error.message, /^MCP server down: \S/, body.error.message);
		assert.match(body.error.message, /connect|refused|connection/i, `a clear reason: ${body.error.message}`);
		assert.ok(!/alice|k=v/.test(body.error.message), `no URL credentials in ${body.error.message}`);
		assert.ok(Date.now() - t0 < 5000, 'answered within the connect timeout');

		const h = await get('/healthz');
		assert.equal(h.status, 200);
		assert.equal(h.json().status, 'ok');
		// The other servers still answer (from the cache).
		assert.equal((await tools('fault')).from_cache, true);
		assert.equal((await get('/v1/mcp/servers')).status, 200);
	});

	it('GET /metrics: text/plain with MCP counters matching what the test did', T, async () => {
		const r = await get('/metrics');
		assert.equal(r.status, 200);
		assert.match(String(r.headers['content-type']), /^text\/plain/);
		const values = {};
		for (const line of r.body.split('\n')) {
			const m = /^(toolhost_[a-z_]+) ([0-9.]+)$/.exec(line);
			if (m) values[m[1]] = Number(m[2]);
		}
		assert.match(r.body, /^# TYPE toolhost_mcp_cache_hits_total counter$/m);
		assert.match(r.body, /^# TYPE toolhost_mcp_sessions_opened_total counter$/m);
		assert.equal(values.toolhost_mcp_cache_hits_total, counts.hits, r.body);
		assert.equal(values.toolhost_mcp_cache_misses_total, counts.misses, r.body);
		assert.equal(values.toolhost_mcp_sessions_opened_total, 2, `one session for each live server:\n${r.body}`);
		assert.ok(values.toolhost_mcp_http_requests_total >= 4, r.body);
		assert.equal(values.toolhost_mcp_calls_total, 0);
		assert.equal(values.toolhost_responses_active, 0);
	});

	it('SIGHUP drops the listing cache: the next GET is from_cache false', T, async () => {
		const s0 = await fault.stats();
		const from = d.stderr.length;
		process.kill(d.pid, 'SIGHUP');
		await d.waitLog(/reload: .*applied/, { from, timeoutMs: 5000 });

		const a = await tools('fault');
		assert.equal(a.from_cache, false, 'the cache was dropped on reload');
		assert.equal((await fault.stats()).tools_list.calls, s0.tools_list.calls + 1, 'one new tools/list');
		assert.equal((await tools('everything')).from_cache, false);
		// Cached again afterwards.
		assert.equal((await tools('fault')).from_cache, true);
		assert.equal((await fault.stats()).tools_list.calls, s0.tools_list.calls + 1);
		const s1 = await fault.stats();
		assert.deepEqual(s1.auth.last, { present: true, correct: true }, 'the reloaded config still sends the token');
	});

	it('no credential appears in any response body or in the daemon log', T, async () => {
		for (const [what, text] of bodies) assertNoSecrets(text, what);
		assert.ok(!d.stderr.includes(TOKEN), 'the bearer token is in the daemon log');
		assert.ok(!d.stderr.includes(HEADER_SECRET), 'a header value is in the daemon log');
	});

	it('URL credentials (query, user info) stay out of the daemon log', T, async () => {
		const lines = d.stderr.split('\n').filter((l) => l.includes(QUERY_SECRET) || l.includes(USERINFO_SECRET));
		assert.deepEqual(lines, [], 'log lines quoting a URL with its credentials');
	});

	let faultTotalAtExit;
	it('SIGTERM: MCP sessions are DELETEd; exit 0 without sanitizer reports', SETUP, async () => {
		const s0 = await fault.stats();
		assert.equal(s0.sessions.deleted_by_delete, 0);
		process.kill(d.pid, 'SIGTERM');
		const e = await d.waitExit(EXIT_TIMEOUT_MS);
		assert.ok(e, `toolhostd did not exit within ${EXIT_TIMEOUT_MS} ms of SIGTERM`);
		assert.deepEqual(e, { code: 0, signal: null }, d.stderr.slice(-4000));
		assert.deepEqual(sanitizerReports(d.stderr), [], d.stderr.slice(-8000));
		const s1 = await fault.stats();
		assert.ok(s1.sessions.deleted_by_delete >= 1, `deleted_by_delete ${s1.sessions.deleted_by_delete}`);
		assert.equal(s1.http.by_method.DELETE, s0.http.by_method.DELETE + 1, 'one DELETE for the one session');
		assert.equal(s1.sessions.live, 0);
		assert.deepEqual(s1.auth.last, { present: true, correct: true }, 'the DELETE carried the token');
		const ev = await everything.stats();
		assert.ok((ev.http.by_method.DELETE ?? 0) >= 1, `server-everything got a DELETE: ${JSON.stringify(ev.http)}`);
		assert.ok(!d.stderr.includes(TOKEN), 'the bearer token is in the daemon log');
		faultTotalAtExit = s1.http.total;
	});

	it('a restart on the same store within the TTL serves the listing from the cache, without a request', SETUP, async () => {
		assert.ok(faultTotalAtExit !== undefined, 'the SIGTERM test ran');
		await d.restart();
		const r = await tools('fault');
		assert.equal(r.from_cache, true, 'from the store written before the restart');
		const names = r.data.map((t) => t.name);
		assert.ok(names.includes('echo') && !names.includes('task_only') && !names.includes('bad name'), names.join(', '));
		const s = await fault.stats();
		assert.equal(s.http.total, faultTotalAtExit, 'the fault server saw no new HTTP request');
		assert.equal(s.tools_list.calls, 2);
		// The new process counted one cache hit and opened no session.
		const m = await get('/metrics');
		assert.match(m.body, /^toolhost_mcp_cache_hits_total 1$/m, m.body);
		assert.match(m.body, /^toolhost_mcp_cache_misses_total 0$/m, m.body);
		assert.match(m.body, /^toolhost_mcp_sessions_opened_total 0$/m, m.body);
		assert.match(m.body, /^toolhost_mcp_http_requests_total 0$/m, m.body);
		for (const [what, text] of bodies) assertNoSecrets(text, what);
	});
});
