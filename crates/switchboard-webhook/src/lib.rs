//! Webhook requests and the failover policy (being written; see issue 4).
