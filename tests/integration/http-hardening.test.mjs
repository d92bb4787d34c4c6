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

describe('malformed and oversize request heads (the head guard)', () => {
	// lws 4.1.6 hung on a control byte in a header value or a header line without a colon, reset a
	// head over its header space, and answered an unparseable request line with its own HTML 403.
	// The daemon checks each connection's first head before lws sees it: every case below gets the
	// JSON envelope with a reason phrase and Connection: close, then the connection is closed.
	const MAX_HEAD = 2048;
	const TIMEOUT_S = 2;
	let d;
	let tcp;
	before(async () => {
		const port = await freePort();
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [{ name: 'ci', key: KEY }],
				limits: { max_header_bytes: MAX_HEAD, header_timeout_s: TIMEOUT_S },
			},
		});
		tcp = { host: '127.0.0.1', port };
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	const listeners = () => [
		{ name: 'Unix socket', target: { socketPath: d.socketPath }, auth: '' },
		{ name: 'TCP', target: tcp, auth: `Authorization: Bearer ${KEY}\r\n` },
	];
	const health = (auth, extra = '') => `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${auth}${extra}Connection: close\r\n\r\n`;
	const healthz = async (what) => {
		const h = await exchange({ socketPath: d.socketPath }, [health('')], { timeoutMs: 5000 });
		assert.deepEqual(h.answers.map((a) => a.status), [200], `${what}: /healthz on another connection`);
	};
	// Short headers the server has no name for: lws stores each with 8 bytes of its own, so a head
	// under the cap made of many of them overflowed lws' header space when that was the cap itself.
	const manyHeaders = (n) => Array.from({ length: n }, (_, i) => `X-H${String(i).padStart(2, '0')}: ${'v'.repeat(13)}\r\n`).join('');

	const cases = (auth) => [
		{ name: 'a NUL in a header value', bytes: health(auth, 'X-Note: a\0b\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'a 0x01 in a header value', bytes: health(auth, 'X-Note: a\x01b\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'a DEL in a header value', bytes: health(auth, 'X-Note: a\x7fb\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'GARBAGE', bytes: 'GARBAGE\r\n\r\n', status: 400, code: 'invalid_request_line' },
		{ name: 'a bad request line', bytes: `GET /healthz\r\nHost: localhost\r\n${auth}\r\n`, status: 400, code: 'invalid_request_line' },
		{ name: 'a header line without a colon', bytes: health(auth, 'NoColonHere\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'a space before the colon', bytes: health(auth, 'X-Note : a\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'bare LF line ends', bytes: `GET /healthz HTTP/1.1\nHost: localhost\n${auth.replace('\r\n', '\n')}\n`, status: 400 },
		{ name: 'a bare CR', bytes: health(auth, 'X-Note: a\rb\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'obsolete line folding', bytes: health(auth, 'X-Note: a\r\n b\r\n'), status: 400, code: 'invalid_header' },
		{ name: 'an absolute-form target', bytes: `GET http://localhost/healthz HTTP/1.1\r\nHost: localhost\r\n${auth}\r\n`, status: 400, code: 'invalid_request_target' },
		{ name: 'a bad %-escape', bytes: `GET /healthz%zz HTTP/1.1\r\nHost: localhost\r\n${auth}\r\n`, status: 400, code: 'invalid_request_target' },
		{ name: 'an unknown method', bytes: `BREW /healthz HTTP/1.1\r\nHost: localhost\r\n${auth}\r\n`, status: 501, code: 'method_not_implemented' },
		{ name: 'HTTP/2.0 in an HTTP/1 request line', bytes: `GET /healthz HTTP/2.0\r\nHost: localhost\r\n${auth}\r\n`, status: 505, code: 'http_version_not_supported' },
		{ name: 'a head over max_header_bytes', bytes: health(auth, `X-Big: ${'x'.repeat(MAX_HEAD * 2)}\r\n`), status: 431, code: 'header_too_large' },
		{ name: 'more header lines than lws holds', bytes: health(auth, 'Accept: x\r\n'.repeat(100)), status: 431, code: 'header_too_large' },
		{
			name: 'more query arguments than lws holds',
			bytes: `GET /healthz?${Array.from({ length: 100 }, (_, i) => `a${i}`).join('&')} HTTP/1.1\r\nHost: localhost\r\n${auth}Connection: close\r\n\r\n`,
			status: 431,
			code: 'header_too_large',
		},
		{
			name: 'a NUL in a POST header, the body following',
			bytes: `POST /v1/responses HTTP/1.1\r\nHost: localhost\r\n${auth}X-Note: \0\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
			status: 400,
			code: 'invalid_header',
		},
	];

	const REASONS = { 400: 'Bad Request', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported', 408: 'Request Timeout' };

	it('each malformed or oversize head: its status and reason, the JSON envelope, Connection: close, then closed', T, async (t) => {
		const served = d.upstream.chatRequests().length;
		for (const l of listeners()) {
			for (const c of cases(l.auth)) {
				const what = `${l.name}, ${c.name}`;
				const r = await exchange(l.target, [Buffer.from(c.bytes, 'latin1')], { timeoutMs: 5000 });
				t.diagnostic(`${what}: ${r.answers.map((a) => `${a.status} ${a.reason}`).join(', ')}${r.closed ? ', then closed' : ''}${r.error ? ` (${r.error})` : ''}`);
				assert.ok(!r.timedOut, `${what}: the connection hung`);
				assert.ok(r.closed, `${what}: closed after the answer`);
				assert.equal(r.answers.length, 1, `${what}: one answer`);
				const a = r.answers[0];
				const e = expectEnvelope(a, c.status, what);
				assert.equal(a.reason, REASONS[c.status], `${what}: the reason phrase`);
				assert.equal(a.headers.connection, 'close', `${what}: says it closes`);
				assert.equal(e.type, 'invalid_request', what);
				if (c.code) assert.equal(e.code, c.code, what);
				await healthz(what);
			}
		}
		await sleep(200);
		assert.equal(d.upstream.chatRequests().length, served, 'no refused POST reached the upstream');
	});

	it('a head just under max_header_bytes made of many short headers is served', T, async () => {
		for (const l of listeners()) {
			const bytes = health(l.auth, manyHeaders(80));
			assert.ok(bytes.length <= MAX_HEAD && bytes.length > MAX_HEAD - 400, `the head is ${bytes.length} bytes`);
			const r = await exchange(l.target, [bytes], { timeoutMs: 5000 });
			assert.deepEqual(r.answers.map((a) => a.status), [200], `${l.name}: ${r.error ?? ''}`);
		}
	});

	it('a head split across several writes with pauses is served; a POST so split runs', T, async () => {
		for (const l of listeners()) {
			const head = health(l.auth);
			const r = await exchange(l.target, [head.slice(0, 3), 100, head.slice(3, 20), 100, head.slice(20, -2), 150, head.slice(-2)], {
				timeoutMs: 5000,
			});
			assert.deepEqual(r.answers.map((a) => a.status), [200], `${l.name}: GET`);
			const post = postHead(l.auth, BODY);
			const p = await exchange(l.target, [post.slice(0, 30), 100, post.slice(30), 50, BODY], { timeoutMs: 1500 });
			assert.equal(p.answers[0]?.status, 200, `${l.name}: POST ${p.answers[0]?.body}`);
			assert.equal(outputText(validateResponse(JSON.parse(p.answers[0].body))), 'pipelined');
		}
	});

	it('a bad byte in the second piece of a split head is refused as soon as it comes', T, async () => {
		for (const l of listeners()) {
			const r = await exchange(l.target, ['GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 100, 'X-Note: \x01'], { timeoutMs: 5000 });
			assert.ok(!r.timedOut && r.closed, `${l.name}: answered and closed without the rest of the head`);
			expectEnvelope(r.answers[0], 400, l.name);
		}
	});

	it('a head slower than header_timeout_s gets a 408 and is closed; a silent connection is closed unanswered', T, async () => {
		for (const l of listeners()) {
			const t0 = Date.now();
			const writes = ['GET /healthz HTTP/1.1\r\n'];
			for (let i = 0; i < 12; i++) writes.push(400, `X-Slow-${i}: a\r\n`);
			const r = await exchange(l.target, writes, { timeoutMs: 9000 });
			const took = Date.now() - t0;
			assert.ok(!r.timedOut && r.closed, `${l.name}: still open after ${took} ms`);
			assert.ok(took < TIMEOUT_S * 1000 + 2000, `${l.name}: closed after ${took} ms (header_timeout_s ${TIMEOUT_S})`);
			const e = expectEnvelope(r.answers[0], 408, l.name);
			assert.equal(e.code, 'header_timeout');
			assert.equal(r.answers[0].reason, 'Request Timeout');
			const s = await exchange(l.target, [], { timeoutMs: 9000 });
			assert.ok(!s.timedOut && s.closed, `${l.name}: a silent connection is closed`);
			assert.equal(s.answers.length, 0, `${l.name}: nothing is sent to a connection that sent nothing`);
			await healthz(l.name);
		}
	});

	it('/healthz is served on another connection while heads are held open, and a kept-alive connection serves several requests', T, async () => {
		const held = listeners().map((l) => {
			const s = net.connect(l.target.socketPath ? { path: l.target.socketPath } : l.target);
			s.on('error', () => {});
			s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'));
			return s;
		});
		try {
			await sleep(100);
			await healthz('while heads are held');
			for (const l of listeners()) {
				const get = `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${l.auth}\r\n`;
				const r = await exchange(l.target, [get, 100, get, 100, POST(l.auth), 300, get], { timeoutMs: 2000 });
				assert.deepEqual(r.answers.map((a) => a.status), [200, 200, 200, 200], `${l.name}: kept alive`);
				assert.equal(outputText(validateResponse(JSON.parse(r.answers[2].body))), 'pipelined');
			}
		} finally {
			for (const s of held) s.destroy();
		}
	});
});
