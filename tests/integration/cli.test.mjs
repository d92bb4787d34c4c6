// toolhostd's command line as a newcomer meets it: --help / --version, the message for a missing
// config, `<N>` priority prefixes only where journald reads them (not on a terminal), and -s creating
// the socket's missing directories as -S does the store's. A terminal is a pty made by script(1).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUpstream } from '../fakes/upstream.mjs';
import { daemonPath, HEALTH_TIMEOUT_MS, rawRequest, runCommand, sanitizerReports, STOP_TIMEOUT_MS } from './lib/harness.mjs';

const DEFAULT_CONFIG = '/etc/toolhost/toolhostd.json';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const count = (text, s) => text.split(s).length - 1;
const sq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

// Runs a shell command line with a pty as its stdin/stdout/stderr: {code, out} (CRs dropped).
async function onTerminal(cmdline, env = {}) {
	const r = await runCommand(['script', '-q', '-e', '-c', cmdline, '/dev/null'], { env });
	return { code: r.code, out: (r.stdout + r.stderr).replace(/\r/g, '') };
}

describe('toolhostd flags', () => {
	test('--help prints the usage on stdout and exits 0; -h the same', async () => {
		for (const flag of ['--help', '-h']) {
			const r = await runCommand([daemonPath(), flag]);
			assert.equal(r.code, 0, r.stderr);
			assert.match(r.stdout, /^usage: toolhostd /);
			assert.match(r.stdout, /--version/);
			assert.equal(r.stderr, '');
		}
	});
	test('--version prints the version and exits 0; -V the same', async () => {
		for (const flag of ['--version', '-V']) {
			const r = await runCommand([daemonPath(), flag]);
			assert.equal(r.code, 0, r.stderr);
			assert.match(r.stdout, /^toolhostd \d+\.\d+\.\d+\n$/);
		}
	});
	test('an unknown option is exit 2 with the usage on stderr', async () => {
		const r = await runCommand([daemonPath(), '--no-such-flag']);
		assert.equal(r.code, 2);
		assert.match(r.stderr, /usage: toolhostd /);
		assert.equal(r.stdout, '');
	});
});

describe('a missing config', () => {
	test('-c FILE that does not exist: one line naming the file once, exit 1', async () => {
		const file = path.join(tmp, 'nope', 'toolhostd.json');
		const r = await runCommand([daemonPath(), '-c', file]);
		assert.equal(r.code, 1);
		assert.equal(count(r.stderr, file), 1, r.stderr);
		assert.match(r.stderr, /no config file/);
		assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
	});
	test('the default config, missing: named once, with what to do', async (t) => {
		if (fs.existsSync(DEFAULT_CONFIG)) return t.skip(`${DEFAULT_CONFIG} exists on this machine`);
		const r = await runCommand([daemonPath()]);
		assert.equal(r.code, 1);
		assert.equal(count(r.stderr, DEFAULT_CONFIG), 1, r.stderr);
		assert.match(r.stderr, /-c FILE/);
	});
	test('-n with a bad key still names the file and the key', async () => {
		const file = path.join(tmp, 'bad.json');
		fs.writeFileSync(file, '{"no_such_key": 1}');
		const r = await runCommand([daemonPath(), '-n', '-c', file]);
		assert.equal(r.code, 1);
		assert.equal(count(r.stderr, file), 1, r.stderr);
		assert.match(r.stderr, /no_such_key/);
	});
});

describe('log priority prefixes', () => {
	const missing = path.join(tmp, 'missing.json');
	const cmd = `${sq(daemonPath())} -c ${sq(missing)}`;

	test('a pipe (a supervisor, a log file) gets "<3>"', async () => {
		const r = await runCommand([daemonPath(), '-c', missing], { env: { JOURNAL_STREAM: undefined } });
		assert.match(r.stderr, /^<3>no config file /);
	});
	test('a terminal gets the line without it', async () => {
		const r = await onTerminal(cmd, { JOURNAL_STREAM: undefined });
		assert.equal(r.code, 1);
		assert.match(r.out, /^no config file /m);
		assert.doesNotMatch(r.out, /<\d>/);
	});
	test('a terminal that JOURNAL_STREAM names (journald would hold it) gets "<3>"', async () => {
		// systemd.exec(5): JOURNAL_STREAM is "DEV:INODE" of the stream connected to the journal.
		const r = await onTerminal(`JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec ${cmd}`);
		assert.equal(r.code, 1);
		assert.match(r.out, /^<3>no config file /m);
	});
	test('a JOURNAL_STREAM inherited for another file does not count: a terminal still gets none', async () => {
		const r = await onTerminal(`JOURNAL_STREAM=$(stat -L -c %d:%i /dev/null) exec ${cmd}`);
		assert.equal(r.code, 1);
		assert.match(r.out, /^no config file /m);
		assert.doesNotMatch(r.out, /<\d>/);
	});
});

describe('-s and -S create missing directories alike', () => {
	test('a socket and a store under folders that do not exist yet', async (t) => {
		const up = await startUpstream();
		t.after(() => up.close());
		const base = path.join(tmp, 'fresh');
		const socketPath = path.join(base, 'run', 'sub', 'toolhostd.sock');
		const storePath = path.join(base, 'lib', 'sub', 'toolhostd.db');
		const config = path.join(tmp, 'dirs.json');
		fs.writeFileSync(
			config,
			JSON.stringify({
				listen: { unix: { path: path.join(tmp, 'unused.sock') } },
				upstreams: [{ name: 'fake', base_url: up.url, default: true }],
				store: { path: path.join(tmp, 'unused.db') },
			}),
		);
		let log = '';
		// Under umask 0077 (the unit's): the socket's folders must still let allowed callers reach it.
		const p = spawn('sh', ['-c', 'umask 077; exec "$@"', 'sh', daemonPath(), '-c', config, '-s', socketPath, '-S', storePath], {
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		p.stdout.on('data', (b) => (log += b));
		p.stderr.on('data', (b) => (log += b));
		const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
		t.after(() => {
			if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
		});
		const deadline = Date.now() + HEALTH_TIMEOUT_MS;
		for (;;) {
			if (p.exitCode !== null) assert.fail(`toolhostd exited ${p.exitCode}:\n${log}`);
			const r = await rawRequest(socketPath, 'GET', '/healthz', undefined, {}, { timeoutMs: 1000 }).catch(() => null);
			if (r?.status === 200) break;
			if (Date.now() > deadline) assert.fail(`no answer on ${socketPath} within ${HEALTH_TIMEOUT_MS} ms:\n${log}`);
			await sleep(50);
		}
		assert.equal(fs.statSync(path.dirname(socketPath)).mode & 0o777, 0o755);
		assert.equal(fs.statSync(path.join(base, 'run')).mode & 0o777, 0o755);
		assert.ok(fs.existsSync(storePath));
		p.kill('SIGTERM');
		const ac = new AbortController();
		const done = await Promise.race([exited, sleep(STOP_TIMEOUT_MS, null, { signal: ac.signal }).catch(() => null)]);
		ac.abort();
		assert.ok(done, 'exits after SIGTERM');
		assert.equal(done.code, 0, log);
		assert.deepEqual(sanitizerReports(log), [], log);
		assert.ok(!fs.existsSync(socketPath), 'the socket file is removed at exit');
	});
});
