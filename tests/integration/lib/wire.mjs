// A fetch for SDK clients (openai, @ai-sdk/open-responses) that talks over the daemon's Unix socket
// and checks on the side everything the daemon sends back: each JSON body, error envelope and SSE
// stream (framing, schema, stream rules). The SDK gets the original response; the checks read a clone.
// settle() waits for the checks of every response so far and throws what they found.

import { fetch as undiciFetch } from 'undici';
import { validateErrorEnvelope, validateInputItemsList, validateResponse } from './schema.mjs';
import { checkFraming, checkStream, parseSSEFrames } from './sse.mjs';

const SETTLE_TIMEOUT_MS = 15000;

function urlOf(input) {
	if (typeof input === 'string') return new URL(input);
	if (input instanceof URL) return input;
	return new URL(input.url);
}

export function makeWireFetch(dispatcher) {
	const pending = [];
	const problems = [];
	const seen = { json: 0, errors: 0, streams: 0, events: 0 };

	async function inspect(method, url, res) {
		const p = url.pathname;
		const ct = res.headers.get('content-type') ?? '';
		const where = `${method} ${p} -> ${res.status}`;
		let text;
		try {
			text = await res.text();
		} catch (e) {
			// The consumer aborted (break out of a stream, AbortSignal): nothing to check.
			if (e?.name === 'AbortError' || /abort/i.test(String(e?.message))) return;
			throw new Error(`${where}: reading the body failed: ${e?.message ?? e}`);
		}
		try {
			if (res.status >= 400) {
				seen.errors++;
				if (!ct.includes('application/json')) throw new Error(`error responses must be application/json, got "${ct}"`);
				validateErrorEnvelope(JSON.parse(text));
				return;
			}
			if (ct.includes('text/event-stream')) {
				seen.streams++;
				const { frames } = parseSSEFrames(text);
				const { events } = checkFraming(frames);
				seen.events += events.length;
				checkStream(events);
				return;
			}
			if (res.status === 200 && p.startsWith('/v1/responses')) {
				if (!ct.includes('application/json')) throw new Error(`JSON responses must be application/json, got "${ct}"`);
				const body = JSON.parse(text);
				seen.json++;
				if (/\/input_items$/.test(p)) validateInputItemsList(body);
				else if (method === 'DELETE') {
					if (body.object !== 'response.deleted' || body.deleted !== true || typeof body.id !== 'string')
						throw new Error(`DELETE answer must be {id, object:"response.deleted", deleted:true}: ${text}`);
				} else if (body.object === 'response') validateResponse(body);
				else throw new Error(`unexpected JSON object: ${text.slice(0, 300)}`);
			}
		} catch (e) {
			e.message = `${where}: ${e.message}`;
			throw e;
		}
	}

	async function wireFetch(input, init = {}) {
		const method = String(init.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')).toUpperCase();
		const url = urlOf(input);
		const res = await undiciFetch(input, { ...init, dispatcher });
		const copy = res.clone();
		pending.push(
			inspect(method, url, copy).catch((e) => {
				problems.push(e);
			}),
		);
		return res;
	}

	return {
		fetch: wireFetch,
		seen,
		/** Waits (bounded) for every pending check, then throws an error listing the problems found. */
		async settle() {
			const batch = pending.splice(0);
			let timer;
			const timeout = new Promise((resolve) => {
				timer = setTimeout(() => resolve('timeout'), SETTLE_TIMEOUT_MS);
			});
			const r = await Promise.race([Promise.allSettled(batch), timeout]);
			clearTimeout(timer);
			if (r === 'timeout') problems.push(new Error(`a response body did not end within ${SETTLE_TIMEOUT_MS} ms`));
			const found = problems.splice(0);
			if (found.length === 1) throw found[0];
			if (found.length > 1) throw new AggregateError(found, found.map((e) => e.message).join('\n---\n'));
		},
	};
}
