// JsSIP over WebSocket: ua.sendMessage() against the responder.
//
//   node jssip-message.js --server ws://127.0.0.1:PORT[/path] --scenario accept|reject|auto-reply
//
// accept:      MESSAGE to --target (default sip:accept@interop.invalid)
//              → 'succeeded' (2xx).
// reject:      MESSAGE to --target (default sip:unavailable@interop.invalid)
//              → 'failed' with cause --cause (default JsSIP.C.causes.UNAVAILABLE)
//              and status --status (default 480).
// auto-reply:  MESSAGE to --target (default sip:echo@interop.invalid)
//              → 'succeeded', then the UA receives a MESSAGE back ('newMessage',
//              originator 'remote') whose body is --reply-body.
//
// --user and --password give JsSIP digest credentials for a challenge (the
// result's flow shows the 401 and the retry).
//
// The server URL may also come from SIP_WS_URL.

import JsSIP from 'jssip';
import { check, fail, installWebSocket, log, packageVersion, pass, received, sent, setup } from './lib.js';

const args = setup('jssip-message', {
  server: { type: 'string', default: process.env.SIP_WS_URL },
  scenario: { type: 'string', default: 'accept' },
  target: { type: 'string' },
  cause: { type: 'string' },
  status: { type: 'string' },
  body: { type: 'string', default: 'Hello from JsSIP' },
  'reply-body': { type: 'string' },
  uri: { type: 'string', default: 'sip:jssip@interop.invalid' },
  // Digest credentials: JsSIP answers a 401/407 to the MESSAGE with them.
  user: { type: 'string' },
  password: { type: 'string' },
});

const DEFAULT_TARGETS = {
  accept: 'sip:accept@interop.invalid',
  reject: 'sip:unavailable@interop.invalid',
  'auto-reply': 'sip:echo@interop.invalid',
};

if (!args.server) {
  fail('no server: pass --server ws://HOST:PORT or set SIP_WS_URL');
} else if (!(args.scenario in DEFAULT_TARGETS)) {
  fail(`unknown scenario ${args.scenario} (accept, reject, auto-reply)`);
} else {
  run();
}

function run() {
  installWebSocket();
  if (args.debug) {
    JsSIP.debug.enable('JsSIP:*');
  }
  const target = args.target || DEFAULT_TARGETS[args.scenario];
  const socket = new JsSIP.WebSocketInterface(args.server);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: args.uri,
    register: false,
    ...(args.password !== undefined && { authorization_user: args.user, password: args.password }),
    user_agent: `JsSIP ${JsSIP.version} (sip-autoresponder interop)`,
    connection_recovery_min_interval: 30,
    connection_recovery_max_interval: 30,
  });

  const outcome = { target, jssip: packageVersion('jssip') };
  let replyBody = null;
  let sendResult = null;

  const settle = () => {
    if (sendResult === null) {
      return;
    }
    if (args.scenario === 'accept') {
      if (check(sendResult.event === 'succeeded', `expected 'succeeded', got '${sendResult.event}'`, outcome)) {
        pass(outcome);
      }
    } else if (args.scenario === 'reject') {
      const cause = args.cause || JsSIP.C.causes.UNAVAILABLE;
      const status = Number(args.status || 480);
      if (
        check(sendResult.event === 'failed', `expected 'failed', got '${sendResult.event}'`, outcome) &&
        check(outcome.cause === cause, `expected cause '${cause}', got '${outcome.cause}'`, outcome) &&
        check(outcome.status === status, `expected status ${status}, got ${outcome.status}`, outcome)
      ) {
        pass(outcome);
      }
    } else if (args.scenario === 'auto-reply') {
      if (!check(sendResult.event === 'succeeded', `expected 'succeeded', got '${sendResult.event}'`, outcome)) {
        return;
      }
      if (replyBody === null) {
        return; // wait for the auto-reply
      }
      const want = args['reply-body'];
      if (check(want === undefined || replyBody === want, `auto-reply body ${JSON.stringify(replyBody)}, expected ${JSON.stringify(want)}`, outcome)) {
        // JsSIP answers the incoming MESSAGE with 200 itself, right after
        // emitting 'newMessage': wait for that response to go out.
        const waitReply = () => {
          if (sent('SIP/2.0 200')) {
            outcome.replied_200 = true;
            pass(outcome);
          } else {
            setTimeout(waitReply, 10);
          }
        };
        waitReply();
      }
    }
  };

  ua.on('newMessage', (e) => {
    if (e.originator !== 'remote') {
      return;
    }
    replyBody = e.request.body;
    outcome.auto_reply = { from: e.request.from.uri.toString(), body: replyBody, content_type: e.request.getHeader('Content-Type') };
    log('auto-reply received:', outcome.auto_reply);
    settle();
  });

  ua.on('connected', () => {
    log('connected, sending MESSAGE to', target);
    ua.sendMessage(target, args.body, {
      contentType: 'text/plain',
      eventHandlers: {
        succeeded: (e) => {
          outcome.event = 'succeeded';
          outcome.status = e.response.status_code;
          sendResult = { event: 'succeeded' };
          settle();
        },
        failed: (e) => {
          outcome.event = 'failed';
          outcome.cause = e.cause;
          outcome.status = e.response ? e.response.status_code : null;
          outcome.originator = e.originator;
          sendResult = { event: 'failed' };
          settle();
        },
      },
    });
  });

  ua.on('disconnected', (e) => {
    fail(`WebSocket disconnected (code ${e.code}, reason ${e.reason}, error ${e.error})`, {
      ...outcome,
      got_any_response: received('SIP/2.0', 'MESSAGE'),
    });
  });

  ua.start();
}
