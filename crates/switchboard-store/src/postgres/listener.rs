//! Several nodes on one database: this node hears the other nodes' writes and drops their rows
//! from its read cache, and a cached row is served only once this node has heard every write
//! acknowledged before the read began. The argument is in the module comment of `postgres.rs`.
//!
//! One task owns a dedicated connection that `LISTEN`s on `switchboard_rows` (the trigger of
//! migration 0005 sends the SID of every updated or deleted row there, at commit) and on a
//! channel of this store's own. A barrier (`Listener::caught_up`) sends a token to that own
//! channel from a pool connection and waits for it to come back: PostgreSQL delivers
//! notifications in commit order, so when the token arrives every write that committed before it
//! was sent has been applied to the cache. Readers waiting at once share one token.
//!
//! When the connection breaks (or a token does not come back in time), notifications may have
//! been lost: the cache drops every row and caches nothing until a new connection listens again,
//! then drops every row once more (what was read before that `LISTEN` may be stale already).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use tokio::sync::{Notify, watch};

use crate::StoreError;
use crate::cache::{Entries, lock};

/// The channel migration 0005's trigger notifies with the SID of each updated or deleted row.
const ROWS_CHANNEL: &str = "switchboard_rows";

/// How long a barrier waits for its token before the read goes to the database instead and the
/// listening connection is replaced (it may be dead without having said so).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between attempts to listen again after the connection broke.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// This store's listening side; the task stops when it is dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    /// Where tokens are sent from (not the listening connection, which is busy receiving).
    pool: PgPool,
    cache: Arc<Mutex<Entries>>,
    /// This store's own channel, for its barrier tokens.
    channel: String,
    barriers: watch::Sender<Barriers>,
    /// Asks the task to replace its connection (a token did not come back in time).
    replace: Notify,
}

/// The barrier tokens, numbered from 1; at most one is on its way at a time.
#[derive(Clone, Copy, Debug, Default)]
struct Barriers {
    /// Bumped whenever notifications may have been lost: waiters of an older epoch give up.
    epoch: u64,
    /// Whether the connection is listening (nothing is cached while it is not).
    listening: bool,
    issued: u64,
    received: u64,
    in_flight: bool,
    /// The highest token a waiter needs.
    wanted: u64,
}

impl Listener {
    /// Listens on a connection of its own (`options`), then keeps listening in a task.
    pub(crate) async fn start(
        options: &PgConnectOptions,
        pool: PgPool,
        cache: Arc<Mutex<Entries>>,
    ) -> Result<Listener, StoreError> {
        let channel = format!("switchboard_sync_{:016x}", random_u64());
        let listener = listen(options, &channel).await?;
        let barriers = Barriers {
            listening: true,
            ..Barriers::default()
        };
        let shared = Arc::new(Shared {
            pool,
            cache,
            channel,
            barriers: watch::Sender::new(barriers),
            replace: Notify::new(),
        });
        let task = tokio::spawn(run(shared.clone(), options.clone(), listener));
        Ok(Listener { shared, task })
    }

    /// Waits until this node has applied every notification committed before the call: `true`
    /// then, `false` when that cannot be known (not listening, the connection broke meanwhile,
    /// the token was late), and the caller must read the database instead of the cache.
    pub(crate) async fn caught_up(&self) -> bool {
        let mut target = None;
        let mut send = None;
        self.shared.barriers.send_modify(|barriers| {
            if !barriers.listening {
                return;
            }
            // A token sent from now on was sent after this call began.
            let token = barriers.issued + 1;
            barriers.wanted = barriers.wanted.max(token);
            if !barriers.in_flight {
                send = Some(barriers.issue());
            }
            target = Some((barriers.epoch, token));
        });
        let Some((epoch, token)) = target else {
            return false;
        };
        if let Some(send) = send {
            self.shared.clone().send_token(epoch, send);
        }
        let mut barriers = self.shared.barriers.subscribe();
        let arrived = barriers.wait_for(|b| b.epoch != epoch || b.received >= token);
        match tokio::time::timeout(BARRIER_TIMEOUT, arrived).await {
            Ok(Ok(barriers)) => barriers.epoch == epoch,
            // The sender lives in `self.shared`: it cannot be gone while this waits.
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::warn!("a read cache barrier timed out; listening again");
                self.shared.lose(epoch);
                self.shared.replace.notify_one();
                false
            }
        }
    }
}

impl Listener {
    /// Stops listening (the store is closing).
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Barriers {
    fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.in_flight = true;
        self.issued
    }
}

impl Shared {
    /// Sends a token from the pool in a task of its own, so that a reader that stops waiting
    /// does not leave the token unsent and every later barrier waiting for it.
    fn send_token(self: Arc<Self>, epoch: u64, token: u64) {
        tokio::spawn(async move {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&self.channel)
                .bind(token.to_string())
                .execute(&self.pool)
                .await;
            if let Err(error) = sent {
                tracing::warn!(%error, "a read cache barrier could not be sent");
                self.lose(epoch);
            }
        });
    }

    /// Waiters of `epoch` give up, and the next barrier sends a token of its own.
    fn lose(&self, epoch: u64) {
        self.barriers.send_if_modified(|barriers| {
            if barriers.epoch != epoch {
                return false;
            }
            barriers.epoch += 1;
            barriers.in_flight = false;
            barriers.wanted = barriers.issued;
            true
        });
    }

    fn handle(self: &Arc<Self>, notification: &PgNotification) {
        if notification.channel() == ROWS_CHANNEL {
            lock(&self.cache).invalidate(notification.payload());
        } else if notification.channel() == self.channel
            && let Ok(token) = notification.payload().parse::<u64>()
        {
            self.token_arrived(token);
        }
    }

    /// Every notification committed before `token` was sent has been applied.
    fn token_arrived(self: &Arc<Self>, token: u64) {
        let mut next = None;
        self.barriers.send_if_modified(|barriers| {
            if token <= barriers.received || token > barriers.issued {
                return false;
            }
            barriers.received = token;
            if token == barriers.issued {
                barriers.in_flight = false;
                if barriers.wanted > token {
                    next = Some((barriers.epoch, barriers.issue()));
                }
            }
            true
        });
        if let Some((epoch, token)) = next {
            self.clone().send_token(epoch, token);
        }
    }

    /// Listening or not: every cached row is dropped either way, and waiters give up.
    fn set_listening(&self, listening: bool) {
        lock(&self.cache).set_suspended(!listening);
        self.barriers.send_modify(|barriers| {
            barriers.epoch += 1;
            barriers.listening = listening;
            barriers.in_flight = false;
            barriers.wanted = barriers.issued;
        });
    }
}

/// The listening task: applies notifications in the order they arrive, and listens again on a
/// new connection whenever the old one broke or fell behind.
async fn run(shared: Arc<Shared>, options: PgConnectOptions, mut listener: PgListener) {
    loop {
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => shared.handle(&notification),
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "the read cache's listening connection failed");
                        break;
                    }
                },
                () = shared.replace.notified() => break,
            }
        }
        shared.set_listening(false);
        drop(listener);
        listener = loop {
            match listen(&options, &shared.channel).await {
                Ok(listener) => break listener,
                Err(error) => {
                    tracing::warn!(%error, "listening for other nodes' writes again failed");
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        };
        // Rows read while nobody listened may be stale already: `set_listening` drops them.
        shared.set_listening(true);
    }
}

/// A new connection listening on the rows channel and `channel`.
async fn listen(options: &PgConnectOptions, channel: &str) -> Result<PgListener, sqlx::Error> {
    let options = options
        .clone()
        .application_name("switchboard-cache-listener");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection is reported (`Ok(None)`) and replaced here, not silently.
    listener.eager_reconnect(false);
    listener.listen_all([ROWS_CHANNEL, channel]).await?;
    Ok(listener)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
