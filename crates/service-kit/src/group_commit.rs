//! Group commit for SQLite: one writer task that runs the write transactions of many callers
//! in one database transaction, and so pays SQLite's one fsync and one lock hand-over per batch
//! instead of per caller.
//!
//! Why: SQLite has one writer at a time. With a transaction per caller, the write lock passes
//! between connections for every small state change, and each holder waits for its own turn on
//! a busy async runtime between statements; the Fordeler spent nearly all its time holding or
//! waiting for that lock. Here the lock stays with one connection driven by one task, which
//! takes everything queued, runs each caller's job inside a savepoint (a failing job is undone
//! alone and gets its own error), commits once, and only then answers each caller. A caller's
//! `Ok` therefore still means "committed and durable".
//!
//! Jobs must only run SQL on the connection they are given: anything slow inside one holds up
//! every caller in its batch.
//!
//! The writer is a task on the runtime of the first write, not a thread of its own: each
//! statement is a round trip to the connection's worker thread, and a dedicated thread waiting
//! for every answer cost two context switches per statement (measured: about 10 % more
//! throughput as a task). So the runtime that first writes must outlive the `Db`; in our
//! services there is one runtime.

use sqlx::{AnyConnection, Connection as _, Executor as _};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// What a write job returns: a future that borrows the writer's connection.
pub type JobFuture<'c, R> = Pin<Box<dyn Future<Output = anyhow::Result<R>> + Send + 'c>>;

/// At most this many callers share one transaction, so a flood does not make one commit huge.
const MAX_BATCH: usize = 256;

/// A caller's job with the type of its answer erased, so jobs of all kinds share one queue.
trait Queued: Send {
    /// Runs the job; `true` when it succeeded. The result is kept until [`Queued::answer`].
    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
    /// Answers the caller once the batch is committed (`Ok`) or lost (`Err`).
    fn answer(self: Box<Self>, committed: Result<(), &str>);
}

struct Job<R, F> {
    job: Option<F>,
    result: Option<anyhow::Result<R>>,
    reply: oneshot::Sender<anyhow::Result<R>>,
}

impl<R, F> Queued for Job<R, F>
where
    R: Send + 'static,
    F: for<'c> FnOnce(&'c mut AnyConnection) -> JobFuture<'c, R> + Send + 'static,
{
    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
        Box::pin(async move {
            let Some(job) = self.job.take() else {
                return false;
            };
            // A panic in one job fails that job, not the writer and everyone after it.
            let result = caught(job(conn)).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn answer(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(r)), Ok(())) => Ok(r),
            (_, Err(why)) => Err(anyhow::anyhow!("the write was not committed: {why}")),
            (None, Ok(())) => Err(anyhow::anyhow!("the write job was not run")),
        };
        // A caller that stopped waiting has nothing to be told.
        let _ = self.reply.send(answer);
    }
}

/// Runs a job, turning a panic in it into its error.
pub(crate) async fn caught<R>(job: JobFuture<'_, R>) -> anyhow::Result<R> {
    CatchUnwind(job)
        .await
        .unwrap_or_else(|()| Err(anyhow::anyhow!("the write job panicked")))
}

struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

/// The handle callers queue jobs on; the task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Box<dyn Queued>>,
}

impl Writer {
    /// Starts the writer task on its own connection, opened with `connect` (which sets the
    /// same pragmas as the pool's connections).
    pub async fn start<C>(connect: C) -> anyhow::Result<Self>
    where
        C: Future<Output = anyhow::Result<AnyConnection>> + Send + 'static,
    {
        let (queue, jobs) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        tokio::spawn(async move {
            match connect.await {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    run(conn, jobs).await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        ready
            .await
            .map_err(|_| anyhow::anyhow!("the database writer stopped while starting"))??;
        Ok(Self { queue })
    }

    /// Whether the writer task is still taking jobs.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Runs `job` in the next batch; answers once that batch is committed.
    pub async fn write<R, F>(&self, job: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> JobFuture<'c, R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let stopped = || anyhow::anyhow!("the database writer has stopped");
        self.queue
            .send(Box::new(Job {
                job: Some(job),
                result: None,
                reply,
            }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(mut conn: AnyConnection, mut jobs: mpsc::UnboundedReceiver<Box<dyn Queued>>) {
    let mut batch: Vec<Box<dyn Queued>> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("db_group_commit_batch_size").record(batch.len() as f64);
        let committed = commit_batch(&mut conn, &mut batch).await;
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = batch.len(), "a group commit failed");
            // Whatever state the connection is in, leave no transaction open.
            let _ = conn.execute("ROLLBACK").await;
        }
        let committed = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for job in batch.drain(..) {
            job.answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
    let _ = conn.close().await;
}

/// One transaction around the whole batch, one savepoint around each job. Ending one
/// savepoint and starting the next go to SQLite as one call: each call is a round trip to the
/// connection's worker thread, and jobs are small.
async fn commit_batch(
    conn: &mut AnyConnection,
    batch: &mut [Box<dyn Queued>],
) -> Result<(), sqlx::Error> {
    conn.execute("BEGIN IMMEDIATE; SAVEPOINT job").await?;
    let last = batch.len() - 1;
    for (i, job) in batch.iter_mut().enumerate() {
        let ok = job.run(conn).await;
        // A failed job is undone alone; after the last one, the batch commits.
        let end = match (ok, i == last) {
            (true, false) => "RELEASE job; SAVEPOINT job",
            (false, false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (true, true) => "RELEASE job; COMMIT",
            (false, true) => "ROLLBACK TO job; RELEASE job; COMMIT",
        };
        conn.execute(end).await?;
    }
    Ok(())
}
