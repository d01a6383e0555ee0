//! The loop: corpus, rounds, outcomes as feedback, and what a failure leaves behind.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::mutate::mutate;

/// One input: a value per field the target names, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub fields: Vec<Vec<u8>>,
}

impl Case {
    pub fn new<const N: usize>(fields: [&[u8]; N]) -> Self {
        Case {
            fields: fields.iter().map(|f| f.to_vec()).collect(),
        }
    }

    /// Field `i`, empty when a stored case has fewer fields.
    pub fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[], Vec::as_slice)
    }

    /// Field `i` as text (invalid UTF-8 replaced), as a header or path reaches a parser.
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.field(i)).into_owned()
    }

    /// The stored form: each field as text when it is UTF-8, else as hex.
    pub fn to_json(&self, target: &Target) -> Value {
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = target.fields.get(i).copied().unwrap_or("extra").to_owned();
                let value = match std::str::from_utf8(f) {
                    Ok(text) => json!({ "text": text }),
                    Err(_) => json!({ "hex": hex::encode(f) }),
                };
                (name, value)
            })
            .collect();
        json!({ "target": target.name, "fields": fields })
    }

    pub fn from_json(target: &Target, value: &Value) -> Result<Self, String> {
        let fields = value["fields"].as_object().ok_or("no `fields` object")?;
        let mut out = Vec::with_capacity(target.fields.len());
        for name in target.fields {
            let field = &fields.get(*name).ok_or(format!("no field `{name}`"))?;
            let bytes = match (field["text"].as_str(), field["hex"].as_str()) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(h)) => hex::decode(h).map_err(|e| format!("{name}: {e}"))?,
                _ => return Err(format!("field `{name}` has neither text nor hex")),
            };
            out.push(bytes);
        }
        Ok(Case { fields: out })
    }
}

/// A fuzz target: its fields, where its seeds come from, and the check that panics when a
/// property breaks. `check` answers a short label of what the parser did (its outcome).
pub struct Target {
    pub name: &'static str,
    pub fields: &'static [&'static str],
    /// Tokens worth inserting into this target's fields (`t=`, `ys_live_`, `"kid"`, …).
    pub dictionary: &'static [&'static [u8]],
    pub seeds: fn() -> Vec<Case>,
    pub check: fn(&Case) -> &'static str,
    /// Largest field the mutator grows a case to.
    pub max_field_len: usize,
}

/// How long to run and from which seed.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub seed: u64,
    pub duration: Duration,
    /// Stops earlier after this many rounds (a smoke run stays bounded on a slow machine).
    pub max_rounds: Option<u64>,
}

/// What a finished run saw.
#[derive(Debug)]
pub struct Report {
    pub rounds: u64,
    pub corpus: usize,
    pub outcomes: BTreeMap<&'static str, u64>,
}

/// A case that broke a property.
#[derive(Debug)]
pub struct Failure {
    pub round: u64,
    pub message: String,
    pub case: Case,
    pub artifact: Option<PathBuf>,
}

/// Where regression seeds live: `fuzz/corpus/<target>/*.json`.
pub fn corpus_dir(target: &Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target.name)
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts")
}

/// The stored regression seeds of `target`, sorted by file name so a run is repeatable.
pub fn stored_seeds(target: &Target) -> Vec<Case> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| load_case(target, path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

pub fn load_case(target: &Target, path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Case::from_json(target, &value)
}

/// Runs `check` on one case; the panic message when a property broke.
pub fn check_one(target: &Target, case: &Case) -> Result<&'static str, String> {
    catch_unwind(AssertUnwindSafe(|| (target.check)(case))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// Checks every seed, then mutates until the budget is spent or a property breaks.
pub fn run(target: &Target, budget: Budget) -> Result<Report, Failure> {
    let mut rng = StdRng::seed_from_u64(budget.seed);
    let mut corpus = (target.seeds)();
    corpus.extend(stored_seeds(target));
    assert!(!corpus.is_empty(), "{} has no seeds", target.name);
    let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let fail = |round, message, case: Case| {
        let artifact = save_artifact(target, &case);
        Failure {
            round,
            message,
            case,
            artifact,
        }
    };
    for case in corpus.clone() {
        match check_one(target, &case) {
            Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
            Err(message) => return Err(fail(0, message, case)),
        }
    }
    let started = Instant::now();
    let mut round = 0u64;
    while started.elapsed() < budget.duration && budget.max_rounds.is_none_or(|max| round < max) {
        round += 1;
        let mut case = corpus[rng.gen_range(0..corpus.len())].clone();
        let donor = corpus[rng.gen_range(0..corpus.len())].clone();
        mutate(&mut rng, &mut case, &donor, target);
        match check_one(target, &case) {
            Ok(outcome) => {
                let seen = outcomes.entry(outcome).or_default();
                if *seen == 0 && corpus.len() < 4096 {
                    corpus.push(case);
                }
                *seen += 1;
            }
            Err(message) => return Err(fail(round, message, case)),
        }
    }
    Ok(Report {
        rounds: round,
        corpus: corpus.len(),
        outcomes,
    })
}

fn save_artifact(target: &Target, case: &Case) -> Option<PathBuf> {
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let text = serde_json::to_string_pretty(&case.to_json(target)).ok()?;
    let digest = fnv1a(text.as_bytes());
    let path = dir.join(format!("{}-{digest:08x}.json", target.name));
    std::fs::write(&path, text).ok()?;
    Some(path)
}

fn fnv1a(bytes: &[u8]) -> u32 {
    // A name for the file, not a checksum anything relies on.
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    hash
}

/// A number drawn from the case's bytes, for targets that need one (a timestamp, an offset).
pub fn le_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    for (slot, b) in buf.iter_mut().zip(bytes) {
        *slot = *b;
    }
    u64::from_le_bytes(buf)
}
