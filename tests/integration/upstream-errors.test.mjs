// What an upstream's failure looks like to the caller: a 429 or 503 with Retry-After passes a valid,
// bounded Retry-After on (JSON and stream:true, and the openai SDK waits that long before its retry);
// an invalid one is dropped. GET /v1/models names a failed upstream (502 when none listed its models,
// a 200 with "upstream_errors" when some did) and does not cache the failure: the next call after the
// upstream is back sees its models.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startUpstream } from '../fakes/upstream.mjs';
import { startDaemon } from './lib/harness.mjs';
import { validateErrorEnvelope } from './lib/schema.mjs';

const T = { timeout: 30000 };
const STOP = { timeout: 40000 };

/** POST /v1/responses with fake-status scripted by `script` ("status 429 retry-after 7"); the answer
 * as {status, retryAfter, error} (the envelope checked). stream:true goes with Accept: text/event-stream. */
async function scripted(d, script, stream) {
	const body = { model: 'fake-status', input: script, stream };
	const r = stream ? await d.sse('/v1/responses', body) : await d.request('POST', '/v1/responses', body);
	const text = stream ? r.text : r.body;
	assert.match(String(r.headers['content-type']), /application\/json/, `${script} stream:${stream}: ${text.slice(0, 200)}`);
	return { status: r.status, retryAfter: r.headers['retry-after'], error: validateErrorEnvelope(JSON.parse(text)).error };
}

describe('an upstream 429 / 503 Retry-After reaches the caller', () => {
	let d;
	before(async () => {
		d = await startDaemon();
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, STOP);

	it('429 with Retry-After: 7 -> 429 with Retry-After: 7, for JSON and stream:true', T, async () => {
		for (const stream of [false, true]) {
			const r = await scripted(d, 'status 429 retry-after 7', stream);
			assert.equal(r.status, 429, `stream:${stream}`);
			assert.equal(r.retryAfter, '7', `stream:${stream}: Retry-After`);
			assert.equal(r.error.code, 'rate_limit_exceeded');
		}
	});

	it('503 with Retry-After (seconds or an HTTP date) -> 503 with Retry-After in seconds, for JSON and stream:true', T, async () => {
		for (const stream of [false, true]) {
			const r = await scripted(d, 'status 503 retry-after 7', stream);
			assert.equal(r.status, 503, `stream:${stream}`);
			assert.equal(r.retryAfter, '7', `stream:${stream}: Retry-After`);
			assert.equal(r.error.code, 'upstream_unavailable');
			assert.match(r.error.message, /upstream fake answered HTTP 503/);

			const date = new Date(Date.now() + 30000).toUTCString(); // IMF-fixdate
			const byDate = await scripted(d, `status 503 retry-after ${date}`, stream);
			assert.equal(byDate.status, 503);
			assert.match(String(byDate.retryAfter), /^\d+$/, `an HTTP date is passed on as seconds: ${byDate.retryAfter}`);
			const secs = Number(byDate.retryAfter);
			assert.ok(secs >= 25 && secs <= 30, `Retry-After ${secs} for a date 30 s ahead`);
		}
	});

	it('an invalid, unbounded or misplaced Retry-After is not passed on', T, async () => {
		const bad = ['soon', '-3', '1.5', '7s', '86400', '99999999999999999999', new Date(Date.now() + 2 * 3600 * 1000).toUTCString(), 'Wed, 32 Foo 2026 17:00:00 GMT'];
		for (const stream of [false, true]) {
			for (const v of bad) {
				const r = await scripted(d, `status 429 retry-after ${v}`, stream);
				assert.equal(r.status, 429, `${v}: still a 429`);
				assert.equal(r.retryAfter, undefined, `Retry-After "${v}" (stream:${stream}) must not be passed on`);
			}
			const none = await scripted(d, 'status 503', stream);
			assert.equal(none.status, 503);
			assert.equal(none.retryAfter, undefined, 'no Retry-After from the upstream, none from the daemon');
			// Only 429 and 503 carry it: a 500's goes nowhere (the daemon answers 502).
			const other = await scripted(d, 'status 500 retry-after 7', stream);
			assert.equal(other.status, 502);
			assert.equal(other.retryAfter, undefined);
		}
		// The next answer of the same daemon does not inherit an earlier Retry-After.
		const ok = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'hi' });
		assert.equal(ok.status, 200);
		assert.equal(ok.headers['retry-after'], undefined);
	});

	it('the openai SDK waits as long as the upstream asked before it retries', T, async () => {
		const client = new OpenAI({
			apiKey: 'test',
			baseURL: 'http://localhost/v1',
			maxRetries: 1,
			fetchOptions: { dispatcher: d.agent },
		});
		const from = d.upstream.chatRequests().length;
		await assert.rejects(client.responses.create({ model: 'fake-status', input: 'status 429 retry-after 1' }), (e) => e.status === 429);
		const tries = d.upstream.chatRequests().slice(from);
		assert.equal(tries.length, 2, 'one retry');
		const gap = tries[1].time - tries[0].time;
		// Without the header the SDK's first retry comes after 375-500 ms.
		assert.ok(gap >= 900, `the retry came ${gap} ms after the first try (Retry-After: 1)`);
	});
});

describe('GET /v1/models names a failed upstream and does not cache the failure', () => {
	it('the only upstream down: 502 naming it; back up: the next call lists its models', T, async () => {
		let up = await startUpstream();
		const port = up.port;
		const d = await startDaemon({ upstream: up });
		try {
			// (A listing where every upstream answered is cached for a minute: none is asked for
			// before the upstream goes down.)
			await up.close();
			const down = await d.request('GET', '/v1/models');
			assert.equal(down.status, 502, `with the upstream down: ${down.status} ${down.body.slice(0, 300)}`);
			const e = validateErrorEnvelope(down.json()).error;
			assert.equal(e.code, 'upstream_unreachable');
			assert.match(e.message, /\bfake\b/, `the envelope names the upstream: ${e.message}`);

			up = await startUpstream({ port });
			const back = await d.request('GET', '/v1/models');
			assert.equal(back.status, 200, `with the upstream back: ${back.status} ${back.body.slice(0, 300)}`);
			const list = back.json();
			assert.ok(list.data.some((m) => m.id === 'fake-text'), 'its models at once, not a cached failure');
			assert.equal(list.upstream_errors, undefined);
			assert.equal(d.exited, null);
		} finally {
			await d.stop();
			await up.close();
		}
	});

	it('one of two upstreams failing: 200 with the other one\'s models and upstream_errors naming it; back: listed at once', T, async () => {
		const a = await startUpstream();
		const b = await startUpstream();
		b.modelsStatus = 500;
		const d = await startDaemon({
			upstream: a,
			config: {
				upstreams: [
					{ name: 'a', base_url: a.url, default: true },
					{ name: 'b', base_url: b.url },
				],
			},
		});
		try {
			const r = await d.request('GET', '/v1/models');
			assert.equal(r.status, 200);
			const list = r.json();
			assert.ok(list.data.some((m) => m.id === 'fake-text'), "a's models");
			assert.ok(!list.data.some((m) => m.id.endsWith(':b')), "none of b's");
			assert.equal(list.upstream_errors?.length, 1, JSON.stringify(list.upstream_errors));
			assert.equal(list.upstream_errors[0].upstream, 'b');
			assert.match(list.upstream_errors[0].message, /HTTP 500/);

			// The openai SDK reads such a list as it reads any (it keeps object and data).
			const page = await d.client.models.list();
			assert.ok(page.data.some((m) => m.id === 'fake-text'));

			b.modelsStatus = 200;
			const back = (await d.request('GET', '/v1/models')).json();
			assert.ok(back.data.some((m) => m.id === 'fake-text:b'), "b's models at once");
			assert.equal(back.upstream_errors, undefined);
		} finally {
			try {
				await d.stop();
			} finally {
				await a.close();
				await b.close();
			}
		}
	});
});
