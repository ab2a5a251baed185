//! The `tune` binary: arguments in, `run()` out, errors mapped to exit codes (2: the user's input).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};
use tune::driver::{self, RunOptions};
use tune::outputs::leaderboard;
use tune::plan::{Overrides, StudyPlan};
use tune::Error;

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
    /// Keep the study in PostgreSQL, shared by workers on any machines:
    /// postgresql://user:password@host:port/database (or TUNE_STORAGE, or the spec's "storage").
    #[arg(long, value_name = "URL")]
    storage: Option<String>,
    /// With --storage: keep checkpoints in this folder (shared by the workers, NFS for example)
    /// instead of PostgreSQL.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
}

#[derive(clap::Args, Clone, Default)]
struct RunArgs {
    #[command(flatten)]
    study: StudyArgs,
    /// Where trials run: cpu, cuda or cuda:N (overrides the spec).
    #[arg(long)]
    device: Option<String>,
    /// Trials at once (overrides the spec).
    #[arg(long, value_name = "N", value_parser = whole::<usize>)]
    parallel: Option<usize>,
    /// Cores the study may use, 1 to 1024 (default: all this process may use); the running
    /// trials share them, and the default `parallel` on the CPU is one trial per core.
    #[arg(long, value_name = "N", value_parser = whole::<usize>)]
    cores: Option<usize>,
    /// Move the old study folder aside and start over.
    #[arg(long)]
    restart: bool,
    /// Resume although the program's files changed (journalled: the report shows which trials ran
    /// which code).
    #[arg(long)]
    allow_code_change: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Interrupt the study cleanly (as Ctrl-C does) after this many virtual epochs have been
    /// checkpointed.
    #[arg(long, value_name = "N", value_parser = whole::<u64>)]
    stop_after_epochs: Option<u64>,
    /// Make checkpoints and journal records durable (fsync) at least this often, in groups; a
    /// crash loses at most this much training, which a resume redoes to the same results. 0: every
    /// virtual epoch on its own.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    sync_every: std::time::Duration,
    /// Log the trials to this MLflow tracking server (http://host:port), over the spec's
    /// "tracking.mlflow".
    #[arg(long, value_name = "URI")]
    mlflow: Option<String>,
}

/// A whole number, zero or more (ranges are the plan's to check, which names the flag).
fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(
        |_| match s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
            true => format!("{s} is too large"),
            false => format!("`{s}` is not a whole number"),
        },
    )
}

/// A duration in seconds: a finite number, zero or more.
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(x)
        .map_err(|_| format!("`{s}` is not a number of seconds, zero or more"))
}

/// Which trial and which of its checkpoints (`predict`, `export`).
#[derive(clap::Args, Clone)]
struct PickArgs {
    /// `best` (the leaderboard's first) or a trial number.
    #[arg(long, value_name = "N|best", default_value = "best")]
    trial: tune::outputs::predict::TrialPick,
    /// `best` (the trial's selected one), `last`, or a virtual epoch's number.
    #[arg(long, value_name = "best|last|EPOCH", default_value = "best")]
    checkpoint: tune::artifacts::pick::CheckpointPick,
}

#[derive(Subcommand)]
enum Command {
    /// Run or resume a study (the default).
    Run(RunArgs),
    /// Join a study kept in PostgreSQL (--storage) and work on it until no trial is left.
    Worker(RunArgs),
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
    /// Serve the report as a live page, and a read-only JSON API (docs/use.md), while it runs.
    Serve {
        #[command(flatten)]
        study: StudyArgs,
        /// The port to listen on (0: any free one; the address is printed).
        #[arg(long, default_value = "8080")]
        port: u16,
        /// The address to listen on (the default: this machine only).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
    /// Pre-flight: can each model of the space memorise one small batch? (Writes nothing.)
    ///
    /// Trains each distinct model of the space (its widths and optimizer settings; a range's
    /// ends) on the first 32 training rows at each learning rate until it memorises them, and
    /// says why one cannot: too little capacity, learning rates that diverge, or the data. Exit 0
    /// when every model memorises the batch, 1 when one cannot.
    Check {
        #[command(flatten)]
        study: StudyArgs,
    },
    /// Predict new rows with a trial's checkpoint (default: the best trial's selected one).
    ///
    /// Columns are matched by name (others are ignored); the rows are prepared as the training
    /// rows were (gaps, categories, standardisation, all recorded in the checkpoint). Writes CSV:
    /// `prediction`, and `p_<label>` per class for classification. When the file has the target
    /// column, the score on its rows goes to stderr.
    Predict {
        #[command(flatten)]
        study: StudyArgs,
        #[command(flatten)]
        pick: PickArgs,
        /// The rows to predict (CSV or Parquet).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Write the predictions here (default, or `-`: stdout): a new file, or a regular one
        /// replaced; never the spec, a data file or a file in the study folder.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Train a trial's parameters again on other data with the same budget, and compare.
    ///
    /// The same total examples and virtual epochs as the study gave each trial (whatever the new
    /// data's size), so that what the new data does can be told apart from training longer. The
    /// retraining is a study of its own in <study folder>/retrain/trial-N-<data>/ (run again, it
    /// resumes); its curve and the old one are printed side by side and plotted in retrain.html.
    Retrain {
        #[command(flatten)]
        run: RunArgs,
        /// The data to train on (CSV or Parquet, with the study's columns).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// `best` (the leaderboard's first) or a trial number.
        #[arg(long, value_name = "N|best", default_value = "best")]
        trial: tune::outputs::predict::TrialPick,
    },
    /// Export a trial's checkpoint (default: the best trial's selected one) as a standard model.
    ///
    /// ONNX (opset 13): one input per feature column, by name, shape [N, 1] (float for numbers,
    /// NaN for a gap; string for categories), the preprocessing inside the graph; outputs
    /// `prediction`, and `probabilities` for classification. See docs/use.md.
    Export {
        #[command(flatten)]
        study: StudyArgs,
        #[command(flatten)]
        pick: PickArgs,
        /// The model's format: onnx (the only one).
        #[arg(long, default_value = "onnx", value_parser = cli::model::export_format)]
        format: String,
        /// Write the model here (`-`: stdout): a new file, or a regular one replaced; never the
        /// spec, a data file or a file in the study folder.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Population-based training: train a member's schedule from scratch, as one trial, and
    /// check that it reaches the member's weights bit for bit (exit 1 when it does not).
    Replay {
        #[command(flatten)]
        study: StudyArgs,
        /// The member to replay (default: the leaderboard's first).
        #[arg(long, value_name = "N")]
        member: Option<u64>,
    },
    /// Print the leaderboard again, or export it, without training.
    Leaderboard {
        #[command(flatten)]
        study: StudyArgs,
        /// Write the leaderboard CSV here (`-`: stdout): a new file, or a regular one replaced;
        /// never the spec, a data file or a file in the study folder.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    use tune::runner::command;
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == command::SUPERVISE_ARG) {
        // A trial's supervisor (see runner/command/process.rs), not a command of the user's.
        return ExitCode::from(command::supervise(&args[2..]).clamp(0, 255) as u8);
    }
    if let Ok(exe) = std::env::current_exe() {
        command::set_supervisor(exe);
    }
    match run() {
        Ok(code) => code,
        // The reader of stdout had what it wanted (`tune ... | head -1`): nothing went wrong, and
        // `tune` ends quietly with 0, as ripgrep does, rather than as a process SIGPIPE ended.
        Err(e) if e.is::<Closed>() => ExitCode::SUCCESS,
        Err(e) => {
            let user =
                e.is::<Usage>() || e.downcast_ref::<Error>().is_some_and(Error::is_user_error);
            // Ignored: stderr may be a closed pipe too.
            let _ = writeln!(std::io::stderr(), "tune: {e:#}");
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

/// Stdout was closed by its reader.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for Closed {}

/// A command line that cannot be used as it stands (exit 2): the sentence says why.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Writes to stdout; a closed one ends the run as [`Closed`].
fn say(text: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed.into()),
        r => Ok(r?),
    }
}

/// `println!` to stdout through [`say`].
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
use cli::signal;

/// The command line, parsed: a first word that is neither a command nor a file is refused in one
/// sentence (see [`cli::words`]), and so is a bad option value, naming the option.
fn parse() -> anyhow::Result<Cli> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let command = Cli::command();
    let takes_value = |long: &str| {
        command
            .get_arguments()
            .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
    };
    if let Some(sentence) = cli::words::refusal(&args, takes_value) {
        return Err(Usage(sentence).into());
    }
    Cli::try_parse_from(&args).map_err(|e| Usage(one_line(&e).unwrap_or_else(|| e.exit())).into())
}

/// Clap's error as one sentence, where it would otherwise mislead or take several lines: a bad
/// option value (named by its option) and a second spec (which clap calls a subcommand).
fn one_line(e: &clap::Error) -> Option<String> {
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    match e.kind() {
        ErrorKind::ValueValidation => {
            let flag = text(ContextKind::InvalidArg)?.split(' ').next()?;
            Some(format!("{flag}: {}", std::error::Error::source(e)?))
        }
        ErrorKind::ArgumentConflict => Some(format!(
            "`{}` is one argument too many: a study is run from one spec, `tune STUDY.json`",
            text(ContextKind::InvalidSubcommand)?
        )),
        _ => None,
    }
}

fn load(
    study: &StudyArgs,
    device: Option<String>,
    parallel: Option<usize>,
    cores: Option<usize>,
) -> anyhow::Result<StudyPlan> {
    load_as(study, device, parallel, cores, false)
}

/// [`load`], reading only the study folder where it can (`status`, `report`, `leaderboard`).
fn load_as(
    study: &StudyArgs,
    device: Option<String>,
    parallel: Option<usize>,
    cores: Option<usize>,
    folder_only: bool,
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
            cores,
            folder_only,
        },
        &tune::runner::mlp::params::FAMILY,
    )?)
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = parse()?;
    match cli.command {
        None => run_study(cli.run, false),
        Some(Command::Run(args)) => run_study(args, false),
        Some(Command::Worker(args)) => run_study(args, true),
        Some(Command::Status { study }) => {
            let plan = load_as(&study, None, None, None, true)?;
            let (history, store) = read(&study, &plan)?;
            say(format_args!(
                "{}",
                tune::outputs::status::status(&plan, &history, &*store)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report { study }) => {
            let plan = load_as(&study, None, None, None, true)?;
            let (history, store) = read(&study, &plan)?;
            // A study kept in PostgreSQL may have no folder on this machine yet.
            std::fs::create_dir_all(&plan.out_dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", plan.out_dir.display()))?;
            tune::outputs::test_scores::update(&plan, &history, &*store)?;
            say!(
                "{}",
                tune::outputs::report::write(&plan, &history)?.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check { study }) => cli::check::check(&study),
        Some(Command::Serve { study, port, host }) => cli::output::serve(&study, &host, port),
        Some(Command::Retrain { run, data, trial }) => cli::model::retrain(&run, &data, trial),
        Some(Command::Predict {
            study,
            pick,
            data,
            output,
        }) => cli::model::predict(&study, &pick, &data, output.as_deref()),
        Some(Command::Export {
            study,
            pick,
            format: _,
            output,
        }) => cli::model::export(&study, &pick, &output),
        Some(Command::Leaderboard { study, csv }) => cli::output::leaderboard(&study, csv),
        Some(Command::Replay { study, member }) => cli::replay::replay(&study, member),
    }
}

/// Where the study is kept: `--storage`, else `TUNE_STORAGE`, else the spec's `storage` (a
/// PostgreSQL URL); `None`: the journal in the study folder.
fn storage(study: &StudyArgs, plan: &StudyPlan) -> anyhow::Result<Option<String>> {
    let env = std::env::var("TUNE_STORAGE").ok().filter(|s| !s.is_empty());
    let (url, from) = match (&study.storage, env, &plan.spec.storage) {
        (Some(u), _, _) => (u.clone(), "--storage"),
        (None, Some(u), _) => (u, "TUNE_STORAGE"),
        (None, None, Some(u)) => (u.clone(), "the spec's \"storage\""),
        (None, None, None) => {
            if study.artifacts.is_some() {
                anyhow::bail!(Usage(
                    "--artifacts: only with --storage (a study folder keeps its own checkpoints)"
                        .into()
                ));
            }
            return Ok(None);
        }
    };
    if !tune::storage::postgres::is_url(&url) {
        anyhow::bail!(Usage(format!(
            "{from}: `{}` is not a PostgreSQL URL: postgresql://user:password@host:port/database",
            tune::storage::postgres::hide_password(&url)
        )));
    }
    Ok(Some(url))
}

/// The history and checkpoints of the study, wherever it is kept.
fn read(
    study: &StudyArgs,
    plan: &StudyPlan,
) -> anyhow::Result<(
    tune::storage::History,
    Box<dyn tune::artifacts::ArtifactStore>,
)> {
    let url = storage(study, plan)?;
    Ok(driver::read_history(
        plan,
        url.as_deref(),
        study.artifacts.as_deref(),
    )?)
}

/// Set to stop the study cleanly, on the first signal (see [`signal`]).
static STOP: AtomicBool = AtomicBool::new(false);

fn run_study(args: RunArgs, join: bool) -> anyhow::Result<ExitCode> {
    let plan = load(&args.study, args.device.clone(), args.parallel, args.cores)?;
    let resume = cli::shell::resume_command(
        &plan.spec_file,
        args.study.out.as_deref(),
        args.study.storage.as_deref(),
    );
    let (code, summary) = run_plan(&plan, &args, join, &resume)?;
    if let Some(summary) = summary {
        say!("{}", leaderboard::table(&plan, &summary.history, 10))?;
        say!("{}", summary_lines(&plan, &summary))?;
    }
    Ok(code)
}

/// What a run did, in three lines: its time and parallelism (or that nothing was left), and where
/// the study's files are.
fn summary_lines(plan: &StudyPlan, summary: &driver::Summary) -> String {
    let out = plan.out_dir.display();
    let this_run = match summary.phases.compute > 0.0 {
        true => format!(
            "this run: {:.2} s wall, {} trial{} at a time\n{}",
            summary.wall_seconds,
            summary.workers,
            if summary.workers == 1 { "" } else { "s" },
            summary.overhead_line(plan.command.is_some())
        ),
        false => {
            "this run: nothing left to train (the study had finished); `--restart` starts it over"
                .to_string()
        }
    };
    format!(
        "{this_run}\nstudy {}: {} trials; leaderboard: {out}/leaderboard.csv; report: {out}/report.html",
        plan.name,
        summary.history.trials.len()
    )
}

/// Runs (or joins) the study of `plan`, with signals handled and progress drawn; the summary
/// unless it was interrupted (then the exit code of the signal, and `resume` said).
fn run_plan(
    plan: &StudyPlan,
    args: &RunArgs,
    join: bool,
    resume: &str,
) -> anyhow::Result<(ExitCode, Option<driver::Summary>)> {
    let url = storage(&args.study, plan)?;
    if join && url.is_none() {
        anyhow::bail!(Usage(
            "tune worker: needs --storage URL (or TUNE_STORAGE): workers share a study kept in PostgreSQL".into()
        ));
    }
    // Population-based training is shared (its barrier and exploits are decided from the
    // stored history); ASHA's promote mode is not yet.
    let pbt = matches!(plan.scheduler, Some(tune::plan::SchedulerPlan::Pbt(_)));
    if url.is_some() && !pbt && plan.scheduler.as_ref().is_some_and(|s| s.promotes()) {
        anyhow::bail!(Error::Spec {
            file: plan.spec_file.clone(),
            path: "scheduler.mode".into(),
            msg: "\"promote\" is not shared across workers yet (--storage): use \"stop\", or run the study on one machine".into(),
        });
    }
    if args.restart && url.is_some() {
        anyhow::bail!(Usage(
            "--restart: not with --storage: a study in PostgreSQL is shared; give the spec another name to start over".into()
        ));
    }
    signal::note_ignored();
    let signalled = AtomicBool::new(false);
    // First SIGINT, SIGTERM or SIGHUP: finish the checkpoints being written, then exit cleanly.
    // Second: exit now; still safe, because every file that matters is written atomically. Errors
    // writing to stderr are ignored: after SIGHUP it may be a closed terminal.
    let handled = ctrlc::set_handler(move || {
        if !signalled.swap(true, SeqCst) {
            STOP.store(true, SeqCst);
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: finishing the virtual epochs under way ({})",
                match signal::name(true) {
                    "SIGINT" => "Ctrl-C again to quit at once".to_string(),
                    name => format!("{name}; a second signal quits at once"),
                }
            );
        } else {
            std::process::exit(signal::exit_code(false).into());
        }
    });
    if handled.is_ok() {
        signal::install();
    }
    let bars = cli::progress::Bars::new(!args.quiet);
    let summary = driver::run(
        plan,
        &RunOptions {
            restart: args.restart,
            stop_after_epochs: args.stop_after_epochs,
            sync_every: args.sync_every,
            storage: url,
            join,
            artifacts: args.study.artifacts.clone(),
            allow_code_change: args.allow_code_change,
            mlflow: args.mlflow.clone(),
        },
        &STOP,
        &bars,
    );
    bars.finish();
    let summary = summary?;
    if summary.interrupted {
        let _ = writeln!(std::io::stderr(), "interrupted; resume with: {resume}");
        // 128 + the signal's number, as a shell reports a process the signal ended; 130 (SIGINT's)
        // after --stop-after-epochs.
        return Ok((ExitCode::from(signal::exit_code(true)), None));
    }
    Ok((ExitCode::SUCCESS, Some(summary)))
}
