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
import net from 'node:net';
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
export function rawRequest(socketPath, method, urlPath, body, headers = {}, options = {}) {
	return httpRequest({ socketPath }, method, urlPath, body, headers, options);
}

/**
 * rawRequest over any target: {socketPath} or {host, port} (loopback TCP). Same defaults
 * (Authorization: Bearer test unless given as null) and the same answer object.
 */
export function httpRequest(target, method, urlPath, body, headers = {}, { timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
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
		const req = http.request({ ...connectTarget(target), method, path: urlPath, headers: h, agent: false }, (res) => {
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

function connectTarget(target) {
	if (typeof target === 'string') return { socketPath: target };
	if (target?.socketPath) return { socketPath: target.socketPath };
	if (target?.host && target?.port) {
		assert.ok(isLoopbackHost(target.host), `tests stay on loopback, not ${target.host}`);
		return { host: target.host, port: target.port };
	}
	throw new Error(`not a connect target: ${JSON.stringify(target)}`);
}

function isLoopbackHost(h) {
	return /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1' || h === 'localhost';
}

// net.connect options for a target.
function netTarget(target) {
	const t = connectTarget(target);
	return t.socketPath ? { path: t.socketPath } : t;
}

/**
 * Writes `data` (a string or Buffer: a whole hand-made HTTP request) on a new connection to target
 * ({socketPath} or {host, port}) and reads one HTTP/1.1 answer (Content-Length, chunked or
 * until close). Resolves {status (0: no answer), headers, body, closed (the peer closed the
 * connection), error (a socket error code, e.g. ECONNRESET), raw}. Never rejects for a missing or
 * broken answer: it resolves at close or after timeoutMs (then timedOut: true).
 */
export function rawExchange(target, data, { timeoutMs = 10000 } = {}) {
	return new Promise((resolve) => {
		const sock = net.connect(netTarget(target));
		let raw = Buffer.alloc(0);
		let done = false;
		const result = { status: 0, headers: {}, body: '', closed: false, error: null, timedOut: false, raw: '' };
		const finish = () => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			result.raw = raw.toString('latin1');
			sock.destroy();
			resolve(result);
		};
		const timer = setTimeout(() => {
			result.timedOut = true;
			finish();
		}, timeoutMs);
		// Parses what arrived; true when one whole answer is in.
		const complete = () => {
			const end = raw.indexOf('\r\n\r\n');
			if (end < 0) return false;
			const head = raw.subarray(0, end).toString('latin1').split('\r\n');
			const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
			if (!m) return false;
			result.status = Number(m[1]);
			result.headers = {};
			for (const line of head.slice(1)) {
				const c = line.indexOf(':');
				if (c > 0) result.headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
			}
			const rest = raw.subarray(end + 4);
			if (result.headers['content-length'] !== undefined) {
				const n = Number(result.headers['content-length']);
				if (rest.length < n) return false;
				result.body = rest.subarray(0, n).toString('utf8');
				return true;
			}
			if (/chunked/i.test(result.headers['transfer-encoding'] ?? '')) {
				let off = 0;
				const parts = [];
				for (;;) {
					const nl = rest.indexOf('\r\n', off);
					if (nl < 0) return false;
					const size = parseInt(rest.subarray(off, nl).toString('latin1'), 16);
					if (Number.isNaN(size)) return false;
					if (rest.length < nl + 2 + size + 2) return false;
					if (size === 0) {
						result.body = Buffer.concat(parts).toString('utf8');
						return true;
					}
					parts.push(rest.subarray(nl + 2, nl + 2 + size));
					off = nl + 2 + size + 2;
				}
			}
			result.body = rest.toString('utf8'); // until close
			return false;
		};
		sock.on('data', (c) => {
			raw = Buffer.concat([raw, c]);
			if (complete()) finish();
		});
		sock.on('error', (e) => {
			result.error = e.code ?? e.message;
			if (raw.length) complete();
			finish();
		});
		sock.on('end', () => {
			result.closed = true;
			complete();
			finish();
		});
		sock.on('close', () => {
			result.closed = true;
			if (raw.length) complete();
			finish();
		});
		sock.on('connect', () => sock.write(data));
	});
}

/** Tries to connect to target; resolves null when accepted, else the error code (ENOENT, ECONNREFUSED...). */
export function tryConnect(target, { timeoutMs = 2000 } = {}) {
	return new Promise((resolve) => {
		const sock = net.connect(netTarget(target));
		const timer = setTimeout(() => {
			sock.destroy();
			resolve('ETIMEDOUT');
		}, timeoutMs);
		sock.on('connect', () => {
			clearTimeout(timer);
			sock.destroy();
			resolve(null);
		});
		sock.on('error', (e) => {
			clearTimeout(timer);
			resolve(e.code ?? e.message);
		});
	});
}

/** A TCP port that was free on host a moment ago (bound to port 0, then released). */
export function freePort(host = '127.0.0.1') {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.once('error', reject);
		srv.listen(0, host, () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

/** Whether this machine can bind the IPv6 loopback ::1. */
export async function hasIPv6Loopback() {
	try {
		await freePort('::1');
		return true;
	} catch {
		return false;
	}
}

// /proc/net/tcp{,6} address "0100007F:1F90" / 32 hex digits of 4 little-endian words -> "127.0.0.1" / "::1" style text.
function procAddress(hex, v6) {
	if (!v6) {
		const n = parseInt(hex, 16);
		return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
	}
	const bytes = [];
	for (let w = 0; w < 4; w++) {
		const word = hex.slice(w * 8, w * 8 + 8);
		for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16));
	}
	const groups = [];
	for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
	return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** The TCP sockets in LISTEN state on port, from /proc/net/tcp and tcp6: [{family, address, port}]. */
export function tcpListeners(port) {
	const out = [];
	for (const [file, v6] of [
		['/proc/net/tcp', false],
		['/proc/net/tcp6', true],
	]) {
		let text;
		try {
			text = fs.readFileSync(file, 'utf8');
		} catch {
			continue;
		}
		for (const line of text.split('\n').slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
			const [addr, p] = f[1].split(':');
			if (parseInt(p, 16) !== port) continue;
			out.push({ family: v6 ? 6 : 4, address: procAddress(addr, v6), port });
		}
	}
	return out;
}

/**
 * Runs a command to its end (bounded): {code, signal, stdout, stderr}. env is added to the
 * test's environment (a key set to undefined removes it).
 */
export function runCommand(argv, { env = {}, timeoutMs = 10000 } = {}) {
	return runOnce(argv, env, timeoutMs);
}

/**
 * A raw streaming POST over a Unix socket (a path), or any target of httpRequest. Resolves when the server ends the body (or on abort) with
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
		const where = typeof socketPath === 'string' ? { socketPath } : connectTarget(socketPath);
		const req = http.request({ ...where, method: 'POST', path: urlPath, headers: h, agent: false }, (res) => {
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
 *   command         (bin, configPath, socketPath) -> argv: how to run it (default [bin, '-c',
 *                   configPath]), e.g. under systemd-socket-activate; it must end up serving socketPath
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
		const argv = opts.command ? opts.command(bin, configPath, socketPath) : [bin, '-c', configPath];
		const p = spawn(argv[0], argv.slice(1), { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
		get config() {
			return config;
		},
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
		/** Sends a signal to the running daemon (no wait). */
		signal(sig) {
			assert.ok(proc && !exit, `signal ${sig}: toolhostd is not running`);
			proc.kill(sig);
		},
		/** Resolves with {code, signal} once the daemon exited, or null after timeoutMs. */
		waitExit(timeoutMs = STOP_TIMEOUT_MS) {
			return waitExit(timeoutMs);
		},
		/** Resolves once the log (from offset `from`) matches re; rejects after timeoutMs. */
		async waitLog(re, { from = 0, timeoutMs = 5000 } = {}) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const m = re.exec(stderr.slice(from));
				if (m) return m;
				if (Date.now() > deadline) throw new Error(`the daemon log did not show ${re} within ${timeoutMs} ms.\nlog:\n${tail(stderr)}`);
				await sleep(20);
			}
		},
		/**
		 * Rewrites the config file (an object: replaces the config, a string: written as is) and sends
		 * SIGHUP; resolves 'applied' or 'kept' (the daemon refused it and kept the running config)
		 * from its log. An applied object becomes d.config.
		 */
		async reload(next, { timeoutMs = 5000 } = {}) {
			const text = typeof next === 'string' ? next : JSON.stringify(next, null, 2);
			await writeFile(configPath, text);
			const from = stderr.length;
			this.signal('SIGHUP');
			const m = await this.waitLog(/reload: .*(applied|keeping the running config)/, { from, timeoutMs });
			if (m[1] === 'applied') {
				if (typeof next !== 'string') config = next;
				return 'applied';
			}
			return 'kept';
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
