// toolhostd through the official openai SDK (over the Unix socket), against the scripted fake upstream.
// Every JSON answer and SSE event the SDK receives is also checked on the wire (lib/wire.mjs:
// schema + stream rules); afterEach(settle) fails the test that caused a problem.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { messageText, TEXT } from '../fakes/upstream.mjs';
import { startDaemon } from './lib/harness.mjs';
import { validateErrorEnvelope, validateEvent, validateInputItemsList, validateResponse } from './lib/schema.mjs';
import { checkFraming, checkStream, outputText } from './lib/sse.mjs';

const T = { timeout: 30000 };

const weatherTool = {
	type: 'function',
	name: 'get_weather',
	description: 'The current weather of a city',
	parameters: {
		type: 'object',
		properties: { city: { type: 'string' } },
		required: ['city'],
		additionalProperties: false,
	},
	strict: true,
};
const timeTool = {
	type: 'function',
	name: 'get_time',
	description: 'The current time in a time zone',
	parameters: {
		type: 'object',
		properties: { tz: { type: 'string' } },
		required: ['tz'],
		additionalProperties: false,
	},
	strict: true,
};

let d;
before(async () => {
	d = await startDaemon();
}, T);
after(async () => {
	if (d) await d.stop();
}, { timeout: 40000 });
afterEach(async () => {
	if (d) await d.settle();
});

const chats = () => d.upstream.chatRequests();
const lastChat = () => {
	const c = d.upstream.lastChat();
	assert.ok(c, 'the upstream got no chat request');
	return c.body;
};
// role + text of each upstream message, for order checks
const transcript = (messages) => messages.map((m) => [m.role, messageText(m.content)]);

async function collect(stream) {
	const events = [];
	for await (const e of stream) {
		validateEvent(e);
		events.push(e);
	}
	return events;
}

// An error thrown by the SDK: a 4xx/5xx (never 200) whose body is the error envelope.
async function rejectsWithEnvelope(promise, check) {
	let err;
	try {
		await promise;
	} catch (e) {
		err = e;
	}
	assert.ok(err, 'the call must fail');
	assert.ok(Number.isInteger(err.status), `an HTTP error with a status, got ${err?.constructor?.name}: ${err?.message}`);
	assert.ok(err.status >= 400 && err.status <= 599, `status ${err.status}`);
	validateErrorEnvelope({ error: err.error });
	if (check) check(err);
	return err;
}

describe('responses.create (JSON)', () => {
	it('text: output_text, usage, status, id prefix; the upstream request', T, async () => {
		const r = await d.client.responses.create({ model: 'fake-text', input: 'Say hello' });
		validateResponse(r);
		assert.match(r.id, /^resp_/);
		assert.equal(r.object, 'response');
		assert.equal(r.status, 'completed');
		assert.equal(r.model, 'fake-text');
		assert.equal(r.output_text, 'Hello from fake');
		assert.equal(r.error, null);
		assert.equal(r.incomplete_details, null);
		assert.equal(typeof r.completed_at, 'number');
		assert.equal(r.output.length, 1);
		const m = r.output[0];
		assert.equal(m.type, 'message');
		assert.equal(m.role, 'assistant');
		assert.equal(m.status, 'completed');
		assert.match(m.id, /^msg_/);
		assert.deepEqual(
			m.content.map((p) => [p.type, p.text]),
			[['output_text', 'Hello from fake']],
		);
		assert.deepEqual(m.content[0].annotations, []);
		assert.ok(r.usage, 'usage');
		assert.ok(r.usage.input_tokens > 0, 'input_tokens');
		assert.equal(r.usage.output_tokens, 3);
		assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);

		const up = lastChat();
		assert.equal(up.model, 'fake-text');
		assert.equal(up.stream, true, 'the daemon streams from the upstream');
		assert.equal(up.stream_options?.include_usage, true, 'stream_options.include_usage requested');
		assert.deepEqual(up.messages, [{ role: 'user', content: 'Say hello' }]);
		// The caller's own bearer ("test") is not forwarded by default.
		assert.notEqual(d.upstream.lastChat().headers.authorization, 'Bearer test');
	});

	it('input as items; instructions become the first (system) message', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-text',
			instructions: 'Be brief.',
			input: [
				{ role: 'developer', content: 'Answer in English.' },
				{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'echo: brief answer' }] },
			],
		});
		validateResponse(r);
		assert.equal(r.output_text, 'brief answer');
		assert.equal(r.instructions, 'Be brief.');
		const msgs = lastChat().messages;
		assert.equal(msgs.length, 3);
		assert.deepEqual(transcript(msgs.slice(0, 1)), [['system', 'Be brief.']], 'instructions first, as system');
		assert.ok(['system', 'developer'].includes(msgs[1].role), `developer maps to system/developer, got ${msgs[1].role}`);
		assert.equal(messageText(msgs[1].content), 'Answer in English.');
		assert.deepEqual(transcript(msgs.slice(2)), [['user', 'echo: brief answer']]);
	});

	it('metadata, temperature and max_output_tokens are echoed and forwarded', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-text',
			input: 'hi',
			metadata: { ticket: 'T-1' },
			temperature: 0.25,
			max_output_tokens: 64,
		});
		validateResponse(r);
		assert.deepEqual(r.metadata, { ticket: 'T-1' });
		assert.equal(r.temperature, 0.25);
		assert.equal(r.max_output_tokens, 64);
		const up = lastChat();
		assert.equal(up.temperature, 0.25);
		assert.ok(up.max_tokens === 64 || up.max_completion_tokens === 64, 'max_output_tokens -> max_tokens');
	});
});

describe('streaming', () => {
	it('events: sequence numbers, order, deltas join to the done text, ids and indexes agree', T, async () => {
		const stream = await d.client.responses.create({ model: 'fake-text', input: 'Say hello', stream: true });
		const events = await collect(stream);
		const { response: final, items } = checkStream(events);
		const types = events.map((e) => e.type);
		assert.deepEqual(
			events.map((e) => e.sequence_number),
			events.map((_, i) => i),
		);
		assert.equal(types[0], 'response.created');
		assert.equal(types[1], 'response.in_progress');
		assert.equal(types.at(-1), 'response.completed');
		assert.equal(events[0].response.status, 'in_progress');
		assert.deepEqual(events[0].response.output, []);

		const added = events.find((e) => e.type === 'response.output_item.added');
		assert.equal(added.output_index, 0);
		const deltas = events.filter((e) => e.type === 'response.output_text.delta');
		assert.ok(deltas.length >= 1);
		for (const e of deltas) {
			assert.equal(e.item_id, added.item.id);
			assert.equal(e.output_index, 0);
			assert.equal(e.content_index, 0);
		}
		const done = events.find((e) => e.type === 'response.output_text.done');
		assert.equal(deltas.map((e) => e.delta).join(''), 'Hello from fake');
		assert.equal(done.text, 'Hello from fake');
		assert.equal(items.length, 1);
		assert.equal(final.status, 'completed');
		assert.equal(outputText(final), 'Hello from fake');
		assert.ok(final.usage && final.usage.output_tokens === 3, 'usage in response.completed');

		// The stored response is the final snapshot.
		const got = await d.client.responses.retrieve(final.id);
		validateResponse(got);
		assert.deepEqual(got.output, final.output);
		assert.equal(got.status, 'completed');
	});

	it('raw SSE framing: event line = type, one JSON data line, data: [DONE] last', T, async () => {
		const res = await d.sse('/v1/responses', { model: 'fake-text', input: 'echo: raw framing', stream: true });
		assert.equal(res.status, 200);
		assert.match(String(res.headers['content-type']), /^text\/event-stream/);
		const { events, done } = checkFraming(res.frames);
		assert.ok(done);
		const { response } = checkStream(events);
		assert.equal(outputText(response), 'raw framing');
		const last = res.frames.filter((f) => f.kind === 'event').at(-1);
		assert.equal(last.data, '[DONE]');
	});

	it('responses.stream() helper: finalResponse and delta callbacks', T, async () => {
		const s = d.client.responses.stream({ model: 'fake-text', input: 'Say hello' });
		let deltas = '';
		s.on('response.output_text.delta', (e) => {
			deltas += e.delta;
		});
		const final = await s.finalResponse();
		validateResponse(final);
		assert.equal(deltas, 'Hello from fake');
		assert.equal(final.output_text, 'Hello from fake');
	});
});

describe('structured output', () => {
	it('responses.parse with a zod schema (fake-json)', T, async () => {
		const Person = z.object({ name: z.string(), age: z.number() });
		const r = await d.client.responses.parse({
			model: 'fake-json',
			input: 'Who is Ada?',
			text: { format: zodTextFormat(Person, 'person') },
		});
		validateResponse(r); // with RESPONSES-NOTES 1.4's schema patch (see lib/schema.mjs)
		assert.deepEqual(r.output_parsed, { name: 'Ada', age: 36 });
		assert.equal(r.text.format.type, 'json_schema');
		assert.equal(r.text.format.name, 'person');
		const rf = lastChat().response_format;
		assert.equal(rf?.type, 'json_schema');
		assert.equal(rf.json_schema.name, 'person');
		assert.equal(rf.json_schema.strict, true);
		assert.deepEqual(Object.keys(rf.json_schema.schema.properties).sort(), ['age', 'name']);
	});

	it('text.format json_schema with a plain JSON schema', T, async () => {
		const schema = {
			type: 'object',
			properties: { name: { type: 'string' }, age: { type: 'integer' } },
			required: ['name', 'age'],
			additionalProperties: false,
		};
		const r = await d.client.responses.create({
			model: 'fake-json',
			input: 'Who is Ada?',
			text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
		});
		validateResponse(r);
		assert.deepEqual(JSON.parse(r.output_text), { name: 'Ada', age: 36 });
		assert.deepEqual(r.text.format.schema, schema);
		assert.deepEqual(lastChat().response_format, {
			type: 'json_schema',
			json_schema: { name: 'person', schema, strict: true },
		});
	});
});

describe('function calling', () => {
	it('round trip with previous_response_id (fake-tool)', T, async () => {
		const r1 = await d.client.responses.create({
			model: 'fake-tool',
			input: 'What is the weather in Paris?',
			tools: [weatherTool],
		});
		validateResponse(r1);
		assert.equal(r1.status, 'completed');
		assert.equal(r1.output.length, 1);
		const call = r1.output[0];
		assert.equal(call.type, 'function_call');
		assert.equal(call.name, 'get_weather');
		assert.equal(call.arguments, '{"city":"Paris"}');
		assert.equal(call.status, 'completed');
		assert.ok(call.call_id, 'call_id');
		assert.match(call.id, /^fc_/);
		assert.deepEqual(r1.tools, [weatherTool]);

		const up1 = lastChat();
		assert.deepEqual(up1.tools, [
			{
				type: 'function',
				function: {
					name: 'get_weather',
					description: weatherTool.description,
					parameters: weatherTool.parameters,
					strict: true,
				},
			},
		]);

		const r2 = await d.client.responses.create({
			model: 'fake-tool',
			previous_response_id: r1.id,
			input: [{ type: 'function_call_output', call_id: call.call_id, output: '22C and sunny' }],
			tools: [weatherTool],
		});
		validateResponse(r2);
		assert.equal(r2.previous_response_id, r1.id);
		assert.equal(r2.output_text, 'Result was: 22C and sunny');

		const msgs = lastChat().messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'tool'],
		);
		assert.equal(messageText(msgs[0].content), 'What is the weather in Paris?');
		assert.equal(msgs[1].tool_calls?.length, 1, 'the call is an assistant message with tool_calls');
		assert.deepEqual(msgs[1].tool_calls[0], {
			id: call.call_id,
			type: 'function',
			function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
		});
		assert.equal(msgs[2].tool_call_id, call.call_id);
		assert.equal(messageText(msgs[2].content), '22C and sunny');
	});

	it('stateless round trip: the whole history as input, store:false', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-tool',
			store: false,
			tools: [weatherTool],
			input: [
				{ role: 'user', content: 'What is the weather in Paris?' },
				{ type: 'function_call', call_id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' },
				{ type: 'function_call_output', call_id: 'call_abc', output: '18C' },
			],
		});
		validateResponse(r);
		assert.equal(r.store, false);
		assert.equal(r.output_text, 'Result was: 18C');
		const msgs = lastChat().messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'tool'],
		);
		assert.equal(msgs[1].tool_calls[0].id, 'call_abc');
		assert.equal(msgs[1].tool_calls[0].function.name, 'get_weather');
		assert.equal(msgs[1].tool_calls[0].function.arguments, '{"city":"Paris"}');
		assert.equal(msgs[2].tool_call_id, 'call_abc');
		assert.equal(messageText(msgs[2].content), '18C');
	});

	it('streamed function call: arguments deltas join to the done arguments', T, async () => {
		const events = await collect(
			await d.client.responses.create({
				model: 'fake-tool',
				input: 'What is the weather in Paris?',
				tools: [weatherTool],
				stream: true,
			}),
		);
		const { response } = checkStream(events);
		const added = events.find((e) => e.type === 'response.output_item.added');
		assert.equal(added.item.type, 'function_call');
		assert.equal(added.item.name, 'get_weather');
		const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta');
		assert.ok(deltas.length >= 1);
		assert.equal(deltas.map((e) => e.delta).join(''), '{"city":"Paris"}');
		for (const e of deltas) assert.equal(e.item_id, added.item.id);
		const done = events.find((e) => e.type === 'response.function_call_arguments.done');
		assert.equal(done.arguments, '{"city":"Paris"}');
		assert.equal(response.output[0].arguments, '{"city":"Paris"}');
	});

	it('parallel calls (interleaved upstream deltas): two items, distinct output_index and call ids', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-parallel',
			input: 'Weather and time in Paris?',
			tools: [weatherTool, timeTool],
		});
		validateResponse(r);
		const calls = r.output.filter((i) => i.type === 'function_call');
		assert.equal(calls.length, 2);
		assert.notEqual(calls[0].call_id, calls[1].call_id);
		assert.notEqual(calls[0].id, calls[1].id);
		const byName = Object.fromEntries(calls.map((c) => [c.name, c]));
		assert.deepEqual(JSON.parse(byName.get_weather.arguments), { city: 'Paris' });
		assert.deepEqual(JSON.parse(byName.get_time.arguments), { tz: 'Europe/Paris' });

		// The same, streamed: each item at its own output_index, each delta routed to its item.
		const events = await collect(
			await d.client.responses.create({
				model: 'fake-parallel',
				input: 'Weather and time in Paris?',
				tools: [weatherTool, timeTool],
				stream: true,
			}),
		);
		const { response, items } = checkStream(events);
		assert.equal(items.length, 2);
		assert.deepEqual(
			items.map((i) => i.index),
			[0, 1],
		);
		const args = Object.fromEntries(items.map((i) => [i.added.name, i.args]));
		assert.equal(args.get_weather, '{"city":"Paris"}');
		assert.equal(args.get_time, '{"tz":"Europe/Paris"}');
		assert.equal(response.output.filter((i) => i.type === 'function_call').length, 2);

		// Round trip through previous_response_id: both calls in ONE assistant message, then both results.
		const out = { get_weather: '18C', get_time: '14:00' };
		const r2 = await d.client.responses.create({
			model: 'fake-parallel',
			previous_response_id: r.id,
			tools: [weatherTool, timeTool],
			input: calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: out[c.name] })),
		});
		validateResponse(r2);
		assert.equal(r2.output_text, `Result was: ${out[calls[0].name]}; ${out[calls[1].name]}`);
		const msgs = lastChat().messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'tool', 'tool'],
		);
		assert.deepEqual(
			msgs[1].tool_calls.map((c) => c.id),
			calls.map((c) => c.call_id),
		);
		assert.deepEqual(
			msgs.slice(2).map((m) => m.tool_call_id),
			calls.map((c) => c.call_id),
		);
	});

	it('tool_choice is forwarded; "none" suppresses a call the model makes anyway', T, async () => {
		const forced = await d.client.responses.create({
			model: 'fake-tool',
			input: 'Weather?',
			tools: [weatherTool],
			tool_choice: { type: 'function', name: 'get_weather' },
		});
		validateResponse(forced);
		assert.deepEqual(lastChat().tool_choice, { type: 'function', function: { name: 'get_weather' } });
		assert.equal(forced.output.filter((i) => i.type === 'function_call').length, 1);

		const r = await d.client.responses.create({
			model: 'fake-tool',
			input: 'Weather?',
			tools: [weatherTool],
			tool_choice: 'none',
		});
		validateResponse(r);
		assert.equal(lastChat().tool_choice, 'none');
		assert.deepEqual(
			r.output.filter((i) => i.type === 'function_call'),
			[],
			'tool_choice "none": no function_call item (spec: MUST NOT call tools)',
		);
	});

	it('allowed_tools is a hard constraint: a call outside the list is suppressed', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-parallel',
			input: 'Weather and time?',
			tools: [weatherTool, timeTool],
			tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'get_weather' }] },
		});
		validateResponse(r);
		// every tool is still shown to the model
		assert.deepEqual(
			lastChat()
				.tools.map((t) => t.function.name)
				.sort(),
			['get_time', 'get_weather'],
		);
		assert.deepEqual(
			r.output.filter((i) => i.type === 'function_call').map((i) => i.name),
			['get_weather'],
		);
		assert.deepEqual(r.tool_choice, {
			type: 'allowed_tools',
			mode: 'auto',
			tools: [{ type: 'function', name: 'get_weather' }],
		});
	});

	it('parallel_tool_calls:false is forwarded and keeps one call', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-parallel',
			input: 'Weather and time?',
			tools: [weatherTool, timeTool],
			parallel_tool_calls: false,
		});
		validateResponse(r);
		assert.equal(r.parallel_tool_calls, false);
		assert.equal(lastChat().parallel_tool_calls, false);
		assert.equal(r.output.filter((i) => i.type === 'function_call').length, 1);
	});

	it('consecutive function_call input items merge into one assistant message', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-parallel',
			store: false,
			tools: [weatherTool, timeTool],
			input: [
				{ role: 'user', content: 'Weather and time?' },
				{ type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Oslo"}' },
				{ type: 'function_call', call_id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' },
				{ type: 'function_call_output', call_id: 'call_a', output: '-3C' },
				{ type: 'function_call_output', call_id: 'call_b', output: '09:15' },
			],
		});
		validateResponse(r);
		assert.equal(r.output_text, 'Result was: -3C; 09:15');
		const msgs = lastChat().messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'tool', 'tool'],
		);
		assert.deepEqual(
			msgs[1].tool_calls.map((c) => [c.id, c.function.name]),
			[
				['call_a', 'get_weather'],
				['call_b', 'get_time'],
			],
		);
		assert.deepEqual(
			msgs.slice(2).map((m) => [m.tool_call_id, messageText(m.content)]),
			[
				['call_a', '-3C'],
				['call_b', '09:15'],
			],
		);
	});
});

describe('reasoning', () => {
	for (const model of ['fake-reasoning', 'fake-reasoning2']) {
		it(`${model}: a reasoning item with reasoning_text, then the message`, T, async () => {
			const r = await d.client.responses.create({ model, input: 'What is the answer?' });
			validateResponse(r);
			assert.deepEqual(
				r.output.map((i) => i.type),
				['reasoning', 'message'],
			);
			const rs = r.output[0];
			assert.deepEqual(rs.content, [{ type: 'reasoning_text', text: TEXT.reasoning.join('') }]);
			assert.ok(Array.isArray(rs.summary));
			assert.notEqual(rs.encrypted_content, null, 'encrypted_content is omitted, never null');
			assert.equal(r.output_text, TEXT.answer.join(''));
			assert.equal(r.usage.output_tokens_details.reasoning_tokens, 3);

			const events = await collect(await d.client.responses.create({ model, input: 'What is the answer?', stream: true }));
			const { response } = checkStream(events);
			const deltas = events.filter((e) => e.type === 'response.reasoning.delta');
			assert.ok(deltas.length >= 1, 'response.reasoning.delta events');
			assert.equal(deltas.map((e) => e.delta).join(''), TEXT.reasoning.join(''));
			const done = events.find((e) => e.type === 'response.reasoning.done');
			assert.ok(done, 'response.reasoning.done');
			assert.equal(done.text, TEXT.reasoning.join(''));
			assert.equal(done.item_id, response.output[0].id);
			assert.equal(done.output_index, 0);
			assert.equal(outputText(response), TEXT.answer.join(''));
			assert.equal(
				events.filter((e) => e.type === 'response.output_text.delta').every((e) => e.output_index === 1),
				true,
			);
		});
	}

	it('reasoning items given back as input are accepted', T, async () => {
		const r1 = await d.client.responses.create({ model: 'fake-reasoning', input: 'What is the answer?' });
		const r2 = await d.client.responses.create({
			model: 'fake-text',
			input: [{ role: 'user', content: 'What is the answer?' }, ...r1.output, { role: 'user', content: 'echo: next' }],
		});
		validateResponse(r2);
		assert.equal(r2.output_text, 'next');
		const msgs = lastChat().messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'user'],
		);
		assert.equal(messageText(msgs[1].content), TEXT.answer.join(''));
	});
});

describe('input and context', () => {
	it('images (URL and data: URL) reach the upstream as image_url parts', T, async () => {
		const dataUrl = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
		const r = await d.client.responses.create({
			model: 'fake-image',
			input: [
				{
					role: 'user',
					content: [
						{ type: 'input_text', text: 'What is in these images?' },
						{ type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'auto' },
						{ type: 'input_image', image_url: dataUrl, detail: 'low' },
					],
				},
			],
		});
		validateResponse(r);
		assert.equal(r.output_text, 'image:2');
		const content = lastChat().messages.at(-1).content;
		assert.ok(Array.isArray(content), 'mixed content stays an array of parts');
		assert.deepEqual(
			content.map((p) => p.type),
			['text', 'image_url', 'image_url'],
		);
		assert.equal(content[0].text, 'What is in these images?');
		assert.equal(content[1].image_url.url, 'https://example.com/cat.png');
		assert.equal(content[2].image_url.url, dataUrl);
		assert.equal(content[2].image_url.detail, 'low');
	});

	it('a 300 KB data: URL image is accepted (no small body limit)', T, async () => {
		const big = 'data:image/png;base64,' + Buffer.alloc(225 * 1024, 7).toString('base64');
		const r = await d.client.responses.create({
			model: 'fake-image',
			input: [{ role: 'user', content: [{ type: 'input_image', image_url: big }] }],
		});
		assert.equal(r.output_text, 'image:1');
		assert.equal(lastChat().messages.at(-1).content[0].image_url.url, big);
	});

	it('previous_response_id chain of 3: the upstream sees the whole history in order', T, async () => {
		const r1 = await d.client.responses.create({ model: 'fake-text', input: 'echo: one' });
		const r2 = await d.client.responses.create({ model: 'fake-text', previous_response_id: r1.id, input: 'echo: two' });
		const r3 = await d.client.responses.create({ model: 'fake-text', previous_response_id: r2.id, input: 'echo: three' });
		for (const r of [r1, r2, r3]) validateResponse(r);
		assert.deepEqual(
			[r1, r2, r3].map((r) => r.output_text),
			['one', 'two', 'three'],
		);
		assert.equal(r3.previous_response_id, r2.id);
		assert.deepEqual(transcript(lastChat().messages), [
			['user', 'echo: one'],
			['assistant', 'one'],
			['user', 'echo: two'],
			['assistant', 'two'],
			['user', 'echo: three'],
		]);
	});

	it('unknown previous_response_id: 404 previous_response_not_found, nothing sent upstream', T, async () => {
		const n = chats().length;
		const err = await rejectsWithEnvelope(
			d.client.responses.create({ model: 'fake-text', previous_response_id: 'resp_doesnotexist', input: 'hi' }),
		);
		assert.equal(err.status, 404);
		assert.equal(err.code, 'previous_response_not_found');
		// stream:true fails the same way, before any SSE
		const raw = await d.request('POST', '/v1/responses', {
			model: 'fake-text',
			previous_response_id: 'resp_doesnotexist',
			input: 'hi',
			stream: true,
		});
		assert.equal(raw.status, 404);
		assert.match(String(raw.headers['content-type']), /application\/json/);
		assert.equal(validateErrorEnvelope(raw.json()).error.code, 'previous_response_not_found');
		assert.equal(chats().length, n);
	});
});

describe('stored responses', () => {
	it('retrieve, input_items (order), delete, then 404', T, async () => {
		const r = await d.client.responses.create({
			model: 'fake-text',
			input: [
				{ role: 'user', content: 'first' },
				{ role: 'user', content: 'echo: second' },
			],
			metadata: { k: 'v' },
		});
		validateResponse(r);
		const got = await d.client.responses.retrieve(r.id);
		validateResponse(got);
		for (const k of ['id', 'status', 'model', 'output', 'usage', 'metadata', 'created_at', 'completed_at'])
			assert.deepEqual(got[k], r[k], k);

		const desc = await d.client.responses.inputItems.list(r.id);
		const asc = await d.client.responses.inputItems.list(r.id, { order: 'asc' });
		const raw = await d.request('GET', `/v1/responses/${r.id}/input_items?order=asc`);
		assert.equal(raw.status, 200);
		validateInputItemsList(raw.json());
		const texts = (page) => page.data.map((i) => messageText(i.content));
		assert.deepEqual(texts(asc), ['first', 'echo: second']);
		assert.deepEqual(texts(desc), ['echo: second', 'first'], 'default order is desc');
		assert.equal(asc.data[0].role, 'user');
		assert.equal(raw.json().has_more, false);

		const del = await d.request('DELETE', `/v1/responses/${r.id}`);
		assert.equal(del.status, 200);
		assert.deepEqual(del.json(), { id: r.id, object: 'response.deleted', deleted: true });
		await rejectsWithEnvelope(d.client.responses.retrieve(r.id), (e) => assert.equal(e.status, 404));
		const again = await d.request('DELETE', `/v1/responses/${r.id}`);
		assert.equal(again.status, 404);
		validateErrorEnvelope(again.json());
		const items = await d.request('GET', `/v1/responses/${r.id}/input_items`);
		assert.equal(items.status, 404);
	});

	it('SDK delete()', T, async () => {
		const r = await d.client.responses.create({ model: 'fake-text', input: 'hi' });
		await d.client.responses.delete(r.id);
		await rejectsWithEnvelope(d.client.responses.retrieve(r.id), (e) => assert.equal(e.status, 404));
	});

	it('unknown id: GET 404 with the error envelope', T, async () => {
		const res = await d.request('GET', '/v1/responses/resp_doesnotexist');
		assert.equal(res.status, 404);
		assert.equal(validateErrorEnvelope(res.json()).error.type, 'not_found');
	});

	it('store:false: not retrievable, not continuable', T, async () => {
		const r = await d.client.responses.create({ model: 'fake-text', input: 'hi', store: false });
		validateResponse(r);
		assert.equal(r.store, false);
		assert.equal(r.output_text, 'Hello from fake');
		const res = await d.request('GET', `/v1/responses/${r.id}`);
		assert.equal(res.status, 404);
		validateErrorEnvelope(res.json());
		const err = await rejectsWithEnvelope(
			d.client.responses.create({ model: 'fake-text', previous_response_id: r.id, input: 'more' }),
		);
		assert.equal(err.status, 404);
		assert.equal(err.code, 'previous_response_not_found');
	});
});

describe('finish reasons', () => {
	it('length: status incomplete, incomplete_details.reason max_output_tokens', T, async () => {
		const r = await d.client.responses.create({ model: 'fake-length', input: 'Tell a story' });
		validateResponse(r);
		assert.equal(r.status, 'incomplete');
		assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
		assert.equal(r.output_text, TEXT.length.join(''));
		assert.equal(r.output.at(-1).status, 'incomplete', 'the cut item is incomplete');

		const events = await collect(await d.client.responses.create({ model: 'fake-length', input: 'Tell a story', stream: true }));
		const { terminal, response } = checkStream(events);
		assert.equal(terminal.type, 'response.incomplete');
		assert.equal(response.incomplete_details.reason, 'max_output_tokens');
		assert.ok(!events.some((e) => e.type === 'response.completed'));
	});

	it('refusal: a refusal content part; refusal.delta/done events', T, async () => {
		const want = TEXT.refusal.join('');
		const r = await d.client.responses.create({ model: 'fake-refusal', input: 'Do something bad' });
		validateResponse(r);
		assert.equal(r.status, 'completed');
		const parts = r.output.filter((i) => i.type === 'message').flatMap((i) => i.content);
		assert.deepEqual(parts, [{ type: 'refusal', refusal: want }]);

		const events = await collect(await d.client.responses.create({ model: 'fake-refusal', input: 'x', stream: true }));
		checkStream(events);
		const deltas = events.filter((e) => e.type === 'response.refusal.delta');
		assert.ok(deltas.length >= 1);
		assert.equal(deltas.map((e) => e.delta).join(''), want);
		assert.equal(events.find((e) => e.type === 'response.refusal.done').refusal, want);
	});

	it('an upstream that ignores stream:true (fake-nonstream) still works, JSON and SSE', T, async () => {
		const r = await d.client.responses.create({ model: 'fake-nonstream', input: 'hi' });
		validateResponse(r);
		assert.equal(r.status, 'completed');
		assert.equal(r.output_text, 'Hello from fake');
		assert.ok(r.usage?.total_tokens > 0);
		const events = await collect(await d.client.responses.create({ model: 'fake-nonstream', input: 'hi', stream: true }));
		const { response } = checkStream(events);
		assert.equal(outputText(response), 'Hello from fake');
		assert.equal(
			events
				.filter((e) => e.type === 'response.output_text.delta')
				.map((e) => e.delta)
				.join(''),
			'Hello from fake',
		);
	});
});

describe('upstream failures', () => {
	it('upstream 429 -> HTTP 429 with the error envelope (JSON and stream:true)', T, async () => {
		const err = await rejectsWithEnvelope(d.client.responses.create({ model: 'fake-429', input: 'hi' }));
		assert.equal(err.status, 429);
		const raw = await d.request('POST', '/v1/responses', { model: 'fake-429', input: 'hi', stream: true });
		assert.equal(raw.status, 429);
		validateErrorEnvelope(raw.json());
	});

	it('upstream 500 -> a 5xx with the error envelope', T, async () => {
		const err = await rejectsWithEnvelope(d.client.responses.create({ model: 'fake-500', input: 'hi' }));
		assert.ok(err.status >= 500, `status ${err.status}`);
		const raw = await d.request('POST', '/v1/responses', { model: 'fake-500', input: 'hi', stream: true });
		assert.ok(raw.status >= 500 && raw.status <= 599, `stream:true status ${raw.status}`);
		validateErrorEnvelope(raw.json());
	});

	it('upstream 401 -> a 4xx/5xx with the error envelope, never 200', T, async () => {
		await rejectsWithEnvelope(d.client.responses.create({ model: 'fake-401', input: 'hi' }));
		const raw = await d.request('POST', '/v1/responses', { model: 'fake-401', input: 'hi', stream: true });
		assert.ok(raw.status >= 400 && raw.status <= 599, `stream:true status ${raw.status}`);
		validateErrorEnvelope(raw.json());
	});

	it('stream cut by the upstream: an error event, then response.failed, then [DONE]', T, async () => {
		const res = await d.sse('/v1/responses', { model: 'fake-cut', input: 'hi', stream: true });
		assert.equal(res.status, 200);
		const { events } = checkFraming(res.frames);
		const { terminal, response } = checkStream(events);
		assert.equal(terminal.type, 'response.failed');
		const i = events.findIndex((e) => e.type === 'error');
		assert.ok(i > 0, 'an error event');
		assert.equal(events[i + 1].type, 'response.failed');
		assert.equal(response.status, 'failed');
		assert.equal(typeof response.error.code, 'string');

		// Through the SDK the error event surfaces as a thrown APIError, after the events before it.
		const seen = [];
		await assert.rejects(async () => {
			for await (const e of await d.client.responses.create({ model: 'fake-cut', input: 'hi', stream: true })) seen.push(e.type);
		});
		assert.equal(seen[0], 'response.created');
	});

	it('broken JSON from the upstream: an error event, then response.failed', T, async () => {
		const res = await d.sse('/v1/responses', { model: 'fake-badjson', input: 'hi', stream: true });
		assert.equal(res.status, 200);
		const { events } = checkFraming(res.frames);
		const { terminal } = checkStream(events);
		assert.equal(terminal.type, 'response.failed');
		assert.ok(events.some((e) => e.type === 'error'));
	});

	it('non-streaming cut or broken JSON: a 5xx error envelope, not a 200', T, async () => {
		for (const model of ['fake-cut', 'fake-badjson']) {
			const raw = await d.request('POST', '/v1/responses', { model, input: 'hi' });
			assert.ok(raw.status >= 500 && raw.status <= 599, `${model}: status ${raw.status}: ${raw.body.slice(0, 300)}`);
			validateErrorEnvelope(raw.json());
		}
	});

	it('an unknown model (upstream 404) is an error envelope, never 200', T, async () => {
		const raw = await d.request('POST', '/v1/responses', { model: 'no-such-model', input: 'hi' });
		assert.ok(raw.status >= 400 && raw.status <= 599, `status ${raw.status}`);
		validateErrorEnvelope(raw.json());
	});
});
