//! One group commit, writes of different fates: each write gets its own
//! outcome (written, refused for a lost lease, refused for a run that never
//! began), and a group the database refuses leaves the writer's session out
//! of any transaction.

use std::time::{Duration, SystemTime};

use maestro::journal::postgres::{LeaseConfig, PostgresJournal};
use maestro::journal::{Journal, JournalError};
use maestro::runtime::RunStatus;

use super::{TestDb, begin, completed, count_of, definition, event, finished, started};

const TTL: Duration = Duration::from_secs(60);

// A runtime of one thread: the writer runs only once the test awaits, so
// the writes queued before that all fall into one group.
#[tokio::test]
async fn each_write_of_a_group_gets_the_fate_of_its_own_run() {
    let db = TestDb::create().await;
    let journal = db.journal("replica-a", TTL).await;
    let def = definition(1);
    let now = SystemTime::now();
    for id in ["held", "taken", "reclaimed"] {
        journal.write(begin(id, &def, now)).await.unwrap();
        journal.write(event(id, 0, started(id), now)).await.unwrap();
    }
    // Another replica claimed `taken`; this one claimed `reclaimed` anew,
    // so its writes under the first claim are stale.
    let admin = db.client().await;
    admin
        .batch_execute(
            "UPDATE maestro_runs SET owner = 'replica-b', epoch = 1 WHERE run_id = 'taken';
             UPDATE maestro_runs SET epoch = 1 WHERE run_id = 'reclaimed'",
        )
        .await
        .unwrap();

    let acks = [
        journal.write(event("held", 1, completed(1), now)),
        journal.write(event("taken", 1, finished(RunStatus::Succeeded), now)),
        journal.write(event("never", 0, started("never"), now)),
        journal.write(event("reclaimed", 1, completed(1), now)),
        journal.write(event("held", 2, finished(RunStatus::Succeeded), now)),
    ];
    let [held, taken, never, reclaimed, held_end] = acks;
    assert_eq!(held.await, Ok(()));
    assert_eq!(
        taken.await,
        Err(JournalError::LeaseLost {
            run_id: "taken".into()
        })
    );
    match never.await {
        Err(JournalError::Write(message)) => assert!(message.contains("has no row"), "{message}"),
        other => panic!("an event of a run never begun: {other:?}"),
    }
    assert_eq!(
        reclaimed.await,
        Err(JournalError::LeaseLost {
            run_id: "reclaimed".into()
        })
    );
    assert_eq!(held_end.await, Ok(()));

    let held = journal.load("held").await.unwrap().unwrap();
    assert_eq!(held.events.len(), 3);
    assert_eq!(
        held.events.iter().filter_map(count_of).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(held.status, RunStatus::Succeeded);
    for id in ["taken", "reclaimed"] {
        let run = journal.load(id).await.unwrap().unwrap();
        assert_eq!(run.events.len(), 1, "{id}: only its start");
        assert_eq!(
            run.status,
            RunStatus::Running,
            "{id} is not ended by a refused write"
        );
    }
    let never = "SELECT count(*) FROM maestro_events WHERE run_id = 'never'";
    assert_eq!(db.count(never).await, 0);
    assert!(journal.load("never").await.unwrap().is_none());
}

#[tokio::test]
async fn a_group_the_database_refuses_leaves_no_transaction_open() {
    let db = TestDb::create().await;
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name=refused", db.url);
    let lease = LeaseConfig {
        owner: "replica-a".into(),
        ttl: TTL,
    };
    let journal = PostgresJournal::connect(&url, lease).await.unwrap();
    let def = definition(1);
    let now = SystemTime::now();
    journal.write(begin("run-1", &def, now)).await.unwrap();
    // One group whose events' statement fails (a duplicate), then each
    // write alone, the duplicate last: the writer's last transaction is
    // one the database refused.
    let first = journal.write(event("run-1", 0, started("run-1"), now));
    let again = journal.write(event("run-1", 0, completed(9), now));
    assert_eq!(first.await, Ok(()));
    assert!(matches!(again.await, Err(JournalError::Write(_))));

    let open = "SELECT count(*) FROM pg_stat_activity
                WHERE application_name = 'refused' AND state LIKE 'idle in transaction%'";
    assert_eq!(
        db.count(open).await,
        0,
        "no session waits inside a transaction"
    );
    journal
        .write(event("run-1", 1, completed(1), now))
        .await
        .expect("the writer goes on");
    let run = journal.load("run-1").await.unwrap().unwrap();
    assert_eq!(run.events.len(), 2);
    assert_eq!(
        run.events.iter().filter_map(count_of).collect::<Vec<_>>(),
        [1]
    );
}
