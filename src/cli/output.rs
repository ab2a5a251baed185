//! Files a command writes where the user says (`--output`, `--csv`): checked before anything is
//! read or written (see [`tune::outputs::destination`]), then written, or sent to stdout for `-`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tune::outputs::destination::{self, Destination, Guarded};
use tune::plan::StudyPlan;

use crate::{load_as, read, say, storage, Closed, StudyArgs};

/// What a command of `plan`'s study must not write over: the spec, the data files (`data`: a
/// `--data` file), the study folder and the `--artifacts` one.
pub fn guarded(plan: &StudyPlan, study: &StudyArgs, data: Option<&Path>) -> Guarded {
    let mut files = vec![("the spec", plan.spec_file.clone())];
    files.extend(plan.data_file.clone().map(|f| ("the study's data file", f)));
    files.extend(data.map(|f| ("the --data file", f.to_path_buf())));
    let mut folders = vec![("the study folder", plan.out_dir.clone())];
    folders.extend(
        study
            .artifacts
            .clone()
            .map(|f| ("the --artifacts folder", f)),
    );
    Guarded { files, folders }
}

/// `path`, given to `flag`, as a destination for a command of `plan`'s study (exit 2 when refused).
pub fn destination(
    flag: &'static str,
    path: &Path,
    plan: &StudyPlan,
    study: &StudyArgs,
    data: Option<&Path>,
) -> anyhow::Result<Destination> {
    Ok(destination::check(flag, path, &guarded(plan, study, data))?)
}

/// Writes `bytes` to `dest`; a closed stdout ends the run as [`Closed`].
pub fn write(dest: &Destination, bytes: &[u8]) -> anyhow::Result<()> {
    match (destination::write(dest, bytes), dest) {
        (Ok(()), _) => Ok(()),
        (Err(e), Destination::Stdout) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(Closed.into())
        }
        (Err(e), Destination::Stdout) => Err(anyhow::anyhow!("stdout: {e}")),
        (Err(e), Destination::File(p)) => Err(anyhow::anyhow!("{}: {e}", p.display())),
    }
}

/// `tune leaderboard`: the whole leaderboard, printed, or as CSV to `csv`.
pub fn leaderboard(study: &StudyArgs, csv: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use tune::outputs::leaderboard;
    let plan = load_as(study, None, None, None, true)?;
    let dest = match &csv {
        Some(path) => Some(destination("--csv", path, &plan, study, None)?),
        None => None,
    };
    let (history, store) = read(study, &plan)?;
    tune::outputs::test_scores::update(&plan, &history, &*store)?;
    match dest {
        Some(dest) => {
            let mut buf = Vec::new();
            leaderboard::write_csv_to(&plan, &history, &mut buf)?;
            write(&dest, &buf)?;
            if let Destination::File(path) = dest {
                let _ = writeln!(std::io::stderr(), "wrote {}", path.display());
            }
        }
        None => say(format_args!(
            "{}",
            leaderboard::table(&plan, &history, usize::MAX)
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `tune serve`: binds the address, says where the page is, and serves until interrupted.
pub fn serve(study: &StudyArgs, host: &str, port: u16) -> anyhow::Result<ExitCode> {
    use tune::backend::Location;
    let plan = load_as(study, None, None, None, true)?;
    let loc = match storage(study, &plan)? {
        Some(url) => Location::Postgres {
            url,
            name: plan.name.clone(),
        },
        None => Location::Folder(plan.out_dir.clone()),
    };
    let shown = loc.shown();
    let server = tune::outputs::serve::bind(plan, &loc, host, port)?;
    let addr = server.addr();
    let url = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{}/", addr.port()),
        std::net::IpAddr::V4(ip) => format!("http://{ip}:{}/", addr.port()),
    };
    say!("{url}")?;
    let _ = writeln!(
        std::io::stderr(),
        "serving {shown} at {url} (the page follows the study live; Ctrl-C stops)"
    );
    server.run()?;
    Ok(ExitCode::SUCCESS)
}
