// Shared plumbing of the interop scripts: argument parsing, the one-line JSON
// result, the overall timeout, a WebSocket for Node.js (which has no global
// one in v20) and a SIP trace of everything the client sends and receives.
//
// stdout carries exactly one line: the JSON result. Everything else (the SIP
// trace with --debug or SIP_INTEROP_DEBUG=1, library logs) goes to stderr.

import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { WebSocket as WsWebSocket } from 'ws';

// Libraries that log with console.log must not corrupt the result line.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

/** The SIP messages seen so far, each `{ dir: 'out' | 'in', text }`. */
export const traffic = [];

let debugEnabled = false;
let scenarioName = 'unknown';
let finished = false;
/** Open WebSockets, closed cleanly (close handshake) before exiting. */
const sockets = new Set();

/**
 * Parses argv with `spec` (util.parseArgs options) plus the common
 * `--debug` and `--timeout-ms`; starts the overall timeout. `name` labels
 * the result line.
 */
export function setup(name, spec) {
  const { values } = parseArgs({
    options: {
      ...spec,
      debug: { type: 'boolean', default: false },
      'timeout-ms': { type: 'string', default: process.env.SIP_INTEROP_TIMEOUT_MS || '10000' },
    },
    strict: true,
    allowPositionals: false,
  });
  debugEnabled = values.debug || ['1', 'true', 'yes'].includes(process.env.SIP_INTEROP_DEBUG || '');
  scenarioName = `${name}:${values.scenario ?? ''}`.replace(/:$/, '');
  const timeoutMs = Number(values['timeout-ms']);
  setTimeout(() => fail(`timeout after ${timeoutMs} ms`), timeoutMs);
  process.on('uncaughtException', (error) => fail(`uncaught exception: ${error?.stack || error}`));
  process.on('unhandledRejection', (error) => fail(`unhandled rejection: ${error?.stack || error}`));
  return values;
}

export function debug() {
  return debugEnabled;
}

/** A log line on stderr, only in debug mode. */
export function log(...args) {
  if (debugEnabled) {
    console.error('[interop]', ...args);
  }
}

/** One line per SIP message: its start line, and for a response the CSeq method. */
function summary(text) {
  const start = text.split('\r\n', 1)[0];
  if (start.startsWith('SIP/2.0 ')) {
    const cseq = /^(?:CSeq)\s*:\s*\d+\s+(\S+)/im.exec(text);
    return `${start} (${cseq ? cseq[1] : '?'})`;
  }
  return start.replace(/ SIP\/2\.0$/, '');
}

/** Records (and in debug mode prints) one SIP message. */
export function record(dir, transport, data) {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  if (text === '\r\n\r\n' || text === '\r\n') {
    return; // keep-alives
  }
  traffic.push({ dir, text });
  if (debugEnabled) {
    const arrow = dir === 'out' ? '>>>' : '<<<';
    console.error(`${arrow} ${transport} ${new Date().toISOString()}\n${text.replace(/\r\n/g, '\n')}`);
  }
}

/** The flow so far, compact: `> INVITE sip:…`, `< SIP/2.0 180 Ringing (INVITE)`. */
export function flow() {
  return traffic.map(({ dir, text }) => `${dir === 'out' ? '>' : '<'} ${summary(text)}`);
}

/** Whether some received message's start line starts with `start` and its CSeq method is `method`. */
export function received(start, method) {
  return traffic.some(
    ({ dir, text }) =>
      dir === 'in' && text.startsWith(start) && new RegExp(`^CSeq\\s*:\\s*\\d+\\s+${method}\\b`, 'im').test(text),
  );
}

/** Whether some sent message starts with `start`. */
export function sent(start) {
  return traffic.some(({ dir, text }) => dir === 'out' && text.startsWith(start));
}

/**
 * Installs `globalThis.WebSocket` from the `ws` package, offering the `sip`
 * subprotocol (RFC 7118) and recording every SIP message in both directions.
 */
export function installWebSocket() {
  class TracingWebSocket extends WsWebSocket {
    constructor(url, protocols = 'sip', options = {}) {
      super(url, protocols, options);
      sockets.add(this);
      this.on('open', () => log(`WebSocket open: ${url}, subprotocol "${this.protocol}"`));
      this.on('message', (data) => record('in', 'WS', data));
      this.on('close', (code, reason) => {
        sockets.delete(this);
        log(`WebSocket closed: ${code} ${reason}`);
      });
      this.on('error', (error) => log(`WebSocket error: ${error.message}`));
    }

    send(data, ...rest) {
      record('out', 'WS', data);
      return super.send(data, ...rest);
    }
  }
  globalThis.WebSocket = TracingWebSocket;
  return TracingWebSocket;
}

function finish(ok, fields) {
  if (finished) {
    return;
  }
  finished = true;
  closeSockets().then((closes) => {
    const extra = closes.length > 0 ? { ws_close: closes } : {};
    const line = JSON.stringify({ ok, scenario: scenarioName, ...fields, ...extra, flow: flow() });
    process.stdout.write(`${line}\n`, () => process.exit(ok ? 0 : 1));
  });
}

/**
 * Closes the open WebSockets with a close handshake (bounded to 500 ms);
 * resolves to the close code each one saw (1000 when the server answered
 * the Close frame, 1006 when it dropped the connection instead), for the
 * record: the scenarios do not depend on it.
 */
function closeSockets() {
  const closing = [...sockets].map(
    (socket) =>
      new Promise((resolve) => {
        socket.once('close', (code) => resolve(code));
        setTimeout(() => resolve('no close within 500 ms'), 500);
        try {
          socket.close(1000, 'done');
        } catch {
          resolve('close failed');
        }
      }),
  );
  return Promise.all(closing);
}

/** Success: prints the result line and exits 0. */
export function pass(fields = {}) {
  finish(true, fields);
}

/** Failure: prints the result line with `error` and exits 1. */
export function fail(error, fields = {}) {
  finish(false, { error: String(error), ...fields });
}

/** Fails unless `condition`; returns it so callers can stop. */
export function check(condition, error, fields = {}) {
  if (!condition) {
    fail(error, fields);
  }
  return Boolean(condition);
}

export function randomToken(length = 10) {
  return Math.random()
    .toString(36)
    .slice(2, 2 + length)
    .padEnd(length, '0');
}

/** The installed version of an npm package (from its package.json). */
export function packageVersion(name) {
  try {
    return createRequire(import.meta.url)(`${name}/package.json`).version;
  } catch {
    return 'unknown';
  }
}
