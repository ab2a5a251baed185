//! Appending a group of events to a shared study: one call of the `tune_append` function (made
//! with the tables), which checks every trial's fence, numbers the events under the study row's
//! lock and records the trials' ends, all in one round trip and one transaction; a group with a
//! promotion, rarer, is a transaction of several statements that claims the paused trial too.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use super::{trial_of, Conn, Pg};
use crate::error::Result;
use crate::storage::Event;

/// The function behind [`append`]: `$fence` (with `$attempts`) the trials this process holds,
/// whose rows must still name it; events of those that do not are left out, and their numbers
/// returned. `NULL` back: the group was committed before (a retry after a lost answer).
pub(super) const FUNCTION: &str = "
CREATE OR REPLACE FUNCTION tune_append(p_study bigint, p_writer text, p_group bigint,
    p_fence bigint[], p_attempts bigint[], p_trials bigint[], p_bodies text[],
    p_ends bigint[], p_states text[]) RETURNS bigint[] LANGUAGE plpgsql AS $f$
DECLARE
    lost bigint[] := '{}';
    n bigint;
    last bigint;
BEGIN
    INSERT INTO tune_groups VALUES (p_study, p_writer, p_group) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_fence, 1), 0) LOOP
        PERFORM 1 FROM tune_trials WHERE study = p_study AND trial = p_fence[i]
            AND owner = p_writer AND attempt = p_attempts[i] FOR UPDATE;
        IF NOT FOUND THEN
            lost := lost || p_fence[i];
        END IF;
    END LOOP;
    SELECT count(*) INTO n FROM unnest(p_trials) AS x(t) WHERE x.t IS NULL OR NOT x.t = ANY(lost);
    UPDATE tune_studies SET events = events + n WHERE id = p_study RETURNING events INTO last;
    INSERT INTO tune_events (study, seq, writer, trial, body)
        SELECT p_study, last - n + row_number() OVER (ORDER BY x.o), p_writer, x.t, x.b
        FROM unnest(p_trials, p_bodies) WITH ORDINALITY AS x(t, b, o)
        WHERE x.t IS NULL OR NOT x.t = ANY(lost);
    UPDATE tune_trials SET state = e.s FROM unnest(p_ends, p_states) AS e(t, s)
        WHERE study = p_study AND trial = e.t AND NOT e.t = ANY(lost);
    RETURN lost;
END
$f$;
";

/// Appends `events` (none a promotion) as group `group` of this process, in one call of
/// `tune_append`; events of trials whose lease this process lost are left out.
pub(super) fn append(pg: &Pg, clock: &AtomicU64, group: i64, events: &[Event]) -> Result<()> {
    let kept: Vec<&Event> = events
        .iter()
        .filter(|e| trial_of(e).is_none_or(|t| !pg.lost(t)))
        .collect();
    let mut fence: Vec<i64> = vec![];
    let mut attempts: Vec<i64> = vec![];
    for t in kept.iter().filter_map(|e| trial_of(e)) {
        if let Some(a) = pg.attempt(t) {
            if !fence.contains(&(t as i64)) {
                fence.push(t as i64);
                attempts.push(a);
            }
        }
    }
    let trials: Vec<Option<i64>> = kept.iter().map(|e| trial_of(e).map(|t| t as i64)).collect();
    let bodies: Vec<String> = kept
        .iter()
        .map(|e| serde_json::to_string(e).expect("events serialise"))
        .collect();
    let (mut ends, mut states): (Vec<i64>, Vec<&str>) = (vec![], vec![]);
    for e in &kept {
        if let Event::TrialEnded { trial, status, .. } = e {
            ends.push(*trial as i64);
            states.push(if status.ended() { "ended" } else { "paused" });
        }
    }
    pg.timed(clock, |c| {
        let call = c.prepared("SELECT tune_append($1, $2, $3, $4, $5, $6, $7, $8, $9)")?;
        let row = c.query_one(
            &call,
            &[
                &pg.study(),
                pg.writer(),
                &group,
                &fence,
                &attempts,
                &trials,
                &bodies,
                &ends,
                &states,
            ],
        )?;
        // Under the connection's lock, with the commit: the heartbeat sees both or neither.
        let lost: Option<Vec<i64>> = row.get(0);
        for t in lost.unwrap_or_default() {
            pg.lose(t as u64);
        }
        for t in &ends {
            pg.release(*t as u64);
        }
        Ok(())
    })
}

/// A group with a promotion, in a transaction of several statements; the promoted trial is
/// claimed only if no other process wrote of it after event `seen` (what the promotion was decided
/// from).
pub(super) fn with_promotion(
    pg: &Pg,
    c: &mut Conn,
    group: i64,
    events: &[Event],
    seen: i64,
) -> std::result::Result<(), postgres::Error> {
    let lease = pg.lease.as_secs_f64();
    let mut tx = c.transaction()?;
    let study = pg.study();
    let fresh = tx.execute(
        "INSERT INTO tune_groups (study, writer, n) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&study, &pg.writer(), &group],
    )?;
    if fresh == 0 {
        // Committed before the connection was lost: not written twice.
        return Ok(());
    }
    let mut kept: Vec<&Event> = vec![];
    let mut checked: BTreeMap<u64, bool> = BTreeMap::new();
    // Promotions first: a promoted trial's other events (its exploit, journalled ahead of the
    // promotion) are written only by the worker that claimed it.
    for e in events {
        if let Event::TrialPromoted { trial } = e {
            if !checked.contains_key(trial) {
                let ok = promote(pg, &mut tx, *trial, lease, seen)?;
                checked.insert(*trial, ok);
            }
        }
    }
    for e in events {
        let ok = match trial_of(e) {
            None => true,
            Some(t) => match checked.get(&t) {
                Some(ok) => *ok,
                None => {
                    let ok = pg.fence(&mut tx, t)?;
                    checked.insert(t, ok);
                    ok
                }
            },
        };
        if ok {
            kept.push(e);
        }
    }
    let n = kept.len() as i64;
    let last: i64 = tx
        .query_one(
            "UPDATE tune_studies SET events = events + $2 WHERE id = $1 RETURNING events",
            &[&study, &n],
        )?
        .get(0);
    let mut seq = last - n;
    for e in &kept {
        seq += 1;
        let body = serde_json::to_string(e).expect("events serialise");
        tx.execute(
            "INSERT INTO tune_events (study, seq, writer, trial, body) VALUES ($1, $2, $3, $4, $5)",
            &[
                &study,
                &seq,
                &pg.writer(),
                &trial_of(e).map(|t| t as i64),
                &body,
            ],
        )?;
        if let Event::TrialEnded { trial, status, .. } = e {
            let state = if status.ended() { "ended" } else { "paused" };
            tx.execute(
                "UPDATE tune_trials SET state = $3 WHERE study = $1 AND trial = $2",
                &[&study, &(*trial as i64), &state],
            )?;
        }
    }
    tx.commit()?;
    // Under the connection's lock, with the commit: the heartbeat sees both or neither.
    for (t, ok) in checked {
        if !ok {
            pg.lose(t);
        }
    }
    for e in kept {
        if let Event::TrialEnded { trial, .. } = e {
            pg.release(*trial);
        }
    }
    Ok(())
}

/// A promotion (population-based training) claims the paused trial with the next attempt;
/// `false` when another worker promoted it first, or wrote of it after event `seen` (it promoted
/// it, and the trial paused again at a later boundary, since this one looked). Won, the trial is
/// this process's again even if it lost it before (another promoted it at an earlier boundary).
fn promote(
    pg: &Pg,
    tx: &mut postgres::Transaction,
    trial: u64,
    lease: f64,
    seen: i64,
) -> std::result::Result<bool, postgres::Error> {
    let row = tx.query_opt(
        "UPDATE tune_trials SET state = 'running', owner = $3, attempt = attempt + 1,
             lease_until = now() + make_interval(secs => $4)
         WHERE study = $1 AND trial = $2 AND state = 'paused'
             AND NOT EXISTS (SELECT 1 FROM tune_events
                 WHERE study = $1 AND seq > $5 AND trial = $2 AND writer <> $3)
         RETURNING attempt, ARRAY(SELECT epoch FROM tune_checkpoints
             WHERE study = $1 AND trial = $2 ORDER BY epoch)",
        &[&pg.study(), &(trial as i64), &pg.writer, &lease, &seen],
    )?;
    Ok(match row {
        Some(r) => {
            pg.lost.lock().unwrap().remove(&trial);
            pg.hold(trial, r.get(0), r.get(1));
            true
        }
        None => false,
    })
}
