import { startDaemon, freePort } from './integration/lib/harness.mjs';
const PORT = await freePort();
import WebSocket from 'ws';
import net from 'node:net';
const d = await startDaemon({ config: { websocket: { max_message_bytes: 1048576, max_age_s: 2, idle_timeout_s: 4 }, listen: { tcp: { address: '127.0.0.1', port: PORT } }, api_keys: [{ name: 'k', key: 'secret-key-123456' }] } }).catch(e => { console.log('start', e.message); process.exit(1); });
console.log(Object.keys(d).join(','));
function open(opts = {}) {
  return new Promise((res) => {
    const ws = new WebSocket('ws://localhost/v1/responses', { createConnection: () => net.connect(d.socketPath), ...opts });
    const msgs = []; ws.msgs = msgs;
    ws.on('message', (m, bin) => msgs.push(JSON.parse(m.toString())));
    ws.on('close', (code) => { ws.closeCode = code; });
    ws.on('unexpected-response', (q, r) => res({ status: r.statusCode }));
    ws.on('error', () => {});
    ws.on('open', () => res(ws));
  });
}
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
let ws = await open();
// oversize
ws.send('x'.repeat(2 * 1048576));
await wait(800);
console.log('oversize:', JSON.stringify(ws.msgs), 'close', ws.closeCode);
// fragmented under cap
ws = await open();
const body = JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'y'.repeat(600000), store: false });
const n = 5, sz = Math.ceil(body.length / n);
for (let i = 0; i < n; i++) ws.send(body.slice(i * sz, (i + 1) * sz), { fin: i === n - 1 });
await wait(1500);
console.log('frag:', ws.msgs.map((m) => m.type).join(','));
// invalid utf8 
const raw = ws._socket;
ws.send(Buffer.from([0xff, 0xfe, 0x41]), { binary: false });
await wait(500);
console.log('utf8 close', ws.closeCode);
// age
ws = await open();
ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'a', store: false }));
await wait(2500);
ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'b', store: false }));
await wait(500);
console.log('age:', ws.msgs.map((m) => m.type + (m.error ? ':' + m.error.code : '')).join(','), 'close', ws.closeCode);
// queue
ws = await open();
for (let i = 0; i < 11; i++) ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'q' + i, store: false, stream_id: 'L' + i }));
await wait(2500);
console.log('queue:', ws.msgs.filter(m => m.type === 'response.completed' || m.type === 'error').map((m) => m.stream_id + ':' + m.type + (m.error ? ':' + m.error.code : '')).join(','));
// continuation
ws = await open();
ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'first', store: false }));
await wait(800);
const id = ws.msgs.find(m => m.type === 'response.completed').response.id;
ws.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'second', store: false, previous_response_id: id }));
await wait(800);
console.log('cont:', ws.msgs.filter(m => m.type === 'response.completed' || m.type === 'error').map(m => m.type).join(','), JSON.stringify(d.upstream.lastChat?.()?.messages ?? '').slice(0, 300));
const ws2 = await open();
ws2.send(JSON.stringify({ type: 'response.create', model: 'fake-text', input: 'x', store: false, previous_response_id: id }));
await wait(500);
console.log('other socket:', JSON.stringify(ws2.msgs));
// TCP checks
const port = PORT;
console.log('tcp port', port);
for (const [name, headers] of [['nobearer', {}], ['origin', { Authorization: 'Bearer secret-key-123456', Origin: 'http://evil' }], ['ok', { Authorization: 'Bearer secret-key-123456' }]]) {
  const r = await new Promise((res) => { const w = new WebSocket(`ws://127.0.0.1:${port}/v1/responses`, { headers }); w.on('unexpected-response', (q, rr) => res(rr.statusCode)); w.on('open', () => { res(101); w.close(); }); w.on('error', (e) => res(e.message)); });
  console.log('tcp', name, r);
}
const r = await new Promise((res) => { const w = new WebSocket(`ws://127.0.0.1:${port}/v1/responses`, { headers: { Authorization: 'Bearer secret-key-123456', Host: 'evil.example:80' } }); w.on('unexpected-response', (q, rr) => res(rr.statusCode)); w.on('open', () => res(101)); w.on('error', (e) => res(e.message)); });
console.log('tcp host', r);
// idle: raw socket
const s = net.connect(d.socketPath);
s.write('GET /v1/responses HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
let got = Buffer.alloc(0); s.on('data', (b) => got = Buffer.concat([got, b]));
const t0 = Date.now(); await new Promise((res) => s.on('close', res));
console.log('idle closed after', Date.now() - t0, 'ms', got.slice(0, 20).toString().split('\r')[0], 'bytes', got.length);
await d.stop();
console.log(d.stderr?.toString?.().split('\n').filter(l => /websocket|ws/i.test(l)).slice(-8).join('\n'));
