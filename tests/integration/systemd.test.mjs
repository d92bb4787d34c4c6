// systemd/toolhostd.service: its exposure score stays at or under 1.2, and the daemon still starts
// under what the unit asks, emulated by tests/systemd/sdlaunch (systemd is not PID 1 here): the
// syscall groups the unit's SystemCallFilter=~ denies, read from the unit and expanded by
// `systemd-analyze syscall-filter` at test time; its UMask=; a non-root user with an empty capability
// bounding set; ProtectProc=invisible, ProcSubset=pid, PrivateMounts=yes; under systemd-socket-activate
// with NOTIFY_SOCKET and a watchdog. READY=1 and WATCHDOG=1 must come from the daemon's own pid and a
// request must be served on the activated socket.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startUpstream } from '../fakes/upstream.mjs';
import { daemonPath, HEALTH_TIMEOUT_MS, rawRequest, sanitizerReports, STOP_TIMEOUT_MS } from './lib/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = path.join(ROOT, 'systemd/toolhostd.service');
const MAX_EXPOSURE = 1.2;
const NOBODY = 65534;

function launcherPath() {
	const p = path.join(path.dirname(daemonPath()), 'tests', 'sdlaunch');
	assert.ok(fs.existsSync(p), `${p} is missing: build it with the unit tests (make ... unit-bins)`);
	return p;
}

/** The values of KEY= in the unit's [Service] section, in order. */
function unitValues(key) {
	return fs
		.readFileSync(UNIT, 'utf8')
		.split('\n')
		.filter((l) => l.startsWith(`${key}=`))
		.map((l) => l.slice(key.length + 1).trim());
}

/** Every syscall of the groups (recursively: @privileged holds @chown, ...), as systemd lists them. */
function expandGroups(groups) {
	const out = new Set();
	const seen = new Set();
	const todo = [...groups];
	while (todo.length) {
		const g = todo.pop();
		if (seen.has(g)) continue;
		seen.add(g);
		const text = execFileSync('systemd-analyze', ['syscall-filter', g], { encoding: 'utf8' });
		for (const raw of text.split('\n').slice(1)) {
			const l = raw.trim();
			if (!l || l.startsWith('#')) continue;
			if (l.startsWith('@')) todo.push(l);
			else out.add(l);
		}
	}
	return [...out].sort();
}

/** Runs sdlaunch with args; resolves {code, out, lines} at exit. onLine sees stdout lines as they come. */
function launch(args, { env = {}, onLine = () => {} } = {}) {
	const p = spawn(launcherPath(), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	let partial = '';
	p.stdout.on('data', (b) => {
		out += b;
		partial += b;
		const lines = partial.split('\n');
		partial = lines.pop();
		for (const l of lines) onLine(l);
	});
	p.stderr.on('data', (b) => (out += b));
	const done = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, out })));
	return { p, done, log: () => out };
}

async function within(promise, ms, what, log = () => '') {
	const ac = new AbortController();
	const r = await Promise.race([promise, sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined)]);
	ac.abort();
	assert.notEqual(r, undefined, `${what}: not within ${ms} ms\n${log()}`);
	return r;
}

describe('systemd/toolhostd.service', () => {
	test(`systemd-analyze security --offline=yes scores it at or under ${MAX_EXPOSURE}`, () => {
		const text = execFileSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], { encoding: 'utf8' });
		const m = text.match(/Overall exposure level for toolhostd\.service: (\d+\.\d+)/);
		assert.ok(m, text);
		assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]} > ${MAX_EXPOSURE}:\n${text}`);
	});

	const denyGroups = unitValues('SystemCallFilter')
		.filter((v) => v.startsWith('~'))
		.flatMap((v) => v.slice(1).trim().split(/\s+/));
	const denied = () => expandGroups(denyGroups);

	test('the unit denies @privileged and @resources; the launcher really kills on them', async () => {
		assert.ok(denyGroups.includes('@privileged') && denyGroups.includes('@resources'), denyGroups.join(' '));
		const list = denied();
		assert.ok(list.includes('setuid') && list.includes('chown') && list.includes('setpriority'), list.join(' '));
		// A control: nice(1) calls setpriority, which the filter must turn into SIGSYS.
		const r = await within(launch([...list.flatMap((s) => ['-d', s]), '--', 'nice', '-n', '1', 'true']).done, 10000, 'nice');
		assert.match(r.out, /exit signal=31\b/, r.out);
	});

	test('toolhostd starts under the unit\'s settings: READY=1 and WATCHDOG=1 from its pid, a request served', async (t) => {
		const sa = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate'].find((p) => fs.existsSync(p));
		assert.ok(sa, 'systemd-socket-activate is needed (package systemd)');
		const umask = unitValues('UMask')[0];
		assert.ok(umask, 'the unit sets UMask=');

		const up = await startUpstream();
		t.after(() => up.close());
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-systemd-'));
		t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
		fs.chownSync(dir, NOBODY, NOBODY); // the service user must own its state, as StateDirectory= does
		const socketPath = path.join(dir, 'toolhostd.sock');
		const notifyPath = path.join(dir, 'notify.sock');
		const config = path.join(dir, 'toolhostd.json');
		fs.writeFileSync(
			config,
			JSON.stringify({
				listen: { unix: { path: path.join(dir, 'unused.sock') } },
				upstreams: [{ name: 'fake', base_url: up.url, default: true }],
				store: { path: path.join(dir, 'state', 'toolhostd.db') },
			}),
		);

		const seen = { ready: null, watchdog: null, stopping: null, child: null };
		const waiters = [];
		const onLine = (l) => {
			let m = l.match(/^child pid=(\d+)$/);
			if (m) seen.child = Number(m[1]);
			m = l.match(/^notify pid=(\d+): (READY=1|WATCHDOG=1|STOPPING=1)$/);
			if (m) seen[m[2].split('=')[0].toLowerCase()] ??= Number(m[1]);
			for (const w of waiters.splice(0)) w();
		};
		const until = (pred, ms, what) =>
			within(
				(async () => {
					while (!pred()) await new Promise((r) => waiters.push(r));
					return true;
				})(),
				ms,
				what,
				() => l.log(),
			);

		const args = [
			...denied().flatMap((s) => ['-d', s]),
			'-m', umask,
			'-u', `${NOBODY}:${NOBODY}`,
			'-p',
			'-N', notifyPath,
			'-W', '2000000', // WatchdogSec=2: the daemon pings every second
			'--',
			sa, '-l', socketPath,
			'-E', 'NOTIFY_SOCKET', '-E', 'WATCHDOG_USEC', '-E', 'WATCHDOG_PID', '-E', 'ASAN_OPTIONS', '-E', 'UBSAN_OPTIONS',
			daemonPath(), '-c', config,
		];
		const l = launch(args, { env: { ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' }, onLine });
		t.after(() => {
			if (l.p.exitCode === null && l.p.signalCode === null) l.p.kill('SIGKILL');
		});
		l.done.then(() => {
			for (const w of waiters.splice(0)) w();
		});

		// systemd-socket-activate starts the daemon at the first connection, as socket activation does.
		for (let i = 0; !fs.existsSync(socketPath); i++) {
			assert.ok(i < HEALTH_TIMEOUT_MS / 50 && l.p.exitCode === null, `no activated socket:\n${l.log()}`);
			await sleep(50);
		}
		const r = await rawRequest(socketPath, 'POST', '/v1/responses', { model: 'fake-text', input: 'echo: under the unit' });
		assert.equal(r.status, 200, r.body);
		assert.equal(r.json().output.at(-1).content[0].text, 'under the unit');
		assert.match(l.log(), /listening on 1 socket\(s\) passed by systemd/);
		await until(() => seen.ready !== null, 5000, 'READY=1');
		// systemd-socket-activate execs the daemon: the child's pid is the daemon's (NotifyAccess=main).
		assert.equal(seen.ready, seen.child, l.log());

		await until(() => seen.watchdog !== null, 10000, 'WATCHDOG=1');
		assert.equal(seen.watchdog, seen.child);
		// UMask=0077 and User=: what the daemon created is its own, and nobody else's.
		const db = fs.statSync(path.join(dir, 'state', 'toolhostd.db'));
		assert.equal(db.uid, NOBODY);
		assert.equal(db.mode & 0o077, 0);

		l.p.kill('SIGTERM');
		const end = await within(l.done, STOP_TIMEOUT_MS, 'exit after SIGTERM', () => l.log());
		assert.match(end.out, /exit status=0\n/, end.out);
		assert.equal(seen.stopping, seen.child, end.out);
		assert.deepEqual(sanitizerReports(end.out), [], end.out);
	});
});
