//! The endpoint task's one timer: the earliest `poll_timeout()` of every transaction, call
//! deadline and shutdown grace, found by a scan, and the firing of everything that is due.

use super::{Actor, CallId, outbound};

impl Actor {
    pub(super) fn next_deadline(&self) -> Option<u64> {
        let server_invites = self.server_invites.values().map(|t| t.tx.poll_timeout());
        let server_requests = self.server_requests.values().map(|t| t.tx.poll_timeout());
        let client_invites = self.client_invites.values().map(|t| t.tx.poll_timeout());
        let client_requests = self.client_requests.values().map(|t| t.tx.poll_timeout());
        let calls = self.calls.values().map(outbound::call_deadline);
        let stop = std::iter::once(self.stopping.as_ref().map(|(_, at)| *at));
        server_invites
            .chain(server_requests)
            .chain(client_invites)
            .chain(client_requests)
            .chain(calls)
            .chain(stop)
            .flatten()
            .min()
    }

    pub(super) fn fire_timers(&mut self) {
        let now = self.now();
        let due = |at: Option<u64>| at.is_some_and(|at| at <= now);
        let keys: Vec<_> = self
            .server_invites
            .iter()
            .filter(|(_, t)| due(t.tx.poll_timeout()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.server_invites.get_mut(&key) {
                entry.tx.handle_timeout(now);
            }
            self.drive_server_invite(&key);
        }
        let keys: Vec<_> = self
            .server_requests
            .iter()
            .filter(|(_, t)| due(t.tx.poll_timeout()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.server_requests.get_mut(&key) {
                entry.tx.handle_timeout(now);
            }
            self.drive_server_request(&key);
        }
        let keys: Vec<_> = self
            .client_invites
            .iter()
            .filter(|(_, t)| due(t.tx.poll_timeout()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.client_invites.get_mut(&key) {
                entry.tx.handle_timeout(now);
            }
            self.drive_client_invite(&key);
        }
        let keys: Vec<_> = self
            .client_requests
            .iter()
            .filter(|(_, t)| due(t.tx.poll_timeout()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.client_requests.get_mut(&key) {
                entry.tx.handle_timeout(now);
            }
            self.drive_client_request(&key);
        }
        let calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| due(outbound::call_deadline(c)))
            .map(|(id, _)| *id)
            .collect();
        for id in calls {
            self.on_call_deadline(id);
        }
    }
}
