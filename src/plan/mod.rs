//! `StudyPlan`: the spec checked once at the boundary, with every derived number (training rows, the
//! budget, the grid, threads per trial) computed here and never again. Deeper code trusts the plan.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::Location;
use crate::budget::Budget;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::objective::{Metric, MetricKind};
use crate::space::SearchSpace;
use crate::spec::StudySpec;

pub mod code;
mod data;
mod family;
pub mod gpus;
pub mod init;
mod limits;
mod objectives;
mod scheduler;
mod search;
mod selection;
mod trainer;
mod warm;
use data::DataPlan;
pub use family::{Footprint, ModelFamily, ModelSettings};
pub use init::InitPlan;
pub use limits::{MAX_BAYES_TRIALS, MAX_PARALLEL, MAX_TRIALS};
pub use scheduler::{PbtPlan, SchedulerPlan};
use search::SearchPlan;
pub use search::{cores, default_startup, DeviceKind, Method};
pub use selection::EarlyStopping;
use selection::SelectionPlan;
pub use trainer::CommandPlan;
pub use warm::WarmStart;

/// The validated study: everything the driver, sampler and trainer need.
#[derive(Clone, Debug)]
pub struct StudyPlan {
    pub spec_file: PathBuf,
    pub spec: StudySpec,
    pub name: String,
    pub seed: u64,
    pub out_dir: PathBuf,
    /// The data file; `None` for a command trainer without `data`.
    pub data_file: Option<PathBuf>,
    /// CRC-32 of the data file as read, part of the study's fingerprint.
    pub data_crc32: Option<u32>,
    pub dataset: Option<Arc<Dataset>>,
    /// The key of the prepared data's cache (`data.cache` in the study folder).
    pub data_key: Option<crate::data::cache::Key>,
    /// The built-in MLP's settings (its defaults under a command trainer, which ignores them).
    pub model: ModelSettings,
    /// A user's program that trains each trial; `None`: the built-in MLP.
    pub command: Option<CommandPlan>,
    /// An earlier study's trials the search starts from (`search.warm_start`).
    pub warm: Option<WarmStart>,
    /// The checkpoint every trial starts from (`init`: fine-tuning).
    pub init: Option<InitPlan>,
    pub budget: Budget,
    pub method: Method,
    /// What `"search.method": "auto"` chose, and why.
    pub method_chosen: Option<String>,
    pub trials: usize,
    pub parallel: usize,
    pub startup_trials: usize,
    pub space: SearchSpace,
    pub metric: Metric,
    /// The objectives (the first is `metric`) and constraints.
    pub objectives: crate::pareto::Objectives,
    pub early_stopping: Option<EarlyStopping>,
    /// A scheduler that compares trials (ASHA, the median rule), beside early stopping.
    pub scheduler: Option<SchedulerPlan>,
    /// The spec's `scheduler` section with its defaults, as the fingerprint holds it.
    pub scheduler_section: serde_json::Value,
    pub keep: usize,
    pub device: DeviceKind,
    /// Cores the study uses (`--cores`, or all this process may use): the default `parallel` on
    /// the CPU, and the running trials share them (`study`: a finished worker's go to the others).
    pub cores: usize,
    /// How many of the leaderboard's top trials are scored on the test rows at the end
    /// (`data.test_trials`); 0 without test rows (`data.test_fraction` 0).
    pub test_trials: usize,
}

/// The default of `data.test_trials`.
const TEST_TRIALS: u64 = 5;

/// Options from the command line that override or complete the spec; a bad one is refused as
/// [`Error::Flag`], naming the flag.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub out: Option<PathBuf>,
    pub device: Option<String>,
    pub parallel: Option<usize>,
    pub cores: Option<usize>,
    /// Read the study folder only (`status`, `report`, `leaderboard`): the data from its cache,
    /// without reading the data file, when it has one.
    pub folder_only: bool,
}

impl StudyPlan {
    /// Reads the spec file and its data, checks everything, and derives the plan; the built-in
    /// trainer's parameters are those `family` declares (`runner::mlp::params::FAMILY`).
    pub fn load(spec_file: &Path, ov: &Overrides, family: &dyn ModelFamily) -> Result<StudyPlan> {
        StudySpec::from_file(spec_file)
            .and_then(|(spec, _)| Self::from_spec(spec_file, spec, ov, family))
            .map_err(one_line)
    }

    /// Checks `spec` (read from `spec_file`) and derives the plan: each part by its own sub-plan,
    /// in the order a spec's problems have always been reported (name, data, model, budget,
    /// search, selection, device, then the memory the largest model needs). `family`: the
    /// built-in trainer's model family.
    pub fn from_spec(
        spec_file: &Path,
        spec: StudySpec,
        ov: &Overrides,
        family: &dyn ModelFamily,
    ) -> Result<StudyPlan> {
        let base = spec_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        check_name(spec_file, &spec.name)?;
        let out_dir = match &ov.out {
            Some(o) => o.clone(),
            None => base.join("runs").join(&spec.name),
        };
        let mut command = match &spec.trainer {
            Some(t) => Some(CommandPlan::from_spec(spec_file, t, &base, &out_dir)?),
            None => None,
        };
        let init = trainer_parts(spec_file, &spec, command.is_some(), &base)?;
        // The model section, as the spec's own fields are, before the data is read.
        let model = family.settings(spec_file, spec.model.as_ref(), init.as_ref())?;
        let data = data_plan(spec_file, &spec, (&command, &init), &base, (&out_dir, ov))?;
        let n_train = data.as_ref().map(|d| d.dataset.train.rows);
        if n_train.is_none() && spec.budget.stop_point.is_some() {
            return Err(Error::spec(
                spec_file,
                "budget.stop_point",
                "counts passes over the data, and the study names none: give total_examples",
            ));
        }
        let budget = Budget::from_spec(spec_file, &spec.budget, n_train.unwrap_or(0))?;
        let names = match (&command, n_train) {
            (None, Some(n_train)) => crate::space::Names::Declared {
                params: family.params(),
                n_train,
            },
            _ => crate::space::Names::Any,
        };
        let search = SearchPlan::from_spec(spec_file, &spec.search, ov.parallel, names)?;
        if init.is_some() {
            check_shape_fixed(spec_file, family, &search.space, init.as_ref())?;
        }
        let mut selection =
            SelectionPlan::from_spec(spec_file, &spec, data.as_ref().map(|d| &d.dataset), &budget)?;
        if let Some(SchedulerPlan::Pbt(p)) = &mut selection.scheduler {
            pbt_fixed(
                spec_file,
                p,
                &search.space,
                command.is_none().then_some(family),
            )?;
        }
        let warm = warm_start(
            spec_file,
            &spec,
            &base,
            &search.space,
            &selection,
            data.as_ref().map(|d| &d.dataset),
        )?;
        let trials = trials_left(spec_file, warm.as_ref(), &search)?;
        let cores = search::cores_for(ov.cores)?;
        let (device, parallel) = place(spec_file, &spec, ov, command.as_mut(), &search, cores)?;
        if let (None, Some(data)) = (&command, &data) {
            let largest = family.footprint(&model, &search.space, &data.dataset);
            limits::check_memory(spec_file, &largest, parallel.min(search.trials))?;
        }
        let (data_file, data_crc32, dataset, data_key) = match data {
            Some(d) => (
                Some(d.file),
                Some(d.crc32),
                Some(Arc::new(d.dataset)),
                Some(d.key),
            ),
            None => (None, None, None, None),
        };
        Ok(StudyPlan {
            spec_file: spec_file.to_path_buf(),
            name: spec.name.clone(),
            seed: spec.seed,
            out_dir,
            data_file,
            data_crc32,
            dataset,
            data_key,
            model,
            command,
            warm,
            init,
            budget,
            method: search.method,
            method_chosen: search.chose,
            trials,
            parallel,
            startup_trials: search.startup_trials,
            space: search.space,
            metric: selection.metric,
            objectives: selection.objectives,
            early_stopping: selection.early_stopping,
            scheduler: selection.scheduler,
            scheduler_section: selection.scheduler_section,
            keep: selection.keep,
            device,
            cores,
            test_trials: match &spec.data {
                Some(d) if d.test_fraction > 0.0 => d.test_trials.unwrap_or(TEST_TRIALS) as usize,
                _ => 0,
            },
            spec,
        })
    }
}

/// The parts of a spec that only the built-in trainer takes: `model` and `init` are refused with a
/// program (`command`); the init plan when given.
fn trainer_parts(
    spec_file: &Path,
    spec: &StudySpec,
    command: bool,
    base: &Path,
) -> Result<Option<InitPlan>> {
    if command && spec.model.is_some() {
        return Err(Error::spec(
            spec_file,
            "model",
            "is not allowed with a command trainer: the program builds its own model",
        ));
    }
    match (&spec.init, command) {
        (Some(_), true) => Err(Error::spec(
            spec_file,
            "init",
            "starts the built-in trainer's models from a checkpoint; a program starts from its own (TUNE_RESUME_FROM)",
        )),
        (Some(i), false) => Ok(Some(init::load(spec_file, i, base)?)),
        (None, _) => Ok(None),
    }
}

/// The study's data: required by the built-in trainer, optional for a program (which is told
/// where it is).
fn data_plan(
    spec_file: &Path,
    spec: &StudySpec,
    (command, init): (&Option<CommandPlan>, &Option<InitPlan>),
    base: &Path,
    (out_dir, ov): (&Path, &Overrides),
) -> Result<Option<DataPlan>> {
    if let (Some(d), Some(_)) = (&spec.data, command) {
        data::check_command_data(spec_file, d)?;
    }
    match (&spec.data, command) {
        (Some(d), _) => Ok(Some(DataPlan::from_spec(
            spec_file,
            d,
            spec.seed,
            base,
            (out_dir, ov.folder_only),
            init.as_ref().map(|i| &i.prep),
        )?)),
        (None, Some(_)) => Ok(None),
        (None, None) => Err(Error::spec(
            spec_file,
            "data",
            "is required: the built-in trainer learns from a table (or give a \"trainer\" command)",
        )),
    }
}

/// The parameters population-based training copies and never explores: those `scheduler.fixed`
/// names (each a parameter of the space), and with the built-in trainer (`family`) those of the
/// network's shape and the optimizer's kind too (its state is of one kind), by its declaration.
fn pbt_fixed(
    file: &Path,
    p: &mut scheduler::PbtPlan,
    space: &SearchSpace,
    family: Option<&dyn ModelFamily>,
) -> Result<()> {
    use crate::space::{Kind, Role};
    if let Some(i) = p
        .fixed
        .iter()
        .position(|n| !space.params.iter().any(|q| &q.name == n))
    {
        return Err(Error::spec(
            file,
            format!("scheduler.fixed[{i}]"),
            format!("\"{}\" is not a parameter of search.space", p.fixed[i]),
        ));
    }
    let Some(family) = family else {
        return Ok(());
    };
    let fixed = |d: &&crate::space::ParamDecl| {
        d.role == Role::Shape || (d.role == Role::Optimizer && matches!(d.kind, Kind::Cat(_)))
    };
    for d in family.params().iter().filter(fixed) {
        if !p.fixed.iter().any(|n| n == d.name) {
            p.fixed.push(d.name.to_string());
        }
    }
    Ok(())
}

/// With `init`, the network's shape is the checkpoint's: a space that tunes a parameter of the
/// shape (in `family`'s declaration) is refused; so is one that picks the optimizer (a list of
/// the optimizer's labels) when `init.optimizer` keeps the checkpoint's state, of one optimizer.
fn check_shape_fixed(
    file: &Path,
    family: &dyn ModelFamily,
    space: &SearchSpace,
    init: Option<&InitPlan>,
) -> Result<()> {
    use crate::space::{Kind, Role};
    let keep = init.is_some_and(|i| i.keep_optimizer);
    let decl = |n: &str| family.params().iter().find(|d| d.name == n);
    let shape = |n: &str| decl(n).is_some_and(|d| d.role == Role::Shape);
    let which = |n: &str| {
        decl(n).is_some_and(|d| keep && d.role == Role::Optimizer && matches!(d.kind, Kind::Cat(_)))
    };
    if let Some(name) = space.names().find(|n| shape(n)) {
        return Err(Error::spec(
            file,
            format!("search.space.{name}"),
            "changes the network's shape, which with init is the checkpoint's",
        ));
    }
    match space.names().find(|n| which(n)) {
        Some(name) => Err(Error::spec(
            file,
            format!("search.space.{name}"),
            "picks the optimizer, and init.optimizer \"keep\" takes the checkpoint's state, of one optimizer: use \"reset\" or leave it out of the space",
        )),
        None => Ok(()),
    }
}

/// The trials to run: a grid warm-started from an earlier study does not run again the points
/// that study ran (none left is refused).
fn trials_left(spec_file: &Path, warm: Option<&WarmStart>, search: &SearchPlan) -> Result<usize> {
    let (Some(w), Method::Grid) = (warm, search.method) else {
        return Ok(search.trials);
    };
    let done = search.space.grid_done(&w.trials).len();
    let left = search
        .space
        .grid()
        .ok()
        .and_then(|g| g.size())
        .map_or(usize::MAX, |n| (n as usize).saturating_sub(done));
    if left == 0 {
        return Err(Error::spec(
            spec_file,
            "search.warm_start",
            "the earlier study ran every point of this grid: nothing is left to run",
        ));
    }
    Ok(search.trials.min(left))
}

/// The device and the trials at once: a program's trials compute nothing in tune, so any build
/// gives them GPUs (see [`gpus`]); the built-in trainer's device is this build's.
fn place(
    file: &Path,
    spec: &StudySpec,
    ov: &Overrides,
    command: Option<&mut CommandPlan>,
    search: &SearchPlan,
    cores: usize,
) -> Result<(DeviceKind, usize)> {
    let (flag, dev) = (ov.device.as_deref(), spec.device.as_deref());
    match (command, &spec.trainer) {
        (Some(c), Some(trainer)) => {
            c.gpus = gpus::from_spec(file, trainer, flag, dev, !ov.folder_only)?;
            let parallel = c.parallel(file, search.parallel, cores, ov.parallel.is_some())?;
            Ok((DeviceKind::Cpu, parallel))
        }
        _ => {
            let d = DeviceKind::from_spec(file, flag, dev)?;
            Ok((d, search.at_once(d, cores)))
        }
    }
}

impl StudyPlan {
    /// The study's table, for the built-in trainer (whose plans always have one: see
    /// [`StudyPlan::from_spec`]).
    pub fn data(&self) -> &Arc<Dataset> {
        self.dataset
            .as_ref()
            .expect("the built-in trainer's plan has data")
    }

    /// The metric a curve's `metric` column holds (see [`MetricKind::in_curve`]); a program's
    /// curve holds the study's metric itself.
    pub fn curve_metric(&self) -> MetricKind {
        match (&self.command, &self.dataset) {
            (None, Some(d)) => self.metric.kind.in_curve(d.task),
            _ => self.metric.kind,
        }
    }
}

/// The earlier study's trials `search.warm_start` names (from the spec `file`, whose folder is
/// `base`; `data`: the built-in trainer's table), which must share this study's metric, or its
/// objectives and constraints.
fn warm_start(
    file: &Path,
    spec: &StudySpec,
    base: &Path,
    space: &SearchSpace,
    selection: &SelectionPlan,
    data: Option<&Dataset>,
) -> Result<Option<WarmStart>> {
    let Some(at) = &spec.search.warm_start else {
        return Ok(None);
    };
    let loc =
        Location::parse(at, base).map_err(|msg| Error::spec(file, "search.warm_start", msg))?;
    let read = |theirs: &StudySpec| objectives::read(file, theirs, data);
    let judged = warm::Judged {
        metric: selection.metric,
        metric_json: serde_json::json!(selection.metric.kind.name()),
        goal_json: serde_json::json!(spec.goal),
        objectives: &selection.objectives,
        spec,
        read: &read,
    };
    warm::load(file, &loc, space, &judged).map(Some)
}

/// Refuses a study `name` that cannot name its folder under `runs/`.
fn check_name(file: &Path, name: &str) -> Result<()> {
    // 255 bytes: the longest name a folder may have (Linux, macOS, Windows alike).
    if name.is_empty()
        || name.contains(['/', '\\', '\0'])
        || name == "."
        || name == ".."
        || name.len() > 255
    {
        return Err(Error::spec(
            file,
            "name",
            format!("\"{name}\" cannot name a folder: use letters, digits, '-' or '_'"),
        ));
    }
    Ok(())
}

/// The user's mistake as one line: a control character they wrote (a newline in a name, a key or
/// a CSV cell) is shown escaped rather than breaking the sentence.
fn one_line(e: Error) -> Error {
    let escape = |s: String| -> String {
        if !s.contains(char::is_control) {
            return s;
        }
        s.chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect()
    };
    match e {
        Error::Spec { file, path, msg } => Error::Spec {
            file,
            path: escape(path),
            msg: escape(msg),
        },
        Error::Data { file, place, msg } => Error::Data {
            file,
            place: escape(place),
            msg: escape(msg),
        },
        e => e,
    }
}
