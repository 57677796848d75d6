//! A slow link on loopback: a TCP proxy that delays every byte by a fixed one-way latency in
//! each direction, without limiting bandwidth, so that the backup's object requests cost the
//! round trips a WAN would cost.
//!
//! Each direction of a connection is a reader thread that stamps every chunk it reads with the
//! time it may leave and a writer thread that sends the chunks in order once that time comes:
//! the link's bandwidth is loopback's, its latency `one_way` each way (`2 × one_way` per
//! request/answer). A new connection also waits one round trip before anything is forwarded,
//! as a TCP handshake over the link would (the client's `connect` returns at once on
//! loopback; its first bytes reach the server `3 × one_way` later, as they would after a
//! real handshake).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A delaying proxy from a free port on 127.0.0.1 to a target address.
pub struct DelayProxy {
    addr: String,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicU64>,
}

impl DelayProxy {
    /// Forwards a free loopback port to `target`, adding `one_way` in each direction.
    pub fn start(target: &str, one_way: Duration) -> anyhow::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicU64::new(0));
        let (target, stop2, count) = (target.to_string(), stop.clone(), connections.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                std::thread::spawn(move || connect(client, &target, one_way));
            }
        });
        Ok(DelayProxy {
            addr,
            stop,
            connections,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The handshake's round trip, then both directions.
fn connect(client: TcpStream, target: &str, one_way: Duration) {
    std::thread::sleep(2 * one_way);
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    delayed_pipe(client, s2, one_way);
    delayed_pipe(server, c2, one_way);
}

/// Forwards `from` to `to`, each chunk `delay` after it was read, in order. End of stream is
/// forwarded (as a write shutdown) with the same delay.
fn delayed_pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send((Instant::now() + delay, None));
                    break;
                }
                Ok(n) => {
                    if tx.send((Instant::now() + delay, Some(buf[..n].to_vec()))).is_err() {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).is_err() {
                        break;
                    }
                }
                None => break,
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
