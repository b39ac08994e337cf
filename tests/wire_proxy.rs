//! A MongoDB wire proxy that counts commands and delays each one, so a test
//! sees what a request costs in production, where every command is a
//! network round trip to the cluster: locally the database is on loopback
//! and no timing shows how many round trips stand one after another on a
//! request's critical path.
//!
//! It forwards bytes both ways; of every message the driver sends it reads
//! the OP_MSG's command name (the first key of its body section), counts it
//! and holds it for the current delay before passing it on. With a delay of
//! D ms a request's latency grows by D for each round trip it waits on, and
//! its commands arrive in waves D apart: the number of waves is its number
//! of sequential round trips ([`WireProxy::waves`]). The driver's own topology monitoring (`hello`) is neither
//! counted nor delayed: in production it runs beside requests, not on them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// OP_MSG, the opcode of every command a current driver sends.
const OP_MSG: i32 = 2013;
/// Commands that are the driver's, not a request's.
const MONITORING: [&str; 3] = ["hello", "isMaster", "ismaster"];

pub struct WireProxy {
    pub addr: SocketAddr,
    delay_ms: AtomicU64,
    counts: Mutex<BTreeMap<String, u32>>,
    /// Each counted command with its target (`find users`) and when it
    /// arrived, in order.
    log: Mutex<Vec<(Instant, String)>>,
    /// Messages whose command could not be read (neither counted nor
    /// delayed): a test that trusts the counts asserts there were none.
    unparsed: AtomicU64,
}

impl WireProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> Arc<WireProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Arc::new(WireProxy {
            addr: listener.local_addr().expect("local addr"),
            delay_ms: AtomicU64::new(0),
            counts: Mutex::new(BTreeMap::new()),
            log: Mutex::new(vec![]),
            unparsed: AtomicU64::new(0),
        });
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let p = p.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        p.pipe(client, server).await;
                    }
                });
            }
        });
        proxy
    }

    /// A connection string to the proxy (one host, no discovery).
    pub fn uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.addr)
    }

    /// Every command sent from now on waits `ms` before it is forwarded.
    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The commands counted since the last call, by name; resets them.
    pub fn take(&self) -> BTreeMap<String, u32> {
        self.log.lock().unwrap().clear();
        std::mem::take(&mut *self.counts.lock().unwrap())
    }

    /// How many messages so far had no command this proxy could read.
    pub fn unparsed(&self) -> u64 {
        self.unparsed.load(Ordering::SeqCst)
    }

    /// The commands counted since the last [`Self::take`], in the order
    /// they were sent, each with the collection it names.
    pub fn sequence(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The sequential round trips since the last [`Self::take`]: the waves
    /// of commands, where a wave is what arrived within half the delay of
    /// its first command. With a delay of D, a command sent after another's
    /// answer arrives at least D after it, and commands sent together
    /// arrive together, so however slow the server, the count is the
    /// number of round trips that stood one after another (set a delay far
    /// above the client's own scheduling jitter: 100 ms or more).
    pub fn waves(&self) -> u32 {
        let half = Duration::from_millis(self.delay_ms.load(Ordering::SeqCst) / 2);
        let mut waves = 0;
        let mut start: Option<Instant> = None;
        for (at, _) in self.log.lock().unwrap().iter() {
            if start.is_none_or(|s| at.duration_since(s) >= half) {
                waves += 1;
                start = Some(*at);
            }
        }
        waves
    }

    async fn pipe(&self, client: TcpStream, server: TcpStream) {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let back = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        });
        loop {
            let mut header = [0u8; 4];
            if client_read.read_exact(&mut header).await.is_err() {
                break;
            }
            let len = i32::from_le_bytes(header).max(4) as usize;
            let mut message = vec![0u8; len];
            message[..4].copy_from_slice(&header);
            if client_read.read_exact(&mut message[4..]).await.is_err() {
                break;
            }
            let command = command_name(&message);
            if command.is_none() {
                self.unparsed.fetch_add(1, Ordering::SeqCst);
            }
            if let Some((name, target)) = command {
                if !MONITORING.contains(&name.as_str()) {
                    let entry = (Instant::now(), format!("{name} {target}"));
                    self.log.lock().unwrap().push(entry);
                    *self.counts.lock().unwrap().entry(name).or_default() += 1;
                    let delay = self.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                }
            }
            if server_write.write_all(&message).await.is_err() {
                break;
            }
        }
        back.abort();
    }
}

/// The command of an OP_MSG and what it names (a collection, or empty):
/// the first element of its body (kind 0) section. Header (16 bytes), flag
/// bits (4), then sections: kind 0 is one BSON document, kind 1 a size (of
/// itself and what follows) and a document sequence, in any order.
fn command_name(message: &[u8]) -> Option<(String, String)> {
    let opcode = i32::from_le_bytes(message.get(12..16)?.try_into().ok()?);
    if opcode != OP_MSG {
        return None;
    }
    let mut at = 20;
    loop {
        let kind = *message.get(at)?;
        let len = i32::from_le_bytes(message.get(at + 1..at + 5)?.try_into().ok()?);
        let len = usize::try_from(len).ok().filter(|n| *n <= message.len())?;
        if kind == 1 {
            at += 1 + len;
            continue;
        }
        if kind != 0 {
            return None;
        }
        let body = bson::RawDocument::from_bytes(message.get(at + 1..at + 1 + len)?).ok()?;
        let (name, value) = body.into_iter().next()?.ok()?;
        let target = value.as_str().unwrap_or_default().to_string();
        return Some((name.to_string(), target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_command_name_of_an_op_msg() {
        let body = bson::doc! { "find": "accounts", "$db": "crm" };
        let mut bytes = vec![];
        body.to_writer(&mut bytes).unwrap();
        let mut message = vec![0u8; 16];
        message[12..16].copy_from_slice(&OP_MSG.to_le_bytes());
        message.extend_from_slice(&[0, 0, 0, 0, 0]);
        message.extend_from_slice(&bytes);
        // A kind-1 section after the body, as an insert sends its documents.
        message.extend_from_slice(&[1, 9, 0, 0, 0, b'x', 0, 0, 0, 0]);
        let len = message.len() as i32;
        message[..4].copy_from_slice(&len.to_le_bytes());
        let (name, target) = command_name(&message).unwrap();
        assert_eq!((name.as_str(), target.as_str()), ("find", "accounts"));
        // The document sequence may also come first.
        let mut first = message[..20].to_vec();
        first.extend_from_slice(&[1, 9, 0, 0, 0, b'x', 0, 0, 0, 0]);
        first.extend_from_slice(&message[20..message.len() - 10]);
        let (name, _) = command_name(&first).unwrap();
        assert_eq!(name, "find");
        message[12..16].copy_from_slice(&2004i32.to_le_bytes());
        assert_eq!(command_name(&message), None);
    }
}
