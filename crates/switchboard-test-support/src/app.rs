//! A minimal customer web application for end-to-end tests: answers every request on a path with
//! a fixed status, content type and body, and records what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One received request: method, path with query, headers (lower-case names) and body.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A route's answer: status, content type, extra headers, body.
type Answer = (u16, String, Vec<(String, String)>, Vec<u8>);
type Routes = HashMap<String, Answer>;

/// A running app on 127.0.0.1 with a port of its own.
#[derive(Debug, Clone)]
pub struct App {
    pub base_url: String,
    routes: Arc<Mutex<Routes>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl App {
    pub async fn start() -> App {
        App::start_on("127.0.0.1:0").await
    }

    /// An app on `address` (a port a test chose earlier: an app that "comes back").
    pub async fn start_on(address: &str) -> App {
        let listener = TcpListener::bind(address).await.expect("bind app");
        let base_url = format!("http://{}", listener.local_addr().expect("app address"));
        let app = App {
            base_url,
            routes: Arc::default(),
            received: Arc::default(),
        };
        let server = app.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream));
            }
        });
        app
    }

    /// Answers `path` with `status`, `content_type` and `body` from now on.
    pub fn route(&self, path: &str, status: u16, content_type: &str, body: &str) {
        self.route_bytes(path, status, content_type, body.as_bytes().to_vec());
    }

    /// Like `route`, with a binary body (audio for `<Play>`).
    pub fn route_bytes(&self, path: &str, status: u16, content_type: &str, body: Vec<u8>) {
        self.routes.lock().expect("routes").insert(
            path.to_owned(),
            (status, content_type.to_owned(), Vec::new(), body),
        );
    }

    /// Answers `path` with `status`, an empty body and the extra `headers` (a `Retry-After`).
    pub fn route_with_headers(&self, path: &str, status: u16, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.routes.lock().expect("routes").insert(
            path.to_owned(),
            (status, "text/plain".to_owned(), headers, Vec::new()),
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }

    async fn serve(self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let Some(end) = find(&buffer, b"\r\n\r\n") else {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let method = request_line.next().unwrap_or_default().to_owned();
            let target = request_line.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
            }
            let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
            buffer.drain(..end + 4 + length);
            let path = target.split('?').next().unwrap_or_default().to_owned();
            self.received.lock().expect("received").push(Received {
                method,
                target,
                headers,
                body,
            });
            let route = self.routes.lock().expect("routes").get(&path).cloned();
            let (status, content_type, extra, body) =
                route.unwrap_or((404, "text/plain".into(), Vec::new(), b"no route".to_vec()));
            let extra: String = extra
                .iter()
                .map(|(name, value)| format!("{name}: {value}\r\n"))
                .collect();
            let mut response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            if stream.write_all(&response).await.is_err() {
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
