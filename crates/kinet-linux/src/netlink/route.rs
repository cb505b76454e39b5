//! IPv4 routes in the main table: the [`Route`] value and [`Netlink`]'s
//! route requests (`ip route replace/del/show`).

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, check_ifname};
use crate::error::{Error, Result};

/// An IPv4 route in the main table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination network (host bits must be zero).
    pub dst: Ipv4Addr,
    /// Prefix length; `0.0.0.0/0` is the default route.
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    /// Output device name.
    pub dev: Option<String>,
    /// RTNH_F_ONLINK: the gateway is reachable on `dev` even without a matching subnet.
    pub onlink: bool,
    /// Preferred source address.
    pub src: Option<Ipv4Addr>,
    /// Scope link (a directly connected route, like `ip route add 10.1.1.5 dev cali…`).
    pub scope_link: bool,
}

impl Route {
    /// A route to `dst/prefix` with nothing else set.
    pub fn new(dst: Ipv4Addr, prefix: u8) -> Route {
        Route {
            dst,
            prefix,
            gateway: None,
            dev: None,
            onlink: false,
            src: None,
            scope_link: false,
        }
    }
    /// `default via gw`.
    pub fn default_via(gw: Ipv4Addr) -> Route {
        Route::new(Ipv4Addr::UNSPECIFIED, 0).via(gw)
    }
    pub fn via(mut self, gw: Ipv4Addr) -> Route {
        self.gateway = Some(gw);
        self
    }
    pub fn dev(mut self, dev: &str) -> Route {
        self.dev = Some(dev.to_string());
        self
    }
    pub fn onlink(mut self) -> Route {
        self.onlink = true;
        self
    }
    pub fn src(mut self, src: Ipv4Addr) -> Route {
        self.src = Some(src);
        self
    }
    pub fn scope_link(mut self) -> Route {
        self.scope_link = true;
        self
    }
}

impl std::fmt::Display for Route {
    /// Formats like `ip route`: `10.1.1.5 dev cali1 scope link`, `default via 169.254.1.1 dev eth0 onlink`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == 0 {
            write!(f, "default")?;
        } else if self.prefix == 32 {
            write!(f, "{}", self.dst)?;
        } else {
            write!(f, "{}/{}", self.dst, self.prefix)?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.scope_link {
            write!(f, " scope link")?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        Ok(())
    }
}

impl Netlink {
    fn route_msg(&mut self, r: &Route, delete: bool) -> Result<RouteMessage> {
        self.route_msg_proto(r, delete, None)
    }

    fn route_msg_proto(
        &mut self,
        r: &Route,
        delete: bool,
        proto: Option<u8>,
    ) -> Result<RouteMessage> {
        if r.prefix > 32 {
            return Err(Error::Invalid(format!(
                "route prefix /{} too long",
                r.prefix
            )));
        }
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = r.prefix;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        // Like iproute2, a delete matches any protocol, scope and type unless given.
        let (protocol, scope, kind) = if delete {
            (
                RouteProtocol::Unspec,
                RouteScope::NoWhere,
                RouteType::Unspec,
            )
        } else {
            (
                RouteProtocol::Static,
                RouteScope::Universe,
                RouteType::Unicast,
            )
        };
        m.header.protocol = proto.map(RouteProtocol::from).unwrap_or(protocol);
        m.header.scope = if r.scope_link {
            RouteScope::Link
        } else {
            scope
        };
        m.header.kind = kind;
        if r.onlink {
            m.header.flags = RouteFlags::Onlink;
        }
        if r.prefix > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(r.dst)));
        }
        if let Some(gw) = r.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        }
        if let Some(dev) = &r.dev {
            check_ifname(dev)?;
            let idx = self.require_index(dev)?;
            m.attributes.push(RouteAttribute::Oif(idx));
        }
        if let Some(src) = r.src {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
        }
        Ok(m)
    }

    /// `ip route replace …` in the main table (NLM_F_CREATE|NLM_F_REPLACE): idempotent.
    pub fn route_replace(&mut self, r: &Route) -> Result<()> {
        let m = self.route_msg(r, false)?;
        self.ack(
            &format!("route_replace {r}"),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip route replace … proto PROTO` (e.g. 12, `bird`, as Calico's BIRD writes its routes):
    /// like [`Netlink::route_replace`] with the route's protocol set, so its owner finds it again.
    pub fn route_replace_with_protocol(&mut self, r: &Route, proto: u8) -> Result<()> {
        let m = self.route_msg_proto(r, false, Some(proto))?;
        self.ack(
            &format!("route_replace {r} proto {proto}"),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip route del …` in the main table. Returns false if no such route existed.
    pub fn route_del(&mut self, r: &Route) -> Result<bool> {
        let m = match self.route_msg(r, true) {
            Ok(m) => m,
            // The device is gone, and with it every route through it.
            Err(e) if r.dev.is_some() && e.errno() == Some(libc::ENODEV) => return Ok(false),
            Err(e) => return Err(e),
        };
        match self.ack(
            &format!("route_del {r}"),
            RouteNetlinkMessage::DelRoute(m),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// IPv4 unicast routes of the main table (including the kernel's connected routes).
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        Ok(self
            .routes_with_protocol()?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// Like [`Netlink::routes`], each with its protocol (`proto` of `ip route`: 2 kernel,
    /// 3 boot, 4 static, 12 bird).
    pub fn routes_with_protocol(&mut self) -> Result<Vec<(Route, u8)>> {
        let names: std::collections::HashMap<u32, String> = self
            .links()?
            .into_iter()
            .map(|l| (l.index, l.name))
            .collect();
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let replies = self.request("routes", RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewRoute(m) = r else {
                continue;
            };
            if m.header.address_family != AddressFamily::Inet || m.header.kind != RouteType::Unicast
            {
                continue;
            }
            let table = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(m.header.table as u32);
            if table != RouteHeader::RT_TABLE_MAIN as u32 {
                continue;
            }
            let mut route = Route::new(Ipv4Addr::UNSPECIFIED, m.header.destination_prefix_length);
            route.onlink = m.header.flags.contains(RouteFlags::Onlink);
            route.scope_link = m.header.scope == RouteScope::Link;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => route.dst = *ip,
                    RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = Some(*ip),
                    RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => route.src = Some(*ip),
                    RouteAttribute::Oif(i) => {
                        route.dev = Some(names.get(i).cloned().unwrap_or_else(|| format!("if{i}")))
                    }
                    _ => {}
                }
            }
            out.push((route, u8::from(m.header.protocol)));
        }
        Ok(out)
    }
}
