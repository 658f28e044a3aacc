//! The load client of the soak test (`tests/load/soak.sh`): drives `examples/conformance.rs`
//! with a mix of valid, expired, forged and anonymous requests at full speed, knows what it sent
//! on every connection, and judges every answer.
//!
//! ```text
//! soak_client --target http://127.0.0.1:PORT --admin http://127.0.0.1:ADMIN --tokens DIR \
//!     [--mode steady|rotation] [--duration SECS] [--connections N] [--threads N] \
//!     [--rotate-every SECS] [--retire-after SECS] [--grace-ms MS] [--hot N] \
//!     [--mix hot=25,fresh=15,...] [--path /protected] [--timeout SECS] [--out FILE]
//! ```
//!
//! `--admin` is the second port of `tests/load/mock_idp.rs` and `--tokens` the directory it minted
//! into; the application must fetch its keys through the provider's logged `/jwks` (its
//! `jwks_proxy_url`), because the verdict on a token depends on which keys the application held
//! when it answered, and that log is how we know.
//!
//! # Why a client of its own
//!
//! wrk's Lua `response()` is called per answer without saying which request it answers, and
//! with many keep-alive connections per thread the answers interleave, so a wrk run can count
//! statuses but not tell "a valid token rejected" from "a forged one rejected". Here each
//! connection is a task that sends one request, reads its answer, and judges it against what it
//! sent before sending the next: per-request accounting is exact by construction. The HTTP/1.1
//! exchange is written by hand over non-blocking sockets (one current-thread runtime per
//! `--threads`), so the client costs about what wrk costs on the two shared cores.
//!
//! # The mix
//!
//! Each request draws its category by weight (`--mix` changes them): `valid.hot` 25 (16 tokens
//! of the signing key, cache hits), `valid.fresh` 15 (the signing key's other tokens in turn,
//! never cached), `valid.warm` 6 (ES256 tokens sent twice and never again, which fill the token
//! cache and keep it evicting), `previous-key` 15 in the rotation run only (`valid.old-key` /
//! `retired-key`), `valid.expiring` 5 (ES256 tokens whose `exp` falls mid-run), `expired` 10,
//! `forged.bad-signature` 10, `forged.unknown-kid` 10, `forged.alg-none` 5, `anonymous` 10.
//!
//! # What is correct
//!
//! `anonymous`, `forged.*` (bad signature, unknown `kid`, `alg: none`) must get 401, always.
//! For a token with a genuine signature (`valid.*`, `expired`, `retired-key`), the answer must be
//! 200 exactly when its key is in the key set the application holds and `exp` has not passed,
//! else 401. The key set the application holds is reconstructed from the provider's log of the
//! key sets it served: a set served at `end` (its answer complete) is in use from `end` at the
//! earliest until `grace` after the next set's `end` at the latest. A request sent at `s` and
//! answered at `r` may have been judged with any set in use during `[s, r]`; if its key is in all
//! of them (and `r < exp`) it must be accepted, if in none of them (or `s >= exp`) rejected,
//! otherwise either answer is correct and it is counted as `either`. A 200 must also name the
//! token's own `sub`. Any other status, a 5xx above all, is wrong. Times come from the
//! machine's real-time clock in every process (one host), so `exp` needs no slack: a request
//! sent at or after `exp` must be refused, one answered before it must be accepted.
//!
//! Whether the application fetched new keys as soon as its cooldown and TTL allow is not judged
//! here but from the same log by `tests/load/soak.py` (adoption and retirement delays, request
//! counts at the provider).
//!
//! In `--mode rotation` the client also rotates the provider's keys through
//! `rsa1-RS256 → rsa2-RS256 → rsa3-RS256 → rsa4-RS256 → rsa1-RS256 …`: every `--rotate-every`
//! seconds it publishes the next key and sends the valid tokens of that key from then on, and
//! `--retire-after` seconds later it unpublishes the previous one. Tokens of earlier keys keep
//! being sent (`valid.old-key` while their key is published, `retired-key` after).
//!
//! It writes one JSON document (to `--out`, else standard output) with the counts by category
//! and status, the wrong answers (and the first examples), latencies, the key events and the
//! key sets served.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::error::Error;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_rt::net::TcpStream;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

mod soak_shared;
use soak_shared::{lock, unix_us};

/// The `kid`s whose tokens have genuine signatures, as bits of a key-set mask. The first four
/// are the rotation (the order of `MockIdp::rotate`).
const KNOWN_KIDS: [&str; 5] = [
    "rsa1-RS256",
    "rsa2-RS256",
    "rsa3-RS256",
    "rsa4-RS256",
    "p256-ES256",
];
const ROTATION_KEYS: usize = 4;

/// Keep at most this many examples of wrong answers per thread.
const WRONG_EXAMPLES: usize = 20;

/// What a request carries. The variants up to `Expired` carry a genuinely signed token, judged
/// against the key sets the application held; the others must always be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    /// One of a few valid tokens of the current signing key, sent again and again (cache hits).
    ValidHot,
    /// Valid tokens of the current signing key, each sent long after its previous use (misses).
    ValidFresh,
    /// Valid ES256 tokens, each sent twice in a row on one connection and never again: the
    /// token cache admits a token on its second verification on a worker, so these fill it
    /// and make it evict all the time (the memory verdict's workload).
    ValidWarm,
    /// Valid tokens of an earlier signing key that is still published (rotation).
    ValidOldKey,
    /// Tokens signed by a key that is not published when they are sent (rotation).
    RetiredKey,
    /// Valid ES256 tokens whose `exp` falls in the middle of the run.
    ValidExpiring,
    /// Validly signed tokens whose `exp` passed before the run.
    Expired,
    /// A published `kid`, signed with another key.
    BadSignature,
    /// A `kid` nobody publishes.
    UnknownKid,
    /// `alg: none` with an empty signature.
    AlgNone,
    /// No `Authorization` header.
    Anonymous,
}

impl Category {
    const ALL: [Self; 11] = [
        Self::ValidHot,
        Self::ValidFresh,
        Self::ValidWarm,
        Self::ValidOldKey,
        Self::RetiredKey,
        Self::ValidExpiring,
        Self::Expired,
        Self::BadSignature,
        Self::UnknownKid,
        Self::AlgNone,
        Self::Anonymous,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ValidHot => "valid.hot",
            Self::ValidFresh => "valid.fresh",
            Self::ValidWarm => "valid.warm",
            Self::ValidOldKey => "valid.old-key",
            Self::RetiredKey => "retired-key",
            Self::ValidExpiring => "valid.expiring",
            Self::Expired => "expired",
            Self::BadSignature => "forged.bad-signature",
            Self::UnknownKid => "forged.unknown-kid",
            Self::AlgNone => "forged.alg-none",
            Self::Anonymous => "anonymous",
        }
    }

    /// Whether the token's signature is genuine, so the answer depends on the keys held.
    fn genuine(self) -> bool {
        matches!(
            self,
            Self::ValidHot
                | Self::ValidFresh
                | Self::ValidWarm
                | Self::ValidOldKey
                | Self::RetiredKey
                | Self::ValidExpiring
                | Self::Expired
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the mix draws; `PreviousKey` becomes `valid.old-key` or `retired-key` when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Hot,
    Fresh,
    Warm,
    PreviousKey,
    Expiring,
    Expired,
    BadSignature,
    UnknownKid,
    AlgNone,
    Anonymous,
}

impl Pick {
    const ALL: [Self; 10] = [
        Self::Hot,
        Self::Fresh,
        Self::Warm,
        Self::PreviousKey,
        Self::Expiring,
        Self::Expired,
        Self::BadSignature,
        Self::UnknownKid,
        Self::AlgNone,
        Self::Anonymous,
    ];

    /// The name in `--mix`.
    fn name(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Fresh => "fresh",
            Self::Warm => "warm",
            Self::PreviousKey => "previous-key",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::BadSignature => "bad-signature",
            Self::UnknownKid => "unknown-kid",
            Self::AlgNone => "alg-none",
            Self::Anonymous => "anonymous",
        }
    }

    fn default_weight(self, rotation: bool) -> u32 {
        match self {
            Self::Hot => 25,
            Self::Fresh => 15,
            Self::Warm => 6,
            Self::PreviousKey => u32::from(rotation) * 15,
            Self::Expiring => 5,
            Self::Expired => 10,
            Self::BadSignature => 10,
            Self::UnknownKid => 10,
            Self::AlgNone => 5,
            Self::Anonymous => 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Steady,
    Rotation,
}

struct Options {
    target: SocketAddr,
    host: String,
    admin: String,
    tokens: PathBuf,
    mode: Mode,
    duration: Duration,
    connections: usize,
    threads: usize,
    path: String,
    hot: usize,
    rotate_every: Duration,
    retire_after: Duration,
    grace_us: u64,
    mix: Vec<(Pick, u32)>,
    timeout: Duration,
    out: Option<PathBuf>,
    progress: Duration,
}

fn usage() -> String {
    "usage: soak_client --target http://127.0.0.1:PORT --admin http://127.0.0.1:PORT --tokens DIR \
     [--mode steady|rotation] [--duration SECS (60)] [--connections N (32)] [--threads N (2)] \
     [--rotate-every SECS (20)] [--retire-after SECS (10)] [--grace-ms MS (1000)] [--hot N (16)] \
     [--mix hot=25,fresh=15,warm=6,previous-key=15,expiring=5,expired=10,bad-signature=10,\
     unknown-kid=10,alg-none=5,anonymous=10] [--path /protected] [--timeout SECS (10)] \
     [--progress SECS (10)] [--out FILE]"
        .to_owned()
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: expected seconds, got {value:?}"))
}

fn number(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
}

fn options() -> Result<Options, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(usage());
        }
        let known = [
            "--target",
            "--admin",
            "--tokens",
            "--mode",
            "--duration",
            "--connections",
            "--threads",
            "--path",
            "--hot",
            "--rotate-every",
            "--retire-after",
            "--grace-ms",
            "--mix",
            "--timeout",
            "--out",
            "--progress",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag:?}\n{}", usage()));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        values.insert(flag, value);
    }
    let get = |flag: &str| values.get(flag).map(String::as_str);
    let required = |flag: &str| get(flag).ok_or_else(|| format!("{flag} is required\n{}", usage()));
    let target_url = required("--target")?;
    let host = target_url
        .strip_prefix("http://")
        .ok_or("--target: expected http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    let target: SocketAddr = host
        .parse()
        .map_err(|_| format!("--target: expected http://IP:PORT, got {target_url:?}"))?;
    if !target.ip().is_loopback() {
        return Err("--target: loopback addresses only".to_owned());
    }
    let mode = match get("--mode").unwrap_or("steady") {
        "steady" => Mode::Steady,
        "rotation" => Mode::Rotation,
        other => return Err(format!("--mode: steady or rotation, got {other:?}")),
    };
    let rotation = mode == Mode::Rotation;
    let mut mix: Vec<(Pick, u32)> = Pick::ALL
        .iter()
        .map(|pick| (*pick, pick.default_weight(rotation)))
        .collect();
    if let Some(spec) = get("--mix") {
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: expected name=weight, got {part:?}"))?;
            let slot = mix
                .iter_mut()
                .find(|(pick, _)| pick.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = Pick::ALL.iter().map(|p| p.name()).collect();
                    format!("--mix: unknown {name:?}; one of {}", names.join(", "))
                })?;
            slot.1 = weight
                .parse()
                .map_err(|_| format!("--mix: bad weight {weight:?}"))?;
        }
    }
    if !rotation && mix.iter().any(|(p, w)| *p == Pick::PreviousKey && *w > 0) {
        return Err("--mix: previous-key needs --mode rotation".to_owned());
    }
    if mix.iter().all(|(_, w)| *w == 0) {
        return Err("--mix: every weight is 0".to_owned());
    }
    let rotate_every = seconds("--rotate-every", get("--rotate-every").unwrap_or("20"))?;
    let retire_after = seconds("--retire-after", get("--retire-after").unwrap_or("10"))?;
    // With four keys in turn, a key signs again 4 periods after it started: it must have been
    // unpublished (after its signing period plus `retire_after`) before then.
    if rotation && (rotate_every.is_zero() || retire_after >= rotate_every * 3) {
        return Err(
            "--retire-after must be shorter than 3 × --rotate-every (4 keys in turn)".into(),
        );
    }
    let grace_ms = number("--grace-ms", get("--grace-ms").unwrap_or("1000"))?;
    Ok(Options {
        target,
        host,
        admin: required("--admin")?.trim_end_matches('/').to_owned(),
        tokens: PathBuf::from(required("--tokens")?),
        mode,
        duration: seconds("--duration", get("--duration").unwrap_or("60"))?,
        connections: number("--connections", get("--connections").unwrap_or("32"))?.max(1),
        threads: number("--threads", get("--threads").unwrap_or("2"))?.max(1),
        path: get("--path").unwrap_or("/protected").to_owned(),
        hot: number("--hot", get("--hot").unwrap_or("16"))?.max(1),
        rotate_every,
        retire_after,
        grace_us: grace_ms as u64 * 1000,
        mix,
        timeout: seconds("--timeout", get("--timeout").unwrap_or("10"))?,
        out: get("--out").map(PathBuf::from),
        progress: seconds("--progress", get("--progress").unwrap_or("10"))?,
    })
}

// --- tokens -----------------------------------------------------------------------------------

/// A token and what the oracle needs to know about it, read from the token itself.
struct Token {
    raw: Box<str>,
    sub: Box<str>,
    exp_us: u64,
    /// Index in [`KNOWN_KIDS`], `None` for any other `kid`.
    kid: Option<u8>,
}

impl Token {
    fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = raw.split('.');
        let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
            return Err("not a JWT".to_owned());
        };
        let decode = |segment: &str| -> Result<Value, String> {
            let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|e| e.to_string())?;
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        };
        let (header, payload) = (decode(header)?, decode(payload)?);
        let kid = header["kid"]
            .as_str()
            .and_then(|kid| KNOWN_KIDS.iter().position(|known| *known == kid))
            .map(|i| i as u8);
        Ok(Self {
            raw: raw.into(),
            sub: payload["sub"].as_str().unwrap_or_default().into(),
            exp_us: payload["exp"]
                .as_u64()
                .map_or(u64::MAX, |exp| exp.saturating_mul(1_000_000)),
            kid,
        })
    }
}

/// The tokens of one token file.
#[derive(Default)]
struct Pool(Vec<Token>);

impl Pool {
    fn load(dir: &Path, name: &str) -> Result<Self, String> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let tokens = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| Token::parse(line).map_err(|e| format!("{}: {e}", path.display())))
            .collect::<Result<Vec<_>, _>>()?;
        if tokens.is_empty() {
            return Err(format!("no token in {}", path.display()));
        }
        Ok(Self(tokens))
    }

    fn optional(dir: &Path, name: &str, needed: bool) -> Result<Self, String> {
        if needed {
            Self::load(dir, name)
        } else {
            Ok(Self::default())
        }
    }

    /// The `n`-th token of a walk that starts at `offset` (so connections start apart).
    fn nth(&self, offset: usize, n: u64) -> &Token {
        &self.0[(offset + (n % self.0.len() as u64) as usize) % self.0.len()]
    }
}

/// The valid tokens of one signing key: the first `--hot` are reused, the rest walked through.
struct KeyTokens {
    hot: Pool,
    fresh: Pool,
}

impl KeyTokens {
    fn split(mut pool: Pool, hot: usize) -> Result<Self, String> {
        if pool.0.len() <= hot {
            return Err(format!(
                "{} valid tokens for a key: fewer than --hot {hot} + 1",
                pool.0.len()
            ));
        }
        let fresh = pool.0.split_off(hot);
        Ok(Self {
            hot: pool,
            fresh: Pool(fresh),
        })
    }
}

struct Pools {
    /// By rotation key (steady mode: only `rsa1-RS256`).
    keys: Vec<KeyTokens>,
    warm: Pool,
    expiring: Pool,
    expired: Pool,
    bad_signature: Pool,
    unknown_kid: Pool,
    alg_none: Pool,
}

impl Pools {
    fn load(options: &Options) -> Result<Self, String> {
        let dir = options.tokens.as_path();
        let weight = |pick: Pick| {
            options
                .mix
                .iter()
                .find(|(p, _)| *p == pick)
                .map_or(0, |(_, w)| *w)
        };
        let keys = match options.mode {
            Mode::Steady => vec![KeyTokens::split(
                Pool::load(dir, "distinct-rs256.txt")?,
                options.hot,
            )?],
            Mode::Rotation => KNOWN_KIDS[..ROTATION_KEYS]
                .iter()
                .map(|kid| {
                    KeyTokens::split(
                        Pool::load(dir, &format!("rotation-{kid}.txt"))?,
                        options.hot,
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            keys,
            warm: Pool::optional(dir, "warm-es256.txt", weight(Pick::Warm) > 0)?,
            expiring: Pool::optional(dir, "expiring.txt", weight(Pick::Expiring) > 0)?,
            expired: Pool::optional(dir, "expired.txt", weight(Pick::Expired) > 0)?,
            bad_signature: Pool::optional(
                dir,
                "bad-signature.txt",
                weight(Pick::BadSignature) > 0,
            )?,
            unknown_kid: Pool::optional(dir, "unknown-kid.txt", weight(Pick::UnknownKid) > 0)?,
            alg_none: Pool::optional(dir, "alg-none.txt", weight(Pick::AlgNone) > 0)?,
        })
    }
}

// --- the provider's state, as far as the client knows it ------------------------------------

/// The rotation state the connections read for every request: the signing key (index in
/// [`KNOWN_KIDS`]) and the mask of published rotation keys, packed in one atomic word.
struct RotationState(AtomicU64);

impl RotationState {
    fn store(&self, signer: usize, published: u8) {
        self.0.store(
            signer as u64 | (u64::from(published) << 8),
            Ordering::SeqCst,
        );
    }

    fn load(&self) -> (usize, u8) {
        let word = self.0.load(Ordering::SeqCst);
        ((word & 0xff) as usize, (word >> 8) as u8)
    }
}

/// One key set the provider served to the application (through the logged `/jwks`).
#[derive(Debug, Clone, Copy)]
struct Serve {
    end_us: u64,
    /// The [`KNOWN_KIDS`] it held, as bits.
    kids: u8,
}

/// The provider's log as last read: every serve that finished before `now_us`.
#[derive(Default)]
struct Snapshot {
    now_us: u64,
    /// Successful serves, by `end_us`.
    serves: Vec<Serve>,
}

fn kid_mask<'a>(kids: impl IntoIterator<Item = &'a str>) -> u8 {
    kids.into_iter()
        .filter_map(|kid| KNOWN_KIDS.iter().position(|known| *known == kid))
        .fold(0, |mask, i| mask | (1 << i))
}

impl Snapshot {
    fn from_log(log: &Value) -> Result<Self, String> {
        let now_us = log["now_us"].as_u64().ok_or("jwks-log: no now_us")?;
        let mut serves: Vec<Serve> = log["serves"]
            .as_array()
            .ok_or("jwks-log: no serves")?
            .iter()
            // A failed fetch leaves the application's keys as they were.
            .filter(|serve| serve["status"].as_u64() == Some(200))
            .map(|serve| Serve {
                end_us: serve["end_us"].as_u64().unwrap_or(0),
                kids: kid_mask(
                    serve["kids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                ),
            })
            .collect();
        serves.sort_by_key(|serve| serve.end_us);
        Ok(Self { now_us, serves })
    }

    /// The key sets the application may have used during `[s, r]`: (kids in all, kids in any).
    /// Set `i` is in use from its `end_us` at the earliest until `grace_us` after the next set's
    /// `end_us` at the latest. Before the first set the application has no keys, but then a
    /// request waits for the first fetch and is judged with its set (or answered 503, which is
    /// wrong anyway), so "no keys" is a possible view only when no set was in use at all.
    fn possible_keys(&self, s: u64, r: u64, grace_us: u64) -> (u8, u8) {
        let (mut all, mut any, mut some) = (u8::MAX, 0u8, false);
        for (i, serve) in self.serves.iter().enumerate() {
            let until = self
                .serves
                .get(i + 1)
                .map_or(u64::MAX, |next| next.end_us.saturating_add(grace_us));
            if serve.end_us <= r && s < until {
                all &= serve.kids;
                any |= serve.kids;
                some = true;
            }
        }
        if some { (all, any) } else { (0, 0) }
    }

    /// The last set served at or before `s`, and the one before it (no keys before the first).
    fn latest_at(&self, s: u64) -> Option<(u8, &Serve)> {
        let i = self.serves.partition_point(|serve| serve.end_us <= s);
        let latest = self.serves.get(i.checked_sub(1)?)?;
        let before = if i >= 2 { self.serves[i - 2].kids } else { 0 };
        Some((before, latest))
    }
}

// --- judging ---------------------------------------------------------------------------------

/// What the oracle requires of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accept,
    Reject,
    /// The key set or the clock changed while the request was in flight: both are correct.
    Either,
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Either => "either",
        }
    }
}

/// Why an answer is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrong {
    /// A token that had to be accepted got 401.
    ValidRejected,
    /// A token that had to be refused got 200.
    InvalidAccepted,
    /// A 200 that names another `sub` than the token's (or none).
    IdentityMismatch,
    /// Neither 200 nor 401 (5xx included).
    UnexpectedStatus,
    /// No answer: connection refused or reset, malformed response, timeout.
    Transport,
}

impl Wrong {
    const ALL: [Self; 5] = [
        Self::ValidRejected,
        Self::InvalidAccepted,
        Self::IdentityMismatch,
        Self::UnexpectedStatus,
        Self::Transport,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ValidRejected => "valid rejected",
            Self::InvalidAccepted => "invalid accepted",
            Self::IdentityMismatch => "wrong identity",
            Self::UnexpectedStatus => "unexpected status",
            Self::Transport => "no answer",
        }
    }
}

/// An answer to a genuinely signed token, waiting until the provider's log covers `r + grace`.
struct Pending {
    s: u64,
    r: u64,
    exp_us: u64,
    kid: u8,
    category: Category,
    status: u16,
    /// Identifies the token in the examples of wrong answers.
    sub: Box<str>,
}

#[derive(Default, Clone)]
struct CategoryStats {
    sent: u64,
    statuses: BTreeMap<u16, u64>,
    expected: [u64; 3],
    /// Of the `either` ones: accepted, rejected.
    either: [u64; 2],
    wrong: [u64; 5],
}

impl CategoryStats {
    fn merge(&mut self, other: &Self) {
        self.sent += other.sent;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for i in 0..3 {
            self.expected[i] += other.expected[i];
        }
        for i in 0..2 {
            self.either[i] += other.either[i];
        }
        for i in 0..5 {
            self.wrong[i] += other.wrong[i];
        }
    }
}

/// A latency histogram in microseconds: exact below 64 µs, then 32 steps per power of two.
#[derive(Clone)]
struct Histogram {
    buckets: Vec<u64>,
    max: u64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; 64 + 58 * 32],
            max: 0,
            count: 0,
        }
    }
}

impl Histogram {
    fn bucket(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let bit = 63 - v.leading_zeros() as usize;
        64 + (bit - 6) * 32 + ((v >> (bit - 5)) & 31) as usize
    }

    /// The upper edge of bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let (bit, step) = ((i - 64) / 32 + 6, ((i - 64) % 32) as u64);
        ((32 + step + 1) << (bit - 5)) - 1
    }

    fn add(&mut self, v: u64) {
        self.buckets[Self::bucket(v)] += 1;
        self.max = self.max.max(v);
        self.count += 1;
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    fn percentile(&self, p: f64) -> u64 {
        let rank = ((self.count as f64 * p / 100.0).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }
}

/// What one thread measured.
#[derive(Default)]
struct Tally {
    categories: Vec<CategoryStats>,
    latency: Histogram,
    examples: Vec<Value>,
    first_send_us: u64,
    last_answer_us: u64,
    /// Answers that matched only the key set the application held before the latest serve.
    late_switch: u64,
    late_switch_max_us: u64,
    /// Wrong answers found by [`Tally::judge`], for the progress line.
    judged_wrong: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            categories: vec![CategoryStats::default(); Category::ALL.len()],
            first_send_us: u64::MAX,
            ..Self::default()
        }
    }

    fn wrong(&mut self, category: Category, why: Wrong, example: impl FnOnce() -> Value) {
        self.categories[category.index()].wrong[why as usize] += 1;
        if self.examples.len() < WRONG_EXAMPLES {
            let mut example = example();
            example["category"] = json!(category.name());
            example["wrong"] = json!(why.name());
            self.examples.push(example);
        }
    }

    fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.categories.iter_mut().zip(&other.categories) {
            mine.merge(theirs);
        }
        self.latency.merge(&other.latency);
        let room = (WRONG_EXAMPLES * 2).saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
        self.first_send_us = self.first_send_us.min(other.first_send_us);
        self.last_answer_us = self.last_answer_us.max(other.last_answer_us);
        self.late_switch += other.late_switch;
        self.late_switch_max_us = self.late_switch_max_us.max(other.late_switch_max_us);
        self.judged_wrong += other.judged_wrong;
    }

    /// Judges an answer to a genuinely signed token against the key sets the application may
    /// have held while it was in flight.
    fn judge(&mut self, pending: &Pending, snapshot: &Snapshot, grace_us: u64) {
        let bit = 1u8 << pending.kid;
        let (all, any) = snapshot.possible_keys(pending.s, pending.r, grace_us);
        let expect = if all & bit != 0 && pending.r < pending.exp_us {
            Expect::Accept
        } else if any & bit == 0 || pending.s >= pending.exp_us {
            Expect::Reject
        } else {
            Expect::Either
        };
        let stats = &mut self.categories[pending.category.index()];
        stats.expected[expect as usize] += 1;
        let accepted = match pending.status {
            200 => true,
            401 => false,
            // Counted as wrong when the answer arrived.
            _ => return,
        };
        let why = match (expect, accepted) {
            (Expect::Accept, false) => Wrong::ValidRejected,
            (Expect::Reject, true) => Wrong::InvalidAccepted,
            (Expect::Either, accepted) => {
                stats.either[usize::from(!accepted)] += 1;
                // How long after the provider served a set that changed this key the
                // application still answered as with the set before: the grace must cover it.
                if let Some((before, latest)) = snapshot.latest_at(pending.s) {
                    let changed = (before ^ latest.kids) & bit != 0;
                    if changed && pending.r < pending.exp_us && accepted == (before & bit != 0) {
                        self.late_switch += 1;
                        self.late_switch_max_us = self
                            .late_switch_max_us
                            .max(pending.s.saturating_sub(latest.end_us));
                    }
                }
                return;
            }
            _ => return,
        };
        self.judged_wrong += 1;
        let grace_s = grace_us as f64 / 1e6;
        self.wrong(pending.category, why, || {
            json!({
                "kid": KNOWN_KIDS[usize::from(pending.kid)],
                "sub": &*pending.sub,
                "sent_us": pending.s,
                "answered_us": pending.r,
                "status": pending.status,
                "expected": expect.name(),
                "exp_us": pending.exp_us,
                "key_sets": format!(
                    "kid in every set possibly held: {}, in some: {} (grace {grace_s} s)",
                    all & bit != 0,
                    any & bit != 0
                ),
            })
        });
    }
}

// --- HTTP/1.1 over a non-blocking socket ------------------------------------------------------

struct Response {
    status: u16,
    body: std::ops::Range<usize>,
    close: bool,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Appends what the socket has to `buf`, waiting for at least one byte.
async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.reserve(8192);
    loop {
        match stream.try_read_buf(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) => return Err(e),
        }
    }
}

/// Sends one request and reads its whole answer (`Content-Length` framing: what actix-web
/// sends for these handlers; anything else is reported, not guessed).
async fn exchange(stream: &TcpStream, request: &[u8], buf: &mut Vec<u8>) -> io::Result<Response> {
    write_all(stream, request).await?;
    buf.clear();
    let head_end = loop {
        let searched = buf.len().saturating_sub(3);
        read_some(stream, buf).await?;
        if let Some(at) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            break searched + at + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(invalid("response head over 64 KiB"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let (mut length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid("bad content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid(format!("unexpected transfer-encoding {value}")));
        }
    }
    let length = length.ok_or_else(|| invalid("no content-length"))?;
    while buf.len() < head_end + length {
        read_some(stream, buf).await?;
    }
    if buf.len() > head_end + length {
        return Err(invalid("bytes after the response (nothing was pipelined)"));
    }
    Ok(Response {
        status,
        body: head_end..head_end + length,
        close,
    })
}

// --- the load ---------------------------------------------------------------------------------

/// State shared by every thread.
struct Shared {
    options: Options,
    pools: Pools,
    rotation: RotationState,
    snapshot: Mutex<Arc<Snapshot>>,
    deadline: Instant,
    /// Progress counters (the tallies are per thread).
    requests: AtomicU64,
    wrong: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    /// The next warm token, over all connections: each is sent by one connection only (twice),
    /// until the pool runs out. (Connections run at different speeds, so giving each a slice
    /// of the pool would send some tokens again while others stay unused.)
    warm_next: AtomicU64,
}

impl Shared {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&lock(&self.snapshot))
    }
}

/// A small, fast generator (xorshift64*): the mix must not cost the client much.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One connection: its own walk through every pool, its own generator.
struct Connection {
    shared: Arc<Shared>,
    tally: Rc<RefCell<Tally>>,
    pending: Rc<RefCell<VecDeque<Pending>>>,
    rng: Rng,
    /// Where this connection's walks start in each pool, spread over the connections.
    id: usize,
    /// How far each walk went: the four rotation keys' fresh tokens, then the expired,
    /// bad-signature, unknown-kid and `alg: none` tokens.
    steps: [u64; 8],
    /// The warm token sent once, to be sent once more by the next warm pick.
    warm_again: Option<u64>,
}

impl Connection {
    /// The next request: its category and token (`None`: anonymous).
    fn choose<'s>(&mut self, shared: &'s Shared) -> (Category, Option<&'s Token>) {
        let options = &shared.options;
        let total: u64 = options.mix.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut draw = self.rng.next() % total;
        let mut pick = Pick::Anonymous;
        for (candidate, weight) in &options.mix {
            if draw < u64::from(*weight) {
                pick = *candidate;
                break;
            }
            draw -= u64::from(*weight);
        }
        let pools = &shared.pools;
        let (signer, published) = match options.mode {
            Mode::Steady => (0, 1),
            Mode::Rotation => shared.rotation.load(),
        };
        let random = self.rng.next();
        let (category, pool, walk) = match pick {
            Pick::Hot => (Category::ValidHot, &pools.keys[signer].hot, None),
            Pick::Fresh => (
                Category::ValidFresh,
                &pools.keys[signer].fresh,
                Some(signer),
            ),
            Pick::Warm => {
                let n = match self.warm_again.take() {
                    Some(n) => n,
                    None => {
                        let n = shared.warm_next.fetch_add(1, Ordering::Relaxed);
                        self.warm_again = Some(n);
                        n
                    }
                };
                return (Category::ValidWarm, Some(pools.warm.nth(0, n)));
            }
            Pick::PreviousKey => {
                // One key back half of the time, two and three keys back a quarter each.
                let back = match random % 4 {
                    0 | 1 => 1,
                    2 => 2,
                    _ => 3,
                };
                let key = (signer + ROTATION_KEYS - back) % ROTATION_KEYS;
                let category = if published & (1 << key) != 0 {
                    Category::ValidOldKey
                } else {
                    Category::RetiredKey
                };
                // Half of them the key's hot tokens, which the token cache holds from when
                // the key was signing: a cache that outlives the key shows here.
                if random & 0x100 == 0 {
                    (category, &pools.keys[key].hot, None)
                } else {
                    (category, &pools.keys[key].fresh, Some(key))
                }
            }
            Pick::Expiring => (Category::ValidExpiring, &pools.expiring, None),
            Pick::Expired => (Category::Expired, &pools.expired, Some(4)),
            Pick::BadSignature => (Category::BadSignature, &pools.bad_signature, Some(5)),
            Pick::UnknownKid => (Category::UnknownKid, &pools.unknown_kid, Some(6)),
            Pick::AlgNone => (Category::AlgNone, &pools.alg_none, Some(7)),
            Pick::Anonymous => return (Category::Anonymous, None),
        };
        // Walks go through a pool in order from this connection's offset, so a token comes
        // back only after the whole pool; the small pools are drawn at random.
        let n = match walk {
            Some(slot) => {
                self.steps[slot] += 1;
                self.steps[slot]
            }
            None => random >> 16,
        };
        let offset = pool.0.len() * self.id / options.connections;
        (category, Some(pool.nth(offset, n)))
    }

    async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let options = &shared.options;
        let (target, timeout) = (options.target, options.timeout);
        let mut request = Vec::with_capacity(2048);
        let mut buf = Vec::with_capacity(16 * 1024);
        let mut stream: Option<TcpStream> = None;
        while Instant::now() < shared.deadline {
            let (category, token) = self.choose(&shared);
            request.clear();
            let _ = write!(
                Formatter(&mut request),
                "GET {} HTTP/1.1\r\nHost: {}\r\n",
                options.path,
                options.host
            );
            if let Some(token) = token {
                let _ = write!(
                    Formatter(&mut request),
                    "Authorization: Bearer {}\r\n",
                    token.raw
                );
            }
            request.extend_from_slice(b"\r\n");

            if stream.is_none() {
                match TcpStream::connect(target).await {
                    Ok(connected) => {
                        let _ = connected.set_nodelay(true);
                        stream = Some(connected);
                    }
                    Err(e) => {
                        self.transport_error(category, &format!("connect: {e}"), unix_us());
                        actix_rt::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
            }
            let Some(connection) = stream.as_ref() else {
                continue;
            };
            let s = unix_us();
            let answer =
                actix_rt::time::timeout(timeout, exchange(connection, &request, &mut buf)).await;
            let r = unix_us();
            let response = match answer {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => {
                    stream = None;
                    self.transport_error(category, &e.to_string(), s);
                    continue;
                }
                Err(_) => {
                    stream = None;
                    self.transport_error(category, "timeout", s);
                    continue;
                }
            };
            if response.close {
                stream = None;
            }
            self.answered(category, token, s, r, response.status, &buf[response.body]);
        }
    }

    fn transport_error(&mut self, category: Category, what: &str, at: u64) {
        self.shared.transport_errors.fetch_add(1, Ordering::Relaxed);
        self.shared.wrong.fetch_add(1, Ordering::Relaxed);
        let mut tally = self.tally.borrow_mut();
        tally.categories[category.index()].sent += 1;
        tally.wrong(
            category,
            Wrong::Transport,
            || json!({"error": what, "sent_us": at}),
        );
    }

    /// Counts an answer and judges it: at once when the verdict cannot depend on the keys the
    /// application held, else once the provider's log covers it.
    fn answered(
        &mut self,
        category: Category,
        token: Option<&Token>,
        s: u64,
        r: u64,
        status: u16,
        body: &[u8],
    ) {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        let sub = token.map_or("", |token| &token.sub);
        let mut tally = self.tally.borrow_mut();
        tally.first_send_us = tally.first_send_us.min(s);
        tally.last_answer_us = tally.last_answer_us.max(r);
        tally.latency.add(r.saturating_sub(s));
        let stats = &mut tally.categories[category.index()];
        stats.sent += 1;
        *stats.statuses.entry(status).or_default() += 1;
        let example = || json!({"sub": sub, "sent_us": s, "answered_us": r, "status": status});
        if status >= 500 {
            self.shared.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if status != 200 && status != 401 {
            self.shared.wrong.fetch_add(1, Ordering::Relaxed);
            let body: String = String::from_utf8_lossy(body).chars().take(200).collect();
            tally.wrong(category, Wrong::UnexpectedStatus, || {
                let mut example = example();
                example["body"] = json!(body);
                example
            });
            return;
        }
        if !category.genuine() {
            // Forged and anonymous requests: 401, whatever the keys.
            tally.categories[category.index()].expected[Expect::Reject as usize] += 1;
            if status == 200 {
                self.shared.wrong.fetch_add(1, Ordering::Relaxed);
                tally.wrong(category, Wrong::InvalidAccepted, example);
            }
            return;
        }
        if status == 200 {
            let named = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["sub"].as_str().map(str::to_owned));
            if named.as_deref() != Some(sub) {
                self.shared.wrong.fetch_add(1, Ordering::Relaxed);
                tally.wrong(category, Wrong::IdentityMismatch, || {
                    let mut example = example();
                    example["answered_sub"] = json!(named);
                    example
                });
                return;
            }
        }
        let Some((token, kid)) = token.and_then(|token| Some((token, token.kid?))) else {
            // A token file holds something else than its name says: the run proves nothing.
            self.shared.wrong.fetch_add(1, Ordering::Relaxed);
            tally.wrong(category, Wrong::UnexpectedStatus, || {
                json!({"error": "a genuinely signed token without a known kid: wrong token file"})
            });
            return;
        };
        drop(tally);
        self.pending.borrow_mut().push_back(Pending {
            s,
            r,
            exp_us: token.exp_us,
            kid,
            category,
            status,
            sub: sub.into(),
        });
    }
}

/// `write!` into a byte buffer.
struct Formatter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Formatter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Judges the pending answers the provider's log now covers (all of them when `all`); returns
/// how many of them were wrong.
fn drain(
    pending: &RefCell<VecDeque<Pending>>,
    tally: &RefCell<Tally>,
    snapshot: &Snapshot,
    grace_us: u64,
    all: bool,
) -> u64 {
    let mut pending = pending.borrow_mut();
    let mut tally = tally.borrow_mut();
    let before = tally.judged_wrong;
    // Sets served before `now_us` are all in the log, and a later one can only matter to
    // requests answered after it ended: an answer with `r + grace < now_us` is decided.
    while pending
        .front()
        .is_some_and(|answer| all || answer.r.saturating_add(grace_us) < snapshot.now_us)
    {
        if let Some(answer) = pending.pop_front() {
            tally.judge(&answer, snapshot, grace_us);
        }
    }
    tally.judged_wrong - before
}

/// One load thread: its connections and the judge of their pending answers.
fn load_thread(shared: Arc<Shared>, thread: usize) -> (Tally, VecDeque<Pending>) {
    actix_rt::System::new().block_on(async move {
        let tally = Rc::new(RefCell::new(Tally::new()));
        let pending = Rc::new(RefCell::new(VecDeque::new()));
        let options = &shared.options;
        let mut tasks = Vec::new();
        for id in (thread..options.connections).step_by(options.threads) {
            let connection = Connection {
                shared: Arc::clone(&shared),
                tally: Rc::clone(&tally),
                pending: Rc::clone(&pending),
                rng: Rng(
                    0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9)
                ),
                id,
                steps: [0; 8],
                warm_again: None,
            };
            tasks.push(actix_rt::spawn(connection.run()));
        }
        let judge = {
            let (shared, tally, pending) =
                (Arc::clone(&shared), Rc::clone(&tally), Rc::clone(&pending));
            actix_rt::spawn(async move {
                loop {
                    actix_rt::time::sleep(Duration::from_millis(200)).await;
                    let snapshot = shared.snapshot();
                    let wrong = drain(&pending, &tally, &snapshot, shared.options.grace_us, false);
                    shared.wrong.fetch_add(wrong, Ordering::Relaxed);
                }
            })
        };
        for task in tasks {
            let _ = task.await;
        }
        judge.abort();
        let tally = std::mem::take(&mut *tally.borrow_mut());
        let pending = std::mem::take(&mut *pending.borrow_mut());
        (tally, pending)
    })
}

// --- the control thread: the provider's log, the rotation, progress ---------------------------

async fn admin_get(client: &awc::Client, url: &str) -> Result<Value, String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    response
        .json::<Value>()
        .limit(16 * 1024 * 1024)
        .await
        .map_err(|e| format!("GET {url}: {e}"))
}

async fn admin_post(client: &awc::Client, url: &str) -> Result<Value, String> {
    let mut response = client
        .post(url)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("POST {url}: {}", response.status()));
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("POST {url}: {e}"))
}

/// A change of the provider's key set, planned at `at` after the start.
struct KeyChange {
    at: Duration,
    publish: bool,
    key: usize,
    /// The signing key from this change on (publications only).
    signer: Option<usize>,
}

fn rotation_plan(options: &Options) -> Vec<KeyChange> {
    let mut plan = Vec::new();
    if options.mode != Mode::Rotation {
        return plan;
    }
    let mut k = 1u32;
    while options.rotate_every * k < options.duration {
        let (old, new) = ((k as usize - 1) % ROTATION_KEYS, k as usize % ROTATION_KEYS);
        let at = options.rotate_every * k;
        plan.push(KeyChange {
            at,
            publish: true,
            key: new,
            signer: Some(new),
        });
        plan.push(KeyChange {
            at: at + options.retire_after,
            publish: false,
            key: old,
            signer: None,
        });
        k += 1;
    }
    plan.retain(|change| change.at < options.duration);
    plan.sort_by_key(|change| change.at);
    plan
}

async fn control(shared: Arc<Shared>, started: Instant) -> Result<Vec<Value>, String> {
    let options = &shared.options;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let log_url = format!("{}/jwks-log", options.admin);
    let mut events = Vec::new();
    let mut plan = rotation_plan(options).into_iter().peekable();
    let mut next_progress = options.progress;
    let (mut last_requests, mut last_at) = (0u64, Duration::ZERO);
    while Instant::now() < shared.deadline {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        let elapsed = started.elapsed();
        while let Some(change) = plan.next_if(|change| change.at <= elapsed) {
            let kid = KNOWN_KIDS[change.key];
            let (signer, published) = shared.rotation.load();
            let requested_us = unix_us();
            if !change.publish {
                // Label from now on; the provider changes right after.
                shared
                    .rotation
                    .store(signer, published & !(1 << change.key));
            }
            let action = if change.publish {
                "publish"
            } else {
                "unpublish"
            };
            let answer =
                admin_post(&client, &format!("{}/keys/{action}/{kid}", options.admin)).await?;
            let at_us = answer["at_us"].as_u64().unwrap_or_default();
            let now_published = kid_mask(
                answer["published"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            if change.publish {
                shared.rotation.store(
                    change.signer.unwrap_or(signer),
                    now_published & ((1 << ROTATION_KEYS) - 1),
                );
            }
            events.push(json!({
                "action": action,
                "kid": kid,
                "requested_us": requested_us,
                "at_us": at_us,
                "published": answer["published"],
                "signer": KNOWN_KIDS[shared.rotation.load().0],
            }));
        }
        let log = admin_get(&client, &log_url).await?;
        *lock(&shared.snapshot) = Arc::new(Snapshot::from_log(&log)?);
        if !options.progress.is_zero() && elapsed >= next_progress {
            next_progress += options.progress;
            let requests = shared.requests.load(Ordering::Relaxed);
            let rate = (requests - last_requests) as f64 / (elapsed - last_at).as_secs_f64();
            (last_requests, last_at) = (requests, elapsed);
            eprintln!(
                "[soak_client] {:>4.0} s  {requests} answers, {rate:.0}/s  wrong {}  5xx {}  \
                 no answer {}  key sets served {}",
                elapsed.as_secs_f64(),
                shared.wrong.load(Ordering::Relaxed),
                shared.server_errors.load(Ordering::Relaxed),
                shared.transport_errors.load(Ordering::Relaxed),
                shared.snapshot().serves.len(),
            );
        }
    }
    Ok(events)
}

fn run() -> Result<(Value, Option<PathBuf>), Box<dyn Error>> {
    let options = options()?;
    let pools = Pools::load(&options)?;
    let client_start = Instant::now();
    let system = actix_rt::System::new();
    let initial = system.block_on(async {
        let client = awc::Client::default();
        admin_get(&client, &format!("{}/keys", options.admin)).await
    })?;
    let published = kid_mask(
        initial["published"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    );
    if published & 1 == 0 {
        return Err("the provider does not publish rsa1-RS256 at the start".into());
    }
    let expiring_exp = pools.expiring.0.first().map(|t| t.exp_us / 1_000_000);
    let shared = Arc::new(Shared {
        deadline: Instant::now() + options.duration,
        rotation: RotationState(AtomicU64::new(0)),
        snapshot: Mutex::new(Arc::new(Snapshot::default())),
        requests: AtomicU64::new(0),
        wrong: AtomicU64::new(0),
        server_errors: AtomicU64::new(0),
        transport_errors: AtomicU64::new(0),
        warm_next: AtomicU64::new(0),
        options,
        pools,
    });
    shared
        .rotation
        .store(0, published & ((1 << ROTATION_KEYS) - 1));
    let started = Instant::now();
    let threads: Vec<_> = (0..shared.options.threads)
        .map(|thread| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("soak-load-{thread}"))
                .spawn(move || load_thread(shared, thread))
        })
        .collect::<Result<_, _>>()?;
    let events = system.block_on(control(Arc::clone(&shared), started))?;
    let mut tally = Tally::new();
    let mut leftover = VecDeque::new();
    for thread in threads {
        let (thread_tally, pending) = thread.join().map_err(|_| "a load thread panicked")?;
        tally.merge(thread_tally);
        leftover.extend(pending);
    }
    // Every answer is in: wait until the provider's log covers the last one plus the grace,
    // then judge what is left.
    let grace_us = shared.options.grace_us;
    let last_answer = tally.last_answer_us;
    let log = system.block_on(async {
        let client = awc::Client::default();
        loop {
            let log = admin_get(&client, &format!("{}/jwks-log", shared.options.admin)).await?;
            if log["now_us"].as_u64().unwrap_or(0) > last_answer.saturating_add(grace_us) {
                return Ok::<_, String>(log);
            }
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    })?;
    let snapshot = Snapshot::from_log(&log)?;
    let unjudged = leftover.len();
    let leftover = RefCell::new(leftover);
    let tally_cell = RefCell::new(tally);
    drain(&leftover, &tally_cell, &snapshot, grace_us, true);
    let tally = tally_cell.into_inner();
    let report = report(
        &shared,
        &tally,
        &events,
        &log,
        unjudged,
        expiring_exp,
        client_start,
    );
    Ok((report, shared.options.out.clone()))
}

fn report(
    shared: &Shared,
    tally: &Tally,
    events: &[Value],
    log: &Value,
    unjudged_at_end: usize,
    expiring_exp: Option<u64>,
    client_start: Instant,
) -> Value {
    let options = &shared.options;
    let warm_sent = shared.warm_next.load(Ordering::Relaxed);
    let mut categories = serde_json::Map::new();
    let mut totals = [0u64; 5];
    let (mut requests, mut server_errors) = (0u64, 0u64);
    for category in Category::ALL {
        let stats = &tally.categories[category.index()];
        if stats.sent == 0 {
            continue;
        }
        requests += stats.sent;
        server_errors += stats
            .statuses
            .iter()
            .filter(|(status, _)| **status >= 500)
            .map(|(_, n)| n)
            .sum::<u64>();
        for (total, n) in totals.iter_mut().zip(stats.wrong) {
            *total += n;
        }
        let statuses: serde_json::Map<String, Value> = stats
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), json!(n)))
            .collect();
        let wrong: serde_json::Map<String, Value> = Wrong::ALL
            .iter()
            .map(|why| (why.name().to_owned(), json!(stats.wrong[*why as usize])))
            .collect();
        categories.insert(
            category.name().to_owned(),
            json!({
                "sent": stats.sent,
                "statuses": statuses,
                "expected": {
                    "accept": stats.expected[Expect::Accept as usize],
                    "reject": stats.expected[Expect::Reject as usize],
                    "either": stats.expected[Expect::Either as usize],
                },
                "either_answered": {"accepted": stats.either[0], "rejected": stats.either[1]},
                "wrong": wrong,
                "wrong_total": stats.wrong.iter().sum::<u64>(),
            }),
        );
    }
    let seconds = tally.last_answer_us.saturating_sub(tally.first_send_us) as f64 / 1e6;
    let latency = &tally.latency;
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "mode": match options.mode { Mode::Steady => "steady", Mode::Rotation => "rotation" },
        "path": options.path,
        "connections": options.connections,
        "threads": options.threads,
        "duration_s": options.duration.as_secs_f64(),
        "grace_ms": options.grace_us / 1000,
        "rotate_every_s": options.rotate_every.as_secs_f64(),
        "retire_after_s": options.retire_after.as_secs_f64(),
        "mix": options.mix.iter().map(|(p, w)| (p.name().to_owned(), json!(w)))
            .collect::<serde_json::Map<_, _>>(),
        "first_send_us": tally.first_send_us,
        "last_answer_us": tally.last_answer_us,
        "load_seconds": seconds,
        "requests": requests,
        "requests_per_second": if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
        "categories": categories,
        "totals": {
            "wrong": totals.iter().sum::<u64>(),
            "server_errors": server_errors,
            "valid_rejected": totals[Wrong::ValidRejected as usize],
            "invalid_accepted": totals[Wrong::InvalidAccepted as usize],
            "wrong_identity": totals[Wrong::IdentityMismatch as usize],
            "unexpected_status": totals[Wrong::UnexpectedStatus as usize],
            "no_answer": totals[Wrong::Transport as usize],
        },
        "unjudged_at_end": unjudged_at_end,
        "warm": {
            "pool": shared.pools.warm.0.len(),
            "sent": warm_sent.min(shared.pools.warm.0.len() as u64),
            "all_distinct": warm_sent <= shared.pools.warm.0.len() as u64,
        },
        "switch_over": {
            "answers_with_the_previous_key_set": tally.late_switch,
            "max_after_serve_ms": ms(tally.late_switch_max_us),
        },
        "latency_ms": {
            "p50": ms(latency.percentile(50.0)),
            "p90": ms(latency.percentile(90.0)),
            "p99": ms(latency.percentile(99.0)),
            "max": ms(latency.max),
        },
        "wrong_examples": tally.examples,
        "key_events": events,
        "jwks_serves": log["serves"],
        "expiring_exp": expiring_exp,
        "client_seconds": client_start.elapsed().as_secs_f64(),
    })
}

fn main() {
    match run() {
        Ok((report, out)) => {
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            match out {
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, text) {
                        eprintln!("soak_client: cannot write {}: {e}", path.display());
                        std::process::exit(2);
                    }
                }
                None => println!("{text}"),
            }
        }
        Err(e) => {
            eprintln!("soak_client: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: u64 = 10;

    /// Two key sets: `rsa1` only, served (complete) at 100; `rsa2` only, at 200.
    fn log() -> Snapshot {
        Snapshot {
            now_us: 1_000,
            serves: vec![
                Serve {
                    end_us: 100,
                    kids: 0b01,
                },
                Serve {
                    end_us: 200,
                    kids: 0b10,
                },
            ],
        }
    }

    fn answer(kid: u8, s: u64, r: u64, exp_us: u64, status: u16) -> Pending {
        Pending {
            s,
            r,
            exp_us,
            kid,
            category: Category::ValidFresh,
            status,
            sub: "user".into(),
        }
    }

    /// (expected accept, reject, either; wrong: valid rejected, invalid accepted).
    fn judged(pending: Pending) -> ([u64; 3], u64, u64) {
        let mut tally = Tally::new();
        tally.judge(&pending, &log(), GRACE);
        let stats = &tally.categories[Category::ValidFresh.index()];
        (
            stats.expected,
            stats.wrong[Wrong::ValidRejected as usize],
            stats.wrong[Wrong::InvalidAccepted as usize],
        )
    }

    #[test]
    fn a_set_is_in_use_from_its_answer_until_grace_after_the_next() {
        let log = log();
        assert_eq!(log.possible_keys(120, 130, GRACE), (0b01, 0b01));
        // The next set is served while the request is in flight, or within the grace before.
        assert_eq!(log.possible_keys(195, 205, GRACE), (0b00, 0b11));
        assert_eq!(log.possible_keys(205, 209, GRACE), (0b00, 0b11));
        assert_eq!(log.possible_keys(210, 220, GRACE), (0b10, 0b10));
        // A request before the first set waits for it and is judged with it.
        assert_eq!(log.possible_keys(50, 150, GRACE), (0b01, 0b01));
        // Answered before any set: no key could have accepted it.
        assert_eq!(log.possible_keys(50, 60, GRACE), (0, 0));
    }

    #[test]
    fn a_key_held_throughout_must_accept_and_one_never_held_must_refuse() {
        assert_eq!(
            judged(answer(0, 120, 130, u64::MAX, 200)),
            ([1, 0, 0], 0, 0)
        );
        assert_eq!(
            judged(answer(0, 120, 130, u64::MAX, 401)),
            ([1, 0, 0], 1, 0)
        );
        assert_eq!(
            judged(answer(1, 120, 130, u64::MAX, 401)),
            ([0, 1, 0], 0, 0)
        );
        assert_eq!(
            judged(answer(1, 120, 130, u64::MAX, 200)),
            ([0, 1, 0], 0, 1)
        );
        // Retired at 200: still acceptable within the grace, wrong after it.
        assert_eq!(
            judged(answer(0, 205, 206, u64::MAX, 200)),
            ([0, 0, 1], 0, 0)
        );
        assert_eq!(
            judged(answer(0, 215, 216, u64::MAX, 200)),
            ([0, 1, 0], 0, 1)
        );
    }

    #[test]
    fn expiry_during_the_request_allows_either_answer() {
        assert_eq!(judged(answer(0, 120, 130, 125, 401)), ([0, 0, 1], 0, 0));
        assert_eq!(judged(answer(0, 120, 130, 125, 200)), ([0, 0, 1], 0, 0));
        assert_eq!(judged(answer(0, 120, 130, 131, 401)), ([1, 0, 0], 1, 0));
        assert_eq!(judged(answer(0, 120, 130, 120, 200)), ([0, 1, 0], 0, 1));
    }

    #[test]
    fn answers_with_the_previous_set_are_measured() {
        let mut tally = Tally::new();
        // `rsa1` retired by the set served at 200; accepted by a request sent at 204.
        tally.judge(&answer(0, 204, 206, u64::MAX, 200), &log(), GRACE);
        assert_eq!((tally.late_switch, tally.late_switch_max_us), (1, 4));
    }

    #[test]
    fn histogram_percentiles_are_close() {
        let mut histogram = Histogram::default();
        for v in 1..=10_000 {
            histogram.add(v);
        }
        let p50 = histogram.percentile(50.0);
        assert!((4_900..=5_200).contains(&p50), "{p50}");
        assert_eq!(histogram.percentile(100.0), 10_000);
        for v in [0, 63, 64, 65, 1000, 123_456_789] {
            assert!(Histogram::upper(Histogram::bucket(v)) >= v);
        }
    }

    #[test]
    fn the_rotation_plan_publishes_then_retires_in_turn() {
        let mut options = options_for_test();
        options.duration = Duration::from_secs(65);
        let plan: Vec<(u64, bool, usize)> = rotation_plan(&options)
            .iter()
            .map(|c| (c.at.as_secs(), c.publish, c.key))
            .collect();
        assert_eq!(
            plan,
            [
                (20, true, 1),
                (30, false, 0),
                (40, true, 2),
                (50, false, 1),
                (60, true, 3)
            ]
        );
    }

    fn options_for_test() -> Options {
        Options {
            target: "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
            host: String::new(),
            admin: String::new(),
            tokens: PathBuf::new(),
            mode: Mode::Rotation,
            duration: Duration::from_secs(60),
            connections: 1,
            threads: 1,
            path: String::new(),
            hot: 1,
            rotate_every: Duration::from_secs(20),
            retire_after: Duration::from_secs(10),
            grace_us: 0,
            mix: Vec::new(),
            timeout: Duration::from_secs(1),
            out: None,
            progress: Duration::ZERO,
        }
    }
}
