//! `/work-orders`: CUBE's work orders, listed, shown with the remote items
//! they are linked to, their comments and how their pushes went, and (for
//! admins) created, edited, deleted and commented on. What is checked here
//! is checked for the JSON API too ([`WorkOrderInput::validate`],
//! [`CommentInput::validate`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::record;
use super::dates::{DAY_MS, format_date, parse_date};
use super::error::Error;
use super::forms::{ConfirmForm, Notice, PAGE, PageQuery, page_of, redirect_with_notice};
use super::session::{Actor, Admin, SignedIn};
use super::{AppState, render};
use crate::store::work_order_comments::{Comment, MAX_BODY_CHARS};
use crate::store::work_orders::{WorkOrder, WorkOrderFields};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/work-orders", get(list).post(create))
        .route("/work-orders/new", get(new))
        .route("/work-orders/{id}", get(show).post(update))
        .route("/work-orders/{id}/edit", get(edit))
        .route("/work-orders/{id}/delete", post(delete))
        .route("/work-orders/{id}/comments", post(add_comment))
}

/// A comment as typed (form or API), before it is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(in crate::web) struct CommentInput {
    #[serde(default)]
    pub body: String,
}

impl CommentInput {
    /// The body to store (trailing white space and leading blank lines
    /// dropped, line ends LF), or a message for the field.
    pub fn validate(self) -> Result<String, BTreeMap<String, String>> {
        let body = self.body.replace("\r\n", "\n");
        let body = body.trim_end().trim_start_matches('\n');
        if body.trim().is_empty() || body.chars().count() > MAX_BODY_CHARS {
            return Err(BTreeMap::from([(
                "body".to_owned(),
                "Write 1 to 10,000 characters.".to_owned(),
            )]));
        }
        Ok(body.to_owned())
    }
}

/// A work order as typed (form or API), before it is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(in crate::web) struct WorkOrderInput {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub requester: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub due_at: Option<i64>,
}

fn one_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl WorkOrderInput {
    /// The fields to store, or a message for each field that is wrong.
    pub fn validate(self) -> Result<WorkOrderFields, BTreeMap<String, String>> {
        let mut problems = BTreeMap::new();
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 200 || !one_line(&title) {
            problems.insert("title".into(), "One line of 1 to 200 characters.".into());
        }
        if self.description.chars().count() > 20_000 {
            problems.insert("description".into(), "At most 20,000 characters.".into());
        }
        for (name, value) in [
            ("status", &self.status),
            ("priority", &self.priority),
            ("assignee", &self.assignee),
            ("requester", &self.requester),
        ] {
            if let Some(value) = value
                && (value.chars().count() > 100 || !one_line(value))
            {
                problems.insert(name.into(), "One line of at most 100 characters.".into());
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let some =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(WorkOrderFields {
            title,
            description: self.description,
            status: some(self.status).unwrap_or_else(|| "open".into()),
            priority: some(self.priority).unwrap_or_else(|| "normal".into()),
            assignee: some(self.assignee),
            requester: some(self.requester),
            due_at: self.due_at,
        })
    }
}

/// The HTML form: every field is text, the due date `YYYY-MM-DD`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct WorkOrderForm {
    #[serde(default, skip_serializing)]
    csrf_token: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    requester: String,
    #[serde(default)]
    due: String,
}

impl WorkOrderForm {
    fn of(order: &WorkOrder) -> Self {
        WorkOrderForm {
            csrf_token: String::new(),
            title: order.title.clone(),
            description: order.description.clone(),
            status: order.status.clone(),
            priority: order.priority.clone(),
            assignee: order.assignee.clone().unwrap_or_default(),
            requester: order.requester.clone().unwrap_or_default(),
            due: order.due_at.map(format_date).unwrap_or_default(),
        }
    }

    fn validate(&self) -> Result<WorkOrderFields, BTreeMap<String, String>> {
        let due = self.due.trim();
        let due_at = if due.is_empty() {
            Ok(None)
        } else {
            parse_date(due).map(|days| Some(days * DAY_MS)).ok_or(())
        };
        let text = |s: &str| Some(s.to_owned());
        let input = WorkOrderInput {
            title: self.title.clone(),
            // Browsers send CRLF line ends; store plain LF.
            description: self.description.replace("\r\n", "\n"),
            status: text(&self.status),
            priority: text(&self.priority),
            assignee: text(&self.assignee),
            requester: text(&self.requester),
            due_at: due_at.unwrap_or(None),
        };
        let checked = input.validate();
        match (checked, due_at) {
            (Ok(fields), Ok(_)) => Ok(fields),
            (checked, due_at) => {
                let mut problems = checked.err().unwrap_or_default();
                if due_at.is_err() {
                    problems.insert("due".into(), "A date as YYYY-MM-DD, or empty.".into());
                }
                Err(problems)
            }
        }
    }
}

async fn list(
    State(state): State<AppState>,
    user: SignedIn,
    Query(q): Query<PageQuery>,
) -> Result<Response, Error> {
    let offset = q.offset();
    let (orders, previous, next) =
        page_of(state.store.work_orders(PAGE + 1, offset).await?, offset);
    Ok(render::signed_in_page(
        "work_orders/list.html",
        &user,
        context! {
            orders => orders,
            offset => offset,
            previous => previous,
            next => next,
            notice => q.notice,
        },
    )?
    .into_response())
}

fn form_page(
    admin: &Admin,
    order: Option<&WorkOrder>,
    form: &WorkOrderForm,
    problems: &BTreeMap<String, String>,
) -> Result<Response, Error> {
    let status = if problems.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let html = render::signed_in_page(
        "work_orders/form.html",
        &admin.0,
        context! {
            order => order,
            form => form,
            problems => problems,
        },
    )?;
    Ok((status, html).into_response())
}

async fn new(admin: Admin) -> Result<Response, Error> {
    let form = WorkOrderForm {
        status: "open".into(),
        priority: "normal".into(),
        ..WorkOrderForm::default()
    };
    form_page(&admin, None, &form, &BTreeMap::new())
}

/// Audits a change to work order `id` and wakes the workers that push it.
async fn audit(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    action: &str,
    id: i64,
    after: serde_json::Value,
) -> Result<(), sqlx::Error> {
    record(
        state,
        who,
        remote,
        action,
        &format!("work-order:{id}"),
        None,
        Some(after),
    )
    .await?;
    state.sync.wake();
    Ok(())
}

/// Creates a work order for the page and the API alike: audited, and
/// pushed by the workers.
pub(in crate::web) async fn create_work_order(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    fields: &WorkOrderFields,
) -> Result<WorkOrder, sqlx::Error> {
    let order = state.store.create_work_order(fields).await?;
    let after = json!({"title": order.title});
    audit(state, who, remote, "work-order.create", order.id, after).await?;
    Ok(order)
}

/// Saves `fields` to work order `id` (`None` if there is none), with the
/// names of the fields that changed; a change is audited and pushed.
pub(in crate::web) async fn update_work_order(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    id: i64,
    fields: &WorkOrderFields,
) -> Result<Option<(WorkOrder, Vec<String>)>, sqlx::Error> {
    let Some((order, changed)) = state.store.update_work_order(id, fields).await? else {
        return Ok(None);
    };
    if !changed.is_empty() {
        let after = json!({"changed": changed});
        audit(state, who, remote, "work-order.update", id, after).await?;
    }
    Ok(Some((order, changed)))
}

/// Deletes work order `id` (false if there is none), audited; the workers
/// delete its linked remote items.
pub(in crate::web) async fn delete_work_order(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    id: i64,
) -> Result<bool, sqlx::Error> {
    if !state.store.delete_work_order(id).await? {
        return Ok(false);
    }
    let after = json!({"deleted": true});
    audit(state, who, remote, "work-order.delete", id, after).await?;
    Ok(true)
}

/// Adds `body` as a comment by `who` to work order `id` (`None` if there
/// is none), audited and pushed.
pub(in crate::web) async fn comment_on_work_order(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    id: i64,
    body: &str,
) -> Result<Option<Comment>, sqlx::Error> {
    let Some(comment) = state
        .store
        .add_work_order_comment(id, who.actor(), body)
        .await?
    else {
        return Ok(None);
    };
    let after = json!({"comment": comment.id});
    audit(state, who, remote, "work-order.comment", id, after).await?;
    Ok(Some(comment))
}

fn to_order(id: i64, notice: &str) -> Response {
    redirect_with_notice(&format!("/work-orders/{id}"), notice)
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<WorkOrderForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let fields = match form.validate() {
        Ok(fields) => fields,
        Err(problems) => return form_page(&admin, None, &form, &problems),
    };
    let order = create_work_order(&state, &admin.0, remote, &fields).await?;
    Ok(to_order(order.id, "Work order created."))
}

async fn show(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<Notice>,
) -> Result<Response, Error> {
    let order = state.store.work_order(id).await?.ok_or(Error::NotFound)?;
    detail_page(&state, &user, order, q.notice, "", &BTreeMap::new()).await
}

/// Integration names by id, each looked up once.
struct Names<'a> {
    state: &'a AppState,
    known: HashMap<i64, Option<String>>,
}

impl Names<'_> {
    async fn of(&mut self, id: i64) -> Result<Option<String>, Error> {
        if let Some(name) = self.known.get(&id) {
            return Ok(name.clone());
        }
        let name = self.state.store.integration(id).await?.map(|i| i.name);
        self.known.insert(id, name.clone());
        Ok(name)
    }
}

/// The work order's page; `comment` and `problems` refill the comment form
/// when what was typed is refused.
async fn detail_page(
    state: &AppState,
    user: &SignedIn,
    order: WorkOrder,
    notice: Option<String>,
    comment: &str,
    problems: &BTreeMap<String, String>,
) -> Result<Response, Error> {
    let id = order.id;
    let mut names = Names {
        state,
        known: HashMap::new(),
    };
    let mut links = Vec::new();
    for link in state.store.work_order_links(id).await? {
        let name = names.of(link.integration_id).await?;
        links.push(json!({"link": link, "integration": name}));
    }
    let all_pushes = state.store.pushes_of(id).await?;
    let mut pushes = Vec::new();
    for push in &all_pushes {
        let name = names.of(push.integration_id).await?;
        pushes.push(json!({"push": push, "integration": name}));
    }
    let mut comments = Vec::new();
    for c in state.store.work_order_comments(id).await? {
        let source = match c.source_integration_id {
            Some(integration) => names.of(integration).await?,
            None => None,
        };
        // Where it went: the remote comments it is linked to (besides the
        // one it came from), then pushes still waiting or failed.
        let mut pushed = Vec::new();
        for link in &c.links {
            if Some(link.integration_id) != c.source_integration_id {
                let name = names.of(link.integration_id).await?;
                pushed.push(json!({"integration": name, "external_id": link.external_id}));
            }
        }
        let mut waiting = Vec::new();
        for push in all_pushes
            .iter()
            .filter(|p| p.comment_id == Some(c.id) && p.status != "done")
        {
            let name = names.of(push.integration_id).await?;
            waiting.push(json!({"integration": name, "status": push.status, "error": push.error}));
        }
        let lines: Vec<&str> = c.body.split('\n').collect();
        comments.push(json!({
            "comment": c, "source": source, "pushed": pushed, "waiting": waiting, "lines": lines,
        }));
    }
    let status = if problems.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let html = render::signed_in_page(
        "work_orders/detail.html",
        user,
        context! {
            order => order,
            due => order.due_at.map(format_date),
            links => links,
            pushes => pushes,
            comments => comments,
            comment_form => json!({"body": comment}),
            problems => problems,
            notice => notice,
        },
    )?;
    Ok((status, html).into_response())
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    body: String,
}

async fn add_comment(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<CommentForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let order = state.store.work_order(id).await?.ok_or(Error::NotFound)?;
    let input = CommentInput {
        body: form.body.clone(),
    };
    let body = match input.validate() {
        Ok(body) => body,
        Err(problems) => {
            return detail_page(&state, &admin.0, order, None, &form.body, &problems).await;
        }
    };
    comment_on_work_order(&state, &admin.0, remote, id, &body)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(to_order(id, "Comment added; it is being pushed."))
}

async fn edit(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let order = state.store.work_order(id).await?.ok_or(Error::NotFound)?;
    form_page(
        &admin,
        Some(&order),
        &WorkOrderForm::of(&order),
        &BTreeMap::new(),
    )
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<WorkOrderForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let order = state.store.work_order(id).await?.ok_or(Error::NotFound)?;
    let fields = match form.validate() {
        Ok(fields) => fields,
        Err(problems) => return form_page(&admin, Some(&order), &form, &problems),
    };
    let (_, changed) = update_work_order(&state, &admin.0, remote, id, &fields)
        .await?
        .ok_or(Error::NotFound)?;
    if changed.is_empty() {
        return Ok(to_order(id, "Nothing changed."));
    }
    Ok(to_order(
        id,
        "Work order saved; the changes are being pushed.",
    ))
}

async fn delete(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    form.ensure_confirmed("a work order")?;
    if !delete_work_order(&state, &admin.0, remote, id).await? {
        return Err(Error::NotFound);
    }
    Ok(redirect_with_notice(
        "/work-orders",
        "Work order deleted; its linked remote items are being deleted.",
    ))
}
