//! Compiling `[[listen]]` entries: transport, address, TLS material (read
//! and checked now, so a bad file is a config error naming its path), the
//! WebSocket path and connection limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use toml::Spanned;

use super::error::Diagnostics;
use super::model::ListenSection;
use super::{ConnectionLimits, ListenerSpec, Sections, TlsMaterial};
use crate::sip::Transport;

pub(super) fn compile_listeners(
    sections: &Sections,
    diag: &mut Diagnostics<'_>,
) -> Vec<ListenerSpec> {
    let defaults = ConnectionLimits {
        max_ws_message_size: *sections.server.max_message_size.get_ref(),
        ..ConnectionLimits::default()
    };
    let mut listeners: Vec<ListenerSpec> = Vec::new();
    for section in &sections.listen {
        let listen = section.get_ref();
        let transport = match listen.transport.get_ref().parse::<Transport>() {
            Ok(transport) => Some(transport),
            Err(()) => {
                diag.error(
                    listen.transport.span(),
                    format!(
                        "unknown transport `{}` (expected udp, tcp, tls, ws or wss)",
                        listen.transport.get_ref()
                    ),
                );
                None
            }
        };
        let address = match listen.address.get_ref().parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                diag.error(
                    listen.address.span(),
                    format!(
                        "`{}` is not an IP:port address (IPv6 as [::1]:5060)",
                        listen.address.get_ref()
                    ),
                );
                None
            }
        };
        let (Some(transport), Some(address)) = (transport, address) else {
            continue;
        };
        let tls = listener_tls(listen, transport, diag);
        let path = listener_path(listen, transport, diag);
        let limits = listener_limits(listen, transport, defaults, diag);
        let kind = if transport.is_reliable() {
            "stream"
        } else {
            "UDP"
        };
        if let Some(other) = listeners.iter().find(|l| {
            l.transport.is_reliable() == transport.is_reliable() && overlap(l.address, address)
        }) {
            let why = if other.address == address {
                String::new()
            } else {
                format!(
                    " ({} takes port {} on every {} address; the second bind would fail at run)",
                    if other.address.ip().is_unspecified() {
                        other.address
                    } else {
                        address
                    },
                    address.port(),
                    if address.is_ipv4() { "IPv4" } else { "IPv6" }
                )
            };
            diag.error(
                listen.address.span(),
                format!(
                    "{address} is already used by the {kind} listener on {}{why}",
                    other.address
                ),
            );
        }
        let allow_sources = listen.allow_sources.as_ref().map(|sources| {
            sources
                .get_ref()
                .items()
                .iter()
                .filter_map(|s| match super::rules::parse_cidr(s) {
                    Some(net) => Some(net),
                    None => {
                        diag.error(sources.span(), format!("`{s}` is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32) or IP address"));
                        None
                    }
                })
                .collect::<Vec<_>>()
                .into()
        });
        listeners.push(ListenerSpec {
            transport,
            address,
            tls,
            path,
            limits,
            allow_sources,
        });
    }
    listeners
}

/// Whether two listeners of the same kind (UDP, or stream) cannot both
/// bind: the same address, or the same port and family where one is the
/// unspecified address (IPv6 sockets are IPv6-only, so `0.0.0.0` and `[::]`
/// do not clash). Port 0 binds a free port and never clashes.
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// TLS and WSS need a certificate and key, read and checked now so a bad
/// file is a config error naming its path.
fn listener_tls(
    listen: &ListenSection,
    transport: Transport,
    diag: &mut Diagnostics<'_>,
) -> Option<Arc<TlsMaterial>> {
    let secure = matches!(transport, Transport::Tls | Transport::Wss);
    let (certificate, private_key) = (&listen.certificate, &listen.private_key);
    if !secure {
        for option in [certificate, private_key].into_iter().flatten() {
            diag.error(
                option.span(),
                format!(
                    "certificate and private_key apply to tls and wss listeners, not {transport}"
                ),
            );
        }
        return None;
    }
    let (Some(certificate), Some(private_key)) = (certificate, private_key) else {
        diag.error(
            listen.transport.span(),
            format!("a {transport} listener needs `certificate` and `private_key` (PEM files)"),
        );
        return None;
    };
    match load_tls(certificate.get_ref(), private_key.get_ref()) {
        Ok(material) => Some(Arc::new(material)),
        Err((which, message)) => {
            let span = if which == 0 {
                certificate.span()
            } else {
                private_key.span()
            };
            diag.error(span, message);
            None
        }
    }
}

/// Reads PEM files; the error says which file (0: certificate, 1: key) and why.
fn load_tls(certificate: &str, private_key: &str) -> Result<TlsMaterial, (u8, String)> {
    use rustls_pki_types::pem::PemObject;
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| (0, format!("cannot load certificate {certificate}: {e}")))?;
    if chain.is_empty() {
        return Err((0, format!("no certificate found in {certificate}")));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| (1, format!("cannot load private key {private_key}: {e}")))?;
    // Build the acceptor once now so a key that does not fit is reported
    // at load, with both paths.
    crate::transport::tls_acceptor(chain.clone(), key.clone_key()).map_err(|e| {
        (
            1,
            format!("private key {private_key} does not fit certificate {certificate}: {e}"),
        )
    })?;
    Ok(TlsMaterial {
        certificate_path: certificate.into(),
        private_key_path: private_key.into(),
        chain,
        key,
    })
}

fn listener_path(
    listen: &ListenSection,
    transport: Transport,
    diag: &mut Diagnostics<'_>,
) -> Option<String> {
    let path = listen.path.as_ref()?;
    if !matches!(transport, Transport::Ws | Transport::Wss) {
        diag.error(
            path.span(),
            format!("`path` applies to ws and wss listeners, not {transport}"),
        );
        return None;
    }
    if !path.get_ref().starts_with('/') || path.get_ref().contains(char::is_whitespace) {
        diag.error(path.span(), "path must start with / and contain no spaces");
        return None;
    }
    Some(path.get_ref().clone())
}

fn listener_limits(
    listen: &ListenSection,
    transport: Transport,
    defaults: ConnectionLimits,
    diag: &mut Diagnostics<'_>,
) -> ConnectionLimits {
    if transport == Transport::Udp {
        refuse_stream_limits(listen, diag);
        return defaults;
    }
    let mut limits = defaults;
    if let Some(max) = &listen.max_connections {
        if *max.get_ref() == 0 {
            diag.error(max.span(), "max_connections must be at least 1");
        }
        limits.max_connections = *max.get_ref();
    }
    limits.max_connections_per_source = match &listen.max_connections_per_source {
        Some(max) => {
            if *max.get_ref() == 0 {
                diag.error(max.span(), "max_connections_per_source must be at least 1");
            }
            *max.get_ref()
        }
        None => limits
            .max_connections_per_source
            .min(limits.max_connections),
    };
    if let Some(bytes) = &listen.max_send_queue_bytes {
        if !(4096..=64 * 1024 * 1024).contains(bytes.get_ref()) {
            diag.error(
                bytes.span(),
                "max_send_queue_bytes must be from 4096 to 67108864",
            );
        }
        limits.max_send_queue_bytes = *bytes.get_ref();
    }
    listener_timeouts(listen, &mut limits, diag);
    if let Some(size) = &listen.max_ws_message_size {
        if !matches!(transport, Transport::Ws | Transport::Wss) {
            diag.error(
                size.span(),
                "max_ws_message_size applies to ws and wss listeners",
            );
        } else if !(1024..=16 * 1024 * 1024).contains(size.get_ref()) {
            diag.error(
                size.span(),
                "max_ws_message_size must be from 1024 to 16777216 bytes",
            );
        }
        limits.max_ws_message_size = *size.get_ref();
    }
    limits
}

/// A UDP listener has no connections: their limits are errors there.
fn refuse_stream_limits(listen: &ListenSection, diag: &mut Diagnostics<'_>) {
    let stream_only = [
        listen.max_connections.as_ref().map(Spanned::span),
        listen
            .max_connections_per_source
            .as_ref()
            .map(Spanned::span),
        listen.idle_timeout_ms.as_ref().map(Spanned::span),
        listen.first_message_timeout_ms.as_ref().map(Spanned::span),
        listen.message_timeout_ms.as_ref().map(Spanned::span),
        listen.write_timeout_ms.as_ref().map(Spanned::span),
        listen.max_send_queue_bytes.as_ref().map(Spanned::span),
        listen.max_ws_message_size.as_ref().map(Spanned::span),
    ];
    for span in stream_only.into_iter().flatten() {
        diag.error(
            span,
            "connection limits apply to tcp, tls, ws and wss listeners, not udp",
        );
    }
}

/// `idle_timeout_ms`, `first_message_timeout_ms`, `message_timeout_ms`,
/// `write_timeout_ms`: at least 1 ms each.
fn listener_timeouts(
    listen: &ListenSection,
    limits: &mut ConnectionLimits,
    diag: &mut Diagnostics<'_>,
) {
    for (option, target) in [
        (&listen.idle_timeout_ms, &mut limits.idle_timeout),
        (
            &listen.first_message_timeout_ms,
            &mut limits.first_message_timeout,
        ),
        (&listen.message_timeout_ms, &mut limits.message_timeout),
        (&listen.write_timeout_ms, &mut limits.write_timeout),
    ] {
        if let Some(ms) = option {
            if *ms.get_ref() == 0 {
                diag.error(ms.span(), "timeouts must be at least 1 ms");
            }
            *target = Duration::from_millis(*ms.get_ref());
        }
    }
}
