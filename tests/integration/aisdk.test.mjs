// toolhostd through the Vercel AI SDK (`ai` + `@ai-sdk/open-responses`), with a custom fetch over the
// Unix socket. That fetch is the harness's checked fetch: every answer the SDK gets is schema-checked
// (lib/wire.mjs), and afterEach(settle) fails the test that caused a problem.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createOpenResponses } from '@ai-sdk/open-responses';
import { generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { messageText, TEXT } from '../fakes/upstream.mjs';
import { startDaemon } from './lib/harness.mjs';

const T = { timeout: 30000 };

let d;
let provider;
before(async () => {
	d = await startDaemon();
	provider = createOpenResponses({
		name: 'toolhost',
		url: 'http://localhost/v1/responses',
		apiKey: 'test',
		fetch: (url, init) => d.fetch(url, init),
	});
}, T);
after(async () => {
	if (d) await d.stop();
}, { timeout: 40000 });
afterEach(async () => {
	if (d) await d.settle();
});

describe('@ai-sdk/open-responses', () => {
	it('generateText', T, async () => {
		const r = await generateText({ model: provider('fake-text'), prompt: 'Say hello', maxRetries: 0 });
		assert.equal(r.text, 'Hello from fake');
		assert.equal(r.finishReason, 'stop');
		assert.ok(r.usage.inputTokens > 0, 'usage.inputTokens');
		assert.equal(r.usage.outputTokens, 3);
		const up = d.upstream.lastChat().body;
		assert.deepEqual(
			up.messages.map((m) => [m.role, messageText(m.content)]),
			[['user', 'Say hello']],
		);
	});

	it('generateText with a system prompt (sent as instructions)', T, async () => {
		const r = await generateText({
			model: provider('fake-text'),
			system: 'Be brief.',
			prompt: 'echo: short',
			maxRetries: 0,
		});
		assert.equal(r.text, 'short');
		const msgs = d.upstream.lastChat().body.messages;
		assert.deepEqual(
			msgs.map((m) => [m.role, messageText(m.content)]),
			[
				['system', 'Be brief.'],
				['user', 'echo: short'],
			],
		);
	});

	it('streamText', T, async () => {
		const r = streamText({ model: provider('fake-text'), prompt: 'Say hello', maxRetries: 0 });
		let text = '';
		for await (const chunk of r.textStream) text += chunk;
		assert.equal(text, 'Hello from fake');
		assert.equal(await r.finishReason, 'stop');
		const usage = await r.usage;
		assert.equal(usage.outputTokens, 3);
	});

	it('streamText of a slow upstream delivers deltas incrementally', T, async () => {
		const r = streamText({ model: provider('fake-slow'), prompt: 'tick', maxRetries: 0 });
		const arrivals = [];
		const t0 = Date.now();
		let text = '';
		for await (const chunk of r.textStream) {
			text += chunk;
			arrivals.push(Date.now() - t0);
		}
		assert.equal(text, Array.from({ length: 10 }, (_, i) => `tick${i} `).join(''));
		assert.ok(arrivals.length >= 5, `deltas arrive as they come (${arrivals.length} chunks)`);
		assert.ok(arrivals.at(-1) - arrivals[0] >= 500, `spread over time: ${arrivals.join(',')}`);
	});

	it('tool loop: generateText runs the tool and sends the history back (stateless)', T, async () => {
		const calls = [];
		const r = await generateText({
			model: provider('fake-tool'),
			prompt: 'What is the weather in Paris?',
			maxRetries: 0,
			tools: {
				get_weather: tool({
					description: 'The current weather of a city',
					inputSchema: z.object({ city: z.string() }),
					execute: async ({ city }) => {
						calls.push(city);
						return `sunny in ${city}`;
					},
				}),
			},
			stopWhen: stepCountIs(3),
		});
		assert.deepEqual(calls, ['Paris']);
		assert.equal(r.steps.length, 2);
		assert.match(r.text, /^Result was: .*sunny in Paris/);
		const msgs = d.upstream.lastChat().body.messages;
		assert.deepEqual(
			msgs.map((m) => m.role),
			['user', 'assistant', 'tool'],
		);
		assert.equal(msgs[1].tool_calls[0].function.name, 'get_weather');
		assert.deepEqual(JSON.parse(msgs[1].tool_calls[0].function.arguments), { city: 'Paris' });
		assert.equal(msgs[2].tool_call_id, msgs[1].tool_calls[0].id);
		assert.match(messageText(msgs[2].content), /sunny in Paris/);
	});

	it('structured output: Output.object with a zod schema (fake-json)', T, async () => {
		const r = await generateText({
			model: provider('fake-json'),
			prompt: 'Who is Ada?',
			maxRetries: 0,
			output: Output.object({ schema: z.object({ name: z.string(), age: z.number() }) }),
		});
		assert.deepEqual(r.output, { name: 'Ada', age: 36 });
		const rf = d.upstream.lastChat().body.response_format;
		assert.equal(rf?.type, 'json_schema');
	});

	it('reasoning: text via generateText; a reasoning part via streamText', T, async () => {
		const r = await generateText({ model: provider('fake-reasoning'), prompt: 'Think', maxRetries: 0 });
		assert.equal(r.text, TEXT.answer.join(''));
		assert.equal(r.reasoningText, TEXT.reasoning.join(''));
		// @ai-sdk/open-responses 2.0.36 streams reasoning text only from response.reasoning_summary_text.delta
		// and LM Studio's response.reasoning_text.delta, not from the spec's response.reasoning.delta that
		// toolhostd sends (RESPONSES-NOTES 5.3). So streamed, the reasoning part opens and closes (from
		// output_item.added/done) but its text stays empty on this client version; the answer is intact.
		const s = streamText({ model: provider('fake-reasoning2'), prompt: 'Think', maxRetries: 0 });
		const kinds = [];
		let text = '';
		for await (const part of s.fullStream) {
			kinds.push(part.type);
			if (part.type === 'text-delta') text += part.text;
		}
		assert.equal(text, TEXT.answer.join(''));
		assert.ok(kinds.includes('reasoning-start') && kinds.includes('reasoning-end'), `parts: ${kinds.join(',')}`);
		assert.ok(kinds.indexOf('reasoning-end') < kinds.indexOf('text-start'), 'reasoning before the answer');
	});

	it('an upstream failure reaches the SDK as an API error with a 4xx/5xx status', T, async () => {
		await assert.rejects(
			generateText({ model: provider('fake-500'), prompt: 'hi', maxRetries: 0 }),
			(e) => {
				assert.ok(e.statusCode >= 500 && e.statusCode <= 599, `statusCode ${e.statusCode}`);
				return true;
			},
		);
		await assert.rejects(
			generateText({ model: provider('fake-429'), prompt: 'hi', maxRetries: 0 }),
			(e) => {
				assert.equal(e.statusCode, 429);
				return true;
			},
		);
	});
});
