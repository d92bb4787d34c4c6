// WebSocket mode (issue 12) through the real openai SDK's ResponsesWS, over the Unix socket
// (createConnection) and the loopback TCP listener (bearer). Spec: shared/spec/WEBSOCKET-NOTES.md
// §5 and §7 (behaviours 2, 4, 5, 6, 14, 15). Every event is validated against the Open Responses
// schema (validateEvent), every envelope against WebSocketErrorEvent's shape. Every wait is bounded.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { messageText } from '../fakes/upstream.mjs';
import { freePort, startDaemon } from './lib/harness.mjs';
import { validateEvent, validateResponse } from './lib/schema.mjs';

const T = { timeout: 15000 };
const TURN_MS = 8000;
const KEY = 'ws-sdk-key-0123456789';
const KEY2 = 'ws-sdk-other-0123456789';

function assertEnvelope(env, status, code) {
	assert.equal(env?.type, 'error', JSON.stringify(env));
	assert.equal(env.status, status, JSON.stringify(env));
	assert.equal(typeof env.error?.message, 'string');
	assert.equal(typeof env.error?.type, 'string');
	assert.equal(env.error.code, code, JSON.stringify(env));
	return env;
}

// One ResponsesWS; turn(body) sends a response.create and resolves {events, response, envelope}.
function openWS(client, opts) {
	const ws = new ResponsesWS(client, opts);
	let current = null;
	ws.on('event', (e) => {
		if (!current) return;
		if (e.type === 'error') return; // the envelope comes on 'error' too
		current.events.push(e);
		if (['response.completed', 'response.failed', 'response.incomplete'].includes(e.type)) current.done(e.response);
	});
	ws.on('error', (err) => {
		if (current) current.fail(err.error ?? err);
	});
	return {
		ws,
		turn(body) {
			return new Promise((resolve, reject) => {
				const events = [];
				const timer = setTimeout(() => reject(new Error(`no terminal event within ${TURN_MS} ms: ${JSON.stringify(events.map((e) => e.type))}`)), TURN_MS);
				current = {
					events,
					done: (response) => {
						clearTimeout(timer);
						current = null;
						events.forEach((e, i) => {
							assert.equal(e.sequence_number, i, `sequence_number of ${e.type}`);
							validateEvent(e);
						});
						validateResponse(response);
						resolve({ events, response, envelope: null });
					},
					fail: (envelope) => {
						clearTimeout(timer);
						current = null;
						resolve({ events, response: null, envelope });
					},
				};
				ws.send({ type: 'response.create', ...body });
			});
		},
		close: () => ws.close(),
	};
}

describe('ResponsesWS', () => {
	let d;
	let port;
	const unixClient = new OpenAI({ apiKey: 'x', baseURL: 'http://localhost/v1', maxRetries: 0 });
	const tcpClient = (key = KEY) => new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
	const onUnix = () => openWS(unixClient, { createConnection: () => net.connect(d.socketPath) });
	const onTcp = (key) => openWS(tcpClient(key), {});
	const chats = () => d.upstream.chatRequests();

	before(async () => {
		port = await freePort();
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [
					{ name: 'one', key: KEY },
					{ name: 'two', key: KEY2 },
				],
			},
		});
	}, T);
	after(async () => {
		if (d) await d.stop();
	}, T);

	for (const [name, open] of [
		['unix', () => onUnix()],
		['tcp', () => onTcp()],
	]) {
		describe(`over ${name}`, () => {
			it('one turn, then several sequential turns on the same socket', T, async () => {
				const c = open();
				try {
					for (let i = 0; i < 3; i++) {
						const { events, response, envelope } = await c.turn({ model: 'fake-text', input: `echo: turn ${i}`, store: false });
						assert.equal(envelope, null, JSON.stringify(envelope));
						assert.equal(events[0].type, 'response.created');
						assert.equal(response.status, 'completed');
						assert.equal(response.output_text ?? response.output.at(-1).content[0].text, `turn ${i}`);
					}
				} finally {
					c.close();
				}
			});

			it('store:false continuation: the upstream sees prev.input + prev.output + new, in order', T, async () => {
				const c = open();
				try {
					const a = await c.turn({ model: 'fake-text', input: 'echo: first', store: false });
					assert.equal(a.response.status, 'completed');
					const n0 = chats().length;
					const b = await c.turn({ model: 'fake-text', input: 'echo: second', store: false, previous_response_id: a.response.id });
					assert.equal(b.envelope, null, JSON.stringify(b.envelope));
					const msgs = chats()[n0].body.messages.map((m) => `${m.role}:${messageText(m.content)}`);
					assert.deepEqual(msgs.slice(-3), ['user:echo: first', 'assistant:first', 'user:echo: second']);
				} finally {
					c.close();
				}
			});

			it('a store:false id after reconnect: previous_response_not_found on error; a fresh create completes', T, async () => {
				const c = open();
				const a = await c.turn({ model: 'fake-text', input: 'echo: gone', store: false });
				c.close();
				const c2 = open();
				try {
					const b = await c2.turn({ model: 'fake-text', input: 'echo: next', store: false, previous_response_id: a.response.id });
					assertEnvelope(b.envelope, 400, 'previous_response_not_found');
					assert.equal(b.envelope.error.param, 'previous_response_id');
					assert.equal(b.events.length, 0, 'nothing but the envelope');
					const f = await c2.turn({ model: 'fake-text', input: 'echo: fresh', store: false });
					assert.equal(f.response.status, 'completed');
				} finally {
					c2.close();
				}
			});

			it('the cache keeps the 32 latest responses of a socket: the 33rd back is previous_response_not_found', T, async () => {
				const c = open();
				try {
					const ids = [];
					for (let i = 0; i < 33; i++) {
						const { response } = await c.turn({ model: 'fake-text', input: `echo: t${i}`, store: false });
						assert.equal(response.status, 'completed');
						ids.push(response.id);
					}
					const gone = await c.turn({ model: 'fake-text', input: 'echo: from t0', store: false, previous_response_id: ids[0] });
					assertEnvelope(gone.envelope, 400, 'previous_response_not_found');
					const n0 = chats().length;
					const kept = await c.turn({ model: 'fake-text', input: 'echo: from t1', store: false, previous_response_id: ids[1] });
					assert.equal(kept.envelope, null, JSON.stringify(kept.envelope));
					const msgs = chats()[n0].body.messages.map((m) => `${m.role}:${messageText(m.content)}`);
					assert.deepEqual(msgs.slice(-3), ['user:echo: t1', 'assistant:t1', 'user:echo: from t1']);
				} finally {
					c.close();
				}
			});

			it('a failed continuation evicts the cache: reusing its previous_response_id is previous_response_not_found', T, async () => {
				const c = open();
				try {
					const a = await c.turn({ model: 'fake-text', input: 'echo: base', store: false });
					const bad = await c.turn({
						model: 'fake-text',
						store: false,
						previous_response_id: a.response.id,
						input: [{ type: 'function_call_output', call_id: 'call_nosuch', output: 'x' }],
					});
					assert.ok(bad.envelope && bad.envelope.status >= 400 && bad.envelope.status < 500, JSON.stringify(bad.envelope));
					const again = await c.turn({ model: 'fake-text', input: 'echo: again', store: false, previous_response_id: a.response.id });
					assertEnvelope(again.envelope, 400, 'previous_response_not_found');
				} finally {
					c.close();
				}
			});

			it('function tools: a function_call, then its output continues the turn', T, async () => {
				const c = open();
				try {
					const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
					const a = await c.turn({ model: 'fake-tool', input: 'weather?', tools, store: false });
					const call = a.response.output.find((i) => i.type === 'function_call');
					assert.ok(call, JSON.stringify(a.response.output));
					assert.equal(call.name, 'get_weather');
					const b = await c.turn({
						model: 'fake-tool',
						tools,
						store: false,
						previous_response_id: a.response.id,
						input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
					});
					assert.equal(b.response.status, 'completed');
					assert.match(JSON.stringify(b.response.output), /Result was: sunny/);
				} finally {
					c.close();
				}
			});

			it('reasoning and structured outputs', T, async () => {
				const c = open();
				try {
					const r = await c.turn({ model: 'fake-reasoning', input: 'think', reasoning: { effort: 'low' }, store: false });
					assert.ok(r.response.output.some((i) => i.type === 'reasoning'), JSON.stringify(r.response.output));
					const s = await c.turn({
						model: 'fake-json',
						input: 'who',
						store: false,
						text: { format: { type: 'json_schema', name: 'p', schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' } } } } },
					});
					const text = s.response.output.find((i) => i.type === 'message').content[0].text;
					assert.deepEqual(JSON.parse(text), { name: 'Ada', age: 36 });
				} finally {
					c.close();
				}
			});
		});
	}

	it('compact output (POST /v1/responses/compact) fed to a WS turn completes', T, async () => {
		const res = await d.request('POST', '/v1/responses/compact', { model: 'fake-summarize', input: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] });
		assert.equal(res.status, 200, res.body);
		const c = onUnix();
		try {
			const t = await c.turn({ model: 'fake-text', input: [...res.json().output, { role: 'user', content: 'echo: after compact' }], store: false });
			assert.equal(t.envelope, null, JSON.stringify(t.envelope));
			assert.equal(t.response.status, 'completed');
		} finally {
			c.close();
		}
	});

	it('store:true from socket A continues on socket B for the same caller only', T, async () => {
		const a = onTcp(KEY);
		const first = await a.turn({ model: 'fake-text', input: 'echo: stored', store: true });
		a.close();
		const b = onTcp(KEY);
		const other = onTcp(KEY2);
		try {
			const ok = await b.turn({ model: 'fake-text', input: 'echo: same caller', store: true, previous_response_id: first.response.id });
			assert.equal(ok.response?.status, 'completed', JSON.stringify(ok.envelope));
			const no = await other.turn({ model: 'fake-text', input: 'echo: other', store: true, previous_response_id: first.response.id });
			assertEnvelope(no.envelope, 400, 'previous_response_not_found');
		} finally {
			b.close();
			other.close();
		}
	});
});
