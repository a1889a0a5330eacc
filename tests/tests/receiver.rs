//! The forwarding tests' receiver does what they rely on: it records exact bytes and
//! headers, answers by its rules, and refuses connections while it is down.

use std::time::Duration;

use lead_inbox_tests::receiver::Receiver;

#[tokio::test]
async fn the_receiver_records_answers_by_its_rules_and_goes_down_and_up() {
    let mut receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    receiver.answer_when("REF-500", 500, None);
    receiver.answer_when("REF-429", 429, Some("7"));

    let ok = client
        .post(receiver.url())
        .header("webhook-id", "msg_1")
        .body("{\"ref\":\"REF-1\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let failing = client
        .post(receiver.url())
        .body("REF-500")
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), 500);
    let limited = client
        .post(receiver.url())
        .body("REF-429")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert_eq!(received[0].body, b"{\"ref\":\"REF-1\"}");
    assert_eq!(received[0].header("webhook-id"), Some("msg_1"));
    assert_eq!(received[0].path, "/hooks/leads");
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 500, 429]
    );
    assert_eq!(receiver.accepted().len(), 1);

    receiver.down().await;
    let refused = reqwest::Client::new()
        .post(receiver.url())
        .timeout(Duration::from_secs(2))
        .body("x")
        .send()
        .await;
    assert!(refused.is_err(), "a receiver that is down answered");
    receiver.up().await;
    let back = reqwest::Client::new()
        .post(receiver.url())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(receiver.received().len(), 4);
}
