// Regression tests for the review fixes of MCP tools in a response (commit 0a558b6): each test below
// failed against the behaviour before it. Approvals are bound to the server URL and to the caller
// that was asked, are refused when answered twice in one input, stay within max_tool_calls and
// are claimed when they run; a model turn cut off by length runs none of its calls; a forced
// tool_choice holds for the first model turn only; a listing supplied by the caller does not relax
// approve_destructive; refusals are audited; the cancel answer is the final response; server_url is
// echoed without user info or query; a background response cut by a daemon crash ends "failed".
//
// The model is the fake upstream's 'fake-mcp' scenario (directive lines "call|then|loop NAME JSON",
// and "finish length"); the MCP servers are fault servers (tests/fakes/mcp-fault.mjs). One daemon
// for the file, listening on its Unix socket (caller "uid=N") and on loopback TCP with two API keys
// (callers "key=a" and "key=b"); the tests run in order and the last one restarts it. Every wait is
// bounded; everything stays on loopback and in a temp dir.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { freePort, httpRequest, startDaemon } from './lib/harness.mjs';
import { startMcpFault } from './lib/mcp.mjs';
import { assertApprovalRequest, mcp, streamEvents, waitFor } from './lib/responses-mcp.mjs';
import { validateErrorEnvelope } from './lib/schema.mjs';

const T = { timeout: 15000 };
const SETUP = { timeout: 40000 };

const KEY_A = `key-a-${randomUUID()}`;
const KEY_B = `key-b-${randomUUID()}`;
const UID = `uid=${process.getuid()}`;

const lines = (...l) => l.join('\n');
const ofType = (r, type) => r.output.filter((i) => i.type === type);
const types = (r) => r.output.map((i) => i.type);
const approvalResponse = (apr, approve = true) => ({ type: 'mcp_approval_response', approval_request_id: apr.id, approve });

/** An mcp tool of a request; require_approval "never" unless extra says otherwise. */

/** The text of the response's last assistant message ('' when there is none). */
function answer(r) {
	const m = r.output.filter((i) => i.type === 'message' && i.role === 'assistant').at(-1);
	return (m?.content ?? []).map((p) => p.text ?? '').join('');
}

/** Resolves once pred() (may be async) is truthy; fails after timeoutMs. */

/** Checks an mcp_call item: every key of want plus type and id. */
function assertCall(item, want) {
	assert.equal(item?.type, 'mcp_call', JSON.stringify(item));
	assert.match(item.id, /^mcp_/);
	for (const [k, v] of Object.entries(want)) assert.deepEqual(item[k], v, `mcp_call.${k} of ${JSON.stringify(item).slice(0, 600)}`);
	return item;
}

/** How many tools/call requests for tool the server saw between stats s0 and s1. */
const callsOf = (s0, s1, tool) => (s1.tool_calls[tool] ?? 0) - (s0.tool_calls[tool] ?? 0);

describe('MCP in a response: review regressions', () => {
	let srvA; // the usual server: labels 'a' and 'careful', and request server_url
	let srvB; // only ever named by a request's server_url
	let waits; // 'waits': hang for cancel and crash
	let tcpPort;
	let d;

	const chats = () => d.upstream.chatRequests();
	const tcp = () => ({ host: '127.0.0.1', port: tcpPort });

	/** POST /v1/responses over the Unix socket (or TCP with a key): 200 asserted; {r, up, text}. */
	async function create(body, { key } = {}) {
		const n0 = chats().length;
		const res = key
			? await httpRequest(tcp(), 'POST', '/v1/responses', body, { authorization: `Bearer ${key}` })
			: await d.request('POST', '/v1/responses', body);
		assert.equal(res.status, 200, res.body.slice(0, 1000));
		return { r: res.json(), up: chats().slice(n0).map((c) => c.body), text: res.body };
	}

	/** A POST /v1/responses that must fail with 400 and this error code and param. */
	async function expect400(body, code, param, { key } = {}) {
		const res = key
			? await httpRequest(tcp(), 'POST', '/v1/responses', body, { authorization: `Bearer ${key}` })
			: await d.request('POST', '/v1/responses', body);
		assert.equal(res.status, 400, res.body.slice(0, 1000));
		const e = validateErrorEnvelope(res.json()).error;
		assert.equal(e.code, code, res.body);
		if (param !== undefined) assert.equal(e.param, param, res.body);
		return e;
	}

	async function getResponse(id) {
		const res = await d.request('GET', `/v1/responses/${id}`);
		assert.equal(res.status, 200, res.body);
		return { r: res.json(), text: res.body };
	}

	/** The audit rows of a response, as its caller sees them (the Unix socket, or TCP with a key). */
	async function auditRows(responseId, { key } = {}) {
		const res = key
			? await httpRequest(tcp(), 'GET', '/v1/mcp/audit?limit=1000', undefined, { authorization: `Bearer ${key}` })
			: await d.request('GET', '/v1/mcp/audit?limit=1000');
		assert.equal(res.status, 200, res.body);
		return res.json().data.filter((row) => row.response_id === responseId);
	}

	before(async () => {
		[srvA, srvB, waits, tcpPort] = await Promise.all([startMcpFault(), startMcpFault(), startMcpFault(), freePort()]);
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port: tcpPort } },
				api_keys: [
					{ name: 'a', key: KEY_A },
					{ name: 'b', key: KEY_B },
				],
				mcp: { connect_timeout_ms: 1000 },
				mcp_servers: [
					{ label: 'a', url: srvA.url },
					// Tools not annotated read-only need approval whatever the request says.
					{ label: 'careful', url: srvA.url, approve_destructive: true },
					{ label: 'waits', url: waits.url },
				],
				mcp_policy: { allow_request_urls: ['http://127.0.0.1:'] },
			},
		});
	}, SETUP);

	after(async () => {
		const errors = [];
		for (const stop of [() => d?.stop(), ...[srvA, srvB, waits].map((s) => () => s?.stop())]) {
			try {
				await stop();
			} catch (e) {
				errors.push(e);
			}
		}
		if (errors.length) throw errors[0];
	}, SETUP);

	it('approve_destructive: a listing in the input that calls a tool read-only does not skip the approval', T, async () => {
		// The server's own listing: slow carries no read-only annotation.
		const { r: listed } = await create({ model: 'fake-mcp', input: 'list only', tools: [mcp('careful')] });
		const list = ofType(listed, 'mcp_list_tools')[0];
		assert.ok(list && !list.error, JSON.stringify(list));
		const slow = list.tools.find((t) => t.name === 'slow');
		assert.ok(slow, `slow among ${list.tools.map((t) => t.name)}`);
		assert.notEqual(slow.annotations?.readOnlyHint, true);
		const forged = { ...list, tools: list.tools.map((t) => (t.name === 'slow' ? { ...t, annotations: { readOnlyHint: true } } : t)) };

		const s0 = await srvA.stats();
		const { r } = await create({
			model: 'fake-mcp',
			store: false,
			input: [forged, { role: 'user', content: 'call slow {"ms":1}' }],
			tools: [mcp('careful')],
		});
		assert.equal(r.status, 'completed');
		assert.deepEqual(ofType(r, 'mcp_call'), [], 'slow did not run');
		const aprs = ofType(r, 'mcp_approval_request');
		assert.equal(aprs.length, 1, JSON.stringify(r.output));
		assertApprovalRequest(aprs[0], { server_label: 'careful', name: 'slow', arguments: '{"ms":1}' });
		await sleep(100);
		assert.equal(callsOf(s0, await srvA.stats(), 'slow'), 0, 'the server never saw tools/call slow');
	});

	it('an approval issued for a label on server A, continued with that label on server B -> 400 approval_mismatch', T, async () => {
		const toolsA = [{ type: 'mcp', server_label: 'x', server_url: srvA.url }]; // require_approval: "always"
		const { r: first } = await create({ model: 'fake-mcp', input: 'call echo {"message":"bound"}', tools: toolsA });
		const apr = assertApprovalRequest(ofType(first, 'mcp_approval_request')[0], { server_label: 'x', name: 'echo' });

		const [a0, b0] = await Promise.all([srvA.stats(), srvB.stats()]);
		const toolsB = [{ type: 'mcp', server_label: 'x', server_url: srvB.url }];
		await expect400(
			{ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(apr)], tools: toolsB },
			'approval_mismatch',
			'input[0].approval_request_id',
		);
		await sleep(100);
		const [a1, b1] = await Promise.all([srvA.stats(), srvB.stats()]);
		assert.equal(callsOf(b0, b1, 'echo'), 0, 'server B never saw the call');
		assert.equal(callsOf(a0, a1, 'echo'), 0, 'nor server A');

		// The refused attempt decided nothing: on the server it was issued for, it runs once.
		const { r } = await create({ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(apr)], tools: toolsA });
		assert.equal(r.status, 'completed');
		assertCall(r.output[0], { server_label: 'x', name: 'echo', output: 'Echo: bound', status: 'completed', approval_request_id: apr.id });
		const [a2, b2] = await Promise.all([srvA.stats(), srvB.stats()]);
		assert.equal(callsOf(a1, a2, 'echo'), 1);
		assert.equal(callsOf(b1, b2, 'echo'), 0);
	});

	describe('a model turn cut off by length', () => {
		const body = { model: 'fake-mcp', input: lines('call echo {"message":"cut"}', 'finish length'), tools: [mcp('a')] };

		it('JSON: the call never reaches the server; mcp_call "incomplete"; response incomplete (max_output_tokens)', T, async () => {
			const s0 = await srvA.stats();
			const { r, up } = await create(body);
			assert.equal(up.length, 1, 'no model turn after the cut');
			assert.equal(up[0].messages.at(-1).content, body.input, 'the directive reached the fake');
			assert.equal(r.status, 'incomplete');
			assert.equal(r.incomplete_details?.reason, 'max_output_tokens');
			const calls = ofType(r, 'mcp_call');
			assert.equal(calls.length, 1, JSON.stringify(r.output));
			assertCall(calls[0], { server_label: 'a', name: 'echo', arguments: '{"message":"cut"}', status: 'incomplete' });
			assert.ok(!calls[0].output, 'no output for a call that never ran');
			await sleep(150);
			assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 0, 'the server never saw tools/call');
			assert.deepEqual((await getResponse(r.id)).r.output, r.output, 'stored as returned');
		});

		it('SSE: the mcp_call item ends with output_item.done (status "incomplete"), then response.incomplete', T, async () => {
			const s0 = await srvA.stats();
			const res = await d.sse('/v1/responses', { ...body, stream: true }, { timeoutMs: 10000 });
			const events = streamEvents(res);
			const last = events.at(-1);
			assert.equal(last.type, 'response.incomplete', events.map((e) => e.type).join(' '));
			assert.equal(last.response.incomplete_details?.reason, 'max_output_tokens');
			const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'mcp_call');
			assert.ok(added, 'the mcp_call item was added');
			const mine = events.filter((e) => e.item_id === added.item.id || e.item?.id === added.item.id);
			for (const e of mine) assert.equal(e.output_index, added.output_index, `${e.type}: output_index`);
			const seen = mine.map((e) => e.type);
			assert.ok(!seen.includes('response.mcp_call.completed') && !seen.includes('response.mcp_call.failed'), seen.join(' '));
			const done = mine.filter((e) => e.type === 'response.output_item.done');
			assert.equal(done.length, 1, `one output_item.done for the call: ${seen.join(' ')}`);
			assert.equal(done[0], mine.at(-1), 'output_item.done is the last event of the call');
			assertCall(done[0].item, { name: 'echo', arguments: '{"message":"cut"}', status: 'incomplete' });
			assert.deepEqual(ofType(last.response, 'mcp_call'), [done[0].item]);
			await sleep(150);
			assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 0, 'the server never saw tools/call');
		});

		it('an approval request of the cut turn is not stored: approving it -> 400 approval_not_found', T, async () => {
			const { r } = await create({ ...body, tools: [{ type: 'mcp', server_label: 'a' }] });
			assert.equal(r.status, 'incomplete');
			const apr = ofType(r, 'mcp_approval_request')[0];
			assert.ok(apr, JSON.stringify(r.output));
			const s0 = await srvA.stats();
			await expect400(
				{ model: 'fake-mcp', previous_response_id: r.id, input: [approvalResponse(apr)], tools: [{ type: 'mcp', server_label: 'a' }] },
				'approval_not_found',
				'input[0].approval_request_id',
			);
			assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 0);
		});
	});

	describe('approved calls and max_tool_calls', () => {
		const tools = [{ type: 'mcp', server_label: 'a' }];

		// Two approval requests, both approved at once by a request with max_tool_calls 1:
		// {first (the asking response), r (the one that ran), ranApr, leftApr, s1 (stats after r)}.
		async function approveTwoWithBudgetOne(tag) {
			const { r: first } = await create({
				model: 'fake-mcp',
				input: lines(`call echo {"message":"${tag} one"}`, `call echo {"message":"${tag} two"}`),
				tools,
			});
			const aprs = ofType(first, 'mcp_approval_request');
			assert.equal(aprs.length, 2, JSON.stringify(first.output));
			const s0 = await srvA.stats();
			const { r, up } = await create({
				model: 'fake-mcp',
				previous_response_id: first.id,
				input: aprs.map((a) => approvalResponse(a)),
				tools,
				max_tool_calls: 1,
			});
			assert.equal(r.status, 'incomplete', JSON.stringify(r.output));
			assert.equal(r.incomplete_details?.reason, 'max_tool_calls');
			const ran = ofType(r, 'mcp_call').filter((c) => c.status === 'completed');
			assert.equal(ran.length, 1, JSON.stringify(r.output));
			assert.equal(up.length, 0, 'no model turn past the budget');
			await sleep(100);
			const s1 = await srvA.stats();
			assert.equal(callsOf(s0, s1, 'echo'), 1, 'exactly one call reached the server');
			const ranApr = aprs.find((a) => a.id === ran[0].approval_request_id);
			const leftApr = aprs.find((a) => a.id !== ran[0].approval_request_id);
			assert.ok(ranApr && leftApr, 'the call that ran names its approval');
			assert.equal(ran[0].arguments, ranApr.arguments);
			return { first, r, ranApr, leftApr, s1 };
		}

		it('two approvals approved at once with max_tool_calls 1: one call runs, incomplete (max_tool_calls), refusal audited', T, async () => {
			const { first, r, ranApr, leftApr, s1 } = await approveTwoWithBudgetOne('budget');
			const rows = await auditRows(r.id);
			assert.deepEqual(rows.map((x) => x.outcome).sort(), ['ok', 'refused'], JSON.stringify(rows));
			assert.equal(rows.find((x) => x.outcome === 'refused').approval_id, leftApr.id);
			assert.equal(rows.find((x) => x.outcome === 'ok').approval_id, ranApr.id);

			// The call that ran was claimed: approving it again is refused and runs nothing.
			await expect400(
				{ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(ranApr)], tools },
				'approval_already_decided',
				'input[0].approval_request_id',
			);
			await sleep(100);
			assert.equal(callsOf(s1, await srvA.stats(), 'echo'), 0);
		});

		it('the approved call left out by the budget runs once when approved again from the asking response', T, async () => {
			const { first, leftApr, s1 } = await approveTwoWithBudgetOne('later');
			const { r } = await create({ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(leftApr)], tools });
			assert.equal(r.status, 'completed');
			assertCall(r.output[0], { name: 'echo', arguments: leftApr.arguments, status: 'completed', approval_request_id: leftApr.id });
			await sleep(100);
			assert.equal(callsOf(s1, await srvA.stats(), 'echo'), 1);
		});

		it(
			'the approved call left out by the budget runs once when approved again from the incomplete response',
			T,
			async () => {
				const { r: cut, leftApr, s1 } = await approveTwoWithBudgetOne('resume');
				const { r } = await create({ model: 'fake-mcp', previous_response_id: cut.id, input: [approvalResponse(leftApr)], tools });
				await sleep(100);
				assert.equal(callsOf(s1, await srvA.stats(), 'echo'), 1, 'the approved call ran');
				const calls = ofType(r, 'mcp_call');
				assert.equal(calls.length, 1, JSON.stringify(r.output));
				assertCall(calls[0], { name: 'echo', arguments: leftApr.arguments, status: 'completed', approval_request_id: leftApr.id });
			},
		);
	});

	it('more than 256 approval answers in one request -> 400 too_many_approvals, before any is looked up', T, async () => {
		const input = [];
		for (let i = 0; i < 257; i++) input.push({ type: 'mcp_approval_response', approval_request_id: `mcpr_nope${i}`, approve: true });
		await expect400({ model: 'fake-mcp', input, tools: [{ type: 'mcp', server_label: 'a' }] }, 'too_many_approvals', 'input');
		// 256 of them are looked up: the first unknown id is the answer.
		await expect400(
			{ model: 'fake-mcp', input: input.slice(0, 256), tools: [{ type: 'mcp', server_label: 'a' }] },
			'approval_not_found',
			'input[0].approval_request_id',
		);
	});

	it('the same approval id twice in one input -> 400 approval_already_decided; once then runs the call once', T, async () => {
		const tools = [{ type: 'mcp', server_label: 'a' }];
		const { r: first } = await create({ model: 'fake-mcp', input: 'call echo {"message":"twice"}', tools });
		const apr = assertApprovalRequest(ofType(first, 'mcp_approval_request')[0], { name: 'echo' });
		const s0 = await srvA.stats();
		await expect400(
			{ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(apr), approvalResponse(apr)], tools },
			'approval_already_decided',
			'input[1].approval_request_id',
		);
		await sleep(100);
		assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 0, 'the refused input ran nothing');

		const { r } = await create({ model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(apr)], tools });
		assert.equal(r.status, 'completed');
		assertCall(r.output[0], { name: 'echo', output: 'Echo: twice', status: 'completed', approval_request_id: apr.id });
		assert.equal(answer(r), 'Tool said: Echo: twice');
		await sleep(100);
		assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 1, 'the call ran exactly once');
	});

	it('tool_choice {type:"mcp", server_label, name} is forced on the first model turn only; later turns get "auto"', T, async () => {
		const { r, up } = await create({
			model: 'fake-mcp',
			input: 'call echo {"message":"forced"}',
			tools: [mcp('a')],
			tool_choice: { type: 'mcp', server_label: 'a', name: 'echo' },
		});
		assert.equal(up.length, 2, 'two model turns');
		assert.deepEqual(up[0].tool_choice, { type: 'function', function: { name: 'echo' } });
		assert.equal(up[1].tool_choice, 'auto', `second turn tool_choice: ${JSON.stringify(up[1].tool_choice)}`);
		assert.equal(r.status, 'completed');
		assert.deepEqual(types(r), ['mcp_list_tools', 'mcp_call', 'message']);
		assert.equal(answer(r), 'Tool said: Echo: forced');
	});

	it('POST /v1/responses/{id}/cancel during a hanging call answers the final response, as GET shows it', T, async () => {
		const h0 = (await waits.stats()).hang.started;
		const { r } = await create({ model: 'fake-mcp', background: true, input: 'call hang {}', tools: [mcp('waits')] });
		await waitFor(async () => (await waits.stats()).hang.started > h0, 'the hang call to reach the server');
		const res = await d.request('POST', `/v1/responses/${r.id}/cancel`);
		assert.equal(res.status, 200, res.body);
		const cancelled = res.json();
		assert.equal(cancelled.id, r.id);
		assert.equal(cancelled.status, 'cancelled');
		const calls = ofType(cancelled, 'mcp_call');
		assert.equal(calls.length, 1, JSON.stringify(cancelled.output));
		assertCall(calls[0], { name: 'hang', status: 'incomplete' });
		await sleep(150);
		const { r: got } = await getResponse(r.id);
		assert.deepEqual(cancelled, got, 'the cancel answer is the stored final response');
	});

	it('a call refused for max_tool_calls gets an audit row with outcome "refused"', T, async () => {
		const s0 = await srvA.stats();
		const { r } = await create({ model: 'fake-mcp', input: 'loop echo {"message":"again"}', tools: [mcp('a')], max_tool_calls: 1 });
		assert.equal(r.status, 'incomplete');
		assert.equal(r.incomplete_details?.reason, 'max_tool_calls');
		assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 1);
		const rows = await auditRows(r.id);
		assert.deepEqual(rows.map((x) => x.outcome).sort(), ['ok', 'refused'], JSON.stringify(rows));
		const refused = rows.find((x) => x.outcome === 'refused');
		assert.equal(refused.tool, 'echo');
		assert.equal(refused.server_label, 'a');
		assert.equal(refused.server_url, srvA.url);
		assert.equal(refused.caller, UID);
		assert.match(String(refused.error), /max_tool_calls/);
	});

	it('a request server_url with user info or a query is echoed in response.tools without them', T, async () => {
		const plain = `http://127.0.0.1:${srvA.port}/mcp`;
		const q = `q${randomUUID().replace(/-/g, '')}`;
		const u = `u${randomUUID().replace(/-/g, '')}`;
		// The user-info form passes the "http://127.0.0.1:" prefix: its user is "127.0.0.1", its password u.
		for (const [given, secret] of [
			[`${plain}?token=${q}`, q],
			[`http://127.0.0.1:${u}@127.0.0.1:${srvA.port}/mcp`, u],
		]) {
			const { r, text } = await create({ model: 'fake-mcp', input: 'no call', tools: [mcp('u', { server_url: given })] });
			const tool = r.tools.find((t) => t.type === 'mcp');
			assert.equal(tool.server_url, plain, `echo of ${given}`);
			const stored = await getResponse(r.id);
			assert.equal(stored.r.tools.find((t) => t.type === 'mcp').server_url, plain);
			assert.ok(!text.includes(secret), `the response holds ${secret}: ${text.slice(0, 800)}`);
			assert.ok(!stored.text.includes(secret), 'the stored response holds it');
		}
	});

	it('an approval decided by another caller -> 400 approval_mismatch; the caller asked can decide it', T, async () => {
		const tools = [{ type: 'mcp', server_label: 'a' }];
		const { r: first } = await create({ model: 'fake-mcp', input: 'call echo {"message":"mine"}', tools }, { key: KEY_A });
		const apr = assertApprovalRequest(ofType(first, 'mcp_approval_request')[0], { name: 'echo', arguments: '{"message":"mine"}' });
		const s0 = await srvA.stats();
		const cont = { model: 'fake-mcp', previous_response_id: first.id, input: [approvalResponse(apr)], tools };
		// Another caller cannot chain through the response at all (it is not theirs: a 404)...
		for (const opts of [{ key: KEY_B }, {}]) {
			const res = opts.key
				? await httpRequest(tcp(), 'POST', '/v1/responses', cont, { authorization: `Bearer ${opts.key}` })
				: await d.request('POST', '/v1/responses', cont);
			assert.equal(res.status, 404, res.body.slice(0, 1000));
			assert.equal(validateErrorEnvelope(res.json()).error.code, 'previous_response_not_found', res.body);
		}
		// ...and sending the history back instead meets the approval's own check.
		const history = {
			model: 'fake-mcp',
			input: [{ role: 'user', content: 'call echo {"message":"mine"}' }, ...first.output, approvalResponse(apr)],
			tools,
		};
		const at = history.input.length - 1;
		await expect400(history, 'approval_mismatch', `input[${at}].approval_request_id`, { key: KEY_B });
		await expect400(history, 'approval_mismatch', `input[${at}].approval_request_id`); // the Unix socket caller
		await sleep(100);
		assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 0, 'nothing ran');

		const { r } = await create(cont, { key: KEY_A });
		assertCall(r.output[0], { name: 'echo', output: 'Echo: mine', status: 'completed', approval_request_id: apr.id });
		assert.equal(callsOf(s0, await srvA.stats(), 'echo'), 1);
		const row = (await auditRows(r.id, { key: KEY_A })).find((x) => x.approval_id === apr.id);
		assert.deepEqual(await auditRows(r.id, { key: KEY_B }), [], 'not in the other key\'s audit');
		assert.ok(row, 'an audit row for the approved call');
		assert.equal(row.caller, 'key=a');
		assert.equal(row.decided_by, 'key=a');
	});

	it('a background response cut by SIGKILL during a call is "failed" (server_restarted) after a restart', SETUP, async () => {
		const h0 = (await waits.stats()).hang.started;
		const { r } = await create({ model: 'fake-mcp', background: true, input: 'call hang {}', tools: [mcp('waits')] });
		await waitFor(async () => (await waits.stats()).hang.started > h0, 'the hang call to reach the server');
		assert.equal((await getResponse(r.id)).r.status, 'in_progress');
		await d.kill9();
		await d.restart();
		const { r: got } = await getResponse(r.id);
		assert.equal(got.status, 'failed', JSON.stringify(got).slice(0, 800));
		assert.equal(got.error?.code, 'server_restarted', JSON.stringify(got.error));
	});

	// The start-up sweep marks what the last run left open: a second daemon on the same store (another
	// socket) must not sweep the calls the running one has in flight. It refuses to start instead.
	it('a second daemon on the same store does not start, and the running call keeps its open row', SETUP, async () => {
		const h0 = (await waits.stats()).hang.started;
		const { r } = await create({ model: 'fake-mcp', background: true, input: 'call hang {}', tools: [mcp('waits')] });
		await waitFor(async () => (await waits.stats()).hang.started > h0, 'the hang call to reach the server');
		let second = null;
		await assert.rejects(async () => {
			second = await startDaemon({ upstream: d.upstream, config: { store: { path: d.config.store.path } } });
		}, /exited|in use/);
		if (second) await second.stop();
		const rows = await auditRows(r.id);
		assert.equal(rows.length, 1, JSON.stringify(rows));
		assert.equal(rows[0].outcome, 'in_progress', `the running call's row was swept: ${JSON.stringify(rows[0])}`);
		const cancel = await d.request('POST', `/v1/responses/${r.id}/cancel`);
		assert.equal(cancel.status, 200, cancel.body);
	});

	// Issue 11, 8: the row of a call is written when the call starts, so a crash while the server
	// holds the call leaves a record of it, marked "interrupted" by the next start.
	it('an MCP call held by the server at SIGKILL has an audit row, "interrupted" after a restart', SETUP, async () => {
		const h0 = (await waits.stats()).hang.started;
		const { r } = await create({ model: 'fake-mcp', background: true, input: 'call hang {}', tools: [mcp('waits')] });
		await waitFor(async () => (await waits.stats()).hang.started > h0, 'the hang call to reach the server');
		const open = await auditRows(r.id);
		assert.equal(open.length, 1, JSON.stringify(open));
		assert.equal(open[0].outcome, 'in_progress', JSON.stringify(open[0]));
		await d.kill9();
		await d.restart();
		const rows = await auditRows(r.id);
		assert.equal(rows.length, 1, `one audit row for the call cut by the crash: ${JSON.stringify(rows)}`);
		const row = rows[0];
		assert.equal(row.outcome, 'interrupted', JSON.stringify(row));
		assert.equal(row.tool, 'hang');
		assert.equal(row.server_label, 'waits');
		assert.equal(row.caller, UID);
		assert.match(row.error ?? '', /stopped before the call ended/);
		assert.equal(row.args_sha256, '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', 'SHA-256 of "{}"');
	});
});
