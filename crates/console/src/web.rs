//! The console's plumbing, shared by its pages: security headers, the language, the
//! session cookie, the frame every page is drawn in, and the answers that are not a
//! page (redirects, refusals).

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};
use lead_inbox_application::{ExposeSecret, SecretString, SignedIn, StorageError};
use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};

use crate::{
    Console, PREFIX, assets,
    i18n::{Lang, Texts},
};

/// The session cookie.
pub const SESSION_COOKIE: &str = "lead_inbox_session";
/// The chosen language (`?lang=` on any page sets it).
pub const LANG_COOKIE: &str = "lead_inbox_lang";
/// The sign-in form's token, before there is a session (double submit).
pub const LOGIN_COOKIE: &str = "lead_inbox_login";

/// What every console answer carries. No inline script or style anywhere, so the
/// policy needs no `'unsafe-inline'`, nonce or hash; `connect-src 'self'` covers the
/// live stream; `form-action 'self'` keeps forms from posting elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Adds the security headers to every answer and settles the language: `?lang=`
/// (remembered in a cookie), else the cookie, else `Accept-Language`.
pub async fn secure<E: Endpoint>(next: E, mut request: Request) -> poem::Result<Response> {
    let asked = query_value(&request, "lang").and_then(|code| Lang::from_code(&code));
    let lang = asked
        .or_else(|| cookie(&request, LANG_COOKIE).and_then(|code| Lang::from_code(&code)))
        .unwrap_or_else(|| {
            Lang::negotiate(
                request
                    .headers()
                    .get("accept-language")
                    .and_then(|v| v.to_str().ok()),
            )
        });
    request.extensions_mut().insert(lang);
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, value.parse().expect("a valid header value"));
    }
    if !headers.contains_key("cache-control") {
        headers.insert("cache-control", "no-store".parse().expect("valid"));
    }
    if let Some(lang) = asked {
        let value = format!(
            "{LANG_COOKIE}={}; Path={PREFIX}; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(value) = value.parse() {
            headers.append("set-cookie", value);
        }
    }
    Ok(response)
}

/// The value of `name` in the request's query string.
pub fn query_value(request: &Request, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// The value of cookie `name`.
pub fn cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value for a console cookie: `HttpOnly; SameSite=Lax; Path=/inbox`,
/// and `Secure` over TLS. `max_age` 0 deletes it; `None` makes it last the browser's
/// session.
pub fn set_cookie(console: &Console, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut cookie = format!("{name}={value}; Path={PREFIX}; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if console.settings.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The language [`secure`] settled on.
pub fn lang_of(request: &Request) -> Lang {
    request
        .extensions()
        .get::<Lang>()
        .copied()
        .unwrap_or(Lang::En)
}

/// The session's token from its cookie.
pub fn session_token(request: &Request) -> Option<SecretString> {
    cookie(request, SESSION_COOKIE).map(SecretString::from)
}

/// The signed-in user, or the answer to give instead: to the sign-in page when there
/// is no valid session (or it ran out), an error page when the store fails.
pub async fn signed_in(console: &Console, request: &Request) -> Result<SignedIn, Response> {
    let Some(token) = session_token(request) else {
        return Err(to_login());
    };
    if token.expose_secret().is_empty() {
        return Err(to_login());
    }
    match console.state.access.session(&token).await {
        Ok(Some(signed)) => Ok(signed),
        Ok(None) => Err(to_login()),
        Err(error) => Err(unavailable(request, &error)),
    }
}

fn to_login() -> Response {
    redirect(&format!("{PREFIX}/login"))
}

/// `303 See Other` to `location` (after a form, and to the sign-in page).
pub fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .finish()
}

/// Which page of the navigation is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Inbox,
    Contacts,
    Quarantine,
    Statistics,
    Destinations,
    Deliveries,
    Admin,
    None,
}

/// The frame of every page: language, user, navigation, the form token, the files.
#[derive(Debug, Clone)]
pub struct Frame {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub title: String,
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    pub nav: Nav,
    pub css: String,
    pub htmx: String,
    pub live: String,
    /// This page in the other language.
    pub switch_href: String,
    pub prefix: &'static str,
}

impl Frame {
    pub fn new(request: &Request, title: &str, nav: Nav, user: Option<&SignedIn>) -> Frame {
        let lang = lang_of(request);
        let t = lang.texts();
        Frame {
            t,
            lang: lang.code(),
            title: title.to_owned(),
            user: user.map(|u| u.user.username.to_string()),
            admin: user.is_some_and(SignedIn::is_admin),
            csrf: user.map(|u| u.form_token().to_owned()).unwrap_or_default(),
            nav,
            css: assets::named("console.css").path(),
            htmx: assets::named("htmx-2.0.4.min.js").path(),
            live: assets::named("live.js").path(),
            switch_href: switch_href(request, t.other_language_code),
            prefix: PREFIX,
        }
    }

    /// `aria-current="page"` for the open page's link.
    pub fn current(&self, nav: Nav) -> &'static str {
        if nav == self.nav { "page" } else { "false" }
    }
}

/// The request's path and query with `lang` set to `code`.
fn switch_href(request: &Request, code: &str) -> String {
    let mut pairs: Vec<(String, String)> = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    pairs.retain(|(key, _)| key != "lang");
    pairs.push(("lang".into(), code.into()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}?{query}", request.uri().path())
}

/// A rendered page, never cached (it holds personal data and the form token).
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .body(html),
        Err(error) => {
            tracing::error!(error = %error, "a console page failed to render");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("the page could not be drawn")
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    frame: Frame,
    message: String,
}

/// A page that only says something (a refusal, an error), with the status given.
pub fn message(
    request: &Request,
    user: Option<&SignedIn>,
    status: StatusCode,
    text: impl Fn(&Texts) -> String,
) -> Response {
    let frame = Frame::new(request, "", Nav::None, user);
    let message = text(frame.t);
    page(
        status,
        &MessagePage {
            frame: Frame {
                title: message.clone(),
                ..frame
            },
            message,
        },
    )
}

/// `403`: an agent on an admin page, or a form without its token.
pub fn forbidden(request: &Request, user: &SignedIn) -> Response {
    message(request, Some(user), StatusCode::FORBIDDEN, |t| {
        t.forbidden.to_owned()
    })
}

pub fn bad_form(request: &Request, user: &SignedIn) -> Response {
    message(request, Some(user), StatusCode::FORBIDDEN, |t| {
        t.expired_form.to_owned()
    })
}

pub fn not_found(request: &Request, user: Option<&SignedIn>) -> Response {
    message(request, user, StatusCode::NOT_FOUND, |t| {
        t.not_found.to_owned()
    })
}

/// `503` when the store fails; the cause goes to the log, not to the page.
pub fn unavailable(request: &Request, error: &StorageError) -> Response {
    tracing::error!(error = %error, cause = ?std::error::Error::source(error), "the console could not reach the store");
    message(request, None, StatusCode::SERVICE_UNAVAILABLE, |t| {
        t.unavailable.to_owned()
    })
}

/// An instant in the console's zone, to the minute.
pub fn when(console: &Console, at: &DateTime<Utc>) -> String {
    at.with_timezone(&console.settings.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Shared access to the console from a handler's data.
pub type Shared = Arc<Console>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_nothing_inline_and_no_framing() {
        assert!(CSP.starts_with("default-src 'self'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        assert!(!CSP.contains("unsafe"));
    }

    #[test]
    fn the_language_switch_keeps_the_query() {
        let request = Request::builder()
            .uri("/inbox?q=ana&lang=en".parse().expect("a uri"))
            .finish();
        assert_eq!(switch_href(&request, "pt-PT"), "/inbox?q=ana&lang=pt-PT");
    }
}
