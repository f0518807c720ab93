//! Group commit for PostgreSQL: the writes that are waiting when a writer is free share one
//! transaction, as the SQLite writer's do (`sqlite.rs`).
//!
//! Each write on its own was a transaction of its own: a call's five writes were five commits,
//! each a WAL flush, a round trip for its own and, for an update, a turn on the lock PostgreSQL
//! takes to queue the row notification at commit. A few writer tasks (`WRITERS`) take turns at
//! one queue: whichever is free takes every write waiting (up to `MAX_BATCH`), runs them in one
//! transaction on a pool connection and commits; while it does, the next writer gathers the
//! next batch, so batches grow with the load and a lone write waits for no one. A batch of one
//! runs without `BEGIN`/`COMMIT` (one round trip).
//!
//! A statement that fails aborts a PostgreSQL transaction (SQLite rolls back only the
//! statement): the batch is rolled back, nothing of it committed, and its writes run again one by
//! one, each in its own transaction, so a taken phone number fails alone. A commit that fails
//! on a broken connection leaves every write of the batch with an unknown outcome, which the
//! cache treats as such (`postgres.rs`). Each write's answer goes back with the write itself, so
//! the caller applies it to the cache without copying the row.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::StoreError;
use crate::backend::Write;
use crate::cache::Answer;

/// Writes that may share one transaction.
const MAX_BATCH: usize = 128;
/// Writers taking turns at the queue (each holds a pool connection while it commits).
const WRITERS: usize = 4;

type Job = (Write, oneshot::Sender<(Write, Answer)>);

/// Where writes are queued.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer tasks on `pool`; they end once every `Writer` is dropped.
    pub(crate) fn start(pool: &PgPool) -> Writer {
        let (queue, receiver) = mpsc::channel(4 * MAX_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(run(pool.clone(), receiver.clone()));
        }
        Writer { queue }
    }

    /// Runs `write` in the next batch; the write comes back with its answer. `None`: the
    /// writer task was dropped (the runtime is shutting down), so whether it committed is
    /// unknown.
    pub(crate) async fn write(&self, write: Write) -> Option<(Write, Answer)> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((write, _))) = self.queue.send((write, reply)).await {
            return Some((write, Err(StoreError::Closed)));
        }
        answer.await.ok()
    }
}

async fn run(pool: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = receiver.lock().await.recv_many(&mut batch, MAX_BATCH).await;
        if taken == 0 {
            return;
        }
        let answers = commit(&pool, &batch).await;
        for ((write, reply), answer) in batch.drain(..).zip(answers) {
            reply.send((write, answer)).ok();
        }
    }
}

/// Runs the batch in one transaction: one answer per write, in order.
async fn commit(pool: &PgPool, batch: &[Job]) -> Vec<Answer> {
    if let [(write, _)] = batch {
        return vec![super::write_with(pool, write).await];
    }
    let mut transaction = match pool.begin().await {
        Ok(transaction) => transaction,
        Err(error) => return batch.iter().map(|_| Err(copy(&error))).collect(),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        match super::write_with(&mut *transaction, write).await {
            Ok(answer) => answers.push(Ok(answer)),
            Err(_) => {
                // The transaction is aborted: nothing of it commits. Each write alone.
                transaction.rollback().await.ok();
                let mut alone = Vec::with_capacity(batch.len());
                for (write, _) in batch {
                    alone.push(super::write_with(pool, write).await);
                }
                return alone;
            }
        }
    }
    match transaction.commit().await {
        Ok(()) => answers,
        Err(error) => answers.iter().map(|_| Err(copy(&error))).collect(),
    }
}

/// A failed begin or commit fails every write of the batch; each gets its own copy. A broken
/// connection stays an IO error, so its outcome stays unknown.
fn copy(error: &sqlx::Error) -> StoreError {
    let copied = match error {
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Protocol(format!("batch commit failed: {other}")),
    };
    StoreError::Database(copied)
}
