//! A keep-alive HTTP/1.1 client that does as little as it can: it writes a request made of
//! fixed bytes and reads the response's status, `Content-Length` and body, nothing else.
//! A benchmark of servers on the same cores as its load then measures the servers: reqwest
//! spends most of a request's instructions on its own side (URL parsing, a header map per
//! response), which made the servers' differences a small part of what was timed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One connection to a server.
pub struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawClient {
    /// Connects to `address` (`host:port`).
    pub async fn connect(address: &str) -> Self {
        let stream = TcpStream::connect(address)
            .await
            .expect("the server accepts");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Self {
            stream,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends `request` (from [`get_request`]); returns the status and the body's length once
    /// the whole body is read. The head is parsed with `httparse`, hyper's parser.
    pub async fn get(&mut self, request: &[u8]) -> (u16, usize) {
        self.stream
            .write_all(request)
            .await
            .expect("the request is sent");
        self.buffer.clear();
        let (status, head_len, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer).expect("a well-formed head") {
                httparse::Status::Complete(head_len) => {
                    let length = response
                        .headers
                        .iter()
                        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|header| std::str::from_utf8(header.value).ok())
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .expect("a Content-Length");
                    break (response.code.expect("a status"), head_len, length);
                }
                httparse::Status::Partial => self.read_more().await,
            }
        };
        while self.buffer.len() < head_len + body_len {
            self.read_more().await;
        }
        assert_eq!(
            self.buffer.len(),
            head_len + body_len,
            "one response at a time"
        );
        (status, body_len)
    }

    async fn read_more(&mut self) {
        // Into the buffer's spare capacity: nothing is zeroed or copied first.
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(4096);
        }
        let read = self
            .stream
            .read_buf(&mut self.buffer)
            .await
            .expect("the answer arrives");
        assert!(read > 0, "the server closed the connection");
    }
}

/// The bytes of `GET path` to `host`.
pub fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n").into_bytes()
}
