//! `GET /dialogs` lists the live calls; `DELETE /dialogs/{call_id}` ends
//! one with BYE.

use crate::admin::http::{get, http, records_where};
use crate::common::*;

use super::*;

const ANSWER_WITH_SDP: &str = r#"
[[rule]]
name = "answer"
match.method = "INVITE"
accept = { body = { sdp = "answer" } }
"#;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

#[tokio::test]
async fn live_dialogs_are_listed_and_ended_with_bye() {
    let daemon = lab_daemon("", ANSWER_WITH_SDP);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let offer = invite("dialog-1", "X-Test-Id: d1\r\n")
        .replace("Call-ID: dialog-1\r\n", "Call-ID: dialog-1@lab\r\n")
        .replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
                OFFER.len()
            ),
        );
    let answered = client.request(&offer).await;
    assert_eq!(answered.status, 200);
    let tag = answered.to_tag().expect("To-tag");
    let ack = in_dialog("ACK", "dialog-1@lab", &tag, 1, "dialog-ack")
        .replace("tag=from-dialog-1@lab", "tag=from-dialog-1");
    client.send(&ack).await;
    crate::admin::http::records_where(admin, "?method=ACK", |list| list.len() == 1).await;

    let dialogs = get(admin, "/dialogs").await.json();
    let dialog = &dialogs[0];
    assert_eq!(dialogs.as_array().map(Vec::len), Some(1));
    assert_eq!(dialog["call_id"], "dialog-1@lab");
    assert_eq!(dialog["local_tag"], tag.as_str());
    assert_eq!(dialog["remote_tag"], "from-dialog-1");
    assert_eq!(dialog["rule"], "answer");
    assert_eq!(dialog["scope"], "d1");
    assert_eq!(dialog["transport"], "udp");
    assert_eq!(dialog["remote_target"], "sip:alice@127.0.0.1:5999");
    assert!(dialog["age_ms"].as_u64().is_some(), "{dialog}");
    let media = dialog["media"].as_array().expect("media");
    assert!(
        media.len() == 1 && media[0].as_str().is_some_and(|m| m.starts_with("audio ")),
        "the answer's m= line: {dialog}"
    );

    let ended = http(admin, "DELETE", "/dialogs/dialog-1%40lab", &[]).await;
    assert_eq!(ended.status, 204, "{}", ended.body);
    let bye = answer_bye(&client).await;
    assert_eq!(bye.header("Call-ID").as_deref(), Some("dialog-1@lab"));
    assert_eq!(get(admin, "/dialogs").await.json(), serde_json::json!([]));
    let sent = records_where(admin, "?direction=sent&call_id=dialog-1%40lab", |list| {
        list.len() == 1 && list[0]["outcome"]["status"] == 200
    })
    .await;
    assert_eq!(sent[0]["method"], "BYE");
    assert_eq!(sent[0]["scope"], "d1");
    assert_eq!(
        http(admin, "DELETE", "/dialogs/dialog-1%40lab", &[])
            .await
            .status,
        404
    );
    assert_eq!(get(admin, "/dialogs?limit=0").await.status, 400);
}
