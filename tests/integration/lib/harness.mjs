// Starts toolhostd (process.env.TOOLHOSTD) against the fake upstream, in a temp dir, over a Unix socket.
//
//   const d = await startDaemon({ config: {...overrides}, upstreamConfig: {...}, env: {...} });
//   d.client                  openai SDK client over the socket (every answer is checked, see wire.mjs)
//   d.fetch                   the same checked fetch, for other SDKs (@ai-sdk/open-responses)
//   await d.request('POST', '/v1/responses', body, headers)  raw HTTP: {status, headers, body, json()}
//   await d.sse('/v1/responses', body, {onFrame})            raw SSE: {status, headers, frames, ...}
//   await d.settle()          throws what the wire checks found so far
//   d.upstream                the fake (d.upstream.requests, lastChat(), waitFor())
//   d.stderr                  the daemon's log so far
//   await d.kill9(); await d.restart(); await d.stop()
//
// stop() sends SIGTERM, waits (bounded) for the exit and asserts exit code 0 and a log free of
// sanitizer reports. Every wait here is bounded; nothing leaves loopback / the temp dir.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { Agent } from 'undici';
import { startUpstream } from '../../fakes/upstream.mjs';
import { SSEParser } from './sse.mjs';
import { makeWireFetch } from './wire.mjs';

export const HEALTH_TIMEOUT_MS = 10000;
export const STOP_TIMEOUT_MS = 20000; // above the daemon's default drain_timeout_s (10)
const REQUEST_TIMEOUT_MS = 30000;
const SANITIZER_MARKS = ['ERROR: AddressSanitizer', 'runtime error:', 'LeakSanitizer'];

export function daemonPath() {
	const p = process.env.TOOLHOSTD;
	if (!p) throw new Error('TOOLHOSTD is not set: run tests/run.sh, or TOOLHOSTD=/abs/path/to/toolhostd node --test ...');
	try {
		fs.accessSync(p, fs.constants.X_OK);
	} catch {
		throw new Error(`TOOLHOSTD=${p} is not an executable file (build it first: make)`);
	}
	return path.resolve(p);
}

/** Deep merge for plain objects: arrays and scalars in `over` replace, undefined deletes the key. */
export function deepMerge(base, over) {
	if (over === undefined) return base;
	if (!isPlain(base) || !isPlain(over)) return over;
	const out = { ...base };
	for (const [k, v] of Object.entries(over)) {
		if (v === undefined) delete out[k];
		else out[k] = isPlain(out[k]) && isPlain(v) ? deepMerge(out[k], v) : v;
	}
	return out;
}
function isPlain(x) {
	return x !== null && typeof x === 'object' && !Array.isArray(x);
}

export function sanitizerReports(text) {
	return SANITIZER_MARKS.filter((m) => text.includes(m));
}

function tail(text, n = 60) {
	const lines = text.split('\n');
	return lines.slice(-n).join('\n');
}

/**
 * Raw HTTP over a Unix socket. body: an object/array (sent as JSON), a string/Buffer (as is) or
 * undefined. headers: added to the defaults (Authorization: Bearer test, and Content-Type for a
 * body); a header given as null is removed.
 */
export function rawRequest(socketPath, method, urlPath, body, headers = {}, { timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
	const h = { authorization: 'Bearer test' };
	let payload;
	if (body !== undefined) {
		payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
		h['content-type'] = 'application/json';
	}
	for (const [k, v] of Object.entries(headers ?? {})) {
		if (v === null) delete h[k.toLowerCase()];
		else h[k.toLowerCase()] = v;
	}
	if (payload !== undefined) h['content-length'] = Buffer.byteLength(payload);
	return new Promise((resolve, reject) => {
		const req = http.request({ socketPath, method, path: urlPath, headers: h, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('error', reject);
			res.on('end', () => {
				clearTimeout(timer);
				const text = Buffer.concat(chunks).toString('utf8');
				resolve({
					status: res.statusCode,
					headers: res.headers,
					body: text,
					json() {
						try {
							return JSON.parse(text);
						} catch {
							throw new Error(`${method} ${urlPath} -> ${res.statusCode}: body is not JSON: ${text.slice(0, 500)}`);
						}
					},
				});
			});
		});
		const timer = setTimeout(() => req.destroy(new Error(`${method} ${urlPath}: no complete answer within ${timeoutMs} ms`)), timeoutMs);
		req.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		if (payload !== undefined) req.write(payload);
		req.end();
	});
}

/**
 * A raw streaming POST over a Unix socket. Resolves when the server ends the body (or on abort) with
 * {status, headers, frames (each with .at = ms since the request), text, aborted, ended}.
 * onFrame(frame, {abort}) sees each frame as it arrives; abort() closes the connection.
 */
export function rawSSE(socketPath, urlPath, body, { headers = {}, onFrame, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
	const payload = JSON.stringify(body);
	const h = {
		authorization: 'Bearer test',
		accept: 'text/event-stream',
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(payload),
	};
	for (const [k, v] of Object.entries(headers)) {
		if (v === null) delete h[k.toLowerCase()];
		else h[k.toLowerCase()] = v;
	}
	const t0 = Date.now();
	return new Promise((resolve, reject) => {
		let settled = false;
		const result = { status: 0, headers: {}, frames: [], text: '', aborted: false, ended: false };
		const finish = () => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			resolve(result);
		};
		const req = http.request({ socketPath, method: 'POST', path: urlPath, headers: h, agent: false }, (res) => {
			result.status = res.statusCode;
			result.headers = res.headers;
			const parser = new SSEParser();
			const ctl = {
				abort() {
					result.aborted = true;
					req.destroy();
					finish();
				},
			};
			res.setEncoding('utf8');
			res.on('data', (s) => {
				result.text += s;
				if (!String(res.headers['content-type'] ?? '').includes('text/event-stream')) return;
				for (const f of parser.feed(s)) {
					f.at = Date.now() - t0;
					result.frames.push(f);
					if (onFrame && !result.aborted) onFrame(f, ctl);
				}
			});
			res.on('end', () => {
				result.ended = true;
				finish();
			});
			res.on('error', () => finish());
			res.on('close', () => finish());
		});
		const timer = setTimeout(() => {
			if (settled) return;
			settled = true;
			req.destroy();
			reject(new Error(`POST ${urlPath} (SSE): not ended within ${timeoutMs} ms; got ${result.frames.length} frames`));
		}, timeoutMs);
		req.on('error', (e) => {
			if (result.aborted || settled) return;
			clearTimeout(timer);
			settled = true;
			reject(e);
		});
		req.write(payload);
		req.end();
	});
}

/** Runs `toolhostd -c <file> -n` (config check) on a config object; {code, signal, stdout, stderr}. */
export async function checkConfig(config, { env = {}, timeoutMs = 10000 } = {}) {
	const dir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-cfg-'));
	const file = path.join(dir, 'toolhostd.json');
	try {
		await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
		return await runOnce([daemonPath(), '-c', file, '-n'], env, timeoutMs);
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
}

// An environment without the keys set to undefined (so opts.env can unset a variable).
function cleanEnv(env) {
	return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== null));
}

function runOnce(argv, env, timeoutMs) {
	return new Promise((resolve, reject) => {
		const p = spawn(argv[0], argv.slice(1), { env: cleanEnv({ ...process.env, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		p.stdout.on('data', (c) => (stdout += c));
		p.stderr.on('data', (c) => (stderr += c));
		const timer = setTimeout(() => {
			p.kill('SIGKILL');
			reject(new Error(`${argv.join(' ')} did not exit within ${timeoutMs} ms`));
		}, timeoutMs);
		p.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		p.on('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, stdout, stderr });
		});
	});
}

/**
 * opts:
 *   config          merged (deepMerge) over the base config
 *   upstreamConfig  merged over upstreams[0] (e.g. {api_key_env: 'VAR'})
 *   env             extra environment for the daemon
 *   upstream        an existing fake to use (not closed by stop()); default: a new one
 *   healthTimeoutMs default 10000
 */
export async function startDaemon(opts = {}) {
	const bin = daemonPath();
	const dir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-it-'));
	const socketPath = path.join(dir, 'toolhostd.sock');
	const dbPath = path.join(dir, 'toolhostd.db');
	const configPath = path.join(dir, 'toolhostd.json');
	const ownUpstream = !opts.upstream;
	const upstream = opts.upstream ?? (await startUpstream());

	let config = {
		listen: { unix: { path: socketPath } },
		upstreams: [{ name: 'fake', base_url: upstream.url, default: true }],
		store: { path: dbPath },
		log_level: 'debug',
	};
	if (opts.upstreamConfig) config.upstreams[0] = deepMerge(config.upstreams[0], opts.upstreamConfig);
	config = deepMerge(config, opts.config);
	await writeFile(configPath, JSON.stringify(config, null, 2));

	const env = cleanEnv({ ...process.env, ...opts.env });
	env.ASAN_OPTIONS ??= 'detect_leaks=1';
	env.UBSAN_OPTIONS ??= 'print_stacktrace=1';
	const verbose = Boolean(process.env.TOOLHOSTD_TEST_VERBOSE);

	let stderr = '';
	let proc = null;
	let exit = null; // {code, signal} of the current process once it exited
	let exitWaiters = [];
	let killedOnPurpose = false;
	let stopped = false;
	let agent = null;
	let wire = null;
	let client = null;

	function spawnDaemon() {
		exit = null;
		exitWaiters = [];
		killedOnPurpose = false;
		const p = spawn(bin, ['-c', configPath], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
		const take = (c) => {
			const s = c.toString('utf8');
			stderr += s;
			if (verbose) process.stderr.write(s);
		};
		p.stdout.on('data', take);
		p.stderr.on('data', take);
		p.on('error', (e) => {
			stderr += `\n[harness] spawn error: ${e.message}\n`;
		});
		p.on('exit', (code, signal) => {
			exit = { code, signal };
			for (const w of exitWaiters.splice(0)) w(exit);
		});
		proc = p;
	}

	function waitExit(timeoutMs) {
		if (exit) return Promise.resolve(exit);
		return new Promise((resolve) => {
			const timer = setTimeout(() => resolve(null), timeoutMs);
			exitWaiters.push((e) => {
				clearTimeout(timer);
				resolve(e);
			});
		});
	}

	async function waitHealthy(timeoutMs) {
		const deadline = Date.now() + timeoutMs;
		let last = 'no answer';
		for (;;) {
			if (exit) {
				throw new Error(
					`toolhostd exited (code ${exit.code}, signal ${exit.signal}) before GET /healthz answered 200.\nlog:\n${tail(stderr)}`,
				);
			}
			if (fs.existsSync(socketPath)) {
				try {
					const r = await rawRequest(socketPath, 'GET', '/healthz', undefined, {}, { timeoutMs: 1000 });
					if (r.status === 200) return;
					last = `status ${r.status}`;
				} catch (e) {
					last = e.message;
				}
			}
			if (Date.now() > deadline) {
				proc.kill('SIGKILL');
				await waitExit(5000);
				throw new Error(`toolhostd: GET /healthz did not answer 200 within ${timeoutMs} ms (${last}).\nlog:\n${tail(stderr)}`);
			}
			await sleep(50);
		}
	}

	async function connect() {
		if (agent) await agent.close().catch(() => {});
		agent = new Agent({ connect: { socketPath } });
		wire = makeWireFetch(agent);
		client = new OpenAI({
			apiKey: 'test',
			baseURL: 'http://localhost/v1',
			maxRetries: 0,
			timeout: REQUEST_TIMEOUT_MS,
			fetch: wire.fetch,
			fetchOptions: { dispatcher: agent },
		});
	}

	async function launch() {
		spawnDaemon();
		await waitHealthy(opts.healthTimeoutMs ?? HEALTH_TIMEOUT_MS);
		await connect();
	}

	// SIGTERM and a bounded wait; SIGKILL past it. Returns the exit info and whether it timed out.
	async function terminate() {
		if (exit) return { exit, timedOut: false };
		proc.kill('SIGTERM');
		let e = await waitExit(STOP_TIMEOUT_MS);
		if (e) return { exit: e, timedOut: false };
		proc.kill('SIGKILL');
		e = await waitExit(5000);
		return { exit: e, timedOut: true };
	}

	function assertCleanExit(r, what) {
		assert.ok(!r.timedOut, `${what}: toolhostd did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM.\nlog:\n${tail(stderr)}`);
		assert.equal(r.exit.signal, null, `${what}: toolhostd died of signal ${r.exit.signal}.\nlog:\n${tail(stderr)}`);
		assert.equal(r.exit.code, 0, `${what}: toolhostd exited with code ${r.exit.code}.\nlog:\n${tail(stderr)}`);
	}

	function assertNoSanitizer() {
		const found = sanitizerReports(stderr);
		assert.deepEqual(found, [], `sanitizer reports in the daemon log (${found.join(', ')}):\n${tail(stderr, 120)}`);
	}

	try {
		await launch();
	} catch (e) {
		if (agent) await agent.close().catch(() => {});
		if (ownUpstream) await upstream.close();
		await rm(dir, { recursive: true, force: true });
		throw e;
	}

	const d = {
		dir,
		socketPath,
		dbPath,
		configPath,
		config,
		upstream,
		get pid() {
			return proc?.pid;
		},
		get client() {
			return client;
		},
		get fetch() {
			return wire.fetch;
		},
		get agent() {
			return agent;
		},
		get stderr() {
			return stderr;
		},
		get exited() {
			return exit;
		},
		request(method, urlPath, body, headers, options) {
			return rawRequest(socketPath, method, urlPath, body, headers, options);
		},
		sse(urlPath, body, options) {
			return rawSSE(socketPath, urlPath, body, options);
		},
		/** Throws what the wire checks (schema, SSE rules) found in the SDK traffic so far. */
		settle() {
			return wire.settle();
		},
		/** SIGKILL; the next restart() reopens the same config and database. */
		async kill9() {
			if (exit) return exit;
			killedOnPurpose = true;
			proc.kill('SIGKILL');
			const e = await waitExit(5000);
			assert.ok(e, 'toolhostd did not die within 5 s of SIGKILL');
			return e;
		},
		/** Stops (SIGTERM, exit code 0 asserted) unless already dead, then starts again on the same files. */
		async restart() {
			assert.ok(!stopped, 'restart after stop');
			if (!exit) assertCleanExit(await terminate(), 'restart');
			assertNoSanitizer();
			await launch();
		},
		/** SIGTERM, bounded wait, cleanup; asserts exit code 0 and no sanitizer report. */
		async stop() {
			if (stopped) return;
			stopped = true;
			let r = null;
			const wasKilled = killedOnPurpose && exit;
			try {
				r = await terminate();
			} finally {
				if (agent) await agent.close().catch(() => {});
				if (ownUpstream) await upstream.close();
				if (!process.env.TOOLHOSTD_TEST_KEEP) await rm(dir, { recursive: true, force: true });
			}
			if (!wasKilled) assertCleanExit(r, 'stop');
			assertNoSanitizer();
		},
	};
	return d;
}
