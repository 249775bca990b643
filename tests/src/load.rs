//! A mixed load of user writes and reads against a running idstore that
//! keeps a ledger of every write idstore acknowledged, for tests that break
//! something under it (the database, the process) and then check that
//! nothing acknowledged was lost and nothing was half written.
//!
//! Each worker creates users through an application's client (so a create
//! writes the user and its association with the application, with
//! `custom_app_data`), updates its own users one request at a time (each
//! `PUT` sets `custom_data.v` and `custom_app_data.v` to the user's next
//! number, so both halves of an update can be compared), reads them back,
//! and, given a group, adds its users to it three at a time (all or none).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{Value, json};

/// Longest a load request waits for its answer: well beyond every bound
/// idstore puts on a wait (2 s for a pooled connection by default).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);
/// Users each worker creates at most, so that one page lists them all.
const MAX_USERS_PER_WORKER: usize = 400;
const PAUSE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Create,
    Read,
    Update,
    AddMembers,
}

impl Op {
    pub fn writes(self) -> bool {
        self != Self::Read
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Answered {
        status: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// The connection failed or the client gave up waiting.
    NoAnswer(String),
}

/// One request of the load and what came of it.
#[derive(Debug, Clone)]
pub struct Event {
    pub worker: usize,
    pub op: Op,
    pub sent: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

impl Event {
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Answered { status, .. } => Some(*status),
            Outcome::NoAnswer(_) => None,
        }
    }

    pub fn ok(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }

    /// idstore's "retry later": 503, `Retry-After`, the error in its shape.
    pub fn is_retry_later(&self) -> bool {
        match &self.outcome {
            Outcome::Answered {
                status: 503,
                retry_after: Some(after),
                body,
            } => {
                let body: Value = serde_json::from_str(body).unwrap_or_default();
                after == "2" && body["error_code"] == 503 && body["message"].is_string()
            }
            _ => false,
        }
    }

    /// Whether the request was sent before `to` and answered after `from`.
    pub fn spans(&self, from: Instant, to: Instant) -> bool {
        self.sent <= to && self.done >= from
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.outcome {
            Outcome::Answered { status, body, .. } => format!("{status} {body}"),
            Outcome::NoAnswer(e) => format!("no answer: {e}"),
        };
        write!(
            f,
            "worker {} {:?} ({:?}): {what}",
            self.worker,
            self.op,
            self.done - self.sent
        )
    }
}

/// What the client may conclude about a write from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// 2xx: it took effect.
    Applied,
    /// 503: refused, so nothing was written.
    Refused,
    /// A 500 (outcome unknown), another answer, or none.
    Unknown,
}

impl Fate {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Answered { status, .. } if (200..300).contains(status) => Self::Applied,
            Outcome::Answered { status: 503, .. } => Self::Refused,
            _ => Self::Unknown,
        }
    }
}

/// A user whose create was acknowledged, and what its updates were told.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub email: String,
    /// The last acknowledged value (0 from the create).
    pub acked: i64,
    /// Values sent after it whose outcome is unknown: any may be there.
    pub unknown: Vec<i64>,
    /// Values refused after it: none may be there.
    pub refused: Vec<i64>,
}

impl Tracked {
    fn allows(&self, v: i64) -> bool {
        v == self.acked || self.unknown.contains(&v)
    }
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// By user id.
    pub users: BTreeMap<String, Tracked>,
    /// Emails of creates not acknowledged, by what their answer allows.
    pub creates_refused: BTreeSet<String>,
    pub creates_unknown: BTreeSet<String>,
    /// Each batch of users added to the group in one request.
    pub batches: Vec<(Vec<String>, Fate)>,
    pub acked_updates: usize,
}

impl Ledger {
    fn record_update(&mut self, user_id: &str, v: i64, fate: Fate) {
        let user = self.users.get_mut(user_id).expect("a tracked user");
        match fate {
            Fate::Applied => {
                user.acked = v;
                user.unknown.clear();
                self.acked_updates += 1;
            }
            Fate::Refused => user.refused.push(v),
            Fate::Unknown => user.unknown.push(v),
        }
    }
}

/// The tokens the load writes with.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// An application client's token: users are created, read and updated
    /// through it.
    pub client: String,
    /// An admin token: group memberships.
    pub admin: String,
}

/// A running load.
pub struct Load {
    base: Rc<RefCell<String>>,
    stop: Rc<Cell<bool>>,
    inflight_writes: Rc<Cell<usize>>,
    events: Rc<RefCell<Vec<Event>>>,
    ledger: Rc<RefCell<Ledger>>,
    stale_reads: Rc<RefCell<Vec<String>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// What a load saw, once stopped.
pub struct Record {
    pub events: Vec<Event>,
    pub ledger: Ledger,
    /// Reads that did not show the acknowledged state of a user.
    pub stale_reads: Vec<String>,
}

impl Load {
    /// Starts `workers` workers against idstore at `base` (`http://host:port`),
    /// adding members to `group_id` when one is given. Call from a local
    /// task set (`actix_web::test`): the HTTP client is not `Send`.
    pub fn start(base: &str, tokens: Tokens, group_id: Option<String>, workers: usize) -> Self {
        let load = Self {
            base: Rc::new(RefCell::new(base.to_owned())),
            stop: Rc::default(),
            inflight_writes: Rc::default(),
            events: Rc::default(),
            ledger: Rc::default(),
            stale_reads: Rc::default(),
            workers: Vec::new(),
        };
        let run = uuid::Uuid::now_v7().simple().to_string();
        let workers = (0..workers)
            .map(|worker| {
                let w = Worker {
                    worker,
                    run: run.clone(),
                    client: awc::Client::builder()
                        .timeout(CLIENT_TIMEOUT)
                        .disable_redirects()
                        .finish(),
                    base: load.base.clone(),
                    tokens: tokens.clone(),
                    group_id: group_id.clone(),
                    stop: load.stop.clone(),
                    inflight_writes: load.inflight_writes.clone(),
                    events: load.events.clone(),
                    ledger: load.ledger.clone(),
                    stale_reads: load.stale_reads.clone(),
                };
                actix_web::rt::spawn(w.run())
            })
            .collect();
        Self { workers, ..load }
    }

    /// Sends the requests from now on to another idstore.
    pub fn point_at(&self, base: &str) {
        *self.base.borrow_mut() = base.to_owned();
    }

    /// Writes sent and not yet answered.
    pub fn inflight_writes(&self) -> usize {
        self.inflight_writes.get()
    }

    /// Every request answered so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    /// Waits until `n` writes are in flight at once (bounded).
    pub async fn until_writes_in_flight(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.inflight_writes() < n {
            assert!(
                Instant::now() < deadline,
                "the load never had {n} writes in flight"
            );
            tokio::task::yield_now().await;
        }
    }

    /// Stops the workers once their requests in flight are answered.
    pub async fn stop(self) -> Record {
        self.stop.set(true);
        for worker in self.workers {
            worker.await.expect("a load worker panicked");
        }
        Record {
            events: self.events.take(),
            ledger: self.ledger.take(),
            stale_reads: self.stale_reads.take(),
        }
    }
}

struct Worker {
    worker: usize,
    run: String,
    client: awc::Client,
    base: Rc<RefCell<String>>,
    tokens: Tokens,
    group_id: Option<String>,
    stop: Rc<Cell<bool>>,
    inflight_writes: Rc<Cell<usize>>,
    events: Rc<RefCell<Vec<Event>>>,
    ledger: Rc<RefCell<Ledger>>,
    stale_reads: Rc<RefCell<Vec<String>>>,
}

impl Worker {
    async fn run(self) {
        // This worker's users, with the value their next update sets.
        let mut mine: Vec<(String, i64)> = Vec::new();
        let mut unbatched: Vec<String> = Vec::new();
        let (mut step, mut creates) = (0usize, 0usize);
        while !self.stop.get() {
            step += 1;
            let op = match step % 6 {
                _ if mine.is_empty() => Op::Create,
                0 | 3 if mine.len() < MAX_USERS_PER_WORKER => Op::Create,
                5 if self.group_id.is_some() && unbatched.len() >= 3 => Op::AddMembers,
                2 | 5 => Op::Read,
                _ => Op::Update,
            };
            match op {
                Op::Create => {
                    creates += 1;
                    if let Some(id) = self.create(creates).await {
                        mine.push((id.clone(), 1));
                        unbatched.push(id);
                    }
                }
                Op::Update => {
                    let n = mine.len();
                    let (id, next) = &mut mine[step % n];
                    self.update(id, *next).await;
                    *next += 1;
                }
                Op::Read => {
                    let (id, _) = &mine[step % mine.len()];
                    self.read(id).await;
                }
                Op::AddMembers => {
                    let batch: Vec<String> = unbatched.drain(..3).collect();
                    self.add_members(batch).await;
                }
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// The `n`th create of this worker: a fresh email each time.
    async fn create(&self, n: usize) -> Option<String> {
        let email = format!("w{}-{n}-{}@load.test", self.worker, self.run);
        let body = json!({"email": email, "custom_data": {"v": 0}, "custom_app_data": {"v": 0}});
        let (outcome, answer) = self
            .call(
                Op::Create,
                Method::POST,
                "/v1/users",
                &self.tokens.client,
                Some(&body),
            )
            .await;
        let mut ledger = self.ledger.borrow_mut();
        match Fate::of(&outcome) {
            Fate::Applied => {
                let id = answer["result"]["user_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a create answered without a user id: {answer}"))
                    .to_owned();
                let tracked = Tracked {
                    email,
                    acked: 0,
                    unknown: Vec::new(),
                    refused: Vec::new(),
                };
                ledger.users.insert(id.clone(), tracked);
                Some(id)
            }
            Fate::Refused => {
                ledger.creates_refused.insert(email);
                None
            }
            Fate::Unknown => {
                ledger.creates_unknown.insert(email);
                None
            }
        }
    }

    async fn update(&self, user_id: &str, v: i64) {
        let body = json!({"custom_data": {"v": v}, "custom_app_data": {"v": v}});
        let path = format!("/v1/users/{user_id}");
        let (outcome, _) = self
            .call(
                Op::Update,
                Method::PUT,
                &path,
                &self.tokens.client,
                Some(&body),
            )
            .await;
        self.ledger
            .borrow_mut()
            .record_update(user_id, v, Fate::of(&outcome));
    }

    /// A read must show the user as its last acknowledged write left it.
    async fn read(&self, user_id: &str) {
        let path = format!("/v1/users/{user_id}");
        let (outcome, answer) = self
            .call(Op::Read, Method::GET, &path, &self.tokens.client, None)
            .await;
        if Fate::of(&outcome) != Fate::Applied {
            return;
        }
        let user = &answer["result"];
        let (data, app) = (&user["custom_data"]["v"], &user["custom_app_data"]["v"]);
        let ledger = self.ledger.borrow();
        let tracked = &ledger.users[user_id];
        let allowed = data == app && data.as_i64().is_some_and(|v| tracked.allows(v));
        if !allowed {
            self.stale_reads.borrow_mut().push(format!(
                "{user_id} read as custom_data.v {data}, custom_app_data.v {app}; \
                 acknowledged {tracked:?}"
            ));
        }
    }

    async fn add_members(&self, batch: Vec<String>) {
        let group_id = self.group_id.as_deref().expect("a group");
        let path = format!("/v1/admin/groups/{group_id}/members");
        let body = json!({ "user_ids": batch });
        let (outcome, _) = self
            .call(
                Op::AddMembers,
                Method::POST,
                &path,
                &self.tokens.admin,
                Some(&body),
            )
            .await;
        self.ledger
            .borrow_mut()
            .batches
            .push((batch, Fate::of(&outcome)));
    }

    /// Sends one request, records it, and returns its outcome and JSON body.
    async fn call(
        &self,
        op: Op,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (Outcome, Value) {
        let url = format!("{}{path}", self.base.borrow());
        let writes = op.writes();
        if writes {
            self.inflight_writes.set(self.inflight_writes.get() + 1);
        }
        let sent = Instant::now();
        let answer = send(&self.client, method, &url, token, body);
        let outcome =
            match tokio::time::timeout(CLIENT_TIMEOUT + Duration::from_secs(1), answer).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::NoAnswer(format!("no answer within {CLIENT_TIMEOUT:?}")),
            };
        if writes {
            self.inflight_writes.set(self.inflight_writes.get() - 1);
        }
        let json = match &outcome {
            Outcome::Answered { body, .. } => serde_json::from_str(body).unwrap_or_default(),
            Outcome::NoAnswer(_) => Value::Null,
        };
        self.events.borrow_mut().push(Event {
            worker: self.worker,
            op,
            sent,
            done: Instant::now(),
            outcome: outcome.clone(),
        });
        (outcome, json)
    }
}

async fn send(
    client: &awc::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Outcome {
    let req = client
        .request(method, url)
        .insert_header(("authorization", format!("Bearer {token}")));
    let res = match body {
        Some(b) => {
            req.content_type("application/json")
                .send_body(b.to_string())
                .await
        }
        None => req.send().await,
    };
    let mut res = match res {
        Ok(res) => res,
        Err(e) => return Outcome::NoAnswer(e.to_string()),
    };
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match res.body().limit(16 * 1024 * 1024).await {
        Ok(bytes) => Outcome::Answered {
            status,
            retry_after,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        },
        Err(e) => Outcome::NoAnswer(format!("{status}, then the body was lost: {e}")),
    }
}

/// What the tenant holds after the load, as its clients read it.
#[derive(Debug)]
pub struct Found {
    /// By user id: every user of the tenant (an admin token's list).
    pub tenant: HashMap<String, Value>,
    /// By user id: the users associated with the load's application (its
    /// client's list, which carries that application's data).
    pub app: HashMap<String, Value>,
}

impl Found {
    /// Lists the tenant's users with both tokens, through the API.
    pub async fn read(base: &str, tokens: &Tokens) -> Self {
        let list = |token: String| async move {
            let url = format!("{base}/v1/users?page_limit=5000");
            let client = awc::Client::builder().timeout(CLIENT_TIMEOUT).finish();
            let outcome = send(&client, Method::GET, &url, &token, None).await;
            let Outcome::Answered {
                status: 200, body, ..
            } = &outcome
            else {
                panic!("listing the users after the load: {outcome:?}");
            };
            let page: Value = serde_json::from_str(body).unwrap();
            let users = page["result"].as_array().unwrap().clone();
            assert_eq!(
                page["total_count"].as_u64(),
                Some(users.len() as u64),
                "one page holds every user"
            );
            users
                .into_iter()
                .map(|u| (u["user_id"].as_str().unwrap().to_owned(), u))
                .collect::<HashMap<_, _>>()
        };
        Self {
            tenant: list(tokens.admin.clone()).await,
            app: list(tokens.client.clone()).await,
        }
    }

    /// Every way what is there differs from what the ledger allows: an
    /// acknowledged write missing, a refused one present, a user without
    /// its application, an update applied by halves, a batch of members
    /// added in part. Empty when they agree.
    pub fn diff(&self, ledger: &Ledger) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, tracked) in &ledger.users {
            let Some(user) = self.app.get(id) else {
                if self.tenant.contains_key(id) {
                    continue; // reported below, as a user without its application
                }
                problems.push(format!(
                    "acknowledged user {id} ({}) is gone",
                    tracked.email
                ));
                continue;
            };
            let (data, app) = (&user["custom_data"]["v"], &user["custom_app_data"]["v"]);
            for (what, v) in [("custom_data", data), ("custom_app_data", app)] {
                if !v.as_i64().is_some_and(|v| tracked.allows(v)) {
                    problems.push(format!(
                        "user {id} has {what}.v {v}; acknowledged {}, unsure {:?}, refused {:?}",
                        tracked.acked, tracked.unknown, tracked.refused
                    ));
                }
            }
        }
        for (id, user) in &self.tenant {
            let email = user["email"]["value"].as_str().unwrap_or_default();
            if !self.app.contains_key(id) {
                problems.push(format!(
                    "user {id} ({email}) exists without its application association"
                ));
            }
            if ledger.users.contains_key(id) {
                continue;
            }
            if ledger.creates_refused.contains(email) {
                problems.push(format!(
                    "user {id} ({email}) exists though its create was a 503"
                ));
            } else if !ledger.creates_unknown.contains(email) {
                problems.push(format!("user {id} ({email}) was never created by the load"));
            }
        }
        for user in self.app.values() {
            let (data, app) = (&user["custom_data"], &user["custom_app_data"]);
            if data["v"] != app["v"] {
                problems.push(format!(
                    "user {} was updated by halves: custom_data {data}, custom_app_data {app}",
                    user["user_id"]
                ));
            }
        }
        let member = |user: &Value| {
            user["groupIds"]
                .as_array()
                .is_some_and(|groups| !groups.is_empty())
        };
        let batched: BTreeSet<&String> = ledger.batches.iter().flat_map(|(b, _)| b).collect();
        for (id, user) in &self.tenant {
            if member(user) && !batched.contains(id) {
                problems.push(format!(
                    "user {id} is in a group the load never added it to"
                ));
            }
        }
        for (batch, fate) in &ledger.batches {
            let members: Vec<bool> = batch
                .iter()
                .map(|id| self.tenant.get(id).is_some_and(member))
                .collect();
            let all = members.iter().all(|m| *m);
            let none = !members.iter().any(|m| *m);
            let fine = match fate {
                Fate::Applied => all,
                Fate::Refused => none,
                Fate::Unknown => all || none,
            };
            if !fine {
                problems.push(format!(
                    "members {batch:?} ({fate:?}) are in the group as {members:?}"
                ));
            }
        }
        problems
    }
}
