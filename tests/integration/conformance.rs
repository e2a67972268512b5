//! RFC 4475 ("SIP Torture Test Messages") and RFC 5118 ("SIP Torture Test
//! Messages for IPv6"): every message of tests/fixtures/rfc4475 and
//! tests/fixtures/rfc5118, sent byte-exact over UDP to a daemon whose only
//! rule accepts everything, gets the answer a UAS owes it (the RFCs' own
//! sections; tests/fixtures/README.md says where the files come from).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;

/// What the daemon must do with one message.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A valid request: the catch-all rule answers 200, echoing the request's
    /// Call-ID (so the answer is to this message and to nothing else).
    Accepted,
    /// A valid request with a To-tag (a request within a dialog) for a
    /// dialog this UAS never created: 481 (RFC 3261 §12.2.2).
    NoDialog,
    /// Invalid syntax: 400 whose reason phrase names the defect.
    BadRequest(&'static str),
    /// A status decided by the protocol checks, before the rules.
    Status(u16, &'static str),
    /// 420 Bad Extension, listing the unsupported options.
    BadExtension(&'static str),
    /// A response (or something that cannot be answered): nothing comes back.
    Silence,
}

use Expect::*;

/// RFC 4475, every message of §3 (file names as in the RFC's archive).
const RFC4475: &[(&str, Expect)] = &[
    // §3.1.1 valid messages. wsinv's (folded) To has a tag: a re-INVITE for
    // a dialog that does not exist here.
    ("wsinv", NoDialog),
    ("intmeth", Accepted),
    ("esc01", Accepted),
    ("escnull", Accepted),
    ("esc02", Accepted),
    ("lwsdisp", Accepted),
    ("longreq", Accepted),
    // A REGISTER followed by trailing octets (an INVITE) in the same
    // datagram: only the REGISTER counts; checked again in `dblreq_...`.
    ("dblreq", Accepted),
    ("semiuri", Accepted),
    ("transports", Accepted),
    ("mpart01", Accepted),
    // §3.1.1.12-13 valid responses: never answered.
    ("unreason", Silence),
    ("noreason", Silence),
    // §3.1.2 invalid messages: 400 naming the defect.
    ("badinv01", BadRequest("Via")),
    ("clerr", BadRequest("Content-Length")),
    ("ncl", BadRequest("Content-Length")),
    ("scalar02", BadRequest("CSeq")),
    ("quotbal", BadRequest("To")),
    ("ltgtruri", BadRequest("Request-URI")),
    ("lwsruri", BadRequest("request line")),
    ("lwsstart", BadRequest("request line")),
    ("trws", BadRequest("request line")),
    ("escruri", BadRequest("Request-URI")),
    ("baddate", BadRequest("Date")),
    ("regbadct", BadRequest("Contact")),
    ("badaspec", BadRequest("To")),
    ("baddn", BadRequest("From")),
    // §3.1.2.16: SIP/7.0 in the request line (and in the Via).
    ("badvers", Status(505, "Version Not Supported")),
    // §3.1.2.17: unknown method and a CSeq method that differs: 501 or 400.
    ("mismatch01", BadRequest("CSeq method")),
    ("mismatch02", BadRequest("CSeq method")),
    // §3.1.2.18-19 invalid responses: dropped.
    ("bigcode", Silence),
    ("scalarlg", Silence),
    // §3.2 transaction layer: a branch that is only the magic cookie is
    // processed as a request from an RFC 2543 element.
    ("badbranch", Accepted),
    // §3.3 application layer.
    ("insuf", BadRequest("missing")),
    ("unkscm", Status(416, "Unsupported URI Scheme")),
    ("novelsc", Status(416, "Unsupported URI Scheme")),
    // The unknown schemes are only in To, From and Contact: well formed.
    // RFC 4475 has a registrar refuse it (its To is no SIP AOR); the
    // responder is no registrar, so the rule answers it.
    ("unksm2", Accepted),
    // Proxy-Require is for proxies; a UAS looks at Require only.
    (
        "bext01",
        BadExtension("nothingSupportsThis, nothingSupportsThisEither"),
    ),
    // RFC 4475 expects 415 from a UAS that must understand the body. The
    // responder never interprets request bodies (a rule may match on one
    // with a regex, nothing more), so the rule answers it.
    ("invut", Accepted),
    // An Authorization of an unknown scheme: an element that does not
    // authenticate treats the request as if it had none (else it would
    // challenge with 401). The responder does not authenticate: the rule
    // answers it.
    ("regaut01", Accepted),
    ("multi01", BadRequest("more than one")),
    ("mcl01", BadRequest("more than one Content-Length")),
    ("bcast", Silence),
    // Max-Forwards 0 addressed to the UAS itself: answered normally.
    ("zeromf", Accepted),
    ("cparam01", Accepted),
    ("cparam02", Accepted),
    ("regescrt", Accepted),
    // RFC 4475 expects 406 where the UAS cannot produce a body the Accept
    // header (text/nobodyKnowsThis) allows. The responder sends the body
    // its rule configures, whatever Accept says (here: none), so the rule
    // answers it.
    ("sdp01", Accepted),
    // §3.4 backward compatibility: RFC 2543 INVITE (no branch, no tags).
    ("inv2543", Accepted),
];

/// RFC 5118, every message of §4. mult-ip-in-header and
/// via-received-param-with-delim are BYE requests (not responses): valid,
/// and with a To-tag for a dialog that does not exist here, so 481.
const RFC5118: &[(&str, Expect)] = &[
    ("ipv6-good", Accepted),
    // `sip:2001:db8::10` without brackets is not a valid Request-URI.
    ("ipv6-bad", BadRequest("Request-URI")),
    // `[2001:db8::10:5070]` is an address (with no port), not a port.
    ("port-ambiguous", Accepted),
    ("port-unambiguous", Accepted),
    ("via-received-param-with-delim", NoDialog),
    // RFC 3261 §25.1: `via-received = "received" EQUAL (IPv4address /
    // IPv6address)`: the address without brackets is the grammar's own
    // form (RFC 5118 §4.5), and Kamailio writes it.
    ("via-received-param-no-delim", Accepted),
    ("ipv6-in-sdp", Accepted),
    ("ipv4-mapped-ipv6", Accepted),
    ("mult-ip-in-header", NoDialog),
    ("mult-ip-in-sdp", Accepted),
    ("ipv6-bug-abnf-3-colons", BadRequest("Request-URI")),
    ("ipv6-correct-abnf-2-colons", Accepted),
];

const ACCEPT_ALL: &str = "[[rule]]\nname = \"all\"\naccept = {}\n";

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// The file names of a fixture directory, without `suffix`.
fn names_in(dir: &Path, suffix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| name.strip_suffix(suffix).map(str::to_owned))
        .collect()
}

/// The value of the first Call-ID (or `i`) header of a message's head.
fn call_id_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("Call-ID") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_owned())
    })
}

/// Whether To has a `tag` parameter; torture messages may write it with
/// whitespace around `=` (wsinv: `;   tag    = 1918181833n`).
fn has_to_tag(response: &Response) -> bool {
    response.header("To").is_some_and(|to| {
        to.split(';').skip(1).any(|param| {
            param
                .split('=')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
        })
    })
}

/// Sends one message from a fresh socket and checks the answer.
async fn check(
    daemon: &TestDaemon,
    name: &str,
    message: &[u8],
    expect: Expect,
) -> Result<(), String> {
    let client = UdpClient::new(daemon.udp()).await;
    client.send_bytes(message).await;
    let first = client
        .recv_within(if matches!(expect, Silence) {
            SILENCE_WAIT
        } else {
            REPLY_WAIT
        })
        .await;
    let response = match (expect, first) {
        (Silence, None) => return Ok(()),
        (Silence, Some(r)) => return Err(format!("{name}: expected no answer, got:\n{}", r.raw)),
        (_, None) => {
            return Err(format!(
                "{name}: no answer within {REPLY_WAIT:?}, expected {expect:?}"
            ));
        }
        (_, Some(r)) => r,
    };
    let wrong = |what: &str| {
        Err(format!(
            "{name}: expected {expect:?}, {what}:\n{}",
            response.raw
        ))
    };
    match expect {
        Accepted => {
            if (response.status, response.reason.as_str()) != (200, "OK") {
                return wrong("got another status");
            }
            let expected_call_id = call_id_of(message);
            if response.header("Call-ID").map(str::to_owned) != expected_call_id {
                return wrong(&format!("Call-ID is not {expected_call_id:?}"));
            }
        }
        BadRequest(defect) => {
            if response.status != 400
                || !response.reason.starts_with("Bad Request (")
                || !response.reason.contains(defect)
            {
                return wrong("got another status or reason");
            }
        }
        NoDialog => {
            if (response.status, response.reason.as_str())
                != (481, "Call/Transaction Does Not Exist")
            {
                return wrong("got another status");
            }
        }
        Status(status, reason) => {
            if (response.status, response.reason.as_str()) != (status, reason) {
                return wrong("got another status or reason");
            }
        }
        BadExtension(unsupported) => {
            if (response.status, response.reason.as_str()) != (420, "Bad Extension") {
                return wrong("got another status");
            }
            if response.all("Unsupported") != [unsupported] {
                return wrong("with another Unsupported header");
            }
        }
        Silence => unreachable!("handled above"),
    }
    if !matches!(expect, Accepted) && !has_to_tag(&response) {
        return wrong("without a To-tag");
    }
    Ok(())
}

/// Sends every message of a table to a daemon of its own (several torture
/// messages share branch, sent-by and method, so one daemon would rightly
/// take them for retransmissions of each other), checks the answer, then
/// checks that daemon still answers a plain OPTIONS.
async fn run_table(dir: &str, suffix: &str, table: &[(&str, Expect)]) {
    let path = fixtures(dir);
    let listed: BTreeSet<String> = table.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(
        listed.len(),
        table.len(),
        "{dir}: a message is listed twice"
    );
    assert_eq!(
        listed,
        names_in(&path, suffix),
        "{dir}: the table must cover exactly the fixture files"
    );
    let mut failures = Vec::new();
    for (name, expect) in table {
        let message = read(&path, &format!("{name}{suffix}"));
        let daemon = TestDaemon::start(&config_with(ACCEPT_ALL));
        if let Err(failure) = check(&daemon, name, &message, *expect).await {
            failures.push(failure);
        }
        if let Err(failure) = still_answering(&daemon, name).await {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} messages:\n\n{}",
        failures.len(),
        table.len(),
        failures.join("\n\n")
    );

    // Then all of them, back to back, to one daemon, which must still
    // answer afterwards.
    let daemon = TestDaemon::start(&config_with(ACCEPT_ALL));
    let sender = UdpClient::new(daemon.udp()).await;
    for (name, _) in table {
        sender
            .send_bytes(&read(&path, &format!("{name}{suffix}")))
            .await;
    }
    if let Err(failure) = still_answering(&daemon, "the whole table").await {
        panic!("{failure}");
    }
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

/// A plain OPTIONS from a fresh socket is still answered by the rule.
async fn still_answering(daemon: &TestDaemon, after: &str) -> Result<(), String> {
    let client = UdpClient::new(daemon.udp()).await;
    client.send(&options("after-torture")).await;
    match client.recv_within(REPLY_WAIT).await {
        Some(r) if r.status == 200 && r.header("Call-ID") == Some("after-torture") => Ok(()),
        Some(r) => Err(format!("after {after}: a plain OPTIONS got:\n{}", r.raw)),
        None => Err(format!(
            "after {after}: a plain OPTIONS got no answer within {REPLY_WAIT:?}"
        )),
    }
}

#[tokio::test]
async fn rfc4475_torture_messages_get_the_answers_a_uas_owes() {
    run_table("rfc4475", ".dat", RFC4475).await;
}

#[tokio::test]
async fn rfc5118_ipv6_torture_messages_get_the_answers_a_uas_owes() {
    run_table("rfc5118", "", RFC5118).await;
}

/// dblreq: one datagram, a REGISTER then trailing octets (an INVITE) past
/// its Content-Length: exactly one answer, to the REGISTER.
#[tokio::test]
async fn dblreq_trailing_octets_get_exactly_one_answer() {
    let daemon = TestDaemon::start(&config_with(ACCEPT_ALL));
    let client = UdpClient::new(daemon.udp()).await;
    let message = read(&fixtures("rfc4475"), "dblreq.dat");
    client.send_bytes(&message).await;
    let response = client.recv().await;
    assert_eq!(response.status, 200, "{}", response.raw);
    assert_eq!(
        response.header("Call-ID"),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
    assert_eq!(response.header("CSeq"), Some("8 REGISTER"));
    client.expect_silence().await;
}

/// The fixtures of our own (tests/fixtures/sip) are valid requests that the
/// catch-all rule answers.
#[tokio::test]
async fn own_sip_fixtures_are_answered() {
    let daemon = TestDaemon::start(&config_with(ACCEPT_ALL));
    let path = fixtures("sip");
    let names = names_in(&path, ".sip");
    assert!(names.len() >= 3, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let message = read(&path, &format!("{name}.sip"));
        assert!(
            !message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "{name}.sip: bare LF"
        );
        if let Err(failure) = check(&daemon, name, &message, Accepted).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// RFC 3581 holds for malformed requests too: a 400 to a request whose Via
/// asks for `rport` goes back to the source port, not to the Via port
/// (here 5999, where nobody listens). No `force_rport` in this config.
#[tokio::test]
async fn bad_request_goes_to_the_source_port_when_rport_is_asked() {
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n{ACCEPT_ALL}"
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let mismatch = request("OPTIONS", "sip:responder@example.com", "rport-400", "", "")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let response = client.request(&mismatch).await;
    assert_eq!(response.status, 400, "{}", response.raw);
    assert!(response.reason.contains("CSeq method"), "{}", response.raw);
    assert_eq!(
        response.header("Via"),
        Some(
            format!(
                "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-rport-400;rport={};received=127.0.0.1",
                client.port()
            )
            .as_str()
        )
    );
}

/// RFC 4475 badvers: the 505 copies the SIP/7.0 Via (adding `received`) and
/// the rest of the request's identity.
#[tokio::test]
async fn badvers_505_is_routed_by_its_sip_7_via() {
    let daemon = TestDaemon::start(&config_with(ACCEPT_ALL));
    let client = UdpClient::new(daemon.udp()).await;
    let message = read(&fixtures("rfc4475"), "badvers.dat");
    client.send_bytes(&message).await;
    let response = client.recv().await;
    assert_eq!(
        (response.status, response.reason.as_str()),
        (505, "Version Not Supported")
    );
    let via = response.header("Via").expect("Via");
    assert!(via.starts_with("SIP/7.0/UDP c.example.com"), "{via}");
    assert!(
        via.contains("branch=z9hG4bKkdjuw") && via.contains("received=127.0.0.1"),
        "{via}"
    );
    assert_eq!(
        response.header("Call-ID"),
        Some("badvers.31417@c.example.com")
    );
    assert_eq!(response.header("CSeq"), Some("1 OPTIONS"));
    client.expect_silence().await;
}
