//! Reading the nodes' logs and measuring one scenario: caller errors, stale reads against the
//! documented bound, latency during the fault, loader calls per second before and during, and
//! the time to recover.

use std::collections::HashMap;

/// One read through the cache.
struct Read {
    start: u64,
    end: u64,
    key: u64,
    version: i64,
}

/// A node's state at one moment.
#[derive(Clone, Copy)]
struct State {
    at: u64,
    connected: bool,
    breaker_closed: bool,
    l2_hits: u64,
    loads: u64,
}

/// One node's log.
#[derive(Default)]
pub struct NodeLog {
    reads: Vec<Read>,
    /// (key, version, completed µs).
    invalidations: Vec<(u64, u64, u64)>,
    states: Vec<State>,
}

impl NodeLog {
    pub fn parse(text: &str) -> Self {
        let mut log = Self::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let number = |i: usize| fields[i].parse::<u64>().expect("a number in the log");
            match fields[0] {
                "R" => log.reads.push(Read {
                    start: number(1),
                    end: number(2),
                    key: number(3),
                    version: fields[4].parse().expect("a version"),
                }),
                "I" => log.invalidations.push((number(1), number(2), number(3))),
                "S" => log.states.push(State {
                    at: number(1),
                    connected: fields[2] == "1",
                    breaker_closed: fields[3] == "0",
                    l2_hits: number(4),
                    loads: number(5),
                }),
                other => panic!("unknown log line {other:?}"),
            }
        }
        log.states.sort_by_key(|state| state.at);
        log
    }

    /// The last state at or before `at` (the first one if none).
    fn state_at(&self, at: u64) -> State {
        let index = self.states.partition_point(|state| state.at <= at);
        self.states[index.saturating_sub(1)]
    }

    /// Time from `heal` until this node is coherent again: backplane connected, breaker
    /// closed, and an L2 hit since `heal`.
    fn recovered_after(&self, heal: u64) -> Option<u64> {
        let at_heal = self.state_at(heal);
        self.states
            .iter()
            .filter(|state| state.at >= heal)
            .find(|state| {
                state.connected && state.breaker_closed && state.l2_hits > at_heal.l2_hits
            })
            .map(|state| state.at - heal)
    }
}

/// When the phases of a scenario started (µs since the Unix epoch).
#[derive(Clone, Copy)]
pub struct Phases {
    pub warm: u64,
    pub fault: u64,
    pub heal: u64,
}

/// What one scenario measured.
pub struct Report {
    pub name: &'static str,
    pub calls: usize,
    pub errors: usize,
    pub stale: usize,
    pub stale_example: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub loads_per_s_before: f64,
    pub loads_per_s_during: f64,
    /// Loads during the fault window, and the most the design allows (one per key per
    /// `degraded_ttl` per node, plus one per node per invalidation).
    pub loads_during: u64,
    pub loads_allowed: u64,
    pub recovery_ms: Option<f64>,
}

/// Measures a scenario from its nodes' logs. `bound_us`: the documented staleness bound.
pub fn measure(
    name: &'static str,
    nodes: &[NodeLog],
    phases: Phases,
    bound_us: u64,
    keys: u64,
    degraded_ttl_us: u64,
) -> Report {
    // The latest completed invalidations per key, sorted by completion.
    let mut invalidations: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    for node in nodes {
        for &(key, version, completed) in &node.invalidations {
            invalidations
                .entry(key)
                .or_default()
                .push((completed, version));
        }
    }
    for list in invalidations.values_mut() {
        list.sort_unstable();
    }
    let mut calls = 0;
    let mut errors = 0;
    let mut stale = 0;
    let mut stale_example = None;
    let mut during = Vec::new();
    for read in nodes.iter().flat_map(|node| &node.reads) {
        if read.start < phases.warm {
            continue;
        }
        calls += 1;
        if read.version < 0 {
            errors += 1;
            continue;
        }
        // The newest version whose invalidation completed more than the bound before the read.
        if let Some(list) = invalidations.get(&read.key) {
            let cutoff = read.start.saturating_sub(bound_us);
            let newest = list
                .iter()
                .take_while(|(completed, _)| *completed < cutoff)
                .map(|(_, version)| *version)
                .max();
            if let Some(newest) = newest
                && (read.version as u64) < newest
            {
                stale += 1;
                stale_example.get_or_insert_with(|| {
                    format!(
                        "key {} read version {} at {}, version {newest} invalidated before {cutoff}",
                        read.key, read.version, read.start
                    )
                });
            }
        }
        if read.start >= phases.fault && read.start < phases.heal {
            during.push(read.end - read.start);
        }
    }
    during.sort_unstable();
    let percentile = |p: f64| {
        if during.is_empty() {
            return 0.0;
        }
        let index = ((during.len() - 1) as f64 * p).round() as usize;
        during[index] as f64 / 1000.0
    };
    let loads_between = |from: u64, to: u64| -> u64 {
        nodes
            .iter()
            .map(|node| node.state_at(to).loads - node.state_at(from).loads)
            .sum()
    };
    let seconds = |from: u64, to: u64| (to - from) as f64 / 1e6;
    let loads_during = loads_between(phases.fault, phases.heal);
    let invalidations_during = nodes
        .iter()
        .flat_map(|node| &node.invalidations)
        .filter(|(_, _, completed)| *completed >= phases.fault && *completed < phases.heal)
        .count() as u64;
    // While Redis is away the writer's invalidations complete only after it (they are
    // queued): allow one load per key per node per degraded_ttl, plus one per invalidation
    // the writer issued (about one per 10 ms) on each node.
    let window = phases.heal - phases.fault;
    let issued = window / 10_000 + invalidations_during;
    let loads_allowed = nodes.len() as u64 * (keys * (window / degraded_ttl_us + 2) + issued);
    let recovery_ms = nodes
        .iter()
        .map(|node| node.recovered_after(phases.heal))
        .try_fold(0u64, |worst, node| node.map(|us| worst.max(us)))
        .map(|us| us as f64 / 1000.0);
    Report {
        name,
        calls,
        errors,
        stale,
        stale_example,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
        loads_per_s_before: loads_between(phases.warm, phases.fault) as f64
            / seconds(phases.warm, phases.fault),
        loads_per_s_during: loads_during as f64 / seconds(phases.fault, phases.heal),
        loads_during,
        loads_allowed,
        recovery_ms,
    }
}

/// The reports as a Markdown table.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| fault | calls | caller errors | stale reads | p50 / p99 / max during (ms) | loads/s before | loads/s during | recovery (ms) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in reports {
        let recovery = r
            .recovery_ms
            .map_or_else(|| "not recovered".to_owned(), |ms| format!("{ms:.0}"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} / {:.1} / {:.1} | {:.0} | {:.0} | {} |\n",
            r.name,
            r.calls,
            r.errors,
            r.stale,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.loads_per_s_before,
            r.loads_per_s_during,
            recovery
        ));
    }
    out
}

#[test]
fn the_checker_counts_a_read_older_than_a_completed_invalidation() {
    let writer = NodeLog::parse(
        "S 0 1 0 0 0 0 0 0\n\
         I 3 2 1000000\n\
         S 9000000 1 0 5 10 0 0 0\n",
    );
    let reader = NodeLog::parse(
        "S 0 1 0 0 0 0 0 0\n\
         R 1500000 1500100 3 1\n\
         R 5000000 5000100 3 1\n\
         R 5000000 5000100 3 2\n\
         R 5000000 5000100 4 -1\n\
         S 9000000 1 0 7 12 0 0 0\n",
    );
    let phases = Phases {
        warm: 0,
        fault: 2_000_000,
        heal: 6_000_000,
    };
    let report = measure(
        "synthetic",
        &[writer, reader],
        phases,
        1_000_000,
        10,
        1_000_000,
    );
    assert_eq!(report.calls, 4);
    assert_eq!(report.errors, 1);
    // Version 1 half a second after version 2's invalidation is within the bound; four
    // seconds after, it is stale.
    assert_eq!(report.stale, 1);
    assert_eq!(report.recovery_ms, Some(3000.0));
}
