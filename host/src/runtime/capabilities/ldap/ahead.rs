//! Reading the next page of a paged search while the connector works on
//! this one.
//!
//! A sync reads a search page by page: the connector maps a page, then asks
//! for the next with the cookie it got. Done one after the other, the
//! directory idles while the connector maps and the connector idles while
//! the directory answers. So once a page comes back with a cookie, the
//! host sends the same search with that cookie at once, on the same
//! connection, and keeps the answer for the connector's next request. A
//! request that is not that one first lets the read-ahead finish, so the
//! server never has two operations of ours crossing on one paged search.
//! Another search (a base read in the middle of a page, such as the
//! next slice of a large group's `member;range=`) leaves the finished page
//! in place for the request it belongs to: the cookie it was read with is
//! spent (OpenLDAP accepts a cookie once; RFC 2696 promises no more), so
//! asking with it again could fail. Another page of the same search (a
//! connector that started its search again), a bind, or the end of the
//! job drops it (decision 0031).

use std::time::Duration;

use ldap3::Ldap;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::search::{self, Page, Shape};
use super::{MAX_PAGE_BYTES, errors};
use crate::runtime::bindings::cube::connector::ldap::{LdapError, SearchControl, SearchRequest};

/// The next page of a search, being read (and shaped, beside the
/// connector).
pub struct ReadAhead {
    request: SearchRequest,
    /// The request controls it is read with, the same as the page before.
    controls: Vec<SearchControl>,
    shape: Shape,
    read: Read,
}

/// The page being read, or read.
enum Read {
    Running(JoinHandle<Result<Page, LdapError>>),
    Done(Result<Page, LdapError>),
}

impl ReadAhead {
    /// Starts reading the page after `page` of `request`, if there is one,
    /// on the connection's own thread (`worker`), beside its driver.
    // The search as it was sent (request, controls, shape), the page it
    // got, and where to send the next: nothing here belongs together more.
    #[allow(clippy::too_many_arguments)]
    pub fn after(
        ldap: &Ldap,
        worker: &Handle,
        request: &SearchRequest,
        controls: &[SearchControl],
        shape: Shape,
        page: &Page,
        server: &str,
        timeout: Duration,
    ) -> Option<Self> {
        let cookie = page.cookie().filter(|c| !c.is_empty())?.clone();
        if request.page_size == 0 {
            return None;
        }
        let next = SearchRequest {
            cookie: Some(cookie),
            ..request.clone()
        };
        let mut ldap = ldap.clone();
        let (request, server) = (next.clone(), server.to_owned());
        let (controls, sent) = (controls.to_vec(), controls.to_vec());
        let task = worker.spawn(async move {
            search::run(&mut ldap, &request, &sent, shape, timeout, MAX_PAGE_BYTES)
                .await
                .map_err(|e| match e {
                    search::Failure::Client(e) => errors::from_client(e, &server, "search"),
                    search::Failure::Contract(e) => e,
                })
        });
        Some(ReadAhead {
            request: next,
            controls,
            shape,
            read: Read::Running(task),
        })
    }

    /// Whether `request`, with `controls`, in `shape`, is the one being
    /// read ahead.
    pub fn is_for(
        &self,
        request: &SearchRequest,
        shape: Shape,
        controls: &[SearchControl],
    ) -> bool {
        self.shape == shape
            && self.is_page_of(request, controls)
            && self.request.cookie == request.cookie
    }

    /// Whether `request` with `controls` is a page of the search being
    /// read ahead (with whatever cookie).
    pub fn is_page_of(&self, request: &SearchRequest, controls: &[SearchControl]) -> bool {
        same_search(&self.request, request) && self.controls == controls
    }

    /// The page, once read.
    pub async fn page(self) -> Result<Page, LdapError> {
        match self.read {
            Read::Running(task) => task.await.unwrap_or_else(|e| {
                Err(LdapError::Connection(format!("reading ahead failed: {e}")))
            }),
            Read::Done(page) => page,
        }
    }

    /// Lets the read finish, keeping its answer.
    pub async fn finish(self) -> Self {
        let shape = self.shape;
        let request = self.request.clone();
        let controls = self.controls.clone();
        let page = self.page().await;
        ReadAhead {
            request,
            controls,
            shape,
            read: Read::Done(page),
        }
    }

    /// Lets the read finish and drops its answer.
    pub async fn settle(self) {
        let _ = self.page().await;
    }
}

/// Whether two requests are the same search, cookies aside.
fn same_search(a: &SearchRequest, b: &SearchRequest) -> bool {
    a.base == b.base
        && a.scope == b.scope
        && a.filter == b.filter
        && a.attributes == b.attributes
        && a.page_size == b.page_size
        && a.size_limit == b.size_limit
        && a.time_limit_seconds == b.time_limit_seconds
}
