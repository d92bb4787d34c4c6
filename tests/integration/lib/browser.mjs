// A real browser for the page tests: Debian's chromium (scripts/setup-debian.sh installs it), driven
// by the pinned puppeteer-core. Screenshots go to $TEST_OUTPUT_DIR (default build/test-output/) for
// a person to look at; tests never compare pixels.

import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { REPO_ROOT } from './mcp.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const OUTPUT_DIR = path.resolve(REPO_ROOT, process.env.TEST_OUTPUT_DIR || 'build/test-output');

/** A headless Chromium; every page's console errors and failed requests are kept in `problems`. */
export async function launchBrowser() {
	const browser = await puppeteer.launch({
		executablePath: CHROMIUM,
		headless: true,
		// --no-sandbox: CI runs the tests as root, where Chromium's sandbox refuses to start.
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
		timeout: 30000,
	});
	return browser;
}

/** Collects what a page reports: console errors (a CSP violation is one) and uncaught exceptions. */
export function watchProblems(page) {
	const problems = [];
	page.on('console', (m) => {
		if (m.type() === 'error') problems.push(`console: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
	return problems;
}

/** Saves a screenshot as OUTPUT_DIR/<dir>/<name>.png; returns its path. */
export async function screenshot(page, dir, name) {
	const out = path.join(OUTPUT_DIR, dir);
	fs.mkdirSync(out, { recursive: true });
	const file = path.join(out, `${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	return file;
}
