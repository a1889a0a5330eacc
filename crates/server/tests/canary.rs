//! Secrets and personal data never reach the logs or error bodies, even at the most
//! verbose log level: canary values go through every path and the logs are searched.

use std::{
    io::Read,
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_lead-inbox");
const TOKEN: &str = "canary-token-7f3a9c";
const WRONG_TOKEN: &str = "canary-wrong-token-1b2c";
const API_KEY: &str = "canary-api-key-4d5e";
const NAME: &str = "Canaryname Zzyzx";
const EMAIL: &str = "canary.zzyzx@example.org";
const PHONE: &str = "912345678";
const MESSAGE: &str = "canary-message-qwertyuiop";
const INCOME: &str = "987654321";
const LETTER: &str = "canary-letter-asdfghjkl";

#[test]
fn no_secret_or_personal_data_in_logs_or_error_bodies_at_trace_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_API_KEYS", API_KEY)
        .env("LEAD_INBOX_BIND", format!("127.0.0.1:{port}"))
        .env("LEAD_INBOX_LOG", "trace")
        .env("LEAD_INBOX_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Read while the server runs: a server writing more trace output than a pipe holds
    // (64 KiB on Linux) to a pipe nobody reads blocks on its next line.
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).expect("logs");
        logs
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let lead = format!(
        r#"{{"LeadReference":"canary-ref-1","EntityType":"Listing","SenderName":"{NAME}","SenderEmail":"{EMAIL}","SenderPhone":"{PHONE}","Message":"{MESSAGE}","MonthlyIncome":{INCOME},"PresentationLetter":"{LETTER}","HasPets":"{LETTER}"}}"#
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bodies = runtime.block_on(async {
        let client = reqwest::Client::new();
        let webhook = format!("{base}/webhooks/casayes/leads");
        let api = format!("{base}/api/v1/leads");
        let text = |request: reqwest::RequestBuilder| async move {
            request
                .send()
                .await
                .expect("answer")
                .text()
                .await
                .unwrap_or_default()
        };
        let deliver = |token: &'static str, body: String| {
            text(client.post(&webhook).header("token", token).body(body))
        };
        let broken =
            format!(r#"{{"SenderName":"{NAME}","SenderEmail":"{EMAIL}","Message":"{MESSAGE}""#);
        let no_reference = format!(
            r#"{{"SenderName":"{NAME}","Message":"{MESSAGE}","LeadReference":{{"x":"{EMAIL}"}}}}"#
        );
        let bodies = vec![
            deliver(TOKEN, lead.clone()).await,
            deliver(TOKEN, lead.clone()).await,
            deliver(WRONG_TOKEN, lead.clone()).await,
            deliver(TOKEN, broken).await,
            deliver(TOKEN, no_reference).await,
            text(client.get(&api).bearer_auth(WRONG_TOKEN)).await,
            text(
                client
                    .get(format!("{api}?cursor={MESSAGE}"))
                    .bearer_auth(API_KEY),
            )
            .await,
        ];
        let full = text(
            client
                .get(format!("{api}/canary-ref-1"))
                .bearer_auth(API_KEY),
        )
        .await;
        // More trace output than a pipe holds (64 KiB on Linux): a test that read the
        // logs only after the server exited would hang here.
        for _ in 0..250 {
            let listed = text(client.get(&api).bearer_auth(API_KEY)).await;
            assert!(listed.contains("canary-ref-1"), "{listed}");
        }
        assert!(
            full.contains(MESSAGE),
            "the API itself does return the lead"
        );
        bodies
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = reader.join().expect("the log reader");
    assert!(logs.lines().count() > 10, "trace logging is on: {logs}");
    assert!(
        logs.len() > 64 * 1024,
        "more than a pipe's buffer of logs: {} bytes",
        logs.len()
    );
    assert!(logs.contains("/webhooks/casayes/leads"));
    for canary in [
        TOKEN,
        WRONG_TOKEN,
        API_KEY,
        NAME,
        EMAIL,
        PHONE,
        MESSAGE,
        INCOME,
        LETTER,
        "Canaryname",
        "zzyzx",
    ] {
        assert!(!logs.contains(canary), "{canary:?} appears in the logs");
        for body in &bodies {
            assert!(
                !body.contains(canary),
                "{canary:?} appears in an error body: {body}"
            );
        }
    }
}
