//! The read-only directory pages over real HTTP: synced users and groups
//! listed, searched and filtered, a user's groups and a group's members
//! marked direct or through a nested group, for viewers as for admins. The
//! data goes in through the store's own sync API; the list queries also run
//! on PostgreSQL.

use cube_test_support as common;

use cube_host::runtime::types::Record;
use cube_host::store::Store;
use cube_host::store::directory::DirectorySearch;
use cube_host::store::integrations::IntegrationFields;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client::{Browser, Page};
use common::web_forms::assert_contains;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// An id with characters that need encoding in a URL path.
const ODD_ID: &str = "cn=ops/1 #x?";

async fn integration(store: &Store, name: &str) -> i64 {
    common::probe_integration(store, &IntegrationFields::new(name, serde_json::Map::new())).await
}

fn record(kind: &str, id: &str, fields: Value) -> Record {
    common::record(kind, id, fields, "1")
}

fn user(id: &str, display_name: &str, email: &str, dn: &str, enabled: bool) -> Record {
    record(
        "user",
        id,
        json!({"username": id, "display_name": display_name, "email": email, "dn": dn,
               "enabled": enabled, "first_name": display_name.split(' ').next()}),
    )
}

fn group(id: &str, name: &str, dn: &str, member_dns: &[&str]) -> Record {
    record(
        "group",
        id,
        json!({"name": name, "dn": dn, "member_dns": member_dns,
               "description": format!("The {name} group")}),
    )
}

/// Two integrations: "Corp AD" with people and nested groups (Staff holds
/// Engineers, which holds ada and grace; linus is disabled; ada is also in
/// a group whose id needs encoding), and "Lab LDAP" with one user.
/// Returns their ids.
async fn fill(store: &Store) -> (i64, i64) {
    let corp = integration(store, "Corp AD").await;
    let page = vec![
        group(
            "g-staff",
            "Staff",
            "cn=Staff,ou=Groups,dc=corp",
            &[
                "CN=Engineers, OU=Groups,DC=corp",
                "cn=linus,ou=people,dc=corp",
            ],
        ),
        group(
            "g-eng",
            "Engineers",
            "cn=Engineers,ou=Groups,dc=corp",
            &["cn=ada,ou=people,dc=corp", "cn=grace,ou=people,dc=corp"],
        ),
        group(
            ODD_ID,
            "Ops & Friends",
            "cn=Ops,ou=Groups,dc=corp",
            &["cn=ada,ou=people,dc=corp"],
        ),
        user(
            "ada",
            "Ada Lovelace",
            "ada@example.com",
            "cn=Ada,ou=People,dc=corp",
            true,
        ),
        user(
            "grace",
            "Grace Hopper",
            "grace@example.com",
            "cn=Grace,ou=People,dc=corp",
            true,
        ),
        user(
            "linus",
            "Linus Torvalds",
            "linus@example.com",
            "cn=Linus,ou=People,dc=corp",
            false,
        ),
        user(
            "osten",
            "Östen Ärlig",
            "osten@example.com",
            "cn=Osten,ou=People,dc=corp",
            true,
        ),
    ];
    store.apply_page(corp, None, &page, None).await.unwrap();
    store.rebuild_memberships(corp).await.unwrap();

    let lab = integration(store, "Lab LDAP").await;
    let page = vec![user(
        "zed",
        "Zed Lab",
        "zed@lab.example",
        "uid=zed,dc=lab",
        true,
    )];
    store.apply_page(lab, None, &page, None).await.unwrap();
    store.rebuild_memberships(lab).await.unwrap();
    (corp, lab)
}

/// The page's body with `/` and `&` unescaped, as a browser reads links.
fn text(page: &Page) -> String {
    page.body.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The table row of `body` that contains `needle`.
fn row<'a>(body: &'a str, needle: &str) -> &'a str {
    let at = body
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle} in {body}"));
    let start = body[..at].rfind("<tr").expect("inside a row");
    let end = at + body[at..].find("</tr>").expect("inside a row");
    &body[start..end]
}

async fn served() -> (String, Store, tempfile::TempDir, i64, i64) {
    let (base, store, dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (corp, lab) = fill(&store).await;
    (base, store, dir, corp, lab)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_searched_and_filtered() {
    let (base, _store, _dir, corp, lab) = served().await;
    let (mut admin, _) = common::sign_in_admin(&base).await;

    let all = admin.get("/directory/users").await;
    assert_eq!(all.status, StatusCode::OK);
    let body = text(&all);
    assert!(body.contains(r#"<a href="/directory/users">Directory</a>"#));
    assert_contains(&body, "5 users.");
    for name in ["ada", "grace", "linus", "osten", "zed"] {
        assert!(body.contains(&format!(">{name}</a>")), "{name}: {body}");
    }
    assert!(body.contains(&format!(r#"href="/directory/users/{corp}/ada""#)));
    assert!(body.contains(&format!(r#"href="/directory/users/{lab}/zed""#)));
    // Disabled accounts are marked in the list.
    assert!(row(&body, ">linus</a>").contains("disabled"), "{body}");
    assert!(!row(&body, ">ada</a>").contains("disabled"));

    // By display name, by email whatever the case, by username.
    for (q, expected) in [
        ("hopper", "grace"),
        ("ADA@Example", "ada"),
        ("linu", "linus"),
        ("Östen", "osten"),
        ("grace hopper", "grace"),
    ] {
        let page = admin
            .get(&format!(
                "/directory/users?q={}",
                q.replace(' ', "+").replace('@', "%40")
            ))
            .await;
        let body = text(&page);
        assert!(body.contains("1 user."), "{q}: {body}");
        assert!(body.contains(&format!(">{expected}</a>")), "{q}: {body}");
        // The search stays in the form.
        assert!(
            body.contains(&format!(r#"name="q" value="{q}""#)),
            "{q}: {body}"
        );
    }
    // Words that are only wildcards match nothing special.
    let none = text(&admin.get("/directory/users?q=%25").await);
    assert!(none.contains("0 users.") && none.contains("No user matches."));

    let lab_only = text(
        &admin
            .get(&format!("/directory/users?integration={lab}"))
            .await,
    );
    assert!(lab_only.contains("1 user.") && lab_only.contains(">zed</a>"));
    assert!(lab_only.contains(&format!(r#"<option value="{lab}" selected>Lab LDAP"#)));
    let corp_a = text(
        &admin
            .get(&format!("/directory/users?integration={corp}&q=a"))
            .await,
    );
    assert_contains(&corp_a, ">ada</a>");
    assert!(!corp_a.contains(">zed</a>"), "{corp_a}");

    // Groups: searched by name, with their member counts.
    let groups = text(&admin.get("/directory/groups").await);
    assert_contains(&groups, "3 groups.");
    let staff = row(&groups, ">Staff</a>");
    assert!(
        staff.contains("<td>2</td>") && staff.contains("<td>4</td>"),
        "two direct members (engineers, linus), four in all: {staff}"
    );
    let found = text(&admin.get("/directory/groups?q=ENGIN").await);
    assert!(found.contains("1 group.") && found.contains(">Engineers</a>"));
    assert!(!found.contains(">Staff</a>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_page_marks_direct_and_nested_groups() {
    let (base, _store, _dir, corp, _) = served().await;
    let (mut admin, _) = common::sign_in_admin(&base).await;

    let ada = admin.get(&format!("/directory/users/{corp}/ada")).await;
    assert_eq!(ada.status, StatusCode::OK);
    let body = text(&ada);
    assert!(body.contains("Ada Lovelace") && body.contains("ada@example.com"));
    assert!(body.contains(r#"<code id="dn">cn=Ada,ou=People,dc=corp</code>"#));
    assert_eq!(common::element_text(&body, "account-status"), "enabled");
    assert!(body.contains("<dd>Ada</dd>"), "the first name: {body}");

    let engineers = row(&body, ">Engineers</a>");
    assert_contains(engineers, r#"class="membership direct""#);
    assert_contains(engineers, ">direct<");
    assert!(engineers.contains(&format!(r#"href="/directory/groups/{corp}/g-eng""#)));
    let staff = row(&body, ">Staff</a>");
    assert_contains(staff, r#"class="membership nested""#);
    assert_contains(staff, "through a nested group");
    // A group whose id needs encoding is linked as one path segment, and
    // the link leads to it.
    let ops = row(&body, ">Ops & Friends</a>");
    let link = format!("/directory/groups/{corp}/cn%3Dops%2F1%20%23x%3F");
    assert_contains(ops, &format!(r#"href="{link}""#));
    let page = admin.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(text(&page).contains("<code>cn=ops/1 #x?</code>"));

    // Disabled accounts say so.
    let linus = text(&admin.get(&format!("/directory/users/{corp}/linus")).await);
    assert_eq!(common::element_text(&linus, "account-status"), "disabled");
    assert!(row(&linus, ">Staff</a>").contains("membership direct"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_page_lists_direct_and_nested_members() {
    let (base, _store, _dir, corp, _) = served().await;
    let (mut admin, _) = common::sign_in_admin(&base).await;

    let staff = admin
        .get(&format!("/directory/groups/{corp}/g-staff"))
        .await;
    assert_eq!(staff.status, StatusCode::OK);
    let body = text(&staff);
    assert!(body.contains("The Staff group"), "the description: {body}");
    assert_contains(&body, "2 direct, 4 in all");
    let engineers = row(&body, ">Engineers</a>");
    assert_contains(engineers, "membership direct");
    assert_contains(engineers, "<td>group</td>");
    assert!(engineers.contains(&format!(r#"href="/directory/groups/{corp}/g-eng""#)));
    let linus = row(&body, ">linus</a>");
    assert!(linus.contains("membership direct") && linus.contains(">disabled<"));
    assert!(linus.contains(&format!(r#"href="/directory/users/{corp}/linus""#)));
    for nested in [">ada</a>", ">grace</a>"] {
        let member = row(&body, nested);
        assert_contains(member, "membership nested");
        assert_contains(member, "through a nested group");
        assert_contains(member, "<td>user</td>");
    }
    // Direct members come first.
    assert!(body.find(">linus</a>").unwrap() < body.find(">ada</a>").unwrap());

    let engineers = text(&admin.get(&format!("/directory/groups/{corp}/g-eng")).await);
    assert!(row(&engineers, ">ada</a>").contains("membership direct"));
    assert!(!engineers.contains(">linus</a>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_the_pages_and_unknown_ids_are_not_found() {
    let (base, _store, _dir, corp, lab) = served().await;

    let mut anonymous = Browser::new(&base);
    let refused = anonymous.get("/directory/users").await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.location.unwrap().starts_with("/login?next="));

    let mut vera = Browser::new(&base);
    vera.sign_in("vera", VIEWER_PASSWORD).await;
    for path in [
        "/directory/users".to_owned(),
        "/directory/groups".to_owned(),
        format!("/directory/users/{corp}/ada"),
        format!("/directory/groups/{corp}/g-staff"),
    ] {
        let page = vera.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(text(&page).contains(r#"<a href="/directory/users">Directory</a>"#));
    }

    let mut admin = Browser::new(&base);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    for path in [
        format!("/directory/users/{corp}/nobody"),
        // Known ids, under the wrong integration.
        format!("/directory/users/{lab}/ada"),
        format!("/directory/groups/{lab}/g-staff"),
        format!("/directory/groups/{corp}/ada"),
        format!("/directory/users/{corp}/g-staff"),
        "/directory/users/999/ada".to_owned(),
        "/directory/users/not-a-number/ada".to_owned(),
        "/directory/groups/9999999999999999999999/g-staff".to_owned(),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(page.body.contains("Not found"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_queries_page_and_search_on_each_backend() {
    common::each_backend(|store| async move {
        let (corp, lab) = fill(&store).await;
        let search = |integration_id: Option<i64>, text: &str| DirectorySearch {
            integration_id,
            text: Some(text.to_owned()).filter(|t| !t.is_empty()),
        };
        let names = |users: &[cube_host::store::directory::DirectoryUser]| {
            users.iter().map(|u| u.username.clone()).collect::<Vec<_>>()
        };

        let (first, total) = store
            .directory_users(&search(None, ""), 0, 2)
            .await
            .unwrap();
        assert_eq!(total, 5);
        assert_eq!(names(&first), ["ada", "grace"]);
        let (rest, _) = store
            .directory_users(&search(None, ""), 2, 10)
            .await
            .unwrap();
        assert_eq!(names(&rest), ["linus", "osten", "zed"]);
        assert!(!rest[0].enabled);
        assert_eq!(rest[2].integration_name, "Lab LDAP");

        for (text, expected) in [
            ("LOVELACE", "ada"),
            ("example.COM grace", "grace"),
            ("Östen", "osten"),
            ("lab.example", "zed"),
        ] {
            let (found, total) = store
                .directory_users(&search(None, text), 0, 10)
                .await
                .unwrap();
            assert_eq!(
                (names(&found), total),
                (vec![expected.to_owned()], 1),
                "{text}"
            );
        }
        let (none, total) = store
            .directory_users(&search(None, "_"), 0, 10)
            .await
            .unwrap();
        assert_eq!((none.len(), total), (0, 0), "`_` is not a wildcard");
        let (lab_users, total) = store
            .directory_users(&search(Some(lab), ""), 0, 10)
            .await
            .unwrap();
        assert_eq!((names(&lab_users), total), (vec!["zed".to_owned()], 1));

        let (groups, total) = store
            .directory_groups(&search(Some(corp), ""), 0, 10)
            .await
            .unwrap();
        assert_eq!(total, 3);
        let counts: Vec<_> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.direct_members, g.all_members))
            .collect();
        assert_eq!(
            counts,
            [
                ("Engineers", 2, 2),
                ("Ops & Friends", 1, 1),
                ("Staff", 2, 4)
            ]
        );
        let (found, total) = store
            .directory_groups(&search(None, "sta"), 0, 10)
            .await
            .unwrap();
        assert_eq!((found[0].external_id.as_str(), total), ("g-staff", 1));

        let ada = store.directory_user(corp, "ada").await.unwrap().unwrap();
        assert_eq!(ada.user.dn.as_deref(), Some("cn=Ada,ou=People,dc=corp"));
        assert_eq!(ada.first_name.as_deref(), Some("Ada"));
        assert!(store.directory_user(lab, "ada").await.unwrap().is_none());
        let staff = store
            .directory_group(corp, "g-staff")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(staff.description.as_deref(), Some("The Staff group"));
        assert!(store.directory_group(corp, "ada").await.unwrap().is_none());

        let groups: Vec<_> = store
            .groups_of_member(corp, "ada")
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.name, g.direct))
            .collect();
        assert_eq!(
            groups,
            [
                ("Engineers".to_owned(), true),
                ("Ops & Friends".to_owned(), true),
                ("Staff".to_owned(), false)
            ]
        );
        let members: Vec<_> = store
            .members_of_group_page(corp, "g-staff", 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.kind, m.name, m.direct, m.enabled))
            .collect();
        assert_eq!(
            members,
            [
                ("group".to_owned(), "Engineers".to_owned(), true, true),
                ("user".to_owned(), "linus".to_owned(), true, false),
                ("user".to_owned(), "ada".to_owned(), false, true),
                ("user".to_owned(), "grace".to_owned(), false, true),
            ]
        );
        let second: Vec<_> = store
            .members_of_group_page(corp, "g-staff", 3, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(second, ["grace"]);
    })
    .await;
}
