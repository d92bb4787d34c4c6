// MCP tools inside a response (issue 4): toolhostd lists the tools of the request's MCP servers, shows
// them to the model as function tools, runs the model's calls on the servers and feeds the results
// back, with approvals, limits, cancellation, background mode, compaction, the audit log and
// redaction of request credentials. The model is the fake upstream's 'fake-mcp' scenario (directive
// lines "call NAME JSON" / "then NAME JSON" / "loop NAME JSON" in the last user message) and
// 'fake-summarize'; the servers are four fault servers (tests/fakes/mcp-fault.mjs), one more behind
// a bearer token for the redaction tests, server-everything, and a closed port.
//
// The openai SDK is used without the wire checks of lib/wire.mjs: the Open Responses schema has no
// MCP items or events, so the MCP shapes are checked here by hand and the rest with the schema.
// One daemon for the whole file; the tests run in order. Every wait is bounded; everything stays on
// loopback and in a temp dir.

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { fetch as undiciFetch } from 'undici';
import { messageText } from '../fakes/upstream.mjs';
import { freePort, runCommand, startDaemon } from './lib/harness.mjs';
import { sdkClient, startEverything, startMcpFault } from './lib/mcp.mjs';
import { assertApprovalRequest, mcp, streamEvents, waitFor } from './lib/responses-mcp.mjs';
import { validateErrorEnvelope, validateItem, validateResponse } from './lib/schema.mjs';

const T = { timeout: 15000 };
const SETUP = { timeout: 40000 };
const MAX_TURNS = 3; // mcp_policy.max_turns of the daemon's config

// The fault server's tool definitions the listing must carry through (tests/fakes/mcp-fault.mjs).
const ECHO_SCHEMA = { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] };
const ADD_SCHEMA = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] };

// Request credentials for the redaction tests: they must reach the server and nothing else.
const S1 = `hdr-${randomUUID()}`; // a request headers value
const S2 = `tok-${randomUUID()}`; // a request authorization

const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');
const lines = (...l) => l.join('\n');
const ofType = (r, type) => r.output.filter((i) => i.type === type);
const types = (r) => r.output.map((i) => i.type);

/** An mcp tool of a request; require_approval "never" unless extra says otherwise. */

/** Resolves once pred() (may be async) is truthy; fails after timeoutMs. */

// The schema check of everything in a response that is not MCP: MCP items and tools are left out,
// the rest (status, usage, messages, function calls) must still fit the Open Responses schema.
function validateNonMcp(r) {
	const isMcp = (x) => typeof x?.type === 'string' && x.type.startsWith('mcp');
	const copy = { ...r, output: r.output.filter((i) => !isMcp(i)), tools: (r.tools ?? []).filter((t) => !isMcp(t)) };
	if (isMcp(copy.tool_choice)) copy.tool_choice = 'auto';
	validateResponse(copy);
	for (const i of copy.output) validateItem(i);
	return r;
}

function assertList(item, label) {
	assert.equal(item.type, 'mcp_list_tools');
	assert.match(item.id, /^mcpl_/);
	assert.equal(item.server_label, label);
	assert.ok(Array.isArray(item.tools), 'tools is an array');
	for (const t of item.tools) {
		assert.equal(typeof t.name, 'string');
		assert.ok(t.input_schema && typeof t.input_schema === 'object', `${t.name}: input_schema`);
	}
	return item;
}

const SKIP = Symbol('skip');
/** Checks an mcp_call item: every key of want (SKIP: not checked) plus type and id. */
function assertCall(item, want) {
	const full = { error: null, approval_request_id: null, status: 'completed', ...want };
	assert.equal(item.type, 'mcp_call', JSON.stringify(item));
	assert.match(item.id, /^mcp_/);
	for (const [k, v] of Object.entries(full)) {
		if (v === SKIP) continue;
		assert.deepEqual(item[k], v, `mcp_call.${k} of ${JSON.stringify(item).slice(0, 600)}`);
	}
	return item;
}

// The events naming one item (item_id or item.id), each checked to carry that item's output_index.
function itemEvents(events, id) {
	const mine = events.filter((e) => e.item_id === id || e.item?.id === id);
	assert.ok(mine.length > 0, `no event names item ${id}`);
	const index = mine[0].output_index;
	for (const e of mine) assert.equal(e.output_index, index, `${e.type} of ${id}: output_index`);
	return mine;
}

describe('MCP tools in a response', () => {
	let fault; // 'fault': never cached, so every tools/list shows on its stats
	let twin; // 'twin': the same tools, for name collisions
	let waits; // 'waits': hang/slow for cancellation and background
	let slowpoke; // 'slowpoke': timeout_ms 500
	let privateSrv; // not in the config: reached by server_url, behind --bearer S2
	let everything;
	let downPort;
	let d;
	let client = null;
	let clientAgent = null;

	// The openai SDK over the daemon's socket, without wire checks (see the top); follows restarts.
	function sdk() {
		if (!client || clientAgent !== d.agent) {
			clientAgent = d.agent;
			client = new OpenAI({
				apiKey: 'test',
				baseURL: 'http://localhost/v1',
				maxRetries: 0,
				timeout: 20000,
				fetch: (input, init) => undiciFetch(input, { ...init, dispatcher: clientAgent }),
			});
		}
		return client;
	}

	const chats = () => d.upstream.chatRequests();

	/** responses.create, returning the response and the upstream chat requests it made. */
	async function create(body) {
		const n0 = chats().length;
		const r = await sdk().responses.create(body);
		validateNonMcp(r);
		return { r, up: chats().slice(n0).map((c) => c.body) };
	}

	/** A POST that must fail with 400 and this error code (and param, when given). */
	async function expect400(urlPath, body, code, param) {
		const res = await d.request('POST', urlPath, body);
		assert.equal(res.status, 400, res.body);
		const e = validateErrorEnvelope(res.json()).error;
		assert.equal(e.code, code, res.body);
		if (param !== undefined) assert.equal(e.param, param, res.body);
		return { error: e, text: res.body };
	}

	/** "status version" of an approval row, read from the store file. */
	async function approvalRow(id) {
		const q = await runCommand(['sqlite3', '-batch', d.dbPath, `SELECT status || ' ' || version FROM mcp_approvals WHERE id = '${id.replace(/'/g, "''")}';`]);
		assert.equal(q.code, 0, `sqlite3: ${q.stderr}`);
		return q.stdout.trim();
	}

	async function getResponse(id) {
		const res = await d.request('GET', `/v1/responses/${id}`);
		assert.equal(res.status, 200, res.body);
		return res.json();
	}

	async function audit(limit = 100) {
		const res = await d.request('GET', `/v1/mcp/audit?limit=${limit}`);
		assert.equal(res.status, 200, res.body);
		assert.match(String(res.headers['content-type']), /^application\/json/);
		const body = res.json();
		assert.equal(body.object, 'list');
		assert.ok(Array.isArray(body.data));
		return body;
	}

	before(async () => {
		[fault, twin, waits, slowpoke, privateSrv, everything, downPort] = await Promise.all([
			startMcpFault(),
			startMcpFault(),
			startMcpFault(),
			startMcpFault(),
			startMcpFault(['--bearer', S2]),
			startEverything('streamableHttp'),
			freePort(),
		]);
		d = await startDaemon({
			config: {
				mcp: { connect_timeout_ms: 1000 },
				mcp_servers: [
					{ label: 'fault', url: fault.url, cache_ttl_s: 0 },
					{ label: 'twin', url: twin.url },
					// The same server under an operator ceiling and approval floor.
					{ label: 'guarded', url: twin.url, allowed_tools: ['echo', 'add'], require_approval: ['echo'] },
					// Tools not annotated read-only need approval whatever the request says.
					{ label: 'careful', url: waits.url, approve_destructive: true },
					{ label: 'waits', url: waits.url },
					{ label: 'slowpoke', url: slowpoke.url, timeout_ms: 500 },
					{ label: 'everything', url: everything.url },
					{ label: 'down', url: `http://127.0.0.1:${downPort}/mcp`, timeout_ms: 1000 },
				],
				mcp_policy: { allow_request_urls: ['http://127.0.0.1:', 'http://169.254.169.254/'], max_turns: MAX_TURNS },
			},
		});
	}, SETUP);

	after(async () => {
		const errors = [];
		for (const stop of [() => d?.stop(), ...[fault, twin, waits, slowpoke, privateSrv, everything].map((s) => () => s?.stop())]) {
			try {
				await stop();
			} catch (e) {
				errors.push(e);
			}
		}
		if (errors.length) throw errors[0];
	}, SETUP);

	describe('list, call, answer', () => {
		it('fault echo: mcp_list_tools, mcp_call, then the answer made from the tool result', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({ model: 'fake-mcp', input: 'call echo {"message":"hi"}', tools: [mcp('fault')] });
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'message']);

			const list = assertList(r.output[0], 'fault');
			assert.ok(!list.error, `no listing error: ${list.error}`);
			const names = list.tools.map((t) => t.name);
			for (const n of ['echo', 'add', 'slow', 'hang']) assert.ok(names.includes(n), `${n} among ${names.join(', ')}`);
			assert.ok(!names.includes('task_only'), 'a task-only tool cannot be called, so it is not imported');
			const echo = list.tools.find((t) => t.name === 'echo');
			assert.deepEqual(echo.input_schema, ECHO_SCHEMA);
			assert.equal(echo.description, 'Echoes the message back.');
			assert.deepEqual(echo.annotations, { readOnlyHint: true, openWorldHint: false });

			assertCall(r.output[1], { server_label: 'fault', name: 'echo', arguments: '{"message":"hi"}', output: 'Echo: hi' });
			assert.equal(r.output_text, 'Tool said: Echo: hi');
			assert.equal(r.output[2].role, 'assistant');

			// The model saw the MCP tools as function tools, then the result as a tool message.
			assert.equal(up.length, 2, 'two model turns');
			const fn = up[0].tools.find((t) => t.function?.name === 'echo');
			assert.ok(fn, `echo among the model's tools: ${JSON.stringify(up[0].tools.map((t) => t.function?.name))}`);
			assert.equal(fn.type, 'function');
			assert.deepEqual(fn.function.parameters, ECHO_SCHEMA);
			assert.match(String(fn.function.description), /Echoes the message back\./);
			assert.equal(messageText(up[0].messages.at(-1).content), 'call echo {"message":"hi"}');
			const [asst, tool] = up[1].messages.slice(-2);
			assert.equal(asst.role, 'assistant');
			assert.equal(asst.tool_calls.length, 1);
			assert.equal(asst.tool_calls[0].function.name, 'echo');
			assert.equal(asst.tool_calls[0].function.arguments, '{"message":"hi"}');
			assert.equal(tool.role, 'tool');
			assert.equal(tool.tool_call_id, asst.tool_calls[0].id);
			assert.equal(messageText(tool.content), 'Echo: hi');

			const s1 = await fault.stats();
			assert.equal((s1.tool_calls.echo ?? 0) - (s0.tool_calls.echo ?? 0), 1, 'one echo call reached the server');
			assert.deepEqual(s1.tool_call_args.at(-1), { tool: 'echo', arguments: { message: 'hi' } });
			assert.equal(s1.tools_list.calls - s0.tools_list.calls, 1, 'one tools/list (the fault server is never cached)');

			// Stored as returned.
			const got = await getResponse(r.id);
			assert.deepEqual(got.output, r.output);
		});

		it('fault add: two calls in one model turn run, each its own mcp_call, results in call order', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				input: lines('call add {"a":2,"b":3}', 'call add {"a":40,"b":2}'),
				tools: [mcp('fault')],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'mcp_call', 'message']);
			const add = r.output[0].tools.find((t) => t.name === 'add');
			assert.deepEqual(add.input_schema, ADD_SCHEMA);
			assertCall(r.output[1], { server_label: 'fault', name: 'add', arguments: '{"a":2,"b":3}', output: '5' });
			assertCall(r.output[2], { server_label: 'fault', name: 'add', arguments: '{"a":40,"b":2}', output: '42' });
			assert.notEqual(r.output[1].id, r.output[2].id);
			assert.equal(r.output_text, 'Tool said: 5 | 42');
			assert.equal(up.length, 2);
			const tools = up[1].messages.filter((m) => m.role === 'tool');
			assert.deepEqual(
				tools.map((m) => messageText(m.content)),
				['5', '42'],
			);
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.add - (s0.tool_calls.add ?? 0), 2);
		});

		it('server-everything: echo, get-sum, get-structured-content, get-tiny-image', T, async () => {
			// The names this pinned server-everything version gives its tools.
			const c = await sdkClient(everything.url);
			let names;
			try {
				names = (await c.listTools()).tools.map((t) => t.name);
			} finally {
				await c.close();
			}
			for (const n of ['echo', 'get-sum', 'get-structured-content', 'get-tiny-image']) assert.ok(names.includes(n), `${n} in ${names}`);

			const { r } = await create({
				model: 'fake-mcp',
				input: lines(
					'call echo {"message":"hello everything"}',
					'call get-sum {"a":2,"b":3}',
					'call get-structured-content {"location":"Chicago"}',
					'call get-tiny-image {}',
				),
				tools: [mcp('everything')],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'mcp_call', 'mcp_call', 'mcp_call', 'message']);
			const list = assertList(r.output[0], 'everything');
			const imported = list.tools.map((t) => t.name);
			for (const n of ['echo', 'get-sum', 'get-structured-content', 'get-tiny-image']) assert.ok(imported.includes(n), `${n} in ${imported}`);
			for (const n of imported) assert.ok(names.includes(n), `${n} is a tool of the server`);
			const [echo, sum, structured, image] = r.output.slice(1, 5);
			assertCall(echo, {
				server_label: 'everything',
				name: 'echo',
				arguments: '{"message":"hello everything"}',
				output: 'Echo: hello everything',
			});
			assertCall(sum, { server_label: 'everything', name: 'get-sum', arguments: '{"a":2,"b":3}', output: 'The sum of 2 and 3 is 5.' });
			assertCall(structured, { server_label: 'everything', name: 'get-structured-content', output: SKIP });
			const weather = JSON.parse(structured.output);
			assert.deepEqual(Object.keys(weather).sort(), ['conditions', 'humidity', 'temperature']);
			assertCall(image, { server_label: 'everything', name: 'get-tiny-image', arguments: '{}', output: SKIP });
			assert.equal(typeof image.output, 'string');
			assert.ok(image.output.includes("Here's the image you requested:"), image.output.slice(0, 300));
			assert.ok(r.output_text.startsWith('Tool said: Echo: hello everything | The sum of 2 and 3 is 5. | '), r.output_text.slice(0, 300));
		});

		it('the same tool name on two servers: distinct names for the model, each call reaches its own server', T, async () => {
			const [f0, t0] = await Promise.all([fault.stats(), twin.stats()]);
			const { r, up } = await create({
				model: 'fake-mcp',
				input: lines('call fault__echo {"message":"one"}', 'call twin__echo {"message":"two"}'),
				tools: [mcp('fault'), mcp('twin')],
			});
			const seen = up[0].tools.map((t) => t.function?.name);
			assert.equal(new Set(seen).size, seen.length, `no duplicate names: ${seen}`);
			for (const n of ['fault__echo', 'twin__echo', 'fault__add', 'twin__add']) assert.ok(seen.includes(n), `${n} in ${seen}`);
			assert.ok(!seen.includes('echo'), 'no bare "echo" when two servers have it');
			for (const n of seen) assert.match(n, /^[A-Za-z0-9_-]{1,64}$/);

			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_list_tools', 'mcp_call', 'mcp_call', 'message']);
			assert.deepEqual(
				r.output.slice(0, 2).map((i) => i.server_label),
				['fault', 'twin'],
			);
			assertCall(r.output[2], { server_label: 'fault', name: 'echo', arguments: '{"message":"one"}', output: 'Echo: one' });
			assertCall(r.output[3], { server_label: 'twin', name: 'echo', arguments: '{"message":"two"}', output: 'Echo: two' });
			const [f1, t1] = await Promise.all([fault.stats(), twin.stats()]);
			assert.equal(f1.tool_calls.echo - (f0.tool_calls.echo ?? 0), 1);
			assert.equal(t1.tool_calls.echo - (t0.tool_calls.echo ?? 0), 1);
			assert.deepEqual(f1.tool_call_args.at(-1), { tool: 'echo', arguments: { message: 'one' } });
			assert.deepEqual(t1.tool_call_args.at(-1), { tool: 'echo', arguments: { message: 'two' } });
		});

		// Issue 11, 4: a server that lists a tool literally named "fault__echo" must not take the name
		// of the fault server's echo (which clashes with its own echo): the model's call to
		// fault__echo reaches the fault server, and the squatter's tool is renamed itself.
		it('a tool literally named like another server\'s generated name does not take it: the call reaches the right server', T, async () => {
			const squat = await startMcpFault(['--extra-tool', 'fault__echo']);
			try {
				const [f0, q0] = await Promise.all([fault.stats(), squat.stats()]);
				const { r, up } = await create({
					model: 'fake-mcp',
					input: lines('call fault__echo {"message":"one"}'),
					tools: [mcp('fault'), { type: 'mcp', server_label: 'squat', server_url: squat.url, require_approval: 'never' }],
				});
				const seen = up[0].tools.map((t) => t.function?.name);
				assert.equal(new Set(seen).size, seen.length, `no duplicate names: ${seen}`);
				for (const n of ['fault__echo', 'squat__echo', 'squat__fault__echo']) assert.ok(seen.includes(n), `${n} in ${seen}`);
				assert.equal(r.status, 'completed');
				const call = ofType(r, 'mcp_call');
				assert.equal(call.length, 1, JSON.stringify(r.output).slice(0, 800));
				assertCall(call[0], { server_label: 'fault', name: 'echo', arguments: '{"message":"one"}', output: 'Echo: one' });
				const [f1, q1] = await Promise.all([fault.stats(), squat.stats()]);
				assert.equal(f1.tool_calls.echo - (f0.tool_calls.echo ?? 0), 1, 'the fault server ran echo once');
				assert.equal((q1.tool_calls.fault__echo ?? 0) - (q0.tool_calls.fault__echo ?? 0), 0, 'the squatter never got the call');
				assert.equal((q1.tool_calls.echo ?? 0) - (q0.tool_calls.echo ?? 0), 0);
			} finally {
				await squat.stop();
			}
		});

		it('a function tool and an MCP tool share a name; a function_call in the turn ends the response after the MCP call', T, async () => {
			const s0 = await fault.stats();
			const fnTool = {
				type: 'function',
				name: 'add',
				description: 'The caller adds',
				parameters: { type: 'object', properties: { x: { type: 'number' } } },
			};
			const { r, up } = await create({
				model: 'fake-mcp',
				input: lines('call fault__add {"a":1,"b":2}', 'call add {"x":1}'),
				tools: [fnTool, mcp('fault')],
			});
			const seen = up[0].tools.map((t) => t.function?.name);
			assert.equal(seen.filter((n) => n === 'add').length, 1, 'the function tool keeps "add"');
			assert.ok(seen.includes('fault__add'), `fault__add in ${seen}`);
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'function_call']);
			assertCall(r.output[1], { server_label: 'fault', name: 'add', arguments: '{"a":1,"b":2}', output: '3' });
			assert.equal(r.output[2].name, 'add');
			assert.equal(r.output[2].arguments, '{"x":1}');
			assert.equal(up.length, 1, 'no model turn after a function_call');
			assert.equal((await fault.stats()).tool_calls.add - (s0.tool_calls.add ?? 0), 1);
		});

		it('tool_choice {type:"mcp", server_label, name} forces that function for the model', T, async () => {
			const { r, up } = await create({
				model: 'fake-mcp',
				input: 'call echo {"message":"forced"}',
				tools: [mcp('fault')],
				tool_choice: { type: 'mcp', server_label: 'fault', name: 'echo' },
			});
			assert.deepEqual(up[0].tool_choice, { type: 'function', function: { name: 'echo' } });
			assert.equal(r.status, 'completed');
			assert.equal(r.output_text, 'Tool said: Echo: forced');
		});

		it('a listing already in the context is reused: no mcp_list_tools item and no tools/list', T, async () => {
			const { r: first } = await create({ model: 'fake-mcp', input: 'call echo {"message":"a"}', tools: [mcp('fault')] });
			assert.deepEqual(types(first), ['mcp_list_tools', 'mcp_call', 'message']);

			// previous_response_id chain
			let s0 = await fault.stats();
			const { r: second } = await create({
				model: 'fake-mcp',
				previous_response_id: first.id,
				input: 'call echo {"message":"b"}',
				tools: [mcp('fault')],
			});
			assert.equal(second.status, 'completed');
			assert.deepEqual(types(second), ['mcp_call', 'message']);
			assertCall(second.output[0], { server_label: 'fault', name: 'echo', arguments: '{"message":"b"}', output: 'Echo: b' });
			let s1 = await fault.stats();
			assert.equal(s1.tools_list.calls, s0.tools_list.calls, 'no tools/list for a listing in the context');
			assert.equal(s1.tool_calls.echo - s0.tool_calls.echo, 1);

			// input items (stateless)
			s0 = s1;
			const { r: third } = await create({
				model: 'fake-mcp',
				store: false,
				input: [first.output[0], { role: 'user', content: 'call echo {"message":"c"}' }],
				tools: [mcp('fault')],
			});
			assert.deepEqual(types(third), ['mcp_call', 'message']);
			assert.equal(third.output_text, 'Tool said: Echo: c');
			s1 = await fault.stats();
			assert.equal(s1.tools_list.calls, s0.tools_list.calls, 'no tools/list for a listing in the input');

			// Control: without the listing in the context the server is asked again (it is never cached).
			await create({ model: 'fake-mcp', input: 'no call', tools: [mcp('fault')] });
			assert.equal((await fault.stats()).tools_list.calls, s1.tools_list.calls + 1);
		});
	});

	describe('policy: allowed_tools and require_approval', () => {
		it('a call to a tool outside allowed_tools is not executed; the model is told and answers', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				input: 'call add {"a":1,"b":2}',
				tools: [mcp('fault', { allowed_tools: ['echo'] })],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'message'], 'no mcp_call for a tool that is not available');
			assert.deepEqual(
				r.output[0].tools.map((t) => t.name),
				['echo'],
			);
			assert.deepEqual(
				up[0].tools.map((t) => t.function?.name),
				['echo'],
				'the model is only shown echo',
			);
			assert.equal(up.length, 2, 'another model turn after the refusal');
			const tool = up[1].messages.at(-1);
			assert.equal(tool.role, 'tool');
			assert.equal(tool.tool_call_id, up[1].messages.at(-2).tool_calls[0].id);
			assert.match(messageText(tool.content), /^Tool 'add' is not available/);
			assert.match(r.output_text, /^Tool said: Tool 'add' is not available/);
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.add ?? 0, s0.tool_calls.add ?? 0, 'the fault server never saw the forbidden call');
		});

		it('allowed_tools {tool_names, read_only}: only read-only tools of the list; others are refused', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				input: lines('call slow {"ms":1}', 'call nosuch {}'),
				tools: [mcp('fault', { allowed_tools: { tool_names: ['echo', 'add', 'slow'], read_only: true } })],
			});
			assert.deepEqual(r.output[0].tools.map((t) => t.name).sort(), ['add', 'echo'], 'slow is not annotated read-only');
			assert.deepEqual(types(r), ['mcp_list_tools', 'message']);
			const toolMsgs = up[1].messages.filter((m) => m.role === 'tool').map((m) => messageText(m.content));
			assert.equal(toolMsgs.length, 2);
			assert.match(toolMsgs[0], /^Tool 'slow' is not available/);
			assert.match(toolMsgs[1], /^Tool 'nosuch' is not available/);
			assert.equal((await fault.stats()).tool_calls.slow ?? 0, s0.tool_calls.slow ?? 0);
		});

		it('the config ceiling and floor bound the request: never widened by allowed_tools or require_approval "never"', T, async () => {
			const s0 = await twin.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				input: lines('call add {"a":3,"b":4}', 'call echo {"message":"floor"}', 'call slow {"ms":1}'),
				tools: [mcp('guarded', { allowed_tools: ['echo', 'add', 'slow'] })],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(r.output[0].tools.map((t) => t.name).sort(), ['add', 'echo'], 'the ceiling holds');
			assert.deepEqual(up[0].tools.map((t) => t.function?.name).sort(), ['add', 'echo']);
			assert.deepEqual(types(r).sort(), ['mcp_approval_request', 'mcp_call', 'mcp_list_tools']);
			assertCall(ofType(r, 'mcp_call')[0], { server_label: 'guarded', name: 'add', arguments: '{"a":3,"b":4}', output: '7' });
			assertApprovalRequest(ofType(r, 'mcp_approval_request')[0], {
				server_label: 'guarded',
				name: 'echo',
				arguments: '{"message":"floor"}',
			});
			const s1 = await twin.stats();
			assert.equal(s1.tool_calls.add - (s0.tool_calls.add ?? 0), 1);
			assert.equal(s1.tool_calls.echo ?? 0, s0.tool_calls.echo ?? 0, 'the floor held the echo call');
			assert.equal(s1.tool_calls.slow ?? 0, s0.tool_calls.slow ?? 0, 'slow is above the ceiling');
		});

		it('require_approval {always, never}: a tool in neither list needs approval; approve_destructive in the config', T, async () => {
			const s0 = await fault.stats();
			const { r } = await create({
				model: 'fake-mcp',
				input: lines('call echo {"message":"free"}', 'call add {"a":1,"b":2}', 'call slow {"ms":1}'),
				tools: [mcp('fault', { require_approval: { always: { tool_names: ['add'] }, never: { tool_names: ['echo'] } } })],
			});
			assert.equal(r.status, 'completed');
			assertCall(ofType(r, 'mcp_call')[0], { name: 'echo', output: 'Echo: free', arguments: '{"message":"free"}' });
			assert.equal(ofType(r, 'mcp_call').length, 1);
			assert.deepEqual(ofType(r, 'mcp_approval_request').map((a) => a.name).sort(), ['add', 'slow']);
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.echo - s0.tool_calls.echo, 1);
			assert.equal(s1.tool_calls.add ?? 0, s0.tool_calls.add ?? 0);
			assert.equal(s1.tool_calls.slow ?? 0, s0.tool_calls.slow ?? 0);

			// approve_destructive: echo (readOnlyHint) runs, slow (no annotations) waits for approval.
			const w0 = await waits.stats();
			const { r: r2 } = await create({
				model: 'fake-mcp',
				input: lines('call echo {"message":"ro"}', 'call slow {"ms":1}'),
				tools: [mcp('careful')],
			});
			assertCall(ofType(r2, 'mcp_call')[0], {
				server_label: 'careful',
				name: 'echo',
				output: 'Echo: ro',
				arguments: '{"message":"ro"}',
			});
			assert.deepEqual(ofType(r2, 'mcp_approval_request').map((a) => a.name), ['slow']);
			const w1 = await waits.stats();
			assert.equal(w1.tool_calls.slow ?? 0, w0.tool_calls.slow ?? 0);
		});
	});

	describe('errors and limits', () => {
		it('isError and JSON-RPC errors: failed mcp_call items; the model sees "Error: ..."', T, async () => {
			const { r, up } = await create({ model: 'fake-mcp', input: lines('call fail {}', 'call rpc_error {}'), tools: [mcp('fault')] });
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'mcp_call', 'message']);
			assertCall(r.output[1], {
				name: 'fail',
				status: 'failed',
				output: SKIP,
				error: { type: 'mcp_tool_execution_error', content: [{ type: 'text', text: 'fail: this tool always fails' }] },
			});
			const rpc = assertCall(r.output[2], { name: 'rpc_error', status: 'failed', output: null, error: SKIP });
			assert.equal(rpc.error.type, 'mcp_protocol_error');
			assert.equal(rpc.error.code, -32603);
			assert.match(rpc.error.message, /rpc_error: internal error on purpose/);
			const toolMsgs = up[1].messages.filter((m) => m.role === 'tool').map((m) => messageText(m.content));
			assert.match(toolMsgs[0], /^Error: .*fail: this tool always fails/);
			assert.match(toolMsgs[1], /^Error: /);
		});

		it('a server that is down: mcp_list_tools with an error, tools []; the response still answers', T, async () => {
			const t0 = Date.now();
			const { r } = await create({ model: 'fake-mcp', input: 'call echo {"message":"still here"}', tools: [mcp('down'), mcp('fault')] });
			assert.ok(Date.now() - t0 < 5000, 'within the connect timeout');
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_list_tools', 'mcp_call', 'message']);
			const down = assertList(r.output[0], 'down');
			assert.deepEqual(down.tools, []);
			assert.equal(typeof down.error, 'string');
			assert.ok(down.error.length > 0, 'a listing error message');
			assertList(r.output[1], 'fault');
			assertCall(r.output[2], { server_label: 'fault', name: 'echo', output: 'Echo: still here', arguments: '{"message":"still here"}' });
			assert.equal(r.output_text, 'Tool said: Echo: still here');
		});

		it('a call past the server timeout_ms: mcp_call.error http_error 504, failed; the model is told', T, async () => {
			const t0 = Date.now();
			const { r, up } = await create({ model: 'fake-mcp', input: 'call slow {"ms":5000}', tools: [mcp('slowpoke')] });
			assert.ok(Date.now() - t0 < 4000, `the 500 ms timeout cut the 5 s call (took ${Date.now() - t0} ms)`);
			assert.equal(r.status, 'completed');
			const call = assertCall(ofType(r, 'mcp_call')[0], {
				server_label: 'slowpoke',
				name: 'slow',
				arguments: '{"ms":5000}',
				status: 'failed',
				output: null,
				error: SKIP,
			});
			assert.equal(call.error.type, 'http_error');
			assert.equal(call.error.code, 504);
			assert.equal(typeof call.error.message, 'string');
			assert.match(messageText(up[1].messages.at(-1).content), /^Error: /);
			assert.match(r.output_text, /^Tool said: Error: /);
		});

		it('max_tool_calls: the model asks for one call too many -> incomplete, reason max_tool_calls', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				input: 'loop echo {"message":"again"}',
				tools: [mcp('fault')],
				max_tool_calls: 1,
			});
			assert.equal(r.status, 'incomplete');
			assert.equal(r.incomplete_details?.reason, 'max_tool_calls');
			assert.equal(r.max_tool_calls, 1);
			const calls = ofType(r, 'mcp_call');
			assert.equal(calls.length, 1);
			assertCall(calls[0], { name: 'echo', output: 'Echo: again', arguments: '{"message":"again"}' });
			assert.equal(up.length, 2, 'the second turn asked for the call that was not made');
			assert.equal((await fault.stats()).tool_calls.echo - s0.tool_calls.echo, 1);
		});

		it(`max_turns (config ${MAX_TURNS}): a model that calls forever -> incomplete, reason max_turns`, T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({ model: 'fake-mcp', input: 'loop echo {"message":"round"}', tools: [mcp('fault')] });
			assert.equal(r.status, 'incomplete');
			assert.equal(r.incomplete_details?.reason, 'max_turns');
			assert.equal(up.length, MAX_TURNS, 'exactly max_turns model turns');
			const done = ofType(r, 'mcp_call').filter((c) => c.status === 'completed');
			assert.ok(done.length >= MAX_TURNS - 1 && done.length <= MAX_TURNS, `${done.length} calls`);
			assert.equal((await fault.stats()).tool_calls.echo - s0.tool_calls.echo, done.length);
		});
	});

	describe('request checks', () => {
		it('unknown label without server_url -> 400 invalid_value tools[i].server_label', T, async () => {
			const fn = { type: 'function', name: 'f', parameters: { type: 'object', properties: {} } };
			await expect400('/v1/responses', { model: 'fake-mcp', input: 'x', tools: [fn, mcp('nope')] }, 'invalid_value', 'tools[1].server_label');
		});

		it('server_url outside allow_request_urls, or link-local -> 400 mcp_server_not_allowed', T, async () => {
			await expect400(
				'/v1/responses',
				{ model: 'fake-mcp', input: 'x', tools: [mcp('ext', { server_url: 'http://localhost:1/mcp' })] },
				'mcp_server_not_allowed',
				'tools[0].server_url',
			);
			// In the allow-list, but a metadata / link-local host.
			await expect400(
				'/v1/responses',
				{ model: 'fake-mcp', input: 'x', tools: [mcp('meta', { server_url: 'http://169.254.169.254/mcp' })] },
				'mcp_server_not_allowed',
				'tools[0].server_url',
			);
		});

		it('connector_id -> 400 unsupported_parameter; a duplicate server_label -> 400', T, async () => {
			const connector = mcp('fault', { connector_id: 'connector_gmail' });
			await expect400('/v1/responses', { model: 'fake-mcp', input: 'x', tools: [connector] }, 'unsupported_parameter');
			const res = await d.request('POST', '/v1/responses', { model: 'fake-mcp', input: 'x', tools: [mcp('fault'), mcp('fault')] });
			assert.equal(res.status, 400, res.body);
			validateErrorEnvelope(res.json());
		});
	});

	describe('approvals', () => {
		const ask = (msg, extra = {}) => ({
			model: 'fake-mcp',
			input: `call echo {"message":"${msg}"}`,
			tools: [{ type: 'mcp', server_label: 'fault' }], // require_approval defaults to "always"
			...extra,
		});
		let approved; // {request, approval} of the approve test, for replay and audit
		let denied;

		it('a call needing approval: mcp_approval_request, the response ends, nothing runs', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create(ask('needs ok'));
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_approval_request']);
			assertApprovalRequest(r.output[1], { server_label: 'fault', name: 'echo', arguments: '{"message":"needs ok"}' });
			assert.equal(up.length, 1);
			assert.equal((await fault.stats()).tool_calls.echo, s0.tool_calls.echo, 'not run before approval');
			approved = { request: r, approval: r.output[1] };
		});

		it('approve via previous_response_id: the call runs once with approval_request_id, then the model answers', T, async () => {
			const s0 = await fault.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				previous_response_id: approved.request.id,
				input: [{ type: 'mcp_approval_response', approval_request_id: approved.approval.id, approve: true }],
				tools: [{ type: 'mcp', server_label: 'fault' }],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_call', 'message'], 'the listing in the context is reused');
			assertCall(r.output[0], {
				server_label: 'fault',
				name: 'echo',
				arguments: '{"message":"needs ok"}',
				output: 'Echo: needs ok',
				approval_request_id: approved.approval.id,
			});
			assert.equal(r.output_text, 'Tool said: Echo: needs ok');
			assert.equal(up.length, 1, 'the call ran before the one model turn');
			assert.equal(messageText(up[0].messages.at(-1).content), 'Echo: needs ok');
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.echo - s0.tool_calls.echo, 1);
			assert.equal(s1.tools_list.calls, s0.tools_list.calls);
			assert.equal(await approvalRow(approved.approval.id), 'done 4', 'pending, approved, running, done');
			approved.response = r;
		});

		it('replaying a decided approval -> 400 approval_already_decided; nothing runs again', T, async () => {
			const s0 = await fault.stats();
			await expect400(
				'/v1/responses',
				{
					model: 'fake-mcp',
					previous_response_id: approved.request.id,
					input: [{ type: 'mcp_approval_response', approval_request_id: approved.approval.id, approve: true }],
					tools: [{ type: 'mcp', server_label: 'fault' }],
				},
				'approval_already_decided',
				'input[0].approval_request_id',
			);
			assert.equal((await fault.stats()).tool_calls.echo, s0.tool_calls.echo);
		});

		it('deny: the call never runs; the model is told it was denied', T, async () => {
			const s0 = await fault.stats();
			const { r: first } = await create(ask('please deny'));
			const apr = assertApprovalRequest(first.output.at(-1), { name: 'echo' });
			const { r, up } = await create({
				model: 'fake-mcp',
				previous_response_id: first.id,
				input: [{ type: 'mcp_approval_response', approval_request_id: apr.id, approve: false, reason: 'not today' }],
				tools: [{ type: 'mcp', server_label: 'fault' }],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['message'], 'no mcp_call for a denied call');
			assert.equal(up.length, 1);
			const tool = up[0].messages.at(-1);
			assert.equal(tool.role, 'tool');
			assert.match(messageText(tool.content), /denied/i);
			assert.match(r.output_text, /^Tool said: .*denied/i);
			assert.equal((await fault.stats()).tool_calls.echo, s0.tool_calls.echo, 'the denied call never reached the server');
			denied = { request: first, approval: apr, response: r };
		});

		it('an unknown (forged) approval id -> 400 approval_not_found', T, async () => {
			const forged = `mcpr_${randomUUID().replace(/-/g, '')}`;
			await expect400(
				'/v1/responses',
				{
					model: 'fake-mcp',
					previous_response_id: approved.request.id,
					input: [{ type: 'mcp_approval_response', approval_request_id: forged, approve: true }],
					tools: [{ type: 'mcp', server_label: 'fault' }],
				},
				'approval_not_found',
				'input[0].approval_request_id',
			);
			await expect400(
				'/v1/responses',
				{
					model: 'fake-mcp',
					store: false,
					input: [
						{ role: 'user', content: 'call echo {"message":"x"}' },
						{ type: 'mcp_approval_response', approval_request_id: forged, approve: true },
					],
					tools: [{ type: 'mcp', server_label: 'fault' }],
				},
				'approval_not_found',
				'input[1].approval_request_id',
			);
		});

		it('stateless: the history with the mcp_approval_request sent back, plus the approval', T, async () => {
			const user = { role: 'user', content: 'call echo {"message":"stateless"}' };
			const { r: first } = await create({ ...ask('stateless'), store: false });
			assert.deepEqual(types(first), ['mcp_list_tools', 'mcp_approval_request']);
			const apr = first.output[1];
			const s0 = await fault.stats();
			const { r } = await create({
				model: 'fake-mcp',
				store: false,
				input: [user, ...first.output, { type: 'mcp_approval_response', approval_request_id: apr.id, approve: true }],
				tools: [{ type: 'mcp', server_label: 'fault' }],
			});
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r), ['mcp_call', 'message']);
			assertCall(r.output[0], { name: 'echo', output: 'Echo: stateless', arguments: '{"message":"stateless"}', approval_request_id: apr.id });
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.echo - s0.tool_calls.echo, 1);
			assert.equal(s1.tools_list.calls, s0.tools_list.calls, 'the listing in the input is reused');
		});

		it('stateless with altered arguments, or without the request item -> 400 approval_mismatch; the honest one then works', T, async () => {
			const user = { role: 'user', content: 'call echo {"message":"honest"}' };
			const { r: first } = await create({ ...ask('honest'), store: false });
			const [list, apr] = first.output;
			assertApprovalRequest(apr, { arguments: '{"message":"honest"}' });
			const resp = { type: 'mcp_approval_response', approval_request_id: apr.id, approve: true };
			const tools = [{ type: 'mcp', server_label: 'fault' }];
			const s0 = await fault.stats();

			const altered = { ...apr, arguments: '{"message":"evil"}' };
			await expect400(
				'/v1/responses',
				{ model: 'fake-mcp', store: false, input: [user, list, altered, resp], tools },
				'approval_mismatch',
				'input[3].approval_request_id',
			);
			const renamed = { ...apr, name: 'add' };
			await expect400(
				'/v1/responses',
				{ model: 'fake-mcp', store: false, input: [user, list, renamed, resp], tools },
				'approval_mismatch',
				'input[3].approval_request_id',
			);
			await expect400(
				'/v1/responses',
				{ model: 'fake-mcp', store: false, input: [user, list, resp], tools },
				'approval_mismatch',
				'input[2].approval_request_id',
			);
			let s1 = await fault.stats();
			assert.equal(s1.tool_calls.echo ?? 0, s0.tool_calls.echo ?? 0, 'nothing ran');
			assert.equal(s1.tool_calls.add ?? 0, s0.tool_calls.add ?? 0, 'nothing ran');

			// The refused attempts did not decide the approval.
			const { r } = await create({ model: 'fake-mcp', store: false, input: [user, list, apr, resp], tools });
			assertCall(r.output[0], { name: 'echo', output: 'Echo: honest', arguments: '{"message":"honest"}', approval_request_id: apr.id });
			s1 = await fault.stats();
			assert.ok(!s1.tool_call_args.some((c) => c.arguments?.message === 'evil'), 'the altered arguments never reached the server');
		});

		it('one call auto-approved and one needing approval in the same turn: the first runs, the second waits', T, async () => {
			const s0 = await fault.stats();
			const tools = [{ type: 'mcp', server_label: 'fault', require_approval: { never: { tool_names: ['add'] } } }];
			const { r } = await create({ model: 'fake-mcp', input: lines('call add {"a":1,"b":1}', 'call echo {"message":"wait"}'), tools });
			assert.equal(r.status, 'completed');
			assert.deepEqual(types(r).sort(), ['mcp_approval_request', 'mcp_call', 'mcp_list_tools']);
			assertCall(ofType(r, 'mcp_call')[0], { name: 'add', output: '2', arguments: '{"a":1,"b":1}' });
			const apr = assertApprovalRequest(ofType(r, 'mcp_approval_request')[0], { name: 'echo', arguments: '{"message":"wait"}' });
			const s1 = await fault.stats();
			assert.equal(s1.tool_calls.add - (s0.tool_calls.add ?? 0), 1);
			assert.equal(s1.tool_calls.echo, s0.tool_calls.echo);

			const { r: next } = await create({
				model: 'fake-mcp',
				previous_response_id: r.id,
				input: [{ type: 'mcp_approval_response', approval_request_id: apr.id, approve: true }],
				tools,
			});
			assertCall(next.output[0], { name: 'echo', output: 'Echo: wait', arguments: '{"message":"wait"}', approval_request_id: apr.id });
			assert.match(next.output_text, /^Tool said: (2 \| )?Echo: wait$/);
		});

		it('the audit log: calls with outcome, tool, server_label, args_sha256; denied and approved rows', T, async () => {
			const { data } = await audit(200);
			assert.ok(data.length > 0);
			for (let i = 1; i < data.length; i++) assert.ok(data[i - 1].at_ms >= data[i].at_ms, 'newest first');
			for (const row of data) {
				for (const k of [
					'id',
					'at_ms',
					'response_id',
					'caller',
					'server_label',
					'server_url',
					'tool',
					'args_bytes',
					'args_sha256',
					'outcome',
					'error',
					'duration_ms',
					'approval_id',
					'decided_by',
				])
					assert.ok(k in row, `audit row has ${k}: ${JSON.stringify(row)}`);
			}
			const uid = `uid=${process.getuid()}`;
			const ok = data.find((row) => row.response_id === approved.response.id);
			assert.ok(ok, 'a row for the approved call');
			const args = '{"message":"needs ok"}';
			assert.equal(ok.outcome, 'ok');
			assert.equal(ok.tool, 'echo');
			assert.equal(ok.server_label, 'fault');
			assert.equal(ok.server_url, fault.url);
			assert.equal(ok.args_sha256, sha256(args));
			assert.equal(ok.args_bytes, Buffer.byteLength(args));
			assert.equal(ok.approval_id, approved.approval.id);
			assert.equal(ok.decided_by, uid);
			assert.equal(ok.caller, uid);
			assert.ok(Number.isInteger(ok.duration_ms) && ok.duration_ms >= 0);

			const no = data.find((row) => row.approval_id === denied.approval.id);
			assert.ok(no, 'a row for the denied call');
			assert.equal(no.outcome, 'denied');
			assert.equal(no.tool, 'echo');
			assert.equal(no.args_sha256, sha256('{"message":"please deny"}'));
			assert.equal(no.decided_by, uid);

			const failed = data.find((row) => row.tool === 'fail');
			assert.ok(failed, 'a row for the isError call');
			assert.notEqual(failed.outcome, 'ok');
			assert.equal(failed.args_sha256, sha256('{}'));

			const one = await audit(1);
			assert.equal(one.data.length, 1);
			assert.deepEqual(one.data[0], data[0]);
		});

		it('a daemon restart between the approval request and the approval (same store file)', SETUP, async () => {
			const { r: first } = await create(ask('after restart'));
			const apr = assertApprovalRequest(first.output.at(-1), { name: 'echo' });
			await d.restart();
			const s0 = await fault.stats();
			const { r } = await create({
				model: 'fake-mcp',
				previous_response_id: first.id,
				input: [{ type: 'mcp_approval_response', approval_request_id: apr.id, approve: true }],
				tools: [{ type: 'mcp', server_label: 'fault' }],
			});
			assert.equal(r.status, 'completed');
			assertCall(r.output[0], {
				name: 'echo',
				output: 'Echo: after restart',
				arguments: '{"message":"after restart"}',
				approval_request_id: apr.id,
			});
			assert.equal((await fault.stats()).tool_calls.echo - s0.tool_calls.echo, 1);
			// Still decided after the restart.
			await expect400(
				'/v1/responses',
				{
					model: 'fake-mcp',
					previous_response_id: approved.request.id,
					input: [{ type: 'mcp_approval_response', approval_request_id: approved.approval.id, approve: true }],
					tools: [{ type: 'mcp', server_label: 'fault' }],
				},
				'approval_already_decided',
			);
		});
	});

	describe('cancel, disconnect, background', () => {
		// Starts a streamed response whose call hangs on 'waits'; resolves once the server runs it.
		async function streamHanging() {
			const h0 = (await waits.stats()).hang.started;
			const n0 = chats().length;
			let id = null;
			let ctl = null;
			const sse = d.sse(
				'/v1/responses',
				{ model: 'fake-mcp', stream: true, input: 'call hang {}', tools: [mcp('waits')] },
				{
					timeoutMs: 10000,
					onFrame(f, c) {
						ctl = c;
						if (f.kind === 'event' && f.data !== '[DONE]') {
							const e = JSON.parse(f.data);
							if (e.type === 'response.created') id = e.response.id;
						}
					},
				},
			);
			await waitFor(async () => id && (await waits.stats()).hang.started > h0, 'the hang call to reach the server');
			return { sse, id, abort: () => ctl.abort(), n0 };
		}

		async function waitCancelled(c0) {
			return waitFor(async () => {
				const s = await waits.stats();
				return s.cancelled.length > c0 && s.cancelled.slice(c0).some((c) => c.tool === 'hang') ? s : null;
			}, 'notifications/cancelled for the hang call');
		}

		it('POST /v1/responses/{id}/cancel during a hanging call: cancelled, the server gets notifications/cancelled', T, async () => {
			const c0 = (await waits.stats()).cancelled.length;
			const run = await streamHanging();
			const res = await d.request('POST', `/v1/responses/${run.id}/cancel`);
			assert.equal(res.status, 200, res.body);
			const body = res.json();
			assert.equal(body.object, 'response');
			assert.equal(body.id, run.id);
			assert.equal(body.status, 'cancelled');

			const s = await waitCancelled(c0);
			assert.ok(s.hang.aborted >= 1);
			const stream = await run.sse;
			const events = streamEvents(stream, { requireDone: false });
			assert.ok(!events.some((e) => e.type === 'response.completed'), 'a cancelled response does not complete');
			assert.equal(chats().length, run.n0 + 1, 'no model turn after the cancel');
			assert.equal((await getResponse(run.id)).status, 'cancelled');

			await expect400(`/v1/responses/${run.id}/cancel`, undefined, 'response_not_cancellable');
			const unknown = await d.request('POST', '/v1/responses/resp_doesnotexist000/cancel');
			assert.equal(unknown.status, 404, unknown.body);
			validateErrorEnvelope(unknown.json());
		});

		it('the caller disconnects during a streamed call: the call is cancelled on the server', T, async () => {
			const c0 = (await waits.stats()).cancelled.length;
			const run = await streamHanging();
			run.abort();
			await run.sse;
			await waitCancelled(c0);
			await sleep(200);
			assert.equal(chats().length, run.n0 + 1, 'no model turn after the disconnect');
			const h = await d.request('GET', '/healthz');
			assert.equal(h.status, 200);
		});

		it('background: queued/in_progress at once, in_progress by GET, then the stored final result', T, async () => {
			const t0 = Date.now();
			const { r } = await create({ model: 'fake-mcp', background: true, input: 'call slow {"ms":800}', tools: [mcp('waits')] });
			assert.ok(Date.now() - t0 < 700, 'answered before the 800 ms call could finish');
			assert.ok(['queued', 'in_progress'].includes(r.status), r.status);
			assert.equal(r.background, true);
			const seen = [r.status];
			const final = await waitFor(async () => {
				const g = await getResponse(r.id);
				if (seen.at(-1) !== g.status) seen.push(g.status);
				return ['completed', 'failed', 'incomplete', 'cancelled'].includes(g.status) ? g : null;
			}, 'the background response to finish');
			assert.ok(seen.includes('in_progress'), `statuses seen: ${seen}`);
			assert.equal(final.status, 'completed', JSON.stringify(final.error));
			assert.deepEqual(
				final.output.map((i) => i.type),
				['mcp_list_tools', 'mcp_call', 'message'],
			);
			assertCall(final.output[1], { server_label: 'waits', name: 'slow', arguments: '{"ms":800}', output: 'slept 800 ms' });
			assert.equal(final.output[2].content[0].text, 'Tool said: slept 800 ms');
		});

		it('background cancel during a hanging call: cancelled, stays cancelled; the server gets notifications/cancelled', T, async () => {
			const s0 = await waits.stats();
			const { r } = await create({ model: 'fake-mcp', background: true, input: 'call hang {}', tools: [mcp('waits')] });
			await waitFor(async () => (await waits.stats()).hang.started > s0.hang.started, 'the hang call to start');
			assert.equal((await getResponse(r.id)).status, 'in_progress');
			const c = await sdk().responses.cancel(r.id);
			assert.equal(c.status, 'cancelled');
			await waitCancelled(s0.cancelled.length);
			await sleep(100);
			assert.equal((await getResponse(r.id)).status, 'cancelled');
			await expect400(`/v1/responses/${r.id}/cancel`, undefined, 'response_not_cancellable');
		});

		it('background with store:false -> 400', T, async () => {
			const res = await d.request('POST', '/v1/responses', { model: 'fake-mcp', background: true, store: false, input: 'x' });
			assert.equal(res.status, 400, res.body);
			validateErrorEnvelope(res.json());
		});

		it('the daemon killed while an approved call runs: after the restart the approval is spent and never runs again', SETUP, async () => {
			const tools = [mcp('waits', { require_approval: 'always' })];
			const { r: first } = await create({ model: 'fake-mcp', input: 'call hang {}', tools });
			const apr = assertApprovalRequest(first.output.at(-1), { server_label: 'waits', name: 'hang' });
			assert.equal(await approvalRow(apr.id), 'pending 1');
			const approve = { model: 'fake-mcp', previous_response_id: first.id, input: [{ type: 'mcp_approval_response', approval_request_id: apr.id, approve: true }], tools };
			const h0 = (await waits.stats()).hang.started;
			const running = d.request('POST', '/v1/responses', approve).catch((e) => e);
			await waitFor(async () => (await waits.stats()).hang.started > h0, 'the approved hang call to reach the server');
			assert.equal(await approvalRow(apr.id), 'running 3', 'claimed before the call left');
			await d.kill9();
			await running;
			await d.restart();
			assert.equal(await approvalRow(apr.id), 'done 4', 'the start settles the claim of a call that may have run');
			await expect400('/v1/responses', approve, 'approval_already_decided', 'input[0].approval_request_id');
			assert.equal((await waits.stats()).hang.started, h0 + 1, 'the call reached the server once');
		});
	});

	describe('streaming', () => {
		it('list and call: the events in the documented order, arguments deltas join to the done value', T, async () => {
			const res = await d.sse('/v1/responses', {
				model: 'fake-mcp',
				stream: true,
				input: 'call echo {"message":"streamed"}',
				tools: [mcp('fault')],
			});
			const events = streamEvents(res);
			const t = events.map((e) => e.type);
			assert.equal(t[0], 'response.created');
			assert.equal(t[1], 'response.in_progress');
			assert.equal(t.at(-1), 'response.completed');
			const added = events.filter((e) => e.type === 'response.output_item.added');
			assert.deepEqual(
				added.map((e) => [e.output_index, e.item.type]),
				[
					[0, 'mcp_list_tools'],
					[1, 'mcp_call'],
					[2, 'message'],
				],
			);

			const listId = added[0].item.id;
			const list = itemEvents(events, listId);
			assert.deepEqual(
				list.map((e) => e.type),
				['response.output_item.added', 'response.mcp_list_tools.in_progress', 'response.mcp_list_tools.completed', 'response.output_item.done'],
			);
			assert.deepEqual(list[0].item.tools, [], 'added with tools []');
			assert.ok(list[3].item.tools.some((x) => x.name === 'echo'));

			const callId = added[1].item.id;
			const call = itemEvents(events, callId);
			const ct = call.map((e) => e.type);
			const nDelta = ct.filter((x) => x === 'response.mcp_call_arguments.delta').length;
			assert.ok(nDelta >= 1, 'at least one arguments delta');
			assert.deepEqual(ct, [
				'response.output_item.added',
				'response.mcp_call.in_progress',
				...Array(nDelta).fill('response.mcp_call_arguments.delta'),
				'response.mcp_call_arguments.done',
				'response.mcp_call.completed',
				'response.output_item.done',
			]);
			assert.equal(call[0].item.arguments, '');
			const joined = call
				.filter((e) => e.type === 'response.mcp_call_arguments.delta')
				.map((e) => e.delta)
				.join('');
			assert.equal(joined, '{"message":"streamed"}');
			assert.equal(call.find((e) => e.type === 'response.mcp_call_arguments.done').arguments, joined);
			assertCall(call.at(-1).item, { server_label: 'fault', name: 'echo', arguments: joined, output: 'Echo: streamed' });

			// The whole listing and call come before the answer's message.
			const msgAdded = events.indexOf(added[2]);
			assert.ok(events.indexOf(list.at(-1)) < events.indexOf(call[0]));
			assert.ok(events.indexOf(call.at(-1)) < msgAdded);
			const final = events.at(-1).response;
			assert.equal(final.status, 'completed');
			assert.deepEqual(final.output[0], list.at(-1).item);
			assert.deepEqual(final.output[1], call.at(-1).item);
			assert.equal(final.output[2].content[0].text, 'Tool said: Echo: streamed');
			assert.deepEqual((await getResponse(final.id)).output, final.output);
		});

		it('a failed listing and a failed call: .failed events, then output_item.done with the error', T, async () => {
			const res = await d.sse('/v1/responses', { model: 'fake-mcp', stream: true, input: 'call fail {}', tools: [mcp('down'), mcp('fault')] });
			const events = streamEvents(res);
			assert.equal(events.at(-1).type, 'response.completed');
			const added = events.filter((e) => e.type === 'response.output_item.added');
			assert.deepEqual(
				added.map((e) => e.item.type),
				['mcp_list_tools', 'mcp_list_tools', 'mcp_call', 'message'],
			);
			const down = itemEvents(events, added[0].item.id);
			assert.deepEqual(
				down.map((e) => e.type),
				['response.output_item.added', 'response.mcp_list_tools.in_progress', 'response.mcp_list_tools.failed', 'response.output_item.done'],
			);
			assert.equal(down.at(-1).item.server_label, 'down');
			assert.equal(typeof down.at(-1).item.error, 'string');
			assert.deepEqual(down.at(-1).item.tools, []);
			const call = itemEvents(events, added[2].item.id);
			assert.deepEqual(call.slice(-2).map((e) => e.type), ['response.mcp_call.failed', 'response.output_item.done']);
			assert.equal(call.at(-1).item.status, 'failed');
			assert.equal(call.at(-1).item.error.type, 'mcp_tool_execution_error');
		});

		it('an approval request: output_item.added then output_item.done, and the response completes', T, async () => {
			const res = await d.sse('/v1/responses', {
				model: 'fake-mcp',
				stream: true,
				input: 'call echo {"message":"stream approval"}',
				tools: [{ type: 'mcp', server_label: 'fault' }],
			});
			const events = streamEvents(res);
			assert.equal(events.at(-1).type, 'response.completed');
			const added = events.filter((e) => e.type === 'response.output_item.added');
			assert.deepEqual(
				added.map((e) => e.item.type),
				['mcp_list_tools', 'mcp_approval_request'],
			);
			const apr = itemEvents(events, added[1].item.id);
			assert.deepEqual(
				apr.map((e) => e.type),
				['response.output_item.added', 'response.output_item.done'],
			);
			assertApprovalRequest(apr[1].item, { server_label: 'fault', name: 'echo', arguments: '{"message":"stream approval"}' });
		});
	});

	describe('compaction', () => {
		const context = [
			{ role: 'user', content: 'first question' },
			{ role: 'assistant', content: 'first answer' },
			{ role: 'user', content: 'second question' },
		];
		let compacted;

		it('POST /v1/responses/compact: the resource, the summary request upstream', T, async () => {
			const n0 = chats().length;
			const res = await d.request('POST', '/v1/responses/compact', { model: 'fake-summarize', input: context });
			assert.equal(res.status, 200, res.body);
			const c = res.json();
			assert.match(c.id, /^cmp_/);
			assert.equal(c.object, 'response.compaction');
			assert.ok(Number.isInteger(c.created_at));
			assert.ok(c.usage && Number.isInteger(c.usage.input_tokens) && Number.isInteger(c.usage.output_tokens), 'usage');
			assert.deepEqual(
				c.output.map((i) => i.type),
				['message', 'message', 'compaction'],
			);
			assert.deepEqual(
				c.output.slice(0, 2).map((i) => [i.role, messageText(i.content)]),
				[
					['user', 'first question'],
					['user', 'second question'],
				],
			);
			const cmp = c.output[2];
			assert.equal(typeof cmp.id, 'string');
			assert.equal(typeof cmp.encrypted_content, 'string');
			assert.ok(cmp.encrypted_content.length > 0);
			for (const i of c.output) validateItem(i);

			const up = chats().slice(n0);
			assert.equal(up.length, 1);
			const msgs = up[0].body.messages;
			assert.equal(msgs.length, 4, 'the context plus the summary instruction');
			assert.equal(msgs.at(-1).role, 'user');
			assert.match(messageText(msgs.at(-1).content), /^Summarize the conversation so far/);
			compacted = c;

			// The SDK's compact() reads the same resource.
			const viaSdk = await sdk().responses.compact({ model: 'fake-summarize', input: context });
			assert.equal(viaSdk.object, 'response.compaction');
			assert.equal(viaSdk.output.at(-1).type, 'compaction');
		});

		it('compact without model -> 400 param model', T, async () => {
			const res = await d.request('POST', '/v1/responses/compact', { input: context });
			assert.equal(res.status, 400, res.body);
			assert.equal(validateErrorEnvelope(res.json()).error.param, 'model');
		});

		it('the compacted output as input: the model sees "Summary of the earlier conversation:"', T, async () => {
			assert.ok(compacted, 'the compact test ran');
			const input = [...compacted.output, { role: 'user', content: 'echo: after compaction' }];
			const { r, up } = await create({ model: 'fake-text', input });
			assert.equal(r.status, 'completed');
			assert.equal(r.output_text, 'after compaction');
			const texts = up[0].messages.map((m) => messageText(m.content));
			const summary = texts.find((x) => x.startsWith('Summary of the earlier conversation:'));
			assert.ok(summary, `a summary message among ${JSON.stringify(texts)}`);
			assert.ok(summary.includes('SUMMARY of 4 messages'), summary);
		});

		it('a changed encrypted_content -> 400 invalid_encrypted_content', T, async () => {
			assert.ok(compacted, 'the compact test ran');
			const cmp = compacted.output.at(-1);
			const s = cmp.encrypted_content;
			const at = Math.floor(s.length / 2);
			const tampered = s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
			const input = [{ ...cmp, encrypted_content: tampered }, { role: 'user', content: 'hi' }];
			await expect400('/v1/responses', { model: 'fake-text', input }, 'invalid_encrypted_content');
		});

		it('compact by previous_response_id: the stored context', T, async () => {
			const { r } = await create({ model: 'fake-text', input: 'echo: stored turn' });
			const res = await d.request('POST', '/v1/responses/compact', { model: 'fake-summarize', previous_response_id: r.id });
			assert.equal(res.status, 200, res.body);
			const c = res.json();
			assert.deepEqual(
				c.output.map((i) => i.type),
				['message', 'compaction'],
			);
			assert.equal(messageText(c.output[0].content), 'echo: stored turn');
		});
	});

	describe('redaction of request credentials', () => {
		// A URL server behind --bearer S2 with the header X-Secret: S1.
		const privateTool = () =>
			mcp('private', {
				server_url: privateSrv.url,
				headers: { 'X-Secret': S1 },
				authorization: S2,
				server_description: 'private test server',
			});
		const texts = []; // [where, text] of everything the daemon answered in these tests

		function assertClean(text, where) {
			assert.ok(!text.includes(S1), `${where} holds the header value`);
			assert.ok(!text.includes(S2), `${where} holds the authorization`);
		}

		it('JSON response: the call works with the credentials; the echoed tool has [redacted] headers and no authorization', T, async () => {
			const body = { model: 'fake-mcp', input: 'call echo {"message":"private"}', tools: [privateTool()] };
			const res = await d.request('POST', '/v1/responses', body);
			texts.push(['POST /v1/responses', res.body]);
			assert.equal(res.status, 200, res.body);
			const r = res.json();
			assert.equal(r.status, 'completed');
			assertCall(ofType(r, 'mcp_call')[0], {
				server_label: 'private',
				name: 'echo',
				output: 'Echo: private',
				arguments: '{"message":"private"}',
			});
			const tool = r.tools.find((x) => x.type === 'mcp');
			assert.equal(tool.server_label, 'private');
			assert.equal(tool.server_url, privateSrv.url);
			assert.deepEqual(tool.headers, { 'X-Secret': '[redacted]' });
			assert.ok(!('authorization' in tool), 'no authorization in the echoed tool');

			// The server did receive them.
			const s = await privateSrv.stats();
			assert.deepEqual(s.auth.last, { present: true, correct: true });
			assert.equal(s.auth.wrong + s.auth.missing, 0);
			assert.ok(s.request_headers['x-secret']?.includes(S1), 'the header reached the server');
			assert.ok(s.request_headers.authorization?.includes(`Bearer ${S2}`), 'the authorization reached the server as a bearer token');

			for (const p of [`/v1/responses/${r.id}`, `/v1/responses/${r.id}/input_items`, '/v1/mcp/audit?limit=100']) {
				const g = await d.request('GET', p);
				assert.equal(g.status, 200, `${p}: ${g.body}`);
				texts.push([`GET ${p}`, g.body]);
			}
			const row = (await audit()).data.find((x) => x.response_id === r.id);
			assert.ok(row, 'an audit row for the private call');
			assert.equal(row.server_label, 'private');
			assert.equal(row.server_url, privateSrv.url);
		});

		it('SSE: no event carries the credentials', T, async () => {
			const body = { model: 'fake-mcp', stream: true, input: 'call echo {"message":"private stream"}', tools: [privateTool()] };
			const res = await d.sse('/v1/responses', body);
			texts.push(['SSE /v1/responses', res.text]);
			const events = streamEvents(res);
			assert.equal(events.at(-1).type, 'response.completed');
			const id = events[0].response.id;
			const g = await d.request('GET', `/v1/responses/${id}`);
			texts.push([`GET /v1/responses/${id}`, g.body]);
			assert.deepEqual(g.json().tools.find((x) => x.type === 'mcp').headers, { 'X-Secret': '[redacted]' });
		});

		it('errors: a refused URL and a listing failure do not quote the credentials', T, async () => {
			const refused = await d.request('POST', '/v1/responses', {
				model: 'fake-mcp',
				input: 'x',
				tools: [mcp('ext', { server_url: 'http://localhost:1/mcp', headers: { 'X-Secret': S1 }, authorization: S2 })],
			});
			texts.push(['refused server_url', refused.body]);
			assert.equal(refused.status, 400, refused.body);

			const down = await d.request('POST', '/v1/responses', {
				model: 'fake-mcp',
				input: 'call echo {"message":"x"}',
				tools: [mcp('gone', { server_url: `http://127.0.0.1:${downPort}/mcp`, headers: { 'X-Secret': S1 }, authorization: S2 })],
			});
			texts.push(['listing failure', down.body]);
			assert.equal(down.status, 200, down.body);
			const list = down.json().output.find((i) => i.type === 'mcp_list_tools');
			assert.equal(typeof list.error, 'string');

			// A bad credential: the private server refuses it (401); the error must not echo it either.
			const bad = `bad-${S2}`;
			const unauth = await d.request('POST', '/v1/responses', {
				model: 'fake-mcp',
				input: 'call echo {"message":"x"}',
				tools: [mcp('private', { server_url: privateSrv.url, headers: { 'X-Secret': S1 }, authorization: bad })],
			});
			texts.push(['unauthorized listing', unauth.body]);
			assert.equal(unauth.status, 200, unauth.body);
			assert.equal(typeof unauth.json().output.find((i) => i.type === 'mcp_list_tools').error, 'string');
		});

		it('none of the answers, and not the daemon log, hold the credentials', T, async () => {
			assert.ok(texts.length >= 7, 'the tests above ran');
			for (const [where, text] of texts) assertClean(text, where);
			const a = await d.request('GET', '/v1/mcp/audit?limit=1000');
			assertClean(a.body, 'GET /v1/mcp/audit');
			assertClean(d.stderr, 'the daemon log');
		});
	});
});
