//! `tune serve`: the study's report as a live page, and a read-only JSON API beside it, on a small
//! synchronous HTTP server (`tiny_http`), for a study in a folder or in PostgreSQL.
//!
//! A follower thread reads what the study appended since it last looked ([`Follower`]) and
//! publishes a new [`Snapshot`]; requests answer from the latest one (its page and JSON made
//! once, by the first request that needs them), and `/api/version?after=V` waits for the next.
//! The routes are fixed ([`route`]): nothing is served from disk by path, so no request reaches a
//! file, inside the study folder or outside it. Bound to a loopback address, the server answers
//! only requests addressed to a loopback name (a web page elsewhere cannot read the study through
//! a DNS name of its own that points here).

mod api;
mod front;
mod page;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tiny_http::{Header, Method, Request, Response};

use crate::backend::{Follower, Location};
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::storage::History;

/// How often the follower looks for new events.
const EVERY: Duration = Duration::from_millis(200);
/// How long `/api/version?after=V` waits for a change before it answers the same version.
const WAIT: Duration = Duration::from_secs(5);
/// Requests answered at once (each on its own thread); more are refused with 503.
const MAX_REQUESTS: usize = 64;

/// The study as of one version, with what requests make of it (each made once).
struct Snapshot {
    version: u64,
    history: History,
    page: OnceLock<String>,
    study: OnceLock<serde_json::Value>,
    trials: OnceLock<String>,
}

impl Snapshot {
    fn new(version: u64, history: History) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            version,
            history,
            page: OnceLock::new(),
            study: OnceLock::new(),
            trials: OnceLock::new(),
        })
    }
}

/// What the follower and the requests share.
struct Shared {
    plan: StudyPlan,
    now: Mutex<Arc<Snapshot>>,
    changed: Condvar,
    /// The last failure to read the study (the follower tries again), for `/api/study`.
    trouble: Mutex<Option<String>>,
    in_flight: AtomicUsize,
    /// Requests waiting in `/api/version` now: the pages open.
    watching: AtomicUsize,
    /// Whether requests must be addressed to a loopback name (see the module's header).
    loopback: bool,
}

impl Shared {
    fn latest(&self) -> Arc<Snapshot> {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A bound server, ready to [run](Server::run).
pub struct Server {
    http: tiny_http::Server,
    addr: SocketAddr,
    shared: Arc<Shared>,
    follower: Follower,
}

/// Binds `host:port` (port 0: any free one) for the study `plan` describes, kept at `loc`, and
/// reads the study once. The error names `--host` or `--port` when the address cannot be bound.
pub fn bind(plan: StudyPlan, loc: &Location, host: &str, port: u16) -> Result<Server> {
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| Error::Flag {
            flag: "--host",
            msg: format!("`{host}` is not an address of this machine ({e})"),
        })?
        .collect();
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| Error::Flag {
        flag: "--port",
        msg: format!("cannot listen on {host}:{port}: {e}"),
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::System(e.to_string()))?;
    let Some(follower) = Follower::open(loc)? else {
        return Err(Error::Study(format!(
            "{}: no study has run here yet: run `tune {}` first",
            loc.shown(),
            plan.spec_file.display()
        )));
    };
    let http = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| Error::System(format!("{addr}: {e}")))?;
    let first = Snapshot::new(follower.version, follower.history.clone());
    Ok(Server {
        http,
        addr,
        shared: Arc::new(Shared {
            plan,
            now: Mutex::new(first),
            changed: Condvar::new(),
            trouble: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            watching: AtomicUsize::new(0),
            loopback: addr.ip().is_loopback(),
        }),
        follower,
    })
}

impl Server {
    /// The address it listens on (with the port chosen for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests until the process ends; the follower runs beside it.
    pub fn run(self) -> Result<()> {
        let Server {
            http,
            shared,
            follower,
            ..
        } = self;
        let s = shared.clone();
        std::thread::Builder::new()
            .name("tune-follow".into())
            .spawn(move || follow(follower, &s))
            .map_err(|e| Error::System(format!("cannot start a thread: {e}")))?;
        for request in http.incoming_requests() {
            if shared.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_REQUESTS {
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = request.respond(error(503, "too many requests at once"));
                continue;
            }
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("tune-request".into())
                .spawn(move || {
                    answer(&s, request);
                    s.in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// Reads the study's new events every [`EVERY`], publishes each new version (its page made
/// at once, in the background, so that a request finds it ready) and wakes the waiting requests.
fn follow(mut follower: Follower, shared: &Shared) {
    page_of(shared, &shared.latest());
    loop {
        std::thread::sleep(EVERY);
        let changed = follower.update();
        *shared.trouble.lock().unwrap_or_else(|e| e.into_inner()) =
            changed.as_ref().err().map(|e| e.to_string());
        if !changed.unwrap_or(false) {
            continue;
        }
        let snap = Snapshot::new(follower.version, follower.history.clone());
        *shared.now.lock().unwrap_or_else(|e| e.into_inner()) = snap.clone();
        shared.changed.notify_all();
        page_of(shared, &snap);
    }
}

fn page_of<'a>(shared: &Shared, snap: &'a Snapshot) -> &'a str {
    snap.page
        .get_or_init(|| page::render(&shared.plan, &snap.history, snap.version))
}

/// What a request asks for: only these exist.
#[derive(Debug, PartialEq)]
enum Route {
    Page,
    Study,
    Trials,
    Curve(u64),
    /// The version, once it differs from `after` (or after [`WAIT`]).
    Version {
        after: Option<u64>,
    },
}

/// The route of a request's target (path and query, as sent), or the status to answer: 404 for
/// any other path, 400 for a query a route does not take. Nothing is decoded: `%2e%2e` or `..`
/// is no route's name, whatever it would decode to.
fn route(target: &str) -> std::result::Result<Route, u16> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let route = match path {
        "/" | "/index.html" => Route::Page,
        "/api/study" => Route::Study,
        "/api/trials" => Route::Trials,
        "/api/version" => {
            let after = match query.strip_prefix("after=") {
                None if query.is_empty() => None,
                Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(v.parse().map_err(|_| 400u16)?)
                }
                _ => return Err(400),
            };
            return Ok(Route::Version { after });
        }
        _ => {
            let n = path
                .strip_prefix("/api/trials/")
                .and_then(|rest| rest.strip_suffix("/curve"))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(404u16)?;
            Route::Curve(n.parse().map_err(|_| 404u16)?)
        }
    };
    match query.is_empty() {
        true => Ok(route),
        false => Err(400),
    }
}

/// Whether the `Host` header names this machine's loopback (`localhost`, `127.x.y.z`, `[::1]`,
/// with any port); a request without one (HTTP/1.0) is let through.
fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else { return true };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

/// A response with the headers every answer carries: its type, no caching, no sniffing, and a
/// policy that lets the page run its own inline scripts and reach this server only.
fn respond(status: u16, kind: &str, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let length = body.len();
    Response::from_string(body)
        .with_status_code(status)
        // With its length, not in chunks (tiny_http's default past 32 kB): clients read it faster.
        .with_chunked_threshold(length + 1)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
        ))
}

fn error(status: u16, msg: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    respond(
        status,
        "application/json",
        serde_json::json!({ "error": msg }).to_string(),
    )
}

/// Answers one request.
fn answer(shared: &Shared, request: Request) {
    let host = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string());
    let response = if !matches!(request.method(), Method::Get | Method::Head) {
        error(405, "read-only: GET only")
    } else if shared.loopback && !loopback_host(host.as_deref()) {
        error(400, "address this server as localhost or 127.0.0.1")
    } else {
        match route(request.url()) {
            Err(404) => error(404, "no such page: see docs/use.md for the API"),
            Err(status) => error(status, "bad query"),
            Ok(r) => ok(shared, r),
        }
    };
    // The client may have gone: nothing to do about it.
    let _ = request.respond(response);
}

/// The answer to a valid route.
fn ok(shared: &Shared, route: Route) -> Response<std::io::Cursor<Vec<u8>>> {
    const JSON: &str = "application/json";
    let plan = &shared.plan;
    let snap = match route {
        Route::Version { after: Some(v) } => wait_past(shared, v),
        _ => shared.latest(),
    };
    let h = &snap.history;
    match route {
        Route::Page => respond(
            200,
            "text/html; charset=utf-8",
            page_of(shared, &snap).into(),
        ),
        Route::Study => {
            let mut study = snap
                .study
                .get_or_init(|| api::study(plan, h, snap.version))
                .clone();
            let trouble = shared.trouble.lock().unwrap_or_else(|e| e.into_inner());
            study["trouble"] = trouble.clone().into();
            study["watching"] = shared.watching.load(Ordering::SeqCst).into();
            respond(200, JSON, study.to_string())
        }
        Route::Trials => respond(
            200,
            JSON,
            snap.trials
                .get_or_init(|| api::trials(plan, h).to_string())
                .clone(),
        ),
        Route::Curve(n) => match api::curve(plan, h, n) {
            Some(c) => respond(200, JSON, c.to_string()),
            None => error(404, &format!("the study has no trial {n}")),
        },
        Route::Version { .. } => respond(
            200,
            JSON,
            serde_json::json!({ "version": snap.version }).to_string(),
        ),
    }
}

/// The latest snapshot once its version is not `after`, or after [`WAIT`].
fn wait_past(shared: &Shared, after: u64) -> Arc<Snapshot> {
    let deadline = Instant::now() + WAIT;
    shared.watching.fetch_add(1, Ordering::SeqCst);
    let mut now = shared.now.lock().unwrap_or_else(|e| e.into_inner());
    while now.version == after {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        now = match shared.changed.wait_timeout(now, left) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        };
    }
    shared.watching.fetch_sub(1, Ordering::SeqCst);
    now.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fixed_routes_exist() {
        assert_eq!(route("/"), Ok(Route::Page));
        assert_eq!(route("/api/study"), Ok(Route::Study));
        assert_eq!(route("/api/trials"), Ok(Route::Trials));
        assert_eq!(route("/api/trials/12/curve"), Ok(Route::Curve(12)));
        assert_eq!(
            route("/api/version?after=3"),
            Ok(Route::Version { after: Some(3) })
        );
        assert_eq!(route("/api/version"), Ok(Route::Version { after: None }));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/api/trials/..%2f..%2fjournal.jsonl/curve",
            "/api/trials/%252e%252e/curve",
            "/api/trials/1/../../journal.jsonl",
            "/api/trials/-1/curve",
            "/api/trials/99999999999999999999999/curve",
            "/journal.jsonl",
            "//etc/passwd",
            "/..\\..\\etc\\passwd",
            "http://127.0.0.1/etc/passwd",
            "",
        ] {
            assert_eq!(route(bad), Err(404), "{bad}");
        }
        for bad in ["/api/version?after=x", "/api/version?after=", "/?a=1"] {
            assert_eq!(route(bad), Err(400), "{bad}");
        }
    }

    #[test]
    fn loopback_names_only() {
        for ok in [
            Some("localhost:8080"),
            Some("127.0.0.1"),
            Some("127.0.0.1:80"),
            Some("[::1]:8080"),
            Some("LOCALHOST"),
            None,
        ] {
            assert!(loopback_host(ok), "{ok:?}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1:8080",
            "[::2]",
            "localhost.evil.com",
        ] {
            assert!(!loopback_host(Some(bad)), "{bad}");
        }
    }
}
