//! `cache_core::glob_matches_bytes` (the L1 pattern matcher) against a real `redis-server`:
//! for generated keys and patterns, including the edge cases of Redis's `stringmatchlen`, the
//! set of keys `SCAN 0 MATCH pattern` returns must be exactly the set the L1 matcher accepts.

use std::collections::BTreeSet;
use std::time::Duration;

use cache_redis::test_util::RedisServer;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes keys are made of: letters, glob syntax, separators and high bytes.
const KEY_BYTES: &[u8] = b"abcz:-]^[\\*?!A0\x80\xe9\xff";

fn keys(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut keys: BTreeSet<Vec<u8>> = [
        &b"a"[..],
        b"b",
        b"abc",
        b"user:42",
        b"user:",
        b"*",
        b"?",
        b"[",
        b"]",
        b"\\",
        b"^",
        b"-",
        b"a*b",
        b"a\\b",
        b"[a]",
        b"\xe9t\xe9",
        b"\x80",
        b"\xff\xff",
        b"z-a",
        b"A",
    ]
    .iter()
    .map(|k| k.to_vec())
    .collect();
    while keys.len() < 70 {
        let len = 1 + rng.below(6);
        keys.insert((0..len).map(|_| *rng.pick(KEY_BYTES)).collect());
    }
    keys.into_iter().collect()
}

/// Hand-written edge cases, then generated patterns.
fn patterns(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut patterns: Vec<Vec<u8>> = [
        &b""[..],
        b"*",
        b"**",
        b"***a",
        b"?",
        b"??",
        b"*?*",
        b"a*",
        b"*a",
        b"*a*",
        b"a?c",
        b"[abc]",
        b"[abc]*",
        b"[^a]",
        b"[^a]*",
        b"[!a]*",
        b"[a-z]",
        b"[a-z]*",
        b"[z-a]",
        b"[z-a]*",
        b"[a-]",
        b"[-a]",
        b"[^-]",
        b"\\*",
        b"\\?",
        b"\\[",
        b"a\\*b",
        b"a\\\\b",
        b"\\a",
        b"\\",
        b"a\\",
        b"*\\",
        b"[",
        b"[a",
        b"[a-",
        b"[^",
        b"[]",
        b"[^]",
        b"[]]",
        b"[]a]",
        b"[\\]]",
        b"[\\]",
        b"[a\\-z]",
        b"*[",
        b"user:*",
        b"user:[0-9]*",
        b"user:??",
        b"[\x80-\xff]*",
        b"*[\x80-\xff]",
        b"[\x00-\x7f]",
        b"\xe9*",
        b"[\xe9]*",
        b"[^\xe9]*",
        b"[A-a]",
        b"[a-A]",
        b"*]",
        b"]",
        b"^",
        b"[[]",
        b"[*]",
        b"[?]",
    ]
    .iter()
    .map(|p| p.to_vec())
    .collect();
    let tokens: &[&[u8]] = &[
        b"a",
        b"b",
        b"c",
        b"z",
        b":",
        b"-",
        b"^",
        b"]",
        b"!",
        b"\xe9",
        b"\x80",
        b"\xff",
        b"*",
        b"*",
        b"?",
        b"[abc]",
        b"[^a]",
        b"[a-z]",
        b"[z-a]",
        b"[",
        b"[^",
        b"\\*",
        b"\\\\",
        b"\\[",
        b"\\",
        b"[]",
        b"[^]",
        b"[\x80-\xff]",
        b"[-]",
        b"[a-]",
    ];
    for _ in 0..140 {
        let len = 1 + rng.below(5);
        let mut pattern = Vec::new();
        for _ in 0..len {
            let token: &[u8] = rng.pick::<&[u8]>(tokens);
            pattern.extend_from_slice(token);
        }
        patterns.push(pattern);
    }
    patterns.dedup();
    patterns
}

fn scan_match(connection: &mut redis::Connection, pattern: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut found = BTreeSet::new();
    let mut cursor: u64 = 0;
    for _ in 0..10_000 {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(connection)
            .expect("SCAN");
        found.extend(batch);
        cursor = next;
        if cursor == 0 {
            return found;
        }
    }
    panic!("SCAN did not finish");
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[test]
fn l1_glob_matches_like_redis_scan_match() {
    let server = RedisServer::start().expect("redis-server starts");
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let keys = keys(&mut rng);
    let patterns = patterns(&mut rng);
    for key in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .query(&mut connection)
            .unwrap();
    }

    let mut pairs = 0;
    let mut matched = 0;
    let mut mismatches = Vec::new();
    for pattern in &patterns {
        let redis_says = scan_match(&mut connection, pattern);
        for key in &keys {
            pairs += 1;
            let redis = redis_says.contains(key);
            matched += usize::from(redis);
            let ours = cache_core::glob_matches_bytes(pattern, key);
            if redis != ours {
                mismatches.push(format!(
                    "pattern {:?} key {:?}: redis {redis}, glob_matches_bytes {ours}",
                    show(pattern),
                    show(key)
                ));
            }
        }
    }
    assert!(pairs >= 200, "only {pairs} pairs");
    // The generator must exercise both answers, not just "no match".
    assert!(
        matched > 100 && matched < pairs / 2,
        "{matched} of {pairs} pairs match"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {pairs} (key, pattern) pairs differ from redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
