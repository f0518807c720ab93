//! The stored shape of a resource and the list queries the API can ask.

use serde_json::Value;

/// Which resource a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Account,
    ApiKey,
    PhoneNumber,
    Application,
    Call,
    Message,
    Media,
    Recording,
    /// A recording's transcription (`TR…`); `parent_sid` is the recording.
    Transcription,
    Alert,
    /// A number's last-known-good voice document (beyond Twilio): engine state, never
    /// rendered by the API; `parent_sid` is the number.
    LastKnownGood,
    /// A console sign-in (the web console's server-side session): its SID is the SHA-256 of
    /// the cookie's secret, so the table alone does not let anyone in.
    ConsoleSession,
    /// A verified caller ID of an account (Twilio's OutgoingCallerId); `phone_number` is the
    /// number, `unique_key` makes it one per account and number.
    OutgoingCallerId,
    /// A caller-ID verification under way (engine state, never rendered): its SID is the
    /// random token its call's action and status callback carry.
    CallerIdVerification,
    /// A Messaging Service (Messaging v1, `MG…`).
    MessagingService,
    /// A number in a Messaging Service's pool: `parent_sid` is the service, the document names
    /// the number (`phone_number_sid`); its SID is `service-number:{PN…}` and its `unique_key`
    /// the same, so a number is in at most one service.
    ServicePhoneNumber,
    /// A conference (`CF…`): written by the engine node that runs it, rendered by the API;
    /// `friendly_name` is its name, `status` `init`, `in-progress` or `completed`.
    Conference,
    /// A call queue (`QU…`): `friendly_name` is its name, `unique_key` `queue:{account}:{name}`.
    Queue,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::ApiKey => "api_key",
            Kind::PhoneNumber => "phone_number",
            Kind::Application => "application",
            Kind::Call => "call",
            Kind::Message => "message",
            Kind::Media => "media",
            Kind::Recording => "recording",
            Kind::Transcription => "transcription",
            Kind::Alert => "alert",
            Kind::LastKnownGood => "last_known_good",
            Kind::ConsoleSession => "console_session",
            Kind::OutgoingCallerId => "outgoing_caller_id",
            Kind::CallerIdVerification => "caller_id_verification",
            Kind::MessagingService => "messaging_service",
            Kind::ServicePhoneNumber => "service_phone_number",
            Kind::Conference => "conference",
            Kind::Queue => "queue",
        }
    }
}

/// One stored resource: the indexed columns and the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Insertion order, assigned by the database (0 before insertion).
    pub seq: i64,
    pub sid: String,
    pub kind: Kind,
    /// The account that owns the resource (an account row names its parent, or itself).
    pub account_sid: String,
    /// The resource this one belongs to (the call of a recording), if any.
    pub parent_sid: Option<String>,
    /// Engine-wide uniqueness key (a provisioned phone number), if any.
    pub unique_key: Option<String>,
    pub created_ms: i64,
    pub phone_number: Option<String>,
    pub from_number: Option<String>,
    pub friendly_name: Option<String>,
    pub status: Option<String>,
    pub date_key: Option<i64>,
    pub doc: Value,
}

impl Record {
    /// A record with only the required columns set.
    pub fn new(
        kind: Kind,
        sid: String,
        account_sid: String,
        created_ms: i64,
        doc: Value,
    ) -> Record {
        Record {
            seq: 0,
            sid,
            kind,
            account_sid,
            parent_sid: None,
            unique_key: None,
            created_ms,
            phone_number: None,
            from_number: None,
            friendly_name: None,
            status: None,
            date_key: None,
            doc,
        }
    }
}

/// A filterable column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    PhoneNumber,
    FromNumber,
    FriendlyName,
    Status,
    DateKey,
    CreatedMs,
    ParentSid,
    Sid,
}

impl Column {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Column::PhoneNumber => "phone_number",
            Column::FromNumber => "from_number",
            Column::FriendlyName => "friendly_name",
            Column::Status => "status",
            Column::DateKey => "date_key",
            Column::CreatedMs => "created_ms",
            Column::ParentSid => "parent_sid",
            Column::Sid => "sid",
        }
    }
}

/// One condition of a list query.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// The column equals the text.
    Equals(Column, String),
    /// The column matches a pattern where `_` is any one character and `%` any run; the
    /// characters `\`, `_` and `%` of user input must have been escaped with `\`.
    Like(Column, String),
    /// The column's number is within `[from, until)`; either end may be open.
    Between(Column, Option<i64>, Option<i64>),
    /// The column is NULL.
    Absent(Column),
}

/// Newest first or oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A page of one kind of resource owned by one account (or belonging to one parent).
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub kind: Kind,
    /// The owning account; `None` lists across every account (engine-internal scans).
    pub account_sid: Option<String>,
    pub parent_sid: Option<String>,
    pub filters: Vec<Filter>,
    pub order: Order,
    /// Keyset paging: only rows after this `seq` in `order`.
    pub after_seq: Option<i64>,
    /// Offset paging (used only without `after_seq`).
    pub offset: i64,
    pub limit: i64,
}

impl ListQuery {
    pub fn new(kind: Kind, account_sid: &str) -> ListQuery {
        ListQuery {
            kind,
            account_sid: Some(account_sid.to_owned()),
            parent_sid: None,
            filters: Vec::new(),
            order: Order::Ascending,
            after_seq: None,
            offset: 0,
            limit: 50,
        }
    }

    /// The WHERE/ORDER/LIMIT tail shared by both backends, with its bind values in order.
    /// Only static fragments and `$n` placeholders are written into the SQL text.
    pub(crate) fn sql_tail(&self) -> (String, Vec<Bind>) {
        let mut binds = vec![Bind::Text(self.kind.as_str().to_owned())];
        let mut sql = String::from(" WHERE kind = $1");
        let mut push = |sql: &mut String, fragment: &str, bind: Bind| {
            binds.push(bind);
            sql.push_str(&fragment.replace('?', &format!("${}", binds.len())));
        };
        if let Some(account) = &self.account_sid {
            push(
                &mut sql,
                " AND account_sid = ?",
                Bind::Text(account.clone()),
            );
        }
        if let Some(parent) = &self.parent_sid {
            push(&mut sql, " AND parent_sid = ?", Bind::Text(parent.clone()));
        }
        for filter in &self.filters {
            match filter {
                Filter::Equals(column, value) => push(
                    &mut sql,
                    &format!(" AND {} = ?", column.sql()),
                    Bind::Text(value.clone()),
                ),
                Filter::Like(column, pattern) => push(
                    &mut sql,
                    &format!(" AND {} LIKE ? ESCAPE '\\'", column.sql()),
                    Bind::Text(pattern.clone()),
                ),
                Filter::Absent(column) => sql.push_str(&format!(" AND {} IS NULL", column.sql())),
                Filter::Between(column, from, until) => {
                    if let Some(from) = from {
                        push(
                            &mut sql,
                            &format!(" AND {} >= ?", column.sql()),
                            Bind::Int(*from),
                        );
                    }
                    if let Some(until) = until {
                        push(
                            &mut sql,
                            &format!(" AND {} < ?", column.sql()),
                            Bind::Int(*until),
                        );
                    }
                }
            }
        }
        let (comparison, direction) = match self.order {
            Order::Ascending => (">", "ASC"),
            Order::Descending => ("<", "DESC"),
        };
        if let Some(after) = self.after_seq {
            push(
                &mut sql,
                &format!(" AND seq {comparison} ?"),
                Bind::Int(after),
            );
        }
        sql.push_str(&format!(" ORDER BY seq {direction}"));
        push(&mut sql, " LIMIT ?", Bind::Int(self.limit));
        if self.after_seq.is_none() {
            push(&mut sql, " OFFSET ?", Bind::Int(self.offset));
        }
        (sql, binds)
    }
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_tail_numbers_placeholders_in_bind_order() {
        let mut query = ListQuery::new(Kind::PhoneNumber, "AC1");
        query
            .filters
            .push(Filter::Like(Column::PhoneNumber, "%555%".into()));
        query
            .filters
            .push(Filter::Between(Column::DateKey, Some(1), None));
        query.after_seq = Some(7);
        query.order = Order::Descending;
        let (sql, binds) = query.sql_tail();
        assert_eq!(
            sql,
            " WHERE kind = $1 AND account_sid = $2 AND phone_number LIKE $3 ESCAPE '\\' \
             AND date_key >= $4 AND seq < $5 ORDER BY seq DESC LIMIT $6"
        );
        assert_eq!(binds.len(), 6);
        assert_eq!(binds[4], Bind::Int(7));
    }
}
