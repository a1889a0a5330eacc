//! The console's static files, embedded in the binary and served under a path that
//! holds their content's hash: `/inbox/static/<hash>/<name>`. A new version has a new
//! path, so a browser may keep each for a year without asking (`immutable`); one that
//! asks anyway with `If-None-Match` gets `304`.

use std::sync::OnceLock;

use poem::{Request, Response, http::StatusCode};
use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// The first 16 hex digits of the content's SHA-256: the path's and the ETag's.
    pub hash: String,
}

impl Asset {
    /// Where a page links to it.
    pub fn path(&self) -> String {
        format!("{}/static/{}/{}", crate::PREFIX, self.hash, self.name)
    }

    fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }
}

const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "htmx-2.0.4.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/htmx-2.0.4.min.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/console.css"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/live.js"),
    ),
];

/// Every embedded file, hashed once.
pub fn all() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, content_type, bytes)| {
                let digest = Sha256::digest(bytes);
                let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                Asset {
                    name,
                    content_type,
                    bytes,
                    hash,
                }
            })
            .collect()
    })
}

/// The file called `name`.
pub fn named(name: &str) -> &'static Asset {
    all()
        .iter()
        .find(|asset| asset.name == name)
        .expect("an embedded file")
}

/// Answers `GET /inbox/static/<hash>/<name>`: the file when both match, `304` when the
/// client has it, `404` otherwise.
pub fn serve(request: &Request, hash: &str, name: &str) -> Response {
    let Some(asset) = all().iter().find(|a| a.name == name && a.hash == hash) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("no such file");
    };
    let etag = asset.etag();
    let cached = request
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| {
            given
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let builder = Response::builder()
        .header("etag", etag)
        .header("cache-control", "public, max-age=31536000, immutable");
    if cached {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    builder.content_type(asset.content_type).body(asset.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pinned htmx is the one the registry serves (see `static/README.md`).
    #[test]
    fn htmx_is_the_pinned_copy() {
        let digest = Sha256::digest(named("htmx-2.0.4.min.js").bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"
        );
    }

    #[test]
    fn paths_change_with_the_content() {
        let css = named("console.css");
        assert_eq!(css.hash.len(), 16);
        assert!(css.path().starts_with("/inbox/static/"));
        assert!(css.path().ends_with("/console.css"));
        assert_ne!(css.hash, named("live.js").hash);
    }
}
