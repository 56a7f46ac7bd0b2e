//! One transaction in one round trip: BEGIN, the statements and COMMIT are
//! sent together and their answers read after. tokio-postgres sends a
//! request when its future is first polled, so first polls set the order.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use futures_util::future::{MaybeDone, join, maybe_done};
use tokio_postgres::{Client, Error, Row};

/// A statement's rows, still to come.
pub(super) type Reply<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, Error>> + Send + 'a>>;

/// Run `statements` in one transaction on `client`, which nothing else
/// uses meanwhile; each statement's rows, or the first error, and then
/// nothing of them is committed and the session is out of the transaction.
pub(super) async fn transact<'a>(
    client: &'a Client,
    statements: Vec<Reply<'a>>,
) -> Result<Vec<Vec<Row>>, Error> {
    let begin: Reply<'a> = Box::pin(async move {
        client.batch_execute("BEGIN").await?;
        Ok(Vec::new())
    });
    let mut parts: Vec<MaybeDone<Reply<'a>>> = std::iter::once(begin)
        .chain(statements)
        .map(maybe_done)
        .collect();
    // One poll each, in order: each is sent now, or fails before it is (its
    // parameters would not encode, the connection is closed).
    poll_fn(|cx| {
        for part in &mut parts {
            let _ = Pin::new(part).poll(cx);
        }
        Poll::Ready(())
    })
    .await;
    // A part that failed already (unsent, as a rule) must not leave the
    // others to COMMIT. One the database refuses later aborts the
    // transaction: its COMMIT then rolls back, answered without an error,
    // and the statement's own error is the one that tells.
    let unsent = parts
        .iter_mut()
        .any(|p| matches!(Pin::new(p).output_mut(), Some(Err(_))));
    let end = client.batch_execute(if unsent { "ROLLBACK" } else { "COMMIT" });
    let all_answered = poll_fn(|cx| {
        let mut done = true;
        for part in &mut parts {
            done &= Pin::new(part).poll(cx).is_ready();
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    });
    let ((), ended) = join(all_answered, end).await;
    let mut rows = Vec::with_capacity(parts.len());
    for part in &mut parts {
        let answer = Pin::new(part).take_output();
        rows.push(answer.expect("every part was awaited to its end")?);
    }
    ended?;
    // BEGIN answered no rows.
    rows.remove(0);
    Ok(rows)
}
