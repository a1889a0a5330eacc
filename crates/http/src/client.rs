//! Which client a request comes from, resolved once per request.
//!
//! The client is the TCP peer, unless the peer is one of the trusted proxies
//! (`LEAD_INBOX_TRUSTED_PROXIES`). From a trusted proxy, the client is read from
//! `Forwarded` (RFC 7239) or `X-Forwarded-For`: walking the hops from the right (the
//! nearest), the first one that is not itself a trusted proxy. Every hop in those
//! headers was appended by the hop to its right, so the hops up to the first untrusted
//! one were written by proxies we trust; what lies left of it was written by the client
//! and is ignored. From any other peer both headers are ignored: a client cannot pick
//! the address it is counted under.
//!
//! [`resolve`] puts the result in the request's extensions as a [`ClientAddr`]; the
//! limits and the request log read that one value.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use poem::{Endpoint, Request, Response, http::HeaderMap};

/// The client's address, as resolved by [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address [`resolve`] found for `request`, if it ran and the peer had one.
    pub(crate) fn of(request: &Request) -> Option<IpAddr> {
        request
            .extensions()
            .get::<ClientAddr>()
            .map(|client| client.0)
    }
}

/// The networks whose peers may say, in `Forwarded` or `X-Forwarded-For`, which client
/// they forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = forwarded_hops(headers).map(|hops| self.nearest_untrusted(peer, &hops));
        let x_forwarded_for =
            x_forwarded_for_hops(headers).map(|hops| self.nearest_untrusted(peer, &hops));
        match (forwarded, x_forwarded_for) {
            (Some(client), None) | (None, Some(client)) => client,
            (Some(a), Some(b)) if a == b => a,
            // Both sent, naming different clients: one of them came from the client
            // through a proxy that writes only the other, and nothing says which.
            // Counting the request under the proxy's own address lets nobody choose.
            (Some(_), Some(_)) | (None, None) => peer,
        }
    }

    /// Walks `hops` (left to right as sent) from the right: the first hop that is not a
    /// trusted proxy. A hop that cannot be read (`unknown`, an obfuscated name) ends the
    /// walk at the trusted proxy that wrote it; when every hop is trusted, the left-most.
    fn nearest_untrusted(&self, peer: IpAddr, hops: &[Option<IpAddr>]) -> IpAddr {
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The `for=` nodes of every `Forwarded` header, left to right; `None` when there is no
/// such header. A node that is not an address (`unknown`, `_hidden`, garbage) is `None`.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut present = false;
    for value in headers.get_all("forwarded") {
        present = true;
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in split_outside_quotes(text, ',') {
            let node = split_outside_quotes(element, ';')
                .into_iter()
                .find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| value.trim().trim_matches('"'))
                });
            hops.push(node.and_then(parse_node));
        }
    }
    present.then_some(hops)
}

/// The hops of every `X-Forwarded-For` header, left to right; `None` when there is no
/// such header.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut present = false;
    for value in headers.get_all("x-forwarded-for") {
        present = true;
        match value.to_str() {
            Ok(text) => hops.extend(text.split(',').map(|hop| parse_node(hop.trim()))),
            Err(_) => hops.push(None),
        }
    }
    present.then_some(hops)
}

/// `text` split at `separator`, except inside double quotes (RFC 7239's quoted strings,
/// which a `[v6]:port` node needs).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// An address as proxies write it: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let ip = node
        .parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(ip.to_canonical())
}

/// Puts the request's [`ClientAddr`] in its extensions (nothing when the peer has no IP
/// address), for every layer inside this one.
pub(crate) async fn resolve<E: Endpoint>(
    proxies: std::sync::Arc<TrustedProxies>,
    next: E,
    mut request: Request,
) -> poem::Result<Response> {
    if let Some(peer) = request.remote_addr().as_socket_addr().map(SocketAddr::ip) {
        let client = proxies.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    crate::call_boxed(&next, request)
        .await
        .map(poem::IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            networks
                .iter()
                .map(|n| n.parse().expect("a network"))
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("a value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let sent = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &sent),
            ip("198.51.100.1")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &sent),
            ip("10.0.0.1"),
            "no proxy is trusted unless configured"
        );
    }

    #[test]
    fn through_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.7/32"]);
        // The client forged the first hop; the proxies appended the rest.
        let sent = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 192.168.1.7")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &sent), ip("203.0.113.9"));
        let sent = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::17]:4711\";proto=https, for=192.168.1.7;by=10.0.0.2",
        )]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &sent), ip("2001:db8::17"));
        // Several header lines are one list, in order.
        let sent = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "192.168.1.7:5555"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &sent), ip("203.0.113.9"));
    }

    #[test]
    fn what_cannot_be_read_stops_at_the_proxy_that_wrote_it() {
        let trusted = proxies(&["10.0.0.0/8"]);
        for (sent, client) in [
            (headers(&[("forwarded", "for=unknown")]), "10.0.0.2"),
            (
                headers(&[("forwarded", "for=203.0.113.9, for=_hidden, for=10.0.0.5")]),
                "10.0.0.5",
            ),
            (
                headers(&[("x-forwarded-for", "203.0.113.9, not-an-address, 10.0.0.5")]),
                "10.0.0.5",
            ),
        ] {
            assert_eq!(
                trusted.client(ip("10.0.0.2"), &sent),
                ip(client),
                "{sent:?}"
            );
        }
        // Every hop trusted: the left-most; no header: the peer.
        let sent = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &sent), ip("10.0.0.9"));
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn two_headers_that_disagree_leave_the_proxy_as_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let disagree = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=198.51.100.4"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &disagree), ip("10.0.0.2"));
        let agree = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9:80"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &agree), ip("203.0.113.9"));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let sent = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(
            trusted.client(ip("::ffff:10.0.0.2"), &sent),
            ip("203.0.113.9")
        );
    }
}
