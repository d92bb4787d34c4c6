// Benchmarks MCP `echo` tool calls made with the @modelcontextprotocol/sdk client (the baseline for
// toolhostd's MCP client).
//
//   node tests/bench/mcp-sdk-bench.mjs URL [--calls N] [--concurrency C] [--modes percall,reused]
//        [--message TEXT] [--max-seconds S] [--call-timeout-ms MS] [--stats-url URL|none]
//
// URL is a Streamable HTTP MCP endpoint on loopback (tests/fakes/mcp-fault.mjs, or server-everything
// started with tests/fakes/bind-loopback.cjs and BIND_LOOPBACK_STATS=1). Modes:
//   percall        per call: a new Client + StreamableHTTPClientTransport, connect (initialize,
//                  notifications/initialized, the GET stream), callTool; the client is NOT closed
//                  (what a reference server that builds a client per tool call does). The leaked
//                  clients are closed after the measurement, outside the timings.
//   percall-close  the same, with client.close() after each call (counted in the timing)
//   reused         one connected client; C calls in flight at once
// Prints one JSON line per mode:
//   {"mode","concurrency","calls","errors","seconds","calls_per_s","p50_ms","p99_ms",
//    "http_requests_per_call","timed_out"}
// http_requests_per_call comes from the delta of the server's GET /_stats http.total (null when the
// server has no /_stats). Each mode stops issuing calls after --max-seconds (default 120).

import process from 'node:process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const MODES = ['percall', 'percall-close', 'reused'];

function usage() {
	return (
		'usage: node tests/bench/mcp-sdk-bench.mjs URL [--calls N (200)] [--concurrency C (8)]\n' +
		'       [--modes percall,reused (also percall-close)] [--message TEXT (hello)] [--max-seconds S (120)]\n' +
		'       [--call-timeout-ms MS (30000)] [--stats-url URL|none (default: <origin>/_stats)]\n'
	);
}

function parseArgs(argv) {
	const out = { calls: 200, concurrency: 8, modes: ['percall', 'reused'], message: 'hello', maxSeconds: 120, callTimeoutMs: 30000 };
	const int = (v, name, min, max) => {
		const n = Number(v);
		if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} needs an integer in ${min}..${max}`);
		return n;
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
			return argv[++i];
		};
		if (a === '--calls') out.calls = int(val(), a, 1, 1000000);
		else if (a === '--concurrency') out.concurrency = int(val(), a, 1, 1024);
		else if (a === '--modes') {
			out.modes = val().split(',').filter(Boolean);
			for (const m of out.modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`);
		} else if (a === '--message') out.message = val();
		else if (a === '--max-seconds') out.maxSeconds = int(val(), a, 1, 3600);
		else if (a === '--call-timeout-ms') out.callTimeoutMs = int(val(), a, 1, 600000);
		else if (a === '--stats-url') out.statsUrl = val();
		else if (a === '--help' || a === '-h') out.help = true;
		else if (!a.startsWith('--') && !out.url) out.url = a;
		else throw new Error(`unknown argument ${a}`);
	}
	if (out.help) return out;
	if (!out.url) throw new Error('the MCP URL is missing');
	const u = new URL(out.url);
	if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(u.hostname)) throw new Error('the URL must be on loopback');
	if (out.statsUrl === undefined) out.statsUrl = `${u.origin}/_stats`;
	if (out.statsUrl === 'none') out.statsUrl = null;
	return out;
}

async function httpTotal(statsUrl) {
	if (!statsUrl) return null;
	try {
		const r = await fetch(statsUrl, { signal: AbortSignal.timeout(5000) });
		if (!r.ok) return null;
		const j = await r.json();
		return typeof j?.http?.total === 'number' ? j.http.total : null;
	} catch {
		return null;
	}
}

async function connect(url) {
	const client = new Client({ name: 'mcp-sdk-bench', version: '0.0.0' }, { capabilities: {} });
	await client.connect(new StreamableHTTPClientTransport(new URL(url)));
	return client;
}

function percentile(sorted, p) {
	if (sorted.length === 0) return null;
	const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
	return sorted[i];
}

// Runs `calls` calls of one(i) with `concurrency` workers, until the deadline. -> {lat[], errors, issued}
async function runPool(calls, concurrency, deadline, one) {
	let next = 0;
	let errors = 0;
	let firstError = null;
	const lat = [];
	const worker = async () => {
		for (;;) {
			if (next >= calls || Date.now() > deadline) return;
			const i = next++;
			const t0 = performance.now();
			try {
				await one(i);
				lat.push(performance.now() - t0);
			} catch (e) {
				errors++;
				firstError ??= e;
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
	return { lat, errors, issued: next, firstError };
}

async function runMode(mode, opts) {
	const leaked = [];
	let reused = null;
	const arguments_ = { message: opts.message };
	const callOpts = { timeout: opts.callTimeoutMs };
	const call = async (client) => {
		const r = await client.callTool({ name: 'echo', arguments: arguments_ }, undefined, callOpts);
		if (r.isError || !String(r.content?.[0]?.text ?? '').includes(opts.message)) throw new Error(`bad echo answer: ${JSON.stringify(r).slice(0, 200)}`);
	};
	const one = async () => {
		if (mode === 'reused') return call(reused);
		const client = await connect(opts.url);
		try {
			await call(client);
		} finally {
			if (mode === 'percall-close') await client.close();
			else leaked.push(client);
		}
	};
	try {
		if (mode === 'reused') reused = await connect(opts.url);
		// Warm-up (not measured): a few calls to open connections and JIT the paths.
		await runPool(Math.min(5, opts.calls), Math.min(5, opts.concurrency), Date.now() + 10000, one);
		const before = await httpTotal(opts.statsUrl);
		const deadline = Date.now() + opts.maxSeconds * 1000;
		const t0 = performance.now();
		const { lat, errors, issued, firstError } = await runPool(opts.calls, opts.concurrency, deadline, one);
		const seconds = (performance.now() - t0) / 1000;
		const after = await httpTotal(opts.statsUrl);
		if (firstError) process.stderr.write(`mcp-sdk-bench: ${mode}: ${errors} errors, first: ${firstError.message}\n`);
		lat.sort((a, b) => a - b);
		const ok = lat.length;
		const round = (x, d = 2) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);
		return {
			mode,
			concurrency: opts.concurrency,
			calls: ok,
			errors,
			seconds: round(seconds, 3),
			calls_per_s: round(ok / seconds, 1),
			p50_ms: round(percentile(lat, 50)),
			p99_ms: round(percentile(lat, 99)),
			http_requests_per_call: before !== null && after !== null && issued > 0 ? round((after - before) / issued) : null,
			timed_out: issued < opts.calls,
		};
	} finally {
		// Outside the timings: close what percall leaked (bounded: each close aborts its streams).
		await Promise.race([
			Promise.allSettled([...leaked.map((c) => c.close()), reused?.close()]),
			new Promise((r) => setTimeout(r, 10000).unref()),
		]);
	}
}

let opts;
try {
	opts = parseArgs(process.argv.slice(2));
} catch (e) {
	process.stderr.write(`mcp-sdk-bench: ${e.message}\n${usage()}`);
	process.exit(2);
}
if (opts.help) {
	process.stdout.write(usage());
	process.exit(0);
}
// A hard bound on the whole run, whatever happens.
const hard = setTimeout(
	() => {
		process.stderr.write('mcp-sdk-bench: hard time limit reached\n');
		process.exit(3);
	},
	(opts.maxSeconds * opts.modes.length + 60) * 1000,
);
hard.unref();
for (const mode of opts.modes) process.stdout.write(`${JSON.stringify(await runMode(mode, opts))}\n`);
process.exit(0);
