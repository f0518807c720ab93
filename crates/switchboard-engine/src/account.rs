//! The stored account as the engine needs it: whose token signs an account's webhooks, where its
//! debugger events go, whether it is the main account, and whether it may act at all (the one
//! rule of suspension, `is_active`, which the HTTP layer's authentication and the engine's
//! inbound calls and messages share). Rendering it is the HTTP layer's job.

use serde::{Deserialize, Serialize};
use switchboard_store::{Kind, Record, Store};

use crate::error::EngineResult;
use crate::now_ms;

/// A stored account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub sid: String,
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    pub auth_token: String,
    /// The parent for a subaccount; the account itself for a main account.
    pub owner_account_sid: String,
    pub date_created: i64,
    pub date_updated: i64,
    /// Extension: where Debug Events for this account's alerts are posted.
    #[serde(default)]
    pub debugger_webhook_url: String,
}

impl Account {
    /// A new active account; `owner` is the parent of a subaccount.
    pub fn new(
        sid: String,
        auth_token: String,
        owner: Option<&str>,
        friendly_name: String,
    ) -> Account {
        let now = now_ms();
        Account {
            owner_account_sid: owner.map_or_else(|| sid.clone(), str::to_owned),
            sid,
            friendly_name,
            status: "active".into(),
            auth_token,
            date_created: now,
            date_updated: now,
            debugger_webhook_url: String::new(),
        }
    }

    pub fn is_main(&self) -> bool {
        self.owner_account_sid == self.sid
    }

    /// Whether the account's own `Status` lets it act: only `active` does (`suspended` and
    /// `closed` do not). See `is_active` for the whole rule, which also asks the parent.
    pub fn is_status_active(&self) -> bool {
        self.status == "active"
    }

    /// The stored row: the account as its document, with its indexed columns.
    pub fn record(&self) -> Record {
        // Serialising a struct of strings and integers cannot fail.
        let doc = serde_json::to_value(self).unwrap_or_default();
        let mut record = Record::new(
            Kind::Account,
            self.sid.clone(),
            self.owner_account_sid.clone(),
            self.date_created,
            doc,
        );
        record.parent_sid = (!self.is_main()).then(|| self.owner_account_sid.clone());
        record.friendly_name = Some(self.friendly_name.clone());
        record.status = Some(self.status.clone());
        record
    }
}

/// The rule of suspension, in one place: an account acts (authenticates, places and answers
/// calls, sends and receives messages) only while its own status is `active` and, for a
/// subaccount, its parent's is too: a subaccount exists under its parent (the parent provisions,
/// reads and reactivates it), so a main account that is suspended or closed stops its
/// subaccounts with it (product.md's "nothing of a suspended account runs"; twilio-behaviour.md
/// says nothing either way). `parent` is the subaccount's parent
/// (`None` for a main account, or a parent that no longer exists, which stops the subaccount).
pub fn is_active_under(account: &Account, parent: Option<&Account>) -> bool {
    if !account.is_status_active() {
        return false;
    }
    if account.is_main() {
        return true;
    }
    parent
        .is_some_and(|parent| parent.sid == account.owner_account_sid && parent.is_status_active())
}

/// `is_active_under` with the parent read from the store (a cached read by SID).
pub async fn is_active(store: &dyn Store, account: &Account) -> EngineResult<bool> {
    if !account.is_status_active() || account.is_main() {
        return Ok(account.is_status_active());
    }
    let parent = load(store, &account.owner_account_sid).await?;
    Ok(is_active_under(account, parent.as_ref()))
}

/// `is_active` for the account `sid`; an account that does not exist is not active.
pub async fn is_sid_active(store: &dyn Store, sid: &str) -> EngineResult<bool> {
    match load(store, sid).await? {
        Some(account) => is_active(store, &account).await,
        None => Ok(false),
    }
}

/// The account `sid`, if it exists.
pub async fn load(store: &dyn Store, sid: &str) -> EngineResult<Option<Account>> {
    let Some(record) = store.get_shared(Kind::Account, sid).await? else {
        return Ok(None);
    };
    // Read from the shared row without copying its document first.
    let account = Account::deserialize(&record.doc).map_err(switchboard_store::StoreError::from)?;
    Ok(Some(account))
}

/// The SID of the oldest main account (no parent), which owns what belongs to no number: the
/// alerts of INVITEs refused before any number was found.
pub async fn main_account_sid(store: &dyn Store) -> EngineResult<Option<String>> {
    let mut query = switchboard_store::ListQuery::new(Kind::Account, "");
    query.account_sid = None;
    query.filters.push(switchboard_store::Filter::Absent(
        switchboard_store::Column::ParentSid,
    ));
    query.limit = 1;
    Ok(store
        .list(&query)
        .await?
        .into_iter()
        .next()
        .map(|record| record.sid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(sid: &str, owner: Option<&str>, status: &str) -> Account {
        let mut account = Account::new(sid.into(), "token".into(), owner, "test".into());
        account.status = status.into();
        account
    }

    #[test]
    fn an_account_acts_only_while_it_and_its_parent_are_active() {
        let main = "AC00000000000000000000000000000001";
        let sub = "AC00000000000000000000000000000002";
        // (own status, parent's status or None for a main account, acts)
        let cases = [
            ("active", None, true),
            ("suspended", None, false),
            ("closed", None, false),
            ("active", Some("active"), true),
            ("active", Some("suspended"), false),
            ("active", Some("closed"), false),
            ("suspended", Some("active"), false),
            ("closed", Some("active"), false),
        ];
        for (own, parent_status, expected) in cases {
            let (checked, parent) = match parent_status {
                None => (account(main, None, own), None),
                Some(status) => (
                    account(sub, Some(main), own),
                    Some(account(main, None, status)),
                ),
            };
            assert_eq!(
                is_active_under(&checked, parent.as_ref()),
                expected,
                "{own} under {parent_status:?}"
            );
        }
        let orphan = account(sub, Some(main), "active");
        assert!(!is_active_under(&orphan, None), "a missing parent stops it");
        let stranger = account("AC00000000000000000000000000000003", None, "active");
        assert!(
            !is_active_under(&orphan, Some(&stranger)),
            "only its own parent counts"
        );
    }
}
