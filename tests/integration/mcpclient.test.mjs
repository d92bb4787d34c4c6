// mcpclient (the MCP client library) through its CLI, build/asan/toolhost-mcp (or $TOOLHOST_MCP),
// against real MCP servers: @modelcontextprotocol/server-everything (Streamable HTTP and legacy
// HTTP+SSE), the fault-injecting tests/fakes/mcp-fault.mjs, and the @modelcontextprotocol/conformance
// client scenarios. Every test checks what the SERVER saw (its /_stats), not only what the client
// printed, and fails on any AddressSanitizer / UBSan / LeakSanitizer report on the CLI's stderr.
//
// Run alone: cd /work/main && node --test tests/integration/mcpclient.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, sanitizerReports } from './lib/harness.mjs';
import { mcpCliPath, REPO_ROOT, runMcp, startEverything, startMcpFault } from './lib/mcp.mjs';

const T = { timeout: 20000 };
const SETUP = { timeout: 30000 };

// tools/list of mcp-fault.mjs, minus the hidden ones (task_only: taskSupport required; "bad name").
const FAULT_TOOLS = [
	'echo',
	'add',
	'slow',
	'fail',
	'rpc_error',
	'huge',
	'hang',
	'progress',
	'drop_after_priming',
	'add_tool',
	'expire_sessions',
	'ask_roots',
	'ping_client',
];

const echo = (message) => ({ op: 'call', name: 'echo', args: { message } });
const call = (name, args = {}, extra = {}) => ({ op: 'call', name, args, ...extra });
const sleepStep = (ms) => ({ op: 'sleep', ms });

/** Runs the CLI; asserts it ended by itself (no timeout, no signal) with no sanitizer report. */
async function mcp(args, { input, timeoutMs = 15000, expectCode } = {}) {
	const r = await runMcp(args, { input, timeoutMs });
	const ctx = `toolhost-mcp ${args.join(' ')}\nstdout:\n${r.stdout.slice(0, 3000)}\nstderr:\n${r.stderr.slice(-6000)}`;
	assert.equal(r.timedOut, false, `did not exit within ${timeoutMs} ms\n${ctx}`);
	assert.deepEqual(sanitizerReports(r.stderr), [], `sanitizer report on stderr\n${ctx}`);
	assert.equal(r.signal, null, `killed by ${r.signal}\n${ctx}`);
	if (expectCode !== undefined) assert.equal(r.code, expectCode, `exit code ${r.code}\n${ctx}`);
	r.ctx = ctx;
	return r;
}

/** The script's result line(s) for step i (op list/call/stats), or progress lines with op 'progress'. */
function stepLines(r, step, op) {
	return r.lines.filter((l) => l.step === step && (op ? l.op === op : l.op !== 'progress'));
}
function stepLine(r, step) {
	const ls = stepLines(r, step);
	assert.equal(ls.length, 1, `exactly one result line for step ${step}\n${r.ctx}`);
	return ls[0];
}
/** The -S line printed at exit (the last stats line without a step). */
function finalStats(r) {
	const s = r.lines.filter((l) => l.op === 'stats' && l.step === undefined);
	assert.equal(s.length, 1, `one final stats line (-S)\n${r.ctx}`);
	return s[0];
}
function okCall(r, step) {
	const l = stepLine(r, step);
	assert.equal(l.op, 'call', r.ctx);
	assert.equal(l.ok, true, `step ${step} failed: ${JSON.stringify(l.error)}\n${r.ctx}`);
	return l;
}
function errCall(r, step) {
	const l = stepLine(r, step);
	assert.equal(l.ok, false, `step ${step} should have failed: ${JSON.stringify(l).slice(0, 500)}\n${r.ctx}`);
	assert.ok(l.error && typeof l.error.message === 'string' && l.error.message.length > 0, `an error with a message\n${r.ctx}`);
	return l;
}
const methods = (st) => st.rpc.methods;
const n = (x) => x ?? 0;

// ---------------------------------------------------------------------------------------------

describe('server-everything, Streamable HTTP', () => {
	let srv;
	let r;
	let st;
	const script = [
		{ op: 'list' },
		echo('hello everything'),
		call('get-sum', { a: 2, b: 3 }),
		call('get-structured-content', { location: 'Chicago' }),
		call('get-tiny-image'),
		call('trigger-long-running-operation', { duration: 1, steps: 2 }, { progress: true }),
	];

	before(async () => {
		srv = await startEverything('streamableHttp');
		await srv.resetStats();
		r = await mcp(['-x', '-', srv.url], { input: script, expectCode: 0 });
		st = await srv.stats();
	}, SETUP);
	after(() => srv?.stop());

	it('lists the callable tools, hides the task-only one, negotiates 2025-11-25', T, () => {
		const l = stepLine(r, 0);
		assert.equal(l.ok, true, JSON.stringify(l.error));
		for (const name of ['echo', 'get-sum', 'get-structured-content', 'get-tiny-image', 'trigger-long-running-operation'])
			assert.ok(l.names.includes(name), `${name} listed: ${l.names}`);
		assert.ok(!l.names.includes('simulate-research-query'), 'the task-only simulate-research-query is hidden');
		assert.ok(l.hidden >= 1, `hidden ${l.hidden}`);
		assert.equal(l.protocol_version, '2025-11-25');
		assert.equal(l.from_cache, false);
		assert.equal(l.tools.length, l.names.length);
		for (const t of l.tools) assert.equal(typeof t.inputSchema, 'object', `${t.name} has an inputSchema`);
	});

	it('echo, get-sum and get-structured-content answer as text', T, () => {
		assert.equal(okCall(r, 1).text, 'Echo: hello everything');
		assert.match(okCall(r, 2).text, /\b5\b/);
		const sc = okCall(r, 3);
		assert.equal(sc.is_error, false);
		assert.match(sc.text, /temperature/);
		assert.equal(typeof sc.result.structuredContent, 'object');
		assert.equal(typeof sc.result.structuredContent.temperature, 'number');
	});

	it('get-tiny-image is summarised (image/png, byte count), not repeated as base64', T, () => {
		const l = okCall(r, 4);
		const img = l.result.content.find((b) => b.type === 'image');
		assert.ok(img && img.data.length > 100, 'the server sent an image block');
		assert.match(l.text, /image\/png/);
		assert.match(l.text, /\d+ bytes/);
		assert.ok(!l.text.includes(img.data.slice(0, 32)), 'no base64 in the text');
		assert.ok(l.text.length < 1000, `text is a summary (${l.text.length} chars)`);
	});

	it('trigger-long-running-operation reports 2 increasing progress steps before its result', T, () => {
		const prog = stepLines(r, 5, 'progress');
		assert.equal(prog.length, 2, `progress lines: ${JSON.stringify(prog)}`);
		assert.ok(prog[0].progress < prog[1].progress, 'progress increases');
		assert.equal(prog[1].total, 2);
		const res = okCall(r, 5);
		assert.ok(r.lines.indexOf(prog[1]) < r.lines.indexOf(res), 'progress before the result');
		assert.match(res.text, /completed/i);
	});

	it('the server saw one session: one POST per message, one DELETE, no error status', T, () => {
		// initialize + notifications/initialized + tools/list + 5 tools/call
		assert.equal(st.http.by_method.POST, 8, JSON.stringify(st.http));
		assert.equal(st.http.by_method.DELETE, 1, JSON.stringify(st.http));
		for (const code of Object.keys(st.http.by_status)) assert.ok(Number(code) < 300, `status ${code} seen: ${JSON.stringify(st.http)}`);
	});
});

describe('server-everything, legacy HTTP+SSE (fallback)', () => {
	let srv;

	before(async () => {
		srv = await startEverything('sse');
	}, SETUP);
	after(() => srv?.stop());

	it('.../sse works through the fallback: 2024-11-05, list and echo', T, async () => {
		await srv.resetStats();
		const r = await mcp(['-x', '-', srv.url], { input: [{ op: 'list' }, echo('legacy')], expectCode: 0 });
		const l = stepLine(r, 0);
		assert.equal(l.ok, true, JSON.stringify(l.error));
		assert.equal(l.protocol_version, '2024-11-05');
		assert.ok(l.names.includes('echo'));
		assert.equal(okCall(r, 1).text, 'Echo: legacy');
		const st = await srv.stats();
		// The Streamable HTTP initialize POSTed to /sse (404), then GET /sse and 4 POSTs to the endpoint
		// (initialize, initialized, tools/list, tools/call), each answered 202.
		assert.equal(n(st.http.by_status['404']), 1, JSON.stringify(st.http));
		assert.equal(st.http.by_method.GET, 1, JSON.stringify(st.http));
		assert.equal(st.http.by_method.POST, 5, JSON.stringify(st.http));
		assert.equal(n(st.http.by_status['202']), 4, JSON.stringify(st.http));
	});
});

// ---------------------------------------------------------------------------------------------

describe('mcp-fault: sessions, cache, streams, errors', () => {
	let f;
	let tmp;

	before(async () => {
		[f, tmp] = await Promise.all([startMcpFault(), mkdtemp(path.join(os.tmpdir(), 'toolhost-mcpc-'))]);
	}, SETUP);
	after(async () => {
		await f?.stop();
		if (tmp) await rm(tmp, { recursive: true, force: true });
	});

	it('pools one session: list + 5 calls + 8 parallel calls -> 1 initialize, 13 tools/call, 1 DELETE', T, async () => {
		await f.resetStats();
		const par = Array.from({ length: 8 }, (_, i) => echo(`par-${i}`));
		const script = [{ op: 'list' }, ...Array.from({ length: 5 }, (_, i) => echo(`seq-${i}`)), { op: 'parallel', steps: par }];
		const r = await mcp(['-S', '-x', '-', f.url], { input: script, expectCode: 0 });
		assert.deepEqual(stepLine(r, 0).names, FAULT_TOOLS);
		for (let i = 1; i <= 5; i++) assert.equal(okCall(r, i).text, `Echo: seq-${i - 1}`);
		const parLines = stepLines(r, 6);
		assert.equal(parLines.length, 8, r.ctx);
		assert.ok(parLines.every((l) => l.ok), r.ctx);
		// Each answer went to its own call (routing by JSON-RPC id).
		assert.deepEqual(parLines.map((l) => l.text).sort(), par.map((s) => `Echo: ${s.args.message}`).sort());
		const cs = finalStats(r);
		assert.equal(cs.sessions_opened, 1);
		assert.ok(cs.sessions_reused >= 12, `sessions_reused ${cs.sessions_reused}`);
		const st = await f.stats();
		assert.equal(methods(st).initialize, 1, JSON.stringify(st.rpc));
		assert.equal(methods(st)['tools/call'], 13, JSON.stringify(st.rpc));
		assert.equal(methods(st)['tools/list'], 1, JSON.stringify(st.rpc));
		assert.equal(st.sessions.created, 1);
		assert.equal(st.sessions.deleted_by_delete, 1, 'one DELETE at exit');
		assert.equal(st.http.by_method.DELETE, 1);
		assert.equal(st.rpc.batches, 0, 'no JSON-RPC batches');
	});

	it('steady state: -n 50 -j 4 costs exactly 1 HTTP request per call', T, async () => {
		await f.resetStats();
		const r = await mcp(['-c', 'echo', '-a', '{"message":"x"}', '-n', '50', '-j', '4', f.url], { expectCode: 0 });
		const b = r.lines.find((l) => l.op === 'bench');
		assert.ok(b, r.ctx);
		assert.equal(b.calls, 50);
		assert.equal(b.errors, 0);
		assert.equal(b.http_requests_per_call, 1);
		assert.equal(b.sessions_opened, 1);
		const st = await f.stats();
		assert.equal(methods(st).initialize, 1);
		assert.equal(methods(st)['tools/call'], 51, 'the warm-up call + 50');
		// POSTs: initialize, initialized, then one per call: nothing else (no pings, no re-inits).
		assert.equal(st.http.by_method.POST, 2 + 51, JSON.stringify(st.http));
	});

	it('a session idle past -P is pinged before reuse; one idle past -e is DELETEd and a new one opened', T, async () => {
		await f.resetStats();
		const echo = (m) => ({ op: 'call', name: 'echo', args: { message: m } });
		// -P 1: ping after 1 s idle; -e 3: evict after 3 s idle (the housekeeping tick is 1 s).
		const script = [echo('a'), { op: 'sleep', ms: 1500 }, echo('b'), { op: 'sleep', ms: 4500 }, echo('c')];
		const r = await mcp(['-P', '1', '-e', '3', '-S', '-x', '-', f.url], { input: script, expectCode: 0, timeoutMs: 20000 });
		for (const i of [0, 2, 4]) assert.equal(okCall(r, i).ok, true, r.ctx);
		const st = await f.stats();
		assert.equal(methods(st).ping, 1, 'one ping before the reuse after 1.5 s: ' + JSON.stringify(st.rpc));
		assert.equal(methods(st).initialize, 2, 'the evicted session was replaced by a new one');
		assert.equal(st.sessions.deleted_by_delete, 2, 'the evicted session and the last one were DELETEd');
		const cs = finalStats(r);
		assert.equal(cs.sessions_opened, 2);
		assert.equal(cs.sessions_closed, 2, 'the eviction and the exit (-S prints after shutdown)');
	});

	it('cache: a new process lists from the SQLite cache with zero HTTP; never across credentials; -t -1 never', T, async () => {
		const db = path.join(tmp, 'cache.db');
		await f.resetStats();
		const r1 = await mcp(['-s', db, '-t', '60', '-S', f.url], { expectCode: 0 });
		const l1 = stepLine(r1, 0);
		assert.equal(l1.ok, true);
		assert.equal(l1.from_cache, false);
		const s1 = await f.stats();
		assert.equal(methods(s1)['tools/list'], 1);

		const r2 = await mcp(['-s', db, '-t', '60', '-S', f.url], { expectCode: 0 });
		const l2 = stepLine(r2, 0);
		assert.equal(l2.from_cache, true, 'second process: from the cache');
		assert.deepEqual(l2.names, l1.names);
		assert.equal(finalStats(r2).http_requests, 0);
		assert.equal(finalStats(r2).sessions_opened, 0);
		const s2 = await f.stats();
		assert.equal(s2.http.total - s1.http.total, 0, 'no HTTP request at all in the second run');
		assert.equal(n(methods(s2).initialize), n(methods(s1).initialize), 'no initialize');
		assert.equal(methods(s2)['tools/list'], 1, 'no second tools/list');

		const r3 = await mcp(['-s', db, '-t', '60', '-H', 'X-Tenant: b', f.url], { expectCode: 0 });
		assert.equal(stepLine(r3, 0).from_cache, false, 'another credential does not share the row');
		const s3 = await f.stats();
		assert.equal(methods(s3)['tools/list'], 2);

		for (let i = 0; i < 2; i++) {
			const r4 = await mcp(['-s', db, '-t', '-1', f.url], { expectCode: 0 });
			assert.equal(stepLine(r4, 0).from_cache, false, `-t -1 run ${i}: never from the cache`);
		}
		const s4 = await f.stats();
		assert.equal(methods(s4)['tools/list'], 4, 'each -t -1 run listed on the network');
	});

	it('list_changed on the GET stream drops the cached listing', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], {
			input: [{ op: 'list' }, { op: 'list' }, call('add_tool'), sleepStep(800), { op: 'list' }],
			expectCode: 0,
		});
		assert.equal(stepLine(r, 0).from_cache, false);
		assert.equal(stepLine(r, 1).from_cache, true, 'control: without list_changed the second list is cached');
		const m = /added (added_\d+)/.exec(okCall(r, 2).text);
		assert.ok(m, okCall(r, 2).text);
		const l = stepLine(r, 4);
		assert.equal(l.ok, true);
		assert.equal(l.from_cache, false, 'after list_changed: not from the cache');
		assert.ok(l.names.includes(m[1]), `${m[1]} in ${l.names}`);
		const st = await f.stats();
		assert.ok(st.list_changed_sent >= 1, 'the server sent list_changed');
		assert.equal(methods(st)['tools/list'], 2);
		assert.equal(methods(st).initialize, 1, 'no re-initialize needed');
	});

	it('expired session (404): re-initialized once, the call retried and ok', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], {
			input: [echo('before'), call('expire_sessions'), sleepStep(200), echo('after'), { op: 'stats' }],
			expectCode: 0,
		});
		assert.equal(okCall(r, 0).text, 'Echo: before');
		assert.equal(okCall(r, 3).text, 'Echo: after');
		const cs = stepLine(r, 4);
		assert.equal(cs.sessions_expired, 1);
		assert.equal(cs.sessions_opened, 2);
		const st = await f.stats();
		assert.equal(methods(st).initialize, 2);
		assert.equal(st.sessions.expired, 1);
		assert.ok(st.sessions.unknown_id_requests >= 1);
		assert.equal(n(st.tool_calls.echo), 2, 'the expired call reached the tool once, on the new session');
		assert.equal(methods(st)['tools/call'], 4, '3 calls + 1 retry');
	});

	it('resumption: drop_after_priming (end, reset) -> ok from a GET with the right Last-Event-ID after retry', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], {
			input: [call('drop_after_priming', { how: 'end' }), call('drop_after_priming', { how: 'reset' })],
			expectCode: 0,
		});
		assert.equal(okCall(r, 0).text, 'resumed after drop (end)');
		assert.equal(okCall(r, 1).text, 'resumed after drop (reset)');
		const st = await f.stats();
		assert.equal(st.drops.length, 2, JSON.stringify(st.drops));
		assert.ok(st.drops.every((d) => d.resumable));
		assert.equal(st.resumes.length, 2, `one resumption per drop: ${JSON.stringify(st.resumes)}`);
		const ids = new Set();
		for (const res of st.resumes) {
			assert.equal(res.status, 200, JSON.stringify(res));
			// The POST stream's own cursor (a per-request stream id), not the GET stream's.
			assert.match(res.last_event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}~\d+$/);
			assert.ok(res.ms_after_drop >= 190, `waited retry (200 ms) before resuming: ${res.ms_after_drop} ms`);
			assert.ok(res.ms_after_drop < 3000, `resumed promptly: ${res.ms_after_drop} ms`);
			ids.add(res.last_event_id.split('~')[0]);
		}
		assert.equal(ids.size, 2, 'each drop resumed its own stream');
		assert.equal(methods(st)['tools/call'], 2, 'resumed, not re-POSTed');
	});

	it('timeout: -T 500 on hang -> kind timeout, bounded', T, async () => {
		await f.resetStats();
		const r = await mcp(['-T', '500', '-c', 'hang', f.url], { expectCode: 1, timeoutMs: 10000 });
		const l = errCall(r, 0);
		assert.equal(l.error.kind, 'timeout');
		assert.ok(l.duration_us >= 450000 && l.duration_us < 2000000, `duration ${l.duration_us} us`);
		assert.ok(r.ms < 6000, `process took ${r.ms} ms`);
		const st = await f.stats();
		assert.equal(st.hang.started, 1);
	});

	it('timeout: the server receives notifications/cancelled even when the process exits right after', T, async () => {
		await f.resetStats();
		await mcp(['-T', '500', '-c', 'hang', f.url], { expectCode: 1, timeoutMs: 10000 });
		const st = await f.stats();
		assert.ok(st.cancelled.length >= 1, `cancelled[] is empty; rpc methods: ${JSON.stringify(methods(st))}`);
		assert.equal(st.cancelled[0].reason, 'timeout');
	});

	it('timeout: notifications/cancelled while the client stays up', T, async () => {
		await f.resetStats();
		const r = await mcp(['-T', '500', '-x', '-', f.url], { input: [call('hang'), sleepStep(300)], expectCode: 1 });
		assert.equal(errCall(r, 0).error.kind, 'timeout');
		const st = await f.stats();
		assert.equal(st.cancelled.length, 1, JSON.stringify(st.cancelled));
		assert.equal(st.cancelled[0].reason, 'timeout');
		assert.ok(st.cancelled[0].request_id !== null);
		assert.equal(st.hang.aborted, 1);
	});

	it('cancel: cancel_after_ms 200 on hang -> the server records the cancellation', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [call('hang', {}, { cancel_after_ms: 200 })], expectCode: 0 });
		assert.deepEqual(stepLines(r, 0), [{ op: 'call', step: 0, cancelled: true }], 'only the cancelled line, no late result');
		const st = await f.stats();
		assert.equal(st.hang.started, 1);
		assert.ok(st.cancelled.length >= 1, `cancelled[] is empty; rpc methods: ${JSON.stringify(methods(st))}`);
	});

	it('cancel: the server records the cancellation while the client stays up', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [call('hang', {}, { cancel_after_ms: 200 }), sleepStep(300)], expectCode: 0 });
		assert.deepEqual(stepLines(r, 0), [{ op: 'call', step: 0, cancelled: true }]);
		const st = await f.stats();
		assert.equal(st.cancelled.length, 1, JSON.stringify(st.cancelled));
		assert.match(String(st.cancelled[0].reason), /cancel/);
		assert.equal(st.hang.aborted, 1);
	});

	it('errors kept apart: isError result vs JSON-RPC error vs unknown tool', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [call('fail'), call('rpc_error'), call('no_such_tool'), echo('still fine')], expectCode: 1 });
		const a = okCall(r, 0);
		assert.equal(a.is_error, true);
		assert.match(a.text, /always fails/);
		const b = errCall(r, 1);
		assert.equal(b.error.kind, 'rpc');
		assert.equal(b.error.rpc_code, -32603);
		assert.match(b.error.message, /internal error on purpose/);
		const c = errCall(r, 2);
		assert.equal(c.error.kind, 'rpc');
		assert.equal(c.error.rpc_code, -32602);
		assert.match(c.error.message, /no_such_tool/);
		assert.equal(okCall(r, 3).text, 'Echo: still fine');
		const st = await f.stats();
		assert.equal(st.tool_calls.fail, 1);
		assert.equal(st.tool_calls.rpc_error, 1);
		assert.equal(st.tool_calls.no_such_tool, 1);
		assert.equal(methods(st).initialize, 1, 'errors do not cost the session');
	});

	it('huge: 9 MB answer -> protocol error naming the 8 MiB cap; 2 MB -> ok, exact text', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [call('huge', { bytes: 9000000 }), call('huge', { bytes: 2000000 })], expectCode: 1, timeoutMs: 20000 });
		const a = errCall(r, 0);
		assert.equal(a.error.kind, 'protocol');
		assert.match(a.error.message, /8388608|8 ?MiB/);
		const b = okCall(r, 1);
		assert.equal(b.text.length, 2000000);
		assert.equal(b.text, '0123456789'.repeat(200000));
		const st = await f.stats();
		assert.equal(st.tool_calls.huge, 2);
	});

	it('server requests: ping answered {}, roots/list answered -32601', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [call('ping_client'), call('ask_roots')], expectCode: 0 });
		assert.equal(okCall(r, 0).text, 'ping ok');
		assert.match(okCall(r, 1).text, /^roots error -32601/);
		const st = await f.stats();
		assert.equal(st.server_requests.ping?.ok, 1, JSON.stringify(st.server_requests));
		assert.deepEqual(st.server_requests.ping.answers[0].result, {});
		assert.equal(st.server_requests['roots/list']?.errors['-32601'], 1, JSON.stringify(st.server_requests));
		assert.equal(n(st.rpc.error_codes['-32601']), 1);
		assert.equal(st.rpc.responses, 1);
	});
});

describe('mcp-fault --unknown-session 400 (server-everything style expiry)', () => {
	let f;
	before(async () => {
		f = await startMcpFault(['--unknown-session', '400']);
	}, SETUP);
	after(() => f?.stop());

	it('a 400 "No valid session ID" is treated as expiry: re-initialized once, the call retried and ok', T, async () => {
		const r = await mcp(['-x', '-', f.url], {
			input: [echo('before'), call('expire_sessions'), sleepStep(200), echo('after'), { op: 'stats' }],
			expectCode: 0,
		});
		assert.equal(okCall(r, 3).text, 'Echo: after');
		assert.equal(stepLine(r, 4).sessions_expired, 1);
		const st = await f.stats();
		assert.equal(methods(st).initialize, 2);
		assert.ok(n(st.http.by_status['400']) >= 1, JSON.stringify(st.http));
		assert.equal(st.tool_calls.echo, 2);
	});
});

describe('pagination', () => {
	let paged;
	let repeat;
	let empty;
	before(async () => {
		[paged, repeat, empty] = await Promise.all([
			startMcpFault(['--pages', '2']),
			startMcpFault(['--pages', '2', '--cursor-mode', 'repeat']),
			startMcpFault(['--pages', '2', '--cursor-mode', 'empty']),
		]);
	}, SETUP);
	after(() => Promise.all([paged?.stop(), repeat?.stop(), empty?.stop()]));

	it('--pages 2: every page followed, the same tools as unpaged', T, async () => {
		const r = await mcp([paged.url], { expectCode: 0 });
		const l = stepLine(r, 0);
		assert.equal(l.ok, true, JSON.stringify(l.error));
		assert.deepEqual(l.names, FAULT_TOOLS);
		assert.equal(l.hidden, 2);
		const st = await paged.stats();
		assert.ok(st.tools_list.calls > 1, `tools/list calls ${st.tools_list.calls}`);
		assert.equal(st.tools_list.calls, 8, '15 tools in pages of 2');
		assert.equal(st.tools_list.cursors[0], null, 'no cursor on the first page');
	});

	for (const [mode, get] of [
		['repeat', () => repeat],
		['empty', () => empty],
	]) {
		it(`--cursor-mode ${mode}: the list fails clearly and the loop is bounded`, T, async () => {
			const f = get();
			const r = await mcp([f.url], { expectCode: 1 });
			const l = stepLine(r, 0);
			assert.equal(l.ok, false);
			assert.equal(l.error.kind, 'protocol');
			assert.match(l.error.message, /cursor/i);
			const st = await f.stats();
			assert.ok(st.tools_list.calls <= 3, `tools/list calls ${st.tools_list.calls}`);
		});
	}
});

describe('auth (--bearer)', () => {
	const TOKEN = 's3cret';
	let f;
	before(async () => {
		f = await startMcpFault(['--bearer', TOKEN]);
	}, SETUP);
	after(() => f?.stop());

	it('no token: kind auth, 401, resource_metadata and scope; the second call is backed off (no new request)', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], { input: [echo('a'), echo('b')], expectCode: 1 });
		const a = errCall(r, 0);
		assert.equal(a.error.kind, 'auth');
		assert.equal(a.error.http_status, 401);
		assert.match(a.error.resource_metadata ?? '', /\/\.well-known\/oauth-protected-resource/);
		assert.equal(a.error.scope, 'tools.read');
		const b = errCall(r, 1);
		assert.equal(b.error.kind, 'auth');
		assert.ok(b.duration_us < 200000, `fails fast: ${b.duration_us} us`);
		const st = await f.stats();
		assert.equal(st.http.total, 1, `one request reached /mcp: ${JSON.stringify(st.http)}`);
		assert.equal(st.auth.missing, 1);
	});

	it('with the token: ok; the token appears nowhere in the output (with and without -v)', T, async () => {
		await f.resetStats();
		for (const v of [[], ['-v']]) {
			const r = await mcp([...v, '-H', `Authorization: Bearer ${TOKEN}`, '-c', 'echo', '-a', '{"message":"authed"}', f.url], { expectCode: 0 });
			assert.equal(okCall(r, 0).text, 'Echo: authed');
			assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), `the token leaked (${v.join(' ')})`);
		}
		const st = await f.stats();
		assert.ok(st.auth.ok >= 6, `authorized requests ${st.auth.ok}`);
		assert.equal(st.auth.missing + st.auth.wrong, 0, 'every request carried the token');
	});

	it('a refused token: kind auth, and the token appears nowhere in the output (-v)', T, async () => {
		await f.resetStats();
		const wrong = 'wr0ng-t0ken-x';
		const r = await mcp(['-v', '-H', `Authorization: Bearer ${wrong}`, '-c', 'echo', '-a', '{"message":"x"}', f.url], { expectCode: 1 });
		assert.equal(errCall(r, 0).error.kind, 'auth');
		assert.ok(!r.stdout.includes(wrong) && !r.stderr.includes(wrong), 'a refused token leaked');
		const st = await f.stats();
		assert.equal(st.auth.wrong, 1, JSON.stringify(st.auth));
	});
});

describe('server down', () => {
	let url;
	before(async () => {
		url = `http://127.0.0.1:${await freePort()}/mcp`;
	});

	it('closed port: kind transport fast, exit 1; the next call (from the failed call\'s callback) is backed off', T, async () => {
		const r = await mcp(['-S', '-x', '-', url], { input: [echo('a'), echo('b')], expectCode: 1, timeoutMs: 10000 });
		assert.ok(r.ms < 5000, `took ${r.ms} ms`);
		const a = errCall(r, 0);
		assert.equal(a.error.kind, 'transport');
		assert.ok(a.duration_us < 3000000, `${a.duration_us} us`);
		assert.equal(finalStats(r).http_requests, 1, 'the second call sent nothing');
		const b = errCall(r, 1);
		assert.equal(b.error.kind, 'unavailable', JSON.stringify(b.error));
		assert.match(b.error.message, /back(ed)? ?off/i);
	});

	it('closed port: a call made later, during the back-off, is unavailable without a request', T, async () => {
		const r = await mcp(['-S', '-x', '-', url], { input: [echo('a'), sleepStep(50), echo('b')], expectCode: 1, timeoutMs: 10000 });
		assert.equal(errCall(r, 0).error.kind, 'transport');
		const b = errCall(r, 2);
		assert.equal(b.error.kind, 'unavailable', JSON.stringify(b.error));
		assert.match(b.error.message, /backed off/);
		assert.equal(finalStats(r).http_requests, 1);
	});
});

describe('mcp-fault --json (application/json answers)', () => {
	let f;
	before(async () => {
		f = await startMcpFault(['--json']);
	}, SETUP);
	after(() => f?.stop());

	it('list and calls work', T, async () => {
		await f.resetStats();
		const r = await mcp(['-x', '-', f.url], {
			input: [{ op: 'list' }, echo('json'), call('add', { a: 2, b: 40 }), call('progress', { steps: 2 }, { progress: true })],
			expectCode: 0,
		});
		const l = stepLine(r, 0);
		assert.equal(l.ok, true, JSON.stringify(l.error));
		assert.deepEqual(l.names, FAULT_TOOLS);
		assert.equal(l.protocol_version, '2025-11-25');
		assert.equal(okCall(r, 1).text, 'Echo: json');
		const add = okCall(r, 2);
		assert.equal(add.text, '42');
		assert.deepEqual(add.result.structuredContent, { sum: 42 });
		assert.equal(okCall(r, 3).text, 'done 2 steps', 'progress is dropped in JSON mode, the result still comes');
		const st = await f.stats();
		assert.equal(methods(st)['tools/list'], 1);
		assert.equal(methods(st)['tools/call'], 3);
		assert.equal(st.tool_calls.progress, 1);
	});

	// Known limitation: libcurl re-sends a request once, on a fresh connection, when the kept-alive
	// connection it reused dies before any byte of the answer; for a tools/call that can run a tool
	// twice. Tracked here until the client can forbid that retry.
	it('a connection reset before any answer fails the call fast, once: the tools/call is not sent twice', T, async () => {
		await f.resetStats();
		// echo first, so that the next POST goes on a reused keep-alive connection; in JSON mode the
		// server destroys the socket before a single response byte.
		const r = await mcp(['-T', '5000', '-x', '-', f.url], {
			input: [echo('warm'), call('drop_after_priming', { how: 'end' }), echo('after')],
			expectCode: 1,
		});
		const d = errCall(r, 1);
		assert.equal(d.error.kind, 'transport');
		assert.ok(d.duration_us < 2000000, `no hang: ${d.duration_us} us`);
		assert.equal(okCall(r, 2).text, 'Echo: after', 'the session carries on');
		const st = await f.stats();
		assert.equal(st.resumes.length, 0, 'nothing to resume in JSON mode');
		assert.equal(
			st.tool_calls.drop_after_priming,
			1,
			`one call ran the tool ${st.tool_calls.drop_after_priming} times; drops: ${JSON.stringify(st.drops)}`,
		);
		assert.equal(methods(st)['tools/call'], 3, 'one POST per call');
	});
});

// ---------------------------------------------------------------------------------------------

/** Runs a command in cwd to its end, bounded (SIGKILL to its process group). */
function runIn(argv, cwd, timeoutMs) {
	return new Promise((resolve, reject) => {
		const p = spawn(argv[0], argv.slice(1), { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		p.stdout.on('data', (c) => (out += c));
		p.stderr.on('data', (c) => (out += c));
		const timer = setTimeout(() => {
			try {
				process.kill(-p.pid, 'SIGKILL');
			} catch {
				p.kill('SIGKILL');
			}
			reject(new Error(`${argv.join(' ')} did not end within ${timeoutMs} ms\n${out.slice(-3000)}`));
		}, timeoutMs);
		p.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		p.on('close', (code) => {
			clearTimeout(timer);
			resolve({ code, out });
		});
	});
}

describe('conformance (@modelcontextprotocol/conformance client scenarios)', { concurrency: 3 }, () => {
	for (const scenario of ['initialize', 'tools_call', 'sse-retry']) {
		it(`${scenario}: OVERALL: PASSED`, { timeout: 60000 }, async () => {
			const cli = mcpCliPath();
			const outDir = await mkdtemp(path.join(os.tmpdir(), `toolhost-conf-${scenario}-`));
			try {
				const argv = ['npx', '--no-install', 'conformance', 'client', '--command', cli, '--scenario', scenario, '-o', outDir];
				const r = await runIn(argv, path.join(REPO_ROOT, 'tests'), 55000);
				// The client's own stdout/stderr, as the runner saved them.
				let clientOut = '';
				for (const d of await readdir(outDir))
					for (const f of ['stdout.txt', 'stderr.txt']) clientOut += await readFile(path.join(outDir, d, f), 'utf8').catch(() => '');
				assert.deepEqual(sanitizerReports(r.out + clientOut), [], (r.out + clientOut).slice(-4000));
				assert.match(r.out, /OVERALL: PASSED/, r.out.slice(-4000));
				assert.equal(r.code, 0, r.out.slice(-4000));
			} finally {
				await rm(outDir, { recursive: true, force: true });
			}
		});
	}
});
