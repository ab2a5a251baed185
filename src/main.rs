//! The `tune` binary: arguments in, `run()` out, errors mapped to exit codes (2: the user's input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tune::driver::{self, RunOptions};
use tune::outputs::leaderboard;
use tune::plan::{Overrides, StudyPlan};
use tune::Error;

mod cli;

/// Hyperparameter tuning with virtual epochs: every trial trains on the same number of examples,
/// is checkpointed at every virtual epoch, is judged by its best checkpoint, and resumes exactly.
#[derive(Parser)]
#[command(name = "tune", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Clone, Default)]
struct StudyArgs {
    /// The study spec (JSON).
    spec: Option<PathBuf>,
    /// The study folder (default: runs/<name>/ beside the spec).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args, Clone, Default)]
struct RunArgs {
    #[command(flatten)]
    study: StudyArgs,
    /// Where trials run: cpu, cuda or cuda:N (overrides the spec).
    #[arg(long)]
    device: Option<String>,
    /// Trials at once (overrides the spec).
    #[arg(long)]
    parallel: Option<usize>,
    /// Cores the study may use (default: all this process may use); the running trials share
    /// them, and the default `parallel` on the CPU is one trial per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    cores: Option<u16>,
    /// Move the old study folder aside and start over.
    #[arg(long)]
    restart: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Stop cleanly (as on Ctrl-C) after this many virtual epochs have been checkpointed.
    #[arg(long, value_name = "N")]
    stop_after_epochs: Option<u64>,
    /// Make checkpoints and journal records durable (fsync) at least this often, in groups; a
    /// crash loses at most this much training, which a resume redoes to the same results. 0: every
    /// virtual epoch on its own.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    sync_every: std::time::Duration,
}

/// A duration in seconds: a finite number, zero or more.
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(x)
        .map_err(|_| format!("`{s}` is not a number of seconds, zero or more"))
}

#[derive(Subcommand)]
enum Command {
    /// Run or resume a study (the default).
    Run(RunArgs),
    /// Trials done, running and failed; the best so far; the budget each trial has used.
    Status {
        #[command(flatten)]
        study: StudyArgs,
    },
    /// Write report.html into the study folder (works while the study runs, too).
    Report {
        #[command(flatten)]
        study: StudyArgs,
    },
    /// Print the leaderboard again, or export it, without training.
    Leaderboard {
        #[command(flatten)]
        study: StudyArgs,
        /// Write the leaderboard CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            let user = e.downcast_ref::<Error>().is_some_and(Error::is_user_error);
            eprintln!("tune: {e:#}");
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

fn load(
    study: &StudyArgs,
    device: Option<String>,
    parallel: Option<usize>,
    cores: Option<u16>,
) -> anyhow::Result<StudyPlan> {
    let Some(spec) = &study.spec else {
        anyhow::bail!(Error::Study(
            "no study spec given: run `tune study.json` (see `tune --help`)".into()
        ));
    };
    Ok(StudyPlan::load(
        spec,
        &Overrides {
            out: study.out.clone(),
            device,
            parallel,
            cores: cores.map(usize::from),
        },
    )?)
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        None => run_study(cli.run),
        Some(Command::Run(args)) => run_study(args),
        Some(Command::Status { study }) => {
            let plan = load(&study, None, None, None)?;
            let history = driver::read_history(&plan)?;
            let store = driver::folder_store(&plan);
            print!("{}", tune::outputs::status::status(&plan, &history, &store));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report { study }) => {
            let plan = load(&study, None, None, None)?;
            let history = driver::read_history(&plan)?;
            println!(
                "{}",
                tune::outputs::report::write(&plan, &history)?.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Leaderboard { study, csv }) => {
            let plan = load(&study, None, None, None)?;
            let history = driver::read_history(&plan)?;
            match csv {
                Some(path) => {
                    leaderboard::write_csv(&plan, &history, &path)?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{}", leaderboard::table(&plan, &history, usize::MAX)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_study(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = load(&args.study, args.device.clone(), args.parallel, args.cores)?;
    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (stop, presses) = (stop.clone(), presses.clone());
        // First Ctrl-C: finish the checkpoints being written, then exit cleanly. Second: exit now;
        // still safe, because every file that matters is written atomically.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                stop.store(true, Ordering::SeqCst);
                eprintln!(
                    "\nstopping after the current virtual epochs (Ctrl-C again to stop at once)"
                );
            } else {
                std::process::exit(130);
            }
        });
    }
    let bars = cli::progress::Bars::new(!args.quiet);
    let summary = driver::run(
        &plan,
        &RunOptions {
            restart: args.restart,
            stop_after_epochs: args.stop_after_epochs,
            sync_every: args.sync_every,
        },
        &stop,
        &bars,
    );
    bars.finish();
    let summary = summary?;
    let out = plan.out_dir.display();
    if summary.interrupted {
        eprintln!("stopped; resume with: tune {}", plan.spec_file.display());
        return Ok(ExitCode::from(130));
    }
    println!("{}", leaderboard::table(&plan, &summary.history, 10));
    if summary.phases.compute > 0.0 {
        println!(
            "this run: {:.2} s wall, {} trial{} at a time\n{}",
            summary.wall_seconds,
            summary.workers,
            if summary.workers == 1 { "" } else { "s" },
            summary.overhead_line()
        );
    } else {
        println!(
            "this run: nothing left to train (the study had finished); `--restart` starts it over"
        );
    }
    println!(
        "study {}: {} trials; leaderboard: {out}/leaderboard.csv; report: {out}/report.html",
        plan.name,
        summary.history.trials.len()
    );
    Ok(ExitCode::SUCCESS)
}
