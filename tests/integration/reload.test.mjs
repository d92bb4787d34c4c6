// A SIGHUP mid-response changes nothing in it: each response holds the config it started with
// (api/env, daemon/config reference counts) to its end, while the next response sees the new one.
// Before, the reload freed the config under a running job whose MCP run still read it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon } from './lib/harness.mjs';
import { startMcpFault } from './lib/mcp.mjs';
import { mcp } from './lib/responses-mcp.mjs';

const T = { timeout: 30000 };

describe('SIGHUP mid-response', () => {
	let d, waits;
	before(async () => {
		waits = await startMcpFault();
		d = await startDaemon({ config: { mcp_servers: [{ label: 'waits', url: waits.url }] } });
	}, { timeout: 30000 });
	after(async () => {
		await d?.stop();
		await waits?.stop();
	}, { timeout: 30000 });

	it('a response running an MCP call completes over the config it started with', T, async () => {
		const running = d.client.responses.create({ model: 'fake-mcp', input: 'call slow {"ms":1500}', tools: [mcp('waits')] });
		// The call is running on the server: the job's MCP run holds the old config's server entry.
		for (let i = 0; i < 100 && (await waits.stats()).tool_calls?.slow === undefined; i++) await sleep(20);
		await sleep(200);
		// The new config drops the server and changes the policy: the running response keeps the old.
		const next = structuredClone(d.config);
		next.mcp_servers = [];
		next.mcp_policy = { max_tool_calls: 1, max_turns: 1 };
		assert.equal(await d.reload(next), 'applied');
		const r = await running;
		assert.equal(r.status, 'completed', JSON.stringify(r));
		const call = r.output.find((i) => i.type === 'mcp_call');
		assert.ok(call, JSON.stringify(r.output));
		assert.equal(call.error ?? null, null, JSON.stringify(call));
		assert.match(call.output, /slept 1500 ms/);
		// A response started after the reload sees the new config: the server is gone.
		const res = await d.request('POST', '/v1/responses', { model: 'fake-mcp', input: 'call slow {"ms":1}', tools: [mcp('waits')] });
		assert.equal(res.status, 400, res.body);
	});
});
