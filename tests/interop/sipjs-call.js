// SIP.js over WebSocket: an Inviter call against the responder.
//
//   node sipjs-call.js --server ws://127.0.0.1:PORT[/path] --scenario answer|reject|cancel
//
// answer:  INVITE to --target (default sip:answer@interop.invalid) → progress
//          --progress (default 180), then accepted with an SDP answer
//          (session Established), ACKed by SIP.js, then session.bye() → 200.
// reject:  INVITE to --target (default sip:busy@interop.invalid) → rejected
//          with --status (default 486), session Terminated.
// cancel:  INVITE to --target (default sip:ring@interop.invalid) → progress,
//          then inviter.cancel() while ringing → 200 to the CANCEL and 487 to
//          the INVITE, session Terminated.
//
// --user and --password give SIP.js digest credentials: a challenge to
// the INVITE is answered with them (the result's flow shows the 401).
// --rel100 required makes SIP.js send `Require: 100rel` (RFC 3262): the
// provisional response must then come reliably and SIP.js PRACKs it; the
// answer scenario also checks the PRACK got 200.
//
// SIP.js needs a SessionDescriptionHandler; the one below offers a fixed
// audio SDP and accepts whatever answer comes back. The server URL may also
// come from SIP_WS_URL.

import { Inviter, SIPExtension, SessionState, UserAgent } from 'sip.js';
import { check, fail, installWebSocket, log, packageVersion, pass, received, sent, setup } from './lib.js';

const args = setup('sipjs-call', {
  server: { type: 'string', default: process.env.SIP_WS_URL },
  scenario: { type: 'string', default: 'answer' },
  target: { type: 'string' },
  status: { type: 'string' },
  progress: { type: 'string', default: '180' },
  rel100: { type: 'string' },
  uri: { type: 'string', default: 'sip:sipjs@interop.invalid' },
  // Digest credentials: SIP.js answers a 401/407 to the INVITE with them.
  user: { type: 'string' },
  password: { type: 'string' },
});

const DEFAULT_TARGETS = {
  answer: 'sip:answer@interop.invalid',
  reject: 'sip:busy@interop.invalid',
  cancel: 'sip:ring@interop.invalid',
};

const OFFER = [
  'v=0',
  'o=sipjs-interop 1 1 IN IP4 127.0.0.1',
  's=sip-autoresponder interop',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

/** A minimal SessionDescriptionHandler: a fixed offer, any answer accepted. */
class FixedSdpHandler {
  constructor() {
    this.remote = null;
    this.closed = false;
  }

  close() {
    this.closed = true;
  }

  getDescription() {
    return Promise.resolve({ body: OFFER, contentType: 'application/sdp' });
  }

  hasDescription(contentType) {
    return contentType === 'application/sdp';
  }

  setDescription(sdp) {
    if (!/^v=0/.test(sdp)) {
      return Promise.reject(new Error(`not an SDP body: ${JSON.stringify(sdp.slice(0, 40))}`));
    }
    this.remote = sdp;
    return Promise.resolve();
  }

  rollbackDescription() {
    return Promise.resolve();
  }

  sendDtmf() {
    return false;
  }
}

if (!args.server) {
  fail('no server: pass --server ws://HOST:PORT or set SIP_WS_URL');
} else if (!(args.scenario in DEFAULT_TARGETS)) {
  fail(`unknown scenario ${args.scenario} (answer, reject, cancel)`);
} else {
  run().catch((error) => fail(`error: ${error?.stack || error}`));
}

async function run() {
  installWebSocket();
  const target = args.target || DEFAULT_TARGETS[args.scenario];
  const handlers = [];
  const outcome = { target, sipjs: packageVersion('sip.js'), states: [], provisional: [] };
  const userAgent = new UserAgent({
    uri: UserAgent.makeURI(args.uri),
    transportOptions: { server: args.server, traceSip: false },
    sessionDescriptionHandlerFactory: () => {
      const handler = new FixedSdpHandler();
      handlers.push(handler);
      return handler;
    },
    logBuiltinEnabled: false,
    logLevel: args.debug ? 'debug' : 'warn',
    // SIP.js hands every level to the connector: keep warnings and errors,
    // everything with --debug.
    logConnector: (level, category, label, content) => {
      if (args.debug || level === 'warn' || level === 'error') {
        console.error(`[sip.js] ${level} ${category}: ${content}`);
      }
    },
    userAgentString: 'SIP.js interop (sip-autoresponder)',
    ...(args.rel100 === 'required' && { sipExtension100rel: SIPExtension.Required }),
    ...(args.password !== undefined && {
      authorizationUsername: args.user,
      authorizationPassword: args.password,
    }),
  });
  userAgent.delegate = {
    onDisconnect: (error) => fail(`transport disconnected: ${error?.message || error}`, outcome),
  };

  await userAgent.start();
  log('connected, inviting', target);

  const inviteUri = UserAgent.makeURI(target);
  if (!inviteUri) {
    fail(`bad target URI ${target}`, outcome);
    return;
  }
  const inviter = new Inviter(userAgent, inviteUri);

  const wantProgress = Number(args.progress);
  let canceled = false;

  inviter.stateChange.addListener((state) => {
    outcome.states.push(state);
    log('session state', state);
    // The request delegates run after the state change: look a moment later.
    if (state === SessionState.Established) {
      setTimeout(onEstablished, 50);
    } else if (state === SessionState.Terminated) {
      setTimeout(onTerminated, 50);
    }
  });

  function onEstablished() {
    if (!check(args.scenario === 'answer', `session Established in scenario ${args.scenario}`, outcome)) {
      return;
    }
    const handler = handlers[0];
    outcome.answer_sdp = handler && handler.remote;
    if (
      !check(outcome.provisional.includes(wantProgress), `no ${wantProgress} before the answer (got ${outcome.provisional})`, outcome) ||
      !check(handler && handler.remote, 'Established without an SDP answer', outcome)
    ) {
      return;
    }
    // SIP.js sends the ACK for the 2xx itself, before the state changes.
    if (!check(sent('ACK '), 'no ACK sent for the 2xx', outcome)) {
      return;
    }
    inviter
      .bye({
        requestDelegate: {
          onAccept: (response) => {
            outcome.bye_status = response.message.statusCode;
          },
          onReject: (response) => {
            outcome.bye_status = response.message.statusCode;
            fail(`BYE rejected with ${response.message.statusCode}`, outcome);
          },
        },
      })
      .catch((error) => fail(`bye() failed: ${error}`, outcome));
  }

  function onTerminated() {
    if (args.scenario === 'answer') {
      // Terminated right after bye() is sent: wait for its response.
      const waitBye = () => {
        if (outcome.bye_status === undefined) {
          setTimeout(waitBye, 20);
        } else if (check(outcome.bye_status === 200, `BYE got ${outcome.bye_status}`, outcome)) {
          if (args.rel100) {
            outcome.prack_200 = received('SIP/2.0 200', 'PRACK');
            if (!check(outcome.prack_200, 'no 200 to a PRACK', outcome)) {
              return;
            }
          }
          pass(outcome);
        }
      };
      if (check(outcome.states.includes(SessionState.Established), 'Terminated without being Established', outcome)) {
        waitBye();
      }
    } else if (args.scenario === 'reject') {
      const status = Number(args.status || 486);
      if (check(outcome.final_status === status, `expected ${status}, got ${outcome.final_status}`, outcome)) {
        pass(outcome);
      }
    } else if (args.scenario === 'cancel') {
      outcome.cancel_200 = received('SIP/2.0 200', 'CANCEL');
      if (
        check(canceled, 'Terminated before the client canceled', outcome) &&
        check(outcome.final_status === 487, `expected 487 to the INVITE, got ${outcome.final_status}`, outcome) &&
        check(outcome.cancel_200, 'no 200 to the CANCEL', outcome)
      ) {
        pass(outcome);
      }
    }
  }

  await inviter.invite({
    requestDelegate: {
      onProgress: (response) => {
        const status = response.message.statusCode;
        outcome.provisional.push(status);
        log('progress', status);
        if (args.scenario === 'cancel' && status === wantProgress && !canceled) {
          canceled = true;
          log('canceling while ringing');
          inviter.cancel().catch((error) => fail(`cancel() failed: ${error}`, outcome));
        }
      },
      onAccept: (response) => {
        outcome.final_status = response.message.statusCode;
      },
      onReject: (response) => {
        outcome.final_status = response.message.statusCode;
        outcome.final_reason = response.message.reasonPhrase;
      },
    },
  });
}
