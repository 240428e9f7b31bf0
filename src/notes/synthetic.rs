//! Deterministic synthetic vaults for tests and benchmarks: work-log style notes with front
//! matter, headings, bullets, tasks and the occasional table. Same `n` and `seed`, same files. Pure.

/// A tiny deterministic generator (SplitMix64), so vaults do not depend on a rand crate.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A float in [-1, 1).
    pub fn signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

const PROJECTS: &[&str] = &[
    "billing migration",
    "search relevance",
    "ingest pipeline",
    "checkout redesign",
    "alerting revamp",
    "data platform RFC",
    "mobile release train",
    "cache layer",
    "auth service",
    "cost dashboard",
];
const PEOPLE: &[&str] = &[
    "Ana", "Tomás", "Priya", "Victor", "Mei", "Kofi", "Sara", "Liam",
];
const VERBS: &[&str] = &[
    "shipped",
    "designed",
    "reviewed",
    "debugged",
    "planned",
    "documented",
    "measured",
    "migrated",
    "paired on",
    "presented",
];
const OUTCOMES: &[&str] = &[
    "cut p99 latency by {n}%",
    "removed {n} flaky tests",
    "saved {n} hours of on-call a month",
    "closed {n} customer tickets",
    "reduced cost by {n}%",
    "unblocked {n} teams",
];
const TAGS: &[&str] = &[
    "worklog",
    "1on1",
    "incident",
    "design",
    "mentoring",
    "planning",
];

/// The relative path and content of note `index` of a vault generated with `seed`.
pub fn note(index: usize, seed: u64) -> (String, String) {
    let mut rng = SplitMix::new(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let year = 2022 + rng.below(4);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let project = rng.pick(PROJECTS);
    let tag = rng.pick(TAGS);
    let folder = ["work", "1on1", "incidents", "design"][index % 4];
    let path = format!(
        "{folder}/{year}/{index:05}-{}.md",
        project.replace(' ', "-")
    );
    let mut text = format!("---\ntitle: {project} notes {index}\ntags: [{tag}, {}]\ncreated: {year}-{month:02}-{day:02}\n---\n# {project} ({year}-{month:02}-{day:02})\n\n", rng.pick(TAGS));
    for section in 0..(2 + rng.below(3)) {
        text.push_str(&format!(
            "## {} {}\n\n",
            ["Progress", "Decisions", "Follow-ups", "Risks"][section % 4],
            section + 1
        ));
        for _ in 0..(2 + rng.below(4)) {
            let outcome = rng
                .pick(OUTCOMES)
                .replace("{n}", &(5 + rng.below(60)).to_string());
            text.push_str(&format!(
                "- {} {} the {} with {}; {}.\n",
                rng.pick(PEOPLE),
                rng.pick(VERBS),
                project,
                rng.pick(PEOPLE),
                outcome
            ));
        }
        if rng.below(3) == 0 {
            text.push_str(&format!(
                "- [ ] follow up with {} on the {}\n",
                rng.pick(PEOPLE),
                rng.pick(PROJECTS)
            ));
        }
        text.push('\n');
        if rng.below(5) == 0 {
            text.push_str("| Metric | Before | After |\n|---|---|---|\n");
            text.push_str(&format!(
                "| p99 ms | {} | {} |\n\n",
                300 + rng.below(700),
                100 + rng.below(200)
            ));
        }
    }
    (path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_is_deterministic_and_varied() {
        assert_eq!(note(7, 1), note(7, 1));
        assert_ne!(note(7, 1).1, note(8, 1).1);
        let parsed = crate::notes::markdown::parse(&note(3, 1).1, "x");
        assert!(parsed.date.is_some() && parsed.tags.len() == 2 && parsed.blocks.len() > 4);
    }
}
