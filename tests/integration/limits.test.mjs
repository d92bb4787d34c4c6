// toolhostd's limits and failure paths: request body rules (413/411/415), request validation (400
// naming the param), oversized headers, upstream failures (refused 502, silent 504), the overall
// request deadline, the drain deadline at SIGTERM, model:provider routing and which credentials
// reach which upstream. Every error body is checked to be the envelope; after every refused
// request the daemon must still serve.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUpstream } from '../fakes/upstream.mjs';
import { freePort, rawExchange, startDaemon, tryConnect } from './lib/harness.mjs';
import { validateErrorEnvelope, validateResponse } from './lib/schema.mjs';
import { checkFraming, checkStream, outputText } from './lib/sse.mjs';

const T = { timeout: 30000 };
const STOP = { timeout: 40000 };

/** Asserts an error answer: the status, application/json, the envelope; returns body.error. */
function expectError(r, status, what = '') {
	assert.equal(r.status, status, `${what} status ${r.status}: ${String(r.body ?? r.text).slice(0, 300)}`);
	assert.match(String(r.headers['content-type']), /application\/json/, `${what} an error is application/json`);
	return validateErrorEnvelope(JSON.parse(r.body ?? r.text)).error;
}

/** The daemon still answers: /healthz 200 and a whole POST /v1/responses. */
async function expectServing(d, text = 'still serving') {
	assert.equal(d.exited, null, `the daemon exited: ${JSON.stringify(d.exited)}`);
	const h = await d.request('GET', '/healthz');
	assert.equal(h.status, 200, `/healthz: ${h.status}`);
	const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: `echo: ${text}` });
	assert.equal(r.status, 200, `POST /v1/responses: ${r.status} ${r.body.slice(0, 300)}`);
	assert.equal(outputText(validateResponse(r.json())), text);
}

/** The SSE events of a stream result, framing checked (ends with [DONE]). */
function streamEvents(res) {
	assert.equal(res.status, 200, `stream status ${res.status}: ${res.text.slice(0, 300)}`);
	return checkFraming(res.frames).events;
}

const post = (body, contentType = 'application/json', extra = '') => {
	const b = Buffer.from(body);
	return Buffer.concat([
		Buffer.from(
			`POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test\r\nContent-Type: ${contentType}\r\n${extra}`,
		),
		Buffer.from(`Content-Length: ${b.length}\r\n\r\n`),
		b,
	]);
};

describe('request rules', () => {
	const MAX_BODY = 2048;
	const MAX_HEADER = 4096;
	let d;
	before(async () => {
		d = await startDaemon({ config: { limits: { max_body_bytes: MAX_BODY, max_header_bytes: MAX_HEADER } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);
	afterEach(async () => {
		if (d) await expectServing(d);
	}, T);

	// A WebSocket upgrade never reaches the per-request caller check: api/ws checks it at the upgrade.
	// Only /v1/responses is served that way; an upgrade anywhere else is a 404, never a 101 (it used
	// to be answered 101 with no auth at all).
	it('a WebSocket upgrade outside /v1/responses is refused, never 101', T, async () => {
		for (const p of ['/v1/models', '/healthz', '/v1/responses/x']) {
			const r = await rawExchange(
				d.socketPath,
				`GET ${p} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
					'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
				{ timeoutMs: 5000 },
			);
			assert.equal(r.status, 404, `${p}: upgrade answered: ${r.raw.slice(0, 80)}`);
			assert.equal(r.timedOut, false, `${p}: the connection was left open`);
		}
	});

	it('a body over max_body_bytes is 413; one just under it is served', T, async () => {
		const big = JSON.stringify({ model: 'fake-text', input: 'x'.repeat(MAX_BODY) });
		assert.ok(Buffer.byteLength(big) > MAX_BODY);
		const r = await d.request('POST', '/v1/responses', big);
		const e = expectError(r, 413, 'over the limit:');
		assert.equal(e.code, 'request_too_large');
		// Exactly at the limit (padded with JSON whitespace) is fine.
		const base = JSON.stringify({ model: 'fake-text', input: 'echo: at the limit' });
		const exact = base.slice(0, -1) + ' '.repeat(MAX_BODY - Buffer.byteLength(base)) + '}';
		assert.equal(Buffer.byteLength(exact), MAX_BODY);
		const ok = await d.request('POST', '/v1/responses', exact);
		assert.equal(ok.status, 200, `a body of exactly max_body_bytes: ${ok.status} ${ok.body.slice(0, 300)}`);
		assert.equal(outputText(validateResponse(ok.json())), 'at the limit');
	});

	it('a Content-Length over the limit is 413 before the body is sent', T, async () => {
		// Headers only: the daemon must answer without waiting for 1 MB that never comes.
		const r = await rawExchange(
			{ socketPath: d.socketPath },
			'POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{"model":',
			{ timeoutMs: 5000 },
		);
		assert.ok(!r.timedOut, 'an answer before the body is complete');
		expectError(r, 413, 'announced over the limit:');
	});

	it('a chunked request body is 411', T, async () => {
		const chunk = JSON.stringify({ model: 'fake-text', input: 'hi' });
		const n = d.upstream.chatRequests().length;
		const r = await rawExchange(
			{ socketPath: d.socketPath },
			'POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
				`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
		);
		const e = expectError(r, 411, 'chunked:');
		assert.equal(e.code, 'length_required');
		assert.equal(d.upstream.chatRequests().length, n, 'nothing reached the upstream');
	});

	it('a POST without Content-Length is 411', T, async () => {
		const r = await rawExchange(
			{ socketPath: d.socketPath },
			'POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\r\n',
		);
		const e = expectError(r, 411, 'no Content-Length:');
		assert.equal(e.code, 'length_required');
	});

	it('a non-JSON Content-Type (or none) is 415', T, async () => {
		const body = JSON.stringify({ model: 'fake-text', input: 'hi' });
		for (const ct of ['text/plain', 'application/x-www-form-urlencoded', null]) {
			const r = await d.request('POST', '/v1/responses', body, { 'content-type': ct });
			const e = expectError(r, 415, `Content-Type ${ct}:`);
			assert.equal(e.code, 'unsupported_media_type');
		}
		// The raw form too (several requests' worth of connections, one after another).
		expectError(await rawExchange({ socketPath: d.socketPath }, post(body, 'text/plain')), 415, 'raw text/plain:');
	});

	it('an unknown input item type is 400 naming the param', T, async () => {
		const r = await d.request('POST', '/v1/responses', {
			model: 'fake-text',
			input: [
				{ type: 'message', role: 'user', content: 'hi' },
				{ type: 'bogus_item', content: 'x' },
			],
		});
		const e = expectError(r, 400, 'unknown item type:');
		assert.match(String(e.param), /^input\[1\](\.type)?$/, `param ${e.param}`);
		assert.match(e.message, /bogus_item/);
	});

	it('a wrong-typed field is 400 naming the param', T, async () => {
		const cases = [
			[{ max_output_tokens: 'ten' }, /^max_output_tokens$/],
			[{ stream: 'yes' }, /^stream$/],
			[{ temperature: 'hot' }, /^temperature$/],
			[{ tools: 'get_weather' }, /^tools$/],
			[{ store: 1 }, /^store$/],
			[{ input: 42 }, /^input$/],
			[{ input: [{ type: 'message', role: 'user', content: 5 }] }, /^input\[0\]\.content$/],
		];
		for (const [over, param] of cases) {
			const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi', ...over });
			const e = expectError(r, 400, JSON.stringify(over));
			assert.match(String(e.param), param, `${JSON.stringify(over)}: param ${e.param}`);
		}
	});

	it('headers over max_header_bytes: an error status or a closed connection, never served', T, async () => {
		const huge = 'a'.repeat(MAX_HEADER * 4);
		for (const req of [
			`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${huge}\r\n\r\n`,
			`GET /healthz HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(60)}\r\n`).join('')}\r\n`,
			post(JSON.stringify({ model: 'fake-text', input: 'hi' }), 'application/json', `X-Big: ${huge}\r\n`),
		]) {
			const r = await rawExchange({ socketPath: d.socketPath }, req, { timeoutMs: 10000 });
			assert.ok(!r.timedOut, 'the daemon answers or closes (no hang)');
			if (r.status === 0) {
				assert.ok(r.closed || r.error, `no answer: the connection must be closed (${JSON.stringify(r)})`);
			} else {
				assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
				if (r.body.length > 0) expectError(r, r.status, 'oversized headers:');
			}
			await expectServing(d, 'after big headers');
		}
		// Headers well inside the limit are fine.
		const r = await d.request('GET', '/healthz', undefined, { 'x-small': 'c'.repeat(1024) });
		assert.equal(r.status, 200);
	});
});

describe('max_connections', () => {
	// Connections count from accept to close, whether a request is under way, they sit idle kept
	// alive, or they have not sent a byte yet (those used to go uncounted: lws binds the protocol,
	// where the count was kept, only once a request arrives).
	let d;
	before(async () => {
		d = await startDaemon({ config: { limits: { max_connections: 2 } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	/** GET /healthz through agent: {status, reused} or {error}. */
	const healthOn = (agent) =>
		new Promise((resolve) => {
			const req = http.request({ socketPath: d.socketPath, path: '/healthz', agent }, (res) => {
				res.resume();
				res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
			});
			req.on('error', (e) => resolve({ error: e.code ?? e.message }));
			req.end();
		});
	const GET = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

	it('an idle kept-alive and a silent connection fill it; one more is closed unanswered; a freed place is taken again', T, async () => {
		const kept = new http.Agent({ keepAlive: true, maxSockets: 1 });
		const silent = net.connect(d.socketPath);
		silent.on('error', () => {});
		try {
			assert.equal((await healthOn(kept)).status, 200);
			await new Promise((resolve, reject) => {
				if (silent.readyState === 'open') resolve();
				silent.once('connect', resolve);
				silent.once('error', reject);
			});
			const over = await rawExchange(d.socketPath, GET, { timeoutMs: 5000 });
			assert.equal(over.status, 0, `a third connection was served: ${over.raw.slice(0, 80)}`);
			assert.equal(over.timedOut, false, 'the third connection was left open');
			const again = await healthOn(kept);
			assert.deepEqual(again, { status: 200, reused: true }, 'the kept-alive connection serves on');
			silent.destroy();
			// Its place goes to the next connection once the daemon saw it close (bounded wait).
			let status = 0;
			for (let i = 0; i < 50 && status !== 200; i++) {
				status = (await rawExchange(d.socketPath, GET, { timeoutMs: 2000 })).status;
				if (status !== 200) await sleep(50);
			}
			assert.equal(status, 200, 'no connection was served after the silent one closed');
		} finally {
			kept.destroy();
			silent.destroy();
		}
	});
});

describe('upstream failures', () => {
	it('connection refused: 502 envelope, for JSON and stream:true', T, async () => {
		const closedPort = await freePort();
		const d = await startDaemon({ upstreamConfig: { base_url: `http://127.0.0.1:${closedPort}/v1` } });
		try {
			const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi' });
			const e = expectError(r, 502, 'refused (JSON):');
			assert.match(String(e.code), /upstream/);
			const s = await d.sse('/v1/responses', { model: 'fake-text', input: 'hi', stream: true });
			expectError(s, 502, 'refused (stream):');
			// The daemon is fine; the only upstream is still down.
			assert.equal((await d.request('GET', '/healthz')).status, 200);
			expectError(await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'again' }), 502, 'refused again:');
			assert.equal(d.exited, null);
		} finally {
			await d.stop();
		}
	});

	it('an upstream that never answers: 504 envelope with upstream_idle_timeout_s 1, for JSON and stream:true', T, async (t) => {
		const d = await startDaemon({ config: { limits: { upstream_idle_timeout_s: 1 } } });
		try {
			// Both at once. The daemon keeps the idle deadline itself: it fires within a second of
			// the idle time (curl's speed check, used before, came about 6 s late).
			const one = async (stream) => {
				const t0 = Date.now();
				const body = { model: 'fake-hang', input: `hang ${stream}`, stream };
				const r = stream
					? await d.sse('/v1/responses', body, { timeoutMs: 20000 })
					: await d.request('POST', '/v1/responses', body, {}, { timeoutMs: 20000 });
				return { stream, r, took: Date.now() - t0 };
			};
			for (const { stream, r, took } of await Promise.all([one(false), one(true)])) {
				t.diagnostic(`fake-hang stream:${stream}: ${r.status} after ${took} ms (upstream_idle_timeout_s 1)`);
				const e = expectError(r, 504, `hang (stream:${stream}):`);
				assert.equal(e.code, 'upstream_timeout');
				assert.ok(took >= 900, `not before the idle timeout (${took} ms)`);
				// 1 s idle + at most 1 s late + 0.5 s for the request's own way on a loaded machine.
				assert.ok(took < 2500, `within a second of the 1 s idle timeout, took ${took} ms`);
				const up = d.upstream.chatRequests().find((c) => c.body?.input === undefined && JSON.stringify(c.body).includes(`hang ${stream}`));
				assert.ok(up, 'the upstream got the request');
				await d.upstream.waitFor(() => up.aborted, 3000, 'the daemon to close the upstream request');
			}
			await expectServing(d);
		} finally {
			await d.stop();
		}
	});
});

describe('request_timeout_s', () => {
	let d;
	before(async () => {
		// keepalive_s stays at its default (15): the request deadline must not depend on it.
		d = await startDaemon({ config: { limits: { request_timeout_s: 1 } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	it('JSON: an answer still coming after request_timeout_s is a 504 envelope', T, async () => {
		const t0 = Date.now();
		const r = await d.request('POST', '/v1/responses', { model: 'fake-slow-long', input: 'hi' });
		const took = Date.now() - t0;
		const e = expectError(r, 504, `fake-slow-long (about 4 s) with request_timeout_s 1, after ${took} ms:`);
		assert.equal(e.code, 'request_timeout');
		assert.ok(took < 3000, `the deadline is 1 s; answered after ${took} ms`);
		const up = d.upstream.lastChat();
		await d.upstream.waitFor(() => up.aborted || up.finished, 5000, 'the upstream request to end');
		assert.ok(up.aborted, 'the upstream transfer is cut at the deadline');
	});

	it('stream: an error event and response.failed at the deadline, then [DONE]', T, async () => {
		const t0 = Date.now();
		const res = await d.sse('/v1/responses', { model: 'fake-slow-long', input: 'hi', stream: true });
		const took = Date.now() - t0;
		const events = streamEvents(res);
		const types = events.map((e) => e.type);
		assert.deepEqual(
			types.slice(-2),
			['error', 'response.failed'],
			`fake-slow-long (about 4 s) with request_timeout_s 1, ended after ${took} ms with: ${types.slice(-3).join(', ')}`,
		);
		const { response } = checkStream(events);
		assert.equal(response.status, 'failed');
		assert.equal(events.at(-2).error.code, 'request_timeout');
		assert.ok(took < 3000, `the deadline is 1 s; the stream ended after ${took} ms`);
	});

	it('fake-slow (0.9 s) in a 2 s deadline completes', T, async () => {
		const d2 = await startDaemon({ config: { limits: { request_timeout_s: 2 } } });
		try {
			const res = await d2.sse('/v1/responses', { model: 'fake-slow', input: 'hi', stream: true });
			const { response } = checkStream(streamEvents(res));
			assert.equal(response.status, 'completed');
		} finally {
			await d2.stop();
		}
	});
});

describe('drain at SIGTERM', () => {
	it('past drain_timeout_s a stream ends with error, response.failed, [DONE]; new connections are refused; exit 0', T, async () => {
		const d = await startDaemon({ config: { limits: { drain_timeout_s: 1 } } });
		let stopped = false;
		try {
			let sawDelta;
			const firstDelta = new Promise((resolve) => (sawDelta = resolve));
			const stream = d.sse(
				'/v1/responses',
				{ model: 'fake-stall', input: 'hi', stream: true },
				{
					timeoutMs: 15000,
					onFrame(f) {
						if (f.kind === 'event' && f.event === 'response.output_text.delta') sawDelta();
					},
				},
			);
			await Promise.race([firstDelta, sleep(5000).then(() => assert.fail('no first delta within 5 s'))]);
			const t0 = Date.now();
			d.signal('SIGTERM');
			await d.waitLog(/draining: 1 response\(s\) in flight/, { timeoutMs: 2000 });
			// New connections are refused while the stream is still draining.
			const refused = await tryConnect({ socketPath: d.socketPath });
			assert.ok(refused === 'ENOENT' || refused === 'ECONNREFUSED', `a new connection during the drain: ${refused ?? 'accepted'}`);
			assert.equal(d.exited, null, 'still draining');

			const res = await stream;
			const took = Date.now() - t0;
			assert.ok(res.ended, 'the stream is ended properly (terminating chunk)');
			const events = streamEvents(res);
			const types = events.map((e) => e.type);
			assert.deepEqual(types.slice(-2), ['error', 'response.failed'], `the last events: ${types.slice(-3).join(', ')}`);
			const { response } = checkStream(events);
			assert.equal(response.status, 'failed');
			assert.equal(outputText(response), 'Hello', 'only what came before the stall');
			assert.ok(took >= 800 && took < 3000, `failed at the 1 s drain deadline, after ${took} ms`);

			const exit = await d.waitExit(10000);
			assert.deepEqual(exit, { code: 0, signal: null }, `exit after the drain:\n${d.stderr.slice(-2000)}`);
			assert.match(d.stderr, /drain deadline reached with 1 response\(s\) in flight/);
			assert.equal(await tryConnect({ socketPath: d.socketPath }), 'ENOENT', 'the socket path is removed');
			await d.stop(); // exit code 0 and no sanitizer report
			stopped = true;
		} finally {
			if (!stopped) await d.stop();
		}
	});

	it('a stream that ends within drain_timeout_s completes normally', T, async () => {
		const d = await startDaemon({ config: { limits: { drain_timeout_s: 5 } } });
		let stopped = false;
		try {
			let sawDelta;
			const firstDelta = new Promise((resolve) => (sawDelta = resolve));
			const stream = d.sse(
				'/v1/responses',
				{ model: 'fake-slow', input: 'hi', stream: true },
				{
					onFrame(f) {
						if (f.kind === 'event' && f.event === 'response.output_text.delta') sawDelta();
					},
				},
			);
			await Promise.race([firstDelta, sleep(5000).then(() => assert.fail('no first delta within 5 s'))]);
			const t0 = Date.now();
			d.signal('SIGTERM');
			const res = await stream;
			const { response } = checkStream(streamEvents(res));
			assert.equal(response.status, 'completed');
			assert.match(outputText(response), /^tick0 .*tick9 $/);
			const exit = await d.waitExit(10000);
			assert.deepEqual(exit, { code: 0, signal: null });
			assert.ok(Date.now() - t0 < 4000, 'the daemon exits once the work is done, not at the deadline');
			await d.stop();
			stopped = true;
		} finally {
			if (!stopped) await d.stop();
		}
	});
});

describe('model:provider routing', () => {
	let a, b, d;
	before(async () => {
		a = await startUpstream();
		b = await startUpstream();
		d = await startDaemon({
			upstream: a,
			config: {
				upstreams: [
					{ name: 'a', base_url: a.url, default: true },
					{ name: 'b', base_url: b.url },
				],
			},
		});
	}, T);
	after(async () => {
		try {
			if (d) await d.stop();
		} finally {
			await a?.close();
			await b?.close();
		}
	}, STOP);

	const counts = () => [a.chatRequests().length, b.chatRequests().length];

	it('"fake-text:b" reaches upstream b as "fake-text"', T, async () => {
		const [na, nb] = counts();
		const r = await d.request('POST', '/v1/responses', { model: 'fake-text:b', input: 'echo: to b' });
		assert.equal(r.status, 200, r.body.slice(0, 300));
		assert.equal(outputText(validateResponse(r.json())), 'to b');
		assert.deepEqual(counts(), [na, nb + 1]);
		assert.equal(b.lastChat().body.model, 'fake-text');
		// The same for a stream.
		const res = await d.sse('/v1/responses', { model: 'fake-text:b', input: 'echo: streamed to b', stream: true });
		assert.equal(outputText(checkStream(streamEvents(res)).response), 'streamed to b');
		assert.deepEqual(counts(), [na, nb + 2]);
		assert.equal(b.lastChat().body.model, 'fake-text');
	});

	it('"fake-text:a" names the default explicitly; "fake-text" goes to the default', T, async () => {
		const [na, nb] = counts();
		for (const model of ['fake-text:a', 'fake-text']) {
			const r = await d.request('POST', '/v1/responses', { model, input: 'echo: to a' });
			assert.equal(r.status, 200, r.body.slice(0, 300));
			assert.equal(a.lastChat().body.model, 'fake-text', model);
		}
		assert.deepEqual(counts(), [na + 2, nb]);
	});

	it('"fake-text:unknown" goes to the default upstream unchanged', T, async () => {
		const [na, nb] = counts();
		const r = await d.request('POST', '/v1/responses', { model: 'fake-text:unknown', input: 'hi' });
		assert.deepEqual(counts(), [na + 1, nb]);
		assert.equal(a.lastChat().body.model, 'fake-text:unknown');
		// The fake does not know that model (404): whatever status comes back, an error is the envelope.
		if (r.status >= 400) expectError(r, r.status, 'unknown model:');
		else validateResponse(r.json());
	});
});

describe('upstream credentials', () => {
	const KEY_B = 'sk-toolhost-it-upstream-b-0123456789';
	const KEY_C = 'sk-toolhost-it-upstream-c-0123456789';
	const CALLER = 'caller-token-0123456789';
	let a, b, c, keyDir, d;
	before(async () => {
		a = await startUpstream();
		b = await startUpstream();
		c = await startUpstream();
		keyDir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-keys-'));
		await writeFile(path.join(keyDir, 'c.key'), `${KEY_C}\n`, { mode: 0o600 });
		d = await startDaemon({
			upstream: a,
			config: {
				upstreams: [
					{ name: 'a', base_url: a.url, default: true, forward_caller_auth: true },
					{ name: 'b', base_url: b.url, api_key_env: 'TOOLHOST_IT_KEY_B' },
					{ name: 'c', base_url: c.url, api_key_file: path.join(keyDir, 'c.key') },
				],
			},
			env: { TOOLHOST_IT_KEY_B: KEY_B },
		});
	}, T);
	after(async () => {
		try {
			if (d) await d.stop();
		} finally {
			await a?.close();
			await b?.close();
			await c?.close();
			if (keyDir) await rm(keyDir, { recursive: true, force: true });
		}
	}, STOP);

	const ask = async (model, auth) => {
		const r = await d.request('POST', '/v1/responses', { model, input: 'echo: creds' }, { authorization: auth });
		assert.equal(r.status, 200, `${model}: ${r.status} ${r.body.slice(0, 300)}`);
		validateResponse(r.json());
		return r;
	};

	it('forward_caller_auth: true sends the caller\'s bearer to that upstream', T, async () => {
		const r = await ask('fake-text', `Bearer ${CALLER}`);
		assert.equal(a.lastChat().headers.authorization, `Bearer ${CALLER}`);
		assert.ok(!r.body.includes(CALLER));
	});

	it('forward_caller_auth with no caller bearer sends no Authorization', T, async () => {
		await ask('fake-text', null);
		assert.equal(a.lastChat().headers.authorization, undefined);
	});

	it('with forward_caller_auth each caller\'s GET /v1/models is asked with its own token, never answered from another caller\'s listing', T, async () => {
		const modelsAuth = () => a.requests.filter((q) => q.method === 'GET' && q.path === '/v1/models').map((q) => q.headers.authorization);
		const before = modelsAuth().length;
		for (const token of ['caller-one-0123456789', 'caller-two-0123456789']) {
			const r = await d.request('GET', '/v1/models', undefined, { authorization: `Bearer ${token}` });
			assert.equal(r.status, 200, r.body.slice(0, 300));
		}
		assert.deepEqual(modelsAuth().slice(before), ['Bearer caller-one-0123456789', 'Bearer caller-two-0123456789']);
	});

	it('otherwise the configured key (api_key_env / api_key_file), never the caller\'s', T, async () => {
		await ask('fake-text:b', `Bearer ${CALLER}`);
		assert.equal(b.lastChat().headers.authorization, `Bearer ${KEY_B}`);
		await ask('fake-text:c', `Bearer ${CALLER}`);
		assert.equal(c.lastChat().headers.authorization, `Bearer ${KEY_C}`);
		await ask('fake-text:b', null);
		assert.equal(b.lastChat().headers.authorization, `Bearer ${KEY_B}`);
		for (const up of [b, c]) {
			for (const req of up.requests) {
				assert.ok(!JSON.stringify(req.headers).includes(CALLER), 'the caller token never reaches b or c');
			}
		}
	});

	it('no key or caller token is logged', T, async () => {
		await sleep(100);
		for (const secret of [KEY_B, KEY_C, CALLER]) assert.ok(!d.stderr.includes(secret), 'a secret in the log');
	});
});
