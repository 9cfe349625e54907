//! The accept loop and admission control.
//!
//! Admission happens here, before anything is queued (vsftpd's
//! `check_limits`): a banned address, a full server or an address over its
//! per-IP share is answered `421` by this thread and closed at once, so the
//! job queue and the thread count stay bounded however hard clients push.
//! An admitted connection holds an [`AdmissionGuard`] until its session ends;
//! dropping the guard gives the slot back (tiny-http's `Registration` idea).

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use super::ServerContext;
use super::pool::WorkerPool;
use crate::limits::REFUSE_WRITE_TIMEOUT;
use crate::protocol::reply::Reply;

/// Live admission counts: sessions running or queued, overall and per IP.
#[derive(Default)]
pub struct Admission {
    admitted: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's claim on its slots.
pub struct AdmissionGuard {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for AdmissionGuard {
    fn drop(&mut self) {
        self.admission.admitted.fetch_sub(1, Ordering::SeqCst);
        let mut per_ip = self
            .admission
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A connection handed to a worker.
pub struct SessionJob {
    /// The control connection.
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// When it was queued, if it had to wait for a worker (it was told 120).
    pub queued_at: Option<Instant>,
    /// Released when the session ends.
    pub guard: AdmissionGuard,
}

/// Why a connection is turned away.
enum Refusal {
    Banned,
    Full,
    PerIp,
}

/// Accepts until shutdown begins.
pub fn accept_loop(
    listener: &TcpListener,
    ctx: &ServerContext,
    pool: &WorkerPool<SessionJob>,
    admission: &Arc<Admission>,
) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                if ctx.is_stopping() {
                    return;
                }
                // EMFILE and friends: back off briefly instead of spinning.
                error!("accept failed: {error}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if ctx.is_stopping() {
            refuse(stream, &Reply::shutting_down());
            return;
        }
        match admit(ctx, admission, peer.ip()) {
            Ok((guard, queue_position)) => {
                info!("connection from {peer}");
                let queued_at = queue_position.map(|position| {
                    // Tell the client why nothing happens yet (RFC 959 120).
                    let _ = stream.set_write_timeout(Some(REFUSE_WRITE_TIMEOUT));
                    let _ = (&stream).write_all(&Reply::queued(position).to_wire());
                    Instant::now()
                });
                pool.submit(SessionJob {
                    stream,
                    peer,
                    queued_at,
                    guard,
                });
            }
            Err(refusal) => {
                let settings = &ctx.settings;
                let reply = match refusal {
                    Refusal::Banned => Reply::address_banned(),
                    Refusal::Full => Reply::too_many_connections(settings.max_connections),
                    Refusal::PerIp => Reply::too_many_from_address(settings.max_connections_per_ip),
                };
                let line = String::from_utf8_lossy(&reply.to_wire()).into_owned();
                if let Refusal::Banned = refusal {
                    // The ban itself was logged once, when it began; a
                    // banned address that keeps knocking must not flood
                    // the log with a line per connection.
                    debug!("refused {peer}: {}", line.trim_end());
                } else {
                    warn!("refused {peer}: {}", line.trim_end());
                }
                refuse(stream, &reply);
            }
        }
    }
}

/// Claims a slot for `ip`, or says why not. The second value is the queue
/// position when every worker is busy and the client must wait.
fn admit(
    ctx: &ServerContext,
    admission: &Arc<Admission>,
    ip: IpAddr,
) -> Result<(AdmissionGuard, Option<usize>), Refusal> {
    let settings = &ctx.settings;
    let ip = ip.to_canonical();
    if ctx.bans.is_banned(ip) {
        return Err(Refusal::Banned);
    }
    let capacity = settings.max_connections + settings.queue_size;
    // Only this thread increments, so load-then-add cannot overshoot.
    let admitted = admission.admitted.load(Ordering::SeqCst);
    if admitted >= capacity {
        return Err(Refusal::Full);
    }
    {
        let mut per_ip = admission
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(ip).or_insert(0);
        if settings.max_connections_per_ip > 0 && *count >= settings.max_connections_per_ip {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return Err(Refusal::PerIp);
        }
        *count += 1;
    }
    admission.admitted.fetch_add(1, Ordering::SeqCst);
    let guard = AdmissionGuard {
        admission: Arc::clone(admission),
        ip,
    };
    let position =
        (admitted >= settings.max_connections).then(|| admitted - settings.max_connections + 1);
    Ok((guard, position))
}

/// Writes a 421 and closes, never waiting long on the client.
fn refuse(stream: TcpStream, reply: &Reply) {
    let _ = stream.set_write_timeout(Some(REFUSE_WRITE_TIMEOUT));
    let _ = (&stream).write_all(&reply.to_wire());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
