// Our frames are written in batches (api/ws: whole frames only): lws' own control frames (the pong
// to a client ping) must never land inside one. A client that pings all along while large events
// stream must see every message intact.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startDaemon } from './lib/harness.mjs';

describe('WebSocket framing under pings', () => {
	let d;
	before(async () => {
		d = await startDaemon({});
	}, { timeout: 30000 });
	after(async () => {
		await d?.stop();
	}, { timeout: 30000 });

	it('large events and a ping every millisecond: every message parses, the turns complete', { timeout: 30000 }, async () => {
		const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/responses`);
		let pongs = 0, bad = 0, done = 0, closed = null;
		ws.on('pong', () => pongs++);
		ws.on('close', (code) => (closed = code));
		ws.on('error', () => {});
		const finished = new Promise((resolve) =>
			ws.on('message', (m) => {
				try {
					if (JSON.parse(m.toString()).type === 'response.completed' && ++done === 3) resolve();
				} catch {
					bad++;
				}
			}),
		);
		await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
		const pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.ping(), 1);
		// Each turn's snapshots (response.completed, output_item.done...) carry ~200 kB: over the
		// 64 KiB batch, so batches end on frame boundaries mid-turn.
		for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', store: false, input: `echo: ${'z'.repeat(200 * 1024)}` }));
		await Promise.race([finished, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: done ${done}, closed ${closed}`)), 20000))]);
		clearInterval(pinger);
		assert.equal(bad, 0);
		assert.equal(closed, null, `closed ${closed}`);
		assert.ok(pongs > 0);
		ws.close();
	});
});
