//! The client's IP address, when the server runs behind proxies of the
//! operator's (`trusted_proxies`).
//!
//! Each proxy appends the address it received the request from to
//! `X-Forwarded-For` (or `Forwarded`, RFC 7239 §5.2), so only the rightmost
//! entries were written by proxies we trust; anything to their left may be
//! whatever the client sent. The client is therefore the rightmost entry
//! that is not a trusted proxy, read from the right and never further.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, HeaderName};

use crate::config::{ForwardedHeader, TrustedProxies};

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then the rightmost hop of the configured header that is not one. If
/// every hop is trusted, the leftmost; if the walk meets an entry it cannot
/// read (or the header is missing), the peer's.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let name = match header {
        ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
        ForwardedHeader::Forwarded => HeaderName::from_static("forwarded"),
    };
    // Repeated header lines are one comma-separated list (RFC 9110 §5.3).
    // Read lossily and split on every comma: what the client wrote (bad
    // bytes, an unbalanced quote) stays in its own elements on the left and
    // can never swallow or spoil the hops our proxies appended to the right.
    let lines: Vec<String> =
        headers.get_all(&name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    if lines.is_empty() {
        return Some(peer);
    }
    let joined = lines.join(",");
    let mut leftmost = None;
    for element in joined.split(',').rev() {
        let hop = match header {
            ForwardedHeader::XForwardedFor => parse_node(element),
            ForwardedHeader::Forwarded => forwarded_for(element),
        };
        let Some(hop) = hop.map(|ip| ip.to_canonical()) else {
            return Some(peer);
        };
        if !trusted.contains(hop) {
            return Some(hop);
        }
        leftmost = Some(hop);
    }
    Some(leftmost.unwrap_or(peer))
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, ';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            found = Some(unquote(value.trim())?);
        }
    }
    parse_node(&found?)
}

/// A token or an RFC 9110 quoted-string.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:80`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`. `unknown` and
/// obfuscated identifiers (RFC 7239 §6) are not addresses.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Splits on `sep` outside double quotes (a quoted value may hold either).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::try_from(nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HeaderName::from_static(name), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "2001:db8:f::/48", "192.0.2.7"];

    fn xff(peer: &str, values: &[&str]) -> Option<IpAddr> {
        resolve(ip(peer), &headers("x-forwarded-for", values), &trusted(PROXIES), ForwardedHeader::XForwardedFor)
    }

    fn fwd(peer: &str, values: &[&str]) -> Option<IpAddr> {
        resolve(ip(peer), &headers("forwarded", values), &trusted(PROXIES), ForwardedHeader::Forwarded)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        assert_eq!(xff("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        assert_eq!(fwd("203.0.113.9", &["for=198.51.100.1"]), ip("203.0.113.9"));
        let none = resolve(
            ip("10.0.0.1"),
            &headers("x-forwarded-for", &["198.51.100.1"]),
            &TrustedProxies::default(),
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(none, ip("10.0.0.1"), "no trusted proxies: the peer");
        assert_eq!(resolve(None, &HeaderMap::new(), &trusted(PROXIES), ForwardedHeader::Forwarded), None);
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right_past_trusted_hops() {
        // The client forged the leftmost entry; our proxy appended the truth.
        assert_eq!(xff("10.0.0.1", &["1.1.1.1, 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(xff("10.0.0.1", &["1.1.1.1, 203.0.113.9, 10.2.3.4, 192.0.2.7"]), ip("203.0.113.9"));
        // Several header lines are one list, in order.
        assert_eq!(xff("10.0.0.1", &["1.1.1.1", "203.0.113.9, 10.9.9.9"]), ip("203.0.113.9"));
        // Every hop trusted: the leftmost.
        assert_eq!(xff("10.0.0.1", &["10.1.1.1, 10.2.2.2"]), ip("10.1.1.1"));
        // Ports and IPv6, bracketed or not.
        assert_eq!(xff("10.0.0.1", &["203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(xff("10.0.0.1", &["[2001:db8::17]:4711"]), ip("2001:db8::17"));
        assert_eq!(xff("2001:db8:f::1", &["2001:db8::17, 2001:db8:f::2"]), ip("2001:db8::17"));
        // An IPv4 peer seen as IPv4-mapped IPv6 is still the trusted proxy.
        assert_eq!(xff("::ffff:10.0.0.1", &["203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn malformed_or_missing_x_forwarded_for_falls_back_to_the_peer() {
        assert_eq!(xff("10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(xff("10.0.0.1", &["not-an-ip"]), ip("10.0.0.1"));
        assert_eq!(xff("10.0.0.1", &["203.0.113.9, "]), ip("10.0.0.1"));
        assert_eq!(xff("10.0.0.1", &["unknown, 10.2.2.2"]), ip("10.0.0.1"));
        // Garbage left of the client is never read, so it cannot move the client to the proxy:
        // not an unbalanced quote, not bytes that are no text.
        assert_eq!(xff("10.0.0.1", &["garbage, 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(xff("10.0.0.1", &["\", 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(fwd("10.0.0.1", &["for=\", for=203.0.113.9"]), ip("203.0.113.9"));
        let mut raw = HeaderMap::new();
        let name = HeaderName::from_static("x-forwarded-for");
        raw.append(name.clone(), actix_web::http::header::HeaderValue::from_bytes(b"\xff").unwrap());
        raw.append(name, actix_web::http::header::HeaderValue::from_static("203.0.113.9"));
        let client = resolve(ip("10.0.0.1"), &raw, &trusted(PROXIES), ForwardedHeader::XForwardedFor);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_is_read_like_x_forwarded_for() {
        assert_eq!(fwd("10.0.0.1", &["for=1.1.1.1, for=203.0.113.9;proto=https"]), ip("203.0.113.9"));
        assert_eq!(fwd("10.0.0.1", &[r#"for="[2001:db8:cafe::17]:4711""#]), ip("2001:db8:cafe::17"));
        assert_eq!(fwd("10.0.0.1", &[r#"For="203.0.113.9:80";by=10.0.0.1, for=10.3.3.3"#]), ip("203.0.113.9"));
        assert_eq!(fwd("10.0.0.1", &["for=1.1.1.1", "for=203.0.113.9"]), ip("203.0.113.9"));
        // A quoted semicolon does not split a pair; a comma always splits
        // elements (a quoted comma in an extension reads as malformed: the peer).
        assert_eq!(fwd("10.0.0.1", &[r#"for=203.0.113.9;ext="a;c""#]), ip("203.0.113.9"));
        assert_eq!(fwd("10.0.0.1", &[r#"for=203.0.113.9;ext="a,b""#]), ip("10.0.0.1"));
        assert_eq!(fwd("10.0.0.1", &["for=10.1.1.1, for=10.2.2.2"]), ip("10.1.1.1"));
    }

    #[test]
    fn malformed_forwarded_falls_back_to_the_peer() {
        for value in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.9;for=198.51.100.1",
            r#"for="203.0.113.9"#,
            "for",
            "for=[2001:db8::1",
        ] {
            assert_eq!(fwd("10.0.0.1", &[value]), ip("10.0.0.1"), "{value}");
        }
        assert_eq!(fwd("10.0.0.1", &["for=unknown, for=203.0.113.9"]), ip("203.0.113.9"));
    }
}
