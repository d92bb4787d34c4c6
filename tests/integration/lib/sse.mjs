// SSE parsing and the stream rules of Open Responses (spec "Streaming", RESPONSES-NOTES 1.6 and 5.7).
//
//   const p = new SSEParser(); p.feed(text) -> [{kind:'event', event, data} | {kind:'comment', text}]
//   parseSSEFrames(text)  every frame of a whole body, plus {done: saw "data: [DONE]"}
//   checkFraming(frames)  event: line equal to data.type, JSON data, nothing after [DONE]; -> events
//   checkStream(events)   the semantic rules over parsed events; -> a summary

import assert from 'node:assert/strict';
import { validateEvent, validateResponse } from './schema.mjs';

export class SSEParser {
	#buf = '';
	#event = null;
	#data = null;

	/** Feeds text (any split); returns the frames completed by it. */
	feed(text) {
		this.#buf += text;
		const out = [];
		for (;;) {
			const m = /\r\n|\r|\n/.exec(this.#buf);
			if (!m) break;
			// A lone '\r' at the very end may be the first half of '\r\n': wait for more.
			if (m[0] === '\r' && m.index === this.#buf.length - 1) break;
			const line = this.#buf.slice(0, m.index);
			this.#buf = this.#buf.slice(m.index + m[0].length);
			if (line === '') {
				if (this.#data !== null) out.push({ kind: 'event', event: this.#event, data: this.#data });
				this.#event = null;
				this.#data = null;
				continue;
			}
			if (line.startsWith(':')) {
				out.push({ kind: 'comment', text: line.slice(1).trimStart() });
				continue;
			}
			const colon = line.indexOf(':');
			const field = colon < 0 ? line : line.slice(0, colon);
			let value = colon < 0 ? '' : line.slice(colon + 1);
			if (value.startsWith(' ')) value = value.slice(1);
			if (field === 'event') this.#event = value;
			else if (field === 'data') this.#data = this.#data === null ? value : `${this.#data}\n${value}`;
			else out.push({ kind: 'field', field, value });
		}
		return out;
	}

	/** Bytes that never ended in a blank line (a truncated last event). */
	get rest() {
		return this.#buf + (this.#data !== null ? `<pending data: ${this.#data}>` : '');
	}
}

export function parseSSEFrames(text) {
	const p = new SSEParser();
	const frames = p.feed(text);
	return { frames, rest: p.rest };
}

/**
 * Checks the SSE framing of Open Responses and returns {events (parsed JSON), done, comments}.
 * Rules: every event has an `event:` line equal to its data's "type"; data is one JSON object; the
 * literal `data: [DONE]` ends the stream (when requireDone) and nothing follows it; no `id:` fields.
 * Each event is schema-checked with validateEvent (opts.allowUnknown passes through).
 */
export function checkFraming(frames, { requireDone = true, allowUnknown = false } = {}) {
	const events = [];
	let done = false;
	let comments = 0;
	for (const f of frames) {
		if (f.kind === 'comment') {
			comments++;
			continue;
		}
		assert.ok(!done, `nothing may follow data: [DONE], got ${JSON.stringify(f)}`);
		if (f.kind === 'field') {
			assert.notEqual(f.field, 'id', 'servers SHOULD NOT use id:');
			continue;
		}
		if (f.data === '[DONE]') {
			done = true;
			continue;
		}
		let obj;
		try {
			obj = JSON.parse(f.data);
		} catch {
			assert.fail(`SSE data is not JSON: ${f.data.slice(0, 200)}`);
		}
		assert.equal(typeof obj, 'object', 'SSE data must be a JSON object');
		assert.equal(f.event, obj.type, `the event: line (${f.event}) must equal data.type (${obj.type})`);
		validateEvent(obj, { allowUnknown });
		events.push(obj);
	}
	if (requireDone) assert.ok(done, 'the stream must end with data: [DONE]');
	return { events, done, comments };
}

const TERMINAL = new Set(['response.completed', 'response.failed', 'response.incomplete']);
const STATUS_OF_TERMINAL = {
	'response.completed': 'completed',
	'response.failed': 'failed',
	'response.incomplete': 'incomplete',
};

/**
 * The semantic rules of a response stream (spec "Items are streamable", "Streaming"; notes 1.6):
 * sequence_number 0,1,2,...; response.created first; response.in_progress before the first item;
 * exactly one terminal response.completed|failed|incomplete, last; an `error` event is followed by
 * response.failed; output_item.added opens each item at the next output_index, with zero values;
 * every event naming an item uses its item_id and output_index and comes between its added and done;
 * deltas join to their .done values, to content_part.done and to the item in output_item.done;
 * for completed/incomplete responses every item is closed and the final snapshot's output equals the
 * done items, in order. Returns {terminal, response, items: [{id, type, index, added, done, texts,
 * refusals, reasoning, args}]}.
 */
export function checkStream(events, { requireTerminal = true } = {}) {
	assert.ok(events.length > 0, 'no events');
	events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i} (${e.type})`));
	assert.equal(events[0].type, 'response.created', 'the first event must be response.created');

	const responseId = events[0].response.id;
	const terminals = events.filter((e) => TERMINAL.has(e.type));
	if (requireTerminal) {
		assert.equal(terminals.length, 1, `exactly one terminal event, got ${terminals.map((e) => e.type)}`);
		assert.equal(events.at(-1), terminals[0], `the terminal event must be last, last is ${events.at(-1).type}`);
	} else {
		assert.ok(terminals.length <= 1, 'at most one terminal event');
	}

	const firstAdded = events.findIndex((e) => e.type === 'response.output_item.added');
	const inProgress = events.findIndex((e) => e.type === 'response.in_progress');
	assert.ok(inProgress > 0, 'response.in_progress must be sent');
	if (firstAdded >= 0) assert.ok(inProgress < firstAdded, 'response.in_progress must come before the first item');

	const items = [];
	const byId = new Map();
	const item = (e) => {
		const it = byId.get(e.item_id);
		assert.ok(it, `${e.type} (seq ${e.sequence_number}) names item ${e.item_id} that was never added`);
		assert.equal(e.output_index, it.index, `${e.type} (seq ${e.sequence_number}): output_index of ${e.item_id}`);
		assert.equal(it.done, null, `${e.type} (seq ${e.sequence_number}) after output_item.done of ${e.item_id}`);
		return it;
	};
	const part = (it, e) => {
		const p = it.parts.get(e.content_index);
		assert.ok(p, `${e.type} (seq ${e.sequence_number}): content_index ${e.content_index} of ${it.id} was never added`);
		assert.equal(p.done, null, `${e.type} (seq ${e.sequence_number}) after content_part.done`);
		return p;
	};

	events.forEach((e, i) => {
		if (e.response) {
			validateResponse(e.response);
			assert.equal(e.response.id, responseId, `${e.type}: response id changed`);
		}
		if (e.type === 'error') {
			const next = events[i + 1];
			assert.ok(next && next.type === 'response.failed', `an error event must be followed by response.failed, got ${next?.type}`);
			return;
		}
		switch (e.type) {
			case 'response.created':
			case 'response.in_progress':
			case 'response.queued':
				assert.ok(['queued', 'in_progress'].includes(e.response.status), `${e.type}: status ${e.response.status}`);
				break;
			case 'response.output_item.added': {
				const it0 = e.item;
				assert.ok(it0 && typeof it0.id === 'string' && it0.id, 'output_item.added needs an item with an id');
				assert.ok(!byId.has(it0.id), `item ${it0.id} added twice`);
				assert.equal(e.output_index, items.length, `output_item.added of ${it0.id}: output_index must be the next index`);
				if ('status' in it0) assert.equal(it0.status, 'in_progress', `added item ${it0.id} status`);
				if (it0.type === 'message') {
					assert.equal(it0.role, 'assistant');
					assert.deepEqual(it0.content, [], `added message ${it0.id} content must be []`);
				}
				if (it0.type === 'function_call') {
					assert.ok(it0.name, 'added function_call needs its name');
					assert.equal(it0.arguments, '', 'added function_call arguments must be ""');
				}
				const it = {
					id: it0.id,
					type: it0.type,
					index: e.output_index,
					added: it0,
					done: null,
					parts: new Map(),
					reasoning: new Map(),
					args: '',
					argsDone: null,
				};
				items.push(it);
				byId.set(it.id, it);
				break;
			}
			case 'response.content_part.added': {
				const it = item(e);
				assert.ok(!it.parts.has(e.content_index), `content part ${e.content_index} of ${it.id} added twice`);
				assert.equal(e.content_index, it.parts.size, `content_part.added of ${it.id}: content_index must be the next index`);
				const p0 = e.part;
				if (p0.type === 'output_text') {
					assert.equal(p0.text, '', 'an added output_text part has text ""');
					assert.deepEqual(p0.annotations, [], 'an added output_text part has annotations []');
				}
				if (p0.type === 'refusal') assert.equal(p0.refusal, '', 'an added refusal part has refusal ""');
				it.parts.set(e.content_index, { type: p0.type, added: p0, acc: '', textDone: null, done: null });
				break;
			}
			case 'response.output_text.delta':
			case 'response.refusal.delta': {
				const it = item(e);
				const p = part(it, e);
				const want = e.type === 'response.output_text.delta' ? 'output_text' : 'refusal';
				assert.equal(p.type, want, `${e.type} into a ${p.type} part`);
				assert.equal(p.textDone, null, `${e.type} after its .done`);
				assert.equal(typeof e.delta, 'string');
				p.acc += e.delta;
				break;
			}
			case 'response.output_text.done': {
				const p = part(item(e), e);
				assert.equal(e.text, p.acc, 'output_text.done text must equal the joined deltas');
				p.textDone = e.text;
				break;
			}
			case 'response.refusal.done': {
				const p = part(item(e), e);
				assert.equal(e.refusal, p.acc, 'refusal.done must equal the joined deltas');
				p.textDone = e.refusal;
				break;
			}
			case 'response.content_part.done': {
				const p = part(item(e), e);
				assert.equal(e.part.type, p.type, 'content_part.done part type');
				const value = p.type === 'refusal' ? e.part.refusal : e.part.text;
				if (p.type === 'output_text' || p.type === 'refusal') {
					assert.notEqual(p.textDone, null, `content_part.done before ${p.type}.done`);
					assert.equal(value, p.acc, 'content_part.done must carry the whole text');
				}
				p.done = e.part;
				break;
			}
			case 'response.reasoning.delta': {
				const it = item(e);
				assert.equal(it.type, 'reasoning', 'reasoning.delta into a non-reasoning item');
				const r = it.reasoning.get(e.content_index) ?? { acc: '', done: null };
				assert.equal(r.done, null, 'reasoning.delta after reasoning.done');
				r.acc += e.delta;
				it.reasoning.set(e.content_index, r);
				break;
			}
			case 'response.reasoning.done': {
				const it = item(e);
				const r = it.reasoning.get(e.content_index) ?? { acc: '', done: null };
				assert.equal(e.text, r.acc, 'reasoning.done text must equal the joined deltas');
				r.done = e.text;
				it.reasoning.set(e.content_index, r);
				break;
			}
			case 'response.function_call_arguments.delta': {
				const it = item(e);
				assert.equal(it.type, 'function_call');
				assert.equal(it.argsDone, null, 'arguments delta after .done');
				it.args += e.delta;
				break;
			}
			case 'response.function_call_arguments.done': {
				const it = item(e);
				assert.equal(e.arguments, it.args, 'function_call_arguments.done must equal the joined deltas');
				it.argsDone = e.arguments;
				break;
			}
			case 'response.output_item.done': {
				const it = byId.get(e.item?.id);
				assert.ok(it, `output_item.done of an item never added: ${e.item?.id}`);
				assert.equal(e.output_index, it.index, `output_item.done of ${it.id}: output_index`);
				assert.equal(it.done, null, `output_item.done of ${it.id} twice`);
				assert.equal(e.item.type, it.type);
				if ('status' in e.item)
					assert.ok(['completed', 'incomplete'].includes(e.item.status), `done item status ${e.item.status}`);
				for (const [ci, p] of it.parts) {
					assert.notEqual(p.done, null, `output_item.done of ${it.id} before content_part.done ${ci}`);
					assert.deepEqual(e.item.content?.[ci], p.done, `item ${it.id} content[${ci}] must equal content_part.done's part`);
				}
				if (it.type === 'function_call') {
					assert.equal(e.item.arguments, it.args, `function_call ${it.id}: arguments must equal the joined deltas`);
				}
				if (it.type === 'reasoning') {
					for (const [ci, r] of it.reasoning) {
						assert.equal(e.item.content?.[ci]?.text, r.acc, `reasoning ${it.id} content[${ci}] text`);
					}
				}
				it.done = e.item;
				break;
			}
			default:
				if (TERMINAL.has(e.type)) {
					assert.equal(e.response.status, STATUS_OF_TERMINAL[e.type], `${e.type}: response.status`);
				}
		}
	});

	const terminal = terminals[0] ?? null;
	if (terminal) {
		const resp = terminal.response;
		if (terminal.type === 'response.incomplete') assert.ok(resp.incomplete_details?.reason, 'incomplete needs incomplete_details.reason');
		if (terminal.type === 'response.failed') assert.ok(resp.error?.message, 'failed needs error {code, message}');
		if (terminal.type !== 'response.failed') {
			assert.equal(typeof resp.completed_at, 'number', `${terminal.type}: completed_at`);
			for (const it of items) assert.notEqual(it.done, null, `item ${it.id} was never closed (output_item.done)`);
			assert.equal(resp.output.length, items.length, 'final output must hold every streamed item');
			items.forEach((it, i) => assert.deepEqual(resp.output[i], it.done, `final output[${i}] must equal its output_item.done item`));
		}
		if (terminal.type === 'response.incomplete') {
			// spec: an incomplete item must be the last one emitted
			const incomplete = items.filter((it) => it.done?.status === 'incomplete');
			if (incomplete.length) assert.equal(incomplete.at(-1), items.at(-1), 'an incomplete item must be the last item');
		}
	}
	return { terminal, response: terminal?.response ?? null, items };
}

/** The text of every output_text part of a response's message items, joined. */
export function outputText(resp) {
	return resp.output
		.filter((i) => i.type === 'message')
		.flatMap((i) => i.content)
		.filter((p) => p.type === 'output_text')
		.map((p) => p.text)
		.join('');
}
