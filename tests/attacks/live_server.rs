//! A real HTTP server, and a client that sends bytes no HTTP library would: for the attacks
//! that only reach the library through actix's own request parsing (oversized heads, bytes
//! outside HTTP, repeated header lines).

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use actix_web::HttpServer;
use oidc_actix::OidcAuth;
use serde_json::Value;

use crate::attacked_app;

/// The attacked application served on a port of its own.
pub(crate) struct LiveServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl LiveServer {
    /// The attacked application on `127.0.0.1`, one worker, on the test's runtime.
    pub(crate) fn start(auth: OidcAuth) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let server = HttpServer::new(move || attacked_app(auth.clone()))
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { addr, handle }
    }

    /// Sends `head` (everything up to and including the blank line) on a fresh connection.
    pub(crate) async fn send(&self, head: Vec<u8>) -> RawAnswer {
        let addr = self.addr;
        actix_web::rt::task::spawn_blocking(move || raw_exchange(addr, &head))
            .await
            .expect("the raw client thread does not panic")
    }

    /// `GET path` with a valid token must still work: the attack did not take the server down.
    pub(crate) async fn assert_still_serving(&self, token: &str, after: &str) {
        let answer = self
            .send(head_with_authorization(
                format!("Bearer {token}").as_bytes(),
            ))
            .await;
        assert_eq!(
            answer.status, 200,
            "the server stopped serving after {after}: {answer:?}"
        );
    }

    /// Stops the server, dropping its connections.
    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// What came back over the raw connection.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    /// 0 if the connection closed without a status line.
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl RawAnswer {
    /// The body as JSON, `null` if it is not JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Writes `request` from another thread while this one reads, so an answer sent before the
/// server read the whole request (a 431) is heard rather than lost in a write error.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawAnswer {
    let stream = TcpStream::connect(addr).expect("connect to the live server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let mut writer = stream.try_clone().expect("clone the stream");
    let request = request.to_vec();
    let writing = std::thread::spawn(move || {
        // The server may close early (it refuses oversized heads); that is its right.
        let _ = writer.write_all(&request);
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut received = Vec::new();
    let mut reader = stream;
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    let _ = writing.join();
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A request head with one `Authorization` header made of these raw bytes.
pub(crate) fn head_with_authorization(value: &[u8]) -> Vec<u8> {
    let mut head =
        b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ".to_vec();
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n\r\n");
    head
}
