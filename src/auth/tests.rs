//! The verdicts on credentials, made the way a client makes them from our
//! own challenge.

use std::sync::Arc;
use std::time::Duration;

use super::digest::{DigestInput, request_digest};
use super::*;
use crate::sip::{Limits, parse_datagram};

const LIFETIME: Duration = Duration::from_secs(30);

fn requirement(proxy: bool, algorithms: &[Algorithm]) -> Arc<Requirement> {
    Arc::new(Requirement {
        realm: "lab".into(),
        proxy,
        algorithms: algorithms.to_vec(),
        qops: vec![Qop::Auth, Qop::AuthInt],
        on_failure: OnFailure::Forbidden,
    })
}

fn settings() -> AuthSettings {
    AuthSettings {
        users: Users::build(["lab"], &[("alice".into(), "secret".into())], &[]),
        nonce_lifetime: LIFETIME,
        defaults: requirement(false, &[Algorithm::Sha256, Algorithm::Md5]),
        realms: vec!["lab".into()],
    }
}

/// The nonce and opaque of the first challenge line.
fn challenge(service: &AuthService, requirement: &Requirement) -> (String, String) {
    let lines = service.challenge_lines(requirement, false);
    let value = lines
        .lines()
        .next()
        .and_then(|l| l.split_once(": "))
        .map(|(_, v)| v.to_owned())
        .expect("a challenge line");
    let creds = Credentials::parse(&value).expect("parses");
    (
        creds.nonce.expect("nonce").into_owned(),
        creds.opaque.expect("opaque").into_owned(),
    )
}

struct Answer<'a> {
    header: &'a str,
    user: &'a str,
    password: &'a str,
    algorithm: Algorithm,
    nonce: &'a str,
    opaque: &'a str,
    nc: &'a str,
    qop: Qop,
}

fn invite(answer: &Answer<'_>) -> Request {
    let uri = "sip:bob@lab";
    let body = "v=0\r\n";
    let ha1 = answer.algorithm.ha1(answer.user, "lab", answer.password);
    let response = request_digest(
        answer.algorithm,
        &ha1,
        &DigestInput {
            method: "INVITE",
            uri,
            nonce: answer.nonce,
            nc: answer.nc,
            cnonce: "c0ffee",
            qop: answer.qop,
            body: body.as_bytes(),
        },
    );
    let text = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:alice@lab>;tag=1\r\n\
         To: <{uri}>\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n\
         {}: Digest username=\"{}\", realm=\"lab\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={}, cnonce=\"c0ffee\", opaque=\"{}\", qop={}, nc={}\r\nContent-Length: {}\r\n\r\n{body}",
        answer.header,
        answer.user,
        answer.nonce,
        answer.algorithm.name(),
        answer.opaque,
        answer.qop.name(),
        answer.nc,
        body.len()
    );
    Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
        .expect("valid")
}

fn alice<'a>(nonce: &'a str, opaque: &'a str) -> Answer<'a> {
    Answer {
        header: "Authorization",
        user: "alice",
        password: "secret",
        algorithm: Algorithm::Sha256,
        nonce,
        opaque,
        nc: "00000001",
        qop: Qop::Auth,
    }
}

fn verdict(request: &Request, settings: &AuthSettings, service: &AuthService) -> Verdict {
    Checker::new(request, settings, service).verdict(None)
}

#[tokio::test(start_paused = true)]
async fn the_right_password_is_valid_once_per_count() {
    let (settings, service) = (settings(), AuthService::default());
    let (nonce, opaque) = challenge(&service, &settings.defaults);
    let request = invite(&alice(&nonce, &opaque));
    let Verdict::Valid(valid) = verdict(&request, &settings, &service) else {
        panic!("valid expected");
    };
    assert_eq!(&*valid.identity.user, "alice");
    assert_eq!(
        verdict(&request, &settings, &service).word(),
        "valid",
        "checking commits nothing"
    );
    assert_eq!(service.commit(&valid), Ok(()));
    assert!(
        matches!(
            verdict(&request, &settings, &service),
            Verdict::Invalid {
                reason: FailReason::Replayed,
                ..
            }
        ),
        "the same nc again is a replay"
    );
    assert!(
        service.commit(&valid).is_err(),
        "and cannot be committed twice"
    );
    let next = invite(&Answer {
        nc: "00000002",
        ..alice(&nonce, &opaque)
    });
    assert_eq!(verdict(&next, &settings, &service).word(), "valid");
}

#[tokio::test(start_paused = true)]
async fn wrong_passwords_unknown_users_and_broken_credentials_are_invalid() {
    let (settings, service) = (settings(), AuthService::default());
    let (nonce, opaque) = challenge(&service, &settings.defaults);
    let cases = [
        (
            Answer {
                password: "guess",
                ..alice(&nonce, &opaque)
            },
            FailReason::WrongPassword,
        ),
        (
            Answer {
                user: "mallory",
                ..alice(&nonce, &opaque)
            },
            FailReason::UnknownUser,
        ),
        (
            Answer {
                algorithm: Algorithm::Sha512_256,
                ..alice(&nonce, &opaque)
            },
            FailReason::Malformed,
        ),
        (
            Answer {
                nc: "0000001",
                ..alice(&nonce, &opaque)
            },
            FailReason::Malformed,
        ),
    ];
    for (answer, reason) in cases {
        let got = verdict(&invite(&answer), &settings, &service);
        assert!(
            matches!(&got, Verdict::Invalid { reason: r, .. } if *r == reason),
            "{reason:?}: {got:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_expired_or_foreign_nonce_with_the_right_password_is_stale() {
    let (settings, service) = (settings(), AuthService::default());
    let (nonce, opaque) = challenge(&service, &settings.defaults);
    let request = invite(&alice(&nonce, &opaque));
    tokio::time::advance(LIFETIME + Duration::from_millis(1)).await;
    assert!(matches!(
        verdict(&request, &settings, &service),
        Verdict::Stale { .. }
    ));
    // Another run's nonce (a restart): stale too, so clients retry.
    let other = AuthService::default();
    let (nonce, opaque) = challenge(&other, &settings.defaults);
    let request = invite(&alice(&nonce, &opaque));
    assert!(matches!(
        verdict(&request, &settings, &service),
        Verdict::Stale { .. }
    ));
    // A wrong password with an expired nonce is still a wrong password.
    let request = invite(&Answer {
        password: "guess",
        ..alice(&nonce, &opaque)
    });
    assert_eq!(verdict(&request, &settings, &service).word(), "invalid");
}

#[tokio::test(start_paused = true)]
async fn the_header_and_realm_must_be_the_requirements() {
    let (settings, service) = (settings(), AuthService::default());
    let proxy = requirement(true, &[Algorithm::Md5]);
    let (nonce, opaque) = challenge(&service, &proxy);
    let answer = Answer {
        algorithm: Algorithm::Md5,
        ..alice(&nonce, &opaque)
    };
    let request = invite(&answer);
    let checker = Checker::new(&request, &settings, &service);
    assert_eq!(
        checker.verdict(Some(&proxy)),
        Verdict::Absent,
        "Authorization is not for a proxy"
    );
    let request = invite(&Answer {
        header: "Proxy-Authorization",
        ..answer
    });
    let checker = Checker::new(&request, &settings, &service);
    assert_eq!(checker.verdict(Some(&proxy)).word(), "valid");
    let elsewhere = Arc::new(Requirement {
        realm: "pbx".into(),
        ..(*proxy).clone()
    });
    assert_eq!(
        checker.verdict(Some(&elsewhere)),
        Verdict::Absent,
        "credentials for another realm are someone else's"
    );
}

#[test]
fn challenges_come_one_per_algorithm_in_order() {
    let service = AuthService::default();
    let requirement = requirement(
        false,
        &[Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5],
    );
    let lines = service.challenge_lines(&requirement, true);
    let algorithms: Vec<&str> = lines
        .lines()
        .map(|l| {
            assert!(
                l.starts_with("WWW-Authenticate: Digest realm=\"lab\""),
                "{l}"
            );
            assert!(l.ends_with("qop=\"auth,auth-int\", stale=true"), "{l}");
            l.split("algorithm=")
                .nth(1)
                .and_then(|a| a.split(',').next())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(algorithms, ["SHA-512-256", "SHA-256", "MD5"]);
    let proxy = Requirement {
        proxy: true,
        ..(*requirement).clone()
    };
    assert!(
        service
            .challenge_lines(&proxy, false)
            .starts_with("Proxy-Authenticate: ")
    );
    assert_eq!(proxy.challenge_status(), 407);
}
