// Secrets that a peer echoes are not passed on (issue 11, defect 3). An upstream whose 401 or 400
// body quotes the Authorization header it got, and an MCP server that repeats its bearer token and
// headers (the config's and a request's own) in a listing, a result, an isError result and a JSON-RPC
// error: the caller's answer, the next model turn's request, the stored response, the audit rows, the
// operator's listing and the daemon's log carry "[redacted]" where the secret was, and no secret.
//
// The upstream is the fake's 'fake-echo-auth-401' / 'fake-echo-auth-400' scenarios and 'fake-mcp'
// (directive lines "call NAME JSON"); the MCP server is tests/fakes/mcp-fault.mjs --echo-secrets.
// Every secret has a unique tail (a UUID) that is looked for as well: a secret cut or re-encoded
// would still show it. One daemon for the file; everything stays on loopback and in a temp dir.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startUpstream } from '../fakes/upstream.mjs';
import { startDaemon } from './lib/harness.mjs';
import { startMcpFault } from './lib/mcp.mjs';
import { mcp } from './lib/responses-mcp.mjs';
import { validateErrorEnvelope } from './lib/schema.mjs';

const T = { timeout: 20000 };
const SETUP = { timeout: 40000 };

// The upstream key holds a '"' so that a peer's JSON quoting of it is escaped ('\"'): the JSON form.
const tails = { up: randomUUID(), bearer: randomUUID(), cfgHeader: randomUUID(), reqHeader: randomUUID() };
const UP_KEY = `sk-up-"${tails.up}`;
const MCP_BEARER = `mcp-bearer-${tails.bearer}`;
const CFG_HEADER = `cfg-header-${tails.cfgHeader}`;
const REQ_HEADER = `req-header-${tails.reqHeader}`;
const SECRETS = [UP_KEY, JSON.stringify(UP_KEY).slice(1, -1), MCP_BEARER, CFG_HEADER, REQ_HEADER, ...Object.values(tails)];

/** Fails naming the secret (by its position, never its value) found in text. */
function assertClean(text, where) {
	for (const [i, s] of SECRETS.entries()) assert.ok(!text.includes(s), `${where} holds secret #${i}:\n${text.slice(0, 2000)}`);
}

describe('secrets echoed by peers', () => {
	let srv;
	let d;

	const chats = () => d.upstream.chatRequests();
	const echoTool = () => mcp('echo', { headers: { 'X-Request-Secret': REQ_HEADER } });

	before(async () => {
		srv = await startMcpFault(['--echo-secrets']);
		d = await startDaemon({
			upstreamConfig: { api_key_env: 'SECRETS_TEST_UP_KEY' },
			env: { SECRETS_TEST_UP_KEY: UP_KEY },
			config: {
				mcp_servers: [
					{ label: 'echo', url: srv.url, bearer: MCP_BEARER, headers: { 'X-Tenant-Secret': CFG_HEADER } },
					// Every request gets HTTP 500 with a JSON-RPC error quoting the Authorization header.
					{ label: 'echo500', url: srv.url, bearer: MCP_BEARER, headers: { 'X-Echo-Http-Error': 'yes' } },
				],
			},
		});
	}, SETUP);

	after(async () => {
		try {
			await d?.stop();
		} finally {
			await srv?.stop();
		}
	}, SETUP);

	for (const [model, status] of [
		['fake-echo-auth-401', 502],
		['fake-echo-auth-400', 400],
	]) {
		it(`an upstream ${model.slice(-3)} body quoting our Authorization reaches neither the caller nor the log`, T, async () => {
			const from = d.stderr.length;
			const res = await d.request('POST', '/v1/responses', { model, input: 'hi' });
			assert.equal(res.status, status, res.body);
			const e = validateErrorEnvelope(res.json()).error;
			// The upstream did get the key (the fake records it), and quoted it.
			assert.equal(chats().at(-1).headers.authorization, `Bearer ${UP_KEY}`);
			assert.match(e.message, /\[redacted\]/, res.body);
			assertClean(res.body, 'the error answer');
			await d.waitLog(/failed \(/, { from });
			assertClean(d.stderr.slice(from), 'the daemon log');
		});
	}

	// Error messages are cut (300 bytes of an upstream's message, 400 of a JSON-RPC error's): a secret
	// that straddles the cut must be redacted before it, or its first bytes would pass as harmless text.
	const headsOf = ['sk-up-', 'mcp-bearer-']; // no other text holds these
	const assertNoHead = (text, where) => headsOf.forEach((h) => assert.ok(!text.includes(h), `${where} holds the first bytes of a secret:\n${text.slice(0, 2000)}`));
	for (const [model, status, pad] of [
		['fake-echo-auth-401', 502, 244],
		['fake-echo-auth-400', 400, 242],
		['fake-echo-auth-stream', 502, 259],
	]) {
		it(`an upstream ${model.slice(15)} error quoting our key across the cut of its message keeps no piece of it`, T, async () => {
			const from = d.stderr.length;
			const res = await d.request('POST', '/v1/responses', { model, input: `pad ${pad}` });
			assert.equal(res.status, status, res.body);
			assert.match(validateErrorEnvelope(res.json()).error.message, /xxxx/, res.body);
			assertNoHead(res.body, 'the error answer');
			assertClean(res.body, 'the error answer');
			await d.waitLog(/failed \(/, { from });
			assertNoHead(d.stderr.slice(from), 'the daemon log');
		});
	}

	it('a JSON-RPC error quoting the bearer across the cut of its message keeps no piece of it', T, async () => {
		const res = await d.request('POST', '/v1/responses', { model: 'fake-mcp', input: 'call echo_auth_rpc {"pad": 360}', tools: [echoTool()] });
		assert.equal(res.status, 200, res.body);
		const rpc = res.json().output.find((i) => i.type === 'mcp_call' && i.name === 'echo_auth_rpc');
		assert.equal(rpc?.status, 'failed', res.body);
		assert.match(rpc.error.message, /xxxx/);
		assertNoHead(res.body, 'the response');
		assertClean(res.body, 'the response');
	});

	it('an MCP server echoing its bearer and headers: listing, result, next model turn, store, log', T, async () => {
		const from = d.stderr.length;
		const n0 = chats().length;
		const res = await d.request('POST', '/v1/responses', {
			model: 'fake-mcp',
			input: 'call echo_auth {}',
			tools: [echoTool()],
		});
		assert.equal(res.status, 200, res.body);
		const r = res.json();
		// The server did get every secret, and sent them back.
		const seen = (await srv.stats()).request_headers;
		assert.ok(seen.authorization.includes(`Bearer ${MCP_BEARER}`), JSON.stringify(seen.authorization));
		assert.ok(seen['x-request-secret'].includes(REQ_HEADER));

		const list = r.output.find((i) => i.type === 'mcp_list_tools');
		const desc = list.tools.find((t) => t.name === 'echo_auth').description;
		assert.equal(desc, 'Repeats the request headers (you sent "Authorization: [redacted]").');
		const call = r.output.find((i) => i.type === 'mcp_call');
		assert.equal(call.status, 'completed', JSON.stringify(call));
		assert.match(call.output, /^headers \{.*"authorization":"\[redacted\]".*\}; token \[redacted\]$/);
		assert.match(call.output, /"x-tenant-secret":"\[redacted\]"/);
		assert.match(call.output, /"x-request-secret":"\[redacted\]"/);
		assertClean(res.body, 'the response');

		// Both model turns: the tools (with the description) and the tool message.
		const up = chats().slice(n0).map((c) => JSON.stringify(c.body));
		assert.equal(up.length, 2);
		assert.match(up[1], /token \[redacted\]/);
		up.forEach((b, i) => assertClean(b, `model turn ${i + 1}'s request`));

		const stored = await d.request('GET', `/v1/responses/${r.id}`);
		assert.equal(stored.status, 200, stored.body);
		assert.match(stored.body, /token \[redacted\]/);
		assertClean(stored.body, 'the stored response');
		await d.waitLog(new RegExp(`${r.id}: completed`), { from });
		assertClean(d.stderr.slice(from), 'the daemon log');
	});

	it('an isError result and a JSON-RPC error that echo the credentials: the call errors, the model, the audit log', T, async () => {
		const from = d.stderr.length;
		const n0 = chats().length;
		const res = await d.request('POST', '/v1/responses', {
			model: 'fake-mcp',
			input: 'call echo_auth_fail {}\ncall echo_auth_rpc {}',
			tools: [echoTool()],
		});
		assert.equal(res.status, 200, res.body);
		const r = res.json();
		const calls = Object.fromEntries(r.output.filter((i) => i.type === 'mcp_call').map((c) => [c.name, c]));
		const fail = calls.echo_auth_fail;
		assert.equal(fail?.status, 'failed', JSON.stringify(r.output));
		assert.equal(fail.error.type, 'mcp_tool_execution_error');
		assert.match(JSON.stringify(fail.error.content), /token \[redacted\]/);
		const rpc = calls.echo_auth_rpc;
		assert.equal(rpc?.status, 'failed', JSON.stringify(r.output));
		assert.equal(rpc.error.type, 'mcp_protocol_error');
		assert.match(rpc.error.message, /refused "Authorization: \[redacted\]"/);
		assertClean(res.body, 'the response');

		const up = chats().slice(n0).map((c) => JSON.stringify(c.body));
		assert.equal(up.length, 2);
		assert.match(up[1], /\[redacted\]/);
		up.forEach((b, i) => assertClean(b, `model turn ${i + 1}'s request`));

		const stored = await d.request('GET', `/v1/responses/${r.id}`);
		assertClean(stored.body, 'the stored response');
		const audit = await d.request('GET', '/v1/mcp/audit?limit=1000');
		assert.equal(audit.status, 200, audit.body);
		const rows = audit.json().data.filter((row) => row.response_id === r.id);
		assert.equal(rows.length, 2, audit.body);
		assert.ok(rows.some((row) => /\[redacted\]/.test(row.error ?? '')), JSON.stringify(rows));
		assertClean(JSON.stringify(rows), 'the audit rows');
		await d.waitLog(new RegExp(`${r.id}: completed`), { from });
		assertClean(d.stderr.slice(from), 'the daemon log');
	});

	it("GET /v1/mcp/servers/{label}/tools: the server's echo of its credentials is redacted", T, async () => {
		const res = await d.request('GET', '/v1/mcp/servers/echo/tools');
		assert.equal(res.status, 200, res.body);
		const t = res.json().data.find((x) => x.name === 'echo_auth');
		assert.equal(t?.description, 'Repeats the request headers (you sent "Authorization: [redacted]").');
		assertClean(res.body, 'the operator listing');
	});

	it('an HTTP error body quoting the credentials: the listing error, the operator answer, the log', T, async () => {
		const from = d.stderr.length;
		const res = await d.request('POST', '/v1/responses', { model: 'fake-mcp', input: 'no directive here', tools: [mcp('echo500')] });
		assert.equal(res.status, 200, res.body);
		const list = res.json().output.find((i) => i.type === 'mcp_list_tools');
		assert.match(list.error, /HTTP 500: refused "Authorization: \[redacted\]"/, JSON.stringify(list));
		assertClean(res.body, 'the response');
		const admin = await d.request('GET', '/v1/mcp/servers/echo500/tools');
		assert.ok([502, 503].includes(admin.status), admin.body); // 503 while the failed server is backed off
		assert.match(validateErrorEnvelope(admin.json()).error.message, /Authorization: \[redacted\]/, admin.body);
		assertClean(admin.body, 'the operator answer');
		// The client's own warning about the session (mcpclient/session.c) quotes the error too.
		await d.waitLog(/not usable: .*HTTP 500/, { from });
		assertClean(d.stderr.slice(from), 'the daemon log');
	});

	it('at rest: the store (responses, audit rows, the tool-list cache) holds no secret', T, async () => {
		const db = d.config.store.path;
		const files = [db, `${db}-wal`].filter((f) => fs.existsSync(f));
		const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
		// The cache row of the echo server's listing is there, with the mark in place of the bearer.
		assert.ok(bytes.includes('you sent \\"Authorization: [redacted]\\"'), 'the cached listing is in the store');
		for (const [i, sec] of SECRETS.entries()) assert.ok(!bytes.includes(sec), `the store holds secret #${i}`);
	});
});

describe('a forwarded caller bearer echoed by the upstream', () => {
	const CALLER = `caller-bearer-${randomUUID()}`;
	let up;
	let d;

	before(async () => {
		up = await startUpstream({ echoAuthInModels: true });
		d = await startDaemon({ upstream: up, upstreamConfig: { forward_caller_auth: true } });
	}, SETUP);

	after(async () => {
		try {
			await d?.stop();
		} finally {
			await up?.close();
		}
	}, SETUP);

	it("the upstream's 401 quoting the caller's own bearer: redacted in the answer and the log", T, async () => {
		const from = d.stderr.length;
		const res = await d.request('POST', '/v1/responses', { model: 'fake-echo-auth-401', input: 'hi' }, { authorization: `Bearer ${CALLER}` });
		assert.equal(res.status, 502, res.body);
		assert.equal(d.upstream.chatRequests().at(-1).headers.authorization, `Bearer ${CALLER}`);
		assert.match(validateErrorEnvelope(res.json()).error.message, /Authorization: Bearer \[redacted\]/, res.body);
		assert.ok(!res.body.includes(CALLER), res.body);
		await d.waitLog(/failed \(/, { from });
		assert.ok(!d.stderr.slice(from).includes(CALLER), d.stderr.slice(from));
	});

	it('GET /v1/models: an upstream model id that quotes the bearer it got is redacted', T, async () => {
		const res = await d.request('GET', '/v1/models', undefined, { authorization: `Bearer ${CALLER}` });
		assert.equal(res.status, 200, res.body);
		assert.equal(up.requests.filter((q) => q.path === '/v1/models').at(-1).headers.authorization, `Bearer ${CALLER}`);
		assert.ok(res.json().data.some((m) => m.id === 'you-sent:[redacted]'), res.body);
		assert.ok(!res.body.includes(CALLER), res.body);
	});
});
