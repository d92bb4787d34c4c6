// Operator approvals benchmark (part of `make bench`; or node tests/bench/approvals.mjs after building
// build/release/toolhostd). Issue 13's figures, measured side by side in one run:
//
//   requested   OPERATORS operator streams (/v1/approvals/stream over the Unix socket) watch while
//               PENDING background responses (IN_FLIGHT created at a time) each make one MCP call that
//               waits for an operator. Per delivery: the event's at_ms (when the daemon sent it) ->
//               its arrival at each operator, for the first 50 created one at a time (nothing else
//               going on) and for the rest; per approval: POST -> its first arrival (the model turn
//               and the listing included). This one process reads all OPERATORS copies of every event,
//               so its own reading is in the figures: the floor beside them is a message the stream
//               answers at once (an unknown type).
//   snapshot    a new operator stream while PENDING wait: connect -> snapshot parsed, its bytes; floor:
//               JSON.parse of the same bytes here.
//   decision    every pending approval approved on one operator's stream, one at a time: send ->
//               approval.decision 200 (the row is claimed and the call started when it is answered),
//               and -> approval.resolved at every other operator; half with OPERATORS watching, half
//               with one (this process reads every copy of every event: with many watching it is part
//               of what is measured); and decided -> approval.resolved at each operator (its at_ms).
//   memory      toolhostd's RSS idle, with the streams open, and with PENDING waiting.
//
// Prints one line per figure (p50/p99 in ms over the samples named) and the ratios to the floors.
// Environment: TOOLHOSTD (build/release/toolhostd), BENCH_OPERATORS (100), BENCH_PENDING (1000).
// Exit status 0, or 2 when the bench could not run (a sample that never came, a refused request).

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from '../node_modules/ws/wrapper.mjs';
import { startDaemon } from '../integration/lib/harness.mjs';
import { REPO_ROOT, startMcpFault } from '../integration/lib/mcp.mjs';

const OPERATORS = Number(process.env.BENCH_OPERATORS || 100);
const PENDING = Number(process.env.BENCH_PENDING || 1000);
const IN_FLIGHT = 8;
process.env.TOOLHOSTD ||= path.join(REPO_ROOT, 'build/release/toolhostd');

const now = () => performance.now();
function pct(xs, p) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}
const f = (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a');
function row(name, xs, unit = 'ms', extra = '') {
	console.log(`${name.padEnd(44)} n=${String(xs.length).padStart(6)}  p50 ${f(pct(xs, 50)).padStart(8)} ${unit}  p99 ${f(pct(xs, 99)).padStart(8)} ${unit}${extra}`);
}
function fail(msg) {
	console.error(`bench-approvals: ${msg}`);
	process.exit(2);
}
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** An operator stream; onMessage(m, tArrived) for every message. */
function operator(socketPath, onMessage) {
	const ws = new WebSocket(`ws+unix://${socketPath}:/v1/approvals/stream`, { maxPayload: 256 * 1024 * 1024 });
	const opened = new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
	});
	ws.on('message', (data) => onMessage(JSON.parse(data.toString('utf8')), now(), data.length));
	return { ws, opened };
}

async function main() {
	const fault = await startMcpFault();
	const d = await startDaemon({
		config: {
			log_level: 'warning',
			operators: { uids: [process.getuid()] },
			limits: { keepalive_s: 60 },
			mcp_servers: [
				{ label: 'op', url: fault.url, approval: 'operator', require_approval: 'always', approval_expiry_s: 3600 },
			],
		},
	});
	const daemonPid = d.pid;
	try {
		const rssIdle = rssKiB(daemonPid);
		const create = (label, i) =>
			d.request('POST', '/v1/responses', { model: 'fake-mcp', background: true, store: true, input: `call echo {"message":"b${i}"}`, tools: [{ type: 'mcp', server_label: label }] });

		// ---- OPERATORS streams ----
		const arrivals = new Map(); // approval id -> [t of each operator's approval.requested]
		const resolvedAt = new Map(); // approval id -> [t ...]
		const requestedLag = []; // at_ms -> arrival, every delivery
		const resolvedLag = [];
		const wall = (t) => performance.timeOrigin + t;
		const decisionAnswers = new Map(); // request_id -> resolve
		const ops = [];
		const half = Math.ceil(PENDING / 2); // decided with OPERATORS watching; the rest with one
		for (let i = 0; i < OPERATORS; i++) {
			const o = operator(d.socketPath, (m, t) => {
				if (m.type === 'approval.requested') {
					requestedLag.push(wall(t) - m.at_ms);
					const a = arrivals.get(m.approval.id) ?? [];
					a.push(t);
					arrivals.set(m.approval.id, a);
				} else if (m.type === 'approval.resolved') {
					if (resolvedLag.length < half * OPERATORS) resolvedLag.push(wall(t) - m.at_ms);
					const a = resolvedAt.get(m.approval.id) ?? [];
					a.push(t);
					resolvedAt.set(m.approval.id, a);
				} else if (m.type === 'approval.decision' && i === 0) {
					decisionAnswers.get(m.request_id)?.(m);
				}
			});
			ops.push(o);
		}
		await Promise.all(ops.map((o) => o.opened));
		await sleep(200);
		const rssStreams = rssKiB(daemonPid);

		// ---- the first SEQUENTIAL waits one at a time: the lag with nothing else going on ----
		const SEQUENTIAL = Math.min(50, PENDING);
		const posted = new Map(); // response id -> t0
		for (let i = 0; i < SEQUENTIAL; i++) {
			const t0 = now();
			const r = await create('op', i);
			if (r.status !== 200) fail(`a create answered ${r.status}: ${r.body}`);
			posted.set(r.json().id, t0);
			const want = (i + 1) * OPERATORS;
			for (let n = 0; requestedLag.length < want; n++) {
				if (n > 20000) fail('a sequential approval never reached every operator');
				await sleep(1);
			}
		}
		const seqLag = requestedLag.splice(0);

		// ---- the other PENDING waits, IN_FLIGHT at a time ----
		for (let i = SEQUENTIAL; i < PENDING; i += IN_FLIGHT) {
			await Promise.all(
				Array.from({ length: Math.min(IN_FLIGHT, PENDING - i) }, async (_, k) => {
					const t0 = now();
					const r = await create('op', i + k);
					if (r.status !== 200) fail(`a create answered ${r.status}: ${r.body}`);
					posted.set(r.json().id, t0);
				}),
			);
		}
		const deadline = Date.now() + 120000;
		while ([...arrivals.values()].filter((a) => a.length === OPERATORS).length < PENDING) {
			if (Date.now() > deadline) fail(`only ${arrivals.size} of ${PENDING} approvals reached the operators`);
			await sleep(50);
		}
		const postToFirst = [];
		const spread = [];
		// Each approval's response comes from the snapshot (every pending one, with its response_id).
		let snapBytes = 0;
		let snapshot = null;
		const snapTimes = [];
		const parseFloor = [];
		for (let k = 0; k < 5; k++) {
			const t0 = now();
			const got = await new Promise((resolve, reject) => {
				const o = operator(d.socketPath, (m, t, bytes) => {
					if (m.type === 'approvals.snapshot') {
						resolve({ m, t, bytes });
						o.ws.close();
					}
				});
				o.opened.catch(reject);
			});
			snapTimes.push(got.t - t0);
			snapBytes = got.bytes;
			snapshot = got.m;
		}
		if (snapshot.approvals.length !== PENDING) fail(`the snapshot holds ${snapshot.approvals.length} of ${PENDING}`);
		const text = JSON.stringify(snapshot);
		for (let k = 0; k < 5; k++) {
			const t0 = now();
			JSON.parse(text);
			parseFloor.push(now() - t0);
		}
		for (const a of snapshot.approvals) {
			const t0 = posted.get(a.response_id);
			const arr = arrivals.get(a.id);
			if (t0 === undefined || !arr) fail(`approval ${a.id} of an unknown response`);
			postToFirst.push(Math.min(...arr) - t0);
			spread.push(Math.max(...arr) - Math.min(...arr));
		}
		const rssPending = rssKiB(daemonPid);

		// ---- floor of the stream: a message answered at once ----
		const op0 = ops[0].ws;
		let seq = 0;
		const ask = (msg) =>
			new Promise((resolve) => {
				const request_id = `b${++seq}`;
				const t0 = now();
				decisionAnswers.set(request_id, (m) => {
					decisionAnswers.delete(request_id);
					resolve({ m, ms: now() - t0, t0 });
				});
				op0.send(JSON.stringify({ ...msg, request_id }));
			});
		const roundTrip = [];
		for (let i = 0; i < 200; i++) roundTrip.push((await ask({ type: 'approval.nosuch' })).ms);

		// ---- decisions: approve every pending one, one at a time (latency), then the rate ----
		const decide = [];
		const toAll = [];
		const ids = snapshot.approvals.map((a) => [a.id, a.version]);
		const sent = new Map();
		const first = ids.slice(0, half);
		const tDecide = now();
		for (const [id, version] of first) {
			const { m, ms, t0 } = await ask({ type: 'approval.decide', id, version, decision: 'approve_once' });
			if (m.status !== 200) fail(`a decision answered ${m.status}: ${JSON.stringify(m.result)}`);
			decide.push(ms);
			sent.set(id, t0);
		}
		const decideRate = first.length / ((now() - tDecide) / 1000);
		const rdeadline = Date.now() + 60000;
		while ([...resolvedAt.values()].filter((a) => a.length === OPERATORS).length < first.length) {
			if (Date.now() > rdeadline) fail('not every resolution reached every operator');
			await sleep(50);
		}
		for (const [id] of first) toAll.push(Math.max(...resolvedAt.get(id)) - sent.get(id));
		// The other half with one operator watching: this process no longer reads OPERATORS copies of
		// each event before the answer, nor does the daemon write them.
		for (const o of ops.slice(1)) o.ws.close();
		await sleep(500);
		const decideOne = [];
		for (const [id, version] of ids.slice(first.length)) {
			const { m, ms } = await ask({ type: 'approval.decide', id, version, decision: 'approve_once' });
			if (m.status !== 200) fail(`a decision answered ${m.status}: ${JSON.stringify(m.result)}`);
			decideOne.push(ms);
		}

		console.log(`bench-approvals: ${OPERATORS} operator streams, ${PENDING} pending approvals (background responses), toolhostd ${process.env.TOOLHOSTD}`);
		row('floor: stream round trip (unknown type)', roundTrip);
		row(`requested -> event, ${OPERATORS} ops, one at a time`, seqLag, 'ms', `   ratio to floor p50 ${f(pct(seqLag, 50) / pct(roundTrip, 50))}`);
		row(`requested -> event, ${OPERATORS} ops, ${IN_FLIGHT} creates in flight`, requestedLag, 'ms', `   ratio to floor p50 ${f(pct(requestedLag, 50) / pct(roundTrip, 50))}`);
		row(`fan-out: 1st -> ${OPERATORS}th operator`, spread);
		row('POST -> approval.requested at 1st operator', postToFirst, 'ms', '   (the model turn and the listing included)');
		row(`decision -> answered, ${OPERATORS} watching`, decide, 'ms', `   ratio to floor p50 ${f(pct(decide, 50) / pct(roundTrip, 50))}`);
		row('decision -> answered, 1 watching', decideOne, 'ms', `   ratio to floor p50 ${f(pct(decideOne, 50) / pct(roundTrip, 50))}`);
		row(`resolved -> event, at each of ${OPERATORS} operators`, resolvedLag);
		row(`decision -> resolved at all ${OPERATORS} operators`, toAll, 'ms', `   ${decideRate.toFixed(0)} decisions/s one at a time`);
		row(`snapshot of ${PENDING}: connect -> parsed`, snapTimes, 'ms', `   ${(snapBytes / 1024).toFixed(0)} KiB`);
		row('floor: JSON.parse of that snapshot here', parseFloor, 'ms', `   ratio to floor p50 ${f(pct(snapTimes, 50) / pct(parseFloor, 50))}`);
		console.log(`toolhostd RSS: idle ${rssIdle} KiB, ${OPERATORS} streams ${rssStreams} KiB, +${PENDING} pending ${rssPending} KiB (${f((rssPending - rssStreams) / PENDING)} KiB per pending approval)`);
		for (const o of ops) o.ws.close();
	} finally {
		await d.stop().catch(() => {});
		await fault.stop();
	}
}

main().catch((e) => fail(e.stack || String(e)));
