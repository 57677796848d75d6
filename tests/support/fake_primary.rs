//! A primary that answers what the test says, on loopback: for the ways a broken or hostile
//! primary can answer (a wrong token, a server error, lies), which the real one never does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An answer: status code and body.
pub type Answer = (u16, Vec<u8>);

/// Decides the answer from the method and the path (with query).
pub type Handler = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// Serves `handler` on a free loopback port until dropped.
pub struct FakePrimary {
    url: String,
    stop: Arc<AtomicBool>,
}

impl FakePrimary {
    pub fn start(handler: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> FakePrimary {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake primary");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = Arc::new(AtomicBool::new(false));
        let (handler, stop2): (Handler, _) = (Arc::new(handler), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let handler = handler.clone();
                        std::thread::spawn(move || serve(conn, &*handler));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakePrimary { url, stop }
    }

    /// The base URL, for `[backup] primary_url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FakePrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One request per connection (`Connection: close`).
fn serve(conn: TcpStream, handler: &(dyn Fn(&str, &str) -> Answer + Send + Sync)) {
    let _ = conn.set_nonblocking(false);
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = handler(method, path);
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut conn = conn;
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}
