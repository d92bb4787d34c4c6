// Helpers shared by the tests of MCP tools inside a response (responses-mcp*.test.mjs).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export const WAIT_MS = 8000; // bound of every poll

// Polls pred until it returns something truthy, at most timeoutMs.
export async function waitFor(pred, what, timeoutMs = WAIT_MS) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(25);
	}
}

// An auto-approved mcp tool of the request.
export function mcp(label, extra = {}) {
	return { type: 'mcp', server_label: label, require_approval: 'never', ...extra };
}

export function assertApprovalRequest(item, want) {
	assert.equal(item?.type, 'mcp_approval_request', JSON.stringify(item));
	assert.match(item.id, /^mcpr_/);
	for (const [k, v] of Object.entries(want)) assert.deepEqual(item[k], v, `mcp_approval_request.${k}`);
	return item;
}

// The events of a whole SSE body (rawSSE result): the framing rules, consecutive sequence numbers,
// item_id and output_index on every response.mcp_* event.
export function streamEvents(res, { requireDone = true } = {}) {
	assert.equal(res.status, 200, res.text.slice(0, 500));
	assert.match(String(res.headers['content-type']), /^text\/event-stream/);
	const events = [];
	let done = false;
	for (const f of res.frames) {
		if (f.kind !== 'event') continue;
		assert.ok(!done, 'nothing may follow data: [DONE]');
		if (f.data === '[DONE]') {
			done = true;
			continue;
		}
		const e = JSON.parse(f.data);
		assert.equal(f.event, e.type, 'the event: line equals data.type');
		events.push(e);
	}
	if (requireDone) assert.ok(done, 'the stream ends with data: [DONE]');
	events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i} (${e.type})`));
	for (const e of events) {
		if (!e.type.startsWith('response.mcp_')) continue;
		assert.equal(typeof e.item_id, 'string', `${e.type} (seq ${e.sequence_number}) has item_id`);
		assert.ok(Number.isInteger(e.output_index), `${e.type} (seq ${e.sequence_number}) has output_index`);
	}
	return events;
}
