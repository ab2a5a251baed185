//! The study's fingerprint: every spec field that changes results, with the data file's checksum
//! and the versions of the algorithms that draw from the seed. A resume refuses to go on when one
//! differs; `trials`, `parallel`, `keep` and `device` may change.

use crate::error::{Error, Result};
use crate::plan::{Method, StudyPlan};
use crate::storage::Fingerprint;

/// The version of the data stream's shuffle: Fisher–Yates with Lemire draws from ChaCha8.
const STREAM_VERSION: &str = "fisher-yates-lemire-chacha8";

/// The fingerprint of `plan`.
pub fn fingerprint(plan: &StudyPlan) -> Fingerprint {
    fn v<T: serde::Serialize>(x: &T) -> serde_json::Value {
        serde_json::to_value(x).expect("spec fields serialise")
    }
    let s = &plan.spec;
    let mlp = s.trainer.is_none();
    let data = s.data.is_some();
    [
        ("seed", Some(v(&s.seed))),
        ("data", s.data.as_ref().map(|d| d.results_value())),
        (
            "data file contents",
            plan.data_crc32.map(|c| v(&format!("{c:08x}"))),
        ),
        ("model", mlp.then(|| plan.model.fingerprint.clone())),
        // A program's command, folder, environment and time limit: another program, or the same
        // one run otherwise, is another study.
        ("trainer", s.trainer.as_ref().map(|t| t.results_value())),
        // Its files' contents (`code`): checked apart, on resume (src/driver/code.rs).
        ("code", plan.command.as_ref().map(|c| v(&c.code))),
        ("budget", Some(v(&s.budget))),
        ("search.method", Some(v(&s.search.method))),
        ("search.space", Some(v(&s.search.space))),
        ("search.startup_trials", Some(v(&s.search.startup_trials))),
        // The first objective's name as `metric` (its spelling in the spec), whichever way the
        // spec gives it: a study made before `objectives` keeps its fingerprint.
        ("metric", Some(v(&plan.metric.kind.name()))),
        ("goal", Some(v(&s.goal))),
        ("objectives", s.objectives.as_ref().map(v)),
        ("constraints", s.constraints.as_ref().map(v)),
        ("early_stopping", Some(v(&s.early_stopping))),
        ("scheduler", Some(plan.scheduler_section.clone())),
        // How a pass's order is drawn from the seed (src/data/stream.rs): a study begun by a build
        // that drew it otherwise cannot resume exactly.
        ("data order", mlp.then(|| v(&STREAM_VERSION))),
        // How the rows are split into training and validation (src/data/split.rs), likewise.
        ("data split", data.then(|| v(&crate::data::SPLIT_VERSION))),
    ]
    .into_iter()
    .chain([(
        "search.warm_start",
        plan.warm.as_ref().map(|w| v(&format!("{:08x}", w.crc32))),
    )])
    // The checkpoint every trial starts from, by content (the folder may move).
    .chain([(
        "init",
        plan.init.as_ref().map(|i| {
            serde_json::json!({
                "trial": i.trial,
                "virtual_epoch": i.virtual_epoch,
                "checkpoint_crc32": format!("{:08x}", i.crc32),
                "optimizer": if i.keep_optimizer { "keep" } else { "reset" },
            })
        }),
    )])
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    // How the GP chooses (src/sampler/gp.rs), for Bayesian studies only: a Bayesian study begun
    // by a build that chose otherwise would go on with other suggestions.
    .chain(
        (plan.method == Method::Bayes)
            .then(|| ("bayes", v(&crate::sampler::gp::version(&plan.objectives)))),
    )
    .chain((plan.method == Method::Tpe).then(|| ("tpe", v(&crate::sampler::tpe::VERSION))))
    // The GP's default start-up trials were max(5, 2 × parameters) before they were capped at 10
    // (src/plan/search.rs): a Bayesian study the cap changed begun before would go on otherwise.
    .chain(capped_startup(plan).then(|| ("bayes start-up", v(&plan.startup_trials))))
    // How ASHA and Hyperband promote at a study's end (src/scheduler/asha.rs), for studies that
    // promote: one begun by a build that promoted otherwise would go on with other decisions.
    .chain(promotes(plan).then(|| ("promotion", v(&crate::scheduler::PROMOTION_VERSION))))
    // How text columns and gaps become inputs (src/data/prepare/), for data that has them: the
    // preprocessing is a function of the data's contents, the spec's `data`, the seed and this.
    // Numbers without gaps are prepared as every build did, and their studies keep their
    // fingerprint.
    .chain(
        plan.dataset
            .as_ref()
            .and_then(|d| d.prep.summary())
            .map(|_| {
                (
                    "data preprocessing",
                    v(&crate::data::prepare::PREPARE_VERSION),
                )
            }),
    )
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether the study is Bayesian with the default start-up trials, and that default is not the
/// one of the builds before the cap at 10 (max(5, 2 × parameters)).
fn capped_startup(plan: &StudyPlan) -> bool {
    let before = (2 * plan.space.params.len()).max(5);
    plan.method == Method::Bayes
        && plan.spec.search.startup_trials.is_none()
        && plan.startup_trials != before
}

/// Whether the study's scheduler pauses trials and promotes them (ASHA or Hyperband, `promote`).
fn promotes(plan: &StudyPlan) -> bool {
    use crate::plan::SchedulerPlan::{Asha, Hyperband};
    matches!(
        plan.scheduler,
        Some(Asha { promote: true, .. } | Hyperband { promote: true, .. })
    )
}

/// Refuses the study of `history` for `plan` when another spec made it (`tune predict`, `export`,
/// `retrain` read a study they do not resume): names the study (`shared`: it is kept in
/// PostgreSQL, not in the study folder) and the fields that differ, those the study has and
/// `plan` lacks included.
pub fn check_made_by(
    plan: &StudyPlan,
    history: &crate::storage::History,
    shared: bool,
) -> Result<()> {
    let new = fingerprint(plan);
    let mut differ = match crate::storage::check_fingerprint(history, &new) {
        Ok(()) => vec![],
        Err(Error::SpecChanged(keys)) => keys,
        Err(e) => return Err(e),
    };
    if let Some(old) = &history.fingerprint {
        // What a shared study records besides (`shared`) may differ: predict and export do not
        // run trials.
        let later = |k: &str| crate::storage::RECORDED_LATER.contains(&k);
        differ.extend(
            old.keys()
                .filter(|k| !new.contains_key(*k) && !later(k))
                .cloned(),
        );
    }
    if differ.is_empty() {
        return Ok(());
    }
    let (study, other) = match shared {
        true => (
            format!("study \"{}\" in PostgreSQL", plan.name),
            "--storage",
        ),
        false => (plan.out_dir.display().to_string(), "--out"),
    };
    Err(Error::Study(format!(
        "{study}: this study was made by another spec than {} (they differ in {}): give the spec that made it, or another {other}",
        plan.spec_file.display(),
        differ.join(", ")
    )))
}

/// What a study shared by workers (PostgreSQL) fixes besides [`fingerprint`]: the fields that one
/// process may change between its runs, but workers of one study may not disagree on (a worker
/// whose spec says more trials would grow the study for all). `parallel` and `device` stay each
/// worker's own.
pub fn shared(plan: &StudyPlan) -> Fingerprint {
    [
        ("search.trials", serde_json::json!(plan.trials)),
        ("keep", serde_json::json!(plan.keep)),
        ("data.test_trials", serde_json::json!(plan.test_trials)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shared_study_records_the_keys_that_older_shared_studies_may_lack() {
        let dir = crate::testutil::TempDir::new();
        let spec = serde_json::json!({
            "name": "s", "trainer": { "command": ["true"] },
            "budget": { "total_examples": 100, "virtual_epochs": 2 },
            "search": { "method": "random", "trials": 3, "space": { "x": [1, 2] } }
        });
        let file = dir.path().join("s.json");
        std::fs::write(&file, spec.to_string()).unwrap();
        let plan = crate::plan::StudyPlan::load(
            &file,
            &Default::default(),
            &crate::runner::mlp::params::FAMILY,
        )
        .unwrap();
        let shared = super::shared(&plan);
        assert_eq!(shared["search.trials"], serde_json::json!(3));
        let mut later: Vec<&str> = crate::storage::RECORDED_LATER.to_vec();
        later.sort();
        assert_eq!(shared.keys().map(|k| k.as_str()).collect::<Vec<_>>(), later);
        assert!(super::fingerprint(&plan)
            .keys()
            .all(|k| !later.contains(&k.as_str())));
    }
}
