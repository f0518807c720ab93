//! `<Play>` fetching against a raw tokio HTTP server that records each request: ETag and
//! Last-Modified revalidation, 304 reuse, errors, and the size cap.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use switchboard_media::MediaError;
use switchboard_media::fetch::AudioFetcher;
use switchboard_media::wav::wav_bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::tone;

/// Request heads received, lower-cased.
type Log = Arc<Mutex<Vec<String>>>;

async fn serve() -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log: Log = Arc::default();
    let requests = log.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let requests = requests.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n")
                    && stream.read(&mut byte).await.is_ok_and(|n| n == 1)
                {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                requests.lock().expect("log").push(head.clone());
                respond(&mut stream, &head).await;
            });
        }
    });
    (addr, log)
}

async fn respond(stream: &mut tokio::net::TcpStream, head: &str) {
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let wav = wav_bytes(&tone(440.0, 500));
    let (status, headers, body): (&str, String, Vec<u8>) = match path.as_str() {
        "/etag.wav" if head.contains("if-none-match: \"v1\"") => {
            ("304 Not Modified", "ETag: \"v1\"\r\n".into(), vec![])
        }
        "/etag.wav" => (
            "200 OK",
            "ETag: \"v1\"\r\nContent-Type: text/plain\r\n".into(),
            wav,
        ),
        "/dated.wav" if head.contains("if-modified-since: wed, 21 oct 2015 07:28:00 gmt") => {
            ("304 Not Modified", String::new(), vec![])
        }
        "/dated.wav" => (
            "200 OK",
            "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n".into(),
            wav,
        ),
        "/plain.wav" => ("200 OK", String::new(), wav),
        "/garbage" => ("200 OK", String::new(), b"<html>not audio</html>".to_vec()),
        "/huge" => {
            let header = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(header.as_bytes()).await;
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..60 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            return;
        }
        _ => ("404 Not Found", String::new(), vec![]),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.write_all(&body).await;
}

#[tokio::test]
async fn etag_revalidation_reuses_the_cached_pcm_on_304() {
    let (addr, log) = serve().await;
    let fetcher = AudioFetcher::new();
    let url = format!("http://{addr}/etag.wav");
    let first = fetcher.fetch(&url).await.expect("first fetch");
    assert_eq!(first.len(), 4_000);
    let second = fetcher.fetch(&url).await.expect("revalidated");
    assert!(Arc::ptr_eq(&first, &second), "304 keeps the cached PCM");
    let heads = log.lock().expect("log").clone();
    assert_eq!(heads.len(), 2);
    assert!(!heads[0].contains("if-none-match"));
    assert!(heads[1].contains("if-none-match: \"v1\""), "{}", heads[1]);
}

#[tokio::test]
async fn last_modified_revalidation_and_no_validators_means_a_fresh_fetch() {
    let (addr, log) = serve().await;
    let fetcher = AudioFetcher::new();
    let dated = format!("http://{addr}/dated.wav");
    let first = fetcher.fetch(&dated).await.expect("first");
    let second = fetcher.fetch(&dated).await.expect("second");
    assert!(Arc::ptr_eq(&first, &second));
    let plain = format!("http://{addr}/plain.wav");
    let a = fetcher.fetch(&plain).await.expect("plain");
    let b = fetcher.fetch(&plain).await.expect("plain again");
    assert!(!Arc::ptr_eq(&a, &b), "fetched and decoded again");
    let heads = log.lock().expect("log").clone();
    assert!(heads[1].contains("if-modified-since: wed, 21 oct 2015 07:28:00 gmt"));
    assert!(!heads[3].contains("if-"), "{}", heads[3]);
}

#[tokio::test]
async fn errors_for_status_garbage_size_and_unreachable() {
    let (addr, _log) = serve().await;
    let fetcher = AudioFetcher::new();
    let missing = fetcher.fetch(&format!("http://{addr}/missing.wav")).await;
    assert!(
        matches!(missing, Err(MediaError::Fetch(ref m)) if m.contains("404")),
        "{missing:?}"
    );
    let garbage = fetcher.fetch(&format!("http://{addr}/garbage")).await;
    assert!(matches!(garbage, Err(MediaError::Decode(_))), "{garbage:?}");
    let huge = fetcher.fetch(&format!("http://{addr}/huge")).await;
    assert!(matches!(huge, Err(MediaError::TooLarge)), "{huge:?}");
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = closed.local_addr().expect("addr");
    drop(closed);
    let unreachable = fetcher.fetch(&format!("http://{dead}/x.wav")).await;
    assert!(
        matches!(unreachable, Err(MediaError::Fetch(_))),
        "{unreachable:?}"
    );
}
