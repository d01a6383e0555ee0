//! Fuzz targets for the parsers in `shared`, and the loop that runs them on stable Rust.
//!
//! libFuzzer (`cargo fuzz`) needs a nightly compiler for its sanitizer coverage, so this crate
//! brings its own engine: a seeded, coverage-less mutation loop over structured inputs. A case
//! is a few named byte fields (a secret, a body, a header…); each round takes a case from the
//! corpus, mutates one or two fields (bit flips, interesting bytes and numbers, the target's
//! own tokens, splices from other cases), and runs the target, which panics when a property
//! breaks. A case that ends in an outcome the corpus has not seen yet (a new error variant, an
//! acceptance) joins the corpus: the feedback a coverage map would give, at the grain of what
//! the parser answered. The corpus starts from the repository's fixtures
//! (`fixtures/woocommerce`, `fixtures/ebay`) and from `fuzz/corpus/<target>/`, where a case
//! that once broke a property is kept as a regression seed.
//!
//! The same seed replays the same cases, so `make test` runs a fixed seed for a few seconds per
//! target and a failure reproduces exactly. A failing case is written to `fuzz/artifacts/`.

pub mod engine;
pub mod mutate;
pub mod seeds;
pub mod targets;

pub use engine::{Case, Failure, Report, Target, run};
