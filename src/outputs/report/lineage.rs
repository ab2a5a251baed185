//! The report's population-based training section: the winning member's parameter schedule, each
//! stretch of its state with the member that trained it (the curves mark each exploit's jump).

use super::plot::esc;
use crate::outputs::replay::schedule;
use crate::plan::StudyPlan;
use crate::storage::History;

/// The section, or nothing when the study is not population-based training or has no winner.
pub fn section(plan: &StudyPlan, history: &History, winner: Option<u64>) -> String {
    let (Some(_), Some(w)) = (plan.pbt(), winner) else {
        return String::new();
    };
    let last = history.trials.get(&w).map_or(0, |t| t.curve.len() as u32);
    let mut rows = String::new();
    for s in schedule(history, w, last) {
        rows += &format!(
            "<tr><td>{} to {}</td><td>{}</td><td>{}</td></tr>\n",
            s.from + 1,
            s.to,
            s.member,
            esc(&crate::outputs::describe(&s.params))
        );
    }
    format!(
        "<h2>Population-based training</h2>\n<p class=\"legend\">The winning member {w}'s parameter schedule: which member trained each stretch of its state, with which parameters (<code>tune replay</code> trains it again from scratch). In the curves, a dotted line at an exploit joins a member's value to the one it copied.</p>\n<table id=\"schedule\"><thead><tr><th>virtual epochs</th><th>member</th><th>parameters</th></tr></thead><tbody>\n{rows}</tbody></table>\n"
    )
}
