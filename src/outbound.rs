//! Where the server's own requests may go. A production (https) server
//! POSTs back-channel logout tokens only to public addresses: a relying
//! party's URI naming 169.254.169.254, 10.0.0.5 or a name that resolves to
//! 127.0.0.1 would otherwise make it send requests to internal services
//! (server-side request forgery). Registration refuses what it can tell
//! without DNS (`may_be_public`); delivery checks the addresses it connects
//! to (`PublicResolver`, and `is_public` for IP literals).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

/// Whether `ip` is a unicast address of the public internet: not private,
/// loopback, link-local, shared (CGNAT), documentation, benchmarking,
/// multicast or otherwise reserved (the IANA special-purpose registries,
/// RFC 6890). An IPv4 address carried in IPv6 is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0 included (RFC 791)
        || ip.is_private() // 10/8, 172.16/12, 192.168/16 (RFC 1918)
        || (a == 100 && b & 0xc0 == 64) // 100.64/10, shared address space, CGNAT (RFC 6598)
        || ip.is_loopback() // 127/8
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24, IETF protocol assignments (RFC 6890)
        || ip.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24 (RFC 5737)
        || (a == 198 && b & 0xfe == 18) // 198.18/15, benchmarking (RFC 2544)
        || a >= 224) // multicast 224/4, reserved 240/4, broadcast
}

/// Only global unicast (2000::/3) is public, less its documentation and
/// protocol blocks; the IPv6 forms of an IPv4 address are judged as IPv4.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:0:0/96
        return is_public_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64, 64:ff9b::/96 (RFC 6052)
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4, 2002::/16 (RFC 3056)
        return is_public_v4(embedded(s[1], s[2]));
    }
    s[0] & 0xe000 == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23, IETF protocol assignments (Teredo, ORCHID…)
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32, documentation (RFC 3849)
        && !(s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20, documentation (RFC 9637)
}

/// Whether a URI's host may be public, as far as can be told without DNS:
/// an IP literal is judged; `localhost` and its subdomains are loopback
/// whatever DNS says (RFC 6761 §6.3); other names are judged when they are
/// resolved, at delivery.
pub fn may_be_public<S: AsRef<str>>(host: &url::Host<S>) -> bool {
    match host {
        url::Host::Ipv4(ip) => is_public_v4(*ip),
        url::Host::Ipv6(ip) => is_public_v6(*ip),
        url::Host::Domain(name) => {
            let name = name.as_ref().trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

/// A target refused: `host` is, or resolves to, `address`, not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPublic {
    pub host: String,
    pub address: IpAddr,
}

impl fmt::Display for NotPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}, not a public address", self.host, self.address)
    }
}

impl Error for NotPublic {}

impl NotPublic {
    /// The refusal among an error's causes, if it is one: hyper-util wraps
    /// a resolver's error in its own.
    pub fn among_causes<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a NotPublic> {
        let mut next = Some(e);
        while let Some(cause) = next {
            if let Some(refused) = cause.downcast_ref::<NotPublic>() {
                return Some(refused);
            }
            next = cause.source();
        }
        None
    }
}

/// hyper-util's getaddrinfo resolver that, when `public_only`, refuses a
/// name any of whose addresses is not public. The connector connects only
/// to the addresses it returns, so what is checked is what is connected to
/// (no second lookup for a rebinding name to answer differently). IP
/// literals never reach a resolver: check them with `is_public`.
#[derive(Clone)]
pub struct PublicResolver {
    public_only: bool,
    gai: GaiResolver,
}

impl PublicResolver {
    pub fn new(public_only: bool) -> Self {
        Self { public_only, gai: GaiResolver::new() }
    }
}

type BoxError = Box<dyn Error + Send + Sync>;

impl Service<Name> for PublicResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.gai.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let public_only = self.public_only;
        let lookup = self.gai.call(name.clone());
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = lookup.await?.collect();
            if let Some(refused) = addresses.iter().find(|a| public_only && !is_public(a.ip())) {
                return Err(NotPublic { host: name.to_string(), address: refused.ip() }.into());
            }
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn localhost_names_and_internal_literals_cannot_be_public_other_names_may() {
        let host = |uri: &str| url::Url::parse(uri).unwrap().host().unwrap().to_owned();
        for refused in [
            "https://localhost/",
            "https://LOCALHOST./",
            "https://app.localhost/",
            "https://127.0.0.1/",
            "https://0x7f.1/",
            "https://[::ffff:7f00:1]/",
            "https://[fd00::1]/",
            "https://169.254.169.254/",
        ] {
            assert!(!may_be_public(&host(refused)), "{refused}");
        }
        for allowed in ["https://rp.example/", "https://localhost.example/", "https://93.184.215.14/"] {
            assert!(may_be_public(&host(allowed)), "{allowed}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_for_a_loopback_address_only_when_public_only() {
        let name: Name = "localhost".parse().unwrap();
        let refused = PublicResolver::new(true).call(name.clone()).await.unwrap_err();
        let refused = NotPublic::among_causes(refused.as_ref()).expect("a NotPublic");
        assert_eq!(refused.host, "localhost");
        assert!(refused.address.is_loopback(), "{refused}");
        let found: Vec<SocketAddr> = PublicResolver::new(false).call(name).await.unwrap().collect();
        assert!(found.iter().any(|a| a.ip().is_loopback()), "{found:?}");
    }
}
