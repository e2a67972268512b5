//! `[capture] hep`: every SIP message the daemon receives and sends reaches
//! a Homer collector as HEP v3. The collector here is a UDP socket of the
//! test that decodes each packet by the HEP v3 layout (chunks of vendor,
//! type, length, value).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sip_autoresponder::sip::Transport;
use tokio::net::UdpSocket;

use crate::common::clients::{Client, StreamClient};
use crate::common::{TestDaemon, UdpClient, options};

const NODE_ID: u32 = 2001;
const WAIT: Duration = Duration::from_secs(3);

/// One decoded HEP v3 packet.
#[derive(Debug)]
struct Hep {
    chunks: HashMap<u16, Vec<u8>>,
}

impl Hep {
    /// Decodes a packet, asserting the layout: "HEP3", the total length,
    /// then chunks each `vendor u16, type u16, length u16 (header
    /// included), value`, all big-endian.
    fn decode(packet: &[u8]) -> Self {
        assert_eq!(&packet[..4], b"HEP3", "{packet:?}");
        let total = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
        assert_eq!(total, packet.len(), "total length");
        let mut chunks = HashMap::new();
        let mut at = 6;
        while at < packet.len() {
            let field = |i: usize| u16::from_be_bytes([packet[at + i], packet[at + i + 1]]);
            let (vendor, kind, length) = (field(0), field(2), usize::from(field(4)));
            assert_eq!(vendor, 0, "generic chunk");
            assert!(
                length >= 6 && at + length <= packet.len(),
                "chunk {kind} length {length}"
            );
            chunks.insert(kind, packet[at + 6..at + length].to_vec());
            at += length;
        }
        Self { chunks }
    }

    fn chunk(&self, kind: u16) -> &[u8] {
        self.chunks
            .get(&kind)
            .unwrap_or_else(|| panic!("no chunk {kind:#06x} in {self:?}"))
    }

    fn u8(&self, kind: u16) -> u8 {
        self.chunk(kind)[0]
    }

    fn u16(&self, kind: u16) -> u16 {
        u16::from_be_bytes(self.chunk(kind).try_into().expect("two bytes"))
    }

    fn u32(&self, kind: u16) -> u32 {
        u32::from_be_bytes(self.chunk(kind).try_into().expect("four bytes"))
    }

    fn source(&self) -> SocketAddr {
        let ip: [u8; 4] = self.chunk(0x0003).try_into().expect("IPv4");
        SocketAddr::new(IpAddr::from(ip), self.u16(0x0007))
    }

    fn destination(&self) -> SocketAddr {
        let ip: [u8; 4] = self.chunk(0x0004).try_into().expect("IPv4");
        SocketAddr::new(IpAddr::from(ip), self.u16(0x0008))
    }

    fn payload(&self) -> String {
        String::from_utf8(self.chunk(0x000f).to_vec()).expect("SIP is text")
    }
}

/// A collector and a daemon exporting to it.
async fn daemon_with_collector(listen: &str) -> (TestDaemon, UdpSocket) {
    let collector = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let address = collector.local_addr().expect("collector address");
    let daemon = TestDaemon::start(&format!(
        "[capture]\nhep = \"{address}\"\nnode_id = {NODE_ID}\npassword = \"homer\"\n{listen}\
         [[rule]]\nname = \"ping\"\nmatch.method = \"OPTIONS\"\naccept = {{}}\n"
    ));
    (daemon, collector)
}

async fn next_packet(collector: &UdpSocket) -> Hep {
    let mut buf = vec![0u8; 70_000];
    let (len, _) = tokio::time::timeout(WAIT, collector.recv_from(&mut buf))
        .await
        .expect("a HEP packet within the wait")
        .expect("receive");
    Hep::decode(&buf[..len])
}

fn assert_common(hep: &Hep, protocol: u8) {
    assert_eq!(hep.u8(0x0001), 2, "IPv4");
    assert_eq!(hep.u8(0x0002), protocol, "IP protocol");
    assert_eq!(hep.u8(0x000b), 1, "SIP");
    assert_eq!(hep.u32(0x000c), NODE_ID, "capture agent id");
    assert_eq!(hep.chunk(0x000e), b"homer", "auth key");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let seconds = u64::from(hep.u32(0x0009));
    assert!(now.abs_diff(seconds) <= 5, "timestamp {seconds} vs {now}");
    assert!(hep.u32(0x000a) < 1_000_000, "microseconds");
}

#[tokio::test]
async fn udp_request_and_response_are_exported_as_hep3() {
    let listen = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";
    let (daemon, collector) = daemon_with_collector(listen).await;
    let client = UdpClient::new(daemon.udp()).await;
    let request = options("hep-udp");
    client.send(&request).await;
    let response = client.recv().await;
    assert_eq!(response.status, 200);

    let client_address = client.socket.local_addr().expect("client address");
    let received = next_packet(&collector).await;
    assert_common(&received, 17);
    assert_eq!(received.source(), client_address);
    assert_eq!(received.destination(), daemon.udp());
    assert_eq!(received.payload(), request);

    let sent = next_packet(&collector).await;
    assert_common(&sent, 17);
    assert_eq!(sent.source(), daemon.udp());
    assert_eq!(sent.destination(), client_address);
    assert_eq!(sent.payload(), response.raw);
}

#[tokio::test]
async fn tcp_messages_are_exported_with_protocol_tcp() {
    let listen = "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n";
    let (daemon, collector) = daemon_with_collector(listen).await;
    let server = daemon.addr(Transport::Tcp);
    let mut client = Client::Stream(StreamClient::tcp(server).await);
    let request = options("hep-tcp");
    assert_eq!(client.request(&request).await.status, 200);
    let received = next_packet(&collector).await;
    assert_common(&received, 6);
    assert_eq!(received.destination(), server);
    // The stream client writes the Via of its transport.
    assert_eq!(
        received.payload(),
        request.replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    );
    let sent = next_packet(&collector).await;
    assert_eq!(sent.source(), server);
    assert!(
        sent.payload().starts_with("SIP/2.0 200 "),
        "{}",
        sent.payload()
    );
}

#[test]
fn a_bad_collector_address_is_a_config_error() {
    let text = "[capture]\nhep = \"homer:9060\"\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";
    let errors = sip_autoresponder::config::Config::parse(text, "t.toml")
        .expect_err("refused")
        .to_string();
    assert!(
        errors.contains("t.toml:2:7: hep: `homer:9060` is not the collector's IP:port"),
        "{errors}"
    );
}
