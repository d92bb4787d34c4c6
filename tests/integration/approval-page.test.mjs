// The operators' approval page (issue 13, APPROVALS-NOTES.md 5) in a real browser: Debian's chromium
// driven by the pinned puppeteer-core. The operator logs in with a one-time URL from `toolhostctl
// login-url`; the page shows each waiting call and decides it over /v1/approvals/stream. Screenshots
// go to build/test-output/approval-page/ (TEST_OUTPUT_DIR) for a person to look at.
//
// The caller is a TCP api key ("key=caller"), the operator uid 0 on the Unix socket, as in
// operator-approvals.test.mjs. Every wait is bounded.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { launchBrowser, screenshot, watchProblems } from './lib/browser.mjs';
import { freePort, httpRequest, rawSSE, runCommand, startDaemon } from './lib/harness.mjs';
import { REPO_ROOT, startMcpFault } from './lib/mcp.mjs';

const T = { timeout: 45000 };
const SETUP = { timeout: 60000 };
const KEY = { name: 'caller', key: 'page-test-caller-key-0123456789abcdef' };
const SHOTS = 'approval-page';
const EXPIRY_S = 10; // the smallest approval_expiry_s the config takes

const ofType = (r, type) => r.output.filter((i) => i.type === type);

describe('the approval page, in Chromium', () => {
	let fault;
	let d;
	let tcp;
	let origin;
	let browser;
	const pages = [];

	const ctl = (...args) => runCommand([path.resolve(REPO_ROOT, process.env.TOOLHOSTCTL || 'build/asan/toolhostctl'), '-s', d.socketPath, ...args], { timeoutMs: 15000 });
	const asOperator = (method, urlPath, body) => d.request(method, urlPath, body);
	const get = (urlPath, headers = {}) => httpRequest(tcp, 'GET', urlPath, undefined, { authorization: null, ...headers });

	async function loginUrl() {
		const r = await ctl('login-url');
		assert.equal(r.code, 0, r.stderr);
		return r.stdout.trim();
	}

	/** A session cookie ("toolhost_operator=...") from a fresh login URL, as a browser would get it. */
	async function sessionCookie() {
		const u = new URL(await loginUrl());
		const r = await get(u.pathname + u.search);
		assert.equal(r.status, 303, r.body);
		return r.headers['set-cookie'][0].split(';')[0];
	}

	/** A logged-in page in a browser context of its own (its own cookies), its stream live. */
	async function openPage({ viewport = { width: 1100, height: 900 }, beforeLoad } = {}) {
		const context = await browser.createBrowserContext();
		const page = await context.newPage();
		await page.setViewport(viewport);
		const problems = watchProblems(page);
		if (beforeLoad) await beforeLoad(page, context);
		const res = await page.goto(await loginUrl(), { waitUntil: 'domcontentloaded' });
		assert.equal(res.status(), 200, 'the login URL lands on the page');
		assert.equal(new URL(page.url()).pathname, '/ui/');
		await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
		pages.push(context);
		return { page, context, problems };
	}

	/** A streamed create by the caller; events collected as they come. */
	function streamCreate(input, label = 'op') {
		const events = [];
		let abort = null;
		const done = rawSSE(tcp, '/v1/responses', { model: 'fake-mcp', stream: true, input, tools: [{ type: 'mcp', server_label: label }] }, {
			headers: { authorization: `Bearer ${KEY.key}`, 'user-agent': 'page-test-agent/1.0' },
			timeoutMs: 40000,
			onFrame(f, c) {
				abort = c.abort;
				if (f.kind === 'event' && f.data !== '[DONE]') events.push(JSON.parse(f.data));
			},
		});
		return { events, done, abort: () => abort?.(), completed: () => events.find((e) => e.type === 'response.completed')?.response };
	}

	/** The card of the first approval whose arguments contain text, once the page shows it. */
	async function cardWith(page, text) {
		const handle = await page.waitForFunction(
			(t) => [...document.querySelectorAll('li.card')].find((c) => c.querySelector('pre.args')?.textContent.includes(t)),
			{ timeout: 10000 },
			text,
		);
		const id = await handle.evaluate((c) => c.dataset.id);
		return { id, text: await handle.evaluate((c) => c.innerText), handle };
	}

	const gone = (page, id) => page.waitForFunction((x) => !document.querySelector(`li.card[data-id="${x}"]`), { timeout: 10000 }, id);

	async function actors(id) {
		const q = await runCommand(['sqlite3', '-batch', d.dbPath, `SELECT decision || ' ' || actor FROM mcp_approval_decisions WHERE approval_id = '${id}' ORDER BY id;`]);
		assert.equal(q.code, 0, q.stderr);
		return q.stdout.trim().split('\n').filter(Boolean);
	}

	before(async () => {
		fault = await startMcpFault();
		const port = await freePort('127.0.0.1');
		tcp = { host: '127.0.0.1', port };
		origin = `http://127.0.0.1:${port}`;
		d = await startDaemon({
			config: {
				listen: { tcp: { address: '127.0.0.1', port } },
				api_keys: [KEY],
				operators: { uids: [0] },
				limits: { keepalive_s: 1 },
				mcp_servers: [
					{ label: 'op', url: fault.url, cache_ttl_s: 0, approval: 'operator', require_approval: 'always' },
					{ label: 'brief', url: fault.url, cache_ttl_s: 0, approval: 'operator', require_approval: 'always', approval_expiry_s: EXPIRY_S },
				],
			},
		});
		browser = await launchBrowser();
	}, SETUP);

	after(async () => {
		for (const c of pages) await c.close().catch(() => {});
		await browser?.close();
		await d?.stop();
		await fault?.stop();
	}, SETUP);

	it('no way in without a login: no token, a forged or spent one, a forged cookie, a foreign Host or Origin; no CORS', T, async () => {
		const page = await get('/ui/');
		assert.equal(page.status, 401);
		assert.match(page.body, /toolhostctl login-url/);
		assert.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
		assert.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
		assert.equal(page.headers['access-control-allow-origin'], undefined);
		for (const p of ['/ui/login', '/ui/login?token=', '/ui/login?token=oplogin_00000000000000000000000000000000']) {
			const r = await get(p);
			assert.equal(r.status, 403, p);
			assert.equal(r.headers['set-cookie'], undefined, p);
		}
		const forged = await get('/ui/', { cookie: 'toolhost_operator=opsess_00000000000000000000000000000000' });
		assert.equal(forged.status, 401);
		// A login URL works once; its cookie is HttpOnly and SameSite=Strict.
		const url = new URL(await loginUrl());
		assert.equal(url.origin, origin);
		const first = await get(url.pathname + url.search);
		assert.equal(first.status, 303);
		assert.equal(first.headers.location, '/ui/');
		assert.match(first.headers['set-cookie'][0], /^toolhost_operator=opsess_[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
		assert.equal((await get(url.pathname + url.search)).status, 403, 'spent');
		const cookie = first.headers['set-cookie'][0].split(';')[0];
		assert.equal((await get('/ui/', { cookie })).status, 200);
		assert.equal((await get('/ui/', { cookie, host: 'evil.example' })).status, 403, 'DNS rebinding: a foreign Host');
		const js = await get('/ui/app.js');
		assert.equal(js.status, 200);
		assert.match(js.headers['content-type'], /^text\/javascript/);
		// A caller's key makes no login URL.
		const byCaller = await httpRequest(tcp, 'POST', '/v1/approvals/login', {}, { authorization: `Bearer ${KEY.key}` });
		assert.equal(byCaller.status, 403, byCaller.body);
		// The stream: a forged cookie, a foreign Origin, a foreign Host are refused; the real one opens.
		const upgrade = (headers) =>
			new Promise((resolve) => {
				const ws = new WebSocket(`ws://127.0.0.1:${tcp.port}/v1/approvals/stream`, { headers });
				ws.once('unexpected-response', (_q, res) => resolve(res.statusCode));
				ws.once('open', () => {
					ws.close();
					resolve(101);
				});
				ws.once('error', () => resolve(-1));
			});
		assert.equal(await upgrade({ cookie: 'toolhost_operator=opsess_00000000000000000000000000000000', origin }), 403);
		assert.equal(await upgrade({ origin }), 403, 'no cookie on TCP');
		assert.equal(await upgrade({ cookie, origin: 'http://evil.example' }), 403);
		assert.equal(await upgrade({ cookie, origin: 'null' }), 403);
		assert.equal(await upgrade({ cookie, origin: 'http://evil.example', host: 'evil.example' }), 403);
		assert.equal(await upgrade({ cookie: await sessionCookie(), origin }), 101);
		// No CORS anywhere: a preflight gets no Access-Control-* header.
		const pre = await httpRequest(tcp, 'OPTIONS', '/v1/responses', undefined, { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
		assert.ok(!Object.keys(pre.headers).some((h) => h.startsWith('access-control-')), JSON.stringify(pre.headers));
	});

	it('a waiting call on two pages: what the operator needs to decide, secrets hidden; approve on one, gone from both, it runs', T, async () => {
		const one = await openPage();
		const two = await openPage();
		assert.equal(await one.page.evaluate(() => document.cookie), '', 'the session cookie is HttpOnly');
		const long = 'x'.repeat(2000);
		const s = streamCreate(`say I will deploy the release now.\ncall echo {"message":"deploy ${long}","api_key":"sk-live-abcdef"}`);
		const card = await cardWith(one.page, 'deploy');
		await cardWith(two.page, 'deploy');
		const a = JSON.parse((await asOperator('GET', `/v1/approvals/${card.id}`)).body);
		for (const want of ['key=caller', a.response_id, 'fake-mcp', 'op / Echo', 'require_approval', 'expires in', '[redacted: 14 characters]', 'more characters]', 'Client\npage-test-agent/1.0', 'The model, before the call: I will deploy the release now.']) assert.ok(card.text.includes(want), `the card shows ${want}:\n${card.text}`);
		assert.ok(!card.text.includes('sk-live-abcdef'), 'the secret is not shown');
		assert.ok(!card.text.includes(long), 'the long string is cut');
		await screenshot(one.page, SHOTS, 'pending-desktop');
		await one.page.click(`li.card[data-id="${card.id}"] button[data-act="approve_once"]`);
		await gone(one.page, card.id);
		await gone(two.page, card.id);
		await s.done;
		const call = ofType(s.completed(), 'mcp_call')[0];
		assert.equal(call.status, 'completed');
		assert.match(call.output, /^Echo: deploy x+/);
		assert.deepEqual(await actors(card.id), ['approve_once uid=0 via page']);
		await screenshot(one.page, SHOTS, 'empty-after-approve');
		assert.deepEqual([...one.problems, ...two.problems], [], 'no console errors (a CSP violation would be one)');
	});

	it('on a phone: deny from the keyboard with a message; the model is told', T, async () => {
		const phone = await openPage({ viewport: { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } });
		const s = streamCreate('call echo {"message":"rm -rf /srv"}');
		const card = await cardWith(phone.page, 'rm -rf');
		await screenshot(phone.page, SHOTS, 'pending-phone');
		const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
		assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
		await phone.page.focus(`li.card[data-id="${card.id}"]`);
		await phone.page.keyboard.press('m');
		await phone.page.keyboard.type('not on the prod box');
		await phone.page.keyboard.press('Enter');
		await gone(phone.page, card.id);
		await s.done;
		const call = ofType(s.completed(), 'mcp_call')[0];
		assert.equal(call.status, 'failed');
		assert.match(call.error.message, /not on the prod box/);
		assert.deepEqual(phone.problems, []);
	});

	it('two calls of one response: approve all from the page, both run', T, async () => {
		const { page, problems } = await openPage();
		const s = streamCreate('call echo {"message":"batch one"}\ncall add {"a":20,"b":22}');
		const card = await cardWith(page, 'batch one');
		await page.waitForFunction(() => document.querySelectorAll('li.card .batch:not([hidden])').length === 2, { timeout: 10000 }).catch(async (e) => {
			await screenshot(page, SHOTS, 'batch-failed');
			throw new Error(`${e.message}: ${await page.evaluate(() => document.body.innerText)}`);
		});
		await screenshot(page, SHOTS, 'batch');
		await page.click(`li.card[data-id="${card.id}"] button[data-act="approve_all"]`);
		await s.done;
		const calls = ofType(s.completed(), 'mcp_call');
		assert.deepEqual(calls.map((c) => c.status), ['completed', 'completed']);
		await page.waitForFunction(() => document.querySelectorAll('li.card').length === 0, { timeout: 10000 });
		assert.deepEqual(problems, []);
	});

	it('always, then the tool changes: the page says so and shows both definitions', T, async () => {
		const { page, problems } = await openPage();
		const s1 = streamCreate('call echo {"message":"rule me"}');
		const c1 = await cardWith(page, 'rule me');
		await page.click(`li.card[data-id="${c1.id}"] button[data-act="always"]`);
		await s1.done;
		assert.equal(ofType(s1.completed(), 'mcp_call')[0].status, 'completed');
		await fault.post(`/_describe?tool=echo&text=${encodeURIComponent('Echoes, and forwards it to a webhook.')}`);
		try {
			const s2 = streamCreate('call echo {"message":"changed tool"}');
			const c2 = await cardWith(page, 'changed tool');
			assert.match(c2.text, /The tool changed since you allowed it always/);
			assert.match(c2.text, /forwards it to a webhook/);
			const diff = await c2.handle.evaluate((c) => c.querySelector('.changed pre.diff').textContent);
			assert.equal(diff, '-   "description": "Echoes the message back.",\n+   "description": "Echoes, and forwards it to a webhook.",\n');
			await page.evaluate((id) => {
				for (const d of document.querySelectorAll(`li.card[data-id="${id}"] .changed details`)) d.open = true;
			}, c2.id);
			await screenshot(page, SHOTS, 'definition-changed');
			await page.click(`li.card[data-id="${c2.id}"] button[data-act="deny"]`);
			await s2.done;
			assert.equal(ofType(s2.completed(), 'mcp_call')[0].status, 'failed');
		} finally {
			await fault.post(`/_describe?tool=echo&text=${encodeURIComponent('Echoes the message back.')}`);
		}
		const rule = JSON.parse((await asOperator('GET', '/v1/approvals/rules')).body).data.find((r) => r.from_approval === c1.id);
		assert.ok(rule);
		assert.equal(rule.created_by, 'uid=0 via page');
		assert.equal((await asOperator('DELETE', `/v1/approvals/rules/${rule.id}`)).status, 200);
		assert.deepEqual(problems, []);
	});

	it('two responses wait: a page opened later shows both (snapshot); each button decides its own call, never the other', T, async () => {
		const first = await openPage();
		const a = streamCreate('call echo {"message":"alpha"}');
		const b = streamCreate('call echo {"message":"bravo"}');
		const ca = await cardWith(first.page, 'alpha');
		const cb = await cardWith(first.page, 'bravo');
		const late = await openPage();
		await cardWith(late.page, 'alpha');
		await cardWith(late.page, 'bravo');
		await late.page.click(`li.card[data-id="${ca.id}"] button[data-act="approve_once"]`);
		await a.done;
		assert.equal(ofType(a.completed(), 'mcp_call')[0].output, 'Echo: alpha');
		await gone(first.page, ca.id);
		assert.equal(b.completed(), undefined, 'the other response still waits');
		assert.ok(await first.page.$(`li.card[data-id="${cb.id}"]`), 'and its card is still there');
		assert.equal(JSON.parse((await asOperator('GET', `/v1/approvals/${cb.id}`)).body).status, 'pending');
		await first.page.click(`li.card[data-id="${cb.id}"] button[data-act="deny"]`);
		await b.done;
		assert.equal(ofType(b.completed(), 'mcp_call')[0].status, 'failed');
		await gone(late.page, cb.id);
		assert.deepEqual([...first.problems, ...late.problems], []);
	});

	it('expiry: the countdown runs out, the card leaves, the call is denied as expired', { timeout: 45000 }, async () => {
		const { page, problems } = await openPage();
		const s = streamCreate('call echo {"message":"nobody home"}', 'brief');
		const card = await cardWith(page, 'nobody home');
		assert.match(card.text, /expires in 0:(0\d|10)/);
		await page.waitForFunction((id) => !document.querySelector(`li.card[data-id="${id}"]`), { timeout: (EXPIRY_S + 5) * 1000 }, card.id);
		await s.done;
		const call = ofType(s.completed(), 'mcp_call')[0];
		assert.equal(call.status, 'failed');
		assert.equal(call.error.code, 'expired');
		assert.deepEqual(problems, []);
	});

	it('a stale decision: decided elsewhere before the page heard of it, the click gets the 409 and the page says so', T, async () => {
		const { page, problems } = await openPage({
			async beforeLoad(p) {
				// The page misses approval.resolved (as when a decision elsewhere and this click cross).
				await p.evaluateOnNewDocument(() => {
					const Real = window.WebSocket;
					window.WebSocket = class extends Real {
						set onmessage(fn) {
							super.onmessage = (e) => {
								if (JSON.parse(e.data).type !== 'approval.resolved') fn(e);
							};
						}
					};
				});
			},
		});
		const s = streamCreate('call echo {"message":"crossed"}');
		const card = await cardWith(page, 'crossed');
		const denied = await asOperator('POST', `/v1/approvals/${card.id}`, { decision: 'deny', version: 1, message: 'from the terminal' });
		assert.equal(denied.status, 200, denied.body);
		await s.done;
		await page.click(`li.card[data-id="${card.id}"] button[data-act="approve_once"]`);
		const said = await page.waitForFunction((id) => document.querySelector(`li.card[data-id="${id}"] .error:not([hidden])`)?.textContent, { timeout: 10000 }, card.id);
		assert.match(await said.jsonValue(), /It is denied now, by uid=0\./);
		assert.equal(await page.$eval(`li.card[data-id="${card.id}"] button[data-act="approve_once"]`, (b) => b.disabled), true);
		await screenshot(page, SHOTS, 'stale-409');
		assert.equal(ofType(s.completed(), 'mcp_call')[0].status, 'failed', 'the denial stands');
		assert.deepEqual(await actors(card.id), ['deny uid=0']);
		assert.deepEqual(problems, []);
	});

	it('a desktop notification when the page is in the background; the caller going away takes the card off', T, async () => {
		const { page, problems } = await openPage({
			async beforeLoad(p, context) {
				await context.overridePermissions(origin, ['notifications']);
				// The page is in the background (headless pages never are by themselves); notifications are
				// recorded as well as shown.
				await p.evaluateOnNewDocument(() => {
					Object.defineProperty(document, 'hidden', { get: () => true });
					const Real = window.Notification;
					window.__notes = [];
					window.Notification = class extends Real {
						constructor(title, opts) {
							super(title, opts);
							window.__notes.push({ title, body: opts?.body });
						}
					};
				});
			},
		});
		const s = streamCreate('call echo {"message":"ping me"}');
		const card = await cardWith(page, 'ping me');
		await page.waitForFunction(() => window.__notes.length > 0, { timeout: 5000 });
		const notes = await page.evaluate(() => window.__notes);
		assert.deepEqual(notes, [{ title: 'Approval needed', body: 'op / echo for key=caller' }]);
		s.abort();
		await gone(page, card.id);
		assert.equal(JSON.parse((await asOperator('GET', `/v1/approvals/${card.id}`)).body).status, 'abandoned');
		assert.deepEqual(problems, []);
	});
});
