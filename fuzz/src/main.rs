//! `shared-fuzz`: runs the fuzz targets of `shared` (see the crate docs).
//!
//! ```text
//! shared-fuzz [--seconds S] [--seed N] [--rounds R] [TARGET…]   run each target S seconds
//! shared-fuzz replay TARGET FILE…                                run stored cases once
//! shared-fuzz list                                               the targets
//! ```
//! `make test` runs every target a few seconds from a fixed seed; `make fuzz` as long as asked.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shared_fuzz::engine::{Budget, check_one, load_case};
use shared_fuzz::{Target, run, targets};

fn usage() -> ExitCode {
    eprintln!(
        "usage: shared-fuzz [--seconds S] [--seed N] [--rounds R] [TARGET…]\n       \
         shared-fuzz replay TARGET FILE…\n       shared-fuzz list"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // A broken property is reported once, with its case, by the loop; not as a backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("list") => {
            for target in targets::all() {
                println!("{} ({})", target.name, target.fields.join(", "));
            }
            ExitCode::SUCCESS
        }
        Some("replay") => replay(&argv[1..]),
        _ => fuzz(&argv),
    }
}

fn replay(argv: &[String]) -> ExitCode {
    let Some(target) = argv.first().and_then(|name| targets::by_name(name)) else {
        return usage();
    };
    let mut failed = false;
    for file in &argv[1..] {
        let case = match load_case(&target, Path::new(file)) {
            Ok(case) => case,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        match check_one(&target, &case) {
            Ok(outcome) => println!("{file}: {outcome}"),
            Err(message) => {
                println!("{file}: FAILED: {message}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fuzz(argv: &[String]) -> ExitCode {
    let mut seconds = 3.0f64;
    let mut seed = 1u64;
    let mut rounds = None;
    let mut chosen: Vec<Target> = Vec::new();
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let value = |args: &mut std::slice::Iter<String>| args.next().and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--seconds" => match value(&mut args) {
                Some(s) => seconds = s,
                None => return usage(),
            },
            "--seed" => match value(&mut args) {
                Some(s) => seed = s as u64,
                None => return usage(),
            },
            "--rounds" => match value(&mut args) {
                Some(r) => rounds = Some(r as u64),
                None => return usage(),
            },
            name => match targets::by_name(name) {
                Some(target) => chosen.push(target),
                None => {
                    eprintln!("no target {name:?}; `shared-fuzz list` names them");
                    return usage();
                }
            },
        }
    }
    if chosen.is_empty() {
        chosen = targets::all();
    }
    let budget = Budget {
        seed,
        duration: Duration::from_secs_f64(seconds),
        max_rounds: rounds,
    };
    let (mut passed, mut failed) = (0, 0);
    for target in &chosen {
        let started = Instant::now();
        match run(target, budget) {
            Ok(report) => {
                passed += 1;
                let outcomes: Vec<String> = report
                    .outcomes
                    .iter()
                    .map(|(outcome, n)| format!("{outcome}: {n}"))
                    .collect();
                println!(
                    "fuzz {:<9} ok: {} rounds in {:.1} s, seed {seed}, corpus {} ({})",
                    target.name,
                    report.rounds,
                    started.elapsed().as_secs_f64(),
                    report.corpus,
                    outcomes.join(", ")
                );
            }
            Err(failure) => {
                failed += 1;
                println!(
                    "fuzz {:<9} FAILED at round {} (seed {seed}): {}",
                    target.name, failure.round, failure.message
                );
                if let Some(path) = &failure.artifact {
                    println!(
                        "  case saved to {}\n  replay: cargo run -p shared-fuzz -- replay {} {}",
                        path.display(),
                        target.name,
                        path.display()
                    );
                }
            }
        }
    }
    println!("fuzz: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
