//! Stream clients for the tests: TCP, TLS, WebSocket and secure WebSocket,
//! plus one `Client` type that runs a scenario over any transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{REPLY_WAIT, Received, Response, SILENCE_WAIT, UdpClient};

type BoxedStream = Box<dyn AsyncReadWrite>;
pub trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

/// A certificate for "localhost" made for the test, with its PEM files.
pub struct TestCertificate {
    pub der: CertificateDer<'static>,
    pub certificate_path: std::path::PathBuf,
    pub private_key_path: std::path::PathBuf,
}

impl TestCertificate {
    pub fn new() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("generate certificate");
        let dir = std::env::temp_dir().join(format!(
            "sip-autoresponder-tls-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let certificate_path = dir.join("cert.pem");
        let private_key_path = dir.join("key.pem");
        std::fs::write(&certificate_path, certified.cert.pem()).expect("write cert");
        std::fs::write(&private_key_path, certified.signing_key.serialize_pem())
            .expect("write key");
        Self {
            der: certified.cert.der().clone(),
            certificate_path,
            private_key_path,
        }
    }

    /// `certificate = …` and `private_key = …` lines for a listener.
    pub fn listen_keys(&self) -> String {
        format!(
            "certificate = \"{}\"\nprivate_key = \"{}\"\n",
            self.certificate_path.display(),
            self.private_key_path.display()
        )
    }

    async fn connect(&self, server: SocketAddr) -> BoxedStream {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.der.clone())
            .expect("trust the test certificate");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(server).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        Box::new(tls)
    }
}

/// A SIP client over a byte stream (TCP or TLS), framing by Content-Length.
pub struct StreamClient {
    stream: BoxedStream,
    buf: Vec<u8>,
    pub peer: SocketAddr,
}

impl StreamClient {
    pub async fn tcp(server: SocketAddr) -> Self {
        let stream = TcpStream::connect(server).await.expect("connect");
        Self::over(Box::new(stream), server)
    }

    pub async fn tls(server: SocketAddr, certificate: &TestCertificate) -> Self {
        Self::over(certificate.connect(server).await, server)
    }

    fn over(stream: BoxedStream, peer: SocketAddr) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            peer,
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next complete message, `None` after `wait` or when closed.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(message) = self.take_message() {
                return Some(message);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Raw bytes until the connection closes (or `wait` passes).
    pub async fn read_until_closed(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = std::mem::take(&mut self.buf);
        loop {
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
                Err(_) => return (out, false),
                Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn take_message(&mut self) -> Option<Received> {
        let head_end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let length: usize = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| {
                n.trim().eq_ignore_ascii_case("content-length")
                    || n.trim().eq_ignore_ascii_case("l")
            })
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        if self.buf.len() < head_end + length {
            return None;
        }
        let message: Vec<u8> = self.buf.drain(..head_end + length).collect();
        Some(Received {
            raw: String::from_utf8_lossy(&message).into_owned(),
            from: self.peer,
        })
    }
}

/// A SIP-over-WebSocket client (RFC 7118).
pub struct WsClient {
    socket: WebSocketStream<BoxedStream>,
    pub peer: SocketAddr,
}

impl WsClient {
    pub async fn connect(server: SocketAddr) -> Self {
        Self::handshake(
            Box::new(TcpStream::connect(server).await.expect("connect")),
            "ws",
            server,
            "/",
            Some("sip"),
        )
        .await
        .expect("WebSocket handshake")
    }

    pub async fn connect_secure(server: SocketAddr, certificate: &TestCertificate) -> Self {
        Self::handshake(
            certificate.connect(server).await,
            "wss",
            server,
            "/",
            Some("sip"),
        )
        .await
        .expect("WebSocket handshake")
    }

    /// A handshake with the given path and subprotocol; the error text of a
    /// refusal (with the HTTP status) on failure.
    pub async fn handshake(
        stream: BoxedStream,
        scheme: &str,
        server: SocketAddr,
        path: &str,
        protocol: Option<&str>,
    ) -> Result<Self, String> {
        let host = if scheme == "wss" {
            format!("localhost:{}", server.port())
        } else {
            server.to_string()
        };
        let mut request = format!("{scheme}://{host}{path}")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                protocol.parse().map_err(|_| "bad header".to_owned())?,
            );
        }
        match tokio_tungstenite::client_async(request, stream).await {
            Ok((socket, response)) => {
                let echoed = response
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| v.to_str().ok());
                assert_eq!(echoed, protocol, "the 101 echoes the subprotocol");
                Ok(Self {
                    socket,
                    peer: server,
                })
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(format!(
                "HTTP {} {}",
                response.status().as_u16(),
                response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            )),
            Err(error) => Err(error.to_string()),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.socket
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send");
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(Received {
                        raw: text.as_str().to_owned(),
                        from: self.peer,
                    });
                }
                Ok(Some(Ok(Message::Binary(data)))) => {
                    return Some(Received {
                        raw: String::from_utf8_lossy(&data).into_owned(),
                        from: self.peer,
                    });
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Whether the server closed the connection within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// One client type so a scenario runs over UDP, TCP and WS alike.
#[allow(clippy::large_enum_variant)] // a handful live per test
pub enum Client {
    Udp(UdpClient),
    Stream(StreamClient),
    Ws(WsClient),
}

impl Client {
    /// The Via this client writes (WebSocket clients use an unresolvable
    /// `.invalid` host, RFC 7118 §5.2).
    pub fn via(&self) -> String {
        match self {
            Self::Udp(client) => format!("SIP/2.0/UDP 127.0.0.1:{}", client.port()),
            Self::Stream(_) => "SIP/2.0/TCP 127.0.0.1:5999".to_owned(),
            Self::Ws(_) => "SIP/2.0/WS df7jal23ls0d.invalid".to_owned(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Udp(_) => "udp",
            Self::Stream(_) => "tcp",
            Self::Ws(_) => "ws",
        }
    }

    /// Rewrites the harness's default Via for this transport and sends.
    pub async fn send(&mut self, message: &str) {
        let message = message.replace("SIP/2.0/UDP 127.0.0.1:5999", &self.via());
        match self {
            Self::Udp(client) => client.send(&message).await,
            Self::Stream(client) => client.send_bytes(message.as_bytes()).await,
            Self::Ws(client) => client.send_text(&message).await,
        }
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        match self {
            Self::Udp(client) => client.recv_any_within(wait).await,
            Self::Stream(client) => client.recv_within(wait).await,
            Self::Ws(client) => client.recv_within(wait).await,
        }
    }

    pub async fn recv(&mut self) -> Response {
        let received = self
            .recv_within(REPLY_WAIT)
            .await
            .unwrap_or_else(|| panic!("{}: a response within the wait", self.name()));
        Response::parse(received.raw.as_bytes())
    }

    pub async fn request(&mut self, message: &str) -> Response {
        self.send(message).await;
        self.recv().await
    }

    pub async fn expect_silence(&mut self) {
        if let Some(r) = self.recv_within(SILENCE_WAIT).await {
            panic!("{}: expected nothing, got:\n{}", self.name(), r.raw);
        }
    }

    /// Answers a request the daemon sent (BYE, MESSAGE) over the same flow.
    pub async fn answer(&mut self, request: &Received, status: u16, reason: &str) {
        let response = request.response(status, reason);
        match self {
            Self::Udp(client) => client.send_to(&response, request.from).await,
            Self::Stream(client) => client.send_bytes(response.as_bytes()).await,
            Self::Ws(client) => client.send_text(&response).await,
        }
    }
}
