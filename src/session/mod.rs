//! One FTP session, login to QUIT, run start to end on one worker.
//!
//! The worker owns the [`Session`] outright: no shared session state and no
//! channels between control and data sides. The loop is: greet, then read a
//! line -> parse -> dispatch to a handler -> write the reply. A handler's
//! `CommandError` becomes a reply and the session goes on; what ends a
//! session (socket errors, timeouts, too many failed logins, QUIT, shutdown)
//! is decided here.

pub mod line;
pub mod state;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use log::{debug, info, trace, warn};

use crate::commands::{self, CommandError};
use crate::limits::CONTROL_WRITE_TIMEOUT;
use crate::protocol::command::{self as parser, Command, HashAlgorithm, ParseError};
use crate::protocol::reply::Reply;
use crate::server::ServerContext;
use crate::server::listener::SessionJob;
use crate::transfer::DataSetup;
use crate::vfs::VirtualPath;
use line::{Line, LineReader, ReadError};
use state::{State, User, allowed_before_login};

/// How often a waiting session looks at the shutdown flag.
const STOP_CHECK: Duration = Duration::from_millis(500);

/// The control connection.
pub struct Control {
    /// The socket.
    pub stream: TcpStream,
    /// Bounded line reader over it.
    pub reader: LineReader,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address on this connection (PASV answers with it).
    pub local: SocketAddr,
    /// Set once a write failed: the session ends after this command.
    broken: bool,
}

impl Control {
    /// Writes one reply. A failure marks the connection broken.
    pub fn send(&mut self, reply: &Reply) -> io::Result<()> {
        trace!(
            "-> {}",
            String::from_utf8_lossy(&reply.to_wire()).trim_end()
        );
        let result = self.stream.write_all(&reply.to_wire());
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Sends a preliminary (1xx) reply; a failure is noted, not returned, so
    /// the handler carries on and the session ends afterwards.
    pub fn send_preliminary(&mut self, reply: &Reply) {
        let _ = self.send(reply);
    }

    /// Waits `delay` on behalf of the client (the failed-login delay), but
    /// returns early, with `false`, if the client hangs up meanwhile: a
    /// client that has gone must not keep the worker idle.
    pub fn pause(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        let mut probe = [0u8; 1];
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return true;
            };
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return true;
            }
            match self.stream.peek(&mut probe) {
                Ok(0) => return false,
                // The client sent more (pipelined): it is still there; wait
                // out the delay without looking again.
                Ok(_) => {
                    std::thread::sleep(left);
                    return true;
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return true;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// Non-blocking check for ABOR or a vanished client during a transfer.
    pub fn poll_abort(&mut self) -> bool {
        self.reader.poll_abort(&mut self.stream)
    }
}

/// Per-session transfer settings and pending two-step commands.
#[derive(Default)]
pub struct TransferState {
    /// How the next data connection is made.
    pub data: DataSetup,
    /// Offset from REST, for the next transfer only.
    pub rest: Option<u64>,
    /// Source of a pending rename (RNFR), for the next command only.
    pub rename_from: Option<VirtualPath>,
    /// Algorithm for HASH, chosen with OPTS HASH.
    pub hash: Option<HashAlgorithm>,
    /// EPSV ALL was sent: PASV/PORT/EPRT are refused from now on.
    pub epsv_all: bool,
}

/// One session.
pub struct Session<'s> {
    ctx: &'s ServerContext,
    // Control connection
    control: Control,
    connected_at: Instant,
    // Login
    state: State,
    failed_logins: u32,
    // Transfer state
    transfer: TransferState,
}

/// What the loop does after a command.
pub enum Next {
    /// Read the next command.
    Continue,
    /// Close the connection after the reply.
    Close,
}

/// Runs a session on the calling worker until it ends.
pub fn run(ctx: &ServerContext, job: SessionJob) {
    let SessionJob {
        stream,
        peer,
        queued_at,
        guard,
    } = job;
    let _guard = guard;
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(error) => {
            debug!("{peer}: gone before the session started: {error}");
            return;
        }
    };
    let mut control = Control {
        stream,
        reader: LineReader::new(),
        peer,
        local,
        broken: false,
    };
    if queued_at.is_some_and(|queued_at| queued_at.elapsed() > ctx.settings.queue_timeout) {
        let _ = control.send(&Reply::queue_timeout());
        info!("{peer}: waited too long in the queue; closed");
        return;
    }
    // Without TCP_NODELAY, each short reply after a data transfer waits for
    // the client's delayed ACK (about 40 ms per file on Linux).
    let _ = control.stream.set_nodelay(true);
    let _ = control
        .stream
        .set_write_timeout(Some(CONTROL_WRITE_TIMEOUT));
    let mut session = Session {
        ctx,
        control,
        connected_at: Instant::now(),
        state: State::AwaitUser,
        failed_logins: 0,
        transfer: TransferState::default(),
    };
    let why = session.serve();
    let user = match &session.state {
        State::LoggedIn(user) => user.account.name.as_str(),
        _ => "-",
    };
    info!(
        "{peer}: session closed ({why}), user {user}, {:.1} s",
        session.connected_at.elapsed().as_secs_f64()
    );
    // Leave the user's quota ledger before the control socket closes: a
    // client that sees the close and logs in again at once must find no
    // session open, so its home is measured afresh.
    session.state = State::AwaitUser;
}

impl Session<'_> {
    /// The command loop. Returns why it ended, for the log.
    fn serve(&mut self) -> &'static str {
        if self
            .control
            .send(&Reply::greeting(&self.ctx.settings.banner))
            .is_err()
        {
            return "greeting not delivered";
        }
        let mut last_command = Instant::now();
        loop {
            let deadline = match self.state {
                State::LoggedIn(_) => last_command + self.ctx.settings.idle_timeout,
                _ => self.connected_at + self.ctx.settings.login_timeout,
            };
            let ctx = self.ctx;
            let line = self.control.reader.read_line(
                &mut self.control.stream,
                deadline,
                STOP_CHECK,
                &|| ctx.is_stopping(),
            );
            let raw = match line {
                Ok(Line::Complete(raw)) => raw,
                Ok(Line::TooLong) => {
                    warn!("{}: command line too long", self.control.peer);
                    if self.control.send(&Reply::line_too_long()).is_err() {
                        return "write failed";
                    }
                    continue;
                }
                Err(ReadError::TimedOut) => {
                    let (reply, why) = match self.state {
                        State::LoggedIn(_) => (Reply::idle_timeout(), "idle timeout"),
                        _ => (Reply::login_timeout(), "login timeout"),
                    };
                    let _ = self.control.send(&reply);
                    return why;
                }
                Err(ReadError::Stopped) => {
                    let _ = self.control.send(&Reply::shutting_down());
                    return "server shutdown";
                }
                Err(ReadError::Closed) => return "client closed",
                Err(ReadError::Io(error)) => {
                    debug!("{}: control read failed: {error}", self.control.peer);
                    return "connection error";
                }
            };
            last_command = Instant::now();
            let next = self.handle_line(&raw);
            if self.control.broken {
                return "write failed";
            }
            if let Next::Close = next {
                return "closed by command";
            }
            if self.ctx.is_stopping() {
                let _ = self.control.send(&Reply::shutting_down());
                return "server shutdown";
            }
        }
    }

    /// Parses and runs one line, and sends the reply.
    fn handle_line(&mut self, raw: &[u8]) -> Next {
        let command = match parser::parse(raw) {
            Ok(command) => command,
            Err(error) => {
                debug!(
                    "{}: bad line ({}): {error}",
                    self.control.peer,
                    parser::verb_of(raw)
                );
                let reply = match error {
                    ParseError::UnknownCommand => Reply::unknown_command(),
                    ParseError::ParameterNotImplemented => Reply::parameter_not_implemented(),
                    ParseError::Nul
                    | ParseError::NotUtf8
                    | ParseError::MissingArgument(_)
                    | ParseError::BadArgument(_) => Reply::bad_argument(&format!("{error}.")),
                };
                let _ = self.control.send(&reply);
                return Next::Continue;
            }
        };
        // Password is masked by `Password`'s Debug.
        debug!("{}: {command:?}", self.control.peer);
        let (reply, next) = self.dispatch(command);
        let _ = self.control.send(&reply);
        next
    }

    /// Runs a parsed command and returns its final reply.
    fn dispatch(&mut self, command: Command) -> (Reply, Next) {
        let Session {
            ctx,
            control,
            state,
            failed_logins,
            transfer,
            ..
        } = self;
        let ctx = *ctx;
        // RNFR applies to the very next command only. REST applies to the
        // next transfer, and survives the commands clients send to set one
        // up (ftplib and curl send EPSV between REST and RETR); anything
        // else clears it.
        let rename_from = transfer.rename_from.take();
        let rest = match command {
            Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
            | Command::Type(_)
            | Command::Mode(_)
            | Command::Stru(_) => transfer.rest,
            _ => transfer.rest.take(),
        };
        match command {
            Command::User(name) => return (commands::login::user(state, name), Next::Continue),
            Command::Pass(password) => {
                return commands::login::pass(ctx, state, failed_logins, control, &password);
            }
            Command::Quit => return (Reply::goodbye(), Next::Close),
            _ => {}
        }
        let State::LoggedIn(user) = state else {
            if !allowed_before_login(&command) {
                return (Reply::not_logged_in(), Next::Continue);
            }
            return (commands::info::general(transfer, command), Next::Continue);
        };
        let user: &mut User = user;
        let result = match command {
            Command::Rest(offset) => {
                transfer.rest = Some(offset);
                Ok(Reply::restart_pending(offset))
            }
            Command::Rnfr(path) => commands::files::rnfr(user, &path).map(|(source, reply)| {
                transfer.rename_from = Some(source);
                reply
            }),
            Command::Rnto(path) => match rename_from {
                Some(source) => commands::files::rnto(user, &source, &path),
                None => Err(CommandError::NoPendingRename),
            },
            Command::Pwd => Ok(commands::nav::pwd(user)),
            Command::Cwd(path) => commands::nav::cwd(user, &path),
            Command::Cdup => commands::nav::cwd(user, ".."),
            Command::Dele(path) => commands::files::dele(user, &path),
            Command::Mkd(path) => commands::files::mkd(user, &path),
            Command::Rmd(path) => commands::files::rmd(user, &path),
            Command::Size(path) => commands::listing::size(user, &path),
            Command::Mdtm(path) => commands::listing::mdtm(user, &path),
            Command::Mlst(path) => commands::listing::mlst(user, path.as_deref()),
            Command::Stat(Some(path)) => commands::listing::stat_path(user, &path),
            Command::Stat(None) => Ok(commands::info::stat(ctx, user, control)),
            Command::List(path) => commands::transfer::listing(
                ctx,
                user,
                control,
                transfer,
                commands::listing::Format::List,
                path.as_deref(),
            ),
            Command::Nlst(path) => commands::transfer::listing(
                ctx,
                user,
                control,
                transfer,
                commands::listing::Format::Names,
                path.as_deref(),
            ),
            Command::Mlsd(path) => commands::transfer::listing(
                ctx,
                user,
                control,
                transfer,
                commands::listing::Format::Facts,
                path.as_deref(),
            ),
            Command::Retr(path) => {
                commands::transfer::retr(ctx, user, control, transfer, &path, rest)
            }
            Command::Stor(path) => commands::transfer::stor(
                ctx,
                user,
                control,
                transfer,
                commands::transfer::Upload::Store(path, rest),
            ),
            Command::Appe(path) => commands::transfer::stor(
                ctx,
                user,
                control,
                transfer,
                commands::transfer::Upload::Append(path),
            ),
            Command::Stou(path) => commands::transfer::stor(
                ctx,
                user,
                control,
                transfer,
                commands::transfer::Upload::Unique(path),
            ),
            Command::Allo(bytes) => commands::info::allo(user, bytes),
            Command::Abor => Ok(commands::transfer::abor(transfer)),
            Command::Pasv => commands::transfer::pasv(ctx, control, transfer),
            Command::Epsv(arg) => commands::transfer::epsv(ctx, control, transfer, arg),
            Command::Port(target) | Command::Eprt(target) => {
                commands::transfer::port(ctx, control, transfer, target)
            }
            Command::Hash(path) => commands::info::hash(user, transfer, &path),
            Command::XDigest(algorithm, path) => commands::info::xdigest(user, algorithm, &path),
            Command::Avbl(path) => commands::info::avbl(user, path.as_deref()),
            Command::Site(site) => commands::info::site(user, site),
            other => Ok(commands::info::general(transfer, other)),
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(error) => {
                match &error {
                    CommandError::Vfs(crate::vfs::VfsError::Io(io))
                    | CommandError::Transfer(crate::transfer::TransferError::Disk(io)) => {
                        warn!("{}: {}: i/o error: {io}", control.peer, user.account.name)
                    }
                    _ => debug!("{}: {}: {error}", control.peer, user.account.name),
                }
                Reply::from(&error)
            }
        };
        (reply, Next::Continue)
    }
}
