// A scripted OpenAI-compatible Chat Completions server for toolhostd's integration tests.
//
//   import { startUpstream } from '../fakes/upstream.mjs';
//   const up = await startUpstream();       // 127.0.0.1, a free port
//   up.url                                  // "http://127.0.0.1:<port>/v1"
//   up.requests                             // every request: {method, path, headers, body, httpVersion, ...}
//   up.sessions()                           // {tcp, http1, http2}: connections seen (see below)
//   up.modelsStatus = 500                   // GET /v1/models answers that status with an error body (200: the list)
//   await up.close();
//
// Options (default: plain HTTP/1.1):
//   http2: true       HTTP/2 only: cleartext with prior knowledge (h2c), or with tls by ALPN "h2"; an
//                     HTTP/1 client fails at the connection preface (h2c) or the ALPN (tls: the
//                     connection is closed). A cut resets the stream (RST_STREAM INTERNAL_ERROR)
//                     instead of destroying the connection, which the other streams of the session share.
//   allowHTTP1: true  with http2 and tls: HTTP/1.1 too, for clients that do not offer h2
//   aliases: {name: scenario}  a model name that plays a scenario (a README example's real model
//                     name, say); the answers carry the name asked for
//   tls: true         https with a fresh self-signed certificate for 127.0.0.1, ::1 and localhost
//                     (made by the openssl command); up.caFile is its PEM file, to trust it.
//   echoAuthInModels: true  GET /v1/models lists one more model whose id quotes the Authorization
//                     header of that request (a careless upstream)
//
// Standalone: `node tests/fakes/upstream.mjs [--port N] [--host 127.0.0.1] [--http2] [--tls]` prints the
// base URL (and with --tls the certificate's path on stderr) and serves until SIGINT/SIGTERM.
//
// POST /v1/chat/completions answers by scenario, chosen by the request's "model" (see SCENARIOS).
// It streams (SSE chunks, "data: [DONE]" last) when the body has stream:true, and otherwise answers one
// chat.completion object built from the same script (fake-nonstream always does the latter).
// GET /v1/models lists the scenarios. Everything else is a 404 with an OpenAI-style error body.
// Loopback only; every wait is bounded and cancelled by close().

import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

export const SCENARIOS = Object.freeze({
	'fake-text': 'text "Hello" " from" " fake", finish stop (or the text after "echo:" in the last user message)',
	'fake-reasoning': 'delta.reasoning_content pieces, then content, finish stop',
	'fake-reasoning2': 'the same with delta.reasoning',
	'fake-tool': 'one get_weather {"city":"Paris"} call in 3 argument pieces (finish tool_calls); after a tool message: "Result was: <content>"',
	'fake-parallel': 'get_weather {"city":"Paris"} and get_time {"tz":"Europe/Paris"} with interleaved argument deltas; after tool messages: "Result was: <a>; <b>"',
	'fake-json': 'content {"name":"Ada","age":36} in pieces',
	'fake-length': 'some text, then finish length',
	'fake-refusal': 'delta.refusal pieces, finish stop',
	'fake-image': '"image:<n>", n = image_url parts in the last user message',
	'fake-slow': '10 text deltas 100 ms apart',
	'fake-slow-long': '40 text deltas 100 ms apart (about 4 s in all, never silent for long)',
	'fake-stall': 'a first delta, 3 s of silence, then the rest',
	'fake-cut': 'a few deltas, then the socket is destroyed without [DONE]',
	'fake-badjson': 'a good delta, then a data: line with broken JSON',
	'fake-429': 'HTTP 429 with an OpenAI error body',
	'fake-500': 'HTTP 500 with an OpenAI error body',
	'fake-401': 'HTTP 401 with an OpenAI error body',
	'fake-echo-auth-401': 'HTTP 401 whose error message quotes the Authorization header it got (a careless proxy)',
	'fake-echo-auth-400': 'HTTP 400 whose error message quotes the Authorization header it got, and the request as JSON',
	'fake-echo-auth-stream': 'HTTP 200 and an SSE error event whose message quotes the Authorization header it got',
	// The three echo-auth scenarios put N bytes of padding before the quote when the last user message
	// is "pad N" (N up to 4096): to place a secret across the cut of an error message.
	'fake-nonstream': 'ignores stream:true and answers one chat.completion JSON',
	'fake-hang': 'never answers (held until close())',
	'fake-status':
		'HTTP <code> with an OpenAI error body, from the last user message "status <code> [retry-after <value>]" ' +
		'(the value is sent verbatim as Retry-After, to the end of the line)',
	'fake-mcp':
		'directive lines in the last user message: "call NAME JSON" (parallel tool_calls of the first turn), ' +
		'"then NAME JSON" (of the second turn), "loop NAME JSON" (every turn); NAME is the request tool named NAME, ' +
		'else the first named "*__NAME", else NAME as is; arguments in 2-3 pieces, finish tool_calls ("finish length": ' +
		'a turn that emits calls ends with finish_reason length instead, the calls cut off with it). With no call due: ' +
		'after tool messages "Tool said: " + those after the last assistant message joined with " | "; ' +
		'"no directive" when the last user message has none, else "no more calls"',
	'fake-summarize': '"SUMMARY of <n> messages", n = the number of messages in the request',
});

export const TEXT = Object.freeze({
	hello: ['Hello', ' from', ' fake'],
	reasoning: ['Let me', ' think', ' about it.'],
	answer: ['The answer', ' is', ' 42.'],
	json: ['{"name":', '"Ada",', '"age":', '36}'],
	length: ['Once upon', ' a time', ' there was'],
	refusal: ["I'm sorry,", " I can't", ' help with that.'],
	stallBefore: 'Hello',
	stallAfter: [' after', ' the', ' stall'],
	cut: ['Hello', ' from', ' a cut'],
});

export const TOOL_CALLS = Object.freeze({
	weather: { id: 'call_weather_1', name: 'get_weather', pieces: ['{"city"', ':"Pa', 'ris"}'] },
	time: { id: 'call_time_2', name: 'get_time', pieces: ['{"tz":', '"Europe/', 'Paris"}'] },
});

const MAX_BODY = 64 * 1024 * 1024;

function errorBody(message, type, code, param = null) {
	return { error: { message, type, param, code } };
}

const ERRORS = {
	'fake-429': {
		status: 429,
		headers: { 'retry-after': '1' },
		body: errorBody('Rate limit reached for fake-429 (fake upstream).', 'rate_limit_exceeded', 'rate_limit_exceeded'),
	},
	'fake-500': {
		status: 500,
		headers: {},
		body: errorBody('The server had an error while processing your request (fake upstream).', 'server_error', null),
	},
	'fake-401': {
		status: 401,
		headers: {},
		body: errorBody('Incorrect API key provided (fake upstream).', 'invalid_request_error', 'invalid_api_key'),
	},
};

// The text of a message's content: a string, or the text parts of an array.
export function messageText(content) {
	if (typeof content === 'string') return content;
	if (!Array.isArray(content)) return '';
	return content
		.filter((p) => p && typeof p === 'object' && typeof p.text === 'string')
		.map((p) => p.text)
		.join('');
}

function lastUserMessage(messages) {
	for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return messages[i];
	return null;
}

// Splits s into at most n non-empty pieces.
function pieces(s, n = 3) {
	if (s.length === 0) return [''];
	const size = Math.ceil(s.length / n);
	const out = [];
	for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
	return out;
}

// A rough token count, deterministic and > 0 for any non-empty prompt.
function promptTokens(messages) {
	let n = 0;
	for (const m of messages) {
		n += 1;
		const t = messageText(m?.content);
		n += t.split(/\s+/).filter(Boolean).length;
		if (Array.isArray(m?.content)) n += m.content.filter((p) => p?.type === 'image_url').length * 85;
		if (Array.isArray(m?.tool_calls)) for (const c of m.tool_calls) n += 1 + String(c?.function?.arguments ?? '').length / 4;
	}
	return Math.max(1, Math.round(n));
}

// Trailing tool messages (the results of the last assistant tool calls), or [] when the last message
// is not a tool message.
function trailingToolMessages(messages) {
	const out = [];
	for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) out.unshift(messages[i]);
	return out;
}

// fake-mcp: the directives of the last user message ({verb, name, args} per "call|then|loop NAME JSON" line).
export function mcpDirectives(messages) {
	const out = [];
	for (const line of messageText(lastUserMessage(messages)?.content).split('\n')) {
		const m = /^\s*(call|then|loop)\s+(\S+)(?:\s+(.*))?$/.exec(line);
		if (m) out.push({ verb: m[1], name: m[2], args: (m[3] ?? '').trim() || '{}' });
	}
	return out;
}

// fake-mcp: the finish_reason of a turn that emits calls: "length" with a "finish length" line in the
// last user message (the model was cut off after writing its calls), else "tool_calls".
export function mcpFinishReason(messages) {
	const lines = messageText(lastUserMessage(messages)?.content).split('\n');
	return lines.some((line) => /^\s*finish\s+length\s*$/.test(line)) ? 'length' : 'tool_calls';
}

// The function name the model calls for a directive's NAME: a request tool named NAME, else the first
// one whose name ends with "__NAME", else NAME itself (a tool the model was not given).
function mcpToolName(body, name) {
	const names = (Array.isArray(body?.tools) ? body.tools : [])
		.map((t) => t?.function?.name)
		.filter((n) => typeof n === 'string');
	if (names.includes(name)) return name;
	return names.find((n) => n.endsWith(`__${name}`)) ?? name;
}

// fake-mcp tool call ids are call_mcp<turn>_<index>, unique within this process.
let mcpTurns = 0;

// Model turns already taken since the last user message: assistant messages carrying tool_calls.
function mcpRound(messages) {
	let n = 0;
	for (let i = messages.length - 1; i >= 0 && messages[i]?.role !== 'user'; i--)
		if (messages[i]?.role === 'assistant' && Array.isArray(messages[i].tool_calls) && messages[i].tool_calls.length > 0) n++;
	return n;
}

// The tool messages after the last assistant message.
function toolMessagesAfterAssistant(messages) {
	const out = [];
	for (let i = messages.length - 1; i >= 0 && messages[i]?.role !== 'assistant' && messages[i]?.role !== 'user'; i--)
		if (messages[i]?.role === 'tool') out.unshift(messages[i]);
	return out;
}

// A script is a list of steps:
//   {delta}            one chunk with that delta (finish_reason null)
//   {finish}           one chunk with an empty delta and that finish_reason
//   {usage}            the usage chunk (choices []), sent only when stream_options.include_usage
//   {raw}              bytes written as they are
//   {sleep}            a pause in ms
//   {cut}              destroy the socket (no [DONE])
// Every script that ends normally is followed by "data: [DONE]".
function script(model, body) {
	const messages = Array.isArray(body?.messages) ? body.messages : [];
	const steps = [];
	let completion = 0;
	let reasoningTokens = 0;
	const text = (parts) => {
		for (const p of parts) {
			steps.push({ delta: { content: p } });
			completion++;
		}
	};
	const usage = () => {
		const prompt = promptTokens(messages);
		const u = {
			prompt_tokens: prompt,
			completion_tokens: completion,
			total_tokens: prompt + completion,
			prompt_tokens_details: { cached_tokens: 0 },
			completion_tokens_details: { reasoning_tokens: reasoningTokens },
		};
		steps.push({ usage: u });
	};
	// Tool calls ({id, name, pieces}): the headers of every call first (id, name, empty arguments),
	// then the argument pieces round-robin, so that with two calls the deltas are interleaved by index.
	const toolCallSteps = (calls) => {
		calls.forEach((c, index) =>
			steps.push({
				delta: {
					tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }],
				},
			}),
		);
		const rounds = Math.max(...calls.map((c) => c.pieces.length));
		for (let r = 0; r < rounds; r++) {
			calls.forEach((c, index) => {
				if (r < c.pieces.length) {
					steps.push({ delta: { tool_calls: [{ index, function: { arguments: c.pieces[r] } }] } });
					completion++;
				}
			});
		}
	};
	steps.push({ delta: { role: 'assistant', content: '' } });

	const tools = trailingToolMessages(messages);
	switch (model) {
		case 'fake-text':
		case 'fake-nonstream': {
			const last = messageText(lastUserMessage(messages)?.content);
			const at = last.indexOf('echo:');
			text(at >= 0 ? pieces(last.slice(at + 5).trim()) : TEXT.hello);
			steps.push({ finish: 'stop' });
			break;
		}
		case 'fake-reasoning':
		case 'fake-reasoning2': {
			const field = model === 'fake-reasoning' ? 'reasoning_content' : 'reasoning';
			for (const p of TEXT.reasoning) {
				steps.push({ delta: { [field]: p } });
				completion++;
				reasoningTokens++;
			}
			text(TEXT.answer);
			steps.push({ finish: 'stop' });
			break;
		}
		case 'fake-tool':
		case 'fake-parallel': {
			if (tools.length > 0) {
				text(pieces('Result was: ' + tools.map((m) => messageText(m.content)).join('; ')));
				steps.push({ finish: 'stop' });
				break;
			}
			const calls = model === 'fake-tool' ? [TOOL_CALLS.weather] : [TOOL_CALLS.weather, TOOL_CALLS.time];
			toolCallSteps(calls);
			steps.push({ finish: 'tool_calls' });
			break;
		}
		case 'fake-mcp': {
			const directives = mcpDirectives(messages);
			const round = mcpRound(messages);
			const due = directives.filter(
				(d) => d.verb === 'loop' || (d.verb === 'call' && round === 0) || (d.verb === 'then' && round === 1),
			);
			if (due.length === 0) {
				const last = messages[messages.length - 1];
				if (directives.length === 0) text(['no directive']);
				else if (last?.role === 'tool')
					text(pieces('Tool said: ' + toolMessagesAfterAssistant(messages).map((m) => messageText(m.content)).join(' | ')));
				else text(['no more calls']);
				steps.push({ finish: 'stop' });
				break;
			}
			// "say TEXT" lines: what the model writes before its first calls (the operator's page shows it).
			const say = round === 0 ? messageText(lastUserMessage(messages)?.content).split('\n').map((l) => /^\s*say\s+(.*)$/.exec(l)?.[1]).filter(Boolean).join(' ') : '';
			if (say) text(pieces(say));
			const turn = ++mcpTurns;
			const calls = due.map((d, index) => ({
				id: `call_mcp${turn}_${index}`,
				name: mcpToolName(body, d.name),
				pieces: pieces(d.args, d.args.length >= 3 ? 3 : 2),
			}));
			toolCallSteps(calls);
			steps.push({ finish: mcpFinishReason(messages) });
			break;
		}
		case 'fake-summarize':
			text(pieces(`SUMMARY of ${messages.length} messages`));
			steps.push({ finish: 'stop' });
			break;
		case 'fake-json':
			text(TEXT.json);
			steps.push({ finish: 'stop' });
			break;
		case 'fake-length':
			text(TEXT.length);
			steps.push({ finish: 'length' });
			break;
		case 'fake-refusal':
			for (const p of TEXT.refusal) {
				steps.push({ delta: { refusal: p } });
				completion++;
			}
			steps.push({ finish: 'stop' });
			break;
		case 'fake-image': {
			const content = lastUserMessage(messages)?.content;
			const n = Array.isArray(content) ? content.filter((p) => p?.type === 'image_url').length : 0;
			text([`image:${n}`]);
			steps.push({ finish: 'stop' });
			break;
		}
		case 'fake-slow':
			for (let i = 0; i < 10; i++) {
				if (i > 0) steps.push({ sleep: 100 });
				text([`tick${i} `]);
			}
			steps.push({ finish: 'stop' });
			break;
		case 'fake-slow-long':
			for (let i = 0; i < 40; i++) {
				if (i > 0) steps.push({ sleep: 100 });
				text([`tick${i} `]);
			}
			steps.push({ finish: 'stop' });
			break;
		case 'fake-stall':
			text([TEXT.stallBefore]);
			steps.push({ sleep: 3000 });
			text(TEXT.stallAfter);
			steps.push({ finish: 'stop' });
			break;
		case 'fake-cut':
			text(TEXT.cut);
			steps.push({ sleep: 50 }, { cut: true });
			return steps;
		case 'fake-badjson':
			text(['Hello']);
			steps.push({ raw: 'data: {"id":"chatcmpl-bad","choices":[{"index":0,"delta":{"content":"oops"\n\n' });
			steps.push({ finish: 'stop' });
			break;
		default:
			return null;
	}
	usage();
	return steps;
}

// Folds a script into one chat.completion (for stream:false requests and fake-nonstream).
function completionFromSteps(model, id, created, steps) {
	const message = { role: 'assistant', content: null, refusal: null };
	let finish = null;
	let usage;
	const calls = [];
	for (const s of steps) {
		if (s.delta) {
			const d = s.delta;
			if (typeof d.content === 'string' && (d.content !== '' || message.content !== null))
				message.content = (message.content ?? '') + d.content;
			if (typeof d.refusal === 'string') message.refusal = (message.refusal ?? '') + d.refusal;
			for (const f of ['reasoning_content', 'reasoning'])
				if (typeof d[f] === 'string') message[f] = (message[f] ?? '') + d[f];
			for (const tc of d.tool_calls ?? []) {
				const c = (calls[tc.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
				if (tc.id) c.id = tc.id;
				if (tc.function?.name) c.function.name = tc.function.name;
				if (tc.function?.arguments) c.function.arguments += tc.function.arguments;
			}
		}
		if (s.finish) finish = s.finish;
		if (s.usage) usage = s.usage;
	}
	if (calls.length > 0) message.tool_calls = calls;
	return {
		id,
		object: 'chat.completion',
		created,
		model,
		system_fingerprint: null,
		choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
		usage,
	};
}

function sendJson(res, status, body, headers = {}) {
	const data = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(data),
		...headers,
	});
	res.end(data);
}

// A self-signed certificate (its own CA) for the loopback names, in a new temp dir: {dir, key, cert, caFile}.
async function selfSigned() {
	const dir = await mkdtemp(path.join(os.tmpdir(), 'toolhost-fake-tls-'));
	const keyFile = path.join(dir, 'key.pem');
	const certFile = path.join(dir, 'cert.pem');
	try {
		await promisify(execFile)(
			'openssl',
			['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2']
				.concat(['-subj', '/CN=toolhost fake upstream', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost'])
				.concat(['-keyout', keyFile, '-out', certFile]),
			{ timeout: 10000 },
		);
		return { dir, key: await readFile(keyFile), cert: await readFile(certFile), caFile: certFile };
	} catch (e) {
		await rm(dir, { recursive: true, force: true });
		throw new Error(`fake upstream: cannot make a TLS certificate with openssl: ${e.message}`);
	}
}

// An HTTP/2 exchange (http2 compat API) rather than an HTTP/1 one.
function isH2(res) {
	return res instanceof http2.Http2ServerResponse;
}

export async function startUpstream({
	host = '127.0.0.1',
	port = 0,
	http2: useHttp2 = false,
	tls = false,
	allowHTTP1 = false,
	aliases = {},
	echoAuthInModels = false,
} = {}) {
	const requests = [];
	const abort = new AbortController();
	setMaxListeners(0, abort.signal); // every pending pause() listens on it (20 concurrent streams: 20)
	const held = new Set(); // responses of fake-hang requests
	let seq = 0;
	let closing = null;
	// Connections: ordinals (1, 2, ...) by TCP socket and by HTTP/2 session, in order of arrival.
	const tcpIds = new WeakMap();
	const sessionIds = new WeakMap();
	const live = new Set(); // open HTTP/2 sessions, destroyed by close()
	const sockets = new Set(); // open TCP connections, destroyed by close() (all but the plain HTTP/1 server)
	const seen = { tcp: 0, secure: 0, http1: new Set(), http2: new Set() }; // http1/http2: ordinals that carried a request
	let sessionSeq = 0;

	// Resolves after ms, or early (with false) when the server closes or the peer went away.
	async function pause(ms, res) {
		try {
			await sleep(ms, undefined, { signal: abort.signal });
		} catch {
			return false;
		}
		return !res.destroyed && !entryGone(res);
	}

	function entryGone(res) {
		if (isH2(res)) return res.stream.destroyed || res.stream.closed;
		return res.socket === null || res.socket?.destroyed === true;
	}

	// The scenario's cut: HTTP/1 loses the connection, HTTP/2 only this stream.
	function cut(res) {
		if (isH2(res)) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
		else res.socket?.destroy();
	}

	function write(res, entry, s) {
		if (res.destroyed || res.writableEnded || entry.aborted || entryGone(res)) return false;
		res.write(s);
		entry.chunksWritten++;
		return true;
	}

	async function chatCompletions(req, res, entry) {
		const body = entry.body;
		if (body === null || typeof body !== 'object' || Array.isArray(body))
			return sendJson(res, 400, errorBody('We could not parse the JSON body of your request.', 'invalid_request_error', null));
		const model = typeof body.model === 'string' ? body.model : '';
		const scenario = Object.hasOwn(aliases, model) ? aliases[model] : model;
		entry.model = model;
		if (ERRORS[scenario]) {
			const e = ERRORS[scenario];
			return sendJson(res, e.status, e.body, e.headers);
		}
		if (scenario === 'fake-status') {
			const text = messageText(lastUserMessage(Array.isArray(body.messages) ? body.messages : [])?.content);
			const m = /^status (\d{3})(?: retry-after (.*))?$/m.exec(text);
			if (!m) return sendJson(res, 400, errorBody('fake-status needs "status <code>" (fake upstream).', 'invalid_request_error', null));
			const headers = m[2] !== undefined ? { 'retry-after': m[2] } : {};
			return sendJson(res, Number(m[1]), errorBody(`Scripted HTTP ${m[1]} (fake upstream).`, 'server_error', null), headers);
		}
		if (scenario === 'fake-echo-auth-401' || scenario === 'fake-echo-auth-400' || scenario === 'fake-echo-auth-stream') {
			const auth = req.headers.authorization ?? '(none)';
			const padding = /^pad (\d{1,4})$/m.exec(messageText(lastUserMessage(Array.isArray(body.messages) ? body.messages : [])?.content) ?? '');
			const pad = padding ? 'x'.repeat(Math.min(4096, Number(padding[1]))) : '';
			if (scenario === 'fake-echo-auth-stream') {
				res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
				return res.end(`data: ${JSON.stringify({ error: { message: `${pad}refused "Authorization: ${auth}"`, type: 'invalid_request_error' } })}\n\n`);
			}
			const quoted = pad + (scenario === 'fake-echo-auth-401' ? `Invalid credentials in "Authorization: ${auth}"` : `Bad request ${JSON.stringify({ headers: { authorization: auth } })}`);
			return sendJson(res, scenario === 'fake-echo-auth-401' ? 401 : 400, errorBody(quoted, 'invalid_request_error', 'invalid_api_key'));
		}
		if (scenario === 'fake-hang') {
			held.add(res);
			res.on('close', () => held.delete(res));
			return; // never answered; close() destroys it
		}
		const steps = script(scenario, body);
		if (steps === null)
			return sendJson(
				res,
				404,
				errorBody(`The model '${model}' does not exist (fake upstream).`, 'invalid_request_error', 'model_not_found', 'model'),
			);

		const id = `chatcmpl-fake${++seq}`;
		const created = Math.floor(Date.now() / 1000);
		const stream = body.stream === true && scenario !== 'fake-nonstream';

		if (!stream) {
			for (const s of steps) {
				if (s.sleep && !(await pause(s.sleep, res))) return;
				if (s.cut) return cut(res);
				if (s.raw) {
					// A broken JSON body with a 200 status.
					res.writeHead(200, { 'content-type': 'application/json' });
					return res.end('{"id":"chatcmpl-bad","choices":[{"index":0,');
				}
			}
			return sendJson(res, 200, completionFromSteps(model, id, created, steps));
		}

		const includeUsage = body.stream_options?.include_usage === true;
		// Connection-specific headers are not allowed in HTTP/2.
		res.writeHead(200, {
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-cache',
			...(isH2(res) ? {} : { connection: 'keep-alive' }),
		});
		res.flushHeaders();
		const chunk = (choices, extra = {}) =>
			`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices, ...extra })}\n\n`;
		for (const s of steps) {
			if (s.sleep) {
				if (!(await pause(s.sleep, res))) return;
			} else if (s.cut) {
				entry.cut = true;
				cut(res);
				return;
			} else if (s.raw) {
				if (!write(res, entry, s.raw)) return;
			} else if (s.delta) {
				if (!write(res, entry, chunk([{ index: 0, delta: s.delta, logprobs: null, finish_reason: null }]))) return;
			} else if (s.finish) {
				if (!write(res, entry, chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: s.finish }]))) return;
			} else if (s.usage) {
				if (includeUsage && !write(res, entry, chunk([], { usage: s.usage }))) return;
			}
		}
		if (!write(res, entry, 'data: [DONE]\n\n')) return;
		res.end();
	}

	function models(req, res) {
		if (api.modelsStatus !== 200)
			return sendJson(res, api.modelsStatus, errorBody(`Scripted HTTP ${api.modelsStatus} for /models (fake upstream).`, 'server_error', null));
		const ids = Object.keys(SCENARIOS);
		if (echoAuthInModels) ids.push(`you-sent:${req.headers.authorization ?? '(none)'}`);
		sendJson(res, 200, {
			object: 'list',
			data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake-upstream' })),
		});
	}

	const handler = (req, res) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size <= MAX_BODY) chunks.push(c);
		});
		req.on('error', () => {});
		req.on('end', () => {
			const raw = Buffer.concat(chunks).toString('utf8');
			let body = null;
			if (raw.length > 0) {
				try {
					body = JSON.parse(raw);
				} catch {
					body = null;
				}
			}
			const url = new URL(req.url, 'http://upstream.invalid');
			const entry = {
				method: req.method,
				path: url.pathname,
				query: Object.fromEntries(url.searchParams),
				headers: { ...req.headers },
				body,
				rawBody: raw,
				model: null,
				time: Date.now(),
				httpVersion: req.httpVersion, // '1.1' or '2.0'
				connection: 0, // HTTP/1: the connection's ordinal; HTTP/2: the session's (counted apart)
				streamId: null, // HTTP/2 only
				rstCode: null, // HTTP/2 only: the stream's close code (0 = NO_ERROR, 8 = CANCEL)
				endTime: null, // when the answer ended or was closed
				chunksWritten: 0,
				finished: false, // the whole answer was written
				aborted: false, // the caller closed the connection (HTTP/2: the stream) before the answer was complete
				cut: false,
			};
			if (isH2(res)) {
				entry.connection = sessionIds.get(req.stream.session) ?? 0;
				entry.streamId = req.stream.id;
				seen.http2.add(entry.connection);
			} else {
				entry.connection = tcpIds.get(req.socket) ?? 0;
				seen.http1.add(entry.connection);
			}
			requests.push(entry);
			if (isH2(res)) {
				// The compat response emits 'finish' on every stream close, reset or not: a stream
				// ended by us with NO_ERROR is finished, any other close is an abort (or our cut).
				res.on('close', () => {
					entry.endTime = Date.now();
					entry.rstCode = req.stream.rstCode ?? null;
					entry.finished = res.writableEnded && entry.rstCode === http2.constants.NGHTTP2_NO_ERROR;
					if (!entry.finished && !entry.cut) entry.aborted = true;
				});
			} else {
				res.on('finish', () => {
					entry.finished = true;
				});
				res.on('close', () => {
					entry.endTime = Date.now();
					if (!entry.finished && !entry.cut) entry.aborted = true;
				});
			}
			const route = `${req.method} ${url.pathname}`;
			Promise.resolve()
				.then(() => {
					if (route === 'POST /v1/chat/completions') return chatCompletions(req, res, entry);
					if (route === 'GET /v1/models') return models(req, res);
					return sendJson(res, 404, errorBody(`No route ${route} (fake upstream).`, 'invalid_request_error', 'not_found'));
				})
				.catch((err) => {
					if (!res.headersSent) sendJson(res, 500, errorBody(String(err?.message ?? err), 'server_error', null));
					else res.destroy();
				});
		});
	};
	const cert = tls ? await selfSigned() : null;
	let server;
	if (useHttp2) {
		server = tls
			? http2.createSecureServer({ key: cert.key, cert: cert.cert, allowHTTP1 }, handler)
			: http2.createServer(handler);
		server.on('session', (session) => {
			sessionIds.set(session, ++sessionSeq);
			live.add(session);
			session.on('close', () => live.delete(session));
			session.on('error', () => {});
		});
		server.on('sessionError', () => {}); // e.g. an HTTP/1 request instead of the preface
		server.on('unknownProtocol', (socket) => socket.destroy()); // tls: the client did not offer h2
	} else {
		server = tls
			? https.createServer({ key: cert.key, cert: cert.cert, ALPNProtocols: ['http/1.1'] }, handler)
			: http.createServer(handler);
		server.keepAliveTimeout = 5000;
	}
	server.on('connection', (socket) => {
		tcpIds.set(socket, ++seen.tcp);
		if (useHttp2 || tls) {
			sockets.add(socket);
			socket.on('close', () => sockets.delete(socket));
		}
	});
	// Over TLS an HTTP/1 request's req.socket is the TLS socket: the same ordinals, from a count of their own.
	if (tls) server.on('secureConnection', (socket) => tcpIds.set(socket, ++seen.secure));

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, host, () => {
			server.off('error', reject);
			resolve();
		});
	});
	const actual = server.address().port;
	const hostPart = host.includes(':') ? `[${host}]` : host;

	const api = {
		url: `${tls ? 'https' : 'http'}://${hostPart}:${actual}/v1`,
		port: actual,
		/** With tls: the certificate's PEM file (its own CA); else null. */
		caFile: cert ? cert.caFile : null,
		requests,
		/** GET /v1/models answers this status (200: the scenario list; else an error body). */
		modelsStatus: 200,
		/** The POST /v1/chat/completions requests only. */
		chatRequests() {
			return requests.filter((r) => r.method === 'POST' && r.path === '/v1/chat/completions');
		},
		/** The last POST /v1/chat/completions request, or undefined. */
		lastChat() {
			const c = api.chatRequests();
			return c[c.length - 1];
		},
		/**
		 * Connections seen so far: tcp = TCP connections accepted; http1 = those that carried an
		 * HTTP/1 request; http2 = HTTP/2 sessions that carried a request (a connection refused at the
		 * preface counts in tcp only).
		 */
		sessions() {
			return { tcp: seen.tcp, http1: seen.http1.size, http2: seen.http2.size };
		},
		/** Resolves once pred() is true (polling every 20 ms); rejects after timeoutMs. */
		async waitFor(pred, timeoutMs = 5000, what = 'condition') {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				if (pred()) return;
				if (Date.now() > deadline) throw new Error(`fake upstream: timed out after ${timeoutMs} ms waiting for ${what}`);
				await sleep(20);
			}
		},
		close() {
			if (closing) return closing;
			abort.abort();
			for (const res of held) res.destroy();
			held.clear();
			closing = new Promise((resolve) => {
				server.close(() => resolve());
				if (!useHttp2 && !tls) server.closeAllConnections();
				for (const s of live) s.destroy();
				for (const s of sockets) s.destroy();
			});
			if (cert) closing = closing.then(() => rm(cert.dir, { recursive: true, force: true }));
			return closing;
		},
	};
	return api;
}

function parseArgs(argv) {
	const out = { host: '127.0.0.1', port: 0, http2: false, tls: false };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--port') out.port = Number(argv[++i]);
		else if (a === '--host') out.host = argv[++i];
		else if (a === '--http2') out.http2 = true;
		else if (a === '--tls') out.tls = true;
		else if (a === '--help' || a === '-h') {
			out.help = true;
		} else throw new Error(`unknown argument ${a}`);
	}
	if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('--port needs 0..65535');
	if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(out.host)) throw new Error('--host must be a loopback address');
	return out;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
	let args;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (e) {
		process.stderr.write(`upstream.mjs: ${e.message}\n`);
		process.exit(2);
	}
	if (args.help) {
		process.stdout.write(
			'usage: node tests/fakes/upstream.mjs [--port N] [--host 127.0.0.1] [--http2] [--tls]\nscenarios (by model):\n',
		);
		for (const [k, v] of Object.entries(SCENARIOS)) process.stdout.write(`  ${k.padEnd(16)} ${v}\n`);
		process.exit(0);
	}
	const up = await startUpstream(args);
	process.stdout.write(`${up.url}\n`);
	if (up.caFile) process.stderr.write(`certificate: ${up.caFile}\n`);
	const stop = () => up.close().then(() => process.exit(0));
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}
