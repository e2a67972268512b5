//! Tests of template rendering.

use super::*;
use crate::sip::{Limits, parse_datagram};

fn request() -> Request {
    let text = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"Alice A\" <sip:alice@atlanta.example.com>;tag=ft\r\nTo: <sip:bob@example.com>\r\nCall-ID: c-1\r\nCSeq: 7 MESSAGE\r\nX-Foo: bar\r\nX-Evil: a\r\nContent-Length: 5\r\n\r\nhello";
    Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
        .expect("valid")
}

fn render(text: &str) -> String {
    let request = request();
    let captures = [("num".into(), "42".to_owned())];
    let vars = Vars {
        request: &request,
        source: "192.0.2.1:5070".parse().expect("addr"),
        transport: Transport::Udp,
        local: "127.0.0.1:5060".parse().expect("addr"),
        rule: "r1",
        counter: 3,
        captures: &captures,
        auth: None,
    };
    Template::parse(text)
        .expect("compiles")
        .render(&vars)
        .into_owned()
}

#[test]
fn every_variable() {
    assert_eq!(
        render("${method} ${ruri} ${ruri.user} ${ruri.host}"),
        "MESSAGE sip:bob@example.com bob example.com"
    );
    assert_eq!(
        render("${from.uri}|${from.user}|${from.host}|${from.display}|${from.tag}"),
        "sip:alice@atlanta.example.com|alice|atlanta.example.com|Alice A|ft"
    );
    assert_eq!(
        render("${to.uri}|${to.user}|${to.tag}"),
        "sip:bob@example.com|bob|"
    );
    assert_eq!(
        render("${call_id} ${cseq} ${header.x-foo} ${header.Missing}|${body}"),
        "c-1 7 bar |hello"
    );
    assert_eq!(
        render("${source.ip}:${source.port} ${transport} ${local.ip}:${local.port}"),
        "192.0.2.1:5070 udp 127.0.0.1:5060"
    );
    assert_eq!(
        render("${rule}#${counter} ${match.num} $$5 $x"),
        "r1#3 42 $5 $x"
    );
    assert_eq!(render("${random}").len(), 10);
    assert_ne!(render("${random}"), render("${random}"));
}

#[test]
fn auth_variables_name_who_authenticated() {
    let request = request();
    let identity = crate::auth::Identity {
        user: "alice".into(),
        realm: "lab".into(),
    };
    let vars = |auth| Vars {
        request: &request,
        source: "192.0.2.1:5070".parse().expect("addr"),
        transport: Transport::Udp,
        local: "127.0.0.1:5060".parse().expect("addr"),
        rule: "r",
        counter: 1,
        captures: &[],
        auth,
    };
    let template = Template::parse("${auth.user}@${auth.realm}").expect("compiles");
    assert_eq!(template.render(&vars(Some(&identity))), "alice@lab");
    assert_eq!(
        template.render(&vars(None)),
        "@",
        "empty without credentials"
    );
}

#[test]
fn compile_errors() {
    assert_eq!(
        Template::parse("${nope}").err(),
        Some(TemplateError::UnknownVariable("nope".into()))
    );
    assert_eq!(
        Template::parse("${from.nope}").err(),
        Some(TemplateError::UnknownVariable("from.nope".into()))
    );
    assert_eq!(
        Template::parse("${call_id").err(),
        Some(TemplateError::Unterminated)
    );
    assert!(Template::parse("plain $$ text").expect("ok").is_static());
    assert_eq!(Template::parse("a $$ b").expect("ok").raw(), "a $ b");
}

#[test]
fn header_injection_is_refused() {
    let text = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 17\r\n\r\nx\r\nEvil: injected";
    let request =
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
            .expect("valid");
    let vars = Vars {
        request: &request,
        source: "192.0.2.1:5070".parse().expect("addr"),
        transport: Transport::Udp,
        local: "127.0.0.1:5060".parse().expect("addr"),
        rule: "r",
        counter: 1,
        captures: &[],
        auth: None,
    };
    let template = Template::parse("X-Echo: ${body}").expect("compiles");
    assert_eq!(template.render_header(&vars), Err("X-Echo: ${body}"));
    // A quoted-pair of the request is legal there, not in a new line.
    let display = Template::parse("X-Name: ${from.display}").expect("template");
    let quoted = text.replace("From: <sip:a@b>", "From: \"a\\\u{1}\" <sip:a@b>");
    let request =
        Request::validate(parse_datagram(quoted.as_bytes(), &Limits::default()).expect("parse"))
            .expect("a quoted-pair is valid");
    let vars = Vars {
        request: &request,
        ..vars
    };
    assert_eq!(display.render_header(&vars), Err("X-Name: ${from.display}"));
    assert_eq!(
        template.render(&vars),
        "X-Echo: x\r\nEvil: injected",
        "bodies may hold line breaks"
    );
}

#[test]
fn every_listed_variable_name_parses_and_errors_carry_offsets() {
    for name in VARIABLE_NAMES {
        assert!(variable(name).is_ok(), "{name}");
    }
    let errors = Template::parse_all("${calid} and ${frm.user} ok ${method} ${x")
        .expect_err("bad variables");
    let offsets: Vec<usize> = errors.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, [0, 13, 38]);
    assert_eq!(errors[2].1, TemplateError::Unterminated);
}
