// The README's newcomer path, as written: the curl and JS examples of "## Calling it" are taken from
// the markdown by their fences (the README stays the source of truth) and run verbatim against the
// daemon started the way `make run` starts it (scripts/run-local.sh, with RUN_DIR a temp folder and
// UPSTREAM_URL the fake upstream). The examples' socket path is relative to the repository's top
// folder; here they run from the temp folder, which holds build/run/ the same way. The JS example runs
// as an .mjs file inside tests/, so that it resolves tests/node_modules as `npm install openai undici`
// would. Also: the README's configuration block fails `-n` where the README says it does, and
// `make run` builds the toolhost-mcp the README points at.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startUpstream } from '../fakes/upstream.mjs';
import { daemonPath, HEALTH_TIMEOUT_MS, rawRequest, sanitizerReports, STOP_TIMEOUT_MS } from './lib/harness.mjs';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const EXAMPLE_TIMEOUT_MS = 30000;

/** The fenced blocks of the README section that starts with `heading`: [{lang, code}]. */
function fences(heading) {
	const at = README.indexOf(`\n${heading}\n`);
	assert.ok(at >= 0, `README.md has no "${heading}" section`);
	const next = README.indexOf('\n## ', at + heading.length + 2);
	const section = README.slice(at, next < 0 ? undefined : next);
	return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], code: m[2] }));
}

const calling = fences('## Calling it');
const curlExample = calling.filter((f) => f.lang === 'sh' && /\bcurl\b/.test(f.code));
const jsExample = calling.filter((f) => f.lang === 'js');
const wsExample = fences('## WebSocket mode').filter((f) => f.lang === 'js');
const exampleModels = [...[...calling, ...wsExample].map((f) => f.code).join('\n').matchAll(/"?model"?\s*:\s*"([^"]+)"/g)].map((m) => m[1]);

test('README: the examples name the model its local-upstream instructions install', () => {
	// `make run` without HF_TOKEN talks to a local server: a router model name would be a 404 there.
	const pulled = README.match(/`ollama pull ([^`\s]+)`/);
	assert.ok(pulled, 'the README says which model to pull for the local upstream');
	assert.ok(exampleModels.length >= 2, 'the examples name their model');
	for (const m of exampleModels) assert.equal(m, pulled[1], `example model ${m}`);
});

describe('README: the examples of "Calling it", verbatim, against scripts/run-local.sh', () => {
	let up, tmp, daemon, exited, log = '';
	// The exit, or null after ms; the timer goes with the answer (a pending one would hold node).
	const waitExit = async (ms) => {
		const ac = new AbortController();
		const r = await Promise.race([exited, sleep(ms, null, { signal: ac.signal }).catch(() => null)]);
		ac.abort();
		return r;
	};

	before(async () => {
		assert.equal(curlExample.length, 1, 'one curl example in "Calling it"');
		assert.equal(jsExample.length, 1, 'one JS example in "Calling it"');
		// The examples name a real model; the fake plays its text scenario for it.
		up = await startUpstream({ aliases: Object.fromEntries(exampleModels.map((n) => [n, 'fake-text'])) });

		tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-readme-'));
		const env = { ...process.env, RUN_DIR: path.join(tmp, 'build/run'), UPSTREAM_URL: up.url };
		delete env.HF_TOKEN;
		daemon = spawn('sh', [path.join(ROOT, 'scripts/run-local.sh'), daemonPath()], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
		daemon.stdout.on('data', (b) => (log += b));
		daemon.stderr.on('data', (b) => (log += b));
		exited = new Promise((resolve) => daemon.on('exit', (code, signal) => resolve({ code, signal })));

		const socketPath = path.join(tmp, 'build/run/toolhostd.sock');
		const deadline = Date.now() + HEALTH_TIMEOUT_MS;
		for (;;) {
			if (daemon.exitCode !== null) throw new Error(`run-local.sh exited ${daemon.exitCode}:\n${log}`);
			const r = await rawRequest(socketPath, 'GET', '/healthz', undefined, {}, { timeoutMs: 1000 }).catch(() => null);
			if (r?.status === 200) break;
			if (Date.now() > deadline) throw new Error(`run-local.sh: no healthy daemon within ${HEALTH_TIMEOUT_MS} ms:\n${log}`);
			await sleep(50);
		}
		assert.match(log, new RegExp(`toolhostd: socket ${socketPath.replace(/[.]/g, '\\.')}`));
	});

	after(async () => {
		if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
			daemon.kill('SIGTERM');
			if (!(await waitExit(STOP_TIMEOUT_MS))) daemon.kill('SIGKILL');
		}
		await up?.close();
		if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
	});

	test('the curl example streams a response', async () => {
		const { stdout } = await run('sh', ['-c', curlExample[0].code], { cwd: tmp, timeout: EXAMPLE_TIMEOUT_MS });
		assert.match(stdout, /^event: response\.created$/m);
		assert.match(stdout, /^event: response\.completed$/m);
		assert.match(stdout, /"delta":"Hello"/);
	});

	test('the JS example prints the answer', async () => {
		const file = path.join(ROOT, 'tests', `.readme-example-${process.pid}.mjs`);
		fs.writeFileSync(file, jsExample[0].code);
		try {
			const { stdout } = await run(process.execPath, [file], { cwd: tmp, timeout: EXAMPLE_TIMEOUT_MS });
			assert.equal(stdout, 'Hello from fake\n');
		} finally {
			fs.rmSync(file, { force: true });
		}
	});

	test('the WebSocket example prints the streamed answer', async () => {
		assert.equal(wsExample.length, 1, 'one JS example in "WebSocket mode"');
		const file = path.join(ROOT, 'tests', `.readme-ws-example-${process.pid}.mjs`);
		fs.writeFileSync(file, wsExample[0].code);
		try {
			const { stdout, stderr } = await run(process.execPath, [file], { cwd: tmp, timeout: EXAMPLE_TIMEOUT_MS });
			assert.equal(stdout, 'Hello from fake\n', stderr);
		} finally {
			fs.rmSync(file, { force: true });
		}
	});

	test('SIGTERM stops it cleanly', async () => {
		daemon.kill('SIGTERM');
		const done = await waitExit(STOP_TIMEOUT_MS);
		assert.ok(done, 'the daemon exits after SIGTERM');
		assert.equal(done.code, 0, log);
		assert.deepEqual(sanitizerReports(log), [], log);
	});
});

describe('README: what it says about the config and make run', () => {
	test('the configuration block fails -n on its key file until that exists, then passes', async (t) => {
		const blocks = fences('## Configuration').filter((f) => f.lang === 'json');
		assert.ok(blocks.length >= 1);
		const text = blocks[0].code;
		const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-readme-config-'));
		t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
		const env = { ...process.env };
		delete env.HF_TOKEN;
		const check = async (file, e) =>
			run(daemonPath(), ['-n', '-c', file], { env: e, timeout: 10000 }).then(
				(r) => ({ code: 0, out: r.stdout + r.stderr }),
				(err) => ({ code: err.code, out: err.stdout + err.stderr }),
			);

		fs.writeFileSync(path.join(tmp, 'as-written.json'), text);
		const keyPath = JSON.parse(text).api_keys[0].key_file;
		if (!fs.existsSync(keyPath)) {
			const r = await check(path.join(tmp, 'as-written.json'), env);
			assert.notEqual(r.code, 0);
			assert.match(r.out, /api_keys\[0\]\.key_file: cannot open/);
			const prose = README.replace(/\s+/g, ' ');
			assert.ok(prose.includes(`fails (naming \`api_keys[0].key_file\`) until \`${keyPath}\` exists`), 'the README says so');
		}
		// With the key file in place (a temp one), HF_TOKEN is the next thing it needs, as the README says.
		fs.writeFileSync(path.join(tmp, 'agent.key'), 'k'.repeat(64) + '\n', { mode: 0o600 });
		fs.writeFileSync(path.join(tmp, 'with-key.json'), text.replace(keyPath, path.join(tmp, 'agent.key')));
		let r = await check(path.join(tmp, 'with-key.json'), env);
		assert.notEqual(r.code, 0);
		assert.match(r.out, /HF_TOKEN is not set/);
		r = await check(path.join(tmp, 'with-key.json'), { ...env, HF_TOKEN: 'hf_test' });
		assert.equal(r.code, 0, r.out);
		assert.match(r.out, /configuration OK/);
	});

	test('make run builds the toolhost-mcp the README points at', async (t) => {
		assert.match(README, /`build\/release\/toolhost-mcp` is the same client as a command/);
		const build = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-readme-make-'));
		t.after(() => fs.rmSync(build, { recursive: true, force: true }));
		// -n: print what `make run` would do in a fresh build folder, run nothing.
		const { stdout } = await run('make', ['-n', '-C', ROOT, 'run', `BUILD=${build}`], { timeout: 30000 });
		assert.match(stdout, new RegExp(`-o ${build}/toolhost-mcp `));
		assert.match(stdout, new RegExp(`-o ${build}/toolhostd `));
	});
});
