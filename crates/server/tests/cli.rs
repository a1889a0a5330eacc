//! The `lead-inbox` binary as a user runs it.

use std::{
    io::{Read, Write},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_lead-inbox");
const TOKEN: &str = "cli-test-token";

fn lead_inbox(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("LEAD_INBOX_") {
            command.env_remove(key);
        }
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port()
}

struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(dir: &Path) -> Running {
        Self::start_with(dir, &[])
    }

    /// Starts the server with `settings` (environment variables) added.
    fn start_with(dir: &Path, settings: &[(&str, &str)]) -> Running {
        let port = free_port();
        let child = lead_inbox(dir)
            .envs(settings.iter().copied())
            .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
            .env("LEAD_INBOX_API_KEYS", "cli-key")
            .env("LEAD_INBOX_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Running { child, port }
    }

    /// `GET /health/live` with one more header line, over a connection of its own;
    /// the whole answer.
    fn get_live(&self, header: &str) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            stream,
            "GET /health/live HTTP/1.1\r\nHost: x\r\n{header}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn terminate(mut self) -> Output {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"));
        child.wait_with_output().expect("output")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn without_a_webhook_token_it_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lead_inbox(dir.path()).arg("serve").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("LEAD_INBOX_WEBHOOK_TOKENS"), "{stderr}");
    assert!(stderr.contains("lead-inbox tokens create"), "{stderr}");
}

#[test]
fn managed_tokens_work_at_once_and_stop_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    let created = lead_inbox(dir.path())
        .args(["tokens", "create", "--name", "casayes-2027"])
        .output()
        .expect("runs");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let token = text(&created.stdout).trim().to_owned();
    assert!(token.starts_with("liwt_") && token.len() == 69, "{token}");
    assert!(text(&created.stderr).contains("shown once"));

    let send = |token: &str, reference: &str| {
        lead_inbox(dir.path())
            .args([
                "send-example",
                "--url",
                &server.url(),
                "--token",
                token,
                "--reference",
                reference,
            ])
            .output()
            .expect("runs")
    };
    let accepted = send(&token, "managed-1");
    assert!(
        text(&accepted.stdout).contains(r#""status":"created""#),
        "{}",
        text(&accepted.stdout)
    );
    assert!(
        send(TOKEN, "configured-1").status.success(),
        "configured tokens keep working"
    );

    let listed = lead_inbox(dir.path())
        .args(["tokens", "list"])
        .output()
        .expect("runs");
    let list = text(&listed.stdout);
    assert!(
        list.contains("casayes-2027") && list.contains("valid"),
        "{list}"
    );
    assert!(!list.contains(&token), "the secret is never listed");
    let database = std::fs::read(dir.path().join("data/lead-inbox.db")).expect("database file");
    let wal = std::fs::read(dir.path().join("data/lead-inbox.db-wal")).unwrap_or_default();
    for bytes in [&database, &wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the secret is not stored"
        );
    }

    let id = list
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .expect("an id")
        .to_owned();
    let revoked = lead_inbox(dir.path())
        .args(["tokens", "revoke", &id])
        .output()
        .expect("runs");
    assert!(revoked.status.success());
    assert!(text(&revoked.stdout).contains("revoked"));
    let refused = send(&token, "managed-2");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stdout).contains("401"),
        "refused at once: {}",
        text(&refused.stdout)
    );

    let expired = lead_inbox(dir.path())
        .args([
            "tokens",
            "create",
            "--name",
            "old",
            "--expires-at",
            "2020-01-01T00:00:00Z",
        ])
        .output()
        .expect("runs");
    assert!(expired.status.success(), "{}", text(&expired.stderr));
    let expired_token = text(&expired.stdout).trim().to_owned();
    assert!(
        expired_token.starts_with("liwt_") && expired_token.len() == 69,
        "{expired_token}"
    );
    let refused = send(&expired_token, "managed-3");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stdout).contains("401"),
        "an expired token is refused: {}",
        text(&refused.stdout)
    );
    drop(server);

    // With a valid managed token, the service starts without configured ones.
    let again = lead_inbox(dir.path())
        .args(["tokens", "create", "--name", "only"])
        .output()
        .expect("runs");
    assert!(again.status.success());
    let port = free_port();
    let mut child = lead_inbox(dir.path())
        .env("LEAD_INBOX_BIND", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "it must start with a managed token"
        );
        assert!(Instant::now() < deadline, "did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_bad_value_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lead_inbox(dir.path())
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_MAX_BODY_BYTES", "a lot")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("LEAD_INBOX_MAX_BODY_BYTES"), "{stderr}");
}

#[test]
fn a_log_in_a_pipe_has_no_colours_and_the_ready_line_gives_the_docs_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    let docs = format!("{}/docs", server.url());
    // Served: the ready line was written before serving began.
    let answer = server.get_live("accept: */*");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let output = server.terminate();
    let logs = text(&output.stderr);
    assert!(
        !logs.contains('\u{1b}'),
        "no ANSI escape in a pipe: {logs:?}"
    );
    let ready = logs
        .lines()
        .find(|line| line.contains("lead inbox is ready"))
        .unwrap_or_else(|| panic!("a ready line: {logs}"));
    assert!(ready.contains(&format!("docs={docs}")), "{ready}");
}

#[test]
fn behind_a_trusted_proxy_the_log_names_the_forwarded_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start_with(dir.path(), &[("LEAD_INBOX_TRUSTED_PROXIES", "127.0.0.0/8")]);
    for forwarded in [
        "x-forwarded-for: 203.0.113.9",
        "forwarded: for=198.51.100.4",
    ] {
        let answer = server.get_live(forwarded);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let logs = text(&server.terminate().stderr);
    for client in ["203.0.113.9", "198.51.100.4"] {
        assert!(
            logs.lines().any(|line| line.contains("path=/health/live")
                && line.contains(&format!("client={client}"))),
            "a request line with client={client}: {logs}"
        );
    }
}

#[test]
fn a_trusted_proxy_that_is_not_a_network_stops_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lead_inbox(dir.path())
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
        .arg("serve")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("LEAD_INBOX_TRUSTED_PROXIES"), "{stderr}");
    assert!(
        stderr.contains("`proxy.internal` is not a network"),
        "{stderr}"
    );
    assert!(
        stderr.contains("e.g. 10.0.0.0/8,192.168.1.7/32"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_reported_with_its_cause_and_how_long_start_up_tries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    // Nothing listens on port 1. The first attempt fails after the pool's own 3 s
    // (it retries a refused connection silently), the next after as long again: past
    // the 4 s given, so start-up gives up after two.
    let output = lead_inbox(dir.path())
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_DATABASE_URL", "postgres://nobody@127.0.0.1:1/x")
        .env("LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS", "4")
        .arg("serve")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(30));
    let stderr = text(&output.stderr);
    let first = stderr
        .lines()
        .find(|line| line.contains("cannot reach the database"))
        .unwrap_or_else(|| panic!("a warning at the first failure: {stderr}"));
    assert!(first.contains("Connection refused"), "{first}");
    assert!(
        first.contains("trying again for up to 4 s (LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS)"),
        "{first}"
    );
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    let error = &stderr[stderr.find("lead-inbox: ").expect("the error")..];
    assert!(
        error.contains(
            "cannot reach the database postgres://nobody@127.0.0.1:1/x: gave up after trying for"
        ),
        "{error}"
    );
    assert!(
        error.contains("(LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS is 4)"),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
}

#[test]
fn an_unsupported_database_url_lists_the_ones_that_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lead_inbox(dir.path())
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_DATABASE_URL", "mongodb://127.0.0.1/leads")
        .arg("serve")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for scheme in ["sqlite://", "postgres://", "mysql://", "memory://"] {
        assert!(stderr.contains(scheme), "{scheme} in {stderr}");
    }
}

#[test]
fn serve_send_example_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    assert!(
        dir.path().join("data/lead-inbox.db").is_file(),
        "the SQLite file and folder are created"
    );

    let sent = lead_inbox(dir.path())
        .args([
            "send-example",
            "--url",
            &server.url(),
            "--token",
            TOKEN,
            "--reference",
            "CY-Listing-A3bT7Y2xL6w-cli-1",
        ])
        .output()
        .expect("runs");
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let stdout = text(&sent.stdout);
    assert!(stdout.contains("200 OK"), "{stdout}");
    assert!(stdout.contains(r#""status":"created""#), "{stdout}");
    assert!(stdout.contains("CY-Listing-A3bT7Y2xL6w-cli-1"), "{stdout}");

    let again = lead_inbox(dir.path())
        .args([
            "send-example",
            "--url",
            &format!("{}/webhooks/casayes/leads", server.url()),
            "--token",
            TOKEN,
            "--reference",
            "CY-Listing-A3bT7Y2xL6w-cli-1",
        ])
        .output()
        .expect("runs");
    assert!(text(&again.stdout).contains(r#""status":"duplicate""#));

    // A plausible sender email, not the published page's e-mail-hiding artefact: no
    // anomaly, and John Smith is one contact.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lead: serde_json::Value = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{}/api/v1/leads/CY-Listing-A3bT7Y2xL6w-cli-1",
                server.url()
            ))
            .bearer_auth("cli-key")
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON")
    });
    assert_eq!(lead["sender"]["email"], "john.smith@example.com", "{lead}");
    assert_eq!(lead["sender"]["emailNormalised"], "john.smith@example.com");
    let flagged: Vec<&str> = lead["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .filter_map(|anomaly| anomaly["field"].as_str())
        .collect();
    assert!(!flagged.contains(&"SenderEmail"), "{lead}");

    let fresh = lead_inbox(dir.path())
        .args(["send-example", "--url", &server.url(), "--token", TOKEN])
        .output()
        .expect("runs");
    assert!(
        text(&fresh.stdout).contains("CY-Listing-A3bT7Y2xL6w-"),
        "a fresh reference of the documented shape"
    );
    assert!(text(&fresh.stdout).contains(r#""status":"created""#));

    let refused = lead_inbox(dir.path())
        .args(["send-example", "--url", &server.url(), "--token", "wrong"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stdout).contains("401"));

    let output = server.terminate();
    assert!(
        output.status.success(),
        "exit after SIGTERM: {:?}",
        output.status
    );
    let logs = text(&output.stderr);
    assert!(logs.contains("SIGTERM received"), "{logs}");
    for secret in [
        TOKEN,
        "cli-key",
        "John Smith",
        "919111222",
        "interested in this listing",
    ] {
        assert!(
            !logs.contains(secret),
            "the logs must not contain {secret:?}"
        );
    }
    assert!(
        logs.contains("/webhooks/casayes/leads"),
        "one line per request: {logs}"
    );
}

#[test]
fn openapi_prints_the_committed_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi");
    for (format, file) in [("yaml", "lead-inbox.yaml"), ("json", "lead-inbox.json")] {
        let output = lead_inbox(dir.path())
            .args(["openapi", "--format", format])
            .output()
            .expect("runs");
        assert!(output.status.success());
        let expected = std::fs::read_to_string(committed.join(file)).expect("committed");
        assert_eq!(text(&output.stdout), expected, "{file}");
    }
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lead_inbox(dir.path())
        .env("LEAD_INBOX_DATABASE_URL", "sqlite://./deep/er/leads.db")
        .arg("migrate")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(dir.path().join("deep/er/leads.db").is_file());
}

#[test]
fn help_lists_the_commands_with_examples() {
    let output = Command::new(BIN).arg("--help").output().expect("runs");
    let help = text(&output.stdout);
    for command in ["serve", "migrate", "openapi", "send-example"] {
        assert!(help.contains(command), "{help}");
    }
    let send = Command::new(BIN)
        .args(["send-example", "--help"])
        .output()
        .expect("runs");
    assert!(text(&send.stdout).contains("Example: lead-inbox send-example"));
    let serve = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .expect("runs");
    let serve = text(&serve.stdout);
    for variable in [
        "LEAD_INBOX_BIND=0.0.0.0:8080",
        "LEAD_INBOX_WEBHOOK_TOKENS=",
        "LEAD_INBOX_CONFIG=",
    ] {
        assert!(serve.contains(variable), "{variable} in {serve}");
    }
}

#[test]
fn copy_moves_leads_between_stores_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    for n in 0..3 {
        let sent = lead_inbox(dir.path())
            .args([
                "send-example",
                "--url",
                &server.url(),
                "--token",
                TOKEN,
                "--reference",
                &format!("copy-{n}"),
            ])
            .output()
            .expect("runs");
        assert!(sent.status.success());
    }
    drop(server);
    let copy = |dir: &Path| {
        lead_inbox(dir)
            .args([
                "copy",
                "--from",
                "sqlite://./data/lead-inbox.db",
                "--to",
                "sqlite://./moved/leads.db",
            ])
            .output()
            .expect("runs")
    };
    let first = copy(dir.path());
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout)
            .contains("copied 3 leads (3 new, 0 already there, 0 erased at the target; 0 with their work), 0 erasure tombstones and 0 quarantined payloads"),
        "{}",
        text(&first.stdout)
    );
    let second = copy(dir.path());
    assert!(
        text(&second.stdout).contains("copied 3 leads (0 new, 3 already there, 0 erased"),
        "{}",
        text(&second.stdout)
    );
    let same = lead_inbox(dir.path())
        .args([
            "copy",
            "--from",
            "sqlite://./a.db",
            "--to",
            "sqlite://./a.db",
        ])
        .output()
        .expect("runs");
    assert_eq!(same.status.code(), Some(2));
}

#[test]
fn managed_api_keys_have_scopes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    let create = |scopes: &str| {
        let output = lead_inbox(dir.path())
            .args(["api-keys", "create", "--name", "crm", "--scopes", scopes])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout).trim().to_owned()
    };
    let reader = create("read");
    let admin = create("read,admin");
    assert!(reader.starts_with("lik_") && reader.len() == 68, "{reader}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = |method: reqwest::Method, path: &str, key: &str| {
        let url = format!("{}{path}", server.url());
        runtime.block_on(async {
            reqwest::Client::new()
                .request(method, url)
                .bearer_auth(key)
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        })
    };
    assert_eq!(status(reqwest::Method::GET, "/api/v1/leads", &reader), 200);
    assert_eq!(
        status(reqwest::Method::DELETE, "/api/v1/quarantine/1", &reader),
        403,
        "read cannot delete"
    );
    assert_eq!(
        status(reqwest::Method::DELETE, "/api/v1/quarantine/1", &admin),
        404,
        "admin may; there is none"
    );
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/subjects?email=a%40b.pt"),
        (
            reqwest::Method::GET,
            "/api/v1/subjects/export?email=a%40b.pt",
        ),
        (reqwest::Method::GET, "/api/v1/erasures"),
    ] {
        assert_eq!(
            status(method.clone(), path, &reader),
            403,
            "read cannot {method} {path}"
        );
        assert_eq!(
            status(method.clone(), path, &admin),
            200,
            "admin may {method} {path}"
        );
    }
    let listed = text(
        &lead_inbox(dir.path())
            .args(["api-keys", "list"])
            .output()
            .expect("runs")
            .stdout,
    );
    assert!(
        listed.contains("read,admin") && !listed.contains(&admin),
        "{listed}"
    );
    assert!(
        !text(
            &lead_inbox(dir.path())
                .args(["tokens", "list"])
                .output()
                .expect("runs")
                .stdout
        )
        .contains("crm"),
        "keys are not tokens"
    );
    let revoked = lead_inbox(dir.path())
        .args(["api-keys", "revoke", "1"])
        .output()
        .expect("runs");
    assert!(revoked.status.success());
    assert_eq!(
        status(reqwest::Method::GET, "/api/v1/leads", &reader),
        401,
        "refused at once"
    );
    let as_token = lead_inbox(dir.path())
        .args(["send-example", "--url", &server.url(), "--token", &admin])
        .output()
        .expect("runs");
    assert!(
        text(&as_token.stdout).contains("401"),
        "an API key is not a webhook token"
    );
}

#[test]
fn erase_export_and_purge_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path());
    let send = |reference: &str| {
        let output = lead_inbox(dir.path())
            .args(["send-example", "--url", &server.url(), "--token", TOKEN])
            .args(["--reference", reference])
            .output()
            .expect("runs");
        text(&output.stdout)
    };
    assert!(send("cli-erase-1").contains("created"));
    assert!(send("cli-erase-2").contains("created"));
    // The spec example's sender: phone 919111222 (its email is a placeholder).
    let phone = "+351 919 111 222";

    let export = dir.path().join("export.json");
    let output = lead_inbox(dir.path())
        .args(["export-subject", "--phone", phone, "--output"])
        .arg(&export)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("written")).expect("JSON");
    let references: Vec<&str> = document["leads"]
        .as_array()
        .expect("leads")
        .iter()
        .filter_map(|lead| lead["leadReference"].as_str())
        .collect();
    assert_eq!(references, ["cli-erase-1", "cli-erase-2"]);

    let both = lead_inbox(dir.path())
        .args(["erase", "--email", "a@b.pt", "--phone", phone])
        .output()
        .expect("runs");
    assert_eq!(both.status.code(), Some(2), "one subject at a time");
    let erased = lead_inbox(dir.path())
        .args(["erase", "--phone", phone])
        .output()
        .expect("runs");
    assert!(erased.status.success(), "{}", text(&erased.stderr));
    let said = text(&erased.stdout);
    assert!(
        said.contains("erased 2 leads and 0 quarantined payloads"),
        "{said}"
    );
    assert!(
        !said.contains("919111222"),
        "no personal data in the output: {said}"
    );
    assert!(
        send("cli-erase-1").contains("erased"),
        "a redelivery stays out"
    );

    let unset = lead_inbox(dir.path()).arg("purge").output().expect("runs");
    assert_eq!(unset.status.code(), Some(2));
    assert!(text(&unset.stderr).contains("LEAD_INBOX_RETENTION_DAYS"));
    let purged = lead_inbox(dir.path())
        .args(["purge", "--days", "1", "--quarantine-days", "1"])
        .output()
        .expect("runs");
    assert!(purged.status.success(), "{}", text(&purged.stderr));
    assert_eq!(
        text(&purged.stdout).trim(),
        "purged 0 leads and 0 quarantined payloads",
        "nothing is a day old yet"
    );
    drop(server);
}

#[test]
fn quarantine_replay_turns_what_reads_now_into_leads_and_shows_progress() {
    use lead_inbox_domain::{NewQuarantined, RawPayload, Rejection, RejectionKind};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/data/lead-inbox.db", dir.path().display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Two payloads an older version refused: one reads as a lead now, one never will.
    runtime.block_on(async {
        let config = lead_inbox_server::Config {
            database_url: url.clone(),
            ..lead_inbox_server::Config::default()
        };
        let storage = lead_inbox_server::Storage::open(&url, &config)
            .await
            .expect("the store opens");
        for raw in [
            r#"{"LeadReference":"CY-replayed-1","SenderName":"Ana"}"#,
            "not json at all",
        ] {
            storage
                .quarantine
                .store(NewQuarantined {
                    rejection: Rejection::new(
                        RejectionKind::NotJson,
                        "refused by an older version",
                    ),
                    raw: RawPayload::new(raw.as_bytes().to_vec()),
                    received_at: chrono::Utc::now(),
                })
                .await
                .expect("stored");
        }
        storage.close().await;
    });
    let replay = |args: &[&str]| {
        lead_inbox(dir.path())
            .env("LEAD_INBOX_DATABASE_URL", &url)
            .args(["quarantine", "replay"])
            .args(args)
            .output()
            .expect("runs")
    };
    let none = replay(&[]);
    assert_eq!(none.status.code(), Some(2), "ids or --all");
    let all = replay(&["--all"]);
    assert!(all.status.success(), "{}", text(&all.stderr));
    assert_eq!(
        text(&all.stdout).trim(),
        "replayed: 1 stored as leads (they left the quarantine), 1 still refused (they stay), 0 not found"
    );
    let again = replay(&["--all"]);
    assert_eq!(
        text(&again.stdout).trim(),
        "replayed: 0 stored as leads (they left the quarantine), 1 still refused (they stay), 0 not found"
    );
    let unknown = replay(&["999"]);
    assert!(text(&unknown.stdout).contains("1 not found"));
    runtime.block_on(async {
        let config = lead_inbox_server::Config {
            database_url: url.clone(),
            ..lead_inbox_server::Config::default()
        };
        let storage = lead_inbox_server::Storage::open(&url, &config)
            .await
            .expect("the store opens");
        let reference = lead_inbox_domain::LeadReference::parse("CY-replayed-1").expect("ref");
        let lead = storage
            .reader
            .get(&reference)
            .await
            .expect("get")
            .expect("a lead now");
        assert_eq!(lead.details.sender.name.as_deref(), Some("Ana"));
        storage.close().await;
    });
}

#[test]
fn destinations_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str], stdin: Option<&str>| -> Output {
        let mut command = lead_inbox(dir.path());
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("written");
        }
        drop(input);
        child.wait_with_output().expect("ends")
    };
    let added = run(
        &[
            "destinations",
            "add",
            "--url",
            "https://crm.example.com/hooks/leads",
            "--events",
            "lead.created,lead.updated",
            "--entity-types",
            "Listing,Office",
            "--description",
            "CRM \u{1b}[2J\u{202e}evil",
            "--max-in-flight",
            "4",
        ],
        None,
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let printed = text(&added.stdout);
    let (id, secret) = printed
        .trim()
        .split_once(' ')
        .expect("the id and the secret");
    assert_eq!(id, "1");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 50,
        "{secret}"
    );
    assert!(text(&added.stderr).contains("shown once"));

    let listed = run(&["destinations", "list"], None);
    let list = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        list.contains("lead.created,lead.updated") && list.contains("Listing,Office"),
        "{list}"
    );
    assert!(
        list.contains("https://crm.example.com/hooks/leads"),
        "{list}"
    );
    assert!(
        !list.contains('\u{1b}') && !list.contains('\u{202e}'),
        "hostile text is escaped: {list:?}"
    );
    assert!(list.contains("CRM \\u{1b}[2J\\u{202e}evil"), "{list}");
    assert!(!list.contains(&secret[6..]), "the secret is never listed");

    // Refusals name the rule and exit 2.
    let refused = run(
        &["destinations", "add", "--url", "http://crm.example.com/x"],
        None,
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("https_required"),
        "{}",
        text(&refused.stderr)
    );
    let refused = run(
        &[
            "destinations",
            "add",
            "--url",
            "https://crm.example.com/x",
            "--format",
            "xml",
        ],
        None,
    );
    assert_eq!(refused.status.code(), Some(2));

    // The CasaYes token from standard input; NATS with its subject, credentials hidden.
    let casayes = run(
        &[
            "destinations",
            "add",
            "--url",
            "https://crm.example.com/casayes",
            "--format",
            "casayes",
            "--casayes-token-stdin",
        ],
        Some("crm-token-7781\n"),
    );
    assert!(casayes.status.success(), "{}", text(&casayes.stderr));
    let nats = run(
        &[
            "destinations",
            "add",
            "--nats",
            "nats://app:hunter2@127.0.0.1:4222",
            "--subject",
            "leads.casayes",
        ],
        None,
    );
    assert!(nats.status.success(), "{}", text(&nats.stderr));
    let list = text(&run(&["destinations", "list"], None).stdout);
    assert!(
        list.contains("nats://***@127.0.0.1:4222 leads.casayes"),
        "{list}"
    );
    assert!(
        !list.contains("hunter2") && !list.contains("crm-token-7781"),
        "{list}"
    );
    assert!(list.contains("casayes"), "{list}");

    // Disable, enable, rotate, remove.
    let disabled = run(&["destinations", "disable", "1"], None);
    assert!(
        text(&disabled.stdout).contains("disabled:operator"),
        "{}",
        text(&disabled.stdout)
    );
    let enabled = run(&["destinations", "enable", "1"], None);
    assert!(
        !text(&enabled.stdout).contains("disabled"),
        "{}",
        text(&enabled.stdout)
    );
    let rotated = run(&["destinations", "rotate-secret", "1"], None);
    assert!(rotated.status.success());
    let new_secret = text(&rotated.stdout).trim().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let removed = run(&["destinations", "remove", "1"], None);
    assert!(removed.status.success());
    let again = run(&["destinations", "remove", "1"], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("no destination has id 1"));
    let list = text(&run(&["destinations", "list"], None).stdout);
    assert!(!list.contains("crm.example.com/hooks/leads"), "{list}");
}

/// `lead-inbox users …` with the password on standard input; its output and exit code.
fn users(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = lead_inbox(dir)
        .env("LEAD_INBOX_DATABASE_URL", "sqlite://./users.db")
        .arg("users")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("written");
    child.wait_with_output().expect("ends")
}

#[test]
fn console_users_are_created_listed_disabled_and_given_new_passwords() {
    let dir = tempfile::tempdir().expect("temp dir");
    let password = "a password of some length\n";
    let created = users(
        dir.path(),
        &[
            "create",
            "--username",
            "Ana",
            "--role",
            "admin",
            "--password-stdin",
        ],
        password,
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(
        text(&created.stdout).contains("ana "),
        "{}",
        text(&created.stdout)
    );
    assert!(!text(&created.stdout).contains("password"), "never printed");

    let again = users(
        dir.path(),
        &[
            "create",
            "--username",
            "ana",
            "--role",
            "agent",
            "--password-stdin",
        ],
        password,
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("a user named ana exists already"));
    let short = users(
        dir.path(),
        &[
            "create",
            "--username",
            "rui",
            "--role",
            "agent",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(text(&short.stderr).contains("at least 12 characters"));
    let no_stdin_flag = users(
        dir.path(),
        &["create", "--username", "rui", "--role", "agent"],
        "",
    );
    assert_eq!(
        no_stdin_flag.status.code(),
        Some(2),
        "--password-stdin is required"
    );

    let reset = users(
        dir.path(),
        &["reset-password", "ana", "--password-stdin"],
        password,
    );
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    let disabled = users(dir.path(), &["disable", "ana"], "");
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    let unknown = users(dir.path(), &["disable", "nobody"], "");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no user is named nobody"));

    let listed = users(dir.path(), &["list"], "");
    let listed = text(&listed.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("USERNAME"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "ana");
    assert_eq!(row[1], "admin");
    assert_ne!(row[3], "-", "disabled at a time: {listed}");
}
