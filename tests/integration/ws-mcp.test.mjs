// MCP inside WebSocket turns (api/ws over api/engine): a call without approval, a caller approval
// continued on the same connection, the keep-alive response.in_progress while a call runs, and a
// close mid-call that the MCP server sees as notifications/cancelled. Also: max_connections counts
// WebSocket connections.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { rawExchange, startDaemon } from './lib/harness.mjs';
import { startMcpFault } from './lib/mcp.mjs';
import { mcp } from './lib/responses-mcp.mjs';
import { validateEvent } from './lib/schema.mjs';

const T = { timeout: 30000 };
const WAIT_MS = 15000;

function dial(socketPath) {
	const ws = new WebSocket(`ws+unix://${socketPath}:/v1/responses`);
	const c = { ws, msgs: [], close: null };
	ws.on('message', (data) => c.msgs.push({ at: Date.now(), ...JSON.parse(data.toString('utf8')) }));
	ws.on('close', (code) => (c.close = { code }));
	ws.on('error', () => {});
	c.open = () => new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
		ws.once('error', reject);
	});
	c.until = async (pred, what) => {
		const deadline = Date.now() + WAIT_MS;
		while (!pred()) {
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(c.msgs.map((m) => m.type))}`);
			await sleep(20);
		}
	};
	c.send = (o) => ws.send(JSON.stringify(o));
	c.done = (n) => c.msgs.filter((m) => m.type === 'response.completed' || m.type === 'response.failed' || m.type === 'error').length >= n;
	return c;
}

function stripAt(m) {
	const { at, ...event } = m;
	return event;
}

describe('MCP over WebSocket', () => {
	let d, waits;
	before(async () => {
		waits = await startMcpFault();
		d = await startDaemon({ config: { limits: { keepalive_s: 1 }, mcp_servers: [{ label: 'waits', url: waits.url }, { label: 'cold', url: waits.url, cache_ttl_s: 0 }] } });
	}, T);
	after(async () => {
		await d?.stop();
		await waits?.stop();
	}, T);

	it('an MCP call without approval: mcp_list_tools, mcp_call, the answer', T, async () => {
		const c = dial(d.socketPath);
		await c.open();
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'call echo {"message":"over ws"}', tools: [mcp('waits')], store: false });
		await c.until(() => c.done(1), 'the turn');
		const last = c.msgs.at(-1);
		assert.equal(last.type, 'response.completed', JSON.stringify(last).slice(0, 400));
		const call = last.response.output.find((i) => i.type === 'mcp_call');
		assert.ok(call, JSON.stringify(last.response.output));
		assert.match(call.output, /over ws/);
		assert.ok(last.response.output.some((i) => i.type === 'mcp_list_tools'));
		// MCP items and tools are extensions of the Open Responses schema (as over HTTP): the text
		// events are checked against it, the rest by the assertions above.
		for (const m of c.msgs) if (m.type.startsWith('response.output_text')) validateEvent(stripAt(m));
		c.ws.close();
	});

	it('a caller approval continues on the same connection with mcp_approval_response', T, async () => {
		const c = dial(d.socketPath);
		await c.open();
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'call echo {"message":"approved"}', tools: [mcp('waits', { require_approval: 'always' })], store: false });
		await c.until(() => c.done(1), 'the approval request');
		const first = c.msgs.at(-1).response;
		const req = first.output.find((i) => i.type === 'mcp_approval_request');
		assert.ok(req, JSON.stringify(first.output));
		assert.equal(first.output.some((i) => i.type === 'mcp_call'), false);
		c.send({
			type: 'response.create',
			model: 'fake-mcp',
			store: false,
			previous_response_id: first.id,
			tools: [mcp('waits', { require_approval: 'always' })],
			input: [{ type: 'mcp_approval_response', approval_request_id: req.id, approve: true }],
		});
		await c.until(() => c.done(2), 'the approved turn');
		const second = c.msgs.at(-1);
		assert.equal(second.type, 'response.completed', JSON.stringify(second).slice(0, 400));
		const call = second.response.output.find((i) => i.type === 'mcp_call');
		assert.ok(call, JSON.stringify(second.response.output));
		assert.match(call.output, /approved/);
		c.ws.close();
	});

	it('a slow call: response.in_progress again at least every keepalive_s; stream_id on every event', T, async () => {
		const c = dial(d.socketPath);
		await c.open();
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'call slow {"ms":3500}', tools: [mcp('waits')], store: false, stream_id: 'lane-7' });
		await c.until(() => c.done(1), 'the slow turn');
		assert.equal(c.msgs.at(-1).type, 'response.completed');
		for (const m of c.msgs) assert.equal(m.stream_id, 'lane-7', m.type);
		// While the call ran no event came from the model: the gaps between events stay under 2 s
		// (keepalive_s 1, checked each second) and response.in_progress came back more than once.
		const again = c.msgs.filter((m) => m.type === 'response.in_progress');
		assert.ok(again.length >= 3, `response.in_progress x${again.length}`);
		for (let i = 1; i < c.msgs.length; i++) assert.ok(c.msgs[i].at - c.msgs[i - 1].at < 2500, `a ${c.msgs[i].at - c.msgs[i - 1].at} ms gap before ${c.msgs[i].type}`);
		const seq = c.msgs.map((m) => m.sequence_number);
		assert.deepEqual(seq, seq.map((_, i) => i));
		c.ws.close();
	});

	it('generate:false mid-connection lists the MCP servers (no item), and a continuation from it completes', T, async () => {
		const c = dial(d.socketPath);
		await c.open();
		c.send({ type: 'response.create', model: 'fake-text', input: 'echo: first', store: false });
		await c.until(() => c.done(1), 'a first turn');
		const lists0 = (await waits.stats()).tools_list.calls;
		const chats0 = d.upstream.chatRequests().length;
		// 'cold' is never cached: every listing reaches the server, so the warm-up's shows.
		const tools = [mcp('cold')];
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'warm', tools, store: false, generate: false });
		await c.until(() => c.done(2), 'the warm-up');
		const warm = c.msgs.at(-1);
		assert.equal(warm.type, 'response.completed');
		assert.deepEqual(warm.response.output, []);
		assert.equal(warm.response.usage.output_tokens, 0);
		assert.deepEqual(c.msgs.slice(-2).map((m) => m.type), ['response.created', 'response.completed']);
		assert.equal(d.upstream.chatRequests().length, chats0, 'no model call');
		assert.ok((await waits.stats()).tools_list.calls > lists0, 'the server was listed');
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'call echo {"message":"warmed"}', tools, store: false, previous_response_id: warm.response.id });
		await c.until(() => c.done(3), 'the continuation');
		const last = c.msgs.at(-1);
		assert.equal(last.type, 'response.completed', JSON.stringify(last).slice(0, 300));
		assert.match(last.response.output.find((i) => i.type === 'mcp_call')?.output ?? '', /warmed/);
		c.ws.close();
	});

	it('closing mid-call cancels it: the MCP server gets notifications/cancelled', T, async () => {
		const before0 = (await waits.stats()).cancelled.length;
		const c = dial(d.socketPath);
		await c.open();
		c.send({ type: 'response.create', model: 'fake-mcp', input: 'call hang {}', tools: [mcp('waits')], store: false });
		for (let i = 0; i < 200 && (await waits.stats()).hang.started === 0; i++) await sleep(25);
		c.ws.terminate();
		let st;
		for (let i = 0; i < 200; i++) {
			st = await waits.stats();
			if (st.cancelled.length > before0) break;
			await sleep(25);
		}
		assert.ok(st.cancelled.length > before0, JSON.stringify(st.cancelled));
		assert.equal(st.cancelled.at(-1).tool, 'hang');
		const h = await d.request('GET', '/healthz');
		assert.equal(h.status, 200);
	});
});

describe('max_connections counts WebSocket connections', () => {
	it('two held WebSocket connections fill max_connections 2; a third connection is closed unanswered', T, async () => {
		const d = await startDaemon({ config: { limits: { max_connections: 2 } } });
		try {
			const a = dial(d.socketPath);
			const b = dial(d.socketPath);
			await a.open();
			await b.open();
			const r = await rawExchange(d.socketPath, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', { timeoutMs: 3000 });
			assert.notEqual(r.status, 200, `answered while full: ${r.raw.slice(0, 60)}`);
			a.ws.close();
			await a.until(() => a.close, 'close');
			let ok = false;
			for (let i = 0; i < 50 && !ok; i++) {
				const h = await d.request('GET', '/healthz').catch(() => null);
				ok = h?.status === 200;
				if (!ok) await sleep(50);
			}
			assert.ok(ok, 'a freed place is taken again');
			b.ws.close();
		} finally {
			await d.stop();
		}
	});
});
