//! Error texts that are safe to store and show: an attempt's error is kept in the
//! database and listed by the deliveries API, so it must never carry what a URL may
//! hold besides its address (credentials in its userinfo, tokens in its query).

use std::error::Error;

/// The parts of a destination URL that must not appear in any text: its userinfo
/// (user and password, or a NATS token), its query, and the URL itself.
pub(crate) struct Secrets {
    hidden: Vec<String>,
}

const REDACTED: &str = "[redacted]";

impl Secrets {
    /// What to hide of `url` (nothing but the text itself when it does not parse).
    pub(crate) fn of_url(url: &str) -> Secrets {
        let mut hidden = vec![url.to_owned()];
        if let Ok(parsed) = url::Url::parse(url) {
            hidden.push(parsed.as_str().to_owned());
            hidden.extend(
                [Some(parsed.username()), parsed.password(), parsed.query()]
                    .into_iter()
                    .flatten()
                    .filter(|part| !part.is_empty())
                    .flat_map(|part| {
                        // As written, and decoded: errors may show either.
                        [part.to_owned(), percent_decoded(part)]
                    }),
            );
        }
        // The longest first, so that a URL is hidden whole before its parts are.
        hidden.sort_by_key(|text| std::cmp::Reverse(text.len()));
        hidden.dedup();
        Secrets { hidden }
    }

    /// `text` with every hidden part replaced by `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.hidden.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret, REDACTED)
        })
    }

    /// `headline` and the chain of errors from `source`, joined by `: ` (a cause
    /// already quoted by the text before it is left out), redacted.
    pub(crate) fn describe(
        &self,
        headline: &str,
        source: Option<&(dyn Error + 'static)>,
    ) -> String {
        let mut text = headline.to_owned();
        let mut source = source;
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        self.redact(&text)
    }
}

/// `%XX` sequences decoded (lossily: a part that is not UTF-8 is hidden as written).
pub(crate) fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_query_and_the_url_are_hidden() {
        let secrets = Secrets::of_url("nats://alice:s%40cret@broker.example:4222/?token=t0k");
        let text = secrets.redact(
            "connecting to nats://alice:s%40cret@broker.example:4222/?token=t0k failed for alice with s@cret and token=t0k",
        );
        assert_eq!(
            text,
            "connecting to [redacted] failed for [redacted] with [redacted] and [redacted]"
        );
    }

    #[test]
    fn the_source_chain_is_described_once_each() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("sending failed")
            }
        }
        impl Error for Outer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other(
            "refused by https://bob:hunter2@crm.example/?key=v4lue",
        ));
        assert_eq!(
            Secrets::of_url("https://bob:hunter2@crm.example/?key=v4lue")
                .describe(&error.to_string(), error.source()),
            "sending failed: refused by [redacted]"
        );
    }
}
