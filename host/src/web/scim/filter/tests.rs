use serde_json::json;

use super::*;

fn babs() -> Value {
    json!({
        "schemas": [CORE_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen",
        "name": {"familyName": "O'Malley", "givenName": "Barbara"},
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z", "version": "W/\"a330bc54f0671c9\""},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

fn matches(filter: &str) -> bool {
    Filter::parse(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(&babs())
}

#[test]
fn the_rfc_examples_match_and_miss_as_they_should() {
    // RFC 7644 §3.4.2.2's examples, each once matching and once not.
    for (filter, expected) in [
        (r#"userName eq "bjensen""#, true),
        (r#"USERNAME EQ "BJensen""#, true),
        (r#"userName eq "bjensen2""#, false),
        (r#"name.familyName co "O'Malley""#, true),
        (r#"name.familyName co "Smith""#, false),
        (r#"userName sw "J""#, false),
        (r#"userName sw "bj""#, true),
        (r#"userName ew "sen""#, true),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
            true,
        ),
        ("title pr", true),
        ("nickName pr", false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2012-01-01T00:00:00Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr and userType eq "Intern""#, false),
        (r#"title pr or userType eq "Intern""#, true),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            true,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"]"#,
            false,
        ),
        ("active eq true", true),
        ("active eq false", false),
        (r#"active eq "True""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        (r#"not (userName eq "bjensen")"#, false),
    ] {
        assert_eq!(matches(filter), expected, "{filter}");
    }
}

#[test]
fn ids_compare_with_case_and_names_without() {
    assert!(!matches(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    assert!(matches(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
    assert!(matches(r#"emails.value eq "BJENSEN@example.com""#));
}

#[test]
fn and_binds_tighter_than_or() {
    let parsed = Filter::parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
    let Filter::Or(_, right) = parsed else {
        panic!("or at the top: {parsed:?}")
    };
    assert!(matches!(*right, Filter::And(..)), "{right:?}");
    // Evaluated that way too: the `or`'s left side alone decides.
    assert!(matches(
        r#"userName eq "bjensen" or title eq "x" and active eq false"#
    ));
    assert!(!matches(
        r#"(userName eq "bjensen" or title eq "x") and active eq false"#
    ));
}

#[test]
fn malformed_filters_say_what_is_wrong() {
    for (filter, says) in [
        ("", "empty"),
        (r#"userName eq "bjensen"#, "not closed"),
        (r#"userName is "x""#, "not an operator"),
        ("userName eq", "value was expected"),
        ("active gt true", "does not compare"),
        ("userName co 5", "does not compare"),
        (r#"userName eq "a" "b""#, "after a complete filter"),
        (r#"(userName eq "a""#, "expected `)`"),
        (r#"emails[type eq "work""#, "expected `]`"),
        (r#"9name eq "a""#, "not a number"),
        (r#"na*me eq "a""#, "not an attribute path"),
        (r#"name.a.b eq "a""#, "not an attribute path"),
    ] {
        let message = Filter::parse(filter).unwrap_err().to_string();
        assert!(message.contains(says), "{filter}: {message}");
    }
}

#[test]
fn parsing_is_bounded() {
    let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
    let message = Filter::parse(&deep).unwrap_err().to_string();
    assert!(message.contains("nests at most"), "{message}");
    let nested_not = format!("{}userName pr{}", "not (".repeat(40), ")".repeat(40));
    assert!(Filter::parse(&nested_not).is_err());
    let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_LEN));
    assert!(
        Filter::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("at most")
    );
    let fine = format!("{}userName pr{}", "(".repeat(10), ")".repeat(10));
    assert!(Filter::parse(&fine).unwrap().matches(&babs()));
}

#[test]
fn strings_read_json_escapes() {
    let parsed = Filter::parse(r#"title eq "Tour \"Guide\" \u00e9""#).unwrap();
    assert_eq!(
        parsed,
        Filter::Compare(
            AttrPath::parse("title").unwrap(),
            CompareOp::Eq,
            json!("Tour \"Guide\" é")
        )
    );
}

#[test]
fn an_equality_a_store_can_look_up_is_found_beside_the_rest() {
    let filter = Filter::parse(r#"active eq true and USERNAME eq "ada""#).unwrap();
    assert_eq!(filter.equality_on("userName"), Some("ada"));
    let either = Filter::parse(r#"userName eq "ada" or userName eq "bob""#).unwrap();
    assert_eq!(
        either.equality_on("userName"),
        None,
        "an or narrows nothing"
    );
    let sub = Filter::parse(r#"name.userName eq "ada""#).unwrap();
    assert_eq!(sub.equality_on("userName"), None);
    assert!(filter.mentions("active") && !filter.mentions("groups"));
}

#[test]
fn patch_paths_name_attributes_values_and_sub_attributes() {
    let plain = PatchPath::parse("name.givenName").unwrap();
    assert_eq!(plain.attr.name, "name");
    assert_eq!(plain.attr.sub.as_deref(), Some("givenName"));
    assert!(plain.filter.is_none());

    let member = PatchPath::parse(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!(member.attr.name, "members");
    let element = json!({"value": "2819c223", "display": "Babs"});
    let filter = member.filter.as_ref().unwrap();
    assert!(filter.matches_value_of(&member.attr, &element));
    assert!(
        !filter.matches_value_of(&member.attr, &json!({"value": "2819C223"})),
        "a member's value is an id, compared with case"
    );
    let display = Filter::parse(r#"display eq "BABS""#).unwrap();
    assert!(display.matches_value_of(&member.attr, &element));

    let work = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(work.sub.as_deref(), Some("value"));

    let extension =
        PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
    assert_eq!(
        extension.attr.extension(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(extension.attr.name, "manager");

    for bad in [
        r#"members[value eq "x""#,
        r#"members[value eq "x"]value"#,
        r#"name.givenName[value eq "x"]"#,
        "",
    ] {
        assert!(PatchPath::parse(bad).is_err(), "{bad}");
    }
}
