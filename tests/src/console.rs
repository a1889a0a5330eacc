//! Driving the web console over HTTP as a browser without JavaScript would: cookies
//! kept by hand, redirects not followed (so that each answer can be read), forms
//! posted with the token the page gave.

use std::collections::HashMap;

use lead_inbox_application::{Role, SecretString, SystemClock, UserRecord};
use lead_inbox_server::{Config, Storage};

use crate::TestApp;

/// A password long enough for the console.
pub const PASSWORD: &str = "correct horse battery staple";

/// Creates a console user in the app's database, as `lead-inbox users create` does.
/// `None` on the in-memory backend, whose users the test cannot reach.
pub async fn create_user(app: &TestApp, username: &str, role: Role) -> Option<UserRecord> {
    let storage = open(app).await?;
    let access = storage.console_access(&Config::default(), std::sync::Arc::new(SystemClock));
    let user = access
        .create_user(username, role, SecretString::from(PASSWORD.to_owned()))
        .await
        .expect("the user is created");
    storage.close().await;
    Some(user)
}

/// The app's storage, opened as a command would (`None` in memory).
pub async fn open(app: &TestApp) -> Option<Storage> {
    if app.database.url.starts_with("memory:") {
        eprintln!("SKIPPED: the console tests need a database the test can open too");
        return None;
    }
    Some(
        Storage::open(&app.database.url, &Config::default())
            .await
            .expect("the database opens"),
    )
}

/// Puts `body` in the app's quarantine, as a payload an older version refused with
/// `reason`; returns its id (`None` in memory).
pub async fn quarantine(app: &TestApp, body: &serde_json::Value, reason: &str) -> Option<i64> {
    let storage = open(app).await?;
    let id = storage
        .quarantine
        .store(lead_inbox_domain::NewQuarantined {
            rejection: lead_inbox_domain::Rejection::new(
                lead_inbox_domain::RejectionKind::NotJson,
                reason,
            ),
            raw: lead_inbox_domain::RawPayload::new(body.to_string().into_bytes()),
            received_at: chrono::Utc::now(),
        })
        .await
        .expect("quarantined");
    storage.close().await;
    Some(id.0)
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    pub fn form_token(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a token") + marker.len();
        let end = self.body[start..].find('"').expect("the value ends") + start;
        self.body[start..end].to_owned()
    }
}

/// A visitor of the console with a cookie jar.
pub struct Visitor {
    client: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            base: app.url(""),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        self.read(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("the server answers");
        self.read(response).await
    }

    /// Signs in through the sign-in form; returns the answer to the form.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/inbox/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.form_token();
        self.post(
            "/inbox/login",
            &[
                ("csrf", &token),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in and requires it to work.
    pub async fn signed_in(app: &TestApp, username: &str) -> Visitor {
        let mut visitor = Visitor::new(app);
        let answer = visitor.sign_in(username, PASSWORD).await;
        assert_eq!(answer.status, 303, "signed in: {}", answer.body);
        assert_eq!(answer.header("location"), "/inbox");
        visitor
    }
}
