//! A primary that answers what the test says, on loopback: for the ways a broken or hostile
//! primary can answer (a wrong token, a server error, lies), which the real one never does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An answer: status code and body.
pub type Answer = (u16, Vec<u8>);

/// Decides the answer from the method, the path (with query) and the body.
pub type Handler = Arc<dyn Fn(&str, &str, &[u8]) -> Answer + Send + Sync>;

/// Serves `handler` on a free loopback port until dropped.
pub struct FakePrimary {
    url: String,
    stop: Arc<AtomicBool>,
}

impl FakePrimary {
    /// Answers by method and path.
    pub fn start(handler: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> FakePrimary {
        FakePrimary::with_body(move |method, path, _| handler(method, path))
    }

    /// Answers by method, path and request body.
    pub fn with_body(handler: impl Fn(&str, &str, &[u8]) -> Answer + Send + Sync + 'static) -> FakePrimary {
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
fn serve(conn: TcpStream, handler: &(dyn Fn(&str, &str, &[u8]) -> Answer + Send + Sync)) {
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
    let (status, body) = handler(method, path, &body);
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut conn = conn;
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

/// What the real primary answers for a library sync (its rows, batches of objects), read from a
/// local Seafile store and database: a test starts from this and changes what it wants to lie
/// about.
pub struct Honest {
    pub store: seaf_seafile::ObjectStore,
    pub db: seaf_seafile::SeafileDb,
    pub rt: tokio::runtime::Handle,
}

/// A request of the object API, as [`Honest::parse`] reads it.
pub enum Request {
    Rows(seaf_seafile::RepoId),
    Batch(
        seaf_seafile::RepoId,
        seaf_seafile::ObjectKind,
        Vec<seaf_seafile::ObjectId>,
    ),
    Pack(seaf_seafile::RepoId, seaf_backup::protocol::PackRequest),
    Other,
}

impl Honest {
    /// Which request this is.
    pub fn parse(method: &str, path: &str, body: &[u8]) -> Request {
        use seaf_seafile::{ObjectId, ObjectKind, RepoId};
        let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        let repo = |s: &str| RepoId::parse(s).ok();
        match (method, parts.as_slice()) {
            ("GET", ["repos", id, "rows"]) => repo(id).map_or(Request::Other, Request::Rows),
            ("POST", ["repos", id, "pack"]) => match serde_json::from_slice(body) {
                Ok(request) => repo(id).map_or(Request::Other, |r| Request::Pack(r, request)),
                Err(_) => Request::Other,
            },
            ("POST", ["repos", id, route]) => {
                let kind = match *route {
                    "commits" => ObjectKind::Commit,
                    "fs" => ObjectKind::Fs,
                    "blocks" => ObjectKind::Block,
                    _ => return Request::Other,
                };
                let ids: Vec<String> = serde_json::from_slice(body).unwrap_or_default();
                let ids = ids.iter().filter_map(|i| ObjectId::parse(i).ok()).collect();
                repo(id).map_or(Request::Other, |r| Request::Batch(r, kind, ids))
            }
            _ => Request::Other,
        }
    }

    /// The rows answer.
    pub fn rows(&self, repo: &seaf_seafile::RepoId) -> Answer {
        let rows = self.rt.block_on(self.db.library_rows(repo)).expect("rows");
        (200, serde_json::to_vec(&rows).unwrap())
    }

    /// The honest pack (as the primary would stream it, in one piece).
    pub fn pack(&self, repo: &seaf_seafile::RepoId, request: &seaf_backup::protocol::PackRequest) -> Vec<u8> {
        let stores = seaf_seafile::RepoStores::new(*repo, None);
        seaf_backup::pack::write_pack(&self.store, stores, request.want, &request.have, Vec::new()).expect("pack")
    }

    /// The objects asked for, as stored (`None`: not in the store).
    pub fn objects(
        &self,
        repo: &seaf_seafile::RepoId,
        kind: seaf_seafile::ObjectKind,
        ids: &[seaf_seafile::ObjectId],
    ) -> Vec<(seaf_seafile::ObjectId, Option<Vec<u8>>)> {
        ids.iter()
            .map(|id| (*id, self.store.read(kind, repo, id).ok()))
            .collect()
    }
}

/// A batch answer in the object API's framing.
pub fn batch_answer(entries: &[(seaf_seafile::ObjectId, Option<Vec<u8>>)]) -> Answer {
    use seaf_backup::protocol::{encode_entry, BatchEntry};
    let mut out = Vec::new();
    for (id, bytes) in entries {
        let entry = bytes.clone().map_or(BatchEntry::Missing, BatchEntry::Found);
        encode_entry(&mut out, id, &entry);
    }
    (200, out)
}
