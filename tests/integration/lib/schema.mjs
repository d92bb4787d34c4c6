// JSON Schema validation against the Open Responses OpenAPI document (shared/spec, beside the repo).
//
//   validateResponse(obj)        ResponseResource (a JSON response, or a response.* event's snapshot)
//   validateEvent(evt)           the streaming event union, picked by evt.type
//   validateItem(item)           ItemField (an output item, or an entry of input_items)
//   validateErrorEnvelope(body)  {"error":{"message","type","param","code"}} (spec "Errors")
//   validateInputItemsList(obj)  the GET /v1/responses/{id}/input_items list object
// Each throws an Error carrying ajv's errors (err.errors) when the value does not fit.
//
// The document is found relative to this file: <repo>/../shared/spec/openresponses-openapi-2026-04-24.json
// (every clone has shared/ beside it); OPENRESPONSES_OPENAPI overrides the path.

import { readFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

export const SPEC_PATH =
	process.env.OPENRESPONSES_OPENAPI ||
	fileURLToPath(new URL('../../../../shared/spec/openresponses-openapi-2026-04-24.json', import.meta.url));

const doc = JSON.parse(readFileSync(SPEC_PATH, 'utf8'));
const schemas = structuredClone(doc.components.schemas);

// PATCH (RESPONSES-NOTES 1.4, "Schema bug"): the published schema types
// JsonSchemaResponseFormat.schema as null-only, so a response echoing a real json_schema text.format
// could never validate. Here (in memory only, the file is untouched) it accepts a JSON Schema (an
// object or a boolean) or null. Nothing else in the document is changed.
schemas.JsonSchemaResponseFormat.properties.schema = {
	anyOf: [{ type: 'object' }, { type: 'boolean' }, { type: 'null' }],
};

const ID = 'https://toolhost.invalid/openresponses.json';
// OpenAPI 3.1 schemas are JSON Schema 2020-12. strict off: the document carries OpenAPI keywords
// (discriminator, example, x-*) that are not JSON Schema.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true, logger: false });
addFormats(ajv);
ajv.addSchema({ $id: ID, components: { schemas } });

const compiled = new Map();
function validatorFor(name) {
	let v = compiled.get(name);
	if (!v) {
		if (!schemas[name]) throw new Error(`schema ${name} is not in ${SPEC_PATH}`);
		v = ajv.compile({ $ref: `${ID}#/components/schemas/${name}` });
		compiled.set(name, v);
	}
	return v;
}

function fail(what, value, errors) {
	const shown = (errors ?? []).slice(0, 12).map((e) => `  ${e.instancePath || '/'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
	let text = JSON.stringify(value);
	if (text && text.length > 3000) text = text.slice(0, 3000) + '...';
	const err = new Error(`${what} does not fit the Open Responses schema:\n${shown.join('\n')}\nvalue: ${text}`);
	err.errors = errors;
	err.value = value;
	throw err;
}

function check(name, value, what = name) {
	const v = validatorFor(name);
	if (!v(value)) fail(what, value, v.errors);
	return value;
}

// The streaming event union: the oneOf of POST /responses' text/event-stream schema, keyed by each
// member's "type" enum/const (falls back to every component whose name ends in "StreamingEvent").
// Taken from the SSE union rather than from all components because two components declare type
// "error": ErrorStreamingEvent (SSE) and WebSocketErrorEvent (the WebSocket envelope).
const EVENT_SCHEMA_BY_TYPE = new Map();
{
	const oneOf = doc.paths?.['/responses']?.post?.responses?.['200']?.content?.['text/event-stream']?.schema?.oneOf;
	const names = Array.isArray(oneOf)
		? oneOf.map((r) => r.$ref.split('/').pop())
		: Object.keys(schemas).filter((n) => n.endsWith('StreamingEvent'));
	for (const name of names) {
		const t = schemas[name]?.properties?.type;
		const values = t?.const !== undefined ? [t.const] : (t?.enum ?? []);
		for (const v of values) EVENT_SCHEMA_BY_TYPE.set(v, name);
	}
}
export const EVENT_TYPES = Object.freeze([...EVENT_SCHEMA_BY_TYPE.keys()]);

export function validateResponse(obj) {
	return check('ResponseResource', obj, 'response');
}

export function validateItem(item) {
	return check('ItemField', item, `item ${item?.type ?? '?'}`);
}

/** opts.allowUnknown: accept event types the schema does not define (still needs type and sequence_number). */
export function validateEvent(evt, opts = {}) {
	const type = evt?.type;
	const name = EVENT_SCHEMA_BY_TYPE.get(type);
	if (!name) {
		if (opts.allowUnknown && typeof type === 'string' && Number.isInteger(evt.sequence_number)) return evt;
		fail(`event of unknown type ${JSON.stringify(type)}`, evt, [
			{ instancePath: '/type', message: `is not one of the ${EVENT_TYPES.length} streaming event types` },
		]);
	}
	return check(name, evt, `event ${type}`);
}

const envelopeValidator = ajv.compile({
	type: 'object',
	required: ['error'],
	properties: {
		error: {
			type: 'object',
			required: ['message', 'type', 'param', 'code'],
			properties: {
				message: { type: 'string', minLength: 1 },
				type: { type: 'string', minLength: 1 },
				param: { type: ['string', 'null'] },
				code: { type: ['string', 'null'] },
			},
		},
	},
});

export function validateErrorEnvelope(body) {
	if (!envelopeValidator(body)) fail('error envelope', body, envelopeValidator.errors);
	return body;
}

const listValidator = ajv.compile({
	type: 'object',
	required: ['object', 'data', 'first_id', 'last_id', 'has_more'],
	properties: {
		object: { const: 'list' },
		data: { type: 'array' },
		first_id: { type: ['string', 'null'] },
		last_id: { type: ['string', 'null'] },
		has_more: { type: 'boolean' },
	},
});

export function validateInputItemsList(obj) {
	if (!listValidator(obj)) fail('input_items list', obj, listValidator.errors);
	for (const item of obj.data) validateItem(item);
	return obj;
}
