//! The `state` target: sealed login states.

use std::time::{SystemTime, UNIX_EPOCH};

use oidc_actix::__fuzz::{LoginState, Sealer};

use super::{Outcome, STATE_SECRET, Seed, split_mode, with_mode};

// Why a state is refused (not sealed with this secret, past its expiry, already used): the
// details the routes answer with, which the route tests pin too.
const INVALID: &str = "Invalid state";
const EXPIRED: &str = "Login state expired; start the login again";
pub(super) const REPLAYED: &str = "Login state already used";
/// Far enough in the future (2100-01-01) for seed states to stay live.
const SEED_STATE_EXPIRY: u64 = 4_102_444_800;

/// A live state sealed with the fixed secret, as the login route hands it out.
pub(super) fn sealed_seed_state() -> String {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU2p1r_wW1gXk-rIXfE";
    let redirect_uri = "http://localhost:53100/callback";
    let state = LoginState::new(
        verifier,
        redirect_uri,
        "n-0S6_WzA2Mj",
        SEED_STATE_EXPIRY,
        "state-1",
    );
    Sealer::new(STATE_SECRET).seal(&state)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sealed login states, with a fixed secret.
///
/// * mode `0`: the rest is a state to open and consume. Invariants: only a sealed state opens;
///   it re-seals to an equal state; it is consumed once.
/// * mode `1`: the next byte holds flags (bit 0: expired), the one after a tamper position, and
///   the rest is the verifier, redirect URI, nonce and id, separated by NUL bytes. Invariants:
///   `open(seal(s)) == s` for a live state and `Expired` for an old one; a sealed state hides
///   the verifier; changing any one character, truncating, or another secret makes it invalid.
pub fn run(data: &[u8]) -> Outcome {
    let sealer = Sealer::new(STATE_SECRET);
    match split_mode(data) {
        Some((0, rest)) => {
            let Ok(sealed) = std::str::from_utf8(rest) else {
                return Outcome::Rejected;
            };
            let Ok(state) = sealer.open(sealed) else {
                return Outcome::Rejected;
            };
            assert!(Sealer::is_sealed(sealed));
            assert_eq!(sealer.open(&sealer.seal(&state)), Ok(state.clone()));
            assert_eq!(sealer.consume(sealed), Ok(state));
            assert_eq!(sealer.consume(sealed), Err(REPLAYED));
            Outcome::Accepted
        }
        Some((_, rest)) => state_round_trip(&sealer, rest),
        None => Outcome::Rejected,
    }
}

fn state_round_trip(sealer: &Sealer, rest: &[u8]) -> Outcome {
    let [flags, position, fields @ ..] = rest else {
        return Outcome::Rejected;
    };
    let mut parts = fields
        .split(|b| *b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned());
    let mut next = || parts.next().unwrap_or_default();
    let expired = flags & 1 != 0;
    let now = unix_now();
    let (verifier, redirect_uri, nonce) = (next(), next(), next());
    let expires = if expired { now - 1 } else { now + 600 };
    let state = LoginState::new(&verifier, &redirect_uri, &nonce, expires, &next());
    let sealed = sealer.seal(&state);
    assert!(Sealer::is_sealed(&sealed));
    assert!(!sealed.contains('|'), "py-oidc-auth-client splits on `|`");
    if verifier.len() >= 16 {
        assert!(!sealed.contains(&verifier), "the verifier shows");
    }
    let opened = sealer.open(&sealed);
    if expired {
        assert_eq!(opened, Err(EXPIRED));
    } else {
        assert_eq!(opened, Ok(state.clone()));
        assert_eq!(sealer.consume(&sealed), Ok(state));
        assert_eq!(sealer.consume(&sealed), Err(REPLAYED));
    }
    let bytes = sealed.as_bytes();
    let at = usize::from(*position) * bytes.len() / 256;
    let mut tampered = bytes.to_vec();
    // Another base64url character (the prefix too becomes something else than `oa1.`).
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII stays ASCII");
    assert_eq!(
        sealer.open(&tampered),
        Err(INVALID),
        "a state tampered at {at} opened"
    );
    assert_eq!(
        sealer.open(&sealed[..sealed.len() - 1]),
        Err(INVALID),
        "a truncated state opened"
    );
    assert_eq!(
        Sealer::new(b"another secret").open(&sealed),
        Err(INVALID),
        "a state opened with another secret"
    );
    Outcome::from_bool(!expired)
}

/// A sealed state and strings that are not (mode `0`), and states to seal (mode `1`).
pub fn seeds() -> Vec<Seed> {
    use Outcome::{Accepted, Rejected};
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>, expected| {
        seeds.push(Seed::new("state", name, data, expected));
    };
    let sealed = sealed_seed_state();
    add("sealed", with_mode("0", sealed.as_bytes()), Accepted);
    add("prefix-only", with_mode("0", b"oa1."), Rejected);
    add(
        "reference-format",
        with_mode("0", b"random|http://x/cb|verifier"),
        Rejected,
    );
    let fields =
        b"dBjftJeZ4CVP-mB92K27uhbUJU2p1r_wW1gXk-rIXfE\0http://localhost:53100/callback\0nonce\0id";
    add(
        "round-trip",
        with_mode("1", &[b"0\x80".as_slice(), fields].concat()),
        Accepted,
    );
    add(
        "expired",
        with_mode("1", &[b"1\x10".as_slice(), fields].concat()),
        Rejected,
    );
    seeds
}
