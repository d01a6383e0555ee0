//! Which network addresses the origin may call on a tenant's behalf: none of its own machine,
//! its private networks or the cloud metadata service, whatever form the address takes, unless
//! the operator allowed it by name ([`AllowList`], for local fakes). Pure: the platform clients
//! ask this when a URL is set and again for every address a host name resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address may not be called, as a stable phrase (`None`: a public address).
/// IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms are judged by the IPv4 inside.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

/// An address the origin may call: public, or in the operator's allow-list.
pub fn may_call(ip: IpAddr, allow: &AllowList) -> Result<(), &'static str> {
    match forbidden_range(ip) {
        Some(reason) if !allow.contains(ip) => Err(reason),
        _ => Ok(()),
    }
}

const V4_RANGES: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private network"),
    ([100, 64, 0, 0], 10, "shared address space (CGNAT)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private network"),
    ([192, 0, 0, 0], 24, "reserved"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "reserved"),
    ([192, 168, 0, 0], 16, "private network"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([255, 255, 255, 255], 32, "broadcast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

const V6_RANGES: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0x0100_0000_0000_0000 << 64, 64, "reserved"),
    (0x2001_0000 << 96, 32, "reserved"),
    (0x2001_0db8 << 96, 32, "documentation"),
    (0xfc00 << 112, 7, "unique-local"),
    (0xfe80 << 112, 10, "link-local"),
    (0xfec0 << 112, 10, "site-local"),
    (0xff00 << 112, 8, "multicast"),
];

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(net, len, _)| in_v4(bits, u32::from_be_bytes(*net), *len))
        .map(|(_, _, reason)| *reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    V6_RANGES
        .iter()
        .find(|(net, len, _)| in_v6(bits, *net, *len))
        .map(|(_, _, reason)| *reason)
}

/// The IPv4 address an IPv6 one stands for, if it is one of the forms that reach it:
/// mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`), 6to4
/// (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    if in_v6(bits, 0xffff << 32, 96) || in_v6(bits, 0x0064_ff9b << 96, 96) {
        return Some(low);
    }
    // `::` and `::1` are themselves; everything else in ::/96 is the deprecated compatible form.
    if in_v6(bits, 0, 96) && bits > 1 {
        return Some(low);
    }
    if in_v6(bits, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn in_v4(bits: u32, net: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    bits & mask == net & mask
}

fn in_v6(bits: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    bits & mask == net & mask
}

/// Address ranges the operator lets platform calls reach although [`forbidden_range`] refuses
/// them (local runs and tests with their fakes on loopback). Empty unless configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    ranges: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Reads entries like `127.0.0.1`, `10.1.0.0/16` or `::1/128`; names the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, String> {
        let mut ranges = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()) {
            if entry.is_empty() {
                continue;
            }
            let bad = || {
                format!(
                    "{entry:?} is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
                )
            };
            let (address, len) = match entry.split_once('/') {
                Some((address, len)) => (address, Some(len)),
                None => (entry, None),
            };
            let address: IpAddr = address.parse().map_err(|_| bad())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(len) => len
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(bad)?,
                None => max,
            };
            ranges.push((canonical(address), len));
        }
        Ok(AllowList { ranges })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` (an IPv4-mapped address as its IPv4) lies in one of the ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.ranges.iter().any(|(net, len)| match (ip, net) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => in_v4(u32::from(ip), u32::from(*net), *len),
            (IpAddr::V6(ip), IpAddr::V6(net)) => in_v6(u128::from(ip), u128::from(*net), *len),
            _ => false,
        })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(address: &str) -> Option<&'static str> {
        forbidden_range(address.parse().unwrap())
    }

    #[test]
    fn every_private_ipv4_range_is_refused() {
        for (address, expected) in [
            ("0.0.0.0", "unspecified"),
            ("10.0.0.1", "private network"),
            ("10.255.255.255", "private network"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.254", "shared address space (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "private network"),
            ("172.31.255.255", "private network"),
            ("192.0.0.8", "reserved"),
            ("192.0.2.10", "documentation"),
            ("192.168.1.1", "private network"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            assert_eq!(reason(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn public_ipv4_addresses_pass_including_the_edges_of_private_ranges() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(reason(address), None, "{address}");
        }
    }

    #[test]
    fn every_private_ipv6_range_is_refused() {
        for (address, expected) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique-local"),
            ("fd12:3456:789a::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("100::1", "reserved"),
            ("2001::1", "reserved"),
        ] {
            assert_eq!(reason(address), Some(expected), "{address}");
        }
        assert_eq!(reason("2606:4700:4700::1111"), None);
        assert_eq!(reason("2a00:1450:4001::200e"), None);
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_it() {
        for (address, expected) in [
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:7f00:1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:10.0.0.1", Some("private network")),
            ("::127.0.0.1", Some("loopback")),
            ("::10.0.0.1", Some("private network")),
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:c0a8:101::1", Some("private network")),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
            ("2002:808:808::", None),
        ] {
            assert_eq!(reason(address), expected, "{address}");
        }
    }

    #[test]
    fn the_allow_list_admits_only_what_it_names() {
        let allow = AllowList::parse(&["127.0.0.1", " 10.1.0.0/16 ", "::1", ""]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(may_call(ip("127.0.0.1"), &allow), Ok(()));
        assert_eq!(may_call(ip("::ffff:127.0.0.1"), &allow), Ok(()));
        assert_eq!(may_call(ip("::1"), &allow), Ok(()));
        assert_eq!(may_call(ip("10.1.200.3"), &allow), Ok(()));
        assert_eq!(may_call(ip("127.0.0.2"), &allow), Err("loopback"));
        assert_eq!(may_call(ip("10.2.0.1"), &allow), Err("private network"));
        assert_eq!(may_call(ip("169.254.169.254"), &allow), Err("link-local"));
        assert_eq!(may_call(ip("8.8.8.8"), &AllowList::default()), Ok(()));
        assert_eq!(
            may_call(ip("127.0.0.1"), &AllowList::default()),
            Err("loopback")
        );
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        for entry in [
            "localhost",
            "127.0.0.1/33",
            "::1/129",
            "10.0.0.0/x",
            "1.2.3",
        ] {
            let error = AllowList::parse(&[entry]).unwrap_err();
            assert!(error.contains(entry), "{error}");
        }
        assert!(AllowList::parse::<&str>(&[]).unwrap().is_empty());
    }
}
