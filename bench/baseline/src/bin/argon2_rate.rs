//! The raw argon2id rate of this machine, the yardstick `bench/passwords`
//! holds idstore's password creates and logins against: RustCrypto's
//! `argon2` in a tight loop on N threads, nothing else.
//!
//! Each operation is the one idstore's hash pool runs per request
//! (crates/auth/src/password/hash.rs): `hash` is `hash_password` (a fresh
//! random salt, argon2id v=19, the PHC string), `verify` parses a stored PHC
//! string and checks a password against it with the hash's own costs, as a
//! login does. Both cost the same argon2 work.
//!
//! Prints one line, `ARGON2_RATE mode=... threads=... ops=... duration_s=...
//! rate=... ms_per_op=... cpu_ms_per_op=...`, that the script parses.
//! `cpu_ms_per_op` is the process's user + system CPU per operation: what
//! one hash costs whatever else shares the machine, to set beside idstore's
//! CPU per request.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// New hashes: what `POST /v1/users` with a password costs.
    Hash,
    /// Verifications of a stored hash: what a password login costs.
    Verify,
}

#[derive(Debug, Parser)]
#[command(
    name = "idstore-argon2-rate",
    about = "argon2id hashes or verifications per second on N threads, for bench/passwords"
)]
struct Args {
    #[arg(long, value_enum, default_value = "hash")]
    mode: Mode,
    /// Threads hashing at once; 0 means one per core, as idstore's
    /// `hash_workers = 0`.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Spread the operations over this many threads, at most `--threads` of
    /// them hashing at once, each taking the next free turn: the way
    /// tokio's blocking pool (idstore's hash pool) hands hashes to whichever
    /// of its threads is idle. 0: `--threads` threads, each hashing in turn.
    #[arg(long, default_value_t = 0)]
    spread: usize,
    /// Seconds to run; threads start no new operation after that.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// idstore's defaults (`password_hash_memory_kib`, `_iterations`,
    /// `_parallelism` in crates/server/src/config/keys.rs;
    /// `Argon2Params::default()` in crates/auth/src/password/hash.rs).
    #[arg(long, default_value_t = 19_456)]
    memory_kib: u32,
    #[arg(long, default_value_t = 2)]
    iterations: u32,
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
}

const PASSWORD: &str = "violet-tractor-harbour-91";

fn main() -> ExitCode {
    let args = Args::parse();
    let params = match Params::new(args.memory_kib, args.iterations, args.parallelism, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("idstore-argon2-rate: argon2 refuses these costs: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.duration.is_finite() || args.duration <= 0.0 {
        eprintln!("idstore-argon2-rate: --duration must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        args.threads
    };
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // The stored hash a login verifies against (made before the clock starts).
    let stored = argon2
        .hash_password(PASSWORD.as_bytes())
        .expect("argon2id hashing")
        .to_string();

    let ops = AtomicU64::new(0);
    let deadline = Duration::from_secs_f64(args.duration);
    // Turns: at most `threads` operations at once, over `spawned` threads.
    let spawned = args.spread.max(threads);
    let turns = (Mutex::new(threads), Condvar::new());
    let take = || {
        let mut free = turns.0.lock().expect("turns");
        while *free == 0 {
            free = turns.1.wait(free).expect("turns");
        }
        *free -= 1;
    };
    let give = || {
        *turns.0.lock().expect("turns") += 1;
        turns.1.notify_one();
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..spawned {
            s.spawn(|| {
                let mut done = 0u64;
                loop {
                    take();
                    if started.elapsed() >= deadline {
                        give();
                        break;
                    }
                    match args.mode {
                        Mode::Hash => {
                            let phc = argon2
                                .hash_password(PASSWORD.as_bytes())
                                .expect("argon2id hashing")
                                .to_string();
                            std::hint::black_box(phc);
                        }
                        Mode::Verify => {
                            // As idstore: parse the PHC string, verify with
                            // the costs it names.
                            let hash = PasswordHash::new(&stored).expect("our own PHC string");
                            let ok = Argon2::default()
                                .verify_password(PASSWORD.as_bytes(), &hash)
                                .is_ok();
                            assert!(ok, "the password must verify");
                        }
                    }
                    done += 1;
                    give();
                }
                ops.fetch_add(done, Ordering::Relaxed);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let ops = ops.into_inner();
    let cpu_ms = cpu_seconds().map_or(f64::NAN, |s| s * 1000.0);
    let rate = ops as f64 / secs;
    let mode = match args.mode {
        Mode::Hash => "hash",
        Mode::Verify => "verify",
    };
    println!(
        "ARGON2_RATE mode={mode} threads={threads} spread={spawned} m_kib={} t={} p={} ops={ops} duration_s={secs:.3} \
         rate={rate:.2} ms_per_op={:.2} cpu_ms_per_op={:.2}",
        args.memory_kib,
        args.iterations,
        args.parallelism,
        if ops > 0 {
            secs * 1000.0 * threads as f64 / ops as f64
        } else {
            0.0
        },
        if ops > 0 { cpu_ms / ops as f64 } else { 0.0 },
    );
    ExitCode::SUCCESS
}

/// User + system CPU of this process so far, its finished threads included
/// (`/proc/self/stat`, in USER_HZ = 100 ticks a second on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
