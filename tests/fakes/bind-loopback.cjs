// A `node -r` preload that keeps a server on loopback: every net.Server listen() on a TCP port
// (http, express, ...) is made to bind host 127.0.0.1, whatever host it asked for (or none).
// Unix-socket and handle/fd listens are left alone. Made for @modelcontextprotocol/server-everything,
// which has no host option:
//
//   PORT=3901 node -r ./tests/fakes/bind-loopback.cjs \
//       tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js streamableHttp
//
// Optional, by environment:
//   BIND_LOOPBACK_STATS=1         every http.Server also answers GET /_stats with
//                                 {"http":{"total":N,"by_method":{"POST":n,"GET":n,"DELETE":n,"OTHER":n},
//                                 "by_status":{"200":n,...}}} (the requests it counted: all but /_stats and
//                                 /_reset_stats) and POST /_reset_stats (zeroes it); neither reaches the app.
//   BIND_LOOPBACK_WATCH_PARENT=1  the process exits when its parent process is gone, or when its stdin (a
//                                 pipe or socket) closes. Not for stdio servers: they read stdin themselves.
//   BIND_LOOPBACK_VERBOSE=1       one line on stderr per rewritten listen().
//   BIND_LOOPBACK_ANNOUNCE=1      "bind-loopback: listening PORT" on stderr once a rewritten listen() is
//                                 bound: proof that this process, not another, holds the port.

'use strict';

const net = require('node:net');
const http = require('node:http');
const fs = require('node:fs');

const HOST = '127.0.0.1';
const verbose = process.env.BIND_LOOPBACK_VERBOSE === '1';
const announce = process.env.BIND_LOOPBACK_ANNOUNCE === '1';

function isPort(x) {
	return (typeof x === 'number' && Number.isInteger(x)) || (typeof x === 'string' && /^\d+$/.test(x));
}

const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
	const first = args[0];
	let rewritten = null;
	if (first === undefined || typeof first === 'function') {
		// listen() / listen(cb): any port on all interfaces
		rewritten = [{ port: 0, host: HOST }, ...args.filter((a) => typeof a === 'function')];
	} else if (isPort(first)) {
		// listen(port[, host][, backlog][, cb])
		const opts = { port: Number(first), host: HOST };
		const rest = args.slice(1);
		let cb;
		for (const a of rest) {
			if (typeof a === 'function') cb = a;
			else if (typeof a === 'number') opts.backlog = a;
			// a string is the host asked for: replaced
		}
		rewritten = cb ? [opts, cb] : [opts];
	} else if (first !== null && typeof first === 'object' && !first._handle && first.fd === undefined && first.path === undefined) {
		// listen({port, host, ...}[, cb]) (not a handle, fd or unix socket)
		const { ipv6Only, ...rest } = first; // eslint-disable-line no-unused-vars
		rewritten = [{ ...rest, host: HOST }, ...args.slice(1)];
	}
	if (rewritten) {
		if (verbose) process.stderr.write(`bind-loopback: listen(${JSON.stringify(rewritten[0])})\n`);
		if (announce) this.once('listening', () => process.stderr.write(`bind-loopback: listening ${this.address().port}\n`));
		return origListen.apply(this, rewritten);
	}
	return origListen.apply(this, args);
};

if (process.env.BIND_LOOPBACK_STATS === '1') {
	const fresh = () => ({ http: { total: 0, by_method: { POST: 0, GET: 0, DELETE: 0, OTHER: 0 }, by_status: {} } });
	let stats = fresh();
	const origEmit = http.Server.prototype.emit;
	http.Server.prototype.emit = function emitCounting(event, req, res) {
		if (event !== 'request') return origEmit.apply(this, arguments);
		const p = String(req.url || '').split('?')[0];
		if ((p === '/_stats' && req.method === 'GET') || (p === '/_reset_stats' && req.method === 'POST')) {
			if (p === '/_reset_stats') stats = fresh();
			const body = JSON.stringify(p === '/_stats' ? stats : { ok: true });
			req.resume();
			res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
			res.end(body);
			return true;
		}
		const s = stats;
		s.http.total++;
		const m = ['POST', 'GET', 'DELETE'].includes(req.method) ? req.method : 'OTHER';
		s.http.by_method[m]++;
		const origWriteHead = res.writeHead;
		res.writeHead = function (status) {
			const k = String(status);
			s.http.by_status[k] = (s.http.by_status[k] || 0) + 1;
			return origWriteHead.apply(this, arguments);
		};
		return origEmit.apply(this, arguments);
	};
}

if (process.env.BIND_LOOPBACK_WATCH_PARENT === '1') {
	const ppid = process.ppid;
	const gone = () => {
		if (process.ppid !== ppid) return true;
		try {
			process.kill(ppid, 0);
			return false;
		} catch (e) {
			return e.code === 'ESRCH';
		}
	};
	const timer = setInterval(() => {
		if (gone()) process.exit(0);
	}, 500);
	timer.unref();
	try {
		const st = fs.fstatSync(0);
		if (st.isFIFO() || st.isSocket()) {
			process.stdin.on('end', () => process.exit(0));
			process.stdin.on('close', () => process.exit(0));
			process.stdin.on('error', () => process.exit(0));
			process.stdin.resume();
			process.stdin.unref?.();
		}
	} catch {
		// no stdin
	}
}
