// fastpeer: one small Node process that is both ends toolhostd talks to in the MCP response bench
// (tests/bench/mcp-responses.sh): a fast Chat Completions upstream and a minimal MCP server.
//
//   node tests/bench/fastpeer.mjs [--port N] [--max-lifetime-s S]
//
// Listens on 127.0.0.1 only (--port 0, the default, picks a free port) and prints its base URL
// (http://127.0.0.1:PORT) on stdout once it accepts connections.
//
//   POST /v1/chat/completions  when the last message has role "tool": a short text answer; otherwise
//                              one call of the first function tool of the request's "tools" with the
//                              arguments {"message":"hi"} (finish_reason "tool_calls"); with no function
//                              tool, the text answer. "stream": true gets SSE (a few chunks, a usage
//                              chunk, data: [DONE]), else the same as one chat.completion JSON object.
//   POST /mcp                  Streamable HTTP MCP, answered with application/json (never SSE):
//                              initialize (new session, Mcp-Session-Id header), notifications/* and
//                              JSON-RPC responses -> 202, ping -> {}, tools/list -> the tool "echo",
//                              tools/call echo -> its "message" argument as text. Other methods -32601.
//                              A session id the server never issued (or deleted) -> 404; none, on
//                              anything but initialize -> 400.
//   DELETE /mcp                ends the session -> 200.   GET /mcp -> 405 (no server-initiated stream).
//   GET /_stats                the counters below as JSON.   POST /_reset -> zeroes them.
//
// Counters: every request except the two control paths, by "METHOD path", by JSON-RPC method on
// /mcp, and the kind of Chat Completions answer. The answers are built once (or once per tool name)
// so that this process spends as little time per request as it can: in the bench it shares the
// machine with toolhostd and the load generator, and its CPU is reported beside the results.
//
// Exits on SIGTERM/SIGINT, when its parent process goes away, and after --max-lifetime-s (600).

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

const MAX_BODY = 4 * 1024 * 1024; // bytes of one request body; more -> 413
const MAX_SESSIONS = 100000; // MCP sessions remembered; the oldest is forgotten beyond that
const PROTOCOL_VERSION = '2025-11-25';

function parseArgs(argv) {
	const o = { port: 0, lifetime: 600 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const v = argv[i + 1];
		if (a === '--port' && v !== undefined && /^\d+$/.test(v) && Number(v) < 65536) {
			o.port = Number(v);
			i++;
		} else if (a === '--max-lifetime-s' && v !== undefined && /^\d+$/.test(v) && Number(v) > 0) {
			o.lifetime = Number(v);
			i++;
		} else {
			process.stderr.write('usage: node fastpeer.mjs [--port N] [--max-lifetime-s S]\n');
			process.exit(2);
		}
	}
	return o;
}

// ---- counters -----------------------------------------------------------------------------------

let stats;
function resetStats() {
	stats = {
		requests: 0, // every counted HTTP request
		paths: Object.create(null), // "POST /mcp": n
		mcp: Object.create(null), // JSON-RPC method (or "response" for a client's reply): n
		chat: { tool_call: 0, answer: 0, stream: 0, json: 0 },
		errors: 0, // answers with a 4xx/5xx status
		since_ms: Date.now(),
	};
}
resetStats();

function bump(obj, key) {
	obj[key] = (obj[key] || 0) + 1;
}

// ---- Chat Completions ---------------------------------------------------------------------------

const CREATED = 1700000000;
const ANSWER_WORDS = ['Hello', ', ', 'the tool ', 'said hi', '.'];
const USAGE = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };
const SSE = 'text/event-stream';
const JSON_TYPE = 'application/json';

// One write per answer: a Content-Length, so no chunked framing either.
function send(res, status, type, body, extra) {
	const head = [];
	if (type !== null) head.push('Content-Type', type);
	if (type === SSE) head.push('Cache-Control', 'no-cache');
	if (extra !== undefined) head.push(extra[0], extra[1]);
	head.push('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.length);
	res.writeHead(status, head);
	res.end(body);
}

function chunk(id, choices, usage) {
	const c = { id, object: 'chat.completion.chunk', created: CREATED, model: 'bench', choices };
	if (usage) c.usage = usage;
	return `data: ${JSON.stringify(c)}\n\n`;
}

function buildAnswerSse() {
	const id = 'chatcmpl-fastpeer';
	let s = chunk(id, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
	for (const w of ANSWER_WORDS) s += chunk(id, [{ index: 0, delta: { content: w }, finish_reason: null }]);
	s += chunk(id, [{ index: 0, delta: {}, finish_reason: 'stop' }]);
	s += chunk(id, [], USAGE);
	s += 'data: [DONE]\n\n';
	return Buffer.from(s);
}

function buildAnswerJson() {
	return Buffer.from(
		JSON.stringify({
			id: 'chatcmpl-fastpeer',
			object: 'chat.completion',
			created: CREATED,
			model: 'bench',
			choices: [
				{ index: 0, message: { role: 'assistant', content: ANSWER_WORDS.join('') }, finish_reason: 'stop' },
			],
			usage: USAGE,
		}),
	);
}

const ANSWER_SSE = buildAnswerSse();
const ANSWER_JSON = buildAnswerJson();
const ARGS = '{"message":"hi"}';
const CALL_ID_MARK = '@CALL_ID@'; // replaced per request: call ids should not repeat in one context

// The tool-call answers for one tool name, split around the call id.
const toolCallCache = new Map();
function toolCallParts(name) {
	let p = toolCallCache.get(name);
	if (p) return p;
	const id = 'chatcmpl-fastpeer';
	let sse = chunk(id, [
		{
			index: 0,
			delta: {
				role: 'assistant',
				content: null,
				tool_calls: [{ index: 0, id: CALL_ID_MARK, type: 'function', function: { name, arguments: '' } }],
			},
			finish_reason: null,
		},
	]);
	sse += chunk(id, [
		{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ARGS } }] }, finish_reason: null },
	]);
	sse += chunk(id, [{ index: 0, delta: {}, finish_reason: 'tool_calls' }]);
	sse += chunk(id, [], USAGE);
	sse += 'data: [DONE]\n\n';
	const json = JSON.stringify({
		id,
		object: 'chat.completion',
		created: CREATED,
		model: 'bench',
		choices: [
			{
				index: 0,
				message: {
					role: 'assistant',
					content: null,
					tool_calls: [{ id: CALL_ID_MARK, type: 'function', function: { name, arguments: ARGS } }],
				},
				finish_reason: 'tool_calls',
			},
		],
		usage: USAGE,
	});
	p = { sse: sse.split(CALL_ID_MARK), json: json.split(CALL_ID_MARK) };
	if (toolCallCache.size < 64) toolCallCache.set(name, p);
	return p;
}

let callSeq = 0;
function chat(req, res, body) {
	let msg;
	try {
		msg = JSON.parse(body);
	} catch {
		return fail(res, 400, 'the request body is not JSON');
	}
	if (msg === null || typeof msg !== 'object' || !Array.isArray(msg.messages) || msg.messages.length === 0)
		return fail(res, 400, 'messages: required, a non-empty array');
	const last = msg.messages[msg.messages.length - 1];
	let tool = null;
	if (!(last && last.role === 'tool') && Array.isArray(msg.tools)) {
		for (const t of msg.tools) {
			if (t && t.type === 'function' && t.function && typeof t.function.name === 'string') {
				tool = t.function.name;
				break;
			}
		}
	}
	const stream = msg.stream === true;
	stats.chat[stream ? 'stream' : 'json']++;
	if (tool === null) {
		stats.chat.answer++;
		return send(res, 200, stream ? SSE : JSON_TYPE, stream ? ANSWER_SSE : ANSWER_JSON);
	}
	stats.chat.tool_call++;
	const parts = toolCallParts(tool)[stream ? 'sse' : 'json'];
	send(res, 200, stream ? SSE : JSON_TYPE, parts.join(`call_fp${++callSeq}`));
}

// ---- MCP ----------------------------------------------------------------------------------------

const sessions = new Set();
const TOOLS_RESULT = {
	tools: [
		{
			name: 'echo',
			description: 'Returns its message.',
			inputSchema: {
				type: 'object',
				properties: { message: { type: 'string' } },
				required: ['message'],
			},
		},
	],
};
const INIT_RESULT = {
	protocolVersion: PROTOCOL_VERSION,
	capabilities: { tools: {} },
	serverInfo: { name: 'fastpeer', version: '1.0.0' },
};

function rpcResult(res, id, result, extra) {
	send(res, 200, JSON_TYPE, JSON.stringify({ jsonrpc: '2.0', id, result }), extra);
}

function rpcError(res, id, code, message) {
	send(res, 200, JSON_TYPE, JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}

function mcp(req, res, body) {
	let m;
	try {
		m = JSON.parse(body);
	} catch {
		return fail(res, 400, 'the request body is not JSON', true);
	}
	if (m === null || typeof m !== 'object' || Array.isArray(m) || m.jsonrpc !== '2.0')
		return fail(res, 400, 'expected one JSON-RPC 2.0 message', true);
	const method = typeof m.method === 'string' ? m.method : null;
	bump(stats.mcp, method === null ? 'response' : method);
	const sid = req.headers['mcp-session-id'];
	if (method === 'initialize') {
		if (m.id === undefined) return fail(res, 400, 'initialize without an id', true);
		const id = randomUUID();
		if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.values().next().value);
		sessions.add(id);
		return rpcResult(res, m.id, INIT_RESULT, ['Mcp-Session-Id', id]);
	}
	if (sid === undefined) return fail(res, 400, 'Mcp-Session-Id header required', true);
	if (!sessions.has(sid)) return fail(res, 404, 'unknown session', true);
	if (method === null || m.id === undefined) {
		// A notification, or the client's answer to a request of ours (we make none).
		return send(res, 202, null, '');
	}
	switch (method) {
		case 'ping':
			return rpcResult(res, m.id, {});
		case 'tools/list':
			return rpcResult(res, m.id, TOOLS_RESULT);
		case 'tools/call': {
			const p = m.params;
			if (!p || p.name !== 'echo') return rpcError(res, m.id, -32602, `unknown tool: ${p && p.name}`);
			const a = p.arguments;
			if (!a || typeof a.message !== 'string')
				return rpcError(res, m.id, -32602, 'echo: "message" must be a string');
			return rpcResult(res, m.id, { content: [{ type: 'text', text: a.message }] });
		}
		default:
			return rpcError(res, m.id, -32601, `method not found: ${method}`);
	}
}

// ---- HTTP ---------------------------------------------------------------------------------------

function fail(res, status, message, jsonrpc) {
	stats.errors++;
	const body = jsonrpc
		? { jsonrpc: '2.0', id: null, error: { code: -32600, message } }
		: { error: { message, type: 'invalid_request_error' } };
	send(res, status, JSON_TYPE, JSON.stringify(body));
}

// Reads the whole body (capped), then calls fn(req, res, body).
function withBody(req, res, fn) {
	const parts = [];
	let n = 0;
	let over = false;
	req.on('data', (d) => {
		if (over) return;
		n += d.length;
		if (n > MAX_BODY) {
			over = true;
			parts.length = 0;
			return;
		}
		parts.push(d);
	});
	req.on('end', () => {
		if (over) return fail(res, 413, `request body over ${MAX_BODY} bytes`);
		fn(req, res, parts.length === 1 ? parts[0].toString() : Buffer.concat(parts).toString());
	});
	req.on('error', () => res.destroy());
}

function onRequest(req, res) {
	const q = req.url.indexOf('?');
	const path = q < 0 ? req.url : req.url.slice(0, q);
	if (path === '/_stats' && req.method === 'GET') {
		return send(res, 200, JSON_TYPE, JSON.stringify(stats));
	}
	if (path === '/_reset' && req.method === 'POST') {
		resetStats();
		req.resume();
		return send(res, 200, JSON_TYPE, '{"reset":true}');
	}
	stats.requests++;
	bump(stats.paths, `${req.method} ${path}`);
	if (path === '/v1/chat/completions' && req.method === 'POST') return withBody(req, res, chat);
	if (path === '/mcp') {
		if (req.method === 'POST') return withBody(req, res, mcp);
		req.resume();
		if (req.method === 'DELETE') {
			const sid = req.headers['mcp-session-id'];
			if (sid === undefined || !sessions.delete(sid)) return fail(res, 404, 'unknown session', true);
			return send(res, 200, null, '');
		}
		stats.errors++;
		return send(res, 405, null, '', ['Allow', 'POST, DELETE']);
	}
	req.resume();
	fail(res, 404, `no route for ${req.method} ${path}`);
}

const opts = parseArgs(process.argv.slice(2));
const server = http.createServer({ keepAlive: true, noDelay: true }, onRequest);
server.keepAliveTimeout = 120000;
server.headersTimeout = 30000;
server.requestTimeout = 30000;
server.maxRequestsPerSocket = 0;
server.on('clientError', (err, sock) => sock.destroy());
server.listen(opts.port, '127.0.0.1', () => {
	process.stdout.write(`http://127.0.0.1:${server.address().port}\n`);
});

function stop() {
	server.close();
	server.closeAllConnections();
	process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const ppid = process.ppid;
setInterval(() => {
	if (process.ppid !== ppid) stop();
}, 1000).unref();
setTimeout(stop, opts.lifetime * 1000).unref();
