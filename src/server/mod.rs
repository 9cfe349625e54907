//! The server: binds, owns the shared state, runs the accept loop and the
//! worker pool, and stops cleanly.
//!
//! ```text
//! accept ─► admission ─► job queue ─► worker ─► session
//! listener.rs            pool.rs               session/
//! ```
//!
//! [`Server::bind`] does everything that can fail at start (accounts, the
//! dummy password hash, the socket) so that `main` can report it and exit
//! non-zero; [`Server::run`] then serves until a [`ShutdownHandle`] stops it.

pub mod bans;
pub mod listener;
pub mod pool;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{info, warn};
use thiserror::Error;

use crate::auth::{AuthError, Authenticator};
use crate::config::accounts::AccountStore;
use crate::config::{ConfigError, Settings};
use crate::transfer::PortPicker;
use crate::vfs::QuotaRegistry;
use bans::BanList;
use listener::{Admission, SessionJob};
use pool::WorkerPool;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// settings.ini or accounts.ini is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The password hasher could not be set up.
    #[error("password hashing: {0}")]
    Auth(#[from] AuthError),
    /// The listen address could not be bound, or threads not started.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(std::io::Error),
}

/// State every session shares, read-mostly.
pub struct ServerContext {
    /// The settings, as loaded.
    pub settings: Settings,
    /// The accounts, re-read when the file changes.
    pub accounts: AccountStore,
    /// Password verification.
    pub auth: Authenticator,
    /// Per-user quota ledgers.
    pub quotas: QuotaRegistry,
    /// Failed-login bans.
    pub bans: BanList,
    /// Passive port allocation.
    pub passive_ports: PortPicker,
    /// Set once shutdown begins; sessions finish their command and leave.
    stopping: AtomicBool,
}

impl ServerContext {
    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    ctx: Arc<ServerContext>,
}

impl Server {
    /// Loads the accounts, prepares hashing and binds the listen address.
    pub fn bind(settings: Settings) -> Result<Server, StartError> {
        let accounts = AccountStore::open(&settings.accounts_file, &settings.home_root)?;
        for account in accounts.current().iter() {
            if account.password.is_legacy() {
                warn!(
                    "user {} has a legacy unsalted MD5 password; upgrade it with: pocketftpd user passwd {} --config {}",
                    account.name,
                    account.name,
                    settings.settings_file.display()
                );
            }
        }
        let auth = Authenticator::new(settings.hash_cost, settings.hash_concurrency)?;
        let listener = TcpListener::bind(settings.listen).map_err(|source| StartError::Listen {
            addr: settings.listen,
            source,
        })?;
        let ctx = ServerContext {
            bans: BanList::new(settings.ban_after, settings.ban_window, settings.ban_time),
            passive_ports: PortPicker::new(settings.passive_ports),
            quotas: QuotaRegistry::default(),
            stopping: AtomicBool::new(false),
            settings,
            accounts,
            auth,
        };
        Ok(Server {
            listener,
            ctx: Arc::new(ctx),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.ctx.settings.listen)
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            ctx: Arc::clone(&self.ctx),
            addr: self.local_addr(),
        }
    }

    /// Serves until shut down: starts the workers, runs the accept loop on
    /// this thread, then gives running sessions `shutdown_grace` to finish.
    pub fn run(self) -> Result<(), StartError> {
        let settings = &self.ctx.settings;
        for line in settings.summary() {
            info!("{line}");
        }
        let ctx = Arc::clone(&self.ctx);
        let pool = WorkerPool::new(settings.max_connections, move |job: SessionJob| {
            crate::session::run(&ctx, job);
        })
        .map_err(StartError::Threads)?;
        // Logged once the workers exist: scripts (and tests) that wait for
        // this line then see the server's full, steady thread count.
        info!("listening on {}", self.local_addr());
        let admission = Arc::new(Admission::default());
        listener::accept_loop(&self.listener, &self.ctx, &pool, &admission);
        // Close the listening socket now, not when `run` returns: during the
        // grace period new clients must be refused at once, not left in the
        // kernel's backlog waiting for a greeting that never comes.
        let Server { listener, ctx } = self;
        drop(listener);
        let settings = &ctx.settings;
        let grace = settings.shutdown_grace;
        info!("shutting down: waiting up to {grace:?} for running sessions");
        let left = pool.shutdown(Instant::now() + grace);
        if left > 0 {
            warn!("{left} sessions still running at the end of the grace period; closing them");
        }
        info!("stopped");
        Ok(())
    }
}

/// Stops a running server from another thread (signal handler thread,
/// tests).
#[derive(Clone)]
pub struct ShutdownHandle {
    ctx: Arc<ServerContext>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Begins shutdown: no new connections; sessions end after their
    /// current command; `run` returns after the grace period at most.
    pub fn shutdown(&self) {
        self.ctx.stopping.store(true, Ordering::SeqCst);
        // accept() blocks; a connection to ourselves wakes it up (the trick
        // tiny-http's Drop uses).
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}
