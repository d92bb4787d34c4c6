// The HTTP front under peers that do not behave like well-mannered clients: pipelined requests on
// both listeners, and TCP_NODELAY on the TCP listener (a streamed answer must not wait for the
// peer's delayed ACK). Raw sockets (node:net) write exactly the bytes under test.

import assert from 'node:assert/strict';
import net from 'node:net';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startDaemon } from './lib/harness.mjs';
import { validateErrorEnvelope, validateResponse } from './lib/schema.mjs';
import { outputText } from './lib/sse.mjs';

const T = { timeout: 60000 };
const STOP = { timeout: 40000 };
const KEY = 'hardening-key-0123456789';

/**
 * Parses every whole HTTP/1.1 answer in buf (Content-Length or chunked bodies):
 * [{status, reason, headers, body}].
 */
function parseAnswers(buf) {
	const out = [];
	let off = 0;
	for (;;) {
		const end = buf.indexOf('\r\n\r\n', off);
		if (end < 0) break;
		const head = buf.subarray(off, end).toString('latin1').split('\r\n');
		const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(head[0]);
		if (!m) break;
		const headers = {};
		for (const line of head.slice(1)) {
			const c = line.indexOf(':');
			if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
		}
		let p = end + 4;
		let body;
		if (headers['content-length'] !== undefined) {
			const n = Number(headers['content-length']);
			if (buf.length < p + n) break;
			body = buf.subarray(p, p + n).toString('utf8');
			p += n;
		} else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
			const parts = [];
			let whole = false;
			for (;;) {
				const nl = buf.indexOf('\r\n', p);
				if (nl < 0) break;
				const size = parseInt(buf.subarray(p, nl).toString('latin1'), 16);
				if (Number.isNaN(size) || buf.length < nl + 2 + size + 2) break;
				parts.push(buf.subarray(nl + 2, nl + 2 + size));
				p = nl + 2 + size + 2;
				if (size === 0) {
					whole = true;
					break;
				}
			}
			if (!whole) break;
			body = Buffer.concat(parts).toString('utf8');
		} else {
			break;
		}
		out.push({ status: Number(m[1]), reason: m[2], headers, body });
		off = p;
	}
	return out;
}

/**
 * Writes each of `writes` (strings; a number is a pause in ms) on one new connection and reads
 * until the daemon closes it or timeoutMs: {answers, closed, timedOut, error}.
 */
function exchange(target, writes, { timeoutMs = 8000 } = {}) {
	return new Promise((resolve) => {
		const sock = net.connect(target.socketPath ? { path: target.socketPath } : target);
		let raw = Buffer.alloc(0);
		const result = { answers: [], closed: false, timedOut: false, error: null };
		let done = false;
		const finish = () => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			result.answers = parseAnswers(raw);
			sock.destroy();
			resolve(result);
		};
		const timer = setTimeout(() => {
			result.timedOut = true;
			finish();
		}, timeoutMs);
		sock.on('data', (c) => (raw = Buffer.concat([raw, c])));
		sock.on('error', (e) => {
			result.error = e.code ?? e.message;
		});
		sock.on('close', () => {
			result.closed = true;
			finish();
		});
		sock.on('connect', async () => {
			// Stops once the exchange is over: a long trickle's pauses would keep the process alive.
			for (const w of writes) {
				if (done || sock.destroyed) break;
				if (typeof w === 'number') await sleep(w);
				else sock.write(w);
			}
		});
	});
}

const GET = (auth) => `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${auth}\r\n`;
const postHead = (auth, body) =>
	`POST /v1/responses HTTP/1.1\r\nHost: localhost\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
// A body that would run (and reach the upstream) if it were ever started.
const BODY = JSON.stringify({ model: 'fake-text', input: 'echo: pipelined' });
const POST = (auth) => postHead(auth, BODY) + BODY;

function expectEnvelope(a, status, what) {
	assert.equal(a.status, status, `${what}: status ${a.status} ${a.body?.slice(0, 200)}`);
	assert.match(String(a.headers['content-type']), /application\/json/, `${what}: an error is JSON`);
	return validateErrorEnvelope(JSON.parse(a.body)).error;
}

describe('pipelined requests', () => {
	let d;
	let tcp;
	before(async () => {
		const port = await freePort();
		d = await startDaemon({
			config: { listen: { tcp: { address: '127.0.0.1', port } }, api_keys: [{ name: 'ci', key: KEY }] },
		});
		tcp = { host: '127.0.0.1', port };
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	const listeners = () => [
		{ name: 'Unix socket', target: { socketPath: d.socketPath }, auth: '', ok: true },
		{ name: 'TCP with a bearer', target: tcp, auth: `Authorization: Bearer ${KEY}\r\n`, ok: true },
		{ name: 'TCP without a bearer', target: tcp, auth: '', ok: false },
	];

	// Each order, with the statuses expected when the caller is let in (refused callers get 401s).
	const orders = (auth) => [
		{ name: 'GET+GET', writes: [GET(auth) + GET(auth)], ok: [200, 200], keepsOpen: true },
		{ name: 'GET+POST', writes: [GET(auth) + POST(auth)], ok: [200, 400] },
		{ name: 'POST+GET', writes: [POST(auth) + GET(auth)], ok: [400] },
		{ name: 'POST+POST', writes: [POST(auth) + POST(auth)], ok: [400] },
		{
			name: 'POST split: head | half the body | the rest + GET',
			writes: [postHead(auth, BODY), 30, BODY.slice(0, 10), 30, BODY.slice(10) + GET(auth)],
			ok: [400],
		},
		{
			name: 'POST split: head | body and a whole POST in one write',
			writes: [postHead(auth, BODY), 30, BODY + POST(auth)],
			ok: [400],
		},
	];

	it('every order on every listener: answered in order or closed after the answer, never a hang, the POSTs never run', T, async (t) => {
		const served = d.upstream.chatRequests().length;
		for (const l of listeners()) {
			for (const o of orders(l.auth)) {
				const what = `${l.name}, ${o.name}`;
				const r = await exchange(l.target, o.writes, { timeoutMs: o.keepsOpen || !l.ok ? 3000 : 8000 });
				const statuses = r.answers.map((a) => a.status);
				const requests = o.writes.join('').split(' HTTP/1.1\r\n').length - 1;
				t.diagnostic(`${what}: ${statuses.join(', ')}${r.closed ? ', then closed' : ''}`);
				if (l.ok) {
					assert.ok(!r.timedOut || o.keepsOpen, `${what}: the connection hung (answers: ${statuses})`);
					assert.deepEqual(statuses, o.ok, `${what}: the answers`);
				} else {
					// Refused at the headers, the 401 may be out before the rest of a split body, which
					// lws then reads past: the next request is one of its own, refused in turn on the
					// same connection. Either way each answer is a 401, in order, and nothing hangs.
					assert.ok(statuses.length >= 1 && statuses.every((s) => s === 401), `${what}: the answers ${statuses}`);
					assert.ok(r.closed || statuses.length === requests, `${what}: the connection hung (answers: ${statuses})`);
				}
				for (const a of r.answers) if (a.status >= 400) expectEnvelope(a, a.status, what);
				if (l.ok && o.ok.includes(400)) {
					const e = expectEnvelope(r.answers.at(-1), 400, what);
					assert.equal(e.code, 'pipelined_request', what);
					assert.equal(r.answers.at(-1).headers.connection, 'close', `${what}: says it closes`);
				}
				// Another connection is served throughout.
				const h = await exchange({ socketPath: d.socketPath }, [GET('').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')]);
				assert.deepEqual(h.answers.map((a) => a.status), [200], `${what}: /healthz on another connection`);
			}
		}
		await sleep(200);
		assert.equal(d.upstream.chatRequests().length, served, 'no pipelined POST reached the upstream');
	});

	it('a POST after the answer to a GET on the same kept-alive connection is served (not pipelined)', T, async () => {
		for (const l of listeners().filter((x) => x.ok)) {
			const r = await exchange(l.target, [GET(l.auth), 300, POST(l.auth)], { timeoutMs: 3000 });
			assert.deepEqual(r.answers.map((a) => a.status), [200, 200], `${l.name}: ${r.answers.map((a) => a.body)}`);
			assert.equal(outputText(validateResponse(JSON.parse(r.answers[1].body))), 'pipelined');
		}
	});
});

describe('TCP_NODELAY on the TCP listener', () => {
	let d;
	let tcp;
	before(async () => {
		const port = await freePort();
		d = await startDaemon({
			config: { listen: { tcp: { address: '127.0.0.1', port } }, api_keys: [{ name: 'ci', key: KEY }] },
		});
		tcp = { host: '127.0.0.1', port };
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	// An SSE answer leaves in several small writes; with Nagle on, each waits for the ACK of the one
	// before, which the peer delays (about 40 ms on Linux loopback), so every streamed response took
	// 40 ms or more. On one kept-alive connection, 20 streams one after another: the median time from
	// the request to the end of its stream stays well under that.
	it('20 streamed responses on one kept-alive TCP connection: median request-to-last-event under 20 ms', T, async (t) => {
		const body = JSON.stringify({ model: 'fake-text', input: 'echo: quick', stream: true });
		const req =
			`POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\n` +
			`Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
		const sock = net.connect(tcp);
		sock.on('error', () => {});
		await new Promise((resolve, reject) => {
			sock.once('connect', resolve);
			sock.once('error', reject);
		});
		let raw = Buffer.alloc(0);
		let waiter = null;
		sock.on('data', (c) => {
			raw = Buffer.concat([raw, c]);
			if (waiter) waiter();
		});
		const times = [];
		try {
			for (let i = 0; i < 20; i++) {
				raw = Buffer.alloc(0);
				const t0 = process.hrtime.bigint();
				sock.write(req);
				// The stream ends with the terminating chunk; bounded by a deadline.
				const deadline = Date.now() + 5000;
				while (!raw.includes('\r\n0\r\n\r\n')) {
					assert.ok(Date.now() < deadline, `stream ${i}: no end within 5 s: ${raw.toString().slice(0, 200)}`);
					await new Promise((resolve) => {
						waiter = resolve;
						setTimeout(resolve, 100);
					});
					waiter = null;
				}
				times.push(Number(process.hrtime.bigint() - t0) / 1e6);
				const answers = parseAnswers(raw);
				assert.equal(answers.length, 1, `stream ${i}: one answer`);
				assert.equal(answers[0].status, 200);
				assert.match(answers[0].body, /response\.completed/);
			}
		} finally {
			sock.destroy();
		}
		const sorted = [...times].sort((a, b) => a - b);
		const median = sorted[10];
		t.diagnostic(`request to last event over TCP: median ${median.toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms`);
		assert.ok(median < 20, `median ${median.toFixed(1)} ms: the Nagle stall is back (times: ${times.map((x) => x.toFixed(0))})`);
	});
});

describe('slow request bodies', () => {
	let d;
	before(async () => {
		d = await startDaemon({ config: { limits: { body_timeout_s: 3, min_body_rate_bytes_s: 100, max_body_bytes: 65536 } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	// Headers complete, then the body at `rate` bytes/s in pieces of `piece` bytes.
	const trickle = (body, piece, rate) => {
		const writes = [postHead('', body)];
		for (let i = 0; i < body.length; i += piece) writes.push(Math.round((piece * 1000) / rate), body.slice(i, i + piece));
		return writes;
	};

	for (const c of [
		{ name: 'slower than min_body_rate_bytes_s (5 B/s against 100)', piece: 1, rate: 5, message: /slower than 100 bytes\/s/ },
		{ name: 'steady at 250 B/s but not whole within body_timeout_s (3 s)', piece: 50, rate: 250, message: /within 3 s/ },
	]) {
		it(`a body ${c.name}: 408 envelope, then the connection is closed; the request never starts`, T, async () => {
			const served = d.upstream.chatRequests().length;
			const body = JSON.stringify({ model: 'fake-text', input: `echo: ${'x'.repeat(2000)}` });
			const t0 = Date.now();
			const r = await exchange({ socketPath: d.socketPath }, trickle(body, c.piece, c.rate), { timeoutMs: 15000 });
			const took = Date.now() - t0;
			assert.ok(!r.timedOut, `still open after ${took} ms`);
			assert.ok(r.closed, 'the connection is closed after the 408');
			assert.equal(r.answers.length, 1, `answers: ${r.answers.map((a) => a.status)}`);
			const e = expectEnvelope(r.answers[0], 408, c.name);
			assert.equal(e.code, 'request_body_timeout');
			assert.match(e.message, c.message);
			assert.ok(took < 8000, `the 408 came after ${took} ms (body_timeout_s 3)`);
			assert.equal(d.upstream.chatRequests().length, served, 'nothing reached the upstream');
			const h = await exchange({ socketPath: d.socketPath }, [GET('').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')]);
			assert.deepEqual(h.answers.map((a) => a.status), [200], 'still serving');
		});
	}

	it('a body that comes whole in time is served', T, async () => {
		const body = JSON.stringify({ model: 'fake-text', input: 'echo: in time' });
		const r = await exchange({ socketPath: d.socketPath }, [postHead('', body), 100, body.slice(0, 20), 100, body.slice(20)], {
			timeoutMs: 3000,
		});
		assert.equal(r.answers[0]?.status, 200, JSON.stringify(r.answers));
		assert.equal(outputText(validateResponse(JSON.parse(r.answers[0].body))), 'in time');
	});
});

describe('an oversize body with the openai SDK', () => {
	const MAX_BODY = 4096;
	let d;
	before(async () => {
		d = await startDaemon({ config: { limits: { max_body_bytes: MAX_BODY } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	// undici keeps writing a body the server has already refused; a server that closes at once
	// resets the connection under it and the SDK reports a connection error (EPIPE / "other side
	// closed") instead of the 413 it was sent. The daemon reads the rest past before it closes.
	it('a body over max_body_bytes gets an APIError with status 413, in each of 20 attempts', T, async (t) => {
		const input = 'x'.repeat(1024 * 1024);
		const seen = [];
		for (let i = 0; i < 20; i++) {
			try {
				await d.client.responses.create({ model: 'fake-text', input });
				seen.push('served');
			} catch (e) {
				seen.push(e instanceof OpenAI.APIError && e.status !== undefined ? e.status : `${e.constructor.name}: ${e.message} ${e.cause?.code ?? ''}`);
			}
		}
		t.diagnostic(`answers: ${JSON.stringify(seen)}`);
		assert.deepEqual(seen, Array(20).fill(413));
		await d.settle();
		assert.equal(d.upstream.chatRequests().length, 0, 'nothing reached the upstream');
	});
});

describe('HTTP strictness and status lines', () => {
	const MAX_BODY = 2048;
	let d;
	let tcp;
	before(async () => {
		const port = await freePort();
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [{ name: 'ci', key: KEY }],
				limits: { max_body_bytes: MAX_BODY, body_timeout_s: 1, min_body_rate_bytes_s: 0 },
			},
		});
		tcp = { host: '127.0.0.1', port };
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	const post = (extra, body = '{}') =>
		`POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${extra}\r\n${body}`;

	it('a Content-Length that is not one decimal number is a 400 envelope, then the connection is closed', T, async () => {
		const served = d.upstream.chatRequests().length;
		const body = JSON.stringify({ model: 'fake-text', input: 'echo: framed' });
		const n = Buffer.byteLength(body);
		for (const [what, extra] of [
			['two different Content-Length headers', `Content-Length: ${n}\r\nContent-Length: ${n + 5}\r\n`],
			['Content-Length: 12abc', `Content-Length: ${n}abc\r\n`],
			['Content-Length: -1', 'Content-Length: -1\r\n'],
		]) {
			const r = await exchange({ socketPath: d.socketPath }, [post(extra, body)], { timeoutMs: 5000 });
			assert.ok(!r.timedOut && r.closed, `${what}: the connection is closed`);
			assert.equal(r.answers.length, 1, `${what}: one answer`);
			const e = expectEnvelope(r.answers[0], 400, what);
			assert.equal(e.code, 'invalid_content_length', what);
		}
		assert.equal(d.upstream.chatRequests().length, served, 'nothing reached the upstream');
	});

	// A refusal before the body (here 401 on TCP) of a request that announces a body: the connection
	// is not kept for lws to read the announced body past at the peer's pace; it closes, bounded.
	it('a request refused before its announced body is closed, not read past at the peer\'s pace', T, async () => {
		const head = 'POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n';
		const trickle = [];
		for (let i = 0; i < 12; i++) trickle.push(500, 'x');
		const r = await exchange(tcp, [head, ...trickle], { timeoutMs: 9000 });
		assert.ok(r.answers.length >= 1, 'no answer');
		expectEnvelope(r.answers[0], 401, 'no bearer');
		assert.ok(r.closed && !r.timedOut, `the connection stays open while the body trickles (closed ${r.closed}, timed out ${r.timedOut})`);
	});

	// A GET that carries a body is served as a GET: its body is read past (it used to be taken for a
	// POST body and answered 500 "unrouted request" while the listing was still on its way).
	it('a GET with a body is answered as the GET', T, async () => {
		const r = await exchange({ socketPath: d.socketPath }, ['GET /v1/models HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnull'], { timeoutMs: 5000 });
		assert.equal(r.answers.length, 1, JSON.stringify(r.answers));
		assert.equal(r.answers[0].status, 200, r.answers[0].body);
		assert.equal(JSON.parse(r.answers[0].body).object, 'list');
	});

	// Every status line carries its RFC 9110 reason phrase (lws 4.1 writes none for 429 or 431 and
	// older names for 413 and 414). The statuses a raw socket can provoke here, each checked.
	it('status lines carry their reason phrases', T, async () => {
		const big = 'x'.repeat(MAX_BODY * 2);
		const close = 'Connection: close\r\n\r\n';
		const cases = [
			[200, 'OK', { socketPath: d.socketPath }, [GET('').replace('\r\n\r\n', `\r\n${close}`)]],
			[400, 'Bad Request', { socketPath: d.socketPath }, [post('Content-Length: 2\r\n')]],
			[401, 'Unauthorized', tcp, [GET('').replace('\r\n\r\n', `\r\n${close}`)]],
			[404, 'Not Found', { socketPath: d.socketPath }, [`GET /nope HTTP/1.1\r\nHost: localhost\r\n${close}`]],
			[405, 'Method Not Allowed', { socketPath: d.socketPath }, [`DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n${close}`]],
			[408, 'Request Timeout', { socketPath: d.socketPath }, [post('Content-Length: 100\r\n', '{')]],
			[411, 'Length Required', { socketPath: d.socketPath }, [post('')]],
			[413, 'Content Too Large', { socketPath: d.socketPath }, [post(`Content-Length: ${big.length}\r\n`, big)]],
			[415, 'Unsupported Media Type', { socketPath: d.socketPath }, [post('Content-Length: 2\r\n').replace('application/json', 'text/plain')]],
		];
		for (const [status, reason, target, writes] of cases) {
			const r = await exchange(target, writes, { timeoutMs: 4000 });
			assert.ok(r.answers.length >= 1, `${status}: no answer`);
			assert.equal(r.answers[0].status, status, `${status}: got ${r.answers[0].status} ${r.answers[0].body}`);
			assert.equal(r.answers[0].reason, reason, `${status}: the reason phrase`);
		}
	});
});
