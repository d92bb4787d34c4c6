// WebSocket mode (issue 12) with a raw client (the ws package): a Codex-like client and hostile
// peers. Spec: shared/spec/WEBSOCKET-NOTES.md §1-§4 and §7. After each hostile case /healthz must
// answer on another connection. Every wait is bounded; loopback only.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { freePort, rawExchange, startDaemon } from './lib/harness.mjs';
import { validateEvent } from './lib/schema.mjs';

const T = { timeout: 15000 };
const WAIT_MS = 8000;
const KEY = 'ws-raw-key-0123456789';
const TERMINAL = new Set(['response.completed', 'response.failed', 'response.incomplete']);

// A raw client: every text frame parsed (one JSON object each), closes recorded.
function dial(url, opts = {}) {
	const ws = new WebSocket(url, { perMessageDeflate: true, ...opts });
	const c = { ws, msgs: [], binary: 0, close: null, waiters: [] };
	ws.on('message', (data, isBinary) => {
		if (isBinary) c.binary++;
		const m = JSON.parse(data.toString('utf8'));
		assert.notEqual(m, '[DONE]');
		c.msgs.push(m);
		for (const w of c.waiters.splice(0)) w();
	});
	ws.on('close', (code, reason) => {
		c.close = { code, reason: reason.toString() };
		for (const w of c.waiters.splice(0)) w();
	});
	ws.on('error', () => {});
	c.open = () =>
		new Promise((resolve, reject) => {
			const t = setTimeout(() => reject(new Error('no open within 5 s')), 5000);
			ws.once('open', () => (clearTimeout(t), resolve()));
			ws.once('unexpected-response', (_req, res) => (clearTimeout(t), reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }))));
			ws.once('error', (e) => (clearTimeout(t), reject(e)));
		});
	c.until = async (pred, what, ms = WAIT_MS) => {
		const deadline = Date.now() + ms;
		for (;;) {
			if (pred()) return;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(c.msgs.map((m) => m.type))} close=${JSON.stringify(c.close)}`);
			await new Promise((r) => {
				c.waiters.push(r);
				setTimeout(r, 100);
			});
		}
	};
	c.send = (o) => ws.send(typeof o === 'string' || Buffer.isBuffer(o) ? o : JSON.stringify(o));
	c.terminals = () => c.msgs.filter((m) => TERMINAL.has(m.type) || m.type === 'error');
	return c;
}

function envelope(m, status, code) {
	assert.equal(m?.type, 'error', JSON.stringify(m));
	assert.equal(m.status, status, JSON.stringify(m));
	assert.equal(m.error.code, code, JSON.stringify(m));
	assert.equal(typeof m.error.message, 'string');
	assert.equal(typeof m.error.type, 'string');
	assert.ok('param' in m.error, JSON.stringify(m));
}

describe('WebSocket raw', () => {
	let d;
	let port;
	const unixUrl = () => `ws+unix://${d.socketPath}:/v1/responses`;
	const tcpUrl = () => `ws://127.0.0.1:${port}/v1/responses`;
	const bearer = { headers: { Authorization: `Bearer ${KEY}` } };
	async function healthy() {
		const r = await d.request('GET', '/healthz');
		assert.equal(r.status, 200);
	}
	async function metric(name) {
		const r = await d.request('GET', '/metrics');
		const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} ([0-9.]+)$`, 'm').exec(r.body);
		return m ? Number(m[1]) : NaN;
	}

	before(async () => {
		port = await freePort();
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [{ name: 'k', key: KEY }],
				websocket: { max_message_bytes: 4 * 1024 * 1024, idle_timeout_s: 2, queue_max: 8 },
			},
		});
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, T);

	it('Codex-like: beta header, deflate offered, generate:false, delta turns, processed acks, stream_id', T, async () => {
		const c = dial(tcpUrl(), { headers: { ...bearer.headers, 'OpenAI-Beta': 'responses_websockets=2026-02-06' } });
		await c.open();
		try {
			const ups = d.upstream.chatRequests().length;
			c.send({ type: 'response.create', model: 'fake-text', input: [], generate: false, store: false, stream: true });
			await c.until(() => c.terminals().length >= 1, 'warm-up');
			assert.deepEqual(c.msgs.map((m) => m.type), ['response.created', 'response.completed']);
			const warm = c.msgs[1].response;
			assert.deepEqual(warm.output, []);
			assert.equal(d.upstream.chatRequests().length, ups, 'no upstream request for generate:false');
			c.msgs.length = 0;
			c.send({
				type: 'response.create', model: 'fake-text', store: false, stream: true, previous_response_id: warm.id,
				input: [{ role: 'user', content: 'echo: delta' }], stream_id: 's-1',
				client_metadata: { a: 'b' }, prompt_cache_key: 'k', include: ['reasoning.encrypted_content'],
			});
			await c.until(() => c.terminals().length >= 1, 'turn 1');
			assert.equal(c.msgs.at(-1).type, 'response.completed', JSON.stringify(c.msgs.at(-1)));
			c.msgs.forEach((m, i) => {
				assert.equal(m.sequence_number, i);
				assert.equal(m.stream_id, 's-1', `${m.type} echoes stream_id`);
				const { stream_id, ...bare } = m;
				validateEvent(bare);
			});
			assert.equal(c.binary, 0, 'text frames only');
			const n = c.msgs.length;
			c.send({ type: 'response.processed', response_id: c.msgs.at(-1).response.id });
			await new Promise((r) => setTimeout(r, 300));
			assert.equal(c.msgs.length, n, 'response.processed: nothing sent');
		} finally {
			c.ws.close();
		}
		await healthy();
	});

	it('oversize message: 413 envelope then close 1009', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		c.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'x'.repeat(5 * 1024 * 1024) }));
		await c.until(() => c.close, 'close');
		envelope(c.msgs[0], 413, 'request_too_large');
		assert.equal(c.close.code, 1009);
		await healthy();
	});

	it('a fragmented 3 MB message under the cap works', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		const text = JSON.stringify({ type: 'response.create', model: 'fake-text', store: false, input: `big ${'y'.repeat(3 * 1024 * 1024)}` });
		// Not an echo: the fake would answer 3 MB in one stream event, over max_upstream_event_bytes.
		const step = 256 * 1024;
		for (let o = 0; o < text.length; o += step) c.ws.send(text.slice(o, o + step), { fin: o + step >= text.length });
		await c.until(() => c.terminals().length >= 1, 'big turn');
		assert.equal(c.msgs.at(-1).type, 'response.completed', JSON.stringify(c.msgs.at(-1)).slice(0, 400));
		c.ws.close();
		await healthy();
	});

	it('binary frame, invalid JSON, unknown type: one 400 envelope each, socket open; invalid UTF-8: close 1007', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		c.ws.send(Buffer.from('{"type":"response.create"}'), { binary: true });
		await c.until(() => c.msgs.length >= 1, 'binary envelope');
		envelope(c.msgs[0], 400, 'binary_frame_not_supported');
		c.send('{not json');
		await c.until(() => c.msgs.length >= 2, 'json envelope');
		envelope(c.msgs[1], 400, 'invalid_json');
		c.send({ type: 'response.append', input: [] });
		await c.until(() => c.msgs.length >= 3, 'type envelope');
		envelope(c.msgs[2], 400, 'unknown_event_type');
		assert.equal(c.close, null, 'still open');
		// Invalid UTF-8 in a text frame: the ws sender does not validate, the RFC says 1007.
		const bad = Buffer.from([0x22, 0xff, 0xfe, 0x22]);
		const mask = Buffer.from([1, 2, 3, 4]);
		c.ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | bad.length]), mask, Buffer.from(bad.map((b, i) => b ^ mask[i % 4]))]));
		await c.until(() => c.close, 'close 1007');
		assert.equal(c.close.code, 1007);
		await healthy();
	});

	it('response.steer: steering_not_supported, the running turn goes on', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		c.send({ type: 'response.create', model: 'fake-slow', input: 'slow', store: false });
		await c.until(() => c.msgs.length >= 1, 'created');
		c.send({ type: 'response.steer', previous_response_id: c.msgs[0].response.id, input: 'turn left' });
		await c.until(() => c.terminals().length >= 1, 'terminal');
		const steer = c.msgs.find((m) => m.type === 'response.steer.failed');
		assert.ok(steer, JSON.stringify(c.msgs.map((m) => m.type)));
		assert.equal(steer.error.code, 'steering_not_supported');
		assert.equal(c.msgs.filter((m) => m.type !== 'response.steer.failed').at(-1).type, 'response.completed');
		c.ws.close();
		await healthy();
	});

	it('creates while one runs: FIFO, no interleaving; past queue_max 8 -> 429, the rest complete', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		for (let i = 0; i < 10; i++) c.send({ type: 'response.create', model: i === 0 ? 'fake-slow' : 'fake-text', input: `echo: q${i}`, store: false, stream_id: `q${i}` });
		await c.until(() => c.msgs.filter((m) => m.type === 'response.completed').length >= 9, 'nine turns', 12000);
		const tooMany = c.msgs.filter((m) => m.type === 'error');
		assert.equal(tooMany.length, 1, JSON.stringify(tooMany));
		envelope(tooMany[0], 429, 'too_many_requests');
		const turns = c.msgs.filter((m) => m.type !== 'error');
		let lane = null;
		const order = [];
		for (const m of turns) {
			if (m.stream_id !== lane) {
				assert.ok(!order.includes(m.stream_id), `events of ${m.stream_id} interleave`);
				order.push(m.stream_id);
				lane = m.stream_id;
			}
		}
		assert.deepEqual(order, ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8']);
		c.ws.close();
		await healthy();
	});

	it('a silent peer is closed after idle_timeout_s', T, async () => {
		const r = await rawExchange(
			d.socketPath,
			'GET /v1/responses HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
			{ timeoutMs: 9000 },
		);
		assert.match(r.raw, /^HTTP\/1\.1 101/);
		assert.equal(r.timedOut, false, 'closed before 9 s (idle_timeout_s 2)');
		await healthy();
	});

	it('a quiet peer that answers pings stays past idle_timeout_s', T, async () => {
		const c = dial(unixUrl());
		let pings = 0;
		c.ws.on('ping', () => pings++);
		await c.open();
		await sleep(4500); // idle_timeout_s 2: two pings answered, no message sent
		assert.equal(c.close, null, `closed: ${JSON.stringify(c.close)}`);
		assert.ok(pings >= 2, `pinged ${pings} times`);
		c.ws.close();
		await healthy();
	});

	it('close mid-turn: the fake upstream sees its request aborted', T, async () => {
		const c = dial(unixUrl());
		await c.open();
		const n0 = d.upstream.requests.length;
		c.send({ type: 'response.create', model: 'fake-hang', input: 'hang', store: false });
		await d.upstream.waitFor(() => d.upstream.requests.length > n0, 5000, 'upstream request');
		c.ws.terminate();
		await d.upstream.waitFor(() => d.upstream.requests[n0].aborted, 5000, 'upstream aborted');
		await healthy();
	});

	it('TCP upgrade: no bearer 401, bad key 401, Origin 403, foreign Host 403', T, async () => {
		const up = (h) =>
			rawExchange(
				{ host: '127.0.0.1', port },
				`GET /v1/responses HTTP/1.1\r\n${h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
				{ timeoutMs: 5000 },
			);
		const host = `Host: 127.0.0.1:${port}\r\n`;
		assert.equal((await up(host)).status, 401);
		assert.equal((await up(`${host}Authorization: Bearer wrong-key-0123456789\r\n`)).status, 401);
		assert.equal((await up(`${host}Authorization: Bearer ${KEY}\r\nOrigin: http://evil.example\r\n`)).status, 403);
		assert.equal((await up(`Host: evil.example:${port}\r\nAuthorization: Bearer ${KEY}\r\n`)).status, 403);
		assert.equal((await up(`${host}Authorization: Bearer ${KEY}\r\n`)).status, 101);
		await healthy();
	});

	it('/metrics: toolhost_ws_* counters move', T, async () => {
		const t0 = await metric('toolhost_ws_turns_total');
		const c0 = await metric('toolhost_ws_connections_total');
		const c = dial(unixUrl());
		await c.open();
		c.send({ type: 'response.create', model: 'fake-text', input: 'echo: m', store: false });
		await c.until(() => c.terminals().length >= 1, 'turn');
		assert.equal(await metric('toolhost_ws_connections'), 1);
		c.ws.close();
		await c.until(() => c.close, 'close');
		assert.ok((await metric('toolhost_ws_turns_total')) > t0, 'turns_total moved');
		assert.ok((await metric('toolhost_ws_connections_total')) > c0, 'connections_total moved');
		assert.ok((await metric('toolhost_ws_closes_total{reason="client"}')) >= 1);
	});
});

describe('WebSocket config', () => {
	it('max_age_s: the running turn completes; the next create gets the limit envelope, then close 1000', T, async () => {
		const d = await startDaemon({ config: { websocket: { max_age_s: 1 } } });
		try {
			const c = dial(`ws+unix://${d.socketPath}:/v1/responses`);
			await c.open();
			const opened = Date.now();
			c.send({ type: 'response.create', model: 'fake-slow', input: 'slow', store: false });
			await c.until(() => c.terminals().length >= 1, 'slow turn');
			assert.equal(c.msgs.at(-1).type, 'response.completed');
			// The limit is looked at between turns: the next create comes after it for sure.
			await sleep(Math.max(0, 1200 - (Date.now() - opened)));
			c.send({ type: 'response.create', model: 'fake-text', input: 'echo: late', store: false });
			await c.until(() => c.close, 'close');
			envelope(c.msgs.at(-1), 400, 'websocket_connection_limit_reached');
			assert.equal(c.close.code, 1000);
		} finally {
			await d.stop();
		}
	});

	it('websocket.enabled:false: 426 with Connection: close', T, async () => {
		const d = await startDaemon({ config: { websocket: { enabled: false } } });
		try {
			const r = await rawExchange(
				d.socketPath,
				'GET /v1/responses HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
				{ timeoutMs: 5000 },
			);
			assert.equal(r.status, 426);
			assert.match(String(r.headers.connection), /close/i);
		} finally {
			await d.stop();
		}
	});
});
