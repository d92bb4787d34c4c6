// Stored responses belong to their caller (issue 11, defect 2): the owner is the caller identity,
// "uid=N" on the Unix socket and "key=NAME" on TCP. Every endpoint that reads, chains, cancels or
// deletes a response acts only for its owner; anyone else gets the 404 an unknown id gets, so ids
// cannot be probed. /v1/mcp/audit lists the caller's own rows. Operators (config "operators", Unix
// socket only) see and act on everything. A version 3 database migrates with its responses owned by
// nobody but the operators.
//
// This process runs as root: on the socket it is "uid=0", which is NOT an operator unless listed.
// Two api keys on loopback TCP are the other callers; their names share their first 40 characters
// (the identity used to be cut there, which made them one owner). Every wait is bounded; everything
// stays on loopback and in temp dirs.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deepMerge, freePort, httpRequest, rawSSE, runCommand, startDaemon } from './lib/harness.mjs';
import { REPO_ROOT, startMcpFault } from './lib/mcp.mjs';
import { mcp, waitFor } from './lib/responses-mcp.mjs';
import { validateErrorEnvelope, validateResponse } from './lib/schema.mjs';

const T = { timeout: 30000 };
const SETUP = { timeout: 40000 };

const PREFIX = 'owner-test-key-name-sharing-40-chars-xx'; // 40 characters with the '-' below
const KEY_A = { name: `${PREFIX}-a`, key: 'ownership-key-a-0123456789' };
const KEY_B = { name: `${PREFIX}-b`, key: 'ownership-key-b-0123456789' };

/** Asserts the 404 of an id that is not the caller's: the same envelope an unknown id gets. */
function expect404(r, what, code = 'response_not_found') {
	assert.equal(r.status, 404, `${what}: status ${r.status}: ${String(r.body).slice(0, 300)}`);
	const e = validateErrorEnvelope(JSON.parse(r.body)).error;
	assert.equal(e.code, code, `${what}: ${r.body}`);
	return e;
}

function expect200(r, what) {
	assert.equal(r.status, 200, `${what}: status ${r.status}: ${String(r.body).slice(0, 300)}`);
	return JSON.parse(r.body);
}

/** Starts a daemon with a TCP listener for KEY_A and KEY_B; extra config merged over it. */
async function startTwoKeys(extra = {}, mcpUrl = null) {
	const port = await freePort('127.0.0.1');
	const d = await startDaemon({
		config: deepMerge(
			{
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [KEY_A, KEY_B],
				...(mcpUrl ? { mcp_servers: [{ label: 'fault', url: mcpUrl, cache_ttl_s: 0 }] } : {}),
			},
			extra,
		),
	});
	const target = { host: '127.0.0.1', port };
	// One caller each: as(KEY_A), as(KEY_B), and the Unix socket (uid 0).
	const as = (k) => (method, urlPath, body) => httpRequest(target, method, urlPath, body, { authorization: `Bearer ${k.key}` });
	return { d, a: as(KEY_A), b: as(KEY_B), u: (method, urlPath, body) => d.request(method, urlPath, body) };
}

// MCP items are not in the Open Responses schema: those responses are checked by hand.
async function created(call, body, what) {
	const r = expect200(await call('POST', '/v1/responses', body), what);
	if (!body.tools) validateResponse(r);
	assert.equal(r.status, 'completed', what);
	return r;
}

// The first event of a stream carries the response id.
function streamUntilCreated(d, body) {
	let resolveId;
	const id = new Promise((resolve) => {
		resolveId = resolve;
	});
	const done = rawSSE(d.socketPath, '/v1/responses', body, {
		onFrame(f) {
			if (f.kind !== 'event' || f.data === '[DONE]') return;
			const ev = JSON.parse(f.data);
			if (ev.type === 'response.created') resolveId(ev.response.id);
		},
	});
	return { id, done };
}

function streamTypes(res) {
	return res.frames.filter((f) => f.kind === 'event' && f.data !== '[DONE]').map((f) => JSON.parse(f.data).type);
}

describe('stored responses are scoped to their caller', () => {
	let fault;
	let s; // {d, a, b, u}

	before(async () => {
		fault = await startMcpFault();
		s = await startTwoKeys({}, fault.url);
	}, SETUP);

	after(async () => {
		await s?.d.stop();
		await fault?.stop();
	}, SETUP);

	it('GET, input_items and DELETE: 404 for every other caller, the owner still served', T, async () => {
		const r = await created(s.a, { model: 'fake-text', input: 'echo: mine' }, 'create as key a');
		const others = [
			['key b (same first 40 characters)', s.b],
			['uid 0 on the socket', s.u],
		];
		for (const [who, call] of others) {
			expect404(await call('GET', `/v1/responses/${r.id}`), `GET by ${who}`);
			expect404(await call('GET', `/v1/responses/${r.id}/input_items`), `input_items by ${who}`);
			expect404(await call('DELETE', `/v1/responses/${r.id}`), `DELETE by ${who}`);
			// Exactly what an unknown id gets: nothing tells the two apart.
			const unknown = await call('GET', '/v1/responses/resp_doesnotexist');
			const mine = await call('GET', `/v1/responses/${r.id}`);
			assert.deepEqual(
				JSON.parse(mine.body).error.message.replace(r.id, 'X'),
				JSON.parse(unknown.body).error.message.replace('resp_doesnotexist', 'X'),
			);
			// A stored, finished response: another caller's cancel is a 404, not "not cancellable".
			expect404(await call('POST', `/v1/responses/${r.id}/cancel`), `cancel by ${who}`);
		}
		// The deletes left it in place.
		const got = expect200(await s.a('GET', `/v1/responses/${r.id}`), 'GET by the owner');
		assert.equal(got.id, r.id);
		const items = expect200(await s.a('GET', `/v1/responses/${r.id}/input_items`), 'input_items by the owner');
		assert.equal(items.object, 'list');
		assert.ok(items.data.length >= 1);
		const c = await s.a('POST', `/v1/responses/${r.id}/cancel`);
		assert.equal(c.status, 400, c.body);
		assert.equal(JSON.parse(c.body).error.code, 'response_not_cancellable');
		const del = expect200(await s.a('DELETE', `/v1/responses/${r.id}`), 'DELETE by the owner');
		assert.deepEqual(del, { id: r.id, object: 'response.deleted', deleted: true });
		expect404(await s.a('GET', `/v1/responses/${r.id}`), 'GET after the delete');

		// The other way round: uid 0's response is not key a's.
		const u = await created(s.u, { model: 'fake-text', input: 'echo: root' }, 'create on the socket');
		expect404(await s.a('GET', `/v1/responses/${u.id}`), 'GET of uid 0 by key a');
		expect404(await s.b('DELETE', `/v1/responses/${u.id}`), 'DELETE of uid 0 by key b');
		expect200(await s.u('GET', `/v1/responses/${u.id}`), 'GET by uid 0');
	});

	it('previous_response_id: a chain through another caller\'s response is refused, on every hop', T, async () => {
		const r1 = await created(s.a, { model: 'fake-text', input: 'echo: one' }, 'r1');
		const r2 = await created(s.a, { model: 'fake-text', input: 'echo: two', previous_response_id: r1.id }, 'r2');
		for (const prev of [r1.id, r2.id]) {
			for (const [who, call] of [
				['key b', s.b],
				['uid 0', s.u],
			]) {
				const res = await call('POST', '/v1/responses', { model: 'fake-text', input: 'echo: steal', previous_response_id: prev });
				const e = expect404(res, `chain by ${who} through ${prev}`, 'previous_response_not_found');
				assert.equal(e.param, 'previous_response_id');
			}
		}
		// A stream is refused the same way, before any event.
		const st = await rawSSE(s.d.socketPath, '/v1/responses', { model: 'fake-text', input: 'x', stream: true, previous_response_id: r2.id });
		assert.equal(st.status, 404, st.text.slice(0, 300));
		const r3 = await created(s.a, { model: 'fake-text', input: 'echo: three', previous_response_id: r2.id }, 'r3 by the owner');
		assert.equal(r3.previous_response_id, r2.id);
	});

	it('cancel of a streaming response by another caller fails and the stream completes', T, async () => {
		const { id, done } = streamUntilCreated(s.d, { model: 'fake-slow', input: 'hi', stream: true });
		const rid = await id;
		expect404(await s.a('POST', `/v1/responses/${rid}/cancel`), 'cancel by key a');
		expect404(await s.b('GET', `/v1/responses/${rid}`), 'GET of the running one by key b');
		const res = await done;
		assert.equal(res.status, 200);
		const types = streamTypes(res);
		assert.equal(types.at(-1), 'response.completed', types.join(','));
		const stored = expect200(await s.u('GET', `/v1/responses/${rid}`), 'GET by the owner');
		assert.equal(stored.status, 'completed');
	});

	it('background responses: polled and cancelled only by their owner', T, async () => {
		const q = expect200(await s.a('POST', '/v1/responses', { model: 'fake-slow', input: 'bg', background: true }), 'background');
		assert.equal(q.status, 'queued');
		for (const call of [s.b, s.u]) {
			expect404(await call('GET', `/v1/responses/${q.id}`), 'poll by another caller');
			expect404(await call('POST', `/v1/responses/${q.id}/cancel`), 'cancel by another caller');
		}
		const end = await waitFor(async () => {
			const r = expect200(await s.a('GET', `/v1/responses/${q.id}`), 'poll by the owner');
			return r.status === 'completed' || r.status === 'cancelled' ? r : null;
		}, 'the background response to end');
		assert.equal(end.status, 'completed');

		// The owner's cancel works while it runs.
		const q2 = expect200(await s.b('POST', '/v1/responses', { model: 'fake-slow-long', input: 'bg', background: true }), 'background 2');
		const c = expect200(await s.b('POST', `/v1/responses/${q2.id}/cancel`), 'cancel by the owner');
		assert.equal(c.status, 'cancelled');
	});

	it('/v1/mcp/audit lists only the caller\'s own rows', T, async () => {
		const body = (m) => ({ model: 'fake-mcp', input: `call echo {"message":"${m}"}`, tools: [mcp('fault')] });
		const ra = await created(s.a, body('from-a'), 'mcp by key a');
		const rb = await created(s.b, body('from-b'), 'mcp by key b');
		const ru = await created(s.u, body('from-u'), 'mcp by uid 0');
		const rows = async (call) => expect200(await call('GET', '/v1/mcp/audit?limit=1000'), 'audit').data;
		const expect = [
			[s.a, `key=${KEY_A.name}`, ra.id],
			[s.b, `key=${KEY_B.name}`, rb.id],
			[s.u, 'uid=0', ru.id],
		];
		for (const [call, caller, rid] of expect) {
			const data = await rows(call);
			assert.ok(data.length >= 1, `${caller}: rows`);
			assert.deepEqual([...new Set(data.map((x) => x.caller))], [caller], `${caller} sees only its rows`);
			assert.ok(data.some((x) => x.response_id === rid), `${caller}: its call is there`);
		}
	});
});

const NOBODY = 65534;

/** GET urlPath over the Unix socket as uid/gid 65534 (setpriv + curl; the tests run as root). */
async function getAsNobody(socketPath, urlPath) {
	const r = await runCommand(
		['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'curl', '-sS', '--max-time', '10', '--unix-socket', socketPath, '-w', '\n%{http_code}', `http://localhost${urlPath}`],
		{ timeoutMs: 15000 },
	);
	assert.equal(r.code, 0, `curl as uid ${NOBODY} failed (exit ${r.code}): ${r.stderr}`);
	const nl = r.stdout.lastIndexOf('\n');
	return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

describe('operators', () => {
	let s;

	before(async () => {
		// uid 65534 is an operator without being in listen.unix.allow_uids: listing it lets it in.
		s = await startTwoKeys({ operators: { uids: [0, NOBODY] }, listen: { unix: { mode: '0666' } } });
		fs.chmodSync(s.d.dir, 0o755); // so that uid 65534 can reach the socket at all
	}, SETUP);

	it('an operator that is not in allow_uids is let in and sees every response', T, async () => {
		const r = await created(s.a, { model: 'fake-text', input: 'echo: a' }, 'create as key a');
		const got = await getAsNobody(s.d.socketPath, `/v1/responses/${r.id}`);
		assert.equal(got.status, 200, got.body);
		assert.equal(JSON.parse(got.body).id, r.id);
	});

	after(async () => {
		await s?.d.stop();
	}, SETUP);

	it('an operator on the socket sees and acts on every response; what it creates is its own', T, async () => {
		const r = await created(s.a, { model: 'fake-text', input: 'echo: a' }, 'create as key a');
		expect200(await s.u('GET', `/v1/responses/${r.id}`), 'operator GET');
		expect200(await s.u('GET', `/v1/responses/${r.id}/input_items`), 'operator input_items');
		const chained = await created(s.u, { model: 'fake-text', input: 'echo: op', previous_response_id: r.id }, 'operator chain');
		// The operator's own response: the keys cannot reach it.
		expect404(await s.a('GET', `/v1/responses/${chained.id}`), 'key a GET of the operator\'s response');
		expect404(await s.b('GET', `/v1/responses/${chained.id}`), 'key b GET of the operator\'s response');
		// Still scoped between the keys.
		expect404(await s.b('GET', `/v1/responses/${r.id}`), 'key b GET');

		const q = expect200(await s.b('POST', '/v1/responses', { model: 'fake-slow-long', input: 'bg', background: true }), 'background b');
		expect404(await s.a('POST', `/v1/responses/${q.id}/cancel`), 'key a cancel');
		expect200(await s.u('GET', `/v1/responses/${q.id}`), 'operator poll');
		const c = expect200(await s.u('POST', `/v1/responses/${q.id}/cancel`), 'operator cancel');
		assert.equal(c.status, 'cancelled');
		expect200(await s.u('DELETE', `/v1/responses/${r.id}`), 'operator DELETE');
		expect404(await s.a('GET', `/v1/responses/${r.id}`), 'gone for its owner too');
	});
});

describe('a version 3 database', () => {
	let dir;

	before(async () => {
		dir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-owner-'));
	});

	after(async () => {
		await rm(dir, { recursive: true, force: true });
	});

	it('migrates; its responses and audit rows are reachable only by an operator', { timeout: 60000 }, async () => {
		const db = path.join(dir, 'v3.db');
		// Migrations 1 to 3 exactly as those releases wrote them, one old response and audit row.
		const sql = [
			'CREATE TABLE responses (id TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, response_json TEXT NOT NULL, input_json TEXT NOT NULL);',
			'CREATE INDEX responses_created_at ON responses(created_at);',
			'CREATE TABLE mcp_tool_cache (url TEXT NOT NULL, cred_hash TEXT NOT NULL, protocol_version TEXT NOT NULL, tools_json TEXT NOT NULL, fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (url, cred_hash, protocol_version));',
			'CREATE INDEX mcp_tool_cache_expires_at ON mcp_tool_cache(expires_at);',
			'CREATE TABLE mcp_transport (url TEXT PRIMARY KEY NOT NULL, transport TEXT NOT NULL, protocol_version TEXT NOT NULL, updated_at INTEGER NOT NULL);',
			"CREATE TABLE mcp_approvals (id TEXT PRIMARY KEY NOT NULL, response_id TEXT NOT NULL, server_label TEXT NOT NULL, target_sha256 TEXT NOT NULL, tool TEXT NOT NULL, arguments_sha256 TEXT NOT NULL, requested_by TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'executed')), decided_by TEXT, reason TEXT, created_at INTEGER NOT NULL, decided_at INTEGER NOT NULL);",
			'CREATE TABLE mcp_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, response_id TEXT, caller TEXT, server_label TEXT, server_url TEXT, tool TEXT, args_bytes INTEGER NOT NULL, args_sha256 TEXT, outcome TEXT, error TEXT, duration_ms INTEGER NOT NULL, approval_id TEXT, decided_by TEXT);',
			'CREATE INDEX mcp_audit_at_ms ON mcp_audit(at_ms);',
			'CREATE TABLE secrets (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);',
			`INSERT INTO responses VALUES ('resp_old3', 1700000000, '${JSON.stringify({
				id: 'resp_old3',
				object: 'response',
				created_at: 1700000000,
				status: 'completed',
				model: 'fake-text',
				output: [{ type: 'message', id: 'msg_old', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'old', annotations: [] }] }],
			})}', '[{"type":"message","id":"in_old","role":"user","content":[{"type":"input_text","text":"hi"}]}]');`,
			`INSERT INTO mcp_audit (at_ms, response_id, caller, tool, args_bytes, duration_ms) VALUES (${Date.now()}, 'resp_old3', 'key=${KEY_A.name}', 'old_tool', 0, 0);`,
			'PRAGMA user_version = 3;',
		].join('\n');
		const cli = await runCommand(['sqlite3', '-batch', db, sql]);
		assert.equal(cli.code, 0, `sqlite3: ${cli.stderr}`);

		const old = 'resp_old3';
		let s = await startTwoKeys({ store: { path: db } });
		try {
			for (const [who, call] of [
				['key a', s.a],
				['key b', s.b],
				['uid 0, not an operator', s.u],
			]) {
				expect404(await call('GET', `/v1/responses/${old}`), `GET by ${who}`);
				expect404(await call('GET', `/v1/responses/${old}/input_items`), `input_items by ${who}`);
				expect404(await call('DELETE', `/v1/responses/${old}`), `DELETE by ${who}`);
				const res = await call('POST', '/v1/responses', { model: 'fake-text', input: 'x', previous_response_id: old });
				expect404(res, `chain by ${who}`, 'previous_response_not_found');
			}
			// The audit rows keep their caller.
			const rows = expect200(await s.a('GET', '/v1/mcp/audit?limit=10'), 'audit by key a').data;
			assert.ok(rows.some((x) => x.tool === 'old_tool'));
			assert.ok(!expect200(await s.u('GET', '/v1/mcp/audit?limit=10'), 'audit by uid 0').data.some((x) => x.tool === 'old_tool'));
		} finally {
			await s.d.stop();
		}
		const ver = await runCommand(['sqlite3', '-batch', db, 'PRAGMA user_version; SELECT owner FROM responses;']);
		assert.equal(ver.stdout, '7\nlegacy:\n');

		s = await startTwoKeys({ store: { path: db }, operators: { uids: [0] } });
		try {
			const got = expect200(await s.u('GET', `/v1/responses/${old}`), 'operator GET');
			assert.equal(got.output[0].content[0].text, 'old');
			const items = expect200(await s.u('GET', `/v1/responses/${old}/input_items`), 'operator input_items');
			assert.equal(items.data[0].id, 'in_old');
			expect404(await s.a('GET', `/v1/responses/${old}`), 'key a GET under an operator config');
			assert.ok(expect200(await s.u('GET', '/v1/mcp/audit?limit=10'), 'operator audit').data.some((x) => x.tool === 'old_tool'));
			await created(s.u, { model: 'fake-text', input: 'echo: next', previous_response_id: old }, 'operator chain');
			expect200(await s.u('DELETE', `/v1/responses/${old}`), 'operator DELETE');
		} finally {
			await s.d.stop();
		}
	});
});

describe('GET /v1/approvals: the operator\'s view of every caller\'s approvals', () => {
	let fault;
	let s;

	before(async () => {
		fault = await startMcpFault();
		s = await startTwoKeys({ operators: { uids: [0] } }, fault.url);
	}, SETUP);

	after(async () => {
		await s?.d.stop();
		await fault?.stop();
	}, SETUP);

	const tools = [{ type: 'mcp', server_label: 'fault' }]; // require_approval defaults to "always"
	const ask = (m) => ({ model: 'fake-mcp', input: `call echo {"message":"${m}"}`, tools });
	const sha256 = (text) => createHash('sha256').update(text).digest('hex');

	it('pending approvals of every caller, newest first, by state and by response; one by id', T, async () => {
		const ra = await created(s.a, ask('from-a'), 'approval asked by key a');
		const apra = ra.output.at(-1);
		assert.equal(apra.type, 'mcp_approval_request');
		const rb = await created(s.b, ask('from-b'), 'approval asked by key b');
		const aprb = rb.output.at(-1);

		const pending = expect200(await s.u('GET', '/v1/approvals'), 'operator list');
		assert.equal(pending.object, 'list');
		assert.deepEqual(pending.data.map((x) => x.id), [aprb.id, apra.id], 'newest first, both callers');
		const [xb, xa] = pending.data;
		for (const x of pending.data) {
			assert.equal(x.object, 'approval');
			assert.equal(x.status, 'pending');
			assert.equal(x.version, 1);
			assert.equal(x.server_label, 'fault');
			assert.equal(x.tool, 'echo');
			assert.equal(x.decided_by, null);
		}
		assert.equal(xa.requested_by, `key=${KEY_A.name}`);
		assert.equal(xb.requested_by, `key=${KEY_B.name}`);
		assert.equal(xa.response_id, ra.id);
		assert.equal(xa.arguments_sha256, sha256(apra.arguments));

		const ofA = expect200(await s.u('GET', `/v1/approvals?response_id=${ra.id}&status=all`), 'by response');
		assert.deepEqual(ofA.data.map((x) => x.id), [apra.id]);
		assert.equal(expect200(await s.u('GET', '/v1/approvals?limit=1'), 'limit 1').data.length, 1);

		// Key a denies its own: the row leaves the pending list, with who decided and a new version.
		await created(
			s.a,
			{ model: 'fake-mcp', previous_response_id: ra.id, input: [{ type: 'mcp_approval_response', approval_request_id: apra.id, approve: false, reason: 'not now' }], tools },
			'denied by key a',
		);
		assert.deepEqual(expect200(await s.u('GET', '/v1/approvals'), 'pending after').data.map((x) => x.id), [aprb.id]);
		const denied = expect200(await s.u('GET', `/v1/approvals?status=denied&response_id=${ra.id}`), 'denied').data;
		assert.deepEqual(denied.map((x) => [x.id, x.decided_by, x.reason, x.version]), [[apra.id, `key=${KEY_A.name}`, 'not now', 2]]);
		const one = expect200(await s.u('GET', `/v1/approvals/${apra.id}`), 'one by id');
		assert.equal(one.object, 'approval');
		assert.equal(one.status, 'denied');
		assert.equal(one.requested_by, `key=${KEY_A.name}`);
		assert.deepEqual(one, { ...denied[0] });
	});

	it('toolhostctl approvals / approval ID: the same rows, as a table, one by one and as JSON', T, async () => {
		const ctl = (...args) => runCommand([path.resolve(REPO_ROOT, process.env.TOOLHOSTCTL || 'build/asan/toolhostctl'), '-s', s.d.socketPath, ...args], { timeoutMs: 15000 });
		const r = await created(s.b, ask('for the terminal'), 'approval asked by key b');
		const apr = r.output.at(-1);
		const table = await ctl('approvals');
		assert.equal(table.code, 0, table.stderr);
		const lines = table.stdout.trim().split('\n');
		assert.match(lines[0], /^ID\s+STATE\s+V\s+CALLER\s+SERVER\/TOOL\s+RESPONSE\s+CREATED$/);
		const row = lines.find((l) => l.startsWith(apr.id));
		assert.ok(row, table.stdout);
		assert.match(row, new RegExp(`^${apr.id}\\s+pending\\s+1\\s+key=${KEY_B.name}\\s+fault/echo\\s+${r.id}\\s+\\d{4}-\\d\\d-\\d\\dT`));

		const json = await ctl('-j', 'approvals', '-r', r.id, '-S', 'all', '-n', '5');
		assert.equal(json.code, 0, json.stderr);
		const api = expect200(await s.u('GET', `/v1/approvals?response_id=${r.id}&status=all&limit=5`), 'the same list over HTTP');
		assert.deepEqual(JSON.parse(json.stdout), api);

		const one = await ctl('approval', apr.id);
		assert.equal(one.code, 0, one.stderr);
		assert.match(one.stdout, new RegExp(`^id\\s+${apr.id}$`, 'm'));
		assert.match(one.stdout, /^status\s+pending$/m);
		assert.match(one.stdout, new RegExp(`^requested_by\\s+key=${KEY_B.name}$`, 'm'));

		const missing = await ctl('approval', 'mcpr_nosuch');
		assert.equal(missing.code, 1);
		assert.match(missing.stderr, /HTTP 404: No approval with that id/);
		const bad = await ctl('approvals', '-S', 'bogus');
		assert.equal(bad.code, 1);
		assert.match(bad.stderr, /HTTP 400: status must be/);
		assert.equal((await ctl('frobnicate')).code, 2);
		const gone = await runCommand([path.resolve(REPO_ROOT, process.env.TOOLHOSTCTL || 'build/asan/toolhostctl'), '-s', `${s.d.socketPath}.nosuch`, 'approvals'], { timeoutMs: 15000 });
		assert.equal(gone.code, 2);
		assert.match(gone.stderr, /nosuch/);
	});

	it('a caller is not an operator (403 operator_only); unknown ids 404; bad arguments 400', T, async () => {
		for (const [call, who] of [
			[s.a, 'key a'],
			[s.b, 'key b'],
		]) {
			for (const p of ['/v1/approvals', '/v1/approvals?status=all', '/v1/approvals/mcpr_anything']) {
				const r = await call('GET', p);
				assert.equal(r.status, 403, `${who} ${p}: ${r.body}`);
				assert.equal(validateErrorEnvelope(JSON.parse(r.body)).error.code, 'operator_only');
			}
		}
		expect404(await s.u('GET', '/v1/approvals/mcpr_nosuch'), 'unknown id', 'approval_not_found');
		for (const [q, param] of [
			['status=bogus', 'status'],
			['status=executed', 'status'],
			['limit=0', 'limit'],
			['limit=1001', 'limit'],
			['limit=5x', 'limit'],
		]) {
			const r = await s.u('GET', `/v1/approvals?${q}`);
			assert.equal(r.status, 400, `${q}: ${r.body}`);
			const e = validateErrorEnvelope(JSON.parse(r.body)).error;
			assert.equal(e.param, param, q);
		}
		// POST /v1/approvals is the batch decision (operator-approvals.test.mjs): an empty one is 400;
		// other methods are not served.
		const empty = await s.u('POST', '/v1/approvals', {});
		assert.equal(empty.status, 400, empty.body);
		assert.equal(validateErrorEnvelope(JSON.parse(empty.body)).error.param, 'decision');
		const r = await s.u('PUT', '/v1/approvals', {});
		assert.equal(r.status, 405, r.body);
	});
});
