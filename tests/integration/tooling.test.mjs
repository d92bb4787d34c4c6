// The project's own scripts: tests/run.sh must not count a summary it cannot read as zero tests, and
// scripts/setup-debian.sh must wait (bounded) for another apt's lock instead of failing at once.
// Both run on copies in a temp dir with fake node / apt-get / dpkg-query first in PATH: nothing here
// touches the machine's apt or runs a real test suite.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhost-tooling-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(file, text, mode = 0o644) {
	fs.mkdirSync(path.dirname(file), { recursive: true });
	fs.writeFileSync(file, text, { mode });
}

// A copy of a repository script at the same relative path under a fresh tree, so that its
// `cd "$(dirname "$0")/.."` lands in the tree and not in the repository.
function tree(name, script) {
	const dir = path.join(tmp, name);
	write(path.join(dir, script), fs.readFileSync(path.join(ROOT, script)), 0o755);
	return dir;
}

function run(dir, args, env, timeout = 20000) {
	const r = spawnSync('sh', args, { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout });
	assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error}`);
	return { code: r.status, out: r.stdout + r.stderr };
}

const SUMMARY = (t, p, f, c = 0, s = 0, d = 0) =>
	`ℹ tests ${t}\nℹ suites 0\nℹ pass ${p}\nℹ fail ${f}\nℹ cancelled ${c}\nℹ skipped ${s}\nℹ todo ${d}\nℹ duration_ms 12.5\n`;

describe('tests/run.sh reads the closing lines it counts', () => {
	// A fake node that prints $FAKE_NODE_OUT and exits with $FAKE_NODE_RC.
	function runSh(name, nodeOut, nodeRc, unitBins = []) {
		const dir = tree(name, 'tests/run.sh');
		write(path.join(dir, 'tests/integration/x.test.mjs'), '');
		write(path.join(dir, 'bin/node'), '#!/bin/sh\nprintf "%s" "$FAKE_NODE_OUT"\nexit "$FAKE_NODE_RC"\n', 0o755);
		const mode = unitBins.length ? '--unit-only' : '--integration-only';
		const bins = unitBins.map(([file, text, rc]) => {
			const p = path.join(dir, 'bin', file);
			write(p, `#!/bin/sh\nprintf '%s' '${text}'\nexit ${rc}\n`, 0o755);
			return p;
		});
		return run(dir, ['tests/run.sh', mode, ...bins], {
			PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
			TOOLHOSTD: '/bin/true',
			FAKE_NODE_OUT: nodeOut,
			FAKE_NODE_RC: String(nodeRc),
		});
	}
	const closing = (out) => out.trim().split('\n').at(-1);

	test('a complete summary is counted', () => {
		const r = runSh('ok', `✔ a\n✔ b\n${SUMMARY(3, 2, 0, 0, 1)}`, 0);
		assert.equal(closing(r.out), '2 passed, 0 failed', r.out);
		assert.equal(r.code, 0);
	});
	test('no summary at all fails instead of counting 0', () => {
		const r = runSh('none', 'TAP version 13\n# pass 2\n# fail 0\n', 0);
		assert.match(r.out, /summary .* not found/);
		assert.equal(closing(r.out), '0 passed, 1 failed', r.out);
		assert.equal(r.code, 1);
	});
	test('a summary that lost a line fails', () => {
		const r = runSh('partial', '✔ a\nℹ tests 1\nℹ passed 1\nℹ fail 0\n', 0);
		assert.match(r.out, /summary .* not found/);
		assert.equal(closing(r.out), '0 passed, 1 failed', r.out);
		assert.equal(r.code, 1);
	});
	test('a summary that does not add up fails', () => {
		const r = runSh('sum', SUMMARY(5, 2, 0), 0);
		assert.match(r.out, /does not add up/);
		assert.equal(closing(r.out), '2 passed, 1 failed', r.out);
		assert.equal(r.code, 1);
	});
	test('cancelled tests count as failed', () => {
		const r = runSh('cancel', SUMMARY(3, 1, 0, 2), 1);
		assert.equal(closing(r.out), '1 passed, 2 failed', r.out);
		assert.equal(r.code, 1);
	});
	test('a unit binary with no closing line fails, even when it exits 0', () => {
		const r = runSh('unit', '', 0, [
			['test_good', 'x.c: 4 passed, 0 failed\n', 0],
			['test_mute', 'ok\n', 0],
		]);
		assert.match(r.out, /test_mute: no "N passed, N failed" line/);
		assert.equal(closing(r.out), '4 passed, 1 failed', r.out);
		assert.equal(r.code, 1);
	});
});

describe('scripts/setup-debian.sh waits for another apt, bounded', () => {
	// Fakes: every package is missing; apt-get logs its arguments and, while $dir/locked-updates
	// holds a number above 0, fails `update` the way apt does when another apt holds the lists lock.
	function setup(name, { lockedUpdates = 0, updateError = '' } = {}) {
		const dir = tree(name, 'scripts/setup-debian.sh');
		const bin = path.join(dir, 'bin');
		write(path.join(bin, 'dpkg-query'), '#!/bin/sh\nprintf "install ok not-installed"\n', 0o755);
		write(path.join(bin, 'npm'), '#!/bin/sh\nexit 0\n', 0o755);
		write(path.join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n', 0o755);
		write(path.join(dir, 'locked-updates'), String(lockedUpdates));
		write(
			path.join(bin, 'apt-get'),
			`#!/bin/sh
echo "apt-get $*" >>"${dir}/apt.log"
case " $* " in
*" update "*)
	if [ -n "${updateError}" ]; then echo "${updateError}" >&2; exit 100; fi
	n=$(cat "${dir}/locked-updates")
	if [ "$n" -gt 0 ]; then
		echo $((n - 1)) >"${dir}/locked-updates"
		echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
		echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
		exit 100
	fi ;;
esac
exit 0
`,
			0o755,
		);
		return {
			dir,
			run: (env) => run(dir, ['scripts/setup-debian.sh'], { PATH: `${bin}:${process.env.PATH}`, ...env }),
			log: () => (fs.existsSync(path.join(dir, 'apt.log')) ? fs.readFileSync(path.join(dir, 'apt.log'), 'utf8') : ''),
		};
	}

	test('apt-get update is retried while the lists lock is held, then install runs with a lock timeout', () => {
		const s = setup('wait', { lockedUpdates: 2 });
		const r = s.run({ APT_LOCK_WAIT: '30', APT_LOCK_POLL: '0.1' });
		assert.equal(r.code, 0, r.out);
		assert.match(r.out, /another apt holds its lock; waiting/);
		const calls = s.log().trim().split('\n');
		assert.equal(calls.filter((l) => / update /.test(` ${l} `)).length, 3, s.log());
		const install = calls.find((l) => / install /.test(l));
		assert.ok(install, s.log());
		assert.match(install, /-o DPkg::Lock::Timeout=30 /);
		assert.match(install, / libseccomp-dev /);
	});
	test('a lock held past APT_LOCK_WAIT fails with a message, and install is not tried', () => {
		const s = setup('timeout', { lockedUpdates: 1000 });
		const r = s.run({ APT_LOCK_WAIT: '1', APT_LOCK_POLL: '0.2' });
		assert.notEqual(r.code, 0);
		assert.match(r.out, /still holds its lock after 1s/);
		assert.doesNotMatch(s.log(), / install /);
	});
	test('any other apt failure is reported at once, not waited on', () => {
		const s = setup('other', { updateError: 'E: The repository is not signed.' });
		const r = s.run({ APT_LOCK_WAIT: '30', APT_LOCK_POLL: '0.1' });
		assert.notEqual(r.code, 0);
		assert.match(r.out, /not signed/);
		assert.equal(s.log().trim().split('\n').length, 1, s.log());
	});
});
