use super::*;

#[test]
fn no_query_filters_nothing() {
    for query in [None, Some(""), Some("&&")] {
        let filter = journal_filter(query).expect("empty query is valid");
        assert!(filter.method.is_none() && filter.rule.is_none());
        assert!(filter.call_id.is_none() && filter.since_ms.is_none());
        assert!(filter.scope.is_none() && filter.direction.is_none() && filter.status.is_none());
    }
}

#[test]
fn every_parameter_is_read_and_decoded() {
    let filter = journal_filter(Some(
        "method=INVITE&rule=busy%20line&call_id=a%40b+c&since=1700000000123&scope=t1&direction=sent&status=486",
    ))
    .expect("valid query");
    assert_eq!(filter.method.as_deref(), Some("INVITE"));
    assert_eq!(filter.rule.as_deref(), Some("busy line"));
    assert_eq!(filter.call_id.as_deref(), Some("a@b+c"), "`+` stays a plus");
    assert_eq!(filter.since_ms, Some(1_700_000_000_123));
    assert_eq!(filter.scope.as_deref(), Some("t1"));
    assert_eq!(filter.direction, Some(Direction::Sent));
    assert_eq!(filter.status, Some(486));
    for bad in ["direction=up", "status=99", "status=700", "status=x"] {
        assert!(
            matches!(journal_filter(Some(bad)), Err(QueryError::Value { .. })),
            "{bad}"
        );
    }
}

#[test]
fn pages_are_asked_with_after_and_limit() {
    let filter = journal_filter(Some("after=41&limit=7")).expect("valid");
    assert_eq!((filter.after, filter.limit), (Some(41), 7));
    let filter = journal_filter(None).expect("valid");
    assert_eq!(
        (filter.after, filter.limit),
        (None, crate::observe::DEFAULT_PAGE)
    );
    for bad in [
        "limit=0",
        "limit=10001",
        "limit=x",
        "limit=-1",
        "after=soon",
    ] {
        assert!(
            matches!(journal_filter(Some(bad)), Err(QueryError::Value { .. })),
            "{bad}"
        );
    }
    assert_eq!(
        journal_filter(Some("limit=1&limit=2")).err(),
        Some(QueryError::Repeated("limit".to_owned()))
    );
}

#[test]
fn extra_parameters_are_known_only_where_asked() {
    let (filter, extras) =
        journal_query(Some("method=BYE&timeout_ms=250"), &["timeout_ms"]).expect("valid");
    assert_eq!(filter.method.as_deref(), Some("BYE"));
    assert_eq!(extras, [Some("250".to_owned())]);
    assert!(matches!(
        journal_filter(Some("timeout_ms=250")),
        Err(QueryError::Unknown { .. })
    ));
    assert_eq!(timeout_ms(None, 5000, 30_000), Ok(5000));
    assert_eq!(timeout_ms(Some("10"), 5000, 30_000), Ok(10));
    assert!(timeout_ms(Some("30001"), 5000, 30_000).is_err());
    assert!(timeout_ms(Some("0"), 5000, 30_000).is_err());
}

#[test]
fn placements_and_switches() {
    assert_eq!(placement(None), Ok(Placement::Last));
    assert_eq!(placement(Some("position=first")), Ok(Placement::First));
    assert_eq!(placement(Some("position=last")), Ok(Placement::Last));
    assert_eq!(
        placement(Some("before=busy%20line")),
        Ok(Placement::Before("busy line".into()))
    );
    assert_eq!(placement(Some("after=x")), Ok(Placement::After("x".into())));
    assert_eq!(
        placement(Some("position=first&before=x")),
        Err(QueryError::Placements)
    );
    assert!(matches!(
        placement(Some("position=middle")),
        Err(QueryError::Value { .. })
    ));
    assert_eq!(keep_api_rules(None), Ok(true));
    assert_eq!(keep_api_rules(Some("keep_api_rules=false")), Ok(false));
    assert!(keep_api_rules(Some("keep_api_rules=no")).is_err());
    assert!(none(Some("x=1")).is_err());
    assert_eq!(limit(Some("limit=5")), Ok(5));
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("abc").as_deref(), Ok("abc"));
    assert_eq!(percent_decode("%41%2f%2F").as_deref(), Ok("A//"));
    assert_eq!(percent_decode("%C3%A9").as_deref(), Ok("é"));
    assert_eq!(percent_decode(""), Ok(String::new()));
    for bad in ["%", "%4", "%zz", "a%4g", "%%41"] {
        assert_eq!(
            percent_decode(bad),
            Err(QueryError::Percent(bad.to_owned())),
            "{bad}"
        );
    }
    assert_eq!(
        percent_decode("%FF"),
        Err(QueryError::Utf8("%FF".to_owned()))
    );
}

#[test]
fn unknown_repeated_and_empty_parameters_are_refused() {
    assert!(matches!(
        journal_filter(Some("methd=INVITE")),
        Err(QueryError::Unknown { name, known }) if name == "methd" && known.contains("scope")
    ));
    assert_eq!(
        journal_filter(Some("rule=a&rule=b")).err(),
        Some(QueryError::Repeated("rule".to_owned()))
    );
    assert_eq!(
        journal_filter(Some("since=1&since=2")).err(),
        Some(QueryError::Repeated("since".to_owned()))
    );
    for empty in ["method=", "call_id", "since="] {
        let name = empty.trim_end_matches('=');
        assert_eq!(
            journal_filter(Some(empty)).err(),
            Some(QueryError::Empty(name.to_owned())),
            "{empty}"
        );
    }
    assert!(matches!(
        journal_filter(Some("rule=%G0")),
        Err(QueryError::Percent(_))
    ));
}
