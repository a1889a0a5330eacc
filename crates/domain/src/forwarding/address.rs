//! Where a destination may point. A forwarding service that posts to any URL it is
//! given is a server-side request forgery waiting to happen: an API key with the
//! `admin` scope could make Lead Inbox post leads to the cloud's metadata service, an
//! admin console on the loopback, or a database on the private network. So a
//! destination is `https`, and its host is never such an address: checked here when
//! the destination is saved (for addresses written in the URL) and again by the
//! transport for every address a name resolves to, when it connects (so a name that
//! later resolves elsewhere, DNS rebinding, gains nothing).
//! `LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1` lifts both rules, for tests and for CRMs on the
//! same network.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// Why an address may not be a destination's. [`ForbiddenAddress::rule`] is the
/// stable code that a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenAddress {
    /// A cloud provider's instance metadata service (credentials live there).
    CloudMetadata,
    /// This machine: `127.0.0.0/8`, `::1`, `localhost`.
    Loopback,
    /// A private network: `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`.
    Private,
    /// The carrier-grade NAT range `100.64/10`, private in practice.
    SharedAddressSpace,
    /// Link-local: `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8`, `::`: "this host" to most stacks.
    Unspecified,
    /// Multicast and broadcast: not one host.
    Multicast,
    /// Reserved and documentation ranges, never a real destination.
    Reserved,
}

impl ForbiddenAddress {
    /// The rule's stable code, for refusals and logs.
    pub fn rule(self) -> &'static str {
        match self {
            ForbiddenAddress::CloudMetadata => "cloud_metadata_address",
            ForbiddenAddress::Loopback => "loopback_address",
            ForbiddenAddress::Private => "private_address",
            ForbiddenAddress::SharedAddressSpace => "shared_address_space",
            ForbiddenAddress::LinkLocal => "link_local_address",
            ForbiddenAddress::Unspecified => "unspecified_address",
            ForbiddenAddress::Multicast => "multicast_address",
            ForbiddenAddress::Reserved => "reserved_address",
        }
    }
}

impl fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rule())
    }
}

/// Which rule forbids `ip` as a destination's address, if any. IPv6 addresses that
/// carry an IPv4 one (mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
/// are judged by the IPv4 address they reach.
pub fn forbidden_address(ip: IpAddr) -> Option<ForbiddenAddress> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<ForbiddenAddress> {
    let [a, b, c, d] = ip.octets();
    Some(
        if matches!(
            (a, b, c, d),
            (169, 254, 169, 254) | (169, 254, 170, 2) | (100, 100, 100, 200)
        ) {
            ForbiddenAddress::CloudMetadata
        } else if ip.is_loopback() {
            ForbiddenAddress::Loopback
        } else if ip.is_private() {
            ForbiddenAddress::Private
        } else if a == 100 && (64..128).contains(&b) {
            ForbiddenAddress::SharedAddressSpace
        } else if ip.is_link_local() {
            ForbiddenAddress::LinkLocal
        } else if a == 0 {
            ForbiddenAddress::Unspecified
        } else if ip.is_multicast() || ip.is_broadcast() {
            ForbiddenAddress::Multicast
        } else if a >= 240 || ip.is_documentation() || (a == 192 && b == 0 && c == 0) {
            ForbiddenAddress::Reserved
        } else {
            return None;
        },
    )
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<ForbiddenAddress> {
    const AWS_METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let first = ip.segments()[0];
    Some(if ip == AWS_METADATA {
        ForbiddenAddress::CloudMetadata
    } else if ip.is_loopback() {
        ForbiddenAddress::Loopback
    } else if ip.is_unique_local() {
        ForbiddenAddress::Private
    } else if ip.is_unicast_link_local() {
        ForbiddenAddress::LinkLocal
    } else if ip.is_unspecified() {
        ForbiddenAddress::Unspecified
    } else if ip.is_multicast() {
        ForbiddenAddress::Multicast
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 || first & 0xffc0 == 0xfec0 {
        // 2001:db8::/32 is documentation; fec0::/10 the deprecated site-local range.
        ForbiddenAddress::Reserved
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 one stands for, where it carries one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// A webhook destination's URL, checked: `https` (or `http` where private addresses
/// are allowed), a host, no credentials, and no forbidden address written in it. A
/// host given by name is checked again, address by address, when connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationUrl(url::Url);

/// Why a destination URL was refused. [`DestinationUrlError::rule`] is the stable code
/// a `400` names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationUrlError {
    #[error("not a URL ({0}); write it in full, for example `https://crm.example.com/hooks/leads`")]
    Invalid(String),
    #[error(
        "a destination must use https (`{0}://` was given); set LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1 to allow http on a private network"
    )]
    HttpsRequired(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL holds credentials; a destination authenticates requests by their signature")]
    Credentials,
    #[error(
        "the host is a {0} address, which a destination may not use; set LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1 to allow it"
    )]
    Forbidden(ForbiddenAddress),
}

impl DestinationUrlError {
    pub fn rule(&self) -> &'static str {
        match self {
            DestinationUrlError::Invalid(_) => "invalid_url",
            DestinationUrlError::HttpsRequired(_) => "https_required",
            DestinationUrlError::NoHost => "invalid_url",
            DestinationUrlError::Credentials => "credentials_in_url",
            DestinationUrlError::Forbidden(reason) => reason.rule(),
        }
    }
}

impl DestinationUrl {
    /// Checks `text`. With `allow_private`, `http` and every address are accepted (the
    /// other rules still hold). A fragment is dropped: it is never sent.
    pub fn parse(text: &str, allow_private: bool) -> Result<DestinationUrl, DestinationUrlError> {
        let mut url = url::Url::parse(text.trim())
            .map_err(|error| DestinationUrlError::Invalid(error.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            other => return Err(DestinationUrlError::HttpsRequired(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationUrlError::Credentials);
        }
        let forbidden = match url.host().ok_or(DestinationUrlError::NoHost)? {
            url::Host::Ipv4(ip) => forbidden_address(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => forbidden_address(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost"))
                    .then_some(ForbiddenAddress::Loopback)
            }
        };
        if let Some(reason) = forbidden.filter(|_| !allow_private) {
            return Err(DestinationUrlError::Forbidden(reason));
        }
        url.set_fragment(None);
        Ok(DestinationUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as written (a name, or an address).
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// The port, or the scheme's default.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

impl fmt::Display for DestinationUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `url` with the credentials it may carry (a NATS URL's `user:password@` or
/// `token@`) replaced by `***`, so that no view or terminal shows them.
pub fn redact_destination_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &url[scheme_end + at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rule(ip: &str) -> Option<&'static str> {
        forbidden_address(ip.parse().expect("an address")).map(ForbiddenAddress::rule)
    }

    #[test]
    fn every_forbidden_range_is_named() {
        let cases = [
            ("169.254.169.254", "cloud_metadata_address"),
            ("169.254.170.2", "cloud_metadata_address"),
            ("100.100.100.200", "cloud_metadata_address"),
            ("fd00:ec2::254", "cloud_metadata_address"),
            ("127.0.0.1", "loopback_address"),
            ("127.255.255.254", "loopback_address"),
            ("::1", "loopback_address"),
            ("10.0.0.1", "private_address"),
            ("172.16.0.1", "private_address"),
            ("172.31.255.255", "private_address"),
            ("192.168.1.1", "private_address"),
            ("fc00::1", "private_address"),
            ("fd12:3456::1", "private_address"),
            ("100.64.0.1", "shared_address_space"),
            ("100.127.255.255", "shared_address_space"),
            ("169.254.0.1", "link_local_address"),
            ("fe80::1", "link_local_address"),
            ("0.0.0.0", "unspecified_address"),
            ("0.1.2.3", "unspecified_address"),
            ("::", "unspecified_address"),
            ("224.0.0.1", "multicast_address"),
            ("255.255.255.255", "multicast_address"),
            ("ff02::1", "multicast_address"),
            ("240.0.0.1", "reserved_address"),
            ("192.0.2.10", "reserved_address"),
            ("192.0.0.8", "reserved_address"),
            ("2001:db8::1", "reserved_address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(rule(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_it() {
        assert_eq!(rule("::ffff:127.0.0.1"), Some("loopback_address"));
        assert_eq!(
            rule("::ffff:169.254.169.254"),
            Some("cloud_metadata_address")
        );
        assert_eq!(rule("64:ff9b::10.0.0.1"), Some("private_address"));
        assert_eq!(rule("2002:7f00:1::"), Some("loopback_address"));
        assert_eq!(rule("::ffff:8.8.8.8"), None);
        assert_eq!(rule("2002:0808:0808::"), None);
    }

    #[test]
    fn a_public_https_url_is_accepted_without_its_fragment() {
        let url = DestinationUrl::parse("https://crm.example.com:8443/hooks/leads?x=1#top", false)
            .expect("valid");
        assert_eq!(url.as_str(), "https://crm.example.com:8443/hooks/leads?x=1");
        assert_eq!(url.host(), "crm.example.com");
        assert_eq!(url.port(), 8443);
        assert_eq!(
            DestinationUrl::parse("https://1.1.1.1/x", false)
                .expect("valid")
                .port(),
            443
        );
    }

    #[test]
    fn refusals_name_their_rule() {
        let refused = |text: &str| DestinationUrl::parse(text, false).unwrap_err().rule();
        assert_eq!(refused("http://crm.example.com/x"), "https_required");
        assert_eq!(refused("ftp://crm.example.com/x"), "https_required");
        assert_eq!(refused("crm.example.com/x"), "invalid_url");
        assert_eq!(
            refused("https://user:pw@crm.example.com/"),
            "credentials_in_url"
        );
        assert_eq!(refused("https://127.0.0.1/"), "loopback_address");
        assert_eq!(refused("https://[::1]:8080/"), "loopback_address");
        assert_eq!(refused("https://localhost/"), "loopback_address");
        assert_eq!(refused("https://api.localhost./"), "loopback_address");
        assert_eq!(
            refused("https://169.254.169.254/latest/"),
            "cloud_metadata_address"
        );
        assert_eq!(refused("https://10.1.2.3/"), "private_address");
        assert_eq!(refused("https://[::ffff:10.1.2.3]/"), "private_address");
        // The URL parser reads the other spellings of an IPv4 address as that address.
        assert_eq!(refused("https://2130706433/"), "loopback_address");
        assert_eq!(refused("https://0x7f.1/"), "loopback_address");
        let message = DestinationUrl::parse("http://crm.example.com/x", false)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1"),
            "{message}"
        );
    }

    #[test]
    fn allowing_private_addresses_lifts_only_the_address_rules() {
        let url = DestinationUrl::parse("http://127.0.0.1:9000/hook", true).expect("allowed");
        assert_eq!(url.port(), 9000);
        assert!(DestinationUrl::parse("https://10.0.0.1/", true).is_ok());
        assert_eq!(
            DestinationUrl::parse("ftp://127.0.0.1/", true)
                .unwrap_err()
                .rule(),
            "https_required"
        );
        assert_eq!(
            DestinationUrl::parse("http://a:b@127.0.0.1/", true)
                .unwrap_err()
                .rule(),
            "credentials_in_url"
        );
    }

    proptest! {
        #[test]
        fn every_mapped_address_is_judged_as_its_ipv4_address(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(
                forbidden_address(IpAddr::V6(v4.to_ipv6_mapped())),
                forbidden_address(IpAddr::V4(v4))
            );
        }

        #[test]
        fn a_url_with_a_forbidden_literal_address_is_refused(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let parsed = DestinationUrl::parse(&format!("https://{v4}/hook"), false);
            match forbidden_address(IpAddr::V4(v4)) {
                Some(reason) => prop_assert_eq!(parsed, Err(DestinationUrlError::Forbidden(reason))),
                None => prop_assert!(parsed.is_ok()),
            }
        }
    }

    #[test]
    fn credentials_in_a_url_are_redacted_and_nothing_else() {
        assert_eq!(
            redact_destination_url("nats://user:pass@nats.example:4222/x?y@z"),
            "nats://***@nats.example:4222/x?y@z"
        );
        assert_eq!(
            redact_destination_url("nats://s3cr3t@nats.example"),
            "nats://***@nats.example"
        );
        assert_eq!(
            redact_destination_url("https://crm.example/hooks?to=a@b"),
            "https://crm.example/hooks?to=a@b"
        );
        assert_eq!(redact_destination_url("not a url"), "not a url");
    }
}
