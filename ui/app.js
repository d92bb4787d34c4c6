// The operators' approval page: one WebSocket (/v1/approvals/stream) brings the snapshot and every
// change, and takes the decisions. Every value from the daemon is shown as text (textContent), never
// as markup. No framework, no build step: the daemon serves this file as it is.
'use strict';

const LONG_STRING = 300; // longer strings in the arguments are shown cut, with their length
const SECRET_KEY = /pass(word|phrase)?|secret|token|api[-_]?key|authori[sz]ation|credential|cookie|private[-_]?key/i;
const TTLS = [
	['1 hour', 3600],
	['1 day', 86400],
	['7 days', 7 * 86400],
	['until revoked', 0],
];
const HINTS = { readOnlyHint: 'read-only', destructiveHint: 'destructive', idempotentHint: 'idempotent', openWorldHint: 'open world' };

const cards = new Map(); // approval id -> { approval, el }
const waiting = new Map(); // request_id -> card element awaiting its decision's answer
let ws = null;
let requestSeq = 0;
let selected = null;
let backoffMs = 1000;

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(props)) {
		if (k === 'class') e.className = v;
		else if (k === 'text') e.textContent = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v);
	}
	for (const c of children) if (c != null) e.append(c);
	return e;
}

/** The arguments as the operator reads them: values of secret-looking keys hidden, long strings cut. */
function shown(value, key, cut) {
	if (typeof value === 'string') {
		if (key && SECRET_KEY.test(key)) return `[redacted: ${value.length} characters]`;
		if (cut && value.length > LONG_STRING) return `${value.slice(0, LONG_STRING)}… [${value.length - LONG_STRING} more characters]`;
		return value;
	}
	if (Array.isArray(value)) return value.map((v) => shown(v, key, cut));
	if (value && typeof value === 'object') {
		const out = {};
		for (const [k, v] of Object.entries(value)) out[k] = shown(v, k, cut);
		return out;
	}
	return value;
}

function prettyArguments(text, cut) {
	try {
		return JSON.stringify(shown(JSON.parse(text), '', cut), null, 2);
	} catch {
		return cut && text.length > LONG_STRING ? `${text.slice(0, LONG_STRING)}… [${text.length - LONG_STRING} more characters]` : text;
	}
}

function countdown(a) {
	const left = Math.max(0, a.expires_at - Math.floor(Date.now() / 1000));
	const m = Math.floor(left / 60);
	const s = String(left % 60).padStart(2, '0');
	return left > 0 ? `expires in ${m}:${s}` : 'expiring…';
}

function pendingOfResponse(responseId) {
	return [...cards.values()].filter((c) => c.approval.response_id === responseId).map((c) => c.approval);
}

function send(msg, card) {
	if (!ws || ws.readyState !== WebSocket.OPEN) return showError(card, 'Not connected: the decision was not sent.');
	const request_id = `p${++requestSeq}`;
	waiting.set(request_id, card);
	for (const b of card.querySelectorAll('button')) b.disabled = true;
	ws.send(JSON.stringify({ ...msg, request_id }));
}

function decide(a, decision, extra = {}) {
	const card = cards.get(a.id)?.el;
	if (!card) return;
	send({ type: 'approval.decide', id: a.id, version: a.version, decision, ...extra }, card);
}

function decideAll(a, decision, extra = {}) {
	const card = cards.get(a.id)?.el;
	const all = pendingOfResponse(a.response_id);
	send({ type: 'approval.decide_batch', response_id: a.response_id, decision, approvals: all.map((x) => ({ id: x.id, version: x.version })), ...extra }, card);
}

function showError(card, text) {
	const box = card?.querySelector('.error');
	if (box) {
		box.textContent = text;
		box.hidden = false;
	}
	for (const b of card?.querySelectorAll('button') ?? []) b.disabled = false;
}

function dl(rows) {
	const list = el('dl', { class: 'meta' });
	for (const [k, v] of rows) if (v != null && v !== '') list.append(el('dt', { text: k }), el('dd', { text: String(v) }));
	return list;
}

function renderCard(a) {
	const d = a.detail ?? {};
	const hints = Object.entries(d.annotations ?? {})
		.filter(([k, v]) => HINTS[k] && v === true)
		.map(([k]) => el('span', { class: `hint hint-${k}`, text: HINTS[k] }));
	const args = d.arguments ?? '';
	const argsPre = el('pre', { class: 'args', text: prettyArguments(args, true) });
	const fullToggle = el('button', {
		type: 'button',
		class: 'quiet small',
		text: 'show long strings in full',
		onclick: () => {
			const full = fullToggle.dataset.full !== '1';
			fullToggle.dataset.full = full ? '1' : '0';
			argsPre.textContent = prettyArguments(args, !full);
			fullToggle.textContent = full ? 'cut long strings' : 'show long strings in full';
		},
	});
	const argsBox = el(
		'details',
		{ class: 'args-box', open: '' },
		el('summary', { text: `Arguments (${d.arguments_bytes ?? args.length} bytes)` }),
		argsPre,
		d.arguments_truncated ? el('p', { class: 'note', text: 'Only the start of the arguments is shown: they are longer than the page is sent.' }) : null,
		prettyArguments(args, true) === prettyArguments(args, false) ? null : fullToggle,
	);
	const message = el('input', { type: 'text', class: 'message', placeholder: 'message to the model (with a denial)', 'aria-label': 'message with a denial', maxlength: '2000' });
	const ttl = el('select', { class: 'ttl', 'aria-label': 'how long the always-rule lasts' }, ...TTLS.map(([label, s]) => el('option', { value: String(s), text: `for ${label}` })));
	const siblings = pendingOfResponse(a.response_id).length;
	const actions = el(
		'div',
		{ class: 'actions' },
		el('button', { type: 'button', class: 'approve', 'data-act': 'approve_once', text: 'Approve once', onclick: () => decide(a, 'approve_once') }),
		el('button', { type: 'button', class: 'approve alt', 'data-act': 'approve_response', text: 'Approve for this response', onclick: () => decide(a, 'approve_response') }),
		el('span', { class: 'always' }, el('button', { type: 'button', class: 'approve alt', 'data-act': 'always', text: 'Always', onclick: () => decide(a, 'always', Number(ttl.value) ? { ttl_s: Number(ttl.value) } : {}) }), ttl),
		el('span', { class: 'deny-group' }, message, el('button', { type: 'button', class: 'deny', 'data-act': 'deny', text: 'Deny', onclick: () => decide(a, 'deny', message.value ? { message: message.value } : {}) })),
	);
	const batch = el(
		'div',
		{ class: 'batch', hidden: '' },
		el('span', { class: 'batch-count' }),
		el('button', { type: 'button', class: 'approve alt small', 'data-act': 'approve_all', text: 'Approve all of this response', onclick: () => decideAll(a, 'approve_once') }),
		el('button', { type: 'button', class: 'deny small', 'data-act': 'deny_all', text: 'Deny all', onclick: () => decideAll(a, 'deny', message.value ? { message: message.value } : {}) }),
	);
	if (siblings > 1) batch.hidden = false;
	message.addEventListener('keydown', (e) => {
		if (e.key === 'Enter') decide(a, 'deny', message.value ? { message: message.value } : {});
		if (e.key === 'Escape') message.blur();
	});
	const changed = d.rule_changed
		? el(
				'div',
				{ class: 'changed', role: 'alert' },
				el('strong', { text: 'The tool changed since you allowed it always. ' }),
				el('span', { text: `Rule ${d.rule_changed.rule_id} was made for another definition; it does not apply until you decide again.` }),
				diffView(pretty(d.rule_changed.definition), pretty(d.definition)),
				el('details', {}, el('summary', { text: 'definition then' }), el('pre', { text: pretty(d.rule_changed.definition) })),
				el('details', {}, el('summary', { text: 'definition now' }), el('pre', { text: pretty(d.definition) })),
			)
		: null;
	const card = el(
		'li',
		{ class: 'card', tabindex: '0', 'data-id': a.id, 'aria-label': `${a.server_label} ${a.tool}` },
		el('div', { class: 'head' }, el('h2', { class: 'tool', text: `${a.server_label} / ${d.title ?? a.tool}` }), el('span', { class: 'countdown', text: countdown(a) })),
		hints.length ? el('div', { class: 'hints' }, ...hints) : null,
		d.description ? el('p', { class: 'description', text: d.description }) : null,
		dl([
			['Caller', d.caller ?? a.requested_by],
			['Client', d.client],
			['Response', a.response_id],
			['Model', d.model],
			['Tool', a.tool],
			['Server', d.server_url],
			['Why asked', d.why],
			['Approval', `${a.id} (version ${a.version})`],
		]),
		d.model_text ? el('blockquote', { class: 'model-text' }, el('span', { class: 'label', text: 'The model, before the call: ' }), el('span', { text: d.model_text })) : null,
		changed,
		argsBox,
		batch,
		actions,
		el('p', { class: 'error', role: 'alert', hidden: '' }),
	);
	card.addEventListener('focus', () => select(card));
	return card;
}

/** The lines that differ between two texts (a longest-common-subsequence diff), "-" then and "+" now. */
function diffView(before, after) {
	const a = before.split('\n');
	const b = after.split('\n');
	const n = a.length;
	const m = b.length;
	const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
	for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
	const out = el('pre', { class: 'diff', 'aria-label': 'what changed' });
	let i = 0;
	let j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && a[i] === b[j]) {
			i++;
			j++;
		} else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
			out.append(el('del', { text: `- ${a[i++]}\n` }));
		} else {
			out.append(el('ins', { text: `+ ${b[j++]}\n` }));
		}
	}
	return out;
}

function pretty(text) {
	try {
		return JSON.stringify(JSON.parse(text), null, 2);
	} catch {
		return String(text ?? '');
	}
}

function refreshBatches() {
	for (const { approval, el: card } of cards.values()) {
		const n = pendingOfResponse(approval.response_id).length;
		const batch = card.querySelector('.batch');
		batch.hidden = n < 2;
		batch.querySelector('.batch-count').textContent = `${n} calls of this response wait.`;
	}
}

function refresh() {
	$('empty').hidden = cards.size > 0;
	document.title = cards.size ? `(${cards.size}) toolhost approvals` : 'toolhost approvals';
	refreshBatches();
	if (selected && !selected.isConnected) selected = null;
	if (!selected && cards.size) select([...cards.values()][0].el);
}

function add(a) {
	if (a.status !== 'pending') return;
	const old = cards.get(a.id);
	const card = renderCard(a);
	if (old) old.el.replaceWith(card);
	else $('list').append(card);
	cards.set(a.id, { approval: a, el: card });
	refresh();
}

function remove(id) {
	const c = cards.get(id);
	if (!c) return;
	if (selected === c.el) selected = null;
	c.el.remove();
	cards.delete(id);
	refresh();
}

function notify(a) {
	if (!('Notification' in window) || Notification.permission !== 'granted' || !document.hidden) return;
	const n = new Notification('Approval needed', { body: `${a.server_label} / ${a.tool} for ${a.detail?.caller ?? a.requested_by}`, tag: a.id });
	n.onclick = () => {
		window.focus();
		cards.get(a.id)?.el.focus();
	};
}

function onMessage(m) {
	switch (m.type) {
		case 'approvals.snapshot': {
			for (const id of [...cards.keys()]) remove(id);
			for (const a of m.approvals) add(a);
			// The daemon sends at most about 16 MiB at once, oldest first.
			const missing = (m.pending ?? m.approvals.length) - m.approvals.length;
			banner(missing > 0 ? `${missing} more calls wait than fit in one page load (their details are large): decide these, then reload the page for the rest.` : '');
			break;
		}
		case 'approval.requested':
			add(m.approval);
			notify(m.approval);
			break;
		case 'approval.resolved':
		case 'approval.expired':
		case 'approval.abandoned':
			remove(m.approval.id);
			break;
		case 'approval.decision': {
			const card = waiting.get(m.request_id);
			waiting.delete(m.request_id);
			if (m.status === 200) break; // approval.resolved removes the card(s)
			const err = m.result?.error ?? {};
			const now = m.result?.approval;
			showError(card, `${err.message ?? 'refused'}${now ? ` It is ${now.status} now${now.decided_by ? `, by ${now.decided_by}` : ''}.` : ''}`);
			if (now && now.status !== 'pending') {
				// Stale: decided elsewhere (or expired) before this page heard of it. The card stays a moment
				// for the operator to read why, without its buttons.
				for (const b of card?.querySelectorAll('.actions button, .batch button') ?? []) b.disabled = true;
				card?.classList.add('stale');
				setTimeout(() => remove(now.id), 8000);
			}
			if (m.result?.approvals) for (const a of m.result.approvals) add(a);
			break;
		}
		case 'error':
			banner(m.error?.message ?? 'the daemon reported an error');
			break;
		default:
			break;
	}
}

function banner(text) {
	$('banner').textContent = text ?? '';
	$('banner').hidden = !text;
}

function setConn(state, text) {
	$('conn').dataset.state = state;
	$('conn').textContent = text;
}

function connect() {
	const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/approvals/stream`;
	let opened = false;
	setConn('connecting', 'connecting…');
	ws = new WebSocket(url);
	ws.onopen = () => {
		opened = true;
		backoffMs = 1000;
		setConn('live', 'live');
		banner('');
	};
	ws.onmessage = (e) => {
		try {
			onMessage(JSON.parse(e.data));
		} catch (err) {
			banner(`a message from the daemon could not be read: ${err.message}`);
		}
	};
	ws.onclose = async () => {
		ws = null;
		setConn('down', 'disconnected');
		for (const card of waiting.values()) showError(card, 'The connection closed before the answer: look again once it is back.');
		waiting.clear();
		if (!opened) {
			// Refused: the page itself tells whether the session is still good.
			const r = await fetch('/ui/', { cache: 'no-store', credentials: 'same-origin' }).catch(() => null);
			if (r && r.status === 401) {
				setConn('down', 'logged out');
				banner('Your session has ended. Run `toolhostctl login-url` and open the link it prints.');
				return;
			}
		}
		setTimeout(connect, backoffMs);
		backoffMs = Math.min(backoffMs * 2, 15000);
	};
}

function select(card) {
	if (selected === card) return;
	selected?.classList.remove('selected');
	selected = card;
	card?.classList.add('selected');
}

function move(step) {
	const all = [...cards.values()].map((c) => c.el);
	if (!all.length) return;
	const i = Math.max(0, all.indexOf(selected));
	const next = all[(i + step + all.length) % all.length];
	next.focus();
	next.scrollIntoView({ block: 'nearest' });
}

document.addEventListener('keydown', (e) => {
	if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.ctrlKey || e.metaKey || e.altKey) return;
	const act = (name) => selected?.querySelector(`[data-act="${name}"]`)?.click();
	switch (e.key) {
		case 'j':
		case 'ArrowDown':
			move(1);
			break;
		case 'k':
		case 'ArrowUp':
			move(-1);
			break;
		case 'a':
			act('approve_once');
			break;
		case 'r':
			act('approve_response');
			break;
		case 'd':
			act('deny');
			break;
		case 'm':
			selected?.querySelector('.message')?.focus();
			break;
		case 'x': {
			const box = selected?.querySelector('.args-box');
			if (box) box.open = !box.open;
			break;
		}
		default:
			return;
	}
	e.preventDefault();
});

document.addEventListener('DOMContentLoaded', () => {
	const button = $('notify');
	if (!('Notification' in window)) button.hidden = true;
	else if (Notification.permission === 'granted') button.textContent = 'Notifications on';
	button.addEventListener('click', async () => {
		const p = await Notification.requestPermission();
		button.textContent = p === 'granted' ? 'Notifications on' : 'Notifications blocked';
	});
	setInterval(() => {
		for (const { approval, el: card } of cards.values()) card.querySelector('.countdown').textContent = countdown(approval);
	}, 1000);
	refresh();
	connect();
});
