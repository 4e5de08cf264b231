/** The release this code is: `package.json`'s version, read once (the CLI's --version, the worker's start line, the metrics). */
import { readFileSync } from 'node:fs';

export const productVersion: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const buildInfo = { version: productVersion, node: process.versions.node };
