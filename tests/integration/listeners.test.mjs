// toolhostd's listeners: the Unix socket (mode, lock file, SO_PEERCRED callers), loopback TCP with
// bearer tokens (and exactly the configured address), systemd socket activation, and SIGHUP reloads
// (upstreams, allow lists, a broken file kept out). Every error body is checked to be the envelope.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { describe, it } from 'node:test';
import { startUpstream } from '../fakes/upstream.mjs';
import {
	daemonPath,
	freePort,
	hasIPv6Loopback,
	httpRequest,
	runCommand,
	startDaemon,
	tcpListeners,
} from './lib/harness.mjs';
import { validateErrorEnvelope, validateResponse } from './lib/schema.mjs';
import { checkFraming, checkStream, outputText } from './lib/sse.mjs';

const T = { timeout: 30000 };
const LONG = { timeout: 60000 };

const NOBODY = 65534;

/** Asserts an error answer: the status, application/json, the envelope; returns body.error. */
function expectError(r, status, what = '') {
	assert.equal(r.status, status, `${what} status ${r.status}: ${String(r.body).slice(0, 300)}`);
	assert.match(String(r.headers['content-type']), /application\/json/, `${what} error content-type`);
	return validateErrorEnvelope(JSON.parse(r.body)).error;
}

/** A whole answered POST /v1/responses: 200 with a valid response whose text is `text`. */
async function expectServed(d, text = 'served') {
	const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: `echo: ${text}` });
	assert.equal(r.status, 200, `POST /v1/responses: ${r.status} ${r.body.slice(0, 300)}`);
	const resp = validateResponse(r.json());
	assert.equal(outputText(resp), text);
	return resp;
}

function which(bin) {
	for (const dir of (process.env.PATH ?? '').split(':')) {
		const p = path.join(dir || '.', bin);
		try {
			fs.accessSync(p, fs.constants.X_OK);
			return p;
		} catch {
			// next
		}
	}
	return null;
}

/**
 * POST /v1/responses over the Unix socket as uid/gid 65534 (setpriv + curl; the tests run as
 * root). {status, body}.
 */
async function postAsNobody(socketPath, body, extraHeaders = []) {
	const r = await runCommand(
		[
			'setpriv',
			`--reuid=${NOBODY}`,
			`--regid=${NOBODY}`,
			'--clear-groups',
			'curl',
			'-sS',
			'--max-time',
			'10',
			'--unix-socket',
			socketPath,
			'-H',
			'Content-Type: application/json',
			'-H',
			'Authorization: Bearer test',
			...extraHeaders.flatMap((h) => ['-H', h]),
			'--data-binary',
			JSON.stringify(body),
			'-w',
			'\n%{http_code}',
			'http://localhost/v1/responses',
		],
		{ timeoutMs: 15000 },
	);
	assert.equal(r.code, 0, `curl as uid ${NOBODY} failed (exit ${r.code}): ${r.stderr}`);
	const nl = r.stdout.lastIndexOf('\n');
	return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

const modeOf = (p) => fs.statSync(p).mode & 0o777;

describe('Unix socket', () => {
	it('the socket file is mode 0660 by default; a lock file sits beside it', T, async () => {
		const d = await startDaemon();
		try {
			assert.ok(fs.statSync(d.socketPath).isSocket(), 'a socket at listen.unix.path');
			assert.equal(modeOf(d.socketPath).toString(8), '660');
			assert.ok(fs.existsSync(`${d.socketPath}.lock`), 'the lock file <path>.lock');
			await expectServed(d);
		} finally {
			await d.stop();
		}
		assert.ok(!fs.existsSync(d.socketPath), 'the socket path is removed at exit');
	});

	it('the configured listen.unix.mode is applied', T, async () => {
		for (const mode of ['0600', '0640', '0666']) {
			const d = await startDaemon({ config: { listen: { unix: { mode } } } });
			try {
				assert.equal(modeOf(d.socketPath).toString(8), mode.slice(1), `mode ${mode}`);
				await expectServed(d);
			} finally {
				await d.stop();
			}
		}
	});

	it('the Host header does not change how a Unix-socket caller is checked', T, async () => {
		const d = await startDaemon();
		try {
			// The test runs as the daemon's uid: let in by SO_PEERCRED, no bearer needed, whatever Host says.
			for (const host of ['localhost', 'unix', 'tcp', 'example.invalid']) {
				const r = await d.request('POST', '/v1/responses', { model: 'fake-text', input: 'echo: by uid' }, { host, authorization: null });
				assert.equal(r.status, 200, `Host: ${host}, no Authorization: ${r.status} ${r.body.slice(0, 300)}`);
				assert.equal(outputText(validateResponse(r.json())), 'by uid');
			}
		} finally {
			await d.stop();
		}
	});

	it('a second toolhostd on the same socket path fails on the lock; the first keeps serving', T, async () => {
		const d = await startDaemon();
		try {
			const before = fs.statSync(d.socketPath);
			// Its own store: the same store would stop it at the store's lock before the socket's.
			const second = await runCommand([daemonPath(), '-c', d.configPath, '-S', path.join(d.dir, 'second.db')], { timeoutMs: 15000 });
			assert.notEqual(second.code, 0, `the second instance must fail; exit ${second.code}, log:\n${second.stderr}`);
			assert.equal(second.signal, null, `the second instance died of ${second.signal}:\n${second.stderr}`);
			assert.match(second.stderr, /lock/i, 'the message names the lock');
			assert.ok(second.stderr.includes(d.socketPath), `the message names the socket path:\n${second.stderr}`);
			// The live socket was neither unlinked nor replaced.
			const after = fs.statSync(d.socketPath);
			assert.equal(after.ino, before.ino, 'the socket file is the first instance\'s');
			assert.equal((await d.request('GET', '/healthz')).status, 200);
			await expectServed(d, 'still the first');
			assert.equal(d.exited, null);
		} finally {
			await d.stop();
		}
	});

	it('SO_PEERCRED: an unlisted uid gets 403; allow_uids / allow_gids (SIGHUP) let it in', LONG, async (t) => {
		if (process.getuid?.() !== 0) return t.skip('needs root (to run a client as uid 65534)');
		if (!which('setpriv') || !which('curl')) return t.skip('needs setpriv and curl');
		const d = await startDaemon({ config: { listen: { unix: { mode: '0666' } } } });
		try {
			fs.chmodSync(d.dir, 0o755); // so that uid 65534 can reach the socket at all
			const body = { model: 'fake-text', input: 'echo: hello nobody' };

			const from = d.stderr.length;
			let r = await postAsNobody(d.socketPath, body);
			assert.equal(r.status, 403, `uid ${NOBODY} not allowed: ${r.body}`);
			validateErrorEnvelope(JSON.parse(r.body));
			await d.waitLog(new RegExp(`refused a caller on the Unix socket \\(uid=${NOBODY}\\)`), { from });
			assert.equal(d.upstream.chatRequests().length, 0, 'a refused caller reaches no upstream');

			// allow_uids by SIGHUP: the next connection is let in.
			const base = d.config;
			const withUids = structuredClone(base);
			withUids.listen.unix.allow_uids = [NOBODY];
			assert.equal(await d.reload(withUids), 'applied');
			r = await postAsNobody(d.socketPath, body);
			assert.equal(r.status, 200, `uid ${NOBODY} in allow_uids: ${r.body}`);
			assert.equal(outputText(validateResponse(JSON.parse(r.body))), 'hello nobody');

			// Taken away again by SIGHUP.
			assert.equal(await d.reload(structuredClone(base)), 'applied');
			r = await postAsNobody(d.socketPath, body);
			assert.equal(r.status, 403, `uid ${NOBODY} removed from allow_uids: ${r.body}`);
			validateErrorEnvelope(JSON.parse(r.body));

			// allow_gids: the caller's gid is 65534.
			const withGids = structuredClone(base);
			withGids.listen.unix.allow_gids = [NOBODY];
			assert.equal(await d.reload(withGids), 'applied');
			r = await postAsNobody(d.socketPath, body);
			assert.equal(r.status, 200, `gid ${NOBODY} in allow_gids: ${r.body}`);
			validateResponse(JSON.parse(r.body));

			// And across a restart with allow_uids in the file.
			fs.writeFileSync(d.configPath, JSON.stringify(withUids, null, 2));
			await d.restart();
			fs.chmodSync(d.dir, 0o755);
			r = await postAsNobody(d.socketPath, body);
			assert.equal(r.status, 200, `after a restart with allow_uids: ${r.body}`);

			// Root (the daemon's own uid) is always let in.
			await expectServed(d);
		} finally {
			await d.stop();
		}
	});

	it('SO_PEERCRED: an unlisted uid stays refused whatever its Host header says', LONG, async (t) => {
		if (process.getuid?.() !== 0) return t.skip('needs root (to run a client as uid 65534)');
		if (!which('setpriv') || !which('curl')) return t.skip('needs setpriv and curl');
		const d = await startDaemon({ config: { listen: { unix: { mode: '0666' } } } });
		try {
			fs.chmodSync(d.dir, 0o755);
			const body = { model: 'fake-text', input: 'echo: hello nobody' };
			for (const host of ['localhost', 'unix', 'tcp', 'example.invalid']) {
				const r = await postAsNobody(d.socketPath, body, [`Host: ${host}`]);
				assert.equal(r.status, 403, `uid ${NOBODY} with Host: ${host}: ${r.body}`);
				validateErrorEnvelope(JSON.parse(r.body));
			}
			assert.equal(d.upstream.chatRequests().length, 0, 'a refused caller reaches no upstream');
		} finally {
			await d.stop();
		}
	});
});

describe('loopback TCP', () => {
	async function tcpCase(address) {
		const port = await freePort(address);
		const keyDir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-keys-'));
		const keyFile = path.join(keyDir, 'key');
		await writeFile(keyFile, 'tcp-file-key-0123456789\n', { mode: 0o600 });
		const d = await startDaemon({
			config: {
				listen: { tcp: { address, port } },
				api_keys: [
					{ name: 'literal', key: 'tcp-literal-key-0123456789' },
					{ name: 'env', key_env: 'TOOLHOST_IT_TCP_KEY' },
					{ name: 'file', key_file: keyFile },
				],
			},
			env: { TOOLHOST_IT_TCP_KEY: 'tcp-env-key-0123456789' },
		});
		try {
			const target = { host: address, port };
			const body = { model: 'fake-text', input: 'echo: over tcp' };

			// Exactly address:port is listening, nothing on the wildcard.
			const listening = tcpListeners(port);
			assert.deepEqual(
				listening,
				[{ family: address.includes(':') ? 6 : 4, address, port }],
				`LISTEN sockets on port ${port}: ${JSON.stringify(listening)}`,
			);
			const shown = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
			assert.ok(d.stderr.includes(`listening on ${shown}`), `the log names ${shown}`);

			// Whatever the Host header says (node sends "address:port"), TCP callers need a bearer.
			const hosts = [undefined, 'localhost', 'unix', 'tcp'];
			for (const host of hosts) {
				const h = host ? { host } : {};
				const r1 = await httpRequest(target, 'POST', '/v1/responses', body, { ...h, authorization: null });
				expectError(r1, 401, `Host ${host ?? '(default)'}, no bearer:`);
				const r2 = await httpRequest(target, 'POST', '/v1/responses', body, { ...h, authorization: 'Bearer tcp-literal-key-0123456789' });
				assert.equal(r2.status, 200, `Host ${host ?? '(default)'}, right bearer: ${r2.status} ${r2.body.slice(0, 300)}`);
				validateResponse(r2.json());
			}
			const served = d.upstream.chatRequests().length;
			let r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: null });
			expectError(r, 401, 'no bearer:');
			r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: 'Bearer wrong-key' });
			expectError(r, 401, 'wrong bearer:');
			assert.ok(!r.body.includes('tcp-literal-key'), 'the key is not in the answer');
			r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: 'Basic dGNwOmtleQ==' });
			expectError(r, 401, 'Basic auth:');
			// A key's prefix or a key with extra bytes is not the key.
			r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: 'Bearer tcp-literal-key' });
			expectError(r, 401, 'a key prefix:');
			r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: 'Bearer tcp-literal-key-0123456789x' });
			expectError(r, 401, 'a key plus a byte:');
			assert.equal(d.upstream.chatRequests().length, served, 'refused callers reach no upstream');

			for (const key of ['tcp-literal-key-0123456789', 'tcp-env-key-0123456789', 'tcp-file-key-0123456789']) {
				r = await httpRequest(target, 'POST', '/v1/responses', body, { authorization: `Bearer ${key}` });
				assert.equal(r.status, 200, `bearer ${key.split('-')[1]}: ${r.status} ${r.body.slice(0, 300)}`);
				assert.equal(outputText(validateResponse(r.json())), 'over tcp');
			}
			// The upstream never sees the caller's token (no upstream key configured: no header).
			for (const c of d.upstream.chatRequests()) assert.equal(c.headers.authorization, undefined);
			// The Unix socket still serves next to TCP.
			await expectServed(d);
			assert.ok(!d.stderr.includes('tcp-literal-key-0123456789'), 'keys are not logged');
		} finally {
			await d.stop();
			await rm(keyDir, { recursive: true, force: true });
		}
		assert.deepEqual(tcpListeners(port), [], 'the TCP listener is gone after exit');
	}

	it('127.0.0.1: no or a wrong bearer is 401; a configured key is served; bound to exactly 127.0.0.1:PORT', T, async () => {
		await tcpCase('127.0.0.1');
	});

	it('::1 works the same when the machine has IPv6 loopback', T, async (t) => {
		if (!(await hasIPv6Loopback())) return t.skip('no IPv6 loopback (::1) here');
		await tcpCase('::1');
	});
});

describe('systemd socket activation', () => {
	it('toolhostd under systemd-socket-activate serves on the passed socket', T, async (t) => {
		const sa = which('systemd-socket-activate');
		if (!sa) return t.skip('systemd-socket-activate is not installed (package systemd)');
		const d = await startDaemon({
			// Only the listed variables reach the child; the sanitizer options must get through.
			command: (bin, configPath, socketPath) => [
				sa,
				'-l',
				socketPath,
				'-E',
				'ASAN_OPTIONS',
				'-E',
				'UBSAN_OPTIONS',
				bin,
				'-c',
				configPath,
			],
		});
		try {
			await d.waitLog(/listening on 1 socket\(s\) passed by systemd/);
			await expectServed(d, 'activated');
			const res = await d.sse('/v1/responses', { model: 'fake-text', input: 'echo: activated stream', stream: true });
			assert.equal(res.status, 200);
			const { events } = checkFraming(res.frames);
			assert.equal(outputText(checkStream(events).response), 'activated stream');
		} finally {
			await d.stop();
		}
	});
});

describe('SIGHUP reload', () => {
	it('a new upstream applies to the next request; a broken file is refused and the old config kept', LONG, async () => {
		const second = await startUpstream();
		const d = await startDaemon();
		try {
			const first = d.upstream;
			await expectServed(d, 'via the first');
			assert.equal(first.chatRequests().length, 1);

			// A stream in flight on the first upstream while the config is swapped finishes there.
			let reloaded;
			const inflight = d.sse(
				'/v1/responses',
				{ model: 'fake-slow', input: 'tick', stream: true },
				{
					onFrame(f) {
						if (!reloaded && f.kind === 'event' && f.event === 'response.output_text.delta') {
							const next = structuredClone(d.config);
							next.upstreams = [{ name: 'fake2', base_url: second.url, default: true }];
							reloaded = d.reload(next);
						}
					},
				},
			);
			const res = await inflight;
			assert.ok(reloaded, 'the stream produced a delta');
			assert.equal(await reloaded, 'applied');
			assert.equal(res.status, 200);
			const { events } = checkFraming(res.frames);
			const { response } = checkStream(events);
			assert.equal(response.status, 'completed', 'the in-flight stream completes across the reload');
			assert.match(outputText(response), /^tick0 .*tick9 $/);
			assert.equal(first.chatRequests().length, 2);

			// The next request goes to the new upstream only.
			await expectServed(d, 'via the second');
			assert.equal(second.chatRequests().length, 1, 'the new upstream got the request');
			assert.equal(first.chatRequests().length, 2, 'the old upstream got nothing more');

			// Broken JSON: refused, the running config stays.
			assert.equal(await d.reload('{"listen": {"unix": '), 'kept');
			await expectServed(d, 'after a broken reload');
			assert.equal(second.chatRequests().length, 2);
			assert.equal(first.chatRequests().length, 2);

			// Valid JSON that fails the checks (unknown key; a bad base_url): refused too.
			const unknownKey = { ...structuredClone(d.config), bogus_key: 1 };
			unknownKey.upstreams = [{ name: 'fake', base_url: first.url, default: true }];
			assert.equal(await d.reload(unknownKey), 'kept');
			const badUrl = structuredClone(d.config);
			badUrl.upstreams = [{ name: 'fake', base_url: 'ftp://127.0.0.1/v1', default: true }];
			assert.equal(await d.reload(badUrl), 'kept');
			await expectServed(d, 'still the second');
			assert.equal(second.chatRequests().length, 3);
			assert.equal(first.chatRequests().length, 2);
			assert.equal(d.exited, null);
			assert.match(d.stderr, /reload: .*keeping the running config/);

			// A good file again is applied again.
			const back = structuredClone(d.config);
			back.upstreams = [{ name: 'fake', base_url: first.url, default: true }];
			assert.equal(await d.reload(back), 'applied');
			await expectServed(d, 'back to the first');
			assert.equal(first.chatRequests().length, 3);
		} finally {
			await d.stop();
			await second.close();
		}
	});
});
