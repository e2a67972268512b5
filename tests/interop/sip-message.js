// The npm `sip` package (a third-party SIP stack with its own transaction
// layer) sending MESSAGE over UDP or TCP.
//
//   node sip-message.js --server 127.0.0.1:PORT --transport udp|tcp [--target-user accept]
//                       [--status 200] [--reply-body TEXT]
//
// Sends a MESSAGE to sip:USER@HOST:PORT (default user: accept) and expects the
// final status --status (default 200). With --reply-body, it then waits for
// the responder's auto-reply MESSAGE with that body, answers it 200 and only
// then succeeds. The server may also come from SIP_SERVER.

import dgram from 'node:dgram';
import net from 'node:net';
import sip from 'sip';
import { check, fail, log, packageVersion, pass, randomToken, record, setup } from './lib.js';

const args = setup('sip-message', {
  server: { type: 'string', default: process.env.SIP_SERVER },
  transport: { type: 'string', default: 'udp' },
  'target-user': { type: 'string', default: 'accept' },
  status: { type: 'string', default: '200' },
  body: { type: 'string', default: 'Hello from the npm sip package' },
  'reply-body': { type: 'string' },
});

const transport = args.transport.toLowerCase();
const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(args.server || '');
if (!match) {
  fail('no server: pass --server HOST:PORT or set SIP_SERVER');
} else if (!['udp', 'tcp'].includes(transport)) {
  fail(`unsupported transport ${transport} (udp, tcp)`);
} else {
  run(match[1], Number(match[2])).catch((error) => fail(`error: ${error?.stack || error}`));
}

/** A port free for both UDP and TCP on `address` (the package cannot bind port 0). */
async function freePort(address) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, address, () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, address, () => socket.close(() => resolve(true)));
    });
    if (udpFree) {
      return port;
    }
  }
  throw new Error('no free local port');
}

async function run(host, port) {
  const local = net.isIPv6(host) ? '::1' : '127.0.0.1';
  const localPort = await freePort(local);
  const hostPart = net.isIPv6(host) ? `[${host}]` : host;
  const localPart = net.isIPv6(local) ? `[${local}]` : local;
  const wantStatus = Number(args.status);
  const wantReply = args['reply-body'];
  const outcome = { sip: packageVersion('sip'), transport, server: `${hostPart}:${port}`, local: `${localPart}:${localPort}` };
  let finalStatus = null;
  let replyBody = null;

  const settle = () => {
    if (finalStatus !== null && finalStatus !== wantStatus) {
      fail(`expected ${wantStatus}, got ${finalStatus}`, outcome);
      return;
    }
    if (finalStatus === null || (wantReply !== undefined && replyBody === null)) {
      return;
    }
    if (
      check(finalStatus === wantStatus, `expected ${wantStatus}, got ${finalStatus}`, outcome) &&
      check(wantReply === undefined || replyBody === wantReply, `auto-reply body ${JSON.stringify(replyBody)}, expected ${JSON.stringify(wantReply)}`, outcome)
    ) {
      pass(outcome);
    }
  };

  const stack = sip.create(
    {
      address: local,
      port: localPort,
      udp: transport === 'udp',
      tcp: transport === 'tcp',
      // The package takes a request to its own address for one of its own
      // flows, so it must not call itself 127.0.0.1 when the responder is
      // there: it names itself `localhost` in Via (replies follow the
      // received address and rport anyway).
      publicAddress: 'localhost',
      logger: {
        send: (m) => record('out', transport.toUpperCase(), sip.stringify(m)),
        recv: (m) => record('in', transport.toUpperCase(), sip.stringify(m)),
        error: (e) => log('sip stack error:', e),
      },
    },
    (request) => {
      // A request from the responder: the auto-reply MESSAGE.
      if (request.method === 'MESSAGE') {
        replyBody = request.content || '';
        outcome.auto_reply = {
          from: request.headers.from && request.headers.from.uri,
          body: replyBody,
          content_type: request.headers['content-type'],
        };
        const response = sip.makeResponse(request, 200, 'OK');
        response.headers.to = { ...request.headers.to, params: { ...request.headers.to.params, tag: randomToken() } };
        stack.send(response);
        settle();
      } else if (request.method !== 'ACK') {
        stack.send(sip.makeResponse(request, 405, 'Method Not Allowed'));
      }
    },
  );

  const transportParam = transport === 'tcp' ? ';transport=tcp' : '';
  const user = args['target-user'];
  const message = {
    method: 'MESSAGE',
    uri: `sip:${user}@${hostPart}:${port}${transportParam}`,
    headers: {
      to: { uri: `sip:${user}@${hostPart}:${port}` },
      from: { name: 'npm sip', uri: `sip:sipnpm@${localPart}:${localPort}`, params: { tag: randomToken() } },
      'call-id': `${randomToken(16)}@interop`,
      cseq: { method: 'MESSAGE', seq: 1 },
      'max-forwards': 70,
      'content-type': 'text/plain',
      'user-agent': `npm-sip ${packageVersion('sip')} (sip-autoresponder interop)`,
    },
    content: args.body,
  };
  log('sending MESSAGE to', message.uri);
  stack.send(message, (response) => {
    outcome.responses = outcome.responses || [];
    outcome.responses.push(response.status);
    if (response.status >= 200) {
      finalStatus = response.status;
      outcome.status = response.status;
      outcome.reason = response.reason;
      settle();
    }
  });
}
