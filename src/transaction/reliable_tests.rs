//! Unit tests of RFC 3262 RSeq/RAck matching and the early offer/answer state.
use super::*;

#[test]
fn rack_has_three_parts() {
    assert_eq!(
        RAck::parse(" 776656 1  INVITE "),
        Some(RAck {
            rseq: 776_656,
            cseq: 1,
            method: "INVITE"
        })
    );
    for bad in [
        "",
        "1 1",
        "x 1 INVITE",
        "1 1 INVITE extra",
        "-1 1 INVITE",
        "0 1 INVITE",
        "2147483648 1 INVITE",
    ] {
        assert_eq!(RAck::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn reliable_headers_replace_the_rules_rseq_and_100rel() {
    let rule =
        b"X-Test: 1\r\nrseq: 9\r\nRequire: 100rel\r\nREQUIRE: 100REL, timer\r\nX-Last: 2\r\n";
    assert_eq!(
        String::from_utf8_lossy(&reliable_header_lines(42, rule)),
        "Require: 100rel\r\nRSeq: 42\r\nX-Test: 1\r\nREQUIRE: timer\r\nX-Last: 2\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&reliable_header_lines("<RSeq>", b"")),
        "Require: 100rel\r\nRSeq: <RSeq>\r\n"
    );
}

#[test]
fn a_prack_acknowledges_only_the_pending_response_once() {
    let table = ReliableTable::default();
    let reliable = table.register("c", "local", "remote", 7, false);
    let rseq = reliable.next_rseq(true);
    assert!(reliable.pending_with_sdp());
    assert!(reliable.awaits(rseq) && !reliable.awaits(rseq + 1));
    let rack = |rseq, cseq, method| RAck { rseq, cseq, method };
    let prack = |remote, rack: RAck<'_>| table.prack("c", "local", remote, &rack, 8, false);
    assert_eq!(prack("remote", rack(rseq + 1, 7, "INVITE")), None);
    assert_eq!(prack("remote", rack(rseq, 6, "INVITE")), None);
    assert_eq!(prack("other", rack(rseq, 7, "INVITE")), None);
    assert_eq!(
        prack("remote", rack(rseq, 7, "INVITE")),
        Some(PrackMatch::Acknowledged)
    );
    assert!(!reliable.is_pending());
    assert_eq!(prack("remote", rack(rseq, 7, "INVITE")), None);
    assert_eq!(reliable.next_rseq(false), rseq + 1, "RSeq grows by one");
    assert_eq!(prack("remote", rack(rseq + 1, 7, "BYE")), None);
    table.remove(&reliable);
    assert_eq!(prack("remote", rack(rseq + 1, 7, "INVITE")), None);
}

fn rack(rseq: u32) -> RAck<'static> {
    RAck {
        rseq,
        cseq: 1,
        method: "INVITE",
    }
}

/// §5: SDP in a PRACK answers our open offer; once an exchange is
/// complete it is a new offer; while the INVITE's offer is open it has
/// no place and changes nothing.
#[test]
fn sdp_in_a_prack_is_an_answer_then_a_new_offer() {
    let table = ReliableTable::default();
    // Late offer: our 183 offers, the PRACK answers, the next PRACK offers.
    let late = table.register("late", "l", "r", 1, false);
    let prack = |rseq, sdp| table.prack("late", "l", "r", &rack(rseq), 2, sdp);
    let first = late.next_rseq(true);
    assert_eq!(prack(first, true), Some(PrackMatch::Acknowledged));
    let second = late.next_rseq(false);
    assert_eq!(prack(second, true), Some(PrackMatch::NewOffer));

    // The INVITE offered and our 183 answered: a PRACK's SDP is an offer.
    let early = table.register("early", "l", "r", 1, true);
    let first = early.next_rseq(true);
    let prack = |rseq, sdp| table.prack("early", "l", "r", &rack(rseq), 2, sdp);
    assert_eq!(prack(first, true), Some(PrackMatch::NewOffer));

    // A 180 without SDP leaves the INVITE's offer open: SDP in its
    // PRACK is ignored; after a 183 with the answer it is an offer.
    let open = table.register("open", "l", "r", 1, true);
    let prack = |rseq, sdp| table.prack("open", "l", "r", &rack(rseq), 2, sdp);
    let ringing = open.next_rseq(false);
    assert_eq!(prack(ringing, true), Some(PrackMatch::Acknowledged));
    let progress = open.next_rseq(true);
    assert_eq!(prack(progress, true), Some(PrackMatch::NewOffer));
}

/// RFC 3311 §5.2 and §12.2.2 for an UPDATE in the early dialog.
#[test]
fn early_updates_are_checked_for_cseq_and_open_offers() {
    let table = ReliableTable::default();
    let update = |call_id, cseq, offer| table.early_request(call_id, "l", "r", cseq, offer);
    assert_eq!(update("none", 2, false), None, "no early dialog");

    // The INVITE offered; our 180 had no SDP: the offer is open.
    let theirs = table.register("theirs", "l", "r", 1, true);
    theirs.next_rseq(false);
    assert_eq!(
        update("theirs", 2, true),
        Some(Err(EarlyRefusal::TheirOfferOpen))
    );
    assert_eq!(update("theirs", 2, false), Some(Ok(())));
    assert_eq!(update("theirs", 2, false), Some(Err(EarlyRefusal::OldCSeq)));

    // Our 183 offered and no PRACK answered yet.
    let ours = table.register("ours", "l", "r", 1, false);
    ours.next_rseq(true);
    assert_eq!(
        update("ours", 2, true),
        Some(Err(EarlyRefusal::OurOfferOpen))
    );

    // Answered in the 183: an UPDATE may offer.
    let done = table.register("done", "l", "r", 1, true);
    done.next_rseq(true);
    assert_eq!(update("done", 2, true), Some(Ok(())));
    done.finish();
    assert_eq!(update("done", 3, false), None, "after the final response");
}
