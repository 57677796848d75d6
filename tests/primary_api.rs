//! The primary's object API over real HTTP, serving the real fixture: every object comes back
//! byte-identical, the token is enforced, and hostile ids are refused.

use std::collections::BTreeSet;

use seaf_backup::primary::api::{self, ApiState};
use seaf_backup::protocol::{decode_batch, BatchEntry, LibraryRowsBody, RepoMetadata, ReposPage, TrashList};
use seaf_seafile::library_rows::Value;
use seaf_seafile::{LibraryState, ObjectId};
use seaf_seafile::{ObjectKind, SeafileDb};
use support::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e";
const DOCUMENTS: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";

struct Server {
    _fx: Fixture,
    base: String,
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    store: seaf_seafile::ObjectStore,
}

impl Server {
    async fn start() -> Option<Server> {
        let fx = Fixture::unpack()?;
        let db = SeafileDb::connect(&fx.database_url()).await.unwrap();
        let addr = api::serve(
            "127.0.0.1:0",
            ApiState::new(fx.store(), db, TOKEN),
            api::ServerOptions::default(),
        )
        .await
        .unwrap();
        Some(Server {
            base: format!("http://{addr}/api/v1"),
            addr,
            client: reqwest::Client::new(),
            store: fx.store(),
            _fx: fx,
        })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(TOKEN)
    }

    fn post_ids(&self, path: &str, ids: &[String]) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(ids)
    }

    /// A request sent byte for byte, so `..` reaches the server unnormalised.
    async fn raw(&self, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, text)
    }
}

#[tokio::test]
async fn every_fixture_object_is_served_byte_identical() {
    let Some(srv) = Server::start().await else { return };
    let mut served = 0;
    for kind in ObjectKind::ALL {
        for store_id in srv.store.stores(kind).unwrap() {
            let ids = srv.store.list(kind, &store_id).unwrap();
            let hex: Vec<String> = ids.iter().map(|i| i.to_hex()).collect();
            let route = match kind {
                ObjectKind::Commit => "commits",
                ObjectKind::Fs => "fs",
                ObjectKind::Block => "blocks",
            };
            // One at a time (commits and blocks have single-object routes).
            if kind != ObjectKind::Fs {
                for id in &ids {
                    let resp = srv
                        .get(&format!("/repos/{store_id}/{route}/{id}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200, "{kind} {id}");
                    let body = resp.bytes().await.unwrap();
                    assert_eq!(
                        body.as_ref(),
                        srv.store.read(kind, &store_id, id).unwrap(),
                        "{kind} {id}"
                    );
                    served += 1;
                }
            }
            // Batched.
            let resp = srv
                .post_ids(&format!("/repos/{store_id}/{route}"), &hex)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let entries = decode_batch(&resp.bytes().await.unwrap()).unwrap();
            assert_eq!(entries.len(), ids.len());
            for ((id, entry), want) in entries.iter().zip(&ids) {
                assert_eq!(id, want);
                match entry {
                    BatchEntry::Found(bytes) => {
                        assert_eq!(bytes, &srv.store.read(kind, &store_id, id).unwrap(), "{kind} {id}");
                        served += 1;
                    }
                    BatchEntry::Deferred => assert_eq!(kind, ObjectKind::Block, "only large blocks are deferred"),
                    BatchEntry::Missing => panic!("{kind} {id} reported missing"),
                }
            }
        }
    }
    assert!(served > 2 * 44 + 103, "served {served}");
}

#[tokio::test]
async fn heads_are_listed_in_pages_and_metadata_is_served() {
    let Some(srv) = Server::start().await else { return };
    let mut seen = BTreeSet::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = "/repos?limit=3".to_string();
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: ReposPage = srv.get(&url).send().await.unwrap().json().await.unwrap();
        pages += 1;
        seen.extend(page.repos.iter().map(|r| (r.repo_id, r.head)));
        match page.next {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 4);

    let meta: RepoMetadata = srv
        .get(&format!("/repos/{DOCUMENTS}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta.head.to_hex(), "ffa520c929912c8b6a5e63d93b9481a2dffa303e");
    assert_eq!(meta.info.unwrap().name, "Documents");
    assert_eq!(meta.owner.as_deref(), Some("a@example.com"));

    let missing = srv
        .get("/repos/00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = srv
        .get(&format!("/repos/{DOCUMENTS}/commits/{}", "0".repeat(40)))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn rows_come_with_every_column_and_the_trash_is_listed() {
    let Some(srv) = Server::start().await else { return };
    let rows: LibraryRowsBody = srv
        .get(&format!("/repos/{DOCUMENTS}/rows"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let head = ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap();
    assert_eq!(rows.state().unwrap(), LibraryState::Live { head });
    let info = rows.table("RepoInfo").unwrap();
    assert!(info.columns.iter().any(|c| c.name == "type"), "{info:?}");
    assert_eq!(info.rows[0]["name"], Value::Text("Documents".into()));
    let size = &rows.table("RepoSize").unwrap().rows[0];
    assert_eq!(size["size"], Value::Int(20_976_610));
    assert_eq!(
        rows.table("RepoFileCount").unwrap().rows[0]["file_count"],
        Value::Int(6)
    );
    assert!(rows.table("SystemInfo").unwrap().rows.is_empty(), "not the template");

    let template: LibraryRowsBody = srv
        .get("/repos/262c0926-b46d-4154-9f58-db652394599b/rows")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let system = &template.table("SystemInfo").unwrap().rows;
    assert_eq!(system.len(), 1);
    assert_eq!(system[0]["info_key"], Value::Text("default_repo_id".into()));

    let unknown: LibraryRowsBody = srv
        .get("/repos/00000000-0000-4000-8000-000000000000/rows")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown.state().unwrap(), LibraryState::Gone);
    assert!(unknown.tables.values().all(|t| t.rows.is_empty()));

    let trash: TrashList = srv.get("/trash").send().await.unwrap().json().await.unwrap();
    assert!(trash.repos.is_empty(), "{trash:?}");
    let resp = srv.get("/repos/not-a-uuid/rows").send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn wrong_or_missing_token_gets_401_and_no_data() {
    let Some(srv) = Server::start().await else { return };
    let url = format!(
        "{}/repos/{DOCUMENTS}/commits/ffa520c929912c8b6a5e63d93b9481a2dffa303e",
        srv.base
    );
    for req in [
        srv.client.get(&url),
        srv.client.get(&url).bearer_auth("wrong"),
        srv.client.get(&url).bearer_auth(&TOKEN[..39]),
        srv.client.get(&url).bearer_auth(format!("{TOKEN}x")),
        srv.client.get(&url).header("Authorization", TOKEN),
        srv.client.get(format!("{}/repos", srv.base)).bearer_auth(""),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body = resp.text().await.unwrap();
        assert!(!body.contains("root_id") && !body.contains("repo_id\""), "{body}");
        assert!(body.contains("sync_token"), "the error says what to do: {body}");
    }
    let resp = srv.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn hostile_ids_get_400() {
    let Some(srv) = Server::start().await else { return };
    let head = "ffa520c929912c8b6a5e63d93b9481a2dffa303e";
    for path in [
        format!("/api/v1/repos/{DOCUMENTS}/commits/../../../../etc/passwd"),
        format!("/api/v1/repos/../../{DOCUMENTS}/commits/{head}"),
        format!("/api/v1/repos/{DOCUMENTS}/commits/..%2F..%2Fetc%2Fpasswd"),
        format!("/api/v1/repos/{DOCUMENTS}/commits/{}", head.to_uppercase()),
        format!("/api/v1/repos/{DOCUMENTS}/commits/{head}0"),
        format!("/api/v1/repos/{DOCUMENTS}/blocks/{}", "a".repeat(4000)),
        format!("/api/v1/repos/{DOCUMENTS}/blocks/not-hex-at-all-not-hex-at-all-not-hex-at"),
        format!("/api/v1/repos/{DOCUMENTS}x/commits/{head}"),
        "/api/v1/repos?after=..%2F..".to_string(),
    ] {
        let (status, text) = srv.raw(&path).await;
        assert_eq!(status, 400, "{path}: {text}");
    }
    let resp = srv
        .post_ids(&format!("/repos/{DOCUMENTS}/fs"), &["../x".to_string()])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let too_many: Vec<String> = (0..1001).map(|_| head.to_string()).collect();
    let resp = srv
        .post_ids(&format!("/repos/{DOCUMENTS}/fs"), &too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_store_error_answers_500_without_the_data_directory_in_it() {
    let Some(srv) = Server::start().await else { return };
    let repo = seaf_seafile::RepoId::parse(DOCUMENTS).unwrap();
    let head = ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap();
    // A commit that cannot be read (a directory in its place): an I/O error, not a 404.
    let path = srv.store.path(ObjectKind::Commit, &repo, &head);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let resp = srv
        .get(&format!("/repos/{DOCUMENTS}/commits/{head}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body = resp.text().await.unwrap();
    let data_dir = srv.store.data_dir().display().to_string();
    assert!(
        !body.contains(&data_dir) && !body.contains("storage/"),
        "the answer shows a path: {body}"
    );
    assert!(body.contains("log"), "the answer says where to look: {body}");
}

/// Decodes a whole pack.
fn frames(bytes: &[u8]) -> Vec<seaf_backup::pack::frame::Frame> {
    let mut decoder = seaf_backup::pack::frame::Decoder::new();
    decoder.feed(bytes);
    let mut out = Vec::new();
    while let Some(f) = decoder.next_frame().unwrap() {
        out.push(f);
    }
    out
}

#[tokio::test]
async fn a_pack_holds_a_librarys_objects_byte_identical_and_nothing_once_it_is_had() {
    use seaf_backup::pack::frame::Frame;
    let Some(srv) = Server::start().await else { return };
    let db = SeafileDb::connect(&srv._fx.database_url()).await.unwrap();
    let pack = |repo: String, body: serde_json::Value| {
        srv.client
            .post(format!("{}/repos/{repo}/pack", srv.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let heads = db.heads().await.unwrap();
    assert!(heads.len() >= 3, "{heads:?}");
    for (repo, head) in heads {
        let origin = db.virtual_origins().await.unwrap().get(&repo).copied().unwrap_or(repo);
        let resp = pack(repo.to_string(), serde_json::json!({"want": head})).await.unwrap();
        assert_eq!(resp.status(), 200);
        let frames = frames(&resp.bytes().await.unwrap());
        assert!(matches!(frames.last(), Some(Frame::End { objects }) if *objects as usize == frames.len() - 1));
        let mut commits = 0;
        for f in &frames {
            match f {
                Frame::Object(ObjectKind::Commit, bytes) => {
                    let id = seaf_seafile::Commit::parse(bytes).unwrap().commit_id;
                    assert_eq!(bytes, &srv.store.read(ObjectKind::Commit, &repo, &id).unwrap());
                    commits += 1;
                }
                Frame::Object(ObjectKind::Fs, bytes) => {
                    let id = ObjectId::hash_of(&seaf_seafile::fs::inflate(bytes).unwrap());
                    assert_eq!(bytes, &srv.store.read(ObjectKind::Fs, &origin, &id).unwrap());
                }
                Frame::Block { id, bytes } => {
                    assert_eq!(bytes, &srv.store.read(ObjectKind::Block, &origin, id).unwrap());
                }
                Frame::End { .. } => {}
                other => panic!("{repo}: unexpected {other:?}"),
            }
        }
        assert!(commits >= 1, "{repo}");
        let last_commit = frames.iter().rev().find_map(|f| match f {
            Frame::Object(ObjectKind::Commit, b) => Some(seaf_seafile::Commit::parse(b).unwrap().commit_id),
            _ => None,
        });
        assert_eq!(last_commit, Some(head), "{repo}: the head comes last");
        let had = pack(repo.to_string(), serde_json::json!({"want": head, "have": [head]}))
            .await
            .unwrap();
        assert_eq!(frames_of(had).await, vec![Frame::End { objects: 0 }], "{repo}: had");
    }
    let repo = DOCUMENTS.to_string();
    let too_many: Vec<String> = (0..33).map(|i| ObjectId::hash_of(&[i]).to_hex()).collect();
    let resp = pack(repo.clone(), serde_json::json!({"want": too_many[0], "have": too_many}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let unknown = ObjectId::hash_of(b"no such commit");
    let resp = pack(repo.clone(), serde_json::json!({"want": unknown})).await.unwrap();
    let frames = frames_of(resp).await;
    assert!(
        matches!(&frames[0], Frame::Missing { kind: ObjectKind::Commit, id, .. } if *id == unknown),
        "{frames:?}"
    );
    let resp = srv
        .client
        .post(format!("{}/repos/{repo}/pack", srv.base))
        .json(&serde_json::json!({"want": unknown}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no token");
}

async fn frames_of(resp: reqwest::Response) -> Vec<seaf_backup::pack::frame::Frame> {
    assert_eq!(resp.status(), 200);
    frames(&resp.bytes().await.unwrap())
}
