// toolhostd as a process and an HTTP server: config check (-n), health, request hygiene, keep-alive,
// caller disconnects, shutdown with work in flight, restart persistence, upstream credentials.
// Raw HTTP over the Unix socket; every body checked against the schema.

import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkConfig, startDaemon } from './lib/harness.mjs';
import { validateErrorEnvelope, validateResponse } from './lib/schema.mjs';
import { checkFraming, checkStream, outputText } from './lib/sse.mjs';

const T = { timeout: 30000 };
const STOP = { timeout: 40000 };

function baseConfig() {
	const dir = path.join(os.tmpdir(), 'toolhost-cfgcheck');
	return {
		listen: { unix: { path: path.join(dir, 'toolhostd.sock') } },
		upstreams: [{ name: 'fake', base_url: 'http://127.0.0.1:9/v1', default: true }],
		store: { path: path.join(dir, 'toolhostd.db') },
		log_level: 'info',
	};
}

describe('config check (-n)', () => {
	it('a valid config exits 0', T, async () => {
		const r = await checkConfig(baseConfig());
		assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
	});

	it('an unknown key fails and names the key', T, async () => {
		const r = await checkConfig({ ...baseConfig(), bogus_key: 1 });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /bogus_key/);
	});

	it('a bad upstream base_url fails and names the key path', T, async () => {
		const c = baseConfig();
		c.upstreams[0].base_url = 'ftp://127.0.0.1/v1';
		const r = await checkConfig(c);
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /upstreams\[0\]\.base_url/);
	});

	it('an unset api_key_env fails, naming the variable', T, async () => {
		const c = baseConfig();
		c.upstreams[0].api_key_env = 'TOOLHOST_IT_SURELY_UNSET_VAR';
		const r = await checkConfig(c, { env: { TOOLHOST_IT_SURELY_UNSET_VAR: undefined } });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /TOOLHOST_IT_SURELY_UNSET_VAR/);
	});

	it('a non-loopback TCP listener is refused', T, async () => {
		const r = await checkConfig({
			...baseConfig(),
			listen: { tcp: { address: '0.0.0.0', port: 8787 } },
			api_keys: [{ name: 'ci', key: 'k' }],
		});
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /address/);
	});

	it('malformed JSON fails', T, async () => {
		const r = await checkConfig('{"listen": ');
		assert.notEqual(r.code, 0);
		assert.ok(r.stderr.length > 0, 'a message on stderr');
	});
});

describe('HTTP surface', () => {
	let d;
	before(async () => {
		d = await startDaemon();
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);
	afterEach(async () => {
		if (d) await d.settle();
	});

	it('GET /healthz is 200; GET /v1/models is a list', T, async () => {
		assert.equal((await d.request('GET', '/healthz')).status, 200);
		const m = await d.request('GET', '/v1/models');
		assert.equal(m.status, 200);
		const body = m.json();
		assert.equal(body.object, 'list');
		assert.ok(Array.isArray(body.data));
	});

	it('malformed JSON body: 400 with the error envelope', T, async () => {
		const r = await d.request('POST', '/v1/responses', '{"model": "fake-text", "input": ');
		assert.equal(r.status, 400);
		validateErrorEnvelope(r.json());
	});

	it('an unknown request field is rejected (400 unknown_parameter), not ignored', T, async () => {
		const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi', frobnicate: true });
		assert.equal(r.status, 400);
		const e = validateErrorEnvelope(r.json()).error;
		assert.equal(e.code, 'unknown_parameter');
		assert.match(`${e.param} ${e.message}`, /frobnicate/);
	});

	it('a bad field value is a 400 naming the param', T, async () => {
		const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi', temperature: 'hot' });
		assert.equal(r.status, 400);
		const e = validateErrorEnvelope(r.json()).error;
		assert.match(`${e.param} ${e.message}`, /temperature/);
	});

	it('a request without Authorization does not crash the daemon', T, async () => {
		const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi' }, { authorization: null });
		assert.ok([200, 401].includes(r.status), `status ${r.status}`);
		if (r.status === 200) validateResponse(r.json());
		else validateErrorEnvelope(r.json());
		assert.equal((await d.request('GET', '/healthz')).status, 200);
		assert.equal(d.exited, null);
	});

	it('OpenResponses-Version: accepted, answered with the version served', T, async () => {
		for (const v of ['latest', '2026-04-24', '2026-01-15']) {
			const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi' }, { 'openresponses-version': v });
			assert.equal(r.status, 200, `version ${v}: ${r.body.slice(0, 200)}`);
			validateResponse(r.json());
			assert.match(String(r.headers['openresponses-version']), /^\d{4}-\d{2}-\d{2}$/);
		}
	});

	it('an unknown path is a 404 envelope', T, async () => {
		const r = await d.request('GET', '/v1/nothing-here');
		assert.equal(r.status, 404);
		validateErrorEnvelope(r.json());
	});

	it('8 concurrent streams each get their own complete, ordered stream', T, async () => {
		const results = await Promise.all(
			Array.from({ length: 8 }, (_, i) =>
				d.sse('/v1/responses', { model: 'fake-text', input: `echo: stream number ${i}`, stream: true }),
			),
		);
		results.forEach((res, i) => {
			assert.equal(res.status, 200);
			const { events } = checkFraming(res.frames);
			const { response } = checkStream(events);
			assert.equal(outputText(response), `stream number ${i}`);
		});
	});

	it('a caller that disconnects mid-stream stops the upstream transfer', T, async () => {
		const n = d.upstream.chatRequests().length;
		const res = await d.sse(
			'/v1/responses',
			{ model: 'fake-slow', input: 'tick', stream: true },
			{
				onFrame(f, ctl) {
					if (f.kind === 'event' && f.event === 'response.output_text.delta') ctl.abort();
				},
			},
		);
		assert.ok(res.aborted);
		await d.upstream.waitFor(() => d.upstream.chatRequests().length > n, 3000, 'the upstream request');
		const up = d.upstream.chatRequests()[n];
		await d.upstream.waitFor(() => up.aborted || up.finished, 3000, 'the upstream request to end');
		assert.ok(up.aborted, `the upstream stream must be closed early (wrote ${up.chunksWritten} chunks, finished=${up.finished})`);
		assert.equal((await d.request('GET', '/healthz')).status, 200);
	});

	it('a caller that gives up while the upstream has not answered stops the upstream request', T, async () => {
		const n = d.upstream.chatRequests().length;
		await assert.rejects(d.request('POST', '/v1/responses', { model: 'fake-hang', input: 'hi' }, {}, { timeoutMs: 500 }));
		await d.upstream.waitFor(() => d.upstream.chatRequests().length > n, 3000, 'the upstream request');
		const up = d.upstream.chatRequests()[n];
		await d.upstream.waitFor(() => up.aborted, 5000, 'the upstream request to be closed by the daemon');
	});
});

describe('keep-alive', () => {
	let d;
	before(async () => {
		d = await startDaemon({ config: { limits: { keepalive_s: 1 } } });
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	it('SSE comments keep the stream alive while the upstream is silent', T, async () => {
		const res = await d.sse('/v1/responses', { model: 'fake-stall', input: 'hi', stream: true });
		assert.equal(res.status, 200);
		const firstDelta = res.frames.findIndex((f) => f.kind === 'event' && f.event === 'response.output_text.delta');
		assert.ok(firstDelta >= 0);
		const during = res.frames.slice(firstDelta + 1).findIndex((f) => f.kind === 'event');
		const silentPart = res.frames.slice(firstDelta + 1, firstDelta + 1 + during);
		assert.ok(
			silentPart.some((f) => f.kind === 'comment'),
			`a keep-alive comment during the 3 s upstream silence; frames: ${JSON.stringify(res.frames.map((f) => [f.kind, f.event ?? f.text, f.at]))}`,
		);
		const { events } = checkFraming(res.frames);
		const { response } = checkStream(events);
		assert.equal(outputText(response), 'Hello after the stall');
	});
});

describe('process lifecycle', () => {
	it('stored responses survive kill -9 and a restart; chains continue', T, async () => {
		const d = await startDaemon();
		try {
			const r = await d.client.responses.create({ model: 'fake-text', input: 'echo: remember me' });
			assert.equal(r.output_text, 'remember me');
			await d.kill9();
			await d.restart();
			const got = await d.client.responses.retrieve(r.id);
			validateResponse(got);
			assert.deepEqual(got.output, r.output);
			const r2 = await d.client.responses.create({ model: 'fake-text', previous_response_id: r.id, input: 'echo: again' });
			assert.equal(r2.output_text, 'again');
			assert.equal(d.upstream.lastChat().body.messages.length, 3);
			await d.settle();
		} finally {
			await d.stop();
		}
	});

	it('SIGTERM with a request in flight: the request gets an answer, the daemon exits 0', T, async () => {
		const d = await startDaemon({ config: { limits: { drain_timeout_s: 1 } } });
		let stopped = false;
		try {
			const n = d.upstream.chatRequests().length;
			const inflight = d.request('POST', '/v1/responses', { model: 'fake-hang', input: 'hi' }, {}, { timeoutMs: 20000 }).then(
				(r) => r,
				(e) => e,
			);
			await d.upstream.waitFor(() => d.upstream.chatRequests().length > n, 3000, 'the upstream request');
			const t0 = Date.now();
			await d.stop(); // asserts exit code 0 and a clean log
			stopped = true;
			assert.ok(Date.now() - t0 < 15000, `shutdown took ${Date.now() - t0} ms with drain_timeout_s 1`);
			const r = await inflight;
			if (!(r instanceof Error)) {
				assert.ok(r.status >= 500 && r.status <= 599, `in-flight request: status ${r.status}`);
				validateErrorEnvelope(r.json());
			}
		} finally {
			if (!stopped) await d.stop();
		}
	});

	it('the upstream gets the configured key, never the caller token; the key is not logged', T, async () => {
		const secret = 'sk-toolhost-it-0123456789abcdef';
		const d = await startDaemon({
			upstreamConfig: { api_key_env: 'TOOLHOST_IT_UPSTREAM_KEY' },
			env: { TOOLHOST_IT_UPSTREAM_KEY: secret },
		});
		try {
			const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi' }, { authorization: 'Bearer caller-token' });
			assert.equal(r.status, 200);
			assert.ok(!r.body.includes(secret), 'the key is not in the response');
			const up = d.upstream.lastChat();
			assert.equal(up.headers.authorization, `Bearer ${secret}`);
			await sleep(100);
			assert.ok(!d.stderr.includes(secret), 'the key is not in the log (log_level debug)');
			assert.ok(!d.stderr.includes('caller-token'), 'the caller token is not in the log');
		} finally {
			await d.stop();
		}
	});
});
