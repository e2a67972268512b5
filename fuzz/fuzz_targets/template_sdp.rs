//! Arbitrary text as a reply template (`Template::parse`, then rendered
//! against a fixed request) and as an SDP offer (`rules::sdp`: parse,
//! answer, check the answer against the offer).

#![no_main]

mod common;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sip_autoresponder::rules::sdp;
use sip_autoresponder::rules::template::{Template, Vars};
use sip_autoresponder::sip::{Request, Transport};

static REQUEST: LazyLock<Request> = LazyLock::new(common::fixed_request);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    template(text);
    offer(text);
});

fn template(text: &str) {
    let Ok(template) = Template::parse(text) else {
        return;
    };
    if !text.contains('$') {
        assert!(template.is_static());
        assert_eq!(template.raw(), text);
    }
    let _ = template.variables().count();
    let captures = [
        ("num".into(), "15551234".to_owned()),
        ("evil".into(), "a\r\nInjected: yes".to_owned()),
    ];
    let vars = Vars {
        request: &REQUEST,
        source: "[2001:db8::1]:5070".parse().expect("addr"),
        transport: Transport::Wss,
        local: "127.0.0.1:5060".parse().expect("addr"),
        rule: "fuzz",
        counter: 3,
        captures: &captures,
        auth: None,
    };
    let rendered = template.render(&vars);
    if template.is_static() {
        assert_eq!(rendered, template.raw());
    }
    match template.render_header(&vars) {
        Ok(Cow::Owned(line)) => assert!(!line.contains(['\r', '\n', '\0']), "{line:?}"),
        Ok(Cow::Borrowed(line)) => assert_eq!(line, template.raw()),
        Err(raw) => assert_eq!(raw, template.raw()),
    }
}

fn offer(text: &str) {
    let _ = sdp::accept_answer(text);
    let Ok(parsed) = sdp::parse(text) else {
        return;
    };
    let _ = parsed;
    // Vary the context by the input: IPv4 or IPv6, and a port base near the
    // top so that stream ports run out.
    let hash = text.len() as u64 ^ text.bytes().map(u64::from).sum::<u64>();
    let address: IpAddr = if hash & 1 == 0 {
        IpAddr::from([192, 0, 2, 10])
    } else {
        "2001:db8::10".parse().expect("addr")
    };
    let mut ctx = common::answer_context(address, hash >> 8);
    if hash & 2 != 0 {
        ctx.base_port = 65_530;
    }
    if let Ok(answer) = sdp::negotiate(text, &ctx) {
        if let Err(error) = sdp::check_answer(text, &answer.sdp) {
            panic!(
                "the answer does not answer its offer: {error}\n{}",
                answer.sdp
            );
        }
        assert!(answer.sdp.ends_with("\r\n"), "{:?}", answer.sdp);
    }
    let _ = sdp::check_answer(text, text);
}
