// MCP servers for the integration tests of toolhostd's MCP client, each in its own process on 127.0.0.1.
//
//   const f = await startMcpFault(['--pages', '2']);   // tests/fakes/mcp-fault.mjs
//   f.url                      "http://127.0.0.1:<port>/mcp"
//   await f.stats()            GET /_stats (JSON; shape in mcp-fault.mjs newStats())
//   await f.resetStats()       POST /_reset_stats
//   await f.post('/_expire')   POST a control endpoint -> its JSON answer
//   await f.stop()             closes its stdin (it exits by itself), SIGKILL if it lingers
//
//   const e = await startEverything('streamableHttp');  // @modelcontextprotocol/server-everything
//   e.url                      "http://127.0.0.1:<port>/mcp" ('sse' mode: ".../sse")
//   await e.stats()            {http: {total, by_method, by_status}} (counted by bind-loopback.cjs)
//
//   const c = await sdkClient(url)   an @modelcontextprotocol/sdk Client, connected (c.close() when done)
//
//   const r = await runMcp(['-x', '-', url], { input: [{op: 'list'}] })   the toolhost-mcp CLI
//   r.code, r.signal, r.lines (stdout parsed, one JSON object a line), r.stdout, r.stderr, r.ms
//
// Each child exits by itself when this process dies (stdin pipe + parent watch). Every wait is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, httpRequest } from './harness.mjs';

const TESTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REPO_ROOT = path.resolve(TESTS_DIR, '..');
export const FAULT_SERVER = path.join(TESTS_DIR, 'fakes/mcp-fault.mjs');
export const BIND_LOOPBACK = path.join(TESTS_DIR, 'fakes/bind-loopback.cjs');
export const EVERYTHING_MAIN = path.join(TESTS_DIR, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const READY_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 5000;
const OUTPUT_KEEP = 64 * 1024; // bytes of a child's output kept for error messages

// Spawns a node child with stdin as a pipe (closing it stops the child) and keeps the tail of its output.
function spawnChild(argv, env) {
	const proc = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
	const child = { proc, output: '', exit: null, waiters: [] };
	const take = (c) => {
		child.output += c.toString('utf8');
		if (child.output.length > OUTPUT_KEEP) child.output = child.output.slice(-OUTPUT_KEEP);
	};
	proc.stdout.on('data', take);
	proc.stderr.on('data', take);
	proc.stdin.on('error', () => {});
	proc.on('error', (e) => {
		child.output += `\n[mcp.mjs] spawn error: ${e.message}\n`;
	});
	proc.on('exit', (code, signal) => {
		child.exit = { code, signal };
		for (const w of child.waiters.splice(0)) w(child.exit);
	});
	return child;
}

function waitExit(child, timeoutMs) {
	if (child.exit) return Promise.resolve(child.exit);
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve(null), timeoutMs);
		child.waiters.push((e) => {
			clearTimeout(timer);
			resolve(e);
		});
	});
}

async function stopChild(child) {
	if (child.exit) return child.exit;
	child.proc.stdin.end();
	let e = await waitExit(child, STOP_TIMEOUT_MS);
	if (e) return e;
	child.proc.kill('SIGTERM');
	e = await waitExit(child, STOP_TIMEOUT_MS);
	if (e) return e;
	child.proc.kill('SIGKILL');
	return waitExit(child, STOP_TIMEOUT_MS);
}

async function controlJson(port, method, urlPath, timeoutMs = 35000) {
	const r = await httpRequest({ host: '127.0.0.1', port }, method, urlPath, undefined, { authorization: null }, { timeoutMs });
	if (r.status !== 200) throw new Error(`${method} ${urlPath} -> ${r.status}: ${r.body.slice(0, 300)}`);
	return r.json();
}

/**
 * Starts tests/fakes/mcp-fault.mjs with these extra argv words (e.g. ['--json'], ['--bearer', 'T']).
 * Resolves {url, port, proc, stats(), resetStats(), post(path), output(), stop()}.
 * stop() resolves the child's {code, signal}.
 */
export async function startMcpFault(args = [], { env = {}, readyTimeoutMs = READY_TIMEOUT_MS } = {}) {
	const child = spawnChild([FAULT_SERVER, '--port', '0', ...args], env);
	const port = await new Promise((resolve, reject) => {
		let buf = '';
		let settled = false;
		const timer = setTimeout(() => fail(new Error(`mcp-fault.mjs: no "listening" line within ${readyTimeoutMs} ms`)), readyTimeoutMs);
		function fail(e) {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			child.proc.kill('SIGKILL');
			reject(new Error(`${e.message}\noutput:\n${child.output}`));
		}
		child.proc.stdout.on('data', function onData(c) {
			buf += c.toString('utf8');
			const m = /^listening (\d+)$/m.exec(buf);
			if (m && !settled) {
				settled = true;
				clearTimeout(timer);
				child.proc.stdout.off('data', onData);
				resolve(Number(m[1]));
			}
		});
		child.proc.on('exit', (code, signal) => fail(new Error(`mcp-fault.mjs exited (code ${code}, signal ${signal}) before listening`)));
	});
	return {
		url: `http://127.0.0.1:${port}/mcp`,
		port,
		proc: child.proc,
		stats: () => controlJson(port, 'GET', '/_stats'),
		resetStats: () => controlJson(port, 'POST', '/_reset_stats'),
		/** POSTs a control endpoint ('/_expire', '/_ping_client?timeout_ms=2000', ...) -> its JSON answer. */
		post: (urlPath) => controlJson(port, 'POST', urlPath),
		output: () => child.output,
		stop: () => stopChild(child),
	};
}

// Waits for the child's own "bind-loopback: listening PORT" (BIND_LOOPBACK_ANNOUNCE): a connect alone
// could reach another server that took the port between freePort() and the child's bind.
async function waitListening(port, child, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (child.output.includes(`bind-loopback: listening ${port}\n`)) return true;
		if (child.exit) return false;
		if (Date.now() > deadline) throw new Error(`server-everything: port ${port} not accepting within ${timeoutMs} ms\noutput:\n${child.output}`);
		await sleep(50);
	}
}

/**
 * Starts @modelcontextprotocol/server-everything in mode 'streamableHttp' (url .../mcp) or 'sse'
 * (url .../sse), kept on 127.0.0.1 by bind-loopback.cjs, which also counts its HTTP requests
 * (stats()). Resolves {url, port, mode, proc, stats(), resetStats(), output(), stop()}.
 */
export async function startEverything(mode = 'streamableHttp', { env = {}, readyTimeoutMs = READY_TIMEOUT_MS } = {}) {
	if (mode !== 'streamableHttp' && mode !== 'sse') throw new Error(`startEverything: mode is streamableHttp or sse, not ${mode}`);
	let lastOutput = '';
	for (let attempt = 0; attempt < 3; attempt++) {
		const port = await freePort();
		const child = spawnChild(['-r', BIND_LOOPBACK, EVERYTHING_MAIN, mode], {
			...env,
			PORT: String(port),
			BIND_LOOPBACK_STATS: '1',
			BIND_LOOPBACK_WATCH_PARENT: '1',
			BIND_LOOPBACK_ANNOUNCE: '1',
		});
		if (!(await waitListening(port, child, readyTimeoutMs))) {
			lastOutput = child.output; // exited, e.g. EADDRINUSE after a race on the free port: try another
			continue;
		}
		return {
			url: `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`,
			port,
			mode,
			proc: child.proc,
			stats: () => controlJson(port, 'GET', '/_stats'),
			resetStats: () => controlJson(port, 'POST', '/_reset_stats'),
			output: () => child.output,
			stop: () => stopChild(child),
		};
	}
	throw new Error(`server-everything did not start (3 attempts)\noutput:\n${lastOutput}`);
}

/**
 * An @modelcontextprotocol/sdk Client connected to url over Streamable HTTP. opts: {headers (e.g.
 * {authorization: 'Bearer T'}), capabilities, name, reconnection (the transport's reconnectionOptions),
 * onNotification(method, params)}.
 */
export async function sdkClient(url, opts = {}) {
	const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
	const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
	const transport = new StreamableHTTPClientTransport(new URL(url), {
		requestInit: opts.headers ? { headers: opts.headers } : undefined,
		reconnectionOptions: opts.reconnection,
	});
	const client = new Client({ name: opts.name ?? 'toolhost-tests', version: '0.0.0' }, { capabilities: opts.capabilities ?? {} });
	if (opts.onNotification) client.fallbackNotificationHandler = async (n) => opts.onNotification(n.method, n.params);
	await client.connect(transport);
	return client;
}

/** The toolhost-mcp CLI under test: $TOOLHOST_MCP, else build/asan/toolhost-mcp of this repository (absolute). */
export function mcpCliPath() {
	const p = path.resolve(REPO_ROOT, process.env.TOOLHOST_MCP || 'build/asan/toolhost-mcp');
	try {
		fs.accessSync(p, fs.constants.X_OK);
	} catch {
		throw new Error(`${p} is not an executable file (build it: make BUILD=build/asan ... build/asan/toolhost-mcp, or set TOOLHOST_MCP)`);
	}
	return p;
}

/**
 * Runs the toolhost-mcp CLI with args to its end, bounded by timeoutMs (then SIGKILL; the result has
 * timedOut: true). input (a string, or a value sent as JSON) goes to its stdin, which is then closed.
 * Resolves {code, signal, timedOut, ms, stdout, stderr, lines}: lines are stdout's lines parsed as
 * JSON (a line that is not JSON rejects, with the output in the message).
 */
export function runMcp(args, { input, timeoutMs = 15000, env = {} } = {}) {
	const bin = mcpCliPath();
	return new Promise((resolve, reject) => {
		const t0 = Date.now();
		const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
		const out = [];
		const err = [];
		let timedOut = false;
		p.stdout.on('data', (c) => out.push(c));
		p.stderr.on('data', (c) => err.push(c));
		p.stdin.on('error', () => {});
		const timer = setTimeout(() => {
			timedOut = true;
			p.kill('SIGKILL');
		}, timeoutMs);
		p.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		p.on('close', (code, signal) => {
			clearTimeout(timer);
			const stdout = Buffer.concat(out).toString('utf8');
			const stderr = Buffer.concat(err).toString('utf8');
			const lines = [];
			for (const line of stdout.split('\n')) {
				if (!line.trim()) continue;
				try {
					lines.push(JSON.parse(line));
				} catch {
					reject(new Error(`toolhost-mcp printed a line that is not JSON: ${line.slice(0, 300)}\nstderr:\n${stderr.slice(-4000)}`));
					return;
				}
			}
			resolve({ code, signal, timedOut, ms: Date.now() - t0, stdout, stderr, lines });
		});
		if (input !== undefined) p.stdin.end(typeof input === 'string' ? input : JSON.stringify(input));
		else p.stdin.end();
	});
}
