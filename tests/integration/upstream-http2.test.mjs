// upstreams[].http2: toolhostd speaking HTTP/2 (negotiated by TLS ALPN) to an https:// upstream, against
// the fake upstream over TLS (startUpstream({tls: true, http2: true}); its self-signed certificate is
// trusted through upstreams[].ca_file): end to end through the openai SDK, concurrent responses
// multiplexed over one session, a caller disconnect that resets only its own stream, error statuses
// mapped as over HTTP/1, the default (HTTP/1.1) against HTTP/2-only and dual fakes, and the config
// check of the key (http2 over http:// is refused: libcurl 7.88 fails reused h2c connections).

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { startUpstream, TEXT } from '../fakes/upstream.mjs';
import { checkConfig, startDaemon } from './lib/harness.mjs';
import { validateErrorEnvelope, validateEvent, validateResponse } from './lib/schema.mjs';
import { checkFraming, checkStream, outputText } from './lib/sse.mjs';

const T = { timeout: 30000 };
const STOP = { timeout: 40000 };
const HELLO = TEXT.hello.join('');
const CONCURRENT = 20;
const SLOW_TEXT = Array.from({ length: 10 }, (_, i) => `tick${i} `).join('');
const SLOW_LONG_TEXT = Array.from({ length: 40 }, (_, i) => `tick${i} `).join('');
const H2_TLS = { tls: true, http2: true };
const H1_TLS = { tls: true };

async function collect(stream) {
	const events = [];
	for await (const e of stream) {
		validateEvent(e);
		events.push(e);
	}
	return events;
}

/**
 * A fake upstream (fake: startUpstream options) and a daemon on it; stop() ends both. http2: the
 * daemon's upstreams[0].http2 (undefined: no key). The fake's certificate is trusted through ca_file
 * unless trust is false.
 */
async function pair(fake, { http2, trust = true } = {}) {
	const up = await startUpstream(fake);
	const upstreamConfig = {};
	if (http2 !== undefined) upstreamConfig.http2 = http2;
	if (up.caFile && trust) upstreamConfig.ca_file = up.caFile;
	let d;
	try {
		d = await startDaemon({ upstream: up, upstreamConfig });
	} catch (e) {
		await up.close();
		throw e;
	}
	return {
		d,
		up,
		async stop() {
			try {
				await d.stop();
			} finally {
				await up.close();
			}
		},
	};
}

// One HTTP/2-over-TLS fake and a daemon with http2: true for the tests of the enclosing describe:
// started before them, settled after each, stopped at the end. Returns a holder: holder.p is the pair.
function sharedH2Pair() {
	const holder = { p: null };
	before(async () => {
		holder.p = await pair(H2_TLS, { http2: true });
	}, T);
	after(async () => {
		if (holder.p) await holder.p.stop();
	}, STOP);
	afterEach(async () => {
		if (holder.p) await holder.p.d.settle();
	});
	return holder;
}

// The upstream chat requests from index `from` on, once there are at least n of them.
async function chatsFrom(up, from, n, what) {
	await up.waitFor(() => up.chatRequests().length >= from + n, 5000, what);
	return up.chatRequests().slice(from);
}

// POSTs /v1/responses (JSON and stream:true) with a model whose upstream fails: the daemon answers an
// error envelope; resolves [{status, envelope, retryAfter}] for both.
async function failures(d, model) {
	const out = [];
	for (const stream of [false, true]) {
		const r = await d.request('POST', '/v1/responses', { model, input: 'hi', stream });
		assert.ok(r.status >= 400 && r.status <= 599, `${model} stream:${stream}: status ${r.status}: ${r.body.slice(0, 300)}`);
		out.push({ stream, status: r.status, envelope: validateErrorEnvelope(r.json()), retryAfter: r.headers['retry-after'] });
	}
	return out;
}

describe('http2: true against an HTTP/2 upstream over TLS', () => {
	const shared = sharedH2Pair();

	it('non-streaming and streaming text responses work; the upstream saw HTTP/2', T, async () => {
		const { d, up } = shared.p;
		const n = up.chatRequests().length;
		const r = await d.client.responses.create({ model: 'fake-text', input: 'Say hello' });
		validateResponse(r);
		assert.equal(r.status, 'completed');
		assert.equal(r.output_text, HELLO);
		assert.equal(r.usage?.output_tokens, 3);

		const events = await collect(await d.client.responses.create({ model: 'fake-text', input: 'echo: over h2', stream: true }));
		const { terminal, response } = checkStream(events);
		assert.equal(terminal.type, 'response.completed');
		assert.equal(outputText(response), 'over h2');

		const got = await d.client.responses.retrieve(response.id);
		validateResponse(got);
		assert.equal(got.status, 'completed');

		const seen = up.chatRequests().slice(n);
		assert.equal(seen.length, 2);
		for (const e of seen) {
			assert.equal(e.httpVersion, '2.0', `upstream request over HTTP/${e.httpVersion}`);
			assert.equal(e.headers[':scheme'], 'https');
			assert.equal(e.finished, true);
			assert.equal(e.aborted, false);
			assert.equal(e.rstCode, 0);
		}
		assert.equal(seen[0].connection, seen[1].connection, 'the second response reused the session');
		assert.equal(up.sessions().http1, 0);
	});

	it('an upstream 429 / 500 / 401 maps to the same status and envelope as over HTTP/1', T, async () => {
		const ref = await pair(H1_TLS);
		try {
			for (const model of ['fake-429', 'fake-500', 'fake-401']) {
				const h2 = await failures(shared.p.d, model);
				const h1 = await failures(ref.d, model);
				assert.deepEqual(h2, h1, `${model}: as over HTTP/1`);
				assert.equal(shared.p.up.lastChat().httpVersion, '2.0');
				assert.equal(ref.up.lastChat().httpVersion, '1.1');
			}
			const e429 = await failures(shared.p.d, 'fake-429');
			assert.deepEqual(
				e429.map((f) => f.status),
				[429, 429],
			);
			await shared.p.d.settle();
			await ref.d.settle();
		} finally {
			await ref.stop();
		}
	});
});

describe('http2: true multiplexes concurrent responses over one session', () => {
	const shared = sharedH2Pair();

	it(`${CONCURRENT} concurrent streaming responses share one HTTP/2 session (one TCP connection)`, T, async () => {
		const { d, up } = shared.p;
		const all = await Promise.all(
			Array.from({ length: CONCURRENT }, async (_, i) => {
				const events = await collect(
					await d.client.responses.create({ model: 'fake-slow', input: `stream ${i}`, stream: true }),
				);
				return checkStream(events);
			}),
		);
		for (const { terminal, response } of all) {
			assert.equal(terminal.type, 'response.completed');
			assert.equal(outputText(response), SLOW_TEXT);
		}
		const seen = up.chatRequests();
		assert.equal(seen.length, CONCURRENT);
		assert.ok(
			seen.every((e) => e.httpVersion === '2.0' && e.finished && !e.aborted),
			JSON.stringify(seen.map((e) => [e.httpVersion, e.finished, e.aborted])),
		);
		// They overlapped: every stream began before the first one ended (each lasts about 1 s).
		const lastStart = Math.max(...seen.map((e) => e.time));
		const firstEnd = Math.min(...seen.map((e) => e.endTime));
		assert.ok(lastStart < firstEnd, `the streams overlapped (last start ${lastStart}, first end ${firstEnd})`);
		assert.equal(new Set(seen.map((e) => e.streamId)).size, CONCURRENT, 'one stream each');
		assert.deepEqual(up.sessions(), { tcp: 1, http1: 0, http2: 1 }, 'one connection carried them all');
	});
});

describe('http2: true, a caller disconnect mid-stream', () => {
	const shared = sharedH2Pair();

	it('resets only that stream; a response on the same session completes', T, async () => {
		const { d, up } = shared.p;
		const n = up.chatRequests().length;
		// B: a long stream (about 4 s) that keeps the session busy.
		const longRun = d.sse('/v1/responses', { model: 'fake-slow-long', input: 'long', stream: true });
		const [b] = await chatsFrom(up, n, 1, 'the long upstream stream');
		// A: dropped by its caller at the first text delta.
		const shortRun = await d.sse(
			'/v1/responses',
			{ model: 'fake-slow', input: 'short', stream: true },
			{
				onFrame(f, ctl) {
					if (f.kind === 'event' && f.event === 'response.output_text.delta') ctl.abort();
				},
			},
		);
		assert.ok(shortRun.aborted, `the caller dropped the stream (status ${shortRun.status}: ${shortRun.text.slice(0, 300)})`);
		const [, a] = await chatsFrom(up, n, 2, 'the short upstream stream');
		await up.waitFor(() => a.endTime !== null, 3000, 'the short upstream stream to end');
		assert.equal(a.aborted, true, `the dropped stream is reset upstream (wrote ${a.chunksWritten} chunks, finished=${a.finished})`);
		assert.ok(a.chunksWritten < 10, `cut early: ${a.chunksWritten} of its 14 writes`);
		assert.notEqual(a.rstCode, 0, 'closed by RST_STREAM, not ended');
		assert.equal(b.endTime, null, 'the long stream is still running after the reset');
		assert.equal(a.connection, b.connection, 'both on one session');
		assert.equal(a.httpVersion, '2.0');

		const res = await longRun;
		assert.equal(res.status, 200);
		const { events } = checkFraming(res.frames);
		const { terminal, response } = checkStream(events);
		assert.equal(terminal.type, 'response.completed');
		assert.equal(outputText(response), SLOW_LONG_TEXT);
		assert.equal(b.finished, true);
		assert.equal(b.aborted, false);
		assert.deepEqual(up.sessions(), { tcp: 1, http1: 0, http2: 1 }, 'the session survived the reset');

		// The session still takes new streams.
		const r = await d.client.responses.create({ model: 'fake-text', input: 'after' });
		assert.equal(r.output_text, HELLO);
		assert.equal(up.lastChat().connection, b.connection);
		await d.settle();
	});
});

describe('an upstream that speaks both (ALPN h2 and http/1.1)', () => {
	for (const [http2, want] of [
		[true, '2.0'],
		[undefined, '1.1'],
		[false, '1.1'],
	]) {
		it(`${http2 === undefined ? 'no http2 key' : `http2: ${http2}`}: HTTP/${want}`, T, async () => {
			const p = await pair({ tls: true, http2: true, allowHTTP1: true }, { http2 });
			try {
				const r = await p.d.client.responses.create({ model: 'fake-text', input: 'hi' });
				assert.equal(r.output_text, HELLO);
				const events = await collect(await p.d.client.responses.create({ model: 'fake-text', input: 'hi', stream: true }));
				assert.equal(outputText(checkStream(events).response), HELLO);
				assert.deepEqual(
					p.up.chatRequests().map((e) => e.httpVersion),
					[want, want],
				);
				await p.d.settle();
			} finally {
				await p.stop();
			}
		});
	}
});

describe('default (no http2 key)', () => {
	for (const [what, fake] of [
		['an HTTP/2-only upstream over TLS', H2_TLS],
		['an HTTP/2-only cleartext (h2c) upstream', { http2: true }],
	]) {
		it(`against ${what}: a 502 error envelope, and the daemon keeps serving`, T, async () => {
			const p = await pair(fake);
			try {
				const { d, up } = p;
				for (const f of await failures(d, 'fake-text')) {
					assert.equal(f.status, 502, `stream:${f.stream}: ${JSON.stringify(f.envelope)}`);
					assert.match(String(f.envelope.error.code), /^upstream_/);
				}
				await assert.rejects(d.client.responses.create({ model: 'fake-text', input: 'hi' }), (err) => {
					assert.equal(err.status, 502);
					validateErrorEnvelope({ error: err.error });
					return true;
				});
				assert.equal(up.chatRequests().length, 0, 'no request got through');
				assert.ok(up.sessions().tcp >= 1, 'the daemon did connect');
				assert.equal(up.sessions().http2, 0);
				assert.equal((await d.request('GET', '/healthz')).status, 200);
				assert.equal(d.exited, null);
				await d.settle();
			} finally {
				await p.stop();
			}
		});
	}

	it('against the plain HTTP/1 upstream: HTTP/1.1', T, async () => {
		const p = await pair({});
		try {
			const { d, up } = p;
			const r = await d.client.responses.create({ model: 'fake-text', input: 'hi' });
			assert.equal(r.output_text, HELLO);
			const events = await collect(await d.client.responses.create({ model: 'fake-text', input: 'hi', stream: true }));
			assert.equal(outputText(checkStream(events).response), HELLO);
			assert.deepEqual(
				up.chatRequests().map((e) => e.httpVersion),
				['1.1', '1.1'],
			);
			assert.equal(up.sessions().http2, 0);
			assert.ok(up.sessions().http1 >= 1);
			await d.settle();
		} finally {
			await p.stop();
		}
	});
});

describe('TLS trust', () => {
	it('http2: true without ca_file: the self-signed upstream is not trusted (502), nothing reaches it', T, async () => {
		const p = await pair(H2_TLS, { http2: true, trust: false });
		try {
			for (const f of await failures(p.d, 'fake-text')) assert.equal(f.status, 502, JSON.stringify(f.envelope));
			assert.equal(p.up.chatRequests().length, 0);
			assert.equal((await p.d.request('GET', '/healthz')).status, 200);
			await p.d.settle();
		} finally {
			await p.stop();
		}
	});
});

describe('config check (-n) of upstreams[].http2', () => {
	const config = (baseUrl, http2) => ({
		listen: { unix: { path: '/tmp/toolhost-cfgcheck-h2/toolhostd.sock' } },
		upstreams: [{ name: 'fake', base_url: baseUrl, default: true, http2 }],
		store: { path: '/tmp/toolhost-cfgcheck-h2/toolhostd.db' },
		log_level: 'info',
	});

	it('true with https:// and false with http:// or https:// are accepted', T, async () => {
		for (const [url, v] of [
			['https://127.0.0.1:9/v1', true],
			['https://127.0.0.1:9/v1', false],
			['http://127.0.0.1:9/v1', false],
		]) {
			const r = await checkConfig(config(url, v));
			assert.equal(r.code, 0, `${url} http2: ${v}: exit ${r.code}: ${r.stderr}`);
		}
	});

	it('a non-boolean ("yes", 1) is refused, naming upstreams[0].http2', T, async () => {
		for (const v of ['yes', 1]) {
			const r = await checkConfig(config('https://127.0.0.1:9/v1', v));
			assert.notEqual(r.code, 0, `http2: ${JSON.stringify(v)} must be refused`);
			assert.match(r.stderr, /upstreams\[0\]\.http2\b/);
			assert.doesNotMatch(r.stderr, /unknown key/, 'refused for its type, not as an unknown key');
		}
	});

	it('true with an http:// base_url is refused, naming upstreams[0].http2', T, async () => {
		const r = await checkConfig(config('http://127.0.0.1:9/v1', true));
		assert.notEqual(r.code, 0, 'HTTP/2 over cleartext must be refused');
		assert.match(r.stderr, /upstreams\[0\]\.http2\b/);
		assert.doesNotMatch(r.stderr, /unknown key/);
	});
});
